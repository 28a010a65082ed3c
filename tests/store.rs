//! Many spaces in one store (Go's `SpaceStorageProvider`): creating, opening lazily, sharing,
//! closing the least recently used past `max_open_spaces`, deleting, and the locks.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use common::hooked::{Call, Hook, Hooked};
use common::*;
use spacestore::{Error, Options, Space, Store, StoreOptions};

fn store(dir: &std::path::Path, max_open: usize) -> Store {
    Store::open(dir, StoreOptions::default().max_open_spaces(max_open)).unwrap()
}

fn fill(space: &Space, n: usize) {
    let tree = space.create_tree_storage(root("t")).unwrap();
    for i in 0..n {
        let id = format!("c{i}");
        tree.add_all(vec![change(&id, &format!("{i:04}"))], [id.as_str()], "t")
            .unwrap();
    }
}

#[test]
fn a_created_space_is_whole_open_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 4);
    let space = store.create_space(space_payload("one.1")).unwrap();
    assert_eq!(space.id().as_deref(), Some("one.1"));
    assert!(space.acl_storage().unwrap().has("acl"));
    assert!(store.space_exists("one.1"));
    assert_eq!(store.space_ids().unwrap(), ["one.1"]);
}

#[test]
fn create_space_twice_is_space_exists() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 4);
    store.create_space(space_payload("one.1")).unwrap();
    let again = store.create_space(space_payload("one.1"));
    assert!(matches!(again, Err(Error::SpaceExists(id)) if id == "one.1"));
}

#[test]
fn an_unknown_space_is_space_missing_with_the_id_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 4);
    assert!(matches!(store.space("none.1"), Err(Error::SpaceMissing(id)) if id == "none.1"));
    assert!(!store.space_exists("none.1"));
    assert!(matches!(
        store.delete_space("none.1"),
        Err(Error::SpaceMissing(id)) if id == "none.1"
    ));
}

#[test]
fn spaces_survive_a_reopen_of_the_store() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = store(dir.path(), 4);
        for id in ["a.1", "b.1"] {
            fill(&store.create_space(space_payload(id)).unwrap(), 3);
        }
    }
    let store = store(dir.path(), 4);
    assert_eq!(store.space_ids().unwrap(), ["a.1", "b.1"]);
    let b = store.space("b.1").unwrap();
    assert_eq!(b.changes_after_add_seq(0).count(), 3);
    assert_eq!(b.add_seq(), 3);
}

#[test]
fn space_hands_out_one_shared_handle_while_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 4);
    store.create_space(space_payload("a.1")).unwrap();
    let first = store.space("a.1").unwrap();
    let second = store.space("a.1").unwrap();
    fill(&first, 2);
    assert_eq!(second.add_seq(), 2, "the same space, not a second open");
    assert_eq!(first.incarnation(), second.incarnation());
}

/// Whether the store holds space `id` open: a second open of its directory is then locked.
fn held_open(dir: &std::path::Path, id: &str) -> bool {
    let opened = Space::open(dir.join("spaces").join(id), Options::default());
    match opened {
        Err(Error::Locked(_)) => true,
        Ok(_) => false,
        Err(e) => panic!("{id}: {e}"),
    }
}

#[test]
fn past_max_open_spaces_the_least_recently_used_idle_space_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 2);
    for id in ["a.1", "b.1", "c.1"] {
        fill(&store.create_space(space_payload(id)).unwrap(), 2);
    }
    assert_eq!(store.open_spaces(), 2);
    let open = |id| held_open(dir.path(), id);
    assert_eq!((open("a.1"), open("b.1"), open("c.1")), (false, true, true));
    // "b" used after "c": opening "a" again closes "c", and "a" has its data.
    drop(store.space("b.1").unwrap());
    let a = store.space("a.1").unwrap();
    assert_eq!(a.changes_after_add_seq(0).count(), 2);
    assert_eq!(store.open_spaces(), 2);
    drop(a);
    assert_eq!((open("a.1"), open("b.1"), open("c.1")), (true, true, false));
}

#[test]
fn a_store_opens_with_plain_space_options_or_with_store_options_that_bound_its_open_spaces() {
    let dir = tempfile::tempdir().unwrap();
    {
        // The common line: a space's `Options`, the store's defaults (64 open).
        let store = Store::open(dir.path(), Options::default()).unwrap();
        for id in ["a.1", "b.1", "c.1"] {
            drop(store.create_space(space_payload(id)).unwrap());
        }
        assert_eq!(store.open_spaces(), 3);
    }
    // The store's own setting, on the store's options.
    let store = Store::open(
        dir.path(),
        StoreOptions::new(Options::default()).max_open_spaces(1),
    )
    .unwrap();
    for id in ["a.1", "b.1", "c.1"] {
        drop(store.space(id).unwrap());
    }
    assert_eq!(store.open_spaces(), 1);
}

#[test]
fn a_space_whose_handle_is_held_is_never_closed() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 2);
    let held: Vec<Space> = ["a.1", "b.1", "c.1"]
        .iter()
        .map(|id| store.create_space(space_payload(id)).unwrap())
        .collect();
    assert_eq!(store.open_spaces(), 3, "all three are held");
    for space in &held {
        fill(space, 1);
    }
    drop(held);
    store.space("a.1").unwrap();
    assert!(store.open_spaces() <= 2);
}

#[test]
fn a_space_closed_by_a_caller_is_opened_again_on_its_next_use() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 4);
    fill(&store.create_space(space_payload("a.1")).unwrap(), 2);
    store.space("a.1").unwrap().close().unwrap();
    let again = store.space("a.1").unwrap();
    let tree = again.tree_storage("t").unwrap();
    tree.add_all(vec![change("c9", "9")], ["c9"], "t").unwrap();
    assert_eq!(again.changes_after_add_seq(0).count(), 3);
}

#[test]
fn delete_space_removes_it_and_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 4);
    fill(&store.create_space(space_payload("a.1")).unwrap(), 2);
    store.create_space(space_payload("b.1")).unwrap();
    store.delete_space("a.1").unwrap();
    assert!(!store.space_exists("a.1"));
    assert_eq!(store.space_ids().unwrap(), ["b.1"]);
    assert!(!dir.path().join("spaces/a.1").exists());
    // The id can be used again, for a new space.
    let again = store.create_space(space_payload("a.1")).unwrap();
    assert_eq!(again.add_seq(), 0);
}

#[test]
fn delete_space_while_a_handle_is_held_is_space_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 4);
    let space = store.create_space(space_payload("a.1")).unwrap();
    assert!(
        matches!(store.delete_space("a.1"), Err(Error::SpaceInUse(id)) if id == "a.1"),
        "a space in use here is not locked by someone else"
    );
    assert!(store.space_exists("a.1"));
    drop(space);
    store.delete_space("a.1").unwrap();
}

#[test]
fn a_second_store_on_the_same_directory_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let _store = store(dir.path(), 4);
    let second = Store::open(dir.path(), Options::default());
    assert!(matches!(second, Err(Error::Locked(_))));
}

#[test]
fn leftovers_of_an_unfinished_creation_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let half = dir.path().join("spaces/.creating-a.1");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::write(half.join("00000000000000000001.wal"), b"half").unwrap();
    let store = store(dir.path(), 4);
    assert!(!half.exists());
    assert!(store.space_ids().unwrap().is_empty());
    store.create_space(space_payload("a.1")).unwrap();
}

#[test]
fn leftovers_of_an_unfinished_deletion_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = store(dir.path(), 4);
        store.create_space(space_payload("a.1")).unwrap();
    }
    // A deletion that stopped after its rename: the space is moved aside, not yet removed.
    let aside = dir.path().join("spaces/.deleting-a.1");
    std::fs::rename(dir.path().join("spaces/a.1"), &aside).unwrap();
    let store = store(dir.path(), 4);
    assert!(!aside.exists());
    assert!(!store.space_exists("a.1"));
    assert!(store.space_ids().unwrap().is_empty());
}

#[test]
fn ids_that_are_not_plain_file_names_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = store(dir.path(), 4);
        store.create_space(space_payload("a/b.1")).unwrap();
    }
    let store = store(dir.path(), 4);
    assert_eq!(store.space_ids().unwrap(), ["a/b.1"]);
    assert_eq!(store.space("a/b.1").unwrap().id().as_deref(), Some("a/b.1"));
}

#[test]
fn an_in_memory_store_creates_lists_and_deletes_spaces() {
    let store = Store::in_memory();
    fill(&store.create_space(space_payload("a.1")).unwrap(), 2);
    store.create_space(space_payload("b.1")).unwrap();
    assert!(matches!(
        store.create_space(space_payload("a.1")),
        Err(Error::SpaceExists(_))
    ));
    assert_eq!(store.space("a.1").unwrap().add_seq(), 2);
    assert_eq!(store.space_ids().unwrap(), ["a.1", "b.1"]);
    store.delete_space("a.1").unwrap();
    assert!(matches!(store.space("a.1"), Err(Error::SpaceMissing(_))));
}

/// 4 threads write to random spaces of 12 through a store that keeps 3 open: every space ends
/// with exactly the batches written to it, whatever was closed and reopened in between.
#[test]
fn four_threads_on_random_spaces_through_the_lru_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 3);
    let ids: Vec<String> = (0..12).map(|i| format!("s{i}.1")).collect();
    for id in &ids {
        let space = store.create_space(space_payload(id)).unwrap();
        space.create_tree_storage(root("t")).unwrap();
    }
    let ids = Arc::new(ids);
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let store = store.clone();
            let ids = Arc::clone(&ids);
            std::thread::spawn(move || {
                let mut rng = t * 7919 + 17;
                let mut written: BTreeMap<String, u64> = BTreeMap::new();
                for i in 0..150 {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let id = &ids[(rng % ids.len() as u64) as usize];
                    let space = store.space(id).unwrap();
                    let tree = space.tree_storage("t").unwrap();
                    let c = format!("{t}-{i}");
                    tree.add_all(vec![change(&c, &c)], [c.as_str()], "t")
                        .unwrap();
                    *written.entry(id.clone()).or_default() += 1;
                }
                written
            })
        })
        .collect();
    let mut total: BTreeMap<String, u64> = BTreeMap::new();
    for t in threads {
        for (id, n) in t.join().unwrap() {
            *total.entry(id).or_default() += n;
        }
    }
    assert_eq!(total.values().sum::<u64>(), 600);
    for id in ids.iter() {
        let space = store.space(id).unwrap();
        let expected = total.get(id).copied().unwrap_or(0);
        assert_eq!(
            space.changes_after_add_seq(0).count() as u64,
            expected,
            "{id}"
        );
    }
    assert!(store.open_spaces() <= 3);
}

/// The real file system, except that the first `lock_dir` of a space directory named `slow`
/// after [`Gate::arm`] stops until [`Gate::open`]: an open that takes as long as the test
/// wants.
struct Gated {
    slow: String,
    gate: Arc<Gate>,
}

#[derive(Default)]
struct Gate {
    /// (armed, entered, open)
    state: std::sync::Mutex<(bool, bool, bool)>,
    changed: std::sync::Condvar,
}

impl Gate {
    fn arm(&self) {
        self.state.lock().unwrap().0 = true;
    }
    fn wait_entered(&self) {
        let mut s = self.state.lock().unwrap();
        while !s.1 {
            s = self.changed.wait(s).unwrap();
        }
    }
    fn open(&self) {
        self.state.lock().unwrap().2 = true;
        self.changed.notify_all();
    }
    fn pass(&self) {
        let mut s = self.state.lock().unwrap();
        if !s.0 || s.1 {
            return;
        }
        s.1 = true;
        self.changed.notify_all();
        while !s.2 {
            s = self.changed.wait(s).unwrap();
        }
    }
}

impl Hook for Gated {
    fn call(&self, call: Call, path: &Path) {
        if call == Call::LockDir && path.file_name().and_then(|n| n.to_str()) == Some(&self.slow) {
            self.gate.pass();
        }
    }
}

/// While one space is being opened (its open stopped inside, for as long as the test wants),
/// the store hands out other open spaces, opens another one, lists its spaces and writes; the
/// slow open then completes. (Before, every call waited for the store's one lock, which the
/// open held throughout its replay.)
#[test]
fn a_slow_open_of_one_space_holds_up_neither_other_spaces_nor_their_opens() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(Gate::default());
    let fs = Arc::new(Hooked::new(Gated {
        slow: "slow.1".into(),
        gate: Arc::clone(&gate),
    }));
    let options = StoreOptions::new(Options::default().file_system(fs)).max_open_spaces(8);
    {
        let store = Store::open(dir.path(), options.clone()).unwrap();
        for id in ["slow.1", "fast.1", "other.1"] {
            fill(&store.create_space(space_payload(id)).unwrap(), 3);
        }
    }
    let store = Store::open(dir.path(), options).unwrap();
    let fast = store.space("fast.1").unwrap();
    gate.arm();
    let opening = {
        let store = store.clone();
        std::thread::spawn(move || {
            store
                .space("slow.1")
                .map(|s| s.changes_after_add_seq(0).count())
        })
    };
    gate.wait_entered();
    // Inside the slow open now, which ends only when the gate opens below: if the store held
    // its lock through the open, these calls would never return (the test would hang).
    let again = store.space("fast.1").unwrap();
    let other = store.space("other.1").unwrap();
    let ids = store.space_ids().unwrap();
    let tree = again.tree_storage("t").unwrap();
    tree.add_all(vec![change("more", "9999")], ["more"], "t")
        .unwrap();
    let other_changes = other.changes_after_add_seq(0).count();
    gate.open();
    assert_eq!(ids, ["fast.1", "other.1", "slow.1"]);
    assert_eq!(other_changes, 3);
    assert_eq!(opening.join().unwrap().unwrap(), 3);
    assert_eq!(fast.changes_after_add_seq(0).count(), 4);
}

/// A space created and deleted again and again by one thread while four others open, write and
/// close other spaces through a small LRU: every create and delete succeeds (a space closed by
/// the LRU outside the store's lock is never seen half closed).
#[test]
fn creating_and_deleting_a_space_while_others_churn_through_the_lru_always_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 2);
    let ids: Vec<String> = (0..6).map(|i| format!("s{i}.1")).collect();
    for id in &ids {
        fill(&store.create_space(space_payload(id)).unwrap(), 1);
    }
    let churn = {
        let store = store.clone();
        std::thread::spawn(move || {
            for i in 0..40 {
                let space = store.create_space(space_payload("churn.1")).unwrap();
                fill(&space, 1);
                drop(space);
                store
                    .delete_space("churn.1")
                    .unwrap_or_else(|e| panic!("delete {i}: {e}"));
            }
        })
    };
    let users: Vec<_> = (0..4usize)
        .map(|t| {
            let store = store.clone();
            let ids = ids.clone();
            std::thread::spawn(move || {
                for i in 0..60 {
                    let space = store.space(&ids[(t * 7 + i * 5) % ids.len()]).unwrap();
                    let tree = space.tree_storage("t").unwrap();
                    let c = format!("u{t}-{i}");
                    tree.add_all(vec![change(&c, &c)], [c.as_str()], "t")
                        .unwrap();
                }
            })
        })
        .collect();
    churn.join().unwrap();
    for u in users {
        u.join().unwrap();
    }
    assert!(!store.space_exists("churn.1"));
    let total: usize = ids
        .iter()
        .map(|id| store.space(id).unwrap().changes_after_add_seq(0).count())
        .sum();
    assert_eq!(total, 6 + 240);
}

#[test]
fn a_space_with_an_observer_is_not_evicted_while_its_guard_lives() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 1);
    let told = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = Arc::clone(&told);
    let guard = store
        .create_space(space_payload("a.1"))
        .unwrap()
        .head_storage()
        .add_observer(move |_: &spacestore::HeadEntry| {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
    // Another space, with room for one: `a.1` is not closed under its observer.
    store.create_space(space_payload("b.1")).unwrap();
    assert_eq!(store.open_spaces(), 2);
    let before = told.load(std::sync::atomic::Ordering::SeqCst);
    let a = store.space("a.1").unwrap();
    a.create_tree_storage(spacestore::TreeRoot::new("t", b"root".to_vec()))
        .unwrap();
    assert_eq!(told.load(std::sync::atomic::Ordering::SeqCst), before + 1);
    assert!(matches!(
        store.delete_space("a.1"),
        Err(Error::SpaceInUse(_))
    ));
    // Without its guard, it is evicted as any other.
    drop((a, guard));
    store.space("b.1").unwrap();
    assert_eq!(store.open_spaces(), 1);
}

#[test]
fn closing_a_store_closes_every_open_space_held_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), 4);
    let held = store.create_space(space_payload("a.1")).unwrap();
    fill(&store.create_space(space_payload("b.1")).unwrap(), 3);
    store.close().unwrap();
    assert!(
        matches!(held.create_tree_storage(root("t")), Err(Error::Closed)),
        "a handle held elsewhere is closed too"
    );
    let again = Store::open(dir.path(), Options::default()).unwrap();
    assert_eq!(again.space("b.1").unwrap().tree_count(), 2);
}
