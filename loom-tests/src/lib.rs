//! Support for spacestore's loom models (in `tests/`): an in-memory file system for the log, so
//! that a model runs the real commit path, group commit included, with no disk.
//!
//! Run the models with `RUSTFLAGS="--cfg loom" cargo test -p loom-tests --release`; without
//! `--cfg loom` they are compiled out.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use spacestore::wal::{FileSystem, LogFile};

#[derive(Default)]
struct State {
    /// Current content of each file.
    files: HashMap<PathBuf, Vec<u8>>,
    /// How much of each file an fsync has made durable.
    durable: HashMap<PathBuf, usize>,
    /// fsyncs done.
    syncs: usize,
    /// Appends left before the next one fails (`None`: never).
    fail_append_in: Option<usize>,
    locked: HashSet<PathBuf>,
}

/// An in-memory file system that remembers what was synced.
///
/// Its lock is a std mutex that is never held across a loom operation, so loom never sees it
/// block.
#[derive(Clone, Default)]
pub struct MemFs(Arc<Mutex<State>>);

impl MemFs {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The number of fsyncs so far.
    pub fn syncs(&self) -> usize {
        self.state().syncs
    }

    /// Whether `needle` appears in the durable (synced) bytes of some file.
    pub fn durable_contains(&self, needle: &[u8]) -> bool {
        let s = self.state();
        s.files.iter().any(|(path, bytes)| {
            let n = s.durable.get(path).copied().unwrap_or(0);
            bytes[..n].windows(needle.len()).any(|w| w == needle)
        })
    }

    /// Makes the `n`th append from now (0: the next) fail with an I/O error.
    pub fn fail_append(&self, n: usize) {
        self.state().fail_append_in = Some(n);
    }
}

struct MemFile {
    fs: MemFs,
    path: PathBuf,
}

impl LogFile for MemFile {
    fn append(&self, buf: &[u8]) -> io::Result<()> {
        let mut s = self.fs.state();
        if let Some(n) = s.fail_append_in {
            if n == 0 {
                s.fail_append_in = None;
                return Err(io::Error::other("injected append failure"));
            }
            s.fail_append_in = Some(n - 1);
        }
        s.files
            .entry(self.path.clone())
            .or_default()
            .extend_from_slice(buf);
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        let mut s = self.fs.state();
        let len = s.files.get(&self.path).map_or(0, Vec::len);
        s.durable.insert(self.path.clone(), len);
        s.syncs += 1;
        Ok(())
    }
    fn truncate(&self, len: u64) -> io::Result<()> {
        let mut s = self.fs.state();
        if let Some(f) = s.files.get_mut(&self.path) {
            f.truncate(len as usize);
        }
        Ok(())
    }
}

struct Unlock(MemFs, PathBuf);
impl Drop for Unlock {
    fn drop(&mut self) {
        self.0.state().locked.remove(&self.1);
    }
}

impl FileSystem for MemFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        self.state().files.insert(path.to_path_buf(), Vec::new());
        Ok(Box::new(MemFile {
            fs: self.clone(),
            path: path.to_path_buf(),
        }))
    }
    fn read(&self, path: &Path) -> io::Result<Bytes> {
        let s = self.state();
        let f = s.files.get(path).ok_or(io::ErrorKind::NotFound)?;
        Ok(Bytes::copy_from_slice(f))
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let s = self.state();
        Ok(s.files
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect())
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        if let Some(f) = self.state().files.get_mut(path) {
            f.truncate(len as usize);
        }
        Ok(())
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.state().files.remove(path);
        Ok(())
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.state();
        let f = s.files.remove(from).ok_or(io::ErrorKind::NotFound)?;
        s.files.insert(to.to_path_buf(), f);
        Ok(())
    }
    fn sync_file(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state();
        let len = s.files.get(path).map_or(0, Vec::len);
        s.durable.insert(path.to_path_buf(), len);
        Ok(())
    }
    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
    fn lock_dir(&self, dir: &Path) -> io::Result<Box<dyn Send + Sync>> {
        if !self.state().locked.insert(dir.to_path_buf()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(Box::new(Unlock(self.clone(), dir.to_path_buf())))
    }
}
