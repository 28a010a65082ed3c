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
    batches: RwLock<Batches>,
}

#[derive(Debug, Default)]
struct Batches {
    map: BTreeMap<u64, Arc<Block>>,
    /// Replay's batches, in the order replayed, while replay defers them (`Some`; `map` is
    /// empty then): [`SeqIndex::settle`] sorts them and builds the map at once (a bulk build
    /// from sorted keys, where one insert each would walk the tree and split its nodes).
    deferred: Option<Vec<(u64, Arc<Block>)>>,
}

impl Batches {
    /// The deferred batches (none once settled).
    fn pending(&self) -> &[(u64, Arc<Block>)] {
        self.deferred.as_deref().unwrap_or_default()
    }
}

impl SeqIndex {
    /// An empty index that holds what replay publishes aside until [`SeqIndex::settle`].
    pub(crate) fn deferred() -> SeqIndex {
        SeqIndex {
            batches: RwLock::new(Batches {
                map: BTreeMap::new(),
                deferred: Some(Vec::new()),
            }),
        }
    }

    /// Adds the batches held aside to the map (at the end of replay); publishes go to the map
    /// from then on.
    pub(crate) fn settle(&self) {
        let mut batches = write(&self.batches);
        let Some(mut pending) = batches.deferred.take() else {
            return;
        };
        // A checkpoint holds its batches tree by tree, the log after it in seq order; the
        // seqs are unique, so an unstable sort does (and the map's build then finds them
        // sorted).
        pending.sort_unstable_by_key(|(seq, _)| *seq);
        if batches.map.is_empty() {
            batches.map = pending.into_iter().collect();
        } else {
            batches.map.extend(pending);
        }
    }

    /// Publishes the batch `block`. Called only by the commit path, in increasing seq order,
    /// and by replay (a checkpoint's batches come tree by tree). A batch that stored nothing
    /// leaves no key.
    pub(crate) fn publish(&self, block: &Arc<Block>) {
        if block.len() > 0 {
            let mut batches = write(&self.batches);
            match &mut batches.deferred {
                Some(pending) => pending.push((block.seq(), Arc::clone(block))),
                None => {
                    batches.map.insert(block.seq(), Arc::clone(block));
                }
            }
        }
    }

    /// The AddSeq of the last batch in the index (0: none).
    pub(crate) fn last_seq(&self) -> u64 {
        let batches = read(&self.batches);
        let pending = batches.pending().iter().map(|(seq, _)| *seq).max();
        let in_map = batches.map.keys().next_back().copied();
        pending.max(in_map).unwrap_or(0)
    }

    /// Removes the batches of a deleted tree, given by their seqs. A
    /// batch holds the changes of one tree, so each goes whole.
    pub(crate) fn remove(&self, seqs: &[u64]) {
        let mut batches = write(&self.batches);
        for seq in seqs {
            batches.map.remove(seq);
        }
        if let Some(pending) = &mut batches.deferred {
            let mut gone = seqs.to_vec();
            gone.sort_unstable();
            pending.retain(|(seq, _)| gone.binary_search(seq).is_err());
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
        // Replay's deferred batches (in the order replayed; read only before replay ends, by
        // a tool watching it): those in range, sorted. Each is above every key of the map.
        let mut deferred: Vec<&(u64, Arc<Block>)> = batches
            .pending()
            .iter()
            .filter(|(seq, _)| after < *seq && *seq <= to)
            .collect();
        deferred.sort_unstable_by_key(|(seq, _)| *seq);
        let mut counted = 0;
        let in_map = batches
            .map
            .range((Bound::Excluded(after), Bound::Included(to)));
        let deferred = deferred.into_iter().map(|(seq, block)| (seq, block));
        for (seq, block) in in_map.chain(deferred) {
            if visit(*seq, block) {
                counted += 1;
                if counted == limit {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A block of batch `seq` holding one change (its bytes are not read here).
    fn block(seq: u64) -> Arc<Block> {
        Block::batch(crate::layout::Payload::default(), seq, 0, 1)
    }

    fn seqs(index: &SeqIndex, after: u64, to: u64, limit: usize) -> Vec<u64> {
        let mut out = Vec::new();
        index.visit(after, to, limit, |seq, _| {
            out.push(seq);
            true
        });
        out
    }

    #[derive(Clone, Debug)]
    enum Op {
        Publish(u64),
        Remove(Vec<u64>),
        Settle,
    }

    proptest! {
        /// An index that defers replay's batches reads, before and after it settles, as one
        /// that inserts each at once.
        #[test]
        fn a_deferred_index_reads_as_one_that_inserts_each_batch(
            ops in proptest::collection::vec(
                prop_oneof![
                    6 => (1u64..40).prop_map(Op::Publish),
                    1 => proptest::collection::vec(0u64..40, 0..4).prop_map(Op::Remove),
                    1 => Just(Op::Settle),
                ],
                0..60,
            ),
            probes in proptest::collection::vec((0u64..45, 0u64..45, 1usize..5), 1..6),
        ) {
            let (deferred, direct) = (SeqIndex::deferred(), SeqIndex::default());
            let mut published = std::collections::BTreeSet::new();
            for op in ops {
                match op {
                    // Any order (a checkpoint replays its batches tree by tree), each seq once.
                    Op::Publish(seq) => {
                        if published.insert(seq) {
                            deferred.publish(&block(seq));
                            direct.publish(&block(seq));
                        }
                    }
                    Op::Remove(gone) => {
                        deferred.remove(&gone);
                        direct.remove(&gone);
                    }
                    Op::Settle => deferred.settle(),
                }
                prop_assert_eq!(deferred.last_seq(), direct.last_seq());
                for &(after, to, limit) in &probes {
                    prop_assert_eq!(seqs(&deferred, after, to, limit), seqs(&direct, after, to, limit));
                }
            }
            deferred.settle();
            prop_assert_eq!(seqs(&deferred, 0, u64::MAX, usize::MAX), seqs(&direct, 0, u64::MAX, usize::MAX));
        }
    }
}
