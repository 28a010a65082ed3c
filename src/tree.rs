//! [`TreeStorage`]: one tree of a space (Go's `objecttree.Storage`), including the deferred
//! state in which a tree exists only in memory until its first write.

use std::sync::Arc;

use crate::memory::TreeState;
use crate::record::{BatchChanges, BatchFields, IdList, NewTree, Record};
use crate::space_core::{unstored_root, Ctx, SpaceCore};
use crate::sync::{AtomicBool, Ordering};
use crate::{AddSeqCounter, ChangeViews, Error, Heads, Id, Result, StorageChange, TreeRoot};

/// What [`TreeStorage::add_all_no_error`] did.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
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
/// let newer: Vec<_> = tree.changes_after_add_seq(0).collect();
/// assert_eq!(newer[0].id(), "c1");
/// assert_eq!(newer[0].add_seq(), 1);
/// # Ok::<(), spacestore::Error>(())
/// ```
///
/// A `TreeStorage` is a cheap handle: clones share the tree and its deferred state (the first
/// write of any clone creates the tree for all of them), so one can be moved into a thread:
///
/// ```
/// use spacestore::{Space, StorageChange, TreeRoot};
/// let space = Space::in_memory();
/// let tree = space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
/// let writer = tree.clone();
/// std::thread::spawn(move || {
///     writer.add_all(vec![StorageChange::new("c1", "1", b"x".to_vec())], ["c1"], "t")
/// })
/// .join()
/// .unwrap()?;
/// assert!(tree.has("c1"));
/// # Ok::<(), spacestore::Error>(())
/// ```
#[derive(Clone)]
pub struct TreeStorage {
    core: Arc<SpaceCore>,
    root: TreeRoot,
    root_change: StorageChange,
    /// True until the first write of a deferred storage succeeds (shared by clones).
    deferred: Arc<AtomicBool>,
    /// The counter this handle's batches take their seqs from, when not the space's
    /// ([`TreeStorage::with_counter`]).
    counter: Option<AddSeqCounter>,
}

impl TreeStorage {
    pub(crate) fn new(core: Arc<SpaceCore>, root: TreeRoot, deferred: bool) -> Self {
        let root_change = match core.tree(&root.id) {
            Some(tree) if !deferred => tree.root().to_change(),
            // A deferred root is stored as it is now, with the time of the handle's creation.
            _ => NewTree::of(&root, core.now()).root,
        };
        TreeStorage {
            core,
            root,
            root_change,
            deferred: Arc::new(AtomicBool::new(deferred)),
            counter: None,
        }
    }

    /// This storage, its batches taking their seqs from `counter` instead of the space's
    /// (Go's tree migrator writes migrated trees with a fresh zero counter of their own; give it
    /// [`AddSeqCounter::detached`]).
    ///
    /// Such batches are stored, logged, replayed and checkpointed like any other and read back
    /// with their seqs through the tree ([`TreeStorage::changes_after_add_seq`], `get`), and their
    /// tree's head entry takes the seq as its last AddSeq, as in Go; but they are **not in the
    /// space's feed** ([`crate::Space::changes_after_add_seq`], `batches_after`, `subscribe`
    /// never show them): their seqs are not the space's, and a cursor never has to account for
    /// them. The space's counter is moved up to such a seq when it is higher, so the space's
    /// own batches stay above every seq a head entry names. A tree's batches stay in AddSeq
    /// order: a seq not above the tree's last batch's is refused
    /// ([`Error::SeqNotAboveTree`]).
    ///
    /// ```
    /// use spacestore::{AddSeqCounter, Space, StorageChange, TreeRoot};
    /// let space = Space::in_memory();
    /// let migrated = space
    ///     .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?
    ///     .with_counter(AddSeqCounter::detached());
    /// let seq = migrated.add_all(vec![StorageChange::new("c1", "1", b"x".to_vec())], ["c1"], "t")?;
    /// assert_eq!(seq, 1);
    /// assert_eq!(migrated.get("c1")?.add_seq, 1);
    /// assert_eq!(space.changes_after_add_seq(0).count(), 0, "not in the feed");
    /// # Ok::<(), spacestore::Error>(())
    /// ```
    pub fn with_counter(mut self, counter: AddSeqCounter) -> Self {
        self.counter = Some(counter);
        self
    }

    /// The tree id (the root change's id).
    pub fn id(&self) -> &Id {
        &self.root.id
    }

    /// The root change, as stored.
    pub fn root(&self) -> StorageChange {
        self.root_change.clone()
    }

    /// The root the tree was created from, its parent and derived flag included: what
    /// [`crate::Space::create_tree_storage`] takes to make the same tree in another space
    /// (`root()` is the stored change, which has neither).
    ///
    /// ```
    /// use spacestore::{Space, TreeRoot};
    /// let (a, b) = (Space::in_memory(), Space::in_memory());
    /// a.create_tree_storage(TreeRoot::new("p", b"parent".to_vec()))?;
    /// b.create_tree_storage(TreeRoot::new("p", b"parent".to_vec()))?;
    /// let child = a.create_tree_storage(
    ///     TreeRoot::new("c", b"child".to_vec()).with_parent("p", true),
    /// )?;
    /// let copy = b.create_tree_storage(child.tree_root())?;
    /// assert_eq!(copy.tree_root(), child.tree_root());
    /// # Ok::<(), spacestore::Error>(())
    /// ```
    pub fn tree_root(&self) -> TreeRoot {
        self.root.clone()
    }

    /// Whether the storage is still deferred: its tree exists only in memory until the first
    /// write.
    pub fn is_deferred(&self) -> bool {
        self.deferred.load(Ordering::Acquire)
    }

    /// The tree's current heads (`[root id]` while deferred).
    pub fn heads(&self) -> Result<Vec<Id>> {
        if self.is_deferred() {
            return Ok(vec![self.root.id.clone()]);
        }
        Ok(self.entry()?.heads)
    }

    /// The tree's common snapshot (the root id while deferred).
    pub fn common_snapshot(&self) -> Result<Id> {
        if self.is_deferred() {
            return Ok(self.root.id.clone());
        }
        Ok(self.entry()?.common_snapshot)
    }

    fn entry(&self) -> Result<crate::HeadEntry> {
        self.core
            .head_entry(&self.root.id)
            .ok_or_else(|| Error::UnknownTree(self.root.id.clone()))
    }

    /// Whether a change with this id is stored in the space (any tree: ids are unique across the
    /// space). While deferred, only the root is.
    pub fn has(&self, id: &str) -> bool {
        if self.is_deferred() {
            return id == self.root.id.as_str();
        }
        self.core.has_change(id)
    }

    /// The change with this id, from any tree of the space, or [`Error::ChangeNotFound`].
    pub fn get(&self, id: &str) -> Result<StorageChange> {
        let found = if self.is_deferred() {
            (id == self.root.id.as_str()).then(|| self.root_change.clone())
        } else {
            self.core.change(id)
        };
        found.ok_or_else(|| Error::ChangeNotFound(Id::from(id)))
    }

    /// Whether a read from `order_id` on includes the root (a deferred tree holds nothing else).
    fn root_from(&self, order_id: &str) -> bool {
        self.root.order_id.as_str() >= order_id
    }

    /// What `read` takes from the tree in memory (nothing when it is not there).
    fn read_tree<T>(&self, read: impl FnOnce(&TreeState) -> Vec<T>) -> Vec<T> {
        let tree = self.core.tree(&self.root.id);
        tree.map(|t| read(&t)).unwrap_or_default()
    }

    /// The changes of the tree whose order id is `>= order_id`, in order-id order, read in
    /// place ([`ChangeView`](crate::ChangeView): fields borrowed from the stored bytes, no
    /// allocation per change; where they lay when the iterator was made).
    /// [`ChangeView::to_change`](crate::ChangeView::to_change) or `.map(StorageChange::from)`
    /// gives owned changes. Go's `GetAfterOrder`:
    /// [`crate::go::GoTreeStorage::get_after_order`].
    ///
    /// ```
    /// use spacestore::{Space, StorageChange, TreeRoot};
    /// let space = Space::in_memory();
    /// let tree = space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
    /// tree.add_all(vec![StorageChange::new("c1", "1", b"x".to_vec())], ["c1"], "t")?;
    /// let ids: Vec<String> = tree.changes_after_order("1").map(|c| c.id().to_owned()).collect();
    /// assert_eq!(ids, ["c1"]);
    /// let owned: Vec<StorageChange> = tree.changes_after_order("").map(StorageChange::from).collect();
    /// assert_eq!(owned[1], tree.get("c1")?);
    /// # Ok::<(), spacestore::Error>(())
    /// ```
    pub fn changes_after_order(&self, order_id: &str) -> ChangeViews {
        let stored = if self.is_deferred() {
            let root = self.root_from(order_id);
            root.then(|| unstored_root(self.new_tree()))
                .flatten()
                .into_iter()
                .collect()
        } else {
            self.read_tree(|t| t.stored_after_order(order_id))
        };
        ChangeViews::new(stored)
    }

    /// The changes of the tree whose AddSeq is `> add_seq`, **in order-id order** (as Go does),
    /// read in place ([`ChangeView`](crate::ChangeView); where they lay when the iterator was made). The root
    /// (AddSeq 0) never matches. Go's `GetAfterAddSeq`:
    /// [`crate::go::GoTreeStorage::get_after_add_seq`].
    pub fn changes_after_add_seq(&self, add_seq: u64) -> ChangeViews {
        // A deferred tree holds only its root, whose AddSeq (0) never matches.
        let stored = if self.is_deferred() {
            Vec::new()
        } else {
            self.read_tree(|t| t.stored_after_add_seq(add_seq))
        };
        ChangeViews::new(stored)
    }

    /// The tree a deferred storage's first write must create, `None` once it exists; checked
    /// (it can be created, or it exists) under the commit lock before the write takes a seq: a
    /// tree that cannot be created, or is gone, fails the write without a gap (Go creates the
    /// tree before `AddAll` takes its seq).
    fn creation(&self, ctx: &mut Ctx<'_>) -> Result<Option<Box<NewTree>>> {
        let create = self.is_deferred().then(|| Box::new(self.new_tree()));
        ctx.check_target(&self.root.id, create.as_deref())?;
        Ok(create)
    }

    /// The tree a deferred storage's first write creates.
    fn new_tree(&self) -> NewTree {
        NewTree {
            root: self.root_change.clone(),
            parent_id: self.root.parent_id.clone(),
            is_derived: self.root.is_derived,
        }
    }

    fn settle(&self) {
        self.deferred.store(false, Ordering::Release);
    }

    fn add(
        &self,
        changes: Vec<StorageChange>,
        heads: Heads,
        common_snapshot: Id,
        skip_duplicates: bool,
    ) -> Result<AddOutcome> {
        let tree_id = self.root.id.clone();
        let heads = heads.into_option().map(IdList::from_vec);
        let mut add_seq = 0;
        let applied = self.core.write(
            |ctx| {
                let create = self.creation(ctx)?;
                let mut batch = BatchFields {
                    tree_id,
                    seq: 0,
                    added: self.core.now(),
                    in_feed: true,
                    changes: BatchChanges::Given(changes),
                    heads,
                    common_snapshot,
                    skip_duplicates,
                    create,
                };
                match &self.counter {
                    Some(counter) => ctx.take_seq_from(counter, &mut batch)?,
                    None => ctx.take_seq_for(&mut batch)?,
                }
                add_seq = batch.seq;
                Ok(Record::AddBatch(batch))
            },
            || self.settle(),
        )?;
        Ok(AddOutcome {
            add_seq,
            inserted: applied.inserted,
            skipped: applied.skipped,
        })
    }

    /// Adds a batch of changes atomically and returns its AddSeq. Every change gets the batch's
    /// AddSeq and this tree's id; the head entry gets `heads` ([`Heads`]: `["c1"]` sets them,
    /// [`Heads::Unchanged`] leaves them, `[]` sets none), `common_snapshot` and `last_add_seq`.
    ///
    /// A change id already stored anywhere in the space (or twice in the batch) fails with
    /// [`Error::DuplicateChange`], an order id already used in the tree with
    /// [`Error::OrderIdInUse`]; then nothing of the batch is kept and the seq it took stays a gap.
    /// A batch whose frame, or whose tree's head entry after it (written whole by a checkpoint),
    /// would be larger than [`crate::Options::max_batch_bytes`] fails with
    /// [`Error::BatchTooLarge`] before it takes a seq.
    /// The first write to a deferred storage creates the tree in the same commit.
    pub fn add_all(
        &self,
        changes: Vec<StorageChange>,
        heads: impl Into<Heads>,
        common_snapshot: impl Into<Id>,
    ) -> Result<u64> {
        self.add(changes, heads.into(), common_snapshot.into(), false)
            .map(|o| o.add_seq)
    }

    /// Like [`TreeStorage::add_all`], but changes whose id is already stored are skipped (and
    /// reported) instead of failing the batch. The counter moves and `last_add_seq` is written
    /// on every call, even when nothing was inserted. An order id clash is still an error.
    pub fn add_all_no_error(
        &self,
        changes: Vec<StorageChange>,
        heads: impl Into<Heads>,
        common_snapshot: impl Into<Id>,
    ) -> Result<AddOutcome> {
        self.add(changes, heads.into(), common_snapshot.into(), true)
    }

    /// Removes every change of the tree, the root included, in one commit. The head entry and
    /// the counter are left alone; afterwards [`crate::Space::tree_storage`] gives
    /// [`Error::UnknownTree`] and writes through this handle give [`Error::TreeDeleted`].
    /// Deleting a deferred storage creates the tree and deletes its changes. Deleting a deleted
    /// tree does nothing.
    pub fn delete(&self) -> Result<()> {
        let tree_id = self.root.id.clone();
        let result = self.core.write(
            |ctx| {
                let create = self.creation(ctx)?;
                Ok(Record::DeleteTree { tree_id, create })
            },
            || self.settle(),
        );
        match result {
            Ok(_) | Err(Error::TreeDeleted(_)) => Ok(()),
            Err(e) => Err(e),
        }
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
