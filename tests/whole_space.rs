//! A whole space (Go's `spacestorage.Create` / `New`, `statestorage`, `list.Storage`): its
//! creation from a payload, its state and hash observers, its ACL list, and how each survives a
//! reopen and a checkpoint.

mod common;

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

use common::*;
use spacestore::go::*;
use spacestore::{
    AclRecord, Error, ErrorKind, HeadUpdate, IterOptions, Options, Space, SpacePayload,
    StorageChange,
};

fn whole() -> Space {
    in_memory_whole(space_payload("space.1")).unwrap()
}

/// A new in-memory space made whole from `payload`.
fn in_memory_whole(payload: SpacePayload) -> Result<Space, Error> {
    Space::in_memory().create_space(payload)
}

/// The space in `dir` (made when there is none), made whole from `payload` (Go's `Create`).
fn create_whole(dir: &std::path::Path, payload: SpacePayload) -> Result<Space, Error> {
    Space::create(dir, Options::default())?.create_space(payload)
}

fn record(id: &str, prev: &str, order: u64) -> AclRecord {
    AclRecord::new(id, prev, order, format!("record {id}").into_bytes())
}

/// `payload` with one change.
fn with(payload: &SpacePayload, change: impl FnOnce(&mut SpacePayload)) -> SpacePayload {
    let mut p = payload.clone();
    change(&mut p);
    p
}

fn acl_ids(records: &[AclRecord]) -> Vec<String> {
    records.iter().map(|r| r.id.to_string()).collect()
}

// --- Go's tests (commonspace/spacestorage_test.go) ---

/// `TestCreateSpaceStorageFailed_EmptyStorage`: a settings root without bytes fails the
/// creation and leaves nothing behind (Go: the store has no collections; here: the space holds
/// no state, no tree, no head entry, and its log no record).
#[test]
fn create_space_storage_failed_empty_storage() {
    let dir = tempfile::tempdir().unwrap();
    let mut payload = space_payload("space.1");
    payload.settings.raw_change = Vec::new().into();
    let created = create_whole(dir.path(), payload.clone());
    assert!(matches!(created, Err(Error::IncorrectSpaceHeader(_))));
    let space = Space::open(dir.path(), Options::default()).unwrap();
    assert_eq!(space.id(), None);
    assert_eq!((space.tree_count(), space.head_count()), (0, 0));
    drop(space);
    let scan = spacestore::internals::scan(&spacestore::StdFileSystem, dir.path(), &mut |_, _| {});
    assert_eq!(scan.unwrap().frames.records(), 0, "no record was logged");
    assert!(matches!(
        in_memory_whole(payload),
        Err(Error::IncorrectSpaceHeader(_))
    ));
}

/// `TestCreate_ReturnsErrSpaceStorageExists_WhenStorageAlreadyExists`.
#[test]
fn create_returns_space_exists_when_storage_already_exists() {
    let dir = tempfile::tempdir().unwrap();
    drop(create_whole(dir.path(), space_payload("space.1")).unwrap());
    let again = create_whole(dir.path(), space_payload("space.1"));
    assert!(matches!(again, Err(Error::SpaceExists(id)) if id == "space.1"));
}

// --- Creating and opening ---

#[test]
fn create_writes_the_state_the_acl_root_and_the_settings_tree_in_one_frame() {
    let dir = tempfile::tempdir().unwrap();
    let space = create_whole(dir.path(), space_payload("space.1")).unwrap();
    assert_eq!(space.log_stats().unwrap().frames, 1);
    assert_eq!(space.id().as_deref(), Some("space.1"));
    assert!(space.tree_storage("settings").is_ok());
    assert!(space.acl_storage().unwrap().has("acl"));
}

#[test]
fn the_state_names_the_payloads_parts_and_has_no_hash_yet() {
    let state = whole().state_storage().unwrap().get_state();
    assert_eq!(state.space_id, "space.1");
    assert_eq!(state.acl_id, "acl");
    assert_eq!(state.settings_id, "settings");
    assert_eq!(&state.space_header[..], b"header of space.1");
    assert_eq!(state.new_hash, "");
}

#[test]
fn the_acl_root_has_order_1_no_prev_id_and_its_length_as_size() {
    let root = whole().acl_storage().unwrap().root().unwrap();
    assert_eq!(root.id, "acl");
    assert_eq!(root.order, 1);
    assert_eq!(root.prev_id, "");
    assert_eq!(&root.raw_record[..], b"acl root record");
    assert_eq!(root.change_size, b"acl root record".len() as u64);
}

#[test]
fn the_acl_list_head_lives_in_the_head_storage_under_the_list_id() {
    let space = whole();
    let entry = space.head_storage().get_entry("acl").unwrap();
    assert_eq!(entry.heads, vec!["acl"]);
    assert_eq!(entry.last_add_seq, None);
    let ids: Vec<String> = space
        .head_storage()
        .entries(IterOptions::default())
        .map(|e| e.id.to_string())
        .collect();
    assert_eq!(ids, ["acl", "settings"]);
}

#[test]
fn the_settings_tree_is_created_like_any_tree() {
    let space = whole();
    let entry = space.head_storage().get_entry("settings").unwrap();
    assert_eq!(entry.heads, vec!["settings"]);
    assert_eq!(entry.common_snapshot, "settings");
    let tree = space.tree_storage("settings").unwrap();
    assert_eq!(&tree.root().raw_change[..], b"root of settings");
}

#[test]
fn a_settings_root_that_is_stored_already_fails_the_whole_creation() {
    let dir = tempfile::tempdir().unwrap();
    let space = Space::create(dir.path(), Options::default()).unwrap();
    space.create_tree_storage(root("settings")).unwrap();
    drop(space);
    let created = create_whole(dir.path(), space_payload("space.1"));
    assert!(matches!(created, Err(Error::TreeExists(id)) if id == "settings"));
    let space = Space::open(dir.path(), Options::default()).unwrap();
    assert_eq!(space.id(), None, "no state was written");
    assert!(space.head_storage().get_entry("acl").is_err());
}

#[test]
fn open_of_a_missing_directory_is_no_space_at_that_path_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("none");
    let opened = Space::open(&dir, Options::default());
    assert!(matches!(opened, Err(Error::NoSpaceAt(path)) if path == dir));
    assert!(!dir.exists());
}

/// Go's `New` of a store without the space fails where it reads the state: here `open`
/// opens the bare space, and its state storage is `BareSpace`.
#[test]
fn a_reopened_bare_space_has_no_state_storage() {
    let dir = tempfile::tempdir().unwrap();
    drop(Space::create(dir.path(), Options::default()).unwrap());
    let space = Space::open(dir.path(), Options::default()).unwrap();
    assert!(matches!(space.state_storage(), Err(Error::BareSpace)));
}

#[test]
fn open_of_a_directory_without_a_log_is_no_space_at_that_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"not a space").unwrap();
    let opened = Space::open(dir.path(), Options::default());
    assert!(matches!(opened, Err(Error::NoSpaceAt(_))));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing created"
    );
}

#[test]
fn a_bare_space_has_no_id_no_state_and_no_acl_list() {
    let space = Space::in_memory();
    assert_eq!(space.id(), None);
    let (state, acl) = (space.state_storage(), space.acl_storage());
    assert!(matches!(state, Err(Error::BareSpace)));
    assert!(matches!(acl, Err(e) if e.kind() == ErrorKind::BareSpace));
}

#[test]
fn a_payload_whose_ids_disagree_is_incorrect_space_header() {
    let good = space_payload("space.1");
    let cases = [
        with(&good, |p| p.space_id = "space".into()),
        with(&good, |p| p.space_id = ".1".into()),
        with(&good, |p| p.space_id = "space.".into()),
        with(&good, |p| p.space_id = "space.K".into()),
        with(&good, |p| p.acl_id = "".into()),
        with(&good, |p| p.acl_id = "settings".into()),
        with(&good, |p| p.acl_root = Vec::new().into()),
        with(&good, |p| p.space_header = Vec::new().into()),
    ];
    for payload in cases {
        let created = in_memory_whole(payload.clone());
        assert!(
            matches!(created, Err(Error::IncorrectSpaceHeader(_))),
            "{payload:?}"
        );
    }
    assert!(good.validate().is_ok());
}

// Before: a key with a leading zero passed, though Go compares the key with
// `strconv.FormatUint(key, 36)`, which never writes one.
#[test]
fn a_replication_key_with_a_leading_zero_is_incorrect_space_header() {
    for id in ["bafy.01", "bafy.00", "bafy.0z", "bafy.000000000000000001"] {
        let payload = with(&space_payload("space.1"), |p| p.space_id = id.into());
        assert!(
            matches!(payload.validate(), Err(Error::IncorrectSpaceHeader(_))),
            "{id}"
        );
    }
}

#[test]
fn a_replication_key_as_go_writes_it_is_valid() {
    // `strconv.FormatUint(k, 36)` of 0, 35, 36 and u64::MAX.
    for id in ["bafy.0", "bafy.z", "bafy.10", "bafy.3w5e11264sgsf"] {
        let payload = with(&space_payload("space.1"), |p| p.space_id = id.into());
        assert!(payload.validate().is_ok(), "{id}");
    }
}

// --- The state ---

#[test]
fn set_hash_tells_the_observer_only_when_the_hash_changes() {
    let state = whole().state_storage().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let _guard = state.set_observer(move |h: &str| sink.lock().unwrap().push(h.to_owned()));
    state.set_hash("h1").unwrap();
    state.set_hash("h1").unwrap();
    state.set_hash("h2").unwrap();
    assert_eq!(*seen.lock().unwrap(), ["h1", "h2"]);
    assert_eq!(state.get_state().new_hash, "h2");
}

#[test]
fn set_observer_replaces_the_observer_set_before_and_add_observer_adds_one() {
    let state = whole().state_storage().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let observer = |name: &'static str| {
        let sink = Arc::clone(&seen);
        move |h: &str| sink.lock().unwrap().push(format!("{name}:{h}"))
    };
    let _first = state.set_observer(observer("first"));
    let _second = state.set_observer(observer("second"));
    let _extra = state.add_observer(observer("extra"));
    state.set_hash("h").unwrap();
    let mut got = seen.lock().unwrap().clone();
    got.sort();
    assert_eq!(got, ["extra:h", "second:h"]);
}

#[test]
fn a_dropped_guard_removes_its_state_observer() {
    let state = whole().state_storage().unwrap();
    let seen = Arc::new(Mutex::new(0));
    let sink = Arc::clone(&seen);
    let guard = state.add_observer(move |_: &str| *sink.lock().unwrap() += 1);
    state.set_hash("h1").unwrap();
    drop(guard);
    state.set_hash("h2").unwrap();
    assert_eq!(*seen.lock().unwrap(), 1);
}

#[test]
fn a_state_observer_cannot_write_to_its_space() {
    let space = whole();
    let state = space.state_storage().unwrap();
    let result = Arc::new(Mutex::new(None));
    let sink = Arc::clone(&result);
    let inner = state.clone();
    let _guard = state.add_observer(move |_: &str| {
        *sink.lock().unwrap() = Some(inner.set_hash("from the observer"));
    });
    state.set_hash("h1").unwrap();
    let got = result.lock().unwrap().take();
    assert!(matches!(got, Some(Err(Error::WriteFromObserver))));
    assert_eq!(state.get_state().new_hash, "h1");
}

#[test]
fn settings_id_is_the_settings_trees() {
    assert_eq!(whole().state_storage().unwrap().settings_id(), "settings");
}

// --- The ACL list ---

#[test]
fn acl_add_all_moves_the_head_to_the_last_record_given() {
    let acl = whole().acl_storage().unwrap();
    acl.add_all([record("r3", "r2", 3), record("r2", "acl", 2)])
        .unwrap();
    assert_eq!(
        acl.head().unwrap(),
        "r2",
        "the last given, not the highest order"
    );
    assert_eq!(acl.len(), 3);
}

#[test]
fn acl_add_all_of_nothing_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let space = create_whole(dir.path(), space_payload("space.1")).unwrap();
    let frames = space.log_stats().unwrap().frames;
    space.acl_storage().unwrap().add_all([]).unwrap();
    assert_eq!(space.log_stats().unwrap().frames, frames);
    assert_eq!(space.acl_storage().unwrap().head().unwrap(), "acl");
}

#[test]
fn acl_add_all_with_a_stored_id_is_acl_record_exists_and_keeps_nothing() {
    let acl = whole().acl_storage().unwrap();
    let added = acl.add_all([record("r2", "acl", 2), record("acl", "r2", 3)]);
    assert!(matches!(added, Err(Error::AclRecordExists(id)) if id == "acl"));
    assert!(!acl.has("r2"));
    assert_eq!(acl.head().unwrap(), "acl");
}

#[test]
fn acl_add_all_with_an_id_twice_is_acl_record_exists() {
    let acl = whole().acl_storage().unwrap();
    let added = acl.add_all([record("r2", "acl", 2), record("r2", "acl", 3)]);
    assert!(matches!(added, Err(Error::AclRecordExists(id)) if id == "r2"));
    assert_eq!(acl.len(), 1);
}

#[test]
fn acl_add_all_with_a_used_order_is_acl_order_in_use_and_keeps_nothing() {
    let acl = whole().acl_storage().unwrap();
    let added = acl.add_all([record("r2", "acl", 2), record("r3", "r2", 1)]);
    assert!(matches!(added, Err(Error::AclOrderInUse { id, order: 1 }) if id == "r3"));
    let twice = acl.add_all([record("r2", "acl", 2), record("r3", "r2", 2)]);
    assert!(matches!(twice, Err(Error::AclOrderInUse { order: 2, .. })));
    assert_eq!(acl.len(), 1);
}

#[test]
fn acl_get_of_an_unknown_record_is_acl_record_not_found() {
    let acl = whole().acl_storage().unwrap();
    assert!(matches!(acl.get("nope"), Err(Error::AclRecordNotFound(id)) if id == "nope"));
    assert!(!acl.has("nope"));
}

#[test]
fn acl_get_returns_the_record_as_added() {
    let acl = whole().acl_storage().unwrap();
    let r = record("r2", "acl", 2).with_change_size(99);
    acl.add_all([r.clone()]).unwrap();
    assert_eq!(acl.get("r2").unwrap(), r);
}

#[test]
fn acl_get_after_order_and_before_order_include_the_order_and_go_up() {
    let acl = whole().acl_storage().unwrap();
    acl.add_all([
        record("r4", "r3", 4),
        record("r2", "acl", 2),
        record("r3", "r2", 3),
    ])
    .unwrap();
    assert_eq!(
        acl_ids(&acl.records_after_order(3).collect::<Vec<_>>()),
        ["r3", "r4"]
    );
    assert_eq!(
        acl_ids(&acl.records_before_order(2).collect::<Vec<_>>()),
        ["acl", "r2"]
    );
    assert_eq!(
        acl_ids(&acl.records_after_order(5).collect::<Vec<_>>()),
        Vec::<String>::new()
    );
    let mut seen = Vec::new();
    acl.get_after_order(0, |r| {
        seen.push(r.id.to_string());
        Ok(if seen.len() == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    })
    .unwrap();
    assert_eq!(seen, ["acl", "r2"]);
    let mut before = Vec::new();
    acl.get_before_order(3, |r| {
        before.push(r.order);
        Ok(ControlFlow::Continue(()))
    })
    .unwrap();
    assert_eq!(before, [1, 2, 3]);
}

#[test]
fn acl_head_without_its_head_entry_is_entry_not_found() {
    let space = whole();
    space.head_storage().delete_entry("acl").unwrap();
    let head = space.acl_storage().unwrap().head();
    assert!(matches!(head, Err(Error::EntryNotFound(id)) if id == "acl"));
}

#[test]
fn acl_head_is_empty_when_the_entry_holds_several_heads() {
    let space = whole();
    space
        .head_storage()
        .update_entry(HeadUpdate::new("acl").heads(["a", "b"]))
        .unwrap();
    assert_eq!(space.acl_storage().unwrap().head().unwrap(), "");
}

// --- Reopen and checkpoints ---

/// Fills a whole space: ACL records, a hash, a tree with a batch.
fn fill(space: &Space) {
    let acl = space.acl_storage().unwrap();
    acl.add_all([record("r2", "acl", 2), record("r3", "r2", 3)])
        .unwrap();
    space.state_storage().unwrap().set_hash("hash-1").unwrap();
    let tree = space.create_tree_storage(root("t")).unwrap();
    tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap();
}

/// Everything a whole space holds, as comparable values.
fn contents(space: &Space) -> (impl PartialEq + std::fmt::Debug, Vec<AclRecord>) {
    let state = space.state_storage().unwrap().get_state();
    let entries = space
        .head_storage()
        .entries(IterOptions::default())
        .collect::<Vec<_>>();
    let changes = space
        .changes_after_add_seq(0)
        .map(StorageChange::from)
        .collect::<Vec<_>>();
    let acl = space
        .acl_storage()
        .unwrap()
        .records_after_order(0)
        .collect::<Vec<_>>();
    ((state, entries, changes, space.add_seq()), acl)
}

#[test]
fn a_whole_space_is_the_same_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let space = create_whole(dir.path(), space_payload("space.1")).unwrap();
    fill(&space);
    let before = contents(&space);
    drop(space);
    let space = Space::open(dir.path(), Options::default()).unwrap();
    assert_eq!(contents(&space), before);
    assert_eq!(space.acl_storage().unwrap().head().unwrap(), "r3");
}

#[test]
fn a_whole_space_is_the_same_after_a_checkpoint_and_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let space = create_whole(dir.path(), space_payload("space.1")).unwrap();
    fill(&space);
    let before = contents(&space);
    space.checkpoint().unwrap().unwrap();
    drop(space);
    let space = Space::open(dir.path(), Options::default()).unwrap();
    assert_eq!(contents(&space), before);
}

#[test]
fn a_checkpoint_keeps_a_deleted_or_changed_acl_head_entry_as_it_is() {
    for delete in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let space = create_whole(dir.path(), space_payload("space.1")).unwrap();
        fill(&space);
        let heads = space.head_storage();
        if delete {
            heads.delete_entry("acl").unwrap();
        } else {
            heads
                .update_entry(HeadUpdate::new("acl").heads(["x", "y"]).is_derived(true))
                .unwrap();
        }
        drop(heads);
        let before = space.head_storage().get_entry("acl").ok();
        space.checkpoint().unwrap().unwrap();
        drop(space);
        let space = Space::open(dir.path(), Options::default()).unwrap();
        assert_eq!(
            space.head_storage().get_entry("acl").ok(),
            before,
            "delete: {delete}"
        );
    }
}

#[test]
fn the_space_header_and_acl_records_come_back_byte_for_byte_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let payload = with(&space_payload("space.1"), |p| {
        p.space_header = test_kit_noise(4096).into()
    });
    let header = payload.space_header.clone();
    let space = create_whole(dir.path(), payload).unwrap();
    let big = AclRecord::new("r2", "acl", 2, test_kit_noise(10_000));
    space.acl_storage().unwrap().add_all([big.clone()]).unwrap();
    drop(space);
    let space = Space::open(dir.path(), Options::default()).unwrap();
    assert_eq!(
        space.state_storage().unwrap().get_state().space_header,
        header
    );
    assert_eq!(space.acl_storage().unwrap().get("r2").unwrap(), big);
}

fn test_kit_noise(len: usize) -> Vec<u8> {
    spacestore_test_kit::noise(len)
}

// --- The ACL list's head entry belongs to the list ---

// Before: a tree could be created with the ACL list's id; it took the list's head entry (the
// list's head changed) and the list's `add_all` then set the tree's heads.
#[test]
fn a_tree_with_the_acl_list_id_is_refused_and_the_list_keeps_its_head() {
    let space = whole();
    let err = space.create_tree_storage(root("acl")).err();
    assert!(
        matches!(err, Some(Error::AclListId(ref id)) if id == "acl"),
        "{err:?}"
    );
    let acl = space.acl_storage().unwrap();
    assert_eq!(acl.head().unwrap(), "acl");
    assert!(matches!(
        space.tree_storage("acl"),
        Err(Error::UnknownTree(_))
    ));
    acl.add_all(vec![record("r2", "acl", 2)]).unwrap();
    assert_eq!(acl.head().unwrap(), "r2");
}

#[test]
fn a_deferred_tree_with_the_acl_list_id_is_refused() {
    let space = whole();
    let err = space
        .create_storage_with_deferred_creation(root("acl"))
        .err();
    assert!(matches!(err, Some(Error::AclListId(_))), "{err:?}");
    assert_eq!(space.acl_storage().unwrap().head().unwrap(), "acl");
}

#[test]
fn a_deferred_tree_whose_id_became_the_acl_list_id_is_refused_at_its_first_write() {
    let space = Space::in_memory();
    let tree = space
        .create_storage_with_deferred_creation(root("acl"))
        .unwrap();
    space.create_space(space_payload("space.1")).unwrap();
    let err = tree.add_all(vec![change("c1", "1")], ["c1"], "acl").err();
    assert!(matches!(err, Some(Error::AclListId(_))), "{err:?}");
    assert_eq!(space.add_seq(), 0, "refused before it took a seq");
    assert_eq!(space.acl_storage().unwrap().head().unwrap(), "acl");
}

#[test]
fn create_space_returns_a_handle_to_the_space_it_made_whole_as_the_store_does() {
    fn made_whole(bare: &Space) -> Result<Space, Error> {
        let space = bare.create_space(space_payload("space.1"))?;
        Ok(space)
    }
    let bare = Space::in_memory();
    let space = made_whole(&bare).unwrap();
    assert_eq!(space.id().as_deref(), Some("space.1"));
    assert_eq!(space.incarnation(), bare.incarnation(), "the same space");
    space.create_tree_storage(root("t")).unwrap();
    assert_eq!(bare.tree_ids(), ["settings", "t"]);
}

#[test]
fn a_space_whose_acl_id_is_a_stored_tree_is_refused() {
    let space = Space::in_memory();
    space.create_tree_storage(root("acl")).unwrap();
    let err = space.create_space(space_payload("space.1")).err();
    assert!(matches!(err, Some(Error::AclListId(_))), "{err:?}");
    assert!(space.id().is_none(), "nothing of the payload was kept");
}

/// Appends to the last segment of `dir` a record frame creating tree `id` (root bytes `root`),
/// as a build that did not refuse it wrote it (DESIGN.md, "On-disk format": record kind 1).
fn append_create_tree(dir: &std::path::Path, id: &str) {
    use spacestore::internals::frame;
    let last = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".wal"))
        .max()
        .unwrap();
    let path = dir.join(&last);
    let seq: u64 = last.trim_end_matches(".wal").parse().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let header = frame::read_header(&bytes, seq).unwrap();
    let str_ = |out: &mut Vec<u8>, s: &[u8]| {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s);
    };
    let mut payload = vec![1u8]; // create tree
    str_(&mut payload, id.as_bytes()); // root id
    str_(&mut payload, b"root bytes"); // raw root
    str_(&mut payload, b""); // order id
    payload.extend_from_slice(&[0, 0]); // flags, is derived
    let mut out = Vec::new();
    header.framing().encode(&mut out, frame::KIND_RECORD, |o| {
        o.extend_from_slice(&payload)
    });
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut file, &out).unwrap();
}

// Before: `verify` passed a log in which a tree took the ACL list's id (an older build let
// `create_tree_storage` do it).
#[test]
fn verify_reports_a_tree_created_with_the_acl_list_id() {
    let dir = tempfile::tempdir().unwrap();
    drop(create_whole(dir.path(), space_payload("space.1")).unwrap());
    let scan = spacestore::internals::scan(&spacestore::StdFileSystem, dir.path(), &mut |_, _| {})
        .unwrap();
    assert!(scan.first_problem().is_none(), "{:?}", scan.inconsistencies);
    append_create_tree(dir.path(), "acl");
    let scan = spacestore::internals::scan(&spacestore::StdFileSystem, dir.path(), &mut |_, _| {})
        .unwrap();
    let (problem, corrupt) = scan.first_problem().expect("the tree is reported");
    assert!(!corrupt);
    assert!(problem.reason.contains("ACL list"), "{}", problem.reason);
    // The log still opens as it did (replay applies it as written).
    let space = Space::open(dir.path(), Options::default()).unwrap();
    assert!(space.tree_storage("acl").is_ok());
}

// Before: the in-observer flag was one per thread, so an observer of one space could write to
// no space at all.
#[test]
fn a_state_observer_of_one_space_can_write_to_another_space() {
    let a = whole();
    let b = whole();
    let b_state = b.state_storage().unwrap();
    let result = Arc::new(Mutex::new(None));
    let sink = Arc::clone(&result);
    let _guard = a.state_storage().unwrap().add_observer(move |hash: &str| {
        *sink.lock().unwrap() = Some(b_state.set_hash(format!("after {hash}")));
    });
    a.state_storage().unwrap().set_hash("h1").unwrap();
    let got = result.lock().unwrap().take();
    assert!(matches!(got, Some(Ok(()))), "{got:?}");
    assert_eq!(b.state_storage().unwrap().get_state().new_hash, "after h1");
}

#[test]
fn a_head_observer_of_one_space_can_write_to_another_space() {
    let a = Space::in_memory();
    let b = Space::in_memory();
    let b_heads = b.head_storage();
    let result = Arc::new(Mutex::new(None));
    let sink = Arc::clone(&result);
    let _guard = a
        .head_storage()
        .add_observer(move |entry: &spacestore::HeadEntry| {
            *sink.lock().unwrap() = Some(b_heads.update_entry(HeadUpdate::new(entry.id.clone())));
        });
    a.head_storage().update_entry(HeadUpdate::new("e")).unwrap();
    let got = result.lock().unwrap().take();
    assert!(matches!(got, Some(Ok(_))), "{got:?}");
    assert!(b.head_storage().get_entry("e").is_ok());
}

#[test]
fn an_observer_chain_back_to_the_observed_space_is_refused() {
    let a = whole();
    let b = whole();
    let a_state = a.state_storage().unwrap();
    let b_state = b.state_storage().unwrap();
    // A's observer writes to B; B's observer, running inside it, writes back to A.
    let result = Arc::new(Mutex::new(None));
    let sink = Arc::clone(&result);
    let back = a_state.clone();
    let _b_guard = b_state.add_observer(move |_: &str| {
        *sink.lock().unwrap() = Some(back.set_hash("from B's observer"));
    });
    let to_b = b_state.clone();
    let _a_guard = a_state.add_observer(move |_: &str| {
        // (Refused when A's observers run inside B's: B is being written.)
        let _ = to_b.set_hash("from A's observer");
    });
    a_state.set_hash("h1").unwrap();
    let got = result.lock().unwrap().take();
    assert!(
        matches!(got, Some(Err(Error::WriteFromObserver))),
        "{got:?}"
    );
    assert_eq!(b_state.get_state().new_hash, "from A's observer");
    assert_eq!(a_state.get_state().new_hash, "h1");
    // Written directly, B's observer writes to A: A is not being written.
    b_state.set_hash("h2").unwrap();
    assert!(matches!(result.lock().unwrap().take(), Some(Ok(()))));
    assert_eq!(a_state.get_state().new_hash, "from B's observer");
}
