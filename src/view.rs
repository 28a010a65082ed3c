//! [`ChangeView`]: a stored change read in place, for readers that look at a few fields of many
//! changes: what every change range yields ([`crate::TreeStorage::changes_after_order`]).

use std::fmt;

use crate::layout::{self, Fields};
use crate::memory::Stored;
use crate::StorageChange;

/// A change of a tree as memory holds it, read in place: every field is borrowed from the bytes
/// of the batch that stored it (the log's bytes), so reading one costs no allocation and no
/// copy, where a [`StorageChange`] takes a vector and a reference count per field. What every
/// change range yields ([`crate::TreeStorage::changes_after_order`],
/// [`crate::TreeStorage::changes_after_add_seq`], [`crate::Space::changes_after_add_seq`]);
/// [`ChangeView::to_change`] or [`StorageChange::from`] makes the owned change.
///
/// ```
/// use spacestore::{Space, StorageChange, TreeRoot};
/// let space = Space::in_memory();
/// let tree = space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
/// let c1 = StorageChange::new("c1", "1", b"one".to_vec()).with_prev_ids(["t"]);
/// tree.add_all(vec![c1], ["c1"], "t")?;
/// let views: Vec<_> = tree.changes_after_order("1").collect();
/// assert_eq!(views.len(), 1);
/// assert_eq!((views[0].id(), views[0].order_id()), ("c1", "1"));
/// assert_eq!(views[0].raw_change(), b"one");
/// assert_eq!(views[0].prev_ids().collect::<Vec<_>>(), ["t"]);
/// assert_eq!(views[0].add_seq(), 1);
/// assert_eq!(views[0].to_change(), tree.get("c1")?);
/// let owned: Vec<StorageChange> = tree.changes_after_order("1").map(StorageChange::from).collect();
/// assert_eq!(owned, [tree.get("c1")?]);
/// # Ok::<(), spacestore::Error>(())
/// ```
#[derive(Clone)]
pub struct ChangeView {
    stored: Stored,
    fields: Fields,
}

impl ChangeView {
    pub(crate) fn new(stored: Stored) -> ChangeView {
        let fields = stored.fields();
        ChangeView { stored, fields }
    }

    /// The change's id.
    pub fn id(&self) -> &str {
        self.stored.id_str()
    }

    /// The change's order id.
    pub fn order_id(&self) -> &str {
        self.stored.order_str()
    }

    /// The change's bytes, as given.
    pub fn raw_change(&self) -> &[u8] {
        self.stored
            .payload()
            .get(self.fields.raw.clone())
            .unwrap_or_default()
    }

    /// The change's prev ids, in order (none for a root).
    pub fn prev_ids(&self) -> impl Iterator<Item = &str> + '_ {
        layout::strs_in(
            self.stored.payload(),
            self.fields.prev_at,
            self.fields.prev_count,
        )
    }

    /// The change's snapshot id (empty for a root).
    pub fn snapshot_id(&self) -> &str {
        layout::str_in(self.stored.payload(), self.fields.snapshot.clone())
    }

    /// The change's snapshot counter (1 for a root).
    pub fn snapshot_counter(&self) -> u32 {
        self.fields.snapshot_counter
    }

    /// The change's size, as given (a root's: its bytes' length).
    pub fn change_size(&self) -> u64 {
        self.fields.change_size
    }

    /// The AddSeq of the change's batch (0 for a root).
    pub fn add_seq(&self) -> u64 {
        self.stored.seq()
    }

    /// When the change's batch was stored, in Unix seconds (a root's: its tree's creation).
    pub fn added(&self) -> u64 {
        self.stored.added()
    }

    /// The change as an owned [`StorageChange`] (its ids and bytes still shared with the log's).
    pub fn to_change(&self) -> StorageChange {
        self.stored.to_change()
    }
}

/// The change as an owned [`StorageChange`], as [`ChangeView::to_change`] makes it: for
/// `.map(StorageChange::from)` over a range.
impl From<ChangeView> for StorageChange {
    fn from(view: ChangeView) -> StorageChange {
        view.to_change()
    }
}

impl fmt::Debug for ChangeView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangeView")
            .field("id", &self.id())
            .field("order_id", &self.order_id())
            .field("add_seq", &self.add_seq())
            .field("raw_change_len", &self.raw_change().len())
            .finish()
    }
}
