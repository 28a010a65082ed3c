//! `Space::close`: an explicit close that reports what closing failed to do, closes the space
//! for every handle, and releases the directory; dropping the last handle still closes.

mod common;

use std::time::Duration;

use common::*;
use spacestore::{Durability, Error, ErrorKind, HeadUpdate, Options, Space};
use spacestore_test_kit::simfs::workload::{self, Config};
use spacestore_test_kit::simfs::{Fault, Op, SimFs, EIO};

fn sim_config(durability: Durability) -> Config {
    Config {
        durability,
        segment_size: 1 << 20,
        reserve_ahead: 1 << 20,
        auto_checkpoint: None,
    }
}

#[test]
fn close_is_ok_and_a_restart_continues_right_above_the_last_seq() {
    let dir = tempfile::tempdir().unwrap();
    let space = Space::create(dir.path(), Options::default()).unwrap();
    let tree = space.create_tree_storage(root("t")).unwrap();
    let seq = tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap();
    drop(tree);
    space.close().unwrap();
    let space = Space::open(dir.path(), Options::default()).unwrap();
    assert_eq!(space.add_seq(), seq, "the close frame was written: no gap");
}

#[test]
fn after_close_every_handle_reads_on_and_every_write_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let space = Space::create(dir.path(), Options::default()).unwrap();
    let tree = space.create_tree_storage(root("t")).unwrap();
    tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap();
    let cursor = space.cursor("k").unwrap();
    let heads = space.head_storage();
    let other = space.clone();
    space.close().unwrap();
    assert!(tree.has("c1"));
    assert_eq!(other.changes_after_add_seq(0).count(), 1);
    let kinds = [
        tree.add_all(vec![change("c2", "2")], ["c2"], "t")
            .map(drop)
            .unwrap_err()
            .kind(),
        heads
            .update_entry(HeadUpdate::new("e").heads(["h"]))
            .map(drop)
            .unwrap_err()
            .kind(),
        cursor.ack(1).unwrap_err().kind(),
        other.sync().unwrap_err().kind(),
        other.checkpoint().map(drop).unwrap_err().kind(),
    ];
    assert_eq!(kinds, [ErrorKind::Closed; 5]);
}

#[test]
fn close_releases_the_directory_while_other_handles_live() {
    let dir = tempfile::tempdir().unwrap();
    let space = Space::create(dir.path(), Options::default()).unwrap();
    let lingering = space.create_tree_storage(root("t")).unwrap();
    space.close().unwrap();
    let again = Space::open(dir.path(), Options::default()).unwrap();
    assert!(again.tree_storage("t").is_ok());
    drop(lingering);
}

#[test]
fn close_ends_the_subscriptions() {
    let space = Space::in_memory();
    let mut sub = space.subscribe(0);
    let other = space.clone();
    other.close().unwrap();
    assert!(matches!(
        sub.next_timeout(Duration::from_secs(60)),
        Err(Error::Closed)
    ));
}

#[test]
fn close_of_a_latched_space_reports_writes_refused_and_loses_nothing() {
    for durability in [Durability::Buffered, Durability::Sync] {
        let fs = SimFs::new();
        let config = sim_config(durability);
        let space = Space::create(workload::dir(), config.options(&fs)).unwrap();
        let tree = space.create_tree_storage(root("t")).unwrap();
        tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap();
        space.sync().unwrap();
        fs.fail_next(Op::Fsync, Fault::Error(EIO));
        // Sync: the batch's own fsync fails; Buffered: the sync after it.
        let added = tree.add_all(vec![change("c2", "2")], ["c2"], "t");
        assert!(added.is_err() || space.sync().is_err(), "{durability:?}");
        assert!(space.writes_refused().is_some(), "{durability:?}");
        let closed = space.close();
        assert!(
            matches!(closed, Err(Error::WritesRefused(_))),
            "{durability:?}: {closed:?}"
        );
        drop(tree);
        let space = Space::create(workload::dir(), config.options(&fs)).unwrap();
        assert!(space.tree_storage("t").unwrap().has("c1"), "{durability:?}");
    }
}

#[test]
fn a_close_frame_that_cannot_be_written_is_reported_and_loses_nothing() {
    for durability in [Durability::Buffered, Durability::Sync] {
        let fs = SimFs::new();
        let config = sim_config(durability);
        let space = Space::create(workload::dir(), config.options(&fs)).unwrap();
        let tree = space.create_tree_storage(root("t")).unwrap();
        let seq = tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap();
        drop(tree);
        fs.fail_next(Op::Write, Fault::Error(EIO));
        let closed = space.close();
        assert!(
            matches!(closed, Err(Error::Io { .. })),
            "{durability:?}: {closed:?}"
        );
        let space = Space::create(workload::dir(), config.options(&fs)).unwrap();
        assert_eq!(
            space.tree_storage("t").unwrap().get("c1").unwrap().add_seq,
            seq
        );
        assert!(space.add_seq() >= seq);
    }
}
