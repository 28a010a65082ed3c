//! Model-based property tests: random sequences of operations run against a space and against a
//! plain reference model of any-sync's storage (Go semantics, see the reference notes) written
//! with `Vec`s, `BTreeMap`s, linear scans and sorting. The model shares no code with the crate.
//! After every operation the result (value or error, payload included) and every read of the
//! space, of each tree handle and of the head storage are compared, and so is what a head
//! observer was told.
//!
//! The model also covers a whole space: `create_space` from a payload (valid, or one that
//! `validate` refuses; the settings root checked and created as any tree, the ACL list's head
//! entry sharing the head storage's ids), the state storage (every field of its state, the hash
//! `set_hash` sets and what a hash observer is told) and the ACL list (`add_all`'s checks, its
//! head in the head storage, every read by id and by order). A bare space has neither.
//!
//! Where the port deliberately differs from Go (DESIGN.md, "Deviations from Go") the model
//! follows the port: a write to a deleted tree is `TreeDeleted` and takes no seq, `get` on a
//! deferred storage finds only the root, observers hear only committed changes,
//! `entries_by_parent_id` is sorted by id.
//!
//! - `space_matches_reference_model_under_random_operations`: on `Space::in_memory()`; the
//!   counter is exact (every `add_all` / `add_all_no_error` past the tree checks takes one seq,
//!   also when it then fails).
//! - `reopened_space_matches_reference_model`: the same operations on `Space::open` of a temporary
//!   directory (`Buffered` or `Sync`; default segments without automatic checkpoints, or
//!   512-byte segments with automatic checkpoints), plus reopening the directory (a clean close,
//!   then every tree handle opened again by id; deferred handles that never wrote are gone and
//!   observers, of heads and of the hash, are registered again), `checkpoint`, and
//!   `open_read_only` next to the open space. Every read (the state and the ACL list included)
//!   is compared after each of them. Between reopens the counter is exact; across a
//!   reopen it may jump, so the model checks that it restarts at or above every seq handed out
//!   before and that no later batch takes one of those again. Every case ends with a reopen.
//!
//! Set `PROPTEST_CASES` to run more or fewer cases than the defaults (256 in memory,
//! `DURABLE_CASES` with a directory).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use spacestore::go::*;
use spacestore::{
    AclRecord, AddOutcome, DeletedStatus, Durability, Error, HeadEntry, HeadUpdate, Heads, Id,
    IterOptions, ObserverGuard, Options, Space, SpacePayload, StorageChange, TreeRoot, TreeStorage,
};

/// The id alphabet, shared by tree ids and change ids so that they collide: tree ids come from
/// the first `TREE_IDS`, head-entry ids and parents from the first `ENTRY_IDS`, change ids from
/// all of them.
const IDS: [&str; 20] = [
    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s",
    "t",
];
const TREE_IDS: usize = 4;
const ENTRY_IDS: usize = 6;
/// Order ids of changes; "" is also the default order id of a root.
const ORDERS: [&str; 9] = ["", "1", "2", "3", "4", "5", "6", "7", "8"];
/// Order ids a root may take.
const ROOT_ORDERS: [&str; 3] = ["", "", "3"];
/// Order ids to query `get_after_order` with (between and around the ones used).
const ORDER_PROBES: [&str; 6] = ["", "0", "2", "35", "8", "9"];
/// Space ids a payload may take, and whether `validate` accepts each (`<cid>.<base-36 key>`).
const SPACE_IDS: [(&str, bool); 8] = [
    ("space.1", true),
    ("other.2k", true),
    ("x.zz", true),
    ("space", false),
    (".1", false),
    ("space.", false),
    ("space.A1", false),
    ("space.1.2", false),
];
/// The ACL list's id (its root record's) comes from the first `ENTRY_IDS` of `IDS`, so that its
/// head entry is sometimes a tree's or another entry's; the ids of the records added later come
/// from the first `ACL_IDS`, so that they clash with the root and with each other.
const ACL_IDS: usize = 8;
/// ACL record orders are `0..=ACL_ORDER_MAX` (the root's is 1), so that they clash.
const ACL_ORDER_MAX: u64 = 6;
/// Orders to query the ACL list with.
const ACL_ORDER_PROBES: [u64; 7] = [0, 1, 2, 3, 5, 9, u64::MAX];
/// Hashes `set_hash` sets; "" is also the hash of a new space.
const HASHES: [&str; 4] = ["", "h1", "h2", "h3"];
/// Cases of the durability test when `PROPTEST_CASES` is not set (each opens files and syncs).
const DURABLE_CASES: u32 = 96;
/// Operations per case of the durability test, at most (one less).
const DURABLE_OPS: usize = 80;

// ---------------------------------------------------------------------------------------------
// The reference model.
// ---------------------------------------------------------------------------------------------

/// One stored change, as Go stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct MChange {
    id: String,
    tree_id: String,
    order_id: String,
    add_seq: u64,
    raw: Vec<u8>,
    prev_ids: Vec<String>,
    snapshot_id: String,
    snapshot_counter: u32,
    /// Insertion number: changes of a batch keep the order they were given in.
    ins: u64,
    /// When it was stored (Unix seconds): 0 until [`stamp`] reads it from the space, checks it
    /// against the clock around the step that stored it, and keeps it; from then on every read
    /// must show that value (also after a reopen or a checkpoint).
    added: u64,
}

/// One head entry (the id is the map key).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct MEntry {
    heads: Vec<String>,
    common_snapshot: String,
    deleted: u8,
    derived: bool,
    parent: Option<String>,
    last: Option<u64>,
}

/// A partial head update (upsert).
#[derive(Clone, Debug, Default)]
struct MUpdate {
    id: String,
    heads: Option<Vec<String>>,
    common_snapshot: Option<String>,
    deleted: Option<u8>,
    derived: Option<bool>,
    parent: Option<String>,
    last: Option<u64>,
}

#[derive(Clone, Debug)]
struct MRoot {
    id: String,
    raw: Vec<u8>,
    order_id: String,
    parent: Option<String>,
    derived: bool,
}

impl MRoot {
    fn change(&self) -> MChange {
        MChange {
            id: self.id.clone(),
            tree_id: self.id.clone(),
            order_id: self.order_id.clone(),
            add_seq: 0,
            raw: self.raw.clone(),
            prev_ids: Vec::new(),
            snapshot_id: String::new(),
            snapshot_counter: 1,
            ins: 0,
            added: 0,
        }
    }
}

/// A tree storage handle. Once it is not deferred, it reads and writes the tree by its id, as
/// Go's storage does: after the tree is deleted its writes are refused, and once a tree with
/// that id is created again the handle sees (and writes to) the new tree. Its `root` stays the
/// one it was built with.
#[derive(Clone, Debug)]
struct MHandle {
    root: MRoot,
    root_change: MChange,
    deferred: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum MErr {
    TreeExists(String),
    UnknownTree(String),
    DuplicateChange(String),
    OrderIdInUse(String, String),
    ParentNotFound(String),
    DerivedParent(String),
    ChangeNotFound(String),
    EntryNotFound(String),
    TreeDeleted(String),
    AddSeqExhausted,
    SpaceExists(String),
    BareSpace,
    IncorrectSpaceHeader,
    AclRecordExists(String),
    AclOrderInUse(String, u64),
    AclRecordNotFound(String),
    /// A tree would take the ACL list's id (and so its head entry): refused, unlike Go.
    AclListId(String),
}

/// The state of a whole space.
#[derive(Clone, Debug)]
struct MState {
    space_id: String,
    acl_id: String,
    settings_id: String,
    header: Vec<u8>,
    hash: String,
}

/// One record of the ACL list.
#[derive(Clone, Debug)]
struct MAcl {
    id: String,
    prev_id: String,
    order: u64,
    raw: Vec<u8>,
    size: u64,
}

/// What a space is made whole from.
#[derive(Clone, Debug)]
struct MPayload {
    space_id: String,
    /// Whether the space id has the form `validate` accepts.
    id_valid: bool,
    header: Vec<u8>,
    acl_id: String,
    acl_root: Vec<u8>,
    settings: MRoot,
}

/// A change as a caller hands it to `add_all`.
#[derive(Clone, Debug)]
struct MInput {
    id: String,
    order_id: String,
    raw: Vec<u8>,
    prev_ids: Vec<String>,
    snapshot_id: String,
    snapshot_counter: u32,
}

#[derive(Default)]
struct Model {
    counter: u64,
    /// Every stored change of the space, roots included (ids are unique).
    changes: Vec<MChange>,
    /// Live trees (deleted ones are not).
    live: BTreeSet<String>,
    entries: BTreeMap<String, MEntry>,
    next_ins: u64,
    /// What head observers were told since the last check: (entry id, entry after the change),
    /// one per effective change of an entry.
    notified: Vec<(String, MEntry)>,
    /// The state, once the space is whole.
    state: Option<MState>,
    /// The ACL list's records, in the order they were added (the root first).
    acl: Vec<MAcl>,
    /// What hash observers were told since the last check.
    hashes_told: Vec<String>,
}

impl Model {
    fn find(&self, id: &str) -> Option<&MChange> {
        self.changes.iter().find(|c| c.id == id)
    }

    fn upsert(&mut self, u: MUpdate) -> MEntry {
        // A last AddSeq above the counter moves the counter up to it (never down).
        if let Some(s) = u.last {
            self.counter = self.counter.max(s);
        }
        let before = self.entries.get(&u.id).cloned();
        let e = self.entries.entry(u.id.clone()).or_default();
        if let Some(h) = u.heads {
            e.heads = h;
        }
        if let Some(c) = u.common_snapshot {
            e.common_snapshot = c;
        }
        if let Some(d) = u.deleted {
            e.deleted = d;
        }
        if let Some(d) = u.derived {
            e.derived = d;
        }
        if let Some(p) = u.parent {
            e.parent = Some(p);
        }
        if let Some(s) = u.last {
            e.last = Some(s);
        }
        let after = e.clone();
        // Observers are told only when some value really changed (a new entry always is).
        if before.as_ref() != Some(&after) {
            self.notified.push((u.id, after.clone()));
        }
        after
    }

    /// CreateTreeStorage, steps 1 and 2 (the checks).
    fn creation_check(&self, root: &MRoot) -> Result<(), MErr> {
        self.acl_list_check(&root.id)?;
        if self.find(&root.id).is_some() || self.live.contains(&root.id) {
            return Err(MErr::TreeExists(root.id.clone()));
        }
        if let Some(p) = &root.parent {
            match self.entries.get(p) {
                None => return Err(MErr::ParentNotFound(p.clone())),
                Some(e) if e.derived => return Err(MErr::DerivedParent(p.clone())),
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// No tree takes the ACL list's id.
    fn acl_list_check(&self, id: &str) -> Result<(), MErr> {
        match &self.state {
            Some(state) if state.acl_id == id => Err(MErr::AclListId(id.to_string())),
            _ => Ok(()),
        }
    }

    /// CreateTreeStorage, steps 1, 3 and 4 (the effects).
    fn create(&mut self, root: &MRoot) {
        let parent_deleted = root
            .parent
            .as_ref()
            .and_then(|p| self.entries.get(p))
            .map(|e| e.deleted);
        self.changes.push(root.change());
        self.live.insert(root.id.clone());
        self.upsert(MUpdate {
            id: root.id.clone(),
            heads: Some(vec![root.id.clone()]),
            common_snapshot: Some(root.id.clone()),
            derived: Some(root.derived),
            parent: root.parent.clone(),
            deleted: match parent_deleted {
                Some(d) if d >= 1 => Some(1),
                _ => None,
            },
            last: None,
        });
    }

    fn create_tree_storage(&mut self, root: MRoot) -> Result<MHandle, MErr> {
        self.creation_check(&root)?;
        self.create(&root);
        Ok(MHandle {
            root_change: root.change(),
            root,
            deferred: false,
        })
    }

    fn create_deferred(&mut self, root: MRoot) -> Result<MHandle, MErr> {
        if self.find(&root.id).is_some() || self.live.contains(&root.id) {
            return Err(MErr::TreeExists(root.id.clone()));
        }
        self.acl_list_check(&root.id)?;
        Ok(MHandle {
            root_change: root.change(),
            root,
            deferred: true,
        })
    }

    fn open(&self, id: &str) -> Result<MHandle, MErr> {
        let unknown = || MErr::UnknownTree(id.to_string());
        let entry = self.entries.get(id).ok_or_else(unknown)?;
        if !self.live.contains(id) {
            return Err(unknown());
        }
        let root_change = self.find(id).ok_or_else(unknown)?.clone();
        Ok(MHandle {
            root: MRoot {
                id: id.to_string(),
                raw: root_change.raw.clone(),
                order_id: root_change.order_id.clone(),
                parent: entry.parent.clone(),
                derived: entry.derived,
            },
            root_change,
            deferred: false,
        })
    }

    /// AddAll / AddAllNoError: (seq, inserted, skipped).
    fn add(
        &mut self,
        h: &mut MHandle,
        batch: &[MInput],
        heads: Option<&[String]>,
        common_snapshot: &str,
        no_error: bool,
    ) -> Result<(u64, Vec<String>, Vec<String>), MErr> {
        let tree_id = h.root.id.clone();
        let creating = if h.deferred {
            self.creation_check(&h.root)?;
            true
        } else if !self.live.contains(&tree_id) {
            return Err(MErr::TreeDeleted(tree_id));
        } else {
            false
        };
        // The seq is taken before the batch is checked: a failing batch leaves a gap. The
        // counter never wraps (a head entry may have moved it to the last seq).
        self.counter = self.counter.checked_add(1).ok_or(MErr::AddSeqExhausted)?;
        let seq = self.counter;
        let mut used_orders: Vec<String> = if creating {
            vec![h.root.order_id.clone()]
        } else {
            self.changes
                .iter()
                .filter(|c| c.tree_id == tree_id)
                .map(|c| c.order_id.clone())
                .collect()
        };
        let mut kept: Vec<&MInput> = Vec::new();
        let mut skipped = Vec::new();
        for c in batch {
            let stored = self.find(&c.id).is_some() || (creating && c.id == h.root.id);
            if stored || kept.iter().any(|k| k.id == c.id) {
                if no_error {
                    skipped.push(c.id.clone());
                    continue;
                }
                return Err(MErr::DuplicateChange(c.id.clone()));
            }
            if used_orders.contains(&c.order_id) {
                return Err(MErr::OrderIdInUse(tree_id, c.order_id.clone()));
            }
            used_orders.push(c.order_id.clone());
            kept.push(c);
        }
        if creating {
            self.create(&h.root);
            // The root is stored as the deferred handle made it, with its time.
            if let Some(root) = self.changes.iter_mut().rev().find(|c| c.id == h.root.id) {
                root.added = h.root_change.added;
            }
            h.deferred = false;
        }
        let mut inserted = Vec::new();
        for c in kept {
            self.next_ins += 1;
            self.changes.push(MChange {
                id: c.id.clone(),
                tree_id: tree_id.clone(),
                order_id: c.order_id.clone(),
                add_seq: seq,
                raw: c.raw.clone(),
                prev_ids: c.prev_ids.clone(),
                snapshot_id: c.snapshot_id.clone(),
                snapshot_counter: c.snapshot_counter,
                ins: self.next_ins,
                added: 0,
            });
            inserted.push(c.id.clone());
        }
        self.upsert(MUpdate {
            id: tree_id,
            // Go's nil leaves the heads; a list, an empty one too, sets them.
            heads: heads.map(<[String]>::to_vec),
            common_snapshot: Some(common_snapshot.to_string()),
            last: Some(seq),
            ..MUpdate::default()
        });
        Ok((seq, inserted, skipped))
    }

    fn delete(&mut self, h: &mut MHandle) -> Result<(), MErr> {
        let tree_id = h.root.id.clone();
        if h.deferred {
            self.creation_check(&h.root)?;
            self.create(&h.root);
            h.deferred = false;
        }
        self.changes.retain(|c| c.tree_id != tree_id);
        self.live.remove(&tree_id);
        Ok(())
    }

    /// Go's `spacestorage.Create` on this store: the payload's checks, then the state, the ACL
    /// list's root with its head entry, and the settings tree as `create_tree_storage` makes it.
    fn create_space(&mut self, p: &MPayload) -> Result<(), MErr> {
        let parts_missing = p.header.is_empty()
            || p.acl_id.is_empty()
            || p.acl_root.is_empty()
            || p.settings.id.is_empty()
            || p.settings.raw.is_empty();
        if !p.id_valid || parts_missing || p.acl_id == p.settings.id {
            return Err(MErr::IncorrectSpaceHeader);
        }
        if self.state.is_some() {
            return Err(MErr::SpaceExists(p.space_id.clone()));
        }
        if self.live.contains(&p.acl_id) {
            return Err(MErr::AclListId(p.acl_id.clone()));
        }
        self.creation_check(&p.settings)?;
        self.state = Some(MState {
            space_id: p.space_id.clone(),
            acl_id: p.acl_id.clone(),
            settings_id: p.settings.id.clone(),
            header: p.header.clone(),
            hash: String::new(),
        });
        self.acl = vec![MAcl {
            id: p.acl_id.clone(),
            prev_id: String::new(),
            order: 1,
            raw: p.acl_root.clone(),
            size: p.acl_root.len() as u64,
        }];
        self.upsert(MUpdate {
            id: p.acl_id.clone(),
            heads: Some(vec![p.acl_id.clone()]),
            ..MUpdate::default()
        });
        self.create(&p.settings);
        Ok(())
    }

    /// `StateStorage::set_hash`: observers hear of a hash only when it differs from the stored
    /// one.
    fn set_hash(&mut self, hash: &str) -> Result<(), MErr> {
        let state = self.state.as_mut().ok_or(MErr::BareSpace)?;
        if state.hash != hash {
            state.hash = hash.to_string();
            self.hashes_told.push(hash.to_string());
        }
        Ok(())
    }

    /// `AclStorage::add_all`: every record's id and order are new (in the list and in the
    /// call), or nothing is kept; the head entry's heads become the last record given.
    fn add_acl(&mut self, records: &[MAcl]) -> Result<(), MErr> {
        let acl_id = self.state.as_ref().ok_or(MErr::BareSpace)?.acl_id.clone();
        let Some(last) = records.last() else {
            return Ok(());
        };
        for (k, r) in records.iter().enumerate() {
            let mut before = self.acl.iter().chain(&records[..k]);
            if before.clone().any(|x| x.id == r.id) {
                return Err(MErr::AclRecordExists(r.id.clone()));
            }
            if before.any(|x| x.order == r.order) {
                return Err(MErr::AclOrderInUse(r.id.clone(), r.order));
            }
        }
        let head = last.id.clone();
        self.acl.extend(records.iter().cloned());
        self.upsert(MUpdate {
            id: acl_id,
            heads: Some(vec![head]),
            ..MUpdate::default()
        });
        Ok(())
    }

    /// The ACL list's head: the head entry's one head, "" when it has none or several.
    fn acl_head(&self) -> Result<String, MErr> {
        let acl_id = &self.state.as_ref().ok_or(MErr::BareSpace)?.acl_id;
        let e = self
            .entries
            .get(acl_id)
            .ok_or_else(|| MErr::EntryNotFound(acl_id.clone()))?;
        Ok(match e.heads.as_slice() {
            [h] => h.clone(),
            _ => String::new(),
        })
    }

    /// The changes a handle sees as its tree's (order-id order not applied yet).
    fn tree_changes(&self, h: &MHandle) -> Vec<MChange> {
        if h.deferred {
            return vec![h.root_change.clone()];
        }
        self.changes
            .iter()
            .filter(|c| c.tree_id == h.root.id)
            .cloned()
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Model values as the crate's types, and comparisons.
// ---------------------------------------------------------------------------------------------

fn sc(m: &MChange) -> StorageChange {
    let mut c = StorageChange::new(m.id.as_str(), m.order_id.as_str(), m.raw.clone())
        .with_prev_ids(m.prev_ids.iter().map(String::as_str))
        .with_snapshot(m.snapshot_id.as_str(), m.snapshot_counter);
    c.tree_id = Id::from(m.tree_id.as_str());
    c.add_seq = m.add_seq;
    c.added = m.added;
    c
}

fn status(d: u8) -> DeletedStatus {
    match d {
        0 => DeletedStatus::NotDeleted,
        1 => DeletedStatus::Queued,
        _ => DeletedStatus::Deleted,
    }
}

fn entry(id: &str, e: &MEntry) -> HeadEntry {
    let mut entry = HeadEntry::new(id);
    entry.heads = e.heads.iter().map(Id::from).collect();
    entry.common_snapshot = Id::from(e.common_snapshot.as_str());
    entry.deleted_status = status(e.deleted);
    entry.is_derived = e.derived;
    entry.parent_id = e.parent.as_deref().map(Id::from);
    entry.last_add_seq = e.last;
    entry
}

fn ids(v: &[String]) -> Vec<Id> {
    v.iter().map(Id::from).collect()
}

fn acl_record(m: &MAcl) -> AclRecord {
    AclRecord::new(m.id.as_str(), m.prev_id.as_str(), m.order, m.raw.clone())
        .with_change_size(m.size)
}

fn tree_root(root: &MRoot) -> TreeRoot {
    let r = TreeRoot::new(root.id.as_str(), root.raw.clone()).with_order_id(root.order_id.as_str());
    if let Some(p) = &root.parent {
        r.with_parent(p.as_str(), root.derived)
    } else if root.derived {
        r.derived()
    } else {
        r
    }
}

fn same_error(e: &Error, m: &MErr) -> bool {
    match m {
        MErr::TreeExists(id) => matches!(e, Error::TreeExists(x) if x == id.as_str()),
        MErr::UnknownTree(id) => matches!(e, Error::UnknownTree(x) if x == id.as_str()),
        MErr::DuplicateChange(id) => matches!(e, Error::DuplicateChange(x) if x == id.as_str()),
        MErr::OrderIdInUse(t, o) => matches!(
            e,
            Error::OrderIdInUse { tree_id, order_id } if tree_id == t.as_str() && order_id == o.as_str()
        ),
        MErr::ParentNotFound(id) => matches!(e, Error::ParentNotFound(x) if x == id.as_str()),
        MErr::DerivedParent(id) => matches!(e, Error::DerivedParent(x) if x == id.as_str()),
        MErr::ChangeNotFound(id) => matches!(e, Error::ChangeNotFound(x) if x == id.as_str()),
        MErr::EntryNotFound(id) => matches!(e, Error::EntryNotFound(x) if x == id.as_str()),
        MErr::TreeDeleted(id) => matches!(e, Error::TreeDeleted(x) if x == id.as_str()),
        MErr::AddSeqExhausted => matches!(e, Error::AddSeqExhausted),
        MErr::SpaceExists(id) => matches!(e, Error::SpaceExists(x) if x == id.as_str()),
        MErr::BareSpace => matches!(e, Error::BareSpace),
        MErr::AclListId(id) => matches!(e, Error::AclListId(x) if x == id.as_str()),
        MErr::IncorrectSpaceHeader => matches!(e, Error::IncorrectSpaceHeader(_)),
        MErr::AclRecordExists(id) => matches!(e, Error::AclRecordExists(x) if x == id.as_str()),
        MErr::AclOrderInUse(i, o) => matches!(
            e,
            Error::AclOrderInUse { id, order } if id == i.as_str() && order == o
        ),
        MErr::AclRecordNotFound(id) => {
            matches!(e, Error::AclRecordNotFound(x) if x == id.as_str())
        }
    }
}

/// Compares a result of the crate with the model's: equal values, or the same error.
fn check<T: PartialEq + Debug>(
    what: &str,
    actual: Result<T, Error>,
    expected: Result<T, MErr>,
) -> Result<(), TestCaseError> {
    match (&actual, &expected) {
        (Ok(a), Ok(e)) => prop_assert_eq!(a, e, "{}", what),
        (Err(a), Err(e)) => prop_assert!(
            same_error(a, e),
            "{}: got error {:?}, the model expects {:?}",
            what,
            a,
            e
        ),
        _ => prop_assert!(
            false,
            "{}: got {:?}, the model expects {:?}",
            what,
            actual,
            expected
        ),
    }
    Ok(())
}

/// Cursor values to query with: around every interesting point of the counter.
fn seq_probes(counter: u64) -> Vec<u64> {
    let mut v = vec![
        0,
        1,
        2,
        counter / 2,
        counter.saturating_sub(1),
        counter,
        counter.saturating_add(1),
        u64::MAX,
    ];
    v.sort_unstable();
    v.dedup();
    v
}

fn check_handle(
    n: &str,
    h: &TreeStorage,
    mh: &MHandle,
    model: &Model,
) -> Result<(), TestCaseError> {
    let id = mh.root.id.as_str();
    prop_assert_eq!(h.id().as_str(), id, "{} id", n);
    prop_assert_eq!(h.is_deferred(), mh.deferred, "{} is_deferred", n);
    prop_assert_eq!(h.root(), sc(&mh.root_change), "{} root", n);

    let entry = || {
        model
            .entries
            .get(id)
            .ok_or_else(|| MErr::UnknownTree(id.to_string()))
    };
    let (heads, cs) = if mh.deferred {
        (Ok(vec![Id::from(id)]), Ok(Id::from(id)))
    } else {
        (
            entry().map(|e| ids(&e.heads)),
            entry().map(|e| Id::from(e.common_snapshot.as_str())),
        )
    };
    check(&format!("{n} ({id}) heads"), h.heads(), heads)?;
    check(
        &format!("{n} ({id}) common_snapshot"),
        h.common_snapshot(),
        cs,
    )?;

    for x in IDS {
        let found = if mh.deferred {
            (x == id).then(|| mh.root_change.clone())
        } else {
            model.find(x).cloned()
        };
        prop_assert_eq!(h.has(x), found.is_some(), "{} ({}) has({})", n, id, x);
        check(
            &format!("{n} ({id}) get({x})"),
            h.get(x),
            found
                .map(|c| sc(&c))
                .ok_or_else(|| MErr::ChangeNotFound(x.to_string())),
        )?;
    }

    let mut tree = model.tree_changes(mh);
    tree.sort_by(|a, b| a.order_id.cmp(&b.order_id));
    for o in ORDER_PROBES {
        let expected: Vec<_> = tree
            .iter()
            .filter(|c| c.order_id.as_str() >= o)
            .map(sc)
            .collect();
        let what = format!("{n} ({id}) changes_after_order({o:?})");
        let read: Vec<StorageChange> = h.changes_after_order(o).map(StorageChange::from).collect();
        prop_assert_eq!(&read, &expected, "{}", what);
    }
    for s in seq_probes(model.counter) {
        let expected: Vec<_> = tree.iter().filter(|c| c.add_seq > s).map(sc).collect();
        let what = format!("{n} ({id}) changes_after_add_seq({s})");
        let read: Vec<StorageChange> = h
            .changes_after_add_seq(s)
            .map(StorageChange::from)
            .collect();
        prop_assert_eq!(&read, &expected, "{}", what);
    }

    // The callback forms stop at Break and return the callback's error.
    let mut first = Vec::new();
    h.get_after_order("", |c| {
        first.push(c.clone());
        Ok(ControlFlow::Break(()))
    })
    .unwrap();
    prop_assert_eq!(
        first,
        tree.iter().take(1).map(sc).collect::<Vec<_>>(),
        "{} get_after_order with Break",
        n
    );
    let r = h.get_after_add_seq(0, |_| Err(Error::callback("stop")));
    let any_after_zero = tree.iter().any(|c| c.add_seq > 0);
    prop_assert_eq!(
        callback_error(r),
        if any_after_zero {
            Err("stop".into())
        } else {
            Ok(())
        },
        "{} get_after_add_seq returning an error",
        n
    );
    Ok(())
}

/// What a head observer registered on the space has been told since the last check.
type Told = Arc<Mutex<Vec<HeadEntry>>>;

/// The observers registered on the open space, and what they were told since the last check.
/// Observers do not survive a reopen: `attach` registers them on a space just opened.
#[derive(Default)]
struct Watch {
    heads: Told,
    hashes: Arc<Mutex<Vec<String>>>,
    heads_guard: Option<ObserverGuard>,
    /// Registered once the space is whole (a bare space has no state storage).
    hash_guard: Option<ObserverGuard>,
}

impl Watch {
    /// Registers the head observer, and the hash observer when the space is whole, unless they
    /// are registered already.
    fn attach(&mut self, space: &Space) {
        if self.heads_guard.is_none() {
            let sink = Arc::clone(&self.heads);
            self.heads_guard = Some(
                space
                    .head_storage()
                    .add_observer(move |e: &HeadEntry| sink.lock().unwrap().push(e.clone())),
            );
        }
        if self.hash_guard.is_none() {
            if let Ok(state) = space.state_storage() {
                let sink = Arc::clone(&self.hashes);
                self.hash_guard = Some(
                    state.add_observer(move |h: &str| sink.lock().unwrap().push(h.to_string())),
                );
            }
        }
    }

    /// Unregisters both observers (before the space is closed).
    fn detach(&mut self) {
        self.heads_guard = None;
        self.hash_guard = None;
    }
}

fn check_all(
    watch: &mut Watch,
    space: &Space,
    handles: &[TreeStorage],
    model: &mut Model,
    mhandles: &[MHandle],
) -> Result<(), TestCaseError> {
    let told = std::mem::take(&mut *watch.heads.lock().unwrap());
    let expected: Vec<_> = model
        .notified
        .drain(..)
        .map(|(id, e)| entry(&id, &e))
        .collect();
    prop_assert_eq!(told, expected, "head observer notifications");
    let told = std::mem::take(&mut *watch.hashes.lock().unwrap());
    let expected = std::mem::take(&mut model.hashes_told);
    prop_assert_eq!(told, expected, "hash observer notifications");
    // A space made whole by the last step gets its hash observer now (no hash was set since).
    watch.attach(space);
    let model = &*model;
    prop_assert_eq!(space.add_seq(), model.counter, "space.add_seq()");
    prop_assert_eq!(space.counter().get(), model.counter, "space.counter()");
    check_reads(space, handles, model, mhandles)
}

/// Every read of a whole space's state storage and ACL list (or, for a bare space, that it has
/// neither) against the model. The ACL list's head entry is compared with the other entries.
fn check_whole_space(space: &Space, model: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        space.id(),
        model.state.as_ref().map(|s| Id::from(s.space_id.as_str())),
        "space.id()"
    );
    let Some(ms) = &model.state else {
        let state = space.state_storage();
        prop_assert!(
            matches!(state, Err(Error::BareSpace)),
            "state_storage() of a bare space: {:?}",
            state
        );
        let acl = space.acl_storage();
        prop_assert!(
            matches!(acl, Err(Error::BareSpace)),
            "acl_storage() of a bare space: {:?}",
            acl
        );
        return Ok(());
    };

    let storage = space.state_storage();
    prop_assert!(storage.is_ok(), "state_storage(): {:?}", storage);
    let storage = storage.unwrap();
    prop_assert_eq!(
        storage.settings_id().as_str(),
        ms.settings_id.as_str(),
        "settings_id()"
    );
    let state = storage.get_state();
    prop_assert_eq!(
        state.space_id.as_str(),
        ms.space_id.as_str(),
        "state.space_id"
    );
    prop_assert_eq!(state.acl_id.as_str(), ms.acl_id.as_str(), "state.acl_id");
    prop_assert_eq!(
        state.settings_id.as_str(),
        ms.settings_id.as_str(),
        "state.settings_id"
    );
    prop_assert_eq!(
        &state.space_header[..],
        &ms.header[..],
        "state.space_header"
    );
    prop_assert_eq!(state.new_hash.as_str(), ms.hash.as_str(), "state.new_hash");

    let acl = space.acl_storage();
    prop_assert!(acl.is_ok(), "acl_storage(): {:?}", acl);
    let acl = acl.unwrap();
    prop_assert_eq!(acl.id().as_str(), ms.acl_id.as_str(), "acl.id()");
    prop_assert_eq!(acl.len(), model.acl.len(), "acl.len()");
    prop_assert_eq!(acl.is_empty(), model.acl.is_empty(), "acl.is_empty()");
    let find = |id: &str| {
        model
            .acl
            .iter()
            .find(|r| r.id == id)
            .map(acl_record)
            .ok_or_else(|| MErr::AclRecordNotFound(id.to_string()))
    };
    check("acl.root()", acl.root(), find(&ms.acl_id))?;
    check(
        "acl.head()",
        acl.head(),
        model.acl_head().map(|h| Id::from(h.as_str())),
    )?;
    // One id past the alphabet: never a record.
    for x in &IDS[..=ACL_IDS] {
        let found = find(x);
        prop_assert_eq!(acl.has(x), found.is_ok(), "acl.has({})", x);
        check(&format!("acl.get({x})"), acl.get(x), found)?;
    }

    let mut by_order: Vec<&MAcl> = model.acl.iter().collect();
    by_order.sort_by_key(|r| r.order);
    for o in ACL_ORDER_PROBES {
        let after: Vec<_> = by_order
            .iter()
            .filter(|r| r.order >= o)
            .map(|r| acl_record(r))
            .collect();
        prop_assert_eq!(
            acl.records_after_order(o).collect::<Vec<_>>(),
            after,
            "acl.records_after_order({})",
            o
        );
        let before: Vec<_> = by_order
            .iter()
            .filter(|r| r.order <= o)
            .map(|r| acl_record(r))
            .collect();
        prop_assert_eq!(
            acl.records_before_order(o).collect::<Vec<_>>(),
            before,
            "acl.records_before_order({})",
            o
        );
    }
    // The callback forms stop at Break and return the callback's error.
    let mut first = Vec::new();
    acl.get_after_order(2, |r| {
        first.push(r.clone());
        Ok(if first.len() == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    })
    .unwrap();
    let expected: Vec<_> = by_order
        .iter()
        .filter(|r| r.order >= 2)
        .take(2)
        .map(|r| acl_record(r))
        .collect();
    prop_assert_eq!(first, expected, "acl.get_after_order(2) with Break");
    let r = acl.get_before_order(0, |_| Err(Error::callback("stop")));
    let any_zero = model.acl.iter().any(|r| r.order == 0);
    prop_assert_eq!(
        callback_error(r),
        if any_zero { Err("stop".into()) } else { Ok(()) },
        "acl.get_before_order(0) returning an error"
    );
    Ok(())
}

/// Every read of the space (its counts, its AddSeq feed, each tree opened by id, each of
/// `handles`, the head storage, the state and the ACL list) against the model. The counter itself is not compared here
/// (callers do: exactly, or as a lower bound after a reopen).
fn check_reads(
    space: &Space,
    handles: &[TreeStorage],
    model: &Model,
    mhandles: &[MHandle],
) -> Result<(), TestCaseError> {
    prop_assert_eq!(space.change_count(), model.changes.len(), "change_count");
    prop_assert_eq!(space.tree_count(), model.live.len(), "tree_count");
    prop_assert_eq!(space.head_count(), model.entries.len(), "head_count");
    check_whole_space(space, model)?;

    // The space's AddSeq feed: AddSeq order, a batch's changes in the order given.
    let mut by_seq: Vec<&MChange> = model.changes.iter().collect();
    by_seq.sort_by_key(|c| (c.add_seq, c.ins));
    for x in seq_probes(model.counter) {
        let expected: Vec<_> = by_seq
            .iter()
            .filter(|c| c.add_seq > x)
            .map(|c| sc(c))
            .collect();
        prop_assert_eq!(
            space
                .changes_after_add_seq(x)
                .map(StorageChange::from)
                .collect::<Vec<_>>(),
            expected,
            "changes_after_add_seq({})",
            x
        );
    }

    // Opening trees.
    for id in &IDS[..ENTRY_IDS] {
        let opened = space.tree_storage(id);
        let expected = model.open(id);
        match (opened, expected) {
            (Ok(h), Ok(mh)) => check_handle(&format!("tree_storage({id})"), &h, &mh, model)?,
            (Err(a), Err(e)) => prop_assert!(
                same_error(&a, &e),
                "tree_storage({}): got {:?}, the model expects {:?}",
                id,
                a,
                e
            ),
            (a, e) => prop_assert!(
                false,
                "tree_storage({}): got {:?}, the model expects {:?}",
                id,
                a.map(|h| h.id().clone()),
                e
            ),
        }
    }

    prop_assert_eq!(
        handles.len(),
        mhandles.len(),
        "tree handles held by the test and by the model"
    );
    for (n, (h, mh)) in handles.iter().zip(mhandles).enumerate() {
        check_handle(&format!("handle #{n}"), h, mh, model)?;
    }

    // The head storage.
    let hs = space.head_storage();
    for id in &IDS[..ENTRY_IDS] {
        check(
            &format!("get_entry({id})"),
            hs.get_entry(id),
            model
                .entries
                .get(*id)
                .map(|e| entry(id, e))
                .ok_or_else(|| MErr::EntryNotFound(id.to_string())),
        )?;
        let expected: Vec<_> = model
            .entries
            .iter()
            .filter(|(_, e)| e.parent.as_deref() == Some(*id))
            .map(|(k, e)| entry(k, e))
            .collect();
        prop_assert_eq!(
            hs.entries_by_parent_id(id)
                .map(Arc::unwrap_or_clone)
                .collect::<Vec<_>>(),
            expected,
            "entries_by_parent_id({})",
            id
        );
    }
    let max = model.entries.values().filter_map(|e| e.last).max();
    prop_assert_eq!(hs.max_last_add_seq(), max.unwrap_or(0), "max_last_add_seq");

    let mut mins = seq_probes(model.counter);
    mins.extend(model.entries.values().filter_map(|e| e.last));
    mins.sort_unstable();
    mins.dedup();
    let which = [
        (IterOptions::live(), Some(false)),
        (IterOptions::deleted(), Some(true)),
        (IterOptions::all(), None),
    ];
    for (base, deleted) in which {
        for &min in &mins {
            let opts = base.min_last_add_seq(min);
            let mut actual: Vec<HeadEntry> = hs.entries(opts).map(Arc::unwrap_or_clone).collect();
            let mut expected: Vec<HeadEntry> = model
                .entries
                .iter()
                .filter(|(_, e)| deleted.is_none_or(|d| (e.deleted >= 1) == d))
                .filter(|(_, e)| min == 0 || e.last.is_some_and(|s| s > min))
                .map(|(k, e)| entry(k, e))
                .collect();
            if min > 0 {
                // Sorted by last_add_seq, ties in any order.
                prop_assert!(
                    actual
                        .windows(2)
                        .all(|w| w[0].last_add_seq <= w[1].last_add_seq),
                    "entries({:?}) is not sorted by last_add_seq: {:?}",
                    opts,
                    actual
                );
                actual.sort_by(|a, b| (a.last_add_seq, &a.id).cmp(&(b.last_add_seq, &b.id)));
                expected.sort_by(|a, b| (a.last_add_seq, &a.id).cmp(&(b.last_add_seq, &b.id)));
            }
            prop_assert_eq!(&actual, &expected, "entries({:?})", opts);

            // iterate_entries stops at Break, and returns the callback's error.
            let mut prefix = Vec::new();
            hs.iterate_entries(opts, |e| {
                prefix.push(e.clone());
                Ok(if prefix.len() == 2 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            })
            .unwrap();
            prop_assert_eq!(prefix.len(), expected.len().min(2), "iterate_entries Break");
            let r = hs.iterate_entries(opts, |_| Err(Error::callback("stop")));
            prop_assert_eq!(
                callback_error(r),
                if expected.is_empty() {
                    Ok(())
                } else {
                    Err("stop".into())
                },
                "iterate_entries returning an error"
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Operations.
// ---------------------------------------------------------------------------------------------

/// Which handle an operation goes to: the newest one (to make first writes to deferred storages
/// frequent) or any.
#[derive(Clone, Debug)]
struct Pick {
    newest: bool,
    index: Index,
}

impl Pick {
    fn get(&self, len: usize) -> usize {
        if self.newest {
            len - 1
        } else {
            self.index.index(len)
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Create {
        tree: usize,
        parent: Option<usize>,
        derived: bool,
        root_order: usize,
        deferred: bool,
    },
    Open {
        tree: usize,
    },
    Add {
        handle: Pick,
        /// (change id, order id) indexes.
        changes: Vec<(usize, usize)>,
        heads: Vec<usize>,
        /// `Heads::Unchanged` (Go's nil heads) instead of `heads`.
        keep_heads: bool,
        common_snapshot: usize,
        no_error: bool,
    },
    Delete {
        handle: Pick,
    },
    UpdateEntry {
        id: usize,
        heads: Option<Vec<usize>>,
        common_snapshot: Option<usize>,
        deleted: Option<u8>,
        derived: Option<bool>,
        parent: Option<usize>,
        last_add_seq: Option<u64>,
    },
    DeleteEntry {
        id: usize,
    },
    /// `space.create_space` of a payload.
    CreateSpace {
        /// Index into `SPACE_IDS` (valid or not).
        space_id: usize,
        /// The ACL list's id.
        acl: usize,
        /// The settings root: its id, parent, derived flag and order id, as `Create`'s.
        settings: usize,
        parent: Option<usize>,
        derived: bool,
        root_order: usize,
        /// A part given without bytes (which `validate` refuses): 0 the header, 1 the ACL
        /// root, 2 the settings root.
        empty: Option<u8>,
    },
    /// `state_storage().set_hash` of `HASHES[_]`.
    SetHash(usize),
    /// `acl_storage().add_all` of records (id, prev id, order, change size when not the raw
    /// bytes' length).
    AddAcl(Vec<(usize, Option<usize>, u64, Option<u64>)>),
}

fn pick() -> impl Strategy<Value = Pick> {
    (prop::bool::weighted(0.4), any::<Index>()).prop_map(|(newest, index)| Pick { newest, index })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (
            0..TREE_IDS,
            prop::option::weighted(0.35, prop_oneof![6 => 0..TREE_IDS, 1 => Just(TREE_IDS)]),
            prop::bool::weighted(0.25),
            0..ROOT_ORDERS.len(),
            any::<bool>(),
        )
            .prop_map(|(tree, parent, derived, root_order, deferred)| Op::Create {
                tree,
                parent,
                derived,
                root_order,
                deferred,
            }),
        1 => (0..ENTRY_IDS).prop_map(|tree| Op::Open { tree }),
        8 => (
            pick(),
            prop::collection::vec((0..IDS.len(), 0..ORDERS.len()), 0..4),
            prop::collection::vec(0..IDS.len(), 0..3),
            prop::bool::weighted(0.3),
            0..IDS.len(),
            prop::bool::weighted(0.3),
        )
            .prop_map(
                |(handle, changes, heads, keep_heads, common_snapshot, no_error)| Op::Add {
                    handle,
                    changes,
                    heads,
                    keep_heads,
                    common_snapshot,
                    no_error,
                },
            ),
        1 => pick().prop_map(|handle| Op::Delete { handle }),
        2 => (
            0..ENTRY_IDS,
            prop::option::of(prop::collection::vec(0..IDS.len(), 0..3)),
            prop::option::of(0..IDS.len()),
            prop::option::of(0u8..3),
            prop::option::of(any::<bool>()),
            prop::option::of(0..ENTRY_IDS),
            prop::option::of(prop_oneof![9 => 0u64..40, 1 => Just(u64::MAX)]),
        )
            .prop_map(
                |(id, heads, common_snapshot, deleted, derived, parent, last_add_seq)| {
                    Op::UpdateEntry {
                        id,
                        heads,
                        common_snapshot,
                        deleted,
                        derived,
                        parent,
                        last_add_seq,
                    }
                }
            ),
        1 => (0..ENTRY_IDS).prop_map(|id| Op::DeleteEntry { id }),
        // Weighty enough that most cases make the space whole within their first few steps.
        4 => (
            prop_oneof![12 => 0..3usize, 1 => 3..SPACE_IDS.len()],
            0..ENTRY_IDS,
            0..TREE_IDS,
            prop::option::weighted(0.15, prop_oneof![6 => 0..TREE_IDS, 1 => Just(TREE_IDS)]),
            prop::bool::weighted(0.25),
            0..ROOT_ORDERS.len(),
            prop::option::weighted(0.05, 0u8..3),
        )
            .prop_map(
                |(space_id, acl, settings, parent, derived, root_order, empty)| {
                    Op::CreateSpace {
                        space_id,
                        acl,
                        settings,
                        parent,
                        derived,
                        root_order,
                        empty,
                    }
                }
            ),
        1 => (0..HASHES.len()).prop_map(Op::SetHash),
        2 => prop_oneof![1 => Just(0..1usize), 6 => Just(1..4usize)]
            .prop_flat_map(|len| prop::collection::vec(
                (
                    0..ACL_IDS,
                    prop::option::of(0..ACL_IDS),
                    0..=ACL_ORDER_MAX,
                    prop::option::weighted(0.2, 0u64..100),
                ),
                len,
            ))
            .prop_map(Op::AddAcl),
    ]
}

/// A change's raw bytes: its label, padded to between 64 and 1023 bytes, so that a
/// durability case writes enough log to roll tiny segments and trigger automatic checkpoints.
fn payload(label: &str, n: usize) -> Vec<u8> {
    let mut raw = label.as_bytes().to_vec();
    raw.resize(64 + n * 97 % 960, b'.');
    raw
}

fn names(v: &[usize]) -> Vec<String> {
    v.iter().map(|&i| IDS[i].to_string()).collect()
}

/// Runs one operation on both sides and compares the results.
/// Unix seconds now, as the store reads its clock for `added`.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Runs one operation ([`step_op`]), then [`stamp`]s what it stored.
fn step(
    step_no: usize,
    op: &Op,
    space: &Space,
    handles: &mut Vec<TreeStorage>,
    model: &mut Model,
    mhandles: &mut Vec<MHandle>,
) -> Result<(), TestCaseError> {
    let before = now();
    step_op(step_no, op, space, handles, model, mhandles)?;
    stamp(space, handles, model, mhandles, before, now())
}

/// The `added` time of every change (and handle root) the model does not know one of yet is
/// read from the space, and must lie in `[before, after]`, the clock around the step that
/// stored it; the model keeps it, so every later read must show the same.
fn stamp(
    space: &Space,
    handles: &[TreeStorage],
    model: &mut Model,
    mhandles: &mut [MHandle],
    before: u64,
    after: u64,
) -> Result<(), TestCaseError> {
    let in_step = |what: &str, added: u64| {
        prop_assert!(
            (before..=after).contains(&added),
            "{} stored at {}, outside the step's [{}, {}]",
            what,
            added,
            before,
            after
        );
        Ok(())
    };
    for (h, mh) in handles.iter().zip(mhandles.iter_mut()) {
        if mh.root_change.added == 0 {
            let added = h.root().added;
            in_step(&format!("the root of handle {}", mh.root.id), added)?;
            mh.root_change.added = added;
        }
    }
    if model.changes.iter().all(|c| c.added != 0) {
        return Ok(());
    }
    let stored: BTreeMap<String, u64> = space
        .changes_after_add_seq(0)
        .map(StorageChange::from)
        .map(|c| (c.id.to_string(), c.added))
        .collect();
    for c in model.changes.iter_mut().filter(|c| c.added == 0) {
        let added = if c.add_seq == 0 {
            space.tree_storage(&c.tree_id).map(|t| t.root().added)
        } else {
            stored
                .get(&c.id)
                .copied()
                .ok_or(Error::ChangeNotFound(Id::from(c.id.as_str())))
        };
        let added = added.map_err(|e| TestCaseError::fail(format!("{}: {e}", c.id)))?;
        in_step(&format!("change {}", c.id), added)?;
        c.added = added;
    }
    Ok(())
}

fn step_op(
    step_no: usize,
    op: &Op,
    space: &Space,
    handles: &mut Vec<TreeStorage>,
    model: &mut Model,
    mhandles: &mut Vec<MHandle>,
) -> Result<(), TestCaseError> {
    let what = format!("step {step_no}: {op:?}");
    match op {
        Op::Create {
            tree,
            parent,
            derived,
            root_order,
            deferred,
        } => {
            let root = MRoot {
                id: IDS[*tree].to_string(),
                raw: format!("root {} #{step_no}", IDS[*tree]).into_bytes(),
                order_id: ROOT_ORDERS[*root_order].to_string(),
                parent: parent.map(|p| IDS[p].to_string()),
                derived: *derived,
            };
            let r = tree_root(&root);
            let (actual, expected) = if *deferred {
                (
                    space.create_storage_with_deferred_creation(r),
                    model.create_deferred(root),
                )
            } else {
                (
                    space.create_tree_storage(r),
                    model.create_tree_storage(root),
                )
            };
            match (actual, expected) {
                (Ok(h), Ok(mh)) => {
                    handles.push(h);
                    mhandles.push(mh);
                }
                (a, e) => check(&what, a.map(|_| ()), e.map(|_| ()))?,
            }
        }
        Op::Open { tree } => match (space.tree_storage(IDS[*tree]), model.open(IDS[*tree])) {
            (Ok(h), Ok(mh)) => {
                handles.push(h);
                mhandles.push(mh);
            }
            (a, e) => check(&what, a.map(|_| ()), e.map(|_| ()))?,
        },
        Op::Add {
            handle,
            changes,
            heads,
            keep_heads,
            common_snapshot,
            no_error,
        } => {
            if handles.is_empty() {
                return Ok(());
            }
            let n = handle.get(handles.len());
            let heads = names(heads);
            let cs = IDS[*common_snapshot];
            let input: Vec<MInput> = changes
                .iter()
                .enumerate()
                .map(|(k, &(c, o))| MInput {
                    id: IDS[c].to_string(),
                    order_id: ORDERS[o].to_string(),
                    raw: payload(&format!("{} @{step_no}.{k}", IDS[c]), step_no + k),
                    prev_ids: heads.clone(),
                    snapshot_id: cs.to_string(),
                    snapshot_counter: step_no as u32,
                })
                .collect();
            let batch: Vec<StorageChange> = input
                .iter()
                .map(|c| {
                    let mut s =
                        StorageChange::new(c.id.as_str(), c.order_id.as_str(), c.raw.clone())
                            .with_prev_ids(c.prev_ids.iter())
                            .with_snapshot(c.snapshot_id.as_str(), c.snapshot_counter);
                    // The storage sets these itself, whatever the caller put there.
                    s.tree_id = Id::from("junk");
                    s.add_seq = 999_999;
                    s
                })
                .collect();
            let new_heads = (!*keep_heads).then_some(&heads[..]);
            let expected = model.add(&mut mhandles[n], &input, new_heads, cs, *no_error);
            let to_set = match new_heads {
                None => Heads::Unchanged,
                Some(h) => Heads::set(h.iter().map(String::as_str)),
            };
            if *no_error {
                let actual = handles[n]
                    .add_all_no_error(batch, to_set, cs)
                    .map(|o: AddOutcome| (o.add_seq, o.inserted, o.skipped));
                let expected = expected
                    .map(|(add_seq, inserted, skipped)| (add_seq, ids(&inserted), ids(&skipped)));
                check(&what, actual, expected)?;
            } else {
                let actual = handles[n].add_all(batch, to_set, cs);
                check(&what, actual, expected.map(|(seq, _, _)| seq))?;
            }
        }
        Op::Delete { handle } => {
            if handles.is_empty() {
                return Ok(());
            }
            let n = handle.get(handles.len());
            let expected = model.delete(&mut mhandles[n]);
            check(&what, handles[n].delete(), expected)?;
        }
        Op::UpdateEntry {
            id,
            heads,
            common_snapshot,
            deleted,
            derived,
            parent,
            last_add_seq,
        } => {
            let u = MUpdate {
                id: IDS[*id].to_string(),
                heads: heads.as_deref().map(names),
                common_snapshot: common_snapshot.map(|c| IDS[c].to_string()),
                deleted: *deleted,
                derived: *derived,
                parent: parent.map(|p| IDS[p].to_string()),
                last: *last_add_seq,
            };
            let mut hu = HeadUpdate::new(u.id.as_str());
            if let Some(h) = &u.heads {
                hu = hu.heads(h.iter());
            }
            if let Some(c) = &u.common_snapshot {
                hu = hu.common_snapshot(c.as_str());
            }
            if let Some(d) = u.deleted {
                hu = hu.deleted_status(status(d));
            }
            if let Some(d) = u.derived {
                hu = hu.is_derived(d);
            }
            if let Some(p) = &u.parent {
                hu = hu.parent_id(p.as_str());
            }
            if let Some(s) = u.last {
                hu = hu.last_add_seq(s);
            }
            let id = u.id.clone();
            let expected = model.upsert(u);
            check(
                &what,
                space.head_storage().update_entry(hu),
                Ok(entry(&id, &expected)),
            )?;
        }
        Op::DeleteEntry { id } => {
            model.entries.remove(IDS[*id]);
            check(&what, space.head_storage().delete_entry(IDS[*id]), Ok(()))?;
        }
        Op::CreateSpace {
            space_id,
            acl,
            settings,
            parent,
            derived,
            root_order,
            empty,
        } => {
            let (sid, id_valid) = SPACE_IDS[*space_id];
            let bytes = |part: u8, text: String| {
                if *empty == Some(part) {
                    Vec::new()
                } else {
                    text.into_bytes()
                }
            };
            let p = MPayload {
                space_id: sid.to_string(),
                id_valid,
                header: bytes(0, format!("header of {sid} #{step_no}")),
                acl_id: IDS[*acl].to_string(),
                acl_root: bytes(1, format!("acl root {} #{step_no}", IDS[*acl])),
                settings: MRoot {
                    id: IDS[*settings].to_string(),
                    raw: bytes(2, format!("settings {} #{step_no}", IDS[*settings])),
                    order_id: ROOT_ORDERS[*root_order].to_string(),
                    parent: parent.map(|p| IDS[p].to_string()),
                    derived: *derived,
                },
            };
            let payload = SpacePayload::new(
                sid,
                p.header.clone(),
                p.acl_id.as_str(),
                p.acl_root.clone(),
                tree_root(&p.settings),
            );
            let expected = model.create_space(&p);
            let created = expected.is_ok();
            check(&what, space.create_space(payload).map(drop), expected)?;
            if created {
                // The settings tree is a tree like any other: later steps write to it too.
                let id = p.settings.id.as_str();
                match (space.tree_storage(id), model.open(id)) {
                    (Ok(h), Ok(mh)) => {
                        handles.push(h);
                        mhandles.push(mh);
                    }
                    (a, e) => check(
                        &format!("{what}: tree_storage({id})"),
                        a.map(|_| ()),
                        e.map(|_| ()),
                    )?,
                }
            }
        }
        Op::SetHash(h) => {
            let expected = model.set_hash(HASHES[*h]);
            let actual = space
                .state_storage()
                .and_then(|state| state.set_hash(HASHES[*h]));
            check(&what, actual, expected)?;
        }
        Op::AddAcl(records) => {
            let mut given = Vec::new();
            let mut input = Vec::new();
            for (k, &(id, prev, order, size)) in records.iter().enumerate() {
                let raw = payload(&format!("acl {} @{step_no}.{k}", IDS[id]), step_no + k);
                let m = MAcl {
                    id: IDS[id].to_string(),
                    prev_id: prev.map_or("", |p| IDS[p]).to_string(),
                    order,
                    size: size.unwrap_or(raw.len() as u64),
                    raw,
                };
                let r = AclRecord::new(m.id.as_str(), m.prev_id.as_str(), order, m.raw.clone());
                given.push(match size {
                    Some(s) => r.with_change_size(s),
                    None => r,
                });
                input.push(m);
            }
            let expected = model.add_acl(&input);
            let actual = space.acl_storage().and_then(|acl| acl.add_all(given));
            check(&what, actual, expected)?;
        }
    }
    Ok(())
}

/// `PROPTEST_CASES` when set, else `default`.
fn cases_or(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases_or(256),
        // Keep the test to this one file: no regression files are written.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn space_matches_reference_model_under_random_operations(
        ops in prop::collection::vec(op(), 1..40)
    ) {
        let space = Space::in_memory();
        let mut watch = Watch::default();
        watch.attach(&space);
        let mut handles = Vec::new();
        let mut model = Model::default();
        let mut mhandles = Vec::new();
        check_all(&mut watch, &space, &handles, &mut model, &mhandles)?;
        for (step_no, op) in ops.iter().enumerate() {
            step(step_no, op, &space, &mut handles, &mut model, &mut mhandles)?;
            check_all(&mut watch, &space, &handles, &mut model, &mhandles)
                .map_err(|e| TestCaseError::fail(format!("after step {step_no} ({op:?}): {e}")))?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Durability: the same operations on a space with a log, reopened along the way.
// ---------------------------------------------------------------------------------------------

/// How a case's space directory is opened (the same options at every reopen of the case).
#[derive(Clone, Debug)]
struct Setup {
    sync: bool,
    /// Tiny segments (rolls every few frames) and automatic checkpoints once the log is twice
    /// the live data and over this many bytes, instead of the default segment size with
    /// automatic checkpoints off.
    small: Option<u64>,
    /// Reserve only a few seqs ahead, so that reservation frames happen between reopens too.
    short_reservations: bool,
}

impl Setup {
    fn options(&self) -> Options {
        let options = Options::default().durability(if self.sync {
            Durability::Sync
        } else {
            Durability::Buffered
        });
        let options = if let Some(min_bytes) = self.small {
            options
                .segment_size(512)
                .auto_checkpoint(Some(2), min_bytes)
                .background_checkpoints(false)
                .bytes_per_sync(None)
        } else {
            options.auto_checkpoint(None, 0)
        };
        if self.short_reservations {
            options.reserve_ahead(3)
        } else {
            options
        }
    }
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        any::<bool>(),
        prop::option::of(prop_oneof![Just(4096u64), Just(1024)]),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(sync, small, short_reservations)| Setup {
            sync,
            small,
            short_reservations,
        })
}

#[derive(Clone, Debug)]
enum DurableOp {
    /// One of the in-memory test's operations.
    Op(Op),
    /// Drop every handle and the space (a clean close), open the directory again, and get the
    /// tree handles back by id.
    Reopen,
    /// `space.checkpoint()`.
    Checkpoint,
    /// Compare the reads of `Space::open_read_only` of the directory, with the space open.
    ReopenReadOnly,
}

fn durable_op() -> impl Strategy<Value = DurableOp> {
    prop_oneof![
        20 => op().prop_map(DurableOp::Op),
        2 => Just(DurableOp::Reopen),
        1 => Just(DurableOp::Checkpoint),
        1 => Just(DurableOp::ReopenReadOnly),
    ]
}

/// A case's temporary directory. The test simulates no crash, so the log's fsyncs only cost
/// time: on a memory file system (`/dev/shm`, where there is one) they are free, and a case does
/// not wait on a disk shared with other work. `SPACESTORE_MODEL_DIR` names another parent (a
/// real disk, say).
fn case_dir() -> tempfile::TempDir {
    let builder = || {
        let mut b = tempfile::Builder::new();
        b.prefix("spacestore-model-");
        b
    };
    let parent = std::env::var_os("SPACESTORE_MODEL_DIR")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/dev/shm")).filter(|p| p.is_dir()));
    parent
        .and_then(|p| builder().tempdir_in(p).ok())
        .unwrap_or_else(|| builder().tempdir().unwrap())
}

/// Opens the directory and registers the head observer, and the hash observer when the space
/// is whole (observers do not survive a reopen).
fn open_space(dir: &Path, options: &Options, watch: &mut Watch) -> Result<Space, TestCaseError> {
    let space = Space::create(dir, options.clone())
        .map_err(|e| TestCaseError::fail(format!("Space::open: {e}")))?;
    watch.detach();
    watch.attach(&space);
    Ok(space)
}

/// What replay must have found in a log this test wrote: no torn tail (every write finished),
/// nothing repaired, and no logged record refused (records are checked before they are logged,
/// and writes here never race).
fn check_report(what: &str, space: &Space) -> Result<(), TestCaseError> {
    let report = space.recovery_report();
    prop_assert!(report.is_some(), "{}: no recovery report", what);
    let report = report.unwrap();
    prop_assert!(
        report.torn_tail.is_none(),
        "{}: torn tail {:?}",
        what,
        report.torn_tail
    );
    prop_assert!(
        report.repaired.is_none(),
        "{}: repaired {:?}",
        what,
        report.repaired
    );
    prop_assert_eq!(
        report.refused_records,
        0,
        "{}: records refused by replay",
        what
    );
    prop_assert_eq!(
        report.add_seq,
        space.add_seq(),
        "{}: the report's counter",
        what
    );
    Ok(())
}

/// A case of the durability test: the directory, the open space, its handles, and the model.
struct Durable {
    dir: tempfile::TempDir,
    options: Options,
    space: Option<Space>,
    /// The open space's observers.
    watch: Watch,
    handles: Vec<TreeStorage>,
    model: Model,
    mhandles: Vec<MHandle>,
    /// The highest seq ever handed out (by a batch that succeeded or failed), over every open of
    /// the directory. No seq at or below it may be handed out again.
    handed_out: u64,
}

impl Durable {
    fn path(&self) -> PathBuf {
        self.dir.path().join("space")
    }

    fn space(&self) -> &Space {
        self.space.as_ref().expect("the space is open")
    }

    fn check_all(&mut self) -> Result<(), TestCaseError> {
        let space = self.space.as_ref().expect("the space is open");
        check_all(
            &mut self.watch,
            space,
            &self.handles,
            &mut self.model,
            &self.mhandles,
        )?;
        prop_assert_eq!(space.writes_refused(), None, "writes_refused");
        // Every seq handed out is durably reserved first.
        let log = space.log_stats().unwrap();
        prop_assert!(
            log.reserved >= space.add_seq(),
            "reserved {} below the counter {}",
            log.reserved,
            space.add_seq()
        );
        Ok(())
    }

    /// Closes the space cleanly and opens the directory again.
    fn reopen(&mut self) -> Result<(), TestCaseError> {
        // Between reopens the counter is exact, so the last seq handed out is the counter.
        self.handed_out = self.handed_out.max(self.model.counter);
        // Every handle holds the space open (and its directory locked): drop them all.
        self.handles.clear();
        self.watch.detach();
        self.space = None;
        let path = self.path();
        let space = open_space(&path, &self.options, &mut self.watch)?;
        check_report("reopen", &space)?;

        // The counter continues at or above every seq handed out before; it may jump (a
        // reservation), so from here on the model counts from wherever it restarted. Every
        // later batch then takes counter + 1 > every seq handed out: no reuse.
        let restarted = space.add_seq();
        prop_assert!(
            restarted >= self.handed_out,
            "after a reopen the counter is {}, below the seq {} handed out before",
            restarted,
            self.handed_out
        );
        self.model.counter = restarted;

        // Deferred handles that never wrote existed only in memory: they are gone. The others
        // are opened again by id; a handle whose tree was deleted cannot be.
        for mh in std::mem::take(&mut self.mhandles) {
            if mh.deferred {
                continue;
            }
            let id = mh.root.id.as_str();
            match (space.tree_storage(id), self.model.open(id)) {
                (Ok(h), Ok(mh)) => {
                    self.handles.push(h);
                    self.mhandles.push(mh);
                }
                (Err(a), Err(e)) => prop_assert!(
                    same_error(&a, &e),
                    "reopen: tree_storage({}): got {:?}, the model expects {:?}",
                    id,
                    a,
                    e
                ),
                (a, e) => prop_assert!(
                    false,
                    "reopen: tree_storage({}): got {:?}, the model expects {:?}",
                    id,
                    a.map(|h| h.id().clone()),
                    e
                ),
            }
        }
        self.space = Some(space);
        Ok(())
    }

    /// Opens the directory read-only next to the open space and compares its reads.
    fn read_only(&self) -> Result<(), TestCaseError> {
        let ro = Space::open_read_only(self.path(), self.options.clone())
            .map_err(|e| TestCaseError::fail(format!("Space::open_read_only: {e}")))?;
        check_report("open_read_only", &ro)?;
        // The log holds no close frame yet: the counter is at the last reservation, at or
        // above every seq handed out.
        let handed_out = self.handed_out.max(self.model.counter);
        prop_assert!(
            ro.add_seq() >= handed_out,
            "read-only counter {} below the seq {} handed out",
            ro.add_seq(),
            handed_out
        );
        check_reads(&ro, &[], &self.model, &[])?;
        let refused = ro.head_storage().update_entry(HeadUpdate::new(IDS[0]));
        prop_assert!(
            matches!(refused, Err(Error::ReadOnly)),
            "a write to a read-only space: {:?}",
            refused
        );
        Ok(())
    }

    fn run(&mut self, step_no: usize, op: &DurableOp) -> Result<(), TestCaseError> {
        match op {
            DurableOp::Op(op) => {
                let space = self.space.as_ref().expect("the space is open");
                let before = self.model.counter;
                step(
                    step_no,
                    op,
                    space,
                    &mut self.handles,
                    &mut self.model,
                    &mut self.mhandles,
                )?;
                // A batch took a seq (the model's, which `step` and `check_all` compare with
                // the space's result and counter): never one handed out before, by this open
                // of the directory or an earlier one.
                if self.model.counter != before {
                    prop_assert!(
                        self.model.counter > self.handed_out,
                        "step {}: seq {} reused (seqs up to {} were handed out)",
                        step_no,
                        self.model.counter,
                        self.handed_out
                    );
                }
            }
            DurableOp::Reopen => self.reopen()?,
            DurableOp::Checkpoint => {
                let stats = self.space().checkpoint();
                prop_assert!(
                    matches!(stats, Ok(Some(_))),
                    "step {}: checkpoint: {:?}",
                    step_no,
                    stats
                );
                let stats = stats.unwrap().unwrap();
                let log = self.space().log_stats().unwrap();
                prop_assert_eq!(stats.bytes_after, log.log_bytes, "checkpoint bytes_after");
            }
            DurableOp::ReopenReadOnly => self.read_only()?,
        }
        self.handed_out = self.handed_out.max(self.model.counter);
        self.check_all()
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases_or(DURABLE_CASES),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// The in-memory test's operations on `Space::open` of a directory (`Buffered` or `Sync`),
    /// with reopens, checkpoints and read-only opens in between; every case ends with a reopen.
    #[test]
    fn reopened_space_matches_reference_model(
        setup in setup(),
        ops in prop::collection::vec(durable_op(), 1..DURABLE_OPS),
    ) {
        let dir = case_dir();
        let options = setup.options();
        let mut watch = Watch::default();
        let space = open_space(&dir.path().join("space"), &options, &mut watch)?;
        let mut case = Durable {
            dir,
            options,
            space: Some(space),
            watch,
            handles: Vec::new(),
            model: Model::default(),
            mhandles: Vec::new(),
            handed_out: 0,
        };
        case.check_all()?;
        for (step_no, op) in ops.iter().enumerate() {
            case.run(step_no, op)
                .map_err(|e| TestCaseError::fail(format!("after step {step_no} ({op:?}): {e}")))?;
        }
        let last = ops.len();
        case.run(last, &DurableOp::Reopen)
            .map_err(|e| TestCaseError::fail(format!("after the final reopen: {e}")))?;
    }
}

/// What a callback method returned, with a callback's own error as its message (any other error
/// is told apart).
fn callback_error(r: Result<(), Error>) -> Result<(), String> {
    r.map_err(|e| match e {
        Error::Callback(inner) => inner.to_string(),
        other => format!("not the callback's error: {other}"),
    })
}
