//! The `serde` feature: the public value types serialize and deserialize (`Id` as a string, raw
//! bytes as bytes), and what a space returns survives a round trip through JSON.
#![cfg(feature = "serde")]

mod common;

use common::*;
use spacestore::{AclRecord, DeletedStatus, HeadEntry, Id, Space, StorageChange};

fn round_trip<T>(value: &T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    serde_json::from_str(&serde_json::to_string(value).unwrap()).unwrap()
}

#[test]
fn an_id_is_a_json_string() {
    assert_eq!(
        serde_json::to_string(&Id::from("bafy")).unwrap(),
        "\"bafy\""
    );
    assert_eq!(round_trip(&Id::from("bafy")), "bafy");
}

#[test]
fn what_a_space_returns_survives_a_json_round_trip() {
    let (space, tree) = space_with_tree("t");
    tree.add_all(
        vec![change("c1", "1").with_prev_ids(["t"]).with_snapshot("t", 2)],
        ["c1"],
        "t",
    )
    .unwrap();
    let changes: Vec<StorageChange> = space
        .changes_after_add_seq(0)
        .map(StorageChange::from)
        .collect::<Vec<_>>();
    assert_eq!(round_trip(&changes), changes);
    let batches = space.batches_after(0, 10);
    assert_eq!(round_trip(&batches), batches);
    let entry: HeadEntry = space.head_storage().get_entry("t").unwrap();
    assert_eq!(round_trip(&entry), entry);
    assert_eq!(round_trip(&DeletedStatus::Queued), DeletedStatus::Queued);
    assert_eq!(round_trip(&tree.root()), tree.root());
}

#[test]
fn a_whole_spaces_values_survive_a_json_round_trip() {
    let space = Space::in_memory();
    let payload = space_payload("space.1");
    assert_eq!(round_trip(&payload), payload);
    space.create_space(payload).unwrap();
    let state = space.state_storage().unwrap().get_state();
    assert_eq!(round_trip(&state), state);
    let record = AclRecord::new("r2", "acl", 2, b"raw".to_vec());
    assert_eq!(round_trip(&record), record);
}
