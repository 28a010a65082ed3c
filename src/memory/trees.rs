//! [`TreeState`]: one tree's changes, ordered by order id and by AddSeq.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::change::StorageChange;
use crate::id::Id;
use crate::sync::{read, write, RwLock};

#[derive(Default)]
struct Changes {
    /// Every change of the tree (the root included) by order id.
    by_order: BTreeMap<Id, Arc<StorageChange>>,
    /// The tree's batches' changes in AddSeq order (appended in order by the commit path).
    by_seq: Vec<Arc<StorageChange>>,
}

/// One tree of the space.
pub(crate) struct TreeState {
    root: Arc<StorageChange>,
    changes: RwLock<Changes>,
}

impl TreeState {
    pub(crate) fn new(root: Arc<StorageChange>) -> Self {
        let mut changes = Changes::default();
        changes
            .by_order
            .insert(root.order_id.clone(), Arc::clone(&root));
        TreeState {
            root,
            changes: RwLock::new(changes),
        }
    }

    pub(crate) fn root(&self) -> &Arc<StorageChange> {
        &self.root
    }

    pub(crate) fn order_id_used(&self, order_id: &str) -> bool {
        read(&self.changes).by_order.contains_key(order_id)
    }

    /// Adds the changes of one batch; called in AddSeq order.
    pub(crate) fn add(&self, batch: &[Arc<StorageChange>]) {
        let mut c = write(&self.changes);
        for change in batch {
            c.by_order
                .insert(change.order_id.clone(), Arc::clone(change));
            c.by_seq.push(Arc::clone(change));
        }
    }

    /// The tree's batches in AddSeq order: each seq with its changes.
    pub(crate) fn batches(&self) -> Vec<(u64, Vec<Arc<StorageChange>>)> {
        batches_of(&read(&self.changes).by_seq)
    }

    /// The tree's batches' changes in AddSeq order (a copy of the pointers).
    pub(crate) fn seq_changes(&self) -> Vec<Arc<StorageChange>> {
        read(&self.changes).by_seq.clone()
    }

    /// Empties the tree; returns every change it held.
    pub(crate) fn delete(&self) -> Vec<Arc<StorageChange>> {
        let mut c = write(&self.changes);
        c.by_seq.clear();
        std::mem::take(&mut c.by_order).into_values().collect()
    }

    /// The changes with order id >= `order_id`, by order id.
    pub(crate) fn after_order(&self, order_id: &str) -> Vec<Arc<StorageChange>> {
        let c = read(&self.changes);
        c.by_order
            .range::<str, _>((
                std::ops::Bound::Included(order_id),
                std::ops::Bound::Unbounded,
            ))
            .map(|(_, v)| Arc::clone(v))
            .collect()
    }

    /// The changes with AddSeq > `seq`, by order id.
    pub(crate) fn after_add_seq(&self, seq: u64) -> Vec<Arc<StorageChange>> {
        let c = read(&self.changes);
        let start = c.by_seq.partition_point(|ch| ch.add_seq <= seq);
        let mut out: Vec<_> = c.by_seq[start..].to_vec();
        out.sort_unstable_by(|a, b| a.order_id.cmp(&b.order_id));
        out
    }
}

/// Changes in AddSeq order, grouped into their batches: each seq with its changes.
pub(crate) fn batches_of(by_seq: &[Arc<StorageChange>]) -> Vec<(u64, Vec<Arc<StorageChange>>)> {
    let mut out: Vec<(u64, Vec<Arc<StorageChange>>)> = Vec::new();
    for change in by_seq {
        match out.last_mut() {
            Some((seq, v)) if *seq == change.add_seq => v.push(Arc::clone(change)),
            _ => out.push((change.add_seq, vec![Arc::clone(change)])),
        }
    }
    out
}
