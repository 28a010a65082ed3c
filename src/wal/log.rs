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
    /// The number the next new segment gets.
    next_segment_seq: u64,
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
    /// The active segment was superseded by a checkpoint that failed after its rename: the next
    /// append must start a new segment.
    stale: bool,
    /// Bytes of every segment file in the directory.
    log_bytes: u64,
    /// Bytes of the last checkpoint's snapshot (or of the log replayed at open): the estimate of
    /// the live data that automatic checkpoints compare the log with.
    live_bytes: u64,
    /// The directory lock, released when the log is dropped.
    _lock: Box<dyn Send + Sync>,
}

/// Why a new segment could not be started, and whether its file may have been left behind (a
/// file left between two segments would read as corruption, so the log must stop).
struct SegmentError {
    error: Error,
    left_behind: bool,
}

/// Creates segment `seq` with its header, makes both durable (the header's fsync, then the
/// directory's), and returns it. On failure the file is removed again if it can be.
fn create_segment(
    fs: &dyn FileSystem,
    dir: &Path,
    seq: u64,
    preallocate: bool,
) -> std::result::Result<Arc<dyn LogFile>, SegmentError> {
    let path = segment_path(dir, seq);
    let io = |context| move |source| Error::Io { context, source };
    let file: Arc<dyn LogFile> = match fs.create(&path) {
        Ok(file) => Arc::from(file),
        Err(source) => {
            return Err(SegmentError {
                error: io("creating a log segment")(source),
                left_behind: fs.read(&path).is_ok() && fs.remove(&path).is_err(),
            })
        }
    };
    file.preallocate(preallocate);
    let mut fsync_failed = false;
    let written = file
        .append(&frame::header(seq))
        .map_err(io("writing a segment header"))
        .and_then(|()| {
            file.sync_data().map_err(|source| {
                fsync_failed = true;
                io("syncing a segment header")(source)
            })
        })
        .and_then(|()| fs.sync_dir(dir).map_err(io("syncing the space directory")));
    match written {
        Ok(()) => Ok(file),
        Err(error) => {
            drop(file);
            Err(SegmentError {
                error,
                // A failed fsync stops the log like any other (the page cache is suspect).
                left_behind: fs.remove(&path).is_err() || fsync_failed,
            })
        }
    }
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
        )
        .map_err(|e| e.error)?;
        Ok(Wal {
            group: Arc::new(GroupSync::new(Arc::clone(&file))),
            fs: config.fs,
            dir: config.dir,
            segment_seq: config.segment_seq,
            next_segment_seq: config.segment_seq + 1,
            file,
            len: frame::HEADER_LEN as u64,
            segment_size: config.segment_size,
            reserved: config.reserved,
            reserve_ahead: config.reserve_ahead.max(1),
            buf: Vec::new(),
            usable: true,
            frames: 0,
            preallocate: config.preallocate,
            stale: false,
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

    /// Why the log refuses writes, if it does: a failed fsync, or a tail it cannot vouch for.
    pub(crate) fn refusal(&self) -> Option<String> {
        self.group.failed().or_else(|| {
            (!self.usable).then(|| "a failed write to the log could not be taken back".into())
        })
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
        self.ensure_fresh()?;
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
        self.ensure_fresh()?;
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
        if !self.usable || self.ensure_fresh().is_err() {
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
        // Through the group, so that a failure latches like any failed fsync.
        self.group.sync_to(self.group.written())?;
        let bytes_before = self.log_bytes;
        let seq = self.take_segment_seq();
        let old_segments: Vec<u64> = list_segments(self.fs.as_ref(), &self.dir)?
            .into_iter()
            .filter(|&s| s < seq)
            .collect();
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
        // (A failed fsync here concerns the temporary file only, which is abandoned.)
        file.sync_data().map_err(io("syncing a checkpoint"))?;
        drop(file);
        self.fs
            .rename(&tmp, &path)
            .map_err(io("renaming a checkpoint into place"))?;
        // From here on the checkpoint may be what the next open starts at: the old active
        // segment must never be written again. Any failure before the new active segment is in
        // place stops all writes (reopen to go on).
        let switched = self
            .fs
            .sync_dir(&self.dir)
            .map_err(io("syncing the space directory"))
            .and_then(|()| {
                let next = self.take_segment_seq();
                create_segment(self.fs.as_ref(), &self.dir, next, self.preallocate)
                    .map(|file| (next, file))
                    .map_err(|e| {
                        if e.left_behind {
                            self.usable = false;
                        }
                        e.error
                    })
            });
        self.log_bytes = snapshot_len;
        self.live_bytes = snapshot_len;
        match switched {
            Ok((active_seq, active)) => self.switch_to(active_seq, active),
            Err(e) => {
                // The next append starts a new segment first (and fails until it can).
                self.stale = true;
                return Err(e);
            }
        }
        // The superseded segments go. If that fails the checkpoint still stands and writes go
        // on; the error is reported, and the next open removes what is left.
        for &old in &old_segments {
            self.fs
                .remove(&segment_path(&self.dir, old))
                .map_err(io("removing a superseded segment"))?;
        }
        self.fs
            .sync_dir(&self.dir)
            .map_err(io("syncing the space directory"))?;
        let removed = old_segments.len();
        Ok(CheckpointStats {
            bytes_before,
            bytes_after: self.log_bytes,
            segments_removed: removed,
            records,
        })
    }

    /// The next unused segment number: above every segment this log created or tried to
    /// create (a failed roll may leave its file behind), so numbers are never reused.
    fn take_segment_seq(&mut self) -> u64 {
        let seq = self.next_segment_seq;
        self.next_segment_seq += 1;
        seq
    }

    /// Makes `file` (segment `seq`, just created with its header) the active segment.
    fn switch_to(&mut self, seq: u64, file: Arc<dyn LogFile>) {
        self.group.switch(Arc::clone(&file));
        self.file = file;
        self.segment_seq = seq;
        self.len = frame::HEADER_LEN as u64;
        self.log_bytes += frame::HEADER_LEN as u64;
        self.stale = false;
    }

    /// Starts a new segment when the active one must not be written any more (a checkpoint
    /// that failed after its rename superseded it).
    fn ensure_fresh(&mut self) -> Result<()> {
        if !self.stale {
            return Ok(());
        }
        let next = self.take_segment_seq();
        match create_segment(self.fs.as_ref(), &self.dir, next, self.preallocate) {
            Ok(file) => {
                self.switch_to(next, file);
                Ok(())
            }
            Err(e) => {
                if e.left_behind {
                    self.usable = false;
                }
                Err(e.error)
            }
        }
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
        let next = self.take_segment_seq();
        let file = match create_segment(self.fs.as_ref(), &self.dir, next, self.preallocate) {
            Ok(file) => file,
            Err(e) => {
                // Writing goes on in the current (synced, full) segment, unless a broken file
                // may sit between it and the next one.
                if e.left_behind {
                    self.usable = false;
                }
                return Err(e.error);
            }
        };
        self.switch_to(next, file);
        Ok(())
    }

    /// Makes every frame appended so far durable.
    pub(crate) fn sync(&self) -> Result<()> {
        self.group.sync_to(self.group.written())
    }
}
