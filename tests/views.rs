//! Changes read in place ([`ChangeView`]): every field as the owned change has it, for roots,
//! whole batches and batches that skipped changes, live and after a reopen (bytes of a mapped
//! segment) and a checkpoint.

mod common;

use common::*;
use spacestore::{ChangeView, Options, Space, StorageChange, TreeStorage};

/// Every accessor of `view` against `change`.
fn assert_same(view: &ChangeView, change: &StorageChange) {
    assert_eq!(view.id(), change.id, "id");
    assert_eq!(
        view.order_id(),
        change.order_id,
        "order id of {}",
        change.id
    );
    assert_eq!(
        view.raw_change(),
        &change.raw_change[..],
        "raw of {}",
        change.id
    );
    let prev: Vec<&str> = view.prev_ids().collect();
    let expected: Vec<&str> = change.prev_ids.iter().map(|p| p.as_str()).collect();
    assert_eq!(prev, expected, "prev ids of {}", change.id);
    assert_eq!(
        view.snapshot_id(),
        change.snapshot_id,
        "snapshot of {}",
        change.id
    );
    assert_eq!(view.snapshot_counter(), change.snapshot_counter);
    assert_eq!(view.change_size(), change.change_size);
    assert_eq!(view.add_seq(), change.add_seq);
    assert_eq!(view.added(), change.added);
    assert_eq!(&view.to_change(), change);
}

/// The views of `tree` from every order id it holds (and before and past them all) and after
/// every AddSeq, against the owned changes `get` reads one by one.
fn assert_views_match(tree: &TreeStorage) {
    let all: Vec<StorageChange> = tree
        .changes_after_order("")
        .map(|v| tree.get(v.id()).unwrap())
        .collect();
    assert!(all.len() > 5, "{} changes", all.len());
    let mut from: Vec<String> = all.iter().map(|c| c.order_id.to_string()).collect();
    from.extend(["".to_owned(), "~past".to_owned()]);
    for order in from {
        let owned: Vec<&StorageChange> = all
            .iter()
            .filter(|c| c.order_id.as_str() >= order.as_str())
            .collect();
        let views: Vec<ChangeView> = tree.changes_after_order(&order).collect();
        assert_eq!(views.len(), owned.len(), "from {order:?}");
        for (v, c) in views.iter().zip(owned) {
            assert_same(v, c);
        }
    }
    let last = all.iter().map(|c| c.add_seq).max().unwrap_or(0);
    for seq in 0..=last + 1 {
        let owned: Vec<&StorageChange> = all.iter().filter(|c| c.add_seq > seq).collect();
        let views: Vec<ChangeView> = tree.changes_after_add_seq(seq).collect();
        assert_eq!(views.len(), owned.len(), "after seq {seq}");
        for (v, c) in views.iter().zip(owned) {
            assert_same(v, c);
        }
    }
}

/// A tree "t" with: its root; a batch of three changes with prev ids, snapshots and sizes of
/// their own; a batch of one with no prev ids; a batch that skipped a change already stored.
fn fill(space: &Space) -> TreeStorage {
    let tree = space.create_tree_storage(root("t")).unwrap();
    let c = |id: &str, order: &str, prev: &[&str]| {
        StorageChange::new(id, order, format!("bytes of {id}").into_bytes())
            .with_prev_ids(prev.iter().copied())
            .with_snapshot(format!("snap-{id}"), id.len() as u32 + 7)
    };
    let mut sized = c("c3", "0003", &["c1", "c2"]);
    sized.change_size = 12_345;
    tree.add_all(
        vec![c("c1", "0001", &["t"]), c("c2", "0002", &["c1"]), sized],
        ["c3"],
        "t",
    )
    .unwrap();
    tree.add_all(
        vec![StorageChange::new("c4", "0004", vec![0u8; 0])],
        ["c4"],
        "t",
    )
    .unwrap();
    let skipped = tree
        .add_all_no_error(
            vec![
                c("c2", "0002", &["c1"]),
                c("c5", "0005", &["c3", "c4", "t"]),
            ],
            ["c5"],
            "t",
        )
        .unwrap();
    assert_eq!(skipped.skipped.len(), 1);
    tree
}

#[test]
fn views_read_every_field_as_the_owned_change_has_it() {
    let space = Space::in_memory();
    let tree = fill(&space);
    assert_views_match(&tree);
}

#[test]
fn views_read_every_field_after_a_reopen_and_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    drop(fill(
        &Space::create(dir.path(), Options::default()).unwrap(),
    ));
    let space = Space::open(dir.path(), Options::default()).unwrap();
    assert_views_match(&space.tree_storage("t").unwrap());
    space.checkpoint().unwrap();
    drop(space);
    let space = Space::open(dir.path(), Options::default()).unwrap();
    assert_views_match(&space.tree_storage("t").unwrap());
}

/// A deferred tree holds its root before its first write (the owned reads show it): the views
/// show it too, read from the root as its creation will store it.
#[test]
fn views_of_a_deferred_tree_hold_its_root_as_the_owned_reads_do() {
    let space = Space::in_memory();
    let tree = space
        .create_storage_with_deferred_creation(root("t"))
        .unwrap();
    let views: Vec<ChangeView> = tree.changes_after_order("").collect();
    let owned = tree
        .changes_after_order("")
        .map(StorageChange::from)
        .collect::<Vec<_>>();
    assert_eq!((views.len(), owned.len()), (1, 1));
    assert_same(&views[0], &owned[0]);
    assert_eq!(tree.changes_after_order("~past").count(), 0);
    assert_eq!(tree.changes_after_add_seq(0).count(), 0);
    tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap();
    let ids: Vec<String> = tree
        .changes_after_order("")
        .map(|v| v.id().to_owned())
        .collect();
    assert_eq!(ids, ["t", "c1"]);
}

#[test]
fn feed_views_read_every_change_as_the_feed_has_it() {
    let space = Space::in_memory();
    fill(&space);
    let u = space.create_tree_storage(root("u")).unwrap();
    for i in 0..150 {
        let id = format!("u{i}");
        u.add_all(vec![change(&id, &format!("{i:04}"))], [id.as_str()], "u")
            .unwrap();
    }
    let last = space.add_seq();
    assert!(
        last > 64,
        "the feed reads the index 64 batches at a time: {last}"
    );
    for seq in 0..=last + 1 {
        // The same changes as the batch read builds them.
        let owned: Vec<StorageChange> = space
            .batches_after(seq, usize::MAX)
            .into_iter()
            .flat_map(|b| b.changes)
            .collect();
        let views: Vec<ChangeView> = space.changes_after_add_seq(seq).collect();
        assert_eq!(views.len(), owned.len(), "after seq {seq}");
        for (v, c) in views.iter().zip(&owned) {
            assert_same(v, c);
        }
    }
}
