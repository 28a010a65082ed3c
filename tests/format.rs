//! Log formats: a space written by an older format version still opens (with the same state),
//! takes new writes, and is upgraded to the current format by its first checkpoint.

mod common;

use std::path::Path;

use common::*;
use spacestore::{DeletedStatus, Error, Options, Space};

/// A copy of `tests/fixtures/<name>` in a new temporary directory.
fn fixture(name: &str) -> tempfile::TempDir {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let tmp = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
    }
    tmp
}

/// The fixture's state, as its README tells it.
fn assert_v1_state(space: &Space) {
    assert_eq!(space.add_seq(), 9);
    let a = space.tree_storage("tree-a").unwrap();
    let seqs: Vec<(String, u64)> = a
        .collect_after_add_seq(0)
        .unwrap()
        .into_iter()
        .map(|c| (c.id.to_string(), c.add_seq))
        .collect();
    let want: Vec<(String, u64)> = (0..6)
        .map(|i| (format!("a{i}"), i as u64 + 1))
        .chain([("a6".to_string(), 9)])
        .collect();
    assert_eq!(seqs, want);
    assert_eq!(a.get("a3").unwrap().raw_change, b"change 3 of a".as_slice());
    assert_eq!(a.heads().unwrap(), vec!["a6"]);
    let b = space.head_storage().get_entry("tree-b").unwrap();
    assert_eq!(b.deleted_status, DeletedStatus::Queued);
    assert_eq!(b.parent_id.as_deref(), Some("tree-a"));
    assert_eq!(b.last_add_seq, Some(7));
    assert_eq!(
        ids(&space
            .tree_storage("tree-b")
            .unwrap()
            .collect_after_add_seq(0)
            .unwrap()),
        ["b0", "b1"]
    );
    assert!(matches!(
        space.tree_storage("tree-c"),
        Err(Error::UnknownTree(_))
    ));
}

#[test]
fn a_v1_space_opens_read_only_and_read_write_with_its_state() {
    let dir = fixture("v1-space");
    assert_v1_state(&Space::open_read_only(dir.path(), Options::default()).unwrap());
    assert_v1_state(&Space::open(dir.path(), Options::default()).unwrap());
}

#[test]
fn a_v1_space_takes_new_writes_and_is_upgraded_by_its_first_checkpoint() {
    let dir = fixture("v1-space");
    {
        let space = Space::open(dir.path(), Options::default()).unwrap();
        let a = space.tree_storage("tree-a").unwrap();
        assert_eq!(
            a.add_all(vec![change("a7", "0007")], ["a7"], "tree-a")
                .unwrap(),
            10
        );
    }
    {
        let space = Space::open(dir.path(), Options::default()).unwrap();
        assert_eq!(
            space
                .tree_storage("tree-a")
                .unwrap()
                .get("a7")
                .unwrap()
                .add_seq,
            10
        );
        space.checkpoint().unwrap().unwrap();
    }
    let space = Space::open(dir.path(), Options::default()).unwrap();
    let a = space.tree_storage("tree-a").unwrap();
    assert_eq!(a.get("a7").unwrap().add_seq, 10);
    assert_eq!(a.get("a0").unwrap().add_seq, 1);
    assert_eq!(space.add_seq(), 10);
    assert!(matches!(
        space.tree_storage("tree-c"),
        Err(Error::UnknownTree(_))
    ));
}
