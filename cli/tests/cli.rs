//! The `spacestore` command, run as a process on real directories: each subcommand's output and
//! exit code, every bad input the issue lists, and a crash test (`load --durability sync`
//! killed with SIGKILL, then `verify` passes and `dump` holds every acknowledged batch).
//!
//! `SPACESTORE_CLI_KILLS` sets the crash test's number of kills (default 30).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use spacestore::{
    AclRecord, HeadUpdate, Options, Space, SpacePayload, StorageChange, Store, StoreOptions,
    TreeRoot,
};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spacestore"))
}

/// Runs `spacestore ARGS` with empty stdin.
fn run(args: &[&str]) -> Output {
    run_with_stdin(args, "")
}

fn run_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the spacestore binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

/// Asserts a clean success.
#[track_caller]
fn ok(o: &Output) -> String {
    assert_eq!(code(o), 0, "stdout:\n{}\nstderr:\n{}", stdout(o), stderr(o));
    stdout(o)
}

/// Asserts exit code `want` with exactly one line on stderr, no panic, no backtrace; returns
/// the line.
#[track_caller]
fn fails(o: &Output, want: i32) -> String {
    let err = stderr(o);
    assert_eq!(code(o), want, "stdout:\n{}\nstderr:\n{err}", stdout(o));
    assert_eq!(err.lines().count(), 1, "one line on stderr, got:\n{err}");
    assert!(err.starts_with("spacestore: "), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    err
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `load` into `dir`: returns the acknowledged (tree, add_seq) pairs.
fn load(dir: &Path, trees: u32, batches: u64, batch_size: u32) -> Vec<(String, u64)> {
    let out = ok(&run(&[
        "load",
        p(dir),
        "--trees",
        &trees.to_string(),
        "--batches",
        &batches.to_string(),
        "--batch-size",
        &batch_size.to_string(),
    ]));
    acks(&out)
}

fn acks(out: &str) -> Vec<(String, u64)> {
    out.lines().filter_map(parse_ack).collect()
}

fn parse_ack(line: &str) -> Option<(String, u64)> {
    let rest = line.strip_prefix("ack tree=")?;
    let (tree, seq) = rest.split_once(" add_seq=")?;
    Some((tree.to_string(), seq.trim().parse().ok()?))
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

/// Every file of `dir` with its bytes and modification time.
fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, std::time::SystemTime)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let meta = e.metadata().unwrap();
            (
                name,
                (std::fs::read(e.path()).unwrap(), meta.modified().unwrap()),
            )
        })
        .collect()
}

/// Flips a byte in the middle of the first segment; returns the offset the library's replay
/// names for the corruption.
fn corrupt(dir: &Path) -> (PathBuf, u64) {
    let seg = segments(dir)[0].clone();
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&seg, bytes).unwrap();
    match Space::open_read_only(dir, Options::default()) {
        Err(spacestore::Error::Corrupt {
            segment, offset, ..
        }) => (segment, offset),
        other => panic!("expected corruption, got {other:?}"),
    }
}

/// The JSON lines of `dump --json`.
fn dump_json(dir: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["dump", p(dir), "--json"];
    args.extend_from_slice(extra);
    ok(&run(&args))
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn help_lists_the_subcommands_and_exit_codes() {
    let out = ok(&run(&["--help"]));
    for word in [
        "demo",
        "inspect",
        "verify",
        "repair",
        "compact",
        "dump",
        "cursors",
        "load",
        "export",
        "import",
        "Exit codes",
    ] {
        assert!(out.contains(word), "{word} in\n{out}");
    }
    for code in 0..=10 {
        assert!(
            out.contains(&format!("\n  {code} ")),
            "exit code {code} in\n{out}"
        );
    }
}

#[test]
fn demo_writes_follows_the_cursor_restarts_and_carries_on() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let args = [
        "demo",
        p(&dir),
        "--batches",
        "300",
        "--trees",
        "8",
        "--writers",
        "2",
    ];
    let out = ok(&run(&args));
    assert!(
        out.starts_with(&format!("created {}: a new space", dir.display())),
        "{out}"
    );
    assert!(
        out.contains("added 300 batches (1200 changes, 4 each) to 8 trees"),
        "{out}"
    );
    assert!(out.contains("cursor \"demo-consumer\" 0 -> 300"), "{out}");
    assert!(out.contains("closed and reopened: replayed"), "{out}");
    assert!(
        out.contains("AddSeq counter 300, the consumer's stored cursor 300, 0 changes above it"),
        "{out}"
    );
    assert!(
        out.contains("after the restart: 2 writers added 150 batches"),
        "{out}"
    );
    assert!(out.contains("cursor \"demo-consumer\" 300 -> 450"), "{out}");
    assert_eq!(out.matches("none missed").count(), 2, "{out}");
    // Again: the second run replays the first one's log, continues the counter, and the
    // consumer carries on from the cursor stored in the space.
    let out = ok(&run(&args));
    assert!(out.contains("replayed 1808 changes in 8 trees"), "{out}");
    assert!(
        out.contains("the consumer's cursor \"demo-consumer\", stored in the space, is at 450"),
        "{out}"
    );
    assert!(out.contains("cursor \"demo-consumer\" 450 -> 750"), "{out}");
    ok(&run(&["verify", p(&dir)]));
}

#[test]
fn demo_delivers_the_batches_written_while_it_was_away_from_its_stored_cursor() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let args = ["demo", p(&dir), "--batches", "40", "--trees", "4"];
    ok(&run(&args));
    // Another program writes 25 batches; the demo's consumer was not there to see them.
    let written = load(&dir, 2, 25, 3);
    assert_eq!(written.len(), 25);
    let out = ok(&run(&args));
    assert!(
        out.contains("stored in the space, is at 60 (25 batches above it)"),
        "{out}"
    );
    assert!(
        out.contains("60 -> 125 through a subscription (65 batches delivered, 25 of them waiting"),
        "{out}"
    );
}

#[test]
fn cursors_lists_each_cursor_with_its_position_as_a_table_or_json_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    ok(&run(&["demo", p(&dir), "--batches", "40", "--trees", "4"]));
    load(&dir, 2, 5, 1);
    let out = ok(&run(&["cursors", p(&dir)]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["demo-consumer", "60", "5"],
        "{out}"
    );
    assert!(
        lines[2].starts_with(
            "1 cursor(s), BEHIND in batches; last batch at AddSeq 65; AddSeq counter 65 (the \
             next batch's seq is above it); incarnation "
        ),
        "{out}"
    );
    let json = ok(&run(&["cursors", p(&dir), "--json"]));
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["name"], "demo-consumer");
    assert_eq!(v["position"], 60);
    assert_eq!(v["behind"], 5);
    assert_eq!(v["last_add_seq"], 65);
    assert_eq!(v["counter"], 65);
    // inspect names them too.
    let out = ok(&run(&["inspect", p(&dir)]));
    assert!(
        out.contains("cursors        1: \"demo-consumer\" at 60\n"),
        "{out}"
    );
}

/// After a crash the counter restarts at the log's reservation, far above the last batch; a
/// consumer that processed every batch is still 0 behind (BEHIND counted the counter once:
/// `BEHIND 1048260` with nothing to process).
#[test]
fn cursors_of_a_consumer_that_processed_every_batch_are_0_behind_after_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let last = {
        let space = Space::create(&dir, Options::default()).unwrap();
        let tree = space
            .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
            .unwrap();
        let mut last = 0;
        for i in 0..3 {
            let id = format!("c{i}");
            let change = spacestore::StorageChange::new(id.as_str(), id.as_str(), b"x".to_vec());
            last = tree.add_all(vec![change], [id.as_str()], "t").unwrap();
        }
        let cursor = space.cursor("indexer").unwrap();
        cursor.ack(last).unwrap();
        // A crash: no close frame is written (the forgotten space keeps the directory locked
        // in this process, so the command reads a copy of the files as the disk has them).
        std::mem::forget((space, tree, cursor));
        last
    };
    let copy = tmp.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for seg in segments(&dir) {
        std::fs::copy(&seg, copy.join(seg.file_name().unwrap())).unwrap();
    }
    let out = ok(&run(&["cursors", p(&copy)]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["indexer", &last.to_string(), "0"],
        "{out}"
    );
    let counter = Options::default().reserve_ahead;
    assert!(
        lines[2].contains(&format!(
            "last batch at AddSeq {last}; AddSeq counter {counter} (the next batch's seq is above it)"
        )),
        "{out}"
    );
    let json = ok(&run(&["cursors", p(&copy), "--json"]));
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["position"], last);
    assert_eq!(v["behind"], 0);
    assert_eq!(v["last_add_seq"], last);
    assert_eq!(v["counter"], counter);
}

#[test]
fn demo_defaults_to_spacestore_data_in_the_working_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["demo", "--batches", "40"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let text = ok(&out);
    assert!(
        text.starts_with("created spacestore-data: a new space"),
        "{text}"
    );
    assert!(tmp.path().join("spacestore-data").join("LOCK").exists());
}

#[test]
fn inspect_shows_segments_frames_trees_changes_heads_and_the_counter() {
    let tmp = tempfile::tempdir().unwrap();
    load(tmp.path(), 3, 20, 2);
    let out = ok(&run(&["inspect", p(tmp.path())]));
    assert!(out.contains("lock           free"), "{out}");
    assert!(out.contains("segments       1"), "{out}");
    assert!(out.contains("00000000000000000001.wal"), "{out}");
    assert!(out.contains("create tree 3, add batch 20,"), "{out}");
    assert!(out.contains("reservations 1, closes 1"), "{out}");
    assert!(out.contains("trees          3\n"), "{out}");
    assert!(
        out.contains("changes        43 (3 roots, 40 in batches)"),
        "{out}"
    );
    assert!(out.contains("head entries   3 "), "{out}");
    assert!(out.contains("cursors        0\n"), "{out}");
    assert!(
        out.contains("stored changes carry 1..20; batches in the log 1..20; counter 20"),
        "{out}"
    );
    assert!(out.contains("torn tail      none"), "{out}");
}

#[test]
fn inspect_and_verify_show_a_whole_space_its_acl_list_and_its_record_kinds() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("whole");
    {
        let settings = TreeRoot::new("settings", b"settings root".to_vec());
        let payload = SpacePayload::new(
            "space.1",
            b"header".to_vec(),
            "acl",
            b"root".to_vec(),
            settings,
        );
        let space = Space::create(&dir, Options::default()).unwrap();
        space.create_space(payload).unwrap();
        let acl = space.acl_storage().unwrap();
        acl.add_all([AclRecord::new("r2", "acl", 2, b"two".to_vec())])
            .unwrap();
        space.state_storage().unwrap().set_hash("h").unwrap();
    }
    let out = ok(&run(&["inspect", p(&dir)]));
    assert!(
        out.contains("create space 1, set hash 1, add ACL records 1)"),
        "{out}"
    );
    assert!(
        out.contains("space          space.1 (whole: state, ACL list of 2 records)"),
        "{out}"
    );
    let verified = ok(&run(&["verify", p(&dir)]));
    assert!(verified.starts_with("ok "), "{verified}");
    let bare = tmp.path().join("bare");
    drop(Space::create(&bare, Options::default()).unwrap());
    let out = ok(&run(&["inspect", p(&bare)]));
    assert!(out.contains("space          bare"), "{out}");
}

#[test]
fn inspect_and_verify_with_store_look_at_every_space_of_a_store() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    {
        let store = Store::open(&root, Options::default()).unwrap();
        for id in ["one.1", "two.1"] {
            let settings = TreeRoot::new("settings", b"settings root".to_vec());
            let payload =
                SpacePayload::new(id, b"header".to_vec(), "acl", b"root".to_vec(), settings);
            store.create_space(payload).unwrap();
        }
    }
    let out = ok(&run(&["inspect", "--store", p(&root)]));
    assert!(out.contains("2 spaces"), "{out}");
    for id in ["one.1", "two.1"] {
        assert!(
            out.contains(&format!("space          {id} (whole")),
            "{out}"
        );
    }
    let verified = ok(&run(&["verify", "--store", p(&root)]));
    assert_eq!(
        verified.lines().filter(|l| l.starts_with("ok ")).count(),
        2,
        "{verified}"
    );
    // A damaged space fails the whole run, after every space was looked at.
    let seg = root.join("spaces/one.1/00000000000000000001.wal");
    let mut bytes = std::fs::read(&seg).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&seg, bytes).unwrap();
    let o = run(&["verify", "--store", p(&root)]);
    assert_ne!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).contains("two.1"), "{}", stdout(&o));
    // Not a store.
    let o = run(&["verify", "--store", p(tmp.path())]);
    assert_ne!(code(&o), 0);
}

#[test]
fn inspect_says_1_frame_not_1_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("space");
    // An empty space, closed: its segment holds the close frame alone.
    Space::create(&dir, Options::default())
        .unwrap()
        .close()
        .unwrap();
    let out = ok(&run(&["inspect", p(&dir)]));
    assert!(out.contains(" 1 frame\n"), "{out}");
    assert!(!out.contains(" 1 frames"), "{out}");
}

#[test]
fn dump_with_a_negative_after_seq_says_what_an_add_seq_is() {
    let tmp = tempfile::tempdir().unwrap();
    load(tmp.path(), 1, 2, 1);
    let err = fails(&run(&["dump", p(tmp.path()), "--after-seq", "-1"]), 2);
    assert!(err.contains("not an AddSeq"), "{err}");
    assert!(!err.contains("invalid digit"), "{err}");
}

#[test]
fn compact_replays_the_compacted_log_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    load(tmp.path(), 2, 20, 2);
    let out = ok(&run(&["compact", p(tmp.path())]));
    assert!(out.contains("--measure-replay"), "{out}");
    assert!(!out.contains(" after\n"), "{out}");
    let measured = ok(&run(&["compact", "--measure-replay", p(tmp.path())]));
    assert!(measured.trim_end().ends_with("after"), "{measured}");
}

#[test]
fn inspect_changes_nothing_even_with_a_torn_tail() {
    let tmp = tempfile::tempdir().unwrap();
    load(tmp.path(), 2, 10, 2);
    let seg = segments(tmp.path())[0].clone();
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&[9, 0, 0, 0, 1, 2]).unwrap();
    drop(f);
    let before = snapshot(tmp.path());
    let out = ok(&run(&["inspect", p(tmp.path())]));
    assert!(
        out.contains("torn tail      6 B at 00000000000000000001.wal byte offset"),
        "{out}"
    );
    ok(&run(&["verify", p(tmp.path())]));
    ok(&run(&["dump", p(tmp.path())]));
    assert_eq!(
        snapshot(tmp.path()),
        before,
        "inspect, verify and dump changed nothing"
    );
}

#[test]
fn inspect_verify_and_dump_work_on_a_space_another_process_holds() {
    let tmp = tempfile::tempdir().unwrap();
    load(tmp.path(), 2, 10, 2);
    let space = Space::create(tmp.path(), Options::default()).unwrap();
    let tree = space.tree_storage("load-0000").unwrap();
    tree.add_all(
        vec![spacestore::StorageChange::new("live", "zzz", b"x".to_vec())],
        ["live"],
        "load-0000",
    )
    .unwrap();
    let out = ok(&run(&["inspect", p(tmp.path())]));
    assert!(
        out.contains("lock           held by another process"),
        "{out}"
    );
    assert!(out.contains("add batch 11"), "{out}");
    ok(&run(&["verify", p(tmp.path())]));
    let dumped = ok(&run(&["dump", p(tmp.path()), "--tree", "load-0000"]));
    assert!(dumped.contains("live"), "{dumped}");
    // The others need the lock: one clear line and exit code 5.
    for args in [
        vec!["compact", p(tmp.path())],
        vec!["repair", p(tmp.path()), "--yes"],
        vec!["load", p(tmp.path()), "--trees", "1", "--batches", "1"],
        vec!["demo", p(tmp.path()), "--batches", "2"],
    ] {
        let err = fails(&run(&args), 5);
        assert!(
            err.contains("is locked: another process has the space open"),
            "{err}"
        );
    }
    drop(tree);
    drop(space);
    ok(&run(&["compact", p(tmp.path())]));
}

#[test]
fn verify_passes_a_clean_space() {
    let tmp = tempfile::tempdir().unwrap();
    load(tmp.path(), 3, 30, 3);
    let out = ok(&run(&["verify", p(tmp.path())]));
    assert!(
        out.starts_with(&format!("ok {}: ", tmp.path().display())),
        "{out}"
    );
    assert!(out.contains("3 trees, 93 changes, 3 head entries"), "{out}");
}

#[test]
fn verify_names_the_segment_and_offset_of_the_first_bad_frame() {
    let tmp = tempfile::tempdir().unwrap();
    load(tmp.path(), 3, 100, 2);
    let (segment, offset) = corrupt(tmp.path());
    let o = run(&["verify", p(tmp.path())]);
    let err = fails(&o, 6);
    let place = format!("segment {}, byte offset {offset}:", segment.display());
    assert!(err.contains(&place), "{err}");
    assert!(stdout(&o).starts_with("FAILED"), "{}", stdout(&o));
    assert!(stdout(&o).contains(&place), "{}", stdout(&o));
    // inspect shows what comes before it, and says where replay stops.
    let o = run(&["inspect", p(tmp.path())]);
    fails(&o, 6);
    assert!(stdout(&o).contains(&format!(
        "corruption     at 00000000000000000001.wal byte offset {offset}"
    )));
}

/// verify judges by the store's rules: heads are the caller's (Go's storage takes any), so a
/// head naming a missing change, or a change of another tree, is a note, not a failure.
#[test]
fn verify_accepts_heads_that_name_no_stored_change_of_their_tree_and_notes_them() {
    let tmp = tempfile::tempdir().unwrap();
    load(tmp.path(), 2, 4, 1);
    {
        let space = Space::create(tmp.path(), Options::default()).unwrap();
        let other = space.tree_storage("load-0000").unwrap().heads().unwrap();
        space
            .head_storage()
            .update_entry(HeadUpdate::new("load-0001").heads(["ghost"]))
            .unwrap();
        space
            .head_storage()
            .update_entry(HeadUpdate::new("load-0001").heads(other))
            .unwrap();
    }
    let out = ok(&run(&["verify", p(tmp.path())]));
    assert!(
        out.contains("2 heads that name no stored change of their tree"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "00000000000000000002.wal, byte offset {}: the head update of \"load-0001\" names \
             head \"ghost\", which is not a stored change of tree \"load-0001\"",
            spacestore::internals::frame::HEADER_LEN
        )),
        "{out}"
    );
    assert!(
        out.contains("which is not a stored change of tree \"load-0001\""),
        "{out}"
    );
    assert_eq!(out.matches("\nnote: segment").count(), 2, "{out}");
}

/// A head entry given a last AddSeq far above the counter (Go's `UpdateEntry` takes any) moves
/// the counter up to it, so the store and verify agree, and no later batch gets a seq below it.
#[test]
fn verify_accepts_an_entry_given_a_last_add_seq_above_the_counter() {
    let tmp = tempfile::tempdir().unwrap();
    load(tmp.path(), 1, 2, 1);
    {
        let space = Space::create(tmp.path(), Options::default()).unwrap();
        space
            .head_storage()
            .update_entry(HeadUpdate::new("load-0000").last_add_seq(u64::MAX - 1))
            .unwrap();
        assert_eq!(space.add_seq(), u64::MAX - 1);
    }
    let out = ok(&run(&["verify", p(tmp.path())]));
    assert!(
        out.contains(&format!("no seq above the counter {}", u64::MAX - 1)),
        "{out}"
    );
    let space = Space::create(tmp.path(), Options::default()).unwrap();
    assert_eq!(space.add_seq(), u64::MAX - 1);
}

#[test]
fn verify_checks_a_space_with_deleted_trees_and_a_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let space = Space::create(tmp.path(), Options::default()).unwrap();
        for t in ["a", "b", "c"] {
            let tree = space
                .create_tree_storage(TreeRoot::new(t, b"r".to_vec()))
                .unwrap();
            for i in 0..5 {
                let id = format!("{t}{i}");
                tree.add_all(
                    vec![spacestore::StorageChange::new(
                        id.as_str(),
                        format!("{i:03}"),
                        vec![1u8; 64],
                    )],
                    [id.as_str()],
                    t,
                )
                .unwrap();
            }
        }
        space.tree_storage("b").unwrap().delete().unwrap();
        space.head_storage().delete_entry("c").unwrap();
    }
    ok(&run(&["verify", p(tmp.path())]));
    let out = ok(&run(&["compact", p(tmp.path())]));
    assert!(
        out.starts_with(&format!("compacted {}: ", tmp.path().display())),
        "{out}"
    );
    let out = ok(&run(&["verify", p(tmp.path())]));
    assert!(out.contains("2 trees, 12 changes, 2 head entries"), "{out}");
    let out = ok(&run(&["inspect", p(tmp.path())]));
    assert!(out.contains("replay starts at the checkpoint"), "{out}");
}

#[test]
fn repair_asks_then_keeps_the_prefix_and_moves_the_rest_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let acked = load(tmp.path(), 2, 100, 2);
    let (segment, offset) = corrupt(tmp.path());
    let before = snapshot(tmp.path());
    // No: nothing changes.
    let o = run_with_stdin(&["repair", p(tmp.path())], "n\n");
    let err = fails(&o, 10);
    assert!(
        err.contains("not confirmed (answer y, or pass --yes): nothing changed"),
        "{err}"
    );
    assert!(
        stdout(&o).contains(&format!("byte offset {offset}")),
        "{}",
        stdout(&o)
    );
    assert_eq!(snapshot(tmp.path()), before);
    // Yes (from stdin).
    let out = ok(&run_with_stdin(&["repair", p(tmp.path())], "y\n"));
    let side = segment.with_extension(format!("wal.corrupt-at-{offset}"));
    assert!(
        out.contains(&format!("moved aside: {}", side.display())),
        "{out}"
    );
    let original = &before[segment.file_name().unwrap().to_str().unwrap()].0;
    assert_eq!(std::fs::read(&side).unwrap(), original[offset as usize..]);
    ok(&run(&["verify", p(tmp.path())]));
    // The prefix is kept: every batch below the bad frame is still there.
    let kept: HashSet<u64> = dump_json(tmp.path(), &[])
        .iter()
        .map(|c| c["add_seq"].as_u64().unwrap())
        .collect();
    assert!(
        kept.len() > 10 && kept.len() < acked.len(),
        "kept {}",
        kept.len()
    );
    let highest = kept.iter().max().unwrap();
    assert!(
        out.contains(&format!(
            "kept every batch up to AddSeq {highest}; seqs {}..=",
            highest + 1
        )),
        "{out}"
    );
    assert!(out.contains("the space's incarnation is now "), "{out}");
    let out = ok(&run(&["repair", p(tmp.path()), "--yes"]));
    assert!(out.starts_with("nothing to repair"), "{out}");
}

#[test]
fn repair_moves_a_torn_tail_aside() {
    let tmp = tempfile::tempdir().unwrap();
    load(tmp.path(), 1, 5, 1);
    let seg = segments(tmp.path())[0].clone();
    let len = std::fs::metadata(&seg).unwrap().len();
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&[200, 1, 0, 0, 7, 7, 7]).unwrap();
    drop(f);
    let out = ok(&run(&["repair", p(tmp.path()), "--yes"]));
    assert!(out.contains("torn tail"), "{out}");
    let side = seg.with_extension(format!("wal.torn-at-{len}"));
    assert_eq!(std::fs::read(&side).unwrap(), [200, 1, 0, 0, 7, 7, 7]);
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), len);
    let out = ok(&run(&["inspect", p(tmp.path())]));
    assert!(out.contains("torn tail      none"), "{out}");
}

#[test]
fn compact_prints_bytes_before_and_after() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let space = Space::create(tmp.path(), Options::default()).unwrap();
        let tree = space
            .create_tree_storage(TreeRoot::new("gone", b"r".to_vec()))
            .unwrap();
        for i in 0..200 {
            let id = format!("c{i}");
            tree.add_all(
                vec![spacestore::StorageChange::new(
                    id.as_str(),
                    format!("{i:04}"),
                    vec![3u8; 1000],
                )],
                [id.as_str()],
                "gone",
            )
            .unwrap();
        }
        tree.delete().unwrap();
    }
    let out = ok(&run(&["compact", p(tmp.path())]));
    let line = out.lines().nth(1).unwrap();
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(2)
        .map(|s| s.parse().unwrap())
        .collect();
    assert!(line.starts_with("bytes before "), "{out}");
    assert!(nums[0] > 200_000 && nums[1] < 1_000, "{out}");
    ok(&run(&["verify", p(tmp.path())]));
}

#[test]
fn dump_prints_changes_and_heads_as_a_table_or_json_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let acked = load(tmp.path(), 2, 6, 2);
    // Table: a header, then the two roots and twelve changes.
    let out = ok(&run(&["dump", p(tmp.path())]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ADD_SEQ  TREE"), "{out}");
    assert_eq!(lines.len(), 1 + 2 + 12, "{out}");
    // JSON lines: every acknowledged batch, whole.
    let all = dump_json(tmp.path(), &[]);
    assert_eq!(all.len(), 14);
    for (tree, seq) in &acked {
        let n = all
            .iter()
            .filter(|c| c["tree"] == tree.as_str() && c["add_seq"] == *seq)
            .count();
        assert_eq!(n, 2, "batch {seq} of {tree}");
    }
    // A consumer's cursor, one tree, raw bytes.
    assert_eq!(dump_json(tmp.path(), &["--after-seq", "4"]).len(), 4);
    let tree = dump_json(tmp.path(), &["--tree", "load-0001", "--raw", "hex"]);
    assert_eq!(tree.len(), 1 + 6);
    assert_eq!(tree[0]["add_seq"], 0);
    assert_eq!(tree[0]["raw_hex"], "726f6f74206f66206c6f61642d30303031"); // "root of load-0001"
    let b64 = dump_json(tmp.path(), &["--tree", "load-0001", "--raw", "base64"]);
    assert_eq!(b64[0]["raw_base64"], "cm9vdCBvZiBsb2FkLTAwMDE=");
    assert_eq!(b64[1]["size"], 256);
    // Head entries.
    let heads = dump_json(tmp.path(), &["--heads"]);
    assert_eq!(heads.len(), 2);
    assert_eq!(heads[0]["tree"], "load-0000");
    assert_eq!(heads[0]["last_add_seq"], 5);
    assert_eq!(heads[1]["heads"][0], "load-0001.0.5.1");
    let out = ok(&run(&[
        "dump",
        p(tmp.path()),
        "--heads",
        "--tree",
        "load-0000",
    ]));
    assert!(
        out.lines().nth(1).unwrap().starts_with("load-0000"),
        "{out}"
    );
}

#[test]
fn load_prints_one_line_per_acknowledged_batch_and_a_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(&run(&[
        "load",
        p(tmp.path()),
        "--trees",
        "3",
        "--batches",
        "30",
        "--batch-size",
        "4",
        "--durability",
        "sync",
        "--threads",
        "3",
    ]));
    let acked = acks(&out);
    assert_eq!(acked.len(), 30);
    let seqs: HashSet<u64> = acked.iter().map(|a| a.1).collect();
    assert_eq!(seqs, (1..=30).collect());
    let summary = out.lines().last().unwrap();
    assert!(
        summary.starts_with("loaded 30 batches (120 changes, 30.0 KiB of change bytes) into 3 trees with 3 threads, sync durability, in "),
        "{summary}"
    );
    assert!(summary.contains("batches/s; AddSeq 1..30"), "{summary}");
    // A second run continues above the first.
    let again = load(tmp.path(), 3, 5, 1);
    assert!(again.iter().all(|a| a.1 > 30));
}

#[test]
fn bad_input_gets_one_line_and_a_distinct_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let space = tmp.path().join("space");
    load(&space, 1, 2, 1);
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let junk = tmp.path().join("junk");
    std::fs::create_dir(&junk).unwrap();
    std::fs::write(junk.join("notes.txt"), "hello").unwrap();
    let fake = tmp.path().join("fake");
    std::fs::create_dir(&fake).unwrap();
    std::fs::write(fake.join("00000000000000000001.wal"), [0xAB; 64]).unwrap();
    let missing = tmp.path().join("missing");
    let lock_file = space.join("LOCK");
    let corrupt_dir = tmp.path().join("corrupt");
    load(&corrupt_dir, 2, 50, 2);
    corrupt(&corrupt_dir);

    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["inspect", p(&missing)], 3, "no such directory"),
        (vec!["verify", p(&missing)], 3, "no such directory"),
        (vec!["dump", p(&missing)], 3, "no such directory"),
        (vec!["repair", p(&missing), "--yes"], 3, "no such directory"),
        (vec!["compact", p(&missing)], 3, "no such directory"),
        (vec!["inspect", p(&empty)], 4, "is not a space directory"),
        (vec!["verify", p(&junk)], 4, "no segment files"),
        (vec!["dump", p(&fake)], 6, "not a spacestore log segment"),
        (
            vec!["load", p(&junk), "--trees", "1", "--batches", "1"],
            4,
            "refusing",
        ),
        (vec!["demo", p(&fake)], 6, "not a spacestore log segment"),
        (vec!["demo", p(&junk)], 4, "is not a space directory"),
        (vec!["inspect", p(&lock_file)], 4, "not a directory"),
        (vec!["verify", p(&corrupt_dir)], 6, "corrupt log: segment"),
        (vec!["dump", p(&corrupt_dir)], 6, "corrupt log: segment"),
        (vec!["compact", p(&corrupt_dir)], 6, "corrupt log: segment"),
        (
            vec!["load", p(&corrupt_dir), "--trees", "1", "--batches", "1"],
            6,
            "corrupt log",
        ),
        (
            vec!["dump", p(&space), "--tree", "nope"],
            8,
            "unknown tree id: \"nope\"",
        ),
        (
            vec!["dump", p(&space), "--heads", "--tree", "nope"],
            8,
            "unknown tree id",
        ),
        (
            vec!["load", p(&space), "--trees", "x", "--batches", "1"],
            2,
            "invalid value 'x'",
        ),
        (
            vec!["load", p(&space), "--trees", "0", "--batches", "1"],
            2,
            "invalid value '0'",
        ),
        (
            vec!["load", p(&space), "--trees", "1", "--batches", "-3"],
            2,
            "invalid value '-3'",
        ),
        (vec!["load", p(&space), "--trees", "1"], 2, "--batches"),
        (
            vec![
                "load",
                p(&space),
                "--trees",
                "1",
                "--batches",
                "1",
                "--durability",
                "maybe",
            ],
            2,
            "maybe",
        ),
        (
            vec!["dump", p(&space), "--after-seq", "1e3"],
            2,
            "invalid value '1e3'",
        ),
        (
            vec!["dump", p(&space), "--heads", "--raw", "hex"],
            2,
            "--raw",
        ),
        (vec!["frobnicate"], 2, "unrecognized subcommand"),
    ];
    let mut codes_seen = HashMap::new();
    for (args, want, says) in cases {
        let err = fails(&run(&args), want);
        assert!(err.contains(says), "{args:?}: {err}");
        codes_seen.insert(want, err);
    }
    assert_eq!(codes_seen.len(), 5, "distinct codes per kind of bad input");
}

/// A small xorshift: the crash test's kill moments.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn load_killed_with_sigkill_loses_no_acknowledged_batch() {
    let kills: usize = std::env::var("SPACESTORE_CLI_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let started = Instant::now();
    // (tree, add_seq) of every acknowledged batch, over all runs.
    let mut acked: Vec<(String, u64)> = Vec::new();
    for kill in 0..kills {
        let mut child = bin()
            .args([
                "load",
                p(dir),
                "--trees",
                "4",
                "--batches",
                "100000000",
                "--batch-size",
                "3",
                "--durability",
                "sync",
                "--threads",
                "2",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            // Only whole lines count: a line cut by the kill is not an acknowledgement.
            let mut reader = BufReader::new(out);
            let mut found = Vec::new();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                if line.ends_with('\n') {
                    found.extend(parse_ack(&line));
                }
                line.clear();
            }
            found
        });
        std::thread::sleep(Duration::from_millis(20 + rng.below(150)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let run_acks = reader.join().unwrap();
        acked.extend(run_acks);
        let o = run(&["verify", p(dir)]);
        assert_eq!(
            code(&o),
            0,
            "kill {kill} (seed {seed}): {}{}",
            stdout(&o),
            stderr(&o)
        );
    }
    // No AddSeq was acknowledged twice, and every acknowledged batch is there, whole.
    let mut seqs = HashSet::new();
    for (_, seq) in &acked {
        assert!(
            seqs.insert(*seq),
            "AddSeq {seq} acknowledged twice (seed {seed})"
        );
    }
    let mut stored: HashMap<(String, u64), usize> = HashMap::new();
    for c in dump_json(dir, &[]) {
        let key = (
            c["tree"].as_str().unwrap().to_string(),
            c["add_seq"].as_u64().unwrap(),
        );
        *stored.entry(key).or_default() += 1;
    }
    for key in &acked {
        assert_eq!(stored.get(key), Some(&3), "batch {key:?} (seed {seed})");
    }
    assert!(
        acked.len() > kills,
        "the loads made progress: {} acks",
        acked.len()
    );
    eprintln!(
        "{kills} kills, {} acknowledged batches, all present, in {:.1?}",
        acked.len(),
        started.elapsed()
    );
}

/// The frame scan behind `inspect` and `verify` sees what the library's replay sees.
#[test]
fn the_inspect_scan_agrees_with_replay() {
    use spacestore::internals::scan;
    let tmp = tempfile::tempdir().unwrap();
    let check = |dir: &Path| {
        let s = scan(&spacestore::StdFileSystem, dir, &mut |_, _| {}).unwrap();
        let space = Space::open_read_only(dir, Options::default()).unwrap();
        let r = space.recovery_report().unwrap();
        assert_eq!(s.frames.total(), r.frames, "{}", dir.display());
        assert_eq!(s.counter, r.add_seq);
        assert_eq!(s.counter, space.add_seq());
        assert_eq!(s.refused_records, r.refused_records);
        assert_eq!(s.trees, space.tree_count());
        assert_eq!(s.changes, space.change_count());
        assert_eq!(s.head_entries, space.head_count());
        assert_eq!(
            s.torn_tail.as_ref().map(|t| (t.segment.clone(), t.offset)),
            r.torn_tail.as_ref().map(|t| (t.segment.clone(), t.offset))
        );
        assert!(s.first_problem().is_none(), "{:?}", s.first_problem());
    };
    let a = tmp.path().join("a");
    load(&a, 3, 40, 2);
    check(&a);
    {
        let space = Space::create(&a, Options::default()).unwrap();
        space.tree_storage("load-0001").unwrap().delete().unwrap();
        space.head_storage().delete_entry("load-0002").unwrap();
    }
    check(&a);
    ok(&run(&["compact", p(&a)]));
    check(&a);
    load(&a, 1, 10, 1);
    check(&a);
    let seg = segments(&a).pop().unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&[50, 0, 0, 0, 1]).unwrap();
    drop(f);
    check(&a);
}

/// Appends to the last segment of `dir` a frame cut short (a write that did not finish) whose
/// payload embeds a whole valid frame of that segment, followed by more torn bytes: a change's
/// raw bytes come from peers and may hold anything. Returns the segment and the torn frame's
/// offset.
fn append_torn_frame_embedding_a_valid_one(dir: &Path) -> (PathBuf, u64) {
    use spacestore::internals::frame;
    let seg = segments(dir).pop().unwrap();
    let seq: u64 = seg.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    let mut embedded = Vec::new();
    frame::Framing::V1 { seq }.encode(&mut embedded, frame::KIND_RESERVE, |o| {
        o.extend_from_slice(&7u64.to_le_bytes())
    });
    let mut payload = vec![0xab; 16];
    payload.extend_from_slice(&embedded);
    payload.extend_from_slice(&[0xcd; 32]);
    let mut whole = Vec::new();
    frame::Framing::V1 { seq }.encode(&mut whole, frame::KIND_RECORD, |o| {
        o.extend_from_slice(&payload)
    });
    // Cut after the embedded frame and some of the bytes after it.
    let torn = &whole[..whole.len() - 10];
    let offset = std::fs::metadata(&seg).unwrap().len();
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(torn).unwrap();
    (seg, offset)
}

/// `open`, `open_read_only`, `verify` and `inspect` read the log through one scanner, so they
/// agree: a torn frame whose payload embeds a valid frame is a torn tail for all of them.
#[test]
fn a_torn_frame_embedding_a_valid_frame_is_a_torn_tail_for_open_open_read_only_and_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("space");
    let acked = load(&dir, 2, 20, 2);
    assert_eq!(acked.len(), 20);
    let (seg, offset) = append_torn_frame_embedding_a_valid_one(&dir);

    let snapshot_space = Space::open_read_only(&dir, Options::default()).unwrap();
    let torn = snapshot_space.recovery_report().unwrap().torn_tail.clone();
    let torn = torn.expect("open_read_only reports a torn tail");
    assert_eq!((torn.segment.clone(), torn.offset), (seg.clone(), offset));
    assert_eq!(snapshot_space.add_seq(), 20);
    drop(snapshot_space);

    let out = ok(&run(&["verify", p(&dir)]));
    assert!(out.starts_with("ok "), "{out}");
    let note = format!("B at {} byte offset {offset}", seg.display());
    assert!(out.contains("note: a torn tail of "), "{out}");
    assert!(
        out.contains(&note),
        "verify names the torn tail ({note}):\n{out}"
    );
    let out = ok(&run(&["inspect", p(&dir)]));
    assert!(out.contains(&format!("byte offset {offset}")), "{out}");
    assert!(!out.contains("corruption"), "{out}");

    let space = Space::create(&dir, Options::default()).unwrap();
    let torn = space.recovery_report().unwrap().torn_tail.clone();
    assert_eq!(
        torn.map(|t| (t.segment, t.offset)),
        Some((seg.clone(), offset))
    );
    for (tree, seq) in &acked {
        let stored = space
            .tree_storage(tree)
            .unwrap()
            .changes_after_add_seq(seq - 1)
            .map(StorageChange::from)
            .collect::<Vec<_>>();
        assert!(
            stored.iter().any(|c| c.add_seq == *seq),
            "batch {seq} of {tree} kept"
        );
    }
    drop(space);
    assert_eq!(
        std::fs::metadata(&seg).unwrap().len(),
        offset,
        "cut at the torn frame"
    );
    let out = ok(&run(&["verify", p(&dir)]));
    assert!(!out.contains("torn tail"), "{out}");
}

/// ... while a byte flipped in the middle of the log is corruption for all of them, and none
/// of them changes the directory.
#[test]
fn a_flipped_byte_mid_log_is_corruption_for_open_open_read_only_and_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("space");
    load(&dir, 2, 200, 2);
    let (segment, offset) = corrupt(&dir);
    let before = snapshot(&dir);
    match Space::create(&dir, Options::default()) {
        Err(spacestore::Error::Corrupt {
            segment: s,
            offset: o,
            ..
        }) => assert_eq!((s, o), (segment.clone(), offset)),
        other => panic!("open: expected corruption, got {other:?}"),
    }
    let line = fails(&run(&["verify", p(&dir)]), 6);
    let at = format!("segment {}, byte offset {offset}", segment.display());
    assert!(line.contains(&at), "verify names {at}: {line}");
    let line = fails(&run(&["inspect", p(&dir)]), 6);
    assert!(line.contains(&at), "inspect names {at}: {line}");
    let after = snapshot(&dir);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (name, (bytes, _)) in &before {
        assert_eq!(&after[name].0, bytes, "{name} unchanged");
    }
}

/// `dump --after-seq N --limit K` prints the first K whole batches above the cursor.
#[test]
fn dump_with_a_limit_prints_the_first_whole_batches_above_the_cursor() {
    let tmp = tempfile::tempdir().unwrap();
    load(tmp.path(), 2, 10, 3);
    let lines = dump_json(tmp.path(), &["--after-seq", "4", "--limit", "2"]);
    let seqs: Vec<u64> = lines
        .iter()
        .map(|l| l["add_seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [5, 5, 5, 6, 6, 6], "two whole batches of 3");
    let all = dump_json(tmp.path(), &["--after-seq", "4", "--limit", "100"]);
    assert_eq!(all.len(), 18);
    fails(&run(&["dump", p(tmp.path()), "--limit", "2"]), 2);
}

#[test]
fn dump_and_cursors_print_ids_and_names_longer_than_a_format_width_without_panicking() {
    let tmp = tempfile::tempdir().unwrap();
    // Ids a peer may send, and a cursor name, of 70,000 characters: past the 65,535 that
    // `format!`'s width takes (the table panicked with "Formatting argument out of range").
    let long = |c: char| std::iter::repeat_n(c, 70_000).collect::<String>();
    let (tree, change, order, cursor) = (long('t'), long('c'), long('o'), long('n'));
    {
        let space = Space::create(tmp.path(), Options::default()).unwrap();
        let storage = space
            .create_tree_storage(TreeRoot::new(tree.as_str(), b"root".to_vec()))
            .unwrap();
        let added = spacestore::StorageChange::new(change.as_str(), order.as_str(), b"x".to_vec())
            .with_prev_ids([tree.as_str()]);
        storage
            .add_all(vec![added], [change.as_str()], tree.as_str())
            .unwrap();
        space.cursor(&cursor).unwrap();
    }
    let out = ok(&run(&["dump", p(tmp.path())]));
    assert!(out.lines().any(|l| l.contains(&change)), "no change row");
    let out = ok(&run(&["dump", p(tmp.path()), "--heads"]));
    assert!(out.lines().any(|l| l.starts_with(&tree)), "no head row");
    let out = ok(&run(&["dump", p(tmp.path()), "--tree", &tree]));
    assert_eq!(out.lines().count(), 1 + 2);
    let out = ok(&run(&["cursors", p(tmp.path())]));
    assert!(out.lines().nth(1).unwrap().starts_with(&cursor));
}

/// `verify` and `Space::open` judge a directory alike (one test of "is this a space", the
/// library's): only a `LOCK` file is no space to either; a lone zero-filled segment is a space
/// with a torn tail to both; a lone segment of garbage is corruption to both.
#[test]
fn verify_and_open_judge_each_directory_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let only_lock = tmp.path().join("only-lock");
    std::fs::create_dir(&only_lock).unwrap();
    std::fs::write(only_lock.join("LOCK"), b"").unwrap();
    let zeros = tmp.path().join("zeros");
    std::fs::create_dir(&zeros).unwrap();
    std::fs::write(zeros.join("00000000000000000001.wal"), [0u8; 64]).unwrap();
    let garbage = tmp.path().join("garbage");
    std::fs::create_dir(&garbage).unwrap();
    std::fs::write(garbage.join("00000000000000000001.wal"), [0xAB; 64]).unwrap();

    fails(&run(&["verify", p(&only_lock)]), 4);
    assert!(matches!(
        Space::open(&only_lock, Options::default()),
        Err(spacestore::Error::NoSpaceAt(_))
    ));
    let out = ok(&run(&["verify", p(&zeros)]));
    assert!(out.contains("torn tail"), "{out}");
    fails(&run(&["verify", p(&garbage)]), 6);
    assert!(matches!(
        Space::open(&garbage, Options::default()),
        Err(spacestore::Error::Corrupt { .. })
    ));
    // Last: opening cuts the torn tail, which verify no longer reports.
    Space::open(&zeros, Options::default()).unwrap();
    assert!(!ok(&run(&["verify", p(&zeros)])).contains("torn tail"));
}

/// `verify --store` and `inspect --store` look at exactly the spaces `Store::space_ids` lists:
/// not a link, a file, a name that is not UTF-8, a name that is not the store's (invalid or
/// upper-case hex, a leftover) — all of which the store ignores.
#[test]
fn the_store_tools_look_at_exactly_the_spaces_the_store_lists() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    {
        let store = Store::open(&root, Options::default()).unwrap();
        for id in ["a.1", "B.1"] {
            store
                .create_space(SpacePayload::new(
                    id,
                    b"header".to_vec(),
                    "acl",
                    b"acl".to_vec(),
                    TreeRoot::new("settings", b"settings".to_vec()),
                ))
                .unwrap();
        }
    }
    let spaces = root.join("spaces");
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, spaces.join("link.1")).unwrap();
    std::fs::write(spaces.join("file.1"), b"x").unwrap();
    for name in ["~zz", "~422E31", "not ours"] {
        std::fs::create_dir(spaces.join(name)).unwrap();
        std::fs::write(
            spaces.join(name).join("00000000000000000001.wal"),
            [0xAB; 8],
        )
        .unwrap();
    }
    std::fs::create_dir(spaces.join(std::ffi::OsStr::from_bytes(b"\xff.1"))).unwrap();
    let listed = Store::open(&root, Options::default())
        .unwrap()
        .space_ids()
        .unwrap();
    assert_eq!(listed, ["B.1", "a.1"]);
    for command in ["verify", "inspect"] {
        let out = ok(&run(&[command, p(&root), "--store"]));
        assert!(
            out.starts_with(&format!("store {}: 2 spaces\n", root.display())),
            "{out}"
        );
    }
}

/// The tools beside a live store that creates, writes, reopens (through a one-space LRU) and
/// deletes spaces: the application's calls never fail (the tools take no lock: before, their
/// look at each `LOCK` took it for an instant, and an open at that instant was `Locked`), and
/// every run of the tools succeeds (a space deleted after the listing is skipped, not a
/// failure).
#[test]
fn the_store_tools_beside_a_live_store_neither_fail_nor_make_its_calls_fail() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let payload = |id: &str| {
        SpacePayload::new(
            id,
            b"header".to_vec(),
            "acl",
            b"acl".to_vec(),
            TreeRoot::new("settings", b"settings".to_vec()),
        )
    };
    let store = Store::open(&root, StoreOptions::default().max_open_spaces(1)).unwrap();
    for id in ["a.1", "b.1"] {
        store.create_space(payload(id)).unwrap();
    }
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let tools = {
        let (root, done) = (root.clone(), done.clone());
        std::thread::spawn(move || {
            // Done when the runs end, or one fails (a panic): the application stops then.
            struct Done(std::sync::Arc<AtomicBool>);
            impl Drop for Done {
                fn drop(&mut self) {
                    self.0.store(true, Ordering::SeqCst);
                }
            }
            let _done = Done(done);
            for _ in 0..10 {
                for command in ["verify", "inspect"] {
                    let out = run(&[command, p(&root), "--store"]);
                    assert_eq!(code(&out), 0, "{command}: {}{}", stdout(&out), stderr(&out));
                }
            }
        })
    };
    let mut ops = 0u64;
    while !done.load(Ordering::SeqCst) {
        let id = format!("c{ops}.1");
        store.create_space(payload(&id)).unwrap();
        for id in ["a.1", "b.1"] {
            store.space(id).unwrap().tree_storage("settings").unwrap();
        }
        store.delete_space(&id).unwrap();
        ops += 1;
    }
    tools.join().unwrap();
    assert!(ops > 0);
}

#[test]
fn export_writes_a_fixture_that_import_makes_a_space_of_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("space");
    {
        let space = Space::create(&dir, Options::default()).unwrap();
        let tree = space
            .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
            .unwrap();
        for i in 0..5 {
            let id = format!("c{i}");
            let change = spacestore::StorageChange::new(id.as_str(), id.as_str(), vec![1u8; 9]);
            tree.add_all(vec![change], [id.as_str()], "t").unwrap();
        }
        space.cursor("reader").unwrap().ack(3).unwrap();
    }
    let fixture = tmp.path().join("space.fixture");
    let out = ok(&run(&["export", p(&dir), p(&fixture)]));
    assert!(out.contains("1 tree, 6 changes, counter 5"), "{out}");
    // The library reads what the command wrote.
    let imported =
        Space::import(std::fs::File::open(&fixture).unwrap(), Options::default()).unwrap();
    assert_eq!(imported.change_count(), 6);
    let copy = tmp.path().join("copy");
    let out = ok(&run(&["import", p(&fixture), p(&copy)]));
    assert!(out.contains("1 tree, 6 changes, counter 5"), "{out}");
    let space = Space::open(&copy, Options::default()).unwrap();
    assert_eq!(space.cursors(), [(spacestore::Id::from("reader"), 3)]);
    assert_eq!(
        space.tree_storage("t").unwrap().get("c4").unwrap().add_seq,
        5
    );
    assert!(ok(&run(&["verify", p(&copy)])).starts_with("ok "));
}

#[test]
fn import_refuses_a_damaged_fixture_and_a_directory_that_is_not_empty_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("space");
    drop(Space::create(&dir, Options::default()).unwrap());
    let fixture = tmp.path().join("space.fixture");
    ok(&run(&["export", p(&dir), p(&fixture)]));
    let copy = tmp.path().join("copy");
    let mut bytes = std::fs::read(&fixture).unwrap();
    let cut = tmp.path().join("cut.fixture");
    std::fs::write(&cut, &bytes[..bytes.len() - 1]).unwrap();
    fails(&run(&["import", p(&cut), p(&copy)]), 6);
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&fixture, &bytes).unwrap();
    fails(&run(&["import", p(&fixture), p(&copy)]), 6);
    assert!(!copy.exists(), "nothing written for a bad fixture");
    // Into a space directory that exists: refused, left as it was.
    let good = tmp.path().join("good.fixture");
    ok(&run(&["export", p(&dir), p(&good)]));
    let before = snapshot(&dir);
    fails(&run(&["import", p(&good), p(&dir)]), 2);
    assert_eq!(snapshot(&dir), before);
}
