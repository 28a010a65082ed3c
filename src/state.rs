//! The state of a whole space (Go's `statestorage`): [`State`], the [`StateStorage`] handle and
//! its [`StateObserver`]s.

use std::sync::Arc;

use bytes::Bytes;

use crate::head_storage::ObserverGuard;
use crate::memory::SpaceState;
use crate::record::Record;
use crate::space_core::SpaceCore;
use crate::{Error, Id, Result};

/// The state document of a whole space (Go's `statestorage.State`).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct State {
    /// The hash last set with [`StateStorage::set_hash`]; empty until one is (Go's `NewHash`).
    pub new_hash: Id,
    /// The ACL list's id (its root record's).
    pub acl_id: Id,
    /// The settings tree's id.
    pub settings_id: Id,
    /// The space's id.
    pub space_id: Id,
    /// The raw space header, as created.
    pub space_header: Bytes,
}

/// Told when a space's hash changes (Go's `statestorage.Observer`).
///
/// Observers run inside the write, after it is applied, as head observers do: they may read
/// the space, and a write from one is refused with [`Error::WriteFromObserver`].
pub trait StateObserver: Send + Sync {
    /// Called with the new hash, only when it differs from the one stored before.
    fn on_hash_change(&self, hash: &str);
}

impl<F: Fn(&str) + Send + Sync> StateObserver for F {
    fn on_hash_change(&self, hash: &str) {
        self(hash)
    }
}

/// The state storage of a whole space (Go's `statestorage.StateStorage`); get it with
/// [`crate::Space::state_storage`].
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use spacestore::{Space, SpacePayload, TreeRoot};
/// let payload = SpacePayload::new("space.1", b"header".to_vec(), "acl", b"acl root".to_vec(),
///     TreeRoot::new("settings", b"settings root".to_vec()));
/// let space = Space::in_memory();
/// space.create_space(payload)?;
/// let state = space.state_storage()?;
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&seen);
/// let _guard = state.set_observer(move |h: &str| sink.lock().unwrap().push(h.to_owned()));
/// state.set_hash("h1")?;
/// state.set_hash("h1")?; // the same hash: nobody is told
/// assert_eq!(state.get_state().new_hash, "h1");
/// assert_eq!(*seen.lock().unwrap(), ["h1"]);
/// assert_eq!(state.settings_id(), "settings");
/// # Ok::<(), spacestore::Error>(())
/// ```
#[derive(Clone)]
pub struct StateStorage {
    core: Arc<SpaceCore>,
    /// The state when this storage was opened (its ids and header never change).
    opened: SpaceState,
}

impl StateStorage {
    /// The state storage of the space behind `commit`, or [`Error::BareSpace`] for a bare
    /// space.
    pub(crate) fn open(core: &Arc<SpaceCore>) -> Result<StateStorage> {
        let state = core.state().ok_or_else(Error::bare_space)?;
        Ok(StateStorage {
            core: Arc::clone(core),
            opened: state,
        })
    }

    /// The state as it is now (Go's `GetState`, which can fail; here a whole space's state is
    /// set once, when the space is made whole, and never goes away: nothing to fail).
    pub fn get_state(&self) -> State {
        let now = self.core.state();
        debug_assert!(now.is_some(), "a whole space's state went away");
        // The state as this storage was opened holds the same ids and header: only the hash
        // moves.
        let state = now.unwrap_or_else(|| self.opened.clone());
        State {
            new_hash: state.hash,
            acl_id: state.acl_id,
            settings_id: state.settings_id,
            space_id: state.space_id,
            space_header: state.header,
        }
    }

    /// The settings tree's id.
    pub fn settings_id(&self) -> &Id {
        &self.opened.settings_id
    }

    /// Sets the hash, in one commit; observers are told when it changed (Go's `SetHash`, whose
    /// observer fires only when the stored value was modified).
    ///
    /// # Errors
    /// What any write can fail with: [`Error::WritesRefused`], [`Error::ReadOnly`],
    /// [`Error::WriteFromObserver`], [`Error::Io`].
    pub fn set_hash(&self, hash: impl Into<Id>) -> Result<()> {
        let hash = hash.into();
        self.core.write(|_| Ok(Record::SetHash(hash)), || {})?;
        Ok(())
    }

    /// Sets the observer (Go's `SetObserver`): it replaces the one set before by this method,
    /// if that one's guard is still alive. It is told until the returned guard is dropped.
    pub fn set_observer(&self, observer: impl StateObserver + 'static) -> ObserverGuard {
        let id = self.core.add_state_observer(Arc::new(observer), true);
        ObserverGuard::new(&self.core, id)
    }

    /// Adds an observer beside the others, told until the returned guard is dropped.
    pub fn add_observer(&self, observer: impl StateObserver + 'static) -> ObserverGuard {
        let id = self.core.add_state_observer(Arc::new(observer), false);
        ObserverGuard::new(&self.core, id)
    }
}

impl std::fmt::Debug for StateStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStorage")
            .field("settings_id", &self.opened.settings_id)
            .finish_non_exhaustive()
    }
}
