//! The ACL list of a whole space (Go's `list.Storage`): [`AclRecord`] and the [`AclStorage`]
//! handle.

use std::sync::Arc;

use bytes::Bytes;

use crate::iter::{AclRecords, Collected};
use crate::record::{AclFields, Record};
use crate::space_core::SpaceCore;
use crate::{Error, Id, Result};

/// One record of an ACL list (Go's `list.StorageRecord`).
///
/// ```
/// use spacestore::AclRecord;
/// let r = AclRecord::new("r2", "r1", 2, b"signed record".to_vec());
/// assert_eq!(r.change_size, 13);
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AclRecord {
    /// The raw (signed) record.
    pub raw_record: Bytes,
    /// The previous record's id; empty for the root.
    pub prev_id: Id,
    /// The record's id.
    pub id: Id,
    /// Its position in the list, unique within it (the root's is 1).
    pub order: u64,
    /// Its size, as the caller gives it (Go keeps the caller's number).
    pub change_size: u64,
}

impl AclRecord {
    /// A record with its id, previous record's id, order and raw bytes; `change_size` is the
    /// raw bytes' length.
    pub fn new(
        id: impl Into<Id>,
        prev_id: impl Into<Id>,
        order: u64,
        raw_record: impl Into<Bytes>,
    ) -> Self {
        let raw_record = raw_record.into();
        AclRecord {
            change_size: raw_record.len() as u64,
            raw_record,
            prev_id: prev_id.into(),
            id: id.into(),
            order,
        }
    }

    /// Sets the size stored with the record.
    pub fn with_change_size(mut self, change_size: u64) -> Self {
        self.change_size = change_size;
        self
    }

    pub(crate) fn from_fields(f: AclFields) -> Self {
        AclRecord {
            raw_record: f.raw,
            prev_id: f.prev_id,
            id: f.id,
            order: f.order,
            change_size: f.change_size,
        }
    }

    pub(crate) fn into_fields(self) -> AclFields {
        AclFields {
            id: self.id,
            prev_id: self.prev_id,
            order: self.order,
            raw: self.raw_record,
            change_size: self.change_size,
        }
    }
}

/// The ACL list of a whole space (Go's `list.Storage`); get it with
/// [`crate::Space::acl_storage`]. Its head is kept in the space's head storage, in the entry
/// named by the list's id, as Go keeps it.
///
/// ```
/// use spacestore::{AclRecord, Space, SpacePayload, TreeRoot};
/// let payload = SpacePayload::new("space.1", b"header".to_vec(), "acl", b"acl root".to_vec(),
///     TreeRoot::new("settings", b"settings root".to_vec()));
/// let space = Space::in_memory();
/// space.create_space(payload)?;
/// let acl = space.acl_storage()?;
/// assert_eq!(acl.head()?, "acl");
/// acl.add_all([AclRecord::new("r2", "acl", 2, b"two".to_vec())])?;
/// assert_eq!(acl.head()?, "r2");
/// let ids: Vec<_> = acl.records_after_order(1).map(|r| r.id).collect();
/// assert_eq!(ids, ["acl", "r2"]);
/// # Ok::<(), spacestore::Error>(())
/// ```
#[derive(Clone)]
pub struct AclStorage {
    core: Arc<SpaceCore>,
    id: Id,
}

impl AclStorage {
    /// The ACL list of the space behind `commit`, or [`Error::BareSpace`] for a bare space.
    pub(crate) fn open(core: &Arc<SpaceCore>) -> Result<AclStorage> {
        let state = core.state().ok_or_else(Error::bare_space)?;
        Ok(AclStorage {
            core: Arc::clone(core),
            id: state.acl_id,
        })
    }

    /// The list's id: its root record's.
    pub fn id(&self) -> &Id {
        &self.id
    }

    /// The root record (Go's `Root`).
    ///
    /// # Errors
    /// None in practice: the root is written with the space.
    pub fn root(&self) -> Result<AclRecord> {
        self.get(&self.id)
    }

    /// The head: the last record of the last `add_all` (Go's `Head`: the entry's one head, or
    /// empty when the entry has none or several).
    ///
    /// # Errors
    /// [`Error::EntryNotFound`] when the list's head entry was deleted from the head storage.
    pub fn head(&self) -> Result<Id> {
        self.core.with_head_entry(&self.id, |entry| {
            let entry = entry.ok_or_else(|| Error::EntryNotFound(self.id.clone()))?;
            Ok(match entry.heads.as_slice() {
                [head] => head.clone(),
                _ => Id::default(),
            })
        })
    }

    /// Whether record `id` is in the list.
    pub fn has(&self, id: &str) -> bool {
        self.core.has_acl_record(id)
    }

    /// Record `id`.
    ///
    /// # Errors
    /// [`Error::AclRecordNotFound`] when the list has no such record.
    pub fn get(&self, id: &str) -> Result<AclRecord> {
        self.core
            .acl_record(id)
            .map(AclRecord::from_fields)
            .ok_or_else(|| Error::AclRecordNotFound(Id::from(id)))
    }

    /// The records whose order is `>= order`, by ascending order: what the list held when the
    /// iterator was made (the list's range read, like every other range, as an iterator). Go's
    /// `GetAfterOrder`: [`crate::go::GoAclStorage::get_after_order`].
    ///
    /// ```
    /// use spacestore::{AclRecord, Space, SpacePayload, TreeRoot};
    /// let space = Space::in_memory();
    /// space.create_space(SpacePayload::new(
    ///     "s.1", b"header".to_vec(), "acl", b"acl root".to_vec(),
    ///     TreeRoot::new("settings", b"settings".to_vec()),
    /// ))?;
    /// let acl = space.acl_storage()?;
    /// acl.add_all([
    ///     AclRecord::new("r1", "acl", 5, b"one".to_vec()),
    ///     AclRecord::new("r2", "r1", 6, b"two".to_vec()),
    /// ])?;
    /// let ids: Vec<_> = acl.records_after_order(5).map(|r| r.id).collect();
    /// assert_eq!(ids, ["r1", "r2"]);
    /// assert_eq!(acl.records_before_order(4).count(), 1, "the root only");
    /// # Ok::<(), spacestore::Error>(())
    /// ```
    pub fn records_after_order(&self, order: u64) -> AclRecords {
        self.in_orders(order..)
    }

    /// The records whose order is `<= order`, by ascending order (see
    /// [`AclStorage::records_after_order`]). Go's `GetBeforeOrder`:
    /// [`crate::go::GoAclStorage::get_before_order`].
    pub fn records_before_order(&self, order: u64) -> AclRecords {
        self.in_orders(..=order)
    }

    /// The records whose order is in `range`, by ascending order.
    fn in_orders(&self, range: impl std::ops::RangeBounds<u64>) -> AclRecords {
        let records = self.core.acl_records(range);
        Collected::new(records.into_iter().map(AclRecord::from_fields).collect())
    }

    /// How many records the list holds.
    pub fn len(&self) -> usize {
        self.core.acl_len()
    }

    /// Whether the list is empty (never, once created: it holds its root).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds `records` in one commit and moves the head to the last one given (Go's `AddAll`:
    /// the last of the call, not the highest order). No records: nothing is written.
    ///
    /// # Errors
    /// [`Error::AclRecordExists`] for an id already in the list or twice in `records`,
    /// [`Error::AclOrderInUse`] for an order already used or twice in `records` (nothing of the
    /// call is kept: Go's insert is one transaction), [`Error::BatchTooLarge`], and what any
    /// write can fail with.
    pub fn add_all(&self, records: impl IntoIterator<Item = AclRecord>) -> Result<()> {
        let records: Vec<AclFields> = records.into_iter().map(AclRecord::into_fields).collect();
        if records.is_empty() {
            return Ok(());
        }
        self.core
            .write(|_| Ok(Record::AddAclRecords(records)), || {})?;
        Ok(())
    }
}

impl std::fmt::Debug for AclStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AclStorage")
            .field("id", &self.id)
            .field("records", &self.len())
            .finish()
    }
}
