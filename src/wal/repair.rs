//! What open does to the disk after a scan ([`super::scan`]): cutting a torn tail, moving a
//! corrupt rest aside (`Recovery::Repair`), removing what a finished checkpoint superseded, and
//! syncing the replayed segments. Never called by a read-only open.

use std::path::{Path, PathBuf};

use super::env::FileSystem;
use super::format::{corrupt_segment_path, corrupt_tail_path, is_checkpoint_tmp, segment_path};
use super::scan::{highest_seq_in, Bad, LogDir};
use crate::error::io;
use crate::Result;

/// Cuts segment `path` at `offset`; a segment cut at 0 (its header is bad) is removed.
pub(crate) fn cut(fs: &dyn FileSystem, dir: &Path, path: &Path, offset: usize) -> Result<()> {
    let result = if offset == 0 {
        fs.remove(path)
    } else {
        fs.truncate(path, offset as u64)
    };
    result.map_err(io("cutting off a torn tail"))?;
    fs.sync_dir(dir).map_err(io("syncing the space directory"))
}

/// Cuts the torn tail at `bad` and removes the (headerless) segments after it.
pub(crate) fn cut_torn_tail(fs: &dyn FileSystem, log: &LogDir, bad: &Bad) -> Result<()> {
    cut(fs, &log.dir, &log.path(bad.segment), bad.offset)?;
    for &s in &log.replayed()[bad.segment + 1..] {
        fs.remove(&segment_path(&log.dir, s))
            .map_err(io("removing an empty segment"))?;
    }
    Ok(())
}

/// What [`move_aside`] did.
pub(crate) struct MovedAside {
    /// The side files, in log order.
    pub(crate) moved_to: Vec<PathBuf>,
    /// The highest seq any valid frame of what was moved names: it must not be handed out again.
    pub(crate) highest_seq: u64,
}

/// Repair: keeps everything before `bad`; the rest of its segment goes to a side file
/// (`*.wal.corrupt-at-N`), later segments are renamed `*.wal.corrupt`.
pub(crate) fn move_aside(fs: &dyn FileSystem, log: &LogDir, bad: &Bad) -> Result<MovedAside> {
    let seqs = log.replayed();
    let bytes = &log.bytes[bad.segment];
    let mut highest_seq = highest_seq_in(bytes, bad.offset + 1, seqs[bad.segment]);
    for (&s, later) in seqs[bad.segment + 1..]
        .iter()
        .zip(&log.bytes[bad.segment + 1..])
    {
        highest_seq = highest_seq.max(highest_seq_in(later, 1, s));
    }
    let path = log.path(bad.segment);
    let side = corrupt_tail_path(&path, bad.offset as u64);
    let f = fs.create(&side).map_err(io("writing a repair side file"))?;
    f.append(&bytes[bad.offset..])
        .map_err(io("writing a repair side file"))?;
    f.sync_data().map_err(io("writing a repair side file"))?;
    drop(f);
    let mut moved_to = vec![side];
    cut(fs, &log.dir, &path, bad.offset)?;
    for &s in &seqs[bad.segment + 1..] {
        let from = segment_path(&log.dir, s);
        let to = corrupt_segment_path(&from);
        fs.rename(&from, &to)
            .map_err(io("moving a segment aside"))?;
        moved_to.push(to);
    }
    fs.sync_dir(&log.dir)
        .map_err(io("syncing the space directory"))?;
    Ok(MovedAside {
        moved_to,
        highest_seq,
    })
}

/// After a clean replay: segments before the last checkpoint are superseded (left by a crash
/// between the checkpoint's rename and their removal), and a `.wal.tmp` is a checkpoint that
/// never got renamed: removes both. (Never before: a strict open that then finds corruption
/// must leave the disk as it was.)
pub(crate) fn remove_superseded(fs: &dyn FileSystem, log: &LogDir) -> Result<()> {
    for &s in log.superseded() {
        fs.remove(&segment_path(&log.dir, s))
            .map_err(io("removing a superseded segment"))?;
    }
    for name in log.names.iter().filter(|n| is_checkpoint_tmp(n)) {
        fs.remove(&log.dir.join(name))
            .map_err(io("removing an unfinished checkpoint"))?;
    }
    Ok(())
}

/// Makes segments `seqs` durable, their names included: after a process crash the page cache
/// may hold frames of them never synced (and the directory a segment's name never synced: a
/// segment's name is made durable by the first sync of its frames), and new writes must not
/// become durable before them (or a power cut could leave a hole instead of a prefix).
pub(crate) fn sync_segments(fs: &dyn FileSystem, dir: &Path, seqs: &[u64]) -> Result<()> {
    for &seq in seqs {
        fs.sync_file(&segment_path(dir, seq))
            .map_err(io("syncing a replayed segment"))?;
    }
    fs.sync_dir(dir).map_err(io("syncing the space directory"))
}
