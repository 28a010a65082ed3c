//! spacestore as a test double: a sync routine under test (here a toy one that copies to a peer
//! every change the peer has not seen, following an AddSeq cursor) runs against two in-memory
//! spaces with any-sync's storage behaviour, no files, no mocks; on the test's own clock; with
//! a fork to explore two futures of the same state, and a fixture to start the next test from.
//!
//! `cargo run --example test_double`

use std::sync::Arc;

use spacestore::{FixedClock, Heads, Options, Space, StorageChange, TreeRoot};

/// The routine under test: copies every batch of `from` above `cursor` into `to` (creating
/// trees it lacks), and returns the new cursor.
fn push_changes(from: &Space, to: &Space, cursor: u64) -> spacestore::Result<u64> {
    let mut at = cursor;
    for batch in from.batches_after(cursor, usize::MAX) {
        let tree = match to.tree_storage(&batch.tree_id) {
            Ok(tree) => tree,
            Err(_) => to.create_tree_storage(TreeRoot::new(
                batch.tree_id.clone(),
                from.tree_storage(&batch.tree_id)?.root().raw_change,
            ))?,
        };
        let heads = from.head_storage().get_entry(&batch.tree_id)?.heads;
        let changes: Vec<StorageChange> = batch.changes;
        // The peer may have some already: skip them instead of failing.
        tree.add_all_no_error(changes, Heads::Set(heads), batch.tree_id.clone())?;
        at = batch.add_seq;
    }
    Ok(at)
}

fn main() -> spacestore::Result<()> {
    // The test's own time: every `added` is the same in every run.
    let clock = || Options::default().clock(Arc::new(FixedClock(1_700_000_000)));
    let local = Space::in_memory_with(clock());
    let peer = Space::in_memory_with(clock());
    let tree = local.create_tree_storage(TreeRoot::new("doc", b"root".to_vec()))?;
    tree.add_all(
        vec![StorageChange::new("a", "1", b"a".to_vec())],
        ["a"],
        "doc",
    )?;
    let cursor = push_changes(&local, &peer, 0)?;
    tree.add_all(
        vec![StorageChange::new("b", "2", b"b".to_vec())],
        ["b"],
        "doc",
    )?;
    let cursor = push_changes(&local, &peer, cursor)?;
    // What a test of the routine asserts: the peer holds both changes, the heads, the cursor.
    let copied = peer.tree_storage("doc")?;
    assert!(copied.has("a") && copied.has("b"));
    assert_eq!(copied.heads()?, vec!["b"]);
    assert_eq!(cursor, local.add_seq());
    assert_eq!(
        push_changes(&local, &peer, cursor)?,
        cursor,
        "nothing new to push"
    );
    assert_eq!(copied.get("b")?.added, 1_700_000_000);

    // Two futures of the same state: the local peer gets "c" in one, "d" in the other; a fork
    // is an in-memory copy (sharing the changes' bytes), independent both ways.
    let (with_c, with_d) = (local.fork(), local.fork());
    for (space, id) in [(&with_c, "c"), (&with_d, "d")] {
        space.tree_storage("doc")?.add_all(
            vec![StorageChange::new(id, "3", id.as_bytes().to_vec())],
            [id],
            "doc",
        )?;
        let peer = peer.fork();
        assert_eq!(push_changes(space, &peer, cursor)?, cursor + 1);
        assert!(peer.tree_storage("doc")?.has(id));
    }
    assert!(!local.tree_storage("doc")?.has("c") && !local.tree_storage("doc")?.has("d"));

    // A fixture: the peer's state as one file (checked in, in a real suite), and a new space
    // from it, where the next test starts.
    let mut fixture = Vec::new();
    peer.export(&mut fixture)?;
    let restored = Space::import(fixture.as_slice(), clock())?;
    assert_eq!(restored.tree_storage("doc")?.heads()?, vec!["b"]);
    assert_eq!(restored.add_seq(), peer.add_seq());

    println!(
        "the routine copied {} changes; cursor {cursor}; two forks took one change each; a fixture of {} bytes restored the peer",
        peer.change_count() - 1,
        fixture.len()
    );
    Ok(())
}
