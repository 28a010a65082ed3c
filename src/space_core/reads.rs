//! The read side of [`SpaceCore`]: the questions the handles (`Space`, the storages, cursors,
//! the feed's iterators and subscriptions) ask of a space, each named for what it asks. Every
//! read of a handle goes through one of these; none reaches into the memory itself, so how the
//! memory holds the space can change here without the handles knowing.
//!
//! Each answer is read under the short lock of the part of the memory it asks about (never the
//! commit lock): what a concurrent write published before the read began, and nothing half
//! done.

use std::collections::HashSet;
use std::ops::RangeBounds;
use std::sync::Arc;

use super::SpaceCore;
use crate::memory::{Block, SpaceState, TreeState};
use crate::record::AclFields;
use crate::{
    Batch, EntryFilter, Error, HeadEntry, Id, IterOptions, Result, StorageChange, TreeRoot,
};

impl SpaceCore {
    // The space's state (a whole space's).

    /// The space's state: `None` for a bare space.
    pub(crate) fn state(&self) -> Option<SpaceState> {
        self.memory.state.get()
    }

    // Trees and changes.

    /// The live tree `id`, if there is one.
    pub(crate) fn tree(&self, id: &str) -> Option<Arc<TreeState>> {
        self.memory.tree(id)
    }

    /// The root tree `id` was created from (its stored root, its entry's parent and derived
    /// flag), or `None` when its head entry or its root is missing (a deleted tree has no root).
    pub(crate) fn tree_root(&self, id: &str) -> Option<TreeRoot> {
        let (parent_id, is_derived) = self
            .memory
            .heads
            .with(id, |e| e.map(|e| (e.parent_id.clone(), e.is_derived)))?;
        let root = self.memory.tree(id)?.root().to_change();
        Some(TreeRoot {
            id: root.id,
            raw_change: root.raw_change,
            order_id: root.order_id,
            parent_id,
            is_derived,
        })
    }

    /// Whether a tree of root `id` may be created now: [`Error::TreeExists`] when the tree (or
    /// a change of that id) is stored, [`Error::AclListId`] when `id` is the ACL list's.
    pub(crate) fn check_new_tree(&self, id: &Id) -> Result<()> {
        if self.memory.tree(id).is_some() || self.memory.changes.contains(id) {
            return Err(Error::TreeExists(id.clone()));
        }
        self.memory.check_tree_id(id)
    }

    /// The ids of the live trees, sorted.
    pub(crate) fn tree_ids(&self) -> Vec<Id> {
        self.memory.tree_ids()
    }

    /// How many live trees the space holds.
    pub(crate) fn tree_count(&self) -> usize {
        self.memory.tree_count()
    }

    /// Whether a change of this id is stored (in any tree).
    pub(crate) fn has_change(&self, id: &str) -> bool {
        self.memory.changes.contains(id)
    }

    /// The change of this id (from any tree), if stored.
    pub(crate) fn change(&self, id: &str) -> Option<StorageChange> {
        self.memory.changes.get(id).map(|c| c.to_change())
    }

    /// How many changes the space holds (roots included).
    pub(crate) fn change_count(&self) -> usize {
        self.memory.changes.len()
    }

    // Head entries.

    /// The head entry of tree `id`, if there is one (a copy).
    pub(crate) fn head_entry(&self, id: &str) -> Option<HeadEntry> {
        self.memory.heads.get(id)
    }

    /// What `f` makes of the head entry of tree `id` (`None` when there is none), read in place
    /// under the head table's read lock: `f` must not call back into the space.
    pub(crate) fn with_head_entry<R>(
        &self,
        id: &str,
        f: impl FnOnce(Option<&HeadEntry>) -> R,
    ) -> R {
        self.memory.heads.with(id, f)
    }

    /// The head entries `opts` selects, as stored (see [`IterOptions`] for the order).
    pub(crate) fn head_entries(&self, opts: &IterOptions) -> Vec<Arc<HeadEntry>> {
        let deleted = match opts.entries {
            EntryFilter::Live => Some(false),
            EntryFilter::Deleted => Some(true),
            EntryFilter::All => None,
        };
        self.memory.heads.select(deleted, opts.min_last_add_seq)
    }

    /// Every head entry whose parent is `parent_id`, deleted ones included, sorted by id.
    pub(crate) fn head_entries_by_parent(&self, parent_id: &str) -> Vec<Arc<HeadEntry>> {
        self.memory.heads.by_parent(parent_id)
    }

    /// The largest `last_add_seq` over all head entries (deleted ones included), 0 when none.
    pub(crate) fn max_last_add_seq(&self) -> u64 {
        self.memory.heads.max_last_add_seq()
    }

    /// How many head entries the space holds.
    pub(crate) fn head_count(&self) -> usize {
        self.memory.heads.len()
    }

    // The ACL list.

    /// ACL record `id`, if stored.
    pub(crate) fn acl_record(&self, id: &str) -> Option<AclFields> {
        self.memory.acl.get(id)
    }

    /// Whether ACL record `id` is stored.
    pub(crate) fn has_acl_record(&self, id: &str) -> bool {
        self.memory.acl.has(id)
    }

    /// The ACL records whose order is in `range`, by ascending order.
    pub(crate) fn acl_records(&self, range: impl RangeBounds<u64>) -> Vec<AclFields> {
        self.memory.acl.in_orders(range)
    }

    /// How many records the ACL list holds.
    pub(crate) fn acl_len(&self) -> usize {
        self.memory.acl.len()
    }

    // The feed and its cursors.

    /// The AddSeq of the last batch in the feed, 0 when there is none.
    pub(crate) fn last_add_seq(&self) -> u64 {
        self.memory.index.last_seq()
    }

    /// The blocks of the first `limit` batches of the feed with AddSeq `> after`, in AddSeq
    /// order (pointers, copied under the index's read lock).
    pub(crate) fn blocks_after(&self, after: u64, limit: usize) -> Vec<Arc<Block>> {
        let mut blocks = Vec::with_capacity(limit.min(1024));
        self.memory.index.visit(after, u64::MAX, limit, |_, block| {
            blocks.push(Arc::clone(block));
            true
        });
        blocks
    }

    /// The first `limit` whole batches with `after` < AddSeq <= `to` (of `trees` only, when
    /// given), and the seq of the last batch looked at (delivered or passed over), under the
    /// index's read lock.
    pub(crate) fn batches_after(
        &self,
        after: u64,
        to: u64,
        limit: usize,
        trees: Option<&HashSet<Id>>,
    ) -> (Vec<Batch>, u64) {
        let mut out = Vec::new();
        let mut last = after;
        self.memory.index.visit(after, to, limit, |seq, block| {
            last = seq;
            let tree_id = block.tree_id();
            if trees.is_some_and(|t| !t.contains(&tree_id)) {
                return false;
            }
            out.push(Batch {
                add_seq: seq,
                tree_id,
                changes: block.changes(),
            });
            true
        });
        (out, last)
    }

    /// The position of the named cursor `name`, `None` when there is no such cursor.
    pub(crate) fn cursor(&self, name: &str) -> Option<u64> {
        self.memory.cursors.get(name)
    }

    /// Every named cursor with its position, sorted by name.
    pub(crate) fn cursors(&self) -> Vec<(Id, u64)> {
        self.memory.cursors.all()
    }
}
