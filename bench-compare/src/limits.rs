//! The machine's limits, measured in the same run as the stores: durable commits per second of
//! one thread (pwrite + fdatasync of one small record on a preallocated file), memcpy bandwidth,
//! and reading a directory's files back from a cold page cache.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::{measure, Slicer};

/// pwrite of `record` bytes at the next offset, then fdatasync, on a file preallocated by
/// writing zeros (and synced), as spacestore's log does: one thread's durable commits per second.
pub struct FsyncLimit {
    file: File,
    buf: Vec<u8>,
    off: u64,
    _dir: tempfile::TempDir,
}

const LIMIT_FILE: u64 = 64 << 20;

impl FsyncLimit {
    pub fn new(record: usize) -> Self {
        let dir = crate::tempdir();
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(dir.path().join("fdatasync-limit"))
            .expect("limit file");
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..LIMIT_FILE >> 20 {
            file.write_all(&zeros).expect("preallocate");
        }
        file.sync_all().expect("sync");
        FsyncLimit {
            file,
            buf: vec![0x5a; record],
            off: 0,
            _dir: dir,
        }
    }

    /// One durable record.
    pub fn commit(&mut self) {
        let len = self.buf.len() as u64;
        if self.off + len > LIMIT_FILE {
            self.off = 0;
        }
        self.file.write_all_at(&self.buf, self.off).expect("pwrite");
        self.file.sync_data().expect("fdatasync");
        self.off += len;
    }
}

impl Slicer for FsyncLimit {
    fn name(&self) -> String {
        format!("limit: pwrite({} B)+fdatasync, 1 thread", self.buf.len())
    }
    fn run_slice(&mut self, slice: Duration) -> (u64, Duration) {
        let start = Instant::now();
        let mut n = 0;
        loop {
            self.commit();
            n += 1;
            let took = start.elapsed();
            if took >= slice {
                return (n, took);
            }
        }
    }
}

/// memcpy bandwidth in bytes per second: copies of a 64 MiB buffer (larger than any cache).
pub fn memcpy_rate(total: Duration) -> f64 {
    const LEN: usize = 64 << 20;
    let src = vec![0xa5u8; LEN];
    let mut dst = vec![0u8; LEN];
    let rate = measure(total, 5, || {
        dst.copy_from_slice(std::hint::black_box(&src));
        std::hint::black_box(&mut dst);
        1
    });
    rate.per_sec * LEN as f64
}

/// Writes back and drops the page cache of every file in `dir` (fdatasync, then
/// `posix_fadvise(DONTNEED)`), so that the next read comes from the disk.
pub fn drop_cache(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("list").flatten() {
        let Ok(file) = File::open(entry.path()) else {
            continue;
        };
        if !file.metadata().map(|m| m.is_file()).unwrap_or(false) {
            continue;
        }
        let _ = file.sync_data();
        // SAFETY: a plain syscall on a descriptor we own; it only advises the kernel.
        unsafe {
            libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
        }
    }
}

/// Reads every file of `dir` sequentially (1 MiB reads) after dropping its page cache: the
/// disk's read bandwidth for that data, in bytes per second.
pub fn cold_read_rate(dir: &Path) -> f64 {
    drop_cache(dir);
    let mut buf = vec![0u8; 1 << 20];
    let start = Instant::now();
    let mut bytes = 0u64;
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("list")
        .flatten()
        .map(|e| e.path())
        .collect();
    paths.sort();
    for p in paths {
        let Ok(mut f) = File::open(&p) else { continue };
        loop {
            let n = f.read(&mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            bytes += n as u64;
        }
    }
    bytes as f64 / start.elapsed().as_secs_f64()
}
