//! [`HeadTable`]: the head entries of a space with their secondary indexes (by last AddSeq and
//! by parent), behind one lock so that the three always agree.

use std::collections::{BTreeSet, HashMap};

use super::by_seq::BySeq;
use std::sync::Arc;

use ahash::RandomState;

use crate::entry::{DeletedStatus, HeadEntry};
use crate::id::Id;
pub(crate) use crate::record::UpdateRef;
use crate::sync::{read, write, RwLock};

impl UpdateRef<'_> {
    /// Writes every given field into `e`.
    fn write_into(&self, e: &mut HeadEntry) {
        if let Some(h) = self.heads {
            e.heads = h.to_vec();
        }
        if let Some(c) = self.common_snapshot {
            e.common_snapshot = c.clone();
        }
        if let Some(d) = self.deleted_status {
            e.deleted_status = d;
        }
        if let Some(d) = self.is_derived {
            e.is_derived = d;
        }
        if let Some(p) = self.parent_id {
            e.parent_id = Some(p.clone());
        }
        if let Some(s) = self.last_add_seq {
            e.last_add_seq = Some(s);
        }
    }
}

/// The entries, each in a slot of its own while it lives, found by id through a map: the
/// index by last AddSeq names slots, so a read by last AddSeq reaches each entry without
/// hashing its id. Shared: a read hands out the entries it selects at the cost of a reference
/// count each (a write changes an entry in place, or a copy of it while a reader holds it).
#[derive(Default)]
struct Slots {
    slots: Vec<Option<Arc<HeadEntry>>>,
    /// Slots of removed entries, to reuse.
    free: Vec<usize>,
    by_id: HashMap<Id, usize, RandomState>,
}

impl Slots {
    fn get(&self, id: &str) -> Option<&Arc<HeadEntry>> {
        self.by_id.get(id).and_then(|&slot| self.at(slot))
    }

    fn at(&self, slot: usize) -> Option<&Arc<HeadEntry>> {
        self.slots.get(slot)?.as_ref()
    }

    /// Entry `id` and its slot.
    fn get_mut(&mut self, id: &str) -> Option<(usize, &mut Arc<HeadEntry>)> {
        let slot = *self.by_id.get(id)?;
        let entry = self.slots.get_mut(slot)?.as_mut()?;
        Some((slot, entry))
    }

    /// Adds an entry whose id is not held; its slot.
    fn insert(&mut self, entry: Arc<HeadEntry>) -> usize {
        let id = entry.id.clone();
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(entry);
                slot
            }
            None => {
                self.slots.push(Some(entry));
                self.slots.len() - 1
            }
        };
        self.by_id.insert(id, slot);
        slot
    }

    fn remove(&mut self, id: &str) -> Option<Arc<HeadEntry>> {
        let slot = self.by_id.remove(id)?;
        self.free.push(slot);
        self.slots.get_mut(slot)?.take()
    }

    /// The entries with their slots, in no order.
    fn iter(&self) -> impl Iterator<Item = (usize, &Arc<HeadEntry>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(slot, e)| Some((slot, e.as_ref()?)))
    }

    /// The entries, in no order.
    fn values(&self) -> impl Iterator<Item = &Arc<HeadEntry>> {
        self.slots.iter().flatten()
    }

    fn len(&self) -> usize {
        self.by_id.len()
    }
}

#[derive(Default)]
struct Table {
    /// By id; sorted on demand when iterated by id.
    entries: Slots,
    /// By last AddSeq (empty while `seq_deferred`).
    by_seq: BySeq,
    by_parent: HashMap<Id, BTreeSet<Id>, RandomState>,
    /// Replay moves a tree's entry to a new last AddSeq with each of its batches: while this
    /// is set, `by_seq` is left alone and built once, by [`HeadTable::settle`].
    seq_deferred: bool,
}

impl Table {
    fn unindex(&mut self, e: &HeadEntry) {
        if let Some(seq) = e.last_add_seq.filter(|_| !self.seq_deferred) {
            self.by_seq.remove(seq, &e.id);
        }
        if let Some(p) = &e.parent_id {
            if let Some(set) = self.by_parent.get_mut(p) {
                set.remove(&e.id);
                if set.is_empty() {
                    self.by_parent.remove(p);
                }
            }
        }
    }

    /// Indexes `e`, in `slot`.
    fn index(&mut self, e: &HeadEntry, slot: usize) {
        if let Some(seq) = e.last_add_seq.filter(|_| !self.seq_deferred) {
            self.by_seq.insert(seq, e.id.clone(), slot);
        }
        if let Some(p) = &e.parent_id {
            self.by_parent
                .entry(p.clone())
                .or_default()
                .insert(e.id.clone());
        }
    }
}

/// The head entries of a space.
#[derive(Default)]
pub(crate) struct HeadTable {
    table: RwLock<Table>,
}

/// Whether `e` is deleted as `deleted` asks (`None`: either way).
fn selected(e: &HeadEntry, deleted: Option<bool>) -> bool {
    deleted.is_none_or(|d| (e.deleted_status >= DeletedStatus::Queued) == d)
}

impl HeadTable {
    /// An empty table whose index by last AddSeq is built once, by [`HeadTable::settle`]
    /// (for replay).
    pub(crate) fn deferred() -> HeadTable {
        HeadTable {
            table: RwLock::new(Table {
                seq_deferred: true,
                ..Table::default()
            }),
        }
    }

    /// Builds the index by last AddSeq, if it was deferred; kept up to date from then on.
    pub(crate) fn settle(&self) {
        let mut t = write(&self.table);
        if t.seq_deferred {
            t.by_seq = BySeq::from_unsorted(
                t.entries
                    .iter()
                    .filter_map(|(slot, e)| Some((e.last_add_seq?, e.id.clone(), slot)))
                    .collect(),
            );
            t.seq_deferred = false;
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<HeadEntry> {
        read(&self.table)
            .entries
            .get(id)
            .map(|e| HeadEntry::clone(e))
    }

    /// Calls `f` with entry `id` (`None`: there is none), under the table's read lock, without
    /// cloning it.
    pub(crate) fn with<R>(&self, id: &str, f: impl FnOnce(Option<&HeadEntry>) -> R) -> R {
        f(read(&self.table).entries.get(id).map(|e| &**e))
    }

    /// Applies `update` in place. When some value changed and `want_entry`, returns the entry
    /// after the change (for observers; cloning it is skipped when nobody listens).
    pub(crate) fn update(&self, u: UpdateRef<'_>, want_entry: bool) -> Option<HeadEntry> {
        let mut guard = write(&self.table);
        let t = &mut *guard;
        let Some((slot, e)) = t.entries.get_mut(u.id.as_str()) else {
            let mut e = HeadEntry {
                id: u.id.clone(),
                ..HeadEntry::default()
            };
            u.write_into(&mut e);
            let out = want_entry.then(|| e.clone());
            let e = Arc::new(e);
            let slot = t.entries.insert(Arc::clone(&e));
            t.index(&e, slot);
            return out;
        };
        let e = Arc::make_mut(e);
        let mut changed = false;
        if let Some(h) = u.heads {
            if e.heads != h {
                e.heads.clear();
                e.heads.extend_from_slice(h);
                changed = true;
            }
        }
        if let Some(c) = u.common_snapshot {
            if e.common_snapshot != *c {
                e.common_snapshot = c.clone();
                changed = true;
            }
        }
        if let Some(d) = u.deleted_status {
            changed |= e.deleted_status != d;
            e.deleted_status = d;
        }
        if let Some(d) = u.is_derived {
            changed |= e.is_derived != d;
            e.is_derived = d;
        }
        if let Some(p) = u.parent_id {
            if e.parent_id.as_ref() != Some(p) {
                if let Some(old) = e.parent_id.replace(p.clone()) {
                    if let Some(set) = t.by_parent.get_mut(&old) {
                        set.remove(&e.id);
                        if set.is_empty() {
                            t.by_parent.remove(&old);
                        }
                    }
                }
                t.by_parent
                    .entry(p.clone())
                    .or_default()
                    .insert(e.id.clone());
                changed = true;
            }
        }
        if let Some(s) = u.last_add_seq {
            if e.last_add_seq != Some(s) {
                let old = e.last_add_seq.replace(s);
                if !t.seq_deferred {
                    if let Some(old) = old {
                        t.by_seq.remove(old, &e.id);
                    }
                    t.by_seq.insert(s, e.id.clone(), slot);
                }
                changed = true;
            }
        }
        (changed && want_entry).then(|| e.clone())
    }

    pub(crate) fn delete(&self, id: &str) {
        let mut t = write(&self.table);
        if let Some(old) = t.entries.remove(id) {
            t.unindex(&old);
        }
    }

    /// The entries whose deleted status is `Queued` or more (`Some(true)`), below it
    /// (`Some(false)`), or any (`None`); when `min_last_add_seq` > 0, only those with a last
    /// AddSeq above it, by it; else all, by id.
    pub(crate) fn select(
        &self,
        deleted: Option<bool>,
        min_last_add_seq: u64,
    ) -> Vec<Arc<HeadEntry>> {
        let t = read(&self.table);
        if min_last_add_seq > 0 {
            let Some(lowest) = min_last_add_seq.checked_add(1) else {
                return Vec::new();
            };
            if t.seq_deferred {
                let mut out: Vec<Arc<HeadEntry>> = t
                    .entries
                    .values()
                    .filter(|e| e.last_add_seq.is_some_and(|s| s >= lowest))
                    .filter(|e| selected(e, deleted))
                    .cloned()
                    .collect();
                out.sort_unstable_by(|a, b| (a.last_add_seq, &a.id).cmp(&(b.last_add_seq, &b.id)));
                return out;
            }
            let found = t
                .by_seq
                .from(lowest)
                .filter_map(|slot| t.entries.at(slot))
                .filter(|e| selected(e, deleted))
                .cloned();
            let mut out = Vec::with_capacity(found.size_hint().1.unwrap_or(0));
            out.extend(found);
            out
        } else {
            let mut out: Vec<Arc<HeadEntry>> = t
                .entries
                .values()
                .filter(|e| selected(e, deleted))
                .cloned()
                .collect();
            out.sort_unstable_by(|a, b| a.id.cmp(&b.id));
            out
        }
    }

    pub(crate) fn by_parent(&self, parent: &str) -> Vec<Arc<HeadEntry>> {
        let t = read(&self.table);
        t.by_parent
            .get(parent)
            .into_iter()
            .flatten()
            .filter_map(|id| t.entries.get(id).cloned())
            .collect()
    }

    pub(crate) fn max_last_add_seq(&self) -> u64 {
        let t = read(&self.table);
        if t.seq_deferred {
            return t
                .entries
                .values()
                .filter_map(|e| e.last_add_seq)
                .max()
                .unwrap_or(0);
        }
        t.by_seq.max_seq().unwrap_or(0)
    }

    /// Every entry, by id.
    pub(crate) fn all(&self) -> Vec<HeadEntry> {
        let mut out: Vec<HeadEntry> = read(&self.table)
            .entries
            .values()
            .map(|e| HeadEntry::clone(e))
            .collect();
        out.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        out
    }

    pub(crate) fn len(&self) -> usize {
        read(&self.table).entries.len()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn update(id: &Id, seq: u64) -> UpdateRef<'_> {
        UpdateRef {
            id,
            heads: None,
            common_snapshot: None,
            deleted_status: None,
            is_derived: None,
            parent_id: None,
            last_add_seq: Some(seq),
        }
    }

    fn ids(entries: Vec<std::sync::Arc<HeadEntry>>) -> Vec<(Option<u64>, Id)> {
        entries
            .into_iter()
            .map(|e| (e.last_add_seq, e.id.clone()))
            .collect()
    }

    proptest! {
        /// A table that builds its index by last AddSeq at the end selects, before and after
        /// it settles, as one that keeps it up to date.
        #[test]
        fn a_deferred_table_selects_by_last_add_seq_as_one_that_indexes_each_update(
            ops in proptest::collection::vec((0u8..6, 1u64..50, any::<bool>()), 0..40),
            settle_at in 0usize..40,
            min in 0u64..50,
        ) {
            let (deferred, direct) = (HeadTable::deferred(), HeadTable::default());
            // What the tables should hold: each entry's last AddSeq.
            let mut model: std::collections::BTreeMap<Id, u64> = Default::default();
            for (i, (entry, seq, delete)) in ops.into_iter().enumerate() {
                if i == settle_at {
                    deferred.settle();
                }
                let id = Id::from(format!("e{entry}"));
                for table in [&deferred, &direct] {
                    if delete {
                        table.delete(&id);
                    } else {
                        table.update(update(&id, seq), false);
                    }
                }
                if delete {
                    model.remove(&id);
                } else {
                    model.insert(id.clone(), seq);
                }
                let mut expected: Vec<(Option<u64>, Id)> = model
                    .iter()
                    .filter(|(_, s)| **s > min)
                    .map(|(id, s)| (Some(*s), id.clone()))
                    .collect();
                expected.sort();
                prop_assert_eq!(deferred.max_last_add_seq(), direct.max_last_add_seq());
                prop_assert_eq!(direct.max_last_add_seq(), model.values().max().copied().unwrap_or(0));
                prop_assert_eq!(ids(deferred.select(None, min)), ids(direct.select(None, min)));
                if min > 0 {
                    prop_assert_eq!(ids(direct.select(None, min)), expected);
                }
            }
            deferred.settle();
            prop_assert_eq!(ids(deferred.select(None, min)), ids(direct.select(None, min)));
            prop_assert_eq!(ids(deferred.select(None, 0)), ids(direct.select(None, 0)));
        }
    }
}
