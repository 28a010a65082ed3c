//! A loom model of the relay, written as a user writes one: a writer adds two batches to the
//! source while the relay runs; once the writer is done a last relay runs; the target must hold
//! every change of the source, whatever the interleaving.
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p loom-user --release` (passes), and with `--features
//! planted-bug` (the model finds the skipped batch: the test expects its panic).
#![cfg(loom)]

use loom::thread;
use spacestore::{Heads, Space, StorageChange, TreeRoot};

fn change(id: &str) -> StorageChange {
    StorageChange::new(id, id, id.as_bytes().to_vec())
}

#[test]
#[cfg_attr(
    feature = "planted-bug",
    should_panic(expected = "a batch was skipped")
)]
fn the_relay_copies_every_batch_whatever_the_interleaving() {
    let mut model = loom::model::Builder::new();
    if model.preemption_bound.is_none() {
        model.preemption_bound = Some(3);
    }
    model.check(|| {
        let source = Space::in_memory();
        let target = Space::in_memory();
        let tree = source
            .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
            .unwrap();
        tree.add_all(vec![change("c1")], Heads::Unchanged, "t")
            .unwrap();
        let cursor = source.cursor("relay").unwrap();

        let writer = thread::spawn(move || {
            tree.add_all(vec![change("c2")], Heads::Unchanged, "t")
                .unwrap();
        });
        spacestore_relay(&source, &target, &cursor);
        writer.join().unwrap();
        spacestore_relay(&source, &target, &cursor);

        let copied = target
            .tree_storage("t")
            .map_or(0, |t| t.changes_after_order("").count());
        // The root and both changes.
        assert_eq!(copied, 3, "a batch was skipped");
    });
}

fn spacestore_relay(source: &Space, target: &Space, cursor: &spacestore::Cursor) {
    loom_user::relay_once(source, target, cursor).unwrap();
}
