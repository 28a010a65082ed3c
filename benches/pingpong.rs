//! Two spaces used alternately through a store that keeps one open (a sync node's LRU at its
//! tightest): every use closes one space and reopens the other. Prints the time per use (mean,
//! p99, slowest), uses per second on this one thread, and, counted through the `FileSystem`
//! seam (counts are not noisy), the fsyncs (files and directories), the files opened and the
//! calls that change the disk per reopen.
//!
//! `cargo bench -p spacestore --bench pingpong` (two spaces of 1,000 changes of 256 B, 2,000
//! uses); `PINGPONG_USES` and `PINGPONG_CHANGES` change the sizes. The goal (issue 26): at least
//! 2,000 reopens per second per core, 0 fsyncs and 0 writes per clean reopen.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spacestore::{
    FileSystem, LogFile, Options, SpacePayload, StdFileSystem, StorageChange, Store, TreeRoot,
};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Default)]
struct Counts {
    syncs: AtomicU64,
    opened: AtomicU64,
    writes: AtomicU64,
}

fn add(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The real file system, counted.
#[derive(Clone, Default)]
struct Counted(Arc<Counts>);

struct CountedFile(Box<dyn LogFile>, Arc<Counts>);

impl LogFile for CountedFile {
    fn append(&self, buf: &[u8]) -> io::Result<()> {
        add(&self.1.writes);
        self.0.append(buf)
    }
    fn sync_data(&self) -> io::Result<()> {
        add(&self.1.syncs);
        self.0.sync_data()
    }
    fn truncate(&self, len: u64) -> io::Result<()> {
        add(&self.1.writes);
        self.0.truncate(len)
    }
    fn preallocate(&self, enabled: bool) {
        self.0.preallocate(enabled)
    }
}

impl FileSystem for Counted {
    fn create(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        add(&self.0.opened);
        add(&self.0.writes);
        Ok(Box::new(CountedFile(
            StdFileSystem.create(path)?,
            Arc::clone(&self.0),
        )))
    }
    fn read(&self, path: &Path) -> io::Result<bytes::Bytes> {
        add(&self.0.opened);
        StdFileSystem.read(path)
    }
    unsafe fn map(&self, path: &Path) -> io::Result<bytes::Bytes> {
        add(&self.0.opened);
        // SAFETY: forwards the caller's own guarantee (the trait's contract).
        unsafe { StdFileSystem.map(path) }
    }
    fn len(&self, path: &Path) -> io::Result<u64> {
        StdFileSystem.len(path)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        StdFileSystem.list(dir)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        add(&self.0.writes);
        add(&self.0.syncs);
        StdFileSystem.truncate(path, len)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        add(&self.0.writes);
        StdFileSystem.remove(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        add(&self.0.writes);
        StdFileSystem.rename(from, to)
    }
    fn sync_file(&self, path: &Path) -> io::Result<()> {
        add(&self.0.syncs);
        StdFileSystem.sync_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        add(&self.0.syncs);
        StdFileSystem.sync_dir(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        StdFileSystem.create_dir_all(dir)
    }
    fn lock_dir(&self, dir: &Path) -> io::Result<Box<dyn Send + Sync>> {
        add(&self.0.opened);
        StdFileSystem.lock_dir(dir)
    }
    fn list_dirs(&self, dir: &Path) -> io::Result<Vec<String>> {
        StdFileSystem.list_dirs(dir)
    }
    fn remove_dir(&self, dir: &Path) -> io::Result<()> {
        add(&self.0.writes);
        StdFileSystem.remove_dir(dir)
    }
    // (new-api)
    fn entry(&self, path: &Path) -> io::Result<Option<spacestore::EntryKind>> {
        StdFileSystem.entry(path)
    }
    fn remove_all(&self, path: &Path) -> io::Result<()> {
        add(&self.0.writes);
        StdFileSystem.remove_all(path)
    }
    // (end new-api)
}

fn payload(id: &str) -> SpacePayload {
    SpacePayload::new(
        id,
        vec![1u8; 200],
        "acl",
        vec![2u8; 300],
        TreeRoot::new("settings", b"settings".to_vec()),
    )
}

fn main() {
    let uses = env("PINGPONG_USES", 2000);
    let changes = env("PINGPONG_CHANGES", 1000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let fs = Counted::default();
    let options = Options::default()
        .file_system(Arc::new(fs.clone()))
        .max_open_spaces(1);
    let ids = ["bafyone.1", "bafytwo.1"];
    {
        let store = Store::open(dir.path(), options.clone()).expect("store");
        for id in ids {
            let space = store.create_space(payload(id)).expect("create");
            let tree = space
                .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
                .expect("tree");
            for i in 0..changes {
                let c = format!("c{i}");
                let change = StorageChange::new(c.as_str(), format!("{i:08}"), vec![7u8; 256]);
                tree.add_all(vec![change], [c.as_str()], "t").expect("add_all");
            }
        }
    }
    let store = Store::open(dir.path(), options).expect("store");
    // One use of each first: what follows is the steady state.
    for id in ids {
        store.space(id).expect("space");
    }
    let before = (
        fs.0.syncs.load(Ordering::Relaxed),
        fs.0.opened.load(Ordering::Relaxed),
        fs.0.writes.load(Ordering::Relaxed),
    );
    let mut times = Vec::with_capacity(uses);
    let started = Instant::now();
    for n in 0..uses {
        let t = Instant::now();
        let space = store.space(ids[n % 2]).expect("space");
        let heads = space.tree_storage("t").expect("tree").heads().expect("heads");
        assert_eq!(heads.len(), 1);
        drop(space);
        times.push(t.elapsed());
    }
    let wall = started.elapsed();
    let per = |c: &AtomicU64, b: u64| (c.load(Ordering::Relaxed) - b) as f64 / uses as f64;
    times.sort_unstable();
    let mean = wall / uses.max(1) as u32;
    let p99 = times[(uses * 99 / 100).min(uses - 1)];
    let slowest = times.last().copied().unwrap_or(Duration::ZERO);
    println!(
        "{uses} uses of two spaces of {changes} changes through a store keeping 1 open (each a reopen)"
    );
    println!(
        "per use: mean {mean:.2?}, p99 {p99:.2?}, slowest {slowest:.2?}; {:.0} reopens/s on one thread",
        uses as f64 / wall.as_secs_f64()
    );
    println!(
        "per reopen: {:.2} fsyncs, {:.2} files opened, {:.2} calls that change the disk",
        per(&fs.0.syncs, before.0),
        per(&fs.0.opened, before.1),
        per(&fs.0.writes, before.2)
    );
}
