//! What an open costs, counted through the `FileSystem` seam (counts are not noisy): a space
//! closed cleanly is reopened without a single write or sync, reading only what it needs; a
//! read-only consumer of a store never writes; after a crash the first open makes the log
//! durable once, and the next open again writes nothing.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::hooked::{Call, Hook, Hooked};
use common::*;
use spacestore::{Durability, Options, Space, Store, StoreOptions};

/// Calls through the seam, by kind.
#[derive(Default)]
struct Counts {
    /// Files opened: to read or map, to write (created), the lock's.
    opened: AtomicU64,
    /// Anything that changes the disk: a file created, bytes appended, a cut, a removal, a
    /// rename, a directory made.
    writes: AtomicU64,
    /// fsyncs of files and directories.
    syncs: AtomicU64,
}

impl Counts {
    fn get(&self) -> (u64, u64, u64) {
        (
            self.opened.load(Ordering::SeqCst),
            self.writes.load(Ordering::SeqCst),
            self.syncs.load(Ordering::SeqCst),
        )
    }
}

impl Hook for Counts {
    fn call(&self, call: Call, _path: &Path) {
        for (counter, counts) in [
            (&self.opened, call.opens()),
            (&self.writes, call.writes()),
            (&self.syncs, call.syncs()),
        ] {
            if counts {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

/// The real file system, counted.
#[derive(Clone)]
struct Counted(Arc<Hooked<Counts>>);

impl Default for Counted {
    fn default() -> Self {
        Counted(Arc::new(Hooked::new(Counts::default())))
    }
}

impl Counted {
    fn get(&self) -> (u64, u64, u64) {
        self.0 .0.get()
    }
}

fn options(fs: &Counted, durability: Durability) -> Options {
    Options::default()
        .durability(durability)
        .file_system(fs.0.clone())
}

/// A one-tree space with a few batches, closed cleanly.
fn one_tree_space(dir: &Path, options: Options) {
    let space = Space::create(dir, options).unwrap();
    let tree = space.create_tree_storage(root("t")).unwrap();
    for i in 0..5 {
        let id = format!("c{i}");
        tree.add_all(vec![change(&id, &format!("{i:04}"))], [id.as_str()], "t")
            .unwrap();
    }
    space.close().unwrap();
}

#[test]
fn a_clean_reopen_of_a_one_tree_space_writes_nothing_syncs_nothing_and_opens_at_most_3_files() {
    for durability in [Durability::Buffered, Durability::Sync] {
        let dir = tempfile::tempdir().unwrap();
        let fs = Counted::default();
        one_tree_space(dir.path(), options(&fs, durability));
        for _ in 0..3 {
            let before = fs.get();
            let space = Space::open(dir.path(), options(&fs, durability)).unwrap();
            assert_eq!(space.tree_storage("t").unwrap().heads().unwrap(), ["c4"]);
            drop(space);
            let (opened, writes, syncs) = fs.get();
            assert_eq!(
                writes - before.1,
                0,
                "{durability:?}: writes of a clean reopen"
            );
            assert_eq!(
                syncs - before.2,
                0,
                "{durability:?}: syncs of a clean reopen"
            );
            assert!(
                opened - before.0 <= 3,
                "{durability:?}: a clean reopen opened {} files",
                opened - before.0
            );
        }
    }
}

#[test]
fn the_first_write_after_a_clean_reopen_is_kept_and_the_next_seq_is_above_every_earlier_one() {
    let dir = tempfile::tempdir().unwrap();
    one_tree_space(dir.path(), Options::default());
    for round in 0..3u64 {
        let space = Space::open(dir.path(), Options::default()).unwrap();
        let tree = space.tree_storage("t").unwrap();
        let id = format!("r{round}");
        let seq = tree
            .add_all(
                vec![change(&id, &format!("9{round:03}"))],
                [id.as_str()],
                "t",
            )
            .unwrap();
        assert_eq!(seq, 6 + round, "the counter carries on from the close");
        drop((tree, space));
    }
    let space = Space::open(dir.path(), Options::default()).unwrap();
    assert_eq!(space.changes_after_add_seq(0).count(), 8);
}

#[test]
fn a_read_only_consumer_of_a_store_never_writes_to_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Counted::default();
    let options = || StoreOptions::new(options(&fs, Durability::Sync)).max_open_spaces(1);
    {
        let store = Store::open(dir.path(), options()).unwrap();
        for id in ["a.1", "b.1"] {
            store.create_space(space_payload(id)).unwrap();
        }
    }
    let store = Store::open(dir.path(), options()).unwrap();
    let before = fs.get();
    // Open, read, evict (the other space's open closes it), reopen: 20 times each.
    for _ in 0..20 {
        for id in ["a.1", "b.1"] {
            let space = store.space(id).unwrap();
            assert_eq!(
                space.tree_storage("settings").unwrap().root().id,
                "settings"
            );
        }
    }
    drop(store);
    let (_, writes, syncs) = fs.get();
    assert_eq!((writes - before.1, syncs - before.2), (0, 0));
}

#[test]
fn after_a_crash_the_first_open_syncs_the_log_once_and_the_next_clean_reopen_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Counted::default();
    let space = Space::create(dir.path(), options(&fs, Durability::Buffered)).unwrap();
    let tree = space.create_tree_storage(root("t")).unwrap();
    tree.add_all(vec![change("c", "0001")], ["c"], "t").unwrap();
    // A crash: the space is never closed (its lock goes with it, as with a killed process).
    std::mem::forget((tree, space));
    let crashed = dir.path().to_path_buf();
    // The forgotten space still holds the directory's lock in this process: a real crash
    // releases it. Copy the files to a new directory, as the disk has them.
    let after = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&crashed).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), after.path().join(entry.file_name())).unwrap();
    }
    let before = fs.get();
    let space = Space::open(after.path(), options(&fs, Durability::Buffered)).unwrap();
    assert!(space.tree_storage("t").unwrap().has("c"));
    let (_, _, syncs) = fs.get();
    assert!(
        syncs > before.2,
        "an open after a crash syncs what it replayed"
    );
    space.close().unwrap();
    let before = fs.get();
    drop(Space::open(after.path(), options(&fs, Durability::Buffered)).unwrap());
    let (_, writes, syncs) = fs.get();
    assert_eq!(
        (writes - before.1, syncs - before.2),
        (0, 0),
        "the next open"
    );
}
