//! Frame-level inspection and verification of a space directory: what `spacestore inspect` and
//! `spacestore verify` show (behind the `internals` feature).
//!
//! [`scan`] is the replay of a read-only open, with an [`Observer`] that counts frames and
//! checks cross-references as records are applied (raft-engine's consistency checker is a
//! replay machine over the same scan): every change's tree exists, heads name stored changes of
//! their tree, no batch or head entry carries a seq above the durable reservation in force (so
//! above what a restart's counter could start from), batches grow in AddSeq order, and no tree
//! has the ACL list's id (it would share the list's head entry). So it
//! judges a directory exactly as `open` does: the same listing, the same reads, the same torn
//! tail and corruption rules. It never takes the directory's lock and never writes, renames or
//! cuts anything.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::entry::DeletedStatus;
use crate::id::Id;
use crate::memory::{Applied, Memory};
use crate::record::Record;
use crate::replay::{self, Observer};
use crate::wal::format::{segment_path, segment_seq_of, LOCK_FILE};
use crate::wal::scan::{End, FrameEvent, LogDir, ReadMode};
use crate::wal::FileSystem;
use crate::{Error, Result};

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
    /// Records: create, ack or reset a named cursor.
    pub set_cursor: u64,
    /// Records: delete a named cursor.
    pub delete_cursor: u64,
    /// Records: create a whole space (state, ACL root, settings tree).
    pub create_space: u64,
    /// Records: set the state's hash.
    pub set_hash: u64,
    /// Records: add ACL records.
    pub add_acl_records: u64,
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
        self.create_tree
            + self.add_batch
            + self.update_head
            + self.delete_entry
            + self.delete_tree
            + self.set_cursor
            + self.delete_cursor
            + self.create_space
            + self.set_hash
            + self.add_acl_records
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
    /// A whole space's id and its ACL list's length (`None`: a bare space).
    pub space: Option<(Id, usize)>,
    /// Live trees after the records.
    pub trees: usize,
    /// Stored changes (roots included).
    pub changes: usize,
    /// Head entries.
    pub head_entries: usize,
    /// Head entries queued for deletion or deleted.
    pub deleted_entries: usize,
    /// The named cursors and their positions, sorted by name.
    pub cursors: Vec<(Id, u64)>,
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
    /// Oddities the store accepts, as Go's does (heads that name a missing change, or a change
    /// of another tree), in log order (the first 100): reported, not failures.
    pub notes: Vec<Problem>,
    /// How many notes in all.
    pub note_count: u64,
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

const MAX_KEPT_PROBLEMS: usize = 100;

/// The checks' state: what the scan found so far, and what cross-reference checks need. An
/// [`Observer`] of the replay machine: the memory it checks is the one replay builds.
struct Walk<'a> {
    scan: Scan,
    /// The replayed segments' paths (indexes of [`LogDir::replayed`]).
    paths: Vec<PathBuf>,
    /// The index of the first replayed segment in `scan.segments`.
    start: usize,
    /// The segment being read.
    segment: usize,
    /// Whether it is a checkpoint's snapshot (its first frame is a checkpoint frame).
    in_checkpoint: bool,
    /// Whether the next frame is the segment's first.
    first_frame: bool,
    /// The last batch seq outside a checkpoint snapshot (batches grow in log order there).
    last_logged_seq: u64,
    /// The changes of a tree being deleted, to check that they are gone afterwards.
    doomed: Vec<Id>,
    /// Bytes of the segments before the current one, and the bytes to read in all.
    done: u64,
    total: u64,
    reported: u64,
    progress: &'a mut dyn FnMut(u64, u64),
}

impl Walk<'_> {
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

    fn note(&mut self, segment: &Path, offset: usize, reason: String) {
        self.scan.note_count += 1;
        if self.scan.notes.len() < MAX_KEPT_PROBLEMS {
            self.scan.notes.push(Problem {
                segment: segment.to_path_buf(),
                offset: offset as u64,
                reason,
            });
        }
    }

    /// Heads that do not name a stored change of their tree: the store accepts them (as Go's
    /// does: heads are the caller's), so they are notes, not problems.
    fn check_heads(
        &mut self,
        memory: &Memory,
        at: (&Path, usize),
        tree: &Id,
        heads: &[Id],
        what: &str,
    ) {
        if memory.tree(tree).is_none() {
            // The tree is deleted (or not created yet): its entry's heads name nothing stored.
            return;
        }
        for h in heads {
            if !stored_in(memory, h, tree) {
                self.note(
                    at.0,
                    at.1,
                    format!(
                        "{what} names head {h:?}, which is not a stored change of tree {tree:?}"
                    ),
                );
            }
        }
    }

    /// Checks one record before replay applies it.
    fn before(&mut self, memory: &Memory, record: &Record, at: (&Path, usize), reserved: u64) {
        let counts = &mut self.scan.frames;
        match record {
            Record::CreateTree(_) => counts.create_tree += 1,
            Record::AddBatch(_) => counts.add_batch += 1,
            Record::UpdateHead(_) => counts.update_head += 1,
            Record::DeleteEntry(_) => counts.delete_entry += 1,
            Record::DeleteTree { .. } => counts.delete_tree += 1,
            Record::SetCursor(_) => counts.set_cursor += 1,
            Record::DeleteCursor(_) => counts.delete_cursor += 1,
            Record::CreateSpace(_) => counts.create_space += 1,
            Record::SetHash(_) => counts.set_hash += 1,
            Record::AddAclRecords(_) => counts.add_acl_records += 1,
        }
        if let Record::AddBatch(b) = record {
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
            if b.seq > reserved {
                self.problem(
                    at.0,
                    at.1,
                    format!(
                        "batch AddSeq {} of tree {:?} exceeds the counter: no durable reservation \
                         covers it (reserved up to {}), so a restart could hand it out again",
                        b.seq, b.tree_id, reserved
                    ),
                );
            }
            // A checkpoint's snapshot holds the batches tree by tree: seqs grow per tree only.
            // A batch of a counter of its own is not in the feed's order (its seq is its
            // counter's; reserved like a head entry's last AddSeq, checked above).
            if b.in_feed && !self.in_checkpoint && b.seq <= self.last_logged_seq {
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
            if b.in_feed {
                self.last_logged_seq = self.last_logged_seq.max(b.seq);
            }
        }
        // A deleted tree's changes, to check that they are gone afterwards.
        self.doomed = match record {
            Record::DeleteTree { tree_id, .. } => memory
                .tree(tree_id)
                .map(|t| {
                    let mut ids = vec![t.root().id()];
                    for block in t.first_batches(usize::MAX) {
                        ids.extend(block.changes().into_iter().map(|c| c.id));
                    }
                    ids
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        };
    }

    /// Checks one record after replay applied it.
    fn after(&mut self, memory: &Memory, record: &Record, at: (&Path, usize), inserted: &[Id]) {
        self.check_acl_id(memory, record, at);
        match record {
            Record::CreateTree(new) => {
                if !stored_in(memory, &new.root.id, &new.root.id)
                    || memory.tree(&new.root.id).is_none()
                {
                    self.problem(
                        at.0,
                        at.1,
                        format!("tree {:?} was not created", new.root.id),
                    );
                }
            }
            Record::AddBatch(b) => {
                if memory.tree(&b.tree_id).is_none() {
                    self.problem(
                        at.0,
                        at.1,
                        format!(
                            "batch {} stored changes of tree {:?}, which does not exist",
                            b.seq, b.tree_id
                        ),
                    );
                }
                for id in inserted {
                    match memory.changes.get(id) {
                        Some(c) if c.tree_id() == b.tree_id && c.seq() == b.seq => {}
                        Some(c) => self.problem(
                            at.0,
                            at.1,
                            format!(
                                "change {id:?} of batch {} is stored with tree {:?} and AddSeq {}",
                                b.seq,
                                c.tree_id(),
                                c.seq()
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
                    self.check_heads(memory, at, &b.tree_id, heads, &what);
                }
            }
            Record::UpdateHead(u) => {
                if let Some(heads) = &u.heads {
                    let what = format!("the head update of {:?}", u.id);
                    self.check_heads(memory, at, &u.id, heads, &what);
                }
            }
            Record::DeleteTree { tree_id, .. } => {
                if memory.tree(tree_id).is_some() {
                    self.problem(at.0, at.1, format!("tree {tree_id:?} was not deleted"));
                }
                for id in std::mem::take(&mut self.doomed) {
                    if memory.changes.contains(&id) {
                        self.problem(
                            at.0,
                            at.1,
                            format!("change {id:?} of deleted tree {tree_id:?} is still stored"),
                        );
                    }
                }
            }
            Record::CreateSpace(space) => {
                let made = memory
                    .state
                    .get()
                    .is_some_and(|s| s.space_id == space.space_id)
                    && memory.acl.has(&space.acl_root.id)
                    && space
                        .settings
                        .as_ref()
                        .is_none_or(|t| memory.tree(&t.root.id).is_some());
                if !made {
                    let id = &space.space_id;
                    self.problem(at.0, at.1, format!("space {id:?} was not created"));
                }
            }
            Record::AddAclRecords(records) => {
                for r in records {
                    if !memory.acl.has(&r.id) {
                        let id = &r.id;
                        self.problem(at.0, at.1, format!("ACL record {id:?} was not stored"));
                    }
                }
            }
            Record::DeleteEntry(_)
            | Record::SetCursor(_)
            | Record::DeleteCursor(_)
            | Record::SetHash(_) => {}
        }
    }

    /// A tree with the ACL list's id (the commit path refuses it; an older build did not): the
    /// list's head lives in the head storage under its id, so the tree took the list's head
    /// entry (and the list's `add_all` then sets the tree's heads).
    fn check_acl_id(&mut self, memory: &Memory, record: &Record, at: (&Path, usize)) {
        let Some(acl_id) = memory.state.get().map(|s| s.acl_id) else {
            return;
        };
        let created = match record {
            Record::CreateTree(new)
            | Record::DeleteTree {
                create: Some(new), ..
            } => Some(&new.root.id),
            Record::AddBatch(b) => b.create.as_ref().map(|new| &new.root.id),
            // The list made whole with the id of a tree stored before (or of its settings tree).
            Record::CreateSpace(_) => memory.tree(&acl_id).is_some().then_some(&acl_id),
            _ => None,
        };
        if created == Some(&acl_id) {
            self.problem(
                at.0,
                at.1,
                format!(
                    "tree {acl_id:?} has the id of the space's ACL list: it shares the list's \
                     head entry"
                ),
            );
        }
    }

    /// Checks that hold between the whole state's parts, once every record is applied.
    fn finish(&mut self, memory: &Memory, at: (&Path, usize), counter: u64) {
        self.scan.counter = counter;
        let mut index: Vec<(u64, Id)> = Vec::new();
        memory.index.visit(0, u64::MAX, usize::MAX, |seq, block| {
            index.extend(block.changes().into_iter().map(|c| (seq, c.id)));
            true
        });
        for (name, seq) in memory.cursors.all() {
            if seq > counter {
                self.problem(
                    at.0,
                    at.1,
                    format!("cursor {name:?} is at {seq}, above the counter {counter}"),
                );
            }
        }
        self.scan.stored_seqs = match (index.first(), index.last()) {
            (Some(a), Some(b)) => Some((a.0, b.0)),
            _ => None,
        };
        for (seq, id) in &index {
            let Some(change) = memory.changes.get(id) else {
                self.problem(
                    at.0,
                    at.1,
                    format!("the AddSeq index names change {id:?}, which is not stored"),
                );
                continue;
            };
            if change.seq() != *seq {
                self.problem(
                    at.0,
                    at.1,
                    format!(
                        "change {id:?} has AddSeq {} but is indexed under {seq}",
                        change.seq()
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
            if memory.tree(&change.tree_id()).is_none() {
                self.problem(
                    at.0,
                    at.1,
                    format!(
                        "change {id:?} belongs to tree {:?}, which does not exist",
                        change.tree_id()
                    ),
                );
            }
        }
        let mut in_trees = 0usize;
        let mut misplaced = Vec::new();
        let _ = memory.emit(|record| {
            match record {
                Record::CreateTree(_) => in_trees += 1,
                Record::AddBatch(b) => {
                    in_trees += b.changes.len();
                    for (id, _) in b.changes.keys() {
                        if memory
                            .changes
                            .get(id)
                            .is_none_or(|s| s.tree_id() != b.tree_id)
                        {
                            misplaced.push((Id::from(id), b.tree_id.clone()));
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
        let stored = memory.changes.len();
        if stored != in_trees {
            self.problem(
                at.0,
                at.1,
                format!("{stored} changes are stored but the trees hold {in_trees}: some belong to no tree"),
            );
        }
        for entry in memory.heads.all() {
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
        self.scan.space = memory.state.get().map(|s| (s.space_id, memory.acl.len()));
        self.scan.trees = memory.tree_count();
        self.scan.changes = stored;
        let entries = memory.heads.all();
        self.scan.head_entries = entries.len();
        self.scan.cursors = memory.cursors.all();
        self.scan.deleted_entries = entries
            .iter()
            .filter(|e| e.deleted_status >= DeletedStatus::Queued)
            .count();
    }
}

/// Whether `id` is a stored change of tree `tree`.
fn stored_in(memory: &Memory, id: &str, tree: &str) -> bool {
    memory
        .changes
        .get(id)
        .is_some_and(|c| c.tree_id().as_str() == tree)
}

impl Observer for Walk<'_> {
    fn segment(&mut self, segment: usize) {
        if segment > 0 {
            self.done += self.scan.segments[self.start + segment - 1].bytes;
        }
        self.segment = segment;
        self.in_checkpoint = false;
        self.first_frame = true;
        self.scan.segments[self.start + segment].read = true;
    }

    fn frame(&mut self, at: (usize, usize), frame: &FrameEvent, memory: &Memory, reserved: u64) {
        let done = self.done + at.1 as u64;
        if done - self.reported >= 1 << 20 {
            (self.progress)(done, self.total);
            self.reported = done;
        }
        self.scan.segments[self.start + at.0].frames += 1;
        let counts = &mut self.scan.frames;
        match frame {
            FrameEvent::Record(record, _) => {
                let path = self.paths[at.0].clone();
                self.before(memory, record, (&path, at.1), reserved);
            }
            FrameEvent::Reserve(_) => counts.reserve += 1,
            FrameEvent::Checkpoint(_) => {
                counts.checkpoint += 1;
                if self.first_frame {
                    self.in_checkpoint = true;
                    self.scan.segments[self.start + at.0].checkpoint = true;
                }
            }
            FrameEvent::Close(_) => counts.close += 1,
        }
        self.first_frame = false;
    }

    fn applied(
        &mut self,
        at: (usize, usize),
        record: &Record,
        applied: Option<&Applied>,
        memory: &Memory,
    ) {
        if let Some(applied) = applied {
            let path = self.paths[at.0].clone();
            self.after(memory, record, (&path, at.1), &applied.inserted);
        }
    }
}

/// Reads every segment of `dir` as a read-only open does and replays it into a private memory,
/// checking frames and cross-references, without changing anything or taking the lock (see
/// the module docs). `progress` is called now and then with the bytes read so far and the bytes
/// to read in all.
///
/// # Errors
///
/// Corruption, a torn tail and failed cross-reference checks are in the returned [`Scan`], not
/// errors; an error is an I/O failure ([`Error::Io`]; `NotFound` for a missing directory).
pub fn scan(fs: &dyn FileSystem, dir: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<Scan> {
    let started = Instant::now();
    let log = LogDir::read(fs, dir, ReadMode::Read)?;
    let mut scan = Scan {
        dir: dir.to_path_buf(),
        ..Scan::default()
    };
    let len = |name: &str| match fs.len(&dir.join(name)) {
        Ok(n) => Ok(n),
        // A file removed meanwhile (an open removing an unfinished checkpoint) counts as empty.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(source) => Err(Error::Io {
            context: "looking at a file of the space directory",
            source,
        }),
    };
    for name in &log.names {
        if name == LOCK_FILE {
            scan.lock_file = true;
            scan.bytes_on_disk += len(name)?;
        } else if segment_seq_of(name).is_none() {
            let bytes = len(name)?;
            scan.bytes_on_disk += bytes;
            scan.other_files.push(OtherFile {
                name: name.clone(),
                bytes,
            });
        }
    }
    scan.other_files.sort_by(|a, b| a.name.cmp(&b.name));
    for (i, &seq) in log.seqs.iter().enumerate() {
        let path = segment_path(dir, seq);
        let superseded = i < log.start;
        let bytes = match superseded {
            true => len(&format!("{seq:020}.wal"))?,
            false => log.bytes[i - log.start].len() as u64,
        };
        scan.bytes_on_disk += bytes;
        scan.segments.push(SegmentInfo {
            seq,
            path,
            bytes,
            bad_header: None,
            frames: 0,
            checkpoint: false,
            superseded,
            read: false,
        });
    }
    let total = log.replayed_bytes();
    scan.bytes_read = total;
    // As replay at open builds it (sized from the log, its AddSeq indexes built at the end).
    let memory = crate::engine::memory_for(&log);
    let mut walk = Walk {
        scan,
        paths: (0..log.replayed().len()).map(|i| log.path(i)).collect(),
        start: log.start,
        segment: 0,
        in_checkpoint: false,
        first_frame: true,
        last_logged_seq: 0,
        doomed: Vec::new(),
        done: 0,
        total,
        reported: 0,
        progress,
    };
    (walk.progress)(0, total);
    let outcome = replay::run(&log, &memory, &mut walk);
    walk.scan.refused_records = outcome.report.refused_records;
    let counter = outcome.counter();
    // Where the log the checks judge ends: the end of the last segment read, or the bad frame.
    let last = log.replayed().len().saturating_sub(1);
    let mut end_at = (last, log.bytes.get(last).map_or(0, |b| b.len()));
    let problem = |segment: usize, offset: usize, reason: &str| Problem {
        segment: log.path(segment),
        offset: offset as u64,
        reason: reason.into(),
    };
    match &outcome.end {
        End::Clean { .. } | End::Stopped => {}
        End::Torn(bad) => {
            end_at = (bad.segment, bad.offset);
            walk.scan.torn_bytes = (log.bytes[bad.segment].len() - bad.offset) as u64
                + log.bytes[bad.segment + 1..]
                    .iter()
                    .map(|b| b.len() as u64)
                    .sum::<u64>();
            walk.scan.torn_tail = Some(problem(bad.segment, bad.offset, &bad.reason));
        }
        End::Corrupt(bad) | End::Unreadable(bad) => {
            end_at = (bad.segment, bad.offset);
            walk.scan.corruption = Some(problem(bad.segment, bad.offset, &bad.reason));
        }
    }
    if let End::Torn(bad) | End::Corrupt(bad) | End::Unreadable(bad) = &outcome.end {
        if bad.offset == 0 {
            walk.scan.segments[log.start + bad.segment].bad_header = Some(bad.reason.clone());
        }
    }
    (walk.progress)(total, total);
    let path = log.replayed().get(end_at.0).map(|_| log.path(end_at.0));
    let path = path.unwrap_or_else(|| dir.to_path_buf());
    walk.finish(&memory, (&path, end_at.1), counter);
    walk.scan.duration = started.elapsed();
    Ok(walk.scan)
}
