//! [`Notifier`]: wakes the subscribers of a space that wait for a new batch, and tells them when
//! the space is closed.
//!
//! The commit path pays O(1) per batch whatever the number of subscribers: it raises a
//! watermark (the highest published seq) and, only when someone waits, takes the notifier's
//! lock once and wakes everyone. No wake-up is lost: a waiter announces itself (an increment of
//! `waiting`) before it reads the watermark; the commit path raises the watermark before it
//! reads `waiting` with a read-modify-write. Both are read-modify-writes of the same counter, so
//! one comes first in its modification order: if the writer's comes first, the waiter's
//! increment reads from it and sees the raised watermark; if the waiter's comes first, the
//! writer sees the waiter. A waiter that saw nothing new holds the lock until it sleeps on the
//! condition variable, and a writer that sees it waiting takes that lock (and releases it) before
//! it notifies.
//! (Model checked: `loom-tests`, models 9 and 10. A plain load of `waiting` would need a total
//! order over two variables, `SeqCst`, which loom does not model: it found the lost wake-up.)
//!
//! With the `async` feature, a subscription polled as a `Stream` waits the same way without a
//! thread: under the lock it registers its task's `Waker` in a slot of its own (a re-poll
//! replaces the slot's waker, it never piles up a second one), counts itself in `waiting` by
//! the same read-modify-write when the slot is new (a slot still held has been counted since
//! it was filled, and no one uncounts it without emptying it under the lock), and only then
//! re-reads the watermark (and the close flag): a batch published before that read is seen
//! there, one published after it finds `waiting > 0` and takes the lock, which it can only get
//! once the waker is in place.
//! A writer that sees someone waiting wakes the condition variable's sleepers and drains every
//! registered waker under the lock, uncounting them, then wakes them after releasing it; so a
//! waker is woken at most once, and a subscription that is polled again registers anew.
//! `close` drains and wakes them too. A slot stays counted only until the next publication or
//! close, or until its subscription is dropped (which removes it): `waiting` never leaks, and
//! the commit path stays O(1) when nobody waits. (Model checked: `loom-tests`, model 12.)
//!
//! **The durable watermark.** Besides the published seq, the notifier keeps the highest seq up
//! to which every published batch is durable ([`Notifier::durable`]), which durable
//! subscriptions (the default, see `feed.rs`) follow instead. Without a log and in `Sync`
//! spaces a batch is durable when it is published ([`Notifier::published`] with no frame). In
//! `Buffered` spaces the commit path hands over each published batch with the LSN at the end of
//! its frame ([`Notifier::published`] with a frame) and the log's sync path reports every LSN
//! it made durable ([`Notifier::synced_to`]); both meet under one lock (`unsynced`): a batch
//! whose frame is already covered raises the watermark at once, the others wait in a queue
//! for the sync that covers them. Frames are appended in seq order under the commit lock, so
//! a sync that covers a batch's frame covers every earlier batch's: the watermark never
//! passes a batch that is not synced, and it never passes one that is not published (a batch
//! enters the queue only once it is in the index). A raise of the durable watermark wakes
//! waiters exactly as a publication does (the same `waiting` read-modify-write, the same lock).
//! (Model checked: `loom-tests`, model 13.)

use std::collections::VecDeque;
use std::time::Instant;

#[cfg(feature = "async")]
use std::collections::BTreeMap;
#[cfg(feature = "async")]
use std::task::{Poll, Waker};

use crate::sync::{lock, AtomicU64, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering};

/// Which watermark a subscription follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Watermark {
    /// Every published batch (visible to readers), synced or not.
    Published,
    /// Only batches that are durable: synced, or in a space that syncs before it publishes.
    Durable,
}

/// How many unsynced batches the `unsynced` queue keeps apart; past that it keeps every other
/// one (a batch whose entry is dropped becomes durable for subscribers with the next one kept:
/// later, never earlier), so that a `Buffered` space that is never synced costs bounded memory.
const UNSYNCED_MAX: usize = 1024;

/// How a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Woken {
    /// The watermark waited on passed the seq waited for.
    Ready,
    /// The space was closed.
    Closed,
    /// The deadline passed.
    TimedOut,
}

/// The wake-ups of one space.
#[derive(Default)]
pub(crate) struct Notifier {
    /// The highest seq of a published batch.
    latest: AtomicU64,
    /// Every published batch at or below this seq is durable.
    durable: AtomicU64,
    /// `Buffered` spaces: the published batches not known durable yet, and the LSN the log
    /// last reported synced.
    unsynced: Mutex<Unsynced>,
    /// Subscribers inside [`Notifier::wait`], plus the registered wakers (`async`).
    waiting: AtomicUsize,
    /// Whether the space is closed, and the registered wakers.
    state: Mutex<State>,
    woken: Condvar,
}

/// The published batches of a `Buffered` space whose frames are not known synced.
#[derive(Default)]
struct Unsynced {
    /// Every frame ending at or below this LSN is durable (as the log last reported).
    synced: u64,
    /// `(end LSN of its frame, seq)` of published batches above `synced`, in seq order (and so
    /// in LSN order).
    batches: VecDeque<(u64, u64)>,
}

/// What the notifier's lock protects.
#[derive(Default)]
struct State {
    /// Whether the space is closed.
    closed: bool,
    /// The wakers of the subscriptions waiting as streams.
    #[cfg(feature = "async")]
    wakers: Wakers,
}

/// The registered wakers, one slot per waiting subscription (its key), each counted in
/// `waiting` while it is in the map.
#[cfg(feature = "async")]
#[derive(Default)]
struct Wakers {
    /// By slot key. A `BTreeMap`: deterministic order (loom), and taking it whole is O(1).
    by_key: BTreeMap<u64, Waker>,
    /// The next slot key to hand out.
    next_key: u64,
}

/// A subscription's waker slot in its [`Notifier`]: assigned at its first registration, and
/// kept for its life, so that a re-poll replaces its waker rather than adding one.
#[cfg(feature = "async")]
#[derive(Debug, Default)]
pub(crate) struct WakerSlot(Option<u64>);

#[cfg(feature = "async")]
impl WakerSlot {
    /// Whether it was ever registered (so may still hold a waker).
    pub(crate) fn is_assigned(&self) -> bool {
        self.0.is_some()
    }
}

impl Notifier {
    /// A notifier for a space whose batches up to `seq` are all published and durable (what an
    /// open replayed: the replayed segments are synced before the space is handed out).
    pub(crate) fn starting_at(seq: u64) -> Notifier {
        let notifier = Notifier::default();
        notifier.latest.store(seq, Ordering::SeqCst);
        notifier.durable.store(seq, Ordering::SeqCst);
        notifier
    }

    /// A batch with AddSeq `seq` is published (visible to readers). Called by the commit path,
    /// in seq order. `frame`: the LSN at the end of its frame in a `Buffered` log, whose sync
    /// [`Notifier::synced_to`] will report; `None` when it is durable already (`Sync`) or will
    /// never be (no log).
    pub(crate) fn published(&self, seq: u64, frame: Option<u64>) {
        self.latest.fetch_max(seq, Ordering::SeqCst);
        let durable = match frame {
            None => Some(seq),
            Some(lsn) => {
                let mut unsynced = lock(&self.unsynced);
                if lsn <= unsynced.synced {
                    Some(seq)
                } else {
                    if unsynced.batches.len() >= UNSYNCED_MAX {
                        let mut kept = 0usize;
                        unsynced.batches.retain(|_| {
                            kept += 1;
                            kept.is_multiple_of(2)
                        });
                    }
                    unsynced.batches.push_back((lsn, seq));
                    None
                }
            }
        };
        if let Some(seq) = durable {
            self.durable.fetch_max(seq, Ordering::SeqCst);
        }
        self.wake_waiters();
    }

    /// The log made every frame ending at or below `lsn` durable: the batches they hold become
    /// durable for subscribers. Called by the log's sync path (after the fsync returned).
    pub(crate) fn synced_to(&self, lsn: u64) {
        let mut durable = None;
        {
            let mut unsynced = lock(&self.unsynced);
            unsynced.synced = unsynced.synced.max(lsn);
            while let Some(&(end, seq)) = unsynced.batches.front() {
                if end > lsn {
                    break;
                }
                durable = Some(seq);
                unsynced.batches.pop_front();
            }
        }
        if let Some(seq) = durable {
            self.durable.fetch_max(seq, Ordering::SeqCst);
            self.wake_waiters();
        }
    }

    /// Wakes every waiter if there is one (after a watermark was raised).
    fn wake_waiters(&self) {
        // A read-modify-write, not a load (see the module docs).
        if self.waiting.fetch_add(0, Ordering::SeqCst) > 0 {
            self.wake_all(lock(&self.state));
        }
    }

    /// Takes every registered waker under `state`'s lock (uncounting them, `async`), releases
    /// the lock, then wakes the condition variable's sleepers and the wakers. Every waiter
    /// checked the watermark and the close flag under that lock, so each is now asleep (and
    /// woken here) or will see what changed; notifying after the release spares a woken
    /// sleeper from blocking at once on a lock still held (a second context switch per wake).
    fn wake_all(&self, state: MutexGuard<'_, State>) {
        #[cfg(feature = "async")]
        let wakers = {
            let mut state = state;
            let wakers = std::mem::take(&mut state.wakers.by_key);
            if !wakers.is_empty() {
                self.waiting.fetch_sub(wakers.len(), Ordering::SeqCst);
            }
            wakers
        };
        #[cfg(not(feature = "async"))]
        drop(state);
        self.woken.notify_all();
        #[cfg(feature = "async")]
        for waker in wakers.into_values() {
            waker.wake();
        }
    }

    /// The highest seq of a published batch.
    pub(crate) fn latest(&self) -> u64 {
        self.latest.load(Ordering::SeqCst)
    }

    /// The seq up to which every published batch is durable.
    pub(crate) fn durable(&self) -> u64 {
        self.durable.load(Ordering::SeqCst)
    }

    /// The watermark `which`: every batch at or below it that will ever be visible (to that
    /// kind of subscription) is in the index already.
    pub(crate) fn mark(&self, which: Watermark) -> u64 {
        match which {
            Watermark::Published => self.latest(),
            Watermark::Durable => self.durable(),
        }
    }

    /// The space is closed: every waiter wakes, and no wait blocks any more.
    pub(crate) fn close(&self) {
        let mut state = lock(&self.state);
        state.closed = true;
        self.wake_all(state);
    }

    /// Blocks until watermark `which` passes `seen`, the space is closed, or `deadline` passes
    /// (`None`: no deadline).
    pub(crate) fn wait(&self, which: Watermark, seen: u64, deadline: Option<Instant>) -> Woken {
        let mut state = lock(&self.state);
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let woken = loop {
            if self.mark(which) > seen {
                break Woken::Ready;
            }
            if state.closed {
                break Woken::Closed;
            }
            state = match deadline {
                None => self.woken.wait(state).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break Woken::TimedOut;
                    }
                    match self.woken.wait_timeout(state, deadline - now) {
                        Ok((guard, _)) => guard,
                        Err(e) => e.into_inner().0,
                    }
                }
            };
        };
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        woken
    }

    /// Registers `waker` in `slot` to be woken when watermark `which` passes `seen` or the
    /// space is closed, then re-checks both: `Ready(Woken::Ready)` or `Ready(Woken::Closed)`
    /// when that already happened (the slot is then left empty), `Pending` when the waker is in
    /// place and will be woken. Never blocks beyond the notifier's lock.
    #[cfg(feature = "async")]
    pub(crate) fn register(
        &self,
        slot: &mut WakerSlot,
        which: Watermark,
        seen: u64,
        waker: &Waker,
    ) -> Poll<Woken> {
        let mut state = lock(&self.state);
        let wakers = &mut state.wakers;
        let key = *slot.0.get_or_insert_with(|| {
            let key = wakers.next_key;
            wakers.next_key += 1;
            key
        });
        // Announce (a new slot is counted by the same read-modify-write as a blocking waiter),
        // then re-check: see the module docs.
        match wakers.by_key.entry(key) {
            std::collections::btree_map::Entry::Occupied(mut held) => {
                if !held.get().will_wake(waker) {
                    held.insert(waker.clone());
                }
            }
            std::collections::btree_map::Entry::Vacant(free) => {
                free.insert(waker.clone());
                self.waiting.fetch_add(1, Ordering::SeqCst);
            }
        }
        let woken = if self.mark(which) > seen {
            Woken::Ready
        } else if state.closed {
            Woken::Closed
        } else {
            return Poll::Pending;
        };
        self.remove(&mut state, key);
        Poll::Ready(woken)
    }

    /// Removes `slot`'s waker if it is still registered (a subscription being dropped).
    #[cfg(feature = "async")]
    pub(crate) fn deregister(&self, slot: &WakerSlot) {
        if let Some(key) = slot.0 {
            self.remove(&mut lock(&self.state), key);
        }
    }

    /// Removes and uncounts the waker of slot `key`, if there is one.
    #[cfg(feature = "async")]
    fn remove(&self, state: &mut State, key: u64) {
        if state.wakers.by_key.remove(&key).is_some() {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Batch `seq` (1, 2, ...) of a `Buffered` log ends at LSN `100 * seq`.
    fn lsn(seq: u64) -> u64 {
        100 * seq
    }

    #[test]
    fn the_durable_mark_never_passes_an_unsynced_batch_past_the_queues_bound() {
        let notifier = Notifier::default();
        let n = 3 * UNSYNCED_MAX as u64;
        for seq in 1..=n {
            notifier.published(seq, Some(lsn(seq)));
        }
        assert_eq!(notifier.durable(), 0);
        for synced in [1, 2, 700, 1500, n - 1] {
            notifier.synced_to(lsn(synced) + 50);
            assert!(
                notifier.durable() <= synced,
                "past the synced batch {synced}"
            );
        }
        notifier.synced_to(lsn(n));
        assert_eq!(notifier.durable(), n);
    }
}
