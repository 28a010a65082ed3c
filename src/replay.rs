//! The replay machine: applies what the log's one scanner ([`crate::wal::scan`]) reads to a
//! [`Memory`], with the same check and execute as a live write, in log order.
//!
//! [`run`] changes nothing on disk: `Space::open_read_only` and the tools' verification use it
//! as it is (the tools watch each record through an [`Observer`], as raft-engine's consistency
//! checker is a replay machine over the same scan). [`recover`] is what a locking open does: run,
//! then act on how the log ends (cut a torn tail, refuse or repair corruption, remove what a
//! checkpoint superseded).
//!
//! A large log is read, CRC-checked and decoded on a second thread, ahead of the records'
//! application on this one; they meet through a bounded channel of chunks, in log order (under
//! loom, in line). A small one (a reopen) is applied event by event as the scan reads it, on one
//! thread. When nothing watches the memory while it fills (an open, not a tool), each record's
//! new changes are claimed in the change map ahead of its application ([`Memory::claim_run`], whose
//! rule keeps the result exactly what it would be without).

use std::time::Instant;

use crate::layout::Encoded;
use crate::memory::{Applied, Claim, Claimer, Memory};
use crate::record::Record;
use crate::report::{RecoveryReport, Repair, TornTail};
use crate::wal::repair;
use crate::wal::scan::{self, Bad, End, Event, FrameEvent, LogDir, Scanned};
use crate::wal::FileSystem;
use crate::{Error, Recovery, Result};

/// Watches replay record by record (the tools' cross-reference checks). Every method has a
/// default that does nothing.
pub(crate) trait Observer {
    /// Segment `segment` (an index into [`LogDir::replayed`]) begins.
    fn segment(&mut self, _segment: usize) {}
    /// A valid frame, before it is applied; `reserved`: every seq up to this one may have been
    /// handed out so far.
    fn frame(
        &mut self,
        _at: (usize, usize),
        _frame: &FrameEvent,
        _memory: &Memory,
        _reserved: u64,
    ) {
    }
    /// A record after it was applied (`None`: refused, as when it was written).
    fn applied(
        &mut self,
        _at: (usize, usize),
        _record: &Record,
        _applied: Option<&Applied>,
        _memory: &Memory,
    ) {
    }
}

impl Observer for () {}

/// What [`run`] found.
pub(crate) struct Outcome {
    /// The report, as far as the scan alone can say (no torn tail or repair yet).
    pub(crate) report: RecoveryReport,
    /// Highest reserved seq found.
    pub(crate) reserved: u64,
    /// Highest last AddSeq a head entry was given.
    pub(crate) named: u64,
    /// How the log ends.
    pub(crate) end: End,
    /// The space's incarnation, from its last version 2 segment (`None`: none was read).
    pub(crate) incarnation: Option<u128>,
    /// The last frame read is a close frame (what a clean close writes last, synced).
    pub(crate) ends_with_close: bool,
}

impl Outcome {
    /// The counter a restart begins above: every seq a batch, a reservation or a head entry
    /// named.
    pub(crate) fn counter(&self) -> u64 {
        self.report.max_batch_seq.max(self.reserved).max(self.named)
    }

    /// The log was closed cleanly and nothing came after: it ends, whole, with a close frame
    /// (no torn tail, no zeros after it, nothing to repair).
    fn closed_cleanly(&self) -> bool {
        self.ends_with_close && matches!(self.end, End::Clean { zeros: None })
    }
}

/// A log shorter than this is replayed on one thread: starting a second one, and waking each
/// other per chunk, would cost more than it saves (a space of 1,000 changes is about 300 KB).
const PIPELINE_FROM_BYTES: u64 = 4 << 20;

/// How many events the scan hands over at a time on two threads: each chunk is a wake-up of
/// the applying thread (a futex call each side); 1,024 events of about 200 bytes each, and at
/// most 16 chunks in flight, about 3.5 MB. 1M one-change batches: 1,923 futex calls (7,555
/// with 256).
const CHUNK_ON_TWO_THREADS: usize = 1024;

/// How [`run_as`] runs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct How {
    /// Read and decode on a second thread.
    two_threads: bool,
    /// How many events the reading thread hands over at a time (on one thread, each event is
    /// applied as soon as it is read).
    #[cfg_attr(loom, allow(dead_code))] // Under loom, replay runs in line.
    chunk: usize,
    /// The reading thread claims each record's new changes ahead of its application
    /// ([`Memory::claim_run`]): only when nothing reads the memory while it fills, as the change
    /// map then holds claimed changes before their records apply.
    claim_ahead: bool,
}

impl How {
    /// How an open replays a log of `bytes`: on two threads from [`PIPELINE_FROM_BYTES`] on,
    /// claiming ahead (on one thread too: a claim is one lookup of each new id where a check
    /// and an insert are two).
    pub(crate) fn for_open(bytes: u64) -> How {
        let two_threads = bytes >= PIPELINE_FROM_BYTES;
        How {
            two_threads,
            chunk: CHUNK_ON_TWO_THREADS,
            claim_ahead: true,
        }
    }

    /// How a tool replays, watching the memory record by record: as an open does, but with no
    /// claim ahead of a record.
    #[cfg_attr(not(any(test, feature = "internals")), allow(dead_code))]
    pub(crate) fn watched(bytes: u64) -> How {
        How {
            claim_ahead: false,
            ..How::for_open(bytes)
        }
    }
}

/// What the reading thread hands over at a time: events, in log order, and the claims made for
/// them (`claims[i]` for `events[i]`; missing or `None`: none).
#[cfg(not(loom))]
struct Chunk {
    events: Vec<Event>,
    claims: Vec<Option<Claim>>,
}

#[cfg(not(loom))]
impl Chunk {
    fn with_capacity(n: usize) -> Chunk {
        Chunk {
            events: Vec::with_capacity(n),
            claims: Vec::new(),
        }
    }

    /// Claims the chunk's events, all decoded already, as one run (a pass over the chunk
    /// after its decoding, not between two frames' CRC and decoding).
    fn claim(&mut self, memory: &Memory, claimer: &mut Claimer) {
        memory.claim_run(records(&self.events), claimer, &mut self.claims);
    }
}

/// The records of `events`, as [`Memory::claim_run`] takes them (`None`: an event that is no
/// record).
fn records(events: &[Event]) -> impl Iterator<Item = Option<(&Record, &Encoded)>> {
    events.iter().map(|event| match event {
        Event::Frame {
            frame: FrameEvent::Record(record, encoded),
            ..
        } => Some((record, encoded)),
        _ => None,
    })
}

/// Scans `log` and applies each event as it is read (with its claim, when `how` claims), on
/// this thread: no chunk, the event used while it is in the cache.
fn in_line(
    log: &LogDir,
    memory: &Memory,
    how: How,
    apply: &mut dyn FnMut(&Event, Option<Claim>),
) -> Scanned {
    let mut claimer = Claimer::new(how.claim_ahead);
    let mut claims = Vec::with_capacity(1);
    scan::scan(log, &mut |event| {
        memory.claim_run(
            records(std::slice::from_ref(&event)),
            &mut claimer,
            &mut claims,
        );
        apply(&event, claims.pop().flatten());
        true
    })
}

/// Scans `log` (reading, CRC checks, decoding and claims) on a second thread, which hands the
/// events over in chunks of `how.chunk` through a bounded channel, and applies them on this
/// one, in log order. Under loom, in line (loom models the space's own threads, not replay's).
fn on_two_threads(
    log: &LogDir,
    memory: &Memory,
    how: How,
    apply: &mut dyn FnMut(&Event, Option<Claim>),
) -> Scanned {
    #[cfg(loom)]
    return in_line(log, memory, how, apply);
    #[cfg(not(loom))]
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(16);
        let producer = scope.spawn(move || {
            let mut claimer = Claimer::new(how.claim_ahead);
            let mut chunk = Chunk::with_capacity(how.chunk);
            let scanned = scan::scan(log, &mut |event| {
                chunk.events.push(event);
                if chunk.events.len() < how.chunk {
                    return true;
                }
                chunk.claim(memory, &mut claimer);
                // A receiver gone stops the scan.
                tx.send(std::mem::replace(
                    &mut chunk,
                    Chunk::with_capacity(how.chunk),
                ))
                .is_ok()
            });
            if !chunk.events.is_empty() {
                chunk.claim(memory, &mut claimer);
                let _ = tx.send(chunk);
            }
            scanned
        });
        for mut chunk in rx.iter() {
            // By reference: an event is not moved out of its chunk.
            for (i, event) in chunk.events.iter().enumerate() {
                apply(event, chunk.claims.get_mut(i).and_then(Option::take));
            }
        }
        producer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Replays `log` into `memory`, telling `observer` about each frame (as a tool does: nothing
/// claimed ahead). Changes nothing on disk.
#[cfg_attr(not(feature = "internals"), allow(dead_code))] // The tools' (`inspect.rs`).
pub(crate) fn run(log: &LogDir, memory: &Memory, observer: &mut dyn Observer) -> Outcome {
    run_as(log, memory, observer, How::watched(log.replayed_bytes()))
}

/// [`run`], as `how` says.
pub(crate) fn run_as(
    log: &LogDir,
    memory: &Memory,
    observer: &mut dyn Observer,
    how: How,
) -> Outcome {
    let started = Instant::now();
    let mut report = RecoveryReport {
        segments: log.replayed().len(),
        bytes_read: log.replayed_bytes(),
        ..RecoveryReport::default()
    };
    let mut reserved = 0u64;
    let mut named = 0u64;
    let mut ends_with_close = false;
    let mut segment = 0;
    let mut apply = |event: &Event, claim: Option<Claim>| {
        let (offset, frame) = match event {
            Event::Segment { segment: i } => {
                segment = *i;
                observer.segment(*i);
                return;
            }
            Event::Frame { offset, frame } => (*offset, frame),
        };
        let at = (segment, offset);
        report.frames += 1;
        ends_with_close = matches!(frame, FrameEvent::Close(_));
        observer.frame(at, frame, memory, reserved);
        match frame {
            FrameEvent::Record(record, encoded) => {
                match &record {
                    Record::AddBatch(b) if b.in_feed => {
                        report.max_batch_seq = report.max_batch_seq.max(b.seq);
                    }
                    // A batch of a counter of its own: its head entry names its seq.
                    Record::AddBatch(b) => named = named.max(b.seq),
                    // The counter stays above any seq a head entry was given (a log of an
                    // older build may not hold a reservation for it).
                    Record::UpdateHead(u) => {
                        if let Some(s) = u.last_add_seq {
                            named = named.max(s);
                        }
                    }
                    _ => {}
                }
                let applied = match claim {
                    Some(claim) => match memory.check_claimed(record) {
                        Ok(plan) => Some(memory.execute_claimed(record, encoded, plan, claim)),
                        Err(_) => {
                            memory.release(claim);
                            None
                        }
                    },
                    None => match memory.check(record, None) {
                        Ok(plan) => Some(memory.execute(record, encoded, plan, false)),
                        Err(_) => None,
                    },
                };
                if applied.is_none() {
                    report.refused_records += 1;
                }
                observer.applied(at, record, applied.as_ref(), memory);
            }
            FrameEvent::Reserve(upto) | FrameEvent::Checkpoint(upto) => {
                reserved = reserved.max(*upto);
            }
            // Everything handed out is at or below the close's seq; a later reservation
            // frame raises the bar again.
            FrameEvent::Close(last) => reserved = *last,
        }
    };
    let scanned = if how.two_threads {
        on_two_threads(log, memory, how, &mut apply)
    } else {
        in_line(log, memory, how, &mut apply)
    };
    memory.settle();
    report.duration = started.elapsed();
    Outcome {
        report,
        reserved,
        named,
        end: scanned.end,
        incarnation: scanned.incarnation,
        ends_with_close,
    }
}

/// The result of [`recover`].
pub(crate) struct Recovered {
    /// The report.
    pub(crate) report: RecoveryReport,
    /// Highest reserved seq found (what was moved aside included).
    pub(crate) reserved: u64,
    /// The segments left in the directory, in log order.
    pub(crate) segments: Vec<u64>,
    /// The space's incarnation as the log has it (`None`: no version 2 segment; after a repair,
    /// the space needs a new one).
    pub(crate) incarnation: Option<u128>,
    /// The log was closed cleanly and nothing came after: it ends, whole, with a close frame
    /// (no torn tail, no zeros after it, nothing repaired). See `engine::open`.
    pub(crate) closed_cleanly: bool,
}

/// The corruption error for `bad`.
fn corrupt(log: &LogDir, bad: Bad) -> Error {
    Error::Corrupt {
        segment: log.path(bad.segment),
        offset: bad.offset as u64,
        reason: bad.reason,
    }
}

/// The torn tail `bad` as the report tells it.
fn torn_tail(log: &LogDir, bad: &Bad) -> TornTail {
    let dropped = (log.bytes[bad.segment].len() - bad.offset) as u64
        + log.bytes[bad.segment + 1..]
            .iter()
            .map(|b| b.len() as u64)
            .sum::<u64>();
    TornTail {
        segment: log.path(bad.segment),
        offset: bad.offset as u64,
        bytes_dropped: dropped,
        reason: bad.reason.clone(),
    }
}

/// What [`read_only`] found.
pub(crate) struct ReadOnly {
    /// The report (a torn tail in it, not cut).
    pub(crate) report: RecoveryReport,
    /// The space's incarnation (`None`: no version 2 segment).
    pub(crate) incarnation: Option<u128>,
    /// The log ends, whole, with a close frame (see [`Recovered::closed_cleanly`]).
    pub(crate) closed_cleanly: bool,
}

/// Replays a read-only `log`: a torn tail is reported, not cut; corruption is an error.
pub(crate) fn read_only(log: &LogDir, memory: &Memory) -> Result<ReadOnly> {
    let outcome = run_as(log, memory, &mut (), How::for_open(log.replayed_bytes()));
    let incarnation = outcome.incarnation;
    let counter = outcome.counter();
    let closed_cleanly = outcome.closed_cleanly();
    let mut report = outcome.report;
    match outcome.end {
        End::Clean { .. } | End::Stopped => {}
        End::Torn(bad) => report.torn_tail = Some(torn_tail(log, &bad)),
        End::Corrupt(bad) | End::Unreadable(bad) => return Err(corrupt(log, bad)),
    }
    report.add_seq = counter;
    Ok(ReadOnly {
        report,
        incarnation,
        closed_cleanly,
    })
}

/// How many replayed segments are left after cutting at `bad`: a segment cut inside its header
/// (a bad spot at offset 0) is removed ([`repair::cut`]), like the segments after it.
fn kept_through(bad: &Bad) -> usize {
    bad.segment + usize::from(bad.offset > 0)
}

/// Replays `log` (read with the directory's lock held) into `memory` and puts the disk in order
/// for writing: cuts a torn tail (and preallocated zeros after the last frame), refuses or
/// repairs corruption, and, only after a clean replay, removes what a checkpoint superseded.
pub(crate) fn recover(
    fs: &dyn FileSystem,
    log: &LogDir,
    memory: &Memory,
    recovery: Recovery,
) -> Result<Recovered> {
    let outcome = run_as(log, memory, &mut (), How::for_open(log.replayed_bytes()));
    let counter = outcome.counter();
    let mut reserved = outcome.reserved.max(outcome.named);
    let closed_cleanly = outcome.closed_cleanly();
    let mut report = outcome.report;
    let mut kept = log.replayed().len();
    match outcome.end {
        End::Clean { zeros } => {
            if let Some(offset) = zeros {
                // Preallocated zeros after the last frame (a crash kept them): cut.
                repair::cut(fs, &log.dir, &log.path(kept - 1), offset)?;
            }
        }
        End::Stopped => {}
        End::Torn(bad) => {
            repair::cut_torn_tail(fs, log, &bad)?;
            kept = kept_through(&bad);
            report.torn_tail = Some(torn_tail(log, &bad));
        }
        End::Unreadable(bad) => return Err(corrupt(log, bad)),
        End::Corrupt(bad) => {
            if recovery == Recovery::Strict {
                return Err(corrupt(log, bad));
            }
            let moved = repair::move_aside(fs, log, &bad)?;
            let kept = kept_through(&bad);
            // Seqs named by what is moved aside must not be handed out again.
            reserved = reserved.max(moved.highest_seq);
            report.repaired = Some(Repair {
                segment: log.path(bad.segment),
                offset: bad.offset as u64,
                reason: bad.reason,
                moved_to: moved.moved_to,
                kept_add_seq: report.max_batch_seq,
                // Set by the open, which knows where the counter restarts.
                seqs_maybe_gone: report.max_batch_seq + 1..=report.max_batch_seq,
                cursors_lowered: Vec::new(),
            });
            report.add_seq = counter.max(reserved);
            // What a checkpoint superseded stays: the repaired log may need it by hand.
            return Ok(Recovered {
                report,
                reserved,
                segments: log.replayed()[..kept].to_vec(),
                incarnation: None,
                closed_cleanly: false,
            });
        }
    }
    repair::remove_superseded(fs, log)?;
    report.add_seq = counter;
    Ok(Recovered {
        report,
        reserved,
        segments: log.replayed()[..kept].to_vec(),
        incarnation: outcome.incarnation,
        closed_cleanly,
    })
}

#[cfg(test)]
mod tests {
    //! Claims ahead change nothing: any log, replayed with claims on two threads in small
    //! chunks, leaves the memory and the report exactly as a replay that claims nothing.

    use std::path::PathBuf;

    use bytes::Bytes;
    use proptest::prelude::*;

    use super::*;
    use crate::change::StorageChange;
    use crate::id::Id;
    use crate::record::{BatchChanges, BatchFields, NewTree};
    use crate::wal::frame::{self, SegmentHeader};

    /// What a generated record does; ids come from small pools, so that logs hold duplicates,
    /// refused records, and ids deleted and stored again.
    #[derive(Clone, Debug)]
    enum Op {
        /// Creates tree `t` (its root id `t`, unless `root_id` takes a change's id).
        Create { t: u8, root_id: Option<u8> },
        /// A batch to tree `t` of changes with these ids and order ids; `create`: the batch
        /// creates the tree first.
        Add {
            t: u8,
            changes: Vec<(u8, u8)>,
            create: bool,
            skip_duplicates: bool,
        },
        /// Deletes tree `t`.
        Delete { t: u8 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..4u8, proptest::option::of(0..12u8))
                .prop_map(|(t, root_id)| Op::Create { t, root_id }),
            (
                0..4u8,
                proptest::collection::vec((0..12u8, 0..8u8), 1..4),
                any::<bool>(),
                any::<bool>()
            )
                .prop_map(|(t, changes, create, skip_duplicates)| Op::Add {
                    t,
                    changes,
                    create: create && t % 2 == 0,
                    skip_duplicates
                }),
            (0..4u8).prop_map(|t| Op::Delete { t }),
        ]
    }

    fn new_tree(t: u8, root_id: Option<u8>) -> Box<NewTree> {
        let id = root_id.map_or(format!("t{t}"), |c| format!("c{c}"));
        let mut root = StorageChange::new(id.as_str(), "", format!("root {t}"));
        root.tree_id = Id::from(id.as_str());
        Box::new(NewTree {
            root,
            parent_id: None,
            is_derived: false,
        })
    }

    fn record(op: &Op, seq: u64) -> Record {
        match op {
            Op::Create { t, root_id } => Record::CreateTree(new_tree(*t, *root_id)),
            Op::Add {
                t,
                changes,
                create,
                skip_duplicates,
            } => Record::AddBatch(BatchFields {
                tree_id: Id::from(format!("t{t}").as_str()),
                seq,
                added: 7,
                in_feed: true,
                changes: BatchChanges::Given(
                    changes
                        .iter()
                        .map(|(c, o)| {
                            StorageChange::new(format!("c{c}"), format!("o{o}"), vec![*c; 3])
                        })
                        .collect(),
                ),
                heads: None,
                common_snapshot: Id::from("s"),
                skip_duplicates: *skip_duplicates,
                create: create.then(|| new_tree(*t, None)),
            }),
            Op::Delete { t } => Record::DeleteTree {
                tree_id: Id::from(format!("t{t}").as_str()),
                create: None,
            },
        }
    }

    /// A segment holding `ops` as records.
    fn log_of(ops: &[Op]) -> LogDir {
        let header = SegmentHeader::new(1, 0, 1, 99, 0);
        let mut bytes = header.encode().to_vec();
        for (i, op) in ops.iter().enumerate() {
            header
                .framing()
                .encode(&mut bytes, frame::KIND_RECORD, |o| {
                    let record = record(op, i as u64 + 1);
                    let len = crate::wal::payload_len(&record);
                    o.extend_from_slice(&crate::wal::encode_payload(&record, len).bytes);
                });
        }
        LogDir::of_bytes(PathBuf::from("test"), 1, Bytes::from(bytes))
    }

    /// Everything the memory holds, in words: its state as checkpoint records, its feed, and
    /// which ids its change map holds.
    fn described(memory: &Memory) -> Vec<String> {
        let mut out = Vec::new();
        memory
            .capture()
            .emit(|r| {
                out.push(format!("{r:?}"));
                Ok(())
            })
            .unwrap();
        memory.index.visit(0, u64::MAX, usize::MAX, |seq, block| {
            out.push(format!("feed {seq} {}", block.len()));
            true
        });
        out.push(format!("changes {}", memory.changes.len()));
        for id in (0..12)
            .map(|c| format!("c{c}"))
            .chain((0..4).map(|t| format!("t{t}")))
        {
            if let Some(stored) = memory.changes.get(&id) {
                out.push(format!("{id} in block of seq {}", stored.seq()));
            }
        }
        out
    }

    /// Replays `log` as `how` says: what the memory holds and how many records were refused.
    fn replayed(log: &LogDir, how: How) -> (Vec<String>, u64) {
        let memory = Memory::filled_in_bulk(0);
        let outcome = run_as(log, &memory, &mut (), how);
        (described(&memory), outcome.report.refused_records)
    }

    const CLAIMING: How = How {
        two_threads: true,
        chunk: 3,
        claim_ahead: true,
    };

    #[test]
    fn a_duplicate_ends_claiming_and_the_rest_is_checked_as_written() {
        let ops = [
            Op::Create {
                t: 0,
                root_id: None,
            },
            Op::Add {
                t: 0,
                changes: vec![(1, 1)],
                create: false,
                skip_duplicates: false,
            },
            Op::Add {
                t: 1,
                changes: vec![(2, 1)],
                create: false,
                skip_duplicates: false,
            },
            Op::Add {
                t: 0,
                changes: vec![(1, 2), (3, 3)],
                create: false,
                skip_duplicates: true,
            },
        ];
        let log = log_of(&ops);
        let (state, refused) = replayed(&log, CLAIMING);
        // The batch to a tree that does not exist is refused (its claim given back); the last
        // one skips the stored c1 and stores c3.
        assert_eq!(refused, 1);
        assert!(
            state.contains(&"c3 in block of seq 4".to_string()),
            "{state:?}"
        );
        assert!(!state.iter().any(|s| s.starts_with("c2 ")), "{state:?}");
        assert_eq!((state, refused), replayed(&log, How::watched(0)));
    }

    proptest! {
        #[test]
        fn claims_ahead_leave_memory_as_a_replay_without_them(
            ops in proptest::collection::vec(op(), 1..40),
        ) {
            let log = log_of(&ops);
            let exact = replayed(&log, How::watched(0));
            let two_threads = How { claim_ahead: false, ..CLAIMING };
            prop_assert_eq!(&replayed(&log, two_threads), &exact);
            prop_assert_eq!(&replayed(&log, CLAIMING), &exact);
            // Chunks long enough that their claims go in a shard at a time.
            prop_assert_eq!(&replayed(&log, How { chunk: 64, ..CLAIMING }), &exact);
            prop_assert_eq!(&replayed(&log, How::for_open(0)), &exact);
        }
    }
}
