//! [`ChangeMap`]: every stored change of the space by id.
//!
//! A `DashMap` with ahash in a normal build, keyed by the stored change itself (16 bytes: its
//! block and where its id is), looked up by the id's bytes. loom cannot see DashMap's own shard
//! locks, so under `cfg(loom)` the map is a `sync::RwLock` around a std `HashMap`; no ordering
//! guarantee rests on the DashMap (the commit lock orders every write, see DESIGN.md).

use super::stored::{ById, Stored};

#[cfg(not(loom))]
type Map = dashmap::DashMap<ById, (), ahash::RandomState>;
#[cfg(loom)]
type Map = crate::sync::RwLock<std::collections::HashMap<ById, ()>>;

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

    pub(crate) fn get(&self, id: &str) -> Option<Stored> {
        #[cfg(not(loom))]
        return self.map.get(id.as_bytes()).map(|c| c.key().0.clone());
        #[cfg(loom)]
        return crate::sync::read(&self.map)
            .get_key_value(id.as_bytes())
            .map(|(k, ())| k.0.clone());
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        #[cfg(not(loom))]
        return self.map.contains_key(id.as_bytes());
        #[cfg(loom)]
        return crate::sync::read(&self.map).contains_key(id.as_bytes());
    }

    pub(crate) fn insert(&self, change: Stored) {
        #[cfg(not(loom))]
        self.map.insert(ById(change), ());
        #[cfg(loom)]
        crate::sync::write(&self.map).insert(ById(change), ());
    }

    pub(crate) fn remove(&self, id: &[u8]) {
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
