//! Encoding of [`Record`]s into frame payloads and back (DESIGN.md, "On-disk format").
//!
//! Decoding never copies: ids and raw change bytes are slices of the segment's `Bytes` (a
//! memory map), and every length is checked against the bytes left before it is used, so no
//! input can make it panic or allocate more than the input's size allows.

use std::sync::Arc;

use byteorder::{ByteOrder, LittleEndian as LE};
use bytes::Bytes;

use crate::change::StorageChange;
use crate::entry::DeletedStatus;
use crate::id::Id;
use crate::record::{Batch, HeadFields, NewTree, Record};

const CREATE_TREE: u8 = 1;
const ADD_BATCH: u8 = 2;
const UPDATE_HEAD: u8 = 3;
const DELETE_ENTRY: u8 = 4;
const DELETE_TREE: u8 = 5;

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

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, b.len() as u32);
    out.extend_from_slice(b);
}
fn put_ids(out: &mut Vec<u8>, ids: &[Id]) {
    put_u32(out, ids.len() as u32);
    for id in ids {
        put_bytes(out, id.as_bytes());
    }
}

fn put_new_tree(out: &mut Vec<u8>, t: &NewTree) {
    put_bytes(out, t.root.id.as_bytes());
    put_bytes(out, &t.root.raw_change);
    put_bytes(out, t.root.order_id.as_bytes());
    match &t.parent_id {
        Some(p) => {
            out.push(1);
            put_bytes(out, p.as_bytes());
        }
        None => out.push(0),
    }
    out.push(t.is_derived as u8);
}

/// Appends the payload of `record` to `out`.
pub(crate) fn encode(record: &Record, out: &mut Vec<u8>) {
    match record {
        Record::CreateTree(t) => {
            out.push(CREATE_TREE);
            put_new_tree(out, t);
        }
        Record::AddBatch(b) => {
            out.push(ADD_BATCH);
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
            out.push(flags);
            put_bytes(out, b.tree_id.as_bytes());
            put_u64(out, b.seq);
            if let Some(t) = &b.create {
                put_new_tree(out, t);
            }
            if let Some(h) = &b.heads {
                put_ids(out, h);
            }
            put_bytes(out, b.common_snapshot.as_bytes());
            put_u32(out, b.changes.len() as u32);
            for c in &b.changes {
                put_bytes(out, c.id.as_bytes());
                put_bytes(out, &c.raw_change);
                put_ids(out, &c.prev_ids);
                put_bytes(out, c.snapshot_id.as_bytes());
                put_u32(out, c.snapshot_counter);
                put_bytes(out, c.order_id.as_bytes());
                put_u64(out, c.change_size);
            }
        }
        Record::UpdateHead(u) => {
            out.push(UPDATE_HEAD);
            put_bytes(out, u.id.as_bytes());
            let mut flags = 0;
            flags |= if u.heads.is_some() { F_HEADS } else { 0 };
            flags |= if u.common_snapshot.is_some() {
                F_COMMON_SNAPSHOT
            } else {
                0
            };
            flags |= if u.deleted_status.is_some() {
                F_DELETED_STATUS
            } else {
                0
            };
            flags |= if u.is_derived.is_some() {
                F_IS_DERIVED
            } else {
                0
            };
            flags |= if u.parent_id.is_some() {
                F_PARENT_ID
            } else {
                0
            };
            flags |= if u.last_add_seq.is_some() {
                F_LAST_ADD_SEQ
            } else {
                0
            };
            out.push(flags);
            if let Some(h) = &u.heads {
                put_ids(out, h);
            }
            if let Some(c) = &u.common_snapshot {
                put_bytes(out, c.as_bytes());
            }
            if let Some(d) = u.deleted_status {
                out.push(d as u8);
            }
            if let Some(d) = u.is_derived {
                out.push(d as u8);
            }
            if let Some(p) = &u.parent_id {
                put_bytes(out, p.as_bytes());
            }
            if let Some(s) = u.last_add_seq {
                put_u64(out, s);
            }
        }
        Record::DeleteEntry(id) => {
            out.push(DELETE_ENTRY);
            put_bytes(out, id.as_bytes());
        }
        Record::DeleteTree { tree_id, create } => {
            out.push(DELETE_TREE);
            put_bytes(out, tree_id.as_bytes());
            match create {
                Some(t) => {
                    out.push(1);
                    put_new_tree(out, t);
                }
                None => out.push(0),
            }
        }
    }
}

/// Why a payload did not decode (its CRC matched, so this is a format mismatch or a bug).
pub(crate) type DecodeError = &'static str;

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
    fn ids(&mut self) -> Result<Vec<Id>, DecodeError> {
        let n = self.count(4)?;
        (0..n).map(|_| self.id()).collect()
    }
    fn new_tree(&mut self) -> Result<NewTree, DecodeError> {
        let id = self.id()?;
        let raw_change = self.bytes()?;
        let order_id = self.id()?;
        let parent_id = if self.bool()? { Some(self.id()?) } else { None };
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
        };
        Ok(NewTree {
            root: Arc::new(root),
            parent_id,
            is_derived,
        })
    }
}

/// Decodes the record whose payload is `seg[range]`.
pub(crate) fn decode(seg: &Bytes, range: std::ops::Range<usize>) -> Result<Record, DecodeError> {
    let mut r = Reader {
        seg,
        pos: range.start,
        end: range.end,
    };
    let record = match r.u8()? {
        CREATE_TREE => Record::CreateTree(r.new_tree()?),
        ADD_BATCH => {
            let flags = r.u8()?;
            let tree_id = r.id()?;
            let seq = r.u64()?;
            let create = if flags & B_CREATE != 0 {
                Some(r.new_tree()?)
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
            let mut changes = Vec::with_capacity(n);
            for _ in 0..n {
                let change = StorageChange {
                    id: r.id()?,
                    raw_change: r.bytes()?,
                    prev_ids: r.ids()?,
                    snapshot_id: r.id()?,
                    snapshot_counter: r.u32()?,
                    order_id: r.id()?,
                    change_size: r.u64()?,
                    tree_id: tree_id.clone(),
                    add_seq: seq,
                };
                changes.push(Arc::new(change));
            }
            Record::AddBatch(Batch {
                tree_id,
                seq,
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
            let create = if r.bool()? { Some(r.new_tree()?) } else { None };
            Record::DeleteTree { tree_id, create }
        }
        _ => return Err("unknown record kind"),
    };
    if r.pos != r.end {
        return Err("bytes left over after the record");
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(record: Record) {
        let mut out = Vec::new();
        encode(&record, &mut out);
        let seg = Bytes::from(out);
        assert_eq!(decode(&seg, 0..seg.len()).unwrap(), record);
    }

    fn tree(id: &str) -> NewTree {
        NewTree {
            root: Arc::new(crate::TreeRoot::new(id, b"root".to_vec()).to_change()),
            parent_id: Some(Id::from("p")),
            is_derived: true,
        }
    }

    #[test]
    fn every_record_kind_round_trips() {
        round_trip(Record::CreateTree(tree("t")));
        let change = StorageChange {
            tree_id: Id::from("t"),
            add_seq: 9,
            ..StorageChange::new("c", "1", b"raw".to_vec())
                .with_prev_ids(["a", "b"])
                .with_snapshot("s", 3)
        };
        round_trip(Record::AddBatch(Batch {
            tree_id: Id::from("t"),
            seq: 9,
            changes: vec![Arc::new(change)],
            heads: Some(vec![Id::from("c")]),
            common_snapshot: Id::from("s"),
            skip_duplicates: true,
            create: Some(tree("t")),
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
    }

    #[test]
    fn a_truncated_payload_is_an_error_not_a_panic() {
        let mut out = Vec::new();
        encode(&Record::CreateTree(tree("t")), &mut out);
        let seg = Bytes::from(out);
        for end in 0..seg.len() {
            assert!(decode(&seg, 0..end).is_err());
        }
    }
}
