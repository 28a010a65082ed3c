//! Head entries (one per tree), their partial updates and observers, and the [`HeadStorage`]
//! handle (Go's `headstorage.HeadStorage`).

use std::sync::{Arc, Weak};

use crate::record::{HeadFields, Record};
use crate::space_core::SpaceCore;
use crate::{DeletedStatus, Error, HeadEntries, HeadEntry, Id, Result};

/// A partial update of a head entry: only the fields that are `Some` change.
///
/// ```
/// use spacestore::{DeletedStatus, HeadUpdate};
/// let u = HeadUpdate::new("tree-1").deleted_status(DeletedStatus::Queued);
/// assert_eq!(u.heads, None);
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeadUpdate {
    /// The entry to update or create.
    pub id: Id,
    /// New heads.
    pub heads: Option<Vec<Id>>,
    /// New common snapshot.
    pub common_snapshot: Option<Id>,
    /// New deleted status.
    pub deleted_status: Option<DeletedStatus>,
    /// New derived flag.
    pub is_derived: Option<bool>,
    /// New parent id.
    pub parent_id: Option<Id>,
    /// New last AddSeq.
    pub last_add_seq: Option<u64>,
}

impl HeadUpdate {
    /// An update of entry `id` that changes nothing yet.
    pub fn new(id: impl Into<Id>) -> Self {
        HeadUpdate {
            id: id.into(),
            ..HeadUpdate::default()
        }
    }
    /// Sets the heads.
    pub fn heads<I: IntoIterator<Item = S>, S: Into<Id>>(mut self, heads: I) -> Self {
        self.heads = Some(heads.into_iter().map(Into::into).collect());
        self
    }
    /// Sets the common snapshot.
    pub fn common_snapshot(mut self, id: impl Into<Id>) -> Self {
        self.common_snapshot = Some(id.into());
        self
    }
    /// Sets the deleted status.
    pub fn deleted_status(mut self, status: DeletedStatus) -> Self {
        self.deleted_status = Some(status);
        self
    }
    /// Sets the derived flag.
    pub fn is_derived(mut self, derived: bool) -> Self {
        self.is_derived = Some(derived);
        self
    }
    /// Sets the parent id.
    pub fn parent_id(mut self, id: impl Into<Id>) -> Self {
        self.parent_id = Some(id.into());
        self
    }
    /// Sets the last AddSeq.
    pub fn last_add_seq(mut self, seq: u64) -> Self {
        self.last_add_seq = Some(seq);
        self
    }
}

impl From<HeadUpdate> for HeadFields {
    fn from(u: HeadUpdate) -> Self {
        HeadFields {
            id: u.id,
            heads: u.heads,
            common_snapshot: u.common_snapshot,
            deleted_status: u.deleted_status,
            is_derived: u.is_derived,
            parent_id: u.parent_id,
            last_add_seq: u.last_add_seq,
        }
    }
}

/// Which entries [`HeadStorage::entries`] yields (Go's `IterOpts`), built with
/// [`IterOptions::live`] (the default, Go's `Deleted: false`), [`IterOptions::deleted`] (Go's
/// `Deleted: true`) or [`IterOptions::all`], and [`IterOptions::min_last_add_seq`].
///
/// ```
/// use spacestore::{EntryFilter, IterOptions};
/// let opts = IterOptions::deleted().min_last_add_seq(10);
/// assert_eq!((opts.entries, opts.min_last_add_seq), (EntryFilter::Deleted, 10));
/// assert_eq!(IterOptions::default(), IterOptions::live());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IterOptions {
    /// Which entries by their deleted status.
    pub entries: EntryFilter,
    /// When > 0: only entries with `last_add_seq > min_last_add_seq`, sorted by it; entries
    /// that never had a batch never match. When 0: every entry, sorted by id.
    pub min_last_add_seq: u64,
}

/// Which head entries a read selects, by their deleted status ([`IterOptions::entries`]; the
/// entries read are [`crate::HeadEntries`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryFilter {
    /// Entries that are not deleted (Go's `Deleted: false`).
    #[default]
    Live,
    /// Entries whose deleted status is `Queued` or more (Go's `Deleted: true`).
    Deleted,
    /// Every entry.
    All,
}

impl IterOptions {
    /// Entries that are not deleted, every one (the default).
    pub fn live() -> Self {
        IterOptions::default()
    }

    /// Entries queued for deletion or deleted.
    pub fn deleted() -> Self {
        IterOptions {
            entries: EntryFilter::Deleted,
            ..IterOptions::default()
        }
    }

    /// Every entry, deleted or not.
    pub fn all() -> Self {
        IterOptions {
            entries: EntryFilter::All,
            ..IterOptions::default()
        }
    }

    /// Only entries with a last AddSeq above `seq` (0: no bound), sorted by it.
    pub fn min_last_add_seq(mut self, seq: u64) -> Self {
        self.min_last_add_seq = seq;
        self
    }
}

/// Told of every effective change of a head entry, after the write is committed.
///
/// Observers run inside the commit, in commit order: they may read the space, but a write from
/// an observer fails with [`Error::WriteFromObserver`]. Any `Fn(&HeadEntry) + Send + Sync`
/// closure is an observer.
pub trait HeadObserver: Send + Sync {
    /// Called with the whole entry after the change.
    fn on_update(&self, entry: &HeadEntry);
}

impl<F: Fn(&HeadEntry) + Send + Sync> HeadObserver for F {
    fn on_update(&self, entry: &HeadEntry) {
        self(entry)
    }
}

/// The head storage of a space: one [`HeadEntry`] per tree.
///
/// ```
/// use spacestore::{HeadUpdate, IterOptions, Space, TreeRoot};
/// let space = Space::in_memory();
/// space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
/// let heads = space.head_storage();
/// assert_eq!(heads.get_entry("t")?.heads, vec!["t"]);
/// heads.update_entry(HeadUpdate::new("t").heads(["c1"]))?;
/// assert_eq!(heads.entries(IterOptions::default()).count(), 1);
/// # Ok::<(), spacestore::Error>(())
/// ```
#[derive(Clone)]
pub struct HeadStorage {
    core: Arc<SpaceCore>,
}

impl HeadStorage {
    pub(crate) fn new(core: Arc<SpaceCore>) -> Self {
        HeadStorage { core }
    }

    /// The entry of tree `id`, or [`Error::EntryNotFound`].
    pub fn get_entry(&self, id: &str) -> Result<HeadEntry> {
        self.core
            .head_entry(id)
            .ok_or_else(|| Error::EntryNotFound(Id::from(id)))
    }

    /// Upserts the entry: only the fields given in `update` change. Observers are told only when
    /// a value really changed. Returns the entry after the update.
    ///
    /// A `last_add_seq` above the space's counter moves the counter up to it (durably, in a
    /// space with a log), so every later batch gets a seq above it: Go's storage restarts its
    /// counter from the highest `last_add_seq`, and so no seq is ever handed out below one a
    /// head entry already names.
    ///
    /// # Errors
    /// [`Error::BatchTooLarge`] when the update's frame, or the entry after it (written whole by
    /// a checkpoint), would be larger than [`crate::Options::max_batch_bytes`] (an update that
    /// leaves the entry no larger than it was is taken); what any write can fail with.
    pub fn update_entry(&self, update: HeadUpdate) -> Result<HeadEntry> {
        let id = update.id.clone();
        self.core.write(
            |ctx| {
                if let Some(seq) = update.last_add_seq {
                    ctx.advance_counter_to(seq)?;
                }
                Ok(Record::UpdateHead(update.into()))
            },
            || {},
        )?;
        self.get_entry(&id)
    }

    /// Deletes the entry of tree `id` (nothing happens when there is none).
    pub fn delete_entry(&self, id: &str) -> Result<()> {
        let id = Id::from(id);
        self.core.write(|_| Ok(Record::DeleteEntry(id)), || {})?;
        Ok(())
    }

    /// The entries that `opts` selects (see [`IterOptions`] for the order), as stored: each an
    /// [`Arc`] of the entry the head storage holds, none copied (what the head storage held when
    /// the iterator was made). Go's `IterateEntries`:
    /// [`crate::go::GoHeadStorage::iterate_entries`].
    ///
    /// ```
    /// use spacestore::{IterOptions, Space, TreeRoot};
    /// let space = Space::in_memory();
    /// space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
    /// let ids: Vec<_> = space.head_storage().entries(IterOptions::all()).map(|e| e.id.clone()).collect();
    /// assert_eq!(ids, ["t"]);
    /// # Ok::<(), spacestore::Error>(())
    /// ```
    pub fn entries(&self, opts: IterOptions) -> HeadEntries {
        HeadEntries::new(self.core.head_entries(&opts))
    }

    /// Every entry whose parent is `parent_id`, deleted ones included, sorted by id, as stored
    /// (see [`HeadStorage::entries`]).
    pub fn entries_by_parent_id(&self, parent_id: &str) -> HeadEntries {
        HeadEntries::new(self.core.head_entries_by_parent(parent_id))
    }

    /// The largest `last_add_seq` over all entries (deleted ones included), 0 when none.
    pub fn max_last_add_seq(&self) -> u64 {
        self.core.max_last_add_seq()
    }

    /// Adds an observer, told of every effective change of an entry from now on, until the
    /// returned guard is dropped.
    ///
    /// An observer may hold a [`crate::Space`] handle (to read the space when told): that
    /// handle keeps the space open, and its directory locked, only as long as the guard lives.
    /// Dropping the guard removes the observer and with it the handle, so a space whose
    /// handles and guards are all dropped closes. The guard itself holds the space weakly; a
    /// [`crate::Store`] does not evict a space while an observer's guard lives (the observer
    /// would go with it), so it stays open past `max_open_spaces` until the guard is dropped.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use spacestore::{HeadEntry, HeadUpdate, Space};
    /// let space = Space::in_memory();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let sink = Arc::clone(&seen);
    /// let guard = space
    ///     .head_storage()
    ///     .add_observer(move |e: &HeadEntry| sink.lock().unwrap().push(e.id.clone()));
    /// space.head_storage().update_entry(HeadUpdate::new("a").heads(["h1"]))?;
    /// drop(guard); // removed: no longer told
    /// space.head_storage().update_entry(HeadUpdate::new("b").heads(["h2"]))?;
    /// assert_eq!(*seen.lock().unwrap(), ["a"]);
    /// # Ok::<(), spacestore::Error>(())
    /// ```
    pub fn add_observer(&self, observer: impl HeadObserver + 'static) -> ObserverGuard {
        ObserverGuard::new(&self.core, self.core.add_observer(Arc::new(observer)))
    }
}

/// Keeps a head or state observer registered ([`HeadStorage::add_observer`],
/// [`crate::StateStorage::set_observer`]); dropping it removes the observer. It holds its space
/// weakly: it never keeps a space open.
#[must_use = "the observer is removed as soon as its guard is dropped"]
pub struct ObserverGuard {
    core: Weak<SpaceCore>,
    id: u64,
}

impl ObserverGuard {
    /// The guard of observer `id` of the space behind `commit`.
    pub(crate) fn new(core: &Arc<SpaceCore>, id: u64) -> Self {
        ObserverGuard {
            core: Arc::downgrade(core),
            id,
        }
    }
}

impl Drop for ObserverGuard {
    fn drop(&mut self) {
        if let Some(core) = self.core.upgrade() {
            core.remove_observer(self.id);
        }
    }
}

impl std::fmt::Debug for ObserverGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObserverGuard")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for HeadStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadStorage")
            .field("entries", &self.core.head_count())
            .finish()
    }
}
