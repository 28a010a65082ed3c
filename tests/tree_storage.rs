//! TreeStorage, method by method (Go's `objecttree.Storage`).

mod common;

use std::ops::ControlFlow;

use common::*;
use spacestore::go::*;
use spacestore::{Error, Space, StorageChange};

#[test]
fn id_is_the_root_id() {
    let (_space, tree) = space_with_tree("t");
    assert_eq!(tree.id(), "t");
}

#[test]
fn root_is_stored_with_snapshot_counter_one_and_its_size() {
    let (_space, tree) = space_with_tree("t");
    let root = tree.get("t").unwrap();
    assert_eq!(root.snapshot_counter, 1);
    assert!(root.snapshot_id.is_empty());
    assert_eq!(root.change_size, root.raw_change.len() as u64);
    assert_eq!(root.tree_id, "t");
    assert_eq!(tree.root(), root);
}

#[test]
fn new_tree_heads_and_common_snapshot_are_the_root() {
    let (_space, tree) = space_with_tree("t");
    assert_eq!(tree.heads().unwrap(), vec!["t"]);
    assert_eq!(tree.common_snapshot().unwrap(), "t");
}

#[test]
fn add_all_sets_heads_and_common_snapshot() {
    let (_space, tree) = space_with_tree("t");
    tree.add_all(
        vec![change("c1", "1"), change("c2", "2")],
        ["c1", "c2"],
        "c1",
    )
    .unwrap();
    assert_eq!(tree.heads().unwrap(), vec!["c1", "c2"]);
    assert_eq!(tree.common_snapshot().unwrap(), "c1");
}

#[test]
fn add_all_with_no_heads_leaves_heads_unchanged() {
    let (_space, tree) = space_with_tree("t");
    tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap();
    tree.add_all(vec![change("c2", "2")], NO_HEADS, "c2")
        .unwrap();
    assert_eq!(tree.heads().unwrap(), vec!["c1"]);
    assert_eq!(tree.common_snapshot().unwrap(), "c2");
}

#[test]
fn add_all_records_last_add_seq_in_the_head_entry() {
    let (space, tree) = space_with_tree("t");
    assert_eq!(
        space.head_storage().get_entry("t").unwrap().last_add_seq,
        None
    );
    tree.add_all(vec![change("c1", "1")], NO_HEADS, "t")
        .unwrap();
    tree.add_all(vec![change("c2", "2")], NO_HEADS, "t")
        .unwrap();
    assert_eq!(
        space.head_storage().get_entry("t").unwrap().last_add_seq,
        Some(2)
    );
}

#[test]
fn add_all_sets_the_tree_id_of_every_change() {
    let (_space, tree) = space_with_tree("t");
    let mut c = change("c1", "1");
    c.tree_id = "something else".into();
    c.add_seq = 99;
    tree.add_all(vec![c], NO_HEADS, "t").unwrap();
    let stored = tree.get("c1").unwrap();
    assert_eq!(stored.tree_id, "t");
    assert_eq!(stored.add_seq, 1);
}

#[test]
fn add_all_keeps_every_field_of_the_change() {
    let (_space, tree) = space_with_tree("t");
    let c = change("c1", "1").with_prev_ids(["t"]).with_snapshot("t", 2);
    tree.add_all(vec![c.clone()], NO_HEADS, "t").unwrap();
    let stored = tree.get("c1").unwrap();
    assert_eq!(stored.raw_change, c.raw_change);
    assert_eq!(stored.prev_ids, vec!["t"]);
    assert_eq!(stored.snapshot_id, "t");
    assert_eq!(stored.snapshot_counter, 2);
    assert_eq!(stored.order_id, "1");
    assert_eq!(stored.change_size, 256);
}

#[test]
fn add_all_with_an_existing_change_id_fails_and_keeps_nothing() {
    let (_space, tree) = space_with_tree("t");
    tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap();
    let err = tree
        .add_all(vec![change("c2", "2"), change("c1", "3")], ["c2"], "c2")
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateChange(id) if id == "c1"));
    assert!(!tree.has("c2"));
    assert_eq!(tree.heads().unwrap(), vec!["c1"]);
    assert_eq!(tree.common_snapshot().unwrap(), "t");
}

#[test]
fn add_all_with_a_change_id_of_another_tree_fails() {
    let space = Space::in_memory();
    let a = space.create_tree_storage(root("a")).unwrap();
    let b = space.create_tree_storage(root("b")).unwrap();
    a.add_all(vec![change("c1", "1")], NO_HEADS, "a").unwrap();
    let err = b
        .add_all(vec![change("c1", "1")], NO_HEADS, "b")
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateChange(_)));
}

#[test]
fn add_all_with_the_same_id_twice_in_one_batch_fails() {
    let (_space, tree) = space_with_tree("t");
    let err = tree
        .add_all(vec![change("c1", "1"), change("c1", "2")], NO_HEADS, "t")
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateChange(_)));
    assert!(!tree.has("c1"));
}

#[test]
fn add_all_with_a_used_order_id_fails_and_keeps_nothing() {
    let (_space, tree) = space_with_tree("t");
    tree.add_all(vec![change("c1", "1")], NO_HEADS, "t")
        .unwrap();
    let err = tree
        .add_all(vec![change("c2", "2"), change("c3", "1")], NO_HEADS, "t")
        .unwrap_err();
    assert!(matches!(err, Error::OrderIdInUse { order_id, .. } if order_id == "1"));
    assert!(!tree.has("c2"));
}

#[test]
fn add_all_with_the_roots_order_id_fails() {
    let (_space, tree) = space_with_tree("t");
    let err = tree
        .add_all(vec![change("c1", spacestore::ROOT_ORDER_ID)], NO_HEADS, "t")
        .unwrap_err();
    assert!(matches!(err, Error::OrderIdInUse { .. }));
}

#[test]
fn the_same_order_id_in_two_trees_is_allowed() {
    let space = Space::in_memory();
    let a = space.create_tree_storage(root("a")).unwrap();
    let b = space.create_tree_storage(root("b")).unwrap();
    a.add_all(vec![change("a1", "1")], NO_HEADS, "a").unwrap();
    b.add_all(vec![change("b1", "1")], NO_HEADS, "b").unwrap();
}

#[test]
fn add_all_no_error_still_fails_on_an_order_id_clash() {
    let (_space, tree) = space_with_tree("t");
    tree.add_all(vec![change("c1", "1")], NO_HEADS, "t")
        .unwrap();
    let err = tree
        .add_all_no_error(vec![change("c2", "1")], NO_HEADS, "t")
        .unwrap_err();
    assert!(matches!(err, Error::OrderIdInUse { .. }));
}

#[test]
fn add_all_no_error_skips_a_duplicate_within_the_batch() {
    let (_space, tree) = space_with_tree("t");
    let outcome = tree
        .add_all_no_error(vec![change("c1", "1"), change("c1", "2")], NO_HEADS, "t")
        .unwrap();
    assert_eq!(outcome.inserted, vec!["c1"]);
    assert_eq!(outcome.skipped, vec!["c1"]);
}

#[test]
fn has_finds_changes_of_every_tree_of_the_space() {
    let space = Space::in_memory();
    let a = space.create_tree_storage(root("a")).unwrap();
    let b = space.create_tree_storage(root("b")).unwrap();
    b.add_all(vec![change("b1", "1")], NO_HEADS, "b").unwrap();
    assert!(a.has("b1"));
    assert!(a.has("b"));
    assert!(!a.has("nope"));
}

#[test]
fn get_of_a_missing_id_is_change_not_found() {
    let (_space, tree) = space_with_tree("t");
    assert!(matches!(tree.get("nope"), Err(Error::ChangeNotFound(id)) if id == "nope"));
}

#[test]
fn changes_after_order_yields_changes_from_the_order_id_in_order() {
    let (_space, tree) = space_with_tree("t");
    tree.add_all(vec![change("c3", "3"), change("c1", "1")], NO_HEADS, "t")
        .unwrap();
    tree.add_all(vec![change("c2", "2")], NO_HEADS, "t")
        .unwrap();
    assert_eq!(
        view_ids(tree.changes_after_order("")),
        vec!["t", "c1", "c2", "c3"]
    );
    assert_eq!(view_ids(tree.changes_after_order("2")), vec!["c2", "c3"]);
    assert!(tree.changes_after_order("4").next().is_none());
}

#[test]
fn changes_after_order_does_not_yield_other_trees_changes() {
    let space = Space::in_memory();
    let a = space.create_tree_storage(root("a")).unwrap();
    let b = space.create_tree_storage(root("b")).unwrap();
    b.add_all(vec![change("b1", "1")], NO_HEADS, "b").unwrap();
    assert_eq!(view_ids(a.changes_after_order("")), vec!["a"]);
}

#[test]
fn changes_after_add_seq_is_sorted_by_order_id_not_by_add_seq() {
    let (_space, tree) = space_with_tree("t");
    tree.add_all(vec![change("late", "9")], NO_HEADS, "t")
        .unwrap();
    tree.add_all(vec![change("early", "1")], NO_HEADS, "t")
        .unwrap();
    let got = tree
        .changes_after_add_seq(0)
        .map(StorageChange::from)
        .collect::<Vec<_>>();
    assert_eq!(ids(&got), vec!["early", "late"]);
    assert_eq!(got[0].add_seq, 2);
    assert_eq!(got[1].add_seq, 1);
}

#[test]
fn iteration_stops_when_the_closure_breaks() {
    let (_space, tree) = space_with_tree("t");
    tree.add_all(vec![change("c1", "1"), change("c2", "2")], NO_HEADS, "t")
        .unwrap();
    let mut seen = Vec::new();
    tree.get_after_order("", |c| {
        seen.push(c.id.to_string());
        Ok(if seen.len() == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    })
    .unwrap();
    assert_eq!(seen, vec!["t", "c1"]);
}

#[test]
fn iteration_returns_the_closures_error() {
    let (_space, tree) = space_with_tree("t");
    tree.add_all(vec![change("c1", "1"), change("c2", "2")], NO_HEADS, "t")
        .unwrap();
    let mut calls = 0;
    let result = tree.get_after_add_seq(0, |_| {
        calls += 1;
        Err(Error::callback("stop here"))
    });
    let Err(Error::Callback(inner)) = result else {
        panic!("expected the callback's error, got {result:?}");
    };
    assert_eq!(inner.to_string(), "stop here");
    assert_eq!(calls, 1);
}

#[test]
fn delete_removes_every_change_of_the_tree_and_the_root() {
    let (space, tree) = space_with_tree("t");
    tree.add_all(vec![change("c1", "1")], NO_HEADS, "t")
        .unwrap();
    tree.delete().unwrap();
    assert!(!tree.has("c1"));
    assert!(!tree.has("t"));
    assert!(tree.changes_after_order("").next().is_none());
    assert!(tree.changes_after_add_seq(0).next().is_none());
    assert!(space.changes_after_add_seq(0).next().is_none());
}

#[test]
fn delete_leaves_the_head_entry_and_the_counter() {
    let (space, tree) = space_with_tree("t");
    tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap();
    tree.delete().unwrap();
    assert_eq!(space.add_seq(), 1);
    let entry = space.head_storage().get_entry("t").unwrap();
    assert_eq!(entry.heads, vec!["c1"]);
    assert_eq!(entry.last_add_seq, Some(1));
}

#[test]
fn deleted_tree_is_an_unknown_tree() {
    let (space, tree) = space_with_tree("t");
    tree.delete().unwrap();
    assert!(matches!(
        space.tree_storage("t"),
        Err(Error::UnknownTree(_))
    ));
}

#[test]
fn writes_to_a_deleted_tree_are_refused_without_taking_a_seq() {
    let (space, tree) = space_with_tree("t");
    tree.delete().unwrap();
    let err = tree
        .add_all(vec![change("c1", "1")], NO_HEADS, "t")
        .unwrap_err();
    assert!(matches!(err, Error::TreeDeleted(_)));
    assert_eq!(space.add_seq(), 0);
}

#[test]
fn delete_leaves_other_trees_alone() {
    let space = Space::in_memory();
    let a = space.create_tree_storage(root("a")).unwrap();
    let b = space.create_tree_storage(root("b")).unwrap();
    a.add_all(vec![change("a1", "1")], NO_HEADS, "a").unwrap();
    b.add_all(vec![change("b1", "1")], NO_HEADS, "b").unwrap();
    a.delete().unwrap();
    assert!(b.has("b1"));
    assert_eq!(view_ids(space.changes_after_add_seq(0)), vec!["b1"]);
}

#[test]
fn a_deleted_tree_can_be_created_again() {
    let (space, tree) = space_with_tree("t");
    tree.delete().unwrap();
    let again = space.create_tree_storage(root("t")).unwrap();
    assert!(again.has("t"));
}

#[test]
fn an_empty_heads_list_sets_no_heads_and_unchanged_leaves_them_also_after_a_reopen() {
    use spacestore::{Heads, Options};
    let dir = tempfile::tempdir().unwrap();
    {
        let space = Space::create(dir.path(), Options::default()).unwrap();
        let tree = space.create_tree_storage(root("t")).unwrap();
        tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap();
        tree.add_all(vec![change("c2", "2")], Heads::Unchanged, "t")
            .unwrap();
        assert_eq!(tree.heads().unwrap(), vec!["c1"], "Go's nil heads");
        let u = space.create_tree_storage(root("u")).unwrap();
        u.add_all(vec![change("u1", "1")], [], "u").unwrap();
        assert!(u.heads().unwrap().is_empty(), "Go's empty list");
    }
    let space = Space::open(dir.path(), Options::default()).unwrap();
    assert_eq!(
        space.tree_storage("t").unwrap().heads().unwrap(),
        vec!["c1"]
    );
    assert!(space.tree_storage("u").unwrap().heads().unwrap().is_empty());
}

/// The root a tree was made from comes back whole (parent and derived flag too), also after a
/// reopen, so a tree can be made again in another space from it. (`root()` is the stored change,
/// which has neither.)
#[test]
fn tree_root_keeps_the_parent_and_derived_flag_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let made = spacestore::TreeRoot::new("c", b"child".to_vec()).with_parent("p", true);
    {
        let space = spacestore::Space::create(dir.path(), spacestore::Options::default()).unwrap();
        space.create_tree_storage(root("p")).unwrap();
        let child = space.create_tree_storage(made.clone()).unwrap();
        assert_eq!(child.tree_root(), made);
    }
    let space = spacestore::Space::open(dir.path(), spacestore::Options::default()).unwrap();
    let child = space.tree_storage("c").unwrap();
    assert_eq!(child.tree_root(), made);
    let other = spacestore::Space::in_memory();
    other.create_tree_storage(root("p")).unwrap();
    let copy = other.create_tree_storage(child.tree_root()).unwrap();
    let entry = other.head_storage().get_entry("c").unwrap();
    assert_eq!(
        (entry.parent_id.as_deref(), entry.is_derived),
        (Some("p"), true)
    );
    assert_eq!(copy.root().raw_change, child.root().raw_change);
}
