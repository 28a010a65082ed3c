//! The feed shows only what a crash cannot take back: a subscription (the default) delivers a
//! batch once it is durable. In a `Buffered` space, once a sync of the log covers it (an
//! explicit sync, a background sync, a checkpoint); in a `Sync` or in-memory space, at once.
//! `Subscription::including_unsynced` keeps the eager feed. On the simulated file system, so
//! that a power cut drops exactly what was not synced. Timeouts here are hang guards only.

mod common;

use std::time::Duration;

use common::*;
use spacestore::{Durability, Options, Space, TreeStorage};
use spacestore_test_kit::simfs::workload;
use spacestore_test_kit::simfs::{Rng, SimFs, Tear};

/// How long a test may hang before it fails (a guard, never a synchronisation).
const HANG_GUARD: Duration = Duration::from_secs(120);

/// A space on `fs` with `durability`, every file-system call on the calling thread.
fn options(fs: &SimFs, durability: Durability) -> Options {
    Options::default()
        .durability(durability)
        .auto_checkpoint(None, 0)
        .background_checkpoints(false)
        .bytes_per_sync(None)
        .file_system(fs.arc())
}

/// A space on `fs` with `durability` and tree "t", its first seqs reserved already.
fn space_on(fs: &SimFs, durability: Durability) -> (Space, TreeStorage) {
    let space = Space::create(workload::dir(), options(fs, durability)).unwrap();
    let tree = space.create_tree_storage(root("t")).unwrap();
    (space, tree)
}

/// Adds one batch of one change `id` to `tree`; returns its AddSeq.
fn add(tree: &TreeStorage, id: &str) -> u64 {
    tree.add_all(vec![change(id, id)], NO_HEADS, "t").unwrap()
}

#[test]
fn a_subscription_delivers_only_durable_batches_by_default() {
    let space = Space::in_memory();
    assert!(space.subscribe(0).durable_only());
    assert!(space.subscribe_trees(0, ["t"]).durable_only());
    assert!(!space.subscribe(0).including_unsynced().durable_only());
}

#[test]
fn a_buffered_batch_is_not_delivered_before_a_sync_covers_it() {
    let fs = SimFs::new();
    let (space, tree) = space_on(&fs, Durability::Buffered);
    add(&tree, "c1");
    let mut feed = space.subscribe(0);
    assert!(feed.try_next().is_none(), "delivered before it was synced");
    assert_eq!(feed.position(), 0);
    assert_eq!(
        space.batches_after(0, 10).len(),
        1,
        "yet visible to readers"
    );
}

#[test]
fn a_buffered_batch_is_delivered_once_a_sync_covers_it() {
    let fs = SimFs::new();
    let (space, tree) = space_on(&fs, Durability::Buffered);
    let seq = add(&tree, "c1");
    let mut feed = space.subscribe(0);
    assert!(feed.try_next().is_none());
    space.sync().unwrap();
    assert_eq!(feed.try_next().map(|b| b.add_seq), Some(seq));
    assert!(feed.try_next().is_none());
}

#[test]
fn a_sync_delivers_exactly_the_batches_it_covers() {
    let fs = SimFs::new();
    let (space, tree) = space_on(&fs, Durability::Buffered);
    let first = add(&tree, "c1");
    space.sync().unwrap();
    let second = add(&tree, "c2");
    let mut feed = space.subscribe(0);
    assert_eq!(feed.try_next().map(|b| b.add_seq), Some(first));
    assert!(feed.try_next().is_none(), "the second batch is not synced");
    space.sync().unwrap();
    assert_eq!(feed.try_next().map(|b| b.add_seq), Some(second));
}

#[test]
fn a_durable_subscriber_waiting_in_next_is_woken_by_the_sync_that_covers_its_batch() {
    let fs = SimFs::new();
    let (space, tree) = space_on(&fs, Durability::Buffered);
    let seq = add(&tree, "c1");
    let mut feed = space.subscribe(0);
    let (ready, blocked) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        assert!(feed.try_next().is_none(), "delivered before the sync");
        ready.send(()).unwrap();
        // Blocks until the sync (whenever it lands: before or during the wait).
        feed.next_timeout(HANG_GUARD).unwrap().map(|b| b.add_seq)
    });
    if blocked.recv().is_ok() {
        space.sync().unwrap();
    }
    let woken = waiter.join().expect("nothing delivered before the sync");
    assert_eq!(woken, Some(seq), "not woken by the sync");
}

#[test]
fn a_checkpoint_delivers_the_buffered_batches_it_syncs() {
    let fs = SimFs::new();
    let (space, tree) = space_on(&fs, Durability::Buffered);
    let seq = add(&tree, "c1");
    let mut feed = space.subscribe(0);
    assert!(feed.try_next().is_none());
    space.checkpoint().unwrap();
    assert_eq!(feed.try_next().map(|b| b.add_seq), Some(seq));
}

#[test]
fn a_background_sync_wakes_a_durable_subscriber() {
    let fs = SimFs::new();
    let options = options(&fs, Durability::Buffered).bytes_per_sync(Some(1));
    let space = Space::create(workload::dir(), options).unwrap();
    let tree = space.create_tree_storage(root("t")).unwrap();
    let mut feed = space.subscribe(0);
    // Past `bytes_per_sync`: the flusher thread syncs it, and nothing else does.
    let seq = add(&tree, "c1");
    let got = feed.next_timeout(HANG_GUARD).unwrap().map(|b| b.add_seq);
    assert_eq!(got, Some(seq));
    assert!(
        fs.durable_contains(b"c1"),
        "delivered before it was durable"
    );
}

#[test]
fn a_sync_space_delivers_a_batch_to_a_durable_subscriber_at_once() {
    let fs = SimFs::new();
    let (space, tree) = space_on(&fs, Durability::Sync);
    let seq = add(&tree, "c1");
    let mut feed = space.subscribe(0);
    assert_eq!(feed.try_next().map(|b| b.add_seq), Some(seq));
}

#[test]
fn an_in_memory_space_delivers_a_batch_to_a_durable_subscriber_at_once() {
    let (space, tree) = space_with_tree("t");
    let seq = add(&tree, "c1");
    let mut feed = space.subscribe(0);
    assert_eq!(feed.try_next().map(|b| b.add_seq), Some(seq));
}

#[test]
fn the_batches_replayed_at_open_are_durable_for_a_subscriber() {
    let fs = SimFs::new();
    let (space, tree) = space_on(&fs, Durability::Buffered);
    let seq = add(&tree, "c1");
    // A process crash: what was written is replayed, and the open syncs it.
    let fs = fs.kill_process();
    drop(tree);
    drop(space);
    let space = Space::open(workload::dir(), options(&fs, Durability::Buffered)).unwrap();
    let mut feed = space.subscribe(0);
    assert_eq!(feed.try_next().map(|b| b.add_seq), Some(seq));
}

#[test]
fn including_unsynced_delivers_a_buffered_batch_before_a_sync() {
    let fs = SimFs::new();
    let (space, tree) = space_on(&fs, Durability::Buffered);
    let seq = add(&tree, "c1");
    let mut feed = space.subscribe(0).including_unsynced();
    assert_eq!(feed.try_next().map(|b| b.add_seq), Some(seq));
}

#[test]
fn a_power_cut_never_takes_back_a_batch_a_durable_subscriber_saw() {
    let fs = SimFs::new();
    let (space, tree) = space_on(&fs, Durability::Buffered);
    add(&tree, "c1");
    add(&tree, "c2");
    space.sync().unwrap();
    add(&tree, "c3");
    let mut feed = space.subscribe(0);
    let mut seen = Vec::new();
    while let Some(batch) = feed.try_next() {
        seen.push(batch.add_seq);
    }
    assert!(!seen.is_empty());
    fs.cut_power();
    drop(tree);
    drop(space);
    let fs = fs.reboot(Tear::DropUnsynced, &mut Rng::new(1));
    let space = Space::open(workload::dir(), options(&fs, Durability::Buffered)).unwrap();
    let kept: Vec<u64> = space
        .batches_after(0, usize::MAX)
        .iter()
        .map(|b| b.add_seq)
        .collect();
    for seq in seen {
        assert!(kept.contains(&seq), "batch {seq} was delivered, then lost");
    }
}

/// A roll syncs the full segment and so delivers its batches: the segment's name must be
/// durable by then too (no sync covered any of its frames before: `Buffered`, no background
/// sync), or a power cut loses batches a durable subscriber was given.
#[test]
fn batches_a_roll_delivers_survive_a_power_cut() {
    let fs = SimFs::new();
    let options = options(&fs, Durability::Buffered).segment_size(600);
    let space = Space::create(workload::dir(), options.clone()).unwrap();
    let tree = space.create_tree_storage(root("t")).unwrap();
    let mut feed = space.subscribe(0);
    let mut delivered = Vec::new();
    for i in 0..40 {
        add(&tree, &format!("c{i}"));
        while let Some(batch) = feed.try_next() {
            delivered.push(batch.changes[0].id.to_string());
        }
    }
    let segments = space.log_stats().unwrap().segment;
    assert!(segments >= 3, "no second roll: segment {segments}");
    assert!(!delivered.is_empty());
    fs.cut_power();
    let fs = fs.reboot(Tear::DropUnsynced, &mut Rng::new(1));
    drop((feed, tree, space));
    let space = Space::open(workload::dir(), options.file_system(fs.arc())).unwrap();
    let tree = space.tree_storage("t").unwrap();
    for id in &delivered {
        assert!(tree.get(id).is_ok(), "{id} was delivered, and lost");
    }
}
