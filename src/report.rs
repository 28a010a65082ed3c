//! [`RecoveryReport`]: what replay found and did when a space was opened.

use std::path::PathBuf;
use std::time::Duration;

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
    /// The counter after replay: new batches get seqs above it.
    pub add_seq: u64,
    /// Highest AddSeq of a batch found in the log.
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
}
