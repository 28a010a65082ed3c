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
//! condition variable, and a writer that sees it waiting takes that lock before it notifies.
//! (Model checked: `loom-tests`, models 9 and 10. A plain load of `waiting` would need a total
//! order over two variables, `SeqCst`, which loom does not model: it found the lost wake-up.)

use std::time::Instant;

use crate::sync::{lock, AtomicU64, AtomicUsize, Condvar, Mutex, Ordering};

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
    /// Subscribers inside [`Notifier::wait`].
    waiting: AtomicUsize,
    /// Whether the space is closed.
    closed: Mutex<bool>,
    woken: Condvar,
}

impl Notifier {
    /// A batch with AddSeq `seq` is published (visible to readers). Called by the commit path.
    pub(crate) fn published(&self, seq: u64) {
        self.latest.fetch_max(seq, Ordering::SeqCst);
        // A read-modify-write, not a load (see the module docs).
        if self.waiting.fetch_add(0, Ordering::SeqCst) > 0 {
            let _closed = lock(&self.closed);
            self.woken.notify_all();
        }
    }

    /// The highest seq of a published batch.
    pub(crate) fn latest(&self) -> u64 {
        self.latest.load(Ordering::SeqCst)
    }

    /// The space is closed: every waiter wakes, and no wait blocks any more.
    pub(crate) fn close(&self) {
        *lock(&self.closed) = true;
        self.woken.notify_all();
    }

    /// Blocks until a batch above `seen` is published, the space is closed, or `deadline`
    /// passes (`None`: no deadline).
    pub(crate) fn wait(&self, seen: u64, deadline: Option<Instant>) -> Woken {
        let mut closed = lock(&self.closed);
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let woken = loop {
            if self.latest.load(Ordering::SeqCst) > seen {
                break Woken::Ready;
            }
            if *closed {
                break Woken::Closed;
            }
            closed = match deadline {
                None => self.woken.wait(closed).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break Woken::TimedOut;
                    }
                    match self.woken.wait_timeout(closed, deadline - now) {
                        Ok((guard, _)) => guard,
                        Err(e) => e.into_inner().0,
                    }
                }
            };
        };
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        woken
    }
}
