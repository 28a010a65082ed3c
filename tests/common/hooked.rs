//! [`Hooked`]: the real file system with a test's hook on every call: the path it is asked for
//! (a case-insensitive file system maps names) and a look at each call before it runs (counts,
//! a gate that holds a call). One forwarding file system for every test that needs one.

use std::io;
use std::path::{Path, PathBuf};

use spacestore::{EntryKind, FileSystem, LogFile, StdFileSystem};

/// A call through the seam.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// `create`: a file opened for writing (created or truncated).
    Create,
    /// `read` or `map`: a file opened for reading.
    Read,
    /// `LogFile::append`.
    Append,
    /// `LogFile::sync_data`.
    SyncData,
    /// `LogFile::truncate` or `FileSystem::truncate`.
    Truncate,
    Remove,
    Rename,
    SyncFile,
    SyncDir,
    CreateDir,
    LockDir,
    List,
    RemoveDir,
    RemoveAll,
}

impl Call {
    /// Whether the call changes the disk.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Call::Create
                | Call::Append
                | Call::Truncate
                | Call::Remove
                | Call::Rename
                | Call::CreateDir
                | Call::RemoveDir
                | Call::RemoveAll
        )
    }

    /// Whether the call is an fsync (of a file or a directory).
    pub fn syncs(self) -> bool {
        matches!(self, Call::SyncData | Call::SyncFile | Call::SyncDir)
    }

    /// Whether the call opens a file (to write, to read, the lock's).
    pub fn opens(self) -> bool {
        matches!(self, Call::Create | Call::Read | Call::LockDir)
    }
}

/// What a test does to the calls.
pub trait Hook: Send + Sync + 'static {
    /// The path the real file system is asked for instead of `path`.
    fn path(&self, path: &Path) -> PathBuf {
        path.to_path_buf()
    }
    /// Runs before each call (with the path the caller gave).
    fn call(&self, _call: Call, _path: &Path) {}
}

/// The real file system, with `H` on every call.
pub struct Hooked<H: Hook>(pub std::sync::Arc<H>);

impl<H: Hook> Hooked<H> {
    pub fn new(hook: H) -> Self {
        Hooked(std::sync::Arc::new(hook))
    }

    fn at(&self, call: Call, path: &Path) -> PathBuf {
        self.0.call(call, path);
        self.0.path(path)
    }
}

struct HookedFile<H: Hook> {
    inner: Box<dyn LogFile>,
    hook: std::sync::Arc<H>,
    path: PathBuf,
}

impl<H: Hook> LogFile for HookedFile<H> {
    fn append(&self, buf: &[u8]) -> io::Result<()> {
        self.hook.call(Call::Append, &self.path);
        self.inner.append(buf)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.hook.call(Call::SyncData, &self.path);
        self.inner.sync_data()
    }
    fn truncate(&self, len: u64) -> io::Result<()> {
        self.hook.call(Call::Truncate, &self.path);
        self.inner.truncate(len)
    }
    fn preallocate(&self, enabled: bool) {
        self.inner.preallocate(enabled)
    }
}

impl<H: Hook> FileSystem for Hooked<H> {
    fn create(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let inner = StdFileSystem.create(&self.at(Call::Create, path))?;
        Ok(Box::new(HookedFile {
            inner,
            hook: std::sync::Arc::clone(&self.0),
            path: path.to_path_buf(),
        }))
    }
    fn read(&self, path: &Path) -> io::Result<bytes::Bytes> {
        StdFileSystem.read(&self.at(Call::Read, path))
    }
    unsafe fn map(&self, path: &Path) -> io::Result<bytes::Bytes> {
        let path = self.at(Call::Read, path);
        // SAFETY: forwards the caller's own guarantee (the trait's contract) for the same file.
        unsafe { StdFileSystem.map(&path) }
    }
    fn len(&self, path: &Path) -> io::Result<u64> {
        StdFileSystem.len(&self.0.path(path))
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        StdFileSystem.list(&self.at(Call::List, dir))
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        StdFileSystem.truncate(&self.at(Call::Truncate, path), len)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        StdFileSystem.remove(&self.at(Call::Remove, path))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let from = self.at(Call::Rename, from);
        StdFileSystem.rename(&from, &self.0.path(to))
    }
    fn sync_file(&self, path: &Path) -> io::Result<()> {
        StdFileSystem.sync_file(&self.at(Call::SyncFile, path))
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        StdFileSystem.sync_dir(&self.at(Call::SyncDir, dir))
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        StdFileSystem.create_dir_all(&self.at(Call::CreateDir, dir))
    }
    fn lock_dir(&self, dir: &Path) -> io::Result<Box<dyn Send + Sync>> {
        StdFileSystem.lock_dir(&self.at(Call::LockDir, dir))
    }
    fn list_dirs(&self, dir: &Path) -> io::Result<Vec<String>> {
        StdFileSystem.list_dirs(&self.at(Call::List, dir))
    }
    fn remove_dir(&self, dir: &Path) -> io::Result<()> {
        StdFileSystem.remove_dir(&self.at(Call::RemoveDir, dir))
    }
    fn entry(&self, path: &Path) -> io::Result<Option<EntryKind>> {
        StdFileSystem.entry(&self.0.path(path))
    }
    fn remove_all(&self, path: &Path) -> io::Result<()> {
        StdFileSystem.remove_all(&self.at(Call::RemoveAll, path))
    }
}
