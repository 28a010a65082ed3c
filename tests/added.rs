//! The `added` time Go stores with every change (Unix seconds at insert): kept in the log,
//! shared by a batch's changes, returned on every read, the same after a reopen and a
//! checkpoint.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use spacestore::{Options, Space, StorageChange};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn a_batchs_changes_carry_the_time_it_was_stored() {
    let (space, tree) = space_with_tree("t");
    let before = now();
    tree.add_all(vec![change("c1", "1"), change("c2", "2")], ["c2"], "t")
        .unwrap();
    let after = now();
    let changes = space
        .changes_after_add_seq(0)
        .map(StorageChange::from)
        .collect::<Vec<_>>();
    assert_eq!(changes.len(), 2);
    assert!((before..=after).contains(&changes[0].added), "{changes:?}");
    assert_eq!(changes[0].added, changes[1].added, "one time per batch");
    assert_eq!(tree.get("c1").unwrap().added, changes[0].added);
    assert_eq!(
        tree.changes_after_order("")
            .map(StorageChange::from)
            .collect::<Vec<_>>()[1]
            .added,
        changes[0].added
    );
}

#[test]
fn a_root_carries_the_time_its_tree_was_created() {
    let before = now();
    let (space, tree) = space_with_tree("t");
    let after = now();
    assert!((before..=after).contains(&tree.root().added));
    assert_eq!(
        space.tree_storage("t").unwrap().root().added,
        tree.root().added
    );
    assert_eq!(tree.get("t").unwrap().added, tree.root().added);
}

#[test]
fn a_deferred_root_is_stored_with_the_time_of_its_storage() {
    let space = Space::in_memory();
    let before = now();
    let tree = space
        .create_storage_with_deferred_creation(root("t"))
        .unwrap();
    let after = now();
    tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap();
    let stored = space.tree_storage("t").unwrap().root();
    assert!((before..=after).contains(&stored.added));
    assert_eq!(stored, tree.root(), "the handle's root is the stored one");
}

#[test]
fn added_is_the_same_after_a_reopen_and_after_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let read = |space: &Space| {
        let mut all = space
            .changes_after_add_seq(0)
            .map(StorageChange::from)
            .collect::<Vec<_>>();
        all.push(space.tree_storage("t").unwrap().root());
        all
    };
    let before = {
        let space = Space::create(dir.path(), Options::default()).unwrap();
        let tree = space.create_tree_storage(root("t")).unwrap();
        tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap();
        read(&space)
    };
    assert!(before.iter().all(|c| c.added > 0));
    let space = Space::create(dir.path(), Options::default()).unwrap();
    assert_eq!(read(&space), before, "after a reopen");
    space.checkpoint().unwrap().unwrap();
    drop(space);
    let space = Space::create(dir.path(), Options::default()).unwrap();
    assert_eq!(read(&space), before, "after a checkpoint");
}
