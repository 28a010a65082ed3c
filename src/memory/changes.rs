//! [`ChangeMap`]: every stored change of the space by id.
//!
//! A `DashMap` with ahash in a normal build. loom cannot see DashMap's own shard locks, so under
//! `cfg(loom)` the map is a `sync::RwLock` around a std `HashMap`; no ordering guarantee rests on
//! the DashMap (the commit lock orders every write, see DESIGN.md).

use std::sync::Arc;

use crate::change::StorageChange;
use crate::id::Id;

#[cfg(not(loom))]
type Map = dashmap::DashMap<Id, Arc<StorageChange>, ahash::RandomState>;
#[cfg(loom)]
type Map = crate::sync::RwLock<std::collections::HashMap<Id, Arc<StorageChange>>>;

/// Every stored change of the space, keyed by change id.
#[derive(Default)]
pub(crate) struct ChangeMap {
    map: Map,
}

impl ChangeMap {
    pub(crate) fn with_capacity(n: usize) -> Self {
        #[cfg(not(loom))]
        return ChangeMap {
            map: dashmap::DashMap::with_capacity_and_hasher(n, ahash::RandomState::new()),
        };
        #[cfg(loom)]
        return {
            let _ = n;
            ChangeMap::default()
        };
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<StorageChange>> {
        #[cfg(not(loom))]
        return self.map.get(id).map(|c| Arc::clone(c.value()));
        #[cfg(loom)]
        return crate::sync::read(&self.map).get(id).cloned();
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        #[cfg(not(loom))]
        return self.map.contains_key(id);
        #[cfg(loom)]
        return crate::sync::read(&self.map).contains_key(id);
    }

    pub(crate) fn insert(&self, change: Arc<StorageChange>) {
        #[cfg(not(loom))]
        self.map.insert(change.id.clone(), change);
        #[cfg(loom)]
        crate::sync::write(&self.map).insert(change.id.clone(), change);
    }

    pub(crate) fn remove(&self, id: &str) {
        #[cfg(not(loom))]
        self.map.remove(id);
        #[cfg(loom)]
        crate::sync::write(&self.map).remove(id);
    }

    pub(crate) fn len(&self) -> usize {
        #[cfg(not(loom))]
        return self.map.len();
        #[cfg(loom)]
        return crate::sync::read(&self.map).len();
    }
}
