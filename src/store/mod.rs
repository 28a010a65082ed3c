//! [`Store`]: many spaces in one directory (Go's `SpaceStorageProvider`), each opened on first
//! use, shared while open, and closed again when too many are open.

mod cache;
pub(crate) mod names;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cache::{Closing, Lookup, OpenSpaces, Take};

use crate::error::{io, lock_failed};
use crate::sync::{lock, Mutex, MutexGuard};
use crate::trace;
use crate::{EntryKind, Error, Id, Options, Result, Space, SpacePayload, StoreOptions};

/// Many spaces in one directory (Go's `SpaceStorageProvider`), or in memory.
///
/// A store on disk holds one space directory per space (DESIGN.md, "Many spaces in one
/// store") and one lock for the whole directory, besides each space's own. [`Store::space`]
/// opens a space on its first use (replaying its log once) and hands out the same handle while
/// it is open; at most [`StoreOptions::max_open_spaces`] are kept open: past that, the least recently
/// used ones that no handle holds are closed cleanly, and reopened on their next use. A space
/// whose handles are held stays open, so a caller never sees a space closed under it.
///
/// `Store` is a cheap handle: clone it to share it between threads. Opening a space (its
/// replay), creating, closing and deleting one run outside the store's lock: a slow open holds
/// up only the callers of that space.
///
/// ```
/// use spacestore::{Options, SpacePayload, Store, TreeRoot};
/// let dir = tempfile::tempdir()?;
/// let payload = |id: &str| SpacePayload::new(id, b"header".to_vec(), "acl", b"acl".to_vec(),
///     TreeRoot::new("settings", b"settings".to_vec()));
/// {
///     let store = Store::open(dir.path(), Options::default())?;
///     store.create_space(payload("one.1"))?;
///     store.create_space(payload("two.1"))?;
/// }
/// let store = Store::open(dir.path(), Options::default())?;
/// assert_eq!(store.space_ids()?, ["one.1", "two.1"]);
/// assert_eq!(store.space("two.1")?.id().as_deref(), Some("two.1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None`: an in-memory store.
    root: Option<PathBuf>,
    /// How each space is opened.
    options: Options,
    /// [`StoreOptions::max_open_spaces`].
    max_open_spaces: usize,
    /// Held while the store is open (`None` in memory).
    _lock: Option<Box<dyn Send + Sync>>,
    /// The open spaces (on disk; and the busy ones: see `cache::Turn`) or every space (in
    /// memory). Held only to look up and change the map: opening, creating, closing and
    /// deleting a space run outside it, as a turn on that space.
    spaces: Mutex<Spaces>,
}

enum Spaces {
    OnDisk(OpenSpaces),
    InMemory(BTreeMap<Id, Space>),
}

impl Store {
    /// Opens the store in `root`, creating the directory when there is none: takes the store's
    /// lock ([`Error::Locked`] when another `Store` holds it), removes what an unfinished
    /// creation or deletion left (whatever it came to hold; a leftover that cannot be removed
    /// stays, unlisted, and the store opens) and renames the directories of a store of 0.1
    /// whose names kept upper case (see DESIGN.md, "Many spaces in one store"). No space is
    /// opened yet. `options` is how each space is opened (a plain [`Options`]), or that and the
    /// store's own settings (a [`StoreOptions`]).
    ///
    /// # Errors
    /// [`Error::Locked`]; [`Error::Io`] when the directory cannot be made, locked, listed or an
    /// older name renamed (also when `options`' file system does not support directories of
    /// directories).
    pub fn open(root: impl AsRef<Path>, options: impl Into<StoreOptions>) -> Result<Store> {
        let StoreOptions {
            space: options,
            max_open_spaces,
        } = options.into();
        let root = root.as_ref().to_path_buf();
        let fs = Arc::clone(&options.fs);
        let spaces = names::spaces_dir(&root);
        crate::wal::create_dir_durably(fs.as_ref(), &spaces)
            .map_err(io("creating the store directory"))?;
        let lock = fs
            .lock_dir(&root)
            .map_err(lock_failed(&root, "locking the store directory"))?;
        let store = Store {
            inner: Arc::new(Inner {
                root: Some(root),
                options,
                max_open_spaces,
                _lock: Some(lock),
                spaces: Mutex::new(Spaces::OnDisk(OpenSpaces::default())),
            }),
        };
        // Every name, links and files too: a leftover is removed whatever it is.
        let all = fs.list(&spaces).map_err(io("listing the store's spaces"))?;
        for name in all.iter().filter(|n| names::is_leftover(n)) {
            if let Err(_e) = fs.remove_all(&spaces.join(name)) {
                trace::warn_event!(leftover = %name, error = %_e, "cannot remove a leftover");
            }
        }
        store.rename_legacy_names(&all)?;
        Ok(store)
    }

    /// Renames the space directories of a store of 0.1 whose names kept upper case (two ids
    /// differing only in case shared one directory on a case-insensitive file system) to the
    /// names of [`names::dir_name`], durably. A directory whose new name is taken is left as
    /// it is (not a space of the store: never listed, opened or removed).
    /// `all`: every name in `spaces/` (the open's one listing).
    fn rename_legacy_names(&self, all: &[String]) -> Result<()> {
        let fs = &self.inner.options.fs;
        let spaces = self.spaces_dir();
        let mut renamed = false;
        for (name, id) in all
            .iter()
            .filter_map(|n| Some((n, names::legacy_id_of(n)?)))
        {
            let (from, to) = (spaces.join(name), spaces.join(names::dir_name(&id)));
            let free = || fs.entry(&to).map(|e| e.is_none());
            if self.dir_exists(&from) && free().map_err(io("renaming an older space name"))? {
                fs.rename(&from, &to)
                    .map_err(io("renaming an older space name"))?;
                renamed = true;
            }
        }
        if renamed {
            fs.sync_dir(&spaces)
                .map_err(io("syncing the store's directory"))?;
        }
        Ok(())
    }

    /// A store with no files: every space is [`Space::in_memory`] and lives until it is
    /// deleted or the store's last handle is dropped (no space is ever closed to save
    /// memory: that would lose it).
    pub fn in_memory() -> Store {
        Store {
            inner: Arc::new(Inner {
                root: None,
                options: Options::default(),
                max_open_spaces: StoreOptions::default().max_open_spaces,
                _lock: None,
                spaces: Mutex::new(Spaces::InMemory(BTreeMap::new())),
            }),
        }
    }

    /// The store's directory (`None` in memory).
    pub fn root(&self) -> Option<&Path> {
        self.inner.root.as_deref()
    }

    /// Creates a whole space from `payload` (Go's `CreateSpaceStorage`) and returns it, open.
    /// On disk the space is written in a directory of its own under a temporary name, closed
    /// (its log synced) and then renamed into place: a space is in the store whole or not at
    /// all, also after a crash in the middle.
    ///
    /// # Errors
    /// [`Error::SpaceExists`]; [`Error::IncorrectSpaceHeader`] ([`SpacePayload::validate`]);
    /// [`Error::Io`].
    pub fn create_space(&self, payload: SpacePayload) -> Result<Space> {
        payload.validate()?;
        let id = payload.space_id.clone();
        let name = names::dir_name(&id);
        let dir = self.space_dir(&name);
        let turn = loop {
            let mut spaces = lock(&self.inner.spaces);
            let open = match &mut *spaces {
                Spaces::InMemory(all) => {
                    if all.contains_key(&id) {
                        return Err(Error::SpaceExists(id));
                    }
                    let space = Space::in_memory();
                    space.write_space(payload)?;
                    all.insert(id, space.clone());
                    return Ok(space);
                }
                Spaces::OnDisk(open) => open,
            };
            match open.lookup(&id) {
                Lookup::Busy(turn) => {
                    drop(spaces);
                    turn.wait();
                }
                Lookup::Open(_) => return Err(Error::SpaceExists(id)),
                Lookup::Absent if self.dir_exists(&dir) => return Err(Error::SpaceExists(id)),
                Lookup::Absent => break self.begin(spaces, id.clone()),
            }
        };
        let tmp = self.spaces_dir().join(names::creating(&name));
        let fs = &self.inner.options.fs;
        let placed = (|| {
            self.remove_space_dir(&tmp)?;
            let created = Space::create(&tmp, self.inner.options.clone())?;
            created.write_space(payload)?;
            // Durable before it is renamed into place, whatever the durability.
            created.sync()?;
            drop(created);
            fs.rename(&tmp, &dir)
                .map_err(io("renaming a new space into place"))
        })();
        if let Err(e) = placed {
            // A refused creation leaves nothing (the next open would remove it anyway).
            let _ = self.remove_space_dir(&tmp);
            return Err(e);
        }
        fs.sync_dir(&self.spaces_dir())
            .map_err(io("syncing the store's directory"))?;
        let space = Space::create(&dir, self.inner.options.clone())?;
        turn.finish(Some(space.clone()));
        Ok(space)
    }

    /// The space `id`, opened (its log replayed) on its first use and shared while open (Go's
    /// `WaitSpaceStorage`).
    ///
    /// # Errors
    /// [`Error::SpaceMissing`] when the store has no such space; what [`Space::open`] can fail
    /// with (a space another process holds: [`Error::Locked`]).
    pub fn space(&self, id: &str) -> Result<Space> {
        let missing = || Error::SpaceMissing(Id::from(id));
        let dir = self.space_dir(&names::dir_name(id));
        let turn = loop {
            let mut spaces = lock(&self.inner.spaces);
            let open = match &mut *spaces {
                Spaces::InMemory(all) => return all.get(id).cloned().ok_or_else(missing),
                Spaces::OnDisk(open) => open,
            };
            match open.lookup(id) {
                Lookup::Open(space) => {
                    // Spaces held past the limit when they were opened may be idle now.
                    let max = self.inner.max_open_spaces;
                    let closing = if open.len() > max {
                        open.evict_to(max)
                    } else {
                        Vec::new()
                    };
                    drop(spaces);
                    self.close_taken(closing);
                    return Ok(space);
                }
                Lookup::Busy(turn) => {
                    drop(spaces);
                    turn.wait();
                }
                Lookup::Absent if !self.dir_exists(&dir) => return Err(missing()),
                Lookup::Absent => break self.begin(spaces, Id::from(id)),
            }
        };
        let space = Space::create(&dir, self.inner.options.clone())?;
        turn.finish(Some(space.clone()));
        Ok(space)
    }

    /// Makes space `id` this thread's turn (other threads that want it wait for the turn to
    /// end), first taking out the least recently used idle spaces past the limit, which it
    /// closes once the store's lock is released.
    fn begin(&self, mut guard: MutexGuard<'_, Spaces>, id: Id) -> TurnOn<'_> {
        let closing = match &mut *guard {
            Spaces::OnDisk(open) => {
                open.begin(id.clone());
                open.evict_to(self.inner.max_open_spaces)
            }
            Spaces::InMemory(_) => Vec::new(),
        };
        drop(guard);
        self.close_taken(closing);
        TurnOn {
            store: self,
            id,
            finished: false,
        }
    }

    /// Closes spaces taken out of the store (outside its lock: a close writes and syncs its
    /// close frame), then ends their turns.
    fn close_taken(&self, closing: Vec<Closing>) {
        if closing.is_empty() {
            return;
        }
        let ids: Vec<Id> = closing
            .into_iter()
            .map(|Closing { id, space }| {
                drop(space);
                id
            })
            .collect();
        self.finish(&ids, None);
    }

    /// Ends this thread's turns on `ids`: open from now on (`Some`), or not.
    fn finish(&self, ids: &[Id], space: Option<Space>) {
        let mut spaces = lock(&self.inner.spaces);
        if let Spaces::OnDisk(open) = &mut *spaces {
            for id in ids {
                open.finish(id, space.clone());
            }
        }
    }

    /// Whether the store holds space `id` (Go's `SpaceExists`).
    pub fn space_exists(&self, id: &str) -> bool {
        match &*lock(&self.inner.spaces) {
            Spaces::InMemory(all) => all.contains_key(id),
            Spaces::OnDisk(_) => self.dir_exists(&self.space_dir(&names::dir_name(id))),
        }
    }

    /// The ids of every space of the store, sorted.
    ///
    /// # Errors
    /// [`Error::Io`] when the directory cannot be listed.
    pub fn space_ids(&self) -> Result<Vec<Id>> {
        let spaces = lock(&self.inner.spaces);
        if let Spaces::InMemory(all) = &*spaces {
            return Ok(all.keys().cloned().collect());
        }
        let root = self.inner.root.as_deref().unwrap_or(Path::new(""));
        let dirs = names::space_dirs(self.inner.options.fs.as_ref(), root)
            .map_err(io("listing the store's spaces"))?;
        Ok(dirs.into_iter().map(|(id, _)| id).collect())
    }

    /// How many spaces are open now (on disk: at most [`StoreOptions::max_open_spaces`], unless
    /// more are held by handles; in memory: all of them).
    pub fn open_spaces(&self) -> usize {
        match &*lock(&self.inner.spaces) {
            Spaces::InMemory(all) => all.len(),
            Spaces::OnDisk(open) => open.open(),
        }
    }

    /// Closes every space this store has open, as [`crate::Space::close`] closes one (its
    /// close frame written and synced: the next open of each replays nothing to repair), and
    /// reports the first error; each space is closed whatever happened to the others. Dropping
    /// a store closes them too, without a word about an error. Handles still held elsewhere
    /// read on and get [`Error::Closed`] on a write; another clone of this store opens a space
    /// again when asked for it.
    ///
    /// ```
    /// use spacestore::{Options, SpacePayload, Store, TreeRoot};
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path(), Options::default())?;
    /// let payload = SpacePayload::new(
    ///     "one.1", b"header".to_vec(), "acl", b"acl root".to_vec(),
    ///     TreeRoot::new("settings", b"settings".to_vec()),
    /// );
    /// store.create_space(payload)?;
    /// store.close()?;
    /// let again = Store::open(dir.path(), Options::default())?; // the lock is free
    /// assert_eq!(again.space_ids()?, ["one.1"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The first of the spaces' [`crate::Space::close`] errors ([`Error::Io`],
    /// [`Error::WritesRefused`]): nothing acknowledged is lost, as there.
    pub fn close(self) -> Result<()> {
        let closing = match &mut *lock(&self.inner.spaces) {
            Spaces::OnDisk(open) => open.take_all_open(),
            Spaces::InMemory(_) => return Ok(()),
        };
        let mut first_error = None;
        let mut ids = Vec::with_capacity(closing.len());
        for Closing { id, space } in closing {
            if let Err(e) = space.close() {
                first_error.get_or_insert(e);
            }
            ids.push(id);
        }
        self.finish(&ids, None);
        first_error.map_or(Ok(()), Err)
    }

    /// Deletes space `id`: closes it and removes its directory (renamed aside first, so a crash
    /// in the middle leaves no half space: the next open removes the rest).
    ///
    /// # Errors
    /// [`Error::SpaceMissing`]; [`Error::SpaceInUse`] while a handle to the space is held
    /// here; [`Error::Locked`] while another process holds it; [`Error::Io`].
    pub fn delete_space(&self, id: &str) -> Result<()> {
        let name = names::dir_name(id);
        let dir = self.space_dir(&name);
        let (turn, space) = loop {
            let mut spaces = lock(&self.inner.spaces);
            let open = match &mut *spaces {
                Spaces::InMemory(all) => {
                    return match all.remove(id) {
                        Some(_) => Ok(()),
                        None => Err(Error::SpaceMissing(Id::from(id))),
                    };
                }
                Spaces::OnDisk(open) => open,
            };
            match open.take(&Id::from(id)) {
                Take::Busy(turn) => {
                    drop(spaces);
                    turn.wait();
                }
                Take::InUse => return Err(Error::SpaceInUse(Id::from(id))),
                Take::Taken(space) => {
                    let turn = TurnOn {
                        store: self,
                        id: Id::from(id),
                        finished: false,
                    };
                    break (turn, space);
                }
            }
        };
        if !self.dir_exists(&dir) {
            return Err(Error::SpaceMissing(Id::from(id)));
        }
        // Closed (its close frame written) before its directory goes.
        drop(space);
        let fs = &self.inner.options.fs;
        // Nobody else (another process's `Space::open` of the directory) holds it either.
        let guard = fs
            .lock_dir(&dir)
            .map_err(lock_failed(&dir, "locking a space to delete it"))?;
        drop(guard);
        let aside = self.spaces_dir().join(names::deleting(&name));
        fs.rename(&dir, &aside)
            .map_err(io("moving a deleted space aside"))?;
        fs.sync_dir(&self.spaces_dir())
            .map_err(io("syncing the store's directory"))?;
        let removed = self.remove_space_dir(&aside);
        turn.finish(None);
        removed
    }

    fn spaces_dir(&self) -> PathBuf {
        names::spaces_dir(self.inner.root.as_deref().unwrap_or(Path::new("")))
    }

    fn space_dir(&self, name: &str) -> PathBuf {
        self.spaces_dir().join(name)
    }

    /// Whether a space's directory is there: a directory itself (a link is not followed: a
    /// link in `spaces/` is never a space), found in one call whatever `spaces/` holds. An
    /// error to ask is taken as no space.
    fn dir_exists(&self, dir: &Path) -> bool {
        matches!(self.inner.options.fs.entry(dir), Ok(Some(EntryKind::Dir)))
    }

    /// Removes a space directory that nothing holds, with whatever it came to hold (without
    /// following a link); nothing there is no error.
    fn remove_space_dir(&self, dir: &Path) -> Result<()> {
        self.inner
            .options
            .fs
            .remove_all(dir)
            .map_err(io("removing a removed space's directory"))
    }
}

/// This thread's turn on one space of the store: other threads that want the space wait until
/// it ends. Dropped unfinished (an error on the way), it ends with the space not open.
struct TurnOn<'a> {
    store: &'a Store,
    id: Id,
    finished: bool,
}

impl TurnOn<'_> {
    /// Ends the turn: the space is open from now on (`Some`), or not.
    fn finish(mut self, space: Option<Space>) {
        self.finished = true;
        self.store.finish(std::slice::from_ref(&self.id), space);
    }
}

impl Drop for TurnOn<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.store.finish(std::slice::from_ref(&self.id), None);
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("root", &self.inner.root)
            .field("open_spaces", &self.open_spaces())
            .finish()
    }
}
