//! The change feed's [`Subscription`], which delivers every batch after a cursor, in AddSeq
//! order, each once: first the backlog from the store, then the live ones as they are
//! published, with no seam (both are reads of the same AddSeq index, through
//! `SpaceCore::batches_after`, so the cursor-safety argument of DESIGN.md covers them).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

#[cfg(feature = "async")]
use crate::notify::WakerSlot;
use crate::notify::{Notifier, Watermark, Woken};
use crate::space_core::SpaceCore;
use crate::{Batch, Error, Id, Result};

/// How many batches a subscription reads from the store at a time.
const READ_AHEAD: usize = 16;

/// Every batch of a space with AddSeq above a cursor, in AddSeq order, each once, never a gap:
/// the backlog first, then live batches as they are published ([`crate::Space::subscribe`]).
///
/// It reads from the store (a small read-ahead of at most 16 batches), so an idle or slow
/// subscriber costs no memory, and the commit path pays the same for any number of them. It
/// holds its space weakly: it never keeps a space open (or its directory locked), and it ends
/// when the last handle of the space is dropped.
///
/// It blocks a thread ([`Iterator`], [`Subscription::next_timeout`]) or, with the crate's
/// `async` feature, is a `futures_core::Stream` of batches for any executor (see its `Stream`
/// impl; it is `Unpin`).
///
/// # Only durable batches, unless asked otherwise
///
/// A subscription delivers a batch only once it is **durable**, so that a consumer never acts
/// on a batch that a power loss then takes back (in a `Buffered` space such a batch is gone
/// after the restart, its seq never reused, while the consumer has indexed it, forwarded it
/// or acknowledged it). When that is:
///
/// | space | a batch is delivered |
/// | --- | --- |
/// | in memory ([`crate::Space::in_memory`]) | when it is published (there is no log: nothing is ever durable, and nothing is waited for) |
/// | [`crate::Durability::Sync`] | when it is published: a `Sync` batch is visible only once its frame is synced |
/// | [`crate::Durability::Buffered`] | once a sync of the log covers it: [`crate::Space::sync`], a background sync ([`crate::Options::bytes_per_sync`]), a checkpoint, a segment roll, a seq reservation, the close |
///
/// So in a `Buffered` space a durable subscriber waits for the next sync: with no syncs a
/// batch waits until one comes (a space writing little may not reach `bytes_per_sync` for a
/// long time). Sync the space where the consumer must see its writes
/// ([`crate::Space::sync`] after a group of writes), or use `Sync`.
/// [`Subscription::including_unsynced`] follows every published batch instead (the feed as
/// readers see it; a `Buffered` power loss may take back what it delivered).
///
/// ```
/// use std::time::Duration;
/// use spacestore::{Space, StorageChange, TreeRoot};
/// let space = Space::in_memory();
/// let tree = space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
/// tree.add_all(vec![StorageChange::new("c1", "1", b"x".to_vec())], ["c1"], "t")?;
/// let mut feed = space.subscribe(0);
/// let writer = std::thread::spawn(move || {
///     tree.add_all(vec![StorageChange::new("c2", "2", b"y".to_vec())], ["c2"], "t")
/// });
/// assert_eq!(feed.next_timeout(Duration::from_secs(60))?.unwrap().add_seq, 1); // the backlog
/// assert_eq!(feed.next_timeout(Duration::from_secs(60))?.unwrap().add_seq, 2); // live
/// assert_eq!(feed.position(), 2);
/// writer.join().unwrap()?;
/// # Ok::<(), spacestore::Error>(())
/// ```
pub struct Subscription {
    core: Weak<SpaceCore>,
    notifier: Arc<Notifier>,
    /// Which batches it delivers: the durable ones (the default) or every published one.
    follows: Watermark,
    /// The last seq delivered or passed over.
    position: u64,
    /// Nothing visible lies between `position` and this published seq.
    seen: u64,
    ahead: VecDeque<Batch>,
    /// The last seq the read that filled `ahead` looked at (passed-over batches after the
    /// last one delivered): the position once `ahead` is delivered.
    read_to: u64,
    trees: Option<HashSet<Id>>,
    /// Its waker's slot in the notifier, when polled as a stream.
    #[cfg(feature = "async")]
    slot: WakerSlot,
}

impl Subscription {
    pub(crate) fn new(core: &Arc<SpaceCore>, after: u64, trees: Option<HashSet<Id>>) -> Self {
        Subscription {
            core: Arc::downgrade(core),
            notifier: core.notifier(),
            follows: Watermark::Durable,
            position: after,
            seen: after,
            ahead: VecDeque::new(),
            read_to: after,
            trees,
            #[cfg(feature = "async")]
            slot: WakerSlot::default(),
        }
    }

    /// The last AddSeq delivered (or, with a tree filter, passed over): a new subscription
    /// from here misses nothing and repeats nothing.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// This subscription, delivering every batch as soon as it is published (visible to
    /// readers), before the log is synced: in a `Buffered` space a power loss may then take
    /// back a batch it delivered (the restarted space never has it, and never reuses its seq).
    /// The same as the default in memory and in `Sync` spaces. For consumers whose work a
    /// power loss may undo with the store (a cache of the space's own process, a live view),
    /// which want the batch without waiting for a sync. See "Only durable batches" above.
    ///
    /// ```
    /// use spacestore::{Options, Space, StorageChange, TreeRoot};
    /// let dir = tempfile::tempdir()?;
    /// let space = Space::create(dir.path(), Options::default())?; // Buffered
    /// let tree = space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
    /// tree.add_all(vec![StorageChange::new("c1", "1", b"x".to_vec())], ["c1"], "t")?;
    /// let mut durable = space.subscribe(0);
    /// let mut eager = space.subscribe(0).including_unsynced();
    /// assert!(durable.try_next().is_none(), "not synced yet");
    /// assert_eq!(eager.try_next().unwrap().add_seq, 1);
    /// space.sync()?;
    /// assert_eq!(durable.try_next().unwrap().add_seq, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn including_unsynced(mut self) -> Self {
        self.follows = Watermark::Published;
        self
    }

    /// Whether it delivers only durable batches (the default; `false` after
    /// [`Subscription::including_unsynced`]).
    pub fn durable_only(&self) -> bool {
        self.follows == Watermark::Durable
    }

    /// The next batch if one is there now, without waiting; `None` when there is none yet
    /// (for a durable subscription: none durable yet) or the space is closed.
    pub fn try_next(&mut self) -> Option<Batch> {
        self.poll().ok().flatten()
    }

    /// The next batch, waiting up to `timeout` for one to be published (for a durable
    /// subscription: to become durable): `Ok(None)` when none came in time.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the space is closed (its last handle dropped).
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<Batch>> {
        self.next_until(Instant::now().checked_add(timeout))
    }

    /// Waits until `deadline` (`None`: for ever).
    fn next_until(&mut self, deadline: Option<Instant>) -> Result<Option<Batch>> {
        loop {
            if let Some(batch) = self.poll()? {
                return Ok(Some(batch));
            }
            match self.notifier.wait(self.follows, self.seen, deadline) {
                Woken::Ready => {}
                Woken::Closed => return Err(Error::Closed),
                Woken::TimedOut => return Ok(None),
            }
        }
    }

    /// The next batch from the read-ahead or the store, `Ok(None)` when nothing is there now.
    fn poll(&mut self) -> Result<Option<Batch>> {
        if self.ahead.is_empty() {
            let Some(core) = self.core.upgrade() else {
                return Err(Error::Closed);
            };
            // Read before the store: every batch up to it is visible (and, for the durable
            // mark, durable), a gap, or deleted.
            let latest = self.notifier.mark(self.follows);
            // A durable subscription reads no further than the durable mark: a batch above it
            // may be visible but not synced.
            let to = match self.follows {
                Watermark::Durable => latest,
                Watermark::Published => u64::MAX,
            };
            let (batches, last) =
                core.batches_after(self.position, to, READ_AHEAD, self.trees.as_ref());
            drop(core);
            if batches.is_empty() {
                // Passed over (other trees, deleted ones) or nothing new.
                self.position = self.position.max(last);
                self.seen = self.seen.max(latest).max(self.position);
                return Ok(None);
            }
            self.ahead.extend(batches);
            self.read_to = last;
        }
        let batch = self.ahead.pop_front();
        if let Some(b) = &batch {
            self.position = if self.ahead.is_empty() {
                b.add_seq.max(self.read_to)
            } else {
                b.add_seq
            };
            self.seen = self.seen.max(self.position);
        }
        Ok(batch)
    }
}

#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
impl Subscription {
    /// The next batch, awaited without blocking a thread (`async` feature): the same as
    /// `StreamExt::next`, without the name clash between `Iterator` and `StreamExt` and without
    /// depending on `futures`. `None` once the space is closed.
    ///
    /// ```
    /// use spacestore::{Space, StorageChange, TreeRoot};
    /// let space = Space::in_memory();
    /// let tree = space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
    /// tree.add_all(vec![StorageChange::new("c1", "1", b"x".to_vec())], ["c1"], "t")?;
    /// let mut feed = space.subscribe(0);
    /// let batch = futures::executor::block_on(feed.next_async()).unwrap();
    /// assert_eq!(batch.add_seq, 1);
    /// # Ok::<(), spacestore::Error>(())
    /// ```
    pub async fn next_async(&mut self) -> Option<Batch> {
        std::future::poll_fn(|cx| {
            futures_core::Stream::poll_next(std::pin::Pin::new(&mut *self), cx)
        })
        .await
    }
}

/// Blocks for the next batch; ends (`None`) when the space is closed.
impl Iterator for Subscription {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        self.next_until(None).ok().flatten()
    }
}

/// With the `async` feature: the next batch without blocking a thread, on any executor
/// (runtime-agnostic: it needs no runtime's timer or reactor). The stream is the same feed as
/// the [`Iterator`]: the backlog from the store, then live batches in AddSeq order, each once,
/// never a gap; it ends (`None`) when the space's last handle is dropped.
///
/// When nothing is there, `poll_next` registers the task's waker with the space (one slot per
/// subscription: polling again replaces the waker, it never adds one), re-checks, and returns
/// `Pending`; the next batch published, or the close, wakes it. A dropped subscription removes
/// its waker.
///
/// A `Subscription` is an [`Iterator`] too, so with `StreamExt` in scope the methods the two
/// share (`next`, `map`, `take`...) are ambiguous on it: call them by path
/// (`StreamExt::next(&mut feed)`), or hand it on as an `impl Stream`, as here.
///
/// ```
/// use futures::{executor::block_on, Stream, StreamExt};
/// use spacestore::{Batch, Space, StorageChange, TreeRoot};
///
/// async fn first_seqs(batches: impl Stream<Item = Batch> + Unpin, n: usize) -> Vec<u64> {
///     batches.take(n).map(|batch| batch.add_seq).collect().await
/// }
///
/// let space = Space::in_memory();
/// let tree = space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
/// tree.add_all(vec![StorageChange::new("c1", "1", b"x".to_vec())], ["c1"], "t")?;
/// let mut feed = space.subscribe(0);
/// let writer = std::thread::spawn(move || {
///     tree.add_all(vec![StorageChange::new("c2", "2", b"y".to_vec())], ["c2"], "t")
/// });
/// // The backlog, then the live batch; any executor will do.
/// assert_eq!(block_on(first_seqs(&mut feed, 2)), [1, 2]);
/// assert_eq!(writer.join().unwrap()?, 2);
/// drop(space); // the last handle: the stream ends
/// assert!(block_on(StreamExt::next(&mut feed)).is_none());
/// # Ok::<(), spacestore::Error>(())
/// ```
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
impl futures_core::Stream for Subscription {
    type Item = Batch;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Batch>> {
        use std::task::Poll;
        let this = self.get_mut();
        loop {
            match this.poll() {
                Ok(Some(batch)) => return Poll::Ready(Some(batch)),
                Ok(None) => {}
                Err(_) => return Poll::Ready(None),
            }
            // Nothing up to `seen`: register, and re-check after (a batch published between
            // the read and the registration is seen by the re-check).
            match this
                .notifier
                .register(&mut this.slot, this.follows, this.seen, cx.waker())
            {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Woken::Ready) => {}
                // (A registration has no deadline: it never times out.)
                Poll::Ready(Woken::Closed | Woken::TimedOut) => return Poll::Ready(None),
            }
        }
    }
}

/// Removes the subscription's waker from the notifier, if it is still registered.
#[cfg(feature = "async")]
impl Drop for Subscription {
    fn drop(&mut self) {
        if self.slot.is_assigned() {
            self.notifier.deregister(&self.slot);
        }
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("position", &self.position)
            .field("durable_only", &self.durable_only())
            .field("trees", &self.trees.as_ref().map(|t| t.len()))
            .finish_non_exhaustive()
    }
}
