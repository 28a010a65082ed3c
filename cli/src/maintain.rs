//! `repair` and `compact`: the two subcommands that change a space directory. Both take the
//! space's lock (through `Space::open`), so they refuse a space another process has open.

use std::io::{BufRead, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Instant;

use spacestore::internals::format::{corrupt_tail_path, torn_tail_path};
use spacestore::internals::{self, Scan};
use spacestore::{Options, Recovery, Space, StdFileSystem};

use crate::dir::lock_held;
use crate::examine::scan_with_progress;
use crate::failure::{io_failure, require_space, Failure};
use crate::ui::{plural, say, size, took, Progress};

/// Fails with `Locked` when another process holds the space (checked before asking anything).
fn refuse_if_locked(dir: &Path) -> Result<(), Failure> {
    match lock_held(dir) {
        Ok(Some(true)) => Err(Failure::Locked(dir.to_path_buf())),
        Ok(_) => Ok(()),
        Err(e) => Err(io_failure("checking the LOCK file", &e)),
    }
}

/// Asks `question` on stderr and reads the answer from stdin: `true` for y or yes. When stdin
/// is not a terminal, the answer is read from it without a prompt.
fn confirm(question: &str) -> Result<bool, Failure> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let mut err = std::io::stderr();
        let _ = write!(err, "{question} [y/N] ");
        let _ = err.flush();
    }
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|e| io_failure("reading the answer", &e))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

const NOT_CONFIRMED: &str = "repair not confirmed (answer y, or pass --yes): nothing changed";

/// Copies `path` from `offset` to its end into `side` and syncs it.
fn copy_tail(path: &Path, offset: u64, side: &Path) -> std::io::Result<u64> {
    let mut from = std::fs::File::open(path)?;
    from.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::new();
    from.read_to_end(&mut bytes)?;
    let mut to = std::fs::File::create(side)?;
    to.write_all(&bytes)?;
    to.sync_all()?;
    Ok(bytes.len() as u64)
}

/// `spacestore repair DIR [--yes]`.
pub fn repair(dir: &Path, yes: bool) -> Result<(), Failure> {
    require_space(dir)?;
    refuse_if_locked(dir)?;
    let scan = scan_with_progress(dir)?;
    let kept = format!(
        "{} frames ({} trees, {} changes, batches up to AddSeq {})",
        scan.frames.total(),
        scan.trees,
        scan.changes,
        scan.batch_seqs.map_or(0, |s| s.1)
    );
    if let Some(c) = &scan.corruption {
        let later: Vec<_> = scan
            .segments
            .iter()
            .filter(|s| s.seq > seq_of(&scan, &c.segment))
            .collect();
        say(format_args!(
            "first bad frame: segment {}, byte offset {}: {}",
            c.segment.display(),
            c.offset,
            c.reason
        ))?;
        say(format_args!("keeping everything before it: {kept}"))?;
        say(format_args!(
            "moving aside: the rest of that segment to {}{}",
            corrupt_tail_path(&c.segment, c.offset).display(),
            if later.is_empty() {
                String::new()
            } else {
                format!(
                    ", and {} after it to *.wal.corrupt",
                    plural(later.len() as u64, "segment")
                )
            }
        ))?;
        if !yes && !confirm(&format!("Repair {}?", dir.display()))? {
            return Err(Failure::Aborted(NOT_CONFIRMED.into()));
        }
        let started = Instant::now();
        let space = {
            let _spin = Progress::spinner("repairing");
            Space::open(dir, Options::default().recovery(Recovery::Repair))?
        };
        let repair = space.recovery_report().and_then(|r| r.repaired.clone());
        let incarnation = space.incarnation();
        drop(space);
        if let Some(r) = &repair {
            for m in &r.moved_to {
                say(format_args!("moved aside: {}", m.display()))?;
            }
            say(format_args!(
                "kept every batch up to AddSeq {}; seqs {}..={} may have been batches that \
                 are gone; the space's incarnation is now {incarnation:032x}",
                r.kept_add_seq,
                r.seqs_maybe_gone.start(),
                r.seqs_maybe_gone.end()
            ))?;
            for (name, was) in &r.cursors_lowered {
                say(format_args!(
                    "cursor {name:?} lowered from {was} to {}",
                    r.kept_add_seq
                ))?;
            }
        }
        say(format_args!(
            "repaired {} in {}; check it with: spacestore verify {}",
            dir.display(),
            took(started.elapsed()),
            dir.display()
        ))?;
        return Ok(());
    }
    if let Some(t) = &scan.torn_tail {
        let side = torn_tail_path(&t.segment, t.offset);
        say(format_args!(
            "torn tail (an unfinished write): {} at segment {}, byte offset {}: {}",
            size(scan.torn_bytes),
            t.segment.display(),
            t.offset,
            t.reason
        ))?;
        say(format_args!("keeping everything before it: {kept}"))?;
        say(format_args!("moving aside: the tail to {}", side.display()))?;
        if !yes && !confirm(&format!("Repair {}?", dir.display()))? {
            return Err(Failure::Aborted(NOT_CONFIRMED.into()));
        }
        copy_tail(&t.segment, t.offset, &side)
            .map_err(|e| io_failure("copying the torn tail aside", &e))?;
        // Opening cuts the torn tail (and removes empty segments after it).
        let space = {
            let _spin = Progress::spinner("repairing");
            Space::open(dir, Options::default())?
        };
        drop(space);
        say(format_args!(
            "repaired {}: the torn tail is cut and kept in {}",
            dir.display(),
            side.display()
        ))?;
        return Ok(());
    }
    if let Some((p, _)) = scan.first_problem() {
        // Frames are sound but a cross-reference check failed: not something repair can cut.
        return Err(Failure::Inconsistent {
            segment: p.segment.clone(),
            offset: p.offset,
            reason: format!(
                "{} (every frame is sound; repair only cuts bad frames)",
                p.reason
            ),
            more: scan.inconsistency_count.saturating_sub(1),
        });
    }
    say(format_args!(
        "nothing to repair in {}: {} in {} are sound",
        dir.display(),
        plural(scan.frames.total(), "frame"),
        plural(scan.segments.len() as u64, "segment")
    ))?;
    Ok(())
}

fn seq_of(scan: &Scan, segment: &Path) -> u64 {
    scan.segments
        .iter()
        .find(|s| s.path == segment)
        .map_or(0, |s| s.seq)
}

/// Bytes and count of the segment files in `dir`.
fn log_size(dir: &Path) -> Result<(u64, usize), Failure> {
    let scan = internals::scan(&StdFileSystem, dir, &mut |_, _| {})?;
    Ok((
        scan.segments.iter().map(|s| s.bytes).sum(),
        scan.segments.len(),
    ))
}

/// `spacestore compact DIR [--measure-replay]`.
pub fn compact(dir: &Path, measure_replay: bool) -> Result<(), Failure> {
    require_space(dir)?;
    refuse_if_locked(dir)?;
    let (before, before_segments) = log_size(dir)?;
    let space = {
        let _spin = Progress::spinner("replaying the log");
        Space::open(dir, Options::default())?
    };
    let replayed = space
        .recovery_report()
        .map(|r| r.duration)
        .unwrap_or_default();
    let started = Instant::now();
    let stats = {
        let _spin = Progress::spinner("writing a checkpoint");
        space.checkpoint()?
    };
    let elapsed = started.elapsed();
    drop(space);
    let Some(stats) = stats else {
        return Err(Failure::Failed("the space has no log to compact".into()));
    };
    let (after, after_segments) = log_size(dir)?;
    say(format_args!(
        "compacted {}: {} in {} -> {} in {} (a checkpoint of {} records, written in {})",
        dir.display(),
        size(before),
        plural(before_segments as u64, "segment"),
        size(after),
        plural(after_segments as u64, "segment"),
        stats.records,
        took(elapsed),
    ))?;
    if !measure_replay {
        return say(format_args!(
            "bytes before {before}, after {after}; replay {} before (--measure-replay: and after)",
            took(replayed)
        ));
    }
    // A second replay, of the compacted log, only when asked for: it takes as long as an open.
    let replay_after = {
        let _spin = Progress::spinner("replaying the compacted log (read-only)");
        Space::open_read_only(dir, Options::default())?
            .recovery_report()
            .map(|r| r.duration)
            .unwrap_or_default()
    };
    say(format_args!(
        "bytes before {before}, after {after}; replay {} before, {} after",
        took(replayed),
        took(replay_after)
    ))?;
    Ok(())
}
