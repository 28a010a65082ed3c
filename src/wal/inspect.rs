//! Read-only inspection of a space directory, frame by frame: what `spacestore inspect` and
//! `spacestore verify` show.
//!
//! [`scan`] reads every segment with plain reads, backwards ([`read_consistent`]: never a
//! memory map, so a directory that another process writes, or cuts, cannot fault the reader,
//! and what it sees of a segment being written is a state the segment was in), checks every header
//! and frame the way replay does, decodes every record, and applies the records to a private
//! memory with the same check and execute as replay, checking cross-references as it goes:
//! every change's tree exists, heads name stored changes of their tree, no batch or head entry
//! carries a seq above the durable reservation in force (so above what a restart's counter
//! could start from), and batches grow in AddSeq order. It never takes the directory's lock and
//! never writes, renames or cuts anything.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::env::LOCK_FILE;
use super::frame::{self, HeaderError, Parsed};
use super::replay::segment_seq_of;
use super::{codec, segment_path};
use crate::memory::Memory;
use crate::record::Record;
use crate::{DeletedStatus, Error, Id, Result};

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
    let lock = names.iter().any(|n| n == LOCK_FILE);
    let mut segments: Vec<(u64, &String)> = names
        .iter()
        .filter_map(|n| segment_seq_of(n).map(|s| (s, n)))
        .collect();
    segments.sort_unstable();
    if lock {
        return Ok(DirStatus::Space);
    }
    let Some(&(first_seq, first_name)) = segments.first() else {
        return Ok(DirStatus::NotASpace(
            "no segment files (NNNNNNNNNNNNNNNNNNNN.wal) and no LOCK file".into(),
        ));
    };
    for &(seq, _) in &segments {
        if frame::check_header(
            &read_prefix(&segment_path(dir, seq), frame::HEADER_LEN)?,
            seq,
        )
        .is_ok()
        {
            return Ok(DirStatus::Space);
        }
    }
    let header = read_prefix(&segment_path(dir, first_seq), frame::HEADER_LEN)?;
    let why = match frame::check_header(&header, first_seq) {
        Err(e) => header_reason(&e),
        Ok(()) => "unreadable".into(),
    };
    Ok(DirStatus::NotASpace(format!(
        "no LOCK file, and no segment has a valid header ({first_name}: {why})"
    )))
}

/// Whether another process holds the directory's lock: `None` when there is no `LOCK` file.
///
/// The check takes a shared lock on `LOCK` for an instant and lets it go at once: a
/// [`crate::Space::open`] racing with that instant would get [`Error::Locked`].
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

/// How many frames of each kind (records by their record kind).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameCounts {
    /// Records: create tree.
    pub create_tree: u64,
    /// Records: add batch.
    pub add_batch: u64,
    /// Records: update head entry.
    pub update_head: u64,
    /// Records: delete head entry.
    pub delete_entry: u64,
    /// Records: delete tree.
    pub delete_tree: u64,
    /// AddSeq reservations.
    pub reserve: u64,
    /// Clean closes.
    pub close: u64,
    /// Checkpoint starts.
    pub checkpoint: u64,
}

impl FrameCounts {
    /// Record frames (every record kind).
    pub fn records(&self) -> u64 {
        self.create_tree + self.add_batch + self.update_head + self.delete_entry + self.delete_tree
    }

    /// Every frame.
    pub fn total(&self) -> u64 {
        self.records() + self.reserve + self.close + self.checkpoint
    }
}

/// One segment file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Its sequence number.
    pub seq: u64,
    /// Its path.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Why its header is not valid, if it is not (only known for segments that were read).
    pub bad_header: Option<String>,
    /// Valid frames read from it.
    pub frames: u64,
    /// Whether it begins with a checkpoint frame.
    pub checkpoint: bool,
    /// Whether it comes before the last checkpoint: replay skips it and the next open removes
    /// it (left by a crash during a checkpoint).
    pub superseded: bool,
    /// Whether the scan read it (false when it is superseded or follows corruption).
    pub read: bool,
}

/// A spot in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The segment file.
    pub segment: PathBuf,
    /// The byte offset in it.
    pub offset: u64,
    /// What is wrong, in words.
    pub reason: String,
}

/// A file of the directory that is neither a segment nor the lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtherFile {
    /// Its name.
    pub name: String,
    /// Its size.
    pub bytes: u64,
}

/// What [`scan`] found.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Scan {
    /// The directory.
    pub dir: PathBuf,
    /// Whether it has a `LOCK` file.
    pub lock_file: bool,
    /// Its segment files, in log order.
    pub segments: Vec<SegmentInfo>,
    /// Other files (repair side files, an unfinished checkpoint, anything else).
    pub other_files: Vec<OtherFile>,
    /// Bytes of every file in the directory.
    pub bytes_on_disk: u64,
    /// Valid frames replay reads, by kind.
    pub frames: FrameCounts,
    /// Bytes of those frames' segments that replay reads.
    pub bytes_read: u64,
    /// Records logged and then refused, refused again here as by replay (a `Sync` write that
    /// lost a race at publication). Not a problem.
    pub refused_records: u64,
    /// Live trees after the records.
    pub trees: usize,
    /// Stored changes (roots included).
    pub changes: usize,
    /// Head entries.
    pub head_entries: usize,
    /// Head entries queued for deletion or deleted.
    pub deleted_entries: usize,
    /// Lowest and highest AddSeq of a batch record in the log.
    pub batch_seqs: Option<(u64, u64)>,
    /// Lowest and highest AddSeq of a stored change (roots, AddSeq 0, aside).
    pub stored_seqs: Option<(u64, u64)>,
    /// The counter replay restarts from: new batches get seqs above it.
    pub counter: u64,
    /// An unfinished write at the end of the log, which the next open cuts off.
    pub torn_tail: Option<Problem>,
    /// Bytes of the torn tail (later empty segments included).
    pub torn_bytes: u64,
    /// The first bad frame followed by valid data: replay refuses the directory.
    pub corruption: Option<Problem>,
    /// Failed cross-reference checks, in log order (the first 100).
    pub inconsistencies: Vec<Problem>,
    /// How many cross-reference checks failed in all.
    pub inconsistency_count: u64,
    /// How long the scan took.
    pub duration: Duration,
}

impl Scan {
    /// The first problem that makes the directory fail verification (a torn tail does not: it is
    /// an unfinished write that the next open cuts off), and whether it is corruption (`true`)
    /// or a failed cross-reference check (`false`).
    pub fn first_problem(&self) -> Option<(&Problem, bool)> {
        let corrupt = self.corruption.as_ref().map(|p| (p, true));
        let inconsistent = self.inconsistencies.first().map(|p| (p, false));
        match (corrupt, inconsistent) {
            (Some(c), Some(i)) => Some(if self.position(i.0) < self.position(c.0) {
                i
            } else {
                c
            }),
            (c, i) => c.or(i),
        }
    }

    fn position(&self, p: &Problem) -> (usize, u64) {
        let i = self
            .segments
            .iter()
            .position(|s| s.path == p.segment)
            .unwrap_or(usize::MAX);
        (i, p.offset)
    }
}

fn header_reason(e: &HeaderError) -> String {
    match e {
        HeaderError::Short => "incomplete segment header".into(),
        HeaderError::Bad(reason) => (*reason).into(),
        HeaderError::Version(v) => {
            format!("format version {v}; this build reads {}", frame::VERSION)
        }
    }
}

/// Bytes read at a time by [`read_consistent`].
const CHUNK: usize = 64 << 10;

/// Reads a whole file in a state it really was in, even while the log's writer appends to it.
///
/// The writer writes a segment strictly in order (each frame after the one before), so the
/// file is read backwards, from its end, in chunks: whatever frame is seen, every frame before
/// it was written earlier and is seen too, when its chunk is read later. (A plain read runs
/// forwards and could see a later frame but not an earlier one, which would look like
/// corruption.) Bytes past a shrink during the read (the writer giving back preallocated zeros
/// when it closes a segment) read as zeros, which is what they were. Plain reads, never a memory
/// map, so a file cut meanwhile cannot fault the reader.
pub fn read_consistent(path: &Path) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let len = usize::try_from(file.metadata()?.len())
        .map_err(|_| io::Error::other("the file does not fit in memory"))?;
    let mut buf = vec![0u8; len];
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let mut at = start;
        while at < end {
            let n = read_at(&file, &mut buf[at..end], at as u64)?;
            if n == 0 {
                break; // The file shrank: the rest were zeros.
            }
            at += n;
        }
        end = start;
    }
    Ok(buf)
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(not(unix))]
fn read_at(mut file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::io::Seek;
    file.seek(io::SeekFrom::Start(offset))?;
    file.read(buf)
}

/// The first `n` bytes of a file (fewer when it is shorter).
fn read_prefix(path: &Path, n: usize) -> io::Result<Vec<u8>> {
    // `n` may come from a damaged length field: allocate as the bytes arrive, not up front.
    let mut out = Vec::with_capacity(n.min(1 << 16));
    File::open(path)?.take(n as u64).read_to_end(&mut out)?;
    Ok(out)
}

fn io_err(context: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Io { context, source }
}

/// Whether segment `seq` begins with a checkpoint frame; reads only its header and first frame.
fn starts_with_checkpoint(path: &Path, seq: u64) -> io::Result<bool> {
    let prefix = read_prefix(path, frame::HEADER_LEN + frame::FRAME_PREFIX + 1)?;
    if frame::check_header(&prefix, seq).is_err() || prefix.len() < frame::HEADER_LEN + 9 {
        return Ok(false);
    }
    if prefix[frame::HEADER_LEN + frame::FRAME_PREFIX] != frame::KIND_CHECKPOINT {
        return Ok(false);
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(&prefix[frame::HEADER_LEN..frame::HEADER_LEN + 4]);
    let len = u32::from_le_bytes(len) as usize;
    let first = read_prefix(path, frame::HEADER_LEN + frame::FRAME_PREFIX + len)?;
    Ok(matches!(
        frame::parse(&first, frame::HEADER_LEN, seq),
        Parsed::Frame {
            kind: frame::KIND_CHECKPOINT,
            ..
        }
    ))
}

/// Whether any valid frame starts in `bytes` at or after `from` (replay's test for corruption).
/// Runs of zeros (preallocated space) are skipped at once, as replay does: no frame starts with
/// a zero length, but a frame's first byte may be zero, so a few bytes back are tried too.
fn valid_frame_after(bytes: &[u8], from: usize, seq: u64) -> bool {
    let mut p = from;
    while p < bytes.len() {
        match bytes[p..].iter().position(|&b| b != 0) {
            None => return false,
            Some(skip) => p += skip,
        }
        let back = p.saturating_sub(3).max(from);
        if (back..=p).any(|q| matches!(frame::parse(bytes, q, seq), Parsed::Frame { .. })) {
            return true;
        }
        p += 1;
    }
    false
}

const MAX_KEPT_PROBLEMS: usize = 100;

/// The walk's state: the memory the records apply to, and what cross-reference checks need.
struct Walk {
    memory: Memory,
    scan: Scan,
    /// Every seq up to this one may have been handed out (replay's `reserved`).
    reserved: u64,
    max_batch_seq: u64,
    /// The last batch seq outside a checkpoint snapshot (batches grow in log order there).
    last_logged_seq: u64,
}

impl Walk {
    fn problem(&mut self, segment: &Path, offset: usize, reason: String) {
        self.scan.inconsistency_count += 1;
        if self.scan.inconsistencies.len() < MAX_KEPT_PROBLEMS {
            self.scan.inconsistencies.push(Problem {
                segment: segment.to_path_buf(),
                offset: offset as u64,
                reason,
            });
        }
    }

    /// Whether `id` is a stored change of tree `tree`.
    fn stored_in(&self, id: &str, tree: &str) -> bool {
        self.memory
            .changes
            .get(id)
            .is_some_and(|c| c.tree_id.as_str() == tree)
    }

    fn check_heads(&mut self, at: (&Path, usize), tree: &Id, heads: &[Id], what: &str) {
        if self.memory.tree(tree).is_none() {
            // The tree is deleted (or not created yet): its entry's heads name nothing stored.
            return;
        }
        for h in heads {
            if !self.stored_in(h, tree) {
                self.problem(
                    at.0,
                    at.1,
                    format!(
                        "{what} names head {h:?}, which is not a stored change of tree {tree:?}"
                    ),
                );
            }
        }
    }

    /// Applies one record as replay does, checking cross-references before and after.
    fn record(&mut self, record: &Record, at: (&Path, usize), in_checkpoint: bool) {
        let counts = &mut self.scan.frames;
        match record {
            Record::CreateTree(_) => counts.create_tree += 1,
            Record::AddBatch(_) => counts.add_batch += 1,
            Record::UpdateHead(_) => counts.update_head += 1,
            Record::DeleteEntry(_) => counts.delete_entry += 1,
            Record::DeleteTree { .. } => counts.delete_tree += 1,
        }
        if let Record::AddBatch(b) = record {
            self.max_batch_seq = self.max_batch_seq.max(b.seq);
            self.scan.batch_seqs = Some(match self.scan.batch_seqs {
                None => (b.seq, b.seq),
                Some((lo, hi)) => (lo.min(b.seq), hi.max(b.seq)),
            });
            if b.seq == 0 {
                self.problem(
                    at.0,
                    at.1,
                    format!("a batch of tree {:?} has AddSeq 0", b.tree_id),
                );
            }
            if b.seq > self.reserved {
                self.problem(
                    at.0,
                    at.1,
                    format!(
                        "batch AddSeq {} of tree {:?} exceeds the counter: no durable reservation \
                         covers it (reserved up to {}), so a restart could hand it out again",
                        b.seq, b.tree_id, self.reserved
                    ),
                );
            }
            // A checkpoint's snapshot holds the batches tree by tree: seqs grow per tree only.
            if !in_checkpoint && b.seq <= self.last_logged_seq {
                self.problem(
                    at.0,
                    at.1,
                    format!(
                        "batch AddSeq {} of tree {:?} is not above the previous batch's {}: \
                         seqs must grow in log order",
                        b.seq, b.tree_id, self.last_logged_seq
                    ),
                );
            }
            self.last_logged_seq = self.last_logged_seq.max(b.seq);
        }
        if let Record::UpdateHead(u) = record {
            if let Some(s) = u.last_add_seq {
                if s > self.reserved {
                    self.problem(
                        at.0,
                        at.1,
                        format!(
                            "head entry {:?} gets last AddSeq {s}, which exceeds the counter \
                             (reserved up to {})",
                            u.id, self.reserved
                        ),
                    );
                }
            }
        }
        // A deleted tree's changes, to check that they are gone afterwards.
        let doomed: Vec<Id> = match record {
            Record::DeleteTree { tree_id, .. } => self
                .memory
                .tree(tree_id)
                .map(|t| {
                    let mut ids = vec![t.root().id.clone()];
                    for (_, changes) in t.batches() {
                        ids.extend(changes.iter().map(|c| c.id.clone()));
                    }
                    ids
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let applied = match self.memory.check(record) {
            Ok(plan) => self.memory.execute(record, plan, false),
            Err(_) => {
                self.scan.refused_records += 1;
                return;
            }
        };
        match record {
            Record::CreateTree(new) => {
                if !self.stored_in(&new.root.id, &new.root.id)
                    || self.memory.tree(&new.root.id).is_none()
                {
                    self.problem(
                        at.0,
                        at.1,
                        format!("tree {:?} was not created", new.root.id),
                    );
                }
            }
            Record::AddBatch(b) => {
                if self.memory.tree(&b.tree_id).is_none() {
                    self.problem(
                        at.0,
                        at.1,
                        format!(
                            "batch {} stored changes of tree {:?}, which does not exist",
                            b.seq, b.tree_id
                        ),
                    );
                }
                let inserted = applied.added.map(|a| a.inserted).unwrap_or_default();
                for id in &inserted {
                    match self.memory.changes.get(id) {
                        Some(c) if c.tree_id == b.tree_id && c.add_seq == b.seq => {}
                        Some(c) => self.problem(
                            at.0,
                            at.1,
                            format!(
                                "change {id:?} of batch {} is stored with tree {:?} and AddSeq {}",
                                b.seq, c.tree_id, c.add_seq
                            ),
                        ),
                        None => self.problem(
                            at.0,
                            at.1,
                            format!("change {id:?} of batch {} is not stored", b.seq),
                        ),
                    }
                }
                if let Some(heads) = &b.heads {
                    let what = format!("batch {} of tree {:?}", b.seq, b.tree_id);
                    self.check_heads(at, &b.tree_id, heads, &what);
                }
            }
            Record::UpdateHead(u) => {
                if let Some(heads) = &u.heads {
                    let what = format!("the head update of {:?}", u.id);
                    self.check_heads(at, &u.id, heads, &what);
                }
            }
            Record::DeleteTree { tree_id, .. } => {
                if self.memory.tree(tree_id).is_some() {
                    self.problem(at.0, at.1, format!("tree {tree_id:?} was not deleted"));
                }
                for id in doomed {
                    if self.memory.changes.contains(&id) {
                        self.problem(
                            at.0,
                            at.1,
                            format!("change {id:?} of deleted tree {tree_id:?} is still stored"),
                        );
                    }
                }
            }
            Record::DeleteEntry(_) => {}
        }
    }

    /// Checks that hold between the whole state's parts, once every record is applied.
    fn finish(&mut self, at: (&Path, usize)) {
        let counter = self.max_batch_seq.max(self.reserved);
        self.scan.counter = counter;
        let index = self.memory.index.after(0);
        self.scan.stored_seqs = match (index.first(), index.last()) {
            (Some(a), Some(b)) => Some((a.0, b.0)),
            _ => None,
        };
        for (seq, id) in &index {
            let Some(change) = self.memory.changes.get(id) else {
                self.problem(
                    at.0,
                    at.1,
                    format!("the AddSeq index names change {id:?}, which is not stored"),
                );
                continue;
            };
            if change.add_seq != *seq {
                self.problem(
                    at.0,
                    at.1,
                    format!(
                        "change {id:?} has AddSeq {} but is indexed under {seq}",
                        change.add_seq
                    ),
                );
            }
            if *seq > counter {
                self.problem(
                    at.0,
                    at.1,
                    format!("change {id:?} has AddSeq {seq}, above the counter {counter}"),
                );
            }
            if self.memory.tree(&change.tree_id).is_none() {
                self.problem(
                    at.0,
                    at.1,
                    format!(
                        "change {id:?} belongs to tree {:?}, which does not exist",
                        change.tree_id
                    ),
                );
            }
        }
        let mut in_trees = 0usize;
        let mut misplaced = Vec::new();
        let _ = self.memory.snapshot(|record| {
            match record {
                Record::CreateTree(_) => in_trees += 1,
                Record::AddBatch(b) => {
                    in_trees += b.changes.len();
                    for c in &b.changes {
                        if self
                            .memory
                            .changes
                            .get(&c.id)
                            .is_none_or(|s| s.tree_id != b.tree_id)
                        {
                            misplaced.push((c.id.clone(), b.tree_id.clone()));
                        }
                    }
                }
                _ => {}
            }
            Ok(())
        });
        for (id, tree) in misplaced {
            self.problem(
                at.0,
                at.1,
                format!("tree {tree:?} holds change {id:?}, which is not stored under it"),
            );
        }
        let stored = self.memory.changes.len();
        if stored != in_trees {
            self.problem(
                at.0,
                at.1,
                format!("{stored} changes are stored but the trees hold {in_trees}: some belong to no tree"),
            );
        }
        for entry in self.memory.heads.all() {
            if let Some(s) = entry.last_add_seq {
                if s > counter {
                    self.problem(
                        at.0,
                        at.1,
                        format!(
                            "head entry {:?} has last AddSeq {s}, above the counter {counter}",
                            entry.id
                        ),
                    );
                }
            }
        }
        self.scan.trees = self.memory.tree_count();
        self.scan.changes = stored;
        let entries = self.memory.heads.all();
        self.scan.head_entries = entries.len();
        self.scan.deleted_entries = entries
            .iter()
            .filter(|e| e.deleted_status >= DeletedStatus::Queued)
            .count();
    }
}

/// Reads every segment of `dir`, frame by frame, without changing anything or taking the lock
/// (see the module docs). `progress` is called now and then with the bytes read so far and the
/// bytes to read in all.
///
/// Corruption, a torn tail and failed cross-reference checks are in the returned [`Scan`], not
/// errors; an error is an I/O failure (`NotFound` for a missing directory).
pub fn scan(dir: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<Scan> {
    let started = Instant::now();
    let mut scan = Scan {
        dir: dir.to_path_buf(),
        ..Scan::default()
    };
    let mut seqs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err("listing the space directory"))? {
        let entry = entry.map_err(io_err("listing the space directory"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // A file removed meanwhile (an open removing an unfinished checkpoint) counts as empty.
        let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
        scan.bytes_on_disk += bytes;
        if name == LOCK_FILE {
            scan.lock_file = true;
        } else if let Some(seq) = segment_seq_of(&name) {
            seqs.push((seq, bytes));
        } else {
            scan.other_files.push(OtherFile { name, bytes });
        }
    }
    seqs.sort_unstable();
    scan.other_files.sort_by(|a, b| a.name.cmp(&b.name));
    scan.segments = seqs
        .iter()
        .map(|&(seq, bytes)| SegmentInfo {
            seq,
            path: segment_path(dir, seq),
            bytes,
            bad_header: None,
            frames: 0,
            checkpoint: false,
            superseded: false,
            read: false,
        })
        .collect();
    // Replay starts at the last segment that begins with a checkpoint.
    let mut start = 0;
    for (i, s) in scan.segments.iter_mut().enumerate().rev() {
        let is_checkpoint = match starts_with_checkpoint(&s.path, s.seq) {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(io_err("reading a log segment")(e)),
        };
        if is_checkpoint {
            s.checkpoint = true;
            start = i;
            break;
        }
    }
    for s in &mut scan.segments[..start] {
        s.superseded = true;
    }
    let total: u64 = scan.segments[start..].iter().map(|s| s.bytes).sum();
    let mut walk = Walk {
        memory: Memory::default(),
        scan,
        reserved: 0,
        max_batch_seq: 0,
        last_logged_seq: 0,
    };
    let mut done = 0u64;
    progress(0, total);
    let mut end_at: (PathBuf, usize) = (dir.to_path_buf(), 0);
    let count = walk.scan.segments.len();
    let mut i = start;
    'segments: while i < count {
        let (seq, path) = (
            walk.scan.segments[i].seq,
            walk.scan.segments[i].path.clone(),
        );
        let bytes = match read_consistent(&path) {
            Ok(b) => Bytes::from(b),
            Err(e) => return Err(io_err("reading a log segment")(e)),
        };
        let seg = &mut walk.scan.segments[i];
        seg.read = true;
        seg.bytes = bytes.len() as u64;
        walk.scan.bytes_read += bytes.len() as u64;
        end_at = (path.clone(), bytes.len());
        let in_checkpoint = seg.checkpoint;
        let bad: Option<(usize, String)> = match frame::check_header(&bytes, seq) {
            Err(HeaderError::Version(v)) => {
                walk.scan.corruption = Some(Problem {
                    segment: path.clone(),
                    offset: 0,
                    reason: header_reason(&HeaderError::Version(v)),
                });
                break 'segments;
            }
            Err(e) => {
                seg.bad_header = Some(header_reason(&e));
                Some((0, header_reason(&e)))
            }
            Ok(()) => walk_frames(&mut walk, i, &bytes, in_checkpoint, &mut |pos| {
                progress(done + pos as u64, total)
            }),
        };
        if walk.scan.corruption.is_some() {
            break;
        }
        if let Some((offset, reason)) = bad {
            // Torn or corrupt? Corrupt when anything valid follows: a frame later in this
            // segment, or a later segment with a valid header.
            let scan_from = if offset == 0 {
                frame::HEADER_LEN
            } else {
                offset + 1
            };
            let mut later_valid = valid_frame_after(&bytes, scan_from, seq);
            for s in &walk.scan.segments[i + 1..] {
                if later_valid {
                    break;
                }
                match read_prefix(&s.path, frame::HEADER_LEN) {
                    Ok(h) => later_valid = frame::check_header(&h, s.seq).is_ok(),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err("reading a log segment")(e)),
                }
            }
            let problem = Problem {
                segment: path.clone(),
                offset: offset as u64,
                reason,
            };
            if later_valid {
                walk.scan.corruption = Some(problem);
            } else {
                end_at = (path.clone(), offset);
                walk.scan.torn_bytes = (bytes.len() - offset) as u64
                    + walk.scan.segments[i + 1..]
                        .iter()
                        .map(|s| s.bytes)
                        .sum::<u64>();
                walk.scan.torn_tail = Some(problem);
            }
            break;
        }
        done += bytes.len() as u64;
        progress(done, total);
        i += 1;
    }
    let end = (end_at.0.as_path(), end_at.1);
    if walk.scan.corruption.is_none() {
        walk.finish(end);
    } else {
        // Replay stops at corruption; the figures are those of the log before it.
        let at = walk
            .scan
            .corruption
            .clone()
            .map(|p| (p.segment, p.offset as usize));
        if let Some((segment, offset)) = at {
            walk.finish((&segment, offset));
        }
    }
    walk.scan.duration = started.elapsed();
    Ok(walk.scan)
}

/// Walks the frames of segment `i` (its header already checked); returns the first bad spot
/// that is not a valid frame (torn or corrupt, decided by the caller). A frame whose CRC
/// matches but which does not decode is corruption, recorded at once.
fn walk_frames(
    walk: &mut Walk,
    i: usize,
    bytes: &Bytes,
    in_checkpoint: bool,
    progress: &mut dyn FnMut(usize),
) -> Option<(usize, String)> {
    let (seq, path) = (
        walk.scan.segments[i].seq,
        walk.scan.segments[i].path.clone(),
    );
    let mut pos = frame::HEADER_LEN;
    let mut reported = pos;
    loop {
        if pos - reported >= 1 << 20 {
            progress(pos);
            reported = pos;
        }
        match frame::parse(bytes, pos, seq) {
            Parsed::End => {
                if valid_frame_after(bytes, pos + 1, seq) {
                    return Some((pos, "zeros where a frame should start".into()));
                }
                return None;
            }
            Parsed::Bad(reason) => return Some((pos, reason.into())),
            Parsed::Frame {
                kind,
                payload,
                next,
            } => {
                let value = frame::payload_u64(bytes, payload.clone());
                let ok: std::result::Result<(), String> = match (kind, value) {
                    (frame::KIND_RECORD, _) => match codec::decode(bytes, payload.clone()) {
                        Ok(record) => {
                            walk.record(&record, (&path, pos), in_checkpoint);
                            Ok(())
                        }
                        Err(reason) => Err(format!("a record does not decode: {reason}")),
                    },
                    (frame::KIND_RESERVE, Some(upto)) => {
                        walk.reserved = walk.reserved.max(upto);
                        walk.scan.frames.reserve += 1;
                        Ok(())
                    }
                    (frame::KIND_CHECKPOINT, Some(upto)) => {
                        walk.reserved = walk.reserved.max(upto);
                        walk.scan.frames.checkpoint += 1;
                        Ok(())
                    }
                    (frame::KIND_CLOSE, Some(last)) => {
                        walk.reserved = last;
                        walk.scan.frames.close += 1;
                        Ok(())
                    }
                    (k, _) => Err(format!("unknown frame kind {k} (or a bad payload length)")),
                };
                if let Err(reason) = ok {
                    walk.scan.corruption = Some(Problem {
                        segment: path.clone(),
                        offset: pos as u64,
                        reason,
                    });
                    return None;
                }
                walk.scan.segments[i].frames += 1;
                pos = next;
            }
        }
    }
}
