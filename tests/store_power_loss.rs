//! A store under simulated power loss ([`SimFs`]): a power cut at every mutating file-system
//! call while a space is created, written and another deleted, each cut with every tear model.
//! After the reboot the store opens, holds no leftover of an unfinished creation or deletion,
//! and every space it lists is whole; an acknowledged creation, an acknowledged `Sync` write and
//! an acknowledged deletion all hold.

mod common;

use std::path::PathBuf;

use common::*;
use spacestore::{Durability, Options, Space, Store};
use spacestore_test_kit::simfs::{Rng, SimFs, Tear};

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
    deleted: bool,
}

/// A store with space `a.1` (whole, one batch), made before any cut.
fn prepared() -> SimFs {
    let fs = SimFs::new();
    let store = Store::open(root_dir(), options(&fs)).unwrap();
    let a = store.create_space(space_payload("a.1")).unwrap();
    fill(&a, "x").unwrap();
    fs
}

fn fill(space: &Space, id: &str) -> spacestore::Result<u64> {
    let tree = space.tree_storage("settings")?;
    tree.add_all(vec![change(id, "1")], [id], "settings")
}

/// Creates `b.1`, writes to it, deletes `a.1`: stops at the first failure (the power cut).
fn run(fs: &SimFs, acked: &mut Acked) {
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
    if store.delete_space("a.1").is_ok() {
        acked.deleted = true;
    }
}

/// Whether `id` in `store` is whole: its state, its ACL root and its settings tree are there.
fn assert_whole(store: &Store, id: &str, what: &str) {
    let space = store
        .space(id)
        .unwrap_or_else(|e| panic!("{what}: {id} is listed but does not open: {e}"));
    let state = space.state_storage().unwrap().get_state().unwrap();
    assert_eq!(state.space_id, id, "{what}");
    assert!(space.acl_storage().unwrap().root().is_ok(), "{what}");
    assert!(space.tree_storage("settings").is_ok(), "{what}");
}

fn check(fs: &SimFs, acked: &Acked, what: &str) {
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
        assert!(*id == "a.1" || *id == "b.1", "{what}: unknown space {id}");
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
        assert!(!has("a.1"), "{what}: an acknowledged deletion came back");
    } else if has("a.1") {
        let a = store.space("a.1").unwrap();
        assert!(a.tree_storage("settings").unwrap().has("x"), "{what}");
    }
}

/// The mutating calls the whole run makes on a file system that never fails.
fn calls_of_a_whole_run() -> u64 {
    let fs = prepared();
    let before = fs.ops();
    let mut acked = Acked::default();
    run(&fs, &mut acked);
    assert!(acked.created && acked.written && acked.deleted, "{acked:?}");
    fs.ops() - before
}

#[test]
fn a_power_cut_at_any_call_leaves_every_space_whole_and_every_acknowledged_step_kept() {
    let calls = calls_of_a_whole_run();
    assert!(calls > 10, "the run makes {calls} calls");
    for at in 0..=calls {
        for (t, tear) in Tear::ALL.into_iter().enumerate() {
            let fs = prepared();
            fs.cut_power_at(at);
            let mut acked = Acked::default();
            run(&fs, &mut acked);
            let fs = fs.reboot(tear, &mut Rng::new(at * 3 + t as u64));
            check(
                &fs,
                &acked,
                &format!("cut at call {at} of {calls}, {tear:?}, {acked:?}"),
            );
        }
    }
}

/// The same cut, then a second cut during the store's open after the reboot (while it removes
/// what the first left): the third boot still finds every space whole.
#[test]
fn a_power_cut_while_open_removes_leftovers_leaves_the_store_consistent() {
    let calls = calls_of_a_whole_run();
    let mut second_cuts = 0;
    for at in 0..=calls {
        let fs = prepared();
        fs.cut_power_at(at);
        let mut acked = Acked::default();
        run(&fs, &mut acked);
        let fs = fs.reboot(Tear::RandomPrefix, &mut Rng::new(at));
        let before = fs.ops();
        drop(Store::open(root_dir(), options(&fs)).ok());
        let open_calls = fs.ops() - before;
        for second in 0..open_calls {
            // The same first boot again, cut during the open.
            let fs = prepared();
            fs.cut_power_at(at);
            let mut acked = Acked::default();
            run(&fs, &mut acked);
            let fs = fs.reboot(Tear::RandomPrefix, &mut Rng::new(at));
            fs.cut_power_at(second);
            drop(Store::open(root_dir(), options(&fs)).ok());
            let fs = fs.reboot(Tear::RandomPrefix, &mut Rng::new(at + second));
            check(
                &fs,
                &acked,
                &format!("cut at {at}, then at {second} of the open"),
            );
            second_cuts += 1;
        }
    }
    assert!(second_cuts > 0, "no open removed anything");
    eprintln!("{calls} first cuts, {second_cuts} second cuts during the open");
}
