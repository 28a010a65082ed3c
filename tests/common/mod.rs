//! Helpers shared by the integration tests.
#![allow(dead_code)]

use spacestore::{Space, StorageChange, TreeRoot, TreeStorage};

/// A change with the given id and order id, one parent (`prev`) and 256 bytes of payload.
pub fn change(id: &str, order_id: &str) -> StorageChange {
    StorageChange::new(id, order_id, vec![7u8; 256])
}

/// A root with the given id.
pub fn root(id: &str) -> TreeRoot {
    TreeRoot::new(id, format!("root of {id}").into_bytes())
}

/// A new in-memory space with one tree `id`.
pub fn space_with_tree(id: &str) -> (Space, TreeStorage) {
    let space = Space::in_memory();
    let tree = space.create_tree_storage(root(id)).unwrap();
    (space, tree)
}

/// The ids of changes, as strings.
pub fn ids(changes: &[StorageChange]) -> Vec<String> {
    changes.iter().map(|c| c.id.to_string()).collect()
}

/// The offsets at which the frames of a segment start (after its header), walked with the
/// segment's own framing.
#[cfg(feature = "internals")]
pub fn frame_starts(seg: &std::path::Path) -> Vec<usize> {
    use spacestore::internals::frame::{read_header, Parsed};
    let bytes = std::fs::read(seg).unwrap();
    let seq: u64 = seg.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    let header = read_header(&bytes, seq).unwrap();
    let mut pos = header.header_len();
    let mut starts = Vec::new();
    while let Parsed::Frame { next, .. } = header.framing().parse(&bytes, pos) {
        starts.push(pos);
        pos = next;
    }
    assert_eq!(pos, bytes.len(), "frames walk to the end");
    starts
}

/// No heads given: the tree's heads stay as they are.
pub const NO_HEADS: spacestore::Heads = spacestore::Heads::Unchanged;

/// A create payload for a whole space: space `space_id` (`<cid>.<key>`), ACL list `acl`,
/// settings tree `settings`.
pub fn space_payload(space_id: &str) -> spacestore::SpacePayload {
    spacestore::SpacePayload::new(
        space_id,
        format!("header of {space_id}").into_bytes(),
        "acl",
        b"acl root record".to_vec(),
        root("settings"),
    )
}

pub mod hooked;
