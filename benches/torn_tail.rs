//! Recovery cost of a large torn frame against a clean replay of the same bytes, in one run:
//! a log holding one 48 MiB batch, replayed cleanly, and a log whose last frame (a 64 MiB
//! batch) was torn at 48 MiB, which recovery must tell from corruption. Both are opened
//! read-only (each segment read once, nothing cut), 5 times each; medians are printed with
//! their ratio.
//!
//! `cargo bench -p spacestore --bench torn_tail`. (With log format v1, whose recovery tried a
//! frame at every offset, the torn case took 16 s for 8 MiB and did not finish in 600 s for
//! 48 MiB.)

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use spacestore::{Options, Space, StorageChange, TreeRoot};
use spacestore_test_kit::{noise, segment_files as segments};

const MIB: usize = 1 << 20;

/// A space whose log holds one batch of `len` bytes; returns the segment holding it and the
/// offset of its bytes.
fn space_with_batch(dir: &Path, bytes: &[u8]) -> (PathBuf, usize) {
    {
        let space = Space::create(dir, Options::default()).unwrap();
        let tree = space
            .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
            .unwrap();
        tree.add_all(
            vec![StorageChange::new("big", "1", bytes.to_vec())],
            ["big"],
            "t",
        )
        .unwrap();
    }
    let segs = segments(dir);
    let at = segs
        .iter()
        .position(|s| std::fs::metadata(s).unwrap().len() as usize > bytes.len())
        .unwrap();
    for later in &segs[at + 1..] {
        std::fs::remove_file(later).unwrap();
    }
    let data = std::fs::read(&segs[at]).unwrap();
    let offset = data.windows(64).position(|w| w == &bytes[..64]).unwrap();
    (segs[at].clone(), offset)
}

fn median_open(dir: &Path, torn: bool) -> Duration {
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let started = Instant::now();
            let space = Space::open_read_only(dir, Options::default()).unwrap();
            let elapsed = started.elapsed();
            assert_eq!(space.recovery_report().unwrap().torn_tail.is_some(), torn);
            elapsed
        })
        .collect();
    times.sort();
    times[2]
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let clean = tmp.path().join("clean");
    space_with_batch(&clean, &noise(48 * MIB));
    let torn = tmp.path().join("torn");
    let (seg, at) = space_with_batch(&torn, &noise(64 * MIB));
    let data = std::fs::read(&seg).unwrap();
    std::fs::write(&seg, &data[..at + 48 * MIB]).unwrap();
    let c = median_open(&clean, false);
    let t = median_open(&torn, true);
    println!("read-only open, log with a clean 48 MiB batch:          median {c:>10.2?}");
    println!("read-only open, log ending in a 64 MiB frame torn at 48: median {t:>10.2?}");
    println!("torn / clean: {:.2}x", t.as_secs_f64() / c.as_secs_f64());
}
