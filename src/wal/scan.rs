//! The one reader of the log: [`LogDir::read`] lists a space directory once and reads each
//! segment replay needs once; [`scan`] walks their frames in log order, checks every header and
//! CRC, decodes every record, and tells how the log ends (clean, a torn tail, or corruption).
//!
//! Replay at open, `Space::open_read_only` and the tools (`verify`, `inspect`, `dump`) all read
//! through here (raft-engine's `FilePipeLogBuilder::scan` is the model), so the rules of
//! DESIGN.md ("Replay rules") exist once:
//! - replay starts at the last segment whose first frame is a well-formed checkpoint frame;
//! - a bad frame (or segment header) with nothing valid after it is a **torn tail**; anything
//!   valid after it (a run of valid frames to the end of its segment's data, or a later segment
//!   with a valid header) makes it **corruption**, as does a frame whose CRC matches but whose
//!   payload does not decode;
//! - zeros where a frame would start end a segment's data (preallocated space).
//!
//! Nothing here changes the disk: what to do about a torn tail or corruption is the caller's.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::codec;
use super::env::FileSystem;
use super::format::{segment_path, segment_seq_of};
use super::frame::{self, Framing, HeaderError, Parsed, SegmentHeader};
use crate::layout::{Encoded, Payload};
use crate::record::Record;
use crate::{Error, Result};

/// How segments are read.
pub(crate) enum ReadMode<'a> {
    /// Mapped (no copy; the replayed changes point into the maps). Only with the directory's
    /// lock held: the guard is the proof.
    Map(&'a DirLock),
    /// Read into memory ([`FileSystem::read`]): for a directory another process may hold,
    /// writing and cutting its segments under us.
    Read,
}

/// The exclusive lock of a space directory, held while it lives.
pub(crate) struct DirLock {
    /// The file system's guard ([`FileSystem::lock_dir`]), released when dropped.
    _held: Box<dyn Send + Sync>,
}

impl DirLock {
    pub(crate) fn new(held: Box<dyn Send + Sync>) -> DirLock {
        DirLock { _held: held }
    }
}

/// A space directory as listed once at open: its file names, its segments, and the bytes of
/// every segment from the last checkpoint on.
pub(crate) struct LogDir {
    /// The directory.
    pub(crate) dir: PathBuf,
    /// Every file name in it.
    pub(crate) names: Vec<String>,
    /// Its segments' sequence numbers, in log order.
    pub(crate) seqs: Vec<u64>,
    /// The index in `seqs` of the first segment replay reads: the last one that begins with a
    /// checkpoint (0 when none does). The segments before it are superseded.
    pub(crate) start: usize,
    /// The bytes of `seqs[start..]`, in order.
    pub(crate) bytes: Vec<Bytes>,
    /// Whether `seqs[start]` begins with a checkpoint.
    pub(crate) checkpoint: bool,
}

impl LogDir {
    /// Lists `dir` and reads its segments from the last checkpoint on, each once, from the last
    /// backwards (until the checkpoint replay starts at).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the directory cannot be listed or a segment cannot be read.
    pub(crate) fn read(fs: &dyn FileSystem, dir: &Path, mode: ReadMode<'_>) -> Result<LogDir> {
        let names = fs.list(dir).map_err(|source| Error::Io {
            context: "listing the space directory",
            source,
        })?;
        let mut seqs: Vec<u64> = names.iter().filter_map(|n| segment_seq_of(n)).collect();
        seqs.sort_unstable();
        let mut bytes = Vec::new();
        let mut start = 0;
        let mut found = false;
        for (i, &seq) in seqs.iter().enumerate().rev() {
            let path = segment_path(dir, seq);
            let read = match mode {
                // SAFETY: `ReadMode::Map` holds a reference to the directory's lock, so no other
                // spacestore process writes the segment, and this process only appends to
                // segments and cuts torn tails past every referenced byte (`FileSystem::map`).
                ReadMode::Map(_lock) => unsafe { fs.map(&path) },
                ReadMode::Read => fs.read(&path),
            };
            let segment = read.map_err(|source| Error::Io {
                context: "reading a log segment",
                source,
            })?;
            let checkpoint = starts_with_checkpoint(&segment, seq);
            bytes.push(segment);
            if checkpoint {
                start = i;
                found = true;
                break;
            }
        }
        bytes.reverse();
        Ok(LogDir {
            dir: dir.to_path_buf(),
            names,
            seqs,
            start,
            bytes,
            checkpoint: found,
        })
    }

    /// One segment, `seq`, given as its bytes (a fixture): `dir` names it in what replay
    /// reports.
    pub(crate) fn of_bytes(dir: PathBuf, seq: u64, bytes: Bytes) -> LogDir {
        let checkpoint = starts_with_checkpoint(&bytes, seq);
        LogDir {
            dir,
            names: Vec::new(),
            seqs: vec![seq],
            start: 0,
            bytes: vec![bytes],
            checkpoint,
        }
    }

    /// The segments replay reads (from the last checkpoint on).
    pub(crate) fn replayed(&self) -> &[u64] {
        &self.seqs[self.start..]
    }

    /// The segments before the last checkpoint.
    pub(crate) fn superseded(&self) -> &[u64] {
        &self.seqs[..self.start]
    }

    /// Bytes of the segments replay reads.
    pub(crate) fn replayed_bytes(&self) -> u64 {
        self.bytes.iter().map(|b| b.len() as u64).sum()
    }

    /// The path of the `i`th replayed segment.
    pub(crate) fn path(&self, i: usize) -> PathBuf {
        segment_path(&self.dir, self.replayed()[i])
    }
}

/// The length of a header that is not valid, as its version field says (v2's, else v1's).
fn guessed_header_len(bytes: &[u8]) -> usize {
    match bytes.get(8..12) {
        Some(v) if v == frame::VERSION.to_le_bytes() => frame::HEADER_LEN,
        _ => frame::HEADER_LEN_V1,
    }
}

/// How to look for frames in segment `seq` whose header is not valid: as its version field
/// says, if that can be read (a damaged header may still hold a good salt), else as v1 does.
fn guessed_framings(bytes: &[u8], seq: u64) -> Vec<Framing> {
    if bytes.len() >= frame::HEADER_LEN && bytes[8..12] == frame::VERSION.to_le_bytes() {
        let salt = u64::from_le_bytes(bytes[44..52].try_into().unwrap_or([0; 8]));
        return vec![Framing::V2 { salt }];
    }
    vec![Framing::V1 { seq }]
}

/// Whether a segment begins with a well-formed checkpoint frame (a bad one must not make the
/// segments before it look superseded).
fn starts_with_checkpoint(bytes: &[u8], seq: u64) -> bool {
    let Ok(header) = frame::read_header(bytes, seq) else {
        return false;
    };
    match header.framing().parse(bytes, header.header_len()) {
        Parsed::Frame { kind, payload, .. } => {
            kind == frame::KIND_CHECKPOINT && frame::payload_u64(bytes, payload).is_some()
        }
        _ => false,
    }
}

/// A spot in the replayed segments: the index into [`LogDir::replayed`] and a byte offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bad {
    /// Index of the segment in [`LogDir::replayed`].
    pub(crate) segment: usize,
    /// Byte offset in it.
    pub(crate) offset: usize,
    /// What is wrong, in words.
    pub(crate) reason: String,
}

/// What [`scan`] finds, in log order.
// Events travel in chunks through the replay pipeline's bounded channel and are used at once:
// boxing the large variant would cost an allocation per frame to save a few hundred bytes of a
// chunk.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Event {
    /// Segment `segment` (an index into [`LogDir::replayed`]) begins.
    Segment {
        /// Its index.
        segment: usize,
    },
    /// A valid frame at `offset` of the current segment.
    Frame {
        /// Its byte offset.
        offset: usize,
        /// What it holds.
        frame: FrameEvent,
    },
}

/// What a valid frame holds.
#[allow(clippy::large_enum_variant)] // As for `Event`.
pub(crate) enum FrameEvent {
    /// A commit's record, and its payload (a slice of the segment) with where its root and
    /// changes begin.
    Record(Record, Encoded),
    /// An AddSeq reservation (every seq up to this one may be handed out).
    Reserve(u64),
    /// A checkpoint's first frame, with the reservation it carries.
    Checkpoint(u64),
    /// A clean close, with the last seq handed out.
    Close(u64),
}

/// How the log ends.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// Every frame was valid. `zeros`: the last segment's data ends at this offset, before
    /// zeros (preallocated space a crash left).
    Clean {
        /// Where the last segment's zeros begin, if it has any.
        zeros: Option<usize>,
    },
    /// A bad frame or header with nothing valid after it: a write that did not finish.
    Torn(Bad),
    /// A bad frame followed by valid data, or a frame whose CRC matches but whose content does
    /// not decode. `Recovery::Repair` may cut it.
    Corrupt(Bad),
    /// A segment of another format version: never misread, never repaired.
    Unreadable(Bad),
    /// The sink asked to stop.
    Stopped,
}

/// What [`scan`] found besides the events.
pub(crate) struct Scanned {
    /// How the log ends.
    pub(crate) end: End,
    /// The space's incarnation, from the last version 2 segment read (`None`: none was).
    pub(crate) incarnation: Option<u128>,
}

/// Checks that segment `i` (header `h`) belongs where it is: v2 segments name the segment
/// before them and the space's incarnation (a missing, foreign or misplaced segment is
/// corruption, never merged and never cut); a v1 segment never follows a v2 one.
///
/// `checkpoint_prev`: when the segment before this one is the checkpoint replay starts at, the
/// segment that checkpoint names before it. The segment after a checkpoint may name that one
/// too: a checkpoint starts the next active segment before it is written (both name the log's
/// tail then), so that writes go on while it is.
fn check_place(
    log: &LogDir,
    i: usize,
    h: &SegmentHeader,
    before: Option<(u64, u32)>,
    checkpoint_prev: Option<u64>,
    incarnation: &mut Option<u128>,
) -> Result<(), String> {
    if h.version == 1 {
        return match before {
            Some((_, 2)) => Err("a segment of format version 1 after one of version 2".into()),
            _ => Ok(()),
        };
    }
    match before {
        None if !(i == 0 && log.checkpoint) && h.prev != 0 => {
            return Err(format!(
                "it names segment {} as the one before it, which is missing",
                h.prev
            ))
        }
        Some((seq, _)) if h.prev != seq && checkpoint_prev != Some(h.prev) => {
            return Err(format!(
                "it names segment {} as the one before it, but the log has segment {seq} there (a \
                 segment is missing or out of place)",
                h.prev
            ))
        }
        _ => {}
    }
    match *incarnation {
        Some(x) if x != h.incarnation && h.flags & frame::FLAG_NEW_INCARNATION == 0 => {
            Err(format!(
                "it belongs to another space (incarnation {:032x}; this space's is {x:032x})",
                h.incarnation
            ))
        }
        _ => {
            *incarnation = Some(h.incarnation);
            Ok(())
        }
    }
}

/// Walks the frames of `log`'s replayed segments in order, handing each event to `sink`
/// (stops when it returns false), and says how the log ends.
pub(crate) fn scan(log: &LogDir, sink: &mut impl FnMut(Event) -> bool) -> Scanned {
    let seqs = log.replayed();
    let mut incarnation = None;
    let mut before: Option<(u64, u32)> = None;
    // The first segment's `prev`, when it is the checkpoint replay starts at.
    let mut checkpoint_prev: Option<u64> = None;
    for (i, (&seq, bytes)) in seqs.iter().zip(&log.bytes).enumerate() {
        if !sink(Event::Segment { segment: i }) {
            return Scanned {
                end: End::Stopped,
                incarnation,
            };
        }
        let bad = |offset: usize, reason: String| Bad {
            segment: i,
            offset,
            reason,
        };
        let walked = match frame::read_header(bytes, seq) {
            Ok(h) => match check_place(log, i, &h, before, checkpoint_prev, &mut incarnation) {
                Ok(()) => {
                    before = Some((seq, h.version));
                    checkpoint_prev =
                        (i == 0 && log.checkpoint && h.version >= 2).then_some(h.prev);
                    walk(bytes, h.header_len(), h.framing(), sink)
                }
                Err(reason) => Walked::Undecodable(0, format!("segment {seq}: {reason}")),
            },
            Err(HeaderError::Version(v)) => Walked::Unreadable(
                0,
                format!(
                    "format version {v}; this build reads {} to {}",
                    frame::OLDEST_VERSION,
                    frame::VERSION
                ),
            ),
            Err(HeaderError::Mismatch(reason)) => Walked::Undecodable(0, reason),
            Err(HeaderError::Short) => Walked::Bad(0, "incomplete segment header".into()),
            Err(HeaderError::Bad(reason)) => Walked::Bad(0, reason.into()),
        };
        let end = match walked {
            Walked::End { zeros } => {
                if i + 1 == seqs.len() {
                    End::Clean { zeros }
                } else {
                    continue;
                }
            }
            Walked::Stopped => {
                return Scanned {
                    end: End::Stopped,
                    incarnation,
                }
            }
            Walked::Undecodable(offset, reason) => End::Corrupt(bad(offset, reason)),
            Walked::Unreadable(offset, reason) => End::Unreadable(bad(offset, reason)),
            Walked::Bad(offset, reason) => {
                // Torn or corrupt? Corrupt when anything valid follows: a frame later in this
                // segment, or a later segment with a valid header.
                let later_segment = seqs[i + 1..]
                    .iter()
                    .zip(&log.bytes[i + 1..])
                    .any(|(&s, b)| {
                        matches!(
                            frame::read_header(b, s),
                            Ok(_) | Err(HeaderError::Mismatch(_))
                        )
                    });
                let valid_after = match frame::read_header(bytes, seq) {
                    Ok(h) => h.framing().valid_after(bytes, offset + 1),
                    // A segment's header is written and synced before anything else goes into
                    // it: any byte after its place means the header was whole once, so a bad
                    // one is damage, not a tear (and with a damaged salt, v2 frames could not
                    // be found to prove it).
                    Err(_) => bytes
                        .get(guessed_header_len(bytes)..)
                        .is_some_and(|rest| rest.iter().any(|&b| b != 0)),
                };
                if later_segment || valid_after {
                    End::Corrupt(bad(offset, reason))
                } else {
                    End::Torn(bad(offset, reason))
                }
            }
        };
        return Scanned { end, incarnation };
    }
    Scanned {
        end: End::Clean { zeros: None },
        incarnation,
    }
}

/// The bytes a region of a segment holds: a part of the segment's mapping with a reference
/// count of its own.
struct Region {
    segment: Bytes,
    range: std::ops::Range<usize>,
}

impl AsRef<[u8]> for Region {
    fn as_ref(&self) -> &[u8] {
        &self.segment[self.range.clone()]
    }
}

/// About how many bytes of a segment one region covers.
const REGION_BYTES: usize = 64 << 10;

/// Hands out the records' payloads from regions of the segment, each its own [`Bytes`] owner.
///
/// Every id and raw change decoded is a slice of its payload, and a slice holds a reference
/// count. Were every slice counted on the one segment, the decoding thread (which takes them)
/// and the applying thread (which drops the records) would contend for that one count's cache
/// line for every field of every change; with a count per region of about 64 KiB, they work on
/// different counts (the pipeline keeps them chunks apart).
#[derive(Default)]
struct Regions {
    current: Option<(Bytes, std::ops::Range<usize>)>,
}

impl Regions {
    /// Decodes the record whose payload is `segment[payload]`, from the region holding it.
    fn decode(
        &mut self,
        segment: &Bytes,
        payload: std::ops::Range<usize>,
    ) -> Result<FrameEvent, codec::DecodeError> {
        let covered = self
            .current
            .as_ref()
            .is_some_and(|(_, r)| r.start <= payload.start && payload.end <= r.end);
        if !covered {
            let end = payload
                .end
                .max(payload.start.saturating_add(REGION_BYTES))
                .min(segment.len());
            let range = payload.start..end;
            let region = Bytes::from_owner(Region {
                segment: segment.clone(),
                range: range.clone(),
            });
            self.current = Some((region, range));
        }
        let Some((region, range)) = &self.current else {
            return Err("no region holds the payload");
        };
        let local = payload.start - range.start..payload.end - range.start;
        codec::decode(region, local.clone()).map(|(record, at)| {
            FrameEvent::Record(
                record,
                Encoded {
                    // Decoded whole just above: every length fits, every id is UTF-8.
                    bytes: Payload::vouched_by_codec(region.slice(local)),
                    at,
                },
            )
        })
    }
}

/// How the frames of one segment end.
enum Walked {
    /// The end of its data (`zeros`: where zeros after the last frame begin).
    End { zeros: Option<usize> },
    /// A bad frame at this offset (torn or corrupt: decided by the caller).
    Bad(usize, String),
    /// A frame whose CRC matches but which does not decode, or a header that does not belong
    /// here: corruption.
    Undecodable(usize, String),
    /// A segment of another format version.
    Unreadable(usize, String),
    /// The sink asked to stop.
    Stopped,
}

/// Walks the frames of one segment from `start` (after its header), calling `on_frame` for
/// each valid one (an [`Event::Frame`], built where it is handed over).
fn walk(
    bytes: &Bytes,
    start: usize,
    framing: Framing,
    on_frame: &mut impl FnMut(Event) -> bool,
) -> Walked {
    let mut pos = start;
    let mut regions = Regions::default();
    loop {
        match framing.parse(bytes, pos) {
            Parsed::End => {
                if framing.valid_after(bytes, pos + 1) {
                    return Walked::Bad(pos, "zeros where a frame should start".into());
                }
                return Walked::End {
                    zeros: (pos < bytes.len()).then_some(pos),
                };
            }
            Parsed::Bad(reason) => return Walked::Bad(pos, reason.into()),
            Parsed::Frame {
                kind,
                payload,
                next,
            } => {
                let value = frame::payload_u64(bytes, payload.clone());
                let held = match (kind, value) {
                    (frame::KIND_RECORD, _) => match regions.decode(bytes, payload) {
                        Ok(record) => record,
                        Err(reason) => {
                            return Walked::Undecodable(
                                pos,
                                format!("a record does not decode: {reason}"),
                            )
                        }
                    },
                    (frame::KIND_RESERVE, Some(upto)) => FrameEvent::Reserve(upto),
                    (frame::KIND_CHECKPOINT, Some(upto)) => FrameEvent::Checkpoint(upto),
                    (frame::KIND_CLOSE, Some(last)) => FrameEvent::Close(last),
                    (k, _) => {
                        return Walked::Undecodable(
                            pos,
                            format!("unknown frame kind {k} (or a bad payload length)"),
                        )
                    }
                };
                if !on_frame(Event::Frame {
                    offset: pos,
                    frame: held,
                }) {
                    return Walked::Stopped;
                }
                pos = next;
            }
        }
    }
}

/// The highest AddSeq that any valid frame of segment `seq` from `from` on names (a batch's
/// seq, a head entry's last AddSeq, a reservation, a checkpoint's or a close's): what a repair
/// moves aside may have handed out seqs that the kept part does not know of.
pub(crate) fn highest_seq_in(bytes: &Bytes, from: usize, seq: u64) -> u64 {
    let (framings, from) = match frame::read_header(bytes, seq) {
        Ok(h) => (vec![h.framing()], from.max(h.header_len())),
        Err(_) => (guessed_framings(bytes, seq), from),
    };
    let mut highest = 0;
    for framing in framings {
        let mut p = from;
        while let Some((q, parsed)) = framing.next_frame(bytes, p) {
            let Parsed::Frame {
                kind,
                payload,
                next,
            } = parsed
            else {
                break;
            };
            let named = match kind {
                frame::KIND_RECORD => match codec::decode(bytes, payload) {
                    Ok((Record::AddBatch(b), _)) => b.seq,
                    Ok((Record::UpdateHead(u), _)) => u.last_add_seq.unwrap_or(0),
                    _ => 0,
                },
                _ => frame::payload_u64(bytes, payload).unwrap_or(0),
            };
            highest = highest.max(named);
            p = next.max(q + 1);
        }
    }
    highest
}
