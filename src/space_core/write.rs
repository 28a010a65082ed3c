//! The write path of a space: [`SpaceCore::write`] under the commit lock, the `Sync` queue
//! and its group commit, and [`Ctx`], what a write's record builder can do under the lock (see
//! the module above for the order of the steps and why).

use crate::layout::Encoded;
use crate::memory::{Applied, EntryAfter, Memory, Plan, Target};
use crate::record::{BatchFields, NewTree, Record};
use crate::sync::{lock, MutexGuard};
use crate::wal::{
    batch_payload_len, encode_payload, frame_len, head_payload_len, payload_len, reread, Wal,
};
use crate::{AddSeqCounter, Durability, Error, Id, Result};

use super::observers::in_observer;
use super::{Inner, SpaceCore};

/// What a write's record builder can do while it holds the commit lock.
pub(crate) struct Ctx<'a> {
    memory: &'a Memory,
    counter: &'a AddSeqCounter,
    wal: Option<&'a mut Wal>,
    /// The tree the record writes to, checked by [`Ctx::check_target`]: the record's check
    /// reuses it instead of checking again.
    target: Option<Target>,
    /// The largest frame a write may take.
    max_bytes: u64,
    /// The record's payload length, when [`Ctx::take_seq_for`] counted it (and checked its
    /// size) already.
    payload_len: Option<u64>,
}

/// Refuses a write whose payload of `payload` bytes makes a frame larger than `max` bytes.
fn check_size(payload: u64, max: u64) -> Result<()> {
    let bytes = frame_len(payload);
    if bytes > max {
        return Err(Error::BatchTooLarge { bytes, max });
    }
    Ok(())
}

/// Refuses a write that leaves a head entry whose whole record (what a checkpoint writes for it:
/// every field of the entry, gathered from many writes) makes a frame larger than `max` bytes,
/// unless the write leaves the entry no larger than it was (so an entry an older build let grow
/// can still be shrunk). Without it, an entry's fields, each written in a frame of its own, could
/// together pass what one frame can hold, and every checkpoint of the space would fail.
fn check_entry(entry: EntryAfter<'_>, max: u64) -> Result<()> {
    let after = head_payload_len(entry.after);
    let bytes = frame_len(after);
    if bytes <= max {
        return Ok(());
    }
    if entry
        .before
        .is_some_and(|before| head_payload_len(before) >= after)
    {
        return Ok(());
    }
    Err(Error::BatchTooLarge { bytes, max })
}

impl Ctx<'_> {
    /// Checks the tree a batch or deletion writes to (see [`Memory::check_target`]) before the
    /// write takes a seq, so that a tree that cannot be written costs no gap; the record's own
    /// check then reuses the result.
    pub(crate) fn check_target(&mut self, tree_id: &Id, create: Option<&NewTree>) -> Result<()> {
        if let Some(new) = create {
            self.memory.check_tree_id(&new.root.id)?;
        }
        self.target = Some(self.memory.check_target(tree_id, create)?);
        Ok(())
    }

    /// Gives `batch` its AddSeq ([`Ctx::take_seq`]) once its size is checked: a batch too
    /// large for one frame is refused before it takes a seq.
    pub(crate) fn take_seq_for(&mut self, batch: &mut BatchFields) -> Result<()> {
        self.check_batch_size(batch)?;
        let seq = self.take_seq()?;
        batch.seq = seq;
        Ok(())
    }

    /// Gives `batch` its seq from `counter` (a counter of its own, not the space's) once its
    /// size is checked; the batch is not in the space's feed. The space's counter is moved up
    /// to it (durably reserved first) if it is higher, so that no feed batch ever gets a seq at
    /// or below one a head entry names (the batch's entry takes its seq).
    pub(crate) fn take_seq_from(
        &mut self,
        counter: &AddSeqCounter,
        batch: &mut BatchFields,
    ) -> Result<()> {
        self.check_batch_size(batch)?;
        batch.seq = counter.next().ok_or(Error::AddSeqExhausted)?;
        batch.in_feed = false;
        self.advance_counter_to(batch.seq)
    }

    /// Checks the size of `batch`'s frame and of its tree's head entry after it (see
    /// [`check_entry`]), before the batch takes a seq (the seq's size is fixed), and keeps the
    /// payload's length for the write.
    fn check_batch_size(&mut self, batch: &BatchFields) -> Result<()> {
        let len = batch_payload_len(batch);
        let max = self.max_bytes;
        check_size(len, max)?;
        self.memory
            .batch_entry_after(batch, &mut |entry| check_entry(entry, max))?;
        self.payload_len = Some(len);
        Ok(())
    }

    /// The counter: the last AddSeq handed out.
    pub(crate) fn add_seq(&self) -> u64 {
        self.counter.get()
    }

    /// Moves the counter up to `seq` (durably reserved first, when the space has a log), never
    /// down: a head entry given a last AddSeq above the counter (Go's `UpdateEntry` takes any)
    /// keeps every later batch above it, live and after a restart.
    pub(crate) fn advance_counter_to(&mut self, seq: u64) -> Result<()> {
        if seq <= self.counter.get() {
            return Ok(());
        }
        if let Some(wal) = self.wal.as_deref_mut() {
            wal.reserve(seq)?;
        }
        self.counter.advance_to(seq);
        Ok(())
    }

    /// Takes the batch's AddSeq (after durably reserving it, when the space has a log). Taken
    /// before the batch is checked, as Go does, so a batch that then fails leaves a gap.
    fn take_seq(&mut self) -> Result<u64> {
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

/// A `Sync` write logged but not yet known durable.
pub(super) struct Queued {
    /// The LSN at the end of its frame.
    lsn: u64,
    record: Record,
    /// Its payload, as logged (what memory keeps of its changes).
    encoded: Encoded,
    /// Its check's plan, valid while nothing was published since (`published` unchanged).
    plan: Plan,
    /// [`Inner::published`] when it was checked.
    checked_at: u64,
}

impl SpaceCore {
    /// Executes a checked record (under the commit lock) and, for a batch, wakes subscribers
    /// once it is visible. `frame`: the end LSN of its frame when it is not known durable yet
    /// (`Buffered`), so that durable subscribers get it once a sync covers it.
    pub(super) fn execute(
        &self,
        record: &Record,
        encoded: &Encoded,
        plan: Plan,
        frame: Option<u64>,
    ) -> Applied {
        let applied = self
            .memory
            .execute(record, encoded, plan, self.has_observers());
        if let Record::AddBatch(b) = record {
            if b.in_feed {
                self.notifier.published(b.seq, frame);
            }
        }
        applied
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
        if in_observer(self.identity()) {
            return Err(Error::WriteFromObserver);
        }
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        let mut inner = lock(&self.inner);
        self.health.check()?;
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let mut ctx = Ctx {
            memory: &self.memory,
            counter: &self.counter,
            wal: inner.wal.as_mut(),
            target: None,
            max_bytes: self.max_bytes,
            payload_len: None,
        };
        let record = build(&mut ctx)?;
        let len = match ctx.payload_len {
            Some(len) => len,
            None => {
                let len = payload_len(&record);
                check_size(len, self.max_bytes)?;
                let max = self.max_bytes;
                self.memory
                    .entries_after(&record, &mut |entry| check_entry(entry, max))?;
                len
            }
        };
        self.memory.check_live(&record)?;
        let plan = self.memory.check(&record, ctx.target.take())?;
        // Without a log, the payload is encoded only when memory keeps (part of) it.
        let encoded = if inner.wal.is_some() || record.stores_changes() || record.keeps_bytes() {
            encode_payload(&record, len)
        } else {
            Encoded::default()
        };
        // Memory keeps the record's own bytes as its payload holds them (invariant 7).
        let record = if record.keeps_bytes() {
            reread(&encoded.bytes)?
        } else {
            record
        };
        let Some(wal) = inner.wal.as_mut() else {
            return Ok(self.publish_now(&mut inner, &record, &encoded, plan, None, settled));
        };
        let lsn = wal.append(&encoded.bytes)?;
        if self.durability == Durability::Buffered {
            let applied = self.publish_now(&mut inner, &record, &encoded, plan, Some(lsn), settled);
            self.maybe_checkpoint(inner);
            return Ok(applied);
        }
        let group = wal.group();
        let checked_at = inner.published;
        inner.queued.push_back(Queued {
            lsn,
            record,
            encoded,
            plan,
            checked_at,
        });
        drop(inner);

        let synced = group.sync_to(lsn);
        let mut inner = lock(&self.inner);
        self.publish_queued(&mut inner, group.synced());
        let result = inner
            .results
            .remove(&lsn)
            .unwrap_or_else(|| Err(Error::Internal("a queued write was never published".into())));
        self.maybe_checkpoint(inner);
        match (synced, result) {
            (Err(e), _) => Err(e),
            (Ok(()), Ok(applied)) => {
                settled();
                Ok(applied)
            }
            (Ok(()), Err(e)) => Err(e),
        }
    }

    /// Applies a checked record now, under the commit lock (`frame`: see [`SpaceCore::execute`]).
    pub(super) fn publish_now(
        &self,
        inner: &mut MutexGuard<'_, Inner>,
        record: &Record,
        encoded: &Encoded,
        plan: Plan,
        frame: Option<u64>,
        settled: impl FnOnce(),
    ) -> Applied {
        let applied = self.execute(record, encoded, plan, frame);
        inner.published += 1;
        settled();
        self.notify(&applied);
        applied
    }

    /// `Sync` spaces: publishes, in log order, every queued record whose frame is durable
    /// (end LSN <= `synced`); once the latch is tripped (a failed sync), fails every queued
    /// record instead.
    pub(super) fn publish_queued(&self, inner: &mut MutexGuard<'_, Inner>, synced: u64) {
        while let Some(lsn) = inner.queued.front().map(|q| q.lsn) {
            let refused = self.health.refusal();
            if refused.is_none() && lsn > synced {
                break;
            }
            let Some(q) = inner.queued.pop_front() else {
                break;
            };
            if let Some(why) = refused {
                inner.results.insert(lsn, Err(Error::WritesRefused(why)));
                continue;
            }
            // A record queued behind another was checked before that one was applied and may
            // conflict with it: its plan holds only while nothing was published since.
            let plan = if q.checked_at == inner.published {
                Ok(q.plan)
            } else {
                self.memory.check(&q.record, None)
            };
            let result = plan.map(|plan| {
                // Published only once durable: durable subscribers get it at once.
                let applied = self.execute(&q.record, &q.encoded, plan, None);
                inner.published += 1;
                self.notify(&applied);
                applied
            });
            inner.results.insert(lsn, result);
        }
    }
}
