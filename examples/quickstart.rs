//! Quickstart: writers add batches to several trees of a space kept in a data directory while a
//! consumer follows an AddSeq cursor; then the space is closed and reopened, and the consumer
//! carries on from its cursor. Run it twice: the second run replays the first run's log and
//! continues the counter above it.
//!
//! `cargo run --release --example quickstart [DIR]` (default `./spacestore-data`).

use std::thread;

use spacestore::{Error, Options, Space, StorageChange, TreeRoot, TreeStorage};

const TREES: [&str; 3] = ["notes", "tasks", "chat"];

fn tree(space: &Space, id: &str) -> Result<TreeStorage, Error> {
    match space.tree_storage(id) {
        Err(Error::UnknownTree(_)) => {
            space.create_tree_storage(TreeRoot::new(id, format!("root of {id}").into_bytes()))
        }
        other => other,
    }
}

/// Three writers, one per tree, each adding `batches` batches of 2 changes, while the consumer
/// follows the cursor. Returns the new cursor and how many changes the consumer received.
fn write_and_follow(space: &Space, mut cursor: u64, batches: u64) -> Result<(u64, usize), Error> {
    let run = space.add_seq();
    let writers: Vec<_> = TREES
        .iter()
        .map(|&id| {
            let tree = tree(space, id)?;
            Ok(thread::spawn(move || -> Result<(), Error> {
                for batch in 0..batches {
                    let changes = (0..2)
                        .map(|i| {
                            let n = format!("{run:08}-{batch:04}-{i}");
                            StorageChange::new(format!("{id}-{n}"), n, vec![0u8; 256])
                        })
                        .collect();
                    tree.add_all(changes, [] as [&str; 0], id)?;
                }
                Ok(())
            }))
        })
        .collect::<Result<_, Error>>()?;
    // Follow with a subscription: the backlog above the cursor, then each batch as it is
    // published (no polling). 3 trees x `batches` batches are coming.
    let mut feed = space.subscribe(cursor);
    let mut received = 0;
    for _ in 0..3 * batches {
        let batch = feed
            .next_timeout(std::time::Duration::from_secs(60))?
            .expect("a batch within a minute");
        cursor = batch.add_seq;
        received += batch.changes.len();
    }
    for w in writers {
        w.join().expect("writer panicked")?;
    }
    Ok((cursor, received))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "spacestore-data".into());

    let space = Space::open(&dir, Options::default())?;
    let report = space
        .recovery_report()
        .expect("an on-disk space has a report");
    println!(
        "opened {dir}: {} changes in {} trees replayed from {} frames in {:.1?}; AddSeq {}",
        space.change_count(),
        space.tree_count(),
        report.frames,
        report.duration,
        space.add_seq()
    );
    // A consumer that starts now only wants what is added from here on.
    let cursor = space.add_seq();
    let (cursor, received) = write_and_follow(&space, cursor, 5)?;
    println!("consumer received {received} changes; cursor = {cursor}");
    drop(space);

    let space = Space::open(&dir, Options::default())?;
    println!(
        "reopened: AddSeq {} (restarts above every seq ever handed out), replay took {:.1?}",
        space.add_seq(),
        space
            .recovery_report()
            .map(|r| r.duration)
            .unwrap_or_default()
    );
    let before = space.collect_changes_after_add_seq(cursor).len();
    let (cursor, received) = write_and_follow(&space, cursor, 5)?;
    println!(
        "after the restart: {before} changes above the old cursor before writing; consumer \
         received {received} new changes; cursor = {cursor}"
    );
    Ok(())
}
