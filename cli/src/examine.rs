//! `inspect` and `verify`: read-only looks at a space directory (a frame scan with plain reads,
//! no lock taken, nothing changed), so both work on a space another process has open.

use std::path::Path;

use spacestore::internals::{self, Scan};
use spacestore::{Error, Options, Space, StdFileSystem};

use crate::dir::lock_held;
use crate::failure::{io_failure, require_space, Failure};
use crate::ui::{plural, say, size, took, Progress};

/// Scans `dir` with a progress bar.
///
/// While another process holds the space, a segment may vanish under the scan (the writer's
/// checkpoint removed it) and a frame being written may be caught half-way: then the scan runs
/// again, a few times. A real problem stays.
pub fn scan_with_progress(dir: &Path) -> Result<Scan, Failure> {
    let mut tries = 0;
    loop {
        tries += 1;
        let live = || matches!(lock_held(dir), Ok(Some(true)));
        let bar = Progress::bytes(0, "reading the log");
        match internals::scan(&StdFileSystem, dir, &mut |done, total| {
            bar.set_len(total);
            bar.set(done);
        }) {
            Err(Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && tries < 5 && live() => {}
            Ok(scan) if scan.first_problem().is_some() && tries < 5 && live() => {}
            other => return Ok(other?),
        }
    }
}

/// What the lock says, in words.
fn lock_state(dir: &Path) -> Result<(bool, &'static str), Failure> {
    Ok(
        match lock_held(dir).map_err(|e| io_failure("checking the LOCK file", &e))? {
            None => (false, "no LOCK file"),
            Some(false) => (false, "free (no process has the space open)"),
            Some(true) => (
                true,
                "held by another process: these figures are a snapshot, and a torn tail may be a \
             frame being written",
            ),
        },
    )
}

fn seq_range(range: Option<(u64, u64)>) -> String {
    match range {
        Some((lo, hi)) if lo == hi => format!("{lo}"),
        Some((lo, hi)) => format!("{lo}..{hi}"),
        None => "none".into(),
    }
}

/// `spacestore inspect DIR`.
pub fn inspect(dir: &Path) -> Result<(), Failure> {
    require_space(dir)?;
    let (_, lock) = lock_state(dir)?;
    let scan = scan_with_progress(dir)?;
    let f = &scan.frames;
    say(format_args!("space {}", dir.display()))?;
    say(format_args!("  lock           {lock}"))?;
    say(format_args!(
        "  bytes on disk  {} ({} bytes in {})",
        size(scan.bytes_on_disk),
        scan.bytes_on_disk,
        plural(
            (scan.segments.len() + scan.other_files.len() + usize::from(scan.lock_file)) as u64,
            "file"
        )
    ))?;
    let start = scan.segments.iter().find(|s| !s.superseded);
    say(format_args!(
        "  segments       {}{}",
        scan.segments.len(),
        match start {
            Some(s) if s.checkpoint =>
                format!(", replay starts at the checkpoint {}", file_name(&s.path)),
            _ => String::new(),
        }
    ))?;
    for s in &scan.segments {
        let mut notes = Vec::new();
        if s.checkpoint {
            notes.push("checkpoint".to_string());
        }
        if s.superseded {
            notes.push("superseded by a checkpoint: the next open removes it".into());
        }
        if let Some(why) = &s.bad_header {
            notes.push(format!("bad header: {why}"));
        }
        if !s.read && !s.superseded {
            notes.push("not read: it follows the corruption".into());
        }
        say(format_args!(
            "    {}  {:>10}  {:>15}{}",
            file_name(&s.path),
            size(s.bytes),
            plural(s.frames, "frame"),
            if notes.is_empty() {
                String::new()
            } else {
                format!("  ({})", notes.join("; "))
            }
        ))?;
    }
    for o in &scan.other_files {
        say(format_args!(
            "    {}  {:>10}  (not a segment: replay ignores it)",
            o.name,
            size(o.bytes)
        ))?;
    }
    say(format_args!(
        "  frames         {}: records {} (create tree {}, add batch {}, update head {}, \
         delete entry {}, delete tree {}, set cursor {}, delete cursor {}, create space {}, \
         set hash {}, add ACL records {}), reservations {}, closes {}, checkpoints {}",
        f.total(),
        f.records(),
        f.create_tree,
        f.add_batch,
        f.update_head,
        f.delete_entry,
        f.delete_tree,
        f.set_cursor,
        f.delete_cursor,
        f.create_space,
        f.set_hash,
        f.add_acl_records,
        f.reserve,
        f.close,
        f.checkpoint
    ))?;
    if scan.refused_records > 0 {
        say(format_args!(
            "                 {} logged records were refused when written, and again by replay",
            scan.refused_records
        ))?;
    }
    match &scan.space {
        Some((id, acl)) => say(format_args!(
            "  space          {id} (whole: state, ACL list of {acl} records)"
        ))?,
        None => say(format_args!(
            "  space          bare (no state, no ACL list)"
        ))?,
    }
    say(format_args!("  trees          {}", scan.trees))?;
    say(format_args!(
        "  changes        {} ({} roots, {} in batches)",
        scan.changes,
        scan.trees,
        scan.changes.saturating_sub(scan.trees)
    ))?;
    say(format_args!(
        "  head entries   {} ({} queued for deletion or deleted)",
        scan.head_entries, scan.deleted_entries
    ))?;
    let cursors: Vec<String> = scan
        .cursors
        .iter()
        .map(|(name, seq)| format!("{name:?} at {seq}"))
        .collect();
    say(format_args!(
        "  cursors        {}{}{}",
        scan.cursors.len(),
        if cursors.is_empty() { "" } else { ": " },
        cursors.join(", ")
    ))?;
    say(format_args!(
        "  AddSeq         stored changes carry {}; batches in the log {}; counter {} (the \
         next batch gets {})",
        seq_range(scan.stored_seqs),
        seq_range(scan.batch_seqs),
        scan.counter,
        scan.counter + 1
    ))?;
    match &scan.torn_tail {
        None => say(format_args!("  torn tail      none"))?,
        Some(t) => say(format_args!(
            "  torn tail      {} at {} byte offset {} ({}): an unfinished write, cut off at the \
             next open",
            size(scan.torn_bytes),
            file_name(&t.segment),
            t.offset,
            t.reason
        ))?,
    }
    if let Some(c) = &scan.corruption {
        say(format_args!(
            "  corruption     at {} byte offset {}: {}; replay stops there (the figures above \
             are those of the log before it)",
            file_name(&c.segment),
            c.offset,
            c.reason
        ))?;
    }
    say(format_args!("  scanned in     {}", took(scan.duration)))?;
    if let Some(c) = &scan.corruption {
        return Err(Failure::Corrupt {
            segment: c.segment.clone(),
            offset: c.offset,
            reason: c.reason.clone(),
        });
    }
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Opens a read-only snapshot of the space with the library's replay (`Space::open_read_only`,
/// which reads each segment once with a consistent read, never a map). While another process
/// holds the space, a segment may vanish under the read (the writer's checkpoint removed it)
/// and a frame being written may be caught half-way: then it is read again, a few times.
pub fn open_snapshot(dir: &Path) -> Result<Space, Failure> {
    let _spin = Progress::spinner("replaying the log (read-only)");
    let mut tries = 0;
    loop {
        tries += 1;
        let live = || matches!(lock_held(dir), Ok(Some(true)));
        match Space::open_read_only(dir, Options::default()) {
            Err(Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && tries < 5 && live() => {}
            Err(Error::Corrupt { .. }) if tries < 5 && live() => {}
            other => return Ok(other?),
        }
    }
}

/// `spacestore verify DIR`.
pub fn verify(dir: &Path) -> Result<(), Failure> {
    require_space(dir)?;
    let (held, _) = lock_state(dir)?;
    let scan = scan_with_progress(dir)?;
    if let Some((p, corrupt)) = scan.first_problem() {
        say(format_args!(
            "FAILED {}: segment {}, byte offset {}: {}",
            dir.display(),
            p.segment.display(),
            p.offset,
            p.reason
        ))?;
        return Err(if corrupt {
            Failure::Corrupt {
                segment: p.segment.clone(),
                offset: p.offset,
                reason: p.reason.clone(),
            }
        } else {
            Failure::Inconsistent {
                segment: p.segment.clone(),
                offset: p.offset,
                reason: p.reason.clone(),
                more: scan.inconsistency_count.saturating_sub(1),
            }
        });
    }
    let f = &scan.frames;
    let heads = match scan.note_count {
        0 => "every head names a stored change".to_string(),
        n => format!(
            "{} that name no stored change of their tree (accepted: heads are the caller's, as \
             in Go's storage; see the notes)",
            plural(n, "head")
        ),
    };
    say(format_args!(
        "ok {}: {} frames in {} ({}) checked, {} records replayed; {} trees, {} changes, \
         {} head entries; every change's tree exists, {heads}, no seq above the counter {}",
        dir.display(),
        f.total(),
        plural(
            scan.segments.iter().filter(|s| s.read).count() as u64,
            "segment"
        ),
        size(scan.bytes_read),
        f.records(),
        scan.trees,
        scan.changes,
        scan.head_entries,
        scan.counter
    ))?;
    const SHOWN: usize = 5;
    for n in scan.notes.iter().take(SHOWN) {
        say(format_args!(
            "note: segment {}, byte offset {}: {}",
            n.segment.display(),
            n.offset,
            n.reason
        ))?;
    }
    if scan.note_count > SHOWN as u64 {
        say(format_args!(
            "note: and {} more",
            scan.note_count - SHOWN as u64
        ))?;
    }
    if let Some(t) = &scan.torn_tail {
        say(format_args!(
            "note: a torn tail of {} at {} byte offset {} ({}){}",
            size(scan.torn_bytes),
            t.segment.display(),
            t.offset,
            t.reason,
            if held {
                ": the space is open, so this may be a frame being written"
            } else {
                ": an unfinished write, cut off at the next open (not an error)"
            }
        ))?;
    }
    Ok(())
}

/// The space directories of the store in `root`, sorted by id: the library's own listing
/// (`internals::space_dirs`, what `Store::space_ids` lists and `Store::space` opens), so the
/// command looks at exactly the spaces the store has, and at nothing it ignores.
fn store_spaces(root: &Path) -> Result<Vec<std::path::PathBuf>, Failure> {
    let spaces = spacestore::internals::spaces_dir(root);
    match spacestore::internals::space_dirs(&StdFileSystem, root) {
        Ok(dirs) => Ok(dirs
            .into_iter()
            .map(|(_, name)| spaces.join(name))
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(if root.is_dir() {
            Failure::NotSpace(
                root.to_path_buf(),
                "not a store: it has no spaces/ directory".into(),
            )
        } else {
            Failure::NoDir(root.to_path_buf())
        }),
        Err(e) => Err(io_failure(&format!("listing {}", spaces.display()), &e)),
    }
}

/// `--store`: runs `each` (inspect or verify) on every space of the store in `root`, all of
/// them, and fails with the first failure.
pub fn each_space(root: &Path, each: fn(&Path) -> Result<(), Failure>) -> Result<(), Failure> {
    let spaces = store_spaces(root)?;
    say(format_args!(
        "store {}: {}",
        root.display(),
        plural(spaces.len() as u64, "space")
    ))?;
    let mut first = None;
    for dir in spaces {
        if let Err(e) = each(&dir) {
            if matches!(e, Failure::BrokenPipe) {
                return Err(e);
            }
            // A live store deletes spaces: one gone since the listing is no failure.
            if !dir.exists() {
                say(format_args!(
                    "space {}: deleted while the store was read",
                    dir.display()
                ))?;
                continue;
            }
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}
