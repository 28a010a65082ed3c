//! What spacestore's tests, fuzz targets and loom models share: [`simfs::SimFs`], the one
//! simulated file system (fault injection, simulated power loss and process crashes, durable
//! bytes kept apart from written ones), and [`simfs::workload`], random workloads checked
//! against a reference model; and [`fuzz`], the checks behind the fuzz targets.
//!
//! Not published: a dev-dependency of the workspace's crates.

pub mod fuzz;
pub mod simfs;

pub use simfs::{Rng, SimFs};

use std::path::{Path, PathBuf};

/// `len` bytes that hold no zero byte and that no compressor would shorten (xorshift), the same
/// in every run: change payloads that can be found again in a segment.
pub fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x as u8) | 1
        })
        .collect()
}

/// The segment files (`*.wal`) of a space directory on the real file system, in log order.
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("a space directory")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}
