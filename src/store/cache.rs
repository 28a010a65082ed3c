//! [`OpenSpaces`]: the spaces of a store that are open, with when each was last used (so that
//! the least recently used can be closed when too many are open), and the spaces some thread is
//! opening, creating, closing or deleting outside the store's lock ([`Turn`]).

use std::collections::HashMap;
use std::sync::Arc;

use crate::sync::{lock, Condvar, Mutex};
use crate::{Id, Space};

/// One space's place in the store.
enum Slot {
    /// Open, with the tick of its last use.
    Open(Space, u64),
    /// A thread is opening, creating, closing or deleting it, outside the store's lock.
    Busy(Arc<Turn>),
}

/// The work of one thread on one space, outside the store's lock: whoever wants the space
/// meanwhile waits for it to end, then looks again.
pub(crate) struct Turn {
    over: Mutex<bool>,
    ended: Condvar,
}

impl Turn {
    fn new() -> Turn {
        Turn {
            over: Mutex::new(false),
            ended: Condvar::new(),
        }
    }

    /// Waits until the turn is over.
    pub(crate) fn wait(&self) {
        let mut over = lock(&self.over);
        while !*over {
            over = self.ended.wait(over).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn end(&self) {
        *lock(&self.over) = true;
        self.ended.notify_all();
    }
}

/// What the store knows of a space.
pub(crate) enum Lookup {
    /// Open: a handle, marked as used now.
    Open(Space),
    /// Another thread's turn: wait for it, then look again.
    Busy(Arc<Turn>),
    /// Not open, and nobody is working on it.
    Absent,
}

/// What [`OpenSpaces::take`] did.
pub(crate) enum Take {
    /// Another thread's turn: wait for it, then try again.
    Busy(Arc<Turn>),
    /// A handle outside holds the space.
    InUse,
    /// Taken: the space, if it was open.
    Taken(Option<Space>),
}

/// A space taken out of the store to be closed outside its lock: drop it, then hand it back to
/// [`OpenSpaces::finish`].
pub(crate) struct Closing {
    pub(crate) id: Id,
    pub(crate) space: Space,
}

/// The open spaces and the busy ones, by id.
#[derive(Default)]
pub(crate) struct OpenSpaces {
    slots: HashMap<Id, Slot>,
    tick: u64,
}

impl OpenSpaces {
    /// What the store knows of space `id`. A space a caller closed ([`Space::close`]) is
    /// forgotten: the next open opens it again.
    pub(crate) fn lookup(&mut self, id: &str) -> Lookup {
        self.tick += 1;
        let tick = self.tick;
        match self.slots.get_mut(id) {
            None => Lookup::Absent,
            Some(Slot::Busy(turn)) => Lookup::Busy(Arc::clone(turn)),
            Some(Slot::Open(space, _)) if space.is_closed() => {
                self.slots.remove(id);
                Lookup::Absent
            }
            Some(Slot::Open(space, used)) => {
                *used = tick;
                Lookup::Open(space.clone())
            }
        }
    }

    /// Marks space `id` busy: this thread's turn, until [`OpenSpaces::finish`].
    pub(crate) fn begin(&mut self, id: Id) {
        self.slots.insert(id, Slot::Busy(Arc::new(Turn::new())));
    }

    /// Ends the turn on space `id`: it is open from now on (`Some`) or not in the store's hands
    /// (`None`); whoever waited for the turn looks again.
    pub(crate) fn finish(&mut self, id: &Id, space: Option<Space>) {
        let slot = match space {
            Some(space) => {
                self.tick += 1;
                self.slots.insert(id.clone(), Slot::Open(space, self.tick))
            }
            None => self.slots.remove(id),
        };
        if let Some(Slot::Busy(turn)) = slot {
            turn.end();
        }
    }

    /// Takes space `id` out to be deleted: this thread's turn from now on, with the space if it
    /// was open (to be dropped outside the store's lock). Not while another thread's turn is on
    /// it, nor while a handle outside holds it (the space stays open).
    pub(crate) fn take(&mut self, id: &Id) -> Take {
        match self.slots.get(id.as_str()) {
            Some(Slot::Busy(turn)) => return Take::Busy(Arc::clone(turn)),
            Some(Slot::Open(space, _)) if space.in_use() => return Take::InUse,
            _ => {}
        }
        let space = match self.slots.remove(id.as_str()) {
            Some(Slot::Open(space, _)) => Some(space),
            _ => None,
        };
        self.begin(id.clone());
        Take::Taken(space)
    }

    /// How many are open or busy.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// How many are open.
    pub(crate) fn open(&self) -> usize {
        let open = |s: &&Slot| matches!(s, Slot::Open(..));
        self.slots.values().filter(open).count()
    }

    /// Takes out every open space, held outside or not (a closing store closes them all), each
    /// busy until the caller hands it to [`OpenSpaces::finish`].
    pub(crate) fn take_all_open(&mut self) -> Vec<Closing> {
        let open: Vec<Id> = self
            .slots
            .iter()
            .filter(|(_, slot)| matches!(slot, Slot::Open(..)))
            .map(|(id, _)| id.clone())
            .collect();
        self.take_out(open)
    }

    /// Takes the open spaces `ids` out of their slots, each busy from now on.
    fn take_out(&mut self, ids: impl IntoIterator<Item = Id>) -> Vec<Closing> {
        let mut closing = Vec::new();
        for id in ids {
            if let Some(Slot::Open(space, _)) = self.slots.remove(&id) {
                self.begin(id.clone());
                closing.push(Closing { id, space });
            }
        }
        closing
    }

    /// Takes out, least recently used first, open spaces that no handle outside holds until at
    /// most `keep` slots are left (or none of the rest can be closed); each is busy until the
    /// caller, having dropped it outside the store's lock, hands it to
    /// [`OpenSpaces::finish`].
    pub(crate) fn evict_to(&mut self, keep: usize) -> Vec<Closing> {
        let mut idle: Vec<(u64, Id)> = self
            .slots
            .iter()
            .filter_map(|(id, slot)| match slot {
                Slot::Open(space, used) if !space.in_use() => Some((*used, id.clone())),
                _ => None,
            })
            .collect();
        idle.sort_unstable();
        let excess = self.slots.len().saturating_sub(keep);
        self.take_out(idle.into_iter().take(excess).map(|(_, id)| id))
    }
}
