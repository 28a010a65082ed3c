//! The write-ahead log: segment files of CRC-framed records, replayed at open.
//!
//! - `env.rs`: the file abstraction ([`FileSystem`], [`LogFile`]) all log I/O goes through;
//! - `frame.rs`: segment headers and frames (the byte layout);
//! - `codec.rs`: records to frame payloads and back, zero-copy on the way back;
//! - `log.rs`: appending, rolling segments, reserving AddSeq ranges;
//! - `group.rs`: group commit (one fsync for every writer queued behind it);
//! - `replay.rs`: rebuilding memory at open, torn tails and corruption.

mod codec;
pub mod env;
pub mod frame;
mod group;
pub mod inspect;

mod log;
mod replay;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use env::{FileSystem, LogFile, StdFileSystem};
pub use log::CheckpointStats;
pub(crate) use log::{Wal, WalConfig};
pub use replay::{RecoveryReport, Repair, TornTail};

use crate::memory::Memory;
use crate::{AddSeqCounter, Error, Result};

/// When a write is durable, chosen per space.
///
/// | mode | a write returns once | a process crash loses | a power loss loses |
/// | --- | --- | --- | --- |
/// | `Buffered` | its frame is written to the OS | nothing acknowledged | a suffix of the acknowledged writes (never a part of one, never a reused AddSeq) |
/// | `Sync` | its frame is on stable storage (fdatasync, shared by concurrent writers) | nothing acknowledged | nothing acknowledged |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
pub enum Recovery {
    /// Fail with [`Error::Corrupt`], naming the segment and offset. Nothing is changed.
    #[default]
    Strict,
    /// Keep everything before the bad frame; move the rest to side files next to the segments
    /// (`*.wal.corrupt-at-N`, `*.wal.corrupt`) and say so in the [`RecoveryReport`].
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
    /// [`Options::auto_checkpoint_min_bytes`]. `None`: only [`crate::Space::checkpoint`] does.
    pub auto_checkpoint_factor: Option<u64>,
    /// The log size below which no automatic checkpoint happens.
    pub auto_checkpoint_min_bytes: u64,
    /// The file system under the log.
    pub fs: Arc<dyn FileSystem>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::Buffered,
            segment_size: 64 << 20,
            reserve_ahead: 1 << 20,
            recovery: Recovery::Strict,
            auto_checkpoint_factor: Some(4),
            auto_checkpoint_min_bytes: 64 << 20,
            fs: Arc::new(StdFileSystem),
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
            .finish_non_exhaustive()
    }
}

impl Options {
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
    /// Sets the file system under the log.
    pub fn file_system(mut self, fs: Arc<dyn FileSystem>) -> Self {
        self.fs = fs;
        self
    }
}

/// The path of segment `seq` in `dir`.
pub(crate) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.wal"))
}

/// An opened directory: the replayed memory, the counter above every seq ever handed out, the
/// log to write to, and the report.
pub(crate) struct Opened {
    pub(crate) memory: Memory,
    pub(crate) counter: AddSeqCounter,
    pub(crate) wal: Wal,
    pub(crate) report: RecoveryReport,
}

/// Replays the log of `dir` into a new memory without locking or changing anything on disk.
pub(crate) fn open_read_only(
    dir: &Path,
    options: &Options,
) -> Result<(Memory, AddSeqCounter, RecoveryReport)> {
    let memory = Memory::with_capacity(replay::estimate_changes(options.fs.as_ref(), dir)?);
    let replayed = replay::replay(options.fs.as_ref(), dir, &memory, Recovery::Strict, true)?;
    let counter = AddSeqCounter::new();
    counter.advance_to(replayed.report.add_seq);
    Ok((memory, counter, replayed.report))
}

/// Locks `dir`, replays its log and starts a new segment.
pub(crate) fn open(dir: &Path, options: &Options) -> Result<Opened> {
    let fs = Arc::clone(&options.fs);
    fs.create_dir_all(dir).map_err(|source| Error::Io {
        context: "creating the space directory",
        source,
    })?;
    let lock = fs.lock_dir(dir).map_err(|source| {
        if source.kind() == std::io::ErrorKind::WouldBlock {
            Error::Locked(dir.to_path_buf())
        } else {
            Error::Io {
                context: "locking the space directory",
                source,
            }
        }
    })?;
    let memory = Memory::with_capacity(replay::estimate_changes(fs.as_ref(), dir)?);
    let replayed = replay::replay(fs.as_ref(), dir, &memory, options.recovery, false)?;
    // Frames replayed from the page cache after a process crash may never have been synced:
    // make them durable before anything new is, so the log on disk stays a prefix.
    for seq in replay::list_segments(fs.as_ref(), dir)? {
        fs.sync_file(&segment_path(dir, seq))
            .map_err(|source| Error::Io {
                context: "syncing a replayed segment",
                source,
            })?;
    }
    let counter = AddSeqCounter::new();
    let mut restart_at = replayed.report.add_seq;
    if replayed.report.repaired.is_some() {
        // What was moved aside may have held a reservation (and batches under it) that no
        // frame still readable names: restart one reservation span higher, to be safe.
        restart_at = restart_at.saturating_add(options.reserve_ahead);
    }
    counter.advance_to(restart_at);
    let wal = Wal::create(WalConfig {
        fs,
        dir: dir.to_path_buf(),
        segment_seq: replayed.last_segment + 1,
        segment_size: options.segment_size,
        reserved: replayed.reserved.max(replayed.report.add_seq),
        reserve_ahead: options.reserve_ahead,
        lock,
        preallocate: options.durability == Durability::Sync,
        existing_bytes: replayed.report.bytes_read
            - replayed
                .report
                .torn_tail
                .as_ref()
                .map_or(0, |t| t.bytes_dropped),
    })?;
    let mut wal = wal;
    if restart_at > replayed.report.add_seq {
        // Make the jump durable before anything is handed out above the old bar.
        wal.reserve(restart_at)?;
    }
    let mut report = replayed.report;
    report.add_seq = restart_at;
    Ok(Opened {
        memory,
        counter,
        wal,
        report,
    })
}
