//! The byte layout of a stored change and of a tree's root inside an encoded record (DESIGN.md,
//! "On-disk format"), and [`Encoded`]: a record's payload with where its root and its changes
//! begin.
//!
//! The log's codec writes records in this layout; memory keeps no copy of a change, only where
//! it lies in its record's payload (a slice of a mapped segment after replay, the buffer its
//! frame was written from on the live path), and reads its fields back from there. Every read
//! is bounds-checked and gives `None` rather than panicking; the payloads memory holds were
//! written by the codec or decoded by it (every length checked, every id UTF-8) first.

use std::ops::Range;

use byteorder::{ByteOrder, LittleEndian as LE};
use bytes::Bytes;

use crate::change::StorageChange;
use crate::id::Id;

/// Where, in a batch record's payload, the tree id's length prefix is (after the record kind
/// and the batch flags).
pub(crate) const BATCH_TREE_AT: u32 = 2;

/// The batch flag saying that the batch's `added` time (u64) follows its AddSeq.
pub(crate) const BATCH_ADDED: u8 = 8;

/// The batch flag saying that the batch is not in the space's feed (its seq came from a
/// counter of its own).
pub(crate) const BATCH_OFF_FEED: u8 = 16;

/// Whether the batch whose payload is `b` is in the space's feed.
pub(crate) fn batch_in_feed(b: &[u8]) -> bool {
    b.get(1).is_none_or(|flags| flags & BATCH_OFF_FEED == 0)
}

/// The root flag (in the byte after the root's order id) saying that the root's `added` time
/// (u64) follows that byte; bit 1 says a parent id follows.
pub(crate) const ROOT_ADDED: u8 = 2;

/// A record's payload as the codec wrote it (from a `Record`, whose ids are `Id`s: UTF-8 by
/// type) or decoded it (every length checked, every id checked as UTF-8): the only bytes the
/// readers of this module take ids from without checking them again. Only the codec makes
/// one, and its bytes never change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Payload(Bytes);

impl Payload {
    /// `bytes`, which the codec has just written from a record or checked as it decoded them.
    /// Only the codec (`wal/codec.rs`, and the scanner handing out what it decoded) calls this.
    pub(crate) fn vouched_by_codec(bytes: Bytes) -> Payload {
        Payload(bytes)
    }

    /// Bytes laid out by hand in a unit test, whose ids are ASCII.
    #[cfg(test)]
    pub(crate) fn of_test(bytes: Bytes) -> Payload {
        Payload(bytes)
    }

    /// The bytes, shared.
    pub(crate) fn bytes(&self) -> &Bytes {
        &self.0
    }
}

impl std::ops::Deref for Payload {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// A record's payload and where the parts memory keeps begin.
#[derive(Clone, Debug, Default)]
pub(crate) struct Encoded {
    /// The payload.
    pub(crate) bytes: Payload,
    /// Where they begin.
    pub(crate) at: Located,
}

/// Where a record's root and changes begin, as offsets into its payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Located {
    /// The root of the tree the record creates (a tree creation, or a deferred storage's first
    /// batch or deletion).
    pub(crate) root: Option<u32>,
    /// A batch's first change (the others follow it, in the order given).
    pub(crate) changes: Option<u32>,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at.checked_add(4)?).map(LE::read_u32)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at.checked_add(8)?).map(LE::read_u64)
}

/// The range of the length-prefixed field at `at`.
fn field(b: &[u8], at: usize) -> Option<Range<usize>> {
    let start = at.checked_add(4)?;
    let end = start.checked_add(u32_at(b, at)? as usize)?;
    (end <= b.len()).then_some(start..end)
}

/// The bytes of the length-prefixed field at `at` (empty when it is not there).
pub(crate) fn field_bytes(b: &[u8], at: u32) -> &[u8] {
    field(b, at as usize).map_or(&[][..], |r| &b[r])
}

/// Where the field after the length-prefixed field at `at` begins.
fn after_field(b: &[u8], at: usize) -> Option<usize> {
    field(b, at).map(|r| r.end)
}

/// Where the list of fields at `at` (a count, then each field) ends.
fn after_fields(b: &[u8], at: usize) -> Option<usize> {
    let n = u32_at(b, at)?;
    let mut pos = at + 4;
    for _ in 0..n {
        pos = after_field(b, pos)?;
    }
    Some(pos)
}

/// A stored change at `at`: id, raw bytes, prev ids (a count, then each), snapshot id,
/// snapshot counter (u32), order id, change size (u64). Returns where its order id is and
/// where the next change begins.
pub(crate) fn change_extent(b: &[u8], at: u32) -> Option<(u32, u32)> {
    // Where each field begins: past the id, the raw bytes, the prev ids, the snapshot id and
    // the counter.
    let raw = after_field(b, at as usize)?;
    let prev_ids = after_field(b, raw)?;
    let snapshot_id = after_fields(b, prev_ids)?;
    let counter = after_field(b, snapshot_id)?;
    let order = counter.checked_add(4)?;
    let size = after_field(b, order)?;
    let end = size.checked_add(8)?;
    (end <= b.len()).then_some((u32::try_from(order).ok()?, u32::try_from(end).ok()?))
}

/// The one walk over a batch's changes, laid out one after the other: yields where each begins
/// and where its order id is, in order, and ends early at a change that does not fit.
pub(crate) struct ChangeOffsets<'a> {
    bytes: &'a [u8],
    /// Where the next change begins (past the last one walked).
    next: u32,
    left: u32,
}

impl ChangeOffsets<'_> {
    /// Where the walk stands: past the last change it yielded.
    pub(crate) fn end(&self) -> u32 {
        self.next
    }
}

impl Iterator for ChangeOffsets<'_> {
    type Item = (u32, u32);

    fn next(&mut self) -> Option<(u32, u32)> {
        if self.left == 0 {
            return None;
        }
        let at = self.next;
        let Some((order, end)) = change_extent(self.bytes, at) else {
            self.left = 0;
            return None;
        };
        self.left -= 1;
        self.next = end;
        Some((at, order))
    }
}

/// The walk over the `count` changes laid out one after the other from `first` on.
pub(crate) fn change_offsets(b: &[u8], first: u32, count: u32) -> ChangeOffsets<'_> {
    ChangeOffsets {
        bytes: b,
        next: first,
        left: count,
    }
}

/// The bytes of the `count` changes laid out one after the other from `first` on (as far as
/// they fit).
pub(crate) fn changes_bytes(b: &[u8], first: u32, count: u32) -> &[u8] {
    let mut walk = change_offsets(b, first, count);
    walk.by_ref().for_each(drop);
    b.get(first as usize..walk.end() as usize)
        .unwrap_or_default()
}

/// Where the fields of a stored change lie in its payload, read in place by
/// [`crate::ChangeView`]: the raw bytes, the prev ids (their count and where the first begins),
/// the snapshot id, the snapshot counter and the change size. A root has no prev ids, an empty
/// snapshot id, counter 1 and its raw bytes' length as its size.
#[derive(Clone, Debug, Default)]
pub(crate) struct Fields {
    pub(crate) raw: Range<usize>,
    pub(crate) prev_count: u32,
    pub(crate) prev_at: usize,
    pub(crate) snapshot: Range<usize>,
    pub(crate) snapshot_counter: u32,
    pub(crate) change_size: u64,
}

/// The fields of the change at `at` of a batch (`root`: of the root at `at`).
pub(crate) fn fields(b: &[u8], at: u32, root: bool) -> Option<Fields> {
    let raw = field(b, after_field(b, at as usize)?)?;
    if root {
        return Some(Fields {
            change_size: raw.len() as u64,
            snapshot_counter: 1,
            raw,
            ..Fields::default()
        });
    }
    let prev_count = u32_at(b, raw.end)?;
    let prev_at = raw.end + 4;
    let snapshot = field(b, after_fields(b, raw.end)?)?;
    let snapshot_counter = u32_at(b, snapshot.end)?;
    let order = snapshot.end.checked_add(4)?;
    let change_size = u64_at(b, after_field(b, order)?)?;
    Some(Fields {
        raw,
        prev_count,
        prev_at,
        snapshot,
        snapshot_counter,
        change_size,
    })
}

/// The id at `b[r]`, where `r` is the range of a field the codec wrote as an id (see [`id`]).
/// A range that does not fit cannot come from the readers of this module, which take it from
/// the layout the codec wrote: a debug build asserts it, a release build reads the empty id.
pub(crate) fn str_in(b: &Payload, r: Range<usize>) -> &str {
    let bytes = b.get(r);
    debug_assert!(bytes.is_some(), "an id's range runs past its payload");
    match bytes {
        // SAFETY: as for `id` below: `b` is a `Payload`, written from a record or checked
        // as UTF-8 by the codec, and `r` the range of an id field in it; bytes are immutable.
        Some(bytes) => unsafe { std::str::from_utf8_unchecked(bytes) },
        None => "",
    }
}

/// The id in the length-prefixed field at `at` of `b`, borrowed (see [`str_in`]).
pub(crate) fn str_field(b: &Payload, at: u32) -> &str {
    let r = field(b, at as usize);
    debug_assert!(r.is_some(), "an id field runs past its payload");
    r.map_or("", |r| str_in(b, r))
}

/// The `n` ids of the list whose first id begins at `at`, in order, each borrowed from `b`
/// (the list ends early at a field that does not fit).
pub(crate) fn strs_in(b: &Payload, at: usize, n: u32) -> impl Iterator<Item = &str> {
    let mut pos = Some(at);
    (0..n).map_while(move |_| {
        let r = field(b, pos?)?;
        pos = Some(r.end);
        Some(str_in(b, r))
    })
}

/// The `added` time of the batch whose payload is `b` (0 when it has none).
pub(crate) fn batch_added(b: &[u8]) -> u64 {
    let flags = b.get(1).copied().unwrap_or(0);
    if flags & BATCH_ADDED == 0 {
        return 0;
    }
    after_field(b, BATCH_TREE_AT as usize)
        .and_then(|seq| u64_at(b, seq.checked_add(8)?))
        .unwrap_or(0)
}

/// The `added` time of the root at `at` of `b` (0 when it has none).
pub(crate) fn root_added(b: &[u8], at: u32) -> u64 {
    let flags_at = root_order_at(b, at).and_then(|order| after_field(b, order as usize));
    flags_at
        .filter(|&f| b.get(f).is_some_and(|flags| flags & ROOT_ADDED != 0))
        .and_then(|f| u64_at(b, f + 1))
        .unwrap_or(0)
}

/// A tree's root at `at`: id, raw bytes, order id, then the flags, the added time, the parent
/// and the derived flag (not read here). Returns where its order id is.
pub(crate) fn root_order_at(b: &[u8], at: u32) -> Option<u32> {
    let raw = after_field(b, at as usize)?;
    let order = after_field(b, raw)?;
    field(b, order)?;
    u32::try_from(order).ok()
}

/// The id at `bytes[r]`, where `r` is the range of a field the codec wrote as an id.
///
/// Not checked for UTF-8 again: a [`Payload`] is either encoded by the codec from a `Record`,
/// whose ids are `Id`s (UTF-8 by type), or decoded by it from a segment, which checks every id
/// before it accepts the payload (no other code makes one); and the readers here take an id
/// only at the offsets the codec recorded for a change or a root, or reached by walking the
/// same layout the codec wrote (a range that does not fit gives `None` before this). Bytes are
/// immutable, so what was checked stays valid.
fn id(bytes: &Payload, r: Range<usize>) -> Option<Id> {
    let slice = bytes.bytes().slice(r);
    // SAFETY: see above: the field was written from an `Id` or checked as UTF-8 on decode.
    Some(unsafe { Id::from_utf8_unchecked(slice) })
}

fn ids(bytes: &Payload, at: usize) -> Option<(Vec<Id>, usize)> {
    let n = u32_at(bytes, at)? as usize;
    let mut pos = at + 4;
    // Each id takes at least its 4-byte length: a bad count cannot allocate much.
    let mut out = Vec::with_capacity(n.min(bytes.len().saturating_sub(pos) / 4));
    for _ in 0..n {
        let r = field(bytes, pos)?;
        pos = r.end;
        out.push(id(bytes, r)?);
    }
    Some((out, pos))
}

/// The stored change at `at` of a batch of `tree_id` with AddSeq `add_seq` stored at `added`,
/// its ids and raw bytes slices of `bytes`.
pub(crate) fn change(
    bytes: &Payload,
    at: u32,
    tree_id: Id,
    add_seq: u64,
    added: u64,
) -> Option<StorageChange> {
    let id_r = field(bytes, at as usize)?;
    let raw_r = field(bytes, id_r.end)?;
    let (prev_ids, pos) = ids(bytes, raw_r.end)?;
    let snapshot_r = field(bytes, pos)?;
    let snapshot_counter = u32_at(bytes, snapshot_r.end)?;
    let order_r = field(bytes, snapshot_r.end + 4)?;
    let change_size = u64_at(bytes, order_r.end)?;
    Some(StorageChange {
        id: id(bytes, id_r)?,
        raw_change: bytes.bytes().slice(raw_r),
        prev_ids,
        snapshot_id: id(bytes, snapshot_r)?,
        snapshot_counter,
        order_id: id(bytes, order_r)?,
        change_size,
        tree_id,
        add_seq,
        added,
    })
}

/// The stored form of the root at `at` (tree id = root id, snapshot counter 1, AddSeq 0).
pub(crate) fn root(bytes: &Payload, at: u32) -> Option<StorageChange> {
    let id_r = field(bytes, at as usize)?;
    let raw_r = field(bytes, id_r.end)?;
    let order_r = field(bytes, raw_r.end)?;
    bytes.get(order_r.end)?;
    let added = root_added(bytes, at);
    let root_id = id(bytes, id_r)?;
    Some(StorageChange {
        tree_id: root_id.clone(),
        id: root_id,
        change_size: raw_r.len() as u64,
        raw_change: bytes.bytes().slice(raw_r),
        prev_ids: Vec::new(),
        snapshot_id: Id::default(),
        snapshot_counter: 1,
        order_id: id(bytes, order_r)?,
        add_seq: 0,
        added,
    })
}

/// The id of the length-prefixed field at `at`, where the codec wrote one (see [`str_in`]).
pub(crate) fn id_at(bytes: &Payload, at: u32) -> Id {
    let id = field(bytes, at as usize).and_then(|r| id(bytes, r));
    debug_assert!(id.is_some(), "an id field runs past its payload");
    id.unwrap_or_default()
}
