//! Reading the change feed: whole batches after a cursor (`Space::batches_after`), and the lazy
//! walk of `changes_after_add_seq`.

mod common;

use common::*;
use spacestore::{Space, StorageChange};

/// A space with tree "t" and `n` batches of `per` changes each (`b{batch}-{i}`).
fn space_with_batches(n: usize, per: usize) -> Space {
    let (space, tree) = space_with_tree("t");
    for b in 0..n {
        let changes: Vec<StorageChange> = (0..per)
            .map(|i| change(&format!("b{b}-{i}"), &format!("{b:04}-{i:02}")))
            .collect();
        tree.add_all(changes, NO_HEADS, "t").unwrap();
    }
    space
}

#[test]
fn batches_after_returns_the_first_whole_batches_above_the_cursor_in_add_seq_order() {
    let space = space_with_batches(10, 3);
    let batches = space.batches_after(4, 3);
    let seqs: Vec<u64> = batches.iter().map(|b| b.add_seq).collect();
    assert_eq!(seqs, [5, 6, 7]);
    for b in &batches {
        assert_eq!(b.tree_id, "t");
        let want: Vec<String> = (0..3).map(|i| format!("b{}-{i}", b.add_seq - 1)).collect();
        assert_eq!(ids(&b.changes), want, "changes in the order given");
        assert!(b.changes.iter().all(|c| c.add_seq == b.add_seq));
    }
    assert!(space.batches_after(10, 5).is_empty());
    assert!(space.batches_after(0, 0).is_empty());
    assert_eq!(space.batches_after(0, usize::MAX).len(), 10);
}

#[test]
fn batches_after_never_splits_a_batch() {
    let space = space_with_batches(2, 50);
    let batches = space.batches_after(0, 1);
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].changes.len(), 50);
}

#[test]
fn batches_after_leaves_out_deleted_trees_and_still_returns_the_limit() {
    let space = Space::in_memory();
    let a = space.create_tree_storage(root("a")).unwrap();
    let b = space.create_tree_storage(root("b")).unwrap();
    for i in 0..4 {
        let (x, y) = (format!("a{i}"), format!("b{i}"));
        a.add_all(vec![change(&x, &x)], NO_HEADS, "a").unwrap();
        b.add_all(vec![change(&y, &y)], NO_HEADS, "b").unwrap();
    }
    a.delete().unwrap();
    let batches = space.batches_after(0, 3);
    let got: Vec<(u64, String)> = batches
        .iter()
        .map(|b| (b.add_seq, b.tree_id.to_string()))
        .collect();
    assert_eq!(got, [(2, "b".into()), (4, "b".into()), (6, "b".into())]);
}

#[test]
fn catching_up_in_small_batches_sees_every_change_once() {
    let space = space_with_batches(300, 4);
    let all = space
        .changes_after_add_seq(0)
        .map(StorageChange::from)
        .collect::<Vec<_>>();
    let mut cursor = 0;
    let mut seen = Vec::new();
    let mut calls = 0;
    loop {
        let batches = space.batches_after(cursor, 7);
        let Some(last) = batches.last() else { break };
        cursor = last.add_seq;
        calls += 1;
        seen.extend(batches.into_iter().flat_map(|b| b.changes));
    }
    assert_eq!(ids(&seen), ids(&all));
    assert_eq!(seen.len(), 1200);
    assert_eq!(calls, 300usize.div_ceil(7));
}

#[test]
fn changes_after_add_seq_stops_where_the_reader_stops_and_walks_past_its_chunks() {
    let space = space_with_batches(200, 2);
    let first: Vec<u64> = space
        .changes_after_add_seq(0)
        .take(3)
        .map(|v| v.add_seq())
        .collect();
    assert_eq!(first, [1, 1, 2]);
    // Past the first chunks of the lazy walk: everything, once, in order.
    let all = space
        .changes_after_add_seq(0)
        .map(StorageChange::from)
        .collect::<Vec<_>>();
    assert_eq!(all.len(), 400);
    let seqs: Vec<u64> = all.iter().map(|c| c.add_seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(space.changes_after_add_seq(150).count(), 100);
}

/// A hang guard, not a timing assertion: every wait below ends on an event long before it.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

#[test]
fn a_subscription_delivers_the_backlog_then_live_batches_in_order_each_once() {
    let space = space_with_batches(5, 2);
    let mut feed = space.subscribe(2);
    let tree = space.tree_storage("t").unwrap();
    let writer = std::thread::spawn(move || {
        for b in 5..40 {
            let id = format!("b{b}-0");
            tree.add_all(vec![change(&id, &id)], NO_HEADS, "t").unwrap();
        }
    });
    let mut seqs = Vec::new();
    while seqs.len() < 38 {
        let batch = feed
            .next_timeout(PATIENCE)
            .unwrap()
            .expect("a batch within the patience");
        seqs.push(batch.add_seq);
        assert_eq!(feed.position(), batch.add_seq);
    }
    writer.join().unwrap();
    assert_eq!(seqs, (3..=40).collect::<Vec<u64>>());
    assert!(feed.try_next().is_none());
}

#[test]
fn try_next_and_a_timed_out_wait_return_none_when_nothing_is_new() {
    let space = space_with_batches(2, 1);
    let mut feed = space.subscribe(2);
    assert!(feed.try_next().is_none());
    let waited = feed
        .next_timeout(std::time::Duration::from_millis(1))
        .unwrap();
    assert!(waited.is_none());
    assert_eq!(feed.position(), 2);
}

#[test]
fn a_subscription_to_some_trees_delivers_only_theirs_and_moves_past_the_others() {
    let space = Space::in_memory();
    let trees: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|t| space.create_tree_storage(root(t)).unwrap())
        .collect();
    for i in 0..9 {
        let t = &trees[i % 3];
        let id = format!("{}{i}", t.id());
        t.add_all(vec![change(&id, &id)], NO_HEADS, t.id().clone())
            .unwrap();
    }
    let mut feed = space.subscribe_trees(0, ["a", "c"]);
    let got: Vec<(u64, String)> = std::iter::from_fn(|| feed.try_next())
        .map(|b| (b.add_seq, b.tree_id.to_string()))
        .collect();
    let want: Vec<(u64, String)> = (1..=9u64)
        .filter(|s| (s - 1) % 3 != 1)
        .map(|s| (s, ["a", "b", "c"][((s - 1) % 3) as usize].to_string()))
        .collect();
    assert_eq!(got, want);
    // The last batch (seq 9, tree "c") was delivered; b's batch 8 was passed over before it.
    assert_eq!(feed.position(), 9);
    let b = &trees[1];
    b.add_all(vec![change("b-late", "b-late")], NO_HEADS, "b")
        .unwrap();
    assert!(feed.try_next().is_none());
    assert_eq!(feed.position(), 10, "passed over b's batch");
}

#[test]
fn a_subscription_ends_when_the_space_is_closed_and_does_not_keep_it_locked() {
    let dir = tempfile::tempdir().unwrap();
    let space = Space::create(dir.path(), spacestore::Options::default()).unwrap();
    space.create_tree_storage(root("t")).unwrap();
    let mut feed = space.subscribe(0);
    let (ready, started) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        ready.send(()).unwrap();
        // Blocks until the space is closed (whenever the drop lands: before or during the wait).
        let next = feed.next();
        (next, feed)
    });
    started.recv().unwrap();
    drop(space);
    let (next, mut feed) = waiter.join().unwrap();
    assert!(next.is_none());
    assert!(matches!(
        feed.next_timeout(PATIENCE),
        Err(spacestore::Error::Closed)
    ));
    // The subscription still exists; the directory is free.
    let again = Space::create(dir.path(), spacestore::Options::default()).unwrap();
    assert_eq!(again.tree_count(), 1);
}

#[test]
fn a_thousand_subscribers_on_four_trees_each_get_exactly_their_trees_batches() {
    let space = Space::in_memory();
    let names: Vec<String> = (0..40).map(|t| format!("t{t:02}")).collect();
    let trees: Vec<_> = names
        .iter()
        .map(|t| space.create_tree_storage(root(t)).unwrap())
        .collect();
    let mut feeds: Vec<(Vec<String>, spacestore::Subscription)> = (0..1000)
        .map(|s| {
            let mine: Vec<String> = (0..4)
                .map(|k| names[(s * 7 + k * 3) % 40].clone())
                .collect();
            let feed = space.subscribe_trees(0, mine.clone());
            (mine, feed)
        })
        .collect();
    let mut by_tree: std::collections::HashMap<String, Vec<u64>> = Default::default();
    for i in 0..400usize {
        let t = &trees[(i * 13) % 40];
        let id = format!("c{i}");
        let seq = t
            .add_all(vec![change(&id, &id)], NO_HEADS, t.id().clone())
            .unwrap();
        by_tree.entry(t.id().to_string()).or_default().push(seq);
    }
    for (mine, feed) in &mut feeds {
        let got: Vec<u64> = std::iter::from_fn(|| feed.try_next())
            .map(|b| {
                assert!(mine.contains(&b.tree_id.to_string()));
                b.add_seq
            })
            .collect();
        let mut want: Vec<u64> = mine.iter().flat_map(|t| by_tree[t].clone()).collect();
        want.sort_unstable();
        want.dedup();
        assert_eq!(got, want);
        assert_eq!(spacestore::Subscription::position(feed), 400);
    }
}

#[test]
fn a_subscriber_following_parallel_writers_gets_every_batch_once_in_order() {
    let space = Space::in_memory();
    let trees: Vec<_> = (0..4)
        .map(|t| space.create_tree_storage(root(&format!("w{t}"))).unwrap())
        .collect();
    let mut feed = space.subscribe(0);
    let writers: Vec<_> = trees
        .into_iter()
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..250 {
                    let id = format!("{}-{i}", t.id());
                    t.add_all(vec![change(&id, &id)], NO_HEADS, t.id().clone())
                        .unwrap();
                }
            })
        })
        .collect();
    let mut seqs = Vec::new();
    while seqs.len() < 1000 {
        let b = feed
            .next_timeout(PATIENCE)
            .unwrap()
            .expect("a batch within the patience");
        seqs.push(b.add_seq);
    }
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(seqs, (1..=1000).collect::<Vec<u64>>());
}

#[test]
fn a_tree_holding_only_its_root_is_not_in_the_feed_but_its_head_entry_tells_of_it() {
    let space = Space::in_memory();
    let created = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&created);
    let _guard = space
        .head_storage()
        .add_observer(move |e: &spacestore::HeadEntry| sink.lock().unwrap().push(e.id.clone()));
    space
        .create_tree_storage(spacestore::TreeRoot::new("t", b"root".to_vec()))
        .unwrap();
    assert!(
        space.batches_after(0, 10).is_empty(),
        "a root takes no AddSeq"
    );
    assert!(space.subscribe(0).including_unsynced().try_next().is_none());
    assert_eq!(*created.lock().unwrap(), ["t"], "the observer heard of it");
    let entries = space
        .head_storage()
        .entries(spacestore::IterOptions::all())
        .collect::<Vec<_>>();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].id.as_str(), entries[0].last_add_seq),
        ("t", None)
    );
}
