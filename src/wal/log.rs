//! [`Wal`]: the writing side of the log: appends one frame per commit to the active segment,
//! rolls segments at a size limit, and durably reserves AddSeq ranges ahead of use.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::env::{FileSystem, LogFile};
use super::group::GroupSync;
use super::replay::list_segments;
use super::{codec, frame, segment_path};
use crate::memory::Memory;
use crate::record::Record;
use crate::{Error, Result};

/// The log of an open space. Used only under the commit lock.
pub(crate) struct Wal {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    segment_seq: u64,
    file: Arc<dyn LogFile>,
    /// Bytes in the active segment.
    len: u64,
    segment_size: u64,
    /// Every seq up to this one may have been handed out; a restart begins above it.
    reserved: u64,
    reserve_ahead: u64,
    buf: Vec<u8>,
    group: Arc<GroupSync>,
    /// False once a failed append could not be taken back: the file's tail is unknown.
    usable: bool,
    frames: u64,
    /// Keep synced zeros ahead of the data (for `Sync` spaces).
    preallocate: bool,
    /// Bytes of every segment file in the directory.
    log_bytes: u64,
    /// Bytes of the last checkpoint's snapshot (or of the log replayed at open): the estimate of
    /// the live data that automatic checkpoints compare the log with.
    live_bytes: u64,
    /// The directory lock, released when the log is dropped.
    _lock: Box<dyn Send + Sync>,
}

/// Creates segment `seq` with its header and makes its directory entry durable.
fn create_segment(
    fs: &dyn FileSystem,
    dir: &Path,
    seq: u64,
    preallocate: bool,
) -> Result<Arc<dyn LogFile>> {
    let file: Arc<dyn LogFile> = Arc::from(fs.create(&segment_path(dir, seq)).map_err(
        |source| Error::Io {
            context: "creating a log segment",
            source,
        },
    )?);
    file.preallocate(preallocate);
    file.append(&frame::header(seq))
        .map_err(|source| Error::Io {
            context: "writing a segment header",
            source,
        })?;
    fs.sync_dir(dir).map_err(|source| Error::Io {
        context: "syncing the space directory",
        source,
    })?;
    Ok(file)
}

/// Settings of a [`Wal`].
pub(crate) struct WalConfig {
    pub(crate) fs: Arc<dyn FileSystem>,
    pub(crate) dir: PathBuf,
    pub(crate) segment_seq: u64,
    pub(crate) segment_size: u64,
    pub(crate) reserved: u64,
    pub(crate) reserve_ahead: u64,
    pub(crate) lock: Box<dyn Send + Sync>,
    /// Bytes of the segments already in the directory.
    pub(crate) existing_bytes: u64,
    /// Keep synced zeros ahead of the data (for `Sync` spaces).
    pub(crate) preallocate: bool,
}

/// What a checkpoint did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointStats {
    /// Bytes of the log's segments before the checkpoint.
    pub bytes_before: u64,
    /// Bytes of the log's segments after it (the snapshot and the new active segment).
    pub bytes_after: u64,
    /// Segment files removed.
    pub segments_removed: usize,
    /// Records in the snapshot.
    pub records: u64,
}

impl Wal {
    /// Starts a new segment `config.segment_seq` and logs to it.
    pub(crate) fn create(config: WalConfig) -> Result<Wal> {
        let file = create_segment(
            config.fs.as_ref(),
            &config.dir,
            config.segment_seq,
            config.preallocate,
        )?;
        Ok(Wal {
            group: Arc::new(GroupSync::new(Arc::clone(&file))),
            fs: config.fs,
            dir: config.dir,
            segment_seq: config.segment_seq,
            file,
            len: frame::HEADER_LEN as u64,
            segment_size: config.segment_size,
            reserved: config.reserved,
            reserve_ahead: config.reserve_ahead.max(1),
            buf: Vec::new(),
            usable: true,
            frames: 0,
            preallocate: config.preallocate,
            log_bytes: config.existing_bytes + frame::HEADER_LEN as u64,
            live_bytes: config.existing_bytes,
            _lock: config.lock,
        })
    }

    /// The group-commit state, for syncing outside the commit lock.
    pub(crate) fn group(&self) -> Arc<GroupSync> {
        Arc::clone(&self.group)
    }

    /// Whether appends may go on (false after a failed append that could not be taken back).
    pub(crate) fn usable(&self) -> bool {
        self.usable
    }

    /// Frames appended since the space was opened.
    pub(crate) fn frames(&self) -> u64 {
        self.frames
    }

    /// The active segment's sequence number.
    pub(crate) fn segment_seq(&self) -> u64 {
        self.segment_seq
    }

    /// Appends the frame of `record`; returns the LSN at its end. Not yet durable.
    pub(crate) fn append(&mut self, record: &Record) -> Result<u64> {
        self.encode(frame::KIND_RECORD, |o| codec::encode(record, o));
        if self.len + self.buf.len() as u64 > self.segment_size
            && self.len > frame::HEADER_LEN as u64
        {
            self.roll()?;
            self.encode(frame::KIND_RECORD, |o| codec::encode(record, o));
        }
        self.write_buf()
    }

    /// Makes sure `seq` may be handed out: when it is above the reservation, durably reserves
    /// `reserve_ahead` more seqs first (a synced reservation frame).
    pub(crate) fn reserve(&mut self, seq: u64) -> Result<()> {
        if seq <= self.reserved {
            return Ok(());
        }
        let upto = seq.saturating_add(self.reserve_ahead - 1);
        self.encode(frame::KIND_RESERVE, |o| {
            o.extend_from_slice(&upto.to_le_bytes())
        });
        let lsn = self.write_buf()?;
        self.group.sync_to(lsn)?;
        self.reserved = upto;
        Ok(())
    }

    /// Records a clean close: `last_seq` is the last seq handed out, so a restart may begin
    /// right above it instead of above the reservation. Synced; best effort (a close that does
    /// not reach the disk only costs a gap).
    pub(crate) fn close(&mut self, last_seq: u64) {
        if !self.usable {
            return;
        }
        self.encode(frame::KIND_CLOSE, |o| {
            o.extend_from_slice(&last_seq.to_le_bytes())
        });
        if let Ok(lsn) = self.write_buf() {
            let _ = self.group.sync_to(lsn);
        }
    }

    /// The highest reserved seq.
    pub(crate) fn reserved(&self) -> u64 {
        self.reserved
    }

    fn encode(&mut self, kind: u8, payload: impl FnOnce(&mut Vec<u8>)) {
        self.buf.clear();
        frame::encode(&mut self.buf, self.segment_seq, kind, payload);
    }

    fn write_buf(&mut self) -> Result<u64> {
        if let Err(source) = self.file.append(&self.buf) {
            // Take back whatever part of the frame reached the file, so that the next frame
            // does not follow garbage (which replay would call corruption).
            if self.file.truncate(self.len).is_err() {
                self.usable = false;
            }
            return Err(Error::Io {
                context: "appending a frame to the log",
                source,
            });
        }
        self.len += self.buf.len() as u64;
        self.log_bytes += self.buf.len() as u64;
        self.frames += 1;
        Ok(self.group.appended(self.buf.len() as u64))
    }

    /// Bytes of every segment file of the log.
    pub(crate) fn log_bytes(&self) -> u64 {
        self.log_bytes
    }

    /// Whether the log has grown past `factor` times the live data (and past `min_bytes`).
    pub(crate) fn wants_checkpoint(&self, factor: u64, min_bytes: u64) -> bool {
        self.log_bytes > min_bytes && self.log_bytes > self.live_bytes.saturating_mul(factor)
    }

    /// Writes the live state (`memory`) to a new segment and switches over crash-safely: the
    /// snapshot goes to a temporary file, is synced, renamed into place (its first frame marks it
    /// a checkpoint, so replay starts there), the directory synced; then the older segments are
    /// removed and a new active segment begins. A crash at any step leaves either the old log
    /// or the checkpoint (plus, at worst, superseded segments that the next open removes).
    pub(crate) fn checkpoint(&mut self, memory: &Memory) -> Result<CheckpointStats> {
        let io = |context| move |source| Error::Io { context, source };
        self.file
            .sync_data()
            .map_err(io("syncing the log before a checkpoint"))?;
        let bytes_before = self.log_bytes;
        let old_segments = list_segments(self.fs.as_ref(), &self.dir)?;
        let seq = self.segment_seq + 1;
        let path = segment_path(&self.dir, seq);
        let tmp = path.with_extension("wal.tmp");
        let file = self.fs.create(&tmp).map_err(io("creating a checkpoint"))?;
        let mut out = frame::header(seq).to_vec();
        frame::encode(&mut out, seq, frame::KIND_CHECKPOINT, |o| {
            o.extend_from_slice(&self.reserved.to_le_bytes())
        });
        let mut records = 0u64;
        let mut snapshot_len = 0u64;
        memory.snapshot(|record| {
            frame::encode(&mut out, seq, frame::KIND_RECORD, |o| {
                codec::encode(record, o)
            });
            records += 1;
            if out.len() >= 1 << 20 {
                file.append(&out).map_err(io("writing a checkpoint"))?;
                snapshot_len += out.len() as u64;
                out.clear();
            }
            Ok(())
        })?;
        file.append(&out).map_err(io("writing a checkpoint"))?;
        snapshot_len += out.len() as u64;
        file.sync_data().map_err(io("syncing a checkpoint"))?;
        drop(file);
        self.fs
            .rename(&tmp, &path)
            .map_err(io("renaming a checkpoint into place"))?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(io("syncing the space directory"))?;
        // The checkpoint is durable: from here on replay starts at it.
        for &old in &old_segments {
            self.fs
                .remove(&segment_path(&self.dir, old))
                .map_err(io("removing a superseded segment"))?;
        }
        self.fs
            .sync_dir(&self.dir)
            .map_err(io("syncing the space directory"))?;
        let active = create_segment(self.fs.as_ref(), &self.dir, seq + 1, self.preallocate)?;
        self.group.switch(Arc::clone(&active));
        self.file = active;
        self.segment_seq = seq + 1;
        self.len = frame::HEADER_LEN as u64;
        self.log_bytes = snapshot_len + frame::HEADER_LEN as u64;
        self.live_bytes = snapshot_len;
        Ok(CheckpointStats {
            bytes_before,
            bytes_after: self.log_bytes,
            segments_removed: old_segments.len(),
            records,
        })
    }

    /// Closes the active segment (synced whole) and starts the next one.
    fn roll(&mut self) -> Result<()> {
        self.file.sync_data().map_err(|source| {
            self.usable = false;
            Error::Io {
                context: "syncing a full segment",
                source,
            }
        })?;
        let next = self.segment_seq + 1;
        let file = create_segment(self.fs.as_ref(), &self.dir, next, self.preallocate)?;
        self.group.switch(Arc::clone(&file));
        self.file = file;
        self.segment_seq = next;
        self.len = frame::HEADER_LEN as u64;
        self.log_bytes += frame::HEADER_LEN as u64;
        Ok(())
    }

    /// Makes every frame appended so far durable.
    pub(crate) fn sync(&self) -> Result<()> {
        self.group.sync_to(self.group.written())
    }
}
