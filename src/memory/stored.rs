//! [`Block`] and [`Stored`]: what memory holds of a stored change. No copy of it: a block is one
//! batch (or one tree's root) as the bytes of the record that stored it, shared with the log (a
//! slice of a mapped segment after replay, the buffer its frame was written from on the live
//! path), and a stored change is where it lies in its block. Its fields are read back from the
//! bytes when it is read ([`Stored::to_change`]).
//!
//! One allocation per batch (the block); a stored change is 16 bytes wherever it is indexed
//! (by id in the change map, with a cached hash of the id, and by order id in its tree).

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::change::StorageChange;
use crate::id::Id;
use crate::layout::{self, Payload, BATCH_TREE_AT};
use crate::record::BatchChanges;

/// Which changes of its payload a block holds.
#[derive(Debug)]
enum Holds {
    /// A tree's root, at this offset.
    Root(u32),
    /// `count` changes from this offset on, one after the other: the whole batch.
    All {
        /// Where the first begins.
        first: u32,
        /// How many.
        count: u32,
    },
    /// These changes (an `add_all_no_error` batch that skipped some).
    Some(Box<[u32]>),
}

/// One stored batch, or one tree's root: its record's payload, and which changes of it are
/// stored.
#[derive(Debug)]
pub(crate) struct Block {
    bytes: Payload,
    seq: u64,
    holds: Holds,
}

impl Block {
    /// The root at `at` of `bytes` (a record that creates a tree).
    pub(crate) fn root(bytes: Payload, at: u32) -> Arc<Block> {
        Arc::new(Block {
            bytes,
            seq: 0,
            holds: Holds::Root(at),
        })
    }

    /// The batch `seq` of `bytes` holding all its `count` changes, which begin at `first`.
    pub(crate) fn batch(bytes: Payload, seq: u64, first: u32, count: u32) -> Arc<Block> {
        Arc::new(Block {
            bytes,
            seq,
            holds: Holds::All { first, count },
        })
    }

    /// The batch `seq` of `bytes` holding only the changes that begin at `stored` (in batch
    /// order): an `add_all_no_error` batch that skipped some.
    pub(crate) fn part_of_batch(bytes: Payload, seq: u64, stored: Vec<u32>) -> Arc<Block> {
        Arc::new(Block {
            bytes,
            seq,
            holds: Holds::Some(stored.into_boxed_slice()),
        })
    }

    /// The block's AddSeq (0 for a root).
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// Whether the block is in the space's feed (a root is in none; a batch whose seq came
    /// from a counter of its own is not).
    pub(crate) fn in_feed(&self) -> bool {
        match self.holds {
            Holds::Root(_) => false,
            Holds::All { .. } | Holds::Some(_) => layout::batch_in_feed(&self.bytes),
        }
    }

    /// When the batch was stored, or the root's tree created (Unix seconds).
    pub(crate) fn added(&self) -> u64 {
        match self.holds {
            Holds::Root(at) => layout::root_added(&self.bytes, at),
            Holds::All { .. } | Holds::Some(_) => layout::batch_added(&self.bytes),
        }
    }

    /// The tree the block belongs to.
    pub(crate) fn tree_id(&self) -> Id {
        match self.holds {
            Holds::Root(at) => layout::id_at(&self.bytes, at),
            Holds::All { .. } | Holds::Some(_) => layout::id_at(&self.bytes, BATCH_TREE_AT),
        }
    }

    /// Where each change the block holds begins, in batch order.
    fn offsets(&self) -> Offsets<'_> {
        match &self.holds {
            Holds::Root(at) => Offsets::List(std::slice::from_ref(at).iter()),
            Holds::All { first, count } => {
                Offsets::Walk(layout::change_offsets(&self.bytes, *first, *count))
            }
            Holds::Some(list) => Offsets::List(list.iter()),
        }
    }

    /// How many changes the block holds.
    pub(crate) fn len(&self) -> usize {
        match &self.holds {
            Holds::Root(_) => 1,
            Holds::All { count, .. } => *count as usize,
            Holds::Some(list) => list.len(),
        }
    }

    /// The change at `at` of a block stored at `added` ([`Block::added`]), read from the bytes.
    fn change_at(&self, at: u32, tree_id: &Id, added: u64) -> Option<StorageChange> {
        match self.holds {
            Holds::Root(_) => layout::root(&self.bytes, at),
            Holds::All { .. } | Holds::Some(_) => {
                layout::change(&self.bytes, at, tree_id.clone(), self.seq, added)
            }
        }
    }

    /// The changes the block holds, in batch order, read from the bytes.
    pub(crate) fn changes(&self) -> Vec<StorageChange> {
        let mut out = Vec::with_capacity(self.len());
        self.changes_into(&mut out);
        out
    }

    /// Appends the changes the block holds to `out`, in batch order.
    pub(crate) fn changes_into(&self, out: &mut Vec<StorageChange>) {
        let tree_id = self.tree_id();
        let added = self.added();
        out.extend(
            self.offsets()
                .filter_map(|(at, _)| self.change_at(at, &tree_id, added)),
        );
    }

    /// The changes the block holds, as a batch record carries them: in place when they are
    /// the whole batch (a checkpoint writes their bytes as they are), else read from the bytes.
    pub(crate) fn batch_changes(&self) -> BatchChanges {
        match self.holds {
            Holds::All { first, count } => BatchChanges::Logged {
                payload: self.bytes.clone(),
                first,
                count,
            },
            Holds::Root(_) | Holds::Some(_) => BatchChanges::Given(self.changes()),
        }
    }

    /// Where the order id of the change at `at` is.
    fn order_at(&self, at: u32) -> u32 {
        let order = match self.holds {
            Holds::Root(_) => layout::root_order_at(&self.bytes, at),
            Holds::All { .. } | Holds::Some(_) => {
                layout::change_extent(&self.bytes, at).map(|(order, _)| order)
            }
        };
        debug_assert!(
            order.is_some(),
            "a stored change whose order id does not fit"
        );
        order.unwrap_or(u32::MAX)
    }

    /// The changes the block holds, as stored changes (to index them).
    pub(crate) fn stored(self: &Arc<Self>) -> Vec<Stored> {
        let mut out = Vec::with_capacity(self.len());
        out.extend(self.stored_iter());
        out
    }

    /// The changes the block holds, as stored changes, one by one (no list of them is made).
    pub(crate) fn stored_iter(self: &Arc<Self>) -> impl Iterator<Item = Stored> + '_ {
        self.offsets().map(move |(at, order_at)| Stored {
            block: Arc::clone(self),
            at,
            order_at: order_at.unwrap_or_else(|| self.order_at(at)),
        })
    }
}

/// The offsets of a block's changes.
enum Offsets<'a> {
    List(std::slice::Iter<'a, u32>),
    Walk(layout::ChangeOffsets<'a>),
}

/// Each change's offset, and where its order id is when the walk found it on the way.
impl Iterator for Offsets<'_> {
    type Item = (u32, Option<u32>);

    fn next(&mut self) -> Option<(u32, Option<u32>)> {
        match self {
            Offsets::List(list) => list.next().map(|&at| (at, None)),
            Offsets::Walk(walk) => walk.next().map(|(at, order)| (at, Some(order))),
        }
    }
}

/// One stored change: its block, and where its id and its order id are in the block's bytes.
#[derive(Clone, Debug)]
pub(crate) struct Stored {
    block: Arc<Block>,
    at: u32,
    order_at: u32,
}

impl Stored {
    /// The change's id, as bytes.
    pub(crate) fn id_bytes(&self) -> &[u8] {
        layout::field_bytes(&self.block.bytes, self.at)
    }

    /// The change's order id, as bytes.
    pub(crate) fn order_bytes(&self) -> &[u8] {
        layout::field_bytes(&self.block.bytes, self.order_at)
    }

    /// The change's id, borrowed from its block.
    pub(crate) fn id_str(&self) -> &str {
        layout::str_field(&self.block.bytes, self.at)
    }

    /// The change's order id, borrowed from its block.
    pub(crate) fn order_str(&self) -> &str {
        layout::str_field(&self.block.bytes, self.order_at)
    }

    /// The bytes the change's fields lie in (its block's payload).
    pub(crate) fn payload(&self) -> &Payload {
        &self.block.bytes
    }

    /// Where the change's fields lie in [`Stored::payload`]. They fit: the payload is one the
    /// codec checked, and `at` where it recorded a change (a debug build asserts it; a release
    /// build reads empty fields rather than out of bounds).
    pub(crate) fn fields(&self) -> layout::Fields {
        let root = matches!(self.block.holds, Holds::Root(_));
        let fields = layout::fields(&self.block.bytes, self.at, root);
        debug_assert!(fields.is_some(), "a stored change whose fields do not fit");
        fields.unwrap_or_default()
    }

    /// The `added` time of the change's batch (a root's, at its creation).
    pub(crate) fn added(&self) -> u64 {
        self.block.added()
    }

    /// The change's id.
    #[cfg(feature = "internals")] // For the tools' checks.
    pub(crate) fn id(&self) -> Id {
        layout::id_at(&self.block.bytes, self.at)
    }

    /// The change's AddSeq (0 for a root).
    pub(crate) fn seq(&self) -> u64 {
        self.block.seq
    }

    /// The change's tree.
    #[cfg(feature = "internals")] // For the tools' checks.
    pub(crate) fn tree_id(&self) -> Id {
        self.block.tree_id()
    }

    /// The change, read from the bytes (its ids and raw bytes share them).
    pub(crate) fn to_change(&self) -> StorageChange {
        self.to_change_of(&self.block.tree_id())
    }

    /// The change of tree `tree_id` (which the caller knows: its tree's), read from the bytes.
    /// As for [`Stored::fields`], the change fits (a debug build asserts it).
    pub(crate) fn to_change_of(&self, tree_id: &Id) -> StorageChange {
        let added = self.block.added();
        let change = self.block.change_at(self.at, tree_id, added);
        debug_assert!(change.is_some(), "a stored change that does not fit");
        change.unwrap_or_default()
    }
}

/// A stored change as the change map's key: its block, where its id is, and a 32-bit hash of
/// the id, so that a table that grows rehashes its keys without reading a single id (the id is
/// behind two pointers). 16 bytes. Found by an [`IdQuery`].
#[derive(Clone, Debug)]
pub(crate) struct IdKey {
    block: Arc<Block>,
    at: u32,
    hash: u32,
}

impl IdKey {
    /// The key of `change`.
    pub(crate) fn of(change: Stored) -> IdKey {
        let hash = id_hash(change.id_bytes());
        IdKey {
            block: change.block,
            at: change.at,
            hash,
        }
    }

    /// The change, as a stored change (its order id found again from its id).
    pub(crate) fn stored(&self) -> Stored {
        Stored {
            block: Arc::clone(&self.block),
            at: self.at,
            order_at: self.block.order_at(self.at),
        }
    }

    /// The id's bytes.
    pub(crate) fn id_bytes(&self) -> &[u8] {
        layout::field_bytes(&self.block.bytes, self.at)
    }
}

/// The 32-bit hash of an id that [`IdKey`] keeps: ahash with seeds drawn once per process.
fn id_hash(id: &[u8]) -> u32 {
    static SEEDS: std::sync::OnceLock<ahash::RandomState> = std::sync::OnceLock::new();
    SEEDS.get_or_init(ahash::RandomState::new).hash_one(id) as u32
}

/// An id, as the change map is searched by: it hashes as an [`IdKey`] of that id does.
#[derive(PartialEq, Eq)]
#[repr(transparent)]
pub(crate) struct IdQuery([u8]);

impl IdQuery {
    /// The query for `id`.
    pub(crate) fn new(id: &[u8]) -> &IdQuery {
        // SAFETY: `IdQuery` is `#[repr(transparent)]` over `[u8]`, so a `&[u8]` and a
        // `&IdQuery` have the same layout and metadata (the length); the lifetime is kept.
        unsafe { &*(id as *const [u8] as *const IdQuery) }
    }
}

impl Hash for IdQuery {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u32(id_hash(&self.0));
    }
}

impl Hash for IdKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `IdQuery` hashes: the cached hash, not the id.
        state.write_u32(self.hash);
    }
}

impl PartialEq for IdKey {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.id_bytes() == other.id_bytes()
    }
}
impl Eq for IdKey {}

impl Borrow<IdQuery> for IdKey {
    fn borrow(&self) -> &IdQuery {
        IdQuery::new(self.id_bytes())
    }
}

/// A stored change ordered by its order id (a tree's key: found by `order_id.as_bytes()`;
/// UTF-8 orders as its bytes do).
#[derive(Clone, Debug)]
pub(crate) struct ByOrder(pub(crate) Stored);

impl PartialEq for ByOrder {
    fn eq(&self, other: &Self) -> bool {
        self.0.order_bytes() == other.0.order_bytes()
    }
}
impl Eq for ByOrder {}

impl PartialOrd for ByOrder {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ByOrder {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.order_bytes().cmp(other.0.order_bytes())
    }
}

impl Borrow<[u8]> for ByOrder {
    fn borrow(&self) -> &[u8] {
        self.0.order_bytes()
    }
}
