//! spacestore against SQLite, fjall, redb, raft-engine and okaywal (the last two in the durable
//! write rows only) and the machine's limits, side by side in one run.
//!
//! `cargo bench -p spacestore-bench --bench compare` (full; the figures in BENCHMARKS.md), or
//! `cargo bench -p spacestore-bench --bench compare -- --quick` (smaller sizes and shorter runs,
//! about a minute; also `SPACESTORE_BENCH_QUICK=1`). Prints each row as it is measured, then
//! the whole table and the targets, achieved or not. Temporary files go to the system temp
//! directory (override with `SPACESTORE_BENCH_DIR`) and are removed.
//!
//! Replay is measured in child processes (this binary run with `--replay-child`), so that the
//! resident memory they report is the replayed space's alone.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use spacestore::Durability;
use spacestore_bench::limits;
use spacestore_bench::peers::{Fjall, Okaywal, RaftEngine, Redb, Sqlite, SqliteSync};
use spacestore_bench::{Backend, Make, OpLoop, Rate, ReadSet, Slicer, Spacestore, Writers};

struct Config {
    quick: bool,
    write_time: Duration,
    sync_time: Duration,
    read_time: Duration,
    limit_time: Duration,
    read_set: ReadSet,
    replay_changes: u64,
}

impl Config {
    fn new(quick: bool) -> Self {
        if quick {
            Config {
                quick,
                write_time: Duration::from_millis(300),
                sync_time: Duration::from_millis(450),
                read_time: Duration::from_millis(200),
                limit_time: Duration::from_millis(300),
                read_set: ReadSet {
                    per_tree: 20,
                    batch: 4,
                },
                replay_changes: 100_000,
            }
        } else {
            Config {
                quick,
                write_time: Duration::from_millis(1500),
                sync_time: Duration::from_secs(3),
                read_time: Duration::from_millis(600),
                limit_time: Duration::from_secs(2),
                read_set: ReadSet {
                    per_tree: 100,
                    batch: 4,
                },
                replay_changes: 1_000_000,
            }
        }
    }
}

/// One row of the table.
struct Row {
    workload: String,
    ours: String,
    peer: String,
    theirs: String,
    /// What the ratio means is in the workload's text ("x" = how many times spacestore's rate).
    ratio: f64,
}

struct Table {
    rows: Vec<Row>,
}

impl Table {
    fn push(&mut self, workload: &str, ours: String, peer: &str, theirs: String, ratio: f64) {
        let row = Row {
            workload: workload.to_owned(),
            ours,
            peer: peer.to_owned(),
            theirs,
            ratio,
        };
        println!(
            "  {:<52} {:>16}  {:<38} {:>16}  {:>8.2}",
            row.workload, row.ours, row.peer, row.theirs, row.ratio
        );
        self.rows.push(row);
    }

    fn print_markdown(&self) {
        println!("| workload | spacestore | peer | peer's figure | ratio |");
        println!("| --- | ---: | --- | ---: | ---: |");
        for r in &self.rows {
            println!(
                "| {} | {} | {} | {} | {:.2} |",
                r.workload, r.ours, r.peer, r.theirs, r.ratio
            );
        }
    }
}

fn us(rate: &Rate) -> String {
    let us = rate.us();
    if us >= 100.0 {
        format!("{us:.0} µs")
    } else if us >= 10.0 {
        format!("{us:.1} µs")
    } else {
        format!("{us:.2} µs")
    }
}

fn per_sec(rate: &Rate) -> String {
    let r = rate.per_sec;
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} k/s", r / 1e3)
    } else {
        format!("{r:.0} /s")
    }
}

fn spacestore(d: Option<Durability>) -> Make {
    Box::new(move |dir: &Path| -> Box<dyn Backend> {
        match d {
            None => Box::new(Spacestore::in_memory()),
            Some(d) => Box::new(Spacestore::open(&dir.join("space"), d)),
        }
    })
}

fn sqlite(s: SqliteSync) -> Make {
    Box::new(move |dir: &Path| -> Box<dyn Backend> { Box::new(Sqlite::create(dir, s)) })
}

fn fjall(p: Option<fjall::PersistMode>) -> Make {
    Box::new(move |dir: &Path| -> Box<dyn Backend> { Box::new(Fjall::create(dir, p)) })
}

fn redb(d: redb::Durability) -> Make {
    Box::new(move |dir: &Path| -> Box<dyn Backend> { Box::new(Redb::create(dir, d)) })
}

/// raft-engine, every batch written with `sync = true`.
fn raft_engine() -> Make {
    Box::new(|dir: &Path| -> Box<dyn Backend> { Box::new(RaftEngine::create(dir)) })
}

/// okaywal, every batch one committed entry.
fn okaywal() -> Make {
    Box::new(|dir: &Path| -> Box<dyn Backend> { Box::new(Okaywal::create(dir)) })
}

/// Figures the targets are judged on.
#[derive(Default)]
struct Judged {
    mem_vs_sqlite_off: Vec<(usize, f64)>,
    buffered_vs_fjall: Vec<(usize, f64)>,
    buffered_vs_redb: Vec<(usize, f64)>,
    sync1_vs_limit: Vec<(usize, f64)>,
    sync4_vs_sync1: Vec<(usize, f64)>,
    tail_vs_sqlite: f64,
    tail_vs_redb: f64,
    replay_gbps: f64,
    first_read_s: f64,
    replay_changes: u64,
    rss_per_frame: f64,
    checkpoint: Option<(f64, f64)>,
}

fn writes(cfg: &Config, t: &mut Table, j: &mut Judged) {
    for size in [1usize, 16] {
        let w = |what: &str| format!("add_all {size}x256B, {what}");
        println!("-- add_all, {size} change(s) per batch: in memory and non-durable, taking turns");
        let makes: [(Make, u32); 7] = [
            (spacestore(None), 1),
            (spacestore(Some(Durability::Buffered)), 1),
            (sqlite(SqliteSync::Off), 1),
            (sqlite(SqliteSync::Normal), 1),
            (fjall(None), 1),
            (fjall(Some(fjall::PersistMode::Buffer)), 1),
            (redb(redb::Durability::None), 1),
        ];
        let (names, rates) = group(&makes, size, cfg.write_time, 15);
        let (mem, buf) = (rates[0], rates[1]);
        for (name, r) in names.iter().zip(&rates).skip(2) {
            if name.contains("OFF") || name.contains("no persist") || name.contains("None") {
                let ratio = mem.per_sec / r.per_sec;
                t.push(&w("in memory"), us(&mem), name, us(r), ratio);
                if name.contains("OFF") {
                    j.mem_vs_sqlite_off.push((size, ratio));
                }
            }
        }
        for (name, r) in names.iter().zip(&rates).skip(2) {
            let ratio = buf.per_sec / r.per_sec;
            t.push(&w("Buffered"), us(&buf), name, us(r), ratio);
            if name.contains("no persist") {
                j.buffered_vs_fjall.push((size, ratio));
            }
            if name.contains("None") {
                j.buffered_vs_redb.push((size, ratio));
            }
        }

        println!("-- add_all, {size} change(s) per batch: durable, taking turns with the fdatasync limit");
        // spacestore 1 and 4 threads first, then each peer at 1 and at 4 threads (the rows below
        // take the peers' 1-thread rates at even places after spacestore's two, 4 threads' at
        // odd ones).
        let makes: [(Make, u32); 12] = [
            (spacestore(Some(Durability::Sync)), 1),
            (spacestore(Some(Durability::Sync)), 4),
            (sqlite(SqliteSync::Full), 1),
            (sqlite(SqliteSync::Full), 4),
            (fjall(Some(fjall::PersistMode::SyncData)), 1),
            (fjall(Some(fjall::PersistMode::SyncData)), 4),
            (redb(redb::Durability::Immediate), 1),
            (redb(redb::Durability::Immediate), 4),
            (raft_engine(), 1),
            (raft_engine(), 4),
            (okaywal(), 1),
            (okaywal(), 4),
        ];
        let mut limit = limits::FsyncLimit::new(spacestore_bench::batch_frame_bytes(size));
        let mut writers: Vec<Writers> = makes
            .iter()
            .map(|(m, threads)| Writers::new(m, *threads, size))
            .collect();
        let names: Vec<String> = writers.iter().map(|w| w.name()).collect();
        let limit_name = limit.name();
        let mut members: Vec<&mut dyn Slicer> = vec![&mut limit];
        members.extend(writers.iter_mut().map(|w| w as &mut dyn Slicer));
        let rates = spacestore_bench::interleave(&mut members, cfg.sync_time, 15);
        drop(members);
        let mut per_sync = Vec::new();
        for w in &writers {
            if let Some((frames, syncs)) = w.log_counts() {
                per_sync.push(frames as f64 / syncs.max(1) as f64);
                println!(
                    "   {}: {frames} frames, {syncs} fsyncs ({:.2} frames per fsync)",
                    w.name(),
                    frames as f64 / syncs.max(1) as f64
                );
            }
        }
        drop(writers);
        let (lim, sync1, sync4) = (rates[0], rates[1], rates[2]);
        let ratio = sync1.per_sec / lim.per_sec;
        t.push(
            &w("Sync, 1 thread"),
            us(&sync1),
            &limit_name,
            us(&lim),
            ratio,
        );
        j.sync1_vs_limit.push((size, ratio));
        for (name, r) in names.iter().zip(&rates[1..]).skip(2).step_by(2) {
            t.push(
                &w("Sync, 1 thread"),
                us(&sync1),
                name,
                us(r),
                sync1.per_sec / r.per_sec,
            );
        }
        let w4 = w("Sync, 4 threads (batches/s)");
        let ratio = sync4.per_sec / sync1.per_sec;
        t.push(&w4, per_sec(&sync4), &names[0], per_sec(&sync1), ratio);
        j.sync4_vs_sync1.push((size, ratio));
        t.push(
            &w4,
            per_sec(&sync4),
            &limit_name,
            per_sec(&lim),
            sync4.per_sec / lim.per_sec,
        );
        for (name, r) in names.iter().zip(&rates[1..]).skip(3).step_by(2) {
            t.push(
                &w4,
                per_sec(&sync4),
                name,
                per_sec(r),
                sync4.per_sec / r.per_sec,
            );
        }
        if let [one, four, ..] = per_sync[..] {
            t.push(
                &w("Sync: commits per fsync, 4 threads (ratio = it)"),
                format!("{four:.2}"),
                "spacestore Sync, 1 thread",
                format!("{one:.2}"),
                four,
            );
        }
    }
}

/// Builds the stores and measures them taking turns; returns their names and rates.
fn group(
    makes: &[(Make, u32)],
    size: usize,
    total: Duration,
    slices: u32,
) -> (Vec<String>, Vec<Rate>) {
    let mut writers: Vec<Writers> = makes
        .iter()
        .map(|(m, threads)| Writers::new(m, *threads, size))
        .collect();
    let names = writers.iter().map(|w| w.name()).collect();
    let mut members: Vec<&mut dyn Slicer> =
        writers.iter_mut().map(|w| w as &mut dyn Slicer).collect();
    let rates = spacestore_bench::interleave(&mut members, total, slices);
    (names, rates)
}

fn reads(cfg: &Config, t: &mut Table, j: &mut Judged) {
    let set = cfg.read_set;
    println!(
        "-- reads: {} trees x {} changes, batches of {} (the trees taking turns)",
        spacestore_bench::TREES,
        set.per_tree,
        set.batch
    );
    let dir = spacestore_bench::tempdir();
    let mut stores: Vec<Box<dyn Backend>> = Vec::new();
    let t0 = Instant::now();
    let ours = Spacestore::open(&dir.path().join("space"), Durability::Buffered);
    stores.push(Box::new(ours));
    let peers: [Make; 3] = [
        sqlite(SqliteSync::Off),
        fjall(Some(fjall::PersistMode::Buffer)),
        redb(redb::Durability::None),
    ];
    for (i, m) in peers.iter().enumerate() {
        let sub = dir.path().join(format!("peer{i}"));
        std::fs::create_dir_all(&sub).expect("dir");
        stores.push(m(&sub));
    }
    let mut filled = None;
    for s in stores.iter_mut() {
        let f = set.fill(s.as_mut());
        filled = Some(f);
    }
    let filled = filled.expect("filled");
    println!("   (filled in {:.1} s)", t0.elapsed().as_secs_f64());
    for (which, name) in spacestore_bench::READS.iter().enumerate() {
        let expected = spacestore_bench::expected_items(&set, which);
        let names: Vec<String> = stores.iter().map(|s| s.name()).collect();
        for s in stores.iter_mut() {
            let got = spacestore_bench::read_once(s.as_mut(), &filled, which, 1);
            if got != expected {
                println!(
                    "   WARNING: {} yields {got} items for {name}, expected {expected}",
                    s.name()
                );
            }
        }
        let filled = &filled;
        let mut loops: Vec<OpLoop<Box<dyn FnMut() -> u64 + '_>>> = stores
            .iter_mut()
            .zip(&names)
            .map(|(s, n)| {
                let mut i = 0u64;
                let op: Box<dyn FnMut() -> u64 + '_> = Box::new(move || {
                    i += 1;
                    spacestore_bench::read_once(s.as_mut(), filled, which, i);
                    1
                });
                OpLoop {
                    name: n.clone(),
                    op,
                }
            })
            .collect();
        let mut members: Vec<&mut dyn Slicer> =
            loops.iter_mut().map(|l| l as &mut dyn Slicer).collect();
        let rates = spacestore_bench::interleave(&mut members, cfg.read_time, 10);
        drop(members);
        drop(loops);
        let ours = &rates[0];
        for (peer, r) in names.iter().zip(&rates).skip(1) {
            let ratio = ours.per_sec / r.per_sec;
            t.push(name, us(ours), peer, us(r), ratio);
            if which == 0 && peer.starts_with("SQLite") {
                j.tail_vs_sqlite = ratio;
            }
            if which == 0 && peer.starts_with("redb") {
                j.tail_vs_redb = ratio;
            }
        }
    }
    drop(stores);
    drop(dir);
}

/// What a replay child reported.
#[derive(Debug, Default)]
struct Replayed {
    open_s: f64,
    first_s: f64,
    cpu_s: f64,
    rss0: u64,
    rss1: u64,
    anon0: u64,
    anon1: u64,
    file1: u64,
    changes: u64,
    bytes: u64,
}

fn run_child(dir: &Path, checkpoint: bool) -> Replayed {
    let exe = std::env::current_exe().expect("exe");
    let mut cmd = Command::new(exe);
    cmd.arg("--replay-child").arg(dir);
    if checkpoint {
        cmd.arg("--checkpoint");
    }
    let out = cmd.output().expect("replay child");
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        panic!(
            "replay child failed: {}\n{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let line = text
        .lines()
        .find(|l| l.starts_with("REPLAY "))
        .expect("REPLAY line");
    let mut r = Replayed::default();
    for kv in line.split_whitespace().skip(1) {
        let (k, v) = kv.split_once('=').expect("k=v");
        let f: f64 = v.parse().expect("number");
        match k {
            "open_s" => r.open_s = f,
            "first_s" => r.first_s = f,
            "cpu_s" => r.cpu_s = f,
            "rss0" => r.rss0 = f as u64,
            "rss1" => r.rss1 = f as u64,
            "anon0" => r.anon0 = f as u64,
            "anon1" => r.anon1 = f as u64,
            "file1" => r.file1 = f as u64,
            "changes" => r.changes = f as u64,
            "bytes" => r.bytes = f as u64,
            _ => {}
        }
    }
    r
}

/// The child: opens the space in `dir`, answers one read, prints what it took.
/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct we pass; a zeroed rusage is a valid value.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn replay_child(dir: &Path, checkpoint: bool) {
    let (rss0, anon0, _) = spacestore_bench::rss();
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let space = spacestore::Space::create(dir, spacestore::Options::default()).expect("open");
    let open_s = start.elapsed().as_secs_f64();
    let tree = space
        .tree_storage(&spacestore_bench::root_id(0))
        .expect("tree");
    let change = tree.get(&spacestore_bench::cid(0, 0)).expect("first read");
    std::hint::black_box(&change);
    let first_s = start.elapsed().as_secs_f64();
    let cpu_s = cpu_seconds() - cpu0;
    let (rss1, anon1, file1) = spacestore_bench::rss();
    let bytes = space.recovery_report().expect("report").bytes_read;
    println!(
        "REPLAY open_s={open_s} first_s={first_s} cpu_s={cpu_s} rss0={rss0} rss1={rss1} anon0={anon0} \
         anon1={anon1} file1={file1} changes={} bytes={bytes}",
        space.change_count()
    );
    if checkpoint {
        let stats = space.checkpoint().expect("checkpoint").expect("on disk");
        println!("CHECKPOINT {stats:?}");
    }
}

fn replay(cfg: &Config, t: &mut Table, j: &mut Judged, memcpy: f64) {
    let n = cfg.replay_changes;
    println!(
        "-- replay: {n} changes in {} trees, batches of 4",
        spacestore_bench::TREES
    );
    let dir = spacestore_bench::tempdir();
    let space_dir: PathBuf = dir.path().join("space");
    let t0 = Instant::now();
    {
        let mut s = Spacestore::open(&space_dir, Durability::Buffered);
        let mut gen = spacestore_bench::BatchGen::new(0, 1);
        for _ in 0..n / 4 {
            let (tree, changes) = gen.batch(4);
            s.add_all(tree, changes);
        }
        s.space().sync().expect("sync");
    }
    let log_bytes = spacestore_bench::dir_bytes(&space_dir);
    println!(
        "   (built in {:.1} s: {:.0} MB of log)",
        t0.elapsed().as_secs_f64(),
        log_bytes as f64 / 1e6
    );
    let disk = limits::cold_read_rate(&space_dir);
    let mb = |b: f64| format!("{:.0} MB/s", b / 1e6);
    let secs = |s: f64| format!("{s:.3} s");

    limits::drop_cache(&space_dir);
    let cold = run_child(&space_dir, false);
    let warm = run_child(&space_dir, false);
    let label = |what: &str| format!("replay {}k changes, {what}", n / 1000);
    let cold_rate = cold.bytes as f64 / cold.open_s;
    let warm_rate = warm.bytes as f64 / warm.open_s;
    t.push(
        &label("log, page cache cold (MB/s)"),
        mb(cold_rate),
        "limit: sequential read, cold",
        mb(disk),
        cold_rate / disk,
    );
    t.push(
        &label("log, page cache warm (MB/s)"),
        mb(warm_rate),
        "limit: memcpy",
        mb(memcpy),
        warm_rate / memcpy,
    );
    t.push(
        &label("log, warm: CPU s until first read"),
        secs(warm.cpu_s),
        "wall-clock s (the rest: waiting for a core)",
        secs(warm.first_s),
        warm.cpu_s / warm.first_s,
    );
    t.push(
        &label("log, warm: s until first read"),
        secs(warm.first_s),
        "target",
        secs(1.0),
        warm.first_s,
    );
    t.push(
        &label("log, cold: s until first read"),
        secs(cold.first_s),
        "target",
        secs(1.0),
        cold.first_s,
    );
    j.replay_gbps = warm_rate / 1e9;
    j.first_read_s = warm.first_s;
    j.replay_changes = warm.changes;

    // Memory: resident bytes per change after replay, against the change's share of the log.
    let changes = warm.changes.max(1) as f64;
    let rss_per = (warm.rss1 - warm.rss0) as f64 / changes;
    let anon_per = (warm.anon1.saturating_sub(warm.anon0)) as f64 / changes;
    let file_per = warm.file1 as f64 / changes;
    let frame_per = warm.bytes as f64 / changes;
    let b = |v: f64| format!("{v:.0} B");
    t.push(
        "memory after replay: RSS per change (ratio = RSS/frame)",
        b(rss_per),
        "log bytes per change (its frame)",
        b(frame_per),
        rss_per / frame_per,
    );
    t.push(
        "  of which heap (RssAnon) per change",
        b(anon_per),
        "log bytes per change (its frame)",
        b(frame_per),
        anon_per / frame_per,
    );
    t.push(
        "  of which mapped log (RssFile) per change",
        b(file_per),
        "log bytes per change (its frame)",
        b(frame_per),
        file_per / frame_per,
    );
    j.rss_per_frame = rss_per / frame_per;

    // After a checkpoint.
    let _ = run_child(&space_dir, true);
    limits::drop_cache(&space_dir);
    let ccold = run_child(&space_dir, false);
    let cwarm = run_child(&space_dir, false);
    let ccold_rate = ccold.bytes as f64 / ccold.open_s;
    let cwarm_rate = cwarm.bytes as f64 / cwarm.open_s;
    t.push(
        &label("checkpoint, cold (MB/s)"),
        mb(ccold_rate),
        "limit: sequential read, cold",
        mb(disk),
        ccold_rate / disk,
    );
    t.push(
        &label("checkpoint, warm (MB/s)"),
        mb(cwarm_rate),
        "limit: memcpy",
        mb(memcpy),
        cwarm_rate / memcpy,
    );
    t.push(
        &label("checkpoint, warm: s until first read"),
        secs(cwarm.first_s),
        "target",
        secs(1.0),
        cwarm.first_s,
    );
    j.checkpoint = Some((cwarm_rate / 1e9, cwarm.first_s));
    drop(dir);
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "ACHIEVED"
    } else {
        "MISSED"
    }
}

fn print_targets(j: &Judged) {
    println!("\nTargets (ratios from this run):");
    for (size, r) in &j.mem_vs_sqlite_off {
        println!(
            "- in-memory add_all ({size} per batch) >= 50x SQLite synchronous=OFF: {r:.1}x -> {}",
            verdict(*r >= 50.0)
        );
    }
    for ((size, f), (_, r)) in j.buffered_vs_fjall.iter().zip(&j.buffered_vs_redb) {
        println!(
            "- Buffered add_all ({size} per batch) ahead of fjall (no persist) and redb None: \
             {f:.2}x, {r:.2}x -> {}",
            verdict(*f > 1.0 && *r > 1.0)
        );
    }
    for (size, r) in &j.sync1_vs_limit {
        println!(
            "- Sync add_all ({size} per batch), 1 thread >= 95% of the fdatasync limit: {:.0}% -> {}",
            r * 100.0,
            verdict(*r >= 0.95)
        );
    }
    for (size, r) in &j.sync4_vs_sync1 {
        println!(
            "- Sync add_all ({size} per batch), 4 threads >= 3x 1 thread: {r:.2}x -> {}",
            verdict(*r >= 3.0)
        );
    }
    println!(
        "- get_after_add_seq tail >= 80x SQLite: {:.1}x -> {}",
        j.tail_vs_sqlite,
        verdict(j.tail_vs_sqlite >= 80.0)
    );
    println!(
        "- get_after_add_seq tail >= 30x redb: {:.1}x -> {}",
        j.tail_vs_redb,
        verdict(j.tail_vs_redb >= 30.0)
    );
    println!(
        "- replay >= 1 GB/s (log, warm): {:.2} GB/s -> {}",
        j.replay_gbps,
        verdict(j.replay_gbps >= 1.0)
    );
    println!(
        "- {} changes readable in < 1 s (log, warm): {:.3} s -> {}{}",
        j.replay_changes,
        j.first_read_s,
        verdict(j.first_read_s < 1.0),
        if j.replay_changes < 1_000_000 {
            " (quick run: fewer than 1 million changes)"
        } else {
            ""
        }
    );
    if let Some((gbps, first)) = j.checkpoint {
        println!(
            "- after a checkpoint: {gbps:.2} GB/s -> {}; first read at {first:.3} s -> {}",
            verdict(gbps >= 1.0),
            verdict(first < 1.0)
        );
    }
    println!(
        "- resident memory per change <= 1.5x its frame: {:.2}x -> {}",
        j.rss_per_frame,
        verdict(j.rss_per_frame <= 1.5)
    );
}

/// `--profile WHAT [ARG]`: runs one workload for a while, alone, for `perf record` or
/// `valgrind --tool=callgrind`: `memory N`, `buffered N`, `sync N` (N changes per batch),
/// `tail`, `replay DIR` (opens the space in DIR; build one with `build DIR`). `PROFILE_SECS`
/// sets how long, `PROFILE_THREADS` how many writer threads (1 unless set).
fn profile(what: &str, arg: Option<&String>) {
    let n: usize = arg.and_then(|a| a.parse().ok()).unwrap_or(1);
    let secs = |d: u64| {
        Duration::from_secs(
            std::env::var("PROFILE_SECS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d),
        )
    };
    let run_writes = |make: Make| {
        let threads = std::env::var("PROFILE_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let mut w = Writers::new(&make, threads, n);
        let (ops, took) = w.run_slice(secs(5));
        println!(
            "{ops} batches of {n} in {took:?}: {:.2} µs per batch",
            took.as_secs_f64() * 1e6 / ops as f64
        );
        if let Some((frames, syncs)) = w.log_counts() {
            println!(
                "{frames} frames, {syncs} fsyncs ({:.2} frames per fsync)",
                frames as f64 / syncs.max(1) as f64
            );
        }
    };
    match what {
        "memory" => run_writes(spacestore(None)),
        "buffered" => run_writes(spacestore(Some(Durability::Buffered))),
        "sync" => run_writes(spacestore(Some(Durability::Sync))),
        "tail" => {
            let set = ReadSet {
                per_tree: 100,
                batch: 4,
            };
            let mut s = Spacestore::in_memory();
            let filled = set.fill(&mut s);
            let mut i = 0;
            let mut l = OpLoop {
                name: String::new(),
                op: || {
                    i += 1;
                    spacestore_bench::read_once(&mut s, &filled, 0, i)
                },
            };
            let (ops, took) = l.run_slice(secs(5));
            println!("{ops} items in {took:?}");
        }
        "build" => {
            let dir = PathBuf::from(arg.expect("DIR"));
            let mut s = Spacestore::open(&dir, Durability::Buffered);
            let mut gen = spacestore_bench::BatchGen::new(0, 1);
            for _ in 0..250_000 {
                let (tree, changes) = gen.batch(4);
                s.add_all(tree, changes);
            }
        }
        "replay" => {
            let dir = PathBuf::from(arg.expect("DIR"));
            let start = Instant::now();
            let space =
                spacestore::Space::create(&dir, spacestore::Options::default()).expect("open");
            println!("{} changes in {:?}", space.change_count(), start.elapsed());
        }
        _ => eprintln!("--profile memory|buffered|sync N | tail | build DIR | replay DIR"),
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpu}, {cores} cores, Linux {}", kernel.trim())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--replay-child") {
        let dir = PathBuf::from(&args[i + 1]);
        replay_child(&dir, args.iter().any(|a| a == "--checkpoint"));
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--profile") {
        profile(args.get(i + 1).map_or("", String::as_str), args.get(i + 2));
        return;
    }
    let quick = args.iter().any(|a| a == "--quick")
        || std::env::var_os("SPACESTORE_BENCH_QUICK").is_some_and(|v| v != "0");
    let cfg = Config::new(quick);
    let started = Instant::now();
    println!(
        "spacestore compare ({}) on {}; temp dir {}",
        if cfg.quick { "quick" } else { "full" },
        machine(),
        std::env::var_os("SPACESTORE_BENCH_DIR")
            .map_or_else(std::env::temp_dir, PathBuf::from)
            .display()
    );
    println!(
        "ratio: spacestore's rate / the peer's (higher is better for spacestore), except where"
    );
    println!(
        "the row says otherwise (a limit: the fraction of it; memory: RSS / frame; first read: s)"
    );
    let mut t = Table { rows: Vec::new() };
    let mut j = Judged::default();

    println!("-- limits");
    let fsync = {
        let mut limit = limits::FsyncLimit::new(spacestore_bench::batch_frame_bytes(1));
        spacestore_bench::interleave(&mut [&mut limit], cfg.limit_time, 10)[0]
    };
    let memcpy = limits::memcpy_rate(cfg.limit_time);
    println!(
        "   pwrite({} B)+fdatasync, 1 thread: {} ({}); memcpy: {:.1} GB/s",
        spacestore_bench::batch_frame_bytes(1),
        us(&fsync),
        per_sec(&fsync),
        memcpy / 1e9
    );

    replay(&cfg, &mut t, &mut j, memcpy);
    writes(&cfg, &mut t, &mut j);
    reads(&cfg, &mut t, &mut j);

    println!(
        "\n== {} run, {:.0} s, {}",
        if cfg.quick { "quick" } else { "full" },
        started.elapsed().as_secs_f64(),
        machine()
    );
    println!(
        "limits: pwrite({} B)+fdatasync {} ({}), memcpy {:.1} GB/s\n",
        spacestore_bench::batch_frame_bytes(1),
        us(&fsync),
        per_sec(&fsync),
        memcpy / 1e9
    );
    t.print_markdown();
    print_targets(&j);
}
