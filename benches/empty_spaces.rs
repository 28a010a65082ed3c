//! What a test suite pays for its test doubles: `Space::in_memory()` created 20,000 times, all
//! alive at once, empty and with one tree of one change: the time per space and the heap each
//! holds.
//!
//! `cargo bench -p spacestore --bench empty_spaces` (a few seconds); `EMPTY_SPACES` changes the
//! count.

use std::time::Instant;

use spacestore::{Space, StorageChange, TreeRoot};

mod common;

/// RssAnon of this process (the heap), in bytes.
fn heap() -> u64 {
    common::status_bytes("RssAnon:")
}

fn main() {
    let n: usize = std::env::var("EMPTY_SPACES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    // Both sets stay alive to the end, so that each one's heap is new memory.
    let mut alive = Vec::new();
    for with_a_change in [false, true] {
        let before = heap();
        let started = Instant::now();
        let spaces: Vec<Space> = (0..n)
            .map(|_| {
                let space = Space::in_memory();
                if with_a_change {
                    let tree = space
                        .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
                        .expect("tree");
                    tree.add_all(
                        vec![StorageChange::new("c", "1", vec![7u8; 64])],
                        ["c"],
                        "t",
                    )
                    .expect("add_all");
                }
                space
            })
            .collect();
        let took = started.elapsed();
        let held = heap().saturating_sub(before);
        println!(
            "{n} in-memory spaces alive, {}: {:.2} us to make each, {:.1} KB of heap each",
            if with_a_change {
                "each with a tree of one change"
            } else {
                "empty"
            },
            took.as_secs_f64() * 1e6 / n as f64,
            held as f64 / 1024.0 / n as f64
        );
        alive.push(spaces);
    }
}
