//! The state machine of a space: [`Memory::check`] decides whether a [`Record`] applies, by Go's
//! rules, and [`Memory::execute`] applies a checked one. Both the commit path and replay go
//! through here, so a write means the same thing live and after a restart.

use std::collections::HashSet;
use std::sync::Arc;

use super::{Memory, TreeState};
use crate::record::{Batch, NewTree, Record};
use crate::sync::write;
use crate::tree::AddOutcome;
use crate::{DeletedStatus, Error, HeadEntry, HeadUpdate, Id, Result, StorageChange};

/// What [`Memory::check`] found: which changes of a batch to skip.
#[derive(Default)]
pub(crate) struct Plan {
    /// Indexes into the batch's changes that are already stored (`add_all_no_error` only).
    skipped: Vec<usize>,
    /// The batch's tree, when it exists already (found once, by the check).
    tree: Option<Arc<TreeState>>,
}

/// What executing a record did.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    /// For a batch: its seq and the ids inserted and skipped.
    pub(crate) added: Option<AddOutcome>,
    /// Every head entry that changed, after the change (only when asked to notify).
    pub(crate) changed: Vec<HeadEntry>,
    /// Whether to collect `changed`.
    notify: bool,
}

/// Duplicate detection within one batch: a linear scan for small batches (no allocation), a
/// hash set for large ones.
enum Seen<'a> {
    Few(Vec<&'a str>),
    Many(HashSet<&'a str>),
}

impl<'a> Seen<'a> {
    fn new(n: usize) -> Self {
        if n <= 16 {
            Seen::Few(Vec::new())
        } else {
            Seen::Many(HashSet::with_capacity(n))
        }
    }

    /// Adds `s`; false when it was already there.
    fn insert(&mut self, s: &'a str) -> bool {
        match self {
            Seen::Few(v) if v.contains(&s) => false,
            Seen::Few(v) => {
                v.push(s);
                true
            }
            Seen::Many(h) => h.insert(s),
        }
    }
}

impl Memory {
    /// Decides whether `record` applies to the current state. Read-only.
    pub(crate) fn check(&self, record: &Record) -> Result<Plan> {
        match record {
            Record::CreateTree(new) => self.check_new_tree(new).map(|_| Plan::default()),
            Record::AddBatch(batch) => self.check_batch(batch),
            Record::DeleteTree { create, .. } => {
                if let Some(new) = create {
                    self.check_new_tree(new)?;
                }
                Ok(Plan::default())
            }
            Record::UpdateHead(_) | Record::DeleteEntry(_) => Ok(Plan::default()),
        }
    }

    /// Go's `CreateTreeStorage` checks: the root is not stored; the parent, when named, has a
    /// head entry and is not derived.
    pub(crate) fn check_new_tree(&self, new: &NewTree) -> Result<()> {
        let id = &new.root.id;
        if self.changes.contains(id) || self.tree(id).is_some() {
            return Err(Error::TreeExists(id.clone()));
        }
        if let Some(parent_id) = &new.parent_id {
            let parent = self
                .heads
                .get(parent_id)
                .ok_or_else(|| Error::ParentNotFound(parent_id.clone()))?;
            if parent.is_derived {
                return Err(Error::DerivedParent(parent_id.clone()));
            }
        }
        Ok(())
    }

    fn check_batch(&self, batch: &Batch) -> Result<Plan> {
        let tree = match &batch.create {
            Some(new) => {
                self.check_new_tree(new)?;
                None
            }
            None => Some(
                self.tree(&batch.tree_id)
                    .ok_or_else(|| Error::TreeDeleted(batch.tree_id.clone()))?,
            ),
        };
        let root_of_new = batch.create.as_ref().map(|n| &n.root);
        let stored = |id: &str| {
            self.changes.contains(id) || root_of_new.is_some_and(|r| r.id.as_str() == id)
        };
        let order_used = |order_id: &str| match (&tree, root_of_new) {
            (Some(t), _) => t.order_id_used(order_id),
            (None, Some(r)) => r.order_id.as_str() == order_id,
            (None, None) => false,
        };
        let mut plan = Plan {
            tree: tree.clone(),
            ..Plan::default()
        };
        let mut ids = Seen::new(batch.changes.len());
        let mut orders = Seen::new(batch.changes.len());
        for (i, change) in batch.changes.iter().enumerate() {
            if stored(&change.id) || !ids.insert(change.id.as_str()) {
                if batch.skip_duplicates {
                    plan.skipped.push(i);
                    continue;
                }
                return Err(Error::DuplicateChange(change.id.clone()));
            }
            if order_used(&change.order_id) || !orders.insert(change.order_id.as_str()) {
                return Err(Error::OrderIdInUse {
                    tree_id: batch.tree_id.clone(),
                    order_id: change.order_id.clone(),
                });
            }
        }
        Ok(plan)
    }

    /// Applies a record that [`Memory::check`] accepted with `plan`, with nothing written in
    /// between. `notify`: collect the head entries that changed (for observers).
    ///
    /// A batch is made visible in this order: the change map, the tree, the AddSeq index, the
    /// head entry, so that whatever a reader finds first, what it points to is already there.
    pub(crate) fn execute(&self, record: &Record, plan: Plan, notify: bool) -> Applied {
        let mut applied = Applied {
            notify,
            ..Applied::default()
        };
        match record {
            Record::CreateTree(new) => self.create_tree(new, &mut applied),
            Record::AddBatch(batch) => {
                if let Some(new) = &batch.create {
                    self.create_tree(new, &mut applied);
                }
                applied.added = Some(self.add_batch(batch, &plan, &mut applied));
            }
            Record::UpdateHead(update) => {
                let changed = self.heads.update(update.into(), notify);
                applied.changed.extend(changed);
            }
            Record::DeleteEntry(id) => self.heads.delete(id),
            Record::DeleteTree { tree_id, create } => {
                if let Some(new) = create {
                    self.create_tree(new, &mut applied);
                }
                self.delete_tree(tree_id);
            }
        }
        applied
    }

    fn create_tree(&self, new: &NewTree, applied: &mut Applied) {
        let root = &new.root;
        self.changes.insert(Arc::clone(root));
        write(&self.trees).insert(root.id.clone(), Arc::new(TreeState::new(Arc::clone(root))));
        let mut update = HeadUpdate::new(root.id.clone())
            .heads([root.id.clone()])
            .common_snapshot(root.id.clone())
            .is_derived(new.is_derived);
        if let Some(parent_id) = &new.parent_id {
            update.parent_id = Some(parent_id.clone());
            let parent_deleted = self
                .heads
                .get(parent_id)
                .is_some_and(|p| p.deleted_status >= DeletedStatus::Queued);
            if parent_deleted {
                update.deleted_status = Some(DeletedStatus::Queued);
            }
        }
        let changed = self.heads.update((&update).into(), applied.notify);
        applied.changed.extend(changed);
    }

    fn add_batch(&self, batch: &Batch, plan: &Plan, applied: &mut Applied) -> AddOutcome {
        let mut outcome = AddOutcome {
            add_seq: batch.seq,
            ..AddOutcome::default()
        };
        let mut kept: Vec<Arc<StorageChange>> = Vec::with_capacity(batch.changes.len());
        let mut skipped = plan.skipped.iter().peekable();
        for (i, change) in batch.changes.iter().enumerate() {
            if skipped.peek() == Some(&&i) {
                skipped.next();
                outcome.skipped.push(change.id.clone());
                continue;
            }
            self.changes.insert(Arc::clone(change));
            kept.push(Arc::clone(change));
        }
        match &plan.tree {
            Some(tree) => tree.add(&kept),
            // Created by this record: look it up now.
            None => {
                if let Some(tree) = self.tree(&batch.tree_id) {
                    tree.add(&kept);
                }
            }
        }
        let ids: Vec<Id> = kept.iter().map(|c| c.id.clone()).collect();
        if batch.skip_duplicates {
            // Only `add_all_no_error` reports which ids it inserted.
            outcome.inserted = ids.clone();
        }
        self.index.publish(batch.seq, ids);
        let changed = self.heads.update(batch.head_update(), applied.notify);
        applied.changed.extend(changed);
        outcome
    }

    fn delete_tree(&self, tree_id: &Id) {
        let Some(tree) = write(&self.trees).remove(tree_id.as_str()) else {
            return;
        };
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
