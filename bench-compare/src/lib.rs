//! What the benches of `spacestore-bench` share: the workload (CID-like ids, 256-byte changes,
//! 1,000 trees), one `Backend` trait that spacestore and every peer ([`peers`]: SQLite, fjall,
//! redb, raft-engine, okaywal) implement the same way, the read data set, the timing helpers and the machine's limits
//! ([`limits`]). The bench targets (`add_all`, `compare`, `reads`, `replay`) use it as
//! `spacestore_bench::...`; it is a separate workspace member so that the `spacestore` package
//! builds none of the peers.

pub mod limits;
pub mod peers;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spacestore::{
    Durability, HeadStorage, Id, IterOptions, Options, Space, StorageChange, TreeRoot, TreeStorage,
};

/// Trees per store.
pub const TREES: u32 = 1000;
/// Bytes of a change's raw (signed) payload.
pub const RAW_LEN: usize = 256;
/// Bytes of a tree root's raw payload.
pub const ROOT_RAW_LEN: usize = 256;

// ---------------------------------------------------------------------------------------------
// The workload's data.

const B32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A CIDv1-like id (dag-cbor, sha2-256, base32: `bafyrei` and 52 more characters, 59 in all),
/// derived from a tree number and a change number so that every run writes the same ids.
pub fn cid(tree: u32, k: u32) -> String {
    let mut buf = [0u8; 59];
    buf[..7].copy_from_slice(b"bafyrei");
    let mut h = ((tree as u64) << 32) | k as u64;
    for chunk in buf[7..].chunks_mut(13) {
        h = splitmix(h);
        let mut bits = h;
        for b in chunk {
            *b = B32[(bits & 31) as usize];
            bits >>= 5;
        }
    }
    String::from_utf8(buf.to_vec()).expect("ascii")
}

/// The id of tree `t` (its root change's id).
pub fn root_id(tree: u32) -> String {
    cid(tree, u32::MAX)
}

/// The order id of change `k` of a tree: 8 base32hex digits, so that the string order is the
/// numeric order (any-sync's order ids are short lexicographic strings). The root's is "".
pub fn order_id(k: u32) -> String {
    const DIGITS: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let mut buf = [0u8; 8];
    let mut v = k;
    for b in buf.iter_mut().rev() {
        *b = DIGITS[(v & 31) as usize];
        v >>= 5;
    }
    String::from_utf8(buf.to_vec()).expect("ascii")
}

/// One change as a caller hands it to storage: owned, as decoded from the network.
#[derive(Clone, Debug)]
pub struct ChangeSpec {
    pub id: String,
    pub order_id: String,
    /// The previous change of the tree (the root for the first one).
    pub prev_id: String,
    /// The tree's root: every change builds on the root snapshot.
    pub snapshot_id: String,
    pub raw: Vec<u8>,
}

/// Change `k` of tree `tree`.
pub fn change(tree: u32, k: u32) -> ChangeSpec {
    let prev_id = if k == 0 {
        root_id(tree)
    } else {
        cid(tree, k - 1)
    };
    ChangeSpec {
        id: cid(tree, k),
        order_id: order_id(k),
        prev_id,
        snapshot_id: root_id(tree),
        raw: vec![(k as u8) | 1; RAW_LEN],
    }
}

/// Bytes of one change's frame in spacestore's log (DESIGN.md, "On-disk format"), for the memory
/// comparison: id, raw, prev ids, snapshot id, snapshot counter, order id, change size.
pub fn change_frame_bytes() -> usize {
    let c = change(0, 1);
    (4 + c.id.len())
        + (4 + RAW_LEN)
        + (4 + 4 + c.prev_id.len())
        + (4 + c.snapshot_id.len())
        + 4
        + (4 + c.order_id.len())
        + 8
}

/// Bytes of the log frame of an `add_all` batch of `n` changes as the benches write it (frame
/// header, batch header with tree id, seq, one head and the common snapshot, then the changes).
pub fn batch_frame_bytes(n: usize) -> usize {
    let id = 59;
    9 + 1 + (4 + id) + 8 + (4 + 4 + id) + (4 + id) + 4 + n * change_frame_bytes()
}

/// Hands out batches for a set of trees, round robin, each tree's changes numbered from 0.
/// Each change is built as a caller would receive it: owned strings and bytes, newly allocated.
pub struct BatchGen {
    trees: Vec<u32>,
    next: Vec<u32>,
    roots: Vec<String>,
    /// Each tree's newest change id (its root's at first).
    last: Vec<String>,
    turn: usize,
}

impl BatchGen {
    /// Batches for the trees `t` with `t % of == part`.
    pub fn new(part: u32, of: u32) -> Self {
        let trees: Vec<u32> = (0..TREES).filter(|t| t % of == part).collect();
        let roots: Vec<String> = trees.iter().map(|&t| root_id(t)).collect();
        BatchGen {
            next: vec![0; trees.len()],
            last: roots.clone(),
            roots,
            trees,
            turn: 0,
        }
    }

    /// The next batch: its tree and `size` changes.
    pub fn batch(&mut self, size: usize) -> (u32, Vec<ChangeSpec>) {
        let i = self.turn;
        self.turn = (self.turn + 1) % self.trees.len();
        let tree = self.trees[i];
        let k0 = self.next[i];
        self.next[i] += size as u32;
        let mut out = Vec::with_capacity(size);
        for k in k0..k0 + size as u32 {
            let id = cid(tree, k);
            let prev_id = std::mem::replace(&mut self.last[i], id.clone());
            out.push(ChangeSpec {
                id,
                order_id: order_id(k),
                prev_id,
                snapshot_id: self.roots[i].clone(),
                raw: vec![(k as u8) | 1; RAW_LEN],
            });
        }
        (tree, out)
    }
}

// ---------------------------------------------------------------------------------------------
// One interface over spacestore and the peers.

/// A change as a read hands it to the caller (borrowed).
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    pub id: &'a str,
    pub order_id: &'a str,
    pub add_seq: u64,
    pub raw: &'a [u8],
}

/// What every store under test does, each the natural way for it.
pub trait Backend: Send {
    /// The name in the table ("spacestore Buffered", "SQLite synchronous=OFF", ...).
    fn name(&self) -> String;
    /// One atomic batch into tree `tree`: stores the changes with a new AddSeq and sets the
    /// tree's head entry (heads = the batch's last change, common snapshot, last AddSeq).
    fn add_all(&mut self, tree: u32, batch: Vec<ChangeSpec>) -> u64;
    /// The tree's changes with AddSeq > `after`, by order id.
    fn get_after_add_seq(&mut self, tree: u32, after: u64, f: &mut dyn FnMut(View<'_>));
    /// The tree's changes with order id >= `order`, by order id.
    fn get_after_order(&mut self, tree: u32, order: &str, f: &mut dyn FnMut(View<'_>));
    /// Every change of the space with AddSeq > `after`, in AddSeq order.
    fn changes_after_add_seq(&mut self, after: u64, f: &mut dyn FnMut(View<'_>));
    /// Live head entries with last AddSeq > `min`, by last AddSeq: (tree id, last AddSeq).
    fn iterate_entries(&mut self, min: u64, f: &mut dyn FnMut(&str, u64));
    /// Another handle on the same store, for another thread.
    fn handle(&self) -> Box<dyn Backend>;
    /// (log frames, fsyncs) since open, where the store reports them.
    fn log_counts(&self) -> Option<(u64, u64)> {
        None
    }
    /// Called once after the read set is written and before it is read: brings the store to
    /// the state it would be in after a while (fjall flushes its memtables). Nothing by default.
    fn settle(&mut self) {}
}

/// spacestore, in memory or on a directory.
pub struct Spacestore {
    name: String,
    space: Space,
    trees: Arc<Vec<TreeStorage>>,
    heads: HeadStorage,
}

fn to_storage_change(c: ChangeSpec) -> StorageChange {
    c.into_storage_change()
}

impl ChangeSpec {
    /// The change as spacestore stores it.
    pub fn into_storage_change(self) -> StorageChange {
        StorageChange::new(self.id, self.order_id, self.raw)
            .with_prev_ids([self.prev_id])
            .with_snapshot(self.snapshot_id, 1)
    }
}

/// The root change of tree `t`.
pub fn tree_root(t: u32) -> TreeRoot {
    TreeRoot::new(root_id(t), vec![0xee; ROOT_RAW_LEN])
}

impl Spacestore {
    /// A space with `TREES` trees created.
    fn with_trees(name: String, space: Space) -> Self {
        let trees = (0..TREES)
            .map(|t| match space.tree_storage(&root_id(t)) {
                Ok(tree) => tree,
                Err(_) => space
                    .create_tree_storage(tree_root(t))
                    .expect("create tree"),
            })
            .collect();
        let heads = space.head_storage();
        Spacestore {
            name,
            space,
            trees: Arc::new(trees),
            heads,
        }
    }

    pub fn in_memory() -> Self {
        Self::with_trees("spacestore in memory".into(), Space::in_memory())
    }

    /// On `dir` (created, or replayed when it holds a space), without automatic checkpoints.
    pub fn open(dir: &Path, durability: Durability) -> Self {
        let options = Options::default()
            .durability(durability)
            .auto_checkpoint(None, 0);
        let space = Space::create(dir, options).expect("open space");
        Self::with_trees(format!("spacestore {durability:?}"), space)
    }

    pub fn space(&self) -> &Space {
        &self.space
    }
}

fn in_place(c: &spacestore::ChangeView) -> View<'_> {
    View {
        id: c.id(),
        order_id: c.order_id(),
        add_seq: c.add_seq(),
        raw: c.raw_change(),
    }
}

impl Backend for Spacestore {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn add_all(&mut self, tree: u32, batch: Vec<ChangeSpec>) -> u64 {
        let tree = &self.trees[tree as usize];
        let changes: Vec<StorageChange> = batch.into_iter().map(to_storage_change).collect();
        let head: Id = changes.last().expect("a batch").id.clone();
        tree.add_all(changes, vec![head], tree.id().clone())
            .expect("add_all")
    }

    fn get_after_add_seq(&mut self, tree: u32, after: u64, f: &mut dyn FnMut(View<'_>)) {
        // Read in place: no `StorageChange` built per change.
        for c in self.trees[tree as usize].changes_after_add_seq(after) {
            f(in_place(&c));
        }
    }

    fn get_after_order(&mut self, tree: u32, order: &str, f: &mut dyn FnMut(View<'_>)) {
        // Read in place: no `StorageChange` built per change.
        for c in self.trees[tree as usize].changes_after_order(order) {
            f(in_place(&c));
        }
    }

    fn changes_after_add_seq(&mut self, after: u64, f: &mut dyn FnMut(View<'_>)) {
        // Read in place: no `StorageChange` built per change.
        for c in self.space.changes_after_add_seq(after) {
            f(in_place(&c));
        }
    }

    fn iterate_entries(&mut self, min: u64, f: &mut dyn FnMut(&str, u64)) {
        let opts = IterOptions::live().min_last_add_seq(min);
        // The stored entries, shared: none copied.
        for e in self.heads.entries(opts) {
            f(e.id.as_str(), e.last_add_seq.unwrap_or(0));
        }
    }

    fn log_counts(&self) -> Option<(u64, u64)> {
        self.space.log_stats().map(|s| (s.frames, s.syncs))
    }

    fn handle(&self) -> Box<dyn Backend> {
        Box::new(Spacestore {
            name: self.name.clone(),
            space: self.space.clone(),
            trees: Arc::clone(&self.trees),
            heads: self.heads.clone(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The read data set.

/// The read data set: `per_tree` changes in each of the `TREES` trees, written in batches of
/// `batch` changes, the trees taking turns, so that the newest batches belong to different trees.
#[derive(Clone, Copy, Debug)]
pub struct ReadSet {
    pub per_tree: u32,
    pub batch: u32,
}

/// What a filled store knows about its batches (the same for every backend: seqs are taken in
/// the same order from a counter starting at 0).
#[derive(Clone, Debug)]
pub struct Filled {
    /// The last AddSeq.
    pub max_seq: u64,
    /// Per tree: the AddSeq of its second-newest batch (the cursor before its newest batch).
    pub tail_cursor: Vec<u64>,
}

impl ReadSet {
    pub fn changes(&self) -> u64 {
        self.per_tree as u64 * TREES as u64
    }

    /// Writes the set into `b` through `add_all`, then lets it settle ([`Backend::settle`]).
    pub fn fill(&self, b: &mut dyn Backend) -> Filled {
        let mut gen = BatchGen::new(0, 1);
        let batches = self.per_tree / self.batch * TREES;
        let mut last = vec![(0u64, 0u64); TREES as usize];
        let mut max_seq = 0;
        for _ in 0..batches {
            let (tree, changes) = gen.batch(self.batch as usize);
            let seq = b.add_all(tree, changes);
            let l = &mut last[tree as usize];
            *l = (l.1, seq);
            max_seq = seq;
        }
        b.settle();
        Filled {
            max_seq,
            tail_cursor: last.iter().map(|l| l.0).collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Timing.

/// A rate measured over time slices: the median slice's operations per second, and the mean.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rate {
    /// Operations per second of the median slice.
    pub per_sec: f64,
    /// Operations counted over all slices.
    pub ops: u64,
}

impl Rate {
    /// Microseconds per operation.
    pub fn us(&self) -> f64 {
        1e6 / self.per_sec
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs `op` repeatedly: a warm-up of a fifth of `total`, then `slices` slices of `total /
/// slices` each; returns the median slice's rate. `op` returns how many operations it did.
pub fn measure(total: Duration, slices: u32, mut op: impl FnMut() -> u64) -> Rate {
    let warm = Instant::now();
    while warm.elapsed() < total / 5 {
        op();
    }
    let slice = total / slices;
    let mut rates = Vec::with_capacity(slices as usize);
    let mut ops = 0;
    for _ in 0..slices {
        let start = Instant::now();
        let mut n = 0u64;
        let mut elapsed;
        loop {
            n += op();
            elapsed = start.elapsed();
            if elapsed >= slice {
                break;
            }
        }
        ops += n;
        rates.push(n as f64 / elapsed.as_secs_f64());
    }
    Rate {
        per_sec: median(rates),
        ops,
    }
}

/// Something measured in time slices, taking turns with the others of its group.
pub trait Slicer {
    /// The name in the table.
    fn name(&self) -> String;
    /// Runs for about `slice`; returns the operations done and the time taken.
    fn run_slice(&mut self, slice: Duration) -> (u64, Duration);
}

/// Calls `op` (which returns the operations it did) until the slice is over.
pub struct OpLoop<F> {
    pub name: String,
    pub op: F,
}

impl<F: FnMut() -> u64> Slicer for OpLoop<F> {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn run_slice(&mut self, slice: Duration) -> (u64, Duration) {
        let start = Instant::now();
        let mut n = 0;
        loop {
            n += (self.op)();
            let elapsed = start.elapsed();
            if elapsed >= slice {
                return (n, elapsed);
            }
        }
    }
}

/// Builds a store in a directory.
pub type Make = Box<dyn Fn(&Path) -> Box<dyn Backend>>;

/// `add_all` batches of `size` changes from `threads` threads, each with its own handle and its
/// own trees (tree `t` belongs to thread `t % threads`), on a fresh store in its own directory.
pub struct Writers {
    name: String,
    handles: Vec<Box<dyn Backend>>,
    gens: Vec<BatchGen>,
    size: usize,
    _dir: tempfile::TempDir,
}

impl Writers {
    pub fn new(make: &Make, threads: u32, size: usize) -> Self {
        let dir = tempdir();
        let first = make(dir.path());
        let mut name = first.name();
        if threads > 1 {
            name = format!("{name}, {threads} threads");
        }
        let mut handles: Vec<Box<dyn Backend>> = (1..threads).map(|_| first.handle()).collect();
        handles.insert(0, first);
        Writers {
            name,
            handles,
            gens: (0..threads).map(|w| BatchGen::new(w, threads)).collect(),
            size,
            _dir: dir,
        }
    }
}

impl Writers {
    /// (log frames, fsyncs) of the store, where it reports them.
    pub fn log_counts(&self) -> Option<(u64, u64)> {
        self.handles[0].log_counts()
    }

    /// Writes `n` batches in all, split between the threads; returns the time taken.
    pub fn write_n(&mut self, n: u64) -> Duration {
        let size = self.size;
        let threads = self.handles.len() as u64;
        let start = Instant::now();
        std::thread::scope(|s| {
            for (i, (h, g)) in self
                .handles
                .iter_mut()
                .zip(self.gens.iter_mut())
                .enumerate()
            {
                let mine = n / threads + u64::from((i as u64) < n % threads);
                s.spawn(move || {
                    for _ in 0..mine {
                        let (tree, changes) = g.batch(size);
                        std::hint::black_box(h.add_all(tree, changes));
                    }
                });
            }
        });
        start.elapsed()
    }

    /// One batch from the first handle.
    pub fn write_one(&mut self) -> u64 {
        let (tree, changes) = self.gens[0].batch(self.size);
        self.handles[0].add_all(tree, changes)
    }
}

fn write_until(b: &mut dyn Backend, gen: &mut BatchGen, size: usize, until: Instant) -> u64 {
    let mut n = 0;
    loop {
        let (tree, changes) = gen.batch(size);
        std::hint::black_box(b.add_all(tree, changes));
        n += 1;
        if Instant::now() >= until {
            return n;
        }
    }
}

impl Slicer for Writers {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn run_slice(&mut self, slice: Duration) -> (u64, Duration) {
        let size = self.size;
        let start = Instant::now();
        let until = start + slice;
        let n = if self.handles.len() == 1 {
            write_until(self.handles[0].as_mut(), &mut self.gens[0], size, until)
        } else {
            std::thread::scope(|s| {
                let running: Vec<_> = self
                    .handles
                    .iter_mut()
                    .zip(self.gens.iter_mut())
                    .map(|(h, g)| s.spawn(move || write_until(h.as_mut(), g, size, until)))
                    .collect();
                running
                    .into_iter()
                    .map(|r| r.join().expect("writer thread"))
                    .sum()
            })
        };
        (n, start.elapsed())
    }
}

/// Measures a group side by side: one warm-up slice each, then `slices` rounds in which each
/// takes its turn for `total / slices`; each one's rate is the median of its slices. Taking
/// turns in short slices puts every member of a group under the same machine noise (the disk's
/// flush latency and the other processes of a shared machine drift over seconds).
pub fn interleave(group: &mut [&mut dyn Slicer], total: Duration, slices: u32) -> Vec<Rate> {
    let slice = total / slices;
    for s in group.iter_mut() {
        s.run_slice(slice);
    }
    let mut rates = vec![Vec::new(); group.len()];
    let mut ops = vec![0u64; group.len()];
    for _ in 0..slices {
        for (i, s) in group.iter_mut().enumerate() {
            let (n, took) = s.run_slice(slice);
            ops[i] += n;
            rates[i].push(n as f64 / took.as_secs_f64());
        }
    }
    rates
        .into_iter()
        .zip(ops)
        .map(|(r, ops)| Rate {
            per_sec: median(r),
            ops,
        })
        .collect()
}

/// Consumes a read's output so that nothing is optimised away: bytes and seqs seen.
#[derive(Default)]
pub struct Sink {
    pub items: u64,
    pub acc: u64,
}

impl Sink {
    pub fn take(&mut self, v: View<'_>) {
        self.items += 1;
        self.acc = self
            .acc
            .wrapping_add(v.add_seq)
            .wrapping_add(v.raw.len() as u64)
            .wrapping_add(v.id.len() as u64)
            .wrapping_add(v.order_id.len() as u64)
            .wrapping_add(v.raw[0] as u64);
    }
}

/// The read workloads, by name: each runs one query against `b` (varying the tree with `i`) and
/// returns how many items it yielded.
pub const READS: [&str; 5] = [
    "get_after_add_seq tail (newest batch)",
    "get_after_add_seq whole tree",
    "changes_after_add_seq newest 100 batches",
    "get_after_order whole tree",
    "iterate_entries min_last_add_seq (newest 100)",
];

/// Runs read workload `which` (an index into [`READS`]) once, for the `i`-th time.
pub fn read_once(b: &mut dyn Backend, filled: &Filled, which: usize, i: u64) -> u64 {
    let tree = (i.wrapping_mul(7919) % TREES as u64) as u32;
    let mut sink = Sink::default();
    match which {
        0 => b.get_after_add_seq(tree, filled.tail_cursor[tree as usize], &mut |v| {
            sink.take(v)
        }),
        1 => b.get_after_add_seq(tree, 0, &mut |v| sink.take(v)),
        2 => b.changes_after_add_seq(filled.max_seq.saturating_sub(100), &mut |v| sink.take(v)),
        3 => b.get_after_order(tree, "", &mut |v| sink.take(v)),
        _ => b.iterate_entries(filled.max_seq.saturating_sub(100), &mut |id, seq| {
            sink.items += 1;
            sink.acc = sink.acc.wrapping_add(seq).wrapping_add(id.len() as u64);
        }),
    }
    std::hint::black_box(sink.acc);
    sink.items
}

/// How many items read workload `which` must yield on the read set (a check that every backend
/// answers the same).
pub fn expected_items(set: &ReadSet, which: usize) -> u64 {
    match which {
        0 => set.batch as u64,
        1 => set.per_tree as u64,
        2 => 100 * set.batch as u64,
        3 => set.per_tree as u64 + 1,
        _ => 100,
    }
}

// ---------------------------------------------------------------------------------------------
// Process figures.

/// (VmRSS, RssAnon, RssFile) of this process in bytes, from /proc/self/status.
pub fn rss() -> (u64, u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("RssAnon:"), field("RssFile:"))
}

/// A temporary directory on the real disk (`/tmp` here is the root ext4 file system; override
/// with `SPACESTORE_BENCH_DIR`).
pub fn tempdir() -> tempfile::TempDir {
    match std::env::var_os("SPACESTORE_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .expect("temporary directory")
}

/// Bytes of the files in `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
