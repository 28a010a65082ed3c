//! Claims: a record's new changes put in the change map ahead of its application, by replay's
//! reading thread, so that the applying thread (replay's bottleneck) neither looks their ids up
//! nor inserts them (a cache miss each, at millions of changes).
//!
//! The rule that keeps replay exact (DESIGN.md, "Replay rules"): claims are made in log order,
//! each record's all or nothing, for a prefix of the log. A claim succeeds only if none of the
//! record's ids is in the map; the map then holds every id stored so far plus those of the
//! claimed records not applied yet, so an id absent from it is stored by no earlier record, and
//! [`Memory::check_claimed`] may skip the lookups. A record the check refuses gives its ids
//! back ([`Memory::release`]). At the first claim that fails (an id in the map: a duplicate, an
//! id deleted and added again, or one a refused record still holds), the reader stops claiming
//! for good, and from that record on the applying thread checks and inserts as a live write
//! does, with the map as exact as it would have been without claims.

use std::sync::Arc;

use super::changes::RunScratch;
use super::stored::IdKey;
use super::{Block, Memory};
use crate::layout::Encoded;
use crate::record::{BatchFields, Record};

/// Where [`Memory::check_in`] learns whether an id is stored.
#[derive(Clone, Copy)]
pub(crate) enum Ids {
    /// Look it up in the change map.
    InTheMap,
    /// The record's new ids are claimed ([`Memory::claim_run`]): none is stored by anything else.
    Claimed,
}

impl Ids {
    /// Whether `id` is stored (for an id of the record being checked).
    pub(crate) fn stored(self, memory: &Memory, id: &str) -> bool {
        match self {
            Ids::InTheMap => memory.changes.contains(id),
            Ids::Claimed => false,
        }
    }
}

/// A record's new changes, put in the change map by [`Memory::claim_run`]: the root of the tree it
/// creates and the changes of its batch, as the blocks execution keeps. Both `None`: the record
/// stores no change.
#[derive(Default)]
pub(crate) struct Claim {
    /// The root of the tree the record creates.
    pub(crate) root: Option<Arc<Block>>,
    /// The batch's changes.
    pub(crate) batch: Option<Arc<Block>>,
}

/// The block of the root `encoded` holds (a record that creates a tree: the codec records
/// where its root is, a debug build asserts it; else the block holds nothing).
pub(crate) fn root_block(encoded: &Encoded) -> Arc<Block> {
    debug_assert!(
        encoded.at.root.is_some(),
        "a tree's creation without its root"
    );
    Block::root(encoded.bytes.clone(), encoded.at.root.unwrap_or(u32::MAX))
}

/// Where `batch`'s changes begin in `encoded`, and how many there are (the codec records where
/// for every batch, a debug build asserts it; else the walk over them finds none).
pub(crate) fn batch_extent(batch: &BatchFields, encoded: &Encoded) -> (u32, u32) {
    debug_assert!(encoded.at.changes.is_some(), "a batch without its changes");
    let first = encoded.at.changes.unwrap_or(u32::MAX);
    let total = u32::try_from(batch.changes.len()).unwrap_or(u32::MAX);
    (first, total)
}

/// The block of all of `batch`'s changes, as `encoded` holds them.
pub(crate) fn batch_block(batch: &BatchFields, encoded: &Encoded) -> Arc<Block> {
    let (first, total) = batch_extent(batch, encoded);
    Block::batch(encoded.bytes.clone(), batch.seq, first, total)
}

/// Claims as replay makes them, run after run, in log order: whether claiming goes on (every
/// claim so far succeeded; the first that fails ends it for good), and the lists a run needs,
/// allocated once.
pub(crate) struct Claimer {
    /// Claiming goes on.
    on: bool,
    /// The run's new ids, each with the number of its record in the run.
    keys: Vec<(IdKey, u32)>,
    /// The change map's own.
    scratch: RunScratch,
}

impl Claimer {
    /// Claims from the first record on (`on`), or none at all.
    pub(crate) fn new(on: bool) -> Claimer {
        Claimer {
            on,
            keys: Vec::new(),
            scratch: RunScratch::default(),
        }
    }
}

/// The blocks `record` would store, its new changes in them (none for a record that stores
/// no change).
fn new_blocks(record: &Record, encoded: &Encoded) -> Claim {
    let (creates, batch) = match record {
        Record::CreateTree(_)
        | Record::DeleteTree {
            create: Some(_), ..
        } => (true, None),
        Record::CreateSpace(space) => (space.settings.is_some(), None),
        Record::AddBatch(batch) => (batch.create.is_some(), Some(batch)),
        _ => (false, None),
    };
    Claim {
        root: creates.then(|| root_block(encoded)),
        batch: batch.map(|b| batch_block(b, encoded)),
    }
}

impl Memory {
    /// Claims the new changes of a run of `records` (in log order; `None`: an event that is
    /// no record), as claiming them one by one would: puts them in the change map and pushes
    /// one claim per item to `claims`, to hand to [`Memory::check_claimed`] and
    /// [`Memory::execute_claimed`] (or [`Memory::release`] when refused). Up to the first
    /// record one of whose ids is in the map (or repeats one of the run's): from it on, the
    /// items get `None` (nothing of theirs stays in the map) and `claimer` claims no more:
    /// that record and every one after it are to be checked and applied as a live write is.
    /// Once claiming ended, nothing is pushed.
    pub(crate) fn claim_run<'a>(
        &self,
        records: impl Iterator<Item = Option<(&'a Record, &'a Encoded)>>,
        claimer: &mut Claimer,
        claims: &mut Vec<Option<Claim>>,
    ) {
        if !claimer.on {
            return;
        }
        let first = claims.len();
        claimer.keys.clear();
        for (n, item) in records.enumerate() {
            let Some((record, encoded)) = item else {
                claims.push(None);
                continue;
            };
            let claim = new_blocks(record, encoded);
            for block in claim.root.iter().chain(claim.batch.iter()) {
                claimer
                    .keys
                    .extend(block.stored_iter().map(|s| (IdKey::of(s), n as u32)));
            }
            claims.push(Some(claim));
        }
        if let Some(refused) = self.changes.insert_run(&claimer.keys, &mut claimer.scratch) {
            for claim in &mut claims[first + refused as usize..] {
                *claim = None;
            }
            claimer.on = false;
        }
    }

    /// Takes a refused record's claimed changes out of the change map.
    pub(crate) fn release(&self, claim: Claim) {
        claim
            .root
            .iter()
            .chain(claim.batch.iter())
            .for_each(|b| self.release_block(b));
    }

    fn release_block(&self, block: &Arc<Block>) {
        for s in block.stored_iter() {
            self.changes.remove(s.id_bytes());
        }
    }
}
