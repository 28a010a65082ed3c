//! [`Options`]: how a space directory is opened: [`Durability`], [`Recovery`], segment and
//! reservation sizes, automatic checkpoints and the file system underneath; [`StoreOptions`]:
//! how a [`crate::Store`] is opened (its spaces' `Options`, and the store's own settings).

use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::wal::{FileSystem, StdFileSystem};

/// When a write is durable, chosen per space.
///
/// | mode | a write returns once | a process crash loses | a power loss loses |
/// | --- | --- | --- | --- |
/// | `Buffered` | its frame is written to the OS | nothing acknowledged | a suffix of the acknowledged writes (never a part of one, never a reused AddSeq) |
/// | `Sync` | its frame is on stable storage (fdatasync, shared by concurrent writers) | nothing acknowledged | nothing acknowledged |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// The frame is handed to the OS before the write returns: survives a process crash.
    #[default]
    Buffered,
    /// The frame is on stable storage before the write returns, and only then visible;
    /// concurrent writers share one fsync (group commit).
    Sync,
}

/// What `open` does when the log holds a bad frame followed by valid ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recovery {
    /// Fail with [`crate::Error::Corrupt`], naming the segment and offset. Nothing is changed.
    #[default]
    Strict,
    /// Keep everything before the bad frame; move the rest to side files next to the segments
    /// (`*.wal.corrupt-at-N`, `*.wal.corrupt`) and say so in the [`crate::RecoveryReport`].
    Repair,
}

/// How to open a space directory.
///
/// ```
/// use spacestore::{Durability, Options};
/// let options = Options::default().durability(Durability::Sync);
/// assert_eq!(options.durability, Durability::Sync);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Options {
    /// When writes are durable.
    pub durability: Durability,
    /// A segment is rolled once it would grow past this many bytes (a single larger frame
    /// gets a segment of its own).
    pub segment_size: u64,
    /// How many AddSeqs one synced reservation covers. After a crash the counter restarts above
    /// the last reservation, so at most this many seqs become a gap per restart.
    pub reserve_ahead: u64,
    /// What to do about corruption.
    pub recovery: Recovery,
    /// Checkpoint automatically once the log is larger than this many times the live data
    /// (estimated as the last checkpoint's size, or the log's size at open) and larger than
    /// [`Options::auto_checkpoint_min_bytes`]; and at open, when the log holds more than 64
    /// segments shorter than half [`Options::segment_size`] (each session that writes starts a
    /// segment: a space written in many short sessions collects them, and every open reads
    /// them all). `None`: only
    /// [`crate::Space::checkpoint`] does.
    pub auto_checkpoint_factor: Option<u64>,
    /// The log size below which no automatic checkpoint happens for the log's size (the
    /// short-segment one at open happens whatever the size).
    pub auto_checkpoint_min_bytes: u64,
    /// Write automatic checkpoints on a worker thread (the default): the write that makes one
    /// due only starts it (a sync, each tree's batch count, a new segment) and returns.
    /// `false`: that write writes it before it returns (other writers go on either way), which
    /// keeps every file-system call on the calling threads, in a fixed order (the simulated file
    /// system's harnesses use that).
    pub background_checkpoints: bool,
    /// `Buffered` spaces: a worker thread syncs the log whenever this many bytes were written
    /// since the last sync (1 MiB by default), so that the sync a checkpoint's first step makes
    /// under the commit lock has at most about that much left to do. A write never waits for
    /// it; it makes more durable, never less (a failed background sync refuses later writes,
    /// like any failed fsync). `None`: the log is synced only by checkpoints, segment rolls and
    /// [`crate::Space::sync`] (every file-system call then runs on the calling threads, which
    /// the simulated file system's harnesses use). Ignored in `Sync` spaces.
    pub bytes_per_sync: Option<u64>,
    /// The largest write, in bytes of its frame (a batch's changes and ids, or a tree's root,
    /// plus a few bytes per field): a larger one is refused with
    /// [`crate::Error::BatchTooLarge`] before it takes a seq. At most about 4 GiB (a frame's
    /// length is a u32); 256 MiB by default.
    pub max_batch_bytes: u64,
    /// The file system under the log.
    pub fs: Arc<dyn FileSystem>,
    /// Where the space reads the time it stamps on each batch and tree it stores
    /// (`StorageChange::added`): the system's clock by default ([`crate::SystemClock`]).
    pub clock: Arc<dyn Clock>,
}

/// [`Options::max_batch_bytes`] by default: 256 MiB.
pub const DEFAULT_MAX_BATCH_BYTES: u64 = 256 << 20;

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::Buffered,
            segment_size: 64 << 20,
            reserve_ahead: 1 << 20,
            recovery: Recovery::Strict,
            auto_checkpoint_factor: Some(4),
            auto_checkpoint_min_bytes: 64 << 20,
            background_checkpoints: true,
            bytes_per_sync: Some(1 << 20),
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
            fs: Arc::new(StdFileSystem),
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("durability", &self.durability)
            .field("segment_size", &self.segment_size)
            .field("reserve_ahead", &self.reserve_ahead)
            .field("recovery", &self.recovery)
            .field("auto_checkpoint_factor", &self.auto_checkpoint_factor)
            .field("auto_checkpoint_min_bytes", &self.auto_checkpoint_min_bytes)
            .field("background_checkpoints", &self.background_checkpoints)
            .field("bytes_per_sync", &self.bytes_per_sync)
            .field("max_batch_bytes", &self.max_batch_bytes)
            .finish_non_exhaustive()
    }
}

impl Options {
    /// The highest [`Options::max_batch_bytes`]: what a frame's length field can hold.
    pub const MAX_BATCH_BYTES_LIMIT: u64 = crate::wal::frame::MAX_PAYLOAD;

    /// Sets the durability.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }
    /// Sets the segment size limit.
    pub fn segment_size(mut self, bytes: u64) -> Self {
        self.segment_size = bytes;
        self
    }
    /// Sets how many seqs one reservation covers.
    pub fn reserve_ahead(mut self, seqs: u64) -> Self {
        self.reserve_ahead = seqs.max(1);
        self
    }
    /// Sets the recovery mode.
    pub fn recovery(mut self, recovery: Recovery) -> Self {
        self.recovery = recovery;
        self
    }
    /// Sets automatic checkpoints: when the log exceeds `factor` times the live data and
    /// `min_bytes`; `None` turns them off.
    pub fn auto_checkpoint(mut self, factor: Option<u64>, min_bytes: u64) -> Self {
        self.auto_checkpoint_factor = factor;
        self.auto_checkpoint_min_bytes = min_bytes;
        self
    }
    /// Sets whether automatic checkpoints are written on a worker thread.
    pub fn background_checkpoints(mut self, on: bool) -> Self {
        self.background_checkpoints = on;
        self
    }
    /// Sets how many unsynced bytes make a `Buffered` log sync in the background (`None`:
    /// never in the background).
    pub fn bytes_per_sync(mut self, bytes: Option<u64>) -> Self {
        self.bytes_per_sync = bytes.map(|b| b.max(1));
        self
    }
    /// Sets the largest write, in bytes of its frame (at most [`Options::MAX_BATCH_BYTES_LIMIT`]).
    pub fn max_batch_bytes(mut self, bytes: u64) -> Self {
        self.max_batch_bytes = bytes.min(Self::MAX_BATCH_BYTES_LIMIT);
        self
    }
    /// Sets the file system under the log.
    pub fn file_system(mut self, fs: Arc<dyn FileSystem>) -> Self {
        self.fs = fs;
        self
    }
    /// Sets the clock the space stamps `added` from ([`crate::FixedClock`],
    /// [`crate::ManualClock`] or a [`Clock`] of your own): what a test needs for the same bytes
    /// in every run. Replay keeps the times that were written, whatever the clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

/// How to open a [`crate::Store`]: how each of its spaces is opened (an [`Options`]) and the
/// store's own settings. A plain [`Options`] is a `StoreOptions` with the store's defaults, so
/// `Store::open(root, Options::default())` is the common line.
///
/// ```
/// use spacestore::{Durability, Options, Store, StoreOptions};
/// let dir = tempfile::tempdir()?;
/// let options = StoreOptions::new(Options::default().durability(Durability::Sync))
///     .max_open_spaces(16);
/// assert_eq!(options.max_open_spaces, 16);
/// let store = Store::open(dir.path(), options)?;
/// # drop(store);
/// # Ok::<(), spacestore::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StoreOptions {
    /// How each space of the store is opened.
    pub space: Options,
    /// How many of the store's spaces may be open at once; past it, the least recently used
    /// ones that no handle holds are closed (and reopened on their next use). 64 by default.
    pub max_open_spaces: usize,
}

impl StoreOptions {
    /// A store whose spaces are opened with `space`, with the store's defaults otherwise.
    pub fn new(space: Options) -> Self {
        StoreOptions {
            space,
            max_open_spaces: 64,
        }
    }

    /// Sets how many spaces may be open at once (at least 1).
    pub fn max_open_spaces(mut self, spaces: usize) -> Self {
        self.max_open_spaces = spaces.max(1);
        self
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions::new(Options::default())
    }
}

/// A store whose spaces are opened with these options, with the store's defaults otherwise.
impl From<Options> for StoreOptions {
    fn from(space: Options) -> Self {
        StoreOptions::new(space)
    }
}
