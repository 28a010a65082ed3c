//! Two spaces used alternately through a store that keeps one open (a sync node's LRU at its
//! tightest): every use closes one space and reopens the other. Prints the time per use (mean,
//! p99, slowest), uses per second on this one thread, and, counted through the `FileSystem`
//! seam (counts are not noisy), the fsyncs (files and directories), the files opened and the
//! calls that change the disk per reopen.
//!
//! `cargo bench -p spacestore --bench pingpong` (two spaces of 1,000 changes of 256 B, 2,000
//! uses); `PINGPONG_USES` and `PINGPONG_CHANGES` change the sizes. The goal (issue 26): at least
//! 2,000 reopens per second per core, 0 fsyncs and 0 writes per clean reopen.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spacestore::{Options, SpacePayload, StorageChange, Store, StoreOptions, TreeRoot};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// The tests' forwarding file system (tests/common/hooked.rs), counting here.
#[allow(dead_code)]
#[path = "../tests/common/hooked.rs"]
mod hooked;

use hooked::{Call, Hook, Hooked};

#[derive(Default)]
struct Counts {
    syncs: AtomicU64,
    opened: AtomicU64,
    writes: AtomicU64,
}

impl Hook for Counts {
    fn call(&self, call: Call, _path: &Path) {
        for (counter, counts) in [
            (&self.syncs, call.syncs()),
            (&self.opened, call.opens()),
            (&self.writes, call.writes()),
        ] {
            if counts {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn payload(id: &str) -> SpacePayload {
    SpacePayload::new(
        id,
        vec![1u8; 200],
        "acl",
        vec![2u8; 300],
        TreeRoot::new("settings", b"settings".to_vec()),
    )
}

fn main() {
    let uses = env("PINGPONG_USES", 2000);
    let changes = env("PINGPONG_CHANGES", 1000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let fs = Arc::new(Hooked::new(Counts::default()));
    let options = StoreOptions::new(Options::default().file_system(fs.clone())).max_open_spaces(1);
    let ids = ["bafyone.1", "bafytwo.1"];
    {
        let store = Store::open(dir.path(), options.clone()).expect("store");
        for id in ids {
            let space = store.create_space(payload(id)).expect("create");
            let tree = space
                .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
                .expect("tree");
            for i in 0..changes {
                let c = format!("c{i}");
                let change = StorageChange::new(c.as_str(), format!("{i:08}"), vec![7u8; 256]);
                tree.add_all(vec![change], [c.as_str()], "t")
                    .expect("add_all");
            }
        }
    }
    let store = Store::open(dir.path(), options).expect("store");
    // One use of each first: what follows is the steady state.
    for id in ids {
        store.space(id).expect("space");
    }
    let before = (
        fs.0.syncs.load(Ordering::Relaxed),
        fs.0.opened.load(Ordering::Relaxed),
        fs.0.writes.load(Ordering::Relaxed),
    );
    let mut times = Vec::with_capacity(uses);
    let started = Instant::now();
    for n in 0..uses {
        let t = Instant::now();
        let space = store.space(ids[n % 2]).expect("space");
        let heads = space
            .tree_storage("t")
            .expect("tree")
            .heads()
            .expect("heads");
        assert_eq!(heads.len(), 1);
        drop(space);
        times.push(t.elapsed());
    }
    let wall = started.elapsed();
    let per = |c: &AtomicU64, b: u64| (c.load(Ordering::Relaxed) - b) as f64 / uses as f64;
    times.sort_unstable();
    let mean = wall / uses.max(1) as u32;
    let p99 = times[(uses * 99 / 100).min(uses - 1)];
    let slowest = times.last().copied().unwrap_or(Duration::ZERO);
    println!(
        "{uses} uses of two spaces of {changes} changes through a store keeping 1 open (each a reopen)"
    );
    println!(
        "per use: mean {mean:.2?}, p99 {p99:.2?}, slowest {slowest:.2?}; {:.0} reopens/s on one thread",
        uses as f64 / wall.as_secs_f64()
    );
    println!(
        "per reopen: {:.2} fsyncs, {:.2} files opened, {:.2} calls that change the disk",
        per(&fs.0.syncs, before.0),
        per(&fs.0.opened, before.1),
        per(&fs.0.writes, before.2)
    );
    // Issue 26's goals, for the two sizes it names.
    let rate = uses as f64 / wall.as_secs_f64();
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    if changes == 1000 {
        println!(
            "goal: at least 2,000 reopens/s of 1,000-change spaces: {rate:.0}/s -> {}",
            verdict(rate >= 2000.0)
        );
    } else if changes <= 10 {
        println!(
            "goal: a small space's reopen (close and open) at most 0.3 ms: {mean:.2?} -> {}",
            verdict(mean <= Duration::from_micros(300))
        );
    }
}
