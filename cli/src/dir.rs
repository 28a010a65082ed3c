//! What a directory is before the command reads its log: a space (or not, and why), and
//! whether a process holds its lock. Both are the library's own (`spacestore::internals`): the
//! command judges a directory as `open` does, and looks at a lock as the library does, taking
//! nothing.

use std::io;
use std::path::Path;

use spacestore::internals::format::LOCK_FILE;
use spacestore::internals::holds_space;
use spacestore::StdFileSystem;

/// What a directory is, before anything is read from its segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirStatus {
    /// A space directory: what `Space::open` opens (a segment file, whatever its bytes: a
    /// damaged one is the log's to judge, as replay judges it).
    Space,
    /// No space: nothing at all, or only a `LOCK` file (a new space may be created in it;
    /// `Space::open` says `NoSpaceAt`).
    Empty,
    /// Something else, with the reason in words.
    NotASpace(String),
}

/// Says whether `dir` is a space directory, by the library's own test
/// (`internals::holds_space`, what `Space::open` asks). An error is the operating system's
/// (`NotFound` for a missing directory).
pub fn dir_status(dir: &Path) -> io::Result<DirStatus> {
    let meta = std::fs::metadata(dir)?;
    if !meta.is_dir() {
        return Ok(DirStatus::NotASpace("it is not a directory".into()));
    }
    if holds_space(&StdFileSystem, dir)? {
        return Ok(DirStatus::Space);
    }
    let mut others = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() != LOCK_FILE);
    Ok(match others.next() {
        None => DirStatus::Empty,
        Some(_) => DirStatus::NotASpace("no segment files (NNNNNNNNNNNNNNNNNNNN.wal)".into()),
    })
}

/// Whether a process holds the directory's lock (`None`: no `LOCK` file): the library's own
/// look, which takes nothing, so a live application's open never fails because of it.
pub fn lock_held(dir: &Path) -> io::Result<Option<bool>> {
    spacestore::internals::lock_held(dir)
}
