//! An embedded peer: a `Sync` space in a directory, two writer threads adding batches to their
//! own trees, and a consumer thread following the feed from a named cursor; the peer stops, a
//! new process would restart it, and the consumer carries on from its cursor without missing a
//! batch or seeing one twice.
//!
//! `cargo run --example embedded_peer`

use std::collections::BTreeSet;
use std::thread;

use spacestore::{Durability, Options, Space, StorageChange, TreeRoot};

const BATCHES: u64 = 200;

/// Runs the writers and the consumer once; returns the AddSeqs the consumer processed.
fn run(space: &Space, round: u64) -> spacestore::Result<Vec<u64>> {
    let writers: Vec<_> = ["left", "right"]
        .into_iter()
        .map(|name| {
            let space = space.clone();
            thread::spawn(move || -> spacestore::Result<()> {
                let tree = match space.tree_storage(name) {
                    Ok(tree) => tree,
                    Err(_) => space.create_tree_storage(TreeRoot::new(name, b"root".to_vec()))?,
                };
                for i in 0..BATCHES {
                    let id = format!("{name}-{round}-{i}");
                    let change =
                        StorageChange::new(id.as_str(), format!("{round:04}{i:06}"), vec![7u8; 64]);
                    tree.add_all(vec![change], [id.as_str()], name)?;
                }
                Ok(())
            })
        })
        .collect();
    let consumer = {
        let space = space.clone();
        thread::spawn(move || -> spacestore::Result<Vec<u64>> {
            let cursor = space.cursor("consumer")?;
            let mut feed = space.subscribe_cursor(&cursor);
            let mut seen = Vec::new();
            // Until both writers' batches of this round are in: 2 * BATCHES (the feed blocks
            // for each; it would end early only if the space closed).
            for batch in feed.by_ref().take(2 * BATCHES as usize) {
                seen.push(batch.add_seq);
                cursor.ack(batch.add_seq)?;
            }
            Ok(seen)
        })
    };
    for w in writers {
        w.join().expect("writer")?;
    }
    consumer.join().expect("consumer")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let options = || Options::default().durability(Durability::Sync);
    let mut all = Vec::new();
    for round in 0..2 {
        // Round 1 is the restarted peer: the space is reopened from its log.
        let space = Space::create(dir.path(), options())?;
        let seen = run(&space, round)?;
        println!(
            "round {round}: consumer processed {} batches, AddSeq {}..={}",
            seen.len(),
            seen.first().unwrap(),
            seen.last().unwrap()
        );
        all.extend(seen);
        space.close()?;
    }
    let distinct: BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(distinct.len(), all.len(), "no batch twice");
    assert_eq!(all.len() as u64, 4 * BATCHES, "no batch missed");
    assert!(all.windows(2).all(|w| w[0] < w[1]), "in AddSeq order");
    Ok(())
}
