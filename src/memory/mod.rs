//! [`Memory`]: the in-memory state of a space (the memtable), and [`Memory::apply`], the only
//! way it changes. The commit path applies validated records; replay applies logged ones.

mod changes;
mod heads;
mod trees;

use std::collections::HashMap;
use std::sync::Arc;

pub(crate) use changes::ChangeMap;
pub(crate) use heads::HeadTable;
pub(crate) use trees::TreeState;

use crate::index::SeqIndex;
use crate::record::{Batch, Record};
use crate::sync::{read, write, RwLock};
use crate::{HeadEntry, Id};

/// Everything a space holds.
#[derive(Default)]
pub(crate) struct Memory {
    /// Every change of the space by id (roots included).
    pub(crate) changes: ChangeMap,
    /// Every live tree by id.
    trees: RwLock<HashMap<Id, Arc<TreeState>>>,
    /// The head entries.
    pub(crate) heads: HeadTable,
    /// The AddSeq index.
    pub(crate) index: SeqIndex,
}

/// Why a record could not be applied: the record contradicts the state (only a damaged or
/// foreign log can say such a thing; the commit path validates before it applies).
#[derive(Debug)]
pub(crate) struct ApplyError(pub(crate) String);

impl Memory {
    pub(crate) fn tree(&self, id: &str) -> Option<Arc<TreeState>> {
        read(&self.trees).get(id).cloned()
    }

    pub(crate) fn tree_count(&self) -> usize {
        read(&self.trees).len()
    }

    /// Applies one record; pushes every head entry that changed onto `changed`.
    ///
    /// A batch is made visible in this order: the change map, the tree, the AddSeq index, the
    /// head entry, so that whatever a reader finds first, what it points to is already there.
    pub(crate) fn apply(
        &self,
        record: &Record,
        changed: &mut Vec<HeadEntry>,
    ) -> Result<(), ApplyError> {
        match record {
            Record::CreateTree(root) => {
                let mut trees = write(&self.trees);
                if trees.contains_key(root.id.as_str()) || self.changes.contains(&root.id) {
                    return Err(ApplyError(format!("tree {} created twice", root.id)));
                }
                self.changes.insert(Arc::clone(root));
                trees.insert(root.id.clone(), Arc::new(TreeState::new(Arc::clone(root))));
            }
            Record::UpdateHead(update) => changed.extend(self.heads.update(update)),
            Record::Batch(batch) => self.apply_batch(batch, changed)?,
            Record::DeleteEntry(id) => self.heads.delete(id),
            Record::DeleteTree(id) => {
                let tree = write(&self.trees)
                    .remove(id.as_str())
                    .ok_or_else(|| ApplyError(format!("delete of unknown tree {id}")))?;
                let removed = tree.delete();
                let mut indexed = Vec::with_capacity(removed.len());
                for change in removed {
                    self.changes.remove(&change.id);
                    if change.add_seq > 0 {
                        indexed.push((change.add_seq, change.id.clone()));
                    }
                }
                self.index.remove(&indexed);
            }
        }
        Ok(())
    }

    fn apply_batch(&self, batch: &Batch, changed: &mut Vec<HeadEntry>) -> Result<(), ApplyError> {
        let tree = self
            .tree(&batch.tree_id)
            .ok_or_else(|| ApplyError(format!("batch for unknown tree {}", batch.tree_id)))?;
        for change in &batch.changes {
            if self.changes.contains(&change.id) {
                return Err(ApplyError(format!("change {} stored twice", change.id)));
            }
        }
        for change in &batch.changes {
            self.changes.insert(Arc::clone(change));
        }
        tree.add(&batch.changes);
        self.index.publish(
            batch.seq,
            batch.changes.iter().map(|c| c.id.clone()).collect(),
        );
        changed.extend(self.heads.update(&batch.head_update()));
        Ok(())
    }
}
