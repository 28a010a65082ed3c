//! [`Id`]: the immutable, cheaply cloned UTF-8 string used for change ids, order ids and tree ids.
//!
//! An `Id` is a [`Bytes`] that is known to hold UTF-8. Cloning it bumps a reference count; an id
//! can point into a memory-mapped log segment as well as into its own allocation, which is what
//! lets replay index changes without copying them.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use bytes::Bytes;

/// Whether `bytes` are UTF-8: ids are mostly ASCII, which is checked a word at a time first.
pub(crate) fn is_utf8(bytes: &[u8]) -> bool {
    bytes.is_ascii() || std::str::from_utf8(bytes).is_ok()
}

/// An immutable UTF-8 string shared by reference count: a change id (a CID), an order id or a
/// tree id.
///
/// It compares, hashes and orders exactly as the `str` it holds, so maps keyed by `Id` can be
/// looked up with a `&str`.
///
/// ```
/// use spacestore::Id;
/// let id = Id::from("bafyreia");
/// assert_eq!(id, "bafyreia");
/// assert!("bafyreia" == id && String::from("bafyreia") == id && id == String::from("bafyreia"));
/// assert_eq!(id.as_str().len(), 8);
/// assert_eq!(format!("{id}"), "bafyreia");
/// ```
#[derive(Clone, Default)]
pub struct Id(Bytes);

impl Id {
    /// Builds an id from bytes, or gives the bytes back if they are not UTF-8.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, Bytes> {
        if is_utf8(&bytes) {
            Ok(Id(bytes))
        } else {
            Err(bytes)
        }
    }

    /// Builds an id from bytes known to be UTF-8 without checking them again.
    ///
    /// # Safety
    ///
    /// `bytes` must be valid UTF-8.
    pub(crate) unsafe fn from_utf8_unchecked(bytes: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&bytes).is_ok());
        Id(bytes)
    }

    /// Builds an id from a `'static` string without copying it.
    pub const fn from_static(s: &'static str) -> Self {
        Id(Bytes::from_static(s.as_bytes()))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor of `Id` either takes a `str`/`String` (UTF-8 by type) or checks
        // the bytes with `std::str::from_utf8` (`from_utf8`), and `Bytes` is immutable, so the
        // bytes are valid UTF-8 for the life of the value.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The id's bytes, shared.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Whether the id is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Deref for Id {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Id {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Id {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Id {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Id {}

impl PartialEq<str> for Id {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}
impl PartialEq<&str> for Id {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Id {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Id> for str {
    fn eq(&self, other: &Id) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Id> for &str {
    fn eq(&self, other: &Id) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Id> for String {
    fn eq(&self, other: &Id) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Hash for Id {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must hash as `str` does, because maps keyed by `Id` are looked up by `&str`.
        self.as_str().hash(state)
    }
}

impl PartialOrd for Id {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Id {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Id {
    fn from(s: &str) -> Self {
        Id(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<String> for Id {
    fn from(s: String) -> Self {
        Id(Bytes::from(s.into_bytes()))
    }
}

impl From<&String> for Id {
    fn from(s: &String) -> Self {
        Id::from(s.as_str())
    }
}

#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl serde::Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<'de> serde::Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Id::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn from_utf8_rejects_invalid_bytes() {
        assert!(Id::from_utf8(Bytes::from_static(&[0xff, 0xfe])).is_err());
        assert_eq!(Id::from_utf8(Bytes::from_static(b"ok")).unwrap(), "ok");
    }

    #[test]
    fn map_keyed_by_id_is_found_by_str() {
        let mut m = HashMap::new();
        m.insert(Id::from("abc"), 1);
        assert_eq!(m.get("abc"), Some(&1));
    }

    #[test]
    fn ordering_is_the_strings() {
        let mut v = vec![Id::from("b"), Id::from("a"), Id::from("ab")];
        v.sort();
        assert_eq!(v, vec!["a", "ab", "b"]);
    }
}
