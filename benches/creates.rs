//! Creating spaces in a store that already holds many: the time of a creation after the first
//! hundred and after `CREATES` spaces (issue 25: a creation listed all of `spaces/`, 0.4 ms in
//! an empty store, 5.4 ms at 20,000 spaces; it should not grow with the number of spaces).
//!
//! `cargo bench -p spacestore --bench creates` (20,000 spaces: a minute or two);
//! `CREATES` changes the number.

use std::time::{Duration, Instant};

use spacestore::{SpacePayload, Store, StoreOptions, TreeRoot};

fn main() {
    let creates: usize = std::env::var("CREATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(dir.path(), StoreOptions::default().max_open_spaces(1)).expect("store");
    let window = 100.min(creates);
    let mut first = Duration::ZERO;
    let mut last = Duration::ZERO;
    for i in 0..creates {
        let payload = SpacePayload::new(
            format!("bafyspace{i:06}.1"),
            vec![1u8; 200],
            "acl",
            vec![2u8; 300],
            TreeRoot::new("settings", b"settings".to_vec()),
        );
        let started = Instant::now();
        drop(store.create_space(payload).expect("create"));
        let took = started.elapsed();
        if i < window {
            first += took;
        }
        if i >= creates - window {
            last += took;
        }
    }
    println!(
        "mean creation: {:.2?} for spaces 1..{window}, {:.2?} for spaces {}..{creates}",
        first / window as u32,
        last / window as u32,
        creates - window + 1
    );
}
