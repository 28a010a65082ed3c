//! [`CursorTable`]: the named cursors of a space (a consumer's durable position in the feed).

use std::collections::BTreeMap;

use crate::id::Id;
use crate::sync::{read, write, RwLock};

/// Every named cursor and its position, sorted by name.
#[derive(Default)]
pub(crate) struct CursorTable {
    cursors: RwLock<BTreeMap<Id, u64>>,
}

impl CursorTable {
    /// The position of cursor `name`, if it exists.
    pub(crate) fn get(&self, name: &str) -> Option<u64> {
        read(&self.cursors).get(name).copied()
    }

    /// Every cursor with its position, sorted by name.
    pub(crate) fn all(&self) -> Vec<(Id, u64)> {
        read(&self.cursors)
            .iter()
            .map(|(name, seq)| (name.clone(), *seq))
            .collect()
    }

    /// Sets cursor `name` to `seq`, creating it when `create_only` is false or it is missing;
    /// with `create_only`, an existing cursor is left as it is.
    pub(crate) fn set(&self, name: &Id, seq: u64, create_only: bool) {
        let mut cursors = write(&self.cursors);
        match cursors.get_mut(name.as_str()) {
            Some(_) if create_only => {}
            Some(at) => *at = seq,
            None => {
                cursors.insert(name.clone(), seq);
            }
        }
    }

    /// Removes cursor `name`.
    pub(crate) fn delete(&self, name: &str) {
        write(&self.cursors).remove(name);
    }
}
