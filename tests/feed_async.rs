//! The change feed as a `futures_core::Stream` (the `async` feature): a subscription polled by
//! an executor (tokio's, or `futures::executor::block_on`) catches up, goes on live, ends when
//! the space closes, and scales to many subscribers. Timeouts here are hang guards only: no
//! test waits for time to pass or sleeps to synchronise.
#![cfg(feature = "async")]

mod common;

use std::pin::Pin;
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use futures::channel::oneshot;
use futures::{FutureExt, Stream, StreamExt};
use spacestore::{Batch, Space, StorageChange, Subscription, TreeRoot, TreeStorage};

/// How long a test may hang before it fails (a guard, never a synchronisation).
const HANG_GUARD: Duration = Duration::from_secs(60);

/// Adds one batch of one change `id` to `tree`; returns its AddSeq.
fn add(tree: &TreeStorage, id: &str) -> u64 {
    tree.add_all(vec![change(id, id)], NO_HEADS, tree.id().clone())
        .unwrap()
}

/// The stream's next batch. (A `Subscription` is an `Iterator` too, so `feed.next()` would be
/// ambiguous with `StreamExt` in scope: the stream's method is called by its path.)
fn next(feed: &mut Subscription) -> futures::stream::Next<'_, Subscription> {
    StreamExt::next(feed)
}

/// `f`'s output under tokio, failing if it is not ready within the hang guard. The guard is
/// polled first (unlike `tokio::time::timeout`, which polls `f` first when its timer wakes the
/// task, so a lost wake-up would pass late instead of failing).
async fn guarded<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::select! {
        biased;
        () = tokio::time::sleep(HANG_GUARD) => panic!("{what}: not within the hang guard"),
        out = f => out,
    }
}

/// The next batch of `feed` under tokio, failing if none comes within the hang guard.
async fn next_guarded(feed: &mut Subscription) -> Option<Batch> {
    guarded("the next batch or the end", next(feed)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_tokio_a_stream_catches_up_the_backlog_then_receives_live_batches_in_order() {
    let (space, tree) = space_with_tree("t");
    for i in 0..5 {
        add(&tree, &format!("old{i}"));
    }
    let mut feed = space.subscribe(0);
    for want in 1..=5 {
        let batch = next_guarded(&mut feed).await.expect("the backlog");
        assert_eq!(batch.add_seq, want);
    }
    // Caught up: nothing is there, so a poll registers a waker and returns pending (the
    // waker is a no-op one; the next poll, under tokio, replaces it).
    assert!(next(&mut feed).now_or_never().is_none());
    let (go, start) = oneshot::channel::<()>();
    let writer = tokio::task::spawn_blocking(move || {
        futures::executor::block_on(start).unwrap();
        (6..=10)
            .map(|i| add(&tree, &format!("new{i}")))
            .collect::<Vec<u64>>()
    });
    go.send(()).unwrap();
    let mut live = Vec::new();
    while live.len() < 5 {
        let batch = next_guarded(&mut feed).await.expect("a live batch");
        assert_eq!(
            batch.changes[0].id,
            format!("new{}", batch.add_seq).as_str()
        );
        live.push(batch.add_seq);
    }
    assert_eq!(live, [6, 7, 8, 9, 10], "in order, no gap");
    assert_eq!(writer.await.unwrap(), live);
    assert_eq!(feed.position(), 10);
    assert!(next(&mut feed).now_or_never().is_none(), "nothing more");
}

#[test]
fn under_block_on_a_stream_catches_up_then_follows_a_writer_thread_in_order() {
    let (space, tree) = space_with_tree("t");
    for i in 0..3 {
        add(&tree, &format!("old{i}"));
    }
    let mut feed = space.subscribe(0);
    let (go, start) = mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        start.recv().unwrap();
        for i in 4..=40 {
            add(&tree, &format!("new{i}"));
        }
    });
    let (done, result) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let seqs = futures::executor::block_on(async {
            let mut seqs = Vec::new();
            while seqs.len() < 3 {
                seqs.push(next(&mut feed).await.expect("the backlog").add_seq);
            }
            go.send(()).unwrap(); // caught up: the rest is written live
            while seqs.len() < 40 {
                seqs.push(next(&mut feed).await.expect("a live batch").add_seq);
            }
            seqs
        });
        done.send((seqs, feed.position())).unwrap();
    });
    let (seqs, position) = result
        .recv_timeout(HANG_GUARD)
        .expect("the reader got every batch within the hang guard");
    assert_eq!(seqs, (1..=40).collect::<Vec<u64>>());
    assert_eq!(position, 40);
    reader.join().unwrap();
    writer.join().unwrap();
    drop(space);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_when_the_last_space_handle_is_dropped_while_a_task_awaits_it() {
    let dir = tempfile::tempdir().unwrap();
    let space = Space::create(dir.path(), spacestore::Options::default()).unwrap();
    let tree = space.create_tree_storage(root("t")).unwrap();
    add(&tree, "c1");
    drop(tree);
    space.sync().unwrap(); // a `Buffered` batch reaches a (durable) subscription once synced
    let mut feed = space.subscribe(0);
    let (pending, waiting) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let first = next(&mut feed).await;
        // Tells the test once the stream is pending, its waker registered with the space.
        let mut pending = Some(pending);
        let end = std::future::poll_fn(|cx| {
            let polled = Pin::new(&mut feed).poll_next(cx);
            if polled.is_pending() {
                if let Some(pending) = pending.take() {
                    pending.send(()).unwrap();
                }
            }
            polled
        })
        .await;
        (first, end, feed)
    });
    guarded("the task awaits", waiting).await.unwrap();
    drop(space); // the last handle: the task's waker is woken by the close
    let (first, end, mut feed) = guarded("the stream ends", task).await.unwrap();
    assert_eq!(first.map(|b| b.add_seq), Some(1));
    assert!(end.is_none(), "the stream ends when the space closes");
    assert!(next(&mut feed).await.is_none(), "and stays ended");
    // The subscription still exists; the directory is free.
    let again = Space::create(dir.path(), spacestore::Options::default()).unwrap();
    assert_eq!(again.tree_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_async_subscribers_each_get_every_batch_of_two_writers_once_in_order() {
    const SUBSCRIBERS: usize = 200;
    const PER_WRITER: usize = 100;
    let space = Space::in_memory();
    let trees: Vec<_> = ["a", "b"]
        .iter()
        .map(|t| space.create_tree_storage(root(t)).unwrap())
        .collect();
    let readers: Vec<_> = (0..SUBSCRIBERS)
        .map(|_| {
            let mut feed = space.subscribe(0);
            tokio::spawn(async move {
                let mut seqs = Vec::with_capacity(2 * PER_WRITER);
                while seqs.len() < 2 * PER_WRITER {
                    seqs.push(next(&mut feed).await.expect("a batch").add_seq);
                }
                (seqs, feed)
            })
        })
        .collect();
    let writers: Vec<_> = trees
        .into_iter()
        .map(|tree| {
            std::thread::spawn(move || {
                for i in 0..PER_WRITER {
                    add(&tree, &format!("{}-{i}", tree.id()));
                }
            })
        })
        .collect();
    let all: Vec<u64> = (1..=(2 * PER_WRITER) as u64).collect();
    for reader in readers {
        let (seqs, mut feed) = guarded("every batch to every subscriber", reader)
            .await
            .unwrap();
        assert_eq!(seqs, all, "every batch once, in AddSeq order, no gap");
        assert!(next(&mut feed).now_or_never().is_none(), "nothing more");
    }
    for writer in writers {
        writer.join().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_filtered_stream_delivers_only_its_trees_backlog_and_live() {
    let space = Space::in_memory();
    let trees: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|t| space.create_tree_storage(root(t)).unwrap())
        .collect();
    // Batch i (seq i + 1) goes to tree i % 3: 9 batches of backlog, 30 written live.
    for i in 0..9 {
        add(&trees[i % 3], &format!("c{i}"));
    }
    let mut feed = space.subscribe_trees(0, ["a", "c"]);
    let mine = |seq: u64| (seq - 1) % 3 != 1;
    let want: Vec<(u64, String)> = (1..=39u64)
        .filter(|&s| mine(s))
        .map(|s| (s, ["a", "b", "c"][((s - 1) % 3) as usize].to_string()))
        .collect();
    let writer = std::thread::spawn(move || {
        for i in 9..39 {
            add(&trees[i % 3], &format!("c{i}"));
        }
    });
    let mut got = Vec::new();
    while got.len() < want.len() {
        let batch = next_guarded(&mut feed).await.expect("a batch of a or c");
        got.push((batch.add_seq, batch.tree_id.to_string()));
    }
    writer.join().unwrap();
    assert_eq!(got, want);
    assert_eq!(
        feed.position(),
        39,
        "the last batch (seq 39, tree c) was delivered"
    );
    // A later batch of b is passed over: the stream has nothing, and its position moves.
    let b = space.tree_storage("b").unwrap();
    add(&b, "b-late");
    assert!(next(&mut feed).now_or_never().is_none());
    assert_eq!(feed.position(), 40, "passed over b's batch");
    // The stream and the subscription are one: `Stream` is implemented for it, and `Unpin`.
    fn is_unpin_stream<S: Stream<Item = Batch> + Unpin>(_: &S) {}
    is_unpin_stream(&feed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_async_awaits_the_next_batch_and_ends_with_the_space() {
    let space = Space::in_memory();
    let tree = space
        .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
        .unwrap();
    let mut feed = space.subscribe(0);
    let writer = std::thread::spawn(move || {
        tree.add_all(
            vec![StorageChange::new("c1", "1", b"x".to_vec())],
            ["c1"],
            "t",
        )
        .unwrap()
    });
    let batch = guarded("next_async", feed.next_async()).await.unwrap();
    assert_eq!(batch.add_seq, 1);
    assert_eq!(writer.join().unwrap(), 1);
    drop(space);
    assert!(guarded("the end", feed.next_async()).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_stream_is_pending_on_a_buffered_batch_until_a_sync_wakes_it() {
    let dir = tempfile::tempdir().unwrap();
    let space = Space::create(dir.path(), spacestore::Options::default()).unwrap();
    let tree = space.create_tree_storage(root("t")).unwrap();
    let seq = add(&tree, "c1");
    let mut feed = space.subscribe(0);
    let (pending, waiting) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        // Tells the test once the stream is pending, its waker registered with the space.
        let mut pending = Some(pending);
        let batch = std::future::poll_fn(|cx| {
            let polled = Pin::new(&mut feed).poll_next(cx);
            if polled.is_pending() {
                if let Some(pending) = pending.take() {
                    pending.send(()).unwrap();
                }
            }
            polled
        })
        .await;
        (pending.is_none(), batch)
    });
    guarded("the stream is pending on the unsynced batch", waiting)
        .await
        .unwrap();
    space.sync().unwrap(); // wakes the task's waker
    let (was_pending, batch) = guarded("woken by the sync", task).await.unwrap();
    assert!(was_pending, "delivered before the sync");
    assert_eq!(batch.map(|b| b.add_seq), Some(seq));
}
