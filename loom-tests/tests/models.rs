//! loom models of spacestore's concurrency, over the project's own code (the counter, the
//! index, the commit and publish path, the group commit), compiled with `--cfg loom` so that
//! every lock and atomic in `spacestore::sync` is loom's.
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p loom-tests --release`. The preemption bound is 3 unless
//! `LOOM_MAX_PREEMPTIONS` says otherwise (DESIGN.md, "Model checking").
#![cfg(loom)]

use std::collections::BTreeSet;
use std::sync::Arc;

use loom::thread;
use spacestore::{
    AddSeqCounter, Durability, Error, HeadEntry, HeadUpdate, Options, Space, StorageChange,
    TreeRoot,
};
use spacestore_test_kit::simfs::{Fault, Op, SimFs, EIO};

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

fn change(id: &str) -> StorageChange {
    StorageChange::new(id, id, b"x".to_vec())
}

fn root(id: &str) -> TreeRoot {
    TreeRoot::new(id, b"r".to_vec())
}

const NO_HEADS: spacestore::Heads = spacestore::Heads::Unchanged;

/// Model 1: batches from different trees on one shared counter get distinct seqs, all changes
/// of a batch share theirs, and the counter ends at the number of batches.
#[test]
fn batches_on_different_trees_get_distinct_seqs() {
    model(|| {
        let space = Space::in_memory();
        let a = space.create_tree_storage(root("a")).unwrap();
        let b = space.create_tree_storage(root("b")).unwrap();
        let t = thread::spawn(move || {
            a.add_all(vec![change("a1"), change("a2")], NO_HEADS, "a")
                .unwrap()
        });
        let sb = b.add_all(vec![change("b1")], NO_HEADS, "b").unwrap();
        let sa = t.join().unwrap();
        assert_ne!(sa, sb);
        assert_eq!(space.add_seq(), 2);
        let all = space
            .changes_after_add_seq(0)
            .map(StorageChange::from)
            .collect::<Vec<_>>();
        let of = |id: &str| all.iter().find(|c| c.id == id).unwrap().add_seq;
        assert_eq!(of("a1"), sa);
        assert_eq!(of("a2"), sa);
        assert_eq!(of("b1"), sb);
    });
}

/// Model 2: `add_all_no_error` racing on the same change id: one insert wins, the other skips
/// it, and the counter still moves for each batch.
#[test]
fn add_all_no_error_racing_on_one_id_inserts_it_once() {
    model(|| {
        let space = Space::in_memory();
        let a = space.create_tree_storage(root("a")).unwrap();
        let b = space.create_tree_storage(root("b")).unwrap();
        let t = thread::spawn(move || {
            a.add_all_no_error(vec![change("same")], NO_HEADS, "a")
                .unwrap()
        });
        let ob = b
            .add_all_no_error(vec![change("same")], NO_HEADS, "b")
            .unwrap();
        let oa = t.join().unwrap();
        assert_eq!(oa.inserted.len() + ob.inserted.len(), 1);
        assert_eq!(oa.skipped.len() + ob.skipped.len(), 1);
        assert_ne!(oa.add_seq, ob.add_seq);
        assert_eq!(space.add_seq(), 2);
        assert_eq!(space.changes_after_add_seq(0).count(), 1);
    });
}

/// The seqs a reader saw must be closed downwards within what eventually became visible: it
/// never saw `s` while a smaller seq that later became visible was still invisible.
fn assert_prefix(seen: &BTreeSet<u64>, all: &BTreeSet<u64>) {
    if let Some(&max) = seen.iter().next_back() {
        for s in all.range(..max) {
            assert!(
                seen.contains(s),
                "reader saw seq {max} but not the earlier seq {s}"
            );
        }
    }
}

/// Model 3: cursor safety. Writers on two trees and a reader following a cursor: the reader
/// never sees seq `s` while a smaller seq that later becomes visible is still invisible.
#[test]
fn a_reader_following_the_cursor_never_skips_a_batch() {
    model(|| {
        let space = Space::in_memory();
        let a = space.create_tree_storage(root("a")).unwrap();
        let b = space.create_tree_storage(root("b")).unwrap();
        let wa = thread::spawn(move || a.add_all(vec![change("a1")], NO_HEADS, "a").unwrap());
        let wb = thread::spawn(move || b.add_all(vec![change("b1")], NO_HEADS, "b").unwrap());
        let mut cursor = 0;
        let mut seen = BTreeSet::new();
        for _ in 0..2 {
            for c in space.changes_after_add_seq(cursor).map(StorageChange::from) {
                assert!(c.add_seq > cursor);
                seen.insert(c.add_seq);
                cursor = cursor.max(c.add_seq);
            }
        }
        let all: BTreeSet<u64> = [wa.join().unwrap(), wb.join().unwrap()].into();
        assert_prefix(&seen, &all);
    });
}

/// Model 4a: a batch that fails after taking its seq (a duplicate id) leaves a gap that never
/// blocks the reader from seeing later batches.
#[test]
fn a_failed_batch_gap_never_blocks_later_batches() {
    model(|| {
        let space = Space::in_memory();
        let a = space.create_tree_storage(root("a")).unwrap();
        let b = space.create_tree_storage(root("b")).unwrap();
        // "b" is a stored id (b's root): a's batch fails after taking its seq.
        let wa = thread::spawn(move || a.add_all(vec![change("b")], NO_HEADS, "a"));
        let sb = b.add_all(vec![change("b1")], NO_HEADS, "b").unwrap();
        let seen: Vec<u64> = space
            .changes_after_add_seq(0)
            .map(|v| v.add_seq())
            .collect();
        // b's batch returned before we read, so it is visible, gap or no gap.
        assert_eq!(seen, vec![sb]);
        assert!(matches!(wa.join().unwrap(), Err(Error::DuplicateChange(_))));
        assert_eq!(space.add_seq(), 2);
    });
}

/// Model 4b: the same with an injected log error: the failed append's batch is not applied, its
/// seq stays a gap, and a later batch is visible.
#[test]
fn a_log_error_gap_never_blocks_later_batches() {
    model(|| {
        let fs = SimFs::new();
        let options = Options::default().file_system(fs.arc());
        let space = Space::create("/space", options).unwrap();
        let a = space.create_tree_storage(root("a")).unwrap();
        let b = space.create_tree_storage(root("b")).unwrap();
        // The next batch's frame (after the reservation frame) fails to append.
        space.sync().unwrap();
        let _ = a.add_all(vec![change("warm")], NO_HEADS, "a").unwrap();
        fs.fail_next(Op::Write, Fault::Error(EIO));
        let wa = thread::spawn(move || a.add_all(vec![change("a1")], NO_HEADS, "a"));
        let wb = thread::spawn(move || b.add_all(vec![change("b1")], NO_HEADS, "b"));
        let (ra, rb) = (wa.join().unwrap(), wb.join().unwrap());
        // Exactly one of the two appends failed.
        assert!(ra.is_ok() != rb.is_ok());
        let ok_seq = ra.as_ref().or(rb.as_ref()).copied().unwrap();
        let seen: Vec<u64> = space
            .changes_after_add_seq(1)
            .map(|v| v.add_seq())
            .collect();
        assert_eq!(seen, vec![ok_seq]);
    });
}

/// Model 5: two threads making the first write to the same deferred storage: the tree is
/// created once and both batches land.
#[test]
fn two_first_writes_to_one_deferred_storage_create_the_tree_once() {
    model(|| {
        let space = Space::in_memory();
        let t = Arc::new(
            space
                .create_storage_with_deferred_creation(root("t"))
                .unwrap(),
        );
        let t2 = Arc::clone(&t);
        let w = thread::spawn(move || t2.add_all(vec![change("c1")], NO_HEADS, "t").unwrap());
        let s2 = t.add_all(vec![change("c2")], NO_HEADS, "t").unwrap();
        let s1 = w.join().unwrap();
        assert_ne!(s1, s2);
        assert_eq!(space.tree_count(), 1);
        assert_eq!(
            space
                .tree_storage("t")
                .unwrap()
                .changes_after_order("")
                .count(),
            3
        );
    });
}

/// Model 6: a validation storage's batches (on a detached counter) never move the space's
/// counter while the space is written concurrently.
#[test]
fn a_detached_counter_never_moves_the_spaces() {
    model(|| {
        let space = Space::in_memory();
        let validation = Space::in_memory_with_counter(AddSeqCounter::detached());
        let a = space.create_tree_storage(root("a")).unwrap();
        let v = validation.create_tree_storage(root("v")).unwrap();
        let w = thread::spawn(move || {
            (
                v.add_all(vec![change("v1")], NO_HEADS, "v").unwrap(),
                v.add_all(vec![change("v2")], NO_HEADS, "v").unwrap(),
            )
        });
        let sa = a.add_all(vec![change("a1")], NO_HEADS, "a").unwrap();
        let (v1, v2) = w.join().unwrap();
        assert_eq!(sa, 1);
        assert_eq!((v1, v2), (1, 2));
        assert_eq!(space.add_seq(), 1);
        assert_eq!(validation.add_seq(), 2);
    });
}

/// Model 7: group commit. Two `Sync` committers: each returns only after an fsync that covers
/// its frame, each is acknowledged exactly once, and the batches are durable.
#[test]
fn sync_committers_return_only_after_a_covering_fsync() {
    model(|| {
        let fs = SimFs::new();
        let options = Options::default()
            .durability(Durability::Sync)
            .file_system(fs.arc());
        let space = Space::create("/space", options).unwrap();
        let a = space.create_tree_storage(root("a")).unwrap();
        let b = space.create_tree_storage(root("b")).unwrap();
        // Take the reservation fsync out of the way.
        a.add_all(vec![change("warm")], NO_HEADS, "a").unwrap();
        let syncs_before = fs.count(Op::Fsync);
        let fa = fs.clone();
        let wa = thread::spawn(move || {
            let seq = a.add_all(vec![change("alpha")], NO_HEADS, "a").unwrap();
            assert!(fa.durable_contains(b"alpha"), "acknowledged before durable");
            seq
        });
        let sb = b.add_all(vec![change("bravo")], NO_HEADS, "b").unwrap();
        assert!(fs.durable_contains(b"bravo"), "acknowledged before durable");
        let sa = wa.join().unwrap();
        assert_ne!(sa, sb);
        let syncs = fs.count(Op::Fsync) - syncs_before;
        assert!((1..=2).contains(&syncs), "{syncs} fsyncs for two commits");
        assert_eq!(space.changes_after_add_seq(1).count(), 2);
    });
}

/// Model 8: head observers see each effective update once, in the order readers can observe
/// them: the last entry an observer saw is the entry a reader finds at the end.
#[test]
fn observers_see_each_effective_update_once_in_commit_order() {
    model(|| {
        let space = Space::in_memory();
        let heads = space.head_storage();
        let seen: Arc<loom::sync::Mutex<Vec<HeadEntry>>> = Arc::default();
        let sink = Arc::clone(&seen);
        let _observer =
            heads.add_observer(move |e: &HeadEntry| sink.lock().unwrap().push(e.clone()));
        heads
            .update_entry(HeadUpdate::new("x").heads(["h0"]))
            .unwrap();
        let h2 = heads.clone();
        let w = thread::spawn(move || {
            h2.update_entry(HeadUpdate::new("x").heads(["h1"])).unwrap();
        });
        // Same value as the current one or as h1: effective only if it changes something.
        heads
            .update_entry(HeadUpdate::new("x").heads(["h1"]))
            .unwrap();
        w.join().unwrap();
        let seen = seen.lock().unwrap();
        // h0, then h1 exactly once: the second identical update changes nothing.
        let heads_seen: Vec<String> = seen.iter().map(|e| e.heads[0].to_string()).collect();
        assert_eq!(heads_seen, vec!["h0", "h1"]);
        assert_eq!(&heads.get_entry("x").unwrap(), seen.last().unwrap());
    });
}

/// Model 9: no lost wake-up. A subscriber that found nothing and is about to block (or blocked
/// already) is woken by a batch published at any point of its check and wait, and receives it.
#[test]
fn a_subscriber_waiting_for_the_next_batch_is_woken_by_its_publication() {
    model(|| {
        let space = Space::in_memory();
        let tree = space.create_tree_storage(root("a")).unwrap();
        let mut feed = space.subscribe(0);
        let writer = thread::spawn(move || tree.add_all(vec![change("x")], NO_HEADS, "a").unwrap());
        let batch = feed.next().expect("woken by the batch");
        assert_eq!(batch.add_seq, 1);
        assert_eq!(writer.join().unwrap(), 1);
        drop(space);
    });
}

/// Model 10: a subscriber following two writers receives every published batch once, in
/// AddSeq order, with no gap.
#[test]
fn a_subscriber_sees_every_batch_of_two_writers_once_in_order() {
    model(|| {
        let space = Space::in_memory();
        let a = space.create_tree_storage(root("a")).unwrap();
        let b = space.create_tree_storage(root("b")).unwrap();
        let mut feed = space.subscribe(0);
        let wa = thread::spawn(move || a.add_all(vec![change("a1")], NO_HEADS, "a").unwrap());
        let wb = thread::spawn(move || b.add_all(vec![change("b1")], NO_HEADS, "b").unwrap());
        let first = feed.next().expect("a batch");
        let second = feed.next().expect("a batch");
        assert_eq!((first.add_seq, second.add_seq), (1, 2));
        let mut seqs = [wa.join().unwrap(), wb.join().unwrap()];
        seqs.sort_unstable();
        assert_eq!(seqs, [1, 2]);
        assert!(feed.try_next().is_none());
    });
}

/// Model 11: a cursor ack racing a checkpoint is kept. Under `Sync`, one thread acknowledges a
/// batch on a named cursor while another checkpoints (which rewrites the live state, cursors
/// included, and removes the old segments): whichever comes first, the acknowledged position
/// survives a power cut that drops everything not synced, and the one after it too.
#[test]
fn a_cursor_ack_racing_a_checkpoint_is_kept() {
    use spacestore_test_kit::simfs::{Rng, Tear};
    model(|| {
        let fs = SimFs::new();
        let options = || {
            Options::default()
                .durability(Durability::Sync)
                .file_system(fs.arc())
        };
        let space = Space::create("/space", options()).unwrap();
        let tree = space.create_tree_storage(root("a")).unwrap();
        tree.add_all(vec![change("a1")], NO_HEADS, "a").unwrap();
        let cursor = space.cursor("consumer").unwrap();
        let acker = thread::spawn(move || cursor.ack(1).unwrap());
        space.checkpoint().unwrap();
        acker.join().unwrap();
        assert_eq!(space.cursors(), vec![("consumer".into(), 1)]);
        fs.cut_power();
        drop(tree);
        drop(space);
        let fs = fs.reboot(Tear::DropUnsynced, &mut Rng::new(1));
        let options = Options::default()
            .durability(Durability::Sync)
            .file_system(fs.arc());
        let space = Space::create("/space", options).unwrap();
        assert_eq!(space.cursors(), vec![("consumer".into(), 1)]);
    });
}

/// Polls `feed` as a `Stream` to its next item under `loom::future::block_on`, whose waker
/// parks and unparks through loom: a lost wake-up is a deadlock that loom reports.
fn block_on_next(feed: &mut spacestore::Subscription) -> Option<spacestore::Batch> {
    use futures_core::Stream;
    loom::future::block_on(std::future::poll_fn(|cx| {
        std::pin::Pin::new(&mut *feed).poll_next(cx)
    }))
}

/// Model 12a: no lost wake-up for an async subscriber. A subscription polled as a `Stream`
/// that found nothing registers its waker and re-checks; a batch published at any point of its
/// poll wakes it (or is seen by the re-check), and it receives the batch.
#[test]
fn an_async_subscriber_is_woken_by_the_publication_of_the_next_batch() {
    model(|| {
        let space = Space::in_memory();
        let tree = space.create_tree_storage(root("a")).unwrap();
        let mut feed = space.subscribe(0);
        let writer = thread::spawn(move || tree.add_all(vec![change("x")], NO_HEADS, "a").unwrap());
        let batch = block_on_next(&mut feed).expect("woken by the batch");
        assert_eq!(batch.add_seq, 1);
        assert_eq!(writer.join().unwrap(), 1);
        drop(feed); // removes its waker, if still registered
        drop(space);
    });
}

/// Model 12b: the close wakes an async subscriber. The last handle of the space is dropped on
/// another thread at any point of the subscription's poll: the stream ends (`None`).
#[test]
fn an_async_subscriber_is_woken_by_the_close_of_its_space() {
    model(|| {
        let space = Space::in_memory();
        let mut feed = space.subscribe(0);
        let closer = thread::spawn(move || drop(space));
        assert!(block_on_next(&mut feed).is_none(), "ended by the close");
        closer.join().unwrap();
    });
}

/// Model 13: durable subscriptions. In a `Buffered` space a writer commits two batches while a
/// syncing thread syncs the log (once while the writer runs, and once more after it), and a
/// subscriber follows the feed, blocking for each batch: no batch is delivered before a sync
/// that covers it (checked against the durable bytes of `SimFs` at delivery), and after the
/// final sync the subscriber receives every batch (a wake-up lost on the durable watermark's
/// move is a deadlock loom reports).
#[test]
fn a_durable_subscriber_gets_each_batch_once_synced_and_none_before() {
    model(|| {
        let fs = SimFs::new();
        let options = Options::default()
            .durability(Durability::Buffered)
            .auto_checkpoint(None, 0)
            .bytes_per_sync(None)
            .file_system(fs.arc());
        let space = Space::create("/space", options).unwrap();
        let tree = space.create_tree_storage(root("a")).unwrap();
        // Take the reservation fsync out of the way.
        tree.add_all(vec![change("warm")], NO_HEADS, "a").unwrap();
        let mut feed = space.subscribe(1);
        let writer = thread::spawn(move || {
            for id in ["x1", "x2"] {
                tree.add_all(vec![change(id)], NO_HEADS, "a").unwrap();
            }
        });
        let syncing = space.clone();
        let syncer = thread::spawn(move || {
            syncing.sync().unwrap();
            writer.join().unwrap();
            syncing.sync().unwrap(); // the final sync: covers both batches
        });
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let batch = feed
                .next()
                .expect("woken by the sync that covers the batch");
            let id = batch.changes[0].id.to_string();
            assert!(
                fs.durable_contains(id.as_bytes()),
                "batch {} ({id}) delivered before a sync covered it",
                batch.add_seq
            );
            seen.push(batch.add_seq);
        }
        assert_eq!(seen, [2, 3]);
        syncer.join().unwrap();
        drop(feed);
        drop(space);
    });
}
