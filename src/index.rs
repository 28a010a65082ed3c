//! [`SeqIndex`]: the space-global AddSeq index, `BTreeMap<add_seq, Arc<Block>>`: each batch's
//! block (its record's bytes and which of its changes are stored, see `memory::stored`), so
//! that a read of the feed walks the index alone, with no lookup in the change map per change.
//!
//! Batches are published into it by the commit path in AddSeq order, one whole batch per
//! publish, so a reader holding the read lock always sees a prefix of the batches that will ever
//! be visible (gaps are failed batches, which never appear). See DESIGN.md, "Cursor safety".

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use crate::memory::Block;
use crate::sync::{read, write, RwLock};

/// The AddSeq index of a space: the block of each batch that stored something.
#[derive(Debug, Default)]
pub(crate) struct SeqIndex {
    batches: RwLock<BTreeMap<u64, Arc<Block>>>,
}

impl SeqIndex {
    /// Publishes the batch `block`. Called only by the commit path (or replay), in increasing
    /// seq order. A batch that stored nothing leaves no key.
    pub(crate) fn publish(&self, block: &Arc<Block>) {
        if block.len() > 0 {
            write(&self.batches).insert(block.seq(), Arc::clone(block));
        }
    }

    /// The AddSeq of the last batch in the index (0: none).
    pub(crate) fn last_seq(&self) -> u64 {
        read(&self.batches).keys().next_back().copied().unwrap_or(0)
    }

    /// Removes the batches of a deleted tree, given by their seqs. A batch holds the changes of
    /// one tree, so each goes whole.
    pub(crate) fn remove(&self, seqs: &[u64]) {
        let mut batches = write(&self.batches);
        for seq in seqs {
            batches.remove(seq);
        }
    }

    /// Calls `visit` with each batch with `after` < AddSeq <= `to`, in AddSeq order, under the
    /// read lock, until it has returned `true` (a batch it counts) `limit` times: O(log n + the
    /// batches visited), no copy of the rest. `visit` must not call back into the space (it
    /// runs under the lock): only the crate's own closures do.
    pub(crate) fn visit(
        &self,
        after: u64,
        to: u64,
        limit: usize,
        mut visit: impl FnMut(u64, &Arc<Block>) -> bool,
    ) {
        if limit == 0 || to <= after {
            return;
        }
        let batches = read(&self.batches);
        let mut counted = 0;
        for (seq, block) in batches.range((Bound::Excluded(after), Bound::Included(to))) {
            if visit(*seq, block) {
                counted += 1;
                if counted == limit {
                    return;
                }
            }
        }
    }
}
