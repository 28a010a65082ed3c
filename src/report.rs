//! [`RecoveryReport`]: what replay found and did when a space was opened.

use std::path::PathBuf;
use std::time::Duration;

use crate::Id;

/// What replay found and did, returned by [`crate::Space::recovery_report`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// Segment files read.
    pub segments: usize,
    /// Valid frames read (commits, reservations, checkpoints and closes).
    pub frames: u64,
    /// Bytes read from the segments.
    pub bytes_read: u64,
    /// Logged writes that were refused when they were made and are refused again by replay
    /// (a `Sync` write that lost a race at publication).
    pub refused_records: u64,
    /// The torn tail that was cut off (or, read-only, that would be), if any.
    pub torn_tail: Option<TornTail>,
    /// What a repair moved aside, if the caller asked for repair and there was corruption.
    pub repaired: Option<Repair>,
    /// The counter after replay ([`crate::Space::add_seq`]): new batches get seqs above it.
    /// After a clean close, the close's seq; after a crash, the highest reservation the log
    /// holds (at least `max_batch_seq`).
    pub add_seq: u64,
    /// Highest AddSeq of a batch found in the log (refused ones and those of trees deleted
    /// since included, so it may be above [`crate::Space::last_add_seq`]).
    pub max_batch_seq: u64,
    /// How long replay took.
    pub duration: Duration,
}

/// A torn tail cut off by replay: an incomplete or bad frame with nothing valid after it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TornTail {
    /// The segment it was in.
    pub segment: PathBuf,
    /// Where it began.
    pub offset: u64,
    /// How many bytes were dropped (later, empty segments included).
    pub bytes_dropped: u64,
    /// Why the frame there is not valid.
    pub reason: String,
}

/// What a repair kept and moved aside.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Repair {
    /// The segment holding the first bad frame.
    pub segment: PathBuf,
    /// The bad frame's offset: everything before it was kept.
    pub offset: u64,
    /// Why the frame was bad.
    pub reason: String,
    /// Side files holding everything from the bad frame on.
    pub moved_to: Vec<PathBuf>,
    /// The highest AddSeq of a batch that was kept (0: none was).
    pub kept_add_seq: u64,
    /// The seqs that may have belonged to batches that were moved aside: every seq above
    /// `kept_add_seq` up to the counter the space restarts at. A consumer whose position is in
    /// this range may have missed them; the space's incarnation is new, so a consumer that
    /// stored `(incarnation, cursor)` elsewhere notices and resyncs.
    pub seqs_maybe_gone: std::ops::RangeInclusive<u64>,
    /// Named cursors that were above `kept_add_seq`, with the position each had: each was
    /// lowered to `kept_add_seq` (durably, before the space was handed out).
    pub cursors_lowered: Vec<(Id, u64)>,
}
