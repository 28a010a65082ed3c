//! [`Commit`]: the commit path. Every write of the space goes through [`Commit::write`].
//!
//! Under one short critical section (the commit lock) a write builds its record (taking its
//! AddSeq), is checked against memory, is appended to the log (when the space has one) and, in
//! memory-only and `Buffered` spaces, is applied; head observers are told before the lock is
//! released. Because a seq is taken, logged and published in that one section, batches become
//! visible in AddSeq order (DESIGN.md, "Cursor safety").
//!
//! In `Sync` spaces the record is queued instead, the lock is released, and the writer joins a
//! group sync ([`crate::wal::GroupSync`]); afterwards whoever takes the lock first publishes every
//! queued record the sync covered, in log order. So a batch is visible only once durable, still
//! in AddSeq order, and one fsync serves every writer queued behind it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::memory::{Applied, Memory};
use crate::record::Record;
use crate::sync::{lock, read, write, Mutex, MutexGuard, RwLock};
use crate::wal::{CheckpointStats, Durability, Wal};
use crate::{AddSeqCounter, Error, HeadEntry, HeadObserver, Result};

/// What a write's record builder can do while it holds the commit lock.
pub(crate) struct Ctx<'a> {
    memory: &'a Memory,
    counter: &'a AddSeqCounter,
    wal: Option<&'a mut Wal>,
}

impl Ctx<'_> {
    /// The space's state, stable for as long as the commit lock is held.
    pub(crate) fn memory(&self) -> &Memory {
        self.memory
    }

    /// Takes the batch's AddSeq (after durably reserving it, when the space has a log). Taken
    /// before the batch is checked, as Go does, so a batch that then fails leaves a gap.
    pub(crate) fn take_seq(&mut self) -> Result<u64> {
        let seq = self
            .counter
            .get()
            .checked_add(1)
            .ok_or(Error::AddSeqExhausted)?;
        if let Some(wal) = self.wal.as_deref_mut() {
            wal.reserve(seq)?;
        }
        self.counter.next().ok_or(Error::AddSeqExhausted)
    }
}

/// The state behind the commit lock.
struct Inner {
    wal: Option<Wal>,
    /// `Sync` only: records logged but not yet known durable, in log order, with their end LSN.
    queued: VecDeque<(u64, Record)>,
    /// `Sync` only: results of published records, by end LSN, until their writer takes them.
    results: HashMap<u64, Result<Applied>>,
    /// Set once the log can no longer be trusted: every write is refused with this reason.
    refused: Option<String>,
}

/// The commit path of one space, with the state it writes to.
pub(crate) struct Commit {
    memory: Memory,
    counter: AddSeqCounter,
    durability: Durability,
    read_only: bool,
    /// Automatic checkpoints: (factor, minimum log bytes).
    auto_checkpoint: Option<(u64, u64)>,
    inner: Mutex<Inner>,
    observers: RwLock<Vec<Arc<dyn HeadObserver>>>,
}

#[cfg(not(loom))]
thread_local! {
    static IN_OBSERVER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn in_observer() -> bool {
    #[cfg(not(loom))]
    return IN_OBSERVER.with(|f| f.get());
    #[cfg(loom)]
    return false;
}

/// Marks the current thread as running observers until dropped (also on unwind).
struct ObserverScope;

impl ObserverScope {
    fn enter() -> Self {
        #[cfg(not(loom))]
        IN_OBSERVER.with(|f| f.set(true));
        ObserverScope
    }
}

impl Drop for ObserverScope {
    fn drop(&mut self) {
        #[cfg(not(loom))]
        IN_OBSERVER.with(|f| f.set(false));
    }
}

impl Commit {
    /// A commit path over `memory`, logging to `wal` when there is one.
    pub(crate) fn new(
        memory: Memory,
        counter: AddSeqCounter,
        wal: Option<Wal>,
        durability: Durability,
    ) -> Self {
        Commit {
            memory,
            counter,
            durability: if wal.is_some() {
                durability
            } else {
                Durability::Buffered
            },
            read_only: false,
            auto_checkpoint: None,
            inner: Mutex::new(Inner {
                wal,
                queued: VecDeque::new(),
                results: HashMap::new(),
                refused: None,
            }),
            observers: RwLock::new(Vec::new()),
        }
    }

    /// A commit path that refuses every write.
    pub(crate) fn read_only(memory: Memory, counter: AddSeqCounter) -> Self {
        let mut commit = Commit::new(memory, counter, None, Durability::Buffered);
        commit.read_only = true;
        commit
    }

    /// Turns automatic checkpoints on: when the log exceeds `factor` times the live data and
    /// `min_bytes`, the write that notices runs a checkpoint before it returns.
    pub(crate) fn with_auto_checkpoint(mut self, factor: u64, min_bytes: u64) -> Self {
        self.auto_checkpoint = Some((factor, min_bytes));
        self
    }

    /// Writes the live state to a new segment and drops the old ones (see `Wal::checkpoint`).
    /// Holds the commit lock throughout: writes wait for it; reads go on. In a `Sync` space,
    /// queued writes are synced and published first.
    pub(crate) fn checkpoint(&self) -> Result<Option<CheckpointStats>> {
        let mut inner = lock(&self.inner);
        Self::latch(&mut inner)?;
        let Some(wal) = inner.wal.as_ref() else {
            return Ok(None);
        };
        let group = wal.group();
        if !inner.queued.is_empty() {
            let synced = group.sync_to(group.written());
            self.publish_queued(&mut inner, group.synced(), synced.as_ref().err());
            synced?;
        }
        let Some(wal) = inner.wal.as_mut() else {
            return Ok(None);
        };
        wal.checkpoint(&self.memory).map(Some)
    }

    /// After a write: runs an automatic checkpoint when the log has grown enough. A failure is
    /// not the write's failure (the write is durable already): the next write tries again.
    fn maybe_checkpoint(&self, inner: &mut MutexGuard<'_, Inner>) {
        let Some((factor, min_bytes)) = self.auto_checkpoint else {
            return;
        };
        if !inner.queued.is_empty() {
            return;
        }
        if let Some(wal) = inner.wal.as_mut() {
            if wal.wants_checkpoint(factor, min_bytes) {
                let _ = wal.checkpoint(&self.memory);
            }
        }
    }

    /// The space's state, for readers.
    pub(crate) fn memory(&self) -> &Memory {
        &self.memory
    }

    pub(crate) fn counter(&self) -> &AddSeqCounter {
        &self.counter
    }

    pub(crate) fn add_observer(&self, observer: Arc<dyn HeadObserver>) {
        write(&self.observers).push(observer);
    }

    /// Runs `f` with the log under the commit lock (for `sync` and inspection).
    pub(crate) fn with_wal<T>(&self, f: impl FnOnce(Option<&mut Wal>) -> T) -> T {
        let mut inner = lock(&self.inner);
        f(inner.wal.as_mut())
    }

    /// Runs one write: `build` makes its record under the commit lock (and may take a seq);
    /// the record is checked, logged and applied as one unit, and observers are told.
    /// `settled` runs after a successful write (under the commit lock, except in `Sync`
    /// spaces, where the write is published by whichever writer comes first).
    pub(crate) fn write(
        &self,
        build: impl FnOnce(&mut Ctx<'_>) -> Result<Record>,
        settled: impl FnOnce(),
    ) -> Result<Applied> {
        if in_observer() {
            return Err(Error::WriteFromObserver);
        }
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        let mut inner = lock(&self.inner);
        Self::latch(&mut inner)?;
        let record = build(&mut Ctx {
            memory: &self.memory,
            counter: &self.counter,
            wal: inner.wal.as_mut(),
        })?;
        let plan = self.memory.check(&record)?;
        let Some(wal) = inner.wal.as_mut() else {
            return Ok(self.publish_now(&record, plan, settled));
        };
        let lsn = match wal.append(&record) {
            Ok(lsn) => lsn,
            Err(e) => {
                if !wal.usable() {
                    inner.refused = Some(e.to_string());
                }
                return Err(e);
            }
        };
        if self.durability == Durability::Buffered {
            let applied = self.publish_now(&record, plan, settled);
            self.maybe_checkpoint(&mut inner);
            return Ok(applied);
        }
        let group = wal.group();
        inner.queued.push_back((lsn, record));
        drop(inner);

        let synced = group.sync_to(lsn);
        let mut inner = lock(&self.inner);
        self.publish_queued(&mut inner, group.synced(), synced.as_ref().err());
        let result = inner
            .results
            .remove(&lsn)
            .unwrap_or_else(|| Err(Error::Internal("a queued write was never published".into())));
        self.maybe_checkpoint(&mut inner);
        drop(inner);
        match (synced, result) {
            (Err(e), _) => Err(e),
            (Ok(()), Ok(applied)) => {
                settled();
                Ok(applied)
            }
            (Ok(()), Err(e)) => Err(e),
        }
    }

    /// Applies a checked record now, under the commit lock.
    fn publish_now(
        &self,
        record: &Record,
        plan: crate::memory::Plan,
        settled: impl FnOnce(),
    ) -> Applied {
        let applied = self.memory.execute(record, plan, self.has_observers());
        settled();
        self.notify(&applied.changed);
        applied
    }

    /// `Sync` spaces: publishes, in log order, every queued record whose frame is durable
    /// (end LSN <= `synced`); after a failed sync, fails every queued record and latches.
    fn publish_queued(
        &self,
        inner: &mut MutexGuard<'_, Inner>,
        synced: u64,
        failed: Option<&Error>,
    ) {
        if let Some(e) = failed {
            if inner.refused.is_none() {
                inner.refused = Some(e.to_string());
            }
        }
        while let Some((lsn, _)) = inner.queued.front() {
            let lsn = *lsn;
            if let Some(reason) = inner.refused.clone() {
                inner.queued.pop_front();
                inner.results.insert(lsn, Err(Error::WritesRefused(reason)));
                continue;
            }
            if lsn > synced {
                break;
            }
            let Some((_, record)) = inner.queued.pop_front() else {
                break;
            };
            // Checked again: a record queued behind another may conflict with it.
            let result = self.memory.check(&record).map(|plan| {
                let applied = self.memory.execute(&record, plan, self.has_observers());
                self.notify(&applied.changed);
                applied
            });
            inner.results.insert(lsn, result);
        }
    }

    /// Whether writes are refused (after a failed sync or an append that could not be taken
    /// back), and why.
    pub(crate) fn refused(&self) -> Option<String> {
        let mut inner = lock(&self.inner);
        Self::latch(&mut inner)
            .err()
            .map(|_| inner.refused.clone().unwrap_or_default())
    }

    /// Latches a refusal the log reports (a failed fsync anywhere: a group sync, a reservation,
    /// `Space::sync`, a checkpoint; an append that could not be taken back), and fails if
    /// writes are refused.
    fn latch(inner: &mut MutexGuard<'_, Inner>) -> Result<()> {
        if inner.refused.is_none() {
            inner.refused = inner.wal.as_ref().and_then(|w| w.refusal());
        }
        match &inner.refused {
            Some(reason) => Err(Error::WritesRefused(reason.clone())),
            None => Ok(()),
        }
    }

    fn has_observers(&self) -> bool {
        !read(&self.observers).is_empty()
    }

    fn notify(&self, changed: &[HeadEntry]) {
        if changed.is_empty() {
            return;
        }
        let observers = read(&self.observers).clone();
        if observers.is_empty() {
            return;
        }
        let _scope = ObserverScope::enter();
        for entry in changed {
            for o in &observers {
                o.on_update(entry);
            }
        }
    }
}

impl Drop for Commit {
    fn drop(&mut self) {
        let mut inner = lock(&self.inner);
        if Self::latch(&mut inner).is_ok() {
            if let Some(wal) = inner.wal.as_mut() {
                wal.close(self.counter.get());
            }
        }
    }
}
