//! spacestore: the storage layer of an any-sync space.
//!
//! A space holds trees of changes, one head entry per tree and a space-global, monotonically
//! growing **AddSeq** counter: every `add_all` batch takes one new AddSeq shared by all its
//! changes, so a consumer that remembers the last AddSeq it processed asks for exactly the
//! changes added since ([`Space::changes_after_add_seq`],
//! [`TreeStorage::changes_after_add_seq`], [`HeadStorage::entries`] with `min_last_add_seq`).
//!
//! Consumers follow the space's **change feed**: [`Space::batches_after`] reads whole batches
//! above a cursor in bounded steps, [`Space::subscribe`] delivers the backlog and then live
//! batches with no gap and no polling (and, with the `async` feature, as a `Stream`), and a
//! named [`Cursor`] keeps a consumer's position in the space itself, as durable as its batches.
//!
//! Everything lives in memory. The behaviour matches any-sync's Go storage method by method;
//! where it deliberately differs, DESIGN.md says so.
//!
//! ```
//! use spacestore::{Space, StorageChange, TreeRoot};
//! let space = Space::in_memory();
//! let tree = space.create_tree_storage(TreeRoot::new("tree", b"root".to_vec()))?;
//! let seq = tree.add_all(
//!     vec![
//!         StorageChange::new("c1", "0001", b"one".to_vec()),
//!         StorageChange::new("c2", "0002", b"two".to_vec()),
//!     ],
//!     ["c2"],
//!     "tree",
//! )?;
//! assert_eq!(seq, 1);
//! assert_eq!(space.changes_after_add_seq(0).count(), 2);
//! # Ok::<(), spacestore::Error>(())
//! ```
//!
//! # Reading
//!
//! Every range has one read: an iterator, read in place. A tree's changes
//! ([`TreeStorage::changes_after_order`], [`TreeStorage::changes_after_add_seq`]) and the
//! space's feed ([`Space::changes_after_add_seq`]) yield a [`ChangeView`] per change (fields
//! borrowed from the stored bytes, no allocation per change); head entries
//! ([`HeadStorage::entries`], [`HeadStorage::entries_by_parent_id`]) yield the stored entries,
//! shared (`Arc<HeadEntry>`, none copied); the ACL list ([`AclStorage::records_after_order`],
//! [`AclStorage::records_before_order`]) yields its records. With `?` in a plain `for` loop, any
//! error type of yours works; `break` stops the read. For an owned change, a view's
//! [`ChangeView::to_change`], or `.map(StorageChange::from)` over the range.
//!
//! ```
//! use spacestore::{Space, StorageChange, TreeRoot};
//!
//! fn texts(space: &Space) -> Result<Vec<String>, Box<dyn std::error::Error>> {
//!     let mut texts = Vec::new();
//!     for change in space.changes_after_add_seq(0) {
//!         texts.push(std::str::from_utf8(change.raw_change())?.to_owned());
//!     }
//!     Ok(texts)
//! }
//! let space = Space::in_memory();
//! let tree = space.create_tree_storage(TreeRoot::new("tree", b"root".to_vec()))?;
//! tree.add_all(vec![StorageChange::new("c1", "0001", b"one".to_vec())], ["c1"], "tree")?;
//! assert_eq!(texts(&space)?, ["one"]);
//! let owned: Vec<StorageChange> = tree.changes_after_order("").map(StorageChange::from).collect();
//! assert_eq!(owned, [tree.root(), tree.get("c1")?]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Code ported from any-sync's Go storage can keep Go's callbacks (`GetAfterOrder`,
//! `GetAfterAddSeq`, `IterateEntries`, `GetBeforeOrder`): `use spacestore::go::*;` brings
//! them in, as thin wrappers over these iterators ([`go`]).
//!
//! # Model checking your own code with loom
//!
//! Every lock, atomic and condition variable spacestore uses switches to
//! [loom](https://docs.rs/loom)'s under `--cfg loom`, so a loom model of your routine can run
//! spacestore inside it and explore spacestore's interleavings with yours: add `loom = "0.7"`
//! under `[target.'cfg(loom)'.dev-dependencies]`, build the model with `loom::model` and
//! `loom::thread` over in-memory spaces ([`Space::in_memory`]; loom does not model files), and
//! run `RUSTFLAGS="--cfg loom" cargo test --release`. The workspace's `loom-user` crate is a
//! complete example: a relay between two spaces following a cursor, whose model finds a skipped
//! batch planted in it (`loom-user/README.md`).
#![warn(missing_docs)]
// docs.rs (`--cfg docsrs`, nightly): each item a feature adds says which.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod acl;
mod change;
mod clock;
mod counter;
mod cursor;
mod engine;
mod entry;
mod error;
mod feed;
mod fixture;
pub mod go;
mod head_storage;
mod heads;
mod id;
mod index;
#[cfg(feature = "internals")]
mod inspect;
mod iter;
mod layout;
mod memory;
mod notify;
mod options;
mod payload;
mod record;
mod replay;
mod report;
mod space;
mod space_core;
mod state;
mod store;
mod sync;
mod trace;
mod tree;
mod view;
mod wal;

pub use acl::{AclRecord, AclStorage};
pub use change::{Batch, StorageChange, TreeRoot, ROOT_ORDER_ID};
pub use clock::{Clock, FixedClock, ManualClock, SystemClock};
pub use counter::AddSeqCounter;
pub use cursor::Cursor;
pub use entry::{DeletedStatus, HeadEntry};
pub use error::{Error, ErrorKind, Result};
pub use feed::Subscription;
pub use head_storage::{
    EntryFilter, HeadObserver, HeadStorage, HeadUpdate, IterOptions, ObserverGuard,
};
pub use heads::Heads;
pub use id::Id;
pub use iter::{AclRecords, ChangeViews, Collected, FeedViews, HeadEntries};
pub use options::{Durability, Options, Recovery, StoreOptions};
pub use payload::SpacePayload;
pub use report::{RecoveryReport, Repair, TornTail};
pub use space::{LogStats, Space};
pub use state::{State, StateObserver, StateStorage};
pub use store::Store;
pub use tree::{AddOutcome, TreeStorage};
pub use view::ChangeView;
pub use wal::{
    CheckpointStats, EntryKind, FileSystem, FsyncFailed, LogFile, Refusal, StdFileSystem,
};

/// The log's internals, for the workspace's own tools and tests (`spacestore-cli`, the fuzz
/// targets): the frame layout, the directory's file names, and the frame-level inspection and
/// verification behind `spacestore inspect` and `verify`. Behind the `internals` feature; not
/// part of the public API and not under semver.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod internals {
    pub use crate::engine::holds_space;
    pub use crate::inspect::{scan, FrameCounts, OtherFile, Problem, Scan, SegmentInfo};
    pub use crate::store::names::{is_leftover, space_dirs, spaces_dir};
    pub use crate::wal::lock::lock_held;
    pub use crate::wal::{format, frame};
}

/// The README's example, compiled and run as a doctest so that it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
