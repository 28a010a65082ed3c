//! [`SpacePayload`]: what a whole space is created from (Go's
//! `spacestorage.SpaceStorageCreatePayload`), and the checks it gets without crypto.

use bytes::Bytes;

use crate::record::{AclFields, NewSpace, NewTree};
use crate::{Error, Id, Result, TreeRoot};

/// The parts a whole space is created from (Go's `SpaceStorageCreatePayload`): the space
/// header with its id, the ACL list's root record with its id, the settings tree's root.
///
/// spacestore stores the parts as given: it does not decode or verify them (no signatures, no
/// CIDs); [`SpacePayload::validate`] checks what the ids alone can show (DESIGN.md, "Whole
/// spaces").
///
/// ```
/// use spacestore::{Error, SpacePayload, TreeRoot};
/// let payload = SpacePayload::new("bafyspace.2k", b"header".to_vec(), "bafyacl",
///     b"acl root".to_vec(), TreeRoot::new("bafysettings", b"settings root".to_vec()));
/// assert!(payload.validate().is_ok());
/// let mut no_key = payload.clone();
/// no_key.space_id = "bafyspace".into();
/// assert!(matches!(no_key.validate(), Err(Error::IncorrectSpaceHeader(_))));
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpacePayload {
    /// The space's id: the header's CID, a dot, its replication key in base 36.
    pub space_id: Id,
    /// The raw space header (Go's `RawHeader`).
    pub space_header: Bytes,
    /// The ACL list's id: its root record's.
    pub acl_id: Id,
    /// The ACL root record's raw bytes (Go's `Payload`).
    pub acl_root: Bytes,
    /// The settings tree's root change.
    pub settings: TreeRoot,
}

impl SpacePayload {
    /// A payload from its parts.
    pub fn new(
        space_id: impl Into<Id>,
        space_header: impl Into<Bytes>,
        acl_id: impl Into<Id>,
        acl_root: impl Into<Bytes>,
        settings: TreeRoot,
    ) -> Self {
        SpacePayload {
            space_id: space_id.into(),
            space_header: space_header.into(),
            acl_id: acl_id.into(),
            acl_root: acl_root.into(),
            settings,
        }
    }

    /// Checks what the ids can show without decoding the parts: the space id is
    /// `<cid>.<replication key in base 36>` (Go checks both, the CID against the header's
    /// bytes; the key as Go's `strconv.FormatUint(key, 36)` writes it: lowercase, without a
    /// leading zero), each part has its id and its bytes, and the ACL and settings ids differ.
    ///
    /// # Errors
    /// [`Error::IncorrectSpaceHeader`] saying which check failed.
    pub fn validate(&self) -> Result<()> {
        let bad = |why| Err(Error::IncorrectSpaceHeader(why));
        let Some((cid, key)) = self.space_id.split_once('.') else {
            return bad("the space id has no '.' before its replication key");
        };
        if cid.is_empty() {
            return bad("the space id has no header CID before its '.'");
        }
        // Go compares the key with `strconv.FormatUint(key, 36)`: lowercase, no leading zero
        // ("0" for zero), so only that one spelling of a number passes.
        let canonical = u64::from_str_radix(key, 36).is_ok_and(|k| format_base36(k) == key);
        if !canonical {
            return bad("the space id's replication key is not a base-36 number as Go writes it");
        }
        if self.acl_id.is_empty() {
            return bad("the ACL root record has no id");
        }
        if self.settings.id.is_empty() {
            return bad("the settings tree's root has no id");
        }
        if self.space_header.is_empty() || self.acl_root.is_empty() {
            return bad("the space header or the ACL root record has no bytes");
        }
        if self.settings.raw_change.is_empty() {
            // Go's creation fails on it too (`TestCreateSpaceStorageFailed_EmptyStorage`).
            return bad("the settings root has no bytes");
        }
        if self.acl_id == self.settings.id {
            return bad("the ACL root record and the settings root have the same id");
        }
        Ok(())
    }

    /// The record that creates the space, its settings tree created at `added`.
    pub(crate) fn to_record(&self, added: u64) -> NewSpace {
        NewSpace {
            space_id: self.space_id.clone(),
            space_header: self.space_header.clone(),
            acl_root: AclFields {
                id: self.acl_id.clone(),
                prev_id: Id::default(),
                order: 1,
                change_size: self.acl_root.len() as u64,
                raw: self.acl_root.clone(),
            },
            settings_id: self.settings.id.clone(),
            settings: Some(NewTree::of(&self.settings, added)),
        }
    }
}

/// `n` in base 36 as Go's `strconv.FormatUint(n, 36)` writes it: lowercase digits, no leading
/// zero, "0" for zero.
fn format_base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.iter().rev().map(|&d| char::from(d)).collect()
}
