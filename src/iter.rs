//! The read iterators, one per range: [`ChangeViews`] (a tree's changes, read in place, each
//! when it is yielded, over the range taken when the iterator was made), [`HeadEntries`] and
//! [`AclRecords`] (each a range [`Collected`] when it was made) and [`FeedViews`] (the space's
//! changes in AddSeq order, read in place, walked lazily a chunk of batches at a time, each
//! under a short hold of the index's read lock).

use std::iter::FusedIterator;
use std::sync::Arc;

use crate::memory::{Block, Stored};
use crate::space_core::SpaceCore;
use crate::{ChangeView, HeadEntry};

/// A range collected under a lock when the iterator was made, yielded from then on without
/// one: head entries ([`HeadEntries`]) or ACL records ([`AclRecords`]). (Named for what it is: the values of a range, collected; not one of
/// any-sync's snapshots, nor the state a checkpoint captures.)
#[derive(Debug)]
pub struct Collected<T> {
    inner: std::vec::IntoIter<T>,
}

/// A tree's changes read in place ([`crate::TreeStorage::changes_after_order`],
/// [`crate::TreeStorage::changes_after_add_seq`]), in order-id order: where they lay when the
/// iterator was made (taken under the tree's lock, at the cost of a reference count per change;
/// each [`ChangeView`] is read when it is yielded, so a loop that stops early reads no more).
pub struct ChangeViews {
    stored: std::vec::IntoIter<Stored>,
}

impl ChangeViews {
    pub(crate) fn new(stored: Vec<Stored>) -> Self {
        ChangeViews {
            stored: stored.into_iter(),
        }
    }
}

impl Iterator for ChangeViews {
    type Item = ChangeView;
    fn next(&mut self) -> Option<ChangeView> {
        self.stored.next().map(ChangeView::new)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.stored.size_hint()
    }
}

impl DoubleEndedIterator for ChangeViews {
    fn next_back(&mut self) -> Option<ChangeView> {
        self.stored.next_back().map(ChangeView::new)
    }
}

impl ExactSizeIterator for ChangeViews {}
impl FusedIterator for ChangeViews {}

impl std::fmt::Debug for ChangeViews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeViews")
            .field("left", &self.stored.len())
            .finish_non_exhaustive()
    }
}

/// The ACL list's records ([`crate::AclStorage::records_after_order`],
/// [`crate::AclStorage::records_before_order`]), by ascending order: what the list held when the
/// iterator was made.
pub type AclRecords = Collected<crate::AclRecord>;

/// Head entries ([`crate::HeadStorage::entries`], [`crate::HeadStorage::entries_by_parent_id`]),
/// as stored: each an [`Arc`] of the entry the head storage holds (it derefs to the
/// [`HeadEntry`]), so none is copied; what the head storage held when the iterator was made (a
/// later write changes a copy of an entry a reader still holds).
pub type HeadEntries = Collected<Arc<HeadEntry>>;

impl<T> Collected<T> {
    pub(crate) fn new(values: Vec<T>) -> Self {
        Collected {
            inner: values.into_iter(),
        }
    }
}

impl<T> Iterator for Collected<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.inner.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<T> DoubleEndedIterator for Collected<T> {
    fn next_back(&mut self) -> Option<T> {
        self.inner.next_back()
    }
}

impl<T> ExactSizeIterator for Collected<T> {}
impl<T> FusedIterator for Collected<T> {}

/// Batches read from the AddSeq index per hold of its read lock.
const CHUNK: usize = 64;

/// The space's changes with AddSeq above a cursor, in AddSeq order, a batch's changes in the
/// order given, read in place: a [`ChangeView`] per change, no allocation per change
/// ([`crate::Space::changes_after_add_seq`]). Lazy: it reads the index 64 batches at a time
/// (pointers, copied under a short read lock), and the changes of a batch when it reaches it.
/// It ends when the index holds nothing above the last batch it yielded: batches published
/// while it runs are yielded too, in order, none skipped (the feed's promise); one that has
/// ended yields the batches published after that when asked again. It holds the space open
/// while it lives, as a [`crate::TreeStorage`] does.
pub struct FeedViews {
    core: Arc<SpaceCore>,
    /// The AddSeq of the last batch read from the index.
    after: u64,
    /// Batches read from the index, not yet turned into changes.
    blocks: std::vec::IntoIter<Arc<Block>>,
    /// The current batch's changes, not yet yielded (each read in place when it is).
    changes: ChangeViews,
}

impl FeedViews {
    pub(crate) fn new(core: Arc<SpaceCore>, after: u64) -> Self {
        FeedViews {
            core,
            after,
            blocks: Vec::new().into_iter(),
            changes: ChangeViews::new(Vec::new()),
        }
    }

    /// Reads the next chunk of batches from the index; false when there is none.
    fn refill(&mut self) -> bool {
        let chunk = self.core.blocks_after(self.after, CHUNK);
        let Some(last) = chunk.last().map(|b| b.seq()) else {
            return false;
        };
        self.after = last;
        self.blocks = chunk.into_iter();
        true
    }
}

impl Iterator for FeedViews {
    type Item = ChangeView;
    fn next(&mut self) -> Option<ChangeView> {
        loop {
            if let Some(change) = self.changes.next() {
                return Some(change);
            }
            match self.blocks.next() {
                Some(block) => self.changes = ChangeViews::new(block.stored()),
                None if self.refill() => {}
                None => return None,
            }
        }
    }
}

impl std::fmt::Debug for FeedViews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedViews")
            .field("after", &self.after)
            .finish_non_exhaustive()
    }
}
