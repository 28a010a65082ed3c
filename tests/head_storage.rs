//! HeadStorage, method by method (Go's `headstorage.HeadStorage`), including any-sync's
//! `MinLastAddSeq` tests.

mod common;

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

use common::*;
use spacestore::go::*;
use spacestore::{DeletedStatus, Error, HeadEntry, HeadUpdate, IterOptions, Options, Space};

fn entry_ids(entries: &[Arc<HeadEntry>]) -> Vec<String> {
    entries.iter().map(|e| e.id.to_string()).collect()
}

fn seqs(entries: &[Arc<HeadEntry>]) -> Vec<u64> {
    entries.iter().map(|e| e.last_add_seq.unwrap()).collect()
}

/// Entries a:10, b:5, c:20, d:15, e:7 (any-sync's `headstorage_test.go`).
fn space_with_seqs(entries: &[(&str, u64)]) -> Space {
    let space = Space::in_memory();
    let heads = space.head_storage();
    for (id, seq) in entries {
        heads
            .update_entry(HeadUpdate::new(*id).heads([*id]).last_add_seq(*seq))
            .unwrap();
    }
    space
}

const FIVE: [(&str, u64); 5] = [("a", 10), ("b", 5), ("c", 20), ("d", 15), ("e", 7)];

fn live_after(min: u64) -> IterOptions {
    IterOptions::live().min_last_add_seq(min)
}

#[test]
fn entries_with_min_last_add_seq_sorts_by_seq() {
    let space = space_with_seqs(&FIVE);
    let got = space
        .head_storage()
        .entries(live_after(7))
        .collect::<Vec<_>>();
    assert_eq!(entry_ids(&got), vec!["a", "d", "c"]);
    assert_eq!(seqs(&got), vec![10, 15, 20]);
}

#[test]
fn entries_with_min_last_add_seq_zero_sorts_by_id() {
    let space = space_with_seqs(&FIVE);
    let got = space
        .head_storage()
        .entries(live_after(0))
        .collect::<Vec<_>>();
    assert_eq!(entry_ids(&got), vec!["a", "b", "c", "d", "e"]);
}

#[test]
fn entries_with_deleted_selects_only_deleted_entries_above_min() {
    let space = space_with_seqs(&FIVE);
    let heads = space.head_storage();
    heads
        .update_entry(HeadUpdate::new("c").deleted_status(DeletedStatus::Deleted))
        .unwrap();
    heads
        .update_entry(HeadUpdate::new("e").deleted_status(DeletedStatus::Queued))
        .unwrap();
    let got = heads
        .entries(IterOptions::deleted().min_last_add_seq(10))
        .collect::<Vec<_>>();
    assert_eq!(entry_ids(&got), vec!["c"]);
    let live = heads.entries(live_after(5)).collect::<Vec<_>>();
    assert_eq!(entry_ids(&live), vec!["a", "d"]);
}

#[test]
fn entries_that_never_had_a_batch_never_match_min_last_add_seq() {
    let space = Space::in_memory();
    space.create_tree_storage(root("t")).unwrap();
    let got = space
        .head_storage()
        .entries(live_after(1))
        .collect::<Vec<_>>();
    assert!(got.is_empty());
    assert_eq!(space.head_storage().entries(live_after(0)).count(), 1);
}

#[test]
fn iterate_entries_stops_when_the_closure_breaks() {
    let space = space_with_seqs(&FIVE);
    let mut seen = 0;
    space
        .head_storage()
        .iterate_entries(live_after(0), |_| {
            seen += 1;
            Ok(ControlFlow::Break(()))
        })
        .unwrap();
    assert_eq!(seen, 1);
}

#[test]
fn get_entry_of_a_missing_id_is_entry_not_found() {
    let space = Space::in_memory();
    assert!(matches!(
        space.head_storage().get_entry("x"),
        Err(Error::EntryNotFound(_))
    ));
}

#[test]
fn update_entry_creates_a_missing_entry() {
    let space = Space::in_memory();
    let entry = space
        .head_storage()
        .update_entry(HeadUpdate::new("x").heads(["h"]))
        .unwrap();
    assert_eq!(entry.heads, vec!["h"]);
    assert_eq!(entry.deleted_status, DeletedStatus::NotDeleted);
    assert_eq!(space.head_storage().get_entry("x").unwrap(), entry);
}

#[test]
fn update_entry_changes_only_the_given_fields() {
    let space = Space::in_memory();
    let heads = space.head_storage();
    heads
        .update_entry(
            HeadUpdate::new("x")
                .heads(["h1"])
                .common_snapshot("s")
                .parent_id("p")
                .last_add_seq(4),
        )
        .unwrap();
    let entry = heads
        .update_entry(HeadUpdate::new("x").deleted_status(DeletedStatus::Queued))
        .unwrap();
    assert_eq!(entry.heads, vec!["h1"]);
    assert_eq!(entry.common_snapshot, "s");
    assert_eq!(entry.parent_id.as_deref(), Some("p"));
    assert_eq!(entry.last_add_seq, Some(4));
    assert_eq!(entry.deleted_status, DeletedStatus::Queued);
}

#[test]
fn observers_are_told_of_an_effective_update_with_the_whole_entry() {
    let space = Space::in_memory();
    let heads = space.head_storage();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let _observer = heads.add_observer(move |e: &HeadEntry| sink.lock().unwrap().push(e.clone()));
    heads
        .update_entry(HeadUpdate::new("x").heads(["h"]).common_snapshot("s"))
        .unwrap();
    heads
        .update_entry(HeadUpdate::new("x").is_derived(true))
        .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].heads, vec!["h"]);
    assert!(seen[1].is_derived);
}

#[test]
fn observers_are_not_told_of_an_update_that_changes_nothing() {
    let space = Space::in_memory();
    let heads = space.head_storage();
    heads
        .update_entry(HeadUpdate::new("x").heads(["h"]))
        .unwrap();
    let count = Arc::new(Mutex::new(0));
    let sink = Arc::clone(&count);
    let _observer = heads.add_observer(move |_: &HeadEntry| *sink.lock().unwrap() += 1);
    heads
        .update_entry(HeadUpdate::new("x").heads(["h"]))
        .unwrap();
    assert_eq!(*count.lock().unwrap(), 0);
}

#[test]
fn observers_are_told_of_every_add_all() {
    let (space, tree) = space_with_tree("t");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let _observer = space
        .head_storage()
        .add_observer(move |e: &HeadEntry| sink.lock().unwrap().push(e.last_add_seq));
    tree.add_all(vec![change("c1", "1")], NO_HEADS, "t")
        .unwrap();
    tree.add_all_no_error(vec![change("c1", "1")], NO_HEADS, "t")
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![Some(1), Some(2)]);
}

#[test]
fn observers_are_not_told_of_a_failed_batch() {
    let (space, tree) = space_with_tree("t");
    tree.add_all(vec![change("c1", "1")], NO_HEADS, "t")
        .unwrap();
    let count = Arc::new(Mutex::new(0));
    let sink = Arc::clone(&count);
    let _observer = space
        .head_storage()
        .add_observer(move |_: &HeadEntry| *sink.lock().unwrap() += 1);
    assert!(tree
        .add_all(vec![change("c1", "2")], NO_HEADS, "t")
        .is_err());
    assert_eq!(*count.lock().unwrap(), 0);
}

#[test]
fn an_observer_may_read_the_space_but_not_write_to_it() {
    let (space, tree) = space_with_tree("t");
    let observed = space.clone();
    let results = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&results);
    let _observer = space.head_storage().add_observer(move |e: &HeadEntry| {
        let read = observed.head_storage().get_entry(&e.id).is_ok();
        let write = observed
            .head_storage()
            .update_entry(HeadUpdate::new("other").heads(["x"]));
        sink.lock()
            .unwrap()
            .push((read, matches!(write, Err(Error::WriteFromObserver))));
    });
    tree.add_all(vec![change("c1", "1")], NO_HEADS, "t")
        .unwrap();
    assert_eq!(*results.lock().unwrap(), vec![(true, true)]);
}

#[test]
fn dropping_the_observer_guard_removes_the_observer() {
    let space = Space::in_memory();
    let heads = space.head_storage();
    let count = Arc::new(Mutex::new(0));
    let sink = Arc::clone(&count);
    let guard = heads.add_observer(move |_: &HeadEntry| *sink.lock().unwrap() += 1);
    let other = Arc::new(Mutex::new(0));
    let other_sink = Arc::clone(&other);
    let _kept = heads.add_observer(move |_: &HeadEntry| *other_sink.lock().unwrap() += 1);
    heads
        .update_entry(HeadUpdate::new("x").heads(["1"]))
        .unwrap();
    drop(guard);
    heads
        .update_entry(HeadUpdate::new("x").heads(["2"]))
        .unwrap();
    assert_eq!(*count.lock().unwrap(), 1);
    // The other observer is still told.
    assert_eq!(*other.lock().unwrap(), 2);
}

#[test]
fn an_observer_holding_a_space_handle_does_not_keep_the_closed_space_locked() {
    let dir = tempfile::tempdir().unwrap();
    let space = Space::create(dir.path(), Options::default()).unwrap();
    let observed = space.clone();
    let guard = space.head_storage().add_observer(move |e: &HeadEntry| {
        let _ = observed.head_storage().get_entry(&e.id);
    });
    space
        .head_storage()
        .update_entry(HeadUpdate::new("x").heads(["h"]))
        .unwrap();
    // While the guard lives, the observer's handle keeps the space open.
    drop(space);
    assert!(matches!(
        Space::create(dir.path(), Options::default()),
        Err(Error::Locked(_))
    ));
    // Dropping the guard drops the observer and its handle: the space closes.
    drop(guard);
    let again = Space::create(dir.path(), Options::default()).unwrap();
    assert_eq!(again.head_storage().get_entry("x").unwrap().heads, ["h"]);
}

#[test]
fn delete_entry_removes_the_entry() {
    let space = space_with_seqs(&FIVE);
    let heads = space.head_storage();
    heads.delete_entry("c").unwrap();
    assert!(matches!(heads.get_entry("c"), Err(Error::EntryNotFound(_))));
    assert_eq!(
        entry_ids(&heads.entries(live_after(7)).collect::<Vec<_>>()),
        vec!["a", "d"]
    );
}

#[test]
fn delete_entry_of_a_missing_id_is_not_an_error() {
    let space = Space::in_memory();
    space.head_storage().delete_entry("nope").unwrap();
}

#[test]
fn entries_by_parent_id_includes_deleted_children() {
    let space = Space::in_memory();
    space.create_tree_storage(root("p")).unwrap();
    space
        .create_tree_storage(root("c1").with_parent("p", false))
        .unwrap();
    space
        .create_tree_storage(root("c2").with_parent("p", false))
        .unwrap();
    space
        .head_storage()
        .update_entry(HeadUpdate::new("c2").deleted_status(DeletedStatus::Deleted))
        .unwrap();
    let got: Vec<_> = space.head_storage().entries_by_parent_id("p").collect();
    assert_eq!(entry_ids(&got), vec!["c1", "c2"]);
    assert_eq!(space.head_storage().entries_by_parent_id("c1").count(), 0);
}

#[test]
fn max_last_add_seq_is_the_largest_over_all_entries() {
    let space = space_with_seqs(&FIVE);
    let heads = space.head_storage();
    heads
        .update_entry(HeadUpdate::new("c").deleted_status(DeletedStatus::Deleted))
        .unwrap();
    assert_eq!(heads.max_last_add_seq(), 20);
}

#[test]
fn max_last_add_seq_is_zero_when_no_entry_had_a_batch() {
    let space = Space::in_memory();
    space.create_tree_storage(root("t")).unwrap();
    assert_eq!(space.head_storage().max_last_add_seq(), 0);
}

#[test]
fn max_last_add_seq_follows_a_deleted_entry_but_the_counter_does_not() {
    // Entry "a" was given last AddSeq 3, which moved the counter to 3: the batch gets 4.
    let space = space_with_seqs(&[("a", 3)]);
    let tree = space.create_tree_storage(root("t")).unwrap();
    let seq = tree
        .add_all(vec![change("c1", "1")], NO_HEADS, "t")
        .unwrap();
    assert_eq!(seq, 4);
    space.head_storage().delete_entry("t").unwrap();
    assert_eq!(space.head_storage().max_last_add_seq(), 3);
    assert_eq!(space.add_seq(), 4);
}

/// Go's `UpdateEntry` takes any `LastAddSeq`; the counter moves up to it, so no later batch
/// gets a seq at or below one a head entry names, and (with a log) neither after a restart.
#[test]
fn a_last_add_seq_above_the_counter_moves_the_counter_up_to_it() {
    let (space, tree) = space_with_tree("t");
    space
        .head_storage()
        .update_entry(HeadUpdate::new("other").last_add_seq(41))
        .unwrap();
    assert_eq!(space.add_seq(), 41);
    assert_eq!(
        tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap(),
        42
    );
    // A lower one moves nothing.
    space
        .head_storage()
        .update_entry(HeadUpdate::new("other").last_add_seq(7))
        .unwrap();
    assert_eq!(space.add_seq(), 42);
}

#[test]
fn a_last_add_seq_above_the_counter_is_above_it_after_a_restart_too() {
    let dir = tempfile::tempdir().unwrap();
    let options = spacestore::Options::default().reserve_ahead(1);
    {
        let space = spacestore::Space::create(dir.path(), options.clone()).unwrap();
        space
            .head_storage()
            .update_entry(HeadUpdate::new("e").last_add_seq(1000))
            .unwrap();
    }
    let space = spacestore::Space::create(dir.path(), options).unwrap();
    assert_eq!(space.add_seq(), 1000);
    let tree = space.create_tree_storage(root("t")).unwrap();
    assert_eq!(
        tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap(),
        1001
    );
}

#[test]
fn a_last_add_seq_one_below_the_last_leaves_one_batch_then_the_counter_is_exhausted() {
    let (space, tree) = space_with_tree("t");
    space
        .head_storage()
        .update_entry(HeadUpdate::new("t").last_add_seq(u64::MAX - 1))
        .unwrap();
    assert_eq!(
        tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap(),
        u64::MAX
    );
    let err = tree
        .add_all(vec![change("c2", "2")], ["c2"], "t")
        .unwrap_err();
    assert!(matches!(err, spacestore::Error::AddSeqExhausted), "{err:?}");
}
