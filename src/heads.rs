//! [`Heads`]: what a batch does to its tree's heads, as Go's `heads` argument says it: `nil`
//! leaves them as they are, a list (empty too) sets them.

use crate::Id;

/// New heads for a tree's head entry ([`crate::TreeStorage::add_all`]): Go's `heads`
/// argument, whose `nil` leaves the heads as they are and whose list (an empty one too) sets
/// them.
///
/// `add_all` takes anything that converts: arrays and slices of `&str` (`[]` included: an
/// empty list, which clears the heads, as Go's `[]string{}` does), slices of [`Id`], `Vec`s of
/// `&str`, `String` or [`Id`], an iterator's `.map(..)` of anything that converts to an
/// [`Id`], and `Heads` itself. Any other iterator: `.collect::<Heads>()` or [`Heads::set`].
///
/// Arrays are of `&str` only: with a second array type, `[]` would not compile (Rust cannot
/// tell which empty array it is). Owned ids go in a `Vec` (`vec![id_string]`, `vec![id]`) or
/// as `&str`s (`[id_string.as_str()]`).
///
/// ```
/// use spacestore::{Heads, Space, StorageChange, TreeRoot};
/// let space = Space::in_memory();
/// let tree = space.create_tree_storage(TreeRoot::new("t", b"root".to_vec()))?;
/// tree.add_all(vec![StorageChange::new("c1", "1", b"x".to_vec())], ["c1"], "t")?;
/// tree.add_all(vec![StorageChange::new("c2", "2", b"y".to_vec())], Heads::Unchanged, "t")?;
/// assert_eq!(tree.heads()?, vec!["c1"]);
/// tree.add_all(vec![StorageChange::new("c3", "3", b"z".to_vec())], [], "t")?;
/// assert!(tree.heads()?.is_empty(), "an empty list sets no heads");
/// let owned = vec![String::from("c3")];
/// tree.add_all(vec![], Heads::set(owned.iter().map(String::as_str)), "t")?;
/// assert_eq!(tree.heads()?, vec!["c3"]);
/// # Ok::<(), spacestore::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Heads {
    /// Leave the heads as they are (Go's `nil`).
    #[default]
    Unchanged,
    /// Set the heads to these (an empty list leaves the tree with no heads).
    Set(Vec<Id>),
}

impl Heads {
    /// Heads set to `heads`.
    pub fn set<I, S>(heads: I) -> Heads
    where
        I: IntoIterator<Item = S>,
        S: Into<Id>,
    {
        Heads::Set(heads.into_iter().map(Into::into).collect())
    }

    /// The heads to set, `None` to leave them.
    pub(crate) fn into_option(self) -> Option<Vec<Id>> {
        match self {
            Heads::Unchanged => None,
            Heads::Set(heads) => Some(heads),
        }
    }
}

impl<const N: usize> From<[&str; N]> for Heads {
    fn from(heads: [&str; N]) -> Heads {
        Heads::set(heads)
    }
}

/// An iterator adapter's output, as a caller maps its own ids:
/// `add_all(changes, ids.iter().map(String::as_str), "t")`.
impl<I, F, S> From<std::iter::Map<I, F>> for Heads
where
    std::iter::Map<I, F>: Iterator<Item = S>,
    S: Into<Id>,
{
    fn from(heads: std::iter::Map<I, F>) -> Heads {
        Heads::set(heads)
    }
}

/// Any iterator of ids collected: `ids.into_iter().collect::<Heads>()`.
impl<S: Into<Id>> FromIterator<S> for Heads {
    fn from_iter<I: IntoIterator<Item = S>>(heads: I) -> Heads {
        Heads::set(heads)
    }
}

impl From<&[&str]> for Heads {
    fn from(heads: &[&str]) -> Heads {
        Heads::set(heads.iter().copied())
    }
}

impl From<Vec<&str>> for Heads {
    fn from(heads: Vec<&str>) -> Heads {
        Heads::set(heads)
    }
}

impl From<Vec<String>> for Heads {
    fn from(heads: Vec<String>) -> Heads {
        Heads::set(heads)
    }
}

impl From<Vec<Id>> for Heads {
    fn from(heads: Vec<Id>) -> Heads {
        Heads::Set(heads)
    }
}

impl From<&[Id]> for Heads {
    fn from(heads: &[Id]) -> Heads {
        Heads::Set(heads.to_vec())
    }
}

impl From<Option<Vec<Id>>> for Heads {
    /// `None` leaves the heads, `Some` sets them (a head entry's `heads` field, Go's shape).
    fn from(heads: Option<Vec<Id>>) -> Heads {
        heads.map_or(Heads::Unchanged, Heads::Set)
    }
}
