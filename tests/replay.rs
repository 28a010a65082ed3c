//! Replay reads what was written, whichever way it runs: a log of a few hundred KB on one
//! thread, a log of several MiB decoded on a second thread while this one applies, from a log
//! and from a checkpoint (whose batches come tree by tree, not in AddSeq order).

mod common;

use common::{change, root, visible_state as state};
use spacestore::{Options, Space, StorageChange};

/// Writes `batches` batches of 4 changes of 256 B over 20 trees, deleting two trees on the way.
fn write(space: &Space, batches: usize) {
    let trees: Vec<_> = (0..20)
        .map(|t| {
            space
                .create_tree_storage(root(&format!("tree{t}")))
                .unwrap()
        })
        .collect();
    let mut deleted = Vec::new();
    for b in 0..batches {
        if deleted.contains(&(b % trees.len())) {
            continue;
        }
        let tree = &trees[b % trees.len()];
        let changes: Vec<StorageChange> = (0..4)
            .map(|c| change(&format!("c{b}.{c}"), &format!("{:08}.{c}", b)))
            .collect();
        let head = format!("c{b}.3");
        tree.add_all(changes, [head.as_str()], tree.id().clone())
            .unwrap();
        if b == batches / 3 || b == batches / 2 {
            let doomed = (b + 1) % trees.len();
            trees[doomed].delete().unwrap();
            deleted.push(doomed);
        }
    }
}

fn replays_as_written(batches: usize, checkpoint: bool) {
    let dir = tempfile::tempdir().unwrap();
    let space = Space::create(dir.path(), Options::default().auto_checkpoint(None, 0)).unwrap();
    write(&space, batches);
    if checkpoint {
        space.checkpoint().unwrap().expect("a checkpoint");
    }
    let before = state(&space);
    space.close().unwrap();
    let space = Space::open(dir.path(), Options::default()).unwrap();
    let report = space.recovery_report().unwrap();
    assert!(batches < 1000 || report.bytes_read > 4 << 20, "{report:?}");
    assert_eq!(state(&space), before);
}

#[test]
fn a_small_log_replays_to_the_state_it_was_written_in() {
    replays_as_written(200, false);
}

#[test]
fn a_log_of_several_mebibytes_replays_to_the_state_it_was_written_in() {
    replays_as_written(5000, false);
}

#[test]
fn a_checkpoint_of_several_mebibytes_replays_to_the_state_it_was_written_in() {
    replays_as_written(5000, true);
}
