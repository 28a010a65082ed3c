//! [`HeadEntry`], the head entry of one tree, and [`DeletedStatus`]: the values the head
//! storage holds (data only; the handle that reads and writes them is in `head_storage.rs`).

use crate::Id;

/// Whether a tree is deleted (Go's `DeletedStatus`).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum DeletedStatus {
    /// Not deleted (Go's `DeletedStatusNotDeleted`, 0).
    #[default]
    NotDeleted = 0,
    /// Queued for deletion (1).
    Queued = 1,
    /// Deleted (2).
    Deleted = 2,
}

impl DeletedStatus {
    /// The status for its Go number, `None` for an unknown one.
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(DeletedStatus::NotDeleted),
            1 => Some(DeletedStatus::Queued),
            2 => Some(DeletedStatus::Deleted),
            _ => None,
        }
    }
}

/// The head entry of one tree. Made by the storage; [`HeadEntry::new`] makes one to compare
/// with (its fields are public and may be set).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeadEntry {
    /// The tree id.
    pub id: Id,
    /// The tree's current heads.
    pub heads: Vec<Id>,
    /// The tree's common snapshot.
    pub common_snapshot: Id,
    /// Whether the tree is (queued to be) deleted.
    pub deleted_status: DeletedStatus,
    /// Whether the tree is derived.
    pub is_derived: bool,
    /// The parent tree, if any.
    pub parent_id: Option<Id>,
    /// The AddSeq of the tree's last batch; `None` until its first batch.
    pub last_add_seq: Option<u64>,
}

impl HeadEntry {
    /// An entry for `id` with no heads, an empty common snapshot, not deleted, not derived, no
    /// parent and no last AddSeq.
    ///
    /// ```
    /// use spacestore::HeadEntry;
    /// let mut expected = HeadEntry::new("t");
    /// expected.heads = vec!["t".into()];
    /// assert_eq!(expected.id, "t");
    /// ```
    pub fn new(id: impl Into<Id>) -> Self {
        HeadEntry {
            id: id.into(),
            ..HeadEntry::default()
        }
    }
}
