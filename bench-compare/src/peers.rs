//! The peers, each doing spacestore's work the natural way for it:
//! - SQLite (rusqlite, bundled): WAL journal, a `changes` table keyed by id with a unique
//!   (tree, order id) index and no add_seq index (as any-sync's Go storage has), a `heads` table
//!   with `last_add_seq` (indexed, for `iterate_entries`); `add_all` is one `BEGIN IMMEDIATE`
//!   transaction inserting the changes and upserting the head entry.
//! - fjall 3 (an LSM tree with a journal): keyspaces `changes` ((tree, order id) -> add_seq and
//!   the change), `ids` (id -> (tree, order id)) and `heads`; one atomic write batch per
//!   `add_all`, after checking that no id or order id is taken; its memtables are flushed after
//!   the read set is filled.
//! - redb (a copy-on-write B-tree): the same three tables, one write transaction per `add_all`
//!   (an insert that finds a value aborts it, as a unique constraint would).
//! - raft-engine (tikv's log engine for multi-Raft logs, a log with in-memory indexes): a region
//!   per tree, keyed by the tree's number; one `LogBatch` per `add_all` with a key-value per
//!   change (order id -> add_seq and the change) and the head entry as a key-value, written with
//!   `sync = true`. Durable rows (and reads) only.
//! - okaywal (a write-ahead log with group commit): one entry per `add_all`, a chunk per change
//!   and one for the head entry, committed (durable on return). It keeps no index, so it is a
//!   peer of the durable write rows only and answers no read.
//!
//! Every peer takes the batch's AddSeq from an in-memory counter inside its write (as Go's
//! storage does) and stores the same fields as spacestore: id, raw bytes, prev ids, snapshot id,
//! snapshot counter, order id, change size, tree id, add seq.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::{root_id, Backend, ChangeSpec, View, ROOT_RAW_LEN, TREES};

// ---------------------------------------------------------------------------------------------
// A byte encoding of a change and a head entry for the key-value peers.

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s);
}

/// add_seq, id, prev ids, snapshot id, snapshot counter, change size, then the raw bytes.
fn encode_change(out: &mut Vec<u8>, seq: u64, c: &ChangeSpec) {
    out.clear();
    out.extend_from_slice(&seq.to_le_bytes());
    put_str(out, c.id.as_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    put_str(out, c.prev_id.as_bytes());
    put_str(out, c.snapshot_id.as_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&(c.raw.len() as u64).to_le_bytes());
    out.extend_from_slice(&c.raw);
}

fn encode_root(out: &mut Vec<u8>, id: &str) {
    out.clear();
    out.extend_from_slice(&0u64.to_le_bytes());
    put_str(out, id.as_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    put_str(out, b"");
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&(ROOT_RAW_LEN as u64).to_le_bytes());
    out.extend_from_slice(&[0xee; ROOT_RAW_LEN]);
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    fn u16(&mut self) -> usize {
        u16::from_le_bytes(self.take(2).try_into().expect("u16")) as usize
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().expect("u64"))
    }
    fn str(&mut self) -> &'a str {
        let n = self.u16();
        std::str::from_utf8(self.take(n)).expect("utf-8")
    }
}

fn seq_of(value: &[u8]) -> u64 {
    u64::from_le_bytes(value[..8].try_into().expect("seq"))
}

/// Decodes a stored change (every field, as a reader would) into a view.
fn decode_change<'a>(value: &'a [u8], order_id: &'a str) -> View<'a> {
    let mut c = Cursor(value);
    let add_seq = c.u64();
    let id = c.str();
    let prevs = c.u16();
    for _ in 0..prevs {
        std::hint::black_box(c.str());
    }
    std::hint::black_box(c.str());
    c.take(4 + 8);
    View {
        id,
        order_id,
        add_seq,
        raw: c.0,
    }
}

/// last_add_seq, deleted status, heads, common snapshot.
fn encode_head(out: &mut Vec<u8>, last_add_seq: u64, heads: &[&str], common_snapshot: &str) {
    out.clear();
    out.extend_from_slice(&last_add_seq.to_le_bytes());
    out.push(0);
    out.extend_from_slice(&(heads.len() as u16).to_le_bytes());
    for h in heads {
        put_str(out, h.as_bytes());
    }
    put_str(out, common_snapshot.as_bytes());
}

/// (last_add_seq, deleted status) of an encoded head entry.
fn head_seq(value: &[u8]) -> (u64, u8) {
    (seq_of(value), value[8])
}

/// An owned change, for the peers' `changes_after_add_seq` (read per tree, then put in AddSeq
/// order).
struct Owned {
    id: String,
    order_id: String,
    add_seq: u64,
    raw: Vec<u8>,
}

impl Owned {
    fn of(v: View<'_>) -> Self {
        Owned {
            id: v.id.to_owned(),
            order_id: v.order_id.to_owned(),
            add_seq: v.add_seq,
            raw: v.raw.to_vec(),
        }
    }
    fn view(&self) -> View<'_> {
        View {
            id: &self.id,
            order_id: &self.order_id,
            add_seq: self.add_seq,
            raw: &self.raw,
        }
    }
}

/// `changes_after_add_seq` the way a Go-style storage answers it (it has no space-wide AddSeq
/// index): the head entries with last AddSeq > `after`, then each such tree's changes after it,
/// merged into AddSeq order.
fn changes_after_via_heads(b: &mut dyn Backend, after: u64, f: &mut dyn FnMut(View<'_>)) {
    let mut trees = Vec::new();
    b.iterate_entries(after, &mut |id, _| trees.push(id.to_owned()));
    let mut out: Vec<Owned> = Vec::new();
    for tree in &trees {
        let t = tree_number(tree);
        b.get_after_add_seq(t, after, &mut |v| out.push(Owned::of(v)));
    }
    out.sort_by_key(|o| o.add_seq);
    for o in &out {
        f(o.view());
    }
}

/// Tree ids to their numbers (the peers keep the ids; the workload names trees by number).
fn tree_number(id: &str) -> u32 {
    thread_local! {
        static IDS: std::collections::HashMap<String, u32> =
            (0..TREES).map(|t| (root_id(t), t)).collect();
    }
    IDS.with(|m| m[id])
}

fn tree_ids() -> Arc<Vec<String>> {
    Arc::new((0..TREES).map(root_id).collect())
}

// ---------------------------------------------------------------------------------------------
// SQLite.

/// SQLite's `synchronous` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqliteSync {
    Off,
    Normal,
    Full,
}

impl SqliteSync {
    fn level(self) -> &'static str {
        match self {
            SqliteSync::Off => "OFF",
            SqliteSync::Normal => "NORMAL",
            SqliteSync::Full => "FULL",
        }
    }
}

/// SQLite in WAL mode.
pub struct Sqlite {
    conn: rusqlite::Connection,
    path: PathBuf,
    sync: SqliteSync,
    counter: Arc<AtomicU64>,
    trees: Arc<Vec<String>>,
}

const SQLITE_SCHEMA: &str = "
CREATE TABLE changes (
    id TEXT PRIMARY KEY,
    tree TEXT NOT NULL,
    order_id TEXT NOT NULL,
    add_seq INTEGER NOT NULL,
    raw BLOB NOT NULL,
    prev_ids TEXT NOT NULL,
    snapshot_id TEXT NOT NULL,
    snapshot_counter INTEGER NOT NULL,
    change_size INTEGER NOT NULL
);
CREATE UNIQUE INDEX changes_tree_order ON changes (tree, order_id);
CREATE TABLE heads (
    id TEXT PRIMARY KEY,
    heads TEXT NOT NULL,
    common_snapshot TEXT NOT NULL,
    deleted_status INTEGER NOT NULL DEFAULT 0,
    is_derived INTEGER NOT NULL DEFAULT 0,
    parent_id TEXT,
    last_add_seq INTEGER
);
CREATE INDEX heads_last_add_seq ON heads (last_add_seq);
";

fn sqlite_connect(path: &Path, sync: SqliteSync) -> rusqlite::Connection {
    let mut conn = rusqlite::Connection::open(path).expect("sqlite open");
    // Writers from several threads wait for the write lock by yielding and retrying: SQLite's
    // default busy handler (`busy_timeout`) sleeps 1, 2, 5, 10 ms between retries, which made
    // 4 threads run at half the rate of 1 and measured the sleeps, not SQLite.
    conn.busy_handler(Some(|tries| {
        std::thread::yield_now();
        tries < i32::MAX
    }))
    .expect("busy handler");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", sync.level())
        .expect("synchronous");
    conn
}

impl Sqlite {
    /// A new database in `dir` with the `TREES` trees created.
    pub fn create(dir: &Path, sync: SqliteSync) -> Self {
        let path = dir.join("space.sqlite");
        let mut conn = sqlite_connect(&path, sync);
        conn.execute_batch(SQLITE_SCHEMA).expect("schema");
        let trees = tree_ids();
        let tx = conn.transaction().expect("tx");
        {
            let mut c = tx
                .prepare(
                    "INSERT INTO changes (id, tree, order_id, add_seq, raw, prev_ids, snapshot_id,
                     snapshot_counter, change_size) VALUES (?1, ?1, '', 0, ?2, '', '', 1, ?3)",
                )
                .expect("prepare");
            let mut h = tx
                .prepare("INSERT INTO heads (id, heads, common_snapshot) VALUES (?1, ?1, ?1)")
                .expect("prepare");
            let raw = vec![0xeeu8; ROOT_RAW_LEN];
            for id in trees.iter() {
                c.execute(rusqlite::params![id, raw, ROOT_RAW_LEN as i64])
                    .expect("root");
                h.execute([id]).expect("head");
            }
        }
        tx.commit().expect("commit");
        Sqlite {
            conn,
            path,
            sync,
            counter: Arc::new(AtomicU64::new(0)),
            trees,
        }
    }

    fn rows(
        &mut self,
        sql: &str,
        tree: u32,
        arg: &dyn rusqlite::ToSql,
        f: &mut dyn FnMut(View<'_>),
    ) {
        let mut stmt = self.conn.prepare_cached(sql).expect("prepare");
        let mut rows = stmt
            .query(rusqlite::params![self.trees[tree as usize], arg])
            .expect("query");
        while let Some(row) = rows.next().expect("row") {
            f(View {
                id: row.get_ref(0).and_then(|v| Ok(v.as_str()?)).expect("id"),
                order_id: row.get_ref(1).and_then(|v| Ok(v.as_str()?)).expect("order"),
                add_seq: row.get_ref(2).and_then(|v| Ok(v.as_i64()?)).expect("seq") as u64,
                raw: row.get_ref(3).and_then(|v| Ok(v.as_blob()?)).expect("raw"),
            });
        }
    }
}

impl Backend for Sqlite {
    fn name(&self) -> String {
        format!("SQLite synchronous={}", self.sync.level())
    }

    fn add_all(&mut self, tree: u32, batch: Vec<ChangeSpec>) -> u64 {
        let tree_id = &self.trees[tree as usize];
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .expect("begin");
        let seq = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        {
            let mut ins = tx
                .prepare_cached(
                    "INSERT INTO changes (id, tree, order_id, add_seq, raw, prev_ids, snapshot_id,
                     snapshot_counter, change_size) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8)",
                )
                .expect("prepare");
            for c in &batch {
                ins.execute(rusqlite::params![
                    c.id,
                    tree_id,
                    c.order_id,
                    seq as i64,
                    c.raw,
                    c.prev_id,
                    c.snapshot_id,
                    c.raw.len() as i64
                ])
                .expect("insert change");
            }
            let mut up = tx
                .prepare_cached(
                    "INSERT INTO heads (id, heads, common_snapshot, last_add_seq)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (id) DO UPDATE SET heads = excluded.heads,
                     common_snapshot = excluded.common_snapshot, last_add_seq = excluded.last_add_seq",
                )
                .expect("prepare");
            let head = &batch.last().expect("a batch").id;
            up.execute(rusqlite::params![tree_id, head, tree_id, seq as i64])
                .expect("upsert head");
        }
        tx.commit().expect("commit");
        seq
    }

    fn get_after_add_seq(&mut self, tree: u32, after: u64, f: &mut dyn FnMut(View<'_>)) {
        self.rows(
            "SELECT id, order_id, add_seq, raw FROM changes
             WHERE tree = ?1 AND add_seq > ?2 ORDER BY order_id",
            tree,
            &(after as i64),
            f,
        );
    }

    fn get_after_order(&mut self, tree: u32, order: &str, f: &mut dyn FnMut(View<'_>)) {
        self.rows(
            "SELECT id, order_id, add_seq, raw FROM changes
             WHERE tree = ?1 AND order_id >= ?2 ORDER BY order_id",
            tree,
            &order,
            f,
        );
    }

    fn changes_after_add_seq(&mut self, after: u64, f: &mut dyn FnMut(View<'_>)) {
        changes_after_via_heads(self, after, f);
    }

    fn iterate_entries(&mut self, min: u64, f: &mut dyn FnMut(&str, u64)) {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, last_add_seq FROM heads
                 WHERE last_add_seq > ?1 AND deleted_status = 0 ORDER BY last_add_seq",
            )
            .expect("prepare");
        let mut rows = stmt.query([min as i64]).expect("query");
        while let Some(row) = rows.next().expect("row") {
            let id = row.get_ref(0).and_then(|v| Ok(v.as_str()?)).expect("id");
            let seq = row.get_ref(1).and_then(|v| Ok(v.as_i64()?)).expect("seq");
            f(id, seq as u64);
        }
    }

    fn handle(&self) -> Box<dyn Backend> {
        Box::new(Sqlite {
            conn: sqlite_connect(&self.path, self.sync),
            path: self.path.clone(),
            sync: self.sync,
            counter: Arc::clone(&self.counter),
            trees: Arc::clone(&self.trees),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// fjall.

/// fjall 3: a database with three keyspaces.
#[derive(Clone)]
pub struct Fjall {
    db: fjall::Database,
    changes: fjall::Keyspace,
    ids: fjall::Keyspace,
    heads: fjall::Keyspace,
    persist: Option<fjall::PersistMode>,
    counter: Arc<AtomicU64>,
    trees: Arc<Vec<String>>,
}

fn fjall_key(tree: &str, order: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(tree.len() + 1 + order.len());
    k.extend_from_slice(tree.as_bytes());
    k.push(0);
    k.extend_from_slice(order.as_bytes());
    k
}

impl Fjall {
    /// A new database in `dir` with the trees created; each batch commits with `persist`:
    /// `Some(Buffer)` (fjall 3's default for a write batch: the journal is written to the OS,
    /// surviving a process crash, as spacestore's `Buffered`), `Some(SyncData)` / `Some(SyncAll)`
    /// (fdatasync / fsync: spacestore's `Sync`), or `None`, which leaves the batch in the
    /// journal's user-space buffer: a process crash loses it, so it is **not** like-for-like with
    /// any spacestore durability (it is faster than `Buffered` promises to be).
    pub fn create(dir: &Path, persist: Option<fjall::PersistMode>) -> Self {
        let db = fjall::Database::builder(dir.join("fjall"))
            .open()
            .expect("fjall");
        let open = |name| {
            db.keyspace(name, fjall::KeyspaceCreateOptions::default)
                .expect("keyspace")
        };
        let (changes, ids, heads) = (open("changes"), open("ids"), open("heads"));
        let trees = tree_ids();
        let mut batch = db.batch();
        let mut buf = Vec::new();
        for id in trees.iter() {
            encode_root(&mut buf, id);
            batch.insert(&changes, fjall_key(id, ""), buf.as_slice());
            batch.insert(&ids, id.as_bytes(), fjall_key(id, ""));
            encode_head(&mut buf, 0, &[id], id);
            batch.insert(&heads, id.as_bytes(), buf.as_slice());
        }
        batch.commit().expect("commit");
        db.persist(fjall::PersistMode::SyncAll).expect("persist");
        Fjall {
            db,
            changes,
            ids,
            heads,
            persist,
            counter: Arc::new(AtomicU64::new(0)),
            trees,
        }
    }
}

impl Backend for Fjall {
    fn name(&self) -> String {
        match self.persist {
            None => "fjall no persist (not like-for-like)".into(),
            Some(fjall::PersistMode::Buffer) => "fjall PersistMode::Buffer".into(),
            Some(fjall::PersistMode::SyncData) => "fjall PersistMode::SyncData".into(),
            Some(fjall::PersistMode::SyncAll) => "fjall PersistMode::SyncAll".into(),
        }
    }

    fn add_all(&mut self, tree: u32, batch: Vec<ChangeSpec>) -> u64 {
        let tree_id = &self.trees[tree as usize];
        let mut keys = Vec::with_capacity(batch.len());
        for c in &batch {
            let key = fjall_key(tree_id, &c.order_id);
            let taken = self.ids.contains_key(c.id.as_bytes()).expect("get")
                || self.changes.contains_key(&key).expect("get");
            assert!(!taken, "duplicate change");
            keys.push(key);
        }
        let seq = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        let mut wb = self.db.batch().durability(self.persist);
        let mut buf = Vec::with_capacity(512);
        for (c, key) in batch.iter().zip(keys) {
            encode_change(&mut buf, seq, c);
            wb.insert(&self.ids, c.id.as_bytes(), key.as_slice());
            wb.insert(&self.changes, key, buf.as_slice());
        }
        let head = batch.last().expect("a batch").id.as_str();
        encode_head(&mut buf, seq, &[head], tree_id);
        wb.insert(&self.heads, tree_id.as_bytes(), buf.as_slice());
        wb.commit().expect("commit");
        seq
    }

    fn get_after_add_seq(&mut self, tree: u32, after: u64, f: &mut dyn FnMut(View<'_>)) {
        let prefix = fjall_key(&self.trees[tree as usize], "");
        for kv in self.changes.prefix(&prefix) {
            let (k, v) = kv.into_inner().expect("read");
            if seq_of(&v) > after {
                let order = std::str::from_utf8(&k[prefix.len()..]).expect("utf-8");
                f(decode_change(&v, order));
            }
        }
    }

    fn get_after_order(&mut self, tree: u32, order: &str, f: &mut dyn FnMut(View<'_>)) {
        let tree_id = &self.trees[tree as usize];
        let from = fjall_key(tree_id, order);
        let mut to = fjall_key(tree_id, "");
        *to.last_mut().expect("sep") = 1;
        let plen = tree_id.len() + 1;
        for kv in self.changes.range(from..to) {
            let (k, v) = kv.into_inner().expect("read");
            let order = std::str::from_utf8(&k[plen..]).expect("utf-8");
            f(decode_change(&v, order));
        }
    }

    fn changes_after_add_seq(&mut self, after: u64, f: &mut dyn FnMut(View<'_>)) {
        changes_after_via_heads(self, after, f);
    }

    fn iterate_entries(&mut self, min: u64, f: &mut dyn FnMut(&str, u64)) {
        let mut found: Vec<(u64, fjall::UserKey)> = Vec::new();
        for kv in self.heads.iter() {
            let (k, v) = kv.into_inner().expect("read");
            let (seq, deleted) = head_seq(&v);
            if seq > min && deleted == 0 {
                found.push((seq, k));
            }
        }
        found.sort_by_key(|e| e.0);
        for (seq, k) in &found {
            f(std::str::from_utf8(k).expect("utf-8"), *seq);
        }
    }

    /// Seals each keyspace's memtable and waits until it is flushed into a table, so that the
    /// reads run against fjall's on-disk tables (old versions of the head entries dropped by the
    /// flush), not against a memtable holding every write of the fill. fjall 3 has no documented
    /// flush; `rotate_memtable_and_wait` is public but `#[doc(hidden)]`.
    fn settle(&mut self) {
        for ks in [&self.changes, &self.ids, &self.heads] {
            ks.rotate_memtable_and_wait().expect("flush memtable");
        }
    }

    fn handle(&self) -> Box<dyn Backend> {
        Box::new(self.clone())
    }
}

// ---------------------------------------------------------------------------------------------
// redb.

use redb::{ReadableDatabase, ReadableTable};

const R_CHANGES: redb::TableDefinition<(&str, &str), &[u8]> = redb::TableDefinition::new("changes");
const R_IDS: redb::TableDefinition<&str, (&str, &str)> = redb::TableDefinition::new("ids");
const R_HEADS: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("heads");

/// redb: one database file with three tables.
#[derive(Clone)]
pub struct Redb {
    db: Arc<redb::Database>,
    durability: redb::Durability,
    counter: Arc<AtomicU64>,
    trees: Arc<Vec<String>>,
}

impl Redb {
    /// A new database in `dir` with the trees created; each `add_all` commits with `durability`.
    pub fn create(dir: &Path, durability: redb::Durability) -> Self {
        let db = redb::Database::create(dir.join("space.redb")).expect("redb");
        let trees = tree_ids();
        let tx = db.begin_write().expect("begin");
        {
            let mut changes = tx.open_table(R_CHANGES).expect("table");
            let mut ids = tx.open_table(R_IDS).expect("table");
            let mut heads = tx.open_table(R_HEADS).expect("table");
            let mut buf = Vec::new();
            for id in trees.iter() {
                encode_root(&mut buf, id);
                changes
                    .insert((id.as_str(), ""), buf.as_slice())
                    .expect("insert");
                ids.insert(id.as_str(), (id.as_str(), "")).expect("insert");
                encode_head(&mut buf, 0, &[id], id);
                heads.insert(id.as_str(), buf.as_slice()).expect("insert");
            }
        }
        tx.commit().expect("commit");
        Redb {
            db: Arc::new(db),
            durability,
            counter: Arc::new(AtomicU64::new(0)),
            trees,
        }
    }
}

impl Backend for Redb {
    fn name(&self) -> String {
        format!("redb Durability::{:?}", self.durability)
    }

    fn add_all(&mut self, tree: u32, batch: Vec<ChangeSpec>) -> u64 {
        let tree_id = self.trees[tree as usize].as_str();
        let mut tx = self.db.begin_write().expect("begin");
        tx.set_durability(self.durability).expect("durability");
        let seq = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        {
            let mut changes = tx.open_table(R_CHANGES).expect("table");
            let mut ids = tx.open_table(R_IDS).expect("table");
            let mut heads = tx.open_table(R_HEADS).expect("table");
            let mut buf = Vec::with_capacity(512);
            for c in &batch {
                let key = (tree_id, c.order_id.as_str());
                let taken = ids.insert(c.id.as_str(), key).expect("insert").is_some();
                assert!(!taken, "duplicate change id");
                encode_change(&mut buf, seq, c);
                let taken = changes
                    .insert(key, buf.as_slice())
                    .expect("insert")
                    .is_some();
                assert!(!taken, "order id in use");
            }
            let head = batch.last().expect("a batch").id.as_str();
            encode_head(&mut buf, seq, &[head], tree_id);
            heads.insert(tree_id, buf.as_slice()).expect("insert");
        }
        tx.commit().expect("commit");
        seq
    }

    fn get_after_add_seq(&mut self, tree: u32, after: u64, f: &mut dyn FnMut(View<'_>)) {
        let tree_id = self.trees[tree as usize].as_str();
        let tx = self.db.begin_read().expect("begin");
        let changes = tx.open_table(R_CHANGES).expect("table");
        for kv in changes
            .range((tree_id, "")..(tree_id, "\u{7f}"))
            .expect("range")
        {
            let (k, v) = kv.expect("read");
            let v = v.value();
            if seq_of(v) > after {
                f(decode_change(v, k.value().1));
            }
        }
    }

    fn get_after_order(&mut self, tree: u32, order: &str, f: &mut dyn FnMut(View<'_>)) {
        let tree_id = self.trees[tree as usize].as_str();
        let tx = self.db.begin_read().expect("begin");
        let changes = tx.open_table(R_CHANGES).expect("table");
        for kv in changes
            .range((tree_id, order)..(tree_id, "\u{7f}"))
            .expect("range")
        {
            let (k, v) = kv.expect("read");
            f(decode_change(v.value(), k.value().1));
        }
    }

    fn changes_after_add_seq(&mut self, after: u64, f: &mut dyn FnMut(View<'_>)) {
        changes_after_via_heads(self, after, f);
    }

    fn iterate_entries(&mut self, min: u64, f: &mut dyn FnMut(&str, u64)) {
        let tx = self.db.begin_read().expect("begin");
        let heads = tx.open_table(R_HEADS).expect("table");
        let mut found: Vec<(u64, String)> = Vec::new();
        for kv in heads.iter().expect("iter") {
            let (k, v) = kv.expect("read");
            let (seq, deleted) = head_seq(v.value());
            if seq > min && deleted == 0 {
                found.push((seq, k.value().to_owned()));
            }
        }
        found.sort_by_key(|e| e.0);
        for (seq, id) in &found {
            f(id, *seq);
        }
    }

    fn handle(&self) -> Box<dyn Backend> {
        Box::new(self.clone())
    }
}

// ---------------------------------------------------------------------------------------------
// raft-engine.

/// The key of a change in its tree's region: `c/` and the order id (so that the region's keys
/// in order are its changes by order id).
fn raft_change_key(order: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + order.len());
    k.extend_from_slice(b"c/");
    k.extend_from_slice(order.as_bytes());
    k
}

/// The key after every change key (`'0'` follows `'/'`).
const RAFT_CHANGES_END: &[u8] = b"c0";
/// The key of the tree's head entry in its region.
const RAFT_HEAD_KEY: &[u8] = b"head";

/// raft-engine (tikv's storage for multi-Raft logs) in its recommended durable configuration:
/// `Config { dir, ..Default::default() }` and every `add_all` one `LogBatch` written with
/// `Engine::write(&mut batch, true)`, so that the batch is fdatasync'ed before the call returns
/// (raft-engine groups concurrent writers behind a leader that writes and syncs for all of them,
/// as spacestore's `Sync` does): like-for-like with spacestore's `Sync`.
///
/// raft-engine is keyed by region: each tree is a region whose id is the tree's number. A
/// batch's changes are key-values of that region (`c/` + order id -> add_seq and the change, in
/// the peers' encoding) and its head entry is the key-value `head`; raft-engine keeps key-values
/// in its memtables, so the reads are answered from memory. Its Raft entries (`add_entries`)
/// need a protobuf message type, which these changes are not.
#[derive(Clone)]
pub struct RaftEngine {
    engine: Arc<raft_engine::Engine>,
    counter: Arc<AtomicU64>,
    trees: Arc<Vec<String>>,
}

impl RaftEngine {
    /// A new engine in `dir` (its subdirectory `raft-engine`) with the trees created (each
    /// region's root change and head entry, in one synced batch).
    pub fn create(dir: &Path) -> Self {
        let path = dir.join("raft-engine");
        let cfg = raft_engine::Config {
            dir: path.to_str().expect("utf-8 path").to_owned(),
            ..Default::default()
        };
        let engine = raft_engine::Engine::open(cfg).expect("raft-engine");
        let trees = tree_ids();
        let mut batch = raft_engine::LogBatch::default();
        let mut buf = Vec::new();
        for (t, id) in trees.iter().enumerate() {
            encode_root(&mut buf, id);
            batch
                .put(t as u64, raft_change_key(""), buf.clone())
                .expect("put");
            encode_head(&mut buf, 0, &[id], id);
            batch
                .put(t as u64, RAFT_HEAD_KEY.to_vec(), buf.clone())
                .expect("put");
        }
        engine.write(&mut batch, true).expect("write");
        RaftEngine {
            engine: Arc::new(engine),
            counter: Arc::new(AtomicU64::new(0)),
            trees,
        }
    }
}

impl Backend for RaftEngine {
    fn name(&self) -> String {
        "raft-engine sync=true".into()
    }

    fn add_all(&mut self, tree: u32, batch: Vec<ChangeSpec>) -> u64 {
        let region = tree as u64;
        let tree_id = &self.trees[tree as usize];
        let seq = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        let mut lb = raft_engine::LogBatch::with_capacity(batch.len() + 1);
        let mut buf = Vec::with_capacity(512);
        for c in &batch {
            let key = raft_change_key(&c.order_id);
            assert!(self.engine.get(region, &key).is_none(), "order id in use");
            encode_change(&mut buf, seq, c);
            lb.put(region, key, buf.clone()).expect("put");
        }
        let head = batch.last().expect("a batch").id.as_str();
        encode_head(&mut buf, seq, &[head], tree_id);
        lb.put(region, RAFT_HEAD_KEY.to_vec(), buf).expect("put");
        self.engine.write(&mut lb, true).expect("write");
        seq
    }

    fn get_after_add_seq(&mut self, tree: u32, after: u64, f: &mut dyn FnMut(View<'_>)) {
        let start = raft_change_key("");
        let end = RAFT_CHANGES_END;
        self.engine
            .scan_raw_messages(tree as u64, Some(&start), Some(end), false, |k, v| {
                if seq_of(v) > after {
                    let order = std::str::from_utf8(&k[2..]).expect("utf-8");
                    f(decode_change(v, order));
                }
                true
            })
            .expect("scan");
    }

    fn get_after_order(&mut self, tree: u32, order: &str, f: &mut dyn FnMut(View<'_>)) {
        let start = raft_change_key(order);
        let end = RAFT_CHANGES_END;
        self.engine
            .scan_raw_messages(tree as u64, Some(&start), Some(end), false, |k, v| {
                let order = std::str::from_utf8(&k[2..]).expect("utf-8");
                f(decode_change(v, order));
                true
            })
            .expect("scan");
    }

    fn changes_after_add_seq(&mut self, after: u64, f: &mut dyn FnMut(View<'_>)) {
        changes_after_via_heads(self, after, f);
    }

    fn iterate_entries(&mut self, min: u64, f: &mut dyn FnMut(&str, u64)) {
        let mut found: Vec<(u64, usize)> = Vec::new();
        for t in 0..self.trees.len() {
            if let Some(v) = self.engine.get(t as u64, RAFT_HEAD_KEY) {
                let (seq, deleted) = head_seq(&v);
                if seq > min && deleted == 0 {
                    found.push((seq, t));
                }
            }
        }
        found.sort_by_key(|e| e.0);
        for (seq, t) in &found {
            f(&self.trees[*t], *seq);
        }
    }

    fn handle(&self) -> Box<dyn Backend> {
        Box::new(self.clone())
    }
}

// ---------------------------------------------------------------------------------------------
// okaywal.

/// okaywal's log manager for the bench: recovers nothing (every run starts on an empty
/// directory) and checkpoints nothing (the bench keeps no store behind the log), as the crate's
/// example does.
#[derive(Debug)]
struct NoCheckpoint;

impl okaywal::LogManager for NoCheckpoint {
    fn recover(&mut self, _entry: &mut okaywal::Entry<'_>) -> std::io::Result<()> {
        Ok(())
    }

    fn checkpoint_to(
        &mut self,
        _last_checkpointed_id: okaywal::EntryId,
        _checkpointed_entries: &mut okaywal::SegmentReader,
        _wal: &okaywal::WriteAheadLog,
    ) -> std::io::Result<()> {
        Ok(())
    }
}

/// okaywal (a write-ahead log) in its default configuration: `WriteAheadLog::recover(dir,
/// manager)` (1 MiB preallocated segments, checkpoint after 768 KiB), with a log manager that
/// checkpoints nothing; each `add_all` is one entry (`begin_entry`), a chunk per change (tree id,
/// order id, then the change in the peers' encoding) and a chunk for the head entry (tree id and
/// the encoded head), then `commit()`, which returns once the entry is fsync'ed (okaywal batches
/// the fsyncs of concurrent commits itself): like-for-like with spacestore's `Sync`, which
/// writes the same fields to its log.
///
/// A log alone keeps no index, and its segments are recycled after a checkpoint, so this peer
/// answers no read: it runs in the durable write rows only, and its read methods panic.
#[derive(Clone)]
pub struct Okaywal {
    wal: okaywal::WriteAheadLog,
    counter: Arc<AtomicU64>,
    trees: Arc<Vec<String>>,
}

impl Okaywal {
    /// A new log in `dir` (its subdirectory `okaywal`); the trees need no creation (a log has
    /// no tables to fill).
    pub fn create(dir: &Path) -> Self {
        let wal =
            okaywal::WriteAheadLog::recover(dir.join("okaywal"), NoCheckpoint).expect("okaywal");
        Okaywal {
            wal,
            counter: Arc::new(AtomicU64::new(0)),
            trees: tree_ids(),
        }
    }
}

/// okaywal keeps no index to read from.
const OKAYWAL_NO_READS: &str =
    "okaywal is a log without an index: it is a peer of the durable write rows only";

impl Backend for Okaywal {
    fn name(&self) -> String {
        "okaywal".into()
    }

    fn add_all(&mut self, tree: u32, batch: Vec<ChangeSpec>) -> u64 {
        let tree_id = self.trees[tree as usize].as_bytes();
        let mut entry = self.wal.begin_entry().expect("begin entry");
        // The entry holds the log's active file until it commits, so seqs taken here follow
        // the log's order.
        let seq = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        let mut change = Vec::with_capacity(512);
        let mut chunk = Vec::with_capacity(640);
        for c in &batch {
            encode_change(&mut change, seq, c);
            chunk.clear();
            put_str(&mut chunk, tree_id);
            put_str(&mut chunk, c.order_id.as_bytes());
            chunk.extend_from_slice(&change);
            entry.write_chunk(&chunk).expect("write chunk");
        }
        let head = batch.last().expect("a batch").id.as_str();
        encode_head(&mut change, seq, &[head], &self.trees[tree as usize]);
        chunk.clear();
        put_str(&mut chunk, tree_id);
        chunk.extend_from_slice(&change);
        entry.write_chunk(&chunk).expect("write chunk");
        entry.commit().expect("commit");
        seq
    }

    fn get_after_add_seq(&mut self, _tree: u32, _after: u64, _f: &mut dyn FnMut(View<'_>)) {
        unimplemented!("{OKAYWAL_NO_READS}")
    }

    fn get_after_order(&mut self, _tree: u32, _order: &str, _f: &mut dyn FnMut(View<'_>)) {
        unimplemented!("{OKAYWAL_NO_READS}")
    }

    fn changes_after_add_seq(&mut self, _after: u64, _f: &mut dyn FnMut(View<'_>)) {
        unimplemented!("{OKAYWAL_NO_READS}")
    }

    fn iterate_entries(&mut self, _min: u64, _f: &mut dyn FnMut(&str, u64)) {
        unimplemented!("{OKAYWAL_NO_READS}")
    }

    fn handle(&self) -> Box<dyn Backend> {
        Box::new(self.clone())
    }
}
