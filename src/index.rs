//! [`SeqIndex`]: the space-global AddSeq index, `BTreeMap<add_seq, Vec<ChangeId>>`.
//!
//! Batches are published into it by the commit path in AddSeq order, one whole batch per
//! publish, so a reader holding the read lock always sees a prefix of the batches that will ever
//! be visible (gaps are failed batches, which never appear). See DESIGN.md, "Cursor safety".

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::sync::{read, write, RwLock};
use crate::Id;

/// The AddSeq index of a space: which change ids each batch stored.
#[derive(Debug, Default)]
pub(crate) struct SeqIndex {
    batches: RwLock<BTreeMap<u64, Vec<Id>>>,
}

impl SeqIndex {
    /// Publishes the batch `seq` with the ids it stored. Called only by the commit path (or
    /// replay), in increasing `seq` order. A batch that stored nothing leaves no key.
    pub(crate) fn publish(&self, seq: u64, ids: Vec<Id>) {
        if !ids.is_empty() {
            write(&self.batches).insert(seq, ids);
        }
    }

    /// Removes the ids of a deleted tree, given as `(seq, id)` pairs; a batch left empty goes.
    pub(crate) fn remove(&self, removed: &[(u64, Id)]) {
        let mut batches = write(&self.batches);
        for (seq, id) in removed {
            if let Some(v) = batches.get_mut(seq) {
                v.retain(|x| x != id);
                if v.is_empty() {
                    batches.remove(seq);
                }
            }
        }
    }

    /// Calls `visit` with each batch with AddSeq > `after`, in AddSeq order, under the read
    /// lock, until it has returned `true` (a batch it counts) `limit` times: O(log n + the
    /// batches visited), no copy of the rest. `visit` must not call back into the space (it
    /// runs under the lock): only the crate's own closures do.
    pub(crate) fn visit(
        &self,
        after: u64,
        limit: usize,
        mut visit: impl FnMut(u64, &[Id]) -> bool,
    ) {
        if limit == 0 {
            return;
        }
        let batches = read(&self.batches);
        let mut counted = 0;
        for (seq, ids) in batches.range((Bound::Excluded(after), Bound::Unbounded)) {
            if visit(*seq, ids) {
                counted += 1;
                if counted == limit {
                    return;
                }
            }
        }
    }
}
