//! The crash loop: a child process (this test binary, re-invoked) commits `Sync` batches from
//! two threads and prints every acknowledged AddSeq; the parent kills it with SIGKILL at random
//! moments, reopens the directory, and checks that every acknowledged batch is there, whole, and
//! that no AddSeq is handed out twice across restarts.
//!
//! `SPACESTORE_CRASH_KILLS` sets the number of kills (default 200).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use spacestore::{Durability, Error, Options, Space, StorageChange, TreeRoot};

const CHILD_ENV: &str = "SPACESTORE_CRASH_CHILD";

/// The child: two writer threads, one tree each, two changes per batch, forever.
fn child(dir: &Path) {
    let space = Space::open(dir, Options::default().durability(Durability::Sync)).unwrap();
    let nonce = std::process::id();
    let writers: Vec<_> = ["x", "y"]
        .into_iter()
        .map(|t| {
            let space = space.clone();
            thread::spawn(move || {
                let tree = match space.tree_storage(t) {
                    Ok(tree) => tree,
                    Err(Error::UnknownTree(_)) => space
                        .create_tree_storage(TreeRoot::new(t, b"root".to_vec()))
                        .unwrap(),
                    Err(e) => panic!("{e}"),
                };
                for i in 0u64.. {
                    let base = format!("{t}-{nonce}-{i}");
                    let changes = vec![
                        StorageChange::new(
                            format!("{base}-a"),
                            format!("{nonce:010}-{i:010}-a"),
                            vec![1u8; 64],
                        ),
                        StorageChange::new(
                            format!("{base}-b"),
                            format!("{nonce:010}-{i:010}-b"),
                            vec![2u8; 64],
                        ),
                    ];
                    let seq = tree.add_all(changes, [format!("{base}-b")], t).unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {seq} {base}").unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn killed_sync_writers_lose_no_acknowledged_batch_and_reuse_no_seq() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(Path::new(&dir));
        return;
    }
    let kills: usize = std::env::var("SPACESTORE_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(Instant::now().elapsed().as_nanos() as u64 | 0x9e37_79b9_7f4a_7c15);
    let exe = std::env::current_exe().unwrap();
    // Every acknowledged batch: base id -> seq.
    let mut acked: HashMap<String, u64> = HashMap::new();
    // Seq -> the batch that got it, over all runs: a seq acknowledged twice is a reuse.
    let mut owner: BTreeMap<u64, String> = BTreeMap::new();
    let mut highest_before_run = 0u64;
    let started = Instant::now();
    for run in 0..kills {
        let mut proc = Command::new(&exe)
            .args([
                "--exact",
                "killed_sync_writers_lose_no_acknowledged_batch_and_reuse_no_seq",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = proc.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // A random moment: sometimes during open and replay, mostly while writing.
        thread::sleep(Duration::from_micros(2_000 + rng.next() % 25_000));
        proc.kill().unwrap();
        proc.wait().unwrap();
        reader.join().unwrap();
        for line in rx.try_iter() {
            let mut parts = line.split_whitespace();
            if parts.next() != Some("ack") {
                continue;
            }
            let seq: u64 = parts.next().unwrap().parse().unwrap();
            let base = parts.next().unwrap().to_owned();
            assert!(
                seq > highest_before_run,
                "run {run}: seq {seq} handed out again after a restart"
            );
            if let Some(other) = owner.insert(seq, base.clone()) {
                panic!("run {run}: seq {seq} acknowledged for {other} and {base}");
            }
            acked.insert(base, seq);
        }
        let space = Space::open(dir.path(), Options::default()).unwrap();
        for (base, seq) in &acked {
            let tree = space.tree_storage(&base[..1]).unwrap();
            for part in ["a", "b"] {
                let change = tree
                    .get(&format!("{base}-{part}"))
                    .unwrap_or_else(|e| panic!("run {run}: acknowledged {base} lost: {e}"));
                assert_eq!(change.add_seq, *seq);
            }
        }
        // No half batch: every stored change has its partner with the same seq.
        for change in space.collect_changes_after_add_seq(0) {
            let partner = match change.id.strip_suffix("-a") {
                Some(base) => format!("{base}-b"),
                None => format!("{}-a", change.id.strip_suffix("-b").unwrap()),
            };
            let other = space
                .tree_storage(&change.tree_id)
                .unwrap()
                .get(&partner)
                .unwrap();
            assert_eq!(other.add_seq, change.add_seq, "half batch {}", change.id);
        }
        highest_before_run = space.add_seq();
    }
    eprintln!(
        "crash loop: {kills} kills, {} acknowledged batches, 0 lost, in {:.1?}",
        acked.len(),
        started.elapsed()
    );
    assert!(!acked.is_empty());
}
