//! The names inside a store's directory: where each space lives, and the temporary names a
//! creation and a deletion pass through.
//!
//! `ROOT/LOCK` is the store's lock; `ROOT/spaces/NAME/` a space's directory (a space directory
//! like any other: `LOCK`, segments). `NAME` is the space id when it is made only of ASCII
//! letters, digits, `.`, `_`, `-` and does not begin with `.` (any-sync ids, `<cid>.<key>`,
//! are); otherwise `~` and the id's bytes in hex. A name beginning with `.` is a creation or a
//! deletion that did not finish: the next open of the store removes it.

use std::path::{Path, PathBuf};

/// The directory holding the spaces.
pub fn spaces_dir(root: &Path) -> PathBuf {
    root.join("spaces")
}

/// The directory name of space `id`.
pub(crate) fn dir_name(id: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !id.is_empty() && id.len() <= 200 && !id.starts_with('.') && id.chars().all(plain) {
        return id.to_owned();
    }
    let mut name = String::with_capacity(1 + 2 * id.len());
    name.push('~');
    for b in id.bytes() {
        name.push_str(&format!("{b:02x}"));
    }
    name
}

/// The space id a directory name stands for (`None`: not a space's, e.g. a leftover).
pub(crate) fn id_of(name: &str) -> Option<String> {
    if name.starts_with('.') || name.is_empty() {
        return None;
    }
    let Some(hex) = name.strip_prefix('~') else {
        return Some(name.to_owned());
    };
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// Where a space is created before it is renamed into place.
pub(crate) fn creating(name: &str) -> String {
    format!(".creating-{name}")
}

/// Where a space is moved before its files are removed.
pub(crate) fn deleting(name: &str) -> String {
    format!(".deleting-{name}")
}

/// Whether `name` is a leftover of a creation or deletion.
pub fn is_leftover(name: &str) -> bool {
    name.starts_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_are_their_own_names_and_others_are_hex() {
        assert_eq!(dir_name("bafy.2k"), "bafy.2k");
        assert_eq!(dir_name("a/b.1"), "~612f622e31");
        assert_eq!(dir_name(".x"), "~2e78");
        for id in ["bafy.2k", "a/b.1", ".x", "ü.1", "~7e.1"] {
            assert_eq!(id_of(&dir_name(id)).as_deref(), Some(id), "{id}");
        }
        assert_eq!(id_of(&creating("bafy.2k")), None);
        assert_eq!(id_of("~zz"), None);
    }
}
