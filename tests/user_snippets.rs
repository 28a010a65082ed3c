//! What a new user writes, compiled as written: `[]` as heads (Go's empty list), `"c1" == change.id`, a
//! `TreeStorage` moved into a thread, and the Go-shaped read callbacks inside functions that
//! return `anyhow::Result`, `Result<_, Box<dyn Error>>` and `std::io::Result`, with `?` inside
//! and outside the callback and no type annotation.

mod common;

use std::ops::ControlFlow;

use common::*;
use spacestore::go::*;
use spacestore::{
    Error, ErrorKind, FixedClock, Heads, Id, IterOptions, Options, Space, StorageChange, TreeRoot,
    TreeStorage,
};

/// A tree `t` with changes `c1` (AddSeq 1) and `c2` (AddSeq 2).
fn tree_with_two() -> (Space, TreeStorage) {
    let (space, tree) = space_with_tree("t");
    tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap();
    tree.add_all(vec![change("c2", "2")], ["c2"], "t").unwrap();
    (space, tree)
}

#[test]
fn empty_brackets_as_heads_set_an_empty_list() {
    let (space, tree) = tree_with_two();
    tree.add_all(vec![change("c3", "3")], [], "t").unwrap();
    let heads = space.head_storage().get_entry("t").unwrap().heads;
    assert!(heads.is_empty(), "{heads:?}");
}

#[test]
fn owned_ids_set_the_heads_in_a_vec_or_as_strs() {
    let (space, tree) = tree_with_two();
    let id_string = String::from("c3");
    tree.add_all(vec![change("c3", "3")], [id_string.as_str()], "t")
        .unwrap();
    tree.add_all(vec![change("c4", "4")], vec![id_string], "t")
        .unwrap();
    assert_eq!(space.head_storage().get_entry("t").unwrap().heads, ["c3"]);
    tree.add_all(vec![change("c5", "5")], vec![Id::from("c5")], "t")
        .unwrap();
    assert_eq!(space.head_storage().get_entry("t").unwrap().heads, ["c5"]);
}

#[test]
fn an_iterator_of_strs_sets_the_heads() {
    let (space, tree) = tree_with_two();
    let mine = [String::from("c3"), String::from("c1")];
    tree.add_all(
        vec![change("c3", "3")],
        mine.iter().map(String::as_str),
        "t",
    )
    .unwrap();
    assert_eq!(
        space.head_storage().get_entry("t").unwrap().heads,
        ["c3", "c1"]
    );
    let collected: Heads = mine.iter().filter(|id| id.as_str() != "c1").collect();
    tree.add_all(vec![change("c4", "4")], collected, "t")
        .unwrap();
    assert_eq!(space.head_storage().get_entry("t").unwrap().heads, ["c3"]);
}

#[test]
fn heads_unchanged_leaves_them_as_they_were() {
    let (space, tree) = tree_with_two();
    tree.add_all(vec![change("c3", "3")], Heads::Unchanged, "t")
        .unwrap();
    assert_eq!(space.head_storage().get_entry("t").unwrap().heads, ["c2"]);
}

#[test]
fn a_str_compares_with_an_id_on_either_side() {
    let (_space, tree) = tree_with_two();
    let change = tree.get("c1").unwrap();
    assert!("c1" == change.id);
    assert!(change.id == "c1");
    let owned = String::from("c1");
    assert!(owned == change.id);
    assert!("c2" != change.id);
}

#[test]
fn a_tree_storage_moves_into_a_thread() {
    let (_space, tree) = space_with_tree("t");
    let writer = std::thread::spawn(move || tree.add_all(vec![change("c1", "1")], ["c1"], "t"));
    assert_eq!(writer.join().unwrap().unwrap(), 1);
}

fn same(a: &StorageChange, b: &StorageChange) -> anyhow::Result<()> {
    anyhow::ensure!(a == b, "{} reads back differently", a.id);
    Ok(())
}

/// Every callback method inside an `anyhow` function: `?` on a store call and on an anyhow
/// error (through [`Error::callback`]) inside, `?` outside, no annotation.
fn anyhow_reads(space: &Space, tree: &TreeStorage) -> anyhow::Result<Vec<String>> {
    let mut seen = Vec::new();
    tree.get_after_order("", |c| {
        let again = tree.get(&c.id)?; // a store error
        same(&again, c).map_err(Error::callback)?; // an anyhow error
        seen.push(format!("order {}", c.id));
        Ok(ControlFlow::Continue(()))
    })?;
    tree.get_after_add_seq(1, |c| {
        seen.push(format!("tree seq {}", c.id));
        Ok(ControlFlow::Continue(()))
    })?;
    // The space-wide feed has no callback (no Go counterpart): its iterator.
    for c in space.changes_after_add_seq(0) {
        seen.push(format!("space seq {}", c.id()));
    }
    space
        .head_storage()
        .iterate_entries(IterOptions::live(), |e| {
            seen.push(format!("entry {}", e.id));
            Ok(ControlFlow::Break(()))
        })?;
    Ok(seen)
}

#[test]
fn callbacks_infer_their_error_in_an_anyhow_function() {
    let (space, tree) = tree_with_two();
    assert_eq!(
        anyhow_reads(&space, &tree).unwrap(),
        [
            "order t",
            "order c1",
            "order c2",
            "tree seq c2",
            "space seq c1",
            "space seq c2",
            "entry t"
        ]
    );
}

#[test]
fn acl_callbacks_infer_their_error_in_an_anyhow_function() {
    fn orders(space: &Space) -> anyhow::Result<(Vec<u64>, Vec<u64>)> {
        let acl = space.acl_storage()?;
        let (mut after, mut before) = (Vec::new(), Vec::new());
        acl.get_after_order(0, |r| {
            after.push(r.order);
            Ok(ControlFlow::Continue(()))
        })?;
        acl.get_before_order(1, |r| {
            before.push(r.order);
            Ok(ControlFlow::Continue(()))
        })?;
        Ok((after, before))
    }
    let space = Space::in_memory();
    space.create_space(space_payload("space.1")).unwrap();
    assert_eq!(orders(&space).unwrap(), (vec![1], vec![1]));
}

#[test]
fn a_callbacks_anyhow_error_reaches_the_caller_in_the_chain() {
    let (_space, tree) = space_with_tree("t");
    let failed: anyhow::Result<()> = (|| {
        tree.get_after_order("", |_| {
            Err(anyhow::anyhow!("no room left")).map_err(Error::callback)
        })?;
        Ok(())
    })();
    let error = failed.unwrap_err();
    let store_error = error.downcast_ref::<Error>().expect("a spacestore error");
    assert_eq!(store_error.kind(), ErrorKind::Callback);
    assert_eq!(error.root_cause().to_string(), "no room left");
}

#[test]
fn callbacks_infer_their_error_in_a_boxed_error_function() {
    fn texts(tree: &TreeStorage) -> Result<Vec<String>, Box<dyn std::error::Error>> {
        let mut texts = Vec::new();
        tree.get_after_add_seq(0, |c| {
            let text = std::str::from_utf8(&c.raw_change).map_err(Error::callback)?;
            texts.push(text.to_owned());
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(texts)
    }
    let (_space, tree) = space_with_tree("t");
    tree.add_all(
        vec![StorageChange::new("c1", "1", b"one".to_vec())],
        ["c1"],
        "t",
    )
    .unwrap();
    assert_eq!(texts(&tree).unwrap(), ["one"]);
    tree.add_all(vec![StorageChange::new("c2", "2", vec![0xff])], ["c2"], "t")
        .unwrap();
    let error = texts(&tree).unwrap_err();
    let Some(Error::Callback(inner)) = error.downcast_ref::<Error>() else {
        panic!("expected the callback's error, got {error:?}");
    };
    assert!(inner.downcast_ref::<std::str::Utf8Error>().is_some());
}

#[test]
fn a_callbacks_io_error_comes_back_as_itself_from_an_io_function() {
    fn sizes(tree: &TreeStorage, dir: &std::path::Path) -> std::io::Result<u64> {
        let mut total = 0;
        tree.get_after_order("", |c| {
            total += std::fs::metadata(dir.join(c.id.as_str()))?.len();
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(total)
    }
    let dir = tempfile::tempdir().unwrap();
    let tree = Space::in_memory()
        .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
        .unwrap();
    std::fs::write(dir.path().join("t"), b"12345").unwrap();
    assert_eq!(sizes(&tree, dir.path()).unwrap(), 5);
    tree.add_all(vec![change("missing", "1")], ["missing"], "t")
        .unwrap();
    assert_eq!(
        sizes(&tree, dir.path()).unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );
}

#[test]
fn a_store_error_in_an_io_function_keeps_its_kind_inside() {
    fn read(space: &Space) -> std::io::Result<()> {
        space.head_storage().get_entry("absent")?;
        Ok(())
    }
    let error = read(&Space::in_memory()).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::Other);
    let inner = error.get_ref().and_then(|e| e.downcast_ref::<Error>());
    assert_eq!(inner.map(Error::kind), Some(ErrorKind::EntryNotFound));
}

#[test]
fn a_callbacks_error_is_error_callback_and_ends_the_walk() {
    let (_space, tree) = tree_with_two();
    let mut calls = 0;
    let result = tree.get_after_order("", |_| {
        calls += 1;
        Err(std::io::Error::other("full").into())
    });
    assert_eq!(
        result.as_ref().map_err(Error::kind),
        Err(ErrorKind::Callback)
    );
    assert_eq!(calls, 1);
    let Err(Error::Callback(inner)) = result else {
        unreachable!("checked above")
    };
    assert_eq!(
        inner.downcast::<std::io::Error>().unwrap().to_string(),
        "full"
    );
}

#[test]
fn the_same_change_stored_a_second_apart_compares_equal() {
    let clock = |secs| Options::default().clock(std::sync::Arc::new(FixedClock(secs)));
    let (a, b) = (
        Space::in_memory_with(clock(1_000)),
        Space::in_memory_with(clock(1_001)),
    );
    let mut stored = Vec::new();
    for space in [&a, &b] {
        let tree = space
            .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
            .unwrap();
        tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap();
        stored.push(tree.get("c1").unwrap());
    }
    assert_ne!(stored[0].added, stored[1].added);
    assert_eq!(stored[0], stored[1]);
    let mut other = stored[0].clone();
    other.raw_change = bytes::Bytes::from_static(b"other bytes");
    assert_ne!(stored[0], other, "every other field still counts");
}

#[test]
fn get_state_returns_the_state_itself() {
    let space = Space::in_memory();
    space.create_space(space_payload("s.1")).unwrap();
    let state: spacestore::State = space.state_storage().unwrap().get_state();
    assert_eq!(state.space_id, "s.1");
}

#[test]
fn the_acl_list_reads_as_an_iterator_like_every_other_range() {
    let space = Space::in_memory();
    space.create_space(space_payload("s.1")).unwrap();
    let acl = space.acl_storage().unwrap();
    acl.add_all([spacestore::AclRecord::new("r1", "acl", 7, b"x".to_vec())])
        .unwrap();
    let mut orders = Vec::new();
    for record in acl.records_after_order(0) {
        orders.push(record.order);
    }
    assert_eq!(orders.last(), Some(&7));
    assert_eq!(
        acl.records_before_order(6).count() + acl.records_after_order(7).count(),
        orders.len()
    );
}
