//! Fault injection: a scripted workload (trees, batches, head entries, syncs, checkpoints,
//! reopens, segment rolls, reservations) runs on a [`SimFs`] that fails one call of it: every
//! write (with EIO, ENOSPC, or short), every fsync (EIO, ENOSPC), every directory sync, rename,
//! create and remove (EIO), and every write whose take-back then fails too. For each fault point,
//! in `Buffered` and `Sync` mode:
//!
//! - the call that hit the fault returns `Error::Io` carrying the injected error;
//! - nothing of that call is visible (the state is the one before it);
//! - after a failed fsync of the log (or a failed take-back), every write is refused with
//!   `Error::WritesRefused` and `Space::writes_refused()` says why, while reads go on; other
//!   faults refuse nothing: the next write works;
//! - a reopen shows what the space showed (plus, at most, the writes whose fsync failed: their
//!   frames may have reached the file), and new batches take seqs above every seq handed out.
//!
//! Every broken promise at any fault point fails the test: the bugs this harness found are fixed
//! (each has its own test below), so no failure is excused.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use spacestore::{Durability, Error, Refusal, Space, StorageChange, TreeRoot};
use spacestore_test_kit::simfs::workload::{
    self, check_continues, dump, Config, Driver, Dump, EventKind, Step,
};
use spacestore_test_kit::simfs::{Fault, Fired, Op, SimFs, EIO, ENOSPC};

fn config(durability: Durability) -> Config {
    Config {
        durability,
        segment_size: 360,
        reserve_ahead: 4,
        auto_checkpoint: None,
    }
}

fn batch(tree: u8, changes: u8, size: u16) -> Step {
    Step::Batch {
        tree,
        changes,
        size,
    }
}

/// The scripted workload: about 60 file-system calls of every kind.
fn script() -> Vec<Step> {
    vec![
        Step::CreateTree(0),
        Step::CreateTree(1),
        Step::CreateSpace,
        batch(0, 2, 60),
        Step::CreateCursor(0),
        Step::PutEntry,
        batch(1, 1, 150),
        Step::Ack(0),
        Step::AddAcl(2),
        Step::Sync,
        batch(0, 3, 20),
        Step::Checkpoint,
        batch(1, 1, 200),
        Step::SetHash,
        Step::MigratedBatch(2),
        Step::DeleteEntry(0),
        batch(0, 1, 10),
        Step::Reopen,
        batch(1, 2, 100),
        Step::AddAcl(1),
        Step::MigratedBatch(1),
        Step::Ack(0),
        Step::PutEntry,
        Step::SetHash,
        Step::Checkpoint,
        batch(0, 1, 50),
        Step::Sync,
        Step::DeleteTree(1),
        batch(0, 1, 30),
        Step::ResetCursor(0),
        Step::Reopen,
        batch(0, 1, 5),
    ]
}

fn writes(step: &Step) -> bool {
    !matches!(step, Step::Checkpoint | Step::Sync | Step::Reopen)
}

/// The errno a fault makes the call return.
fn errno(f: Fault) -> i32 {
    match f {
        Fault::Error(code) => code,
        Fault::Short(_) => ENOSPC,
    }
}

/// The part of a dump that a reopen must keep: changes by id, head entries by id.
fn compare(before: &Dump, after: &Dump, in_doubt: &[EventKind]) -> Result<(), String> {
    let mut touched: BTreeSet<String> = BTreeSet::new();
    let mut may_appear: BTreeSet<String> = BTreeSet::new();
    let mut may_vanish_tree: BTreeSet<String> = BTreeSet::new();
    let mut state_in_doubt = false;
    for e in in_doubt {
        match e {
            EventKind::Tree(t) => {
                touched.insert(t.clone());
            }
            EventKind::Batch(t, ids) => {
                touched.insert(t.clone());
                may_appear.extend(ids.iter().cloned());
            }
            EventKind::Entry(id, _) | EventKind::EntryDeleted(id) => {
                touched.insert(id.clone());
            }
            EventKind::TreeDeleted(t) => {
                may_vanish_tree.insert(t.clone());
            }
            EventKind::Cursor(name, _) | EventKind::CursorDeleted(name) => {
                touched.insert(name.clone());
            }
            EventKind::Space => {
                state_in_doubt = true;
                touched.extend(["acl".to_owned(), "settings".to_owned()]);
                may_appear.insert("acl".to_owned());
            }
            EventKind::Acl(ids) => {
                touched.insert("acl".to_owned());
                may_appear.extend(ids.iter().cloned());
            }
            EventKind::Hash(_) => state_in_doubt = true,
            EventKind::Migrated(ids) => {
                touched.insert("m0".to_owned());
                may_appear.extend(ids.iter().cloned());
            }
        }
    }
    let migrated_a: BTreeMap<String, &StorageChange> = before
        .migrated
        .iter()
        .map(|c| (c.id.to_string(), c))
        .collect();
    let migrated_b: BTreeMap<String, &StorageChange> = after
        .migrated
        .iter()
        .map(|c| (c.id.to_string(), c))
        .collect();
    for (id, c) in &migrated_a {
        if migrated_b.get(id) != Some(c) {
            return Err(format!(
                "migrated change {id} differs or is gone after the reopen"
            ));
        }
    }
    if let Some(id) = migrated_b
        .keys()
        .find(|id| !migrated_a.contains_key(*id) && !may_appear.contains(*id))
    {
        return Err(format!("migrated change {id} appeared after the reopen"));
    }
    if !state_in_doubt && before.state != after.state {
        return Err(format!(
            "the state differs after the reopen: {:?} vs {:?}",
            before.state, after.state
        ));
    }
    let acl_a: BTreeSet<String> = before.acl.iter().map(|r| r.id.to_string()).collect();
    for r in &after.acl {
        let id = r.id.to_string();
        if !acl_a.contains(&id) && !may_appear.contains(&id) {
            return Err(format!("ACL record {id} appeared after the reopen"));
        }
    }
    let acl_b: BTreeSet<String> = after.acl.iter().map(|r| r.id.to_string()).collect();
    if let Some(gone) = acl_a.difference(&acl_b).next() {
        return Err(format!("ACL record {gone} is gone after the reopen"));
    }
    let a: BTreeMap<String, &StorageChange> = before
        .changes
        .iter()
        .map(|c| (c.id.to_string(), c))
        .collect();
    let b: BTreeMap<String, &StorageChange> = after
        .changes
        .iter()
        .map(|c| (c.id.to_string(), c))
        .collect();
    for (id, c) in &a {
        match b.get(id) {
            Some(d) if d == c => {}
            Some(d) => {
                return Err(format!(
                    "change {id} differs after the reopen: {c:?} vs {d:?}"
                ))
            }
            None if may_vanish_tree.contains(c.tree_id.as_str()) => {}
            None => return Err(format!("change {id} is gone after the reopen")),
        }
    }
    for id in b.keys() {
        if !a.contains_key(id) && !may_appear.contains(id) {
            return Err(format!("change {id} appeared after the reopen"));
        }
    }
    let ea: BTreeMap<String, _> = before
        .entries
        .iter()
        .map(|e| (e.id.to_string(), e))
        .collect();
    let eb: BTreeMap<String, _> = after
        .entries
        .iter()
        .map(|e| (e.id.to_string(), e))
        .collect();
    for id in ea.keys().chain(eb.keys()) {
        if touched.contains(id) {
            continue;
        }
        if ea.get(id) != eb.get(id) {
            return Err(format!(
                "head entry {id} differs after the reopen: {:?} vs {:?}",
                ea.get(id),
                eb.get(id)
            ));
        }
    }
    let ca: BTreeMap<String, u64> = before
        .cursors
        .iter()
        .map(|(name, seq)| (name.to_string(), *seq))
        .collect();
    let cb: BTreeMap<String, u64> = after
        .cursors
        .iter()
        .map(|(name, seq)| (name.to_string(), *seq))
        .collect();
    for name in ca.keys().chain(cb.keys()) {
        if !touched.contains(name) && ca.get(name) != cb.get(name) {
            return Err(format!(
                "cursor {name} differs after the reopen: {:?} vs {:?}",
                ca.get(name),
                cb.get(name)
            ));
        }
    }
    Ok(())
}

/// A failed fault point: where, and what went wrong.
#[derive(Debug)]
struct Failure {
    point: String,
    why: String,
}

/// Runs the script with `faults` armed; returns the failures (empty: every promise held) and
/// whether any fault went off.
fn run_point(
    durability: Durability,
    faults: &[(Op, u64, Fault)],
    capacity_after: Option<(usize, u64)>,
) -> (Vec<Failure>, bool) {
    let point = format!("{durability:?} {faults:?} {capacity_after:?}");
    let config = config(durability);
    let fs = SimFs::new();
    for &(op, n, f) in faults {
        fs.fail(op, n, f);
    }
    let mut d = Driver::unopened(&fs, config);
    let mut failures = Vec::new();
    let mut latched = false;
    // Writes whose fsync failed since the last open: their frames may be in the file.
    let mut in_doubt: Vec<EventKind> = Vec::new();
    let mut fired_any = false;
    let mut failed_before = false;
    let mut fail = |why: String| {
        failures.push(Failure {
            point: point.clone(),
            why,
        })
    };
    for (i, step) in script().iter().enumerate() {
        if let Some((at, cap)) = capacity_after {
            if i == at {
                fs.set_capacity(Some(fs.used() + cap));
            }
        }
        let fired_before = fs.fired().len();
        let before = d.space.as_ref().map(dump);
        let out = d.step(step);
        if before.is_none() && d.space.is_some() {
            // The driver opened a new space for this step (the last open had failed): a new
            // session, which a failed fsync of an earlier one does not latch.
            latched = false;
            in_doubt.clear();
        }
        let fired: Vec<Fired> = fs.fired()[fired_before..].to_vec();
        let full = capacity_after.is_some_and(|(at, _)| i >= at);
        if !fired.is_empty() {
            fired_any = true;
        }
        let step_desc = format!("step {i} {step:?}");
        match &out.result {
            Ok(()) => {
                if !fired.is_empty() && *step != Step::Reopen {
                    fail(format!("{step_desc}: the fault {fired:?} was swallowed"));
                }
                if latched && writes(step) {
                    fail(format!(
                        "{step_desc}: a write went through after a failed fsync"
                    ));
                }
            }
            Err(e) => {
                let consequence = failed_before
                    && matches!(
                        e,
                        Error::UnknownTree(_)
                            | Error::TreeDeleted(_)
                            | Error::EntryNotFound(_)
                            | Error::BareSpace
                    );
                if consequence {
                    // An earlier write failed: its tree, entry or whole space is missing (found
                    // before the write is tried).
                } else if latched && *step != Step::Reopen {
                    if !matches!(e, Error::WritesRefused(_)) {
                        fail(format!(
                            "{step_desc}: after a failed fsync: {e:?}, expected WritesRefused"
                        ));
                    }
                } else if let Some(f) = fired.first() {
                    let want = errno(f.fault);
                    let ok = matches!(e, Error::Io { source, .. } if source.raw_os_error() == Some(want));
                    if !ok {
                        fail(format!("{step_desc}: fault {f:?} came back as {e:?}"));
                    }
                } else if full {
                    let ok = matches!(e, Error::Io { source, .. } if source.raw_os_error() == Some(ENOSPC))
                        || matches!(e, Error::WritesRefused(_));
                    if !ok {
                        fail(format!("{step_desc}: disk full came back as {e:?}"));
                    }
                } else {
                    fail(format!("{step_desc}: failed without a fault: {e:?}"));
                }
                failed_before = true;
                // Nothing of the failed call is visible, and reads go on.
                if *step != Step::Reopen {
                    if let (Some(b), Some(space)) = (&before, &d.space) {
                        let now = dump(space);
                        if &now != b {
                            fail(format!("{step_desc}: the failed call changed the state"));
                        }
                    }
                }
                // What latches: a failed fsync of the log, a failed take-back, and a failed
                // sync of the directory that makes the active segment's name durable (a sync
                // of the log; a checkpoint's own directory syncs do not latch: the space says
                // which one failed).
                let naming_sync_failed = d.space.as_ref().is_some_and(|space| {
                    matches!(
                        space.writes_refused(),
                        Some(Refusal::SyncFailed { context, .. })
                            if context == "syncing the space directory"
                    )
                });
                for f in &fired {
                    let log = f
                        .path
                        .as_deref()
                        .is_some_and(|p| p.extension().is_some_and(|x| x == "wal"))
                        || (f.op == Op::SyncDir && naming_sync_failed);
                    let log_sync = (f.op == Op::Fsync || f.op == Op::SyncDir) && log;
                    if log_sync || f.op == Op::FileTruncate {
                        latched = true;
                    }
                    if log_sync && writes(step) && durability == Durability::Sync {
                        if let Some(e) = out.event {
                            in_doubt.push(d.events[e].kind.clone());
                        }
                    }
                }
                if latched && *step != Step::Reopen {
                    if let Some(space) = &d.space {
                        if space.writes_refused().is_none() {
                            fail(format!(
                                "{step_desc}: writes_refused() is None after a failed fsync"
                            ));
                        }
                    }
                }
            }
        }
        // A reopen shows what the space showed before it; a reopened space takes writes again.
        if *step == Step::Reopen {
            if let (Some(b), Some(space)) = (&before, &d.space) {
                if let Err(why) = compare(b, &dump(space), &in_doubt) {
                    fail(format!("{step_desc}: memory and disk disagree: {why}"));
                }
            }
            if d.space.is_some() {
                latched = false;
                in_doubt.clear();
            }
        }
    }
    // The end: space back, faults gone; a reopen shows the same, new seqs go above the old.
    fs.disarm();
    fs.set_capacity(None);
    let space = match d.space.take() {
        Some(s) => s,
        None => match Space::create(workload::dir(), config.options(&d.fs)) {
            Ok(s) => s,
            Err(e) => {
                fail(format!("open after the script failed: {e}"));
                return (failures, fired_any);
            }
        },
    };
    let before = dump(&space);
    let max_counter = d.max_counter.max(space.add_seq());
    drop(space);
    match Space::create(workload::dir(), config.options(&d.fs)) {
        Ok(space) => {
            if let Err(why) = compare(&before, &dump(&space), &in_doubt) {
                fail(format!("final reopen: memory and disk disagree: {why}"));
            }
            if let Err(why) = check_continues(&d.fs, config, space, max_counter) {
                fail(format!("after the final reopen: {why}"));
            }
        }
        Err(e) => fail(format!("final reopen failed: {e}")),
    }
    (failures, fired_any)
}

/// Every fault point of the script for one durability mode.
fn fault_points(durability: Durability) -> Vec<Vec<(Op, u64, Fault)>> {
    let fs = SimFs::new();
    let mut d = Driver::unopened(&fs, config(durability));
    for s in script() {
        d.step(&s)
            .result
            .expect("the script runs on a healthy file system");
    }
    let counts = fs.counts();
    drop(d);
    let mut points = Vec::new();
    for op in Op::ALL {
        for n in 0..counts[op as usize] {
            let faults: &[Fault] = match op {
                Op::Write => &[
                    Fault::Error(EIO),
                    Fault::Error(ENOSPC),
                    Fault::Short(1),
                    Fault::Short(13),
                ],
                Op::Fsync => &[Fault::Error(EIO), Fault::Error(ENOSPC)],
                _ => &[Fault::Error(EIO)],
            };
            for &f in faults {
                points.push(vec![(op, n, f)]);
            }
            if op == Op::Write {
                // A short write whose take-back fails too.
                points.push(vec![
                    (op, n, Fault::Short(7)),
                    (Op::FileTruncate, 0, Fault::Error(EIO)),
                ]);
            }
        }
    }
    points
}

fn run_all(durability: Durability) -> (usize, Vec<Failure>) {
    let points = fault_points(durability);
    let mut failures = Vec::new();
    for p in &points {
        let (f, fired) = run_point(durability, p, None);
        assert!(fired, "{durability:?} {p:?}: the fault never went off");
        failures.extend(f);
    }
    (points.len(), failures)
}

fn report(failures: &[Failure]) -> String {
    let shown = if std::env::var_os("SPACESTORE_FAULTS_VERBOSE").is_some() {
        usize::MAX
    } else {
        12
    };
    let examples: Vec<String> = failures
        .iter()
        .take(shown)
        .map(|f| format!("  {} -> {}", f.point, f.why))
        .collect();
    examples.join("\n")
}

/// Every fault point of the script, in both modes: the failed call returns the injected error,
/// hides its write, latches where it must, and a reopen agrees with what the space showed.
#[test]
fn every_fault_point_of_the_script_keeps_every_promise() {
    let mut all = Vec::new();
    for durability in [Durability::Buffered, Durability::Sync] {
        let (n, failures) = run_all(durability);
        all.push((durability, n, failures));
    }
    let messages: Vec<String> = all
        .iter()
        .filter(|(_, _, f)| !f.is_empty())
        .map(|(d, n, f)| {
            format!(
                "{d:?}: {} failures in {n} fault points:\n{}",
                f.len(),
                report(f)
            )
        })
        .collect();
    assert!(messages.is_empty(), "{}", messages.join("\n"));
}

/// Out of space from a point of the script on, until the end: writes fail with ENOSPC (the
/// space stays readable, nothing half-written is visible), and once space is back (the end of
/// the script) the space works and a reopen agrees.
#[test]
fn out_of_space_fails_writes_with_enospc_and_they_work_again_once_space_is_back() {
    let mut points = 0;
    let mut failures = Vec::new();
    for durability in [Durability::Buffered, Durability::Sync] {
        for at in 0..script().len() {
            for room in [0u64, 20, 90, 300] {
                let (f, _) = run_point(durability, &[], Some((at, room)));
                failures.extend(f);
                points += 1;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures in {points} disk-full points:\n{}",
        failures.len(),
        report(&failures)
    );
}

fn space_on(fs: &SimFs, durability: Durability) -> (Space, spacestore::TreeStorage) {
    let space = Space::create(workload::dir(), config(durability).options(fs)).unwrap();
    let tree = space
        .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
        .unwrap();
    (space, tree)
}

fn add(tree: &spacestore::TreeStorage, id: &str) -> spacestore::Result<u64> {
    tree.add_all(vec![StorageChange::new(id, id, vec![3u8; 40])], [id], "t")
}

/// ENOSPC on an append, step by step: the write fails with the errno, the space reads on and
/// refuses nothing, the write works once space is back, and a reopen shows exactly that.
#[test]
fn enospc_on_append_is_taken_back_and_the_space_keeps_working_once_space_is_back() {
    for durability in [Durability::Buffered, Durability::Sync] {
        let fs = SimFs::new();
        let (space, tree) = space_on(&fs, durability);
        let a = add(&tree, "a").unwrap();
        fs.set_capacity(Some(fs.used() + 10));
        let before = dump(&space);
        for id in ["b", "c"] {
            match add(&tree, id) {
                Err(Error::Io { source, .. }) => assert_eq!(source.raw_os_error(), Some(ENOSPC)),
                other => panic!("{durability:?}: {other:?}"),
            }
            assert_eq!(dump(&space), before, "a failed write is not visible");
            assert!(
                space.writes_refused().is_none(),
                "ENOSPC on append refuses nothing"
            );
        }
        assert_eq!(tree.get("a").unwrap().add_seq, a);
        fs.set_capacity(None);
        let d = add(&tree, "d").unwrap();
        assert!(d > a);
        let live = dump(&space);
        drop(tree);
        drop(space);
        let space = Space::create(workload::dir(), config(durability).options(&fs)).unwrap();
        assert_eq!(dump(&space), live);
    }
}

/// A failed fsync of a `Sync` write: the write fails with the errno, is not visible, every later
/// write is `WritesRefused` (also reported by `writes_refused()`), reads go on; a reopen takes
/// writes again.
#[test]
fn a_failed_sync_fsync_refuses_every_later_write_until_reopen_and_reads_go_on() {
    let fs = SimFs::new();
    let (space, tree) = space_on(&fs, Durability::Sync);
    add(&tree, "a").unwrap();
    fs.fail_next(Op::Fsync, Fault::Error(EIO));
    match add(&tree, "b") {
        Err(Error::Io { source, .. }) => assert_eq!(source.raw_os_error(), Some(EIO)),
        other => panic!("{other:?}"),
    }
    assert!(tree.get("b").is_err());
    assert!(space.writes_refused().is_some());
    for id in ["c", "d"] {
        assert!(matches!(add(&tree, id), Err(Error::WritesRefused(_))));
    }
    assert!(matches!(space.checkpoint(), Err(Error::WritesRefused(_))));
    assert!(tree.get("a").is_ok());
    assert_eq!(space.changes_after_add_seq(0).count(), 1);
    let max = space.add_seq();
    drop(tree);
    drop(space);
    let space = Space::create(workload::dir(), config(Durability::Sync).options(&fs)).unwrap();
    assert!(space.writes_refused().is_none());
    let seq = add(&space.tree_storage("t").unwrap(), "e").unwrap();
    assert!(seq > max);
}

/// A failed fsync in a `Buffered` space (`Space::sync`) must latch like any failed fsync of the
/// log: the page cache can no longer be trusted.
#[test]
fn a_failed_fsync_of_space_sync_refuses_later_writes() {
    for durability in [Durability::Buffered, Durability::Sync] {
        let fs = SimFs::new();
        let (space, tree) = space_on(&fs, durability);
        add(&tree, "a").unwrap();
        if durability == Durability::Sync {
            // Everything acknowledged is synced already: `sync` has no fsync to fail. Make one
            // pending (a frame whose own sync is still to come) by failing the write's fsync.
            fs.fail_next(Op::Fsync, Fault::Error(EIO));
            assert!(add(&tree, "pending").is_err());
        } else {
            fs.fail_next(Op::Fsync, Fault::Error(EIO));
            assert!(matches!(space.sync(), Err(Error::Io { .. })));
        }
        assert!(
            space.writes_refused().is_some(),
            "{durability:?}: writes_refused() is None after a failed fsync"
        );
        assert!(
            matches!(add(&tree, "b"), Err(Error::WritesRefused(_))),
            "{durability:?}: a write after a failed fsync"
        );
    }
}

/// A checkpoint whose fsync of the log fails must latch as well.
#[test]
fn a_failed_fsync_at_the_start_of_a_checkpoint_refuses_later_writes() {
    let fs = SimFs::new();
    let (space, tree) = space_on(&fs, Durability::Buffered);
    add(&tree, "a").unwrap();
    fs.fail_next(Op::Fsync, Fault::Error(EIO));
    assert!(matches!(space.checkpoint(), Err(Error::Io { .. })));
    assert!(space.writes_refused().is_some());
    assert!(matches!(add(&tree, "b"), Err(Error::WritesRefused(_))));
}

/// A checkpoint that fails after its rename (its directory sync, the new active segment's
/// creation, or the removal of a superseded segment) returns the error; the writes that follow
/// must not be lost on reopen.
#[test]
fn writes_after_a_checkpoint_that_failed_after_its_rename_survive_a_reopen() {
    for (op, what) in [
        (Op::Remove, "remove"),
        (Op::SyncDir, "sync_dir"),
        (Op::Create, "create"),
    ] {
        for durability in [Durability::Buffered, Durability::Sync] {
            let fs = SimFs::new();
            let (space, tree) = space_on(&fs, durability);
            add(&tree, "a").unwrap();
            // The checkpoint's calls: fsync, create tmp, write, fsync, rename, sync_dir,
            // remove..., sync_dir, create, write, sync_dir.
            let n = match op {
                Op::SyncDir => fs.count(Op::SyncDir),
                Op::Create => fs.count(Op::Create) + 1,
                _ => fs.count(op),
            };
            fs.fail(op, n, Fault::Error(EIO));
            let r = space.checkpoint();
            assert!(r.is_err(), "{what}: {r:?}");
            let b = add(&tree, "b");
            let live = dump(&space);
            drop(tree);
            drop(space);
            let space = Space::create(workload::dir(), config(durability).options(&fs)).unwrap();
            if b.is_ok() {
                assert_eq!(
                    dump(&space),
                    live,
                    "{durability:?}, checkpoint failing at {what}: acknowledged write b lost"
                );
            }
        }
    }
}

/// A roll that fails (the next segment file cannot be created), then a checkpoint: the
/// checkpoint must not remove its own segment.
#[test]
fn a_checkpoint_after_a_failed_roll_keeps_the_data() {
    for durability in [Durability::Buffered, Durability::Sync] {
        let fs = SimFs::new();
        let (space, tree) = space_on(&fs, durability);
        add(&tree, "a").unwrap();
        // The next roll's creation of its segment fails.
        fs.fail(Op::Create, fs.count(Op::Create), Fault::Error(EIO));
        let mut i = 0;
        let failed = loop {
            i += 1;
            assert!(i < 50, "no roll happened");
            if add(&tree, &format!("x{i}")).is_err() {
                break format!("x{i}");
            }
        };
        assert!(tree.get(&failed).is_err());
        space.checkpoint().unwrap();
        let live = dump(&space);
        assert!(!live.changes.is_empty());
        drop(tree);
        drop(space);
        let space = Space::create(workload::dir(), config(durability).options(&fs)).unwrap();
        assert_eq!(
            dump(&space),
            live,
            "{durability:?}: the checkpoint lost the data"
        );
    }
}

/// The take-back works for record frames: a short write whose truncation fails latches the
/// space, and the log stays readable (the torn bytes are the tail).
#[test]
fn a_failed_take_back_of_a_record_frame_latches_and_the_log_stays_readable() {
    for durability in [Durability::Buffered, Durability::Sync] {
        let fs = SimFs::new();
        // Segments large enough that "b" is appended, not written into a new segment.
        let config = Config {
            segment_size: 1 << 20,
            ..config(durability)
        };
        let space = Space::create(workload::dir(), config.options(&fs)).unwrap();
        let tree = space
            .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
            .unwrap();
        add(&tree, "a").unwrap();
        fs.fail_next(Op::Write, Fault::Short(7));
        fs.fail_next(Op::FileTruncate, Fault::Error(EIO));
        assert!(matches!(add(&tree, "b"), Err(Error::Io { .. })));
        assert!(space.writes_refused().is_some(), "{durability:?}");
        assert!(matches!(add(&tree, "c"), Err(Error::WritesRefused(_))));
        let live = dump(&space);
        drop(tree);
        drop(space);
        let space = Space::create(workload::dir(), config.options(&fs)).unwrap();
        assert_eq!(dump(&space), live);
        assert!(space.recovery_report().unwrap().torn_tail.is_some());
    }
}

/// The same for a reservation frame (appended when a batch takes a seq above the reservation):
/// the space must latch, or the next frame follows the torn bytes and the log is corrupt.
#[test]
fn a_failed_take_back_of_a_reservation_frame_latches_and_the_log_stays_readable() {
    for durability in [Durability::Buffered, Durability::Sync] {
        let fs = SimFs::new();
        let (space, tree) = space_on(&fs, durability);
        // The first batch appends a reservation frame first: that write is cut short and its
        // take-back fails.
        fs.fail_next(Op::Write, Fault::Short(7));
        fs.fail_next(Op::FileTruncate, Fault::Error(EIO));
        assert!(matches!(add(&tree, "a"), Err(Error::Io { .. })));
        let b = add(&tree, "b");
        assert!(
            space.writes_refused().is_some() && matches!(b, Err(Error::WritesRefused(_))),
            "{durability:?}: a write after a failed take-back: {b:?}"
        );
        let live = dump(&space);
        drop(tree);
        drop(space);
        let space = Space::create(workload::dir(), config(durability).options(&fs))
            .unwrap_or_else(|e| panic!("{durability:?}: {e}"));
        assert_eq!(dump(&space), live);
    }
}
