//! What spacestore's tests, fuzz targets and loom models share: [`simfs::SimFs`], the one
//! simulated file system (fault injection, simulated power loss and process crashes, durable
//! bytes kept apart from written ones; the published crate `spacestore-simfs`, re-exported),
//! and [`simfs::workload`], random workloads checked against a reference model; and [`fuzz`],
//! the checks behind the fuzz targets.
//!
//! Not published (users take `spacestore-simfs`): open a space on a [`SimFs`]
//! (`Options::file_system`), write, cut the power at any moment, reboot with one of the
//! [`simfs::Tear`] models, and check what the reopened space holds:
//!
//! ```
//! use spacestore::{Durability, Options, Space, StorageChange, TreeRoot};
//! use spacestore_test_kit::simfs::Tear;
//! use spacestore_test_kit::{Rng, SimFs};
//!
//! let fs = SimFs::new();
//! let options = |fs: &SimFs| Options::default().durability(Durability::Sync).file_system(fs.arc());
//! let space = Space::create("/sim/space", options(&fs))?;
//! let tree = space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
//! let seq = tree.add_all(vec![StorageChange::new("c1", "1", b"x".to_vec())], ["c1"], "t")?;
//! fs.cut_power(); // every later call fails, as on a machine that lost power
//! let after = fs.reboot(Tear::RandomPrefix, &mut Rng::new(7)); // unsynced bytes torn at random
//! drop((tree, space));
//! let space = Space::open("/sim/space", options(&after))?;
//! // Sync: an acknowledged batch survives any power cut.
//! assert_eq!(space.tree_storage("t")?.get("c1")?.add_seq, seq);
//! # Ok::<(), spacestore::Error>(())
//! ```
//!
//! [`SimFs::fail`] and [`SimFs::fail_next`] make a chosen call (a write, an fsync, a rename...)
//! fail with an errno or a short write; [`SimFs::kill_process`] keeps the page cache (what a
//! process crash leaves).

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
