//! The crate in one page: a space in a directory, trees, batches with their AddSeq, a consumer
//! that follows the feed with a named cursor, a restart, and the consumer carrying on.
//!
//! `cargo run --example quickstart`

use spacestore::{Options, Space, StorageChange, TreeRoot};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    {
        let space = Space::create(dir.path(), Options::default())?;
        let notes = space.create_tree_storage(TreeRoot::new("notes", b"root".to_vec()))?;
        let seq = notes.add_all(
            vec![
                StorageChange::new("n1", "0001", b"first".to_vec()),
                StorageChange::new("n2", "0002", b"second".to_vec()).with_prev_ids(["n1"]),
            ],
            ["n2"],
            "notes",
        )?;
        println!("batch of 2 changes stored with AddSeq {seq}");
        // A subscription delivers only durable batches: in a `Buffered` space, once synced.
        space.sync()?;

        // A consumer processes what is there and remembers where it stopped, in the space.
        let cursor = space.cursor("indexer")?;
        let mut feed = space.subscribe_cursor(&cursor);
        while let Some(batch) = feed.try_next() {
            println!("indexer: batch {} of tree {}", batch.add_seq, batch.tree_id);
            cursor.ack(batch.add_seq)?;
        }
        notes.add_all(
            vec![StorageChange::new("n3", "0003", b"third".to_vec())],
            ["n3"],
            "notes",
        )?;
        space.close()?;
    }
    // After a restart the consumer gets exactly what it has not processed yet.
    let space = Space::open(dir.path(), Options::default())?;
    let cursor = space.cursor("indexer")?;
    let next = space
        .subscribe_cursor(&cursor)
        .try_next()
        .expect("the batch written last");
    println!(
        "after the restart: batch {} holds {}",
        next.add_seq, next.changes[0].id
    );
    assert_eq!(next.changes[0].id, "n3");
    cursor.ack(next.add_seq)?;
    Ok(())
}
