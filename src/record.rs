//! [`Record`]: one write, as the commit path logs it (one frame) and as memory applies it.
//!
//! A record is a command, not a diff: [`crate::memory::Memory::check`] decides whether it applies
//! (with Go's rules) and [`crate::memory::Memory::execute`] applies it. Replay runs the same two
//! steps in the same order, so memory after replay is memory before the crash, including for a
//! record that was logged and then refused (it is refused again, identically).

use bytes::Bytes;

use crate::{DeletedStatus, HeadEntry, Id, StorageChange};

/// One write of the space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    /// Create a tree from its root (Go's `CreateTreeStorage`).
    CreateTree(Box<NewTree>),
    /// An `add_all` / `add_all_no_error` batch.
    AddBatch(BatchFields),
    /// Upsert a head entry with the given fields.
    UpdateHead(HeadFields),
    /// Remove a head entry.
    DeleteEntry(Id),
    /// Remove every change of a tree, its root included.
    DeleteTree {
        /// The tree.
        tree_id: Id,
        /// When the storage was deferred: the tree to create first, in the same commit.
        create: Option<Box<NewTree>>,
    },
    /// Create, move or reset a named cursor (`Space::cursor`, `Cursor::ack`, `Cursor::reset`).
    SetCursor(CursorFields),
    /// Remove a named cursor.
    DeleteCursor(Id),
    /// Make the space whole (Go's `spacestorage.Create`): its state, its ACL list's root and,
    /// when given, its settings tree, in one commit.
    CreateSpace(Box<NewSpace>),
    /// Set the state's hash (Go's `StateStorage.SetHash`).
    SetHash(Id),
    /// Add records to the ACL list (Go's `list.Storage.AddAll`); the list's head moves to the
    /// last one.
    AddAclRecords(Vec<AclFields>),
}

impl Record {
    /// Whether applying the record stores changes (a root or a batch's), whose bytes memory
    /// keeps from the record's payload.
    pub(crate) fn stores_changes(&self) -> bool {
        match self {
            Record::CreateTree(_) | Record::AddBatch(_) => true,
            Record::DeleteTree { create, .. } => create.is_some(),
            Record::CreateSpace(space) => space.settings.is_some(),
            Record::UpdateHead(_)
            | Record::DeleteEntry(_)
            | Record::SetCursor(_)
            | Record::DeleteCursor(_)
            | Record::SetHash(_)
            | Record::AddAclRecords(_) => false,
        }
    }

    /// Whether memory keeps byte fields of the record itself (an ACL record's bytes, the space
    /// header): the commit path then hands memory the record decoded from its own payload, so
    /// that memory holds the bytes the log holds (DESIGN.md, invariant 7).
    pub(crate) fn keeps_bytes(&self) -> bool {
        matches!(self, Record::CreateSpace(_) | Record::AddAclRecords(_))
    }
}

/// A space's state and the first records of its ACL list and settings tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewSpace {
    /// The space's id (its header's).
    pub(crate) space_id: Id,
    /// The raw space header.
    pub(crate) space_header: Bytes,
    /// The ACL list's root record (its id is the list's id).
    pub(crate) acl_root: AclFields,
    /// The settings tree's root (its id is the state's settings id). `None` in a checkpoint,
    /// which writes the tree with the other trees.
    pub(crate) settings: Option<NewTree>,
    /// The settings tree's id.
    pub(crate) settings_id: Id,
}

/// One record of the ACL list, as stored (Go's `list.StorageRecord`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AclFields {
    /// The record's id.
    pub(crate) id: Id,
    /// The previous record's id (empty for the root).
    pub(crate) prev_id: Id,
    /// Its position in the list (the root's is 1); unique within the list.
    pub(crate) order: u64,
    /// The raw record.
    pub(crate) raw: Bytes,
    /// The size the caller gave.
    pub(crate) change_size: u64,
}

/// A named cursor's new position, and how it may move there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CursorFields {
    /// The cursor's name.
    pub(crate) name: Id,
    /// Its new position (an AddSeq).
    pub(crate) seq: u64,
    /// How the position may change.
    pub(crate) how: CursorMove,
}

/// How a [`Record::SetCursor`] may change a cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CursorMove {
    /// Creates the cursor at `seq` when there is none; a cursor that exists stays as it is.
    Create,
    /// Moves an existing cursor forward (or leaves it): refused when it would go back.
    Ack,
    /// Sets an existing cursor to any position (the explicit way back).
    Reset,
}

/// A tree to create: its root change (tree id = root id, AddSeq 0, `added` the time of the
/// creation) and its head entry's flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewTree {
    /// The stored root change.
    pub(crate) root: StorageChange,
    /// The parent tree, if any.
    pub(crate) parent_id: Option<Id>,
    /// Whether the tree is derived.
    pub(crate) is_derived: bool,
}

impl NewTree {
    /// The tree `root` makes, created at `added` (the space's clock).
    pub(crate) fn of(root: &crate::TreeRoot, added: u64) -> NewTree {
        let mut change = root.to_change();
        change.added = added;
        NewTree {
            root: change,
            parent_id: root.parent_id.clone(),
            is_derived: root.is_derived,
        }
    }
}

/// A list of ids that almost always holds one (a batch's heads): one id is kept in place, so
/// that decoding a batch from the log allocates nothing for its heads; more go to the heap.
pub(crate) type IdList = smallvec::SmallVec<[Id; 1]>;

/// An `add_all` / `add_all_no_error` call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BatchFields {
    /// The tree.
    pub(crate) tree_id: Id,
    /// The batch's AddSeq, shared by all its changes.
    pub(crate) seq: u64,
    /// When the batch was stored (Unix seconds), shared by all its changes.
    pub(crate) added: u64,
    /// Whether the batch is in the space's feed: false for a batch whose seq came from a
    /// counter of its own (`TreeStorage::with_counter`, a migration), which is not in the
    /// AddSeq index and wakes no subscriber.
    pub(crate) in_feed: bool,
    /// The changes: as given, or where a logged record holds them.
    pub(crate) changes: BatchChanges,
    /// New heads, when the call gave any.
    pub(crate) heads: Option<IdList>,
    /// The new common snapshot.
    pub(crate) common_snapshot: Id,
    /// `add_all_no_error`: skip stored ids instead of failing.
    pub(crate) skip_duplicates: bool,
    /// When the storage was deferred: the tree to create first, in the same commit.
    pub(crate) create: Option<Box<NewTree>>,
}

/// A batch's changes: as a caller gave them to the commit path, or as a decoded record holds
/// them (in place in its payload: replay reads each change's id and order id there, and memory
/// keeps the payload, so a change decoded from the log is never copied into fields of its own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BatchChanges {
    /// As given, in order (their own `tree_id` and `add_seq` are not read: the batch's are,
    /// and a stored change is read back with them).
    Given(Vec<StorageChange>),
    /// `count` changes laid out one after the other in `payload` from `first` on (the
    /// record's payload, checked by the codec: every length fits, every id is UTF-8).
    Logged {
        /// The record's payload.
        payload: crate::layout::Payload,
        /// Where the first change begins.
        first: u32,
        /// How many there are.
        count: u32,
    },
}

impl BatchChanges {
    /// How many changes the batch has.
    pub(crate) fn len(&self) -> usize {
        match self {
            BatchChanges::Given(changes) => changes.len(),
            BatchChanges::Logged { count, .. } => *count as usize,
        }
    }

    /// Each change's id and order id, in batch order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = (&str, &str)> {
        let (given, logged) = match self {
            BatchChanges::Given(changes) => (Some(changes.iter()), None),
            BatchChanges::Logged {
                payload,
                first,
                count,
            } => (
                None,
                Some(
                    crate::layout::change_offsets(payload, *first, *count).map(|(at, order)| {
                        (
                            crate::layout::str_field(payload, at),
                            crate::layout::str_field(payload, order),
                        )
                    }),
                ),
            ),
        };
        let given = given
            .into_iter()
            .flatten()
            .map(|c| (c.id.as_str(), c.order_id.as_str()));
        let logged = logged.into_iter().flatten();
        given.chain(logged)
    }
}

/// The fields of a head entry that an update sets (`None`: left as it is). The log's own type:
/// the public builder (`HeadUpdate`) converts into it, so the builder can grow without changing
/// the log's format.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct HeadFields {
    /// The entry to update or create.
    pub(crate) id: Id,
    /// New heads.
    pub(crate) heads: Option<Vec<Id>>,
    /// New common snapshot.
    pub(crate) common_snapshot: Option<Id>,
    /// New deleted status.
    pub(crate) deleted_status: Option<DeletedStatus>,
    /// New derived flag.
    pub(crate) is_derived: Option<bool>,
    /// New parent id.
    pub(crate) parent_id: Option<Id>,
    /// New last AddSeq.
    pub(crate) last_add_seq: Option<u64>,
}

impl HeadFields {
    /// Every field of `entry`: the update that rewrites it whole (what a checkpoint writes).
    pub(crate) fn whole(entry: &HeadEntry) -> HeadFields {
        HeadFields {
            id: entry.id.clone(),
            heads: Some(entry.heads.clone()),
            common_snapshot: Some(entry.common_snapshot.clone()),
            deleted_status: Some(entry.deleted_status),
            is_derived: Some(entry.is_derived),
            parent_id: entry.parent_id.clone(),
            last_add_seq: entry.last_add_seq,
        }
    }
}

/// A head update by reference: what memory applies (without cloning the update), and what the
/// log measures a head entry's record by ([`crate::wal::head_payload_len`]).
#[derive(Clone, Copy)]
pub(crate) struct UpdateRef<'a> {
    pub(crate) id: &'a Id,
    pub(crate) heads: Option<&'a [Id]>,
    pub(crate) common_snapshot: Option<&'a Id>,
    pub(crate) deleted_status: Option<DeletedStatus>,
    pub(crate) is_derived: Option<bool>,
    pub(crate) parent_id: Option<&'a Id>,
    pub(crate) last_add_seq: Option<u64>,
}

impl<'a> From<&'a HeadFields> for UpdateRef<'a> {
    fn from(u: &'a HeadFields) -> Self {
        UpdateRef {
            id: &u.id,
            heads: u.heads.as_deref(),
            common_snapshot: u.common_snapshot.as_ref(),
            deleted_status: u.deleted_status,
            is_derived: u.is_derived,
            parent_id: u.parent_id.as_ref(),
            last_add_seq: u.last_add_seq,
        }
    }
}

impl<'a> UpdateRef<'a> {
    /// Every field of `entry`, as [`HeadFields::whole`] has them.
    pub(crate) fn whole(entry: &'a HeadEntry) -> Self {
        UpdateRef {
            id: &entry.id,
            heads: Some(&entry.heads),
            common_snapshot: Some(&entry.common_snapshot),
            deleted_status: Some(entry.deleted_status),
            is_derived: Some(entry.is_derived),
            parent_id: entry.parent_id.as_ref(),
            last_add_seq: entry.last_add_seq,
        }
    }

    /// `self` applied over `base` (the entry as it was, or an earlier update of the same
    /// record): each field `self` sets, else `base`'s.
    pub(crate) fn over(self, base: UpdateRef<'a>) -> Self {
        UpdateRef {
            id: self.id,
            heads: self.heads.or(base.heads),
            common_snapshot: self.common_snapshot.or(base.common_snapshot),
            deleted_status: self.deleted_status.or(base.deleted_status),
            is_derived: self.is_derived.or(base.is_derived),
            parent_id: self.parent_id.or(base.parent_id),
            last_add_seq: self.last_add_seq.or(base.last_add_seq),
        }
    }
}
