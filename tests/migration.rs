//! A tree storage with a counter of its own (Go's tree migrator writes migrated trees with a
//! fresh zero counter): its batches take that counter's seqs, are stored, logged, replayed and
//! checkpointed like any other, and are not in the space's feed.

mod common;

use common::*;
use spacestore::{AddSeqCounter, Error, Options, Space, StorageChange};

#[test]
fn a_storage_with_its_own_counter_takes_its_seqs_from_it() {
    let (space, tree) = space_with_tree("t");
    let counter = AddSeqCounter::detached();
    let migrated = tree.with_counter(counter.clone());
    assert_eq!(
        migrated
            .add_all(vec![change("c1", "1")], ["c1"], "t")
            .unwrap(),
        1
    );
    assert_eq!(
        migrated
            .add_all(vec![change("c2", "2")], ["c2"], "t")
            .unwrap(),
        2
    );
    assert_eq!(counter.get(), 2);
    let seqs: Vec<u64> = migrated
        .changes_after_add_seq(0)
        .map(StorageChange::from)
        .collect::<Vec<_>>()
        .iter()
        .map(|c| c.add_seq)
        .collect();
    assert_eq!(seqs, [1, 2]);
    assert_eq!(
        space.head_storage().get_entry("t").unwrap().last_add_seq,
        Some(2)
    );
}

#[test]
fn its_batches_are_not_in_the_space_feed() {
    let (space, tree) = space_with_tree("t");
    let migrated = tree.with_counter(AddSeqCounter::detached());
    migrated
        .add_all(vec![change("c1", "1")], ["c1"], "t")
        .unwrap();
    let other = space.create_tree_storage(root("u")).unwrap();
    let seq = other.add_all(vec![change("u1", "1")], ["u1"], "u").unwrap();
    let feed = space
        .changes_after_add_seq(0)
        .map(StorageChange::from)
        .collect::<Vec<_>>();
    assert_eq!(ids(&feed), ["u1"]);
    let batches = space.batches_after(0, 10);
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].add_seq, seq);
    let mut sub = space.subscribe(0);
    assert_eq!(sub.try_next().map(|b| b.add_seq), Some(seq));
    assert!(sub.try_next().is_none());
}

#[test]
fn the_space_counter_moves_above_a_higher_seq_of_its_own_counter() {
    let (space, tree) = space_with_tree("t");
    let counter = AddSeqCounter::detached();
    for _ in 0..5 {
        counter.next();
    }
    let migrated = tree.with_counter(counter);
    assert_eq!(
        migrated
            .add_all(vec![change("c1", "1")], ["c1"], "t")
            .unwrap(),
        6
    );
    assert_eq!(space.add_seq(), 6);
    let other = space.create_tree_storage(root("u")).unwrap();
    assert_eq!(
        other.add_all(vec![change("u1", "1")], ["u1"], "u").unwrap(),
        7
    );
}

#[test]
fn a_seq_not_above_the_trees_last_batch_is_seq_not_above_tree() {
    let (_space, tree) = space_with_tree("t");
    tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap();
    tree.add_all(vec![change("c2", "2")], ["c2"], "t").unwrap();
    let migrated = tree.with_counter(AddSeqCounter::detached());
    let refused = migrated.add_all(vec![change("c3", "3")], ["c3"], "t");
    assert!(matches!(
        refused,
        Err(Error::SeqNotAboveTree {
            seq: 1,
            last: 2,
            ..
        })
    ));
    assert!(migrated.get("c3").is_err(), "nothing of it was kept");
}

#[test]
fn deleting_a_migrated_tree_keeps_the_feed_batches_that_share_its_seqs() {
    let space = Space::in_memory();
    let a = space.create_tree_storage(root("a")).unwrap();
    let seq = a.add_all(vec![change("a1", "1")], ["a1"], "a").unwrap();
    assert_eq!(seq, 1);
    let m = space
        .create_tree_storage(root("m"))
        .unwrap()
        .with_counter(AddSeqCounter::detached());
    assert_eq!(m.add_all(vec![change("m1", "1")], ["m1"], "m").unwrap(), 1);
    m.delete().unwrap();
    assert_eq!(view_ids(space.changes_after_add_seq(0)), ["a1"]);
}

#[test]
fn its_batches_stay_out_of_the_feed_after_a_reopen_and_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    {
        let space = Space::create(dir.path(), Options::default()).unwrap();
        let a = space.create_tree_storage(root("a")).unwrap();
        a.add_all(vec![change("a1", "1")], ["a1"], "a").unwrap();
        let m = space
            .create_tree_storage(root("m"))
            .unwrap()
            .with_counter(AddSeqCounter::detached());
        m.add_all(vec![change("m1", "1")], ["m1"], "m").unwrap();
        m.add_all(vec![change("m2", "2")], ["m2"], "m").unwrap();
    }
    let mut feed = vec!["a1".to_owned()];
    for checkpoint in [false, true] {
        let space = Space::create(dir.path(), Options::default()).unwrap();
        assert_eq!(
            view_ids(space.changes_after_add_seq(0)),
            feed,
            "{checkpoint}"
        );
        let m = space.tree_storage("m").unwrap();
        let seqs: Vec<u64> = m
            .changes_after_add_seq(0)
            .map(StorageChange::from)
            .collect::<Vec<_>>()
            .iter()
            .map(|c| c.add_seq)
            .collect();
        assert_eq!(seqs, [1, 2], "{checkpoint}");
        // The space's own batches go on above every seq, in the feed.
        let a = space.tree_storage("a").unwrap();
        let id = format!("a-{checkpoint}");
        let order = if checkpoint { "9" } else { "8" };
        assert!(
            a.add_all(vec![change(&id, order)], [id.as_str()], "a")
                .unwrap()
                > 2
        );
        feed.push(id);
        if !checkpoint {
            space.checkpoint().unwrap().unwrap();
        }
    }
}

#[test]
#[cfg(feature = "internals")] // The verifier's scan (the workspace enables the feature).
fn verify_accepts_a_space_with_batches_of_their_own_counter() {
    use spacestore::internals::scan;
    use spacestore::HeadUpdate;
    let dir = tempfile::tempdir().unwrap();
    {
        let space = Space::create(dir.path(), Options::default()).unwrap();
        let a = space.create_tree_storage(root("a")).unwrap();
        a.add_all(vec![change("a1", "1")], ["a1"], "a").unwrap();
        a.add_all(vec![change("a2", "2")], ["a2"], "a").unwrap();
        let m = space
            .create_tree_storage(root("m"))
            .unwrap()
            .with_counter(AddSeqCounter::detached());
        m.add_all(vec![change("m1", "1")], ["m1"], "m").unwrap();
        space
            .head_storage()
            .update_entry(HeadUpdate::new("x").heads(["h"]))
            .unwrap();
    }
    let found = scan(&spacestore::StdFileSystem, dir.path(), &mut |_, _| {}).unwrap();
    assert!(
        found.first_problem().is_none(),
        "{:?}",
        found.inconsistencies
    );
}
