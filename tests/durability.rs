//! The write-ahead log: reopen, torn tails, corruption, the directory lock, group commit.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;

use common::*;
use spacestore::{
    DeletedStatus, Durability, Error, HeadUpdate, Options, Recovery, Space, StorageChange,
};
use spacestore_test_kit::simfs::{workload, Rng, SimFs, Tear};

fn segments(dir: &Path) -> Vec<PathBuf> {
    spacestore_test_kit::segment_files(dir)
}

fn open(dir: &Path) -> Space {
    Space::create(dir, Options::default()).unwrap()
}

/// A space with trees "a" and "b" and `batches` one-change batches alternating between them.
fn write_batches(dir: &Path, batches: usize) -> Vec<u64> {
    let space = open(dir);
    let a = space.create_tree_storage(root("a")).unwrap();
    let b = space.create_tree_storage(root("b")).unwrap();
    (0..batches)
        .map(|i| {
            let tree = if i % 2 == 0 { &a } else { &b };
            tree.add_all(
                vec![change(&format!("c{i}"), &format!("{i:04}"))],
                vec![format!("c{i}")],
                tree.id().clone(),
            )
            .unwrap()
        })
        .collect()
}

#[test]
fn reopen_restores_trees_changes_heads_and_index() {
    let dir = tempfile::tempdir().unwrap();
    {
        let space = open(dir.path());
        let t = space.create_tree_storage(root("t")).unwrap();
        t.add_all(
            vec![
                change("c1", "1").with_prev_ids(["t"]).with_snapshot("t", 2),
                change("c2", "2"),
            ],
            ["c2"],
            "c1",
        )
        .unwrap();
        space
            .create_tree_storage(root("child").with_parent("t", true))
            .unwrap();
        space
            .head_storage()
            .update_entry(HeadUpdate::new("t").deleted_status(DeletedStatus::Queued))
            .unwrap();
    }
    let space = open(dir.path());
    let t = space.tree_storage("t").unwrap();
    let c1 = t.get("c1").unwrap();
    assert_eq!(c1.prev_ids, vec!["t"]);
    assert_eq!(c1.snapshot_id, "t");
    assert_eq!(c1.snapshot_counter, 2);
    assert_eq!(c1.add_seq, 1);
    assert_eq!(c1.tree_id, "t");
    assert_eq!(t.heads().unwrap(), vec!["c2"]);
    assert_eq!(t.common_snapshot().unwrap(), "c1");
    assert_eq!(view_ids(space.changes_after_add_seq(0)), vec!["c1", "c2"]);
    let child = space.head_storage().get_entry("child").unwrap();
    assert_eq!(child.parent_id.as_deref(), Some("t"));
    assert!(child.is_derived);
    let entry = space.head_storage().get_entry("t").unwrap();
    assert_eq!(entry.deleted_status, DeletedStatus::Queued);
    assert_eq!(entry.last_add_seq, Some(1));
}

#[test]
fn reopen_continues_the_counter_above_every_seq_handed_out() {
    let dir = tempfile::tempdir().unwrap();
    let seqs = write_batches(dir.path(), 5);
    let space = open(dir.path());
    assert!(space.add_seq() >= *seqs.last().unwrap());
    let t = space.tree_storage("a").unwrap();
    let next = t
        .add_all(vec![change("new", "9999")], NO_HEADS, "a")
        .unwrap();
    assert!(next > *seqs.last().unwrap());
}

#[test]
fn reopen_does_not_reuse_a_seq_whose_batch_failed() {
    let dir = tempfile::tempdir().unwrap();
    let failed_seq;
    {
        let space = open(dir.path());
        let t = space.create_tree_storage(root("t")).unwrap();
        t.add_all(vec![change("c1", "1")], NO_HEADS, "t").unwrap();
        assert!(t.add_all(vec![change("c1", "2")], NO_HEADS, "t").is_err());
        failed_seq = space.add_seq();
    }
    let space = open(dir.path());
    let t = space.tree_storage("t").unwrap();
    assert!(t.add_all(vec![change("c2", "2")], NO_HEADS, "t").unwrap() > failed_seq);
}

#[test]
fn reopen_does_not_go_back_when_the_highest_head_entry_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let space = open(dir.path());
        let t = space.create_tree_storage(root("t")).unwrap();
        t.add_all(vec![change("c1", "1")], NO_HEADS, "t").unwrap();
        space.head_storage().delete_entry("t").unwrap();
    }
    let space = open(dir.path());
    assert_eq!(space.head_storage().max_last_add_seq(), 0);
    assert!(space.add_seq() >= 1);
}

#[test]
fn reopen_restores_deleted_trees_as_deleted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let space = open(dir.path());
        let t = space.create_tree_storage(root("t")).unwrap();
        t.add_all(vec![change("c1", "1")], NO_HEADS, "t").unwrap();
        t.delete().unwrap();
    }
    let space = open(dir.path());
    assert!(matches!(
        space.tree_storage("t"),
        Err(Error::UnknownTree(_))
    ));
    assert!(space.changes_after_add_seq(0).next().is_none());
    assert!(space.head_storage().get_entry("t").is_ok());
}

#[test]
fn reopen_restores_a_deferred_trees_first_write() {
    let dir = tempfile::tempdir().unwrap();
    {
        let space = open(dir.path());
        let t = space
            .create_storage_with_deferred_creation(root("t"))
            .unwrap();
        t.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap();
    }
    let space = open(dir.path());
    assert_eq!(
        space.tree_storage("t").unwrap().heads().unwrap(),
        vec!["c1"]
    );
}

#[test]
fn segments_roll_at_the_size_limit_and_replay_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default().segment_size(4096);
    {
        let space = Space::create(dir.path(), options.clone()).unwrap();
        let t = space.create_tree_storage(root("t")).unwrap();
        for i in 0..100 {
            t.add_all(
                vec![change(&format!("c{i}"), &format!("{i:04}"))],
                NO_HEADS,
                "t",
            )
            .unwrap();
        }
    }
    assert!(segments(dir.path()).len() > 5);
    let space = Space::create(dir.path(), options).unwrap();
    let all = space
        .changes_after_add_seq(0)
        .map(StorageChange::from)
        .collect::<Vec<_>>();
    assert_eq!(all.len(), 100);
    assert!(all.windows(2).all(|w| w[0].add_seq < w[1].add_seq));
}

#[test]
fn an_empty_directory_opens_as_an_empty_space() {
    let dir = tempfile::tempdir().unwrap();
    let space = Space::create(dir.path().join("new"), Options::default()).unwrap();
    assert_eq!(space.add_seq(), 0);
    assert_eq!(space.tree_count(), 0);
    let report = space.recovery_report().unwrap();
    assert_eq!(report.frames, 0);
    assert_eq!(report.torn_tail, None);
}

#[test]
fn recovery_report_counts_segments_frames_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    write_batches(dir.path(), 10);
    let space = open(dir.path());
    let report = space.recovery_report().unwrap();
    assert_eq!(report.segments, 1);
    // Two tree creations, ten batches, one reservation, one clean close.
    assert_eq!(report.frames, 14);
    assert_eq!(
        report.bytes_read,
        fs::metadata(&segments(dir.path())[0]).unwrap().len()
    );
    assert!(report.add_seq >= 10);
}

#[test]
fn a_torn_tail_at_every_byte_of_the_last_frames_is_cut_off_and_reported() {
    let template = tempfile::tempdir().unwrap();
    write_batches(template.path(), 3);
    let seg = segments(template.path()).remove(0);
    let original = fs::read(&seg).unwrap();
    let starts = frame_starts(&seg);
    // The last frame is the clean close; the one before it, the last batch.
    let (batch, close) = (starts[starts.len() - 2], starts[starts.len() - 1]);
    for cut in batch..original.len() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(seg.file_name().unwrap());
        fs::write(&path, &original[..cut]).unwrap();
        let space = open(dir.path());
        let report = space.recovery_report().unwrap().clone();
        let expected = if cut < close {
            // The last batch (c2, seq 3) is gone whole; c0 and c1 are there.
            vec!["c0", "c1"]
        } else {
            vec!["c0", "c1", "c2"]
        };
        assert_eq!(
            view_ids(space.changes_after_add_seq(0)),
            expected,
            "cut {cut}"
        );
        let torn_from = if cut < close { batch } else { close };
        if cut > torn_from {
            let torn = report.torn_tail.expect("a torn tail is reported");
            assert_eq!(torn.offset, torn_from as u64);
            assert_eq!(torn.bytes_dropped, (cut - torn_from) as u64);
        }
        // The seq of a lost batch is not handed out again: a reservation covers it.
        assert!(space.add_seq() >= 3, "cut {cut}");
    }
}

/// A new segment's header torn at any byte, with zeros after it (the file's length reached the
/// disk before its data; at byte 8 the version reads 0): a torn tail, not corruption and not a
/// segment of another format version; every batch of the segments before it is there.
#[test]
fn a_last_segment_torn_inside_its_header_and_zero_filled_is_a_torn_tail() {
    let template = tempfile::tempdir().unwrap();
    write_batches(template.path(), 3);
    {
        // A second session's write starts a second segment: its header, a batch, the close.
        let space = open(template.path());
        let a = space.tree_storage("a").unwrap();
        a.add_all(vec![change("c3", "0003")], NO_HEADS, "a")
            .unwrap();
    }
    let files = segments(template.path());
    assert_eq!(files.len(), 2, "{files:?}");
    let last = fs::read(&files[1]).unwrap();
    let seq: u64 = files[1]
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let header_len = spacestore::internals::frame::read_header(&last, seq)
        .unwrap()
        .header_len();
    for cut in 0..header_len {
        let dir = tempfile::tempdir().unwrap();
        fs::copy(&files[0], dir.path().join(files[0].file_name().unwrap())).unwrap();
        let mut torn = last[..cut].to_vec();
        torn.resize(4096, 0);
        fs::write(dir.path().join(files[1].file_name().unwrap()), &torn).unwrap();
        let space = Space::open(dir.path(), Options::default())
            .unwrap_or_else(|e| panic!("cut at byte {cut} of the header: {e}"));
        assert_eq!(
            view_ids(space.changes_after_add_seq(0)),
            ["c0", "c1", "c2"],
            "cut {cut}"
        );
    }
}

#[test]
fn a_torn_tail_does_not_become_corruption_after_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    write_batches(dir.path(), 3);
    let seg = segments(dir.path()).remove(0);
    let len = fs::metadata(&seg).unwrap().len();
    let f = fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(len - 5).unwrap();
    drop(f);
    {
        let space = open(dir.path());
        let a = space.tree_storage("a").unwrap();
        a.add_all(vec![change("after", "9999")], NO_HEADS, "a")
            .unwrap();
    }
    let space = open(dir.path());
    assert!(space.tree_storage("a").unwrap().has("after"));
    assert_eq!(space.recovery_report().unwrap().torn_tail, None);
}

#[test]
fn flipping_any_byte_either_recovers_a_prefix_or_is_a_typed_corruption_error() {
    let template = tempfile::tempdir().unwrap();
    write_batches(template.path(), 4);
    let seg = segments(template.path()).remove(0);
    let original = fs::read(&seg).unwrap();
    let close = *frame_starts(&seg).last().unwrap();
    let full = vec!["c0", "c1", "c2", "c3"];
    let (mut recovered, mut corrupt) = (0, 0);
    for at in 0..original.len() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = original.clone();
        bytes[at] ^= 0x5a;
        fs::write(dir.path().join(seg.file_name().unwrap()), &bytes).unwrap();
        match Space::create(dir.path(), Options::default()) {
            Ok(space) => {
                // Only a flip inside the last frame (the clean close) can pass for a torn tail,
                // and every batch is before it.
                assert!(
                    at >= close,
                    "flip at {at} (last frame at {close}) was not detected"
                );
                assert_eq!(view_ids(space.changes_after_add_seq(0)), full);
                recovered += 1;
            }
            Err(Error::Corrupt {
                offset, segment, ..
            }) => {
                assert!(offset as usize <= at, "flip at {at} reported at {offset}");
                assert_eq!(segment.file_name(), seg.file_name());
                corrupt += 1;
            }
            Err(e) => panic!("flip at {at}: unexpected error {e}"),
        }
    }
    assert!(recovered > 0 && corrupt > 0);
}

#[test]
fn repair_keeps_everything_before_the_bad_frame_and_moves_the_rest_aside() {
    let dir = tempfile::tempdir().unwrap();
    write_batches(dir.path(), 4);
    let seg = segments(dir.path()).remove(0);
    let mut bytes = fs::read(&seg).unwrap();
    // Damage the first batch frame's payload (after the two tree creations and the
    // reservation).
    let pos = frame_starts(&seg)[3];
    bytes[pos + 20] ^= 0xff;
    fs::write(&seg, &bytes).unwrap();
    assert!(matches!(
        Space::create(dir.path(), Options::default()),
        Err(Error::Corrupt { .. })
    ));
    let space = Space::create(dir.path(), Options::default().recovery(Recovery::Repair)).unwrap();
    let repair = space.recovery_report().unwrap().repaired.clone().unwrap();
    assert_eq!(repair.offset, pos as u64);
    assert!(repair.moved_to[0].exists());
    assert_eq!(space.tree_count(), 2);
    drop(space);
    // The repaired directory opens cleanly afterwards.
    let space = open(dir.path());
    assert_eq!(space.tree_count(), 2);
}

/// Found by the bounded replay fuzzing: a repair whose first bad spot is a segment's header
/// removes that segment, and open must not then try to sync it.
#[test]
fn repair_of_a_damaged_segment_header_followed_by_valid_segments_moves_them_aside() {
    let dir = tempfile::tempdir().unwrap();
    write_batches(dir.path(), 4);
    write_batches_more(dir.path(), 4);
    write_batches_more(dir.path(), 4);
    let segs = segments(dir.path());
    assert_eq!(segs.len(), 3);
    let mut bytes = fs::read(&segs[1]).unwrap();
    bytes[3] ^= 0xff; // inside the magic: the header's checksum fails
    fs::write(&segs[1], &bytes).unwrap();
    match Space::create(dir.path(), Options::default()) {
        Err(Error::Corrupt {
            segment, offset, ..
        }) => assert_eq!((segment, offset), (segs[1].clone(), 0)),
        other => panic!("expected corruption at the header, got {other:?}"),
    }
    let space = Space::create(dir.path(), Options::default().recovery(Recovery::Repair)).unwrap();
    let repair = space.recovery_report().unwrap().repaired.clone().unwrap();
    assert_eq!(
        (repair.segment.clone(), repair.offset),
        (segs[1].clone(), 0)
    );
    assert!(
        !segs[1].exists(),
        "a segment cut inside its header is removed"
    );
    assert_eq!(repair.moved_to.len(), 2, "{:?}", repair.moved_to);
    assert!(repair.moved_to.iter().all(|m| m.exists()));
    assert_eq!(space.changes_after_add_seq(0).count(), 4);
    drop(space);
    let space = open(dir.path());
    assert_eq!(space.changes_after_add_seq(0).count(), 4);
}

/// Reopens the space of [`write_batches`] and adds `batches` more to tree "a".
fn write_batches_more(dir: &Path, batches: usize) {
    let space = open(dir);
    let a = space.tree_storage("a").unwrap();
    let base = space.add_seq();
    for i in 0..batches {
        let id = format!("more{base}-{i}");
        a.add_all(vec![change(&id, &id)], vec![id.clone()], "a")
            .unwrap();
    }
}

#[test]
fn a_second_open_of_the_same_directory_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path());
    assert!(matches!(
        Space::create(dir.path(), Options::default()),
        Err(Error::Locked(_))
    ));
    drop(first);
    // A child process forked by a concurrently running test holds a copy of every descriptor
    // (and so of the lock) until it execs: give it a moment.
    let reopened = (0..100).find_map(|_| match Space::create(dir.path(), Options::default()) {
        Err(Error::Locked(_)) => {
            thread::sleep(std::time::Duration::from_millis(10));
            None
        }
        other => Some(other),
    });
    assert!(matches!(reopened, Some(Ok(_))));
}

#[test]
fn a_second_process_gets_locked_until_the_first_ends() {
    if let Ok(dir) = std::env::var("SPACESTORE_LOCK_CHILD") {
        match Space::create(&dir, Options::default()) {
            Err(Error::Locked(_)) => println!("child: locked"),
            Ok(_) => println!("child: opened"),
            Err(e) => println!("child: error {e}"),
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let child = || {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_second_process_gets_locked_until_the_first_ends",
                "--nocapture",
            ])
            .env("SPACESTORE_LOCK_CHILD", dir.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let first = open(dir.path());
    assert!(child().contains("child: locked"));
    drop(first);
    assert!(child().contains("child: opened"));
}

#[test]
fn sync_writes_from_many_threads_share_fsyncs_and_are_all_durable() {
    let dir = tempfile::tempdir().unwrap();
    let threads = 8;
    let per_thread = 25;
    let syncs;
    {
        let space = Arc::new(
            Space::create(dir.path(), Options::default().durability(Durability::Sync)).unwrap(),
        );
        let before = space.log_stats().unwrap().syncs;
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let space = Arc::clone(&space);
                thread::spawn(move || {
                    let id = format!("tree{t}");
                    let tree = space.create_tree_storage(root(&id)).unwrap();
                    for i in 0..per_thread {
                        tree.add_all(
                            vec![change(&format!("{id}-{i}"), &format!("{i:04}"))],
                            NO_HEADS,
                            id.as_str(),
                        )
                        .unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        syncs = space.log_stats().unwrap().syncs - before;
    }
    let batches = threads * per_thread;
    let space = open(dir.path());
    assert_eq!(space.changes_after_add_seq(0).count(), batches);
    // Every commit (tree creations included) needed durability; fewer fsyncs than commits.
    assert!(
        (syncs as usize) < batches + threads,
        "{syncs} fsyncs for {} commits",
        batches + threads
    );
}

#[test]
fn sync_batches_are_visible_only_after_they_return_durable() {
    let dir = tempfile::tempdir().unwrap();
    {
        let space =
            Space::create(dir.path(), Options::default().durability(Durability::Sync)).unwrap();
        let t = space.create_tree_storage(root("t")).unwrap();
        let seq = t.add_all(vec![change("c1", "1")], NO_HEADS, "t").unwrap();
        assert_eq!(
            space
                .changes_after_add_seq(0)
                .map(StorageChange::from)
                .collect::<Vec<_>>()[0]
                .add_seq,
            seq
        );
        // Simulate a crash: the process dies without any further sync.
        std::mem::forget(space);
        std::mem::forget(t);
    }
    // The lock died with nothing; a leaked space still holds it in this process, so copy the
    // directory as a crashed process would leave it.
    let copy = tempfile::tempdir().unwrap();
    for seg in segments(dir.path()) {
        fs::copy(&seg, copy.path().join(seg.file_name().unwrap())).unwrap();
    }
    let space = open(copy.path());
    assert!(space.tree_storage("t").unwrap().has("c1"));
}

#[test]
fn open_with_a_file_that_is_not_a_segment_is_a_corruption_error() {
    let dir = tempfile::tempdir().unwrap();
    write_batches(dir.path(), 2);
    fs::write(
        dir.path().join("00000000000000000009.wal"),
        b"this is not a log segment at all, no",
    )
    .unwrap();
    // A garbage file named as a segment after valid ones: not a tear (a segment's header is
    // synced before anything else goes in; here bytes follow where a header would end), so
    // corruption, and the file stays for a look (or `Recovery::Repair`).
    match Space::create(dir.path(), Options::default()) {
        Err(Error::Corrupt {
            segment, offset, ..
        }) => assert_eq!(
            (segment, offset),
            (dir.path().join("00000000000000000009.wal"), 0)
        ),
        other => panic!("expected corruption, got {other:?}"),
    }
    assert!(dir.path().join("00000000000000000009.wal").exists());
    // A segment torn inside its header (a crash while creating it) is a torn tail, removed.
    fs::write(
        dir.path().join("00000000000000000009.wal"),
        b"spcstwal\x02\0",
    )
    .unwrap();
    let space = open(dir.path());
    assert!(space.recovery_report().unwrap().torn_tail.is_some());
    assert!(!dir.path().join("00000000000000000009.wal").exists());
    drop(space);
    // A garbage segment *before* a valid one is corruption.
    let dir = tempfile::tempdir().unwrap();
    write_batches(dir.path(), 2);
    fs::write(
        dir.path().join("00000000000000000000.wal"),
        b"garbage garbage garbage garbage!",
    )
    .unwrap();
    assert!(matches!(
        Space::create(dir.path(), Options::default()),
        Err(Error::Corrupt { .. })
    ));
}

#[test]
fn changes_read_back_after_reopen_equal_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let written: Vec<StorageChange> = (0..20)
        .map(|i| {
            change(&format!("c{i}"), &format!("{i:04}"))
                .with_prev_ids([format!("c{}", i.max(1) - 1)])
        })
        .collect();
    {
        let space = open(dir.path());
        let t = space.create_tree_storage(root("t")).unwrap();
        for c in &written {
            t.add_all(vec![c.clone()], NO_HEADS, "t").unwrap();
        }
    }
    let space = open(dir.path());
    let back = space
        .tree_storage("t")
        .unwrap()
        .changes_after_add_seq(0)
        .map(StorageChange::from)
        .collect::<Vec<_>>();
    // Same changes, same order, before comparing them field by field.
    assert_eq!(
        ids(&back),
        ids(&written),
        "replay did not return the written changes in order"
    );
    for (w, b) in written.iter().zip(&back) {
        assert_eq!(w.id, b.id);
        assert_eq!(w.raw_change, b.raw_change);
        assert_eq!(w.prev_ids, b.prev_ids);
        assert_eq!(w.order_id, b.order_id);
        assert_eq!(b.tree_id, "t");
    }
}

#[test]
fn open_read_only_reads_a_locked_directory_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    write_batches(dir.path(), 3);
    let _holder = open(dir.path());
    let snapshot = Space::open_read_only(dir.path(), Options::default()).unwrap();
    assert_eq!(snapshot.changes_after_add_seq(0).count(), 3);
    let err = snapshot.create_tree_storage(root("new")).unwrap_err();
    assert!(matches!(err, Error::ReadOnly));
}

#[test]
fn open_read_only_reports_a_torn_tail_without_cutting_it() {
    let dir = tempfile::tempdir().unwrap();
    write_batches(dir.path(), 3);
    let seg = segments(dir.path()).remove(0);
    let len = fs::metadata(&seg).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let snapshot = Space::open_read_only(dir.path(), Options::default()).unwrap();
    assert!(snapshot.recovery_report().unwrap().torn_tail.is_some());
    assert_eq!(fs::metadata(&seg).unwrap().len(), len - 3);
}

#[test]
fn after_a_clean_close_the_counter_continues_right_above_the_last_seq() {
    let dir = tempfile::tempdir().unwrap();
    let seqs = write_batches(dir.path(), 3);
    let space = open(dir.path());
    assert_eq!(space.add_seq(), *seqs.last().unwrap());
}

#[test]
fn after_a_crash_the_counter_restarts_above_the_reservation() {
    let dir = tempfile::tempdir().unwrap();
    {
        let space = Space::create(dir.path(), Options::default().reserve_ahead(100)).unwrap();
        let t = space.create_tree_storage(root("t")).unwrap();
        t.add_all(vec![change("c1", "1")], NO_HEADS, "t").unwrap();
        // A crash: no close frame is written.
        std::mem::forget(space);
        std::mem::forget(t);
    }
    let copy = tempfile::tempdir().unwrap();
    for seg in segments(dir.path()) {
        fs::copy(&seg, copy.path().join(seg.file_name().unwrap())).unwrap();
    }
    let space = open(copy.path());
    assert_eq!(space.add_seq(), 100);
}

/// A space on the simulated file system `fs` (every call on the calling thread) with
/// `durability`, reserving 100 seqs at a time.
fn sim_options(fs: &SimFs, durability: Durability) -> Options {
    Options::default()
        .durability(durability)
        .reserve_ahead(100)
        .auto_checkpoint(None, 0)
        .background_checkpoints(false)
        .bytes_per_sync(None)
        .file_system(fs.arc())
}

/// Writes three one-change batches to tree "t" of a new space on `fs`; returns the space, the
/// tree and the acknowledged seqs.
fn three_batches_on(
    fs: &SimFs,
    durability: Durability,
) -> (Space, spacestore::TreeStorage, Vec<u64>) {
    let space = Space::create(workload::dir(), sim_options(fs, durability)).unwrap();
    let t = space.create_tree_storage(root("t")).unwrap();
    let seqs = (0..3)
        .map(|i| {
            let id = format!("c{i}");
            t.add_all(vec![change(&id, &id)], NO_HEADS, "t").unwrap()
        })
        .collect();
    (space, t, seqs)
}

/// After a process crash (SIGKILL: the page cache stays), in either durability: the space
/// holds every acknowledged batch and `last_add_seq` names the last one; the counter restarts
/// at the reservation, at or above it; the next batch's seq is above both.
#[test]
fn after_a_process_crash_last_add_seq_is_the_last_acknowledged_batch_and_the_next_is_above_the_counter(
) {
    for durability in [Durability::Sync, Durability::Buffered] {
        let fs = SimFs::new();
        let (space, t, seqs) = three_batches_on(&fs, durability);
        let fs = fs.kill_process();
        drop((t, space));
        let space = Space::open(workload::dir(), sim_options(&fs, durability)).unwrap();
        let last = *seqs.last().unwrap();
        assert_eq!(space.last_add_seq(), last, "{durability:?}");
        let counter = space.add_seq();
        assert_eq!(counter, 100, "{durability:?}: the reservation");
        let t = space.tree_storage("t").unwrap();
        let next = t.add_all(vec![change("n", "n")], NO_HEADS, "t").unwrap();
        assert!(next > counter && next > last, "{durability:?}: {next}");
        assert_eq!(space.last_add_seq(), next, "{durability:?}");
    }
}

/// After a power cut, a `Sync` space still holds every acknowledged batch: `last_add_seq` is
/// the last one; the counter is at or above it, and the next batch above both.
#[test]
fn after_a_power_cut_last_add_seq_of_a_sync_space_is_its_last_acknowledged_batch() {
    let fs = SimFs::new();
    let (space, t, seqs) = three_batches_on(&fs, Durability::Sync);
    fs.cut_power();
    let fs = fs.reboot(Tear::DropUnsynced, &mut Rng::new(1));
    drop((t, space));
    let space = Space::open(workload::dir(), sim_options(&fs, Durability::Sync)).unwrap();
    let last = *seqs.last().unwrap();
    assert_eq!(space.last_add_seq(), last);
    let counter = space.add_seq();
    assert!(
        counter >= last,
        "counter {counter} below the last batch {last}"
    );
    let t = space.tree_storage("t").unwrap();
    let next = t.add_all(vec![change("n", "n")], NO_HEADS, "t").unwrap();
    assert!(next > counter && next > last, "{next}");
}

/// After a power cut, a `Buffered` space may have lost its unsynced batches: `last_add_seq`
/// is the last synced one, and no seq acknowledged before the cut is handed out again.
#[test]
fn after_a_power_cut_last_add_seq_of_a_buffered_space_is_its_last_synced_batch_and_no_seq_is_reused(
) {
    let fs = SimFs::new();
    let (space, t, mut seqs) = three_batches_on(&fs, Durability::Buffered);
    space.sync().unwrap();
    let synced = *seqs.last().unwrap();
    seqs.push(t.add_all(vec![change("u", "u")], NO_HEADS, "t").unwrap());
    fs.cut_power();
    let fs = fs.reboot(Tear::DropUnsynced, &mut Rng::new(1));
    drop((t, space));
    let space = Space::open(workload::dir(), sim_options(&fs, Durability::Buffered)).unwrap();
    assert_eq!(space.last_add_seq(), synced);
    let counter = space.add_seq();
    assert!(
        counter >= synced,
        "counter {counter} below the last batch {synced}"
    );
    let t = space.tree_storage("t").unwrap();
    let next = t.add_all(vec![change("n", "n")], NO_HEADS, "t").unwrap();
    assert!(
        seqs.iter().all(|s| next > *s) && next > counter,
        "{next} after {seqs:?} (counter {counter})"
    );
}

#[test]
fn repair_does_not_hand_out_again_a_seq_named_by_what_it_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let options = || Options::default().reserve_ahead(1);
    let last = {
        let space = Space::create(dir.path(), options()).unwrap();
        let a = space.create_tree_storage(root("a")).unwrap();
        space.create_tree_storage(root("b")).unwrap();
        for i in 0..6 {
            a.add_all(
                vec![change(&format!("c{i}"), &format!("{i:04}"))],
                NO_HEADS,
                "a",
            )
            .unwrap();
        }
        space.add_seq()
    };
    let seg = segments(dir.path()).remove(0);
    let starts = frame_starts(&seg);
    // Frames: two tree creations, then a reservation and a batch per seq. Damage the first
    // batch: every later reservation and batch, which name the higher seqs, is moved aside.
    let mut bytes = fs::read(&seg).unwrap();
    bytes[starts[3] + 12] ^= 0xff;
    fs::write(&seg, &bytes).unwrap();
    let space = Space::create(dir.path(), options().recovery(Recovery::Repair)).unwrap();
    assert!(space.recovery_report().unwrap().repaired.is_some());
    let a = space.tree_storage("a").unwrap();
    let next = a
        .add_all(vec![change("new", "9999")], NO_HEADS, "a")
        .unwrap();
    assert!(next > last, "seq {next} handed out again (last was {last})");
    drop(a);
    drop(space);
    // The jump is durable: a plain reopen keeps it.
    let space = Space::create(dir.path(), options()).unwrap();
    assert!(space.add_seq() >= next);
}

#[test]
fn tree_ids_lists_the_live_trees() {
    let dir = tempfile::tempdir().unwrap();
    write_batches(dir.path(), 2);
    let space = open(dir.path());
    let c = space.create_tree_storage(root("c")).unwrap();
    c.delete().unwrap();
    assert_eq!(space.tree_ids(), vec!["a", "b"]);
}

#[test]
fn open_read_only_while_another_space_writes_sees_a_prefix_and_never_corruption() {
    const BATCHES: usize = 400;
    /// Snapshots taken at least, even if the writer finishes first.
    const MIN_SNAPSHOTS: usize = 20;
    /// Read-only opens that may fail with an I/O error in a row (a segment removed or rolled
    /// between listing and reading) before the test gives up.
    const MAX_IO_RETRIES_IN_A_ROW: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default().segment_size(8 << 10);
    let space = Space::create(dir.path(), options.clone()).unwrap();
    let tree = space.create_tree_storage(root("t")).unwrap();
    let expected: Vec<String> = (0..BATCHES).map(|i| format!("c{i}")).collect();
    // The writer says when its first batch is acknowledged, and does not write its last batch
    // before the reader has a snapshot: that snapshot is taken while the writer is writing.
    let (first_ack_tx, first_ack_rx) = std::sync::mpsc::channel::<()>();
    let (snapshot_tx, snapshot_rx) = std::sync::mpsc::channel::<()>();
    let writer = thread::spawn(move || {
        for i in 0..BATCHES {
            if i == BATCHES - 1 {
                snapshot_rx
                    .recv()
                    .expect("the reader quit before taking a snapshot");
            }
            tree.add_all(
                vec![change(&format!("c{i}"), &format!("{i:04}"))],
                NO_HEADS,
                "t",
            )
            .unwrap();
            if i == 0 {
                first_ack_tx.send(()).unwrap();
            }
        }
    });
    first_ack_rx
        .recv()
        .expect("the writer stopped before its first batch was acknowledged");
    let (mut snapshots, mut io_retries, mut io_in_a_row, mut last) = (0usize, 0usize, 0usize, 0);
    while !writer.is_finished() || snapshots < MIN_SNAPSHOTS {
        match Space::open_read_only(dir.path(), options.clone()) {
            Ok(snapshot) => {
                io_in_a_row = 0;
                let seen = view_ids(snapshot.changes_after_add_seq(0));
                assert_eq!(
                    seen,
                    expected[..seen.len()],
                    "a snapshot is not a prefix of the writes"
                );
                assert!(seen.len() >= last, "a later snapshot saw fewer changes");
                if snapshots == 0 {
                    // Taken after the first acknowledgement and before the last batch.
                    assert!(
                        (1..BATCHES).contains(&seen.len()),
                        "the first snapshot saw {} changes",
                        seen.len()
                    );
                    if snapshot_tx.send(()).is_err() {
                        break; // The writer is gone: joining it below reports why.
                    }
                }
                last = seen.len();
                snapshots += 1;
            }
            Err(Error::Io { .. }) if io_in_a_row < MAX_IO_RETRIES_IN_A_ROW => {
                io_in_a_row += 1;
                io_retries += 1;
            }
            Err(e) => panic!(
                "read-only open of a live space failed ({io_in_a_row} I/O errors in a row before): {e}"
            ),
        }
    }
    writer.join().unwrap();
    assert!(snapshots > 0, "no snapshot taken");
    eprintln!("{snapshots} snapshots, {io_retries} retried I/O errors");
    let snapshot = Space::open_read_only(dir.path(), options).unwrap();
    assert_eq!(
        view_ids(snapshot.changes_after_add_seq(0)),
        expected,
        "a snapshot after the writer finished does not see every change"
    );
}
