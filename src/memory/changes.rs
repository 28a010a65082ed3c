//! [`ChangeMap`]: every stored change of the space by id.
//!
//! A `DashMap` with ahash in a normal build, keyed by the stored change itself (16 bytes: its
//! block, where its id is, and the id's hash), looked up by the id's bytes. loom cannot see
//! DashMap's own shard locks, so under `cfg(loom)` the map is a `sync::RwLock` around a std
//! `HashMap`; no ordering guarantee rests on the DashMap (the commit lock orders every write,
//! see DESIGN.md).

use super::stored::{IdKey, IdQuery, Stored};

/// From how many keys on a run goes in a shard at a time (fewer: one after the other; a reopen
/// claims a record at a time, mostly one key, where grouping by shard costs more than it
/// saves).
#[cfg(not(loom))]
const BY_SHARD_FROM: usize = 16;

/// What [`ChangeMap::insert_run`] keeps between runs (its lists, allocated once).
#[derive(Default)]
pub(crate) struct RunScratch {
    /// Whether each key of the run went in.
    #[cfg(not(loom))]
    inserted: Vec<bool>,
    /// Each key's shard, place in the run and hash, sorted by shard.
    #[cfg(not(loom))]
    by_shard: Vec<(u32, u32, u64)>,
}

/// Fetches the place where a key of `hash` would be looked for (its control byte and its slot)
/// in a table of `buckets` slots ending at `end` into the cache, ahead of its insert. Only a
/// hint: an address past the table is never read.
#[cfg(not(loom))]
fn prefetch_slot<T>(buckets: usize, end: *const T, hash: u64) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let index = hash as usize & buckets.wrapping_sub(1);
        // The table's layout (hashbrown): slots end at `data_end`, slot `i` the `i + 1`th
        // before it; the control bytes begin there, one per slot.
        let slot = end.wrapping_sub(index + 1).cast::<i8>();
        let control = end.cast::<i8>().wrapping_add(index);
        // SAFETY: a prefetch is a hint to the cache: it reads nothing and cannot fault, at
        // any address.
        unsafe {
            _mm_prefetch(slot, _MM_HINT_T0);
            _mm_prefetch(control, _MM_HINT_T0);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (buckets, end, hash);
}

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

    /// Inserts the keys of a run of records, `keys` (each with its record's number, in log
    /// order), as inserting them one by one in that order would, up to the first record one of
    /// whose ids is in the map (or repeats an earlier key of the run): that record's number, with
    /// every key of it and of the records after it taken out again (the map then holds what it
    /// held before plus the keys of the records before it). `None`: every key went in.
    ///
    /// A long run's keys go in a shard at a time, with the shard's lock taken once, and each
    /// key's place in the table is fetched into the cache a few keys ahead of its insert:
    /// at millions of changes the table is far larger than the cache, and one insert after the
    /// other waited for a miss each (DESIGN.md, "Replay rules": claims; BENCHMARKS.md).
    pub(crate) fn insert_run(
        &self,
        keys: &[(IdKey, u32)],
        scratch: &mut RunScratch,
    ) -> Option<u32> {
        #[cfg(not(loom))]
        if keys.len() >= BY_SHARD_FROM {
            let first = self.insert_by_shard(keys, scratch)?;
            let inserted = keys.iter().zip(&scratch.inserted).filter(|(_, i)| **i);
            self.take_back(inserted.map(|(key, _)| key), first);
            return Some(first);
        }
        #[cfg(loom)]
        let _ = scratch;
        let (went_in, first) = self.insert_in_order(keys)?;
        self.take_back(keys[..went_in].iter(), first);
        Some(first)
    }

    /// Takes the keys of record `first` and after out of the map again, of those `inserted`.
    fn take_back<'a>(&self, inserted: impl Iterator<Item = &'a (IdKey, u32)>, first: u32) {
        for (key, record) in inserted {
            if *record >= first {
                self.remove(key.id_bytes());
            }
        }
    }

    /// [`ChangeMap::insert_run`]'s inserts, one key after the other in log order, up to the
    /// first that was in the map: how many went in, and its record (a short run's way, and
    /// loom's).
    fn insert_in_order(&self, keys: &[(IdKey, u32)]) -> Option<(usize, u32)> {
        keys.iter()
            .position(|(key, _)| !self.insert_new(key.clone()))
            .map(|n| (n, keys[n].1))
    }

    /// [`ChangeMap::insert_run`]'s inserts, a shard at a time: the first record with a key
    /// that was in the map. Every key of the run is tried, within a shard in log order, so that
    /// of two keys of one id the earlier goes in (the other way round, the earlier record would
    /// be refused: still exact, as claims would end one record early).
    #[cfg(not(loom))]
    fn insert_by_shard(&self, keys: &[(IdKey, u32)], scratch: &mut RunScratch) -> Option<u32> {
        /// How many keys ahead of its insert a key's place in the table is fetched.
        const AHEAD: usize = 8;
        let hasher = self.map.hasher();
        let by_shard = &mut scratch.by_shard;
        by_shard.clear();
        by_shard.extend(keys.iter().enumerate().map(|(i, (key, _))| {
            // As dashmap hashes a key (`hash_u64`: the whole 64 bits, also where `usize` has
            // 32) and picks its shard.
            let hash = hasher.hash_one(key);
            (
                self.map.determine_shard(hash as usize) as u32,
                i as u32,
                hash,
            )
        }));
        // Stable: a shard's keys stay in log order.
        by_shard.sort_by_key(|&(shard, _, _)| shard);
        scratch.inserted.clear();
        scratch.inserted.resize(keys.len(), false);
        let mut first_refused: Option<u32> = None;
        for group in by_shard.chunk_by(|a, b| a.0 == b.0) {
            let mut table = self.map.shards()[group[0].0 as usize].write();
            for &(_, _, hash) in group.iter().take(AHEAD) {
                prefetch_slot(table.buckets(), table.data_end().as_ptr(), hash);
            }
            for (n, &(_, i, hash)) in group.iter().enumerate() {
                if let Some(&(_, _, ahead)) = group.get(n + AHEAD) {
                    // (Read again each time: an insert may have grown the table.)
                    prefetch_slot(table.buckets(), table.data_end().as_ptr(), ahead);
                }
                let (key, record) = &keys[i as usize];
                match table.find_or_find_insert_slot(
                    hash,
                    |(k, _)| k == key,
                    |(k, _)| hasher.hash_one(k),
                ) {
                    Ok(_) => {
                        first_refused = Some(first_refused.map_or(*record, |f| f.min(*record)));
                    }
                    Err(slot) => {
                        // SAFETY: `slot` was just returned by `find_or_find_insert_slot` on
                        // this table, for this hash, and the table was not changed since (the
                        // shard's write lock is held throughout).
                        unsafe {
                            table.insert_in_slot(
                                hash,
                                slot,
                                (key.clone(), dashmap::SharedValue::new(())),
                            );
                        }
                        scratch.inserted[i as usize] = true;
                    }
                }
            }
        }
        first_refused
    }

    /// Inserts `key` unless a change of its id is there: whether it did.
    fn insert_new(&self, key: IdKey) -> bool {
        #[cfg(not(loom))]
        return match self.map.entry(key) {
            dashmap::mapref::entry::Entry::Occupied(_) => false,
            dashmap::mapref::entry::Entry::Vacant(slot) => {
                slot.insert(());
                true
            }
        };
        #[cfg(loom)]
        return match crate::sync::write(&self.map).entry(key) {
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use bytes::Bytes;
    use proptest::prelude::*;

    use super::*;
    use crate::layout::Payload;
    use crate::memory::Block;

    /// How many ids the runs draw from (few, so that they repeat).
    const POOL: u8 = 24;

    /// The key of a root of id `c{id}` whose order id is `tag` (the root layout: id, raw
    /// bytes, order id).
    fn key(id: u8, tag: u32) -> IdKey {
        let mut b = Vec::new();
        for field in [
            format!("c{id}").into_bytes(),
            b"raw".to_vec(),
            tag.to_string().into_bytes(),
        ] {
            b.extend_from_slice(&(field.len() as u32).to_le_bytes());
            b.extend_from_slice(&field);
        }
        let stored = Block::root(Payload::of_test(Bytes::from(b)), 0).stored();
        IdKey::of(stored.into_iter().next().unwrap())
    }

    /// The tag of the change each id of the pool has in `map`.
    fn held(map: &ChangeMap) -> Vec<Option<String>> {
        (0..POOL)
            .map(|id| map.get(&format!("c{id}")).map(|s| s.order_str().to_owned()))
            .collect()
    }

    proptest! {
        /// A run (short: key by key; 16 keys or more: a shard at a time) leaves the map as
        /// inserting its keys one by one in log order does, up to the first record with an id
        /// the map holds, every key of that record and after it taken out again.
        #[test]
        fn a_run_goes_in_as_its_keys_one_by_one_up_to_the_first_refused_record(
            before in proptest::collection::vec(0..POOL, 0..6),
            records in proptest::collection::vec(
                proptest::collection::vec(0..POOL, 1..4), 1..30),
        ) {
            let map = ChangeMap::with_capacity(0);
            let mut model: HashMap<u8, u32> = HashMap::new();
            for id in before {
                if let std::collections::hash_map::Entry::Vacant(slot) = model.entry(id) {
                    slot.insert(u32::MAX);
                    map.insert(key(id, u32::MAX).stored());
                }
            }
            let mut keys = Vec::new();
            for (r, ids) in records.iter().enumerate() {
                for (n, id) in ids.iter().enumerate() {
                    keys.push((*id, r as u32, (r * 10 + n) as u32));
                }
            }
            // The model: key by key, in log order.
            let mut expected = None;
            let mut went_in = Vec::new();
            for &(id, record, tag) in &keys {
                if model.contains_key(&id) {
                    expected = Some(record);
                    break;
                }
                model.insert(id, tag);
                went_in.push((id, record));
            }
            if let Some(first) = expected {
                for (id, record) in went_in {
                    if record >= first {
                        model.remove(&id);
                    }
                }
            }
            let run: Vec<(IdKey, u32)> =
                keys.iter().map(|&(id, record, tag)| (key(id, tag), record)).collect();
            let refused = map.insert_run(&run, &mut RunScratch::default());
            prop_assert_eq!(refused, expected);
            let want: Vec<Option<String>> =
                (0..POOL).map(|id| model.get(&id).map(u32::to_string)).collect();
            prop_assert_eq!(held(&map), want);
            prop_assert_eq!(map.len(), model.len());
        }
    }
}
