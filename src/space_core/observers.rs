//! The head and state observers of a space: registered by the storages' `add_observer`,
//! removed by their guards, told of what each write changed after it is applied.

use std::sync::Arc;

use crate::memory::Applied;
use crate::sync::{read, write};
use crate::{HeadObserver, StateObserver};

use super::SpaceCore;

/// The head and state observers of a space.
#[derive(Default)]
pub(super) struct Observers {
    list: Vec<(u64, Arc<dyn HeadObserver>)>,
    state: Vec<(u64, Arc<dyn StateObserver>)>,
    /// The state observer `StateStorage::set_observer` set last.
    set_state: Option<u64>,
    next_id: u64,
}

#[cfg(not(loom))]
thread_local! {
    /// The spaces (their [`SpaceCore`]s, by address) whose observers this thread is running,
    /// innermost last: an observer may write to any other space (whose observers may in turn
    /// write elsewhere), never to one it is inside of, whose commit lock is held.
    static IN_OBSERVER: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether this thread is running observers of the space `space` (its [`SpaceCore::identity`]).
pub(super) fn in_observer(space: usize) -> bool {
    #[cfg(not(loom))]
    return IN_OBSERVER.with(|spaces| spaces.borrow().contains(&space));
    #[cfg(loom)]
    return {
        let _ = space;
        false
    };
}

/// Marks the current thread as running observers of one space until dropped (also on unwind).
pub(super) struct ObserverScope;

impl ObserverScope {
    pub(super) fn enter(space: usize) -> Self {
        #[cfg(not(loom))]
        IN_OBSERVER.with(|spaces| spaces.borrow_mut().push(space));
        #[cfg(loom)]
        let _ = space;
        ObserverScope
    }
}

impl Drop for ObserverScope {
    fn drop(&mut self) {
        #[cfg(not(loom))]
        IN_OBSERVER.with(|spaces| {
            spaces.borrow_mut().pop();
        });
    }
}

impl SpaceCore {
    /// Adds a head observer; returns the id that removes it ([`SpaceCore::remove_observer`]).
    pub(crate) fn add_observer(&self, observer: Arc<dyn HeadObserver>) -> u64 {
        let mut observers = write(&self.observers);
        let id = observers.next_id;
        observers.next_id += 1;
        observers.list.push((id, observer));
        id
    }

    /// Adds a state observer; returns the id that removes it ([`SpaceCore::remove_observer`]).
    /// `replace`: it takes the place of the one added with `replace` before, if that one is
    /// still there (Go's `SetObserver`, which holds one).
    pub(crate) fn add_state_observer(
        &self,
        observer: Arc<dyn StateObserver>,
        replace: bool,
    ) -> u64 {
        let mut observers = write(&self.observers);
        let id = observers.next_id;
        observers.next_id += 1;
        if replace {
            if let Some(old) = observers.set_state.replace(id) {
                observers.state.retain(|(i, _)| *i != old);
            }
        }
        observers.state.push((id, observer));
        id
    }

    /// Removes the head or state observer `id` (after a write that is telling it has finished).
    pub(crate) fn remove_observer(&self, id: u64) {
        let mut observers = write(&self.observers);
        observers.list.retain(|(i, _)| *i != id);
        observers.state.retain(|(i, _)| *i != id);
    }

    /// Whether a head or state observer is registered.
    pub(crate) fn has_observers(&self) -> bool {
        !read(&self.observers).list.is_empty()
    }

    /// Tells the observers what `applied` changed: head observers of each changed entry, state
    /// observers of a new hash.
    pub(super) fn notify(&self, applied: &Applied) {
        let changed = &applied.changed;
        if !changed.is_empty() {
            let observers = taken(&read(&self.observers).list);
            let _scope = ObserverScope::enter(self.identity());
            for entry in changed {
                for o in &observers {
                    o.on_update(entry);
                }
            }
        }
        if let Some(hash) = &applied.hash_changed {
            let observers = taken(&read(&self.observers).state);
            let _scope = ObserverScope::enter(self.identity());
            for o in &observers {
                o.on_hash_change(hash);
            }
        }
    }
}

/// The observers of `list`, taken out of the observers' lock so that they run without it.
fn taken<T: ?Sized>(list: &[(u64, Arc<T>)]) -> Vec<Arc<T>> {
    list.iter().map(|(_, o)| Arc::clone(o)).collect()
}
