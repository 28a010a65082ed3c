//! `every_power_cut`: the routine runs once per (mutating call, tear model), with the power cut
//! during that call, and the check sees the rebooted file system and what the routine returned.

use std::collections::BTreeSet;

use spacestore::{Durability, Options, Space, StorageChange, TreeRoot};
use spacestore_simfs::{every_power_cut, SimFs, Tear};

fn options(fs: &SimFs, durability: Durability) -> Options {
    Options::default()
        .durability(durability)
        .file_system(fs.arc())
}

/// Writes two batches; returns the ids it saw acknowledged.
fn writer(fs: &SimFs, durability: Durability) -> Vec<String> {
    let mut acked = Vec::new();
    let Ok(space) = Space::create("/sim/s", options(fs, durability)) else {
        return acked;
    };
    let Ok(tree) = space.create_tree_storage(TreeRoot::new("t", b"root".to_vec())) else {
        return acked;
    };
    for id in ["a", "b"] {
        let change = StorageChange::new(id, id, b"x".to_vec());
        if tree.add_all(vec![change], [id], "t").is_ok() {
            acked.push(id.to_owned());
        }
    }
    acked
}

#[test]
fn every_mutating_call_is_cut_once_with_each_tear_model() {
    let clean = SimFs::new();
    writer(&clean, Durability::Sync);
    let calls = clean.ops();
    let mut seen = BTreeSet::new();
    let cases = every_power_cut(
        |fs| writer(fs, Durability::Sync),
        |_, _, cut| {
            assert!(seen.insert((cut.at, format!("{:?}", cut.tear))));
        },
    );
    assert_eq!(cases as u64, (calls + 1) * Tear::ALL.len() as u64);
    assert_eq!(seen.len(), cases);
}

#[test]
fn acknowledged_sync_batches_survive_every_cut() {
    every_power_cut(
        |fs| writer(fs, Durability::Sync),
        |fs, acked, cut| {
            let space = Space::create("/sim/s", options(fs, Durability::Sync)).unwrap();
            for id in acked {
                assert!(space.tree_storage("t").unwrap().has(id), "{id} at {cut:?}");
            }
        },
    );
}

#[test]
#[should_panic(expected = "lost")]
fn a_routine_that_loses_acknowledged_writes_fails_its_check() {
    // `Buffered` acknowledges before a sync: a cut that drops unsynced bytes loses it, and the
    // same check as above must see that.
    every_power_cut(
        |fs| writer(fs, Durability::Buffered),
        |fs, acked, cut| {
            let space = Space::create("/sim/s", options(fs, Durability::Buffered)).unwrap();
            for id in acked {
                let there = space.tree_storage("t").is_ok_and(|t| t.has(id));
                assert!(there, "{id} lost at {cut:?}");
            }
        },
    );
}
