//! A user's sync routine, as an application would write it over spacestore: a relay that
//! copies every batch of one space into another, following the source's feed from a named
//! cursor kept in the source. `tests/relay.rs` model-checks it with loom (README, "loom for
//! users").

use spacestore::{Cursor, Id, Result, Space, TreeRoot};

/// Copies every batch of `source` above `cursor` into `target` (each into the tree of the same
/// id, created from the source tree's root when the target has none), then acknowledges the
/// cursor. Returns how many batches it copied.
///
/// # Errors
/// What the reads and writes of either space return.
pub fn relay_once(source: &Space, target: &Space, cursor: &Cursor) -> Result<usize> {
    let batches = source.batches_after(cursor.get(), usize::MAX);
    for batch in &batches {
        let tree = match target.tree_storage(&batch.tree_id) {
            Ok(tree) => tree,
            Err(_) => {
                let root: TreeRoot = source.tree_storage(&batch.tree_id)?.tree_root();
                target.create_tree_storage(root)?
            }
        };
        // The batch's last change becomes the head (a linear history, for this relay).
        let heads: Vec<Id> = batch
            .changes
            .last()
            .map(|c| c.id.clone())
            .into_iter()
            .collect();
        tree.add_all_no_error(batch.changes.clone(), heads, batch.tree_id.clone())?;
    }
    // Where the relay now stands: after the last batch it copied.
    #[cfg(not(feature = "planted-bug"))]
    let done = batches.last().map(|b| b.add_seq);
    // The planted bug: "everything the source holds", read after the copy. A batch the source
    // took in between is acknowledged without being copied.
    #[cfg(feature = "planted-bug")]
    let done = Some(source.last_add_seq()).filter(|&seq| seq > cursor.get());
    if let Some(seq) = done {
        cursor.ack(seq)?;
    }
    Ok(batches.len())
}
