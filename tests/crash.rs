//! The crash loop: a child process (this test binary, re-invoked) commits `Sync` batches from
//! two threads and prints every acknowledged AddSeq; the parent waits for its first
//! acknowledgement, kills it with SIGKILL at a random moment after it, reopens the directory,
//! and checks that every acknowledged batch is there, whole, and that no AddSeq is handed out
//! twice across restarts. Every 20 runs the parent checkpoints, so that the log (a segment per
//! run, each killed `Sync` segment keeping its preallocated zeros) and the time to replay it
//! stay bounded.
//!
//! The cursor loop does the same to a consumer that follows a subscription from its named cursor
//! and acknowledges each batch under `Sync`: after each kill the cursor is at or above the last
//! acknowledged seq, and the next run carries on above it.
//!
//! `SPACESTORE_CRASH_KILLS` sets the number of kills (default 200), `SPACESTORE_CRASH_CURSOR_KILLS`
//! those of the cursor loop (default 20).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use spacestore::{
    AclRecord, Durability, Error, Options, Space, SpacePayload, StorageChange, Store, TreeRoot,
};

const CHILD_ENV: &str = "SPACESTORE_CRASH_CHILD";

/// A number no other child of the loop has: the clock's nanoseconds (a process id is reused
/// once the system's ids wrap, and a reused one made a child's ids collide with an earlier
/// child's: `DuplicateChange`, `SpaceExists`, a "deletion that came back").
fn nonce() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// The cursor child: a writer thread commits `Sync` batches while a consumer follows them with
/// a subscription from its named cursor and acknowledges each batch on it, printing every seq
/// whose ack returned.
fn cursor_child(dir: &Path) {
    let space = Space::create(dir, Options::default().durability(Durability::Sync)).unwrap();
    let tree = match space.tree_storage("k") {
        Ok(tree) => tree,
        Err(_) => space
            .create_tree_storage(TreeRoot::new("k", b"root".to_vec()))
            .unwrap(),
    };
    let nonce = nonce();
    let writer = thread::spawn(move || {
        for i in 0u64.. {
            let id = format!("k-{nonce}-{i}");
            tree.add_all(
                vec![StorageChange::new(id.as_str(), id.as_str(), vec![3u8; 64])],
                [id.as_str()],
                "k",
            )
            .unwrap();
        }
    });
    let cursor = space.cursor("consumer").unwrap();
    for batch in space.subscribe_cursor(&cursor) {
        cursor.ack(batch.add_seq).unwrap();
        let mut out = std::io::stdout().lock();
        writeln!(out, "ack {}", batch.add_seq).unwrap();
        out.flush().unwrap();
    }
    writer.join().unwrap();
}

/// The child's ACL writer: makes the space whole on its first run, then adds pairs of ACL
/// records (`{base}-a`, `{base}-b`, consecutive orders above the list's highest), printing
/// `acl {base}` for each acknowledged pair.
fn acl_writer(space: Space, nonce: u64) {
    if space.id().is_none() {
        let settings = TreeRoot::new("settings", b"settings root".to_vec());
        let payload = SpacePayload::new("crash.1", b"h".to_vec(), "acl", b"r".to_vec(), settings);
        space.create_space(payload).unwrap();
    }
    let acl = space.acl_storage().unwrap();
    let mut order = acl
        .records_after_order(0)
        .collect::<Vec<_>>()
        .last()
        .unwrap()
        .order;
    for i in 0u64.. {
        let base = format!("acl-{nonce}-{i}");
        let records = [
            AclRecord::new(
                format!("{base}-a"),
                acl.head().unwrap(),
                order + 1,
                vec![3u8; 40],
            ),
            AclRecord::new(
                format!("{base}-b"),
                format!("{base}-a"),
                order + 2,
                vec![4u8; 40],
            ),
        ];
        order += 2;
        acl.add_all(records).unwrap();
        let mut out = std::io::stdout().lock();
        writeln!(out, "acl {base}").unwrap();
        out.flush().unwrap();
    }
}

/// The child: two writer threads, one tree each, two changes per batch, forever; and an ACL
/// writer ([`acl_writer`]).
fn child(dir: &Path) {
    let space = Space::create(dir, Options::default().durability(Durability::Sync)).unwrap();
    let nonce = nonce();
    let acl = {
        let space = space.clone();
        thread::spawn(move || acl_writer(space, nonce))
    };
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
                            format!("{nonce:020}-{i:010}-a"),
                            vec![1u8; 64],
                        ),
                        StorageChange::new(
                            format!("{base}-b"),
                            format!("{nonce:020}-{i:010}-b"),
                            vec![2u8; 64],
                        ),
                    ];
                    let seq = tree.add_all(changes, vec![format!("{base}-b")], t).unwrap();
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
    acl.join().unwrap();
}

struct Rng(u64);
impl Rng {
    /// A generator seeded from the clock and the process id; prints the seed for `what`.
    fn seeded(what: &str) -> Rng {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            ^ (u64::from(std::process::id()) << 32)
            | 1;
        eprintln!("{what}: seed {seed:#x}");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs test `test` of this binary as a child on `dir` (stderr to `stderr_path`), waits for its
/// first acknowledgement (a line starting with "ack "), then a random number of further ones
/// and a random delay, and kills it with SIGKILL. Returns its stdout lines.
fn run_and_kill(test: &str, dir: &Path, stderr_path: &Path, rng: &mut Rng) -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    let run = stderr_path.display();
    let mut proc = Command::new(&exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(stderr_path).unwrap())
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
    // The event: the child's first acknowledged batch. Then a random moment after it: a
    // random number of further acknowledgements, then a random extra delay. A child whose
    // stdout closes first has died by itself.
    let further_acks = rng.next() % 8;
    let mut lines = Vec::new();
    let mut acks_seen = 0u64;
    while acks_seen <= further_acks {
        // Only a guard against a hung child, not a synchronisation.
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => {
                acks_seen += u64::from(line.starts_with("ack "));
                lines.push(line);
            }
            Err(e) => {
                if proc.try_wait().unwrap().is_none() {
                    proc.kill().unwrap();
                }
                let status = proc.wait().unwrap();
                panic!(
                    "run {run}: the child stopped after {acks_seen} acknowledgements \
                     (waiting for {}: {e}); {status}; stderr:\n{}",
                    further_acks + 1,
                    std::fs::read_to_string(stderr_path).unwrap()
                );
            }
        }
    }
    thread::sleep(Duration::from_micros(rng.next() % 2_000));
    proc.kill().unwrap();
    let status = proc.wait().unwrap();
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(9), // SIGKILL, 9 on every Unix
            "run {run}: the child ended by itself ({status}); stderr:\n{}",
            std::fs::read_to_string(stderr_path).unwrap()
        );
    }
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    lines
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
    let logs = tempfile::tempdir().unwrap();
    let mut rng = Rng::seeded("crash loop");
    // Every acknowledged batch: base id -> seq.
    let mut acked: HashMap<String, u64> = HashMap::new();
    // Every acknowledged pair of ACL records, by base id.
    let mut acked_acl: Vec<String> = Vec::new();
    // Seq -> the batch that got it, over all runs: a seq acknowledged twice is a reuse.
    let mut owner: BTreeMap<u64, String> = BTreeMap::new();
    let mut highest_before_run = 0u64;
    let started = Instant::now();
    for run in 0..kills {
        let stderr_path = logs.path().join(format!("child-{run}.stderr"));
        let lines = run_and_kill(
            "killed_sync_writers_lose_no_acknowledged_batch_and_reuse_no_seq",
            dir.path(),
            &stderr_path,
            &mut rng,
        );
        for line in lines {
            let mut parts = line.split_whitespace();
            match parts.next() {
                Some("ack") => {}
                Some("acl") => {
                    acked_acl.push(parts.next().unwrap().to_owned());
                    continue;
                }
                _ => continue,
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
        let space = Space::create(dir.path(), Options::default()).unwrap();
        for (base, seq) in &acked {
            let tree = space
                .tree_storage(&base[..1])
                .unwrap_or_else(|e| panic!("run {run}: the tree of acknowledged {base} lost: {e}"));
            for part in ["a", "b"] {
                let change = tree
                    .get(&format!("{base}-{part}"))
                    .unwrap_or_else(|e| panic!("run {run}: acknowledged {base} lost: {e}"));
                assert_eq!(change.add_seq, *seq);
            }
        }
        // No half batch: every stored change has its partner with the same seq.
        for change in space.changes_after_add_seq(0).map(StorageChange::from) {
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
        check_acl(&space, &acked_acl, run);
        highest_before_run = space.add_seq();
        // Keeps the log short (see the module docs).
        if run % 20 == 19 {
            space.checkpoint().unwrap();
        }
    }
    eprintln!(
        "crash loop: {kills} kills, {} acknowledged batches and {} ACL pairs, 0 lost, in {:.1?}",
        acked.len(),
        acked_acl.len(),
        started.elapsed()
    );
    assert!(!acked.is_empty());
    assert!(
        !acked_acl.is_empty(),
        "the ACL writer was never acknowledged"
    );
}

/// The ACL list after a kill: every acknowledged pair is there, no pair is half there, and the
/// head is the record of the highest order (the last one added).
fn check_acl(space: &Space, acked: &[String], run: usize) {
    let Ok(acl) = space.acl_storage() else {
        assert!(acked.is_empty(), "run {run}: the whole space is lost");
        return;
    };
    for base in acked {
        for part in ["a", "b"] {
            assert!(
                acl.has(&format!("{base}-{part}")),
                "run {run}: acknowledged ACL record {base}-{part} lost"
            );
        }
    }
    let records = acl.records_after_order(0).collect::<Vec<_>>();
    for r in &records[1..] {
        let partner = match r.id.strip_suffix("-a") {
            Some(base) => format!("{base}-b"),
            None => format!("{}-a", r.id.strip_suffix("-b").unwrap()),
        };
        assert!(
            acl.has(&partner),
            "run {run}: half an ACL add_all: {}",
            r.id
        );
    }
    assert_eq!(
        acl.head().unwrap(),
        records.last().unwrap().id,
        "run {run}: ACL head"
    );
}

#[test]
fn a_killed_consumer_restarts_at_or_above_its_last_sync_ack() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        cursor_child(Path::new(&dir));
        return;
    }
    let kills: usize = std::env::var("SPACESTORE_CRASH_CURSOR_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let mut rng = Rng::seeded("cursor crash loop");
    let mut acks = 0usize;
    let mut position = 0u64;
    for run in 0..kills {
        let stderr_path = logs.path().join(format!("cursor-child-{run}.stderr"));
        let lines = run_and_kill(
            "a_killed_consumer_restarts_at_or_above_its_last_sync_ack",
            dir.path(),
            &stderr_path,
            &mut rng,
        );
        let acked: Vec<u64> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("ack "))
            .map(|s| s.parse().unwrap())
            .collect();
        assert!(!acked.is_empty(), "run {run}: no ack");
        // Each run carries on from the stored cursor: its first ack is above the last run's
        // position, and the acks come in order.
        assert!(
            acked[0] > position,
            "run {run}: acked {} after {position}",
            acked[0]
        );
        assert!(
            acked.windows(2).all(|w| w[0] < w[1]),
            "run {run}: {acked:?}"
        );
        acks += acked.len();
        let last = *acked.last().unwrap();
        let space = Space::create(dir.path(), Options::default()).unwrap();
        position = space.cursor("consumer").unwrap().get();
        assert!(
            position >= last,
            "run {run}: the cursor restarted at {position}, below the acknowledged {last}"
        );
        assert!(position <= space.add_seq());
        if run % 10 == 9 {
            space.checkpoint().unwrap();
        }
    }
    eprintln!("cursor crash loop: {kills} kills, {acks} acknowledged cursor moves, 0 lost");
}

/// The store child: opens the store (which renames a name of 0.1 and removes leftovers), then
/// creates spaces (ids with upper case: names unique under case folding), writes a `Sync` batch
/// to each and deletes every other one, printing each acknowledged step.
fn store_child(dir: &Path) {
    let store = Store::open(dir, Options::default().durability(Durability::Sync)).unwrap();
    let nonce = nonce();
    // The test harness's "test NAME ... " has no line end: start a line of our own.
    println!();
    let mut previous: Option<String> = None;
    for i in 0u64.. {
        let id = format!("S{nonce}x{i}.1");
        store.create_space(store_payload(&id)).unwrap();
        println!("created {id}");
        let tree = store.space(&id).unwrap().tree_storage("settings").unwrap();
        tree.add_all(
            vec![StorageChange::new("w", "0001", b"w".to_vec())],
            ["w"],
            "settings",
        )
        .unwrap();
        drop(tree);
        println!("ack wrote {id}");
        if let Some(old) = previous.take() {
            println!("deleting {old}");
            store.delete_space(&old).unwrap();
            println!("deleted {old}");
        } else {
            previous = Some(id);
        }
    }
}

fn store_payload(id: &str) -> SpacePayload {
    SpacePayload::new(
        id,
        b"header".to_vec(),
        "acl",
        b"acl".to_vec(),
        TreeRoot::new("settings", b"settings".to_vec()),
    )
}

/// The crash loop over a store: a child that creates, writes (`Sync`) and deletes spaces is
/// killed at random moments; after each kill the store opens with no leftover of an unfinished
/// creation or deletion, every acknowledged creation and write is there unless its deletion
/// was acknowledged, every acknowledged deletion holds, and a space of a 0.1 store (its name
/// kept upper case, renamed by the first open) is there throughout.
#[test]
fn killed_store_writers_lose_no_acknowledged_creation_write_or_deletion() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        store_child(Path::new(&dir));
        return;
    }
    let kills: usize = std::env::var("SPACESTORE_CRASH_STORE_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let mut rng = Rng::seeded("store crash loop");
    {
        let store = Store::open(dir.path(), Options::default()).unwrap();
        store.create_space(store_payload("Old.1")).unwrap();
    }
    // As 0.1 named it.
    let spaces = dir.path().join("spaces");
    std::fs::rename(spaces.join("~4f6c642e31"), spaces.join("Old.1")).unwrap();
    let mut written: Vec<String> = Vec::new();
    let mut created: Vec<String> = Vec::new();
    let mut deleted: Vec<String> = Vec::new();
    let mut deleting: Vec<String> = Vec::new();
    for run in 0..kills {
        let stderr_path = logs.path().join(format!("store-child-{run}.stderr"));
        let lines = run_and_kill(
            "killed_store_writers_lose_no_acknowledged_creation_write_or_deletion",
            dir.path(),
            &stderr_path,
            &mut rng,
        );
        for line in &lines {
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some("created"), Some(id), None) => created.push(id.to_owned()),
                (Some("ack"), Some("wrote"), Some(id)) => written.push(id.to_owned()),
                (Some("deleted"), Some(id), None) => deleted.push(id.to_owned()),
                (Some("deleting"), Some(id), None) => deleting.push(id.to_owned()),
                _ => {}
            }
        }
        let store = Store::open(dir.path(), Options::default()).unwrap();
        let left: Vec<String> = std::fs::read_dir(&spaces)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(left.is_empty(), "run {run}: leftovers after open: {left:?}");
        let ids = store.space_ids().unwrap();
        assert!(
            ids.iter().any(|i| i == "Old.1"),
            "run {run}: Old.1 lost: {ids:?}"
        );
        for id in &created {
            let listed = ids.iter().any(|i| i == id);
            if deleted.contains(id) {
                assert!(
                    !listed,
                    "run {run}: the acknowledged deletion of {id} came back"
                );
                continue;
            }
            // A deletion asked for and cut short may have happened or not.
            if !listed && deleting.contains(id) {
                continue;
            }
            assert!(listed, "run {run}: the acknowledged creation of {id} lost");
            let space = store.space(id).unwrap();
            assert_eq!(space.id().as_deref(), Some(id.as_str()), "run {run}");
            if written.contains(id) {
                let tree = space.tree_storage("settings").unwrap();
                assert!(tree.has("w"), "run {run}: the write to {id} lost");
            }
        }
    }
    eprintln!(
        "store crash loop: {kills} kills, {} creations, {} writes, {} deletions acknowledged, 0 lost",
        created.len(),
        written.len(),
        deleted.len()
    );
}
