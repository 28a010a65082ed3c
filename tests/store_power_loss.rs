//! A store under simulated power loss ([`SimFs`]): a power cut at every mutating file-system
//! call while a space is created, written and another deleted, each cut with every tear model.
//! After the reboot the store opens, holds no leftover of an unfinished creation or deletion,
//! and every space it lists is whole; an acknowledged creation, an acknowledged `Sync` write and
//! an acknowledged deletion all hold.

mod common;

use std::path::PathBuf;

use common::*;
use spacestore::{Durability, FileSystem, Options, Space, Store, StoreOptions};
use spacestore_test_kit::simfs::{Fault, Op, Rng, SimFs, Tear};

fn root_dir() -> PathBuf {
    PathBuf::from("/sim/store")
}

fn options(fs: &SimFs) -> Options {
    Options::default()
        .durability(Durability::Sync)
        .file_system(fs.arc())
}

/// What the interrupted run got acknowledged.
#[derive(Debug, Default)]
struct Acked {
    created: bool,
    written: bool,
    /// The deletion was asked for (it may have happened, acknowledged or not).
    deleting: bool,
    deleted: bool,
}

/// A store with space `first` (whole, one batch), made before any cut; `legacy`: under the name
/// a store of 0.1 gave it (upper case kept), which the next open renames.
fn prepared(first: &str, legacy: bool) -> SimFs {
    let fs = SimFs::new();
    let store = Store::open(root_dir(), options(&fs)).unwrap();
    let a = store.create_space(space_payload(first)).unwrap();
    fill(&a, "x").unwrap();
    drop((a, store));
    if legacy {
        let spaces = spacestore::internals::spaces_dir(&root_dir());
        let name = fs
            .names(&spaces)
            .into_iter()
            .find(|n| n.starts_with('~'))
            .expect("an id with upper case is written in hex");
        fs.rename(&spaces.join(name), &spaces.join(first)).unwrap();
        fs.sync_dir(&spaces).unwrap();
    }
    fs
}

fn fill(space: &Space, id: &str) -> spacestore::Result<u64> {
    let tree = space.tree_storage("settings")?;
    tree.add_all(vec![change(id, "1")], [id], "settings")
}

/// Creates `b.1`, writes to it, deletes `first`: stops at the first failure (the power cut).
fn run(fs: &SimFs, first: &str, acked: &mut Acked) {
    let Ok(store) = Store::open(root_dir(), options(fs)) else {
        return;
    };
    let Ok(b) = store.create_space(space_payload("b.1")) else {
        return;
    };
    acked.created = true;
    if fill(&b, "y").is_err() {
        return;
    }
    acked.written = true;
    drop(b);
    acked.deleting = true;
    if store.delete_space(first).is_ok() {
        acked.deleted = true;
    }
}

/// Whether `id` in `store` is whole: its state, its ACL root and its settings tree are there.
fn assert_whole(store: &Store, id: &str, what: &str) {
    let space = store
        .space(id)
        .unwrap_or_else(|e| panic!("{what}: {id} is listed but does not open: {e}"));
    let state = space.state_storage().unwrap().get_state();
    assert_eq!(state.space_id, id, "{what}");
    assert!(space.acl_storage().unwrap().root().is_ok(), "{what}");
    assert!(space.tree_storage("settings").is_ok(), "{what}");
}

fn check(fs: &SimFs, first: &str, acked: &Acked, what: &str) {
    let store = Store::open(root_dir(), options(fs))
        .unwrap_or_else(|e| panic!("{what}: the store does not open: {e}"));
    let spaces_dir = spacestore::internals::spaces_dir(&root_dir());
    let left: Vec<String> = fs
        .names(&spaces_dir)
        .into_iter()
        .filter(|n| spacestore::internals::is_leftover(n))
        .collect();
    assert!(left.is_empty(), "{what}: leftovers after open: {left:?}");
    let ids = store.space_ids().unwrap();
    for id in &ids {
        assert!(*id == first || *id == "b.1", "{what}: unknown space {id}");
        assert_whole(&store, id, what);
    }
    let has = |id: &str| ids.iter().any(|i| *i == id);
    if acked.created {
        assert!(has("b.1"), "{what}: an acknowledged creation is lost");
    }
    if acked.written {
        let b = store.space("b.1").unwrap();
        assert!(
            b.tree_storage("settings").unwrap().has("y"),
            "{what}: an acknowledged Sync write is lost"
        );
    }
    if acked.deleted {
        assert!(!has(first), "{what}: an acknowledged deletion came back");
    } else if !acked.deleting {
        assert!(
            has(first),
            "{what}: {first} is lost, and it was never deleted"
        );
    }
    if has(first) {
        // Kept (a deletion under way may have taken it, acknowledged or not).
        let a = store.space(first).unwrap();
        assert!(a.tree_storage("settings").unwrap().has("x"), "{what}");
    }
}

/// The mutating calls the whole run makes on a file system that never fails.
fn calls_of_a_whole_run(first: &str, legacy: bool) -> u64 {
    let fs = prepared(first, legacy);
    let before = fs.ops();
    let mut acked = Acked::default();
    run(&fs, first, &mut acked);
    assert!(acked.created && acked.written && acked.deleted, "{acked:?}");
    fs.ops() - before
}

fn cut_at_every_call(first: &str, legacy: bool) {
    let calls = calls_of_a_whole_run(first, legacy);
    assert!(calls > 10, "the run makes {calls} calls");
    for at in 0..=calls {
        for (t, tear) in Tear::ALL.into_iter().enumerate() {
            let fs = prepared(first, legacy);
            fs.cut_power_at(at);
            let mut acked = Acked::default();
            run(&fs, first, &mut acked);
            let fs = fs.reboot(tear, &mut Rng::new(at * 3 + t as u64));
            check(
                &fs,
                first,
                &acked,
                &format!("cut at call {at} of {calls}, {tear:?}, {acked:?}"),
            );
        }
    }
}

#[test]
fn a_power_cut_at_any_call_leaves_every_space_whole_and_every_acknowledged_step_kept() {
    cut_at_every_call("a.1", false);
}

/// The run opens a store of 0.1 whose space `Ab.1` kept its upper case: the open renames it,
/// and a cut at any call of that rename (or after) loses no space.
#[test]
fn a_power_cut_while_an_older_name_is_renamed_at_open_loses_no_space() {
    cut_at_every_call("Ab.1", true);
}

/// The same cut, then a second cut during the store's open after the reboot (while it removes
/// what the first left): the third boot still finds every space whole.
#[test]
fn a_power_cut_while_open_removes_leftovers_leaves_the_store_consistent() {
    let calls = calls_of_a_whole_run("a.1", false);
    let mut second_cuts = 0;
    for at in 0..=calls {
        let fs = prepared("a.1", false);
        fs.cut_power_at(at);
        let mut acked = Acked::default();
        run(&fs, "a.1", &mut acked);
        let fs = fs.reboot(Tear::RandomPrefix, &mut Rng::new(at));
        let before = fs.ops();
        drop(Store::open(root_dir(), options(&fs)).ok());
        let open_calls = fs.ops() - before;
        for second in 0..open_calls {
            // The same first boot again, cut during the open.
            let fs = prepared("a.1", false);
            fs.cut_power_at(at);
            let mut acked = Acked::default();
            run(&fs, "a.1", &mut acked);
            let fs = fs.reboot(Tear::RandomPrefix, &mut Rng::new(at));
            fs.cut_power_at(second);
            drop(Store::open(root_dir(), options(&fs)).ok());
            let fs = fs.reboot(Tear::RandomPrefix, &mut Rng::new(at + second));
            check(
                &fs,
                "a.1",
                &acked,
                &format!("cut at {at}, then at {second} of the open"),
            );
            second_cuts += 1;
        }
    }
    assert!(second_cuts > 0, "no open removed anything");
    eprintln!("{calls} first cuts, {second_cuts} second cuts during the open");
}

#[test]
fn closing_a_store_reports_the_first_failed_close_and_closes_the_rest() {
    let fs = SimFs::new();
    let options = StoreOptions::new(Options::default().file_system(fs.arc())).max_open_spaces(4);
    let store = Store::open("/store", options.clone()).unwrap();
    for id in ["a.1", "b.1"] {
        let space = store.create_space(space_payload(id)).unwrap();
        let tree = space.create_tree_storage(root("t")).unwrap();
        for i in 0..2 {
            let c = format!("c{i}");
            tree.add_all(vec![change(&c, &format!("{i:04}"))], [c.as_str()], "t")
                .unwrap();
        }
    }
    // The first close's sync of the log fails.
    fs.fail_next(Op::Fsync, Fault::Error(5));
    let closed = store.close();
    assert!(
        matches!(closed, Err(spacestore::Error::Io { .. })),
        "{closed:?}"
    );
    assert_eq!(fs.fired().len(), 1);
    // Both were closed (the lock of each is free) and nothing acknowledged is lost.
    let again = Store::open("/store", options).unwrap();
    assert_eq!(again.space_ids().unwrap(), ["a.1", "b.1"]);
    for id in ["a.1", "b.1"] {
        let space = again.space(id).unwrap();
        assert_eq!(
            space.tree_storage("t").unwrap().heads().unwrap(),
            ["c1"],
            "{id}"
        );
    }
}
