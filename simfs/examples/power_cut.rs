//! A user's routine crash-tested with `spacestore-simfs`: an inbox that stores each message as
//! a batch and then moves its "processed" cursor, checked after a power cut at every file
//! system call, with each tear model: every acknowledged message survives, and the cursor
//! never points past what the space holds.
//!
//! `cargo run -p spacestore-simfs --example power_cut`

use spacestore::{Durability, Options, Space, StorageChange, TreeRoot};
use spacestore_simfs::{every_power_cut, SimFs};

const DIR: &str = "/sim/inbox";

fn options(fs: &SimFs) -> Options {
    Options::default()
        .durability(Durability::Sync)
        .file_system(fs.arc())
}

/// The routine under test: stores three messages, each as a batch, and acknowledges each on
/// the cursor `processed` once stored. Returns the messages it saw acknowledged (with their
/// AddSeq). A failure (the power is off) ends it, as it would end a real process.
fn inbox(fs: &SimFs) -> Vec<(String, u64)> {
    let mut acked = Vec::new();
    let Ok(space) = Space::create(DIR, options(fs)) else {
        return acked;
    };
    let Ok(tree) = space
        .tree_storage("inbox")
        .or_else(|_| space.create_tree_storage(TreeRoot::new("inbox", b"inbox".to_vec())))
    else {
        return acked;
    };
    let Ok(cursor) = space.cursor("processed") else {
        return acked;
    };
    for i in 0..3 {
        let id = format!("message-{i}");
        let message = StorageChange::new(id.as_str(), format!("{i:04}"), b"hello".to_vec());
        let Ok(seq) = tree.add_all(vec![message], [id.as_str()], "inbox") else {
            return acked;
        };
        acked.push((id, seq));
        if cursor.ack(seq).is_err() {
            return acked;
        }
    }
    acked
}

fn main() {
    let cases = every_power_cut(inbox, |fs, acked, cut| {
        // After the reboot: open the space as the application would.
        let space = Space::create(DIR, options(fs)).unwrap_or_else(|e| panic!("{cut:?}: {e}"));
        for (id, seq) in acked {
            let tree = space
                .tree_storage("inbox")
                .expect("the inbox holds acknowledged messages");
            let stored = tree
                .get(id)
                .unwrap_or_else(|_| panic!("{id} lost at {cut:?}"));
            assert_eq!(stored.add_seq, *seq, "{id} at {cut:?}");
        }
        let position = space.cursor("processed").map_or(0, |c| c.get());
        assert!(
            position <= space.last_add_seq(),
            "the cursor ({position}) points past the last stored batch at {cut:?}"
        );
    });
    println!("{cases} power cuts (every call of the routine, each tear model): every acknowledged message survived");
}
