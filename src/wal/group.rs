//! [`GroupSync`]: group commit. A writer that needs its frame durable calls
//! [`GroupSync::sync_to`] with the frame's end LSN. When no fsync is in flight it becomes the
//! leader: it fsyncs everything written so far, without holding the lock, and then wakes every
//! waiting writer at once. A writer that arrives while an fsync is in flight waits for it; if
//! its frame was written before that fsync began it is covered and returns without an fsync of
//! its own, else one of the woken writers leads the next round, which covers every frame
//! written meanwhile (raft-engine's write barrier is the model: a leader per round, followers
//! that only wait).
//!
//! A new segment's name is made durable by the first sync that covers a frame in it (a roll
//! or a round syncs the directory first while the active segment's name is not yet durable),
//! not when the segment is created: a roll, under the commit lock, then costs no sync of the
//! directory (DESIGN.md, "Durability").

use std::path::PathBuf;
use std::sync::Arc;

use super::env::{FileSystem, LogFile};
use super::health::Health;
use crate::sync::{lock, yield_now, AtomicU64, Condvar, Mutex, Ordering};
use crate::Result;

/// How many times a leader yields, at most, to gather frames into its round.
const GATHER_YIELDS: usize = 3;

/// Told every LSN up to which the log was made durable (see [`GroupSync::on_synced`]).
pub(crate) type SyncListener = Arc<dyn Fn(u64) + Send + Sync>;

struct State {
    /// The active segment.
    file: Arc<dyn LogFile>,
    /// The active segment's name is durable (its directory was synced since it was created).
    named: bool,
    /// Told each new synced LSN, after the fsync returned.
    listener: Option<SyncListener>,
    /// fsyncs done (for tests and stats).
    syncs: u64,
    /// A leader's fsync is in flight.
    syncing: bool,
}

/// The shared sync state of a log.
pub(crate) struct GroupSync {
    /// LSN (bytes appended this session) of everything handed to the OS. Written only under
    /// the commit lock.
    written: AtomicU64,
    /// Every frame ending at or below this LSN is durable. Written only under `state`'s lock;
    /// read without it, so that a publisher holding the commit lock never waits for an fsync.
    synced: AtomicU64,
    /// The log's latch: a failed fsync trips it.
    health: Arc<Health>,
    state: Mutex<State>,
    /// Signalled when a leader's fsync ends (every waiter wakes).
    round_done: Condvar,
    /// The file system and the directory whose entries name the segments.
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
}

impl GroupSync {
    /// The group of a log in `dir` whose active segment is `file` (`named`: its name is
    /// durable already).
    pub(crate) fn new(
        file: Arc<dyn LogFile>,
        named: bool,
        health: Arc<Health>,
        fs: Arc<dyn FileSystem>,
        dir: PathBuf,
    ) -> Self {
        GroupSync {
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            health,
            state: Mutex::new(State {
                file,
                named,
                listener: None,
                syncs: 0,
                syncing: false,
            }),
            round_done: Condvar::new(),
            fs,
            dir,
        }
    }

    /// Syncs the directory (the active segment's name), tripping the latch on failure.
    fn sync_dir(&self) -> Result<()> {
        self.fs
            .sync_dir(&self.dir)
            .map_err(self.health.failed_sync("syncing the space directory"))
    }

    /// Records `n` more bytes appended; returns the LSN at their end. Under the commit lock.
    pub(crate) fn appended(&self, n: u64) -> u64 {
        self.written.fetch_add(n, Ordering::SeqCst) + n
    }

    /// The LSN of everything appended so far.
    pub(crate) fn written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }

    /// Returns once every frame ending at or below `lsn` is durable: as the leader of a round
    /// (an fsync of everything written so far, the lock released meanwhile), or as a follower
    /// woken when the round in flight ends.
    pub(crate) fn sync_to(&self, lsn: u64) -> Result<()> {
        let mut s = lock(&self.state);
        loop {
            self.health.check()?;
            if self.synced.load(Ordering::SeqCst) >= lsn {
                return Ok(());
            }
            if !s.syncing {
                break;
            }
            s = self.round_done.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        // The leader. Everything appended up to now is in `s.file` (a roll to a new file syncs
        // the old one whole first, under the commit lock).
        s.syncing = true;
        drop(s);
        // Gather: the writers the last round woke are on their way back with their next
        // frames; letting them run first (a yield, repeated while frames keep coming, a few
        // times at most) puts those frames into this round rather than the next.
        let mut seen = self.written.load(Ordering::SeqCst);
        for _ in 0..GATHER_YIELDS {
            yield_now();
            let now = self.written.load(Ordering::SeqCst);
            if now == seen {
                break;
            }
            seen = now;
        }
        // The file and the LSN together, under the lock a roll's switch takes: everything
        // appended up to `target` is in `file` (a roll syncs the old file whole first).
        let s = lock(&self.state);
        let target = self.written.load(Ordering::SeqCst);
        let file = Arc::clone(&s.file);
        let named = s.named;
        drop(s);
        // The segment's name first, while it is not durable: a frame is durable only once
        // the file holding it can be found after a power cut.
        let named_now = if named { Ok(()) } else { self.sync_dir() };
        let synced = named_now.and_then(|()| {
            file.sync_data()
                .map_err(self.health.failed_sync("syncing the log"))
        });
        let mut s = lock(&self.state);
        s.syncing = false;
        let mut listener = None;
        if synced.is_ok() {
            if Arc::ptr_eq(&s.file, &file) {
                // (A switch meanwhile made another file active, whose name is its own.)
                s.named = true;
            }
            self.synced.fetch_max(target, Ordering::SeqCst);
            s.syncs += 1;
            listener = s.listener.clone();
        }
        drop(s);
        self.round_done.notify_all();
        if let Some(listener) = listener {
            listener(self.synced());
        }
        synced
    }

    /// Tells `listener` every LSN up to which the log is made durable from now on (by a
    /// group's fsync, or a segment synced whole before a switch), after the fsync returned and
    /// without the group's lock; first, at once, the LSN synced so far.
    pub(crate) fn on_synced(&self, listener: SyncListener) {
        lock(&self.state).listener = Some(Arc::clone(&listener));
        listener(self.synced());
    }

    /// The LSN up to which frames are durable. Never waits for an fsync in progress.
    pub(crate) fn synced(&self) -> u64 {
        self.synced.load(Ordering::SeqCst)
    }

    /// How many fsyncs the group has done.
    pub(crate) fn syncs(&self) -> u64 {
        lock(&self.state).syncs
    }

    /// Makes the active segment's name durable if it is not yet (before a roll declares the
    /// segment synced whole). Under the commit lock.
    pub(crate) fn make_named(&self) -> Result<()> {
        if lock(&self.state).named {
            return Ok(());
        }
        self.sync_dir()?;
        lock(&self.state).named = true;
        Ok(())
    }

    /// Switches to a new active segment after the old one was synced whole, its name
    /// included ([`GroupSync::make_named`]); the new one's name is not durable yet. Under the
    /// commit lock.
    pub(crate) fn switch(&self, file: Arc<dyn LogFile>) {
        let mut s = lock(&self.state);
        s.file = file;
        s.named = false;
        self.synced
            .fetch_max(self.written.load(Ordering::SeqCst), Ordering::SeqCst);
        s.syncs += 1;
        let listener = s.listener.clone();
        drop(s);
        if let Some(listener) = listener {
            listener(self.synced());
        }
    }
}
