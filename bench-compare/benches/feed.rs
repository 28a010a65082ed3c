//! The change feed, in one run: catch-up of a backlog in bounded steps against one big read,
//! the commit-to-wake latency of a blocked subscriber against a bare `Mutex` + `Condvar`
//! ping-pong between two threads, `add_all` with 0 and with 1,000 idle subscribers, and
//! `Cursor::ack` per second on disk, `Buffered` and `Sync`, from one consumer and from four.
//!
//! `cargo bench -p spacestore-bench --bench feed` (release; in memory, the acks on a temporary
//! directory).

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use spacestore::{Durability, Heads, Options, Space, StorageChange, TreeRoot, TreeStorage};

fn space_with(batches: u64, per: u64) -> Space {
    let space = Space::in_memory();
    let trees: Vec<TreeStorage> = (0..64)
        .map(|t| {
            space
                .create_tree_storage(TreeRoot::new(format!("t{t}"), b"root".to_vec()))
                .unwrap()
        })
        .collect();
    for b in 0..batches {
        let tree = &trees[(b % 64) as usize];
        let changes = (0..per)
            .map(|i| {
                let id = format!("c{b}-{i}");
                StorageChange::new(id.as_str(), id.as_str(), vec![7u8; 64])
            })
            .collect();
        tree.add_all(changes, Heads::Unchanged, tree.id().clone())
            .unwrap();
    }
    space
}

fn catch_up(batches: u64) {
    let space = space_with(batches, 4);
    let started = Instant::now();
    let all = space.batches_after(0, usize::MAX);
    let one = started.elapsed();
    assert_eq!(all.len() as u64, batches);
    drop(all);
    let started = Instant::now();
    let (mut cursor, mut calls, mut n) = (0, 0u64, 0u64);
    loop {
        let chunk = space.batches_after(cursor, 256);
        let Some(last) = chunk.last() else { break };
        cursor = last.add_seq;
        calls += 1;
        n += chunk.len() as u64;
    }
    let stepped = started.elapsed();
    assert_eq!(n, batches);
    println!(
        "catch-up of {batches} batches of 4: one read {one:>9.2?}, {calls} reads of 256 {stepped:>9.2?} ({:.2}x; {:.1} us per read)",
        stepped.as_secs_f64() / one.as_secs_f64(),
        stepped.as_secs_f64() * 1e6 / calls as f64
    );
}

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[v.len() * 99 / 100])
}

/// A blocked subscriber woken by each commit, one at a time (the writer waits for the
/// subscriber's answer before the next commit). Returns the percentiles from the start of the
/// `add_all` call to the subscriber holding the batch, and those of the `add_all` call alone
/// (the same calls): the commit's own time is part of the first.
fn wake_latency(rounds: usize) -> ((Duration, Duration), (Duration, Duration)) {
    let space = Space::in_memory();
    let tree = space
        .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
        .unwrap();
    let mut feed = space.subscribe(0);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Instant>(0);
    let subscriber = std::thread::spawn(move || {
        let mut lat = Vec::new();
        for _ in 0..rounds {
            feed.next_timeout(Duration::from_secs(60)).unwrap().unwrap();
            let woke = Instant::now();
            let sent: Instant = rx.recv().unwrap();
            lat.push(woke.saturating_duration_since(sent));
        }
        lat
    });
    let mut commits = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let id = format!("c{i}");
        let c = StorageChange::new(id.as_str(), id.as_str(), b"x".to_vec());
        let before = Instant::now();
        tree.add_all(vec![c], Heads::Unchanged, "t").unwrap();
        commits.push(before.elapsed());
        tx.send(before).unwrap();
    }
    (
        percentiles(subscriber.join().unwrap()),
        percentiles(commits),
    )
}

/// The same hand-off with a bare `Mutex<u64>` + `Condvar`: the floor of a wake-up.
fn condvar_latency(rounds: usize) -> (Duration, Duration) {
    let pair = Arc::new((Mutex::new((0u64, None::<Instant>)), Condvar::new()));
    let (tx, rx) = std::sync::mpsc::sync_channel::<()>(0);
    let p = Arc::clone(&pair);
    let waiter = std::thread::spawn(move || {
        let mut lat = Vec::new();
        let mut seen = 0;
        for _ in 0..rounds {
            let (m, cv) = &*p;
            let mut g = m.lock().unwrap();
            while g.0 == seen {
                g = cv.wait(g).unwrap();
            }
            seen = g.0;
            lat.push(g.1.unwrap().elapsed());
            drop(g);
            tx.send(()).unwrap();
        }
        lat
    });
    for _ in 0..rounds {
        let (m, cv) = &*pair;
        {
            let mut g = m.lock().unwrap();
            g.0 += 1;
            g.1 = Some(Instant::now());
        }
        cv.notify_all();
        rx.recv().unwrap();
    }
    percentiles(waiter.join().unwrap())
}

fn add_all_rate(subscribers: usize) -> Duration {
    let space = Space::in_memory();
    let tree = space
        .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
        .unwrap();
    let _idle: Vec<_> = (0..subscribers).map(|_| space.subscribe(0)).collect();
    let n = 200_000;
    let input: Vec<StorageChange> = (0..n)
        .map(|i| {
            let id = format!("c{i:08}");
            StorageChange::new(id.as_str(), id.as_str(), vec![1u8; 64])
        })
        .collect();
    let started = Instant::now();
    for c in input {
        tree.add_all(vec![c], Heads::Unchanged, "t").unwrap();
    }
    started.elapsed() / n
}

/// Acks per second: `consumers` threads, each moving its own cursor one batch at a time over
/// `acks` batches, in a space on disk (the temporary directory's file system).
fn ack_rate(durability: Durability, consumers: usize, acks: u64) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let space = Space::create(dir.path(), Options::default().durability(durability)).unwrap();
    let tree = space
        .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
        .unwrap();
    // The batches to acknowledge, written in one go (not timed).
    for i in 0..acks {
        let id = format!("c{i}");
        tree.add_all(
            vec![StorageChange::new(id.as_str(), id.as_str(), vec![1u8; 64])],
            Heads::Unchanged,
            "t",
        )
        .unwrap();
    }
    let cursors: Vec<_> = (0..consumers)
        .map(|k| space.cursor(&format!("consumer-{k}")).unwrap())
        .collect();
    let started = Instant::now();
    std::thread::scope(|s| {
        for cursor in &cursors {
            s.spawn(move || {
                for seq in 1..=acks {
                    cursor.ack(seq).unwrap();
                }
            });
        }
    });
    let elapsed = started.elapsed();
    (acks * consumers as u64) as f64 / elapsed.as_secs_f64()
}

fn main() {
    catch_up(25_000);
    catch_up(250_000);
    let ((p50, p99), (a50, a99)) = wake_latency(20_000);
    let (c50, c99) = condvar_latency(20_000);
    println!("commit-to-wake: p50 {p50:>8.2?} p99 {p99:>8.2?} (of which the add_all call: p50 {a50:>8.2?} p99 {a99:>8.2?}); Mutex+Condvar ping-pong: p50 {c50:>8.2?} p99 {c99:>8.2?}");
    println!(
        "  commit-to-wake / ping-pong at p50: {:.2}x",
        p50.as_secs_f64() / c50.as_secs_f64()
    );
    let none = add_all_rate(0);
    let many = add_all_rate(1000);
    println!(
        "add_all 1x64B in memory: {none:>8.2?} with no subscriber, {many:>8.2?} with 1,000 idle ones ({:+.1}%)",
        (many.as_secs_f64() / none.as_secs_f64() - 1.0) * 100.0
    );
    for (durability, consumers, acks) in [
        (Durability::Buffered, 1, 200_000),
        (Durability::Buffered, 4, 50_000),
        (Durability::Sync, 1, 2_000),
        (Durability::Sync, 4, 2_000),
    ] {
        let rate = ack_rate(durability, consumers, acks);
        println!("Cursor::ack, {durability:?}, {consumers} consumer(s): {rate:>10.0} acks/s");
    }
}
