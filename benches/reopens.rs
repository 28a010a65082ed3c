//! A space opened and closed again and again without writing (what a store's LRU and an
//! embedded peer that restarts often do): the open's time and the files the log holds, every
//! 250 opens. A clean reopen writes nothing (no segment, no fsync; before, each open started a
//! segment and an open past 64 short ones folded them), so neither grows with the opens.
//!
//! `cargo bench -p spacestore --bench reopens` (1,000 changes of 256 B, 2,000 opens: about ten
//! seconds); `REOPENS` and `REOPEN_CHANGES` change the sizes.

use std::time::{Duration, Instant};

use spacestore::{Options, Space, StorageChange, TreeRoot};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let opens = env("REOPENS", 2000);
    let changes = env("REOPEN_CHANGES", 1000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    {
        let space = Space::create(dir.path(), Options::default()).expect("create");
        let tree = space
            .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
            .expect("tree");
        for i in 0..changes {
            let id = format!("c{i}");
            let change = StorageChange::new(id.as_str(), format!("{i:08}"), vec![7u8; 256]);
            tree.add_all(vec![change], [id.as_str()], "t")
                .expect("add_all");
        }
    }
    println!("{opens} opens of a space of {changes} changes of 256 B, no writes in between");
    let mut total = Duration::ZERO;
    let mut slowest = Duration::ZERO;
    for round in 1..=opens {
        let started = Instant::now();
        let space = Space::open(dir.path(), Options::default()).expect("open");
        let took = started.elapsed();
        total += took;
        slowest = slowest.max(took);
        assert_eq!(space.changes_after_add_seq(0).count(), changes);
        drop(space);
        if round % 250 == 0 || round == 1 {
            let files = std::fs::read_dir(dir.path()).expect("list").count();
            println!("open {round:>5}: {took:>10.2?}, {files:>5} files in the directory");
        }
    }
    println!(
        "mean open {:.2?}, slowest {slowest:.2?}",
        total / opens.max(1) as u32
    );
}
