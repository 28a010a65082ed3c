//! The real file system's directory lock: a POSIX record lock (`fcntl(F_SETLK)`) on the
//! directory's `LOCK` file, and a table of the directories this process holds.
//!
//! Why not `flock` (std's `File::try_lock`): an `flock` belongs to the open file description,
//! which a child process shares from `fork` until its `exec` closes it. A space closed while
//! another thread forks keeps its lock alive in the child for that instant, and the next open of
//! the space (in this process or the child's own program) fails with `Error::Locked`. A POSIX
//! record lock belongs to the process: a child never inherits it.
//!
//! The price of POSIX locks, and how it is paid: (1) they never conflict within one process, so
//! the table of held directories (by device and inode, whatever path names them) refuses a
//! second lock here; (2) closing *any* descriptor of the file drops the process's lock on it, so
//! the `LOCK` file is opened only by a lock taken while the table holds nothing for it, by its
//! release, and by [`lock_held`] when the table holds nothing for it, all under the table's
//! mutex. Another program's lock is seen with `F_GETLK`, which takes nothing: a look at the lock
//! never makes anyone's open fail.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use super::format::LOCK_FILE;

/// The directories this process holds the lock of: (device, inode) of each.
static HELD: Mutex<BTreeSet<(u64, u64)>> = Mutex::new(BTreeSet::new());

fn held() -> MutexGuard<'static, BTreeSet<(u64, u64)>> {
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

/// The identity of a directory, whatever path names it.
fn key(dir: &Path) -> io::Result<(u64, u64)> {
    let meta = std::fs::metadata(dir)?;
    Ok((meta.dev(), meta.ino()))
}

/// A whole-file record lock request (or query) of `kind` (`F_WRLCK`, `F_UNLCK`).
fn whole_file(kind: libc::c_int) -> libc::flock {
    // SAFETY: `flock` is a plain C struct of integers, for which all zeros is a valid value.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = 0;
    lock.l_len = 0; // To the end of the file, however long.
    lock
}

/// `fcntl(file, cmd, lock)`.
fn fcntl(file: &File, cmd: libc::c_int, lock: &mut libc::flock) -> io::Result<()> {
    // SAFETY: `file` is an open descriptor for the call's duration, and `lock` points to a
    // valid, exclusively borrowed `flock` that `F_SETLK`/`F_GETLK` read and (`F_GETLK`) write.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), cmd, lock as *mut libc::flock) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The lock of a directory, held until dropped.
struct DirLockGuard {
    /// `Some` until dropped: closed under the table's mutex.
    file: Option<File>,
    key: (u64, u64),
}

impl Drop for DirLockGuard {
    fn drop(&mut self) {
        let mut table = held();
        // Closing the descriptor releases the lock; only then may the table let another
        // descriptor of the file be opened (a close would release a lock taken meanwhile).
        drop(self.file.take());
        table.remove(&self.key);
    }
}

/// Takes the exclusive lock of `dir` (creating its `LOCK` file): `WouldBlock` when another
/// process, or another open in this one, holds it.
pub(crate) fn lock_dir(dir: &Path) -> io::Result<Box<dyn Send + Sync>> {
    let mut table = held();
    let key = key(dir)?;
    if table.contains(&key) {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(dir.join(LOCK_FILE))?;
    match fcntl(
        &file,
        libc::F_SETLK,
        &mut whole_file(libc::F_WRLCK as libc::c_int),
    ) {
        Ok(()) => {}
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Err(e) => return Err(e),
    }
    table.insert(key);
    Ok(Box::new(DirLockGuard {
        file: Some(file),
        key,
    }))
}

/// Whether a process (this one included) holds the lock of `dir`, taking nothing: `None` when
/// `dir` has no `LOCK` file. What the tools ask of a live space.
///
/// # Errors
/// The operating system's (`NotFound` when `dir` does not exist).
#[cfg_attr(not(feature = "internals"), allow(dead_code))]
pub fn lock_held(dir: &Path) -> io::Result<Option<bool>> {
    let table = held();
    if table.contains(&key(dir)?) {
        return Ok(Some(true));
    }
    let file = match File::open(dir.join(LOCK_FILE)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut query = whole_file(libc::F_WRLCK as libc::c_int);
    fcntl(&file, libc::F_GETLK, &mut query)?;
    Ok(Some(query.l_type != libc::F_UNLCK as libc::c_short))
}
