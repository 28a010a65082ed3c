//! [`StorageChange`], one stored change, and [`TreeRoot`], the change that creates a tree.

use bytes::Bytes;

use crate::Id;

/// The order id given to a tree's root when the caller does not set one: the empty string sorts
/// before every other order id, so the root comes first in
/// [`crate::TreeStorage::changes_after_order`].
pub const ROOT_ORDER_ID: &str = "";

/// One stored change of a tree (Go's `StorageChange`).
///
/// To add changes, fill the fields a caller knows (`id`, `raw_change`, `prev_ids`, `snapshot_id`,
/// `snapshot_counter`, `order_id`, `change_size`); the storage sets `tree_id`, `add_seq` and
/// `added` on insert, whatever the caller put there.
///
/// ```
/// use spacestore::StorageChange;
/// let c = StorageChange::new("c1", "0001", b"signed bytes".to_vec())
///     .with_prev_ids(["root"])
///     .with_snapshot("root", 1);
/// assert_eq!(c.change_size, 12);
/// ```
///
/// Two changes are equal when every field but `added` is: `added` is when a copy was stored,
/// not what the change is (the same change stored in two spaces a second apart is the same
/// change). Compare `added` by itself where it matters.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct StorageChange {
    /// The change id (a CID string), unique across the space.
    pub id: Id,
    /// The signed change bytes, opaque to storage.
    pub raw_change: Bytes,
    /// Ids of the parent changes in the tree's DAG.
    pub prev_ids: Vec<Id>,
    /// Id of the snapshot this change builds on (empty for the root).
    pub snapshot_id: Id,
    /// Snapshot depth; the root has 1.
    pub snapshot_counter: u32,
    /// Lexicographically sortable position of the change inside its tree; unique per tree.
    pub order_id: Id,
    /// Size of the change in bytes.
    pub change_size: u64,
    /// The tree the change belongs to (set by storage).
    pub tree_id: Id,
    /// The AddSeq of the batch that stored the change; 0 for the root (set by storage).
    pub add_seq: u64,
    /// When the change was stored, in Unix seconds (Go's `added`; set by storage, one value for
    /// a whole batch). 0 for a change stored by a spacestore that did not keep it yet.
    pub added: u64,
}

impl PartialEq for StorageChange {
    /// Every field but `added` (see the type's docs).
    fn eq(&self, other: &Self) -> bool {
        // Destructured, so that a new field cannot be left out of the comparison unnoticed.
        let StorageChange {
            id,
            raw_change,
            prev_ids,
            snapshot_id,
            snapshot_counter,
            order_id,
            change_size,
            tree_id,
            add_seq,
            added: _,
        } = self;
        *id == other.id
            && *raw_change == other.raw_change
            && *prev_ids == other.prev_ids
            && *snapshot_id == other.snapshot_id
            && *snapshot_counter == other.snapshot_counter
            && *order_id == other.order_id
            && *change_size == other.change_size
            && *tree_id == other.tree_id
            && *add_seq == other.add_seq
    }
}

impl Eq for StorageChange {}

impl StorageChange {
    /// A change with its id, order id and raw bytes; `change_size` is the length of the bytes,
    /// everything else empty.
    pub fn new(id: impl Into<Id>, order_id: impl Into<Id>, raw_change: impl Into<Bytes>) -> Self {
        let raw_change = raw_change.into();
        StorageChange {
            id: id.into(),
            change_size: raw_change.len() as u64,
            raw_change,
            order_id: order_id.into(),
            ..StorageChange::default()
        }
    }

    /// Sets the parent ids.
    pub fn with_prev_ids<I, S>(mut self, prev_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Id>,
    {
        self.prev_ids = prev_ids.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the snapshot id and the snapshot counter.
    pub fn with_snapshot(mut self, snapshot_id: impl Into<Id>, snapshot_counter: u32) -> Self {
        self.snapshot_id = snapshot_id.into();
        self.snapshot_counter = snapshot_counter;
        self
    }
}

/// The root change of a new tree, with what the head entry needs to know about it.
///
/// The tree's id is the root's id.
///
/// ```
/// use spacestore::TreeRoot;
/// let root = TreeRoot::new("tree-1", b"root bytes".to_vec()).with_parent("space-settings", false);
/// assert_eq!(root.parent_id.as_deref(), Some("space-settings"));
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TreeRoot {
    /// The root change id, which is also the tree id.
    pub id: Id,
    /// The signed root change bytes.
    pub raw_change: Bytes,
    /// The root's order id (the first order id of the tree); [`ROOT_ORDER_ID`] by default.
    pub order_id: Id,
    /// The parent tree, when the root names one.
    pub parent_id: Option<Id>,
    /// Whether the tree is derived (a derived tree cannot be a parent).
    pub is_derived: bool,
}

impl TreeRoot {
    /// A root with its id and raw bytes, no parent, not derived, order id [`ROOT_ORDER_ID`].
    pub fn new(id: impl Into<Id>, raw_change: impl Into<Bytes>) -> Self {
        TreeRoot {
            id: id.into(),
            raw_change: raw_change.into(),
            order_id: Id::from_static(ROOT_ORDER_ID),
            parent_id: None,
            is_derived: false,
        }
    }

    /// Sets the parent tree and whether this tree is derived.
    pub fn with_parent(mut self, parent_id: impl Into<Id>, is_derived: bool) -> Self {
        self.parent_id = Some(parent_id.into());
        self.is_derived = is_derived;
        self
    }

    /// Marks the tree derived (with or without a parent).
    pub fn derived(mut self) -> Self {
        self.is_derived = true;
        self
    }

    /// Sets the root's order id.
    pub fn with_order_id(mut self, order_id: impl Into<Id>) -> Self {
        self.order_id = order_id.into();
        self
    }

    /// The stored form of the root: snapshot counter 1, no snapshot id, size = bytes, AddSeq 0.
    pub(crate) fn to_change(&self) -> StorageChange {
        StorageChange {
            id: self.id.clone(),
            raw_change: self.raw_change.clone(),
            prev_ids: Vec::new(),
            snapshot_id: Id::default(),
            snapshot_counter: 1,
            order_id: self.order_id.clone(),
            change_size: self.raw_change.len() as u64,
            tree_id: self.id.clone(),
            add_seq: 0,
            added: 0,
        }
    }
}

/// One `add_all` batch as a consumer reads it ([`crate::Space::batches_after`]): its AddSeq, its
/// tree, and its changes in the order given to `add_all`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Batch {
    /// The batch's AddSeq, shared by all its changes.
    pub add_seq: u64,
    /// The tree the batch was added to.
    pub tree_id: Id,
    /// The changes, in the order given to `add_all` (those skipped as duplicates left out).
    pub changes: Vec<StorageChange>,
}
