//! Opening a space directory, wired in one place (raft-engine's `engine.rs` is the model): lock
//! the directory, list it and read its segments once ([`LogDir`]), replay them into a new
//! [`Memory`] ([`replay`]), set the counter above every seq ever handed out, and, after a crash
//! only, sync what was replayed and start the log's new segment (a cleanly closed log is left
//! as it is until the first write).

use std::path::Path;
use std::sync::Arc;

use crate::error::lock_failed;
use crate::memory::Memory;
use crate::record::{CursorFields, CursorMove, Record};
use crate::replay;
use crate::report::RecoveryReport;
use crate::space_core::SpaceCore;
use crate::trace;
use crate::wal::frame::new_incarnation;
use crate::wal::repair::sync_segments;
use crate::wal::scan::{DirLock, LogDir, ReadMode};
use crate::wal::{Wal, WalConfig};
use crate::{AddSeqCounter, Durability, Error, FileSystem, Options, Result};

/// About how many bytes of log a change takes: replay presizes the change map from the log's
/// size, so that it does not rehash while it fills.
const BYTES_PER_CHANGE: u64 = 512;

/// An opened directory: the replayed memory, the counter above every seq ever handed out, the
/// log to write to, and the report.
pub(crate) struct Opened {
    pub(crate) memory: Memory,
    pub(crate) counter: AddSeqCounter,
    pub(crate) wal: Wal,
    pub(crate) report: RecoveryReport,
}

/// An empty memory for replaying `log`, its change map sized from the log's bytes.
pub(crate) fn memory_for(log: &LogDir) -> Memory {
    Memory::filled_in_bulk(usize::try_from(log.replayed_bytes() / BYTES_PER_CHANGE).unwrap_or(0))
}

/// Whether `dir` holds a space: a directory with at least one segment file (by its name;
/// what its bytes say is replay's to judge). The one test of "is this a space": `Space::open`
/// asks it before it opens (so that a path with no space is not made one), and the tools ask
/// it (`internals::holds_space`) before they read. A directory with only a `LOCK` file holds
/// none; a missing one neither.
///
/// # Errors
/// The operating system's, but `NotFound`.
pub fn holds_space(fs: &dyn FileSystem, dir: &Path) -> std::io::Result<bool> {
    match fs.list(dir) {
        Ok(names) => Ok(names
            .iter()
            .any(|n| crate::wal::format::segment_seq_of(n).is_some())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Locks `dir` and replays its log; after a crash, syncs it and starts a new segment (a log
/// that ends with a clean close is left as it is until the first write).
pub(crate) fn open(dir: &Path, options: &Options) -> Result<Opened> {
    trace::info_span!("open", dir = %dir.display());
    let fs = Arc::clone(&options.fs);
    crate::wal::create_dir_durably(fs.as_ref(), dir).map_err(|source| Error::Io {
        context: "creating the space directory",
        source,
    })?;
    let lock = DirLock::new(
        fs.lock_dir(dir)
            .map_err(lock_failed(dir, "locking the space directory"))?,
    );
    let log = LogDir::read(fs.as_ref(), dir, ReadMode::Map(&lock))?;
    let memory = memory_for(&log);
    let recovered = replay::recover(fs.as_ref(), &log, &memory, options.recovery)?;
    // A log that ends with a clean close needs nothing from this open: everything in it was
    // synced by that close (and the segments before by their rolls), so the open writes and
    // syncs nothing, and the first write starts a segment (after one fsync of the last, in case
    // the close's own fsync never finished: DESIGN.md, "An open that writes nothing"). Any
    // other end (a crash) is made durable here, once: frames replayed from the page cache after
    // a process crash may never have been synced, and nothing new may be durable before them,
    // so the log on disk stays a prefix.
    let clean = recovered.closed_cleanly && recovered.incarnation.is_some();
    if !clean {
        sync_segments(fs.as_ref(), dir, &recovered.segments)?;
    }
    let mut report = recovered.report;
    let replayed_to = report.add_seq;
    let mut restart_at = replayed_to;
    if report.repaired.is_some() {
        // What was moved aside may have held a reservation (and batches under it) that no
        // frame still readable names: restart one reservation span higher, to be safe.
        restart_at = restart_at.saturating_add(options.reserve_ahead);
    }
    let counter = AddSeqCounter::at(restart_at);
    let torn = report.torn_tail.as_ref().map_or(0, |t| t.bytes_dropped);
    // A new space, a log of format version 1 and a repair that moved data aside get a new
    // incarnation (so that a consumer that kept one elsewhere sees the store changed).
    let (incarnation, new_incarnation) = match recovered.incarnation {
        Some(id) if report.repaired.is_none() => (id, false),
        _ => (new_incarnation(), true),
    };
    let mut wal = Wal::create(WalConfig {
        fs,
        dir: dir.to_path_buf(),
        // Above every segment number the directory held, moved-aside ones included.
        segment_seq: log.seqs.last().map_or(1, |s| s + 1),
        prev: recovered.segments.last().copied().unwrap_or(0),
        incarnation,
        new_incarnation,
        segment_size: options.segment_size,
        reserved: recovered.reserved.max(replayed_to),
        reserve_ahead: options.reserve_ahead,
        lock,
        preallocate: options.durability == Durability::Sync,
        existing_bytes: report.bytes_read - torn,
        short_segments: log
            .bytes
            .iter()
            .filter(|b| (b.len() as u64) < options.segment_size / 2)
            .count() as u64,
        // `Sync` writes sync themselves.
        bytes_per_sync: options
            .bytes_per_sync
            .filter(|_| options.durability == Durability::Buffered),
        // (A clean log has its incarnation and was not repaired: no new one, no jump.)
        lazy: clean,
    })?;
    if restart_at > replayed_to {
        // Make the jump durable before anything is handed out above the old bar.
        wal.reserve(restart_at)?;
    }
    report.add_seq = restart_at;
    if let Some(repair) = report.repaired.as_mut() {
        repair.seqs_maybe_gone = repair.kept_add_seq.saturating_add(1)..=restart_at;
        trace::warn_event!(
            dir = %dir.display(),
            segment = %repair.segment.display(),
            offset = repair.offset,
            reason = %repair.reason,
            kept_add_seq = repair.kept_add_seq,
            moved_aside = repair.moved_to.len(),
            "repaired: kept everything before the first bad frame, moved the rest aside"
        );
    }
    #[cfg(feature = "tracing")]
    if let Some(torn) = &report.torn_tail {
        trace::warn_event!(
            dir = %dir.display(),
            segment = %torn.segment.display(),
            offset = torn.offset,
            bytes_dropped = torn.bytes_dropped,
            reason = %torn.reason,
            "cut a torn tail (an unfinished write)"
        );
    }
    trace::info_event!(
        dir = %dir.display(),
        segments = report.segments,
        frames = report.frames,
        bytes = report.bytes_read,
        add_seq = report.add_seq,
        ms = report.duration.as_millis() as u64,
        "opened space"
    );
    Ok(Opened {
        memory,
        counter,
        wal,
        report,
    })
}

/// After a repair that moved data aside: lowers every named cursor above the highest batch kept
/// to it, through the commit path and durably (the log is synced), before the space is handed
/// out, and says so in the report.
pub(crate) fn lower_cursors(core: &SpaceCore, report: &mut RecoveryReport) -> Result<()> {
    let Some(repair) = report.repaired.as_mut() else {
        return Ok(());
    };
    let kept = repair.kept_add_seq;
    for (name, seq) in core.cursors() {
        if seq <= kept {
            continue;
        }
        let fields = CursorFields {
            name: name.clone(),
            seq: kept,
            how: CursorMove::Reset,
        };
        core.write(|_| Ok(Record::SetCursor(fields)), || {})?;
        repair.cursors_lowered.push((name, seq));
    }
    if repair.cursors_lowered.is_empty() {
        return Ok(());
    }
    core.with_wal(|wal| wal.map_or(Ok(()), |w| w.sync()))
}

/// Replays the log of `dir` into a new memory without locking or changing anything on disk;
/// returns it with the counter, the report and the space's incarnation (0 for a log of format
/// version 1 only).
pub(crate) fn open_read_only(
    dir: &Path,
    options: &Options,
) -> Result<(Memory, AddSeqCounter, RecoveryReport, u128)> {
    let log = LogDir::read(options.fs.as_ref(), dir, ReadMode::Read)?;
    let memory = memory_for(&log);
    let replay::ReadOnly {
        report,
        incarnation,
        ..
    } = replay::read_only(&log, &memory)?;
    let counter = AddSeqCounter::at(report.add_seq);
    Ok((memory, counter, report, incarnation.unwrap_or(0)))
}
