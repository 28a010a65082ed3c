//! The log's file abstraction: every byte the log writes or reads goes through [`FileSystem`]
//! and [`LogFile`], so that tests can put a failing or crash-simulating file system underneath
//! without touching the log (raft-engine's `env` module is the model).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use bytes::Bytes;

/// The file operations the write-ahead log needs.
///
/// [`StdFileSystem`] is the real one; tests supply others (failing on command, or keeping
/// synced and unsynced bytes apart to simulate a power loss).
pub trait FileSystem: Send + Sync + 'static {
    /// Creates (or truncates) a file for appending.
    fn create(&self, path: &Path) -> io::Result<Box<dyn LogFile>>;
    /// The whole content of a file, read into memory, in a state the file really was in even
    /// while another process appends to it (the real file system reads it backwards, see
    /// [`StdFileSystem`]). For directories this process does not hold the lock of.
    fn read(&self, path: &Path) -> io::Result<Bytes>;
    /// The whole content of a file without copying it: the real file system maps it (memmap2),
    /// and the bytes stay valid while any `Bytes` of them lives. By default, [`FileSystem::read`].
    ///
    /// # Safety
    ///
    /// Nobody may change the bytes of the file while any returned `Bytes` lives, except by
    /// appending, or by cutting it past every byte still referenced (the caller holds the
    /// directory's lock, so no other spacestore process writes it, and this process only
    /// appends to its segments and cuts torn tails). A mapped file cut under a live reference
    /// faults the process (SIGBUS).
    unsafe fn map(&self, path: &Path) -> io::Result<Bytes> {
        self.read(path)
    }
    /// The size of a file in bytes. By default the length of [`FileSystem::read`].
    fn len(&self, path: &Path) -> io::Result<u64> {
        self.read(path).map(|b| b.len() as u64)
    }
    /// The names of the files in `dir` (not their paths), in any order.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Cuts a file to `len` bytes.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Renames a file, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes a file's content durable (fdatasync). Open does this to the segments it replayed:
    /// after a process crash they may hold frames that were never synced, and new writes must
    /// not become durable before them.
    fn sync_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (created, renamed, removed files) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Creates the directory and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Takes the exclusive lock of the directory, held until the returned guard is dropped.
    /// Fails with [`io::ErrorKind::WouldBlock`] when someone else holds it.
    fn lock_dir(&self, dir: &Path) -> io::Result<Box<dyn Send + Sync>>;
    /// The names of the directories in `dir` (a [`crate::Store`]'s spaces). By default
    /// unsupported: a file system that does not implement it cannot hold a store.
    fn list_dirs(&self, _dir: &Path) -> io::Result<Vec<String>> {
        Err(io::ErrorKind::Unsupported.into())
    }
    /// Removes an empty directory (a deleted space's, once its files are removed). By default
    /// unsupported.
    fn remove_dir(&self, _dir: &Path) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
    /// What is at `path` itself, without following a symbolic link there (`None`: nothing).
    /// One call, whatever the directory holds: a store asks it of a space's directory name
    /// instead of listing its whole directory, and never takes a link for a space.
    ///
    /// By default: a directory when [`FileSystem::list`] lists it (a file system without
    /// links), nothing when that says `NotFound`.
    fn entry(&self, path: &Path) -> io::Result<Option<EntryKind>> {
        match self.list(path) {
            Ok(_) => Ok(Some(EntryKind::Dir)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
    /// Removes `path` and, when it is a directory, everything in it, at any depth, without
    /// following a symbolic link (a link is removed, never what it points to). A store removes
    /// a deleted space's directory with it, whatever the directory came to hold.
    ///
    /// By default: [`FileSystem::list`], [`FileSystem::list_dirs`] (descended into),
    /// [`FileSystem::remove`] and [`FileSystem::remove_dir`].
    fn remove_all(&self, path: &Path) -> io::Result<()> {
        match self.entry(path)? {
            None => Ok(()),
            Some(EntryKind::Dir) => {
                let dirs = self.list_dirs(path)?;
                for name in self.list(path)? {
                    if dirs.contains(&name) {
                        self.remove_all(&path.join(&name))?;
                    } else {
                        self.remove(&path.join(&name))?;
                    }
                }
                self.remove_dir(path)
            }
            Some(_) => self.remove(path),
        }
    }
}

/// What a name in a directory is, as [`FileSystem::entry`] sees it (a link is not followed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory (not a link to one).
    Dir,
    /// Anything else: a symbolic link (to a directory or not), a socket, a device.
    Other,
}

/// Creates `dir` and the directories above it that are missing, and makes each new one's entry
/// durable (syncs the directory it was made in): a directory made and never synced into its
/// parent can vanish at a power cut with everything in it, synced files included.
pub(crate) fn create_dir_durably(fs: &dyn FileSystem, dir: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at.filter(|d| !d.as_os_str().is_empty()) {
        // One call per level, whatever the directory holds (listing it would cost as much as
        // it has entries: a store's `spaces/`). Something there that is not a directory (a
        // link to one, in a caller's own path) ends the walk too: `create_dir_all` judges it.
        match fs.entry(d)? {
            Some(_) => break,
            None => missing.push(d),
        }
        at = d.parent();
    }
    if missing.is_empty() {
        return Ok(());
    }
    fs.create_dir_all(dir)?;
    // Top down: each parent exists (durably) before its new child's entry is synced.
    for made in missing.iter().rev() {
        let parent = made.parent().filter(|p| !p.as_os_str().is_empty());
        fs.sync_dir(parent.unwrap_or(Path::new(".")))?;
    }
    Ok(())
}

/// The mark of an error from [`LogFile::append`] whose append had to make the file durable
/// first (preallocation fsyncs the space it allocates) and that fsync failed: the log then
/// refuses writes, as after any failed fsync of the log. Implementations wrap the fsync's error
/// with [`FsyncFailed::wrap`].
#[derive(Debug)]
pub struct FsyncFailed(io::Error);

impl FsyncFailed {
    /// `e`, marked as the error of a failed fsync.
    pub fn wrap(e: io::Error) -> io::Error {
        io::Error::new(e.kind(), FsyncFailed(e))
    }

    /// Whether `e` is marked as the error of a failed fsync.
    pub fn is(e: &io::Error) -> bool {
        e.get_ref().is_some_and(|inner| inner.is::<FsyncFailed>())
    }

    /// The fsync's own error when `e` is marked (`Ok`), else `e` as it is (`Err`).
    pub fn take(e: io::Error) -> Result<io::Error, io::Error> {
        if !Self::is(&e) {
            return Err(e);
        }
        let kind = e.kind();
        match e.into_inner().map(|inner| inner.downcast::<FsyncFailed>()) {
            Some(Ok(marked)) => Ok(marked.0),
            // Not reached: `is` saw the mark.
            _ => Err(io::Error::from(kind)),
        }
    }
}

impl std::fmt::Display for FsyncFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "fsync failed: {}", self.0)
    }
}

impl std::error::Error for FsyncFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// A log file open for appending.
pub trait LogFile: Send + Sync {
    /// Appends all of `buf` (to the OS; not yet durable). An append that fsyncs (to
    /// preallocate) and fails there returns an error marked with [`FsyncFailed::wrap`].
    fn append(&self, buf: &[u8]) -> io::Result<()>;
    /// Makes everything appended so far durable (fdatasync).
    fn sync_data(&self) -> io::Result<()>;
    /// Cuts the file to `len` bytes (to take back a frame whose append failed).
    fn truncate(&self, len: u64) -> io::Result<()>;
    /// Asks the file to keep allocated, synced space ahead of its data so that an fdatasync
    /// after an append has no metadata to write (`Sync` spaces ask; `Buffered` ones do not, as
    /// they do not fsync per commit). A hint: the default ignores it.
    fn preallocate(&self, _enabled: bool) {}
}

/// The real file system: std's files, memmap2 for mapping, backwards chunked reads for
/// reading, a POSIX record lock for the lock (`wal/lock.rs`: never inherited by a child process).
///
/// [`FileSystem::read`] reads a file backwards, from its end, in chunks: a segment is written
/// strictly in order (each frame after the one before), so whatever frame the read sees, every
/// frame before it was written earlier and is seen too, when its chunk is read later (a plain
/// forward read could see a later frame but not an earlier one, which would look like
/// corruption). Bytes past a shrink during the read (a writer giving back preallocated zeros
/// when it closes a segment) read as zeros, which is what they were. Plain reads, never a map,
/// so a file cut meanwhile cannot fault the reader.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdFileSystem;

/// Bytes read at a time by [`StdFileSystem`]'s backwards read.
const READ_CHUNK: usize = 64 << 10;

/// How far ahead of the data a log file is filled with zeros.
const PREALLOCATE: u64 = 1 << 20;

/// A segment being appended to. When asked (`Sync` spaces), space ahead of the data is
/// preallocated by writing zeros (in steps of [`PREALLOCATE`] bytes), so that appends overwrite allocated blocks of a file whose
/// size does not change, and an `fdatasync` flushes data only, with no metadata to journal
/// (what makes `Sync` commits approach the disk's limit). Zeros end a segment for replay; the
/// file is cut back to its data when it is closed.
struct StdLogFile {
    file: File,
    /// (bytes of data, bytes allocated); appends are serialised by the commit lock anyway.
    lens: Mutex<(u64, u64)>,
    /// Whether to keep zeros ahead of the data (see `LogFile::preallocate`).
    preallocate: AtomicBool,
}

impl StdLogFile {
    fn lens(&self) -> std::sync::MutexGuard<'_, (u64, u64)> {
        self.lens.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl LogFile for StdLogFile {
    fn append(&self, buf: &[u8]) -> io::Result<()> {
        let mut lens = self.lens();
        let (len, allocated) = *lens;
        let end = len + buf.len() as u64;
        if end > allocated && self.preallocate.load(Ordering::Relaxed) {
            let upto = end + PREALLOCATE;
            let zeros = vec![0u8; (upto - allocated) as usize];
            self.file.write_all_at(&zeros, allocated)?;
            // Allocate the blocks and record the size now, once per step, so that the
            // fdatasyncs of the commits in this step have no metadata to journal.
            self.file.sync_data().map_err(FsyncFailed::wrap)?;
            lens.1 = upto;
        }
        self.file.write_all_at(buf, len)?;
        lens.0 = end;
        lens.1 = lens.1.max(end);
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }
    fn truncate(&self, len: u64) -> io::Result<()> {
        let mut lens = self.lens();
        self.file.set_len(len)?;
        *lens = (len, len);
        Ok(())
    }
    fn preallocate(&self, enabled: bool) {
        self.preallocate.store(enabled, Ordering::Relaxed);
    }
}

impl Drop for StdLogFile {
    fn drop(&mut self) {
        // Give the preallocated zeros back. Best effort: replay ignores them anyway.
        let (len, allocated) = *self.lens();
        if allocated > len && self.file.set_len(len).is_ok() {
            let _ = self.file.sync_data();
        }
    }
}

impl FileSystem for StdFileSystem {
    fn create(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(path)?;
        Ok(Box::new(StdLogFile {
            file,
            lens: Mutex::new((0, 0)),
            preallocate: AtomicBool::new(false),
        }))
    }

    fn read(&self, path: &Path) -> io::Result<Bytes> {
        let file = File::open(path)?;
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| io::Error::other("the file does not fit in memory"))?;
        let mut buf = vec![0u8; len];
        let mut end = len;
        while end > 0 {
            let start = end.saturating_sub(READ_CHUNK);
            let mut at = start;
            while at < end {
                let n = file.read_at(&mut buf[at..end], at as u64)?;
                if n == 0 {
                    break; // The file shrank: the rest were zeros.
                }
                at += n;
            }
            end = start;
        }
        Ok(Bytes::from(buf))
    }

    unsafe fn map(&self, path: &Path) -> io::Result<Bytes> {
        let file = File::open(path)?;
        if file.metadata()?.len() == 0 {
            return Ok(Bytes::new());
        }
        // SAFETY: the map is read-only, and the caller guarantees (this function's contract)
        // that nobody changes the file's mapped bytes while the map lives: it holds the space
        // directory's lock, so no other spacestore process writes the file, and this process
        // only appends to segments and cuts a torn tail off the last one past every byte that a
        // frame (and so a `Bytes` into the map) covers. Another program writing the file behind
        // our back would break this, as it would for any mapped database file (DESIGN.md).
        let map = unsafe { memmap2::Mmap::map(&file)? };
        // Replay reads every byte, in order: ask the kernel to read the file ahead now (a
        // cold open would otherwise wait for each page's fault). Only advice: its failure
        // changes nothing.
        #[cfg(unix)]
        let _ = map.advise(memmap2::Advice::WillNeed);
        Ok(Bytes::from_owner(map))
    }

    fn len(&self, path: &Path) -> io::Result<u64> {
        Ok(std::fs::metadata(path)?.len())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            if let Some(name) = entry?.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_data()
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn list_dirs(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                if let Some(name) = entry.file_name().to_str() {
                    names.push(name.to_owned());
                }
            }
        }
        Ok(names)
    }

    fn remove_dir(&self, dir: &Path) -> io::Result<()> {
        std::fs::remove_dir(dir)
    }

    fn entry(&self, path: &Path) -> io::Result<Option<EntryKind>> {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => Ok(Some(EntryKind::Dir)),
            Ok(meta) if meta.is_file() => Ok(Some(EntryKind::File)),
            Ok(_) => Ok(Some(EntryKind::Other)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn remove_all(&self, path: &Path) -> io::Result<()> {
        // std's `remove_dir_all` does not follow links, at `path` or below it.
        match self.entry(path)? {
            None => Ok(()),
            Some(EntryKind::Dir) => std::fs::remove_dir_all(path),
            Some(_) => std::fs::remove_file(path),
        }
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<Box<dyn Send + Sync>> {
        super::lock::lock_dir(dir)
    }
}
