//! [`Flusher`]: background syncs of a `Buffered` log. Whenever `Options::bytes_per_sync` bytes
//! were written since the last sync, the log asks its flusher thread to sync them (through the
//! group, so a failure latches like any failed fsync). A `Buffered` write never waits for it;
//! what it buys is that the sync a checkpoint's first step makes under the commit lock (and a
//! roll's) finds at most about that many bytes still to sync, instead of everything written
//! since the last checkpoint.
//!
//! Started the first time the threshold is crossed, so a small space never has the thread; never
//! started under loom: the models run every file-system call on their own threads.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use super::group::GroupSync;

#[derive(Default)]
struct Wanted {
    /// Sync up to this LSN.
    lsn: u64,
    /// The log is closing: the thread ends.
    stop: bool,
}

#[derive(Default)]
struct Shared {
    wanted: Mutex<Wanted>,
    wake: Condvar,
}

/// The flusher thread of one log, stopped (and joined) when dropped.
pub(crate) struct Flusher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    /// Starts a flusher syncing through `group`; `None` when no thread can be started (the
    /// log then syncs only where it must) or under loom.
    pub(crate) fn start(group: Arc<GroupSync>) -> Option<Flusher> {
        if cfg!(loom) {
            return None;
        }
        let shared = Arc::new(Shared::default());
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("spacestore-flush".into())
            .spawn(move || run(&theirs, &group))
            .ok()?;
        Some(Flusher {
            shared,
            thread: Some(thread),
        })
    }

    /// Asks for everything up to `lsn` to be synced (returns at once).
    pub(crate) fn request(&self, lsn: u64) {
        let mut wanted = self
            .shared
            .wanted
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        wanted.lsn = wanted.lsn.max(lsn);
        self.shared.wake.notify_one();
    }
}

/// The thread: syncs whatever was asked for, until told to stop.
fn run(shared: &Shared, group: &GroupSync) {
    let mut done = 0;
    loop {
        let target = {
            let mut wanted = shared.wanted.lock().unwrap_or_else(PoisonError::into_inner);
            while wanted.lsn <= done && !wanted.stop {
                wanted = shared
                    .wake
                    .wait(wanted)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if wanted.stop {
                return;
            }
            wanted.lsn
        };
        // A failure trips the log's latch (in `sync_to`): later writes are refused, and this
        // thread has nothing more to do.
        if group.sync_to(target).is_err() {
            return;
        }
        done = target;
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.shared
            .wanted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            // A panic of the thread is nothing to act on here (the latch reports failures).
            let _ = thread.join();
        }
    }
}
