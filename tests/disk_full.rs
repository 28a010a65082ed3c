//! A disk-full episode under default options: writes fail with ENOSPC while the disk is full
//! (an automatic checkpoint that cannot be written fails too, cleans up after itself and is not
//! retried by every write), and once space is freed writes work again without a reopen, in
//! both durabilities; nothing acknowledged is lost. On the simulated file system.

mod common;

use spacestore::{Durability, Error, Options, Space, StorageChange, TreeRoot, TreeStorage};
use spacestore_test_kit::simfs::{workload, SimFs};

const MIB: usize = 1 << 20;

fn add(tree: &TreeStorage, n: usize) -> spacestore::Result<u64> {
    let id = format!("c{n:06}");
    tree.add_all(
        vec![StorageChange::new(
            id.as_str(),
            id.as_str(),
            vec![n as u8; MIB],
        )],
        [id.as_str()],
        "t",
    )
}

/// Adds 1 MiB batches until one fails; asserts it failed with ENOSPC. Returns the acknowledged
/// (n, seq) pairs and the number of batches tried.
fn fill_until_full(tree: &TreeStorage, durability: Durability) -> (Vec<(usize, u64)>, usize) {
    let mut acked = Vec::new();
    let mut n = 0;
    let full = loop {
        match add(tree, n) {
            Ok(seq) => acked.push((n, seq)),
            Err(e) => break e,
        }
        n += 1;
        assert!(n < 200, "{durability:?}: the disk never filled");
    };
    assert!(
        matches!(&full, Error::Io { source, .. } if source.raw_os_error() == Some(28)),
        "{durability:?}: {full:?}"
    );
    (acked, n + 1)
}

fn tmp_files(fs: &SimFs) -> usize {
    fs.names(&workload::dir())
        .iter()
        .filter(|n| n.ends_with(".wal.tmp"))
        .count()
}

#[test]
fn a_full_disk_fails_writes_and_they_work_again_once_space_is_freed_with_the_default_checkpoint_policy(
) {
    for durability in [Durability::Buffered, Durability::Sync] {
        let fs = SimFs::new();
        // Room for the log to pass the automatic checkpoint's 64 MiB, not for a checkpoint too.
        fs.set_capacity(Some(100 * MIB as u64));
        // The default policy (64 MiB, factor 4), with automatic checkpoints written by the
        // write that makes them due, so that each try is counted by the time it returns.
        let options = Options::default()
            .durability(durability)
            .background_checkpoints(false)
            .bytes_per_sync(None)
            .file_system(fs.arc());
        let space = Space::create(workload::dir(), options.clone()).unwrap();
        let tree = space
            .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
            .unwrap();
        let (mut acked, mut n) = fill_until_full(&tree, durability);
        // The automatic checkpoint came due at 64 MiB of log, could not be written, and was
        // retried with a back-off while the log grew to the full disk (about 36 successful
        // writes of 1 MiB), not after each of those writes.
        let stats = space.log_stats().unwrap();
        assert!(
            (1..=8).contains(&stats.auto_checkpoint_failures),
            "{durability:?}: {} failed automatic checkpoints",
            stats.auto_checkpoint_failures
        );
        // The disk stays full for a while: every write fails, no checkpoint is tried by each
        // of them, and no temporary file is left to eat the space.
        for _ in 0..20 {
            assert!(add(&tree, n).is_err());
            n += 1;
        }
        let tried = space.log_stats().unwrap().auto_checkpoint_failures;
        assert!(
            tried <= stats.auto_checkpoint_failures + 1,
            "{durability:?}: {tried} tries"
        );
        assert_eq!(
            tmp_files(&fs),
            0,
            "{durability:?}: {:?}",
            fs.names(&workload::dir())
        );
        assert_eq!(
            space.writes_refused(),
            None,
            "{durability:?}: ENOSPC refuses nothing"
        );

        // Space is freed: writes work again, with no reopen, and the checkpoint goes through.
        fs.set_capacity(None);
        for _ in 0..3 {
            acked.push((n, add(&tree, n).unwrap()));
            n += 1;
        }
        assert!(space.checkpoint().unwrap().is_some());
        drop((tree, space));
        let space = Space::create(workload::dir(), options).unwrap();
        let tree = space.tree_storage("t").unwrap();
        for (n, seq) in &acked {
            let c = tree.get(&format!("c{n:06}")).unwrap();
            assert_eq!(c.add_seq, *seq, "{durability:?}");
        }
        assert_eq!(tmp_files(&fs), 0);
    }
}

/// The same on a real, small tmpfs (the operating system's ENOSPC, its truncate and fsync).
/// Needs root to mount one, so it is not part of the default run:
/// `cargo test --test disk_full -- --ignored` as root.
#[test]
#[ignore = "mounts a tmpfs: needs root (cargo test --test disk_full -- --ignored)"]
fn a_full_real_tmpfs_fails_writes_and_they_work_again_once_space_is_freed() {
    use std::process::Command;
    for durability in [Durability::Buffered, Durability::Sync] {
        let mnt = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=120m", "tmpfs"])
            .arg(mnt.path())
            .status()
            .unwrap();
        assert!(status.success(), "mount a tmpfs (as root)");
        struct Unmount<'a>(&'a std::path::Path);
        impl Drop for Unmount<'_> {
            fn drop(&mut self) {
                let _ = Command::new("umount").arg(self.0).status();
            }
        }
        let _unmount = Unmount(mnt.path());
        let filler = mnt.path().join("filler");
        std::fs::write(&filler, vec![1u8; 40 * MIB]).unwrap();
        let dir = mnt.path().join("space");
        let options = Options::default().durability(durability);
        let space = Space::create(&dir, options.clone()).unwrap();
        let tree = space
            .create_tree_storage(TreeRoot::new("t", b"root".to_vec()))
            .unwrap();
        let (mut acked, mut n) = fill_until_full(&tree, durability);
        for _ in 0..20 {
            assert!(add(&tree, n).is_err());
            n += 1;
        }
        let tmp = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".wal.tmp")
            })
            .count();
        assert_eq!(tmp, 0, "{durability:?}");
        assert_eq!(space.writes_refused(), None, "{durability:?}");
        std::fs::remove_file(&filler).unwrap();
        for _ in 0..3 {
            acked.push((n, add(&tree, n).unwrap()));
            n += 1;
        }
        eprintln!(
            "{durability:?}: {} of {n} writes acknowledged, {:?}",
            acked.len(),
            space.log_stats().unwrap()
        );
        drop((tree, space));
        let space = Space::create(&dir, options).unwrap();
        let tree = space.tree_storage("t").unwrap();
        for (n, seq) in &acked {
            assert_eq!(tree.get(&format!("c{n:06}")).unwrap().add_seq, *seq);
        }
    }
}
