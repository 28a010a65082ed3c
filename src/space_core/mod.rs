//! [`SpaceCore`]: what a space is, shared by its handles (`Space`, the storages, cursors,
//! subscriptions): its memory, its AddSeq counter and its log, and the jobs around them, each
//! in a module of its own:
//!
//! - `write.rs`: the write path. Every write of the space goes through [`SpaceCore::write`].
//!   Under one short critical section (the commit lock) a write builds its record (taking its
//!   AddSeq), is checked against memory, is appended to the log (when the space has one) and,
//!   in memory-only and `Buffered` spaces, is applied; head observers are told before the lock
//!   is released. Because a seq is taken, logged and published in that one section, batches
//!   become visible in AddSeq order (DESIGN.md, "Cursor safety"). In `Sync` spaces the record
//!   is queued instead, the lock is released, and the writer joins a group sync
//!   (`GroupSync`, `wal/group.rs`); afterwards whoever takes the lock first publishes every
//!   queued record the sync covered, in log order. So a batch is visible only once durable,
//!   still in AddSeq order, and one fsync serves every writer queued behind it.
//! - `checkpoints.rs`: checkpoints, on demand and automatic (on a worker thread).
//! - `observers.rs`: the head and state observers, and the rule that an observer never
//!   writes to a space whose observers it runs inside of.
//!
//! This module holds the state itself, its making and its closing.

mod checkpoints;
mod observers;
mod reads;
mod write;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::memory::{Applied, Block, Captured, Memory, Stored};
use crate::notify::Notifier;
use crate::options::DEFAULT_MAX_BATCH_BYTES;
use crate::record::{NewTree, Record};
use crate::sync::{lock, AtomicBool, Mutex, Ordering, RwLock};
use crate::wal::{encode_payload, payload_len, CheckpointDone, Health, Refusal, Wal};
use crate::{AddSeqCounter, Durability, Result};

use observers::Observers;
pub(crate) use write::Ctx;
use write::Queued;

/// The state behind the commit lock.
struct Inner {
    wal: Option<Wal>,
    /// `Sync` only: writes logged but not yet known durable, in log order.
    queued: VecDeque<Queued>,
    /// `Sync` only: results of published records, by end LSN, until their writer takes them.
    results: HashMap<u64, Result<Applied>>,
    /// How many records were applied to memory: a plan made at another count is stale.
    published: u64,
}

/// One space, as its handles share it: its memory, its counter, its log and the jobs around
/// them (the write path, checkpoints, observers; see the module).
pub(crate) struct SpaceCore {
    memory: Memory,
    counter: AddSeqCounter,
    durability: Durability,
    read_only: bool,
    /// Automatic checkpoints: (factor, minimum log bytes).
    auto_checkpoint: Option<(u64, u64)>,
    /// Whether automatic checkpoints are written on a worker thread (never under loom).
    background: bool,
    /// The worker writing an automatic checkpoint, if one runs.
    worker: Mutex<Option<std::thread::JoinHandle<Result<CheckpointDone>>>>,
    /// The one latch: once the log cannot vouch for what it holds, every write is refused.
    health: Arc<Health>,
    /// The largest frame a write may take (`Options::max_batch_bytes`).
    max_bytes: u64,
    /// Where `added` comes from ([`crate::Options::clock`]).
    clock: Arc<dyn crate::Clock>,
    /// Wakes the space's subscribers when a batch is published.
    notifier: Arc<Notifier>,
    inner: Mutex<Inner>,
    /// Held for the whole of a checkpoint: one at a time.
    checkpointing: Mutex<()>,
    /// Set once the space is closed ([`SpaceCore::close`]): writes are refused with
    /// [`Error::Closed`](crate::Error::Closed).
    closed: AtomicBool,
    /// The head observers, with the ids their guards remove them by.
    observers: RwLock<Observers>,
}

impl SpaceCore {
    /// A commit path over `memory`, logging to `wal` when there is one.
    pub(crate) fn new(
        memory: Memory,
        counter: AddSeqCounter,
        wal: Option<Wal>,
        durability: Durability,
    ) -> Self {
        // Everything up to the counter is published and durable (replay syncs what it read).
        let notifier = Arc::new(Notifier::starting_at(counter.get()));
        if let Some(wal) = wal.as_ref().filter(|_| durability == Durability::Buffered) {
            // A `Buffered` log's syncs make its published batches durable for subscribers.
            let told = Arc::clone(&notifier);
            wal.group()
                .on_synced(Arc::new(move |lsn| told.synced_to(lsn)));
        }
        SpaceCore {
            memory,
            counter,
            health: wal.as_ref().map_or_else(Arc::default, Wal::health),
            max_bytes: DEFAULT_MAX_BATCH_BYTES,
            clock: Arc::new(crate::SystemClock),
            notifier,
            durability: if wal.is_some() {
                durability
            } else {
                Durability::Buffered
            },
            read_only: false,
            auto_checkpoint: None,
            background: false,
            worker: Mutex::new(None),
            inner: Mutex::new(Inner {
                wal,
                queued: VecDeque::new(),
                results: HashMap::new(),
                published: 0,
            }),
            checkpointing: Mutex::new(()),
            closed: AtomicBool::new(false),
            observers: RwLock::new(Observers::default()),
        }
    }

    /// The space's identity while it lives (its address: a `SpaceCore` sits in an `Arc` and never
    /// moves), for the observers' re-entrancy check.
    fn identity(&self) -> usize {
        self as *const SpaceCore as usize
    }

    /// Whether the space is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Closes the space: ends its subscriptions, waits for an automatic checkpoint, publishes
    /// what `Sync` writers queued, writes and syncs the close frame and drops the log (its
    /// files and the directory's lock). Reads go on from memory; writes, syncs and checkpoints
    /// are [`Error::Closed`](crate::Error::Closed) from now on. Closing twice is `Ok`.
    ///
    /// # Errors
    /// What the close frame's write or sync failed with ([`Error::Io`](crate::Error::Io)), or
    /// [`Error::WritesRefused`](crate::Error::WritesRefused) when the log had latched earlier;
    /// either way nothing acknowledged is lost, and the space is closed.
    pub(crate) fn close(&self) -> Result<()> {
        // From here on no write starts (each checks the flag under the commit lock); one that is
        // inside finishes, and is logged before the close frame.
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.notifier.close();
        // An automatic checkpoint finishes (and is accounted for) first, also one that a write
        // still inside starts before it leaves.
        let mut inner = loop {
            self.wait_worker();
            let inner = lock(&self.inner);
            if lock(&self.worker).is_none() {
                break inner;
            }
        };
        let Some(wal) = inner.wal.as_ref() else {
            return Ok(());
        };
        let group = wal.group();
        let synced = if inner.queued.is_empty() {
            Ok(())
        } else {
            group.sync_to(group.written())
        };
        self.publish_queued(&mut inner, group.synced());
        let result = synced.and_then(|()| {
            let last = self.counter.get();
            inner.wal.as_mut().map_or(Ok(()), |wal| wal.close(last))
        });
        inner.wal = None;
        result
    }

    /// A commit path that refuses every write.
    pub(crate) fn read_only(memory: Memory, counter: AddSeqCounter) -> Self {
        let mut commit = SpaceCore::new(memory, counter, None, Durability::Buffered);
        commit.read_only = true;
        commit
    }

    /// Sets the largest frame a write may take.
    pub(crate) fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Stamps `added` from `clock`.
    pub(crate) fn with_clock(mut self, clock: Arc<dyn crate::Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Now, by the space's clock (what `added` records).
    pub(crate) fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Turns automatic checkpoints on: when the log exceeds `factor` times the live data and
    /// `min_bytes`, the write that notices runs a checkpoint before it returns.
    pub(crate) fn with_auto_checkpoint(
        mut self,
        factor: u64,
        min_bytes: u64,
        background: bool,
    ) -> Self {
        self.auto_checkpoint = Some((factor, min_bytes));
        self.background = background && cfg!(not(loom));
        self
    }

    /// The state as of now and the counter's value, taken under the commit lock (at the cost
    /// of copying pointers: see [`Memory::capture`]).
    pub(crate) fn capture(&self) -> (Captured, u64) {
        let _inner = lock(&self.inner);
        (self.memory.capture(), self.counter.get())
    }

    /// An in-memory commit path over a memory of its own holding the state as of now (taken
    /// under the commit lock, at the cost of copying pointers; built outside it), with the same
    /// limits and clock, and a counter of its own at this one's value.
    pub(crate) fn fork(&self) -> SpaceCore {
        let (captured, at) = self.capture();
        let memory = captured.to_memory(self.memory.changes.len());
        SpaceCore::new(memory, AddSeqCounter::at(at), None, Durability::Buffered)
            .with_max_bytes(self.max_bytes)
            .with_clock(Arc::clone(&self.clock))
    }

    /// The space's wake-ups, for subscriptions.
    pub(crate) fn notifier(&self) -> Arc<Notifier> {
        Arc::clone(&self.notifier)
    }

    pub(crate) fn counter(&self) -> &AddSeqCounter {
        &self.counter
    }

    /// Runs `f` with the log under the commit lock (for `sync` and inspection).
    pub(crate) fn with_wal<T>(&self, f: impl FnOnce(Option<&mut Wal>) -> T) -> T {
        let mut inner = lock(&self.inner);
        f(inner.wal.as_mut())
    }

    /// Why writes are refused, if they are (after a failure the log cannot vouch for).
    pub(crate) fn refused(&self) -> Option<Refusal> {
        self.health.refusal()
    }
}

/// The root of a tree not created yet, as memory will store it (its creation's record encoded):
/// what a deferred storage's reads in place see before its first write.
pub(crate) fn unstored_root(new: NewTree) -> Option<Stored> {
    let record = Record::CreateTree(Box::new(new));
    let encoded = encode_payload(&record, payload_len(&record));
    Block::root(encoded.bytes, encoded.at.root?).stored().pop()
}

impl Drop for SpaceCore {
    fn drop(&mut self) {
        // What `close` would report is lost here (there is no caller): `Space::close` reports
        // it. Nothing acknowledged is lost either way.
        if let Err(_e) = self.close() {
            crate::trace::warn_event!(error = %_e, "closing the space failed");
        }
    }
}
