//! [`HeadTable`]: the head entries of a space with their secondary indexes (by last AddSeq and
//! by parent), behind one lock so that the three always agree.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::sync::{read, write, RwLock};
use crate::{DeletedStatus, HeadEntry, HeadUpdate, Id, IterOptions};

#[derive(Default)]
struct Table {
    entries: BTreeMap<Id, HeadEntry>,
    by_seq: BTreeSet<(u64, Id)>,
    by_parent: HashMap<Id, BTreeSet<Id>>,
}

impl Table {
    fn unindex(&mut self, e: &HeadEntry) {
        if let Some(seq) = e.last_add_seq {
            self.by_seq.remove(&(seq, e.id.clone()));
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

    fn index(&mut self, e: &HeadEntry) {
        if let Some(seq) = e.last_add_seq {
            self.by_seq.insert((seq, e.id.clone()));
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

fn selected(e: &HeadEntry, deleted: bool) -> bool {
    (e.deleted_status >= DeletedStatus::Queued) == deleted
}

impl HeadTable {
    pub(crate) fn get(&self, id: &str) -> Option<HeadEntry> {
        read(&self.table).entries.get(id).cloned()
    }

    /// Applies `update`; returns the entry after it when some value changed.
    pub(crate) fn update(&self, update: &HeadUpdate) -> Option<HeadEntry> {
        let mut t = write(&self.table);
        let old = t.entries.get(update.id.as_str());
        let (new, changed) = update.apply_to(old);
        if !changed {
            return None;
        }
        if let Some(old) = old.cloned() {
            t.unindex(&old);
        }
        t.index(&new);
        t.entries.insert(new.id.clone(), new.clone());
        Some(new)
    }

    pub(crate) fn delete(&self, id: &str) {
        let mut t = write(&self.table);
        if let Some(old) = t.entries.remove(id) {
            t.unindex(&old);
        }
    }

    pub(crate) fn select(&self, opts: IterOptions) -> Vec<HeadEntry> {
        let t = read(&self.table);
        if opts.min_last_add_seq > 0 {
            let Some(lowest) = opts.min_last_add_seq.checked_add(1) else {
                return Vec::new();
            };
            let start = (lowest, Id::default());
            t.by_seq
                .range(start..)
                .filter_map(|(_, id)| t.entries.get(id))
                .filter(|e| selected(e, opts.deleted))
                .cloned()
                .collect()
        } else {
            t.entries
                .values()
                .filter(|e| selected(e, opts.deleted))
                .cloned()
                .collect()
        }
    }

    pub(crate) fn by_parent(&self, parent: &str) -> Vec<HeadEntry> {
        let t = read(&self.table);
        t.by_parent
            .get(parent)
            .into_iter()
            .flatten()
            .filter_map(|id| t.entries.get(id).cloned())
            .collect()
    }

    pub(crate) fn max_last_add_seq(&self) -> u64 {
        read(&self.table)
            .by_seq
            .iter()
            .next_back()
            .map_or(0, |(s, _)| *s)
    }

    /// Every entry, by id.
    pub(crate) fn all(&self) -> Vec<HeadEntry> {
        read(&self.table).entries.values().cloned().collect()
    }

    pub(crate) fn len(&self) -> usize {
        read(&self.table).entries.len()
    }
}
