//! A store's directory as an adversary, another program or another file system leaves it:
//! names that differ only in case, links, subdirectories, files where spaces should be, and
//! creations the store refuses. The store lists, opens and deletes the same set of spaces, never
//! follows a link or writes outside its directory, and always opens.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::hooked::{Call, Hook, Hooked};
use common::*;
use spacestore::{Error, Options, Store};

/// The real file system, made case-insensitive and case-preserving below `base` (as macOS's
/// and Windows' are): a name finds an existing entry that differs from it only in case.
struct CaseInsensitive {
    base: PathBuf,
}

impl Hook for CaseInsensitive {
    fn path(&self, path: &Path) -> PathBuf {
        let Ok(rel) = path.strip_prefix(&self.base) else {
            return path.to_path_buf();
        };
        let mut at = self.base.clone();
        for part in rel.components() {
            let name = part.as_os_str().to_string_lossy().into_owned();
            let found = std::fs::read_dir(&at).ok().and_then(|entries| {
                entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .find(|n| n.eq_ignore_ascii_case(&name))
            });
            at.push(found.unwrap_or(name));
        }
        at
    }
}

fn case_insensitive(dir: &Path) -> Options {
    Options::default().file_system(Arc::new(Hooked::new(CaseInsensitive {
        base: dir.to_path_buf(),
    })))
}

#[test]
fn ids_that_differ_only_in_case_are_two_spaces_on_a_case_insensitive_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), case_insensitive(dir.path())).unwrap();
    store.create_space(space_payload("ab.1")).unwrap();
    store.create_space(space_payload("Ab.1")).unwrap();
    assert_eq!(store.space_ids().unwrap(), ["Ab.1", "ab.1"]);
    assert_eq!(store.space("ab.1").unwrap().id().as_deref(), Some("ab.1"));
    assert_eq!(store.space("Ab.1").unwrap().id().as_deref(), Some("Ab.1"));
    assert!(!store.space_exists("AB.1"));
    store.delete_space("ab.1").unwrap();
    assert_eq!(store.space_ids().unwrap(), ["Ab.1"]);
    assert_eq!(store.space("Ab.1").unwrap().id().as_deref(), Some("Ab.1"));
}

#[test]
fn a_store_of_0_1_with_upper_case_names_opens_every_space_under_its_own_id() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), Options::default()).unwrap();
        store.create_space(space_payload("Ab.1")).unwrap();
        store.create_space(space_payload("cd.1")).unwrap();
    }
    // As 0.1 named it: the id itself, upper case kept.
    let spaces = dir.path().join("spaces");
    let (_, hex) = std::fs::read_dir(&spaces)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .map(|n| (n.clone(), n))
        .find(|(n, _)| n.starts_with('~'))
        .unwrap();
    std::fs::rename(spaces.join(&hex), spaces.join("Ab.1")).unwrap();
    let store = Store::open(dir.path(), case_insensitive(dir.path())).unwrap();
    assert_eq!(store.space_ids().unwrap(), ["Ab.1", "cd.1"]);
    assert!(!spaces.join("Ab.1").exists(), "renamed at open");
    let space = store.space("Ab.1").unwrap();
    assert_eq!(space.id().as_deref(), Some("Ab.1"));
    assert!(space.acl_storage().unwrap().has("acl"));
    // A second open finds nothing more to rename; the lower-case id is another space.
    drop((space, store));
    let store = Store::open(dir.path(), case_insensitive(dir.path())).unwrap();
    assert_eq!(store.space_ids().unwrap(), ["Ab.1", "cd.1"]);
    assert!(matches!(store.space("ab.1"), Err(Error::SpaceMissing(_))));
}

#[test]
fn delete_space_removes_a_directory_that_holds_subdirectories() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), Options::default()).unwrap();
        store.create_space(space_payload("a.1")).unwrap();
        let nested = dir.path().join("spaces/a.1/sub/deeper");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(nested.join("file"), b"x").unwrap();
        store.delete_space("a.1").unwrap();
        assert!(!store.space_exists("a.1"));
    }
    let store = Store::open(dir.path(), Options::default()).unwrap();
    assert!(store.space_ids().unwrap().is_empty());
    assert_eq!(
        std::fs::read_dir(dir.path().join("spaces"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn a_leftover_holding_subdirectories_and_links_is_removed_at_open_without_following_them() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("precious"), b"user data").unwrap();
    let aside = dir.path().join("spaces/.deleting-a.1");
    std::fs::create_dir_all(aside.join("sub")).unwrap();
    std::fs::write(aside.join("sub/file"), b"x").unwrap();
    std::os::unix::fs::symlink(outside.path(), aside.join("link")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("spaces/.deleting-b.1")).unwrap();
    std::fs::write(dir.path().join("spaces/.creating-c.1"), b"a file").unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path().join("spaces"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        std::fs::read(outside.path().join("precious")).unwrap(),
        b"user data"
    );
    store.create_space(space_payload("a.1")).unwrap();
}

#[test]
fn a_link_in_the_store_is_never_a_space_to_list_open_create_or_delete() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("precious"), b"user data").unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("spaces/evil.1")).unwrap();
    assert!(store.space_ids().unwrap().is_empty());
    assert!(!store.space_exists("evil.1"));
    assert!(matches!(store.space("evil.1"), Err(Error::SpaceMissing(_))));
    assert!(matches!(
        store.delete_space("evil.1"),
        Err(Error::SpaceMissing(_))
    ));
    assert!(store.create_space(space_payload("evil.1")).is_err());
    // Nothing written or removed through the link, and no leftover of the refused creation.
    let mut there: Vec<String> = std::fs::read_dir(outside.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    there.sort();
    assert_eq!(there, ["precious"]);
    let names: Vec<String> = std::fs::read_dir(dir.path().join("spaces"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["evil.1"]);
}

#[test]
fn a_refused_creation_leaves_no_temporary_directory() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default().max_batch_bytes(64);
    let store = Store::open(dir.path(), options).unwrap();
    let mut payload = space_payload("big.1");
    payload.space_header = vec![7u8; 1024].into();
    assert!(matches!(
        store.create_space(payload),
        Err(Error::BatchTooLarge { .. })
    ));
    assert_eq!(
        std::fs::read_dir(dir.path().join("spaces"))
            .unwrap()
            .count(),
        0
    );
    assert!(!store.space_exists("big.1"));
}

/// Counts the listings of one directory.
struct CountingLists {
    dir: PathBuf,
    lists: AtomicU64,
}

impl Hook for CountingLists {
    fn call(&self, call: Call, path: &Path) {
        if call == Call::List && path == self.dir {
            self.lists.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[test]
fn creating_opening_and_deleting_a_space_never_list_the_store_directory() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Arc::new(Hooked::new(CountingLists {
        dir: dir.path().join("spaces"),
        lists: AtomicU64::new(0),
    }));
    let store = Store::open(dir.path(), Options::default().file_system(fs.clone())).unwrap();
    let at_open = fs.0.lists.load(Ordering::Relaxed);
    store.create_space(space_payload("a.1")).unwrap();
    store.create_space(space_payload("b.1")).unwrap();
    assert_eq!(store.space("a.1").unwrap().id().as_deref(), Some("a.1"));
    store.delete_space("b.1").unwrap();
    assert_eq!(
        fs.0.lists.load(Ordering::Relaxed),
        at_open,
        "spaces/ was listed"
    );
}
