//! [`AddSeqCounter`]: the space-global, monotonically growing AddSeq counter.

use std::sync::Arc;

use crate::sync::{AtomicU64, Ordering};

/// The AddSeq counter of a space, shared by every tree storage of that space.
///
/// Every `add_all` / `add_all_no_error` batch takes one new value with [`AddSeqCounter::next`].
/// Clones share the value. A validation storage gets a [`AddSeqCounter::detached`] one, which
/// starts at zero and never moves the space's.
///
/// ```
/// use spacestore::AddSeqCounter;
/// let space_counter = AddSeqCounter::new();
/// let shared = space_counter.clone();
/// assert_eq!(shared.next(), Some(1));
/// assert_eq!(space_counter.get(), 1);
/// let detached = AddSeqCounter::detached();
/// assert_eq!(detached.next(), Some(1));
/// assert_eq!(space_counter.get(), 1);
/// ```
#[derive(Clone, Debug, Default)]
pub struct AddSeqCounter(Arc<AtomicU64>);

impl AddSeqCounter {
    /// A new counter at zero.
    pub fn new() -> Self {
        AddSeqCounter(Arc::new(AtomicU64::new(0)))
    }

    /// A zero-started counter shared with nothing (Go's "noop" counter for validation storages
    /// and tree migrations).
    pub fn detached() -> Self {
        Self::new()
    }

    /// The counter's value: every value at or below it may have been handed out, and
    /// [`AddSeqCounter::next`] returns one above it (0 when none was). A space restarted after
    /// a crash sets it to its log's reservation, above the last seq a batch holds (see
    /// [`crate::Space::add_seq`] and [`crate::Space::last_add_seq`]).
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Takes the next value: one more than the last one handed out; `None` once `u64::MAX`
    /// was handed out (the counter never wraps, so a value is never handed out twice).
    // Not `Iterator::next`: the counter is shared and never ends by itself.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&self) -> Option<u64> {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_add(1))
            .ok()
            .map(|v| v + 1)
    }

    /// A new counter at `value` (a space restarted, forked or imported continues from it).
    pub(crate) fn at(value: u64) -> Self {
        AddSeqCounter(Arc::new(AtomicU64::new(value)))
    }

    /// Moves the counter up to at least `value` (never down); used by replay.
    pub(crate) fn advance_to(&self, value: u64) {
        self.0.fetch_max(value, Ordering::SeqCst);
    }
}
