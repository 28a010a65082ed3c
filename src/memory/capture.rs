//! [`Memory::capture`]: the live state of a space as of one moment, and [`Captured::emit`]: it
//! as a list of records, for a checkpoint.
//!
//! Replaying the records in the order emitted rebuilds the same state: every named cursor, every
//! tree (root and batches, in AddSeq order, with their seqs), then every head entry rewritten
//! whole (deleted first where the tree's records set a field the entry does not have: a last
//! AddSeq).

use std::sync::Arc;

use super::{Memory, SpaceState, TreeState};
use crate::entry::HeadEntry;
use crate::error::Result;
use crate::id::Id;
use crate::record::{
    AclFields, BatchFields, CursorFields, CursorMove, HeadFields, NewSpace, NewTree, Record,
};
use crate::sync::read;

/// The live state as of one moment, taken under the commit lock at the cost of copying
/// pointers ([`Memory::capture`]); [`Captured::emit`] turns it into records afterwards, without
/// the lock, while writers go on.
pub(crate) struct Captured {
    pub(super) cursors: Vec<(Id, u64)>,
    /// Every tree by id, sorted, with how many batches it held: the batches are read when
    /// the records are emitted (a tree's first batches never change, see
    /// `TreeState::batch_count`), so the capture costs O(trees), not O(changes).
    pub(super) trees: Vec<(Id, Arc<TreeState>, usize)>,
    pub(super) entries: Vec<HeadEntry>,
    /// A whole space's state and ACL list (small: copied whole).
    pub(super) state: Option<SpaceState>,
    pub(super) acl: Vec<AclFields>,
}

impl Memory {
    /// The live state as of now (call it where nothing writes: under the commit lock).
    pub(crate) fn capture(&self) -> Captured {
        let mut trees: Vec<_> = read(&self.trees)
            .iter()
            .map(|(id, t)| (id.clone(), Arc::clone(t), t.batch_count()))
            .collect();
        trees.sort_by(|a, b| a.0.cmp(&b.0));
        Captured {
            cursors: self.cursors.all(),
            trees,
            entries: self.heads.all(),
            state: self.state.get(),
            acl: self.acl.in_orders(..),
        }
    }

    /// Calls `emit` with each record of the live state, in replay order.
    #[cfg(feature = "internals")] // For the tools' checks.
    pub(crate) fn emit(&self, emit: impl FnMut(&Record) -> Result<()>) -> Result<()> {
        self.capture().emit(emit)
    }
}

impl Captured {
    /// Calls `emit` with each record of the captured state, in replay order.
    pub(crate) fn emit(&self, mut emit: impl FnMut(&Record) -> Result<()>) -> Result<()> {
        // The cursors first: a repair that keeps only part of the checkpoint keeps them, and
        // lowers those above the batches it kept (so the report can say so).
        for (name, seq) in &self.cursors {
            emit(&Record::SetCursor(CursorFields {
                name: name.clone(),
                seq: *seq,
                how: CursorMove::Create,
            }))?;
        }
        // A whole space's state and list before the trees (its settings tree is one of them).
        if let Some(state) = &self.state {
            self.emit_space(state, &mut emit)?;
        }
        for (tree_id, tree, batches) in &self.trees {
            // No parent here: the parent's entry may come later; the entry below restores it.
            emit(&Record::CreateTree(Box::new(NewTree {
                root: tree.root().to_change(),
                parent_id: None,
                is_derived: false,
            })))?;
            for block in tree.first_batches(*batches) {
                emit(&Record::AddBatch(BatchFields {
                    tree_id: tree_id.clone(),
                    seq: block.seq(),
                    added: block.added(),
                    in_feed: block.in_feed(),
                    changes: block.batch_changes(),
                    heads: None,
                    common_snapshot: Id::default(),
                    skip_duplicates: false,
                    create: None,
                }))?;
            }
        }
        let is_tree = |id: &Id| self.trees.binary_search_by(|(t, _, _)| t.cmp(id)).is_ok();
        for entry in &self.entries {
            if entry.last_add_seq.is_none() && is_tree(&entry.id) {
                // The tree's batches set a last AddSeq this entry does not have.
                emit(&Record::DeleteEntry(entry.id.clone()))?;
            }
            // Whole: the commit path refuses a write that would make this record larger than a
            // write may be (`Memory::entries_after`).
            emit(&Record::UpdateHead(HeadFields::whole(entry)))?;
        }
        // Trees (and the ACL list) whose entry was deleted: their records created one; remove
        // it again.
        let acl_id = self.state.as_ref().map(|s| &s.acl_id);
        for id in self.trees.iter().map(|(id, _, _)| id).chain(acl_id) {
            if self.entries.binary_search_by(|e| e.id.cmp(id)).is_err() {
                emit(&Record::DeleteEntry(id.clone()))?;
            }
        }
        Ok(())
    }

    /// The state with the list's root, each other record of the list (one per record, so each
    /// fits a frame as it did when written), the hash.
    fn emit_space(
        &self,
        state: &SpaceState,
        emit: &mut impl FnMut(&Record) -> Result<()>,
    ) -> Result<()> {
        let is_root = |r: &&AclFields| r.id == state.acl_id;
        let Some(root) = self.acl.iter().find(is_root) else {
            return Err(crate::Error::Internal(
                "a whole space's ACL list has no root".into(),
            ));
        };
        emit(&Record::CreateSpace(Box::new(NewSpace {
            space_id: state.space_id.clone(),
            space_header: state.header.clone(),
            acl_root: root.clone(),
            settings: None,
            settings_id: state.settings_id.clone(),
        })))?;
        for r in self.acl.iter().filter(|r| r.id != state.acl_id) {
            emit(&Record::AddAclRecords(vec![r.clone()]))?;
        }
        if !state.hash.is_empty() {
            emit(&Record::SetHash(state.hash.clone()))?;
        }
        Ok(())
    }
}
