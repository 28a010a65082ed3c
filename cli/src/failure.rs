//! [`Failure`]: every way a subcommand ends other than success, each with its exit code and
//! one line for stderr.

use std::io;
use std::path::{Path, PathBuf};

use crate::dir::{dir_status, DirStatus};
use spacestore::Error;

/// The exit codes, as `--help` and the README list them.
pub const EXIT_CODES: &str = "\
Exit codes:
  0   success (verify: every frame and cross-reference checked out)
  1   any other failure (a write that failed, a check the demo makes, a bug)
  2   bad usage: an unknown option, a missing argument, a bad number
  3   the directory does not exist
  4   the directory is not a space (no segment files and no LOCK file,
      or no segment with a valid header)
  5   the space is locked: another process has it open
  6   the log is corrupt: a bad frame followed by valid data (segment and offset named)
  7   verify: a cross-reference check failed (segment and offset named)
  8   unknown tree id
  9   I/O error
  10  repair: not confirmed, nothing changed";

/// Why a subcommand did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// Bad usage (clap reports its own; this is for what clap cannot check).
    Usage(String),
    /// The directory does not exist.
    NoDir(PathBuf),
    /// The directory is not a space.
    NotSpace(PathBuf, String),
    /// Another process holds the space.
    Locked(PathBuf),
    /// A bad frame followed by valid data.
    Corrupt {
        segment: PathBuf,
        offset: u64,
        reason: String,
    },
    /// A failed cross-reference check (`more`: how many others failed too).
    Inconsistent {
        segment: PathBuf,
        offset: u64,
        reason: String,
        more: u64,
    },
    /// No tree with this id.
    UnknownTree(String),
    /// An I/O error.
    Io(String),
    /// The user did not confirm.
    Aborted(String),
    /// Anything else.
    Failed(String),
    /// Stdout was closed (`| head`): stop quietly, successfully.
    BrokenPipe,
}

impl Failure {
    /// The process exit code.
    pub fn code(&self) -> u8 {
        match self {
            Failure::BrokenPipe => 0,
            Failure::Failed(_) => 1,
            Failure::Usage(_) => 2,
            Failure::NoDir(_) => 3,
            Failure::NotSpace(..) => 4,
            Failure::Locked(_) => 5,
            Failure::Corrupt { .. } => 6,
            Failure::Inconsistent { .. } => 7,
            Failure::UnknownTree(_) => 8,
            Failure::Io(_) => 9,
            Failure::Aborted(_) => 10,
        }
    }

    /// The line for stderr (without the `spacestore: ` prefix); `None` for a quiet stop.
    pub fn message(&self) -> Option<String> {
        Some(match self {
            Failure::BrokenPipe => return None,
            Failure::Usage(m) | Failure::Io(m) | Failure::Failed(m) | Failure::Aborted(m) => {
                m.clone()
            }
            Failure::NoDir(dir) => format!("no such directory: {}", dir.display()),
            Failure::NotSpace(dir, why) => {
                format!("{} is not a space directory: {why}", dir.display())
            }
            Failure::Locked(dir) => format!(
                "{} is locked: another process has the space open (inspect, verify and dump \
                 work on an open space; stop it for the others)",
                dir.display()
            ),
            Failure::Corrupt {
                segment,
                offset,
                reason,
            } => format!(
                "corrupt log: segment {}, byte offset {offset}: {reason} (`spacestore repair` \
                 keeps everything before it)",
                segment.display()
            ),
            Failure::Inconsistent {
                segment,
                offset,
                reason,
                more,
            } => {
                let more = match more {
                    0 => String::new(),
                    n => format!(" ({n} more problems)"),
                };
                format!(
                    "check failed: segment {}, byte offset {offset}: {reason}{more}",
                    segment.display()
                )
            }
            Failure::UnknownTree(id) => {
                format!("unknown tree id: {id:?} (`spacestore dump DIR --heads` lists the trees)")
            }
        })
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match e {
            Error::Locked(dir) => Failure::Locked(dir),
            Error::Corrupt {
                segment,
                offset,
                reason,
            } => Failure::Corrupt {
                segment,
                offset,
                reason,
            },
            Error::UnknownTree(id) | Error::EntryNotFound(id) => {
                Failure::UnknownTree(id.to_string())
            }
            Error::Io { context, source } => io_failure(context, &source),
            Error::WritesRefused(why) => Failure::Io(format!("the space refuses writes: {why}")),
            other => Failure::Failed(other.to_string()),
        }
    }
}

/// An I/O error while doing `what`.
pub fn io_failure(what: &str, e: &io::Error) -> Failure {
    if e.kind() == io::ErrorKind::BrokenPipe {
        return Failure::BrokenPipe;
    }
    Failure::Io(format!("I/O error while {what}: {e}"))
}

/// Fails unless `dir` exists and is a space directory.
pub fn require_space(dir: &Path) -> Result<(), Failure> {
    match dir_status(dir) {
        Ok(DirStatus::Space) => Ok(()),
        Ok(DirStatus::Empty) => Err(Failure::NotSpace(
            dir.to_path_buf(),
            "the directory holds no space (no segment files)".into(),
        )),
        Ok(DirStatus::NotASpace(why)) => Err(Failure::NotSpace(dir.to_path_buf(), why)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Failure::NoDir(dir.to_path_buf())),
        Err(e) => Err(io_failure(&format!("looking at {}", dir.display()), &e)),
    }
}

/// Fails unless `dir` is a space, an empty directory or missing (a new space is made there).
/// Returns whether a space is already there.
pub fn space_or_new(dir: &Path) -> Result<bool, Failure> {
    match dir_status(dir) {
        Ok(DirStatus::Space) => Ok(true),
        Ok(DirStatus::Empty) => Ok(false),
        Ok(DirStatus::NotASpace(why)) => Err(Failure::NotSpace(
            dir.to_path_buf(),
            format!("{why}; refusing to write a space into it"),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_failure(&format!("looking at {}", dir.display()), &e)),
    }
}
