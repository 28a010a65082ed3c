//! [`Cursor`]: a consumer's named, durable position in a space's change feed.

use std::sync::Arc;

use crate::record::{CursorFields, CursorMove, Record};
use crate::space_core::SpaceCore;
use crate::{Error, Id, Result};

/// A named position in the feed of a space: the last AddSeq a consumer processed, kept in the
/// space (in its log, as durable as the space's [`crate::Durability`] says; an in-memory
/// space keeps it in memory), so that a consumer that restarts carries on where it stopped.
/// Get one with [`crate::Space::cursor`], follow the feed from it with
/// [`crate::Space::subscribe_cursor`], and [`Cursor::ack`] what it processed.
///
/// Handles of the same name share one position. A `Cursor` is a handle to its space, like a
/// [`crate::TreeStorage`]: the space stays open while one is alive.
///
/// ```
/// use spacestore::{Options, Space, StorageChange, TreeRoot};
/// let dir = tempfile::tempdir()?;
/// {
///     let space = Space::create(dir.path(), Options::default())?;
///     let tree = space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
///     tree.add_all(vec![StorageChange::new("c1", "1", b"x".to_vec())], ["c1"], "t")?;
///     tree.add_all(vec![StorageChange::new("c2", "2", b"y".to_vec())], ["c2"], "t")?;
///     space.sync()?; // a subscription delivers a `Buffered` batch once it is synced
///     let indexer = space.cursor("indexer")?;
///     let first = space.subscribe_cursor(&indexer).next().unwrap();
///     indexer.ack(first.add_seq)?; // processed batch 1
/// }
/// // After a restart, the indexer carries on with batch 2.
/// let space = Space::create(dir.path(), Options::default())?;
/// let indexer = space.cursor("indexer")?;
/// assert_eq!(indexer.get(), 1);
/// assert_eq!(space.subscribe_cursor(&indexer).next().unwrap().add_seq, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Cursor {
    core: Arc<SpaceCore>,
    name: Id,
}

impl Cursor {
    /// The cursor `name` of the space behind `commit`, created at 0 when it does not exist.
    pub(crate) fn open(core: &Arc<SpaceCore>, name: &str) -> Result<Cursor> {
        let name = Id::from(name);
        if core.cursor(&name).is_none() {
            let fields = CursorFields {
                name: name.clone(),
                seq: 0,
                how: CursorMove::Create,
            };
            core.write(|_| Ok(Record::SetCursor(fields)), || {})?;
        }
        Ok(Cursor {
            core: Arc::clone(core),
            name,
        })
    }

    /// The cursor's name.
    pub fn name(&self) -> &Id {
        &self.name
    }

    /// The cursor's position: the last AddSeq acknowledged (0 for a new cursor, and for one
    /// deleted since).
    pub fn get(&self) -> u64 {
        self.core.cursor(&self.name).unwrap_or(0)
    }

    /// Moves the cursor forward to `seq` (the AddSeq of the last batch processed), as durably
    /// as the space's durability mode says: under `Sync` it returns once the move is on disk.
    /// Acknowledging the position again changes nothing.
    ///
    /// # Errors
    ///
    /// [`Error::CursorBackwards`] when `seq` is below the position (use [`Cursor::reset`]),
    /// [`Error::CursorAhead`] when it is above the space's counter, [`Error::UnknownCursor`]
    /// when the cursor was deleted, and the errors of any write ([`Error::ReadOnly`], an I/O
    /// error of the log).
    pub fn ack(&self, seq: u64) -> Result<()> {
        if self.core.cursor(&self.name) == Some(seq) {
            return Ok(());
        }
        self.set(seq, CursorMove::Ack)
    }

    /// Sets the cursor to `seq`, back or forward: the explicit way to reprocess (reset to 0 to
    /// read the whole feed again).
    ///
    /// # Errors
    ///
    /// [`Error::CursorAhead`] when `seq` is above the space's counter, [`Error::UnknownCursor`]
    /// when the cursor was deleted, and the errors of any write.
    pub fn reset(&self, seq: u64) -> Result<()> {
        self.set(seq, CursorMove::Reset)
    }

    fn set(&self, seq: u64, how: CursorMove) -> Result<()> {
        let name = &self.name;
        self.core.write(
            |ctx| {
                let add_seq = ctx.add_seq();
                if seq > add_seq {
                    return Err(Error::CursorAhead {
                        name: name.clone(),
                        requested: seq,
                        add_seq,
                    });
                }
                Ok(Record::SetCursor(CursorFields {
                    name: name.clone(),
                    seq,
                    how,
                }))
            },
            || {},
        )?;
        Ok(())
    }

    pub(crate) fn core(&self) -> &Arc<SpaceCore> {
        &self.core
    }
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("name", &self.name)
            .field("position", &self.get())
            .finish()
    }
}
