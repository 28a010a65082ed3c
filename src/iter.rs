//! The read iterators: [`Changes`] (a tree's changes, over a [`Snapshot`] taken when it was
//! made), [`HeadEntries`] (head entries, the same) and [`FeedChanges`] (the space's changes in AddSeq
//! order, walked lazily a chunk of batches at a time, each under a short hold of the index's
//! read lock).

use std::iter::FusedIterator;
use std::ops::ControlFlow;
use std::sync::Arc;

use crate::memory::Block;
use crate::space_core::SpaceCore;
use crate::{ChangeView, HeadEntry, Result, StorageChange};

/// Calls `f` with each of `items` until it returns `Break` or an error (which is returned): the
/// Go-shaped callback methods, over the iterators. The callback's error type is the crate's
/// [`crate::Error`], so that it infers (DESIGN.md, "The API as a Rust user meets it").
pub(crate) fn visit<T>(
    items: impl IntoIterator<Item = T>,
    mut f: impl FnMut(&T) -> Result<ControlFlow<()>>,
) -> Result<()> {
    for item in items {
        if f(&item)?.is_break() {
            break;
        }
    }
    Ok(())
}

/// Values read under a lock when the iterator was made, yielded from then on without one: a
/// tree's changes ([`Changes`]) or head entries ([`HeadEntries`]).
#[derive(Debug)]
pub struct Snapshot<T> {
    inner: std::vec::IntoIter<T>,
}

/// A tree's changes, in order-id order ([`crate::TreeStorage::changes_after_order`],
/// [`crate::TreeStorage::changes_after_add_seq`]): what the tree held when the iterator was
/// made (taken under the tree's lock, at the cost of reading the changes it yields).
pub type Changes = Snapshot<StorageChange>;

/// A tree's changes read in place ([`crate::TreeStorage::views_after_order`]), in order-id
/// order: where they lay when the iterator was made (taken under the tree's lock, at the cost
/// of a reference count per change; each [`ChangeView`] is read when it is yielded).
pub type ChangeViews = Snapshot<ChangeView>;

/// The ACL list's records ([`crate::AclStorage::records_after_order`],
/// [`crate::AclStorage::records_before_order`]), by ascending order: what the list held when the
/// iterator was made.
pub type AclRecords = Snapshot<crate::AclRecord>;

/// Head entries ([`crate::HeadStorage::entries`]), in the order [`crate::IterOptions`] says:
/// what the head storage held when the iterator was made.
pub type HeadEntries = Snapshot<HeadEntry>;

impl<T> Snapshot<T> {
    pub(crate) fn new(values: Vec<T>) -> Self {
        Snapshot {
            inner: values.into_iter(),
        }
    }
}

impl<T> Iterator for Snapshot<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.inner.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<T> DoubleEndedIterator for Snapshot<T> {
    fn next_back(&mut self) -> Option<T> {
        self.inner.next_back()
    }
}

impl<T> ExactSizeIterator for Snapshot<T> {}
impl<T> FusedIterator for Snapshot<T> {}

/// Batches read from the AddSeq index per hold of its read lock.
const CHUNK: usize = 64;

/// The space's changes with AddSeq above a cursor, in AddSeq order, a batch's changes in the
/// order given, as owned [`StorageChange`]s ([`crate::Space::changes_after`]); see [`Feed`].
pub type FeedChanges = Feed<StorageChange>;

/// The same, read in place ([`crate::Space::views_after`]): a [`ChangeView`] per change, no
/// allocation per change.
pub type FeedViews = Feed<ChangeView>;

/// The space's changes with AddSeq above a cursor, in AddSeq order, a batch's changes in the
/// order given ([`FeedChanges`], [`FeedViews`]). Lazy: it reads the index 64 batches at a time
/// (pointers, copied under a short read lock), and the changes of a batch when it reaches it.
/// It ends when the index holds nothing above the last batch it yielded: batches published
/// while it runs are yielded too, in order, none skipped (the feed's promise); one that has
/// ended yields the batches published after that when asked again. It holds the space open
/// while it lives, as a [`crate::TreeStorage`] does.
pub struct Feed<T> {
    core: Arc<SpaceCore>,
    /// The AddSeq of the last batch read from the index.
    after: u64,
    /// Batches read from the index, not yet turned into changes.
    blocks: std::vec::IntoIter<Arc<Block>>,
    /// The current batch's changes, not yet yielded.
    changes: std::vec::IntoIter<T>,
    /// A batch's changes, as the feed yields them.
    read: fn(&Arc<Block>) -> Vec<T>,
}

impl FeedChanges {
    pub(crate) fn new(core: Arc<SpaceCore>, after: u64) -> Self {
        Feed::reading(core, after, |block| block.changes())
    }
}

impl FeedViews {
    pub(crate) fn new(core: Arc<SpaceCore>, after: u64) -> Self {
        Feed::reading(core, after, |block| {
            block.stored().into_iter().map(ChangeView::new).collect()
        })
    }
}

impl<T> Feed<T> {
    fn reading(core: Arc<SpaceCore>, after: u64, read: fn(&Arc<Block>) -> Vec<T>) -> Self {
        Feed {
            core,
            after,
            blocks: Vec::new().into_iter(),
            changes: Vec::new().into_iter(),
            read,
        }
    }

    /// Reads the next chunk of batches from the index; false when there is none.
    fn refill(&mut self) -> bool {
        let mut chunk: Vec<Arc<Block>> = Vec::with_capacity(CHUNK);
        self.core
            .memory()
            .index
            .visit(self.after, u64::MAX, CHUNK, |_, block| {
                chunk.push(Arc::clone(block));
                true
            });
        let Some(last) = chunk.last().map(|b| b.seq()) else {
            return false;
        };
        self.after = last;
        self.blocks = chunk.into_iter();
        true
    }
}

impl<T> Iterator for Feed<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        loop {
            if let Some(change) = self.changes.next() {
                return Some(change);
            }
            match self.blocks.next() {
                Some(block) => self.changes = (self.read)(&block).into_iter(),
                None if self.refill() => {}
                None => return None,
            }
        }
    }
}

impl<T> std::fmt::Debug for Feed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("after", &self.after)
            .finish_non_exhaustive()
    }
}
