//! [`Record`]: one write, as the commit path logs it (one frame) and as memory applies it.
//!
//! A record is a command, not a diff: [`crate::memory::Memory::check`] decides whether it applies
//! (with Go's rules) and [`crate::memory::Memory::execute`] applies it. Replay runs the same two
//! steps in the same order, so memory after replay is memory before the crash, including for a
//! record that was logged and then refused (it is refused again, identically).

use std::sync::Arc;

use crate::{HeadUpdate, Id, StorageChange};

/// One write of the space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    /// Create a tree from its root (Go's `CreateTreeStorage`).
    CreateTree(NewTree),
    /// An `add_all` / `add_all_no_error` batch.
    AddBatch(Batch),
    /// Upsert a head entry with the given fields.
    UpdateHead(HeadUpdate),
    /// Remove a head entry.
    DeleteEntry(Id),
    /// Remove every change of a tree, its root included.
    DeleteTree {
        /// The tree.
        tree_id: Id,
        /// When the storage was deferred: the tree to create first, in the same commit.
        create: Option<NewTree>,
    },
}

/// A tree to create: its root change (tree id = root id, AddSeq 0) and its head entry's flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewTree {
    /// The stored root change.
    pub(crate) root: Arc<StorageChange>,
    /// The parent tree, if any.
    pub(crate) parent_id: Option<Id>,
    /// Whether the tree is derived.
    pub(crate) is_derived: bool,
}

/// An `add_all` / `add_all_no_error` call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Batch {
    /// The tree.
    pub(crate) tree_id: Id,
    /// The batch's AddSeq, shared by all its changes.
    pub(crate) seq: u64,
    /// The changes, `tree_id` and `add_seq` set.
    pub(crate) changes: Vec<Arc<StorageChange>>,
    /// New heads, when the call gave any.
    pub(crate) heads: Option<Vec<Id>>,
    /// The new common snapshot.
    pub(crate) common_snapshot: Id,
    /// `add_all_no_error`: skip stored ids instead of failing.
    pub(crate) skip_duplicates: bool,
    /// When the storage was deferred: the tree to create first, in the same commit.
    pub(crate) create: Option<NewTree>,
}

impl Batch {
    /// The head update the batch makes: heads (when given), common snapshot, last AddSeq.
    pub(crate) fn head_update(&self) -> crate::memory::UpdateRef<'_> {
        crate::memory::UpdateRef {
            id: &self.tree_id,
            heads: self.heads.as_deref(),
            common_snapshot: Some(&self.common_snapshot),
            deleted_status: None,
            is_derived: None,
            parent_id: None,
            last_add_seq: Some(self.seq),
        }
    }
}
