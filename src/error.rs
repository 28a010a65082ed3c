//! [`Error`]: every way an operation of spacestore can fail.

use std::path::{Path, PathBuf};

use crate::Id;

/// The result of a spacestore operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an operation failed. Bad input never panics; it comes back as one of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `create_tree_storage` (or a deferred storage's first write) for a root that is already
    /// stored (Go's `ErrTreeExists`).
    #[error("tree already exists: {0}")]
    TreeExists(Id),
    /// No tree with this id: its head entry or its root is missing (Go's `ErrUnknownTreeId`).
    #[error("tree does not exist: {0}")]
    UnknownTree(Id),
    /// A change id of an `add_all` batch is already stored in the space, or appears twice in the
    /// batch; nothing of the batch was kept.
    #[error("change already exists: {0}")]
    DuplicateChange(Id),
    /// An order id of a batch is already used by another change of the tree, or twice in the
    /// batch; nothing of the batch was kept.
    #[error("order id {order_id:?} is already used in tree {tree_id}")]
    OrderIdInUse {
        /// The tree.
        tree_id: Id,
        /// The clashing order id.
        order_id: Id,
    },
    /// The root names a parent tree that has no head entry (Go's `ErrParentNotFound`).
    #[error("parent tree not found: {0}")]
    ParentNotFound(Id),
    /// The root names a parent tree that is itself derived (Go's `ErrDerivedParent`).
    #[error("parent tree is derived: {0}")]
    DerivedParent(Id),
    /// A batch whose seq is not above its tree's last batch's: only a storage with a counter of
    /// its own ([`crate::TreeStorage::with_counter`]) can hand out one, after the tree took
    /// higher seqs. Nothing of the batch was kept (its seq is spent, as for any failed batch).
    #[error("batch AddSeq {seq} of tree {tree_id} is not above the tree's last batch's, {last}")]
    SeqNotAboveTree {
        /// The tree.
        tree_id: Id,
        /// The batch's seq.
        seq: u64,
        /// The tree's last batch's seq.
        last: u64,
    },
    /// A tree whose id is the space's ACL list's id: the list's head lives in the head storage
    /// under that id, so a tree there would take the list's head entry. Refused at
    /// `create_tree_storage`, a deferred storage's creation and its first write, and a
    /// `create_space` whose ACL id is a stored tree's; nothing was written.
    #[error("{0} is the id of the space's ACL list: a tree cannot take it")]
    AclListId(Id),
    /// No change with this id in the space.
    #[error("change not found: {0}")]
    ChangeNotFound(Id),
    /// No head entry with this id.
    #[error("head entry not found: {0}")]
    EntryNotFound(Id),
    /// The tree behind this storage was deleted; writes to it are refused.
    #[error("tree storage already deleted: {0}")]
    TreeDeleted(Id),
    /// A head or state observer tried to write to the space it observes, which would deadlock:
    /// observers run inside the commit, so they may read their space but not write it. (Writes
    /// to other spaces go through.)
    #[error("an observer cannot write to the space it observes")]
    WriteFromObserver,
    /// An internal invariant broke (a bug in spacestore); the write was not acknowledged.
    #[error("internal error: {0}")]
    Internal(String),
    /// An I/O error of the write-ahead log; the operation's write was not applied.
    #[error("write-ahead log I/O failed while {context}: {source}")]
    Io {
        /// What the log was doing.
        context: &'static str,
        /// The error from the operating system.
        #[source]
        source: std::io::Error,
    },
    /// An earlier failure of the log (a failed fsync, after which the page cache can no longer
    /// be trusted; an append that could not be taken back) makes the space refuse writes until
    /// it is reopened. Reads go on.
    #[error("the space refuses writes (reopen it to write again): {0}")]
    WritesRefused(crate::wal::Refusal),
    /// A write whose frame would be larger than [`crate::Options::max_batch_bytes`], or that
    /// would make a head entry whose whole record (what a checkpoint writes for it, in one frame)
    /// is: refused before it takes a seq (a batch) and before anything is logged; nothing of it
    /// is kept. `bytes` is the frame that passes the limit (the write's, or the entry's).
    #[error("the write takes {bytes} bytes in the log, more than the limit of {max} bytes (Options::max_batch_bytes)")]
    BatchTooLarge {
        /// Bytes the write's frame would take.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// A record of the space's live state too large for one frame of the log (a frame's length
    /// is a u32: at most [`crate::Options::MAX_BATCH_BYTES_LIMIT`] bytes): a checkpoint of a head
    /// entry whose fields an older build let grow, write by write, past it (this build refuses
    /// such a write with [`Error::BatchTooLarge`]). The checkpoint is abandoned, its temporary
    /// file removed, and the log stays as it was; writes go on. Shrinking the entry (one
    /// `update_entry` with smaller fields) lets the next checkpoint through.
    #[error("a record of the space's state takes {bytes} bytes, more than one log frame holds ({max}): the checkpoint was abandoned")]
    FrameTooLarge {
        /// Bytes of the record's payload.
        bytes: u64,
        /// The most a frame's payload can take.
        max: u64,
    },
    /// The AddSeq counter reached `u64::MAX`: no new batch can get a seq (the counter never
    /// wraps). Only a damaged or hostile log can claim such a seq.
    #[error("the AddSeq counter is exhausted (u64::MAX was handed out)")]
    AddSeqExhausted,
    /// [`crate::Cursor::ack`] with a seq below the cursor's position: a cursor never goes back
    /// by an ack ([`crate::Cursor::reset`] is the explicit way back).
    #[error(
        "cursor {name:?} is at {position}; an ack of {requested} would move it back (use reset)"
    )]
    CursorBackwards {
        /// The cursor.
        name: Id,
        /// Its position.
        position: u64,
        /// The seq the ack gave.
        requested: u64,
    },
    /// [`crate::Cursor::ack`] or [`crate::Cursor::reset`] with a seq above the space's counter:
    /// no batch has that seq yet, so a cursor there would skip batches not yet written.
    #[error("cursor {name:?} cannot move to {requested}: the space's counter is at {add_seq}")]
    CursorAhead {
        /// The cursor.
        name: Id,
        /// The seq given.
        requested: u64,
        /// The counter (the last AddSeq handed out).
        add_seq: u64,
    },
    /// The named cursor does not exist (it was deleted with [`crate::Space::delete_cursor`]).
    #[error("cursor not found: {0:?}")]
    UnknownCursor(Id),
    /// A space's creation for a space that already has its state (Go's
    /// `ErrSpaceStorageExists`); nothing of the payload was written.
    #[error("space storage exists: {0}")]
    SpaceExists(Id),
    /// The store holds no space of this id (Go's `ErrSpaceStorageMissing`):
    /// [`crate::Store::space`], [`crate::Store::delete_space`].
    #[error("space storage missing: {0}")]
    SpaceMissing(Id),
    /// [`crate::Space::open`] of a path that holds no space (no directory, or a directory
    /// without a log); nothing was created there (a misspelled path is not a new space).
    #[error("{} holds no space", .0.display())]
    NoSpaceAt(PathBuf),
    /// The space is bare (made by [`crate::Space::create`], [`crate::Space::open`] or
    /// [`crate::Space::in_memory`] and never made whole with a [`crate::SpacePayload`]): it has
    /// no state and no ACL list ([`crate::Space::state_storage`], [`crate::Space::acl_storage`]).
    #[error("a bare space has no state")]
    BareSpace,
    /// A create payload whose parts disagree (Go's `ErrIncorrectSpaceHeader`): spacestore
    /// checks what can be checked without decoding or verifying them (DESIGN.md, "Whole
    /// spaces"); nothing was written.
    #[error("incorrect space header: {0}")]
    IncorrectSpaceHeader(&'static str),
    /// An ACL record whose id is already in the list, or appears twice in one `add_all`;
    /// nothing of the call was kept.
    #[error("ACL record already exists: {0}")]
    AclRecordExists(Id),
    /// An ACL record whose order another record of the list has (the order is unique), or that
    /// appears twice in one `add_all`; nothing of the call was kept.
    #[error("ACL record order {order} is already used (record {id})")]
    AclOrderInUse {
        /// The record given.
        id: Id,
        /// Its order.
        order: u64,
    },
    /// No ACL record with this id.
    #[error("ACL record not found: {0}")]
    AclRecordNotFound(Id),
    /// The space is closed (its last handle was dropped): a [`crate::Subscription`] ends.
    #[error("the space is closed")]
    Closed,
    /// The space was opened read-only ([`crate::Space::open_read_only`]).
    #[error("the space is open read-only")]
    ReadOnly,
    /// The error a read callback returned (the Go-shaped callbacks of [`crate::go`]:
    /// [`crate::go::GoTreeStorage::get_after_order`] and the others), as it returned it: match
    /// it and `downcast` the box to get yours back. A callback's `?` on a `std::io::Error` or a boxed
    /// error lands here, and so does [`Error::callback`] of any other error; an I/O error of the
    /// store's own log is [`Error::Io`], never this.
    #[error("a read callback failed: {0}")]
    Callback(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// Another `Space` (in this process or another) holds the directory.
    #[error("the space directory {0} is locked by another open space")]
    Locked(PathBuf),
    /// [`crate::Store::delete_space`] of a space this store has open, while a handle to it (a
    /// subscription's and a cursor's too) or an observer's guard is held: drop them first.
    #[error("space {0} is in use: a handle to it is held")]
    SpaceInUse(Id),
    /// The log holds a bad frame followed by valid ones: this is corruption, not a torn tail.
    #[error("corrupt log: segment {segment}, byte offset {offset}: {reason}")]
    Corrupt {
        /// The segment file.
        segment: PathBuf,
        /// Byte offset of the bad frame in the segment.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
}

impl Error {
    /// What a bare space answers when asked for what only a whole space has (a state, an ACL
    /// list).
    pub(crate) fn bare_space() -> Error {
        Error::BareSpace
    }
}

/// What kind of failure an [`Error`] is, without its details: `Copy` and comparable, for tests
/// and for matching (`assert_eq!(e.kind(), ErrorKind::TreeExists)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::TreeExists`].
    TreeExists,
    /// [`Error::UnknownTree`].
    UnknownTree,
    /// [`Error::DuplicateChange`].
    DuplicateChange,
    /// [`Error::OrderIdInUse`].
    OrderIdInUse,
    /// [`Error::ParentNotFound`].
    ParentNotFound,
    /// [`Error::DerivedParent`].
    DerivedParent,
    /// [`Error::SeqNotAboveTree`].
    SeqNotAboveTree,
    /// [`Error::AclListId`].
    AclListId,
    /// [`Error::ChangeNotFound`].
    ChangeNotFound,
    /// [`Error::EntryNotFound`].
    EntryNotFound,
    /// [`Error::TreeDeleted`].
    TreeDeleted,
    /// [`Error::WriteFromObserver`].
    WriteFromObserver,
    /// [`Error::Internal`].
    Internal,
    /// [`Error::Io`].
    Io,
    /// [`Error::WritesRefused`].
    WritesRefused,
    /// [`Error::BatchTooLarge`].
    BatchTooLarge,
    /// [`Error::FrameTooLarge`].
    FrameTooLarge,
    /// [`Error::AddSeqExhausted`].
    AddSeqExhausted,
    /// [`Error::CursorBackwards`].
    CursorBackwards,
    /// [`Error::CursorAhead`].
    CursorAhead,
    /// [`Error::UnknownCursor`].
    UnknownCursor,
    /// [`Error::SpaceExists`].
    SpaceExists,
    /// [`Error::SpaceMissing`].
    SpaceMissing,
    /// [`Error::NoSpaceAt`].
    NoSpaceAt,
    /// [`Error::BareSpace`].
    BareSpace,
    /// [`Error::IncorrectSpaceHeader`].
    IncorrectSpaceHeader,
    /// [`Error::AclRecordExists`].
    AclRecordExists,
    /// [`Error::AclOrderInUse`].
    AclOrderInUse,
    /// [`Error::AclRecordNotFound`].
    AclRecordNotFound,
    /// [`Error::Closed`].
    Closed,
    /// [`Error::ReadOnly`].
    ReadOnly,
    /// [`Error::Callback`].
    Callback,
    /// [`Error::Locked`].
    Locked,
    /// [`Error::SpaceInUse`].
    SpaceInUse,
    /// [`Error::Corrupt`].
    Corrupt,
}

impl Error {
    /// The kind of this error.
    ///
    /// ```
    /// use spacestore::{ErrorKind, Space, TreeRoot};
    /// let space = Space::in_memory();
    /// space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
    /// let again = space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()));
    /// assert_eq!(again.unwrap_err().kind(), ErrorKind::TreeExists);
    /// # Ok::<(), spacestore::Error>(())
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::TreeExists(..) => ErrorKind::TreeExists,
            Error::UnknownTree(..) => ErrorKind::UnknownTree,
            Error::DuplicateChange(..) => ErrorKind::DuplicateChange,
            Error::OrderIdInUse { .. } => ErrorKind::OrderIdInUse,
            Error::ParentNotFound(..) => ErrorKind::ParentNotFound,
            Error::DerivedParent(..) => ErrorKind::DerivedParent,
            Error::SeqNotAboveTree { .. } => ErrorKind::SeqNotAboveTree,
            Error::AclListId(..) => ErrorKind::AclListId,
            Error::ChangeNotFound(..) => ErrorKind::ChangeNotFound,
            Error::EntryNotFound(..) => ErrorKind::EntryNotFound,
            Error::TreeDeleted(..) => ErrorKind::TreeDeleted,
            Error::WriteFromObserver => ErrorKind::WriteFromObserver,
            Error::Internal(..) => ErrorKind::Internal,
            Error::Io { .. } => ErrorKind::Io,
            Error::WritesRefused(..) => ErrorKind::WritesRefused,
            Error::BatchTooLarge { .. } => ErrorKind::BatchTooLarge,
            Error::FrameTooLarge { .. } => ErrorKind::FrameTooLarge,
            Error::AddSeqExhausted => ErrorKind::AddSeqExhausted,
            Error::CursorBackwards { .. } => ErrorKind::CursorBackwards,
            Error::CursorAhead { .. } => ErrorKind::CursorAhead,
            Error::UnknownCursor(..) => ErrorKind::UnknownCursor,
            Error::SpaceExists(..) => ErrorKind::SpaceExists,
            Error::SpaceMissing(..) => ErrorKind::SpaceMissing,
            Error::NoSpaceAt(..) => ErrorKind::NoSpaceAt,
            Error::BareSpace => ErrorKind::BareSpace,
            Error::IncorrectSpaceHeader(..) => ErrorKind::IncorrectSpaceHeader,
            Error::AclRecordExists(..) => ErrorKind::AclRecordExists,
            Error::AclOrderInUse { .. } => ErrorKind::AclOrderInUse,
            Error::AclRecordNotFound(..) => ErrorKind::AclRecordNotFound,
            Error::Closed => ErrorKind::Closed,
            Error::ReadOnly => ErrorKind::ReadOnly,
            Error::Callback(..) => ErrorKind::Callback,
            Error::Locked(..) => ErrorKind::Locked,
            Error::SpaceInUse(..) => ErrorKind::SpaceInUse,
            Error::Corrupt { .. } => ErrorKind::Corrupt,
        }
    }
}

/// The [`Error::Io`] of a failed `context`, for `map_err`.
pub(crate) fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

/// A failed lock of `dir`, for `map_err`: [`Error::Locked`] when someone else holds it, else
/// the [`Error::Io`] of `context`.
pub(crate) fn lock_failed(
    dir: &Path,
    context: &'static str,
) -> impl FnOnce(std::io::Error) -> Error {
    let dir = dir.to_path_buf();
    move |source| match source.kind() {
        std::io::ErrorKind::WouldBlock => Error::Locked(dir),
        _ => Error::Io { context, source },
    }
}

/// The error type of a callback: boxed, as [`Error::Callback`] keeps it.
type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl Error {
    /// Wraps an error of a read callback as [`Error::Callback`], for an error type that `?`
    /// does not convert on its own (an `anyhow::Error`, a `Utf8Error`, one of yours):
    /// `.map_err(Error::callback)?`.
    ///
    /// ```
    /// use std::ops::ControlFlow;
    /// use spacestore::go::*;
    /// use spacestore::{Error, ErrorKind, Space, StorageChange, TreeRoot};
    /// let space = Space::in_memory();
    /// let tree = space.create_tree_storage(TreeRoot::new("t", vec![0xff]))?;
    /// let failed = tree.get_after_order("", |change| {
    ///     let text = std::str::from_utf8(&change.raw_change).map_err(Error::callback)?;
    ///     assert!(!text.is_empty());
    ///     Ok(ControlFlow::Continue(()))
    /// });
    /// let Err(Error::Callback(inner)) = failed else { panic!("the root is not UTF-8") };
    /// assert!(inner.downcast_ref::<std::str::Utf8Error>().is_some());
    /// # Ok::<(), spacestore::Error>(())
    /// ```
    pub fn callback(error: impl Into<BoxError>) -> Error {
        Error::Callback(error.into())
    }
}

/// A callback's `?` on an I/O error of its own: [`Error::Callback`] (not [`Error::Io`], which
/// is the store's log failing).
impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Error {
        Error::Callback(Box::new(error))
    }
}

/// A callback's `?` on a boxed error: [`Error::Callback`].
impl From<BoxError> for Error {
    fn from(error: BoxError) -> Error {
        Error::Callback(error)
    }
}

/// `?` on a spacestore result in a function that returns `std::io::Result`: an
/// [`Error::Callback`] that holds an I/O error gives that error back as it was; an
/// [`Error::Io`] keeps its source's kind; every other error is `ErrorKind::Other` with the
/// spacestore error inside.
impl From<Error> for std::io::Error {
    fn from(error: Error) -> std::io::Error {
        let error = match error {
            Error::Callback(inner) => match inner.downcast::<std::io::Error>() {
                Ok(io) => return *io,
                Err(inner) => Error::Callback(inner),
            },
            other => other,
        };
        let kind = match &error {
            Error::Io { source, .. } => source.kind(),
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, error)
    }
}
