//! [`Memory`]: the in-memory state of a space (the memtable). It changes only through
//! [`Memory::execute`] of a record that [`Memory::check`] accepted (`apply.rs`).

mod acl;
mod apply;
mod by_seq;
mod capture;
mod changes;
mod claim;
mod cursors;
mod fork;
mod head_table;
mod order;
mod state;
mod stored;
mod trees;

use std::collections::HashMap;
use std::sync::Arc;

pub(crate) use acl::AclList;
pub(crate) use apply::{Applied, EntryAfter, Plan, Target};
pub(crate) use capture::Captured;
pub(crate) use changes::ChangeMap;
pub(crate) use claim::{Claim, Claimer};
pub(crate) use cursors::CursorTable;
pub(crate) use head_table::{HeadTable, UpdateRef};
pub(crate) use state::{SpaceState, StateCell};
pub(crate) use stored::{Block, Stored};
pub(crate) use trees::TreeState;

use crate::id::Id;
use crate::index::SeqIndex;
use crate::sync::{read, RwLock};

/// Everything a space holds.
#[derive(Default)]
pub(crate) struct Memory {
    /// Every change of the space by id (roots included).
    pub(crate) changes: ChangeMap,
    /// Every live tree by id.
    trees: RwLock<HashMap<Id, Arc<TreeState>, ahash::RandomState>>,
    /// The head entries.
    pub(crate) heads: HeadTable,
    /// The AddSeq index.
    pub(crate) index: SeqIndex,
    /// The named cursors.
    pub(crate) cursors: CursorTable,
    /// The space's state (a whole space's; a bare space has none).
    pub(crate) state: StateCell,
    /// The ACL list's records (a whole space's).
    pub(crate) acl: AclList,
}

impl Memory {
    /// An empty memory to fill in bulk (replay, a fork), expecting about `changes` changes (so
    /// that the change map does not rehash while filling), whose indexes by AddSeq (the feed's
    /// and the head entries') are built once, by [`Memory::settle`].
    pub(crate) fn filled_in_bulk(changes: usize) -> Self {
        Memory {
            changes: ChangeMap::with_capacity(changes),
            index: SeqIndex::deferred(),
            heads: HeadTable::deferred(),
            ..Memory::default()
        }
    }

    /// Builds what [`Memory::filled_in_bulk`] deferred (replay calls it once every record is
    /// applied; a memory made otherwise has nothing to build).
    pub(crate) fn settle(&self) {
        self.index.settle();
        self.heads.settle();
    }

    pub(crate) fn tree(&self, id: &str) -> Option<Arc<TreeState>> {
        read(&self.trees).get(id).cloned()
    }

    pub(crate) fn tree_ids(&self) -> Vec<Id> {
        let mut ids: Vec<Id> = read(&self.trees).keys().cloned().collect();
        ids.sort_unstable();
        ids
    }

    pub(crate) fn tree_count(&self) -> usize {
        read(&self.trees).len()
    }
}
