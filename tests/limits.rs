//! The size limit of one write (`Options::max_batch_bytes`): a write too large for one frame is
//! refused before it takes a seq and before anything is logged, so nothing acknowledged is lost
//! (a frame's length is a u32: a batch over 4 GiB used to be acknowledged and then lost).

mod common;

use common::*;
use spacestore::{Error, Options, Space, StorageChange, TreeRoot};

/// A change of `len` zero bytes that are never touched (the allocator hands out zeroed pages
/// lazily), so even a 4 GiB change costs no memory.
fn huge(id: &str, len: usize) -> StorageChange {
    StorageChange::new(id, id, vec![0u8; len])
}

#[test]
fn a_batch_over_4_gib_is_refused_before_it_takes_a_seq_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    {
        let space = Space::create(dir.path(), Options::default()).unwrap();
        let tree = space.create_tree_storage(root("t")).unwrap();
        let err = tree
            .add_all(vec![huge("big", (4 << 30) + (64 << 10))], ["big"], "t")
            .unwrap_err();
        match err {
            Error::BatchTooLarge { bytes, max } => {
                assert!(bytes > 4 << 30, "{bytes}");
                assert_eq!(max, 256 << 20);
            }
            other => panic!("expected BatchTooLarge, got {other:?}"),
        }
        assert_eq!(space.add_seq(), 0, "no seq taken");
        assert_eq!(
            tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap(),
            1
        );
        assert_eq!(
            tree.add_all(vec![change("c2", "2")], ["c2"], "t").unwrap(),
            2
        );
    }
    let space = Space::create(dir.path(), Options::default()).unwrap();
    let tree = space.tree_storage("t").unwrap();
    assert_eq!(ids(&tree.collect_after_add_seq(0)), ["c1", "c2"]);
    assert!(!tree.has("big"));
}

#[test]
fn a_batch_whose_frame_is_at_the_limit_is_kept_and_one_byte_more_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let max = 64 << 10;
    let options = Options::default().max_batch_bytes(max);
    let space = Space::create(dir.path(), options.clone()).unwrap();
    let tree = space.create_tree_storage(root("t")).unwrap();
    // Find the raw size whose frame is exactly `max`: a too-large attempt says its size.
    let over = match tree.add_all(vec![huge("x", max as usize)], ["x"], "t") {
        Err(Error::BatchTooLarge { bytes, .. }) => bytes - max,
        other => panic!("expected BatchTooLarge, got {other:?}"),
    };
    let fits = max as usize - over as usize;
    match tree.add_all(vec![huge("x", fits + 1)], ["x"], "t") {
        Err(Error::BatchTooLarge { bytes, max: m }) => assert_eq!((bytes, m), (max + 1, max)),
        other => panic!("expected BatchTooLarge, got {other:?}"),
    }
    assert_eq!(space.add_seq(), 0);
    assert_eq!(tree.add_all(vec![huge("x", fits)], ["x"], "t").unwrap(), 1);
    drop((tree, space));
    let space = Space::create(dir.path(), options).unwrap();
    assert_eq!(
        space
            .tree_storage("t")
            .unwrap()
            .get("x")
            .unwrap()
            .raw_change
            .len(),
        fits
    );
}

#[test]
fn a_root_too_large_for_one_frame_creates_no_tree() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default().max_batch_bytes(4096);
    let space = Space::create(dir.path(), options).unwrap();
    let err = space
        .create_tree_storage(TreeRoot::new("t", vec![1u8; 8192]))
        .unwrap_err();
    assert!(matches!(err, Error::BatchTooLarge { .. }), "{err:?}");
    assert!(matches!(
        space.tree_storage("t"),
        Err(Error::UnknownTree(_))
    ));
    assert_eq!(space.log_stats().unwrap().frames, 0, "nothing logged");
}

#[test]
fn an_in_memory_space_has_the_same_limit() {
    let (space, tree) = space_with_tree("t");
    let err = tree
        .add_all(vec![huge("big", 300 << 20)], ["big"], "t")
        .unwrap_err();
    assert!(matches!(err, Error::BatchTooLarge { .. }), "{err:?}");
    assert_eq!(space.add_seq(), 0);
}
