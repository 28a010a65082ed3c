//! The user's clock (`Options::clock`): every `added` a space stores comes from it, in memory
//! and on disk; replay keeps what was written.

mod common;

use std::sync::Arc;

use common::*;
use spacestore::{FixedClock, ManualClock, Options, Space, StorageChange, Store};

fn fixed(secs: u64) -> Options {
    Options::default().clock(Arc::new(FixedClock(secs)))
}

#[test]
fn a_fixed_clock_stamps_every_batch_and_root_in_memory() {
    let space = Space::in_memory_with(fixed(1_000));
    let tree = space.create_tree_storage(root("t")).unwrap();
    tree.add_all(vec![change("c1", "0001")], ["c1"], "t")
        .unwrap();
    assert_eq!(tree.root().added, 1_000);
    assert_eq!(tree.get("c1").unwrap().added, 1_000);
}

#[test]
fn a_fixed_clock_stamps_every_batch_root_and_settings_tree_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), fixed(2_000)).unwrap();
    let space = store.create_space(space_payload("a.1")).unwrap();
    assert_eq!(space.tree_storage("settings").unwrap().root().added, 2_000);
    let tree = space.create_tree_storage(root("t")).unwrap();
    tree.add_all(vec![change("c1", "0001")], ["c1"], "t")
        .unwrap();
    assert_eq!(tree.get("c1").unwrap().added, 2_000);
}

#[test]
fn a_deferred_tree_stores_its_root_at_the_time_of_its_handle() {
    let clock = ManualClock::at(10);
    let space = Space::in_memory_with(Options::default().clock(Arc::new(clock.clone())));
    let tree = space
        .create_storage_with_deferred_creation(root("t"))
        .unwrap();
    clock.advance(5);
    tree.add_all(vec![change("c1", "0001")], ["c1"], "t")
        .unwrap();
    assert_eq!(tree.root().added, 10);
    assert_eq!(tree.get("c1").unwrap().added, 15);
}

#[test]
fn a_manual_clock_moves_added_as_the_test_moves_it() {
    let clock = ManualClock::at(100);
    let space = Space::in_memory_with(Options::default().clock(Arc::new(clock.clone())));
    let tree = space.create_tree_storage(root("t")).unwrap();
    tree.add_all(vec![change("c1", "0001")], ["c1"], "t")
        .unwrap();
    clock.advance(60);
    tree.add_all(vec![change("c2", "0002")], ["c2"], "t")
        .unwrap();
    clock.set(7);
    tree.add_all(vec![change("c3", "0003")], ["c3"], "t")
        .unwrap();
    let added: Vec<u64> = ["c1", "c2", "c3"]
        .iter()
        .map(|id| tree.get(id).unwrap().added)
        .collect();
    assert_eq!(added, [100, 160, 7]);
}

#[test]
fn replay_keeps_the_added_that_was_written_whatever_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    {
        let space = Space::create(dir.path(), fixed(100)).unwrap();
        let tree = space.create_tree_storage(root("t")).unwrap();
        tree.add_all(vec![change("c1", "0001")], ["c1"], "t")
            .unwrap();
    }
    let space = Space::open(dir.path(), fixed(999)).unwrap();
    let tree = space.tree_storage("t").unwrap();
    assert_eq!(tree.root().added, 100);
    assert_eq!(tree.get("c1").unwrap().added, 100);
    tree.add_all(vec![change("c2", "0002")], ["c2"], "t")
        .unwrap();
    assert_eq!(tree.get("c2").unwrap().added, 999);
    space.checkpoint().unwrap();
    drop((tree, space));
    let space = Space::open(dir.path(), fixed(5)).unwrap();
    let tree = space.tree_storage("t").unwrap();
    assert_eq!(tree.get("c1").unwrap().added, 100);
    assert_eq!(tree.get("c2").unwrap().added, 999);
}

/// The test double: a space copied into another compares equal, however long the copy
/// takes (with the system's clock, a copy that crossed a second differed in `added`).
#[test]
fn a_copy_made_with_the_same_fixed_clock_equals_its_original() {
    let build = || {
        let space = Space::in_memory_with(fixed(1_234));
        let tree = space.create_tree_storage(root("t")).unwrap();
        for i in 0..3 {
            let id = format!("c{i}");
            tree.add_all(vec![change(&id, &format!("{i:04}"))], [id.as_str()], "t")
                .unwrap();
        }
        space
            .changes_after_add_seq(0)
            .map(StorageChange::from)
            .collect::<Vec<_>>()
    };
    let original = build();
    let copy = build();
    assert_eq!(original, copy);
}
