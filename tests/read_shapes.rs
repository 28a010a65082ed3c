//! One read shape per range (issue 27): each range is an iterator, read in place
//! (`ChangeView` for changes, the stored `Arc<HeadEntry>` for head entries), owned on request
//! (`StorageChange::from`), and `spacestore::go` wraps each iterator in Go's callback without
//! changing what it yields.

mod common;

use std::ops::ControlFlow;
use std::sync::Arc;

use common::*;
use spacestore::go::*;
use spacestore::{
    AclRecord, AclStorage, ChangeView, ChangeViews, Collected, EntryFilter, Error, HeadEntry,
    HeadUpdate, IterOptions, Space, StorageChange, TreeStorage,
};

/// A whole space: tree `t` of three batches (`c3` first in AddSeq, last in order), tree `u` of
/// one, a child entry of `t`, and an ACL list of three records (orders 1, 2, 3).
fn filled() -> (Space, TreeStorage) {
    let space = Space::in_memory();
    space.create_space(space_payload("space.1")).unwrap();
    let t = space.create_tree_storage(root("t")).unwrap();
    let u = space.create_tree_storage(root("u")).unwrap();
    t.add_all(vec![change("c3", "3")], ["c3"], "t").unwrap();
    u.add_all(vec![change("u1", "1")], ["u1"], "u").unwrap();
    t.add_all(vec![change("c1", "1"), change("c2", "2")], ["c2"], "t")
        .unwrap();
    space
        .head_storage()
        .update_entry(HeadUpdate::new("child").parent_id("t").last_add_seq(2))
        .unwrap();
    space
        .acl_storage()
        .unwrap()
        .add_all([
            AclRecord::new("r2", "acl", 2, b"two".to_vec()),
            AclRecord::new("r3", "r2", 3, b"three".to_vec()),
        ])
        .unwrap();
    (space, t)
}

fn acl(space: &Space) -> AclStorage {
    space.acl_storage().unwrap()
}

/// What a view says of a change, every field but the owned-only ones.
fn fields(v: &ChangeView) -> (String, String, u64, Vec<String>, Vec<u8>) {
    let prev = v.prev_ids().map(str::to_owned).collect();
    let id = v.id().to_owned();
    (
        id,
        v.order_id().to_owned(),
        v.add_seq(),
        prev,
        v.raw_change().to_vec(),
    )
}

/// The same fields of an owned change.
fn owned_fields(c: &StorageChange) -> (String, String, u64, Vec<String>, Vec<u8>) {
    let prev = c.prev_ids.iter().map(|p| p.to_string()).collect();
    let id = c.id.to_string();
    (
        id,
        c.order_id.to_string(),
        c.add_seq,
        prev,
        c.raw_change.to_vec(),
    )
}

/// The stored changes of `t` with the given ids, fetched one by one.
fn stored(tree: &TreeStorage, ids: &[&str]) -> Vec<StorageChange> {
    ids.iter().map(|id| tree.get(id).unwrap()).collect()
}

fn record_ids(records: impl IntoIterator<Item = AclRecord>) -> Vec<String> {
    records.into_iter().map(|r| r.id.to_string()).collect()
}

// Each range's iterator, in place.

#[test]
fn a_trees_changes_by_order_are_views_in_order_id_order_from_the_order_id_on() {
    let (_space, t) = filled();
    let views: Vec<ChangeView> = t.changes_after_order("2").collect();
    let expected: Vec<_> = stored(&t, &["c2", "c3"]).iter().map(owned_fields).collect();
    assert_eq!(views.iter().map(fields).collect::<Vec<_>>(), expected);
    assert_eq!(view_ids(t.changes_after_order("")), ["t", "c1", "c2", "c3"]);
}

#[test]
fn a_trees_changes_by_add_seq_are_views_in_order_id_order_above_the_add_seq() {
    let (_space, t) = filled();
    // c3 took AddSeq 1, c1 and c2 AddSeq 3: above 0 all three, by order id; the root never.
    assert_eq!(view_ids(t.changes_after_add_seq(0)), ["c1", "c2", "c3"]);
    let views: Vec<ChangeView> = t.changes_after_add_seq(1).collect();
    let expected: Vec<_> = stored(&t, &["c1", "c2"]).iter().map(owned_fields).collect();
    assert_eq!(views.iter().map(fields).collect::<Vec<_>>(), expected);
}

#[test]
fn the_space_feed_is_views_of_every_tree_in_add_seq_order() {
    let (space, t) = filled();
    let seen: Vec<(String, u64)> = space
        .changes_after_add_seq(0)
        .map(|v| (v.id().to_owned(), v.add_seq()))
        .collect();
    let expected = [("c3", 1), ("u1", 2), ("c1", 3), ("c2", 3)];
    let expected: Vec<(String, u64)> = expected.iter().map(|(i, s)| (i.to_string(), *s)).collect();
    assert_eq!(seen, expected);
    let last: Vec<_> = space.changes_after_add_seq(2).map(|v| fields(&v)).collect();
    let expected: Vec<_> = stored(&t, &["c1", "c2"]).iter().map(owned_fields).collect();
    assert_eq!(last, expected);
}

#[test]
fn a_collected_range_and_the_entry_filter_are_named_for_what_they_are() {
    let (space, t) = filled();
    let views: ChangeViews = t.changes_after_order("");
    assert_eq!(views.len(), 4);
    let deleted = IterOptions::deleted();
    assert_eq!(deleted.entries, EntryFilter::Deleted);
    let entries: Collected<Arc<HeadEntry>> = space.head_storage().entries(IterOptions::all());
    assert_eq!(
        entries.len(),
        5,
        "t, u, child, settings and the ACL list's entry"
    );
    assert_eq!(IterOptions::all().entries, EntryFilter::All);
}

#[test]
fn head_entries_are_the_stored_entries_not_copies() {
    let (space, _t) = filled();
    let heads = space.head_storage();
    let first: Vec<Arc<HeadEntry>> = heads.entries(IterOptions::all()).collect();
    let again: Vec<Arc<HeadEntry>> = heads.entries(IterOptions::all()).collect();
    assert_eq!(first.len(), again.len());
    for (a, b) in first.iter().zip(&again) {
        assert!(Arc::ptr_eq(a, b), "entry {} read twice is one entry", a.id);
    }
    let ids: Vec<&str> = first.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["acl", "child", "settings", "t", "u"]);
}

#[test]
fn head_entries_by_parent_are_the_stored_entries_not_copies() {
    let (space, _t) = filled();
    let heads = space.head_storage();
    let by_parent: Vec<Arc<HeadEntry>> = heads.entries_by_parent_id("t").collect();
    let all: Vec<Arc<HeadEntry>> = heads.entries(IterOptions::all()).collect();
    let child = all.iter().find(|e| e.id == "child").unwrap();
    assert_eq!(by_parent.len(), 1);
    assert!(Arc::ptr_eq(&by_parent[0], child));
    assert_eq!(*by_parent[0], heads.get_entry("child").unwrap());
}

#[test]
fn acl_records_after_an_order_go_up_from_it() {
    let (space, _t) = filled();
    assert_eq!(record_ids(acl(&space).records_after_order(2)), ["r2", "r3"]);
    assert_eq!(
        record_ids(acl(&space).records_after_order(4)),
        Vec::<String>::new()
    );
}

#[test]
fn acl_records_before_an_order_go_up_to_it() {
    let (space, _t) = filled();
    assert_eq!(
        record_ids(acl(&space).records_before_order(2)),
        ["acl", "r2"]
    );
    let root_only = acl(&space).records_before_order(1);
    assert_eq!(record_ids(root_only), ["acl"]);
}

// Owned on request.

#[test]
fn storage_change_from_a_view_is_the_stored_change() {
    let (space, t) = filled();
    let from_tree: Vec<StorageChange> =
        t.changes_after_order("").map(StorageChange::from).collect();
    let expected = stored(&t, &["c1", "c2", "c3"]);
    assert_eq!(from_tree[0], t.root());
    assert_eq!(from_tree[1..], expected[..]);
    let from_feed: Vec<StorageChange> = space
        .changes_after_add_seq(2)
        .map(StorageChange::from)
        .collect();
    assert_eq!(from_feed, stored(&t, &["c1", "c2"]));
    let view = t.changes_after_order("3").next().unwrap();
    assert_eq!(view.to_change(), StorageChange::from(view.clone()));
    // Every field, `added` too (`==` leaves it out).
    assert_eq!(StorageChange::from(view).added, expected[2].added);
}

// The Go wrappers: what the iterator yields, stopped by Break, failed by the callback.

/// Runs a Go-shaped read to the end, keeping what `key` says of each item.
fn all<T, K>(
    read: impl FnOnce(&mut dyn FnMut(&T) -> spacestore::Result<ControlFlow<()>>),
    key: impl Fn(&T) -> K,
) -> Vec<K> {
    let mut out = Vec::new();
    read(&mut |item| {
        out.push(key(item));
        Ok(ControlFlow::Continue(()))
    });
    out
}

#[test]
fn go_get_after_order_yields_what_changes_after_order_yields() {
    let (_space, t) = filled();
    for from in ["", "2", "9"] {
        let iterated: Vec<StorageChange> = t
            .changes_after_order(from)
            .map(StorageChange::from)
            .collect();
        let called = all(
            |f| t.get_after_order(from, f).unwrap(),
            StorageChange::clone,
        );
        assert_eq!(called, iterated, "from {from:?}");
    }
}

#[test]
fn go_get_after_add_seq_yields_what_changes_after_add_seq_yields() {
    let (_space, t) = filled();
    for seq in [0, 1, 3] {
        let iterated: Vec<StorageChange> = t
            .changes_after_add_seq(seq)
            .map(StorageChange::from)
            .collect();
        let called = all(
            |f| t.get_after_add_seq(seq, f).unwrap(),
            StorageChange::clone,
        );
        assert_eq!(called, iterated, "after {seq}");
    }
}

#[test]
fn go_iterate_entries_yields_what_entries_yields() {
    let (space, _t) = filled();
    let heads = space.head_storage();
    for opts in [IterOptions::all(), IterOptions::live().min_last_add_seq(1)] {
        let iterated: Vec<HeadEntry> = heads.entries(opts).map(Arc::unwrap_or_clone).collect();
        let called = all(
            |f| heads.iterate_entries(opts, f).unwrap(),
            HeadEntry::clone,
        );
        assert_eq!(called, iterated, "{opts:?}");
    }
}

#[test]
fn go_acl_reads_yield_what_the_acl_iterators_yield() {
    let (space, _t) = filled();
    let acl = acl(&space);
    for order in [0, 2, 4] {
        let after = all(|f| acl.get_after_order(order, f).unwrap(), AclRecord::clone);
        assert_eq!(after, acl.records_after_order(order).collect::<Vec<_>>());
        let before = all(
            |f| acl.get_before_order(order, f).unwrap(),
            AclRecord::clone,
        );
        assert_eq!(before, acl.records_before_order(order).collect::<Vec<_>>());
    }
}

/// Counts the calls of a Go-shaped read whose callback breaks at the second item.
fn calls_until_break(
    read: impl FnOnce(&mut dyn FnMut() -> ControlFlow<()>) -> spacestore::Result<()>,
) -> usize {
    let mut calls = 0;
    read(&mut || {
        calls += 1;
        if calls == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap();
    calls
}

#[test]
fn every_go_read_stops_at_break() {
    let (space, t) = filled();
    let (heads, acl) = (space.head_storage(), acl(&space));
    let opts = IterOptions::all();
    assert_eq!(calls_until_break(|f| t.get_after_order("", |_| Ok(f()))), 2);
    assert_eq!(
        calls_until_break(|f| t.get_after_add_seq(0, |_| Ok(f()))),
        2
    );
    assert_eq!(
        calls_until_break(|f| heads.iterate_entries(opts, |_| Ok(f()))),
        2
    );
    assert_eq!(
        calls_until_break(|f| acl.get_after_order(0, |_| Ok(f()))),
        2
    );
    assert_eq!(
        calls_until_break(|f| acl.get_before_order(9, |_| Ok(f()))),
        2
    );
}

/// The message of the callback error a Go-shaped read returned, and how often it called.
fn callback_error(
    read: impl FnOnce(&mut dyn FnMut() -> Error) -> spacestore::Result<()>,
) -> (String, usize) {
    let mut calls = 0;
    let result = read(&mut || {
        calls += 1;
        Error::callback("stop here")
    });
    let Err(Error::Callback(inner)) = result else {
        panic!("expected the callback's error, got {result:?}");
    };
    (inner.to_string(), calls)
}

#[test]
fn every_go_read_returns_its_callbacks_error_at_once() {
    let (space, t) = filled();
    let (heads, acl) = (space.head_storage(), acl(&space));
    let opts = IterOptions::all();
    let stop = ("stop here".to_owned(), 1);
    assert_eq!(
        callback_error(|e| t.get_after_order("", |_| Err(e()))),
        stop
    );
    assert_eq!(
        callback_error(|e| t.get_after_add_seq(0, |_| Err(e()))),
        stop
    );
    assert_eq!(
        callback_error(|e| heads.iterate_entries(opts, |_| Err(e()))),
        stop
    );
    assert_eq!(
        callback_error(|e| acl.get_after_order(0, |_| Err(e()))),
        stop
    );
    assert_eq!(
        callback_error(|e| acl.get_before_order(9, |_| Err(e()))),
        stop
    );
}
