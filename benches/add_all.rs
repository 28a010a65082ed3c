//! spacestore alone (no peers, no dependency beyond the library): `add_all` of one 256-byte
//! change into one of 1,000 trees, in memory, `Buffered` and `Sync` on a temporary directory,
//! with the input built before the clock starts (only the store's part is timed). Each mode runs
//! a warm-up and then 7 samples; the median and the fastest sample are printed.
//!
//! `cargo bench -p spacestore`. The criterion benches and the comparison with SQLite, fjall and
//! redb live in the `spacestore-bench` crate (`cargo bench -p spacestore-bench --bench compare`);
//! this one stays dependency-free so that the library's own tests and benches build no C (the
//! criterion crate compiles C on unix).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use spacestore::{Durability, Heads, Options, Space, StorageChange, TreeRoot, TreeStorage};

const TREES: u64 = 1000;
const SAMPLES: usize = 7;

/// A space's 1,000 trees.
fn trees(space: &Space) -> Vec<TreeStorage> {
    (0..TREES)
        .map(|t| {
            space
                .create_tree_storage(TreeRoot::new(format!("tree-{t}"), vec![1u8; 64]))
                .expect("create tree")
        })
        .collect()
}

/// Times `add_all` of `per_sample` fresh 256-byte changes per sample, the trees taking turns;
/// returns the time per batch of each sample.
fn sample(space: &Space, per_sample: u64) -> Vec<Duration> {
    let trees = trees(space);
    let payload = Bytes::from(vec![7u8; 256]);
    let mut n = 0u64;
    let mut batch = |count: u64| -> Vec<(usize, StorageChange)> {
        (0..count)
            .map(|_| {
                n += 1;
                let change = StorageChange::new(
                    format!("bafyreib{n:052}"),
                    format!("{n:016}"),
                    payload.clone(),
                );
                ((n % TREES) as usize, change)
            })
            .collect()
    };
    let run = |input: Vec<(usize, StorageChange)>| -> Duration {
        let count = input.len() as u32;
        let started = Instant::now();
        for (t, change) in input {
            let tree = &trees[t];
            black_box(
                tree.add_all(vec![change], Heads::Unchanged, tree.id().clone())
                    .expect("add_all"),
            );
        }
        started.elapsed() / count
    };
    run(batch(per_sample / 2)); // warm-up
    (0..SAMPLES).map(|_| run(batch(per_sample))).collect()
}

fn report(name: &str, mut per_batch: Vec<Duration>) {
    per_batch.sort();
    let median = per_batch[per_batch.len() / 2];
    println!(
        "add_all 1x256B {name:<10} median {:>9.2?} per batch ({:>9.0} batches/s), fastest {:>9.2?}",
        median,
        1.0 / median.as_secs_f64(),
        per_batch[0]
    );
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench` absent: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let scale = if quick { 1 } else { 100 };
    report("in_memory", sample(&Space::in_memory(), 200 * scale));
    let dir = tempfile::tempdir().expect("temporary directory");
    for (name, durability, per_sample) in [
        ("buffered", Durability::Buffered, 100 * scale),
        ("sync", Durability::Sync, 2 * scale),
    ] {
        let options = Options::default()
            .durability(durability)
            .auto_checkpoint(None, 0);
        let space = Space::create(dir.path().join(name), options).expect("open space");
        report(name, sample(&space, per_sample));
    }
}
