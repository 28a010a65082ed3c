//! [`Captured::to_memory`]: a memory of its own holding what a capture holds, sharing every
//! block with it (`Space::fork`).

use std::sync::Arc;

use super::capture::Captured;
use super::{Memory, TreeState, UpdateRef};
use crate::sync::write;

impl Captured {
    /// A memory holding the captured state: the same trees, changes, head entries, cursors,
    /// state and ACL list. No change's bytes are copied: each batch's block (its payload and
    /// which changes it holds, immutable) is shared, and the new memory indexes it in maps of
    /// its own, so that what either memory stores or deletes afterwards is its alone. `changes`:
    /// about how many changes there are (to size the change map once).
    pub(crate) fn to_memory(&self, changes: usize) -> Memory {
        let memory = Memory::filled_in_bulk(changes);
        for (id, tree, batches) in &self.trees {
            let root = tree.root().clone();
            memory.changes.insert(root.clone());
            let copy = TreeState::new(root);
            for block in tree.first_batches(*batches) {
                for stored in block.stored_iter() {
                    memory.changes.insert(stored);
                }
                copy.add(&block);
                if block.in_feed() {
                    memory.index.publish(&block);
                }
            }
            write(&memory.trees).insert(id.clone(), Arc::new(copy));
        }
        for entry in &self.entries {
            memory.heads.update(UpdateRef::whole(entry), false);
        }
        for (name, seq) in &self.cursors {
            memory.cursors.set(name, *seq, true);
        }
        if let Some(state) = &self.state {
            memory.state.set(state.clone());
        }
        memory.acl.insert(&self.acl);
        memory.settle();
        memory
    }
}
