//! The `tracing` feature: what the space tells a subscriber (target `spacestore`).
#![cfg(feature = "tracing")]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use spacestore::{Options, Space};
use spacestore_test_kit::simfs::{Fault, Op, SimFs, EIO};

/// A writer into a shared buffer, for the subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with a subscriber that keeps every event at debug level and above; returns them.
fn events(f: impl FnOnce()) -> String {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .without_time()
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = out.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn an_open_and_a_checkpoint_are_told_with_their_figures() {
    let dir = tempfile::tempdir().unwrap();
    let text = events(|| {
        let space = Space::create(dir.path(), Options::default()).unwrap();
        let tree = space.create_tree_storage(root("t")).unwrap();
        tree.add_all(vec![change("c1", "1")], NO_HEADS, "t")
            .unwrap();
        space.checkpoint().unwrap();
    });
    let told = |level: &str, what: &str| {
        text.lines()
            .any(|l| l.contains(level) && l.contains(&format!("spacestore: {what}")))
    };
    assert!(told("INFO", "opened space"), "{text}");
    assert!(text.contains("frames=0"), "{text}");
    assert!(told("INFO", "checkpoint"), "{text}");
    assert!(told("DEBUG", "new active segment"), "{text}");
}

#[test]
fn an_open_a_checkpoint_and_a_roll_are_spans_around_their_events() {
    let dir = tempfile::tempdir().unwrap();
    let text = events(|| {
        let space = Space::create(dir.path(), Options::default().segment_size(400)).unwrap();
        let tree = space.create_tree_storage(root("t")).unwrap();
        for i in 0..4 {
            let id = format!("c{i}");
            tree.add_all(vec![change(&id, &id)], NO_HEADS, "t").unwrap();
        }
        space.checkpoint().unwrap();
    });
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{text}"))
            .to_owned()
    };
    assert!(line("opened space").contains(" open{dir="), "{text}");
    assert!(line("checkpoint").contains(" checkpoint:"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains(" roll{dir=") && l.contains("new active segment")),
        "{text}"
    );
}

#[test]
fn a_failed_automatic_checkpoint_is_a_warning_and_writes_go_on() {
    let fs = SimFs::new();
    let options = Options::default()
        .file_system(fs.arc())
        .auto_checkpoint(Some(2), 2_000)
        // The warning is told on the writing thread, where the test's subscriber is.
        .background_checkpoints(false)
        .bytes_per_sync(None);
    let space = Space::create("/space", options).unwrap();
    let tree = space.create_tree_storage(root("t")).unwrap();
    // The first rename is the first checkpoint's: it fails.
    fs.fail(Op::Rename, 0, Fault::Error(EIO));
    let text = events(|| {
        for i in 0..40 {
            let id = format!("c{i}");
            tree.add_all(vec![change(&id, &id)], NO_HEADS, "t").unwrap();
        }
    });
    assert!(
        text.contains("WARN spacestore: an automatic checkpoint failed"),
        "{text}"
    );
    assert!(space.log_stats().unwrap().auto_checkpoint_failures >= 1);
    assert_eq!(space.changes_after_add_seq(0).count(), 40);
}

#[test]
fn a_latched_failure_is_a_warning() {
    let fs = SimFs::new();
    let options = Options::default()
        .file_system(fs.arc())
        .durability(spacestore::Durability::Sync);
    let space = Space::create("/space", options).unwrap();
    let tree = space.create_tree_storage(root("t")).unwrap();
    let text = events(|| {
        fs.fail(Op::Fsync, fs.count(Op::Fsync), Fault::Error(EIO));
        assert!(tree
            .add_all(vec![change("c1", "1")], NO_HEADS, "t")
            .is_err());
    });
    assert!(
        text.contains("WARN spacestore: the space refuses writes from now on"),
        "{text}"
    );
    assert!(space.writes_refused().is_some());
}
