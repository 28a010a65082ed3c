//! Go-shaped callbacks for code ported from any-sync's Go storage.
//!
//! The native way to read a range is its iterator ([`TreeStorage::changes_after_order`],
//! [`TreeStorage::changes_after_add_seq`], [`HeadStorage::entries`],
//! [`AclStorage::records_after_order`], [`AclStorage::records_before_order`]): with `?` in a
//! plain `for` loop, any error type of yours works, and `break` stops it. This module keeps the
//! Go methods' shape, a callback per item, for code that is ported line by line: one extension
//! trait per type, thin wrappers over those iterators.
//!
//! | Go | here | over |
//! |----|------|------|
//! | `objecttree.Storage.GetAfterOrder` | [`GoTreeStorage::get_after_order`] | [`TreeStorage::changes_after_order`] |
//! | `objecttree.Storage.GetAfterAddSeq` | [`GoTreeStorage::get_after_add_seq`] | [`TreeStorage::changes_after_add_seq`] |
//! | `headstorage.HeadStorage.IterateEntries` | [`GoHeadStorage::iterate_entries`] | [`HeadStorage::entries`] |
//! | `list.Storage.GetAfterOrder` | [`GoAclStorage::get_after_order`] | [`AclStorage::records_after_order`] |
//! | `list.Storage.GetBeforeOrder` | [`GoAclStorage::get_before_order`] | [`AclStorage::records_before_order`] |
//!
//! Bring them in with `use spacestore::go::*;`. Each calls its callback with each item, in the
//! iterator's order, until the callback returns `Break` or an error (which is returned). A
//! tree's callbacks take an owned [`StorageChange`] (made from the [`crate::ChangeView`] the
//! iterator yields), as Go's do.
//!
//! # The callback's `?` and error type
//!
//! The callback returns a spacestore [`Result`], so its type always infers, in a function
//! returning `anyhow::Result`, `Box<dyn Error>` or `std::io::Result` alike: `?` inside takes a
//! store error, a `std::io::Error` or a boxed error as they are, and any other error through
//! [`Error::callback`](crate::Error::callback); the callback's error comes back as
//! [`Error::Callback`](crate::Error::Callback), to be downcast.
//!
//! ```
//! use std::ops::ControlFlow;
//! use spacestore::go::*;
//! use spacestore::{Error, Space, StorageChange, TreeRoot, TreeStorage};
//!
//! fn texts(tree: &TreeStorage) -> Result<Vec<String>, Box<dyn std::error::Error>> {
//!     let mut texts = Vec::new();
//!     tree.get_after_add_seq(0, |change| {
//!         let text = std::str::from_utf8(&change.raw_change).map_err(Error::callback)?;
//!         texts.push(text.to_owned());
//!         Ok(ControlFlow::Continue(()))
//!     })?;
//!     Ok(texts)
//! }
//! let space = Space::in_memory();
//! let tree = space.create_tree_storage(TreeRoot::new("tree", b"root".to_vec()))?;
//! tree.add_all(vec![StorageChange::new("c1", "0001", b"one".to_vec())], ["c1"], "tree")?;
//! assert_eq!(texts(&tree)?, ["one"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The space-wide feed ([`crate::Space::changes_after_add_seq`]) has no Go counterpart, and so
//! no callback: it is an iterator only.

use std::ops::ControlFlow;

use crate::{
    AclRecord, AclStorage, HeadEntry, HeadStorage, IterOptions, Result, StorageChange, TreeStorage,
};

/// Calls `f` with each of `items` until it returns `Break` or an error (which is returned). The
/// callback's error type is the crate's [`crate::Error`], so that it infers (DESIGN.md, "The API
/// as a Rust user meets it").
fn visit<T>(
    items: impl IntoIterator<Item = T>,
    mut f: impl FnMut(&T) -> Result<ControlFlow<()>>,
) -> Result<()> {
    for item in items {
        if f(&item)?.is_break() {
            break;
        }
    }
    Ok(())
}

/// Go's `objecttree.Storage` reads, as callbacks over [`TreeStorage`]'s iterators.
pub trait GoTreeStorage {
    /// Go's `GetAfterOrder`: calls `f` with each change of the tree whose order id is
    /// `>= order_id`, in order-id order, until it returns `Break` or an error (which is
    /// returned). The iterator: [`TreeStorage::changes_after_order`].
    fn get_after_order(
        &self,
        order_id: &str,
        f: impl FnMut(&StorageChange) -> Result<ControlFlow<()>>,
    ) -> Result<()>;

    /// Go's `GetAfterAddSeq`: calls `f` with each change of the tree whose AddSeq is
    /// `> add_seq`, **in order-id order** (as Go does), until it returns `Break` or an error
    /// (which is returned). The root (AddSeq 0) never matches. The iterator:
    /// [`TreeStorage::changes_after_add_seq`].
    fn get_after_add_seq(
        &self,
        add_seq: u64,
        f: impl FnMut(&StorageChange) -> Result<ControlFlow<()>>,
    ) -> Result<()>;
}

impl GoTreeStorage for TreeStorage {
    fn get_after_order(
        &self,
        order_id: &str,
        f: impl FnMut(&StorageChange) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        visit(
            self.changes_after_order(order_id).map(StorageChange::from),
            f,
        )
    }

    fn get_after_add_seq(
        &self,
        add_seq: u64,
        f: impl FnMut(&StorageChange) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        visit(
            self.changes_after_add_seq(add_seq).map(StorageChange::from),
            f,
        )
    }
}

/// Go's `headstorage.HeadStorage` read, as a callback over [`HeadStorage::entries`].
pub trait GoHeadStorage {
    /// Go's `IterateEntries`: calls `f` with each entry that `opts` selects (see
    /// [`IterOptions`] for the order) until it returns `Break` or an error (which is returned).
    /// The entries are the stored ones, none copied. The iterator: [`HeadStorage::entries`].
    fn iterate_entries(
        &self,
        opts: IterOptions,
        f: impl FnMut(&HeadEntry) -> Result<ControlFlow<()>>,
    ) -> Result<()>;
}

impl GoHeadStorage for HeadStorage {
    fn iterate_entries(
        &self,
        opts: IterOptions,
        mut f: impl FnMut(&HeadEntry) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        visit(self.entries(opts), |entry| f(entry))
    }
}

/// Go's `list.Storage` reads, as callbacks over [`AclStorage`]'s iterators.
pub trait GoAclStorage {
    /// Go's `GetAfterOrder`: calls `f` with each record whose order is `>= order`, by ascending
    /// order, until it returns `Break` or an error (which is returned). The iterator:
    /// [`AclStorage::records_after_order`].
    fn get_after_order(
        &self,
        order: u64,
        f: impl FnMut(&AclRecord) -> Result<ControlFlow<()>>,
    ) -> Result<()>;

    /// Go's `GetBeforeOrder`: calls `f` with each record whose order is `<= order`, by
    /// ascending order, until it returns `Break` or an error (which is returned). The iterator:
    /// [`AclStorage::records_before_order`].
    fn get_before_order(
        &self,
        order: u64,
        f: impl FnMut(&AclRecord) -> Result<ControlFlow<()>>,
    ) -> Result<()>;
}

impl GoAclStorage for AclStorage {
    fn get_after_order(
        &self,
        order: u64,
        f: impl FnMut(&AclRecord) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        visit(self.records_after_order(order), f)
    }

    fn get_before_order(
        &self,
        order: u64,
        f: impl FnMut(&AclRecord) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        visit(self.records_before_order(order), f)
    }
}
