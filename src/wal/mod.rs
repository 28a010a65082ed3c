//! The write-ahead log: segment files of CRC-framed records.
//!
//! - `env.rs`: the file abstraction ([`FileSystem`], [`LogFile`]) all log I/O goes through;
//! - `format.rs`: every file name of a space directory;
//! - `frame.rs`: segment headers and frames (the byte layout);
//! - `codec.rs`: records to frame payloads and back, zero-copy on the way back;
//! - `log.rs`: appending, rolling segments, reserving AddSeq ranges, checkpoints;
//! - `group.rs`: group commit (one fsync for every writer queued behind it);
//! - `lock.rs`: the real file system's directory lock (POSIX record locks, never inherited);
//! - `health.rs`: the one latch that stops writes after a failure the log cannot vouch for;
//! - `scan.rs`: the one reader of the log (replay, read-only opens and the tools);
//! - `repair.rs`: what open does to the disk after a scan (cut, move aside, remove).
//!
//! The log knows records and bytes; it never looks at the in-memory state or the API's types.

mod codec;
mod env;
mod flush;
pub mod format;
pub mod frame;
mod group;
mod health;
pub(crate) mod lock;
mod log;
pub(crate) mod repair;
pub(crate) mod scan;

use crate::record::{BatchFields, Record, UpdateRef};

pub(crate) use codec::encode_payload;
pub(crate) use env::create_dir_durably;
pub use env::{EntryKind, FileSystem, FsyncFailed, LogFile, StdFileSystem};
pub(crate) use health::Health;
pub use health::Refusal;
pub use log::CheckpointStats;
pub(crate) use log::{encode_checkpoint, CheckpointDone, Wal, WalConfig};

/// Bytes a frame with a payload of `payload` bytes takes (the length, the CRC, the kind).
pub(crate) fn frame_len(payload: u64) -> u64 {
    (frame::FRAME_PREFIX as u64 + 1).saturating_add(payload)
}

/// The record `payload` holds, its byte fields slices of `payload` (for records whose bytes
/// memory keeps, see `Record::keeps_bytes`).
pub(crate) fn reread(payload: &crate::layout::Payload) -> crate::Result<Record> {
    codec::decode(payload.bytes(), 0..payload.len())
        .map(|(record, _)| record)
        .map_err(|why| {
            crate::Error::Internal(format!("a record just encoded does not decode: {why}"))
        })
}

/// Bytes the payload of `record` takes.
pub(crate) fn payload_len(record: &Record) -> u64 {
    codec::encoded_len(record)
}

/// Bytes the payload of a batch record takes (known before it takes its seq: the seq is a
/// fixed-size field).
pub(crate) fn batch_payload_len(batch: &BatchFields) -> u64 {
    codec::batch_len(batch)
}

/// Bytes the payload of an update-head record of `update` takes (with
/// [`UpdateRef::whole`]: what a checkpoint writes for a head entry).
pub(crate) fn head_payload_len(update: UpdateRef<'_>) -> u64 {
    codec::head_len(update)
}
