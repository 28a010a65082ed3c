//! Helpers shared by the integration tests.
#![allow(dead_code)]

use spacestore::{
    AclRecord, ChangeView, HeadUpdate, IterOptions, Space, StorageChange, TreeRoot, TreeStorage,
};

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

/// The ids of changes read in place, as strings.
pub fn view_ids(views: impl IntoIterator<Item = ChangeView>) -> Vec<String> {
    views.into_iter().map(|v| v.id().to_owned()).collect()
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

/// Everything a reader can see of a space: the feed, each tree's changes with heads, every
/// head entry (by id and by last AddSeq), the cursors, and a whole space's state and ACL list.
pub fn visible_state(space: &Space) -> Vec<String> {
    let mut out = vec![format!(
        "{:?}",
        space
            .changes_after_add_seq(0)
            .map(StorageChange::from)
            .collect::<Vec<_>>()
    )];
    for id in space.tree_ids() {
        let tree = space.tree_storage(&id).unwrap();
        out.push(format!(
            "{id} {:?} {:?}",
            tree.changes_after_order("")
                .map(StorageChange::from)
                .collect::<Vec<_>>(),
            tree.heads().unwrap()
        ));
    }
    let heads = space.head_storage();
    out.push(format!(
        "{:?}",
        heads.entries(IterOptions::all()).collect::<Vec<_>>()
    ));
    // Through the index by last AddSeq.
    out.push(format!(
        "{:?}",
        heads
            .entries(IterOptions::all().min_last_add_seq(1))
            .collect::<Vec<_>>()
    ));
    out.push(format!("{:?}", space.cursors()));
    if let Ok(state) = space.state_storage() {
        out.push(format!("{:?}", state.get_state()));
        out.push(format!(
            "{:?}",
            space
                .acl_storage()
                .unwrap()
                .records_after_order(0)
                .collect::<Vec<_>>()
        ));
    }
    out
}

/// A whole space with two trees of a few batches, a deleted tree, a head entry of its own and a
/// cursor.
pub fn written(space: &Space) {
    space.create_space(space_payload("space.1")).unwrap();
    space
        .acl_storage()
        .unwrap()
        .add_all([AclRecord::new("acl2", "acl", 2, b"second".to_vec())])
        .unwrap();
    for t in ["a", "b", "gone"] {
        let tree = space.create_tree_storage(root(t)).unwrap();
        for b in 0..3 {
            let changes: Vec<StorageChange> = (0..2)
                .map(|c| change(&format!("{t}{b}.{c}"), &format!("{b}.{c}")))
                .collect();
            let head = format!("{t}{b}.1");
            tree.add_all(changes, [head.as_str()], t).unwrap();
        }
    }
    space.tree_storage("gone").unwrap().delete().unwrap();
    space
        .head_storage()
        .update_entry(HeadUpdate::new("x").heads(["h"]).last_add_seq(2))
        .unwrap();
    space.cursor("reader").unwrap().ack(3).unwrap();
}

pub mod hooked;
