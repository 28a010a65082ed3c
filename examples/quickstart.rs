//! Quickstart: writers add batches to several trees of one space while a consumer follows an
//! AddSeq cursor and receives every change exactly once.

use std::ops::ControlFlow;
use std::thread;

use spacestore::{Space, StorageChange, TreeRoot};

fn main() -> Result<(), spacestore::Error> {
    let space = Space::in_memory();
    let trees = ["notes", "tasks", "chat"];
    for id in trees {
        space.create_tree_storage(TreeRoot::new(id, format!("root of {id}").into_bytes()))?;
    }

    // Three writers, one per tree, each adding 5 batches of 2 changes.
    let writers: Vec<_> = trees
        .iter()
        .map(|&id| {
            let tree = space.tree_storage(id).expect("tree was just created");
            thread::spawn(move || -> Result<(), spacestore::Error> {
                for batch in 0..5 {
                    let changes = (0..2)
                        .map(|i| {
                            let n = batch * 2 + i;
                            StorageChange::new(
                                format!("{id}-{n}"),
                                format!("{n:04}"),
                                vec![0u8; 256],
                            )
                        })
                        .collect();
                    let head = format!("{id}-{}", batch * 2 + 1);
                    tree.add_all(changes, [head], id)?;
                }
                Ok(())
            })
        })
        .collect();

    // The consumer: remembers the last AddSeq it processed and asks only for newer changes.
    let mut cursor = 0u64;
    let mut received = 0usize;
    loop {
        let done = writers.iter().all(|w| w.is_finished());
        space.changes_after_add_seq(cursor, |change| {
            println!(
                "seq {:>2}  tree {:<6} change {:<9} order {}",
                change.add_seq, change.tree_id, change.id, change.order_id
            );
            cursor = change.add_seq;
            received += 1;
            Ok::<_, spacestore::Error>(ControlFlow::Continue(()))
        })?;
        if done {
            break;
        }
        thread::yield_now();
    }
    for w in writers {
        w.join().expect("writer panicked")?;
    }
    space.changes_after_add_seq(cursor, |_| {
        received += 1;
        Ok::<_, spacestore::Error>(ControlFlow::Continue(()))
    })?;

    println!(
        "received {received} changes from {} trees; cursor = {cursor}, space AddSeq = {}",
        trees.len(),
        space.add_seq()
    );
    Ok(())
}
