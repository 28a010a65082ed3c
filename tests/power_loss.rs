//! Simulated power loss: random workloads on a [`SimFs`] that keeps synced bytes apart from
//! written ones, the power cut at every mutating file-system call of the workload in turn
//! (dropping what was not synced, landing a prefix of it, tearing the last write at a random
//! byte), then a reopen checked against the durability table (DESIGN.md, "Durability"):
//!
//! - the recovered state is exactly the state after some prefix of the attempted writes: no half
//!   batch, no later write kept while an earlier one is lost;
//! - that prefix holds every write made durable by a sync, a checkpoint or a clean reopen, and in
//!   `Sync` mode every acknowledged write;
//! - the counter restarts at or above every seq handed out before the cut, and a new batch takes
//!   a seq above all of them; a clean reopen after the recovery shows the same state.
//!
//! A quarter of the cuts also cut the power a second time during the recovery itself.
//!
//! `SPACESTORE_POWER_CUTS` sets how many cuts each durability mode runs (default 4000).

mod common;

use std::path::PathBuf;
use std::time::Instant;

use spacestore::{Durability, Space, StorageChange, TreeRoot};
use spacestore_test_kit::simfs::workload::{
    self, check_continues, dump, power_cut_scenario, Config, Driver, Step,
};
use spacestore_test_kit::simfs::{Fault, Op, Rng, SimFs, Tear};

fn cuts_per_mode() -> usize {
    std::env::var("SPACESTORE_POWER_CUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000)
}

/// Runs the scenario; on failure runs it again with a trace and panics with everything needed
/// to replay it.
fn run_or_explain(
    seed: u64,
    config: Config,
    steps: &[Step],
    cut: u64,
    tear: Tear,
    recovery_cut: Option<u64>,
) {
    let rng = Rng::new(seed ^ cut.wrapping_mul(0x100_0000_01b3));
    if power_cut_scenario(
        &mut rng.clone(),
        config,
        steps,
        cut,
        tear,
        recovery_cut,
        false,
    )
    .is_err()
    {
        let why = power_cut_scenario(
            &mut rng.clone(),
            config,
            steps,
            cut,
            tear,
            recovery_cut,
            true,
        )
        .unwrap_err();
        panic!(
            "power cut scenario failed: {why}\n seed {seed}, cut at call {cut}, tear {tear:?}, \
             recovery cut {recovery_cut:?}\n config {config:?}\n steps {steps:?}"
        );
    }
}

/// Every call of a workload, then the next workload, until `budget` cuts ran. Returns the
/// number of cuts.
fn power_cuts(durability: Durability, seed0: u64, budget: usize, crashes: bool) -> usize {
    let mut cuts = 0;
    let mut seed = seed0;
    while cuts < budget {
        seed += 1;
        let mut rng = Rng::new(seed);
        let config = workload::config(&mut rng, durability);
        let len = 8 + rng.below(14) as usize;
        let steps = workload::steps(&mut rng, len, crashes);
        // A dry run counts the workload's calls.
        let fs = SimFs::new();
        let mut d = Driver::open(&fs, config).expect("open");
        for s in &steps {
            d.step(s)
                .result
                .expect("the workload runs on a healthy file system");
        }
        let total = fs.ops();
        drop(d);
        for cut in 0..=total {
            let tear = Tear::ALL[rng.below(3) as usize];
            let recovery_cut = rng.chance(1, 4).then(|| rng.below(8));
            run_or_explain(seed, config, &steps, cut, tear, recovery_cut);
            cuts += 1;
        }
    }
    cuts
}

#[test]
fn buffered_power_cuts_recover_a_prefix_of_the_writes_and_reuse_no_seq() {
    let started = Instant::now();
    let cuts = power_cuts(Durability::Buffered, 1_000, cuts_per_mode(), false);
    eprintln!("buffered: {cuts} power cuts in {:.1?}", started.elapsed());
}

#[test]
fn sync_power_cuts_lose_no_acknowledged_write_and_reuse_no_seq() {
    let started = Instant::now();
    let cuts = power_cuts(Durability::Sync, 2_000_000, cuts_per_mode(), false);
    eprintln!("sync: {cuts} power cuts in {:.1?}", started.elapsed());
}

/// The same workloads with process crashes in them: the process is killed (what it wrote stays
/// in the page cache, unsynced) and the space opened again, then the power is cut later. The
/// writes replayed after the restart were visible, so they must survive as long as anything
/// written after them does (the log stays a prefix), and open must not fail.
#[test]
fn power_cuts_after_a_process_crash_and_restart_keep_the_log_a_prefix() {
    let started = Instant::now();
    let a = power_cuts(Durability::Buffered, 3_000_000, cuts_per_mode() / 2, true);
    let b = power_cuts(Durability::Sync, 4_000_000, cuts_per_mode() / 2, true);
    eprintln!(
        "with process crashes: {} power cuts in {:.1?}",
        a + b,
        started.elapsed()
    );
}

/// One writer, large segments, no automatic checkpoint: the minimal cases' configuration.
fn one_writer(durability: Durability) -> Config {
    Config {
        durability,
        segment_size: 64 << 20,
        reserve_ahead: 1 << 20,
        auto_checkpoint: None,
    }
}

/// Tree `t` in `space` with change `id`: the tree and the change's AddSeq.
fn tree_with_change(space: &Space, id: &str) -> (spacestore::TreeStorage, u64) {
    let tree = space
        .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
        .unwrap();
    let seq = tree
        .add_all(vec![StorageChange::new(id, "1", b"x".to_vec())], [id], "t")
        .unwrap();
    (tree, seq)
}

/// Minimal case 1: the process dies right after the first open (the new segment's header was
/// written, its directory entry synced, its bytes not), the space is opened again and a `Sync`
/// write is acknowledged; then the power goes. The first segment is empty on disk, the second
/// one valid: open must still work and show the acknowledged write.
#[test]
fn a_sync_write_after_a_restart_survives_a_power_cut_when_the_first_segment_was_never_synced() {
    let config = one_writer(Durability::Sync);
    let fs = SimFs::new();
    let space = Space::create(workload::dir(), config.options(&fs)).unwrap();
    let fs = fs.kill_process();
    drop(space);
    let space = Space::create(workload::dir(), config.options(&fs)).unwrap();
    let (tree, seq) = tree_with_change(&space, "c");
    fs.cut_power();
    let fs = fs.reboot(Tear::DropUnsynced, &mut Rng::new(1));
    drop(tree);
    drop(space);
    let space = Space::create(workload::dir(), config.options(&fs))
        .unwrap_or_else(|e| panic!("an acknowledged Sync write made unreachable: {e}"));
    assert_eq!(
        space.tree_storage("t").unwrap().get("c").unwrap().add_seq,
        seq
    );
}

/// Minimal case 3: the first `Sync` write of a space in a directory that did not exist, then
/// the power goes before anything else is synced. The directory's own entry (and its parents')
/// must have been made durable by the open: a directory never synced into its parent vanishes
/// with everything in it, the fsynced segment included.
#[test]
fn a_sync_write_in_a_new_directory_survives_a_power_cut() {
    let config = one_writer(Durability::Sync);
    let fs = SimFs::new();
    let dir = PathBuf::from("/sim/new/nested/space");
    let space = Space::create(&dir, config.options(&fs)).unwrap();
    let (tree, seq) = tree_with_change(&space, "c");
    fs.cut_power();
    let fs = fs.reboot(Tear::DropUnsynced, &mut Rng::new(1));
    drop((tree, space));
    let space = Space::open(&dir, config.options(&fs))
        .unwrap_or_else(|e| panic!("an acknowledged Sync write lost with its directory: {e}"));
    assert_eq!(
        space.tree_storage("t").unwrap().get("c").unwrap().add_seq,
        seq
    );
}

/// A `Buffered` space in `/sim/space` with tree "t" and no batch (so no seq reserved), synced
/// once by `Space::sync` when `sync`; then the power goes (nothing unsynced lands). The file
/// system after the reboot, and the config.
fn buffered_tree_then_power_cut(sync: bool) -> (SimFs, Config) {
    let config = one_writer(Durability::Buffered);
    let fs = SimFs::new();
    let space = Space::create(PathBuf::from("/sim/space"), config.options(&fs)).unwrap();
    let tree = space
        .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
        .unwrap();
    if sync {
        space.sync().unwrap();
    }
    fs.cut_power();
    let fs = fs.reboot(Tear::DropUnsynced, &mut Rng::new(1));
    drop((tree, space));
    (fs, config)
}

/// A `Buffered` space never synced (no seq handed out: the first one's reservation is synced;
/// no sync, no close, no roll) can be gone whole after a power cut: its first segment's name
/// becomes durable with its first sync. Its directory stays; `Space::open` says there is no
/// space there, and `Space::create` makes one anew, empty.
#[test]
fn a_buffered_space_never_synced_can_be_gone_whole_after_a_power_cut() {
    let (fs, config) = buffered_tree_then_power_cut(false);
    let dir = PathBuf::from("/sim/space");
    assert!(
        fs.names(&dir).iter().all(|n| !n.ends_with(".wal")),
        "{:?}",
        fs.names(&dir)
    );
    assert!(matches!(
        Space::open(&dir, config.options(&fs)),
        Err(spacestore::Error::NoSpaceAt(_))
    ));
    let space = Space::create(&dir, config.options(&fs)).unwrap();
    assert_eq!(space.change_count(), 0);
}

/// The same space, synced once (`Space::sync`) before the power cut: its segment, its name and
/// its tree survive.
#[test]
fn a_buffered_space_synced_once_survives_a_power_cut_whole() {
    let (fs, config) = buffered_tree_then_power_cut(true);
    let space = Space::open("/sim/space", config.options(&fs)).unwrap();
    assert!(space.tree_storage("t").is_ok());
}

/// Minimal case 2: a `Buffered` write A is in the page cache when the process dies; the space
/// is opened again (A is replayed and visible), write B follows and `Space::sync` makes "every
/// write so far" durable. After a power cut, B is there and A is not: a later write kept while
/// an earlier one is lost, which the durability table rules out.
#[test]
fn writes_replayed_after_a_process_crash_survive_a_later_sync_and_power_cut() {
    let config = one_writer(Durability::Buffered);
    let fs = SimFs::new();
    let space = Space::create(workload::dir(), config.options(&fs)).unwrap();
    let tree = space
        .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
        .unwrap();
    space.sync().unwrap();
    tree.add_all(
        vec![StorageChange::new("a", "1", b"a".to_vec())],
        ["a"],
        "t",
    )
    .unwrap();
    let fs = fs.kill_process();
    drop(tree);
    drop(space);
    let space = Space::create(workload::dir(), config.options(&fs)).unwrap();
    let tree = space.tree_storage("t").unwrap();
    assert!(
        tree.get("a").is_ok(),
        "a process crash loses nothing acknowledged"
    );
    tree.add_all(
        vec![StorageChange::new("b", "2", b"b".to_vec())],
        ["b"],
        "t",
    )
    .unwrap();
    space.sync().unwrap();
    fs.cut_power();
    let fs = fs.reboot(Tear::DropUnsynced, &mut Rng::new(1));
    drop(tree);
    drop(space);
    let space = Space::create(workload::dir(), config.options(&fs)).unwrap();
    let tree = space.tree_storage("t").unwrap();
    assert!(tree.get("b").is_ok());
    assert!(
        tree.get("a").is_ok(),
        "write a was lost while the later write b survived"
    );
}

/// A space with some history (batches on three trees, head entries, a deleted tree, a clean
/// reopen so that there are two segments), all of it synced, to checkpoint.
fn checkpoint_fixture(fs: &SimFs, config: Config) -> Driver {
    let mut d = Driver::open(fs, config).unwrap();
    let steps = [
        Step::CreateTree(0),
        Step::CreateTree(1),
        Step::CreateTree(2),
        Step::Batch {
            tree: 0,
            changes: 2,
            size: 100,
        },
        Step::Batch {
            tree: 1,
            changes: 1,
            size: 30,
        },
        Step::PutEntry,
        Step::Reopen,
        Step::Batch {
            tree: 2,
            changes: 3,
            size: 10,
        },
        Step::DeleteTree(1),
        Step::PutEntry,
        Step::DeleteEntry(0),
        Step::Batch {
            tree: 0,
            changes: 1,
            size: 200,
        },
        // Everything durable (also in `Buffered` mode), so that the old state and the new one
        // are the same state.
        Step::Sync,
    ];
    for s in &steps {
        d.step(s).result.unwrap();
    }
    d
}

#[test]
fn a_crash_at_every_step_of_the_checkpoint_switch_recovers_the_old_or_the_new_state() {
    let mut covered = 0;
    for durability in [Durability::Buffered, Durability::Sync] {
        let config = one_writer(durability);
        // Where the checkpoint's calls begin and end.
        let fs = SimFs::new();
        fs.enable_trace();
        let d = checkpoint_fixture(&fs, config);
        let counter = d.space.as_ref().unwrap().add_seq();
        let start = fs.ops();
        d.space.as_ref().unwrap().checkpoint().unwrap().unwrap();
        let end = fs.ops();
        let calls: Vec<String> = fs.trace()[start as usize..end as usize].to_vec();
        // The switch's steps, in order: (an fsync of the log, when it has unsynced frames),
        // create the new active segment, its header, its fsync (its name is synced by the
        // first sync of its frames; writes go on there from here on, without the commit lock),
        // create tmp, write, fsync, rename, sync dir, remove the old segments, sync dir.
        let kinds: Vec<&str> = calls
            .iter()
            .map(|c| {
                c.split_whitespace()
                    .nth(1)
                    .unwrap()
                    .split('[')
                    .next()
                    .unwrap()
            })
            .collect();
        let rename = kinds.iter().position(|k| *k == "Rename").unwrap();
        assert_eq!(
            &kinds[rename - 3..rename + 2],
            ["Create", "Write", "Fsync", "Rename", "SyncDir"],
            "{calls:?}"
        );
        // Before the checkpoint's file: the new active segment, created, its header written
        // and synced, and no directory sync.
        assert!(kinds[..rename - 3].contains(&"Create"), "{calls:?}");
        assert_eq!(
            kinds[rename - 5..rename - 3],
            ["Write", "Fsync"],
            "{calls:?}"
        );
        assert!(kinds.contains(&"Remove"), "{calls:?}");
        drop(d);

        for k in start..=end {
            for (t, tear) in Tear::ALL.into_iter().enumerate() {
                for rep in 0..3u64 {
                    let mut rng = Rng::new(k * 31 + t as u64 * 7 + rep);
                    let fs = SimFs::new();
                    let mut d = checkpoint_fixture(&fs, config);
                    // This fixture's own state (its changes' `added` times are its own).
                    let before = dump(d.space.as_ref().unwrap());
                    fs.cut_power_at(k - fs.ops());
                    let r = d.space.as_ref().unwrap().checkpoint();
                    let step = calls
                        .get((k - start) as usize)
                        .map_or("after the checkpoint", |s| s.as_str());
                    if k == end {
                        // After the last call: the checkpoint is complete.
                        assert!(r.is_ok(), "{r:?}");
                        fs.cut_power();
                    }
                    assert!(
                        fs.power_is_off(),
                        "{durability:?}, cut at {step}: the cut did not happen ({r:?})"
                    );
                    let fs2 = fs.reboot(tear, &mut rng);
                    drop(d.space.take());
                    let space = Space::create(workload::dir(), config.options(&fs2))
                        .unwrap_or_else(|e| {
                            panic!("{durability:?}, cut at {step}, {tear:?}: open failed: {e}")
                        });
                    assert_eq!(
                        dump(&space),
                        before,
                        "{durability:?}, cut at {step}, {tear:?}: not the state before the checkpoint"
                    );
                    assert!(space.add_seq() >= counter);
                    let segments: Vec<String> = fs2
                        .names(&workload::dir())
                        .into_iter()
                        .filter(|n| n.ends_with(".wal") || n.contains(".wal."))
                        .collect();
                    assert!(
                        !segments.iter().any(|n| n.ends_with(".tmp")),
                        "{durability:?}, cut at {step}: a temporary checkpoint survived the open: {segments:?}"
                    );
                    check_continues(&fs2, config, space, counter)
                        .unwrap_or_else(|e| panic!("{durability:?}, cut at {step}, {tear:?}: {e}"));
                    covered += 1;
                }
            }
        }
    }
    eprintln!("checkpoint switch: {covered} crashes");
}

/// `Sync` writers on four threads share fsyncs (group commit); a cut at a random call loses none
/// of the batches that were acknowledged, and keeps each batch whole.
#[test]
fn sync_group_commit_under_power_cuts_loses_no_acknowledged_batch() {
    use std::sync::{Arc, Mutex};
    use std::thread;
    let runs = (cuts_per_mode() / 15).max(10);
    for run in 0..runs as u64 {
        let mut rng = Rng::new(run + 77);
        let config = Config {
            durability: Durability::Sync,
            segment_size: [400, 64 << 20][rng.below(2) as usize],
            reserve_ahead: [2, 1 << 20][rng.below(2) as usize],
            auto_checkpoint: None,
        };
        let fs = SimFs::new();
        let space = Space::create(workload::dir(), config.options(&fs)).unwrap();
        for t in 0..4 {
            space
                .create_tree_storage(TreeRoot::new(format!("t{t}"), b"root".to_vec()))
                .unwrap();
        }
        let max_counter = Arc::new(Mutex::new(0u64));
        fs.cut_power_at(rng.below(60));
        let acked: Vec<(String, u64)> = thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    let space = space.clone();
                    let max_counter = Arc::clone(&max_counter);
                    s.spawn(move || {
                        let tree = space.tree_storage(&format!("t{t}")).unwrap();
                        let mut acked = Vec::new();
                        for i in 0..15 {
                            let base = format!("t{t}-{i}");
                            let r = tree.add_all(
                                vec![
                                    StorageChange::new(
                                        format!("{base}-a"),
                                        format!("{i:04}a"),
                                        vec![1; 20],
                                    ),
                                    StorageChange::new(
                                        format!("{base}-b"),
                                        format!("{i:04}b"),
                                        vec![2; 20],
                                    ),
                                ],
                                vec![format!("{base}-b")],
                                format!("t{t}"),
                            );
                            let mut m = max_counter.lock().unwrap();
                            *m = (*m).max(space.add_seq());
                            match r {
                                Ok(seq) => acked.push((base, seq)),
                                Err(_) => break,
                            }
                        }
                        acked
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let max_counter = *max_counter.lock().unwrap();
        if !fs.power_is_off() {
            fs.cut_power();
        }
        let fs2 = fs.reboot(Tear::ALL[(run % 3) as usize], &mut rng);
        drop(space);
        let space = Space::create(workload::dir(), config.options(&fs2)).unwrap();
        for (base, seq) in &acked {
            for part in ["a", "b"] {
                let t = &base[..2];
                let c = space
                    .tree_storage(t)
                    .unwrap()
                    .get(&format!("{base}-{part}"))
                    .unwrap_or_else(|e| panic!("run {run}: acknowledged {base} lost: {e}"));
                assert_eq!(c.add_seq, *seq);
            }
        }
        let changes = space
            .changes_after_add_seq(0)
            .map(StorageChange::from)
            .collect::<Vec<_>>();
        for c in &changes {
            let partner = match c.id.strip_suffix("-a") {
                Some(b) => format!("{b}-b"),
                None => format!("{}-a", c.id.strip_suffix("-b").unwrap()),
            };
            assert!(
                changes
                    .iter()
                    .any(|o| o.id.as_str() == partner && o.add_seq == c.add_seq),
                "run {run}: half batch {}",
                c.id
            );
        }
        assert!(
            space.add_seq() >= max_counter,
            "run {run}: counter went back"
        );
        let seq = space
            .tree_storage("t0")
            .unwrap()
            .add_all(
                vec![StorageChange::new("z", "z", b"z".to_vec())],
                ["z"],
                "t0",
            )
            .unwrap();
        assert!(seq > max_counter, "run {run}: seq {seq} reused");
    }
}

/// The record of a torn frame may hold bytes that happen to form a valid frame (a change's raw
/// bytes are whatever a peer sent). When that frame is the torn tail, replay must still see a
/// torn tail, not corruption: the embedded "frame" starts inside the torn frame's extent.
#[test]
fn a_torn_frame_whose_payload_embeds_a_valid_frame_is_a_torn_tail() {
    let config = one_writer(Durability::Buffered);
    let fs = SimFs::new();
    let space = Space::create(workload::dir(), config.options(&fs)).unwrap();
    let tree = space
        .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
        .unwrap();
    space.sync().unwrap();
    // The first open's segment is 1: a frame that is valid there.
    let mut inner = Vec::new();
    spacestore::internals::frame::Framing::V1 { seq: 1 }.encode(
        &mut inner,
        spacestore::internals::frame::KIND_RECORD,
        |o| o.extend_from_slice(b"anything at all"),
    );
    let mut raw = inner.clone();
    raw.extend_from_slice(&[0xAB; 64]);
    tree.add_all(vec![StorageChange::new("c", "1", raw)], ["c"], "t")
        .unwrap();
    // Power cut: the batch's frame lands torn after the embedded frame but before its end.
    fs.cut_power();
    let seg: PathBuf = workload::dir().join("00000000000000000001.wal");
    let whole = fs.get(&seg).unwrap();
    let pos = whole
        .windows(inner.len())
        .position(|w| w == inner.as_slice())
        .unwrap();
    let mut rng = Rng::new(1);
    let fs2 = fs.reboot(Tear::DropUnsynced, &mut rng);
    drop(tree);
    drop(space);
    let synced = fs2.get(&seg).unwrap();
    let mut torn = synced.clone();
    torn.extend_from_slice(&whole[synced.len()..pos + inner.len() + 10]);
    fs2.put(&seg, &torn);
    let space = Space::create(workload::dir(), config.options(&fs2))
        .unwrap_or_else(|e| panic!("a power loss made the space unopenable: {e}"));
    assert!(space.recovery_report().unwrap().torn_tail.is_some());
    assert!(space.tree_storage("t").unwrap().get("c").is_err());
}

/// The op counts of the workloads, for the report: how many calls of each kind a typical
/// workload makes (so the cuts above hit every kind).
#[test]
fn workloads_exercise_every_kind_of_call() {
    let mut totals = [0u64; 8];
    for seed in 1_001..1_021 {
        let mut rng = Rng::new(seed);
        let config = workload::config(&mut rng, Durability::Buffered);
        let len = 8 + rng.below(14) as usize;
        let steps = workload::steps(&mut rng, len, true);
        let fs = SimFs::new();
        let mut d = Driver::open(&fs, config).unwrap();
        for s in &steps {
            d.step(s).result.unwrap();
        }
        drop(d);
        for (t, c) in totals.iter_mut().zip(fs.counts()) {
            *t += c;
        }
    }
    for op in [
        Op::Create,
        Op::Write,
        Op::Fsync,
        Op::Rename,
        Op::Remove,
        Op::SyncDir,
    ] {
        assert!(
            totals[op as usize] > 0,
            "no {op:?} in the workloads: {totals:?}"
        );
    }
}

/// `Options::bytes_per_sync`: a `Buffered` log past the threshold is synced by the flusher
/// thread without any call to sync: a power cut afterwards (dropping everything unsynced)
/// keeps what it synced, a prefix of the writes.
#[test]
fn a_buffered_log_past_bytes_per_sync_is_synced_in_the_background_and_survives_a_power_cut() {
    let fs = SimFs::new();
    let options = spacestore::Options::default()
        .durability(Durability::Buffered)
        .auto_checkpoint(None, 0)
        .bytes_per_sync(Some(4096))
        .file_system(fs.arc());
    let space = Space::create("/space", options).unwrap();
    let tree = space
        .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
        .unwrap();
    let add = |i: u32| {
        let id = format!("c{i:02}");
        let change = StorageChange::new(id.as_str(), id.as_str(), vec![b'x'; 1024]);
        tree.add_all(vec![change], [id.as_str()], "t").unwrap();
    };
    // The first batch syncs a reservation of seqs; count the syncs after it.
    add(0);
    let syncs_before = space.log_stats().unwrap().syncs;
    // 15 more batches of about 1 KiB: past the threshold several times.
    for i in 1..16u32 {
        add(i);
    }
    // Wait for the flusher's sync (the event); the deadline only guards against a hang.
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    while space.log_stats().unwrap().syncs == syncs_before {
        assert!(Instant::now() < deadline, "no background sync came");
        std::thread::yield_now();
    }
    fs.cut_power();
    drop((tree, space));
    let fs = fs.reboot(Tear::DropUnsynced, &mut Rng::new(1));
    let space = Space::create(
        "/space",
        spacestore::Options::default()
            .bytes_per_sync(None)
            .file_system(fs.arc()),
    )
    .unwrap();
    let ids: Vec<String> = space
        .changes_after_add_seq(0)
        .map(StorageChange::from)
        .collect::<Vec<_>>()
        .iter()
        .map(|c| c.id.to_string())
        .collect();
    // Nothing but the flusher synced: without it, no batch would be left.
    assert!(!ids.is_empty(), "nothing survived the power cut");
    let expected: Vec<String> = (0..ids.len()).map(|i| format!("c{i:02}")).collect();
    assert_eq!(ids, expected, "not a prefix of the writes");
}

/// The open that folds a log of many short segments (more than 64: each earlier session
/// that wrote started one) with an automatic checkpoint, the power cut at every call of it with every tear: the
/// next open finds every acknowledged `Sync` batch and hands out no seq twice.
#[test]
fn a_power_cut_during_the_fold_of_short_segments_at_open_loses_nothing() {
    // A large factor and minimum: only the short segments can make a checkpoint due.
    let config = Config {
        auto_checkpoint: Some((1 << 20, u64::MAX)),
        ..one_writer(Durability::Sync)
    };
    let segments = |fs: &SimFs| {
        let names = fs.names(&workload::dir());
        names.iter().filter(|n| n.ends_with(".wal")).count()
    };
    // The space after its writes and the opens without writes that leave more than 64
    // segments; the acknowledged seqs.
    let prepared = || {
        let fs = SimFs::new();
        let space = Space::create(workload::dir(), config.options(&fs)).unwrap();
        let (tree, first) = tree_with_change(&space, "c1");
        let second = tree
            .add_all(
                vec![StorageChange::new("c2", "2", b"y".to_vec())],
                ["c2"],
                "t",
            )
            .unwrap();
        drop((tree, space));
        // Up to the open that finds more than 64 segments: each session writes (an open
        // without a write starts no segment).
        let mut session = 0;
        while segments(&fs) <= 64 {
            let space = Space::open(workload::dir(), config.options(&fs)).unwrap();
            let id = format!("s{session}");
            space
                .tree_storage("t")
                .unwrap()
                .add_all(
                    vec![StorageChange::new(
                        id.as_str(),
                        format!("s{session:04}"),
                        b"s".to_vec(),
                    )],
                    spacestore::Heads::Unchanged,
                    "t",
                )
                .unwrap();
            session += 1;
        }
        (fs, [first, second])
    };
    let (fs, _) = prepared();
    let segments_before = segments(&fs);
    let before = fs.ops();
    drop(Space::open(workload::dir(), config.options(&fs)).unwrap());
    let calls = fs.ops() - before;
    let segments_after = segments(&fs);
    assert!(
        segments_after < segments_before,
        "the open folded nothing: {segments_before} -> {segments_after} segments"
    );
    for at in 0..calls {
        for (t, tear) in Tear::ALL.into_iter().enumerate() {
            let (fs, seqs) = prepared();
            fs.cut_power_at(at);
            drop(Space::open(workload::dir(), config.options(&fs)));
            let fs = fs.reboot(tear, &mut Rng::new(at * 3 + t as u64));
            let what = format!("cut at call {at} of {calls} of the folding open, {tear:?}");
            let space = Space::open(workload::dir(), config.options(&fs))
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let tree = space.tree_storage("t").unwrap();
            for (id, seq) in ["c1", "c2"].into_iter().zip(seqs) {
                assert_eq!(tree.get(id).unwrap().add_seq, seq, "{what}");
            }
            let next = tree
                .add_all(
                    vec![StorageChange::new("c3", "3", b"z".to_vec())],
                    ["c3"],
                    "t",
                )
                .unwrap();
            assert!(next > seqs[1], "{what}: seq {next} handed out again");
        }
    }
}

/// A space of three `Sync` batches, cleanly closed; `failed_close`: then a fourth, `Buffered`,
/// and the close's last fsync (of its close frame) fails, so the close frame is in the page
/// cache only (the next open still finds a clean close); `Some(0)`: its first fsync (of the
/// batch before the close frame) fails instead, and no close frame is written.
fn closed_space(failed_close: Option<u64>) -> (SimFs, Vec<u64>) {
    let durability = if failed_close.is_some() {
        Durability::Buffered
    } else {
        Durability::Sync
    };
    let config = one_writer(durability);
    let fs = SimFs::new();
    let space = Space::create(workload::dir(), config.options(&fs)).unwrap();
    let (tree, first) = tree_with_change(&space, "c1");
    let mut seqs = vec![first];
    for id in ["c2", "c3"] {
        seqs.push(
            tree.add_all(vec![StorageChange::new(id, id, b"x".to_vec())], [id], "t")
                .unwrap(),
        );
    }
    if let Some(nth) = failed_close {
        // c1..c3 are durable; c4 is not.
        space.sync().unwrap();
        tree.add_all(
            vec![StorageChange::new("c4", "c4", b"x".to_vec())],
            ["c4"],
            "t",
        )
        .unwrap();
        fs.fail(Op::Fsync, fs.count(Op::Fsync) + nth, Fault::Error(5));
        drop(tree);
        assert!(space.close().is_err(), "the close's fsync fails");
        fs.disarm();
    } else {
        drop((tree, space));
    }
    (fs, seqs)
}

/// The open of a cleanly closed space (which writes nothing) and its first `Sync` write, the
/// power cut at every call of both with every tear: the open after the reboot finds every
/// batch acknowledged before and the first write when it was acknowledged, and hands out no
/// seq twice. With `failed_close`, the close frame never reached the disk: the first write
/// must make it durable before its own segment, or a cut leaves a gap in the log.
fn cut_reopen_and_first_write(failed_close: Option<u64>) {
    let config = one_writer(Durability::Sync);
    let run = |fs: &SimFs| -> Option<u64> {
        let space = Space::open(workload::dir(), config.options(fs)).ok()?;
        let tree = space.tree_storage("t").ok()?;
        tree.add_all(
            vec![StorageChange::new("w", "w", b"w".to_vec())],
            ["w"],
            "t",
        )
        .ok()
    };
    let (fs, _) = closed_space(failed_close);
    let before = fs.ops();
    let first = run(&fs).expect("the run succeeds without a cut");
    let calls = fs.ops() - before;
    assert!(calls >= 4, "the first write makes {calls} calls");
    for at in 0..=calls {
        for (t, tear) in Tear::ALL.into_iter().enumerate() {
            let (fs, seqs) = closed_space(failed_close);
            fs.cut_power_at(at);
            let acked = run(&fs);
            let fs = fs.reboot(tear, &mut Rng::new(at * 3 + t as u64));
            let what = format!("cut at call {at} of {calls}, {tear:?}, acked {acked:?}");
            let space = Space::open(workload::dir(), config.options(&fs))
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let tree = space.tree_storage("t").unwrap();
            // c1..c3 were synced (by their own commits, or by the explicit sync).
            for (id, seq) in ["c1", "c2", "c3"].into_iter().zip(&seqs) {
                assert_eq!(
                    tree.get(id).map(|c| c.add_seq).ok(),
                    Some(*seq),
                    "{what}: {id}"
                );
            }
            if let Some(seq) = acked {
                assert_eq!(tree.get("w").map(|c| c.add_seq).ok(), Some(seq), "{what}");
                // The log on disk is a prefix: what came before the write is there too (after
                // a failed close, c4 was in the page cache only when the write began).
                if failed_close == Some(1) {
                    assert!(tree.has("c4"), "{what}: a gap in the log: c4 lost, w kept");
                }
            }
            let next = tree
                .add_all(
                    vec![StorageChange::new("z", "z", b"z".to_vec())],
                    ["z"],
                    "t",
                )
                .unwrap();
            assert!(
                next > acked.unwrap_or(0).max(seqs[2]),
                "{what}: seq {next} again"
            );
            assert!(first > seqs[2]);
        }
    }
}

#[test]
fn a_power_cut_during_a_clean_reopen_and_its_first_write_loses_nothing() {
    cut_reopen_and_first_write(None);
}

/// The close frame's fsync fails: the next open finds a clean close (its frame in the page
/// cache), and its first write syncs it before anything new, so no cut leaves a gap.
#[test]
fn a_power_cut_after_a_close_whose_fsync_failed_never_leaves_a_gap_in_the_log() {
    cut_reopen_and_first_write(Some(1));
}

/// The close's first fsync (of what came before its frame) fails: no close frame is written,
/// and the next open syncs the log as after a crash.
#[test]
fn a_power_cut_after_a_close_that_could_not_sync_its_batches_loses_nothing() {
    cut_reopen_and_first_write(Some(0));
}
