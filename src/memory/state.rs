//! [`StateCell`]: the state of a whole space (Go's `statestorage` document): its id, its ACL
//! list's and settings tree's ids, its header and its hash. A bare space has none.

use bytes::Bytes;

use crate::id::Id;
use crate::sync::{read, write, RwLock};

/// The state document of a space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SpaceState {
    /// The space's id.
    pub(crate) space_id: Id,
    /// The ACL list's id (its root record's).
    pub(crate) acl_id: Id,
    /// The settings tree's id.
    pub(crate) settings_id: Id,
    /// The raw space header.
    pub(crate) header: Bytes,
    /// The hash last set (empty until one is).
    pub(crate) hash: Id,
}

/// The state, once the space was made whole.
#[derive(Default)]
pub(crate) struct StateCell {
    state: RwLock<Option<SpaceState>>,
}

impl StateCell {
    /// The state, if the space has one.
    pub(crate) fn get(&self) -> Option<SpaceState> {
        read(&self.state).clone()
    }

    /// Whether the space has a state.
    pub(crate) fn exists(&self) -> bool {
        read(&self.state).is_some()
    }

    /// Sets the state (a space's creation).
    pub(crate) fn set(&self, state: SpaceState) {
        *write(&self.state) = Some(state);
    }

    /// Sets the hash; true when it changed (Go tells its observer only then).
    pub(crate) fn set_hash(&self, hash: &Id) -> bool {
        match write(&self.state).as_mut() {
            Some(state) if state.hash != *hash => {
                state.hash = hash.clone();
                true
            }
            _ => false,
        }
    }
}
