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

use crate::layout::Encoded;
use crate::memory::{Applied, Block, Captured, EntryAfter, Memory, Plan, Stored, Target};
use crate::notify::Notifier;
use crate::options::DEFAULT_MAX_BATCH_BYTES;
use crate::record::{Batch, NewTree, Record};
use crate::sync::{lock, read, write, AtomicBool, Mutex, MutexGuard, Ordering, RwLock};
use crate::wal::{
    batch_payload_len, encode_payload, frame_len, head_payload_len, payload_len, reread,
    CheckpointDone, CheckpointStats, Health, Refusal, Wal,
};
use crate::{AddSeqCounter, Durability, Error, HeadObserver, Id, Result, StateObserver};

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
    pub(crate) fn take_seq_for(&mut self, batch: &mut Batch) -> Result<()> {
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
        batch: &mut Batch,
    ) -> Result<()> {
        self.check_batch_size(batch)?;
        batch.seq = counter.next().ok_or(Error::AddSeqExhausted)?;
        batch.in_feed = false;
        self.advance_counter_to(batch.seq)
    }

    /// Checks the size of `batch`'s frame and of its tree's head entry after it (see
    /// [`check_entry`]), before the batch takes a seq (the seq's size is fixed), and keeps the
    /// payload's length for the write.
    fn check_batch_size(&mut self, batch: &Batch) -> Result<()> {
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
struct Queued {
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

/// The commit path of one space, with the state it writes to.
pub(crate) struct Commit {
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
    /// Set once the space is closed ([`Commit::close`]): writes are refused with
    /// [`Error::Closed`].
    closed: AtomicBool,
    /// The head observers, with the ids their guards remove them by.
    observers: RwLock<Observers>,
}

/// The head and state observers of a space.
#[derive(Default)]
struct Observers {
    list: Vec<(u64, Arc<dyn HeadObserver>)>,
    state: Vec<(u64, Arc<dyn StateObserver>)>,
    /// The state observer `StateStorage::set_observer` set last.
    set_state: Option<u64>,
    next_id: u64,
}

#[cfg(not(loom))]
thread_local! {
    /// The spaces (their [`Commit`]s, by address) whose observers this thread is running,
    /// innermost last: an observer may write to any other space (whose observers may in turn
    /// write elsewhere), never to one it is inside of, whose commit lock is held.
    static IN_OBSERVER: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether this thread is running observers of the space `space` (its [`Commit::identity`]).
fn in_observer(space: usize) -> bool {
    #[cfg(not(loom))]
    return IN_OBSERVER.with(|spaces| spaces.borrow().contains(&space));
    #[cfg(loom)]
    return {
        let _ = space;
        false
    };
}

/// Marks the current thread as running observers of one space until dropped (also on unwind).
struct ObserverScope;

impl ObserverScope {
    fn enter(space: usize) -> Self {
        #[cfg(not(loom))]
        IN_OBSERVER.with(|spaces| spaces.borrow_mut().push(space));
        #[cfg(loom)]
        let _ = space;
        ObserverScope
    }
}

impl Drop for ObserverScope {
    fn drop(&mut self) {
        #[cfg(not(loom))]
        IN_OBSERVER.with(|spaces| {
            spaces.borrow_mut().pop();
        });
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
        // Everything up to the counter is published and durable (replay syncs what it read).
        let notifier = Arc::new(Notifier::starting_at(counter.get()));
        if let Some(wal) = wal.as_ref().filter(|_| durability == Durability::Buffered) {
            // A `Buffered` log's syncs make its published batches durable for subscribers.
            let told = Arc::clone(&notifier);
            wal.group()
                .on_synced(Arc::new(move |lsn| told.synced_to(lsn)));
        }
        Commit {
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

    /// The space's identity while it lives (its address: a `Commit` sits in an `Arc` and never
    /// moves), for the observers' re-entrancy check.
    fn identity(&self) -> usize {
        self as *const Commit as usize
    }

    /// Whether the space is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Closes the space: ends its subscriptions, waits for an automatic checkpoint, publishes
    /// what `Sync` writers queued, writes and syncs the close frame and drops the log (its
    /// files and the directory's lock). Reads go on from memory; writes, syncs and checkpoints
    /// are [`Error::Closed`] from now on. Closing twice is `Ok`.
    ///
    /// # Errors
    /// What the close frame's write or sync failed with ([`Error::Io`]), or
    /// [`Error::WritesRefused`] when the log had latched earlier; either way nothing
    /// acknowledged is lost, and the space is closed.
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
        let mut commit = Commit::new(memory, counter, None, Durability::Buffered);
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

    /// Writes the live state to a new segment and drops the old ones. The state is captured
    /// and the next active segment started under the commit lock (writes wait for that: a sync,
    /// each tree's pointer and batch count, a new segment); the snapshot is written, synced and
    /// renamed into place without it, while writes go on into the new segment. One checkpoint
    /// at a time: a second caller waits for the first. In a `Sync` space queued writes are
    /// synced and published first.
    pub(crate) fn checkpoint(&self) -> Result<Option<CheckpointStats>> {
        let _one = lock(&self.checkpointing);
        // An automatic checkpoint on the worker finishes first.
        self.wait_worker();
        let mut inner = lock(&self.inner);
        self.health.check()?;
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let Some(wal) = inner.wal.as_ref() else {
            return Ok(None);
        };
        let group = wal.group();
        if !inner.queued.is_empty() {
            let synced = group.sync_to(group.written());
            self.publish_queued(&mut inner, group.synced());
            synced?;
        }
        self.run_checkpoint(inner).map(Some)
    }

    /// Begins a checkpoint under the commit lock (`inner`), writes it without the lock, and
    /// accounts for it under the lock again. The caller holds [`Commit::checkpointing`].
    fn run_checkpoint(&self, mut inner: MutexGuard<'_, Inner>) -> Result<CheckpointStats> {
        crate::trace::info_span!("checkpoint");
        let Some(wal) = inner.wal.as_mut() else {
            return Err(Error::Internal(
                "a checkpoint of a space with no log".into(),
            ));
        };
        let job = wal.begin_checkpoint()?;
        let captured = self.memory.capture();
        drop(inner);
        let done = job.run(&|emit| captured.emit(emit));
        drop(captured);
        let mut inner = lock(&self.inner);
        match inner.wal.as_mut() {
            Some(wal) => wal.finish_checkpoint(done),
            None => Err(Error::Internal(
                "the log went away during a checkpoint".into(),
            )),
        }
    }

    /// Runs an automatic checkpoint now if one is due (at open: a log of many short segments).
    pub(crate) fn checkpoint_if_due(&self) {
        self.maybe_checkpoint(lock(&self.inner));
    }

    /// After a write: runs an automatic checkpoint when the log has grown enough (and no
    /// checkpoint is running), releasing the commit lock while it writes. A failure is not the
    /// write's failure (the write is logged already): a later write tries again, after a
    /// back-off (`Wal::auto_checkpoint_due`).
    fn maybe_checkpoint(&self, mut inner: MutexGuard<'_, Inner>) {
        let Some((factor, min_bytes)) = self.auto_checkpoint else {
            return;
        };
        if self.reap_worker(&mut inner) {
            // The worker still runs: no second checkpoint.
            return;
        }
        if !inner.queued.is_empty() {
            return;
        }
        let due = inner
            .wal
            .as_ref()
            .is_some_and(|wal| wal.auto_checkpoint_due(factor, min_bytes));
        if !due {
            return;
        }
        // Another checkpoint is running: this one is not needed.
        let Ok(_one) = self.checkpointing.try_lock() else {
            return;
        };
        if self.background {
            self.start_worker(&mut inner);
            return;
        }
        let result = self.run_checkpoint(inner);
        if let Some(wal) = lock(&self.inner).wal.as_mut() {
            // A failure is counted (`LogStats::auto_checkpoint_failures`) and retried later.
            wal.auto_checkpoint_done(&result);
        }
    }

    /// Begins an automatic checkpoint under the commit lock and hands its writing to a worker
    /// thread ([`Commit::reap_worker`] accounts for it later).
    fn start_worker(&self, inner: &mut MutexGuard<'_, Inner>) {
        let Some(wal) = inner.wal.as_mut() else {
            return;
        };
        let job = match wal.begin_checkpoint() {
            Ok(job) => job,
            Err(e) => return wal.auto_checkpoint_done(&Err(e)),
        };
        let captured = self.memory.capture();
        let spawned = std::thread::Builder::new()
            .name("spacestore-checkpoint".into())
            .spawn(move || {
                crate::trace::info_span!("checkpoint", automatic = true);
                job.run(&|emit| captured.emit(emit))
            });
        match spawned {
            Ok(handle) => *lock(&self.worker) = Some(handle),
            Err(source) => wal.auto_checkpoint_done(&Err(Error::Io {
                context: "starting the checkpoint worker",
                source,
            })),
        }
    }

    /// Accounts for the worker's checkpoint if it has finished; returns whether one still runs.
    /// Under the commit lock (`inner`).
    fn reap_worker(&self, inner: &mut MutexGuard<'_, Inner>) -> bool {
        let mut worker = lock(&self.worker);
        if worker.as_ref().is_some_and(|h| !h.is_finished()) {
            return true;
        }
        let Some(handle) = worker.take() else {
            return false;
        };
        drop(worker);
        self.account_worker(inner, join_worker(handle));
        false
    }

    /// Waits for the worker's checkpoint, if one runs (without the commit lock, so writes go
    /// on meanwhile), and accounts for it.
    fn wait_worker(&self) {
        let Some(handle) = lock(&self.worker).take() else {
            return;
        };
        let done = join_worker(handle);
        self.account_worker(&mut lock(&self.inner), done);
    }

    /// Accounts, under the commit lock, for what the worker's checkpoint did.
    fn account_worker(&self, inner: &mut MutexGuard<'_, Inner>, done: Result<CheckpointDone>) {
        if let Some(wal) = inner.wal.as_mut() {
            let result = wal.finish_checkpoint(done);
            // A failure is counted (`LogStats::auto_checkpoint_failures`) and retried later.
            wal.auto_checkpoint_done(&result);
        }
    }

    /// The space's state, for readers.
    pub(crate) fn memory(&self) -> &Memory {
        &self.memory
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
    pub(crate) fn fork(&self) -> Commit {
        let (captured, at) = self.capture();
        let memory = captured.to_memory(self.memory.changes.len());
        Commit::new(memory, AddSeqCounter::at(at), None, Durability::Buffered)
            .with_max_bytes(self.max_bytes)
            .with_clock(Arc::clone(&self.clock))
    }

    /// The space's wake-ups, for subscriptions.
    pub(crate) fn notifier(&self) -> Arc<Notifier> {
        Arc::clone(&self.notifier)
    }

    /// Executes a checked record (under the commit lock) and, for a batch, wakes subscribers
    /// once it is visible. `frame`: the end LSN of its frame when it is not known durable yet
    /// (`Buffered`), so that durable subscribers get it once a sync covers it.
    fn execute(
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

    pub(crate) fn counter(&self) -> &AddSeqCounter {
        &self.counter
    }

    /// Adds a head observer; returns the id that removes it ([`Commit::remove_observer`]).
    pub(crate) fn add_observer(&self, observer: Arc<dyn HeadObserver>) -> u64 {
        let mut observers = write(&self.observers);
        let id = observers.next_id;
        observers.next_id += 1;
        observers.list.push((id, observer));
        id
    }

    /// Adds a state observer; returns the id that removes it ([`Commit::remove_observer`]).
    /// `replace`: it takes the place of the one added with `replace` before, if that one is
    /// still there (Go's `SetObserver`, which holds one).
    pub(crate) fn add_state_observer(
        &self,
        observer: Arc<dyn StateObserver>,
        replace: bool,
    ) -> u64 {
        let mut observers = write(&self.observers);
        let id = observers.next_id;
        observers.next_id += 1;
        if replace {
            if let Some(old) = observers.set_state.replace(id) {
                observers.state.retain(|(i, _)| *i != old);
            }
        }
        observers.state.push((id, observer));
        id
    }

    /// Removes the head or state observer `id` (after a write that is telling it has finished).
    pub(crate) fn remove_observer(&self, id: u64) {
        let mut observers = write(&self.observers);
        observers.list.retain(|(i, _)| *i != id);
        observers.state.retain(|(i, _)| *i != id);
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

    /// Applies a checked record now, under the commit lock (`frame`: see [`Commit::execute`]).
    fn publish_now(
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
    fn publish_queued(&self, inner: &mut MutexGuard<'_, Inner>, synced: u64) {
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

    /// Why writes are refused, if they are (after a failure the log cannot vouch for).
    pub(crate) fn refused(&self) -> Option<Refusal> {
        self.health.refusal()
    }

    /// Whether a head or state observer is registered.
    pub(crate) fn has_observers(&self) -> bool {
        !read(&self.observers).list.is_empty()
    }

    /// Tells the observers what `applied` changed: head observers of each changed entry, state
    /// observers of a new hash.
    fn notify(&self, applied: &Applied) {
        let changed = &applied.changed;
        if !changed.is_empty() {
            let observers = taken(&read(&self.observers).list);
            let _scope = ObserverScope::enter(self.identity());
            for entry in changed {
                for o in &observers {
                    o.on_update(entry);
                }
            }
        }
        if let Some(hash) = &applied.hash_changed {
            let observers = taken(&read(&self.observers).state);
            let _scope = ObserverScope::enter(self.identity());
            for o in &observers {
                o.on_hash_change(hash);
            }
        }
    }
}

/// The root of a tree not created yet, as memory will store it (its creation's record encoded):
/// what a deferred storage's reads in place see before its first write.
pub(crate) fn unstored_root(new: NewTree) -> Option<Stored> {
    let record = Record::CreateTree(Box::new(new));
    let encoded = encode_payload(&record, payload_len(&record));
    Block::root(encoded.bytes, encoded.at.root?).stored().pop()
}

/// The observers of `list`, taken out of the observers' lock so that they run without it.
fn taken<T: ?Sized>(list: &[(u64, Arc<T>)]) -> Vec<Arc<T>> {
    list.iter().map(|(_, o)| Arc::clone(o)).collect()
}

/// The worker's outcome (a panic of the worker is an internal error, not a panic here).
fn join_worker(handle: std::thread::JoinHandle<Result<CheckpointDone>>) -> Result<CheckpointDone> {
    handle
        .join()
        .unwrap_or_else(|_| Err(Error::Internal("the checkpoint worker panicked".into())))
}

impl Drop for Commit {
    fn drop(&mut self) {
        // What `close` would report is lost here (there is no caller): `Space::close` reports
        // it. Nothing acknowledged is lost either way.
        if let Err(_e) = self.close() {
            crate::trace::warn_event!(error = %_e, "closing the space failed");
        }
    }
}
