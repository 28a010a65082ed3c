//! Cursor safety under concurrent writers: a consumer that remembers the largest AddSeq it
//! received and asks only for newer changes must receive every committed change exactly once,
//! however the writers' batches interleave, and whatever gaps failed batches leave.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::thread;

use spacestore::{Error, IterOptions, Space, StorageChange, TreeRoot};

const WRITERS: usize = 4;
const BATCHES: usize = 2000;

fn tree_id(w: usize) -> String {
    format!("tree-{w}")
}

/// What the writers got back: every committed change as (id, seq, tree), the ids of the
/// changes of failed batches, and how many calls were made.
#[derive(Default)]
struct Written {
    committed: Vec<(String, u64, String)>,
    failed_ids: Vec<String>,
    failures: usize,
    calls: usize,
}

/// One writer: many batches on its own tree. Every 10 batches: one fails with a change id that
/// another tree already holds (its root), one fails with an order id already used in the tree,
/// and one is an `add_all_no_error` that repeats a stored id next to a new one. The failed
/// batches take a seq and leave a gap.
fn write_tree(space: &Space, w: usize, start: &Barrier) -> Written {
    let tree = space.tree_storage(&tree_id(w)).unwrap();
    let mut out = Written::default();
    let mut last_id = String::new();
    start.wait();
    for b in 0..BATCHES {
        let order = |k: usize| format!("{b:06}-{k}");
        let new_id = |k: usize| format!("w{w}-b{b}-c{k}");
        out.calls += 1;
        match b % 10 {
            3 => {
                // The first change is new, the second is the root of another tree: the whole
                // batch is refused.
                let other_root = tree_id((w + 1) % WRITERS);
                let batch = vec![
                    StorageChange::new(new_id(0), order(0), b"x".to_vec()),
                    StorageChange::new(other_root.as_str(), order(1), b"dup".to_vec()),
                ];
                let r = tree.add_all(batch, vec![new_id(0)], new_id(0));
                assert!(
                    matches!(&r, Err(Error::DuplicateChange(id)) if *id == other_root.as_str()),
                    "{r:?}"
                );
                out.failed_ids.push(new_id(0));
                out.failures += 1;
            }
            7 => {
                // A new id with an order id the tree already uses.
                let batch = vec![StorageChange::new(
                    new_id(0),
                    format!("{:06}-0", b - 1),
                    b"x".to_vec(),
                )];
                let r = tree.add_all(batch, vec![new_id(0)], new_id(0));
                assert!(matches!(r, Err(Error::OrderIdInUse { .. })), "{r:?}");
                out.failed_ids.push(new_id(0));
                out.failures += 1;
            }
            5 => {
                let batch = vec![
                    StorageChange::new(last_id.as_str(), order(0), b"again".to_vec()),
                    StorageChange::new(new_id(1), order(1), b"y".to_vec()),
                ];
                let outcome = tree
                    .add_all_no_error(batch, vec![new_id(1)], new_id(1))
                    .unwrap();
                assert_eq!(outcome.skipped, vec![last_id.as_str()]);
                assert_eq!(outcome.inserted, vec![new_id(1).as_str()]);
                out.committed.push((new_id(1), outcome.add_seq, tree_id(w)));
                last_id = new_id(1);
            }
            _ => {
                let n = b % 3 + 1;
                let batch: Vec<_> = (0..n)
                    .map(|k| StorageChange::new(new_id(k), order(k), b"z".to_vec()))
                    .collect();
                let seq = tree.add_all(batch, vec![new_id(n - 1)], new_id(0)).unwrap();
                for k in 0..n {
                    out.committed.push((new_id(k), seq, tree_id(w)));
                }
                last_id = new_id(n - 1);
            }
        }
        if b % 16 == 0 {
            thread::yield_now();
        }
    }
    out
}

/// Runs the writers in parallel with `consume`, which is told when they are done and returns
/// what it received as (id, seq, tree); then checks exactly-once delivery.
fn run(consume: impl FnOnce(&Space, &AtomicBool) -> Vec<(String, u64, String)> + Send) {
    let space = Space::in_memory();
    for w in 0..WRITERS {
        space
            .create_tree_storage(TreeRoot::new(tree_id(w), b"root".to_vec()))
            .unwrap();
    }
    let done = AtomicBool::new(false);
    let start = Barrier::new(WRITERS + 1);
    let (written, received) = thread::scope(|s| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (space, start) = (&space, &start);
                s.spawn(move || write_tree(space, w, start))
            })
            .collect();
        let consumer = s.spawn(|| consume(&space, &done));
        start.wait();
        // Tell the consumer even when a writer panicked, so that the scope cannot hang.
        let written: Vec<_> = writers.into_iter().map(|h| h.join()).collect();
        done.store(true, Ordering::SeqCst);
        let received = consumer.join();
        let written: Vec<Written> = written
            .into_iter()
            .map(|w| w.unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect();
        let received = received.unwrap_or_else(|e| std::panic::resume_unwind(e));
        (written, received)
    });

    let calls: usize = written.iter().map(|w| w.calls).sum();
    let failures: usize = written.iter().map(|w| w.failures).sum();
    // Every call took exactly one seq, failed ones included.
    assert_eq!(space.add_seq(), calls as u64);

    let committed: Vec<_> = written.iter().flat_map(|w| w.committed.clone()).collect();
    // Distinct calls got distinct seqs; the successful ones are all below the counter.
    let batch_seqs: BTreeSet<u64> = committed.iter().map(|c| c.1).collect();
    assert_eq!(batch_seqs.len(), calls - failures);
    assert!(batch_seqs.iter().all(|&s| s >= 1 && s <= calls as u64));

    let mut seen = HashMap::new();
    for r in &received {
        *seen.entry(r.clone()).or_insert(0usize) += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, &n)| n > 1).collect();
    assert!(
        twice.is_empty(),
        "{} changes received more than once, e.g. {:?}",
        twice.len(),
        &twice[..twice.len().min(10)]
    );
    let received: BTreeSet<_> = received.into_iter().collect();
    let committed: BTreeSet<_> = committed.into_iter().collect();
    let missed: Vec<_> = committed.difference(&received).collect();
    let extra: Vec<_> = received.difference(&committed).collect();
    assert!(
        missed.is_empty(),
        "{} committed changes never received, e.g. {:?}",
        missed.len(),
        &missed[..missed.len().min(10)]
    );
    assert!(
        extra.is_empty(),
        "{} changes received but never committed, e.g. {:?}",
        extra.len(),
        &extra[..extra.len().min(10)]
    );
    // Nothing of a failed batch was kept.
    let stored: BTreeSet<String> = space
        .changes_after_add_seq(0)
        .map(StorageChange::from)
        .collect::<Vec<_>>()
        .iter()
        .map(|c| c.id.to_string())
        .collect();
    assert_eq!(stored.len(), committed.len());
    let probe = space.tree_storage(&tree_id(0)).unwrap();
    for id in written.iter().flat_map(|w| &w.failed_ids) {
        assert!(
            !stored.contains(id) && !probe.has(id),
            "{id} of a failed batch is stored"
        );
    }
}

#[test]
fn consumer_following_the_cursor_receives_every_committed_change_exactly_once() {
    run(|space, done| {
        let mut cursor = 0u64;
        let mut received = Vec::new();
        let mut reads = 0usize;
        loop {
            // Read the flag before the read: a read that starts after the writers are done and
            // returns nothing proves nothing is left.
            let finished = done.load(Ordering::SeqCst);
            let news = space
                .changes_after_add_seq(cursor)
                .map(StorageChange::from)
                .collect::<Vec<_>>();
            reads += 1;
            let mut last = cursor;
            for c in &news {
                assert!(
                    c.add_seq > cursor,
                    "seq {} not above the cursor {cursor}",
                    c.add_seq
                );
                assert!(c.add_seq >= last, "seq {} after seq {last}", c.add_seq);
                last = c.add_seq;
                received.push((c.id.to_string(), c.add_seq, c.tree_id.to_string()));
            }
            cursor = last;
            if news.is_empty() {
                if finished {
                    break;
                }
                thread::yield_now();
            }
        }
        assert!(reads > 1);
        received
    });
}

#[test]
fn consumer_following_head_entries_with_per_tree_cursors_receives_every_committed_change_exactly_once(
) {
    run(|space, done| {
        let heads = space.head_storage();
        let trees: BTreeMap<String, _> = (0..WRITERS)
            .map(|w| (tree_id(w), space.tree_storage(&tree_id(w)).unwrap()))
            .collect();
        // `scan` is the cursor of the head scan: the largest last_add_seq a scan returned. Each
        // tree has its own cursor: the largest seq received from that tree. The scan cursor must
        // not move to a change's seq read from a tree after the scan: a batch of another tree
        // with a smaller seq may not have been visible to that scan.
        let mut scan = 0u64;
        let mut cursors: HashMap<String, u64> = HashMap::new();
        let mut received = Vec::new();
        loop {
            let finished = done.load(Ordering::SeqCst);
            let entries: Vec<_> = heads
                .entries(IterOptions::live().min_last_add_seq(scan))
                .collect();
            if scan > 0 {
                assert!(entries
                    .windows(2)
                    .all(|w| w[0].last_add_seq <= w[1].last_add_seq));
            }
            let mut news = 0usize;
            let mut next_scan = scan;
            for e in &entries {
                let Some(entry_seq) = e.last_add_seq else {
                    continue; // a tree that never had a batch (only when scan == 0)
                };
                assert!(
                    entry_seq > scan,
                    "entry {e:?} not above the scan cursor {scan}"
                );
                next_scan = next_scan.max(entry_seq);
                let cursor = cursors.entry(e.id.to_string()).or_default();
                let changes = trees[e.id.as_str()]
                    .changes_after_add_seq(*cursor)
                    .map(StorageChange::from)
                    .collect::<Vec<_>>();
                let mut top = *cursor;
                for c in &changes {
                    assert!(
                        c.add_seq > *cursor,
                        "seq {} not above the tree cursor {cursor}",
                        c.add_seq
                    );
                    assert_eq!(c.tree_id, e.id);
                    top = top.max(c.add_seq);
                    received.push((c.id.to_string(), c.add_seq, c.tree_id.to_string()));
                }
                // The batch the entry names is visible in the tree once the entry is.
                assert!(
                    top >= entry_seq,
                    "entry {e:?} names seq {entry_seq}, the tree gave up to {top}"
                );
                *cursor = top;
                news += changes.len();
            }
            scan = next_scan;
            if news == 0 {
                if finished {
                    break;
                }
                thread::yield_now();
            }
        }
        received
    });
}
