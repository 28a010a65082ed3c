//! A store of many spaces (issue 26, item 5): `Store::open` of a root holding `STORE_SPACES`
//! spaces (100,000 by default), its time and the process's resident memory after it; listing
//! them; and the first use of a space that is not open (its open and replay), for spaces of 10
//! changes.
//!
//! The store is built fast: one space is created through the store, then its directory is copied
//! under the other spaces' names (each copy holds the first space's state: the store opens a
//! directory by its name and reads nothing else of it before its first use).
//!
//! `cargo bench -p spacestore --bench store_open` (100,000 spaces: about a minute to build).

use std::time::Instant;

use spacestore::{Options, SpacePayload, StorageChange, Store, TreeRoot};

mod common;

fn rss_mb() -> f64 {
    // In thousands of kB, as before the shared helper.
    common::status_bytes("VmRSS:") as f64 / 1024.0 / 1000.0
}

fn id(i: usize) -> String {
    format!("bafyspace{i:06}.1")
}

fn main() {
    let spaces: usize = std::env::var("STORE_SPACES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    {
        let store = Store::open(dir.path(), Options::default()).expect("store");
        let space = store
            .create_space(SpacePayload::new(
                id(0),
                vec![1u8; 200],
                "acl",
                vec![2u8; 300],
                TreeRoot::new("settings", b"settings".to_vec()),
            ))
            .expect("create");
        let tree = space
            .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
            .expect("tree");
        for i in 0..10 {
            let c = format!("c{i}");
            let change = StorageChange::new(c.as_str(), format!("{i:04}"), vec![7u8; 256]);
            tree.add_all(vec![change], [c.as_str()], "t")
                .expect("add_all");
        }
    }
    let root = dir.path().join("spaces");
    let template = root.join(id(0));
    let files: Vec<_> = std::fs::read_dir(&template)
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    let built = Instant::now();
    for i in 1..spaces {
        let to = root.join(id(i));
        std::fs::create_dir(&to).expect("mkdir");
        for f in &files {
            std::fs::copy(template.join(f), to.join(f)).expect("copy");
        }
    }
    println!(
        "a store of {spaces} spaces of 10 changes, built in {:.1?}; RSS before opening {:.1} MB",
        built.elapsed(),
        rss_mb()
    );
    let started = Instant::now();
    let store = Store::open(dir.path(), Options::default()).expect("store");
    println!(
        "Store::open: {:.2?}, RSS after {:.1} MB",
        started.elapsed(),
        rss_mb()
    );
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let ids = store.space_ids().expect("ids");
        times.push(started.elapsed());
        assert_eq!(ids.len(), spaces);
    }
    times.sort_unstable();
    println!(
        "space_ids of {spaces} spaces, 5 times: fastest {:.2?}, median {:.2?}",
        times[0], times[2]
    );
    let mut firsts = Vec::new();
    for i in (0..spaces).step_by((spaces / 100).max(1)) {
        let started = Instant::now();
        let space = store.space(&id(i)).expect("space");
        firsts.push(started.elapsed());
        assert_eq!(
            space
                .tree_storage("t")
                .expect("tree")
                .heads()
                .expect("heads")
                .len(),
            1
        );
    }
    firsts.sort_unstable();
    println!(
        "first use of a space not open ({} spaces): median {:.2?}, slowest {:.2?}; RSS {:.1} MB",
        firsts.len(),
        firsts[firsts.len() / 2],
        firsts[firsts.len() - 1],
        rss_mb()
    );
}
