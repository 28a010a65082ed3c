//! The whole storage of an any-sync space, and many spaces in one store.
//!
//! An embedded peer stores the whole storage of an any-sync space: its state (space id, header,
//! hash), its ACL list, its settings tree, its trees and head entries. `Space::create_space`
//! makes a space whole from the payload any-sync builds (`SpacePayload`: header, ACL root
//! record, settings root) in one commit, as Go's `spacestorage.Create` does; `Space::open` opens
//! it again.
//!
//! A peer holds many spaces: a `Store` keeps one directory per space, opens a space on its first
//! use, and closes the least recently used idle ones past `StoreOptions::max_open_spaces`. Opens,
//! creations, closes and deletions run outside the store's lock, so a space that takes long to
//! open holds up only the callers of that space.
//!
//! spacestore stores the payload's parts as given: it checks what their ids can show
//! (`SpacePayload::validate`) but decodes no protobuf and verifies no signature; a peer
//! validates payloads before storing them. A space made with `Space::create` or
//! `Space::in_memory()` without a payload is *bare* (trees, head entries, the counter, cursors:
//! what tests of sync logic need). DESIGN.md, "Whole spaces" and "Many spaces in one store",
//! has the rules.
//!
//! `cargo run --example whole_space`

use spacestore::{
    AclRecord, Options, Space, SpacePayload, StorageChange, Store, StoreOptions, TreeRoot,
};

/// A whole space: made from its payload, written to, closed, opened again.
fn whole_space() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let payload = SpacePayload::new(
        "bafyspace.1", // the header's CID, '.', the replication key in base 36
        b"raw space header".to_vec(),
        "bafyaclroot", // the ACL list's id: its root record's
        b"raw acl root".to_vec(),
        TreeRoot::new("bafysettings", b"raw settings root".to_vec()),
    );
    {
        let space = Space::create(dir.path(), Options::default())?.create_space(payload)?;
        space
            .acl_storage()?
            .add_all([AclRecord::new("r2", "bafyaclroot", 2, b"raw".to_vec())])?;
        space.state_storage()?.set_hash("hash-1")?;
        let tree = space.create_tree_storage(TreeRoot::new("doc", b"root".to_vec()))?;
        tree.add_all(
            vec![StorageChange::new("c1", "1", b"x".to_vec())],
            ["c1"],
            "doc",
        )?;
    } // closed
    let space = Space::open(dir.path(), Options::default())?;
    assert_eq!(space.id().as_deref(), Some("bafyspace.1"));
    let state = space.state_storage()?.get_state();
    assert_eq!(
        (state.new_hash.as_str(), state.settings_id.as_str()),
        ("hash-1", "bafysettings")
    );
    assert_eq!(space.acl_storage()?.head()?, "r2");
    assert_eq!(space.tree_storage("doc")?.get("c1")?.add_seq, 1);
    println!(
        "space {}: hash {}, ACL head r2, {} trees",
        state.space_id,
        state.new_hash,
        space.tree_count()
    );
    Ok(())
}

/// Many spaces in one store: created, listed, opened on use, deleted.
fn many_spaces() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreOptions::default().max_open_spaces(50))?;
    for i in 0..3 {
        let settings = TreeRoot::new("settings", b"settings root".to_vec());
        let payload = SpacePayload::new(
            format!("space{i}.1"),
            b"header".to_vec(),
            "acl",
            b"acl root".to_vec(),
            settings,
        );
        store.create_space(payload)?;
    }
    assert_eq!(store.space_ids()?, ["space0.1", "space1.1", "space2.1"]);
    let space = store.space("space1.1")?; // opened, or the handle already open
    assert_eq!(space.state_storage()?.get_state().space_id, "space1.1");
    drop(space);
    store.delete_space("space2.1")?;
    assert!(!store.space_exists("space2.1"));
    println!("store: {:?}", store.space_ids()?);
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    whole_space()?;
    many_spaces()
}
