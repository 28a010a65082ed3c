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

use std::time::Instant;

#[cfg(feature = "async")]
use std::collections::BTreeMap;
#[cfg(feature = "async")]
use std::task::{Poll, Waker};

use crate::sync::{lock, AtomicU64, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering};

/// How a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Woken {
    /// A batch above the seq waited for was published.
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
    /// Subscribers inside [`Notifier::wait`], plus the registered wakers (`async`).
    waiting: AtomicUsize,
    /// Whether the space is closed, and the registered wakers.
    state: Mutex<State>,
    woken: Condvar,
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
    /// A batch with AddSeq `seq` is published (visible to readers). Called by the commit path.
    pub(crate) fn published(&self, seq: u64) {
        self.latest.fetch_max(seq, Ordering::SeqCst);
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

    /// The space is closed: every waiter wakes, and no wait blocks any more.
    pub(crate) fn close(&self) {
        let mut state = lock(&self.state);
        state.closed = true;
        self.wake_all(state);
    }

    /// Blocks until a batch above `seen` is published, the space is closed, or `deadline`
    /// passes (`None`: no deadline).
    pub(crate) fn wait(&self, seen: u64, deadline: Option<Instant>) -> Woken {
        let mut state = lock(&self.state);
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let woken = loop {
            if self.latest.load(Ordering::SeqCst) > seen {
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

    /// Registers `waker` in `slot` to be woken when a batch above `seen` is published or the
    /// space is closed, then re-checks both: `Ready(Woken::Ready)` or `Ready(Woken::Closed)`
    /// when that already happened (the slot is then left empty), `Pending` when the waker is in
    /// place and will be woken. Never blocks beyond the notifier's lock.
    #[cfg(feature = "async")]
    pub(crate) fn register(&self, slot: &mut WakerSlot, seen: u64, waker: &Waker) -> Poll<Woken> {
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
        let woken = if self.latest.load(Ordering::SeqCst) > seen {
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
