//! `Space::fork` of an in-memory space of many changes: its time and the heap it takes, against
//! what a test would do without it (build the space again: the same `add_all` calls); and the
//! space as a fixture (`Space::export` to memory, `Space::import` from it).
//!
//! `cargo bench -p spacestore --bench fork` (1,000,000 changes of 256 B in 1,000 trees, one per
//! batch: about 20 seconds and 2 GB); `FORK_CHANGES` changes the size.

use std::time::{Duration, Instant};

use spacestore::{Space, StorageChange, TreeRoot, TreeStorage};

mod common;

/// RssAnon of this process (the heap: an in-memory space's bytes and indexes), in bytes.
fn heap() -> u64 {
    common::status_bytes("RssAnon:")
}

/// A space of `n` changes of 256 B over 1,000 trees, one per `add_all`, and how long it took.
fn build(n: usize) -> (Space, Duration) {
    let started = Instant::now();
    let space = Space::in_memory();
    let trees: Vec<TreeStorage> = (0..1000)
        .map(|t| {
            space
                .create_tree_storage(TreeRoot::new(format!("tree{t}"), b"root".to_vec()))
                .expect("tree")
        })
        .collect();
    for i in 0..n {
        let tree = &trees[i % trees.len()];
        let id = format!("change{i}");
        let change = StorageChange::new(
            id.as_str(),
            format!("{:012}", i / trees.len()),
            vec![7u8; 256],
        );
        tree.add_all(vec![change], [id.as_str()], tree.id().clone())
            .expect("add_all");
    }
    (space, started.elapsed())
}

fn main() {
    let n: usize = std::env::var("FORK_CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let empty = heap();
    let (space, built) = build(n);
    let space_heap = heap().saturating_sub(empty);
    println!("a space of {n} changes of 256 B (1,000 trees, one change per batch)");
    let mut times = Vec::new();
    let mut heaps = Vec::new();
    // Kept alive, so that each fork's heap is new memory (not what a dropped one freed).
    let mut forks = Vec::new();
    for _ in 0..5 {
        let before = heap();
        let started = Instant::now();
        let fork = space.fork();
        times.push(started.elapsed());
        heaps.push(heap().saturating_sub(before));
        assert_eq!(fork.change_count(), space.change_count());
        forks.push(fork);
    }
    drop(forks);
    times.sort();
    heaps.sort();
    let (fork_time, fork_heap) = (times[times.len() / 2], heaps[heaps.len() / 2]);
    println!(
        "fork: median {fork_time:.2?} of 5 (fastest {:.2?}), {:.0} ns per change; heap {:.1} MB, {} B per change",
        times[0],
        fork_time.as_nanos() as f64 / n as f64,
        fork_heap as f64 / 1e6,
        fork_heap / n.max(1) as u64
    );
    let started = Instant::now();
    let mut fixture = Vec::new();
    space.export(&mut fixture).expect("export");
    let exported = started.elapsed();
    let started = Instant::now();
    let imported =
        Space::import(fixture.as_slice(), spacestore::Options::default()).expect("import");
    let import_time = started.elapsed();
    assert_eq!(imported.change_count(), space.change_count());
    drop(imported);
    println!(
        "fixture: {:.1} MB ({} B per change); export {exported:.2?}, import {import_time:.2?}",
        fixture.len() as f64 / 1e6,
        fixture.len() / n.max(1)
    );
    let (again, rebuilt) = build(n);
    drop(again);
    println!(
        "peer, building it again: {rebuilt:.2?} (first build {built:.2?}); the space's heap {:.1} MB, {} B per change",
        space_heap as f64 / 1e6,
        space_heap / n.max(1) as u64
    );
    println!(
        "fork / building again: time {:.3}, heap {:.3}",
        fork_time.as_secs_f64() / rebuilt.as_secs_f64(),
        fork_heap as f64 / space_heap.max(1) as f64
    );
}
