//! Log formats: a space written by an older format version still opens (with the same state),
//! takes new writes, and is upgraded to the current format by its first checkpoint.

mod common;

use std::path::Path;

use common::*;
use spacestore::internals::frame;
use spacestore::{DeletedStatus, Error, Options, Space, StorageChange};
use spacestore_test_kit::noise;

/// A copy of `tests/fixtures/<name>` in a new temporary directory.
fn fixture(name: &str) -> tempfile::TempDir {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let tmp = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
    }
    tmp
}

/// The fixture's state, as its README tells it.
fn assert_v1_state(space: &Space) {
    assert_eq!(space.add_seq(), 9);
    let a = space.tree_storage("tree-a").unwrap();
    let seqs: Vec<(String, u64)> = a
        .changes_after_add_seq(0)
        .map(StorageChange::from)
        .map(|c| (c.id.to_string(), c.add_seq))
        .collect();
    let want: Vec<(String, u64)> = (0..6)
        .map(|i| (format!("a{i}"), i as u64 + 1))
        .chain([("a6".to_string(), 9)])
        .collect();
    assert_eq!(seqs, want);
    assert_eq!(a.get("a3").unwrap().raw_change, b"change 3 of a".as_slice());
    assert_eq!(a.heads().unwrap(), vec!["a6"]);
    let b = space.head_storage().get_entry("tree-b").unwrap();
    assert_eq!(b.deleted_status, DeletedStatus::Queued);
    assert_eq!(b.parent_id.as_deref(), Some("tree-a"));
    assert_eq!(b.last_add_seq, Some(7));
    assert_eq!(
        ids(&space
            .tree_storage("tree-b")
            .unwrap()
            .changes_after_add_seq(0)
            .map(StorageChange::from)
            .collect::<Vec<_>>()),
        ["b0", "b1"]
    );
    assert!(matches!(
        space.tree_storage("tree-c"),
        Err(Error::UnknownTree(_))
    ));
}

#[test]
fn a_v1_space_opens_read_only_and_read_write_with_its_state() {
    let dir = fixture("v1-space");
    assert_v1_state(&Space::open_read_only(dir.path(), Options::default()).unwrap());
    assert_v1_state(&Space::create(dir.path(), Options::default()).unwrap());
}

#[test]
fn a_v1_space_takes_new_writes_and_is_upgraded_by_its_first_checkpoint() {
    let dir = fixture("v1-space");
    {
        let space = Space::create(dir.path(), Options::default()).unwrap();
        let a = space.tree_storage("tree-a").unwrap();
        assert_eq!(
            a.add_all(vec![change("a7", "0007")], ["a7"], "tree-a")
                .unwrap(),
            10
        );
    }
    {
        let space = Space::create(dir.path(), Options::default()).unwrap();
        assert_eq!(
            space
                .tree_storage("tree-a")
                .unwrap()
                .get("a7")
                .unwrap()
                .add_seq,
            10
        );
        space.checkpoint().unwrap().unwrap();
    }
    // The checkpoint rewrote everything in the current format: no version 1 segment is left.
    for seg in segments(dir.path()) {
        let seq: u64 = seg.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        let header = frame::read_header(&std::fs::read(&seg).unwrap(), seq).unwrap();
        assert_eq!(header.version, frame::VERSION, "{}", seg.display());
    }
    let space = Space::create(dir.path(), Options::default()).unwrap();
    let a = space.tree_storage("tree-a").unwrap();
    assert_eq!(a.get("a7").unwrap().add_seq, 10);
    assert_eq!(a.get("a0").unwrap().add_seq, 1);
    assert_eq!(space.add_seq(), 10);
    assert!(matches!(
        space.tree_storage("tree-c"),
        Err(Error::UnknownTree(_))
    ));
}

fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    spacestore_test_kit::segment_files(dir)
}

/// A space of three segments (three sessions), 2 batches each.
fn three_segments(dir: &Path) {
    for s in 0..3 {
        let space = Space::create(dir, Options::default()).unwrap();
        let tree = match space.tree_storage("t") {
            Ok(t) => t,
            Err(_) => space.create_tree_storage(root("t")).unwrap(),
        };
        for i in 0..2 {
            let id = format!("c{s}{i}");
            tree.add_all(vec![change(&id, &id)], [id.as_str()], "t")
                .unwrap();
        }
    }
    assert_eq!(segments(dir).len(), 3);
}

fn expect_corrupt(dir: &Path, segment: &Path, words: &str) {
    for result in [
        Space::create(dir, Options::default()),
        Space::open_read_only(dir, Options::default()),
    ] {
        match result {
            Err(Error::Corrupt {
                segment: s,
                offset,
                reason,
            }) => {
                assert_eq!((s.as_path(), offset), (segment, 0), "{reason}");
                assert!(reason.contains(words), "{reason}");
            }
            other => panic!("expected corruption ({words}), got {other:?}"),
        }
    }
}

#[test]
fn a_deleted_middle_segment_is_corruption_not_a_silent_loss() {
    let dir = tempfile::tempdir().unwrap();
    three_segments(dir.path());
    let segs = segments(dir.path());
    std::fs::remove_file(&segs[1]).unwrap();
    expect_corrupt(dir.path(), &segs[2], "as the one before it");
}

#[test]
fn a_deleted_first_segment_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    three_segments(dir.path());
    let segs = segments(dir.path());
    std::fs::remove_file(&segs[0]).unwrap();
    expect_corrupt(dir.path(), &segs[1], "which is missing");
}

#[test]
fn a_segment_of_another_space_is_corruption_under_its_own_name_or_the_next_one() {
    let ours = tempfile::tempdir().unwrap();
    three_segments(ours.path());
    let theirs = tempfile::tempdir().unwrap();
    three_segments(theirs.path());
    let their_segs = segments(theirs.path());
    let our_segs = segments(ours.path());
    // Under its own name (replacing ours): the incarnation differs.
    let saved = std::fs::read(&our_segs[2]).unwrap();
    std::fs::copy(&their_segs[2], &our_segs[2]).unwrap();
    expect_corrupt(ours.path(), &our_segs[2], "another space");
    std::fs::write(&our_segs[2], saved).unwrap();
    // Under the next number: its header names another segment; never taken for a torn tail
    // and deleted.
    let next = ours.path().join("00000000000000000004.wal");
    std::fs::copy(&their_segs[2], &next).unwrap();
    expect_corrupt(ours.path(), &next, "names segment 3");
    assert!(next.exists());
}

#[test]
fn the_incarnation_stays_across_reopens_and_a_repair_makes_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    three_segments(dir.path());
    let first = Space::create(dir.path(), Options::default())
        .unwrap()
        .incarnation();
    let again = Space::create(dir.path(), Options::default()).unwrap();
    assert_eq!(again.incarnation(), first);
    assert_eq!(
        Space::open_read_only(dir.path(), Options::default())
            .unwrap()
            .incarnation(),
        first
    );
    drop(again);
    // Damage the middle segment's last frame body and repair.
    let segs = segments(dir.path());
    let mut bytes = std::fs::read(&segs[1]).unwrap();
    let at = bytes.len() - 3;
    bytes[at] ^= 0xff;
    std::fs::write(&segs[1], bytes).unwrap();
    let repaired = Space::create(
        dir.path(),
        Options::default().recovery(spacestore::Recovery::Repair),
    )
    .unwrap();
    assert!(repaired.recovery_report().unwrap().repaired.is_some());
    let new = repaired.incarnation();
    assert_ne!(new, first);
    drop(repaired);
    // The repaired log, with its new incarnation after the old one, opens cleanly.
    let space = Space::create(dir.path(), Options::default()).unwrap();
    assert_eq!(space.incarnation(), new);
}

#[test]
fn a_v1_space_gets_an_incarnation_when_it_is_first_opened_for_writing() {
    let dir = fixture("v1-space");
    assert_eq!(
        Space::open_read_only(dir.path(), Options::default())
            .unwrap()
            .incarnation(),
        0
    );
    let id = Space::create(dir.path(), Options::default())
        .unwrap()
        .incarnation();
    assert_ne!(id, 0);
    assert_eq!(
        Space::create(dir.path(), Options::default())
            .unwrap()
            .incarnation(),
        id
    );
}

/// The offset of `needle` in the file at `path`.
fn find(path: &Path, needle: &[u8]) -> (Vec<u8>, usize) {
    let bytes = std::fs::read(path).unwrap();
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the bytes are in the segment");
    (bytes, at)
}

/// The case that made open, verify and repair run for hours: a large frame torn by a crash.
/// Finding out that nothing valid follows reads each byte a bounded number of times (the
/// benchmark `cargo bench -p spacestore --bench torn_tail` times it against a clean replay).
#[test]
fn a_64_mib_frame_torn_at_48_mib_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let big = noise(64 << 20);
    {
        let space = Space::create(dir.path(), Options::default()).unwrap();
        let tree = space.create_tree_storage(root("t")).unwrap();
        tree.add_all(vec![change("small", "0001")], ["small"], "t")
            .unwrap();
        let raw = spacestore::StorageChange::new("big", "0002", big.clone());
        tree.add_all(vec![raw], ["big"], "t").unwrap();
    }
    // The 64 MiB frame has a segment of its own (above the segment size); the close frame
    // came after it. A crash while writing it leaves its segment ending in it, and nothing
    // after.
    let segs = segments(dir.path());
    let i = segs
        .iter()
        .position(|s| std::fs::metadata(s).unwrap().len() > 64 << 20)
        .unwrap();
    let seg = segs[i].clone();
    for later in &segs[i + 1..] {
        std::fs::remove_file(later).unwrap();
    }
    let (bytes, at) = find(&seg, &big[..64]);
    let cut = at + (48 << 20);
    std::fs::write(&seg, &bytes[..cut]).unwrap();
    let snapshot = Space::open_read_only(dir.path(), Options::default()).unwrap();
    let torn = snapshot
        .recovery_report()
        .unwrap()
        .torn_tail
        .clone()
        .unwrap();
    assert_eq!(torn.segment, seg);
    assert!(
        torn.offset < at as u64 && torn.bytes_dropped > 48 << 20,
        "{torn:?}"
    );
    drop(snapshot);
    let space = Space::create(dir.path(), Options::default()).unwrap();
    let tree = space.tree_storage("t").unwrap();
    assert!(tree.has("small") && !tree.has("big"));
}

/// A peer's change may hold anything, frames included: the best a peer can build (frames of
/// the old format's predictable salt, the segment number) are no frames of a v2 segment, so a
/// write torn right after one of them is still a torn tail, not corruption.
#[test]
fn a_change_holding_frames_cannot_turn_a_torn_write_into_corruption() {
    let dir = tempfile::tempdir().unwrap();
    {
        let space = Space::create(dir.path(), Options::default()).unwrap();
        let tree = space.create_tree_storage(root("t")).unwrap();
        tree.add_all(vec![change("first", "0001")], ["first"], "t")
            .unwrap();
    }
    let seq = 2; // The second session's segment.
    let mut forged = Vec::new();
    for framing in [frame::Framing::V1 { seq }, frame::Framing::V2 { salt: seq }] {
        for kind in [frame::KIND_RESERVE, frame::KIND_CLOSE] {
            framing.encode(&mut forged, kind, |o| {
                o.extend_from_slice(&7u64.to_le_bytes())
            });
        }
    }
    let mut raw = noise(100);
    raw.extend_from_slice(&forged);
    raw.extend_from_slice(&noise(100));
    {
        let space = Space::create(dir.path(), Options::default()).unwrap();
        let tree = space.tree_storage("t").unwrap();
        let c = spacestore::StorageChange::new("peer", "0002", raw.clone());
        tree.add_all(vec![c], ["peer"], "t").unwrap();
    }
    let seg = segments(dir.path()).into_iter().last().unwrap();
    let (bytes, at) = find(&seg, &forged);
    // Torn right after the forged frames (at a frame boundary inside the change).
    std::fs::write(&seg, &bytes[..at + forged.len()]).unwrap();
    let snapshot = Space::open_read_only(dir.path(), Options::default()).unwrap();
    assert!(snapshot.recovery_report().unwrap().torn_tail.is_some());
    drop(snapshot);
    let space = Space::create(dir.path(), Options::default()).unwrap();
    let tree = space.tree_storage("t").unwrap();
    assert!(tree.has("first") && !tree.has("peer"));
}
