//! The seed change's own test plan (any-sync's AddSeq tests), one test each, plus the counter's
//! behaviours that Go leaves untested.

mod common;

use std::thread;

use common::*;
use spacestore::{AddSeqCounter, Space};

#[test]
fn add_seq_add_all() {
    let (space, tree) = space_with_tree("t");
    let seq = tree
        .add_all(vec![change("c1", "1"), change("c2", "2")], ["c2"], "t")
        .unwrap();
    assert_eq!(seq, 1);
    assert_eq!(tree.get("c1").unwrap().add_seq, 1);
    assert_eq!(tree.get("c2").unwrap().add_seq, 1);
    let seq = tree.add_all(vec![change("c3", "3")], ["c3"], "t").unwrap();
    assert_eq!(seq, 2);
    assert_eq!(tree.get("c3").unwrap().add_seq, 2);
    assert_eq!(space.add_seq(), 2);
}

#[test]
fn add_seq_add_all_no_error() {
    let (space, tree) = space_with_tree("t");
    tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap();
    let outcome = tree
        .add_all_no_error(vec![change("c1", "1"), change("c2", "2")], ["c2"], "t")
        .unwrap();
    assert_eq!(outcome.add_seq, 2);
    assert_eq!(outcome.inserted, vec!["c2"]);
    assert_eq!(outcome.skipped, vec!["c1"]);
    assert_eq!(space.add_seq(), 2);
    assert_eq!(tree.get("c2").unwrap().add_seq, 2);
    assert_eq!(tree.get("c1").unwrap().add_seq, 1);
}

#[test]
fn add_seq_noop_counter() {
    let space_counter = AddSeqCounter::new();
    let space = Space::in_memory_with_counter(space_counter.clone());
    let validation = Space::in_memory_with_counter(AddSeqCounter::detached());
    let tree = validation.create_tree_storage(root("t")).unwrap();
    let seq = tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap();
    assert_eq!(seq, 1);
    assert_eq!(space.add_seq(), 0);
    assert_eq!(space_counter.get(), 0);
}

#[test]
fn add_seq_get_after_add_seq() {
    let (_space, tree) = space_with_tree("t");
    tree.add_all(vec![change("c1", "1")], NO_HEADS, "t")
        .unwrap();
    tree.add_all(vec![change("c2", "2"), change("c3", "3")], NO_HEADS, "t")
        .unwrap();
    tree.add_all(vec![change("c4", "4")], NO_HEADS, "t")
        .unwrap();
    assert_eq!(tree.changes_after_add_seq(0).count(), 4);
    assert_eq!(tree.changes_after_add_seq(1).count(), 3);
    assert_eq!(view_ids(tree.changes_after_add_seq(2)), vec!["c4"]);
    assert!(tree.changes_after_add_seq(3).next().is_none());
}

#[test]
fn add_seq_get_after_add_seq_empty() {
    let (_space, tree) = space_with_tree("t");
    assert!(tree.changes_after_add_seq(0).next().is_none());
    assert!(tree.changes_after_add_seq(100).next().is_none());
}

#[test]
fn add_seq_parallel() {
    let space = Space::in_memory();
    let handles: Vec<_> = (0..10)
        .map(|i| {
            let space = space.clone();
            thread::spawn(move || {
                let id = format!("tree{i}");
                let tree = space.create_tree_storage(root(&id)).unwrap();
                tree.add_all(vec![change(&format!("c{i}"), "1")], NO_HEADS, id.as_str())
                    .unwrap()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(space.add_seq(), 10);
    assert!(seqs.iter().all(|&s| s > 0));
    seqs.sort();
    seqs.dedup();
    assert_eq!(seqs.len(), 10);
}

#[test]
fn add_seq_deferred_creation() {
    let space = Space::in_memory();
    let tree = space
        .create_storage_with_deferred_creation(root("t"))
        .unwrap();
    assert_eq!(
        tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap(),
        1
    );
    assert_eq!(
        tree.add_all(vec![change("c2", "2")], ["c2"], "t").unwrap(),
        2
    );
    assert_eq!(tree.get("c1").unwrap().add_seq, 1);
    assert_eq!(tree.get("c2").unwrap().add_seq, 2);
    let reopened = space.tree_storage("t").unwrap();
    assert_eq!(reopened.get("c2").unwrap().add_seq, 2);
}

#[test]
fn new_space_counter_starts_at_zero() {
    assert_eq!(Space::in_memory().add_seq(), 0);
}

#[test]
fn failed_add_all_leaves_a_gap_in_the_counter() {
    let (space, tree) = space_with_tree("t");
    tree.add_all(vec![change("c1", "1")], NO_HEADS, "t")
        .unwrap();
    assert!(tree
        .add_all(vec![change("c1", "2")], NO_HEADS, "t")
        .is_err());
    assert_eq!(space.add_seq(), 2);
    assert_eq!(
        tree.add_all(vec![change("c2", "2")], NO_HEADS, "t")
            .unwrap(),
        3
    );
}

#[test]
fn add_all_no_error_moves_the_counter_when_every_change_is_a_duplicate() {
    let (space, tree) = space_with_tree("t");
    tree.add_all(vec![change("c1", "1")], NO_HEADS, "t")
        .unwrap();
    let outcome = tree
        .add_all_no_error(vec![change("c1", "1")], NO_HEADS, "t")
        .unwrap();
    assert_eq!(outcome.add_seq, 2);
    assert!(outcome.inserted.is_empty());
    assert_eq!(space.add_seq(), 2);
    let entry = space.head_storage().get_entry("t").unwrap();
    assert_eq!(entry.last_add_seq, Some(2));
}

#[test]
fn add_all_no_error_with_an_empty_batch_takes_a_seq() {
    let (space, tree) = space_with_tree("t");
    let outcome = tree.add_all_no_error(vec![], NO_HEADS, "t").unwrap();
    assert_eq!(outcome.add_seq, 1);
    assert_eq!(space.add_seq(), 1);
}

#[test]
fn trees_of_one_space_share_the_counter() {
    let space = Space::in_memory();
    let a = space.create_tree_storage(root("a")).unwrap();
    let b = space.create_tree_storage(root("b")).unwrap();
    assert_eq!(
        a.add_all(vec![change("a1", "1")], NO_HEADS, "a").unwrap(),
        1
    );
    assert_eq!(
        b.add_all(vec![change("b1", "1")], NO_HEADS, "b").unwrap(),
        2
    );
    assert_eq!(space.counter().get(), 2);
}

#[test]
fn root_change_has_add_seq_zero() {
    let (_space, tree) = space_with_tree("t");
    assert_eq!(tree.get("t").unwrap().add_seq, 0);
    assert_eq!(tree.root().add_seq, 0);
}

/// `last_add_seq` is the seq of the last batch in the feed; the counter (`add_seq`) is every
/// seq that may have been handed out, which is more: gaps of failed batches, seqs a head entry
/// names, seqs taken from the counter itself.
#[test]
fn last_add_seq_is_the_last_stored_batch_and_the_counter_may_be_above_it() {
    let (space, tree) = space_with_tree("t");
    assert_eq!((space.last_add_seq(), space.add_seq()), (0, 0));
    let first = tree
        .add_all(vec![change("c1", "1")], NO_HEADS, "t")
        .unwrap();
    assert_eq!((space.last_add_seq(), space.add_seq()), (first, first));
    // A batch refused after taking its seq: a gap above the last batch.
    assert!(tree
        .add_all(vec![change("c1", "2")], NO_HEADS, "t")
        .is_err());
    assert_eq!((space.last_add_seq(), space.add_seq()), (first, first + 1));
    // A head entry naming a higher seq moves the counter, not the feed.
    space
        .head_storage()
        .update_entry(spacestore::HeadUpdate::new("t").last_add_seq(10))
        .unwrap();
    assert_eq!((space.last_add_seq(), space.add_seq()), (first, 10));
    space.counter().next().unwrap();
    assert_eq!((space.last_add_seq(), space.add_seq()), (first, 11));
    let next = tree
        .add_all(vec![change("c2", "2")], NO_HEADS, "t")
        .unwrap();
    assert_eq!((space.last_add_seq(), space.add_seq()), (next, next));
    // The batches of a deleted tree leave the feed: the last one held is lower again.
    let other = space.create_tree_storage(root("u")).unwrap();
    other
        .add_all(vec![change("u1", "1")], NO_HEADS, "u")
        .unwrap();
    other.delete().unwrap();
    assert_eq!(space.last_add_seq(), next);
}
