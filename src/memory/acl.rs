//! [`AclList`]: the records of a space's ACL list, by order and by id (Go's `list.Storage`
//! collection, whose order index is unique).

use std::collections::{BTreeMap, HashMap};

use crate::id::Id;
use crate::record::AclFields;
use crate::sync::{read, write, RwLock};

/// The ACL list's records.
#[derive(Default)]
pub(crate) struct AclList {
    inner: RwLock<Records>,
}

#[derive(Default)]
struct Records {
    by_order: BTreeMap<u64, AclFields>,
    order_of: HashMap<Id, u64, ahash::RandomState>,
}

impl AclList {
    /// The record `id`, if stored.
    pub(crate) fn get(&self, id: &str) -> Option<AclFields> {
        let records = read(&self.inner);
        let order = records.order_of.get(id)?;
        records.by_order.get(order).cloned()
    }

    /// Whether record `id` is stored.
    pub(crate) fn has(&self, id: &str) -> bool {
        read(&self.inner).order_of.contains_key(id)
    }

    /// Whether a record has this order.
    pub(crate) fn order_used(&self, order: u64) -> bool {
        read(&self.inner).by_order.contains_key(&order)
    }

    /// The records whose order is in `range`, in order.
    pub(crate) fn in_orders(&self, range: impl std::ops::RangeBounds<u64>) -> Vec<AclFields> {
        read(&self.inner)
            .by_order
            .range(range)
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// How many records the list holds.
    pub(crate) fn len(&self) -> usize {
        read(&self.inner).by_order.len()
    }

    /// Stores `records` (checked: their ids and orders are new).
    pub(crate) fn insert(&self, records: &[AclFields]) {
        let mut list = write(&self.inner);
        for r in records {
            list.order_of.insert(r.id.clone(), r.order);
            list.by_order.insert(r.order, r.clone());
        }
    }
}
