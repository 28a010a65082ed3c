//! Encoding of [`Record`]s into frame payloads and back (DESIGN.md, "On-disk format").
//!
//! Decoding never copies: ids and raw change bytes are slices of the segment's `Bytes` (a
//! memory map), and every length is checked against the bytes left before it is used, so no
//! input can make it panic or allocate more than the input's size allows.

use byteorder::{ByteOrder, LittleEndian as LE};
use bytes::Bytes;

use crate::change::StorageChange;
use crate::entry::DeletedStatus;
use crate::id::Id;
use crate::layout::{self, Encoded, Located, Payload, BATCH_ADDED, BATCH_OFF_FEED, ROOT_ADDED};
use crate::record::{
    AclFields, BatchChanges, BatchFields, CursorFields, CursorMove, HeadFields, NewSpace, NewTree,
    Record, UpdateRef,
};

const CREATE_TREE: u8 = 1;
const ADD_BATCH: u8 = 2;
const UPDATE_HEAD: u8 = 3;
const DELETE_ENTRY: u8 = 4;
const DELETE_TREE: u8 = 5;
const SET_CURSOR: u8 = 6;
const DELETE_CURSOR: u8 = 7;
const CREATE_SPACE: u8 = 8;
const SET_HASH: u8 = 9;
const ADD_ACL_RECORDS: u8 = 10;

/// The fewest bytes an ACL record takes: id, prev id, order, raw record, change size.
const MIN_ACL_RECORD: usize = 4 + 4 + 8 + 4 + 8;

// How a SetCursor moves its cursor.
const CURSOR_CREATE: u8 = 0;
const CURSOR_ACK: u8 = 1;
const CURSOR_RESET: u8 = 2;

// UpdateHead field flags.
const F_HEADS: u8 = 1;
const F_COMMON_SNAPSHOT: u8 = 2;
const F_DELETED_STATUS: u8 = 4;
const F_IS_DERIVED: u8 = 8;
const F_PARENT_ID: u8 = 16;
const F_LAST_ADD_SEQ: u8 = 32;

// Batch flags.
const B_HAS_HEADS: u8 = 1;
const B_SKIP_DUPLICATES: u8 = 2;
const B_CREATE: u8 = 4;
// 8: the batch's added time follows its seq (`layout::BATCH_ADDED`).
// 16: the batch is not in the space's feed (`layout::BATCH_OFF_FEED`).

// Root flags (the byte after a root's order id).
const R_PARENT: u8 = 1;
// 2: the root's added time follows the flags (`layout::ROOT_ADDED`).

/// Where an encoded record goes: a buffer, or a counter of its length ([`encoded_len`]), so that
/// the size of a record is known from the same code that writes it.
trait Sink {
    fn put(&mut self, b: &[u8]);
    /// Bytes put so far.
    fn pos(&self) -> usize;
}

impl Sink for Vec<u8> {
    fn put(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
    fn pos(&self) -> usize {
        self.len()
    }
}

/// Counts the bytes an encoding would take.
struct Count(u64);

impl Sink for Count {
    fn put(&mut self, b: &[u8]) {
        self.0 += b.len() as u64;
    }
    fn pos(&self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

/// A length or count as the format's u32. Every record written fits a frame (the commit path
/// refuses larger ones with `Error::BatchTooLarge`, before `encode`), so every part of it fits
/// too; `Count` only needs the four bytes.
fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn put_u8(out: &mut impl Sink, v: u8) {
    out.put(&[v]);
}
fn put_u32(out: &mut impl Sink, v: u32) {
    out.put(&v.to_le_bytes());
}
fn put_u64(out: &mut impl Sink, v: u64) {
    out.put(&v.to_le_bytes());
}
fn put_bytes(out: &mut impl Sink, b: &[u8]) {
    put_u32(out, len32(b.len()));
    out.put(b);
}
fn put_ids(out: &mut impl Sink, ids: &[Id]) {
    put_u32(out, len32(ids.len()));
    for id in ids {
        put_bytes(out, id.as_bytes());
    }
}

fn put_new_tree(out: &mut impl Sink, t: &NewTree) {
    put_bytes(out, t.root.id.as_bytes());
    put_bytes(out, &t.root.raw_change);
    put_bytes(out, t.root.order_id.as_bytes());
    let mut flags = 0;
    if t.parent_id.is_some() {
        flags |= R_PARENT;
    }
    if t.root.added != 0 {
        flags |= ROOT_ADDED;
    }
    put_u8(out, flags);
    if t.root.added != 0 {
        put_u64(out, t.root.added);
    }
    if let Some(p) = &t.parent_id {
        put_bytes(out, p.as_bytes());
    }
    put_u8(out, t.is_derived as u8);
}

fn put_acl(out: &mut impl Sink, r: &AclFields) {
    put_bytes(out, r.id.as_bytes());
    put_bytes(out, r.prev_id.as_bytes());
    put_u64(out, r.order);
    put_bytes(out, &r.raw);
    put_u64(out, r.change_size);
}

/// The length of `record`'s payload, without encoding it.
pub(crate) fn encoded_len(record: &Record) -> u64 {
    let mut n = Count(0);
    encode_into(record, &mut n, 0);
    n.0
}

/// The length of the payload of an update-head record of `u`, without encoding it: with
/// [`UpdateRef::whole`], what a checkpoint writes for an entry.
pub(crate) fn head_len(u: UpdateRef<'_>) -> u64 {
    let mut n = Count(0);
    put_head(&mut n, u);
    n.0
}

/// The length of a batch record's payload, without encoding it.
pub(crate) fn batch_len(batch: &BatchFields) -> u64 {
    let mut n = Count(0);
    put_batch(&mut n, batch, 0);
    n.0
}

/// Appends the payload of `record` to `out`; returns where its root and its changes begin,
/// relative to where the payload begins. The caller has checked that it fits a frame
/// ([`encoded_len`]).
pub(crate) fn encode(record: &Record, out: &mut Vec<u8>) -> Located {
    let start = out.len();
    encode_into(record, out, start)
}

/// The payload of `record`, whose length (`encoded_len`, counted when its size was checked) is
/// `len`, in a buffer of its own of exactly that size, with where its root and changes begin:
/// what the log writes and memory keeps.
pub(crate) fn encode_payload(record: &Record, len: u64) -> Encoded {
    let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    let at = encode(record, &mut out);
    Encoded {
        // Written from the record: its ids are `Id`s.
        bytes: Payload::vouched_by_codec(Bytes::from(out)),
        at,
    }
}

/// An offset inside a payload (which fits a frame, so it fits a u32).
fn offset(out: &impl Sink, start: usize) -> u32 {
    u32::try_from(out.pos() - start).unwrap_or(u32::MAX)
}

fn put_batch(out: &mut impl Sink, b: &BatchFields, start: usize) -> Located {
    let mut at = Located::default();
    put_u8(out, ADD_BATCH);
    let mut flags = 0;
    if b.heads.is_some() {
        flags |= B_HAS_HEADS;
    }
    if b.skip_duplicates {
        flags |= B_SKIP_DUPLICATES;
    }
    if b.create.is_some() {
        flags |= B_CREATE;
    }
    if b.added != 0 {
        flags |= BATCH_ADDED;
    }
    if !b.in_feed {
        flags |= BATCH_OFF_FEED;
    }
    put_u8(out, flags);
    put_bytes(out, b.tree_id.as_bytes());
    put_u64(out, b.seq);
    if b.added != 0 {
        put_u64(out, b.added);
    }
    if let Some(t) = &b.create {
        at.root = Some(offset(out, start));
        put_new_tree(out, t);
    }
    if let Some(h) = &b.heads {
        put_ids(out, h);
    }
    put_bytes(out, b.common_snapshot.as_bytes());
    put_u32(out, len32(b.changes.len()));
    at.changes = Some(offset(out, start));
    match &b.changes {
        BatchChanges::Given(changes) => {
            for c in changes {
                put_bytes(out, c.id.as_bytes());
                put_bytes(out, &c.raw_change);
                put_ids(out, &c.prev_ids);
                put_bytes(out, c.snapshot_id.as_bytes());
                put_u32(out, c.snapshot_counter);
                put_bytes(out, c.order_id.as_bytes());
                put_u64(out, c.change_size);
            }
        }
        // Already in this layout: each change's bytes as they are.
        BatchChanges::Logged {
            payload,
            first,
            count,
        } => out.put(layout::changes_bytes(payload, *first, *count)),
    }
    at
}

fn put_head(out: &mut impl Sink, u: UpdateRef<'_>) {
    put_u8(out, UPDATE_HEAD);
    put_bytes(out, u.id.as_bytes());
    let mut flags = 0;
    let mut flag = |set: bool, flag: u8| {
        if set {
            flags |= flag;
        }
    };
    flag(u.heads.is_some(), F_HEADS);
    flag(u.common_snapshot.is_some(), F_COMMON_SNAPSHOT);
    flag(u.deleted_status.is_some(), F_DELETED_STATUS);
    flag(u.is_derived.is_some(), F_IS_DERIVED);
    flag(u.parent_id.is_some(), F_PARENT_ID);
    flag(u.last_add_seq.is_some(), F_LAST_ADD_SEQ);
    put_u8(out, flags);
    if let Some(h) = u.heads {
        put_ids(out, h);
    }
    if let Some(c) = u.common_snapshot {
        put_bytes(out, c.as_bytes());
    }
    if let Some(d) = u.deleted_status {
        put_u8(out, d as u8);
    }
    if let Some(d) = u.is_derived {
        put_u8(out, d as u8);
    }
    if let Some(p) = u.parent_id {
        put_bytes(out, p.as_bytes());
    }
    if let Some(s) = u.last_add_seq {
        put_u64(out, s);
    }
}

fn encode_into(record: &Record, out: &mut impl Sink, start: usize) -> Located {
    let mut at = Located::default();
    match record {
        Record::CreateTree(t) => {
            put_u8(out, CREATE_TREE);
            at.root = Some(offset(out, start));
            put_new_tree(out, t);
        }
        Record::AddBatch(b) => at = put_batch(out, b, start),
        Record::UpdateHead(u) => put_head(out, u.into()),
        Record::DeleteEntry(id) => {
            put_u8(out, DELETE_ENTRY);
            put_bytes(out, id.as_bytes());
        }
        Record::DeleteTree { tree_id, create } => {
            put_u8(out, DELETE_TREE);
            put_bytes(out, tree_id.as_bytes());
            match create {
                Some(t) => {
                    put_u8(out, 1);
                    at.root = Some(offset(out, start));
                    put_new_tree(out, t);
                }
                None => put_u8(out, 0),
            }
        }
        Record::SetCursor(c) => {
            put_u8(out, SET_CURSOR);
            put_bytes(out, c.name.as_bytes());
            put_u64(out, c.seq);
            put_u8(
                out,
                match c.how {
                    CursorMove::Create => CURSOR_CREATE,
                    CursorMove::Ack => CURSOR_ACK,
                    CursorMove::Reset => CURSOR_RESET,
                },
            );
        }
        Record::DeleteCursor(name) => {
            put_u8(out, DELETE_CURSOR);
            put_bytes(out, name.as_bytes());
        }
        Record::CreateSpace(space) => {
            put_u8(out, CREATE_SPACE);
            put_bytes(out, space.space_id.as_bytes());
            put_bytes(out, &space.space_header);
            put_acl(out, &space.acl_root);
            put_bytes(out, space.settings_id.as_bytes());
            match &space.settings {
                Some(t) => {
                    put_u8(out, 1);
                    at.root = Some(offset(out, start));
                    put_new_tree(out, t);
                }
                None => put_u8(out, 0),
            }
        }
        Record::SetHash(hash) => {
            put_u8(out, SET_HASH);
            put_bytes(out, hash.as_bytes());
        }
        Record::AddAclRecords(records) => {
            put_u8(out, ADD_ACL_RECORDS);
            put_u32(out, len32(records.len()));
            for r in records {
                put_acl(out, r);
            }
        }
    }
    at
}

/// Why a payload did not decode (its CRC matched, so this is a format mismatch or a bug).
pub(crate) type DecodeError = &'static str;

/// A list the codec decodes ids into.
trait IdPush {
    fn with_capacity(n: usize) -> Self;
    fn push_id(&mut self, id: Id);
}

impl IdPush for Vec<Id> {
    fn with_capacity(n: usize) -> Self {
        Vec::with_capacity(n)
    }
    fn push_id(&mut self, id: Id) {
        self.push(id);
    }
}

impl IdPush for crate::record::IdList {
    fn with_capacity(n: usize) -> Self {
        crate::record::IdList::with_capacity(n)
    }
    fn push_id(&mut self, id: Id) {
        self.push(id);
    }
}

/// A bounds-checked cursor over a payload inside a segment.
struct Reader<'a> {
    seg: &'a Bytes,
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<std::ops::Range<usize>, DecodeError> {
        if n > self.end - self.pos {
            return Err("a field runs past the end of its frame");
        }
        let r = self.pos..self.pos + n;
        self.pos += n;
        Ok(r)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        let r = self.take(1)?;
        Ok(self.seg[r.start])
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let r = self.take(4)?;
        Ok(LE::read_u32(&self.seg[r]))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        let r = self.take(8)?;
        Ok(LE::read_u64(&self.seg[r]))
    }
    fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let n = self.u32()? as usize;
        let r = self.take(n)?;
        Ok(self.seg.slice(r))
    }
    fn id(&mut self) -> Result<Id, DecodeError> {
        Id::from_utf8(self.bytes()?).map_err(|_| "an id is not UTF-8")
    }
    /// Moves past a length-prefixed field, as [`Reader::bytes`] reads it.
    fn skip_bytes(&mut self) -> Result<(), DecodeError> {
        let n = self.u32()? as usize;
        self.take(n).map(|_| ())
    }
    /// Moves past an id, checked as [`Reader::id`] checks it.
    fn skip_id(&mut self) -> Result<(), DecodeError> {
        let n = self.u32()? as usize;
        let r = self.take(n)?;
        if crate::id::is_utf8(&self.seg[r]) {
            Ok(())
        } else {
            Err("an id is not UTF-8")
        }
    }
    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err("a flag is neither 0 nor 1"),
        }
    }
    /// A count of items each at least `min_item` bytes long, checked against the bytes left,
    /// so that a bad count cannot make a huge allocation.
    fn count(&mut self, min_item: usize) -> Result<usize, DecodeError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item) > self.end - self.pos {
            return Err("a count exceeds what its frame can hold");
        }
        Ok(n)
    }
    /// A list of ids, pushed one by one (`collect` through `Result` cost more than the ids'
    /// own decoding for a batch's one head).
    fn ids<C: IdPush>(&mut self) -> Result<C, DecodeError> {
        let n = self.count(4)?;
        let mut ids = C::with_capacity(n);
        for _ in 0..n {
            ids.push_id(self.id()?);
        }
        Ok(ids)
    }
    fn acl(&mut self) -> Result<AclFields, DecodeError> {
        Ok(AclFields {
            id: self.id()?,
            prev_id: self.id()?,
            order: self.u64()?,
            raw: self.bytes()?,
            change_size: self.u64()?,
        })
    }
    fn new_tree(&mut self) -> Result<NewTree, DecodeError> {
        let id = self.id()?;
        let raw_change = self.bytes()?;
        let order_id = self.id()?;
        let flags = self.u8()?;
        if flags & !(R_PARENT | ROOT_ADDED) != 0 {
            return Err("unknown root flags");
        }
        let added = if flags & ROOT_ADDED != 0 {
            self.u64()?
        } else {
            0
        };
        let parent_id = if flags & R_PARENT != 0 {
            Some(self.id()?)
        } else {
            None
        };
        let is_derived = self.bool()?;
        let root = StorageChange {
            tree_id: id.clone(),
            change_size: raw_change.len() as u64,
            id,
            raw_change,
            prev_ids: Vec::new(),
            snapshot_id: Id::default(),
            snapshot_counter: 1,
            order_id,
            add_seq: 0,
            added,
        };
        Ok(NewTree {
            root,
            parent_id,
            is_derived,
        })
    }
}

/// Decodes the record whose payload is `seg[range]`; also says where its root and its changes
/// begin, relative to `range.start`.
pub(crate) fn decode(
    seg: &Bytes,
    range: std::ops::Range<usize>,
) -> Result<(Record, Located), DecodeError> {
    let start = range.start;
    let mut r = Reader {
        seg,
        pos: range.start,
        end: range.end,
    };
    let mut at = Located::default();
    let here = |r: &Reader<'_>| u32::try_from(r.pos - start).unwrap_or(u32::MAX);
    let record = match r.u8()? {
        CREATE_TREE => {
            at.root = Some(here(&r));
            Record::CreateTree(Box::new(r.new_tree()?))
        }
        ADD_BATCH => {
            let flags = r.u8()?;
            let known = B_HAS_HEADS | B_SKIP_DUPLICATES | B_CREATE | BATCH_ADDED | BATCH_OFF_FEED;
            if flags & !known != 0 {
                return Err("unknown batch flags");
            }
            let tree_id = r.id()?;
            let seq = r.u64()?;
            let added = if flags & BATCH_ADDED != 0 {
                r.u64()?
            } else {
                0
            };
            let create = if flags & B_CREATE != 0 {
                at.root = Some(here(&r));
                Some(Box::new(r.new_tree()?))
            } else {
                None
            };
            let heads = if flags & B_HAS_HEADS != 0 {
                Some(r.ids()?)
            } else {
                None
            };
            let common_snapshot = r.id()?;
            // id, raw, prev count, snapshot id, counter, order id, size: at least 32 bytes.
            let n = r.count(32)?;
            let first = here(&r);
            at.changes = Some(first);
            // Checked as the fields of a `StorageChange` would be, and left in place.
            for _ in 0..n {
                r.skip_id()?;
                r.skip_bytes()?;
                let prev_ids = r.count(4)?;
                for _ in 0..prev_ids {
                    r.skip_id()?;
                }
                r.skip_id()?;
                r.u32()?;
                r.skip_id()?;
                r.u64()?;
            }
            let changes = BatchChanges::Logged {
                // Every change checked above; the record (and this with it) is returned only
                // if the rest of the payload decodes too.
                payload: Payload::vouched_by_codec(seg.slice(range.clone())),
                first,
                count: u32::try_from(n).map_err(|_| "too many changes")?,
            };
            Record::AddBatch(BatchFields {
                tree_id,
                seq,
                added,
                in_feed: flags & BATCH_OFF_FEED == 0,
                changes,
                heads,
                common_snapshot,
                skip_duplicates: flags & B_SKIP_DUPLICATES != 0,
                create,
            })
        }
        UPDATE_HEAD => {
            let mut u = HeadFields {
                id: r.id()?,
                ..HeadFields::default()
            };
            let flags = r.u8()?;
            if flags & F_HEADS != 0 {
                u.heads = Some(r.ids()?);
            }
            if flags & F_COMMON_SNAPSHOT != 0 {
                u.common_snapshot = Some(r.id()?);
            }
            if flags & F_DELETED_STATUS != 0 {
                let d = DeletedStatus::from_u8(r.u8()?).ok_or("unknown deleted status")?;
                u.deleted_status = Some(d);
            }
            if flags & F_IS_DERIVED != 0 {
                u.is_derived = Some(r.bool()?);
            }
            if flags & F_PARENT_ID != 0 {
                u.parent_id = Some(r.id()?);
            }
            if flags & F_LAST_ADD_SEQ != 0 {
                u.last_add_seq = Some(r.u64()?);
            }
            Record::UpdateHead(u)
        }
        DELETE_ENTRY => Record::DeleteEntry(r.id()?),
        DELETE_TREE => {
            let tree_id = r.id()?;
            let create = if r.bool()? {
                at.root = Some(here(&r));
                Some(Box::new(r.new_tree()?))
            } else {
                None
            };
            Record::DeleteTree { tree_id, create }
        }
        SET_CURSOR => Record::SetCursor(CursorFields {
            name: r.id()?,
            seq: r.u64()?,
            how: match r.u8()? {
                CURSOR_CREATE => CursorMove::Create,
                CURSOR_ACK => CursorMove::Ack,
                CURSOR_RESET => CursorMove::Reset,
                _ => return Err("unknown cursor move"),
            },
        }),
        DELETE_CURSOR => Record::DeleteCursor(r.id()?),
        CREATE_SPACE => {
            let space_id = r.id()?;
            let space_header = r.bytes()?;
            let acl_root = r.acl()?;
            let settings_id = r.id()?;
            let settings = if r.bool()? {
                at.root = Some(here(&r));
                Some(r.new_tree()?)
            } else {
                None
            };
            if settings.as_ref().is_some_and(|t| t.root.id != settings_id) {
                return Err("a space's settings tree is not the one its state names");
            }
            Record::CreateSpace(Box::new(NewSpace {
                space_id,
                space_header,
                acl_root,
                settings,
                settings_id,
            }))
        }
        SET_HASH => Record::SetHash(r.id()?),
        ADD_ACL_RECORDS => {
            let n = r.count(MIN_ACL_RECORD)?;
            let records = (0..n).map(|_| r.acl()).collect::<Result<_, _>>()?;
            Record::AddAclRecords(records)
        }
        _ => return Err("unknown record kind"),
    };
    if r.pos != r.end {
        return Err("bytes left over after the record");
    }
    Ok((record, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decoded record with its batch's changes read out of its payload, as given.
    fn read_out(record: Record) -> Record {
        let Record::AddBatch(mut b) = record else {
            return record;
        };
        if let BatchChanges::Logged {
            payload,
            first,
            count,
        } = &b.changes
        {
            let changes = layout::change_offsets(payload, *first, *count)
                .map(|(at, _)| layout::change(payload, at, Id::default(), 0, 0).unwrap())
                .collect();
            b.changes = BatchChanges::Given(changes);
        }
        Record::AddBatch(b)
    }

    fn round_trip(record: Record) {
        let mut out = Vec::new();
        let at = encode(&record, &mut out);
        let seg = Bytes::from(out);
        let (decoded, decoded_at) = decode(&seg, 0..seg.len()).unwrap();
        assert_eq!((read_out(decoded.clone()), decoded_at), (record, at));
        // A decoded record encodes to the same bytes.
        let mut again = Vec::new();
        assert_eq!(encode(&decoded, &mut again), at);
        assert_eq!(again, seg);
    }

    fn tree(id: &str) -> NewTree {
        let mut tree = NewTree::of(&crate::TreeRoot::new(id, b"root".to_vec()), 1_700_000_000);
        tree.parent_id = Some(Id::from("p"));
        tree.is_derived = true;
        tree
    }

    #[test]
    fn every_record_kind_round_trips() {
        round_trip(Record::CreateTree(Box::new(tree("t"))));
        let change = StorageChange::new("c", "1", b"raw".to_vec())
            .with_prev_ids(["a", "b"])
            .with_snapshot("s", 3);
        round_trip(Record::AddBatch(BatchFields {
            tree_id: Id::from("t"),
            seq: 9,
            added: 1_700_000_000,
            in_feed: false,
            changes: BatchChanges::Given(vec![change]),
            heads: Some(smallvec::smallvec![Id::from("c")]),
            common_snapshot: Id::from("s"),
            skip_duplicates: true,
            create: Some(Box::new(tree("t"))),
        }));
        round_trip(Record::UpdateHead(HeadFields {
            id: Id::from("x"),
            heads: Some(vec![Id::from("a")]),
            common_snapshot: Some(Id::from("b")),
            deleted_status: Some(DeletedStatus::Queued),
            is_derived: Some(false),
            parent_id: Some(Id::from("p")),
            last_add_seq: Some(5),
        }));
        round_trip(Record::UpdateHead(HeadFields {
            id: Id::from("y"),
            ..HeadFields::default()
        }));
        round_trip(Record::DeleteEntry(Id::from("x")));
        round_trip(Record::DeleteTree {
            tree_id: Id::from("t"),
            create: None,
        });
        for how in [CursorMove::Create, CursorMove::Ack, CursorMove::Reset] {
            round_trip(Record::SetCursor(CursorFields {
                name: Id::from("indexer"),
                seq: 42,
                how,
            }));
        }
        round_trip(Record::DeleteCursor(Id::from("indexer")));
        let acl = |id: &str, order| AclFields {
            id: Id::from(id),
            prev_id: Id::from("prev"),
            order,
            raw: Bytes::from_static(b"record"),
            change_size: 6,
        };
        for settings in [Some(tree("settings")), None] {
            round_trip(Record::CreateSpace(Box::new(NewSpace {
                space_id: Id::from("space.1"),
                space_header: Bytes::from_static(b"header"),
                acl_root: acl("acl", 1),
                settings,
                settings_id: Id::from("settings"),
            })));
        }
        round_trip(Record::SetHash(Id::from("hash")));
        round_trip(Record::AddAclRecords(vec![acl("a2", 2), acl("a3", 3)]));
    }

    #[test]
    fn a_batch_and_a_root_without_an_added_time_read_as_zero() {
        // A log written before `added` was kept: no flag, no field.
        let mut tree = tree("t");
        tree.root.added = 0;
        let batch = BatchFields {
            tree_id: Id::from("t"),
            seq: 1,
            added: 0,
            in_feed: true,
            changes: BatchChanges::Given(vec![StorageChange::new("c", "1", b"raw".to_vec())]),
            heads: None,
            common_snapshot: Id::from("t"),
            skip_duplicates: false,
            create: Some(Box::new(tree)),
        };
        let mut out = Vec::new();
        encode(&Record::AddBatch(batch.clone()), &mut out);
        assert_eq!(out[1] & BATCH_ADDED, 0);
        round_trip(Record::AddBatch(batch));
    }

    #[test]
    fn unknown_batch_or_root_flags_are_an_error() {
        let mut out = Vec::new();
        encode(&Record::CreateTree(Box::new(tree("t"))), &mut out);
        // The root's flags byte: after the kind, the id, the raw bytes and the order id.
        let flags_at = 1 + (4 + 1) + (4 + 4) + 4;
        assert_eq!(out[flags_at], 1 | ROOT_ADDED);
        out[flags_at] |= 0x80;
        let seg = Bytes::from(out);
        assert_eq!(decode(&seg, 0..seg.len()), Err("unknown root flags"));
    }

    #[test]
    fn a_truncated_payload_is_an_error_not_a_panic() {
        let mut out = Vec::new();
        encode(&Record::CreateTree(Box::new(tree("t"))), &mut out);
        let seg = Bytes::from(out);
        for end in 0..seg.len() {
            assert!(decode(&seg, 0..end).is_err());
        }
    }
}
