//! Bounded fuzzing of replay in the normal test run: arbitrary segment bytes (raw, valid frames
//! around arbitrary payloads, two segments, torn tails, and real segments with random
//! mutations) are opened through the simulated file system.
//!
//! - opening never panics; it succeeds or fails with `Error::Corrupt`, changing nothing then;
//!   `Recovery::Repair` then succeeds; whatever opened reopens to the same state and takes new
//!   batches above every seq in it (the checks of the fuzz targets, which live in
//!   `spacestore_test_kit::fuzz`);
//! - the memory allocated while opening (peak, on this thread, counted by a wrapper around the
//!   global allocator) stays under 64 times the input's size plus 1 MiB, also when a length or
//!   count field claims billions of items;
//! - the inputs the fuzzers found, and hand-made ones (`fuzz/regressions/`), stay fixed.
//!
//! `PROPTEST_CASES` sets the number of cases (default 256).

use spacestore_test_kit::fuzz as fuzzlib;

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use proptest::prelude::*;
use spacestore::internals::frame;
use spacestore::{Error, Options, Recovery, Space, StorageChange, TreeRoot};
use spacestore_test_kit::simfs::SimFs;

/// Counts the bytes allocated (by every thread: replay decodes on a second thread) while
/// tracking is on. The tests of this file run one at a time ([`serial`]) so that the count is
/// theirs.
struct Counting;

static TRACKING: AtomicBool = AtomicBool::new(false);
static CURRENT: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicI64 = AtomicI64::new(0);

fn note(delta: i64) {
    if TRACKING.load(Ordering::Relaxed) {
        let now = CURRENT.fetch_add(delta, Ordering::SeqCst) + delta;
        PEAK.fetch_max(now, Ordering::SeqCst);
    }
}

// SAFETY: every call is forwarded to `System` unchanged; the bookkeeping only touches atomics
// (no allocation, no panic).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note(layout.size() as i64);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note(layout.size() as i64);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        note(-(layout.size() as i64));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note(new_size as i64 - layout.size() as i64);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs the tests of this file one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` and returns its result with the peak of the bytes it had allocated (and not yet
/// freed) at any moment, on any thread.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, u64) {
    CURRENT.store(0, Ordering::SeqCst);
    PEAK.store(0, Ordering::SeqCst);
    TRACKING.store(true, Ordering::SeqCst);
    let out = f();
    TRACKING.store(false, Ordering::SeqCst);
    (out, PEAK.load(Ordering::SeqCst).max(0) as u64)
}

fn bound(input: usize) -> u64 {
    64 * input as u64 + (1 << 20)
}

fn options(fs: &SimFs, recovery: Recovery) -> Options {
    Options::default()
        .recovery(recovery)
        .auto_checkpoint(None, 0)
        .file_system(fs.arc())
}

/// Opens the segments `segs` (strict, read-only, and repair when strict finds corruption),
/// checking the allocation bound of each open and that nothing panics.
fn open_within_bound(segs: &[(u64, Vec<u8>)]) -> Result<(), TestCaseError> {
    let size: usize = segs.iter().map(|(_, b)| b.len()).sum();
    let fs = SimFs::new();
    for (seq, bytes) in segs {
        fs.put(&fuzzlib::replay_dir().join(format!("{seq:020}.wal")), bytes);
    }
    let dir = fuzzlib::replay_dir();
    let (ro, peak) = peak_during(|| Space::open_read_only(&dir, options(&fs, Recovery::Strict)));
    prop_assert!(
        peak <= bound(size),
        "read-only open of {size} bytes allocated {peak} bytes"
    );
    drop(ro);
    let (strict, peak) = peak_during(|| Space::create(&dir, options(&fs, Recovery::Strict)));
    prop_assert!(
        peak <= bound(size),
        "open of {size} bytes allocated {peak} bytes"
    );
    if let Err(e) = &strict {
        prop_assert!(matches!(e, Error::Corrupt { .. }), "open failed with {e}");
        let (repaired, peak) = peak_during(|| Space::create(&dir, options(&fs, Recovery::Repair)));
        prop_assert!(
            peak <= bound(size),
            "repair of {size} bytes allocated {peak} bytes"
        );
        drop(repaired);
    }
    Ok(())
}

/// Real segments written by random workloads (as the fuzz target's mode-0 and mode-1 inputs).
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(fuzzlib::replay_seeds)
}

/// Inputs: raw bytes in any mode, or a real segment with a few random byte edits.
fn input() -> impl Strategy<Value = Vec<u8>> {
    let raw = prop::collection::vec(any::<u8>(), 0..1500);
    let mutated = (
        any::<prop::sample::Index>(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 0..6),
    )
        .prop_map(|(which, edits)| {
            let mut s = which.get(seeds()).clone();
            for (at, byte, op) in edits {
                if s.is_empty() {
                    s.push(byte);
                    continue;
                }
                let i = at.index(s.len());
                match op {
                    0 => s[i] = byte,
                    1 => s.insert(i, byte),
                    2 => {
                        s.remove(i);
                    }
                    _ => s.truncate(i),
                }
            }
            s
        });
    prop_oneof![raw, mutated]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn opening_arbitrary_segment_bytes_never_panics_and_allocates_within_bound(data in input()) {
        let _serial = serial();
        open_within_bound(&fuzzlib::segments_of(&data))?;
        fuzzlib::replay_bytes(&data);
    }
}

/// The record payloads of the seed segments, each re-framed with every 4-byte window set to a
/// huge length or count (u32::MAX, 2^31 - 1, 2^20, 2^16): no panic, the allocation bound holds.
#[test]
fn every_length_and_count_field_set_to_a_huge_value_is_refused_within_the_allocation_bound() {
    let _serial = serial();
    let mut opened = 0;
    for seed in seeds().iter().filter(|s| s.first() == Some(&1)).take(6) {
        // Mode 1: [1] then chunks of kind, len, payload.
        let mut chunks = Vec::new();
        let mut i = 1;
        while i + 2 <= seed.len() {
            let (kind, len) = (seed[i], seed[i + 1] as usize);
            let end = (i + 2 + len).min(seed.len());
            chunks.push((kind, seed[i + 2..end].to_vec()));
            i = end;
        }
        for (c, (kind, payload)) in chunks.iter().enumerate() {
            if *kind != frame::KIND_RECORD {
                continue;
            }
            for at in 0..payload.len().saturating_sub(3) {
                for huge in [u32::MAX, i32::MAX as u32, 1 << 20, 1 << 16] {
                    let mut p = payload.clone();
                    p[at..at + 4].copy_from_slice(&huge.to_le_bytes());
                    let mut seg = frame::header_v1(1).to_vec();
                    for (k, (kind, payload)) in chunks.iter().enumerate() {
                        let body = if k == c { &p } else { payload };
                        frame::Framing::V1 { seq: 1 }
                            .encode(&mut seg, *kind, |o| o.extend_from_slice(body));
                    }
                    open_within_bound(&[(1, seg)]).unwrap();
                    opened += 1;
                }
            }
        }
    }
    assert!(opened > 100, "only {opened} opens");
    eprintln!("{opened} opens with a huge length or count");
}

/// The same checks on the real file system (memory-mapped reads), fewer cases.
#[test]
fn opening_arbitrary_segment_bytes_on_disk_never_panics() {
    let _serial = serial();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&input(), |data| {
            let dir = tempfile::tempdir().unwrap();
            for (seq, bytes) in fuzzlib::segments_of(&data) {
                std::fs::write(dir.path().join(format!("{seq:020}.wal")), bytes).unwrap();
            }
            let opts = || Options::default().auto_checkpoint(None, 0);
            let _ = Space::open_read_only(dir.path(), opts());
            match Space::create(dir.path(), opts()) {
                Ok(space) => drop(space),
                Err(Error::Corrupt { .. }) => {
                    let repaired = Space::create(dir.path(), opts().recovery(Recovery::Repair));
                    prop_assert!(
                        repaired.is_ok() || matches!(repaired, Err(Error::Corrupt { .. })),
                        "repair: {:?}",
                        repaired.err()
                    );
                }
                Err(e) => prop_assert!(false, "open on disk failed with {e}"),
            }
            Ok(())
        })
        .unwrap();
}

/// Every input the fuzzers found stays fixed (or, for a reported bug, stays reported), and so do
/// the hand-made inputs of `fuzz/regressions/ops` (power cuts mid-batch and mid-reopen, a crash
/// and reopen, a power cut during recovery). Each target's directory must exist and hold at
/// least one input.
#[test]
fn fuzz_regressions_pass_the_fuzz_checks() {
    let _serial = serial();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let targets = [
        ("replay", fuzzlib::replay_bytes as fn(&[u8])),
        ("ops", fuzzlib::ops),
    ];
    for (target, check) in targets {
        let target_dir = dir.join(target);
        let mut inputs: Vec<_> = std::fs::read_dir(&target_dir)
            .unwrap_or_else(|e| panic!("{}: {e}", target_dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        inputs.sort();
        for path in &inputs {
            let data = std::fs::read(path).unwrap();
            if std::panic::catch_unwind(|| check(&data)).is_err() {
                panic!("{target} regression {} failed", path.display());
            }
        }
        assert!(
            !inputs.is_empty(),
            "no {target} regression in {}",
            target_dir.display()
        );
        eprintln!("{target}: {} fuzz regressions", inputs.len());
    }
}

/// Found by the replay fuzzer (`fuzz/regressions/replay/counter-at-u64-max`): a log whose close
/// frame (or reservation, or checkpoint) claims seq u64::MAX opens with the counter there; the
/// next batch must fail cleanly, not overflow (a panic in debug builds, a wrap to seq 0, a reused
/// seq, in release builds).
#[test]
fn a_log_that_claims_the_last_seq_makes_the_next_batch_fail_without_panicking() {
    let _serial = serial();
    let fs = SimFs::new();
    let mut seg = frame::header_v1(1).to_vec();
    frame::Framing::V1 { seq: 1 }.encode(&mut seg, frame::KIND_CLOSE, |o| {
        o.extend_from_slice(&u64::MAX.to_le_bytes())
    });
    fs.put(
        &fuzzlib::replay_dir().join("00000000000000000001.wal"),
        &seg,
    );
    let space = Space::create(fuzzlib::replay_dir(), options(&fs, Recovery::Strict)).unwrap();
    assert_eq!(space.add_seq(), u64::MAX);
    let tree = space
        .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
        .unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tree.add_all(
            vec![StorageChange::new("c", "1", b"x".to_vec())],
            ["c"],
            "t",
        )
    }));
    match r {
        Err(_) => panic!("the batch panicked (counter overflow)"),
        Ok(Ok(seq)) => panic!("the batch got seq {seq} after u64::MAX"),
        Ok(Err(e)) => eprintln!("refused: {e}"),
    }
}

/// Found by the replay fuzzer: a strict open that finds corruption in a checkpoint segment has
/// already removed the segments that checkpoint supersedes; DESIGN.md promises "nothing changed
/// on disk" (and with the old segments gone, neither repair nor a person can go back to them).
#[test]
fn a_strict_open_that_finds_corruption_after_a_checkpoint_removes_nothing() {
    let _serial = serial();
    let fs = SimFs::new();
    let dir = fuzzlib::replay_dir();
    let mut old = frame::header_v1(1).to_vec();
    frame::Framing::V1 { seq: 1 }.encode(&mut old, frame::KIND_RESERVE, |o| {
        o.extend_from_slice(&10u64.to_le_bytes())
    });
    let mut ckpt = frame::header_v1(2).to_vec();
    frame::Framing::V1 { seq: 2 }.encode(&mut ckpt, frame::KIND_CHECKPOINT, |o| {
        o.extend_from_slice(&10u64.to_le_bytes())
    });
    // A frame that does not decode (CRC fine): corruption, not a torn tail.
    frame::Framing::V1 { seq: 2 }.encode(&mut ckpt, frame::KIND_RECORD, |o| {
        o.extend_from_slice(&[99, 1, 2])
    });
    fs.put(&dir.join("00000000000000000001.wal"), &old);
    fs.put(&dir.join("00000000000000000002.wal"), &ckpt);
    let r = Space::create(&dir, options(&fs, Recovery::Strict));
    assert!(
        matches!(r, Err(Error::Corrupt { .. })),
        "{:?}",
        r.map(|_| ())
    );
    assert_eq!(
        fs.get(&dir.join("00000000000000000001.wal")),
        Some(old),
        "a failed strict open removed a segment"
    );
}

/// The counter works: opening a real segment allocates at least the copy of it that the
/// simulated file system's `read` makes.
#[test]
fn the_allocation_counter_sees_what_open_allocates() {
    let _serial = serial();
    let seed = seeds()
        .iter()
        .filter(|s| s.first() == Some(&0))
        .max_by_key(|s| s.len())
        .unwrap();
    let fs = SimFs::new();
    fs.put(
        &fuzzlib::replay_dir().join("00000000000000000001.wal"),
        &seed[1..],
    );
    let (r, peak) = peak_during(|| {
        Space::open_read_only(fuzzlib::replay_dir(), options(&fs, Recovery::Strict))
    });
    drop(r);
    assert!(
        peak >= seed.len() as u64 - 1,
        "peak {peak} for {} bytes",
        seed.len() - 1
    );
    assert!(peak <= bound(seed.len()));
}
