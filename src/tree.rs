//! [`TreeStorage`]: one tree of a space (Go's `objecttree.Storage`), including the deferred
//! state in which a tree exists only in memory until its first write.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use crate::commit::{Commit, Ctx};
use crate::memory::{Memory, TreeState};
use crate::record::{Batch, Record};
use crate::sync::{lock, Mutex};
use crate::{DeletedStatus, Error, HeadUpdate, Id, Result, StorageChange, TreeRoot};

/// What [`TreeStorage::add_all_no_error`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddOutcome {
    /// The batch's AddSeq (taken even when every change was skipped).
    pub add_seq: u64,
    /// The ids stored, in the order given.
    pub inserted: Vec<Id>,
    /// The ids skipped because a change with that id was already stored.
    pub skipped: Vec<Id>,
}

/// One tree of a space: its changes, heads and common snapshot.
///
/// Handles are cheap to share between threads (`TreeStorage` is `Send + Sync`); writes to any
/// trees of a space may run in parallel.
///
/// ```
/// use spacestore::{Space, StorageChange, TreeRoot};
/// let space = Space::in_memory();
/// let tree = space.create_tree_storage(TreeRoot::new("root", b"r".to_vec()))?;
/// let seq = tree.add_all(
///     vec![StorageChange::new("c1", "0001", b"one".to_vec()).with_prev_ids(["root"])],
///     ["c1"],
///     "root",
/// )?;
/// assert_eq!(seq, 1);
/// assert_eq!(tree.heads()?, vec!["c1"]);
/// let newer = tree.collect_after_add_seq(0)?;
/// assert_eq!(newer[0].id, "c1");
/// assert_eq!(newer[0].add_seq, 1);
/// # Ok::<(), spacestore::Error>(())
/// ```
pub struct TreeStorage {
    commit: Arc<Commit>,
    root: TreeRoot,
    root_change: Arc<StorageChange>,
    /// `None` while the storage is deferred; set once, under the commit lock.
    state: Mutex<Option<Arc<TreeState>>>,
}

/// The tree a write goes to: an existing one, or one the write must create first.
enum Target {
    Existing(Arc<TreeState>),
    Create(Vec<Record>),
}

/// The records that create the tree of `root`, after checking it may be created (Go's
/// `CreateTreeStorage`, steps 1 to 4).
pub(crate) fn creation_records(memory: &Memory, root: &TreeRoot) -> Result<Vec<Record>> {
    if memory.changes.contains(&root.id) || memory.tree(&root.id).is_some() {
        return Err(Error::TreeExists(root.id.clone()));
    }
    let mut update = HeadUpdate::new(root.id.clone())
        .heads([root.id.clone()])
        .common_snapshot(root.id.clone())
        .is_derived(root.is_derived);
    if let Some(parent_id) = &root.parent_id {
        let parent = memory
            .heads
            .get(parent_id)
            .ok_or_else(|| Error::ParentNotFound(parent_id.clone()))?;
        if parent.is_derived {
            return Err(Error::DerivedParent(parent_id.clone()));
        }
        update.parent_id = Some(parent_id.clone());
        if parent.deleted_status >= DeletedStatus::Queued {
            update.deleted_status = Some(DeletedStatus::Queued);
        }
    }
    Ok(vec![
        Record::CreateTree(Arc::new(root.to_change())),
        Record::UpdateHead(update),
    ])
}

fn iterate<E>(
    changes: Vec<Arc<StorageChange>>,
    mut f: impl FnMut(&StorageChange) -> Result<ControlFlow<()>, E>,
) -> Result<(), E> {
    for change in changes {
        if f(&change)?.is_break() {
            break;
        }
    }
    Ok(())
}

impl TreeStorage {
    pub(crate) fn new(commit: Arc<Commit>, root: TreeRoot, state: Option<Arc<TreeState>>) -> Self {
        let root_change = match &state {
            Some(tree) => Arc::clone(tree.root()),
            None => Arc::new(root.to_change()),
        };
        TreeStorage {
            commit,
            root,
            root_change,
            state: Mutex::new(state),
        }
    }

    fn state(&self) -> Option<Arc<TreeState>> {
        lock(&self.state).clone()
    }

    /// The tree id (the root change's id).
    pub fn id(&self) -> &Id {
        &self.root.id
    }

    /// The root change.
    pub fn root(&self) -> StorageChange {
        (*self.root_change).clone()
    }

    /// Whether the storage is still deferred: its tree exists only in memory until the first
    /// write.
    pub fn is_deferred(&self) -> bool {
        self.state().is_none()
    }

    /// The tree's current heads (`[root id]` while deferred).
    pub fn heads(&self) -> Result<Vec<Id>> {
        match self.state() {
            None => Ok(vec![self.root.id.clone()]),
            Some(_) => Ok(self.entry()?.heads),
        }
    }

    /// The tree's common snapshot (the root id while deferred).
    pub fn common_snapshot(&self) -> Result<Id> {
        match self.state() {
            None => Ok(self.root.id.clone()),
            Some(_) => Ok(self.entry()?.common_snapshot),
        }
    }

    fn entry(&self) -> Result<crate::HeadEntry> {
        self.commit
            .memory()
            .heads
            .get(&self.root.id)
            .ok_or_else(|| Error::UnknownTree(self.root.id.clone()))
    }

    /// Whether a change with this id is stored in the space (any tree: ids are unique across the
    /// space). While deferred, only the root is.
    pub fn has(&self, id: &str) -> bool {
        match self.state() {
            None => id == self.root.id.as_str(),
            Some(_) => self.commit.memory().changes.contains(id),
        }
    }

    /// The change with this id, from any tree of the space, or [`Error::ChangeNotFound`].
    pub fn get(&self, id: &str) -> Result<StorageChange> {
        let found = match self.state() {
            None => (id == self.root.id.as_str()).then(|| Arc::clone(&self.root_change)),
            Some(_) => self.commit.memory().changes.get(id),
        };
        found
            .map(|c| (*c).clone())
            .ok_or_else(|| Error::ChangeNotFound(Id::from(id)))
    }

    fn after_order(&self, order_id: &str) -> Vec<Arc<StorageChange>> {
        match self.state() {
            None if self.root.order_id.as_str() >= order_id => vec![Arc::clone(&self.root_change)],
            None => Vec::new(),
            Some(tree) => tree.after_order(order_id),
        }
    }

    fn after_add_seq(&self, seq: u64) -> Vec<Arc<StorageChange>> {
        match self.state() {
            None => Vec::new(),
            Some(tree) => tree.after_add_seq(seq),
        }
    }

    /// Calls `f` with each change of the tree whose order id is `>= order_id`, in order-id
    /// order, until it returns `Break` or an error (which is returned).
    pub fn get_after_order<E>(
        &self,
        order_id: &str,
        f: impl FnMut(&StorageChange) -> Result<ControlFlow<()>, E>,
    ) -> Result<(), E> {
        iterate(self.after_order(order_id), f)
    }

    /// The changes of the tree whose order id is `>= order_id`, in order-id order.
    pub fn collect_after_order(&self, order_id: &str) -> Result<Vec<StorageChange>> {
        Ok(self
            .after_order(order_id)
            .iter()
            .map(|c| (**c).clone())
            .collect())
    }

    /// Calls `f` with each change of the tree whose AddSeq is `> add_seq`, **in order-id order**
    /// (as Go does), until it returns `Break` or an error. The root (AddSeq 0) never matches.
    pub fn get_after_add_seq<E>(
        &self,
        add_seq: u64,
        f: impl FnMut(&StorageChange) -> Result<ControlFlow<()>, E>,
    ) -> Result<(), E> {
        iterate(self.after_add_seq(add_seq), f)
    }

    /// The changes of the tree whose AddSeq is `> add_seq`, in order-id order.
    pub fn collect_after_add_seq(&self, add_seq: u64) -> Result<Vec<StorageChange>> {
        Ok(self
            .after_add_seq(add_seq)
            .iter()
            .map(|c| (**c).clone())
            .collect())
    }

    /// Resolves the tree a write goes to. Runs under the commit lock.
    fn target(&self, memory: &Memory) -> Result<Target> {
        if let Some(tree) = self.state() {
            return Ok(Target::Existing(tree));
        }
        // Deferred: the first write creates the tree. (A concurrent first write through this
        // handle has settled `state` under the commit lock, so it is seen above.)
        Ok(Target::Create(creation_records(memory, &self.root)?))
    }

    /// After a successful write, under the commit lock: a deferred storage now has its tree
    /// (an empty, deleted one when the first write was `delete`).
    fn settle(&self, memory: &Memory) {
        let mut state = lock(&self.state);
        if state.is_none() {
            let tree = memory.tree(&self.root.id).unwrap_or_else(|| {
                let tree = TreeState::new(Arc::clone(&self.root_change));
                tree.delete();
                Arc::new(tree)
            });
            *state = Some(tree);
        }
    }

    fn add(
        &self,
        changes: Vec<StorageChange>,
        heads: Vec<Id>,
        common_snapshot: Id,
        skip_duplicates: bool,
    ) -> Result<AddOutcome> {
        let tree_id = self.root.id.clone();
        let mut prepared = changes;
        for c in &mut prepared {
            c.tree_id = tree_id.clone();
        }
        let heads = (!heads.is_empty()).then_some(heads);
        let validate = |ctx: &mut Ctx<'_>| {
            let memory = ctx.memory();
            let (tree, mut records) = match self.target(memory)? {
                Target::Existing(tree) if tree.is_deleted() => {
                    return Err(Error::TreeDeleted(tree_id.clone()))
                }
                Target::Existing(tree) => (Some(tree), Vec::new()),
                Target::Create(records) => (None, records),
            };
            let seq = ctx.take_seq();
            let memory = ctx.memory();
            let order_used = |order_id: &str| match &tree {
                Some(t) => t.order_id_used(order_id),
                None => order_id == self.root.order_id.as_str(),
            };
            let stored = |id: &str| match &tree {
                Some(_) => memory.changes.contains(id),
                None => memory.changes.contains(id) || id == self.root.id.as_str(),
            };
            let mut outcome = AddOutcome {
                add_seq: seq,
                ..AddOutcome::default()
            };
            let mut ids = HashSet::with_capacity(prepared.len());
            let mut orders = HashSet::with_capacity(prepared.len());
            let mut kept = Vec::with_capacity(prepared.len());
            for mut change in prepared {
                if stored(&change.id) || ids.contains(change.id.as_str()) {
                    if skip_duplicates {
                        outcome.skipped.push(change.id);
                        continue;
                    }
                    return Err(Error::DuplicateChange(change.id));
                }
                if order_used(&change.order_id) || !orders.insert(change.order_id.clone()) {
                    return Err(Error::OrderIdInUse {
                        tree_id: tree_id.clone(),
                        order_id: change.order_id,
                    });
                }
                ids.insert(change.id.clone());
                outcome.inserted.push(change.id.clone());
                change.add_seq = seq;
                kept.push(Arc::new(change));
            }
            records.push(Record::Batch(Batch {
                tree_id: tree_id.clone(),
                seq,
                changes: kept,
                heads,
                common_snapshot,
            }));
            Ok((outcome, records))
        };
        self.commit
            .write_then(validate, |memory| self.settle(memory))
    }

    /// Adds a batch of changes atomically and returns its AddSeq. Every change gets the batch's
    /// AddSeq and this tree's id; the head entry gets `heads` (unchanged when empty),
    /// `common_snapshot` and `last_add_seq`.
    ///
    /// A change id already stored anywhere in the space (or twice in the batch) fails with
    /// [`Error::DuplicateChange`], an order id already used in the tree with
    /// [`Error::OrderIdInUse`]; then nothing of the batch is kept and the seq it took stays a gap.
    /// The first write to a deferred storage creates the tree in the same commit.
    pub fn add_all<I, S>(
        &self,
        changes: Vec<StorageChange>,
        heads: I,
        common_snapshot: impl Into<Id>,
    ) -> Result<u64>
    where
        I: IntoIterator<Item = S>,
        S: Into<Id>,
    {
        let heads = heads.into_iter().map(Into::into).collect();
        self.add(changes, heads, common_snapshot.into(), false)
            .map(|o| o.add_seq)
    }

    /// Like [`TreeStorage::add_all`], but changes whose id is already stored are skipped (and
    /// reported) instead of failing the batch. The counter moves and `last_add_seq` is written
    /// on every call, even when nothing was inserted. An order id clash is still an error.
    pub fn add_all_no_error<I, S>(
        &self,
        changes: Vec<StorageChange>,
        heads: I,
        common_snapshot: impl Into<Id>,
    ) -> Result<AddOutcome>
    where
        I: IntoIterator<Item = S>,
        S: Into<Id>,
    {
        let heads = heads.into_iter().map(Into::into).collect();
        self.add(changes, heads, common_snapshot.into(), true)
    }

    /// Removes every change of the tree, the root included, in one commit. The head entry and
    /// the counter are left alone; afterwards [`crate::Space::tree_storage`] gives
    /// [`Error::UnknownTree`] and writes through this handle give [`Error::TreeDeleted`].
    /// Deleting a deferred storage creates the tree and deletes its changes.
    pub fn delete(&self) -> Result<()> {
        let tree_id = self.root.id.clone();
        self.commit.write_then(
            |ctx| {
                let records = match self.target(ctx.memory())? {
                    Target::Existing(tree) if tree.is_deleted() => Vec::new(),
                    Target::Existing(_) => vec![Record::DeleteTree(tree_id.clone())],
                    Target::Create(mut records) => {
                        records.push(Record::DeleteTree(tree_id.clone()));
                        records
                    }
                };
                Ok(((), records))
            },
            |memory| self.settle(memory),
        )
    }
}

impl std::fmt::Debug for TreeStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeStorage")
            .field("id", &self.root.id)
            .field("deferred", &self.is_deferred())
            .finish()
    }
}
