//! Space: creating and opening trees (Go's `CreateTreeStorage`,
//! `CreateStorageWithDeferredCreation`, `TreeStorage`) and the space-wide AddSeq query.

mod common;

use common::*;
use spacestore::{DeletedStatus, Error, HeadUpdate, Space, StorageChange};

#[test]
fn create_tree_storage_creates_the_head_entry() {
    let space = Space::in_memory();
    space.create_tree_storage(root("t")).unwrap();
    let entry = space.head_storage().get_entry("t").unwrap();
    assert_eq!(entry.heads, vec!["t"]);
    assert_eq!(entry.common_snapshot, "t");
    assert!(!entry.is_derived);
    assert_eq!(entry.parent_id, None);
    assert_eq!(entry.last_add_seq, None);
    assert_eq!(entry.deleted_status, DeletedStatus::NotDeleted);
}

#[test]
fn create_tree_storage_twice_is_tree_exists() {
    let space = Space::in_memory();
    space.create_tree_storage(root("t")).unwrap();
    assert!(matches!(
        space.create_tree_storage(root("t")),
        Err(Error::TreeExists(id)) if id == "t"
    ));
}

#[test]
fn create_tree_storage_with_a_root_id_used_by_a_change_is_tree_exists() {
    let (space, tree) = space_with_tree("t");
    tree.add_all(vec![change("c1", "1")], NO_HEADS, "t")
        .unwrap();
    assert!(matches!(
        space.create_tree_storage(root("c1")),
        Err(Error::TreeExists(_))
    ));
}

#[test]
fn create_tree_storage_does_not_move_the_counter() {
    let space = Space::in_memory();
    space.create_tree_storage(root("t")).unwrap();
    assert_eq!(space.add_seq(), 0);
}

#[test]
fn create_tree_storage_with_a_missing_parent_is_parent_not_found() {
    let space = Space::in_memory();
    let err = space
        .create_tree_storage(root("child").with_parent("p", false))
        .unwrap_err();
    assert!(matches!(err, Error::ParentNotFound(id) if id == "p"));
    assert!(matches!(
        space.tree_storage("child"),
        Err(Error::UnknownTree(_))
    ));
    assert!(space.head_storage().get_entry("child").is_err());
}

#[test]
fn create_tree_storage_under_a_derived_parent_is_derived_parent() {
    let space = Space::in_memory();
    space.create_tree_storage(root("p").derived()).unwrap();
    let err = space
        .create_tree_storage(root("child").with_parent("p", false))
        .unwrap_err();
    assert!(matches!(err, Error::DerivedParent(id) if id == "p"));
}

#[test]
fn create_tree_storage_records_parent_and_derived_flag() {
    let space = Space::in_memory();
    space.create_tree_storage(root("p")).unwrap();
    space
        .create_tree_storage(root("child").with_parent("p", true))
        .unwrap();
    let entry = space.head_storage().get_entry("child").unwrap();
    assert_eq!(entry.parent_id.as_deref(), Some("p"));
    assert!(entry.is_derived);
}

/// The deleted status of a new child of tree `p` whose own status is `parent`.
fn status_of_a_new_child_of_a_parent(parent: DeletedStatus) -> DeletedStatus {
    let space = Space::in_memory();
    space.create_tree_storage(root("p")).unwrap();
    space
        .head_storage()
        .update_entry(HeadUpdate::new("p").deleted_status(parent))
        .unwrap();
    assert_eq!(
        space.head_storage().get_entry("p").unwrap().deleted_status,
        parent
    );
    space
        .create_tree_storage(root("child").with_parent("p", false))
        .unwrap();
    space
        .head_storage()
        .get_entry("child")
        .unwrap()
        .deleted_status
}

#[test]
fn child_of_a_parent_queued_for_deletion_is_queued() {
    assert_eq!(
        status_of_a_new_child_of_a_parent(DeletedStatus::Queued),
        DeletedStatus::Queued
    );
}

#[test]
fn child_of_a_deleted_parent_is_queued() {
    assert_eq!(
        status_of_a_new_child_of_a_parent(DeletedStatus::Deleted),
        DeletedStatus::Queued
    );
}

#[test]
fn tree_storage_opens_an_existing_tree() {
    let (space, tree) = space_with_tree("t");
    tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap();
    let opened = space.tree_storage("t").unwrap();
    assert_eq!(opened.heads().unwrap(), vec!["c1"]);
    assert_eq!(opened.root(), tree.root());
}

#[test]
fn tree_storage_of_an_unknown_id_is_unknown_tree() {
    let space = Space::in_memory();
    assert!(matches!(space.tree_storage("x"), Err(Error::UnknownTree(id)) if id == "x"));
}

#[test]
fn tree_storage_without_a_head_entry_is_unknown_tree() {
    let (space, _tree) = space_with_tree("t");
    space.head_storage().delete_entry("t").unwrap();
    assert!(matches!(
        space.tree_storage("t"),
        Err(Error::UnknownTree(_))
    ));
}

#[test]
fn deferred_storage_reads_the_root_before_its_first_write() {
    let space = Space::in_memory();
    let tree = space
        .create_storage_with_deferred_creation(root("t"))
        .unwrap();
    assert!(tree.is_deferred());
    assert_eq!(tree.heads().unwrap(), vec!["t"]);
    assert_eq!(tree.common_snapshot().unwrap(), "t");
    assert!(tree.has("t"));
    assert!(!tree.has("other"));
    assert_eq!(tree.get("t").unwrap().id, "t");
    assert!(matches!(tree.get("other"), Err(Error::ChangeNotFound(_))));
    assert_eq!(view_ids(tree.changes_after_order("")), vec!["t"]);
    assert!(tree.changes_after_add_seq(0).next().is_none());
}

#[test]
fn deferred_storage_after_the_roots_order_id_yields_nothing() {
    let space = Space::in_memory();
    let tree = space
        .create_storage_with_deferred_creation(root("t").with_order_id("5"))
        .unwrap();
    assert_eq!(view_ids(tree.changes_after_order("5")), vec!["t"]);
    assert!(tree.changes_after_order("6").next().is_none());
}

#[test]
fn deferred_storage_is_invisible_to_the_space_until_its_first_write() {
    let space = Space::in_memory();
    let _tree = space
        .create_storage_with_deferred_creation(root("t"))
        .unwrap();
    assert!(matches!(
        space.tree_storage("t"),
        Err(Error::UnknownTree(_))
    ));
    assert!(space.head_storage().get_entry("t").is_err());
}

#[test]
fn deferred_storage_first_write_creates_the_tree_and_the_batch_together() {
    let space = Space::in_memory();
    let tree = space
        .create_storage_with_deferred_creation(root("t"))
        .unwrap();
    tree.add_all(vec![change("c1", "1")], ["c1"], "t").unwrap();
    assert!(!tree.is_deferred());
    let opened = space.tree_storage("t").unwrap();
    assert_eq!(view_ids(opened.changes_after_order("")), vec!["t", "c1"]);
    assert_eq!(opened.heads().unwrap(), vec!["c1"]);
}

#[test]
fn deferred_storage_of_an_existing_tree_is_tree_exists() {
    let (space, _tree) = space_with_tree("t");
    assert!(matches!(
        space.create_storage_with_deferred_creation(root("t")),
        Err(Error::TreeExists(_))
    ));
}

#[test]
fn deferred_storage_first_write_fails_when_the_tree_was_created_meanwhile() {
    let space = Space::in_memory();
    let deferred = space
        .create_storage_with_deferred_creation(root("t"))
        .unwrap();
    space.create_tree_storage(root("t")).unwrap();
    let err = deferred
        .add_all(vec![change("c1", "1")], NO_HEADS, "t")
        .unwrap_err();
    assert!(matches!(err, Error::TreeExists(_)));
    assert!(deferred.is_deferred());
}

#[test]
fn deferred_storage_stays_deferred_when_its_first_write_fails() {
    let space = Space::in_memory();
    let other = space.create_tree_storage(root("o")).unwrap();
    other
        .add_all(vec![change("dup", "1")], NO_HEADS, "o")
        .unwrap();
    let tree = space
        .create_storage_with_deferred_creation(root("t"))
        .unwrap();
    assert!(tree
        .add_all(vec![change("dup", "1")], NO_HEADS, "t")
        .is_err());
    assert!(tree.is_deferred());
    assert!(matches!(
        space.tree_storage("t"),
        Err(Error::UnknownTree(_))
    ));
    assert_eq!(
        tree.add_all(vec![change("c1", "1")], NO_HEADS, "t")
            .unwrap(),
        3
    );
}

#[test]
fn deferred_storage_first_write_delete_creates_the_entry_and_no_changes() {
    let space = Space::in_memory();
    let tree = space
        .create_storage_with_deferred_creation(root("t"))
        .unwrap();
    tree.delete().unwrap();
    assert!(space.head_storage().get_entry("t").is_ok());
    assert!(!tree.has("t"));
    assert!(matches!(
        space.tree_storage("t"),
        Err(Error::UnknownTree(_))
    ));
    assert!(matches!(
        tree.add_all(vec![change("c1", "1")], NO_HEADS, "t"),
        Err(Error::TreeDeleted(_))
    ));
}

#[test]
fn deferred_storage_under_a_missing_parent_fails_on_first_write() {
    let space = Space::in_memory();
    let tree = space
        .create_storage_with_deferred_creation(root("t").with_parent("p", false))
        .unwrap();
    let err = tree
        .add_all(vec![change("c1", "1")], NO_HEADS, "t")
        .unwrap_err();
    assert!(matches!(err, Error::ParentNotFound(_)));
}

#[test]
fn changes_after_add_seq_spans_trees_in_add_seq_order() {
    let space = Space::in_memory();
    let a = space.create_tree_storage(root("a")).unwrap();
    let b = space.create_tree_storage(root("b")).unwrap();
    a.add_all(vec![change("a1", "1"), change("a2", "2")], NO_HEADS, "a")
        .unwrap();
    b.add_all(vec![change("b1", "1")], NO_HEADS, "b").unwrap();
    a.add_all(vec![change("a3", "3")], NO_HEADS, "a").unwrap();
    let all = space
        .changes_after_add_seq(0)
        .map(StorageChange::from)
        .collect::<Vec<_>>();
    assert_eq!(ids(&all), vec!["a1", "a2", "b1", "a3"]);
    assert_eq!(
        all.iter().map(|c| c.add_seq).collect::<Vec<_>>(),
        vec![1, 1, 2, 3]
    );
    assert_eq!(view_ids(space.changes_after_add_seq(2)), vec!["a3"]);
    assert!(space.changes_after_add_seq(3).next().is_none());
}

#[test]
fn changes_after_add_seq_never_yields_roots() {
    let space = Space::in_memory();
    space.create_tree_storage(root("a")).unwrap();
    assert!(space.changes_after_add_seq(0).next().is_none());
}

#[test]
fn changes_after_add_seq_yields_a_batch_in_the_order_given() {
    let space = Space::in_memory();
    let a = space.create_tree_storage(root("a")).unwrap();
    a.add_all(vec![change("a2", "2"), change("a1", "1")], NO_HEADS, "a")
        .unwrap();
    assert_eq!(view_ids(space.changes_after_add_seq(0)), vec!["a2", "a1"]);
}

#[test]
fn a_space_handle_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Space>();
    assert_send_sync::<spacestore::TreeStorage>();
    assert_send_sync::<spacestore::HeadStorage>();
}

/// A space closed while another thread forks a child (before the child's `exec`): the child
/// shares the parent's open files until then, and with an `flock` the space's lock stayed
/// alive in it, so the next open of the space failed with `Locked` (the crash test's child run
/// 19 met this). The lock is a POSIX record lock now, which a child never inherits.
#[test]
fn a_space_closed_while_another_thread_forks_a_child_opens_again_at_once() {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;

    let dir = tempfile::tempdir().unwrap();
    let space = Space::create(dir.path(), spacestore::Options::default()).unwrap();
    let (mut forked_r, forked_w) = std::io::pipe().unwrap();
    let (go_r, mut go_w) = std::io::pipe().unwrap();
    let (forked, go) = (forked_w.as_raw_fd(), go_r.as_raw_fd());
    let child = std::thread::spawn(move || {
        let mut command = std::process::Command::new("true");
        // SAFETY: the closure runs in the forked child before `exec` and calls only `write` and
        // `read` (async-signal-safe) on descriptors the child inherited.
        unsafe {
            command.pre_exec(move || {
                let mut byte = [1u8];
                libc::write(forked, byte.as_ptr().cast(), 1);
                libc::read(go, byte.as_mut_ptr().cast(), 1);
                Ok(())
            });
        }
        let status = command.spawn().unwrap().wait().unwrap();
        drop((forked_w, go_r));
        status
    });
    // The child is forked and holds copies of this process's descriptors, the lock's among them.
    forked_r.read_exact(&mut [0u8]).unwrap();
    drop(space);
    let again = Space::open(dir.path(), spacestore::Options::default());
    go_w.write_all(&[1]).unwrap();
    assert!(child.join().unwrap().success());
    assert!(again.is_ok(), "{:?}", again.err());
}

/// Two opens of one directory in one process still exclude each other (POSIX record locks do
/// not conflict within a process: the process's table of held directories does), also through
/// another path to the same directory, and the directory is free again once the first closes.
#[test]
fn a_directory_is_open_once_per_process_whatever_path_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = Space::create(dir.path(), spacestore::Options::default()).unwrap();
    let other_path = dir
        .path()
        .join(".")
        .join("..")
        .join(dir.path().file_name().unwrap());
    assert!(matches!(
        Space::open(&other_path, spacestore::Options::default()),
        Err(Error::Locked(_))
    ));
    drop(first);
    Space::open(&other_path, spacestore::Options::default()).unwrap();
}
