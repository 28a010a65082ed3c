//! [`Memory::snapshot`]: the live state of a space as a list of records, for a checkpoint.
//!
//! Replaying the records in the order emitted rebuilds the same state: every named cursor, every
//! tree (root and batches, in AddSeq order, with their seqs), then every head entry rewritten
//! whole (deleted first where the tree's records set a field the entry does not have: a last
//! AddSeq).

use std::sync::Arc;

use super::Memory;
use crate::error::Result;
use crate::id::Id;
use crate::record::{Batch, CursorFields, CursorMove, HeadFields, NewTree, Record};
use crate::sync::read;

impl Memory {
    /// Calls `emit` with each record of the live state, in replay order.
    pub(crate) fn snapshot(&self, mut emit: impl FnMut(&Record) -> Result<()>) -> Result<()> {
        // The cursors first: a repair that keeps only part of the checkpoint keeps them, and
        // lowers those above the batches it kept (so the report can say so).
        for (name, seq) in self.cursors.all() {
            emit(&Record::SetCursor(CursorFields {
                name,
                seq,
                how: CursorMove::Create,
            }))?;
        }
        let mut trees: Vec<_> = read(&self.trees)
            .iter()
            .map(|(id, t)| (id.clone(), Arc::clone(t)))
            .collect();
        trees.sort_by(|a, b| a.0.cmp(&b.0));
        for (tree_id, tree) in trees {
            // No parent here: the parent's entry may come later; the entry below restores it.
            emit(&Record::CreateTree(NewTree {
                root: Arc::clone(tree.root()),
                parent_id: None,
                is_derived: false,
            }))?;
            for (seq, changes) in tree.batches() {
                emit(&Record::AddBatch(Batch {
                    tree_id: tree_id.clone(),
                    seq,
                    changes,
                    heads: None,
                    common_snapshot: Id::default(),
                    skip_duplicates: false,
                    create: None,
                }))?;
            }
        }
        for entry in self.heads.all() {
            if entry.last_add_seq.is_none() && self.tree(&entry.id).is_some() {
                // The tree's batches set a last AddSeq this entry does not have.
                emit(&Record::DeleteEntry(entry.id.clone()))?;
            }
            emit(&Record::UpdateHead(HeadFields {
                id: entry.id,
                heads: Some(entry.heads),
                common_snapshot: Some(entry.common_snapshot),
                deleted_status: Some(entry.deleted_status),
                is_derived: Some(entry.is_derived),
                parent_id: entry.parent_id,
                last_add_seq: entry.last_add_seq,
            }))?;
        }
        // Trees whose entry was deleted: the tree records created one; remove it again.
        for id in read(&self.trees).keys() {
            if self.heads.get(id).is_none() {
                emit(&Record::DeleteEntry(id.clone()))?;
            }
        }
        Ok(())
    }
}
