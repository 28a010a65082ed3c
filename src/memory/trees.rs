//! [`TreeState`]: one tree's changes, ordered by order id and by AddSeq.

use std::sync::Arc;

use super::order::OrderIndex;
use super::stored::{Block, Stored};
use crate::sync::{read, write, RwLock};

#[derive(Default)]
struct Changes {
    /// Every change of the tree (the root included) by order id.
    by_order: OrderIndex,
    /// The tree's batches in AddSeq order (appended in order by the commit path).
    by_seq: Vec<Arc<Block>>,
}

/// One tree of the space.
pub(crate) struct TreeState {
    root: Stored,
    changes: RwLock<Changes>,
}

impl TreeState {
    pub(crate) fn new(root: Stored) -> Self {
        let mut changes = Changes::default();
        changes.by_order.insert(root.clone());
        TreeState {
            root,
            changes: RwLock::new(changes),
        }
    }

    /// The tree's root.
    pub(crate) fn root(&self) -> &Stored {
        &self.root
    }

    pub(crate) fn order_id_used(&self, order_id: &str) -> bool {
        read(&self.changes).by_order.contains(order_id.as_bytes())
    }

    /// Adds one batch, `block`; called in AddSeq order.
    pub(crate) fn add(&self, block: &Arc<Block>) {
        let mut c = write(&self.changes);
        for change in block.stored_iter() {
            c.by_order.insert(change);
        }
        c.by_seq.push(Arc::clone(block));
    }

    /// The AddSeq of the tree's last batch (0: none).
    pub(crate) fn last_seq(&self) -> u64 {
        read(&self.changes).by_seq.last().map_or(0, |b| b.seq())
    }

    /// How many batches the tree holds. Batches are only ever appended (a deleted tree keeps
    /// them until it is dropped), so the first `n` stay what they are: a capture of the state
    /// needs only this count.
    pub(crate) fn batch_count(&self) -> usize {
        read(&self.changes).by_seq.len()
    }

    /// The tree's first `n` batches (all of them for `usize::MAX`), in AddSeq order.
    pub(crate) fn first_batches(&self, n: usize) -> Vec<Arc<Block>> {
        let c = read(&self.changes);
        c.by_seq[..n.min(c.by_seq.len())].to_vec()
    }

    /// What deleting the tree removes from the space: every change it holds (the root
    /// included) and the seqs of its batches. The tree itself is left as it is, for a
    /// checkpoint that captured it before the deletion: it goes when its last user drops it.
    pub(crate) fn contents(&self) -> (Vec<Stored>, Vec<u64>) {
        let c = read(&self.changes);
        // Only the feed's: a batch with a seq of its own counter is not in the index (and
        // another tree's batch may have that seq there).
        let seqs = c
            .by_seq
            .iter()
            .filter(|b| b.in_feed())
            .map(|b| b.seq())
            .collect();
        (c.by_order.stored(), seqs)
    }

    /// The changes with order id >= `order_id`, by order id, as stored, under the tree's lock.
    pub(crate) fn stored_after_order(&self, order_id: &str) -> Vec<Stored> {
        let c = read(&self.changes);
        c.by_order.from(order_id.as_bytes()).cloned().collect()
    }

    /// The changes with AddSeq > `seq`, by order id, as stored, under the tree's lock: when they
    /// are most of the tree, read off the order index; else gathered from the batches after
    /// `seq` and sorted (as 16-byte stored changes).
    pub(crate) fn stored_after_add_seq(&self, seq: u64) -> Vec<Stored> {
        let c = read(&self.changes);
        let start = c.by_seq.partition_point(|b| b.seq() <= seq);
        let after = &c.by_seq[start..];
        if after.len() * 2 >= c.by_seq.len() && !after.is_empty() {
            return c
                .by_order
                .from(b"")
                .filter(|s| s.seq() > seq)
                .cloned()
                .collect();
        }
        let mut stored: Vec<Stored> = after.iter().flat_map(|b| b.stored()).collect();
        drop(c);
        stored.sort_unstable_by(|a, b| a.order_bytes().cmp(b.order_bytes()));
        stored
    }
}
