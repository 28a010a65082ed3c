//! [`ChangeMap`]: every stored change of the space by id.
//!
//! A `DashMap` with ahash in a normal build, keyed by the stored change itself (16 bytes: its
//! block, where its id is, and the id's hash), looked up by the id's bytes. loom cannot see
//! DashMap's own shard locks, so under `cfg(loom)` the map is a `sync::RwLock` around a std
//! `HashMap`; no ordering guarantee rests on the DashMap (the commit lock orders every write,
//! see DESIGN.md).

use super::stored::{IdKey, IdQuery, Stored};

#[cfg(not(loom))]
type Map = dashmap::DashMap<IdKey, (), ahash::RandomState>;
#[cfg(loom)]
type Map = crate::sync::RwLock<std::collections::HashMap<IdKey, ()>>;

/// How many shards the map of a space with a log has. A shard's table grows by doubling, and
/// the insert that makes it grow moves every entry of the shard: with many shards no single
/// insert moves more than a small part of the map (about 60,000 entries at 4M changes), and
/// each entry moves without its id being read (the key caches its hash), so no write stalls
/// for a whole map's rehash.
#[cfg(not(loom))]
const SHARDS: usize = 64;

/// How many shards the map of an in-memory space has: each shard is a lock padded to a cache
/// line pair (128 bytes) even while empty, and a test suite keeps thousands of small spaces
/// (64 shards were 8 KB of an empty space's 9.7). A growth then moves an eighth of the map
/// (about 0.5 ms at 1M changes).
#[cfg(not(loom))]
const SHARDS_IN_MEMORY: usize = 8;

/// Every stored change of the space, keyed by change id.
pub(crate) struct ChangeMap {
    map: Map,
}

/// The map of an in-memory space (few shards).
impl Default for ChangeMap {
    fn default() -> Self {
        #[cfg(not(loom))]
        return ChangeMap::sharded(0, SHARDS_IN_MEMORY);
        #[cfg(loom)]
        return ChangeMap::with_capacity(0);
    }
}

impl ChangeMap {
    /// The map of a space with a log (or a fork), sized for about `n` changes.
    pub(crate) fn with_capacity(n: usize) -> Self {
        #[cfg(not(loom))]
        return ChangeMap::sharded(n, SHARDS);
        #[cfg(loom)]
        return {
            let _ = n;
            ChangeMap {
                map: Map::default(),
            }
        };
    }

    #[cfg(not(loom))]
    fn sharded(n: usize, shards: usize) -> Self {
        ChangeMap {
            map: dashmap::DashMap::with_capacity_and_hasher_and_shard_amount(
                n,
                ahash::RandomState::new(),
                shards,
            ),
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<Stored> {
        #[cfg(not(loom))]
        return self
            .map
            .get(IdQuery::new(id.as_bytes()))
            .map(|c| c.key().stored());
        #[cfg(loom)]
        return crate::sync::read(&self.map)
            .get_key_value(IdQuery::new(id.as_bytes()))
            .map(|(k, ())| k.stored());
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        #[cfg(not(loom))]
        return self.map.contains_key(IdQuery::new(id.as_bytes()));
        #[cfg(loom)]
        return crate::sync::read(&self.map).contains_key(IdQuery::new(id.as_bytes()));
    }

    pub(crate) fn insert(&self, change: Stored) {
        #[cfg(not(loom))]
        self.map.insert(IdKey::of(change), ());
        #[cfg(loom)]
        crate::sync::write(&self.map).insert(IdKey::of(change), ());
    }

    /// Inserts `change` unless a change of its id is there: whether it did.
    pub(crate) fn insert_new(&self, change: Stored) -> bool {
        #[cfg(not(loom))]
        return match self.map.entry(IdKey::of(change)) {
            dashmap::mapref::entry::Entry::Occupied(_) => false,
            dashmap::mapref::entry::Entry::Vacant(slot) => {
                slot.insert(());
                true
            }
        };
        #[cfg(loom)]
        return match crate::sync::write(&self.map).entry(IdKey::of(change)) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(());
                true
            }
        };
    }

    pub(crate) fn remove(&self, id: &[u8]) {
        #[cfg(not(loom))]
        self.map.remove(IdQuery::new(id));
        #[cfg(loom)]
        crate::sync::write(&self.map).remove(IdQuery::new(id));
    }

    pub(crate) fn len(&self) -> usize {
        #[cfg(not(loom))]
        return self.map.len();
        #[cfg(loom)]
        return crate::sync::read(&self.map).len();
    }
}
