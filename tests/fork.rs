//! `Space::fork`: an in-memory copy of a space as it is now, independent afterwards in both
//! directions, with a counter of its own at the space's value.

mod common;

use common::{change, root, visible_state as state, written};
use spacestore::{Options, Space};

#[test]
fn a_fork_holds_what_the_space_holds() {
    let space = Space::in_memory();
    written(&space);
    assert_eq!(state(&space.fork()), state(&space));
}

#[test]
fn a_fork_of_a_space_reopened_from_its_log_holds_what_the_space_holds() {
    let dir = tempfile::tempdir().unwrap();
    written(&Space::create(dir.path(), Options::default()).unwrap());
    let space = Space::open(dir.path(), Options::default()).unwrap();
    assert_eq!(state(&space.fork()), state(&space));
}

#[test]
fn what_the_fork_writes_stays_out_of_the_space() {
    let space = Space::in_memory();
    written(&space);
    let before = state(&space);
    let fork = space.fork();
    fork.tree_storage("a")
        .unwrap()
        .add_all(vec![change("new", "9")], ["new"], "a")
        .unwrap();
    fork.tree_storage("b").unwrap().delete().unwrap();
    fork.create_tree_storage(root("c")).unwrap();
    fork.head_storage().delete_entry("x").unwrap();
    fork.cursor("reader").unwrap().ack(5).unwrap();
    fork.state_storage().unwrap().set_hash("h2").unwrap();
    assert_eq!(state(&space), before);
    assert_ne!(state(&fork), before);
}

#[test]
fn what_the_space_writes_stays_out_of_the_fork() {
    let space = Space::in_memory();
    written(&space);
    let fork = space.fork();
    let before = state(&fork);
    space
        .tree_storage("a")
        .unwrap()
        .add_all(vec![change("new", "9")], ["new"], "a")
        .unwrap();
    space.tree_storage("b").unwrap().delete().unwrap();
    space.cursor("reader").unwrap().ack(5).unwrap();
    assert_eq!(state(&fork), before);
}

#[test]
fn a_fork_takes_the_seq_the_space_would_give_next_and_the_two_go_their_own_ways() {
    let space = Space::in_memory();
    written(&space);
    let fork = space.fork();
    assert_eq!(fork.add_seq(), space.add_seq());
    let next = space.add_seq() + 1;
    let add = |s: &Space, id: &str| {
        let tree = s.tree_storage("a").unwrap();
        tree.add_all(vec![change(id, id)], [id], "a").unwrap();
        tree.get(id).unwrap().add_seq
    };
    assert_eq!(add(&fork, "f1"), next);
    assert_eq!(add(&space, "s1"), next);
    assert_eq!(add(&fork, "f2"), next + 1);
    assert_eq!(space.add_seq(), next);
}

#[test]
fn a_fork_of_a_durable_space_is_in_memory_and_outlives_its_close() {
    let dir = tempfile::tempdir().unwrap();
    let space = Space::create(dir.path(), Options::default()).unwrap();
    written(&space);
    let before = state(&space);
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    let fork = space.fork();
    fork.tree_storage("a")
        .unwrap()
        .add_all(vec![change("new", "9")], ["new"], "a")
        .unwrap();
    space.close().unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), files);
    assert!(fork.tree_storage("a").unwrap().has("new"));
    assert!(fork.log_stats().is_none());
    let reopened = Space::open(dir.path(), Options::default()).unwrap();
    assert_eq!(state(&reopened), before);
}

#[test]
fn a_subscriber_of_the_fork_hears_of_the_fork_s_batches_only() {
    let space = Space::in_memory();
    written(&space);
    let fork = space.fork();
    let mut subscription = fork.subscribe(fork.add_seq());
    space
        .tree_storage("a")
        .unwrap()
        .add_all(vec![change("s", "8")], ["s"], "a")
        .unwrap();
    fork.tree_storage("b")
        .unwrap()
        .add_all(vec![change("f", "8")], ["f"], "b")
        .unwrap();
    let batch = subscription.next().unwrap();
    assert_eq!(batch.changes.len(), 1);
    assert_eq!(batch.changes[0].id, "f");
}
