//! A tokio service consuming the change feed as a `Stream` (the `async` feature): a blocking
//! writer task adds batches while an async task follows the feed from a named cursor.
//!
//! `cargo run --example tokio_consumer --features async`

use futures::StreamExt;
use spacestore::{Space, StorageChange, TreeRoot};

const BATCHES: u64 = 100;

#[tokio::main]
async fn main() -> spacestore::Result<()> {
    let space = Space::in_memory();
    let tree = space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
    let cursor = space.cursor("service")?;
    let mut feed = space.subscribe_cursor(&cursor);
    let writer = tokio::task::spawn_blocking(move || -> spacestore::Result<()> {
        for i in 0..BATCHES {
            let id = format!("c{i}");
            tree.add_all(
                vec![StorageChange::new(
                    id.as_str(),
                    format!("{i:06}"),
                    b"x".to_vec(),
                )],
                [id.as_str()],
                "t",
            )?;
        }
        Ok(())
    });
    let mut processed = 0;
    // `StreamExt::next` (a `Subscription` is an `Iterator` too).
    while let Some(batch) = StreamExt::next(&mut feed).await {
        cursor.ack(batch.add_seq)?;
        processed += 1;
        if processed == BATCHES {
            break;
        }
    }
    writer.await.expect("writer task")?;
    assert_eq!(cursor.get(), BATCHES);
    println!(
        "the service processed {processed} batches; cursor at {}",
        cursor.get()
    );
    Ok(())
}
