//! The names inside a store's directory: where each space lives, and the temporary names a
//! creation and a deletion pass through.
//!
//! `ROOT/LOCK` is the store's lock; `ROOT/spaces/NAME/` a space's directory (a space directory
//! like any other: `LOCK`, segments). `NAME` is the space id when it is made only of lower-case
//! ASCII letters, digits, `.`, `_`, `-`, is at most 200 bytes and does not begin with `.`
//! (any-sync ids, `<cid>.<key>`, are: a CID in base32 and a key in base36, both lower case);
//! otherwise `~` and the id's bytes in lower-case hex. Two ids never get names that differ only
//! in case, so a case-insensitive file system (macOS's, Windows') keeps them apart, and each
//! name has one id: [`id_of`] takes only the name [`dir_name`] gives.
//!
//! A store written before this rule (0.1) kept upper case in plain names; [`legacy_id_of`]
//! reads those, and `Store::open` renames them to their names now.
//!
//! A name beginning with `.creating-` or `.deleting-` is a creation or a deletion that did not
//! finish: the next open of the store removes it. Every other name that [`id_of`] does not take
//! (a link, a file, a name of another program's) is not the store's: it is never listed,
//! opened, entered or removed.

use std::io;
use std::path::{Path, PathBuf};

use crate::{FileSystem, Id};

/// The directory holding the spaces.
pub fn spaces_dir(root: &Path) -> PathBuf {
    root.join("spaces")
}

/// The prefix of a creation's temporary name.
const CREATING: &str = ".creating-";
/// The prefix of a deletion's temporary name.
const DELETING: &str = ".deleting-";

/// Whether `id` is its own directory name.
fn is_plain(id: &str) -> bool {
    let plain =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-');
    !id.is_empty() && id.len() <= 200 && !id.starts_with('.') && id.chars().all(plain)
}

/// The directory name of space `id`.
pub(crate) fn dir_name(id: &str) -> String {
    if is_plain(id) {
        return id.to_owned();
    }
    let mut name = String::with_capacity(1 + 2 * id.len());
    name.push('~');
    for b in id.bytes() {
        name.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        name.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    name
}

/// The space id a directory name stands for: `None` for every name that [`dir_name`] does not
/// give (a leftover, upper-case hex, a plain id written in hex, an older store's name).
pub(crate) fn id_of(name: &str) -> Option<String> {
    let Some(hex) = name.strip_prefix('~') else {
        return is_plain(name).then(|| name.to_owned());
    };
    let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if hex.len() % 2 != 0 || !hex.bytes().all(lower_hex) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    // As `dir_name` writes it: a plain id is never written in hex.
    String::from_utf8(bytes?).ok().filter(|id| !is_plain(id))
}

/// The space id of a directory name given by a store of 0.1, which kept upper-case letters in
/// plain names (`Ab.1`): `None` for every other name. `Store::open` renames these to
/// [`dir_name`].
pub(crate) fn legacy_id_of(name: &str) -> Option<String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let legacy = name.len() <= 200
        && !name.starts_with('.')
        && name.chars().all(plain)
        && name.chars().any(|c| c.is_ascii_uppercase());
    legacy.then(|| name.to_owned())
}

/// The spaces of the store in `root`, sorted by id, each with its directory's name in
/// `spaces/` (see [`spaces_dir`]): what
/// `Store::space_ids` lists and `Store::space` opens, and what the tools look at (one listing
/// of `spaces/`; links, files and names that are not the store's left out). A directory under a
/// name of 0.1 (upper case kept) is listed under its id, at its old path, unless its new name is
/// taken: `Store::open` renames it.
///
/// # Errors
/// The operating system's (`NotFound` when there is no `spaces/`).
pub fn space_dirs(fs: &dyn FileSystem, root: &Path) -> io::Result<Vec<(Id, String)>> {
    let names = fs.list_dirs(&spaces_dir(root))?;
    let mut all: Vec<(Id, String)> = Vec::with_capacity(names.len());
    for name in &names {
        let id = match id_of(name) {
            Some(id) => id,
            None => match legacy_id_of(name).filter(|id| !names.contains(&dir_name(id))) {
                Some(id) => id,
                None => continue,
            },
        };
        all.push((Id::from(id), name.clone()));
    }
    all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(all)
}

/// Where a space is created before it is renamed into place.
pub(crate) fn creating(name: &str) -> String {
    format!("{CREATING}{name}")
}

/// Where a space is moved before its files are removed.
pub(crate) fn deleting(name: &str) -> String {
    format!("{DELETING}{name}")
}

/// Whether `name` is a leftover of a creation or deletion (removed when the store opens).
pub fn is_leftover(name: &str) -> bool {
    name.starts_with(CREATING) || name.starts_with(DELETING)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_are_their_own_names_and_others_are_hex() {
        assert_eq!(dir_name("bafy.2k"), "bafy.2k");
        assert_eq!(dir_name("a/b.1"), "~612f622e31");
        assert_eq!(dir_name(".x"), "~2e78");
        for id in ["bafy.2k", "a/b.1", ".x", "ü.1", "~7e.1", "Ab.1", ""] {
            assert_eq!(id_of(&dir_name(id)).as_deref(), Some(id), "{id}");
        }
        assert_eq!(id_of(&creating("bafy.2k")), None);
        assert_eq!(id_of("~zz"), None);
    }

    #[test]
    fn ids_that_differ_only_in_case_get_names_that_differ_in_more_than_case() {
        let ids = ["ab.1", "Ab.1", "AB.1", "aB.1", "x\u{c9}.1", "x\u{e9}.1"];
        let names: Vec<String> = ids.iter().map(|id| dir_name(id).to_lowercase()).collect();
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                assert_ne!(
                    a, b,
                    "two ids share a name on a case-insensitive file system"
                );
            }
        }
    }

    #[test]
    fn a_name_stands_for_an_id_only_as_dir_name_writes_it() {
        // Upper-case hex, a plain id written in hex, and upper case in a plain name are the
        // same directory as another name on a case-insensitive file system: not ids.
        assert_eq!(id_of("~41622E31"), None);
        assert_eq!(id_of("~61622e31"), None);
        assert_eq!(id_of("Ab.1"), None);
        assert_eq!(legacy_id_of("Ab.1").as_deref(), Some("Ab.1"));
        assert_eq!(legacy_id_of("ab.1"), None);
        assert_eq!(legacy_id_of("~41622e31"), None);
    }
}
