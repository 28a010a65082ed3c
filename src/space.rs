//! [`Space`]: one any-sync space: its trees, its head storage and its AddSeq counter.

use std::path::Path;
use std::sync::Arc;

use crate::engine;
use crate::feed::Subscription;
use crate::iter::FeedViews;
use crate::memory::Memory;
use crate::record::{NewTree, Record};
use crate::space_core::SpaceCore;
use crate::wal::{CheckpointStats, Refusal};
use crate::{
    AclStorage, AddSeqCounter, Batch, Cursor, Durability, Error, HeadStorage, Id, Options,
    RecoveryReport, Result, SpacePayload, StateStorage, TreeRoot, TreeStorage,
};

/// One any-sync space: tree storages, the head storage and the space-global AddSeq counter.
///
/// `Space` is a cheap handle (clone it to share it between threads). Every `add_all` batch takes
/// one new AddSeq; a consumer that remembers the last AddSeq it processed asks for exactly the
/// changes added since with [`Space::changes_after_add_seq`], and never misses a batch.
///
/// ```
/// use spacestore::{Space, StorageChange, TreeRoot};
/// let space = Space::in_memory();
/// let a = space.create_tree_storage(TreeRoot::new("a", b"root a".to_vec()))?;
/// let b = space.create_tree_storage(TreeRoot::new("b", b"root b".to_vec()))?;
/// a.add_all(vec![StorageChange::new("a1", "1", b"x".to_vec())], ["a1"], "a")?;
/// let mut cursor = 0;
/// let news: Vec<_> = space.changes_after_add_seq(cursor).collect();
/// assert_eq!(news.len(), 1);
/// cursor = news.last().unwrap().add_seq();
/// b.add_all(vec![StorageChange::new("b1", "1", b"y".to_vec())], ["b1"], "b")?;
/// let news: Vec<_> = space.changes_after_add_seq(cursor).collect();
/// assert_eq!(news[0].id(), "b1");
/// assert_eq!(space.add_seq(), 2);
/// # Ok::<(), spacestore::Error>(())
/// ```
#[derive(Clone)]
pub struct Space {
    core: Arc<SpaceCore>,
    report: Option<Arc<RecoveryReport>>,
    incarnation: u128,
}

/// Figures of an open space's log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogStats {
    /// Frames appended since the space was opened (commits and reservations).
    pub frames: u64,
    /// fsyncs of the log since the space was opened (group syncs, reservations, rolls).
    pub syncs: u64,
    /// The active segment's sequence number.
    pub segment: u64,
    /// The highest AddSeq durably reserved: a restart hands out seqs above it.
    pub reserved: u64,
    /// Bytes of the log's segment files.
    pub log_bytes: u64,
    /// Automatic checkpoints that failed since the space was opened (each is retried later,
    /// after a back-off; writes go on meanwhile).
    pub auto_checkpoint_failures: u64,
}

impl Default for Space {
    fn default() -> Self {
        Space::in_memory()
    }
}

impl Space {
    /// A space with no files: everything lives in memory and is gone when the last handle is
    /// dropped (the test-double mode). Its counter starts at zero.
    pub fn in_memory() -> Space {
        Space::in_memory_with_counter(AddSeqCounter::new())
    }

    /// An in-memory space whose batches take their seqs from `counter`; give it
    /// [`AddSeqCounter::detached`] for a validation storage that must not move a space's counter.
    pub fn in_memory_with_counter(counter: AddSeqCounter) -> Space {
        Space::in_memory_from(counter, &Options::default())
    }

    /// An in-memory space as [`Space::in_memory`], with what of `options` applies to a space
    /// without files: [`Options::clock`] and [`Options::max_batch_bytes`] (a test double with
    /// the test's own time, or the limits of the store it stands in for).
    pub fn in_memory_with(options: Options) -> Space {
        Space::in_memory_from(AddSeqCounter::new(), &options)
    }

    /// Writes the space as it is now to `writer` as one file, a **fixture**: a test checks it
    /// in and starts from it with [`Space::import`]. Returns the bytes written. Writers of the
    /// space wait only while the state is captured (as for a checkpoint), not while it is
    /// written.
    ///
    /// A fixture is a log segment that begins with a checkpoint (DESIGN.md, "Fixtures"): the
    /// log's own format, versioned and checked as the log is, so a fixture written now is read
    /// by every later version; a directory holding one as its only segment
    /// (`00000000000000000001.wal`) opens as the space.
    ///
    /// ```
    /// use spacestore::{Options, Space, StorageChange, TreeRoot};
    /// let space = Space::in_memory();
    /// let tree = space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
    /// tree.add_all(vec![StorageChange::new("c1", "1", b"x".to_vec())], ["c1"], "t")?;
    ///
    /// let mut fixture = Vec::new(); // a file in a real test: `File::create("tests/fixtures/…")`
    /// space.export(&mut fixture)?;
    ///
    /// let copy = Space::import(fixture.as_slice(), Options::default())?;
    /// assert_eq!(copy.tree_storage("t")?.get("c1")?.add_seq, 1);
    /// assert_eq!(copy.add_seq(), space.add_seq());
    /// # Ok::<(), spacestore::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] when `writer` fails; [`Error::FrameTooLarge`] for a head entry too large
    /// for a frame (as a checkpoint would).
    pub fn export(&self, mut writer: impl std::io::Write) -> Result<u64> {
        crate::fixture::export(&self.core, self.incarnation, &mut writer)
    }

    /// An in-memory space holding what the fixture read from `reader` holds (written by
    /// [`Space::export`]), its counter where the exported space's was; with what of `options`
    /// applies to a space without files, as [`Space::in_memory_with`]. The fixture's bytes are
    /// read once and kept: the changes point into them.
    ///
    /// # Errors
    /// [`Error::Io`] when `reader` fails; [`Error::Corrupt`] for bytes that are not a whole
    /// fixture (damaged, cut short, or not a fixture), never a part of a space.
    pub fn import(mut reader: impl std::io::Read, options: Options) -> Result<Space> {
        let (memory, at) = crate::fixture::import(&mut reader)?;
        Ok(Space::in_memory_over(
            memory,
            AddSeqCounter::at(at),
            &options,
        ))
    }

    fn in_memory_from(counter: AddSeqCounter, options: &Options) -> Space {
        Space::in_memory_over(Memory::default(), counter, options)
    }

    fn in_memory_over(memory: Memory, counter: AddSeqCounter, options: &Options) -> Space {
        let core = SpaceCore::new(memory, counter, None, Durability::Buffered)
            .with_max_bytes(options.max_batch_bytes)
            .with_clock(options.clock.clone());
        Space::without_files(core)
    }

    /// A space over `commit`, which has no log: no recovery report, an incarnation of its own.
    fn without_files(core: SpaceCore) -> Space {
        Space {
            core: Arc::new(core),
            report: None,
            incarnation: crate::wal::frame::new_incarnation(),
        }
    }

    /// An in-memory copy of the space as it is now, independent afterwards in both directions:
    /// what either stores, deletes or moves (a head entry, a cursor) is its own. Its counter is
    /// its own too, at this space's value, so its next batch takes the seq this space's next
    /// batch would (the two then go their own ways). A fork of a durable space is in memory
    /// (nothing of it is written; it outlives this space's close).
    ///
    /// Cheap: no change's bytes are copied. Every batch is kept as its record's bytes
    /// (immutable), which the fork shares; it indexes them in maps of its own, so a fork costs
    /// about what replay's indexing does: measured, about 0.6 µs and 80 bytes of heap per
    /// change, a quarter of the time and an eighth of the memory of building the space again
    /// (BENCHMARKS.md, "Forks and fixtures"). Writers of this space wait only while the state is
    /// captured (pointers to each tree, the head entries, the cursors), not while it is
    /// indexed.
    ///
    /// ```
    /// use spacestore::{Heads, Space, StorageChange, TreeRoot};
    /// let space = Space::in_memory();
    /// let tree = space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
    /// tree.add_all(vec![StorageChange::new("c1", "1", b"x".to_vec())], ["c1"], "t")?;
    ///
    /// // What if this peer gets c2, and what if it gets c3?
    /// let (a, b) = (space.fork(), space.fork());
    /// a.tree_storage("t")?.add_all(vec![StorageChange::new("c2", "2", b"y".to_vec())], ["c2"], "t")?;
    /// b.tree_storage("t")?.add_all(vec![StorageChange::new("c3", "3", b"z".to_vec())], ["c3"], "t")?;
    /// assert!(a.tree_storage("t")?.has("c2") && !a.tree_storage("t")?.has("c3"));
    /// assert!(!space.tree_storage("t")?.has("c2"));
    /// // Both took the seq the space would give next.
    /// assert_eq!(a.tree_storage("t")?.get("c2")?.add_seq, 2);
    /// assert_eq!(b.tree_storage("t")?.get("c3")?.add_seq, 2);
    /// # let _ = Heads::Unchanged;
    /// # Ok::<(), spacestore::Error>(())
    /// ```
    pub fn fork(&self) -> Space {
        Space::without_files(self.core.fork())
    }

    /// Creates a space in `dir` (the directory too, when there is none), or opens the space
    /// already there (redb's `Database::create`): locks the directory (a second opener, in this
    /// process or another, gets [`Error::Locked`]), replays the log to rebuild the trees, head
    /// entries, AddSeq index and counter; a log closed cleanly is left as it is (nothing written
    /// or synced until the first write, which starts a segment), one left by a crash is synced
    /// and a new segment started. The counter continues above every seq ever handed out. What
    /// replay found is in [`Space::recovery_report`].
    ///
    /// ```
    /// use spacestore::{Options, Space, StorageChange, TreeRoot};
    /// let dir = tempfile::tempdir()?;
    /// {
    ///     let space = Space::create(dir.path(), Options::default())?;
    ///     let tree = space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
    ///     tree.add_all(vec![StorageChange::new("c1", "1", b"x".to_vec())], ["c1"], "t")?;
    /// }
    /// let space = Space::open(dir.path(), Options::default())?;
    /// assert_eq!(space.tree_storage("t")?.get("c1")?.add_seq, 1);
    /// assert!(space.recovery_report().unwrap().frames >= 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Locked`], [`Error::Corrupt`] (with [`crate::Recovery::Strict`]), [`Error::Io`].
    pub fn create(dir: impl AsRef<Path>, options: Options) -> Result<Space> {
        let mut opened = engine::open(dir.as_ref(), &options)?;
        let incarnation = opened.wal.incarnation();
        let mut core = SpaceCore::new(
            opened.memory,
            opened.counter,
            Some(opened.wal),
            options.durability,
        );
        core = core
            .with_max_bytes(options.max_batch_bytes)
            .with_clock(options.clock.clone());
        if let Some(factor) = options.auto_checkpoint_factor {
            core = core.with_auto_checkpoint(
                factor,
                options.auto_checkpoint_min_bytes,
                options.background_checkpoints,
            );
        }
        engine::lower_cursors(&core, &mut opened.report)?;
        // A log that many opens left in many short segments is folded into one.
        core.checkpoint_if_due();
        Ok(Space {
            core: Arc::new(core),
            report: Some(Arc::new(opened.report)),
            incarnation,
        })
    }

    /// Makes this bare space whole (Go's `spacestorage.Create` on a store that may hold trees
    /// already): writes the state, the ACL list's root and the settings tree in one commit.
    /// Returns a handle to the space (this one's clone), as [`crate::Store::create_space`]
    /// returns the space it made, so `let space = x.create_space(payload)?;` reads the same
    /// for both.
    ///
    /// ```
    /// use spacestore::{Space, SpacePayload, TreeRoot};
    /// let bare = Space::in_memory();
    /// bare.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
    /// let space = bare.create_space(SpacePayload::new("space.1", b"header".to_vec(), "acl",
    ///     b"acl root".to_vec(), TreeRoot::new("settings", b"settings root".to_vec())))?;
    /// assert_eq!(space.id().as_deref(), Some("space.1"));
    /// assert_eq!(space.tree_count(), 2);
    /// # Ok::<(), spacestore::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::SpaceExists`] when the space is whole already; [`Error::IncorrectSpaceHeader`]
    /// ([`SpacePayload::validate`]); [`Error::TreeExists`] and the other errors of
    /// [`Space::create_tree_storage`] for the settings root; [`Error::AclListId`] when the ACL
    /// id is a stored tree's; what any write can fail with.
    /// Nothing of the payload is kept when it fails.
    pub fn create_space(&self, payload: SpacePayload) -> Result<Space> {
        payload.validate()?;
        self.write_space(payload)?;
        Ok(self.clone())
    }

    /// Writes the record that makes this space whole (`payload` validated).
    pub(crate) fn write_space(&self, payload: SpacePayload) -> Result<()> {
        let record = Record::CreateSpace(Box::new(payload.to_record(self.core.now())));
        self.core.write(|_| Ok(record), || {})?;
        Ok(())
    }

    /// Whether the space was closed ([`Space::close`]).
    pub(crate) fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    /// Whether a handle other than this one holds the space (a `Space`, a tree, head, state or
    /// ACL storage, a cursor), or an observer's guard lives: a store closes (and deletes) only
    /// spaces nobody holds or observes, so that an observer is never removed behind its
    /// guard's back by an eviction.
    pub(crate) fn in_use(&self) -> bool {
        Arc::strong_count(&self.core) > 1 || self.core.has_observers()
    }

    /// The space's id: its header's, for a whole space; `None` for a bare one.
    pub fn id(&self) -> Option<Id> {
        self.core.state().map(|s| s.space_id)
    }

    /// The state storage of a whole space (Go's `StateStorage`).
    ///
    /// # Errors
    /// [`Error::BareSpace`] for a bare space.
    pub fn state_storage(&self) -> Result<StateStorage> {
        StateStorage::open(&self.core)
    }

    /// The ACL list of a whole space (Go's `AclStorage`).
    ///
    /// # Errors
    /// [`Error::BareSpace`] for a bare space.
    pub fn acl_storage(&self) -> Result<AclStorage> {
        AclStorage::open(&self.core)
    }

    /// Opens the space in `dir`, as [`Space::create`] does, but only if there is one: a path
    /// that holds no space (no directory, or a directory without a log) is
    /// [`Error::NoSpaceAt`], and nothing is created (a misspelled path is not a new space).
    ///
    /// ```
    /// use spacestore::{Error, Options, Space};
    /// let dir = tempfile::tempdir()?;
    /// let typo = Space::open(dir.path().join("spcae"), Options::default());
    /// assert!(matches!(typo, Err(Error::NoSpaceAt(_))));
    /// drop(Space::create(dir.path(), Options::default())?);
    /// assert!(Space::open(dir.path(), Options::default()).is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NoSpaceAt`]; those of [`Space::create`].
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Space> {
        let dir = dir.as_ref();
        let holds = engine::holds_space(options.fs.as_ref(), dir)
            .map_err(crate::error::io("looking for a space's segments"))?;
        if !holds {
            return Err(Error::NoSpaceAt(dir.to_path_buf()));
        }
        Space::create(dir, options)
    }

    /// Opens a snapshot of the space in `dir` without taking its lock and without changing
    /// anything on disk (a torn tail is reported, not cut): for looking inside a directory that
    /// another process may hold open. Every write fails with [`Error::ReadOnly`]. A directory
    /// being written meanwhile may show a torn tail that is really a frame in flight.
    pub fn open_read_only(dir: impl AsRef<Path>, options: Options) -> Result<Space> {
        let (memory, counter, report, incarnation) =
            engine::open_read_only(dir.as_ref(), &options)?;
        Ok(Space {
            core: Arc::new(SpaceCore::read_only(memory, counter)),
            report: Some(Arc::new(report)),
            incarnation,
        })
    }

    /// The space's incarnation: a random id made when the space was created and kept in its log
    /// (every segment header names it). A repair that moved data aside (and an upgrade from log
    /// format version 1) makes a new one, so a consumer that stored `(incarnation, cursor)`
    /// elsewhere can tell that the store went back and must resync from 0. An in-memory space
    /// has a random one; a read-only open of a log of version 1 only says 0.
    ///
    /// ```
    /// use spacestore::{Options, Space};
    /// let dir = tempfile::tempdir()?;
    /// let first = Space::create(dir.path(), Options::default())?.incarnation();
    /// let again = Space::open(dir.path(), Options::default())?.incarnation();
    /// assert_eq!(first, again);
    /// assert_ne!(Space::in_memory().incarnation(), Space::in_memory().incarnation());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn incarnation(&self) -> u128 {
        self.incarnation
    }

    /// What replay found when the space was opened (`None` for an in-memory space).
    pub fn recovery_report(&self) -> Option<&RecoveryReport> {
        self.report.as_deref()
    }

    /// Makes every write so far durable (an fsync of the log; nothing to do in memory or when
    /// everything is already synced). Useful in a `Buffered` space before a planned shutdown,
    /// and to hand the batches written so far to the space's durable subscriptions
    /// ([`Space::subscribe`]), which deliver a `Buffered` batch only once a sync covers it.
    ///
    /// # Errors
    /// [`Error::Closed`] once the space is closed; [`Error::Io`] when the fsync fails (the log
    /// then refuses every later write: [`Space::writes_refused`]), [`Error::WritesRefused`] when
    /// it refused writes already.
    pub fn sync(&self) -> Result<()> {
        if self.core.is_closed() {
            return Err(Error::Closed);
        }
        self.core.with_wal(|wal| wal.map_or(Ok(()), |w| w.sync()))
    }

    /// Closes the space and says whether closing did all it should: ends its subscriptions,
    /// waits for a running automatic checkpoint, makes queued `Sync` writes visible, writes and
    /// syncs the close frame (so that a restart continues right above the last seq) and releases
    /// the directory's lock. Dropping the last handle closes too, but cannot report a failure.
    ///
    /// The space is closed for every handle (clones, tree, head, state and ACL storages,
    /// cursors): they read on from memory, and their writes, syncs and checkpoints are
    /// [`Error::Closed`]. So a handle left somewhere no longer keeps the directory locked.
    ///
    /// ```
    /// use spacestore::{Error, Options, Space, TreeRoot};
    /// let dir = tempfile::tempdir()?;
    /// let space = Space::create(dir.path(), Options::default())?;
    /// let tree = space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
    /// space.close()?;
    /// assert!(tree.has("t"), "reads go on");
    /// assert!(matches!(tree.delete(), Err(Error::Closed)));
    /// let reopened = Space::open(dir.path(), Options::default())?; // not locked any more
    /// assert_eq!(reopened.tree_count(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] when the close frame could not be written or synced, or
    /// [`Error::WritesRefused`] when the log had latched before; nothing acknowledged is lost in
    /// either case (a restart replays every acknowledged write), and the space is closed.
    pub fn close(self) -> Result<()> {
        self.core.close()
    }

    /// Writes the live state (trees, changes, head entries, cursors, the AddSeq reservation) to
    /// a new segment and removes the old segments, crash-safely (write, fsync, rename, fsync the
    /// directory, then remove). Deleted trees are gone from disk afterwards, and replay time
    /// becomes proportional to the live data. Writes wait only while the state is captured and
    /// the next segment started, then go on while the snapshot is written; reads go on
    /// throughout. One checkpoint runs at a time. Returns `None` for an in-memory space.
    ///
    /// Disk space of removed segments whose changes are still held in memory (replayed changes
    /// point into the mapped segments) returns to the file system when the space is closed.
    pub fn checkpoint(&self) -> Result<Option<CheckpointStats>> {
        self.core.checkpoint()
    }

    /// Why the space refuses writes, if it does: after a failed fsync of its log (the page
    /// cache can no longer be trusted) or an append that could not be taken back. Reads go on;
    /// reopen the space to write again.
    pub fn writes_refused(&self) -> Option<Refusal> {
        self.core.refused()
    }

    /// Figures of the log (`None` for an in-memory space).
    pub fn log_stats(&self) -> Option<LogStats> {
        self.core.with_wal(|wal| {
            wal.map(|w| LogStats {
                frames: w.frames(),
                syncs: w.group().syncs(),
                segment: w.segment_seq(),
                reserved: w.reserved(),
                log_bytes: w.log_bytes(),
                auto_checkpoint_failures: w.auto_checkpoint_failures(),
            })
        })
    }

    /// Creates a tree from its root change, in one commit (Go's `CreateTreeStorage`): stores the
    /// root, checks the parent (when the root names one), creates the head entry (heads and
    /// common snapshot = the root id), and marks the tree queued for deletion when its parent is.
    ///
    /// # Errors
    /// [`Error::TreeExists`], [`Error::ParentNotFound`] or [`Error::DerivedParent`] (Go's
    /// checks); [`Error::AclListId`] for a root whose id is the space's ACL list's (its head
    /// entry is the list's); what any write can fail with.
    pub fn create_tree_storage(&self, root: TreeRoot) -> Result<TreeStorage> {
        let new = NewTree::of(&root, self.core.now());
        self.core
            .write(|_| Ok(Record::CreateTree(Box::new(new))), || {})?;
        Ok(TreeStorage::new(Arc::clone(&self.core), root, false))
    }

    /// A storage for a tree that exists only in memory until its first write (`add_all`,
    /// `add_all_no_error` or `delete`), which creates the tree and applies the write in one
    /// commit.
    ///
    /// # Errors
    /// [`Error::TreeExists`] when the tree is already stored; [`Error::AclListId`] for a root
    /// whose id is the space's ACL list's. (The first write checks both again.)
    pub fn create_storage_with_deferred_creation(&self, root: TreeRoot) -> Result<TreeStorage> {
        self.core.check_new_tree(&root.id)?;
        Ok(TreeStorage::new(Arc::clone(&self.core), root, true))
    }

    /// Opens an existing tree, or [`Error::UnknownTree`] when its head entry or its root is
    /// missing (a deleted tree has no root).
    pub fn tree_storage(&self, id: &str) -> Result<TreeStorage> {
        let root = (self.core.tree_root(id)).ok_or_else(|| Error::UnknownTree(Id::from(id)))?;
        Ok(TreeStorage::new(Arc::clone(&self.core), root, false))
    }

    /// The space's head storage.
    pub fn head_storage(&self) -> HeadStorage {
        HeadStorage::new(Arc::clone(&self.core))
    }

    /// The AddSeq counter: every seq at or below it may have been handed out (to a batch, a
    /// head entry, a caller of [`AddSeqCounter::next`]), and the next batch's seq is above it.
    /// 0 for a new space.
    ///
    /// It is not the seq of the last batch the space holds ([`Space::last_add_seq`]), though
    /// in a space that only adds batches and was closed cleanly the two are equal. It is above
    /// that when a batch failed after taking its seq (a gap), when a head entry or a tree
    /// storage with a counter of its own named a higher seq, and **after a crash**: the
    /// restarted space's counter is the log's reservation, up to
    /// [`Options::reserve_ahead`](crate::Options::reserve_ahead) (1 Mi) above the last batch,
    /// because seqs of that range may have been seen before the crash and must never be
    /// handed out again (DESIGN.md, "AddSeq across restarts: reservations"). So a consumer
    /// measures how far it is behind against [`Space::last_add_seq`], not against this.
    ///
    /// ```
    /// use spacestore::{Space, StorageChange, TreeRoot};
    /// let space = Space::in_memory();
    /// let tree = space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
    /// tree.add_all(vec![StorageChange::new("c1", "1", b"x".to_vec())], ["c1"], "t")?;
    /// // A batch refused after taking its seq (it adds "c1" again): a gap.
    /// let again = vec![StorageChange::new("c1", "2", b"y".to_vec())];
    /// assert!(tree.add_all(again, ["c1"], "t").is_err());
    /// assert_eq!((space.last_add_seq(), space.add_seq()), (1, 2));
    /// # Ok::<(), spacestore::Error>(())
    /// ```
    pub fn add_seq(&self) -> u64 {
        self.core.counter().get()
    }

    /// The AddSeq of the last batch the space holds: the highest seq in its feed
    /// ([`Space::changes_after_add_seq`], [`Space::batches_after`], subscriptions), 0 when it
    /// holds none. A consumer whose cursor is here has seen every batch; one whose cursor is lower
    /// has at most `last_add_seq() - cursor` batches still to process. At or below the
    /// counter ([`Space::add_seq`]), which after a crash is the log's reservation, far above.
    ///
    /// The feed holds what was published: in a `Buffered` space that includes batches not yet
    /// synced (a power loss may take them back, and the reopened space's value is then lower;
    /// their seqs are never handed out again). A batch that stored nothing (every change
    /// already there) and the batches of a deleted tree are not in the feed, so they do not
    /// count: deleting the tree of the last batch lowers it.
    ///
    /// Go's any-sync has no such call. Its nearest number is the head storage's
    /// `MaxLastAddSeq` ([`crate::HeadStorage::max_last_add_seq`] here), the highest
    /// `last_add_seq` any head entry names (deleted entries included), from which Go restores
    /// its counter at startup and which any-sync-sdk reads to catch up at boot. The two agree
    /// while every batch lands in the feed; the head entries' maximum is higher when an entry
    /// was given a seq by `update_entry` or by a tree storage with a counter of its own, when
    /// the last batch stored nothing, or when the last batch's tree was deleted. For a cursor
    /// over the space's feed, this is the number to compare with. Cost: O(log n) under the
    /// AddSeq index's read lock (its last key; no state of its own).
    ///
    /// ```
    /// use spacestore::{Space, StorageChange, TreeRoot};
    /// let space = Space::in_memory();
    /// assert_eq!(space.last_add_seq(), 0);
    /// let tree = space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
    /// let seq = tree.add_all(vec![StorageChange::new("c1", "1", b"x".to_vec())], ["c1"], "t")?;
    /// assert_eq!(space.last_add_seq(), seq);
    /// space.counter().next(); // a seq taken by no batch
    /// assert_eq!((space.last_add_seq(), space.add_seq()), (seq, seq + 1));
    /// # Ok::<(), spacestore::Error>(())
    /// ```
    pub fn last_add_seq(&self) -> u64 {
        self.core.last_add_seq()
    }

    /// The space's counter (shared with every tree storage of the space).
    pub fn counter(&self) -> AddSeqCounter {
        self.core.counter().clone()
    }

    /// Every change of the space whose AddSeq is `> add_seq`, in AddSeq order (the changes of
    /// one batch in the order they were given), read in place ([`crate::ChangeView`]: fields
    /// borrowed from the stored bytes, no allocation per change). Lazy ([`FeedViews`]): the
    /// AddSeq index is walked a few dozen batches at a time (never under a lock while the
    /// caller works): reading the first k changes costs O(log n + k) however large the backlog,
    /// and dropping the iterator stops the work. [`crate::ChangeView::to_change`] or
    /// `.map(StorageChange::from)` gives owned changes; with `?` on each item's work, any error
    /// type of yours works.
    ///
    /// Cursor safety: a consumer that moves its cursor to the largest AddSeq it received never
    /// misses a batch, however many writers run in parallel. (To stop between batches, never
    /// inside one, read whole batches with [`Space::batches_after`].)
    ///
    /// ```
    /// use spacestore::{Space, StorageChange, TreeRoot};
    /// fn index(space: &Space, cursor: u64) -> Result<u64, Box<dyn std::error::Error>> {
    ///     let mut at = cursor;
    ///     for change in space.changes_after_add_seq(cursor) {
    ///         let text = std::str::from_utf8(change.raw_change())?; // any error of yours
    ///         assert!(!text.is_empty());
    ///         at = change.add_seq();
    ///     }
    ///     Ok(at)
    /// }
    /// let space = Space::in_memory();
    /// let tree = space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
    /// tree.add_all(vec![StorageChange::new("c1", "1", b"one".to_vec())], ["c1"], "t")?;
    /// tree.add_all(vec![StorageChange::new("c2", "2", b"two".to_vec())], ["c2"], "t")?;
    /// assert_eq!(index(&space, 0)?, 2);
    /// let seen: Vec<(u64, String)> =
    ///     space.changes_after_add_seq(0).map(|v| (v.add_seq(), v.id().to_owned())).collect();
    /// assert_eq!(seen, [(1, "c1".to_owned()), (2, "c2".to_owned())]);
    /// let owned: Vec<StorageChange> = space.changes_after_add_seq(1).map(StorageChange::from).collect();
    /// assert_eq!(owned, [tree.get("c2")?]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn changes_after_add_seq(&self, add_seq: u64) -> FeedViews {
        FeedViews::new(Arc::clone(&self.core), add_seq)
    }

    /// The first `limit` whole batches with AddSeq `> after`, in AddSeq order, each with its
    /// changes in the order given to `add_all`: a batch is never split, so a consumer that
    /// processes them and moves its cursor to the last one's `add_seq` never skips part of a
    /// batch. O(log n + the changes returned), under the AddSeq index's read lock (the rest of
    /// the backlog is not copied). Batches of trees deleted since are left out.
    ///
    /// ```
    /// use spacestore::{Space, StorageChange, TreeRoot};
    /// let space = Space::in_memory();
    /// let tree = space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
    /// for i in 0..3 {
    ///     let (a, b) = (format!("a{i}"), format!("b{i}"));
    ///     let changes = vec![
    ///         StorageChange::new(a.as_str(), a.as_str(), b"x".to_vec()),
    ///         StorageChange::new(b.as_str(), b.as_str(), b"y".to_vec()),
    ///     ];
    ///     tree.add_all(changes, [b.as_str()], "t")?;
    /// }
    /// // Catch up two batches at a time, keeping the cursor at the last whole batch.
    /// let mut cursor = 0;
    /// let mut seen = 0;
    /// loop {
    ///     let batches = space.batches_after(cursor, 2);
    ///     let Some(last) = batches.last() else { break };
    ///     cursor = last.add_seq;
    ///     seen += batches.iter().map(|b| b.changes.len()).sum::<usize>();
    /// }
    /// assert_eq!((cursor, seen), (3, 6));
    /// # Ok::<(), spacestore::Error>(())
    /// ```
    pub fn batches_after(&self, after: u64, limit: usize) -> Vec<Batch> {
        self.core.batches_after(after, u64::MAX, limit, None).0
    }

    /// Every batch with AddSeq `> after`, in AddSeq order, each once, never a gap: the backlog
    /// from the store, then live batches as they are published (see [`Subscription`]). It
    /// does not keep the space open: it ends when the space's last handle is dropped.
    ///
    /// It delivers only durable batches: in a `Buffered` space a batch once a sync of the log
    /// covers it, in a `Sync` or in-memory space when it is published (the table:
    /// [`Subscription`], "Only durable batches"). [`Subscription::including_unsynced`] delivers
    /// every published batch at once.
    ///
    /// A tree that holds only its root is not in the feed: a root takes no AddSeq (as in Go),
    /// so the feed first shows the tree with its first batch. A consumer that must know of
    /// every tree as it is created watches the head entries, where a new tree's entry appears
    /// at once, with no last AddSeq ([`crate::HeadStorage::add_observer`]; at start,
    /// [`crate::HeadStorage::entries`]).
    pub fn subscribe(&self, after: u64) -> Subscription {
        Subscription::new(&self.core, after, None)
    }

    /// Like [`Space::subscribe`] (only durable batches, unless
    /// [`Subscription::including_unsynced`]), delivering only the batches of `trees`; its
    /// position still moves past the others.
    pub fn subscribe_trees(
        &self,
        after: u64,
        trees: impl IntoIterator<Item = impl Into<Id>>,
    ) -> Subscription {
        let trees = trees.into_iter().map(Into::into).collect();
        Subscription::new(&self.core, after, Some(trees))
    }

    /// The named cursor `name` (created at 0, durably, when the space has none of that name):
    /// a consumer's position in the feed, kept in the space. See [`Cursor`].
    ///
    /// # Errors
    ///
    /// Creating a cursor is a write: [`Error::ReadOnly`] in a read-only space (which can open
    /// only the cursors it holds), or an I/O error of the log.
    pub fn cursor(&self, name: &str) -> Result<Cursor> {
        Cursor::open(&self.core, name)
    }

    /// Every named cursor with its position, sorted by name.
    pub fn cursors(&self) -> Vec<(Id, u64)> {
        self.core.cursors()
    }

    /// Deletes the named cursor `name`; returns whether there was one. Handles to it see
    /// position 0, and their acks fail with [`Error::UnknownCursor`].
    ///
    /// # Errors
    ///
    /// The errors of a write ([`Error::ReadOnly`], an I/O error of the log).
    pub fn delete_cursor(&self, name: &str) -> Result<bool> {
        if self.core.cursor(name).is_none() {
            return Ok(false);
        }
        let name = Id::from(name);
        self.core.write(|_| Ok(Record::DeleteCursor(name)), || {})?;
        Ok(true)
    }

    /// Every batch after `cursor`'s position, as [`Space::subscribe`] gives them (only durable
    /// ones, unless [`Subscription::including_unsynced`]). The subscription does not move the
    /// cursor: [`Cursor::ack`] what was processed.
    pub fn subscribe_cursor(&self, cursor: &Cursor) -> Subscription {
        Subscription::new(cursor.core(), cursor.get(), None)
    }

    /// How many changes the space holds (roots included).
    pub fn change_count(&self) -> usize {
        self.core.change_count()
    }

    /// The ids of the live trees, sorted (a tree whose head entry was deleted is listed; a
    /// deleted tree is not).
    pub fn tree_ids(&self) -> Vec<Id> {
        self.core.tree_ids()
    }

    /// How many live trees the space holds.
    pub fn tree_count(&self) -> usize {
        self.core.tree_count()
    }

    /// How many head entries the space holds.
    pub fn head_count(&self) -> usize {
        self.core.head_count()
    }
}

impl std::fmt::Debug for Space {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Space")
            .field("trees", &self.tree_count())
            .field("changes", &self.change_count())
            .field("last_add_seq", &self.last_add_seq())
            .field("add_seq", &self.add_seq())
            .finish()
    }
}
