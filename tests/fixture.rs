//! Fixtures: `Space::export` writes a space as one file, `Space::import` builds an in-memory
//! space from one; a fixture is a log segment beginning with a checkpoint.

mod common;

use common::{change, visible_state as state, written};
use spacestore::{Error, Options, Space};

fn exported(space: &Space) -> Vec<u8> {
    let mut fixture = Vec::new();
    let bytes = space.export(&mut fixture).unwrap();
    assert_eq!(bytes, fixture.len() as u64);
    fixture
}

fn written_space() -> Space {
    let space = Space::in_memory();
    written(&space);
    space
}

#[test]
fn an_imported_fixture_holds_what_the_exported_space_held() {
    let space = written_space();
    let copy = Space::import(exported(&space).as_slice(), Options::default()).unwrap();
    assert_eq!(state(&copy), state(&space));
}

#[test]
fn an_imported_space_takes_the_seq_the_exported_one_would_give_next() {
    let space = written_space();
    let copy = Space::import(exported(&space).as_slice(), Options::default()).unwrap();
    assert_eq!(copy.add_seq(), space.add_seq());
    let tree = copy.tree_storage("a").unwrap();
    tree.add_all(vec![change("new", "9")], ["new"], "a")
        .unwrap();
    assert_eq!(tree.get("new").unwrap().add_seq, space.add_seq() + 1);
}

#[test]
fn a_fixture_of_a_durable_space_holds_what_it_held_and_writes_nothing_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let space = Space::create(dir.path(), Options::default()).unwrap();
    written(&space);
    space.sync().unwrap();
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    let copy = Space::import(exported(&space).as_slice(), Options::default()).unwrap();
    assert_eq!(state(&copy), state(&space));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), files);
    assert!(copy.log_stats().is_none(), "an imported space is in memory");
}

#[test]
fn a_directory_holding_a_fixture_as_its_only_segment_opens_as_the_space() {
    let space = written_space();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("00000000000000000001.wal"),
        exported(&space),
    )
    .unwrap();
    let opened = Space::open(dir.path(), Options::default()).unwrap();
    assert_eq!(state(&opened), state(&space));
    assert_eq!(opened.add_seq(), space.add_seq());
}

#[test]
fn a_fixture_cut_short_anywhere_is_an_error_not_a_part_of_a_space() {
    let fixture = exported(&written_space());
    for end in (0..fixture.len()).step_by(7).chain([fixture.len() - 1]) {
        match Space::import(&fixture[..end], Options::default()) {
            Err(Error::Corrupt { .. }) => {}
            Err(e) => panic!("cut at {end}: {e}"),
            Ok(_) => panic!("cut at {end} of {}: imported", fixture.len()),
        }
    }
}

#[test]
fn a_damaged_fixture_is_an_error() {
    let mut fixture = exported(&written_space());
    let middle = fixture.len() / 2;
    fixture[middle] ^= 0x40;
    assert!(matches!(
        Space::import(fixture.as_slice(), Options::default()),
        Err(Error::Corrupt { .. })
    ));
}

#[test]
fn a_fixture_checked_in_by_this_version_still_imports() {
    // Written once by `Space::export` of `common::written` (see tests/fixtures/README.md): a
    // change of the format that would not read it fails here.
    let fixture = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/written.fixture"
    ))
    .unwrap();
    let space = Space::import(fixture.as_slice(), Options::default()).unwrap();
    let expected = written_space();
    let tree = space.tree_storage("a").unwrap();
    assert_eq!(
        common::view_ids(tree.changes_after_order("")),
        common::view_ids(expected.tree_storage("a").unwrap().changes_after_order(""))
    );
    assert_eq!(space.add_seq(), expected.add_seq());
    assert_eq!(space.tree_ids(), expected.tree_ids());
    assert_eq!(space.cursors(), expected.cursors());
}

mod any_bytes {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// A fixture with bytes changed anywhere (or arbitrary bytes) imports as a space or
        /// fails with a typed error; it never panics.
        #[test]
        fn any_change_to_a_fixture_is_an_error_or_a_space_never_a_panic(
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            noise in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let mut fixture = exported(&written_space());
            for (at, byte) in flips {
                let at = at % fixture.len();
                fixture[at] = byte;
            }
            let _ = Space::import(fixture.as_slice(), Options::default());
            let _ = Space::import(noise.as_slice(), Options::default());
        }
    }
}
