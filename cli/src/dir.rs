//! What a directory is before the command reads its log: a space (or not, and why), and
//! whether another process holds its lock. The file names and the header check are the
//! library's (`spacestore::internals`), so the command judges names as `open` does.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use spacestore::internals::format::{segment_path, segment_seq_of, LOCK_FILE};
use spacestore::internals::frame::{self, HeaderError};

/// What a directory is, before anything is read from its segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirStatus {
    /// A space directory: a `LOCK` file, or a segment file with a valid header.
    Space,
    /// An empty directory (a new space may be created in it).
    Empty,
    /// Something else, with the reason in words.
    NotASpace(String),
}

fn header_reason(e: &HeaderError) -> String {
    match e {
        HeaderError::Short => "incomplete segment header".into(),
        HeaderError::Bad(reason) => (*reason).into(),
        HeaderError::Version(v) => format!(
            "format version {v}; this build reads {} to {}",
            frame::OLDEST_VERSION,
            frame::VERSION
        ),
        HeaderError::Mismatch(reason) => reason.clone(),
    }
}

/// The first `n` bytes of a file (fewer when it is shorter).
fn read_prefix(path: &Path, n: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(n);
    File::open(path)?.take(n as u64).read_to_end(&mut out)?;
    Ok(out)
}

/// Says whether `dir` is a space directory, reading at most a segment header per file. An error
/// is the operating system's (`NotFound` for a missing directory).
pub fn dir_status(dir: &Path) -> io::Result<DirStatus> {
    let meta = std::fs::metadata(dir)?;
    if !meta.is_dir() {
        return Ok(DirStatus::NotASpace("it is not a directory".into()));
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    if names.is_empty() {
        return Ok(DirStatus::Empty);
    }
    if names.iter().any(|n| n == LOCK_FILE) {
        return Ok(DirStatus::Space);
    }
    let mut segments: Vec<(u64, &String)> = names
        .iter()
        .filter_map(|n| segment_seq_of(n).map(|s| (s, n)))
        .collect();
    segments.sort_unstable();
    let Some(&(first_seq, first_name)) = segments.first() else {
        return Ok(DirStatus::NotASpace(
            "no segment files (NNNNNNNNNNNNNNNNNNNN.wal) and no LOCK file".into(),
        ));
    };
    for &(seq, _) in &segments {
        let header = read_prefix(&segment_path(dir, seq), frame::MAX_HEADER_LEN)?;
        if frame::read_header(&header, seq).is_ok() {
            return Ok(DirStatus::Space);
        }
    }
    let header = read_prefix(&segment_path(dir, first_seq), frame::MAX_HEADER_LEN)?;
    let why = match frame::read_header(&header, first_seq) {
        Err(e) => header_reason(&e),
        Ok(_) => "unreadable".into(),
    };
    Ok(DirStatus::NotASpace(format!(
        "no LOCK file, and no segment has a valid header ({first_name}: {why})"
    )))
}

/// Whether another process holds the directory's lock: `None` when there is no `LOCK` file.
///
/// The check takes a shared lock on `LOCK` for an instant and lets it go at once: a
/// `Space::open` racing with that instant would get `Error::Locked`.
pub fn lock_held(dir: &Path) -> io::Result<Option<bool>> {
    let file = match File::open(dir.join(LOCK_FILE)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(Some(false)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(Some(true)),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}
