//! spacestore as a test double: a sync routine under test (here a toy one that copies to a peer
//! every change the peer has not seen, following an AddSeq cursor) runs against two in-memory
//! spaces with any-sync's storage behaviour, no files, no mocks.
//!
//! `cargo run --example test_double`

use spacestore::{Heads, Space, StorageChange, TreeRoot};

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
    let local = Space::in_memory();
    let peer = Space::in_memory();
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
    println!(
        "the routine copied {} changes; cursor {cursor}",
        peer.change_count() - 1
    );
    Ok(())
}
