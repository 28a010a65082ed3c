//! Replay: rebuilds a space's memory from its log at open.
//!
//! Segments are read in order through the file system (memory-mapped on the real one); every
//! frame's CRC is checked and its record goes through the same check/execute as a live write.
//! Rules for a bad frame (DESIGN.md, "Replay rules"):
//! - nothing valid after it (in its segment or any later one): a **torn tail**, cut off and
//!   reported;
//! - anything valid after it: **corruption**, `Error::Corrupt` naming the segment and offset,
//!   unless the caller asked for [`super::Recovery::Repair`], which keeps everything before it and
//!   moves the rest to side files.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::env::FileSystem;
use super::frame::{self, HeaderError, Parsed};
use super::{codec, segment_path, Recovery};
use crate::memory::Memory;
use crate::record::Record;
use crate::{Error, Result};

/// What replay found and did, returned by [`crate::Space::recovery_report`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// Segment files read.
    pub segments: usize,
    /// Valid frames read (commits and reservations).
    pub frames: u64,
    /// Bytes read from the segments.
    pub bytes_read: u64,
    /// Logged writes that were refused when they were made and are refused again by replay
    /// (a `Sync` write that lost a race at publication).
    pub refused_records: u64,
    /// The torn tail that was cut off, if any.
    pub torn_tail: Option<TornTail>,
    /// What a repair moved aside, if the caller asked for repair and there was corruption.
    pub repaired: Option<Repair>,
    /// The counter after replay: new batches get seqs above it.
    pub add_seq: u64,
    /// Highest AddSeq of a batch found in the log.
    pub max_batch_seq: u64,
    /// How long replay took.
    pub duration: Duration,
}

/// A torn tail cut off by replay: an incomplete or bad frame with nothing valid after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The segment it was in.
    pub segment: PathBuf,
    /// Where it began.
    pub offset: u64,
    /// How many bytes were dropped.
    pub bytes_dropped: u64,
}

/// What a repair kept and moved aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repair {
    /// The segment holding the first bad frame.
    pub segment: PathBuf,
    /// The bad frame's offset: everything before it was kept.
    pub offset: u64,
    /// Why the frame was bad.
    pub reason: String,
    /// Side files holding everything from the bad frame on.
    pub moved_to: Vec<PathBuf>,
}

/// The result of a replay.
pub(crate) struct Replayed {
    pub(crate) report: RecoveryReport,
    /// The last segment's sequence number (0 when there was none).
    pub(crate) last_segment: u64,
    /// Highest reserved seq found.
    pub(crate) reserved: u64,
}

/// The sequence number of a segment file name (`00000000000000000001.wal`).
pub(crate) fn segment_seq_of(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".wal")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segments of `dir`, in order.
pub(crate) fn list_segments(fs: &dyn FileSystem, dir: &Path) -> Result<Vec<u64>> {
    let names = fs.list(dir).map_err(|source| Error::Io {
        context: "listing the space directory",
        source,
    })?;
    let mut seqs: Vec<u64> = names.iter().filter_map(|n| segment_seq_of(n)).collect();
    seqs.sort_unstable();
    Ok(seqs)
}

/// The index in `seqs` of the last segment that begins with a checkpoint frame (0 when none):
/// replay starts there.
fn checkpoint_start(fs: &dyn FileSystem, dir: &Path, seqs: &[u64]) -> Result<usize> {
    for (i, &seq) in seqs.iter().enumerate().rev() {
        let bytes = read_segment(fs, dir, seq)?;
        if frame::check_header(&bytes, seq).is_ok() {
            if let Parsed::Frame { kind, payload, .. } =
                frame::parse(&bytes, frame::HEADER_LEN, seq)
            {
                // A checkpoint frame only when it is a well-formed one: a bad one must not make
                // the segments before it look superseded.
                if kind == frame::KIND_CHECKPOINT && frame::payload_u64(&bytes, payload).is_some() {
                    return Ok(i);
                }
            }
        }
    }
    Ok(0)
}

/// An estimate of how many changes replaying `dir` will store, from the size of the segments
/// from the last checkpoint on (a change's frame takes a few hundred bytes), to presize memory.
pub(crate) fn estimate_changes(fs: &dyn FileSystem, dir: &Path) -> Result<usize> {
    let seqs = list_segments(fs, dir)?;
    let start = checkpoint_start(fs, dir, &seqs)?;
    let mut bytes = 0usize;
    for &seq in &seqs[start..] {
        bytes += read_segment(fs, dir, seq)?.len();
    }
    Ok(bytes / 512)
}

/// What `scan` finds, in log order.
enum Event {
    /// A segment begins (its length, for the report).
    Segment { len: usize },
    /// A commit's record.
    Record(Record),
    /// An AddSeq reservation, or a checkpoint's.
    Reserve(u64),
    /// A clean close with the last seq handed out.
    Close(u64),
    /// A frame whose CRC matches but whose content does not decode: corruption. Ends the scan.
    Undecodable(Bad),
}

/// How many events go to the applying thread at a time.
const CHUNK: usize = 256;

/// Runs `produce` (which hands chunks of events to its sink, and stops when the sink says so)
/// on a second thread, and `consume` on this one, in order. Under loom, in line.
fn pipeline<T: Send>(
    produce: impl FnOnce(&mut dyn FnMut(Vec<Event>) -> bool) -> T + Send,
    consume: &mut dyn FnMut(Vec<Event>) -> bool,
) -> T {
    #[cfg(loom)]
    return produce(consume);
    #[cfg(not(loom))]
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Event>>(16);
        let producer = scope.spawn(move || produce(&mut |events| tx.send(events).is_ok()));
        for events in rx.iter() {
            if !consume(events) {
                break;
            }
        }
        // Dropping the receiver (here, by leaving the loop and the scope's borrow) stops a
        // producer that is still sending.
        drop(rx);
        producer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Reads every segment in `seqs`, checks headers and frame CRCs, decodes records and hands them
/// to `emit` in chunks. Returns the first bad spot (a torn tail or corruption, decided by the
/// caller), or `None` when the log ends cleanly. Cuts preallocated zeros after the last frame
/// of the last segment (unless `read_only`).
fn scan(
    fs: &dyn FileSystem,
    dir: &Path,
    seqs: &[u64],
    read_only: bool,
    emit: &mut dyn FnMut(Vec<Event>) -> bool,
) -> Result<Option<(Bad, Bytes)>> {
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut flush = |chunk: &mut Vec<Event>, force: bool| -> bool {
        if chunk.len() >= CHUNK || (force && !chunk.is_empty()) {
            emit(std::mem::replace(chunk, Vec::with_capacity(CHUNK)))
        } else {
            true
        }
    };
    for (i, &seq) in seqs.iter().enumerate() {
        let bytes = read_segment_as(fs, dir, seq, read_only)?;
        chunk.push(Event::Segment { len: bytes.len() });
        let bad = |offset: usize, reason: &str| {
            Some((
                Bad {
                    segment: i,
                    offset,
                    reason: reason.into(),
                },
                bytes.clone(),
            ))
        };
        match frame::check_header(&bytes, seq) {
            Ok(()) => {}
            Err(HeaderError::Version(v)) => {
                return Err(Error::Corrupt {
                    segment: segment_path(dir, seq),
                    offset: 0,
                    reason: format!("format version {v}; this build reads {}", frame::VERSION),
                })
            }
            Err(HeaderError::Short) => {
                flush(&mut chunk, true);
                return Ok(bad(0, "incomplete segment header"));
            }
            Err(HeaderError::Bad(reason)) => {
                flush(&mut chunk, true);
                return Ok(bad(0, reason));
            }
        }
        let mut pos = frame::HEADER_LEN;
        loop {
            match frame::parse(&bytes, pos, seq) {
                Parsed::End => {
                    if valid_frame_after(&bytes, pos + 1, seq) {
                        flush(&mut chunk, true);
                        return Ok(bad(pos, "zeros where a frame should start"));
                    }
                    if pos < bytes.len() && i + 1 == seqs.len() && !read_only {
                        // Preallocated zeros after the last frame (a crash kept them): cut.
                        cut(fs, dir, &segment_path(dir, seq), pos)?;
                    }
                    break;
                }
                Parsed::Bad(reason) => {
                    flush(&mut chunk, true);
                    return Ok(bad(pos, reason));
                }
                Parsed::Frame {
                    kind,
                    payload,
                    next,
                } => {
                    let value = frame::payload_u64(&bytes, payload.clone());
                    let event = match (kind, value) {
                        (frame::KIND_RECORD, _) => match codec::decode(&bytes, payload) {
                            Ok(record) => Event::Record(record),
                            Err(reason) => Event::Undecodable(Bad {
                                segment: i,
                                offset: pos,
                                reason: reason.into(),
                            }),
                        },
                        (frame::KIND_RESERVE | frame::KIND_CHECKPOINT, Some(upto)) => {
                            Event::Reserve(upto)
                        }
                        (frame::KIND_CLOSE, Some(last)) => Event::Close(last),
                        _ => Event::Undecodable(Bad {
                            segment: i,
                            offset: pos,
                            reason: "unknown frame kind".into(),
                        }),
                    };
                    let last = matches!(event, Event::Undecodable(_));
                    chunk.push(event);
                    if last {
                        flush(&mut chunk, true);
                        return Ok(None);
                    }
                    if !flush(&mut chunk, false) {
                        return Ok(None);
                    }
                    pos = next;
                }
            }
        }
    }
    flush(&mut chunk, true);
    Ok(None)
}

/// A bad spot in the log.
struct Bad {
    segment: usize,
    offset: usize,
    reason: String,
}

/// Whether a run of valid frames starts at `p` and goes on, frame after frame, to the end of
/// the segment's data. (A single valid-looking frame is not enough: a change's raw bytes come
/// from peers and may embed one, and a torn write can cut right after it.)
fn valid_run_from(bytes: &[u8], mut p: usize, seq: u64) -> bool {
    let mut frames = 0;
    loop {
        match frame::parse(bytes, p, seq) {
            Parsed::Frame { next, .. } => {
                frames += 1;
                p = next;
            }
            Parsed::End => return frames > 0,
            Parsed::Bad(_) => return false,
        }
    }
}

/// Whether valid frames that run to the end of the data start in `bytes` after `from`: what
/// tells corruption (good frames after a bad one) from a torn tail. Runs of zeros
/// (preallocated space) are skipped at once: no frame starts with a zero length.
fn valid_frame_after(bytes: &[u8], from: usize, seq: u64) -> bool {
    let mut p = from;
    while p < bytes.len() {
        match bytes[p..].iter().position(|&b| b != 0) {
            None => return false,
            Some(skip) => p += skip,
        }
        // A frame's first byte may be a zero (its length's low byte): look a little back too.
        let back = p.saturating_sub(3).max(from);
        if (back..=p).any(|q| valid_run_from(bytes, q, seq)) {
            return true;
        }
        p += 1;
    }
    false
}

/// Maps segment `seq` (copies it when `copy`: read-only opens of a directory another process
/// may be writing and cutting, where a map could fault).
fn read_segment_as(fs: &dyn FileSystem, dir: &Path, seq: u64, copy: bool) -> Result<Bytes> {
    let path = segment_path(dir, seq);
    let read = if copy {
        fs.read_copy(&path)
    } else {
        fs.read(&path)
    };
    read.map_err(|source| Error::Io {
        context: "reading a log segment",
        source,
    })
}

fn read_segment(fs: &dyn FileSystem, dir: &Path, seq: u64) -> Result<Bytes> {
    read_segment_as(fs, dir, seq, false)
}

/// Replays every segment of `dir` into `memory`.
///
/// `read_only`: change nothing on disk (a torn tail is reported but not cut; corruption is an
/// error even in repair mode).
pub(crate) fn replay(
    fs: &dyn FileSystem,
    dir: &Path,
    memory: &Memory,
    recovery: Recovery,
    read_only: bool,
) -> Result<Replayed> {
    let started = Instant::now();
    let mut seqs = list_segments(fs, dir)?;
    let start = checkpoint_start(fs, dir, &seqs)?;
    let superseded: Vec<u64> = seqs[..start].to_vec();
    seqs.drain(..start);
    let mut report = RecoveryReport::default();
    let mut reserved = 0u64;

    // Reading, checking and decoding frames (`scan`) runs on a second thread, ahead of the
    // records' application to memory on this one; they meet through a bounded channel of
    // chunks, in log order.
    let mut undecodable = None;
    let mut apply = |events: Vec<Event>| -> bool {
        for event in events {
            match event {
                Event::Segment { len } => {
                    report.segments += 1;
                    report.bytes_read += len as u64;
                }
                Event::Record(record) => {
                    report.frames += 1;
                    if let Record::AddBatch(b) = &record {
                        report.max_batch_seq = report.max_batch_seq.max(b.seq);
                    }
                    match memory.check(&record) {
                        Ok(plan) => {
                            memory.execute(&record, plan, false);
                        }
                        Err(_) => report.refused_records += 1,
                    }
                }
                Event::Reserve(upto) => {
                    report.frames += 1;
                    reserved = reserved.max(upto);
                }
                Event::Close(last) => {
                    // Everything handed out is at or below the close's seq; a later
                    // reservation frame raises the bar again.
                    report.frames += 1;
                    reserved = last;
                }
                Event::Undecodable(b) => {
                    undecodable = Some(b);
                    return false;
                }
            }
        }
        true
    };
    let scanned = pipeline(|emit| scan(fs, dir, &seqs, read_only, emit), &mut apply);
    let bad = scanned?;
    if let Some(b) = undecodable {
        // The CRC matched, so this is not a torn write: always corruption.
        let recovery = if read_only {
            Recovery::Strict
        } else {
            recovery
        };
        return corrupt_or_repair(fs, dir, &seqs, b, recovery, report, reserved, started);
    }

    if let Some((b, bytes)) = bad {
        // Torn or corrupt? Corrupt when anything valid follows: a frame later in the same
        // segment (in the bytes scanned, not a later read: a writer may have appended since),
        // or a later segment with a valid header.
        let seq = seqs[b.segment];
        let scan_from = if b.offset == 0 {
            frame::HEADER_LEN
        } else {
            b.offset + 1
        };
        let later_valid = seqs[b.segment + 1..].iter().try_fold(false, |found, &s| {
            if found {
                return Ok::<_, Error>(true);
            }
            Ok(frame::check_header(&read_segment_as(fs, dir, s, read_only)?, s).is_ok())
        })?;
        if later_valid || valid_frame_after(&bytes, scan_from, seq) {
            let recovery = if read_only {
                Recovery::Strict
            } else {
                recovery
            };
            return corrupt_or_repair(fs, dir, &seqs, b, recovery, report, reserved, started);
        }
        let path = segment_path(dir, seq);
        let dropped = (bytes.len() - b.offset) as u64;
        if !read_only {
            cut(fs, dir, &path, b.offset)?;
            for &s in &seqs[b.segment + 1..] {
                // Later segments hold nothing valid (not even a header): empty leftovers.
                remove(fs, &segment_path(dir, s))?;
            }
        }
        report.torn_tail = Some(TornTail {
            segment: path,
            offset: b.offset as u64,
            bytes_dropped: dropped,
        });
    }
    if !read_only {
        remove_superseded(fs, dir, &superseded)?;
    }
    let last = seqs.last().copied().max(superseded.last().copied());
    Ok(finish(report, last.unwrap_or(0), reserved, started))
}

/// After a clean replay: segments before the last checkpoint are superseded (left by a crash
/// between the checkpoint's rename and their removal), and a `.wal.tmp` is a checkpoint that
/// never got renamed: remove both. (Never before: a strict open that then finds corruption
/// must leave the disk as it was.)
fn remove_superseded(fs: &dyn FileSystem, dir: &Path, superseded: &[u64]) -> Result<()> {
    let io = |context| move |source| Error::Io { context, source };
    for &s in superseded {
        fs.remove(&segment_path(dir, s))
            .map_err(io("removing a superseded segment"))?;
    }
    for name in fs.list(dir).map_err(io("listing the space directory"))? {
        if name.ends_with(".wal.tmp") {
            fs.remove(&dir.join(name))
                .map_err(io("removing an unfinished checkpoint"))?;
        }
    }
    Ok(())
}

fn finish(
    mut report: RecoveryReport,
    last_segment: u64,
    reserved: u64,
    started: Instant,
) -> Replayed {
    report.add_seq = report.max_batch_seq.max(reserved);
    report.duration = started.elapsed();
    Replayed {
        report,
        last_segment,
        reserved,
    }
}

/// Cuts segment `path` at `offset`; a segment cut inside its header is removed.
fn cut(fs: &dyn FileSystem, dir: &Path, path: &Path, offset: usize) -> Result<()> {
    let result = if offset < frame::HEADER_LEN {
        fs.remove(path)
    } else {
        fs.truncate(path, offset as u64)
    };
    result.map_err(|source| Error::Io {
        context: "cutting off a torn tail",
        source,
    })?;
    fs.sync_dir(dir).map_err(|source| Error::Io {
        context: "syncing the space directory",
        source,
    })
}

fn remove(fs: &dyn FileSystem, path: &Path) -> Result<()> {
    fs.remove(path).map_err(|source| Error::Io {
        context: "removing an empty segment",
        source,
    })
}

/// The highest AddSeq that any valid frame in `bytes` from `from` on names (a batch's seq, a
/// reservation, a checkpoint's or a close's): what a repair moves aside may have handed out seqs
/// that the kept part does not know of.
fn highest_seq_in(bytes: &Bytes, from: usize, seq: u64) -> u64 {
    let mut highest = 0;
    let mut p = from;
    while p < bytes.len() {
        match frame::parse(bytes, p, seq) {
            Parsed::Frame {
                kind,
                payload,
                next,
            } => {
                let named = match kind {
                    frame::KIND_RECORD => match codec::decode(bytes, payload) {
                        Ok(Record::AddBatch(b)) => b.seq,
                        _ => 0,
                    },
                    _ => frame::payload_u64(bytes, payload).unwrap_or(0),
                };
                highest = highest.max(named);
                p = next;
            }
            _ => p += 1,
        }
    }
    highest
}

#[allow(clippy::too_many_arguments)]
fn corrupt_or_repair(
    fs: &dyn FileSystem,
    dir: &Path,
    seqs: &[u64],
    b: Bad,
    recovery: Recovery,
    mut report: RecoveryReport,
    reserved: u64,
    started: Instant,
) -> Result<Replayed> {
    let path = segment_path(dir, seqs[b.segment]);
    if recovery == Recovery::Strict {
        return Err(Error::Corrupt {
            segment: path,
            offset: b.offset as u64,
            reason: b.reason,
        });
    }
    // Repair: the bad segment's tail goes to a side file, later segments are renamed aside.
    let io = |context| move |source| Error::Io { context, source };
    let mut moved_to = Vec::new();
    let bytes = read_segment(fs, dir, seqs[b.segment])?;
    // Seqs named by what is moved aside must not be handed out again.
    let mut moved_highest = highest_seq_in(&bytes, b.offset + 1, seqs[b.segment]);
    for &s in &seqs[b.segment + 1..] {
        let later = read_segment(fs, dir, s)?;
        moved_highest = moved_highest.max(highest_seq_in(&later, frame::HEADER_LEN, s));
    }
    let reserved = reserved.max(moved_highest);
    let side = path.with_extension(format!("wal.corrupt-at-{}", b.offset));
    let f = fs.create(&side).map_err(io("writing a repair side file"))?;
    f.append(&bytes[b.offset..])
        .map_err(io("writing a repair side file"))?;
    f.sync_data().map_err(io("writing a repair side file"))?;
    drop(f);
    drop(bytes);
    moved_to.push(side);
    cut(fs, dir, &path, b.offset)?;
    for &s in &seqs[b.segment + 1..] {
        let from = segment_path(dir, s);
        let to = from.with_extension("wal.corrupt");
        fs.rename(&from, &to)
            .map_err(io("moving a segment aside"))?;
        moved_to.push(to);
    }
    fs.sync_dir(dir)
        .map_err(io("syncing the space directory"))?;
    report.repaired = Some(Repair {
        segment: path,
        offset: b.offset as u64,
        reason: b.reason,
        moved_to,
    });
    let last = seqs.last().copied().unwrap_or(0);
    Ok(finish(report, last, reserved, started))
}
