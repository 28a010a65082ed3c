//! The checks behind spacestore's fuzz targets, shared by the libFuzzer targets in
//! `fuzz/fuzz_targets/`, the plain `run_corpus` program and the bounded fuzzing of the normal
//! test run (`tests/replay_fuzz.rs`).
//!
//! - [`replay_bytes`]: arbitrary bytes become the log of a space (segment
//!   `00000000000000000001.wal`, sometimes a second segment), in a simulated file system; opening
//!   it must never panic, must either succeed or fail with `Error::Corrupt` (changing nothing),
//!   `Recovery::Repair` must then succeed, and whatever opened must reopen to the same state and
//!   take new writes above every seq in it.
//! - [`ops`]: arbitrary bytes drive a workload (trees, batches, head entries, checkpoints, syncs,
//!   reopens) with a power cut at an arbitrary call and an arbitrary tear, checked against a
//!   reference model (the writes acknowledged, in order): the recovered state is a prefix of
//!   the writes, holds every durable one, and reuses no seq.

use std::path::{Path, PathBuf};

use spacestore::internals::frame;
use spacestore::{Error, Options, Recovery, Space, StorageChange, TreeRoot};

use crate::simfs::workload::{self, dump, power_cut_scenario};
use crate::simfs::{Rng, SimFs, Tear};

/// The space directory of [`replay_bytes`].
pub fn replay_dir() -> PathBuf {
    PathBuf::from("/fuzz/space")
}

fn segment(seq: u64) -> PathBuf {
    replay_dir().join(format!("{seq:020}.wal"))
}

/// Frames built from `data`: each chunk is `kind` (low 3 bits: the frame kind; bit 7: break the
/// CRC; bit 6: raw bytes instead of a frame), a length byte, then that many payload bytes.
fn framed(seq: u64, data: &[u8]) -> Vec<u8> {
    let mut out = frame::header_v1(seq).to_vec();
    let mut i = 0;
    while i + 2 <= data.len() {
        let kind = data[i];
        let len = data[i + 1] as usize;
        let payload = &data[i + 2..(i + 2 + len).min(data.len())];
        i += 2 + len;
        if kind & 0x40 != 0 {
            out.extend_from_slice(payload);
            continue;
        }
        let start = out.len();
        frame::Framing::V1 { seq }.encode(&mut out, kind & 0x07, |o| o.extend_from_slice(payload));
        if kind & 0x80 != 0 {
            out[start + 4] ^= 0x5a;
        }
    }
    out
}

/// The segment files that `data` stands for.
pub fn segments_of(data: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let Some((&mode, rest)) = data.split_first() else {
        return vec![(1, Vec::new())];
    };
    match mode % 5 {
        // The raw bytes of segment 1.
        0 => vec![(1, rest.to_vec())],
        // Valid frames (correct CRCs) around arbitrary payloads.
        1 => vec![(1, framed(1, rest))],
        // Two segments of frames, split at the first byte's position.
        2 => {
            let (&at, rest) = rest.split_first().unwrap_or((&0, &[]));
            let at = (at as usize).min(rest.len());
            vec![(1, framed(1, &rest[..at])), (2, framed(2, &rest[at..]))]
        }
        // Frames, then the last bytes cut off (a torn tail).
        3 => {
            let (&cut, rest) = rest.split_first().unwrap_or((&0, &[]));
            let mut s = framed(1, rest);
            s.truncate(s.len().saturating_sub(cut as usize));
            vec![(1, s)]
        }
        // A valid header, then raw bytes.
        _ => {
            let mut s = frame::header_v1(1).to_vec();
            s.extend_from_slice(rest);
            vec![(1, s)]
        }
    }
}

fn options(fs: &SimFs, recovery: Recovery) -> Options {
    Options::default()
        .recovery(recovery)
        .auto_checkpoint(None, 0)
        .file_system(fs.arc())
}

fn is_corrupt(r: &Result<Space, Error>) -> bool {
    matches!(r, Err(Error::Corrupt { .. }))
}

/// Checks an opened space: a clean reopen shows the same state, and a new batch takes a seq
/// above every seq in it.
fn check_opened(fs: &SimFs, space: Space, what: &str) {
    let before = dump(&space);
    let max_seq = before.changes.iter().map(|c| c.add_seq).max().unwrap_or(0);
    assert!(
        space.add_seq() >= max_seq,
        "{what}: counter below a stored seq"
    );
    drop(space);
    let again = Space::create(replay_dir(), options(fs, Recovery::Strict))
        .unwrap_or_else(|e| panic!("{what}: a clean reopen failed: {e}"));
    assert_eq!(dump(&again), before, "{what}: memory and disk disagree");
    // Known bug (fuzz/README.md): a log that claims seq u64::MAX (a crafted reservation,
    // close or checkpoint frame) makes the next write overflow the counter.
    if again.add_seq() == u64::MAX && !known_bugs() {
        return;
    }
    // A new write lands above every seq.
    let id = "\u{1}fuzz-tree";
    let tree = match again.tree_storage(id) {
        Ok(t) => Some(t),
        Err(_) => again
            .create_tree_storage(TreeRoot::new(id, b"root".to_vec()))
            .ok(),
    };
    if let Some(tree) = tree {
        let change = StorageChange::new("\u{1}fuzz-change", "\u{1}", b"x".to_vec());
        if let Ok(seq) = tree.add_all(vec![change], ["\u{1}fuzz-change"], id) {
            assert!(
                seq > max_seq,
                "{what}: seq {seq} reused (max stored {max_seq})"
            );
        }
    }
}

/// The replay target (see the crate docs).
pub fn replay_bytes(data: &[u8]) {
    let fs = SimFs::new();
    let segs = segments_of(data);
    for (seq, bytes) in &segs {
        fs.put(&segment(*seq), bytes);
    }
    let dir: &Path = &replay_dir();
    // Read-only: the same replay, nothing touched.
    let ro = Space::open_read_only(dir, options(&fs, Recovery::Strict));
    if let Err(e) = &ro {
        assert!(matches!(e, Error::Corrupt { .. }), "read-only open: {e}");
    }
    for (seq, bytes) in &segs {
        assert_eq!(
            fs.get(&segment(*seq)).as_ref(),
            Some(bytes),
            "read-only open changed a file"
        );
    }
    let strict = Space::create(dir, options(&fs, Recovery::Strict));
    match strict {
        Ok(space) => {
            if let Ok(ro) = &ro {
                assert_eq!(
                    dump(ro),
                    dump(&space),
                    "read-only and read-write replays differ"
                );
            } else {
                panic!("read-only open failed where open succeeded");
            }
            drop(ro);
            check_opened(&fs, space, "strict");
        }
        Err(Error::Corrupt { reason, .. }) => {
            assert!(
                ro.is_err(),
                "open found corruption where read-only open did not"
            );
            // Known bug (fuzz/README.md): open removes the segments a checkpoint supersedes
            // before it replays the checkpoint, also when it then finds corruption.
            let superseded = if known_bugs() {
                0
            } else {
                segs.iter()
                    .rposition(|(seq, bytes)| starts_with_checkpoint(*seq, bytes))
                    .unwrap_or(0)
            };
            for (seq, bytes) in &segs[superseded..] {
                assert_eq!(
                    fs.get(&segment(*seq)).as_ref(),
                    Some(bytes),
                    "a failed strict open changed a file"
                );
            }
            let repaired = Space::create(dir, options(&fs, Recovery::Repair));
            if reason.contains("format version") {
                assert!(
                    is_corrupt(&repaired),
                    "a newer format version must not be repaired"
                );
                return;
            }
            match repaired {
                Ok(space) => check_opened(&fs, space, "repaired"),
                Err(e) => panic!("repair failed: {e} (strict: {reason})"),
            }
        }
        Err(e) => panic!("open failed with something other than corruption: {e}"),
    }
}

/// Whether to check what the bugs this fuzzing found used to break (fuzz/README.md): the ops
/// target also kills and restarts the process, and the replay target also checks that a strict
/// open that finds corruption removed no superseded segment. They are fixed, so the checks are
/// on; `SPACESTORE_FUZZ_SKIP_FIXED=1` turns them off.
fn known_bugs() -> bool {
    std::env::var_os("SPACESTORE_FUZZ_SKIP_FIXED").is_none()
}

/// Whether segment `seq` begins with a valid checkpoint frame (which supersedes every segment
/// before it).
fn starts_with_checkpoint(seq: u64, bytes: &[u8]) -> bool {
    frame::read_header(bytes, seq).is_ok_and(|h| {
        matches!(
            h.framing().parse(bytes, h.header_len()),
            frame::Parsed::Frame {
                kind: frame::KIND_CHECKPOINT,
                ..
            }
        )
    })
}

/// The operations target (see the crate docs).
pub fn ops(data: &[u8]) {
    let mut rng = Rng::from_bytes(data);
    let durability = if rng.chance(1, 2) {
        spacestore::Durability::Sync
    } else {
        spacestore::Durability::Buffered
    };
    let config = workload::config(&mut rng, durability);
    let len = 1 + rng.below(24) as usize;
    let steps = workload::steps(&mut rng, len, known_bugs());
    let cut = rng.below(160);
    let tear = Tear::ALL[rng.below(3) as usize];
    let recovery_cut = rng.chance(1, 4).then(|| rng.below(10));
    let mut tears = rng.clone();
    if let Err(why) = power_cut_scenario(&mut tears, config, &steps, cut, tear, recovery_cut, false)
    {
        let why = power_cut_scenario(&mut rng, config, &steps, cut, tear, recovery_cut, true)
            .err()
            .unwrap_or(why);
        panic!(
            "{why}\n config {config:?}\n steps {steps:?}\n cut {cut}, tear {tear:?}, recovery cut \
             {recovery_cut:?}"
        );
    }
}

/// Seed inputs for [`replay_bytes`]: real segments written by random workloads (mode 0, raw),
/// and the same frames re-chunked for mode 1.
pub fn replay_seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for seed in 0..24u64 {
        let mut rng = Rng::new(seed);
        let config = workload::config(&mut rng, spacestore::Durability::Buffered);
        let steps = workload::steps(&mut rng, 6 + seed as usize % 10, false);
        let fs = SimFs::new();
        let mut d = workload::Driver::open(&fs, config).expect("open");
        for s in &steps {
            let _ = d.step(s);
        }
        drop(d);
        for name in fs.names(&workload::dir()) {
            let Some(bytes) = fs.get(&workload::dir().join(&name)) else {
                continue;
            };
            let Some(seq) = name
                .strip_suffix(".wal")
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let mut raw = vec![0u8];
            // Renumbered as segment 1: the CRCs are salted with the old number, so this is
            // mostly a corruption seed unless seq is 1.
            raw.extend_from_slice(&bytes);
            out.push(raw);
            // The frames as chunks (mode 1), which the harness re-salts for segment 1.
            let mut chunks = vec![1u8];
            let Ok(header) = frame::read_header(&bytes, seq) else {
                continue;
            };
            let mut pos = header.header_len();
            while let frame::Parsed::Frame {
                kind,
                payload,
                next,
            } = header.framing().parse(&bytes, pos)
            {
                if payload.len() > 255 {
                    break;
                }
                chunks.push(kind);
                chunks.push(payload.len() as u8);
                chunks.extend_from_slice(&bytes[payload]);
                pos = next;
            }
            out.push(chunks);
        }
    }
    out
}
