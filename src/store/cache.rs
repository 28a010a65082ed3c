//! [`OpenSpaces`]: the spaces of a store that are open, with when each was last used, so that
//! the least recently used can be closed when too many are open.

use std::collections::HashMap;

use crate::{Id, Space};

/// The open spaces, by id, each with the tick of its last use.
#[derive(Default)]
pub(crate) struct OpenSpaces {
    spaces: HashMap<Id, (Space, u64)>,
    tick: u64,
}

impl OpenSpaces {
    /// The open space `id`, marked as used now. A space a caller closed ([`Space::close`]) is
    /// forgotten: the next open opens it again.
    pub(crate) fn get(&mut self, id: &str) -> Option<Space> {
        self.tick += 1;
        let tick = self.tick;
        if self
            .spaces
            .get(id)
            .is_some_and(|(space, _)| space.is_closed())
        {
            self.spaces.remove(id);
            return None;
        }
        self.spaces.get_mut(id).map(|(space, used)| {
            *used = tick;
            space.clone()
        })
    }

    /// Adds an open space, used now.
    pub(crate) fn insert(&mut self, id: Id, space: Space) {
        self.tick += 1;
        self.spaces.insert(id, (space, self.tick));
    }

    /// Removes space `id`, returning it (the caller drops it: that closes it, unless a handle
    /// elsewhere holds it).
    pub(crate) fn remove(&mut self, id: &str) -> Option<Space> {
        self.spaces.remove(id).map(|(space, _)| space)
    }

    /// How many are open.
    pub(crate) fn len(&self) -> usize {
        self.spaces.len()
    }

    /// Removes, least recently used first, spaces that no handle outside holds until at most
    /// `keep` are open (or none of the rest can be closed), and returns them to be dropped.
    pub(crate) fn evict_to(&mut self, keep: usize) -> Vec<Space> {
        let mut idle: Vec<(u64, Id)> = self
            .spaces
            .iter()
            .filter(|(_, (space, _))| !space.in_use())
            .map(|(id, (_, used))| (*used, id.clone()))
            .collect();
        idle.sort_unstable();
        let excess = self.spaces.len().saturating_sub(keep);
        idle.into_iter()
            .take(excess)
            .filter_map(|(_, id)| self.remove(&id))
            .collect()
    }
}
