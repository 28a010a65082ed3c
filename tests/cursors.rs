//! Durable named cursors: a consumer's position in the feed, kept in the space.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use spacestore::{Durability, Error, Options, Recovery, Space};

/// Writes `n` one-change batches to tree `t` (created when missing); returns their seqs.
fn batches(space: &Space, n: usize) -> Vec<u64> {
    let tree = space
        .tree_storage("t")
        .or_else(|_| space.create_tree_storage(root("t")))
        .unwrap();
    let base = space.change_count();
    (0..n)
        .map(|i| {
            let id = format!("c{}", base + i);
            tree.add_all(vec![change(&id, &id)], [id.as_str()], "t")
                .unwrap()
        })
        .collect()
}

fn open(dir: &Path, durability: Durability) -> Space {
    Space::create(dir, Options::default().durability(durability)).unwrap()
}

#[test]
fn a_new_cursor_starts_at_zero_and_is_listed() {
    let space = Space::in_memory();
    let cursor = space.cursor("indexer").unwrap();
    assert_eq!(cursor.get(), 0);
    assert_eq!(cursor.name(), "indexer");
    assert_eq!(space.cursors(), vec![("indexer".into(), 0)]);
}

#[test]
fn an_ack_moves_the_cursor_forward() {
    let space = Space::in_memory();
    let seqs = batches(&space, 3);
    let cursor = space.cursor("indexer").unwrap();
    cursor.ack(seqs[1]).unwrap();
    assert_eq!(cursor.get(), seqs[1]);
    cursor.ack(seqs[1]).unwrap();
    assert_eq!(cursor.get(), seqs[1]);
    cursor.ack(seqs[2]).unwrap();
    assert_eq!(space.cursors(), vec![("indexer".into(), seqs[2])]);
}

#[test]
fn an_ack_below_the_position_is_cursor_backwards_and_changes_nothing() {
    let space = Space::in_memory();
    batches(&space, 3);
    let cursor = space.cursor("indexer").unwrap();
    cursor.ack(3).unwrap();
    match cursor.ack(2) {
        Err(Error::CursorBackwards {
            name,
            position,
            requested,
        }) => assert_eq!((name.as_str(), position, requested), ("indexer", 3, 2)),
        other => panic!("expected CursorBackwards, got {other:?}"),
    }
    assert_eq!(cursor.get(), 3);
}

#[test]
fn an_ack_above_the_counter_is_refused() {
    let space = Space::in_memory();
    batches(&space, 2);
    let cursor = space.cursor("indexer").unwrap();
    match cursor.ack(3) {
        Err(Error::CursorAhead {
            requested, add_seq, ..
        }) => assert_eq!((requested, add_seq), (3, 2)),
        other => panic!("expected CursorAhead, got {other:?}"),
    }
    assert!(matches!(cursor.reset(3), Err(Error::CursorAhead { .. })));
    assert_eq!(cursor.get(), 0);
}

#[test]
fn reset_moves_the_cursor_back() {
    let space = Space::in_memory();
    batches(&space, 4);
    let cursor = space.cursor("indexer").unwrap();
    cursor.ack(4).unwrap();
    cursor.reset(1).unwrap();
    assert_eq!(cursor.get(), 1);
    cursor.ack(2).unwrap();
    assert_eq!(cursor.get(), 2);
}

#[test]
fn handles_of_one_name_share_the_position() {
    let space = Space::in_memory();
    batches(&space, 2);
    let a = space.cursor("indexer").unwrap();
    let b = space.cursor("indexer").unwrap();
    a.ack(2).unwrap();
    assert_eq!(b.get(), 2);
    assert!(matches!(b.ack(1), Err(Error::CursorBackwards { .. })));
    assert_eq!(space.cursors().len(), 1);
}

#[test]
fn cursors_are_listed_by_name() {
    let space = Space::in_memory();
    batches(&space, 2);
    space.cursor("b").unwrap().ack(2).unwrap();
    space.cursor("a").unwrap().ack(1).unwrap();
    assert_eq!(space.cursors(), vec![("a".into(), 1), ("b".into(), 2)]);
}

#[test]
fn a_deleted_cursor_is_gone_and_its_handles_cannot_ack() {
    let space = Space::in_memory();
    batches(&space, 2);
    let cursor = space.cursor("indexer").unwrap();
    cursor.ack(1).unwrap();
    assert!(space.delete_cursor("indexer").unwrap());
    assert!(!space.delete_cursor("indexer").unwrap());
    assert!(space.cursors().is_empty());
    assert_eq!(cursor.get(), 0);
    assert!(matches!(cursor.ack(2), Err(Error::UnknownCursor(_))));
    // Asking for it again makes a new one, at 0.
    assert_eq!(space.cursor("indexer").unwrap().get(), 0);
}

#[test]
fn subscribe_cursor_starts_after_the_cursors_position() {
    let space = Space::in_memory();
    let seqs = batches(&space, 3);
    let cursor = space.cursor("indexer").unwrap();
    cursor.ack(seqs[0]).unwrap();
    let mut feed = space.subscribe_cursor(&cursor);
    let got: Vec<u64> = std::iter::from_fn(|| feed.try_next())
        .map(|b| b.add_seq)
        .collect();
    assert_eq!(got, seqs[1..]);
    // Subscribing does not move the cursor.
    assert_eq!(cursor.get(), seqs[0]);
}

#[test]
fn a_cursor_survives_a_reopen_in_each_durability_mode() {
    for durability in [Durability::Buffered, Durability::Sync] {
        let dir = tempfile::tempdir().unwrap();
        {
            let space = open(dir.path(), durability);
            batches(&space, 3);
            space.cursor("indexer").unwrap().ack(2).unwrap();
            space.cursor("other").unwrap();
        }
        let space = open(dir.path(), durability);
        assert_eq!(
            space.cursors(),
            vec![("indexer".into(), 2), ("other".into(), 0)],
            "{durability:?}"
        );
        assert_eq!(space.cursor("indexer").unwrap().get(), 2);
    }
}

#[test]
fn a_reset_and_a_deletion_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let space = open(dir.path(), Durability::Buffered);
        batches(&space, 3);
        let a = space.cursor("a").unwrap();
        a.ack(3).unwrap();
        a.reset(1).unwrap();
        space.cursor("b").unwrap().ack(2).unwrap();
        space.delete_cursor("b").unwrap();
    }
    let space = open(dir.path(), Durability::Buffered);
    assert_eq!(space.cursors(), vec![("a".into(), 1)]);
}

#[test]
fn a_checkpoint_keeps_the_cursors() {
    let dir = tempfile::tempdir().unwrap();
    {
        let space = open(dir.path(), Durability::Buffered);
        batches(&space, 3);
        space.cursor("a").unwrap().ack(3).unwrap();
        space.cursor("b").unwrap().ack(1).unwrap();
        let old = spacestore_test_kit::segment_files(dir.path());
        space.checkpoint().unwrap().unwrap();
        // The segments that held the cursors' records are gone: the cursors are in the
        // checkpoint's.
        let now = spacestore_test_kit::segment_files(dir.path());
        assert!(old.iter().all(|s| !now.contains(s)), "{old:?} {now:?}");
    }
    let space = open(dir.path(), Durability::Buffered);
    assert_eq!(space.cursors(), vec![("a".into(), 3), ("b".into(), 1)]);
    // And acks after it go on from there.
    assert!(matches!(
        space.cursor("a").unwrap().ack(2),
        Err(Error::CursorBackwards { .. })
    ));
}

#[test]
fn an_in_memory_space_has_cursors_that_live_as_long_as_it() {
    let space = Space::in_memory();
    batches(&space, 2);
    space.cursor("indexer").unwrap().ack(2).unwrap();
    assert_eq!(space.cursor("indexer").unwrap().get(), 2);
    // A second in-memory space is another space: no cursors.
    assert!(Space::in_memory().cursors().is_empty());
}

#[test]
fn a_read_only_space_shows_the_cursors_and_refuses_to_move_them() {
    let dir = tempfile::tempdir().unwrap();
    let space = open(dir.path(), Durability::Buffered);
    batches(&space, 2);
    space.cursor("indexer").unwrap().ack(2).unwrap();
    let ro = Space::open_read_only(dir.path(), Options::default()).unwrap();
    assert_eq!(ro.cursors(), vec![("indexer".into(), 2)]);
    let cursor = ro.cursor("indexer").unwrap();
    assert_eq!(cursor.get(), 2);
    assert!(matches!(cursor.reset(0), Err(Error::ReadOnly)));
    assert!(matches!(ro.cursor("new"), Err(Error::ReadOnly)));
}

/// The offset of the first frame of segment file `seg` that holds `needle`.
fn first_frame_holding(seg: &Path, needle: &[u8]) -> usize {
    let bytes = fs::read(seg).unwrap();
    let starts = frame_starts(seg);
    let ends = starts.iter().skip(1).copied().chain([bytes.len()]);
    starts
        .iter()
        .zip(ends)
        .find(|&(&a, b)| bytes[a..b].windows(needle.len()).any(|w| w == needle))
        .map(|(&a, _)| a)
        .unwrap()
}

#[test]
fn a_repair_lowers_a_cursor_above_what_it_kept_and_makes_a_new_incarnation() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let space = open(dir.path(), Durability::Buffered);
        assert_eq!(batches(&space, 6), [1, 2, 3, 4, 5, 6]);
        space.cursor("end").unwrap().ack(6).unwrap();
        space.cursor("early").unwrap().ack(2).unwrap();
        // The checkpoint writes the cursors before the trees: damage to a batch leaves them.
        space.checkpoint().unwrap().unwrap();
        space.incarnation()
    };
    let seg = spacestore_test_kit::segment_files(dir.path()).remove(0);
    // Batch 4 holds change c4 (the root is change 0).
    let at = first_frame_holding(&seg, b"c4");
    let mut bytes = fs::read(&seg).unwrap();
    bytes[at + 20] ^= 0xff;
    fs::write(&seg, &bytes).unwrap();
    let space = Space::create(dir.path(), Options::default().recovery(Recovery::Repair)).unwrap();
    let repair = space.recovery_report().unwrap().repaired.clone().unwrap();
    assert_eq!(repair.offset, at as u64);
    assert_eq!(repair.kept_add_seq, 3);
    assert_eq!(*repair.seqs_maybe_gone.start(), 4);
    assert!(*repair.seqs_maybe_gone.end() >= 6);
    assert_eq!(repair.cursors_lowered, vec![("end".into(), 6)]);
    assert_eq!(
        space.cursors(),
        vec![("early".into(), 2), ("end".into(), 3)]
    );
    assert_ne!(space.incarnation(), before);
    drop(space);
    // The lowering is durable.
    let space = open(dir.path(), Durability::Buffered);
    assert_eq!(
        space.cursors(),
        vec![("early".into(), 2), ("end".into(), 3)]
    );
}
