//! The replay machine: applies what the log's one scanner ([`crate::wal::scan`]) reads to a
//! [`Memory`], with the same check and execute as a live write, in log order.
//!
//! [`run`] changes nothing on disk: `Space::open_read_only` and the tools' verification use it
//! as it is (the tools watch each record through an [`Observer`], as raft-engine's consistency
//! checker is a replay machine over the same scan). [`recover`] is what a locking open does: run,
//! then act on how the log ends (cut a torn tail, refuse or repair corruption, remove what a
//! checkpoint superseded).
//!
//! Reading, CRC checks and decoding run on a second thread, ahead of the records' application
//! on this one; they meet through a bounded channel of chunks, in log order (under loom, in
//! line).

use std::time::Instant;

use crate::memory::{Applied, Memory};
use crate::record::Record;
use crate::report::{RecoveryReport, Repair, TornTail};
use crate::wal::repair;
use crate::wal::scan::{self, Bad, End, Event, FrameEvent, LogDir};
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

/// On one thread: a chunk small enough to stay in the cache between its decoding and its
/// application (and far below the allocator's threshold for a mapping of its own).
const CHUNK_IN_LINE: usize = 64;

/// Runs `produce` (which hands chunks of events to its sink, and stops when the sink says so)
/// on a second thread, and `consume` on this one, in order; in line when `in_line`.
fn pipeline<T: Send>(
    in_line: bool,
    produce: impl FnOnce(&mut dyn FnMut(Vec<Event>) -> bool) -> T + Send,
    consume: &mut dyn FnMut(Vec<Event>) -> bool,
) -> T {
    if in_line {
        return produce(consume);
    }
    on_two_threads(produce, consume)
}

/// [`pipeline`] on two threads.
#[cfg(not(loom))]
fn on_two_threads<T: Send>(
    produce: impl FnOnce(&mut dyn FnMut(Vec<Event>) -> bool) -> T + Send,
    consume: &mut dyn FnMut(Vec<Event>) -> bool,
) -> T {
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Event>>(16);
        let producer = scope.spawn(move || produce(&mut |events| tx.send(events).is_ok()));
        for events in rx.iter() {
            if !consume(events) {
                break;
            }
        }
        // Dropping the receiver stops a producer that is still sending.
        drop(rx);
        producer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Under loom, in line (loom models the space's own threads, not replay's).
#[cfg(loom)]
fn on_two_threads<T: Send>(
    produce: impl FnOnce(&mut dyn FnMut(Vec<Event>) -> bool) -> T + Send,
    consume: &mut dyn FnMut(Vec<Event>) -> bool,
) -> T {
    produce(consume)
}

/// Replays `log` into `memory`, telling `observer` about each frame. Changes nothing on disk.
pub(crate) fn run(log: &LogDir, memory: &Memory, observer: &mut dyn Observer) -> Outcome {
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
    let mut apply = |events: Vec<Event>| -> bool {
        // By reference: an event is not moved out of its chunk.
        for event in &events {
            let (offset, frame) = match event {
                Event::Segment { segment: i } => {
                    segment = *i;
                    observer.segment(*i);
                    continue;
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
                    let applied = match memory.check(record, None) {
                        Ok(plan) => Some(memory.execute(record, encoded, plan, false)),
                        Err(_) => {
                            report.refused_records += 1;
                            None
                        }
                    };
                    observer.applied(at, record, applied.as_ref(), memory);
                }
                FrameEvent::Reserve(upto) | FrameEvent::Checkpoint(upto) => {
                    reserved = reserved.max(*upto);
                }
                // Everything handed out is at or below the close's seq; a later reservation
                // frame raises the bar again.
                FrameEvent::Close(last) => reserved = *last,
            }
        }
        true
    };
    let in_line = log.replayed_bytes() < PIPELINE_FROM_BYTES;
    let chunk = if in_line {
        CHUNK_IN_LINE
    } else {
        CHUNK_ON_TWO_THREADS
    };
    let scanned = pipeline(in_line, |emit| scan::scan(log, chunk, emit), &mut apply);
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
    let outcome = run(log, memory, &mut ());
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
    let outcome = run(log, memory, &mut ());
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
