//! A store of many spaces with few open at once (issue 15's proof): `SPACES` whole spaces of
//! `CHANGES` 256-byte changes each (batches of 10) are written through a [`Store`] that keeps
//! `MAX_OPEN` open, then read back by 4 threads picking random spaces through a reopened store
//! with the same limit, and once more with every space open. Resident memory (VmRSS, and its
//! anonymous and file-mapped parts) is printed after each phase, with the ratio of the bounded
//! store's to the all-open one's.
//!
//! `cargo bench -p spacestore --bench store` (1,000 spaces of 1,000 changes, 50 open: about a
//! minute); `STORE_SPACES`, `STORE_CHANGES`, `STORE_MAX_OPEN`, `STORE_READS` change the sizes.

use std::collections::BTreeMap;
use std::time::Instant;

use spacestore::{Options, SpacePayload, StorageChange, Store, StoreOptions, TreeRoot};

mod common;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// VmRSS, RssAnon and RssFile of this process, in bytes.
fn rss() -> (u64, u64, u64) {
    let field = common::status_bytes;
    (field("VmRSS:"), field("RssAnon:"), field("RssFile:"))
}

fn mb(b: u64) -> f64 {
    b as f64 / 1e6
}

fn report(what: &str, open: usize) -> u64 {
    let (total, anon, file) = rss();
    println!(
        "{what:<44} open spaces {open:>5}  RSS {:>8.1} MB (anon {:>7.1}, file {:>7.1})",
        mb(total),
        mb(anon),
        mb(file)
    );
    total
}

fn id(i: usize) -> String {
    format!("bafyspace{i:05}.1")
}

fn payload(i: usize) -> SpacePayload {
    SpacePayload::new(
        id(i),
        vec![1u8; 200],
        "acl",
        vec![2u8; 300],
        TreeRoot::new("settings", vec![3u8; 300]),
    )
}

/// Reads `reads` random spaces from 4 threads; each must hold its `changes` changes.
fn read_random(store: &Store, spaces: usize, changes: usize, reads: usize) -> f64 {
    let started = Instant::now();
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (t + 1);
                for _ in 0..reads / 4 {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let i = (rng % spaces as u64) as usize;
                    let space = store.space(&id(i)).expect("open");
                    let n = space.changes_after_add_seq(0).count();
                    assert_eq!(n, changes, "space {i}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("reader");
    }
    started.elapsed().as_secs_f64()
}

fn main() {
    let spaces = env("STORE_SPACES", 1000);
    let changes = env("STORE_CHANGES", 1000);
    let max_open = env("STORE_MAX_OPEN", 50);
    let reads = env("STORE_READS", 4000);
    let base = std::env::var_os("SPACESTORE_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let options = || StoreOptions::new(Options::default()).max_open_spaces(max_open);
    println!(
        "{spaces} spaces x {changes} changes of 256 B (batches of 10), at most {max_open} open"
    );
    report("start", 0);

    let started = Instant::now();
    {
        let store = Store::open(dir.path(), options()).expect("store");
        let raw = vec![7u8; 256];
        for i in 0..spaces {
            let space = store.create_space(payload(i)).expect("create");
            let tree = space
                .create_tree_storage(TreeRoot::new("doc", vec![4u8; 64]))
                .expect("tree");
            for b in 0..changes / 10 {
                let batch: Vec<StorageChange> = (0..10)
                    .map(|k| {
                        let n = b * 10 + k;
                        StorageChange::new(format!("c{n}"), format!("{n:06}"), raw.clone())
                    })
                    .collect();
                let head = format!("c{}", b * 10 + 9);
                tree.add_all(batch, vec![head], "doc").expect("add_all");
            }
        }
        let took = started.elapsed().as_secs_f64();
        println!(
            "wrote {spaces} spaces in {took:.1} s ({:.2} ms per space)",
            took * 1e3 / spaces as f64
        );
        report("after writing, store still open", store.open_spaces());
    }
    report("after closing the store", 0);

    let bounded = {
        let store = Store::open(dir.path(), options()).expect("store");
        let took = read_random(&store, spaces, changes, reads);
        println!(
            "{reads} random reads from 4 threads in {took:.1} s ({:.2} ms per read, most reopen a space)",
            took * 1e3 / reads as f64
        );
        report("after random reads, bounded store", store.open_spaces())
    };

    let all_open = {
        let store = Store::open(dir.path(), StoreOptions::default().max_open_spaces(spaces))
            .expect("store");
        let mut sizes = BTreeMap::new();
        for i in 0..spaces {
            let space = store.space(&id(i)).expect("open");
            sizes.insert(i, space.change_count());
        }
        assert!(
            sizes.values().all(|&n| n == changes + 2),
            "every space readable"
        );
        report("every space open", store.open_spaces())
    };
    println!(
        "bounded / all open RSS: {:.3} ({max_open} of {spaces} spaces open)",
        bounded as f64 / all_open as f64
    );
}
