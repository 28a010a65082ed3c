//! [`Commit`]: the commit path. Every write of the space goes through [`Commit::write`].
//!
//! Under one short critical section (the commit lock) a write validates against memory, takes
//! its AddSeq, is logged (when the space has a log) and is applied to memory; head observers are
//! told of its effect before the lock is released. Because a seq is taken and published inside
//! the same critical section, batches become visible in AddSeq order: once a reader sees seq `s`,
//! every smaller seq that will ever be visible already is (DESIGN.md, "Cursor safety").
//! Preparation that needs no shared state (building the changes) happens before the lock.

use std::sync::Arc;

use crate::memory::Memory;
use crate::record::Record;
use crate::sync::{lock, read, write, Mutex, RwLock};
use crate::{AddSeqCounter, Error, HeadEntry, HeadObserver, Result};

/// What a write's validation step sees while it holds the commit lock.
pub(crate) struct Ctx<'a> {
    memory: &'a Memory,
    counter: &'a AddSeqCounter,
}

impl Ctx<'_> {
    /// The space's state, stable for as long as the commit lock is held.
    pub(crate) fn memory(&self) -> &Memory {
        self.memory
    }

    /// Takes the batch's AddSeq. Taken before the batch is checked, as Go does, so a batch that
    /// then fails leaves a gap.
    pub(crate) fn take_seq(&mut self) -> u64 {
        self.counter.next()
    }
}

/// The commit path of one space, with the state it writes to.
pub(crate) struct Commit {
    memory: Memory,
    counter: AddSeqCounter,
    lock: Mutex<()>,
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

fn set_in_observer(_v: bool) {
    #[cfg(not(loom))]
    IN_OBSERVER.with(|f| f.set(_v));
}

impl Commit {
    pub(crate) fn new(memory: Memory, counter: AddSeqCounter) -> Self {
        Commit {
            memory,
            counter,
            lock: Mutex::new(()),
            observers: RwLock::new(Vec::new()),
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

    /// Runs one write: `validate` checks the write against memory under the commit lock and
    /// returns its result and the records that carry it out; the records are then logged and
    /// applied as one unit, and observers are told. An error from `validate` leaves everything
    /// as it was (but a seq it took stays a gap).
    pub(crate) fn write<T>(
        &self,
        validate: impl FnOnce(&mut Ctx<'_>) -> Result<(T, Vec<Record>)>,
    ) -> Result<T> {
        self.write_then(validate, |_| {})
    }

    /// [`Commit::write`], then `applied` with memory after the write, still under the commit lock
    /// (only when the write succeeded and had records).
    pub(crate) fn write_then<T>(
        &self,
        validate: impl FnOnce(&mut Ctx<'_>) -> Result<(T, Vec<Record>)>,
        applied: impl FnOnce(&Memory),
    ) -> Result<T> {
        if in_observer() {
            return Err(Error::WriteFromObserver);
        }
        let _guard = lock(&self.lock);
        let mut ctx = Ctx {
            memory: &self.memory,
            counter: &self.counter,
        };
        let (out, records) = validate(&mut ctx)?;
        if records.is_empty() {
            return Ok(out);
        }
        let mut changed = Vec::new();
        for record in &records {
            self.memory
                .apply(record, &mut changed)
                .map_err(|e| Error::Internal(e.0))?;
        }
        applied(&self.memory);
        self.notify(&changed);
        Ok(out)
    }

    fn notify(&self, changed: &[HeadEntry]) {
        if changed.is_empty() {
            return;
        }
        let observers = read(&self.observers).clone();
        if observers.is_empty() {
            return;
        }
        set_in_observer(true);
        for entry in changed {
            for o in &observers {
                o.on_update(entry);
            }
        }
        set_in_observer(false);
    }
}
