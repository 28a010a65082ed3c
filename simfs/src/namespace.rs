//! The names of a [`crate::SimFs`]: a tree of directories, each entry `(directory, name)`
//! naming a file (an inode) or a directory, and the directory operations that change it. The
//! file system keeps two: the current names and the durable ones; a directory operation is
//! pending until its directory is synced, and a directory is found by its identity, not its
//! path, so a directory renamed after a file was created in it still holds that file, and a
//! directory whose own entry never became durable is lost at a power cut with all it holds.

use std::collections::BTreeMap;
use std::path::{Component, Path};

/// What an entry names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Node {
    /// A file: its inode.
    File(usize),
    /// A directory: its identity (0 is the root).
    Dir(u64),
}

/// The root directory's identity.
pub(crate) const ROOT: u64 = 0;

/// A change to one directory's entries.
#[derive(Clone, Debug)]
pub(crate) enum DirOp {
    /// A new entry (a created file, a made directory).
    Link { dir: u64, name: String, node: Node },
    /// An entry removed (a removed file, an empty directory removed).
    Unlink { dir: u64, name: String },
    /// An entry renamed within its directory, replacing `to`.
    Rename {
        dir: u64,
        from: String,
        to: String,
        node: Node,
    },
}

impl DirOp {
    /// The directory whose sync makes this change durable.
    pub(crate) fn dir(&self) -> u64 {
        match self {
            DirOp::Link { dir, .. } | DirOp::Unlink { dir, .. } | DirOp::Rename { dir, .. } => *dir,
        }
    }
}

/// A tree of names.
#[derive(Clone, Debug, Default)]
pub(crate) struct Namespace {
    entries: BTreeMap<(u64, String), Node>,
}

/// The names along `path` (the root and `.` skipped); `None` for a path with `..`.
fn parts(path: &Path) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n.to_str()?),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => return None,
        }
    }
    Some(out)
}

impl Namespace {
    /// What `path` names, if anything.
    pub(crate) fn resolve(&self, path: &Path) -> Option<Node> {
        let mut node = Node::Dir(ROOT);
        for name in parts(path)? {
            let Node::Dir(dir) = node else { return None };
            node = self.get(dir, name)?;
        }
        Some(node)
    }

    /// What `name` in directory `dir` names.
    pub(crate) fn get(&self, dir: u64, name: &str) -> Option<Node> {
        self.entries.get(&(dir, name.to_owned())).copied()
    }

    /// The directory `path` names.
    pub(crate) fn dir(&self, path: &Path) -> Option<u64> {
        match self.resolve(path)? {
            Node::Dir(d) => Some(d),
            Node::File(_) => None,
        }
    }

    /// The file `path` names.
    pub(crate) fn file(&self, path: &Path) -> Option<usize> {
        match self.resolve(path)? {
            Node::File(ino) => Some(ino),
            Node::Dir(_) => None,
        }
    }

    /// The directory `path` is in, and its last name (`None` when that directory does not
    /// exist, or `path` has no name).
    pub(crate) fn split(&self, path: &Path) -> Option<(u64, String)> {
        let name = path.file_name()?.to_str()?.to_owned();
        let parent = self.dir(path.parent().unwrap_or(Path::new("")))?;
        Some((parent, name))
    }

    /// The entries of directory `dir`, by name.
    pub(crate) fn list(&self, dir: u64) -> impl Iterator<Item = (&str, Node)> {
        self.entries
            .range((dir, String::new())..)
            .take_while(move |((d, _), _)| *d == dir)
            .map(|((_, name), node)| (name.as_str(), *node))
    }

    /// Every file reachable from the root, with its path (in no particular order).
    pub(crate) fn files(&self) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        let mut stack = vec![(ROOT, String::new())];
        while let Some((dir, prefix)) = stack.pop() {
            for (name, node) in self.list(dir) {
                let path = format!("{prefix}/{name}");
                match node {
                    Node::File(ino) => out.push((path, ino)),
                    Node::Dir(d) => stack.push((d, path)),
                }
            }
        }
        out
    }

    /// Applies a directory change.
    pub(crate) fn apply(&mut self, op: &DirOp) {
        match op {
            DirOp::Link { dir, name, node } => {
                self.entries.insert((*dir, name.clone()), *node);
            }
            DirOp::Unlink { dir, name } => {
                self.entries.remove(&(*dir, name.clone()));
            }
            DirOp::Rename {
                dir,
                from,
                to,
                node,
            } => {
                self.entries.remove(&(*dir, from.clone()));
                self.entries.insert((*dir, to.clone()), *node);
            }
        }
    }
}
