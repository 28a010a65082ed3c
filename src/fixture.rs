//! Fixtures: a space as one file ([`crate::Space::export`]) and an in-memory space built from
//! one ([`crate::Space::import`]).
//!
//! A fixture is a log segment that begins with a checkpoint: the bytes a checkpoint of the
//! space would write (`wal::encode_checkpoint`), read back by the log's one scanner and replay,
//! so it is documented, versioned and checked as the log is (DESIGN.md, "Fixtures"): a fixture
//! written by this version is read by every later one, and a damaged or cut one is an error,
//! never a part of a space.

use std::io::{Read, Write};
use std::path::PathBuf;

use bytes::Bytes;

use crate::memory::Memory;
use crate::space_core::SpaceCore;
use crate::wal::encode_checkpoint;
use crate::wal::frame::{self, SegmentHeader};
use crate::wal::scan::LogDir;
use crate::{engine, replay};
use crate::{Error, Result};

/// The segment number a fixture's header carries (a space directory holding a fixture as its
/// only segment opens as that space).
const FIXTURE_SEGMENT: u64 = 1;

/// Writes the state of `commit` as of now (captured under its commit lock) to `writer`;
/// returns how many bytes it wrote.
pub(crate) fn export(core: &SpaceCore, incarnation: u128, writer: &mut dyn Write) -> Result<u64> {
    let (captured, counter) = core.capture();
    let header = SegmentHeader::new(FIXTURE_SEGMENT, 0, incarnation, frame::new_salt(), 0);
    let mut written = 0u64;
    let mut write = |bytes: &[u8]| {
        writer.write_all(bytes).map_err(|source| Error::Io {
            context: "writing a fixture",
            source,
        })?;
        written += bytes.len() as u64;
        Ok(())
    };
    encode_checkpoint(
        &header,
        counter,
        frame::MAX_PAYLOAD,
        &|emit| captured.emit(emit),
        &mut write,
    )?;
    // The end, as a clean close writes it: a fixture cut between two frames is told apart.
    let mut close = Vec::new();
    header
        .framing()
        .try_encode(&mut close, frame::KIND_CLOSE, |o| {
            o.extend_from_slice(&counter.to_le_bytes())
        })
        .map_err(|_| Error::Internal("a close frame does not fit a frame".into()))?;
    write(&close)?;
    writer.flush().map_err(|source| Error::Io {
        context: "writing a fixture",
        source,
    })?;
    Ok(written)
}

/// Reads a fixture from `reader` into a new memory; returns it with the counter it carries.
pub(crate) fn import(reader: &mut dyn Read) -> Result<(Memory, u64)> {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).map_err(|source| Error::Io {
        context: "reading a fixture",
        source,
    })?;
    let log = LogDir::of_bytes(
        PathBuf::from("fixture"),
        FIXTURE_SEGMENT,
        Bytes::from(bytes),
    );
    let memory = engine::memory_for(&log);
    if !log.checkpoint {
        return Err(Error::Corrupt {
            segment: log.path(0),
            offset: 0,
            reason: "a fixture begins with a segment header and a checkpoint frame".into(),
        });
    }
    let read = replay::read_only(&log, &memory)?;
    if let Some(torn) = read.report.torn_tail {
        return Err(Error::Corrupt {
            segment: torn.segment,
            offset: torn.offset,
            reason: format!("the fixture is cut short: {}", torn.reason),
        });
    }
    if !read.closed_cleanly {
        // Cut between two frames: only the close frame says that nothing follows.
        return Err(Error::Corrupt {
            segment: log.path(0),
            offset: log.replayed_bytes(),
            reason: "the fixture is cut short: it does not end with its close frame".into(),
        });
    }
    Ok((memory, read.report.add_seq))
}
