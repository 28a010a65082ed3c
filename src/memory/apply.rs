//! The state machine of a space: [`Memory::check`] decides whether a [`Record`] applies, by Go's
//! rules, and [`Memory::execute`] applies a checked one. Both the commit path and replay go
//! through here, so a write means the same thing live and after a restart.

use std::collections::HashSet;
use std::sync::Arc;

use super::claim::{batch_block, batch_extent, root_block, Claim, Ids};
use super::{Block, Memory, SpaceState, TreeState, UpdateRef};
use crate::entry::{DeletedStatus, HeadEntry};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::layout::{self, Encoded};
use crate::record::{AclFields, BatchFields, CursorFields, CursorMove, NewSpace, NewTree, Record};
use crate::sync::write;

/// The tree a batch or a deletion writes to, as checked before the write takes its seq
/// ([`Memory::check_target`]), kept for [`Memory::check`] so that it is not checked twice.
pub(crate) enum Target {
    /// The tree exists.
    Existing(Arc<TreeState>),
    /// The record creates it first (a deferred storage's first write), and it can be created.
    New,
}

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
    /// For an `add_all_no_error` batch: the ids inserted, in the order given.
    pub(crate) inserted: Vec<Id>,
    /// For a batch: the ids skipped because they were stored already.
    pub(crate) skipped: Vec<Id>,
    /// Every head entry that changed, after the change (only when asked to notify).
    pub(crate) changed: Vec<HeadEntry>,
    /// The state's new hash, when a `SetHash` changed it.
    pub(crate) hash_changed: Option<Id>,
    /// Whether to collect `changed`.
    notify: bool,
}

/// Duplicate detection within one batch: a linear scan of a list on the stack for small
/// batches (no allocation), a hash set for large ones.
// On the stack for the length of one check: the list's size is the point.
#[allow(clippy::large_enum_variant)]
enum Seen<'a> {
    /// Scanned; the inline storage is not written until used (a batch of one change writes
    /// one slot, not sixteen).
    Few(smallvec::SmallVec<[&'a str; FEW]>),
    Many(HashSet<&'a str>),
}

/// Up to how many items [`Seen`] scans.
const FEW: usize = 16;

impl<'a> Seen<'a> {
    fn new(n: usize) -> Self {
        if n <= FEW {
            Seen::Few(smallvec::SmallVec::new())
        } else {
            Seen::Many(HashSet::with_capacity(n))
        }
    }

    /// Adds `s`; false when it was already there.
    fn insert(&mut self, s: &'a str) -> bool {
        match self {
            Seen::Few(items) if items.contains(&s) => false,
            Seen::Few(items) if items.len() < FEW => {
                items.push(s);
                true
            }
            // More than `new` was told: from here on, a set.
            Seen::Few(items) => {
                let mut set: HashSet<&'a str> = items.iter().copied().collect();
                set.insert(s);
                *self = Seen::Many(set);
                true
            }
            Seen::Many(h) => h.insert(s),
        }
    }
}

/// The head update of a tree's creation: heads and common snapshot = the root, the parent, queued
/// for deletion when the parent is.
fn created(new: &NewTree, parent_deleted: bool) -> UpdateRef<'_> {
    let root = &new.root;
    UpdateRef {
        id: &root.id,
        heads: Some(std::slice::from_ref(&root.id)),
        common_snapshot: Some(&root.id),
        deleted_status: parent_deleted.then_some(DeletedStatus::Queued),
        is_derived: Some(new.is_derived),
        parent_id: new.parent_id.as_ref(),
        last_add_seq: None,
    }
}

/// A batch's head update: heads (when given), common snapshot, last AddSeq.
fn batched(batch: &BatchFields) -> UpdateRef<'_> {
    UpdateRef {
        id: &batch.tree_id,
        heads: batch.heads.as_deref(),
        common_snapshot: Some(&batch.common_snapshot),
        deleted_status: None,
        is_derived: None,
        parent_id: None,
        last_add_seq: Some(batch.seq),
    }
}

/// The ACL list's head update: its heads become the last record added.
fn acl_head<'a>(acl_id: &'a Id, last: &'a Id) -> UpdateRef<'a> {
    UpdateRef {
        id: acl_id,
        heads: Some(std::slice::from_ref(last)),
        common_snapshot: None,
        deleted_status: None,
        is_derived: None,
        parent_id: None,
        last_add_seq: None,
    }
}

/// A head entry as a write leaves it, whole, and as it was before (`None`: it did not exist):
/// what [`Memory::entries_after`] hands out.
pub(crate) struct EntryAfter<'a> {
    /// The entry after the write, every field.
    pub(crate) after: UpdateRef<'a>,
    /// The entry before it, every field.
    pub(crate) before: Option<UpdateRef<'a>>,
}

impl Memory {
    /// Calls `f` with each head entry `record` would change, whole, as it would be after the
    /// record (and as it was), without changing anything: the commit path measures what a
    /// checkpoint will write for it. Read-only.
    pub(crate) fn entries_after(
        &self,
        record: &Record,
        f: &mut dyn FnMut(EntryAfter<'_>) -> Result<()>,
    ) -> Result<()> {
        match record {
            Record::CreateTree(new)
            | Record::DeleteTree {
                create: Some(new), ..
            } => self.entry_after(&[created(new, false)], f),
            Record::AddBatch(batch) => self.batch_entry_after(batch, f),
            Record::UpdateHead(update) => self.entry_after(&[update.into()], f),
            Record::CreateSpace(space) => {
                let acl = &space.acl_root.id;
                self.entry_after(&[acl_head(acl, acl)], f)?;
                match &space.settings {
                    Some(settings) => self.entry_after(&[created(settings, false)], f),
                    None => Ok(()),
                }
            }
            Record::AddAclRecords(records) => match (records.last(), self.state.get()) {
                (Some(last), Some(state)) => {
                    self.entry_after(&[acl_head(&state.acl_id, &last.id)], f)
                }
                _ => Ok(()),
            },
            Record::DeleteTree { create: None, .. }
            | Record::DeleteEntry(_)
            | Record::SetCursor(_)
            | Record::DeleteCursor(_)
            | Record::SetHash(_) => Ok(()),
        }
    }

    /// [`Memory::entries_after`] of a batch (before it takes its seq: the seq's size is fixed).
    pub(crate) fn batch_entry_after(
        &self,
        batch: &BatchFields,
        f: &mut dyn FnMut(EntryAfter<'_>) -> Result<()>,
    ) -> Result<()> {
        match &batch.create {
            Some(new) => self.entry_after(&[created(new, false), batched(batch)], f),
            None => self.entry_after(&[batched(batch)], f),
        }
    }

    /// Calls `f` with the entry of `updates` (one entry's, in the order applied) after them.
    fn entry_after(
        &self,
        updates: &[UpdateRef<'_>],
        f: &mut dyn FnMut(EntryAfter<'_>) -> Result<()>,
    ) -> Result<()> {
        let Some(first) = updates.first() else {
            return Ok(());
        };
        let fresh = HeadEntry {
            id: first.id.clone(),
            ..HeadEntry::default()
        };
        self.heads.with(first.id, |old| {
            let before = old.map(UpdateRef::whole);
            let base = UpdateRef::whole(old.unwrap_or(&fresh));
            let after = updates.iter().fold(base, |entry, u| u.over(entry));
            f(EntryAfter { after, before })
        })
    }

    /// The rules the commit path adds to [`Memory::check`], which replay does not apply (a log
    /// written by an older build replays as it was; `verify` reports what breaks them): no tree
    /// takes the ACL list's id, whichever of the two comes first.
    pub(crate) fn check_live(&self, record: &Record) -> Result<()> {
        let created = match record {
            Record::CreateTree(new)
            | Record::DeleteTree {
                create: Some(new), ..
            } => Some(new),
            Record::AddBatch(batch) => batch.create.as_ref(),
            Record::CreateSpace(space) => {
                let acl = &space.acl_root.id;
                // A space already there is `SpaceExists` ([`Memory::check`]), as in Go.
                if self.state.get().is_none() && self.tree(acl).is_some() {
                    return Err(Error::AclListId(acl.clone()));
                }
                None
            }
            _ => None,
        };
        match created {
            Some(new) => self.check_tree_id(&new.root.id),
            None => Ok(()),
        }
    }

    /// Refuses a new tree whose id is the ACL list's ([`Memory::check_live`]).
    pub(crate) fn check_tree_id(&self, id: &Id) -> Result<()> {
        if self.state.get().is_some_and(|state| state.acl_id == *id) {
            return Err(Error::AclListId(id.clone()));
        }
        Ok(())
    }

    /// Decides whether `record` applies to the current state. Read-only. `target`: the tree of
    /// a batch or deletion when [`Memory::check_target`] checked it already, in this state.
    pub(crate) fn check(&self, record: &Record, target: Option<Target>) -> Result<Plan> {
        self.check_in(record, target, Ids::InTheMap)
    }

    /// [`Memory::check`] of a record whose new changes [`Memory::claim_run`] put in the change map
    /// (which proves that none of their ids was stored): the same rules, without looking the
    /// ids up again.
    pub(crate) fn check_claimed(&self, record: &Record) -> Result<Plan> {
        self.check_in(record, None, Ids::Claimed)
    }

    fn check_in(&self, record: &Record, target: Option<Target>, ids: Ids) -> Result<Plan> {
        match record {
            Record::CreateTree(new) => self.check_new_tree(new, ids).map(|_| Plan::default()),
            Record::AddBatch(batch) => {
                let target = match target {
                    Some(t) => t,
                    None => self.check_target_in(&batch.tree_id, batch.create.as_deref(), ids)?,
                };
                self.check_batch(batch, target, ids)
            }
            Record::DeleteTree { create, .. } => {
                if let (Some(new), None) = (create, target) {
                    self.check_new_tree(new, ids)?;
                }
                Ok(Plan::default())
            }
            Record::SetCursor(cursor) => self.check_cursor(cursor).map(|()| Plan::default()),
            Record::CreateSpace(space) => {
                self.check_new_space(space, ids).map(|()| Plan::default())
            }
            Record::SetHash(_) => self.check_whole().map(|()| Plan::default()),
            Record::AddAclRecords(records) => {
                self.check_acl_records(records).map(|()| Plan::default())
            }
            Record::UpdateHead(_) | Record::DeleteEntry(_) | Record::DeleteCursor(_) => {
                Ok(Plan::default())
            }
        }
    }

    /// Go's `Create`: the state must not exist (`ErrSpaceStorageExists`); the settings tree is
    /// created like any tree.
    fn check_new_space(&self, space: &NewSpace, ids: Ids) -> Result<()> {
        if self.state.exists() {
            return Err(Error::SpaceExists(space.space_id.clone()));
        }
        match &space.settings {
            Some(settings) => self.check_new_tree(settings, ids),
            None => Ok(()),
        }
    }

    /// The state and the ACL list exist only in a whole space.
    fn check_whole(&self) -> Result<()> {
        if self.state.exists() {
            Ok(())
        } else {
            Err(Error::bare_space())
        }
    }

    /// Go's `AddAll` of the list inserts every record into a collection with a unique id and a
    /// unique order: a clash with a stored record or within the call fails the whole call.
    fn check_acl_records(&self, records: &[AclFields]) -> Result<()> {
        self.check_whole()?;
        let mut ids = Seen::new(records.len());
        let mut orders = HashSet::with_capacity(records.len());
        for r in records {
            if self.acl.has(&r.id) || !ids.insert(r.id.as_str()) {
                return Err(Error::AclRecordExists(r.id.clone()));
            }
            if self.acl.order_used(r.order) || !orders.insert(r.order) {
                return Err(Error::AclOrderInUse {
                    id: r.id.clone(),
                    order: r.order,
                });
            }
        }
        Ok(())
    }

    /// A cursor moves only if it exists (except to be created), and an ack never moves it back.
    fn check_cursor(&self, cursor: &CursorFields) -> Result<()> {
        if cursor.how == CursorMove::Create {
            return Ok(());
        }
        let position = self
            .cursors
            .get(&cursor.name)
            .ok_or_else(|| Error::UnknownCursor(cursor.name.clone()))?;
        if cursor.how == CursorMove::Ack && cursor.seq < position {
            return Err(Error::CursorBackwards {
                name: cursor.name.clone(),
                position,
                requested: cursor.seq,
            });
        }
        Ok(())
    }

    /// Checks the tree a batch or a deletion writes to: the tree `create` makes can be created,
    /// or tree `tree_id` exists ([`Error::TreeDeleted`] when it does not).
    pub(crate) fn check_target(&self, tree_id: &Id, create: Option<&NewTree>) -> Result<Target> {
        self.check_target_in(tree_id, create, Ids::InTheMap)
    }

    fn check_target_in(&self, tree_id: &Id, create: Option<&NewTree>, ids: Ids) -> Result<Target> {
        match create {
            Some(new) => self.check_new_tree(new, ids).map(|()| Target::New),
            None => self
                .tree(tree_id)
                .map(Target::Existing)
                .ok_or_else(|| Error::TreeDeleted(tree_id.clone())),
        }
    }

    /// Go's `CreateTreeStorage` checks: the root is not stored; the parent, when named, has a
    /// head entry and is not derived.
    fn check_new_tree(&self, new: &NewTree, ids: Ids) -> Result<()> {
        let id = &new.root.id;
        if ids.stored(self, id) || self.tree(id).is_some() {
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

    fn check_batch(&self, batch: &BatchFields, target: Target, ids: Ids) -> Result<Plan> {
        let tree = match target {
            Target::New => None,
            Target::Existing(tree) => Some(tree),
        };
        let root_of_new = batch.create.as_ref().map(|n| &n.root);
        let stored =
            |id: &str| ids.stored(self, id) || root_of_new.is_some_and(|r| r.id.as_str() == id);
        let order_used = |order_id: &str| match (&tree, root_of_new) {
            (Some(t), _) => t.order_id_used(order_id),
            (None, Some(r)) => r.order_id.as_str() == order_id,
            (None, None) => false,
        };
        // A tree's batches are in AddSeq order (invariant 5): only a batch with a seq of its own
        // counter can come below the last one.
        if let Some(last) = tree.as_ref().map(|t| t.last_seq()) {
            if batch.seq <= last {
                return Err(Error::SeqNotAboveTree {
                    tree_id: batch.tree_id.clone(),
                    seq: batch.seq,
                    last,
                });
            }
        }
        let mut plan = Plan {
            tree: tree.clone(),
            ..Plan::default()
        };
        // Repeats within the batch: none is possible in a batch of one change, and a claimed
        // record's ids were each put in the change map once by its claim (a repeat fails it).
        let n = batch.changes.len();
        let mut seen = (n > 1 && !matches!(ids, Ids::Claimed)).then(|| Seen::new(n));
        let mut orders = (n > 1).then(|| Seen::new(n));
        for (i, (id, order_id)) in batch.changes.keys().enumerate() {
            if stored(id) || seen.as_mut().is_some_and(|s| !s.insert(id)) {
                if batch.skip_duplicates {
                    plan.skipped.push(i);
                    continue;
                }
                return Err(Error::DuplicateChange(Id::from(id)));
            }
            if order_used(order_id) || orders.as_mut().is_some_and(|s| !s.insert(order_id)) {
                return Err(Error::OrderIdInUse {
                    tree_id: batch.tree_id.clone(),
                    order_id: Id::from(order_id),
                });
            }
        }
        Ok(plan)
    }

    /// Applies a record that [`Memory::check`] accepted with `plan`, with nothing written in
    /// between. `encoded`: the record's payload (what memory keeps of its changes, see
    /// `stored.rs`). `notify`: collect the head entries that changed (for observers).
    ///
    /// A batch is made visible in this order: the change map, the tree, the AddSeq index, the
    /// head entry, so that whatever a reader finds first, what it points to is already there.
    pub(crate) fn execute(
        &self,
        record: &Record,
        encoded: &Encoded,
        plan: Plan,
        notify: bool,
    ) -> Applied {
        self.execute_in(record, encoded, plan, notify, Claim::default())
    }

    /// [`Memory::execute`] of a record [`Memory::check_claimed`] accepted: its new changes are
    /// `claim`'s, in the change map already.
    pub(crate) fn execute_claimed(
        &self,
        record: &Record,
        encoded: &Encoded,
        plan: Plan,
        claim: Claim,
    ) -> Applied {
        self.execute_in(record, encoded, plan, false, claim)
    }

    fn execute_in(
        &self,
        record: &Record,
        encoded: &Encoded,
        plan: Plan,
        notify: bool,
        mut claim: Claim,
    ) -> Applied {
        let mut applied = Applied {
            notify,
            ..Applied::default()
        };
        match record {
            Record::CreateTree(new) => self.create_tree(new, encoded, claim.root, &mut applied),
            Record::AddBatch(batch) => {
                if let Some(new) = &batch.create {
                    self.create_tree(new, encoded, claim.root.take(), &mut applied);
                }
                self.add_batch(batch, encoded, &plan, claim.batch, &mut applied);
            }
            Record::UpdateHead(update) => {
                let changed = self.heads.update(update.into(), notify);
                applied.changed.extend(changed);
            }
            Record::DeleteEntry(id) => self.heads.delete(id),
            Record::DeleteTree { tree_id, create } => {
                if let Some(new) = create {
                    self.create_tree(new, encoded, claim.root, &mut applied);
                }
                self.delete_tree(tree_id);
            }
            Record::SetCursor(c) => self
                .cursors
                .set(&c.name, c.seq, c.how == CursorMove::Create),
            Record::DeleteCursor(name) => self.cursors.delete(name),
            Record::CreateSpace(space) => {
                self.create_space(space, encoded, claim.root, &mut applied)
            }
            Record::SetHash(hash) => {
                if self.state.set_hash(hash) {
                    applied.hash_changed = Some(hash.clone());
                }
            }
            Record::AddAclRecords(records) => self.add_acl_records(records, &mut applied),
        }
        applied
    }

    /// The state, the ACL list's root with its head entry (heads: the root), the settings tree.
    fn create_space(
        &self,
        space: &NewSpace,
        encoded: &Encoded,
        claimed_root: Option<Arc<Block>>,
        applied: &mut Applied,
    ) {
        self.state.set(SpaceState {
            space_id: space.space_id.clone(),
            acl_id: space.acl_root.id.clone(),
            settings_id: space.settings_id.clone(),
            header: space.space_header.clone(),
            hash: Id::default(),
        });
        self.add_acl_records(std::slice::from_ref(&space.acl_root), applied);
        if let Some(settings) = &space.settings {
            self.create_tree(settings, encoded, claimed_root, applied);
        }
    }

    /// Stores checked ACL records and moves the list's head entry to the last one given (Go
    /// takes the last of the call, not the highest order).
    fn add_acl_records(&self, records: &[AclFields], applied: &mut Applied) {
        let (Some(last), Some(state)) = (records.last(), self.state.get()) else {
            return;
        };
        self.acl.insert(records);
        let changed = self
            .heads
            .update(acl_head(&state.acl_id, &last.id), applied.notify);
        applied.changed.extend(changed);
    }

    /// `claimed_root`: the root's block, when [`Memory::claim_run`] put it in the change map.
    fn create_tree(
        &self,
        new: &NewTree,
        encoded: &Encoded,
        claimed_root: Option<Arc<Block>>,
        applied: &mut Applied,
    ) {
        let root = &new.root;
        let claimed = claimed_root.is_some();
        let block = claimed_root.unwrap_or_else(|| root_block(encoded));
        let Some(stored) = block.stored().pop() else {
            return;
        };
        if !claimed {
            self.changes.insert(stored.clone());
        }
        write(&self.trees).insert(root.id.clone(), Arc::new(TreeState::new(stored)));
        let parent_deleted = new.parent_id.as_ref().is_some_and(|parent_id| {
            self.heads
                .get(parent_id)
                .is_some_and(|p| p.deleted_status >= DeletedStatus::Queued)
        });
        let changed = self
            .heads
            .update(created(new, parent_deleted), applied.notify);
        applied.changed.extend(changed);
    }

    /// `claimed`: the batch's block, when [`Memory::claim_run`] put its changes in the change map.
    fn add_batch(
        &self,
        batch: &BatchFields,
        encoded: &Encoded,
        plan: &Plan,
        claimed: Option<Arc<Block>>,
        applied: &mut Applied,
    ) {
        let bytes = &encoded.bytes;
        let (first, total) = batch_extent(batch, encoded);
        // Only `add_all_no_error` skips changes (those stored already), and it reports which
        // ids it inserted and which it skipped.
        let mut kept = Vec::new();
        if batch.skip_duplicates {
            let mut skipped = plan.skipped.iter().peekable();
            for (i, (at, _)) in layout::change_offsets(bytes, first, total).enumerate() {
                let id = layout::id_at(bytes, at);
                if skipped.peek() == Some(&&i) {
                    skipped.next();
                    applied.skipped.push(id);
                } else {
                    kept.push(at);
                    applied.inserted.push(id);
                }
            }
        }
        let in_the_map = claimed.is_some();
        let block = match claimed {
            Some(block) => block,
            None if plan.skipped.is_empty() => batch_block(batch, encoded),
            None => Block::part_of_batch(bytes.clone(), batch.seq, kept),
        };
        if block.len() > 0 {
            if !in_the_map {
                for s in block.stored_iter() {
                    self.changes.insert(s);
                }
            }
            let tree = match &plan.tree {
                Some(tree) => Some(Arc::clone(tree)),
                // Created by this record: look it up now.
                None => self.tree(&batch.tree_id),
            };
            if let Some(tree) = tree {
                tree.add(&block);
            }
            if batch.in_feed {
                self.index.publish(&block);
            }
        }
        // The batch's head update: heads (when given), common snapshot, last AddSeq.
        let changed = self.heads.update(batched(batch), applied.notify);
        applied.changed.extend(changed);
    }

    fn delete_tree(&self, tree_id: &Id) {
        let Some(tree) = write(&self.trees).remove(tree_id.as_str()) else {
            return;
        };
        let (removed, seqs) = tree.contents();
        for change in removed {
            self.changes.remove(change.id_bytes());
        }
        self.index.remove(&seqs);
    }
}
