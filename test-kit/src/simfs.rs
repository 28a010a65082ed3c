//! The simulated file system is the crate `spacestore-simfs` (published: users crash-test their
//! own code with it); [`workload`] runs random workloads over a space on it and checks a
//! recovered space against what they wrote and what was acknowledged.

pub use spacestore_simfs::*;

/// A random workload over a space on a [`SimFs`], the record of what it asked and what was
/// acknowledged, and the check of a reopened space against that record.
pub mod workload {
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use std::sync::Arc;

    use spacestore::{
        AclRecord, AddSeqCounter, Cursor, Durability, Error, HeadEntry, HeadUpdate, Id,
        IterOptions, Options, Space, SpacePayload, State, StorageChange, TreeRoot,
    };

    use super::{Rng, SimFs};

    /// Changes `ids`, the `j`-th with order id `base + j` (six digits) and `payload(base + j)`.
    fn numbered(
        ids: &[String],
        base: usize,
        payload: impl Fn(usize) -> Vec<u8>,
    ) -> Vec<StorageChange> {
        let change = |(j, id): (usize, &String)| {
            StorageChange::new(id.as_str(), format!("{:06}", base + j), payload(base + j))
        };
        ids.iter().enumerate().map(change).collect()
    }

    /// The space directory inside the simulated file system.
    pub fn dir() -> PathBuf {
        PathBuf::from("/sim/space")
    }

    /// How the space is opened.
    #[derive(Clone, Copy, Debug)]
    pub struct Config {
        /// `Buffered` or `Sync`.
        pub durability: Durability,
        /// Segment size limit (small ones make the log roll).
        pub segment_size: u64,
        /// Seqs per reservation (small ones make reservations frequent).
        pub reserve_ahead: u64,
        /// Automatic checkpoints: (factor, minimum bytes).
        pub auto_checkpoint: Option<(u64, u64)>,
    }

    impl Config {
        /// The options for `fs`.
        pub fn options(&self, fs: &SimFs) -> Options {
            let (factor, min) = match self.auto_checkpoint {
                Some((f, m)) => (Some(f), m),
                None => (None, 0),
            };
            Options::default()
                .durability(self.durability)
                .segment_size(self.segment_size)
                .reserve_ahead(self.reserve_ahead)
                .auto_checkpoint(factor, min)
                // Every call on the calling thread, in a fixed order (fault injection counts
                // calls).
                .background_checkpoints(false)
                .bytes_per_sync(None)
                .file_system(fs.arc())
        }
    }

    /// One step of a workload.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Step {
        /// Creates tree `t{n}`.
        CreateTree(u8),
        /// A batch of `changes` changes of `size` bytes each on tree `t{tree}`; the tree's heads
        /// become its last change.
        Batch {
            /// The tree.
            tree: u8,
            /// Changes in the batch (at least 1).
            changes: u8,
            /// Bytes of each change.
            size: u16,
        },
        /// Creates a new head entry `e{n}` (n counts these steps).
        PutEntry,
        /// Deletes the `n`th head entry created (if it exists and is not deleted yet).
        DeleteEntry(u8),
        /// Deletes tree `t{n}` (its changes go; its head entry stays).
        DeleteTree(u8),
        /// Creates named cursor `k{n}` (`Space::cursor`).
        CreateCursor(u8),
        /// Acknowledges the counter's value on cursor `k{n}` (created before).
        Ack(u8),
        /// Resets cursor `k{n}` (created before) to half its position.
        ResetCursor(u8),
        /// Deletes cursor `k{n}` (created before).
        DeleteCursor(u8),
        /// Makes the space whole (`Space::create_space`): state, ACL root `acl`, settings tree
        /// `settings`.
        CreateSpace,
        /// Adds `records` ACL records (1 or more) `a{n}`, each's order `n + 2`.
        AddAcl(u8),
        /// Sets the state's hash to `h{n}` (n counts events).
        SetHash,
        /// A batch of `n` changes `g{k}` on tree `m0` through a storage with a counter of its
        /// own (the driver's, a migration's: its batches are not in the feed); the first one
        /// creates the tree (a deferred storage).
        MigratedBatch(u8),
        /// `Space::checkpoint`.
        Checkpoint,
        /// `Space::sync`.
        Sync,
        /// Drops the space (a clean close) and opens it again.
        Reopen,
        /// Kills the process (no close; what was written stays in the page cache) and opens
        /// the space again.
        CrashReopen,
    }

    /// A random configuration.
    pub fn config(rng: &mut Rng, durability: Durability) -> Config {
        Config {
            durability,
            segment_size: [200, 600, 4096, 64 << 20][rng.below(4) as usize],
            reserve_ahead: [1, 3, 1 << 20][rng.below(3) as usize],
            auto_checkpoint: if rng.chance(1, 3) {
                Some((2, 1500))
            } else {
                None
            },
        }
    }

    /// A random workload of about `len` steps: only steps that succeed on a healthy file system.
    /// `crashes`: whether it may kill the process and restart ([`Step::CrashReopen`]).
    pub fn steps(rng: &mut Rng, len: usize, crashes: bool) -> Vec<Step> {
        let mut out = vec![Step::CreateTree(0)];
        let mut trees = vec![true]; // live?
        let mut entries = Vec::new(); // live?
        let mut cursors = [false; 2]; // live?
        let mut whole = false;
        while out.len() < len {
            if rng.chance(1, 14) {
                out.push(Step::MigratedBatch(1 + rng.below(2) as u8));
                continue;
            }
            if rng.chance(1, 10) {
                out.push(match (whole, rng.below(2)) {
                    (false, _) => {
                        whole = true;
                        Step::CreateSpace
                    }
                    (true, 0) => Step::AddAcl(1 + rng.below(2) as u8),
                    (true, _) => Step::SetHash,
                });
                continue;
            }
            let live: Vec<u8> = (0..trees.len() as u8)
                .filter(|&t| trees[t as usize])
                .collect();
            let roll = rng.below(100);
            let step = if roll < 50 && !live.is_empty() {
                Step::Batch {
                    tree: live[rng.below(live.len() as u64) as usize],
                    changes: 1 + rng.below(3) as u8,
                    size: [1, 40, 150, 400][rng.below(4) as usize],
                }
            } else if roll < 58 {
                if trees.len() >= 4 {
                    continue;
                }
                trees.push(true);
                Step::CreateTree(trees.len() as u8 - 1)
            } else if roll < 70 {
                entries.push(true);
                Step::PutEntry
            } else if roll < 76 {
                let live_entries: Vec<usize> = (0..entries.len()).filter(|&e| entries[e]).collect();
                if live_entries.is_empty() {
                    continue;
                }
                let e = live_entries[rng.below(live_entries.len() as u64) as usize];
                entries[e] = false;
                Step::DeleteEntry(e as u8)
            } else if roll < 79 {
                if live.len() < 2 {
                    continue;
                }
                let t = live[rng.below(live.len() as u64) as usize];
                trees[t as usize] = false;
                Step::DeleteTree(t)
            } else if roll < 84 {
                let k = rng.below(2) as u8;
                let live = &mut cursors[k as usize];
                if !*live {
                    *live = true;
                    Step::CreateCursor(k)
                } else {
                    match rng.below(8) {
                        0 => {
                            *live = false;
                            Step::DeleteCursor(k)
                        }
                        1 => Step::ResetCursor(k),
                        _ => Step::Ack(k),
                    }
                }
            } else if roll < 88 {
                Step::Checkpoint
            } else if roll < 93 {
                Step::Sync
            } else if roll < 96 || !crashes {
                Step::Reopen
            } else {
                Step::CrashReopen
            };
            out.push(step);
        }
        out
    }

    /// What a logged write does to the state.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum EventKind {
        /// A tree was created.
        Tree(String),
        /// A batch: tree, change ids (the last one becomes the head).
        Batch(String, Vec<String>),
        /// A head entry was created with heads `[marker]`.
        Entry(String, String),
        /// A head entry was deleted.
        EntryDeleted(String),
        /// A tree was deleted.
        TreeDeleted(String),
        /// A named cursor was created (at 0) or set to a position.
        Cursor(String, u64),
        /// A named cursor was deleted.
        CursorDeleted(String),
        /// The space was made whole.
        Space,
        /// ACL records were added (ids, in order; the last becomes the list's head).
        Acl(Vec<String>),
        /// The state's hash was set.
        Hash(String),
        /// A batch of a counter of its own on tree `m0` (change ids; the last becomes the head).
        Migrated(Vec<String>),
    }

    /// A write that was attempted (one record, if it reached the log).
    #[derive(Clone, Debug)]
    pub struct Event {
        /// What it does.
        pub kind: EventKind,
        /// Whether the call returned `Ok`.
        pub acked: bool,
        /// The AddSeq it returned (batches).
        pub seq: Option<u64>,
    }

    /// What a step did.
    #[derive(Debug)]
    pub struct Outcome {
        /// The step's result.
        pub result: Result<(), Error>,
        /// The event it attempted, if it writes (index in [`Driver::events`]).
        pub event: Option<usize>,
    }

    /// Runs steps against a space on a [`SimFs`] and records what was asked and acknowledged.
    pub struct Driver {
        /// The file system handle the space was opened with.
        pub fs: SimFs,
        /// The configuration.
        pub config: Config,
        /// The open space (`None` after a reopen that failed).
        pub space: Option<Space>,
        /// Every write attempted, in order.
        pub events: Vec<Event>,
        /// The highest counter value seen (seqs handed out, also by failed batches).
        pub max_counter: u64,
        /// Events before this index were made durable by a successful sync, checkpoint or
        /// clean reopen.
        pub durable_floor: usize,
        entries: usize,
        change_no: usize,
        acl_no: usize,
        /// The counter of the migrated tree's batches (the caller's, as a migration's).
        migration: AddSeqCounter,
    }

    impl Driver {
        /// Opens the space on `fs`.
        pub fn open(fs: &SimFs, config: Config) -> Result<Driver, Error> {
            let space = Space::create(dir(), config.options(fs))?;
            Ok(Driver::with_space(fs, config, space))
        }

        /// A driver for a space already open on `fs`.
        pub fn with_space(fs: &SimFs, config: Config, space: Space) -> Driver {
            let max_counter = space.add_seq();
            Driver {
                fs: fs.clone(),
                config,
                space: Some(space),
                events: Vec::new(),
                max_counter,
                durable_floor: 0,
                entries: 0,
                change_no: 0,
                acl_no: 0,
                migration: AddSeqCounter::detached(),
            }
        }

        /// A driver whose space is not open yet (its first step opens it).
        pub fn unopened(fs: &SimFs, config: Config) -> Driver {
            Driver {
                fs: fs.clone(),
                config,
                space: None,
                events: Vec::new(),
                max_counter: 0,
                durable_floor: 0,
                entries: 0,
                change_no: 0,
                acl_no: 0,
                migration: AddSeqCounter::detached(),
            }
        }

        fn push(&mut self, kind: EventKind) -> usize {
            self.events.push(Event {
                kind,
                acked: false,
                seq: None,
            });
            self.events.len() - 1
        }

        /// Runs one step. Without an open space (a reopen failed) it tries to open first.
        pub fn step(&mut self, step: &Step) -> Outcome {
            if self.space.is_none() {
                match Space::create(dir(), self.config.options(&self.fs)) {
                    Ok(space) => self.space = Some(space),
                    Err(e) => {
                        return Outcome {
                            result: Err(e),
                            event: None,
                        }
                    }
                }
            }
            let space = self.space.clone().expect("open");
            let mut event = None;
            let result = match step {
                Step::CreateTree(t) => {
                    let id = format!("t{t}");
                    let e = self.push(EventKind::Tree(id.clone()));
                    event = Some(e);
                    space
                        .create_tree_storage(TreeRoot::new(id.as_str(), id.clone().into_bytes()))
                        .map(|_| self.events[e].acked = true)
                }
                Step::Batch {
                    tree,
                    changes,
                    size,
                } => {
                    let tree_id = format!("t{tree}");
                    let base = self.change_no;
                    self.change_no += *changes as usize;
                    let ids: Vec<String> = (0..*changes as usize)
                        .map(|j| format!("c{}", base + j))
                        .collect();
                    let e = self.push(EventKind::Batch(tree_id.clone(), ids.clone()));
                    event = Some(e);
                    let batch = numbered(&ids, base, |k| vec![k as u8; *size as usize]);
                    space.tree_storage(&tree_id).and_then(|t| {
                        t.add_all(batch, [ids.last().unwrap().as_str()], tree_id.as_str())
                            .map(|seq| {
                                self.events[e].acked = true;
                                self.events[e].seq = Some(seq);
                            })
                    })
                }
                Step::PutEntry => {
                    let id = format!("e{}", self.entries);
                    self.entries += 1;
                    let marker = format!("m{}", self.events.len());
                    let e = self.push(EventKind::Entry(id.clone(), marker.clone()));
                    event = Some(e);
                    space
                        .head_storage()
                        .update_entry(HeadUpdate::new(id).heads([marker]))
                        .map(|_| self.events[e].acked = true)
                }
                Step::DeleteEntry(n) => {
                    let id = format!("e{n}");
                    let e = self.push(EventKind::EntryDeleted(id.clone()));
                    event = Some(e);
                    space
                        .head_storage()
                        .delete_entry(&id)
                        .map(|_| self.events[e].acked = true)
                }
                Step::DeleteTree(t) => {
                    let id = format!("t{t}");
                    let e = self.push(EventKind::TreeDeleted(id.clone()));
                    event = Some(e);
                    space
                        .tree_storage(&id)
                        .and_then(|t| t.delete())
                        .map(|_| self.events[e].acked = true)
                }
                Step::CreateCursor(k) => {
                    let name = format!("k{k}");
                    let e = self.push(EventKind::Cursor(name.clone(), 0));
                    event = Some(e);
                    space.cursor(&name).map(|_| self.events[e].acked = true)
                }
                Step::Ack(k) | Step::ResetCursor(k) => {
                    let name = format!("k{k}");
                    space.cursor(&name).and_then(|cursor| {
                        let (seq, set) = if matches!(step, Step::Ack(_)) {
                            (
                                space.add_seq(),
                                Cursor::ack as fn(&Cursor, u64) -> Result<(), Error>,
                            )
                        } else {
                            (
                                cursor.get() / 2,
                                Cursor::reset as fn(&Cursor, u64) -> Result<(), Error>,
                            )
                        };
                        let e = self.push(EventKind::Cursor(name.clone(), seq));
                        event = Some(e);
                        set(&cursor, seq).map(|()| self.events[e].acked = true)
                    })
                }
                Step::DeleteCursor(k) => {
                    let name = format!("k{k}");
                    let e = self.push(EventKind::CursorDeleted(name.clone()));
                    event = Some(e);
                    space
                        .delete_cursor(&name)
                        .map(|_| self.events[e].acked = true)
                }
                Step::CreateSpace => {
                    let e = self.push(EventKind::Space);
                    event = Some(e);
                    let payload = SpacePayload::new(
                        "space.1",
                        b"header".to_vec(),
                        "acl",
                        b"acl root".to_vec(),
                        TreeRoot::new("settings", b"settings root".to_vec()),
                    );
                    space
                        .create_space(payload)
                        .map(|_| self.events[e].acked = true)
                }
                Step::AddAcl(n) => {
                    let base = self.acl_no;
                    self.acl_no += *n as usize;
                    let id = |k: usize| format!("a{k}");
                    let ids: Vec<String> = (base..base + *n as usize).map(id).collect();
                    let e = self.push(EventKind::Acl(ids.clone()));
                    event = Some(e);
                    let records = (base..base + *n as usize).map(|k| {
                        let prev = if k == 0 { "acl".to_owned() } else { id(k - 1) };
                        AclRecord::new(id(k), prev, k as u64 + 2, vec![k as u8; 30])
                    });
                    space
                        .acl_storage()
                        .and_then(|acl| acl.add_all(records))
                        .map(|()| self.events[e].acked = true)
                }
                Step::SetHash => {
                    let hash = format!("h{}", self.events.len());
                    let e = self.push(EventKind::Hash(hash.clone()));
                    event = Some(e);
                    space
                        .state_storage()
                        .and_then(|state| state.set_hash(hash))
                        .map(|()| self.events[e].acked = true)
                }
                Step::MigratedBatch(n) => {
                    let base = self.change_no;
                    self.change_no += *n as usize;
                    let ids: Vec<String> = (base..base + *n as usize)
                        .map(|k| format!("g{k}"))
                        .collect();
                    let e = self.push(EventKind::Migrated(ids.clone()));
                    event = Some(e);
                    let batch = numbered(&ids, base, |_| vec![9u8; 30]);
                    let tree = match space.tree_storage("m0") {
                        Ok(tree) => Ok(tree),
                        Err(Error::UnknownTree(_)) => space.create_storage_with_deferred_creation(
                            TreeRoot::new("m0", b"migrated".to_vec()),
                        ),
                        Err(e) => Err(e),
                    };
                    tree.and_then(|t| {
                        t.with_counter(self.migration.clone())
                            .add_all(batch, [ids.last().unwrap().as_str()], "m0")
                            .map(|seq| {
                                self.events[e].acked = true;
                                self.events[e].seq = Some(seq);
                            })
                    })
                }
                Step::Checkpoint => space.checkpoint().map(|_| {
                    self.durable_floor = self.events.len();
                }),
                Step::Sync => space.sync().map(|_| {
                    self.durable_floor = self.events.len();
                }),
                Step::CrashReopen => {
                    self.fs = self.fs.kill_process();
                    drop(space);
                    self.space = None;
                    match Space::create(dir(), self.config.options(&self.fs)) {
                        Ok(s) => {
                            self.space = Some(s);
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                }
                Step::Reopen => {
                    drop(space);
                    self.space = None;
                    match Space::create(dir(), self.config.options(&self.fs)) {
                        Ok(s) => {
                            self.space = Some(s);
                            self.durable_floor = self.events.len();
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            if let Some(space) = &self.space {
                self.max_counter = self.max_counter.max(space.add_seq());
            }
            Outcome { result, event }
        }
    }

    /// Everything a reader can see of a space.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Dump {
        /// Every change after seq 0, in AddSeq order.
        pub changes: Vec<StorageChange>,
        /// Every head entry (deleted or not), by id.
        pub entries: Vec<HeadEntry>,
        /// Live trees.
        pub trees: usize,
        /// The named cursors.
        pub cursors: Vec<(Id, u64)>,
        /// A whole space's state.
        pub state: Option<State>,
        /// A whole space's ACL list, by order.
        pub acl: Vec<AclRecord>,
        /// The migrated tree's changes (not in the feed), by order id.
        pub migrated: Vec<StorageChange>,
    }

    /// What `space` shows.
    pub fn dump(space: &Space) -> Dump {
        let hs = space.head_storage();
        let mut entries: Vec<HeadEntry> = hs
            .entries(IterOptions::default())
            .chain(hs.entries(IterOptions::deleted()))
            .map(Arc::unwrap_or_clone)
            .collect();
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        Dump {
            changes: space
                .changes_after_add_seq(0)
                .map(StorageChange::from)
                .collect::<Vec<_>>(),
            entries,
            trees: space.tree_count(),
            cursors: space.cursors(),
            state: space.state_storage().ok().map(|s| s.get_state()),
            acl: space
                .acl_storage()
                .map(|acl| acl.records_after_order(0).collect::<Vec<_>>())
                .unwrap_or_default(),
            migrated: space
                .tree_storage("m0")
                .map(|t| {
                    t.changes_after_add_seq(0)
                        .map(StorageChange::from)
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        }
    }

    /// The state after the first `p` events (seqs of unacknowledged batches unknown).
    #[derive(Debug, Default, PartialEq, Eq)]
    struct Expected {
        trees: BTreeMap<String, bool>,
        /// change id -> (tree, seq if known, batch index)
        changes: BTreeMap<String, (String, Option<u64>, usize)>,
        /// head entry id -> heads
        heads: BTreeMap<String, Vec<String>>,
        /// cursor name -> position
        cursors: BTreeMap<String, u64>,
        /// Whether the space is whole, and its hash.
        whole: bool,
        hash: String,
        /// The ACL list's record ids, by order.
        acl: Vec<String>,
        /// The migrated tree's changes: id, seq if known.
        migrated: Vec<(String, Option<u64>)>,
    }

    fn expected(events: &[Event], p: usize) -> Expected {
        let mut x = Expected::default();
        for (i, e) in events[..p].iter().enumerate() {
            match &e.kind {
                EventKind::Tree(t) => {
                    x.trees.insert(t.clone(), true);
                    x.heads.insert(t.clone(), vec![t.clone()]);
                }
                EventKind::Batch(t, ids) => {
                    for id in ids {
                        x.changes.insert(id.clone(), (t.clone(), e.seq, i));
                    }
                    x.heads.insert(t.clone(), vec![ids.last().unwrap().clone()]);
                }
                EventKind::Entry(id, marker) => {
                    x.heads.insert(id.clone(), vec![marker.clone()]);
                }
                EventKind::EntryDeleted(id) => {
                    x.heads.remove(id);
                }
                EventKind::TreeDeleted(t) => {
                    x.trees.insert(t.clone(), false);
                    x.changes.retain(|_, (tree, _, _)| tree != t);
                }
                EventKind::Cursor(name, seq) => {
                    x.cursors.insert(name.clone(), *seq);
                }
                EventKind::CursorDeleted(name) => {
                    x.cursors.remove(name);
                }
                EventKind::Space => {
                    x.whole = true;
                    x.acl.push("acl".into());
                    x.heads.insert("acl".into(), vec!["acl".into()]);
                    x.trees.insert("settings".into(), true);
                    x.heads.insert("settings".into(), vec!["settings".into()]);
                }
                EventKind::Acl(ids) => {
                    x.acl.extend(ids.iter().cloned());
                    x.heads
                        .insert("acl".into(), vec![ids.last().unwrap().clone()]);
                }
                EventKind::Hash(hash) => x.hash = hash.clone(),
                EventKind::Migrated(ids) => {
                    if !x.trees.contains_key("m0") {
                        x.trees.insert("m0".into(), true);
                    }
                    x.migrated.extend(ids.iter().map(|id| (id.clone(), e.seq)));
                    x.heads
                        .insert("m0".into(), vec![ids.last().unwrap().clone()]);
                }
            }
        }
        x
    }

    /// Whether `space` shows exactly the state after the first `p` events; why not otherwise.
    fn matches(space: &Space, d: &Dump, events: &[Event], p: usize) -> Result<(), String> {
        let x = expected(events, p);
        let mut seen: BTreeMap<String, (String, u64)> = BTreeMap::new();
        for c in &d.changes {
            seen.insert(c.id.to_string(), (c.tree_id.to_string(), c.add_seq));
        }
        if seen.len() != x.changes.len() || !seen.keys().eq(x.changes.keys()) {
            let extra: Vec<_> = seen
                .keys()
                .filter(|k| !x.changes.contains_key(*k))
                .collect();
            let missing: Vec<_> = x
                .changes
                .keys()
                .filter(|k| !seen.contains_key(*k))
                .collect();
            return Err(format!(
                "changes differ: extra {extra:?}, missing {missing:?}"
            ));
        }
        // Seqs: acknowledged ones exact; one seq per batch; increasing with the batch order.
        let mut batch_seq: BTreeMap<usize, u64> = BTreeMap::new();
        for (id, (tree, seq, batch)) in &x.changes {
            let (t, s) = &seen[id];
            if t != tree {
                return Err(format!("change {id} in tree {t}, expected {tree}"));
            }
            if let Some(seq) = seq {
                if s != seq {
                    return Err(format!("change {id} has seq {s}, acknowledged {seq}"));
                }
            }
            if let Some(other) = batch_seq.insert(*batch, *s) {
                if other != *s {
                    return Err(format!("batch {batch} has seqs {other} and {s}"));
                }
            }
        }
        let seqs: Vec<u64> = batch_seq.values().copied().collect();
        if seqs.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!("batch seqs not increasing in log order: {seqs:?}"));
        }
        for (t, live) in &x.trees {
            if space.tree_storage(t).is_ok() != *live {
                return Err(format!("tree {t}: expected live = {live}"));
            }
        }
        let heads: BTreeMap<String, Vec<String>> = d
            .entries
            .iter()
            .map(|e| {
                (
                    e.id.to_string(),
                    e.heads.iter().map(|h| h.to_string()).collect(),
                )
            })
            .collect();
        if heads != x.heads {
            return Err(format!(
                "head entries differ: seen {heads:?}, expected {:?}",
                x.heads
            ));
        }
        let cursors: BTreeMap<String, u64> = d
            .cursors
            .iter()
            .map(|(name, seq)| (name.to_string(), *seq))
            .collect();
        if cursors != x.cursors {
            return Err(format!(
                "cursors differ: seen {cursors:?}, expected {:?}",
                x.cursors
            ));
        }
        let state = d.state.as_ref().map(|s| s.new_hash.to_string());
        let expected_state = x.whole.then(|| x.hash.clone());
        if state != expected_state {
            return Err(format!(
                "states differ: seen hash {state:?}, expected {expected_state:?}"
            ));
        }
        let migrated: Vec<String> = d.migrated.iter().map(|c| c.id.to_string()).collect();
        let expected_migrated: Vec<String> = x.migrated.iter().map(|(id, _)| id.clone()).collect();
        if migrated != expected_migrated {
            return Err(format!(
                "migrated changes differ: seen {migrated:?}, expected {expected_migrated:?}"
            ));
        }
        for (c, (id, seq)) in d.migrated.iter().zip(&x.migrated) {
            if seq.is_some_and(|s| s != c.add_seq) {
                return Err(format!(
                    "migrated change {id} has seq {}, acknowledged {seq:?}",
                    c.add_seq
                ));
            }
        }
        let acl: Vec<String> = d.acl.iter().map(|r| r.id.to_string()).collect();
        if acl != x.acl {
            return Err(format!(
                "ACL lists differ: seen {acl:?}, expected {:?}",
                x.acl
            ));
        }
        Ok(())
    }

    /// Checks a space reopened after a power cut against what the driver recorded: the state is
    /// exactly that of a prefix of the attempted writes (no half write, no later write without
    /// an earlier one), which holds every write made durable by a sync, checkpoint or clean
    /// reopen, and in `Sync` mode every acknowledged write; the counter is at or above every seq
    /// handed out. Returns the prefix length.
    pub fn check_recovered(space: &Space, driver: &Driver) -> Result<usize, String> {
        let d = dump(space);
        let events = &driver.events;
        let mut floor = driver.durable_floor;
        if driver.config.durability == Durability::Sync {
            if let Some(last) = events.iter().rposition(|e| e.acked) {
                floor = floor.max(last + 1);
            }
        }
        let mut why = Vec::new();
        let mut found = None;
        for p in (0..=events.len()).rev() {
            match matches(space, &d, events, p) {
                Ok(()) => {
                    found = Some(p);
                    break;
                }
                Err(e) => why.push(format!("prefix {p}: {e}")),
            }
        }
        let Some(p) = found else {
            return Err(format!(
                "the recovered state is no prefix of the writes (a half or out-of-order write):\n  {}",
                why.iter().rev().take(3).cloned().collect::<Vec<_>>().join("\n  ")
            ));
        };
        if p < floor {
            return Err(format!(
                "lost durable writes: recovered the first {p} writes, {floor} were durable \
                 ({:?} mode)",
                driver.config.durability
            ));
        }
        if space.add_seq() < driver.max_counter {
            return Err(format!(
                "counter went back: {} after recovery, {} handed out before",
                space.add_seq(),
                driver.max_counter
            ));
        }
        Ok(p)
    }

    /// After a recovery: a new batch takes a seq above every seq handed out before, and a clean
    /// reopen shows exactly what the space showed.
    pub fn check_continues(
        fs: &SimFs,
        config: Config,
        space: Space,
        max_counter: u64,
    ) -> Result<(), String> {
        let tree = match space.tree_storage("t0") {
            Ok(t) => t,
            Err(_) => space
                .create_tree_storage(TreeRoot::new("t0", b"t0".to_vec()))
                .or_else(|_| space.create_tree_storage(TreeRoot::new("fresh", b"f".to_vec())))
                .map_err(|e| format!("creating a tree after recovery: {e}"))?,
        };
        let seq = tree
            .add_all(
                vec![StorageChange::new("after", "999999", b"after".to_vec())],
                ["after"],
                tree.id().clone(),
            )
            .map_err(|e| format!("a write after recovery failed: {e}"))?;
        if seq <= max_counter {
            return Err(format!(
                "seq {seq} handed out after recovery; {max_counter} had been handed out before"
            ));
        }
        let before = dump(&space);
        let counter = space.add_seq();
        drop(tree);
        drop(space);
        let again = Space::create(dir(), config.options(fs))
            .map_err(|e| format!("reopening after recovery: {e}"))?;
        let after = dump(&again);
        if before != after {
            return Err(format!(
                "memory and disk disagree: before the reopen {before:?}, after {after:?}"
            ));
        }
        if again.add_seq() < counter {
            return Err(format!(
                "counter went back across a clean reopen: {} -> {}",
                counter,
                again.add_seq()
            ));
        }
        Ok(())
    }

    /// One power-cut scenario: runs `steps` on a fresh [`SimFs`], cutting the power during
    /// mutating call `cut` (counted from the first open; after the last step when the workload
    /// makes fewer calls), reboots with `tear` (random choices from `rng`), optionally cuts again
    /// during the recovery's own calls (`recovery_cut` calls into the next open) and reboots,
    /// then checks the recovered space ([`check_recovered`], [`check_continues`]). `trace`:
    /// record the calls (returned with the error). Returns why it failed.
    pub fn power_cut_scenario(
        rng: &mut Rng,
        config: Config,
        steps: &[Step],
        cut: u64,
        tear: super::Tear,
        recovery_cut: Option<u64>,
        trace: bool,
    ) -> Result<(), String> {
        let fs = SimFs::new();
        if trace {
            fs.enable_trace();
        }
        let with_trace = |why: String, fs: &SimFs| {
            if trace {
                format!("{why}\n calls: {:?}", fs.trace())
            } else {
                why
            }
        };
        fs.cut_power_at(cut);
        let mut driver = match Driver::open(&fs, config) {
            Ok(d) => d,
            // The cut hit the very first open: nothing was acknowledged.
            Err(_) if fs.power_is_off() => Driver::unopened(&fs, config),
            Err(e) => return Err(format!("first open failed: {e}")),
        };
        for step in steps {
            if fs.power_is_off() {
                break;
            }
            let out = driver.step(step);
            if let Err(e) = &out.result {
                if !fs.power_is_off() {
                    return Err(with_trace(
                        format!("{step:?} failed with the power on: {e}"),
                        &fs,
                    ));
                }
            }
        }
        if !fs.power_is_off() {
            fs.cut_power();
        }
        let mut fs = fs.reboot(tear, rng);
        drop(driver.space.take());
        if let Some(k) = recovery_cut {
            fs.cut_power_at(k);
            if let Ok(space) = Space::create(dir(), config.options(&fs)) {
                // The recovery finished before the cut: cut now, with the space open.
                fs.cut_power();
                drop(space);
            }
            fs = fs.reboot(tear, rng);
        }
        let space = match Space::create(dir(), config.options(&fs)) {
            Ok(space) => space,
            Err(e) => {
                return Err(with_trace(
                    format!("open after the power cut failed: {e}"),
                    &fs,
                ))
            }
        };
        check_recovered(&space, &driver).map_err(|e| with_trace(e, &fs))?;
        check_continues(&fs, config, space, driver.max_counter).map_err(|e| with_trace(e, &fs))
    }
}
