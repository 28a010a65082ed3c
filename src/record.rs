//! [`Record`]: one effect of a write, as the commit path logs it and as memory applies it.
//!
//! A commit is a list of records that is logged as one frame and applied as one unit; replay
//! applies the same records in the same order, so memory after replay is memory before the crash.

use std::sync::Arc;

use crate::{HeadUpdate, Id, StorageChange};

/// One effect of a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    /// Store a tree's root change (tree id = root id, AddSeq 0) and open the tree.
    CreateTree(Arc<StorageChange>),
    /// Upsert a head entry with the given fields.
    UpdateHead(HeadUpdate),
    /// Store a batch of a tree's changes, all with the batch's AddSeq, and update the head entry.
    Batch(Batch),
    /// Remove a head entry.
    DeleteEntry(Id),
    /// Remove every change of a tree, its root included.
    DeleteTree(Id),
}

/// The stored part of an `add_all` / `add_all_no_error` call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Batch {
    /// The tree.
    pub(crate) tree_id: Id,
    /// The batch's AddSeq, shared by all its changes.
    pub(crate) seq: u64,
    /// The changes stored (skipped duplicates are not here), `tree_id` and `add_seq` set.
    pub(crate) changes: Vec<Arc<StorageChange>>,
    /// New heads, when the call gave any.
    pub(crate) heads: Option<Vec<Id>>,
    /// The new common snapshot.
    pub(crate) common_snapshot: Id,
}

impl Batch {
    /// The head update the batch makes: heads (when given), common snapshot, last AddSeq.
    pub(crate) fn head_update(&self) -> HeadUpdate {
        HeadUpdate {
            id: self.tree_id.clone(),
            heads: self.heads.clone(),
            common_snapshot: Some(self.common_snapshot.clone()),
            last_add_seq: Some(self.seq),
            ..HeadUpdate::default()
        }
    }
}
