//! `add_all` benches: spacestore in memory, `Buffered` and `Sync` (also from 4 threads, where
//! group commit shares an fsync), and the peers (SQLite, fjall, redb), for batches of 1 and 16
//! changes of 256 bytes into 1,000 trees. `cargo bench -p spacestore-bench --bench compare`
//! prints them side by side with ratios; these are the same workloads under criterion.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spacestore::{Durability, Heads, Space, StorageChange, TreeRoot};

use spacestore_bench::peers::{Fjall, Redb, Sqlite, SqliteSync};
use spacestore_bench::{Backend, Make, Spacestore, Writers};

fn add_all_one_change(c: &mut Criterion) {
    let mut group = c.benchmark_group("add_all");
    group.throughput(Throughput::Elements(1));
    group.bench_function("in_memory_1x256B", |b| {
        let space = Space::in_memory();
        let trees: Vec<_> = (0..1000)
            .map(|t| {
                space
                    .create_tree_storage(TreeRoot::new(format!("tree-{t}"), vec![1u8; 64]))
                    .unwrap()
            })
            .collect();
        let payload = bytes::Bytes::from(vec![7u8; 256]);
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            let tree = &trees[(n % 1000) as usize];
            let change = StorageChange::new(
                format!("bafyreib{n:052}"),
                format!("{n:016}"),
                payload.clone(),
            );
            black_box(
                tree.add_all(vec![change], Heads::Unchanged, tree.id().clone())
                    .unwrap(),
            )
        });
    });
    group.finish();
}

fn stores() -> Vec<(&'static str, Make, u32)> {
    let ours = |d: Option<Durability>| -> Make {
        Box::new(move |dir| -> Box<dyn Backend> {
            match d {
                None => Box::new(Spacestore::in_memory()),
                Some(d) => Box::new(Spacestore::open(&dir.join("space"), d)),
            }
        })
    };
    let sqlite = |s: SqliteSync| -> Make { Box::new(move |dir| Box::new(Sqlite::create(dir, s))) };
    let fjall = |p: Option<fjall::PersistMode>| -> Make {
        Box::new(move |dir| Box::new(Fjall::create(dir, p)))
    };
    let redb =
        |d: redb::Durability| -> Make { Box::new(move |dir| Box::new(Redb::create(dir, d))) };
    vec![
        ("spacestore_in_memory", ours(None), 1),
        ("spacestore_buffered", ours(Some(Durability::Buffered)), 1),
        ("spacestore_sync", ours(Some(Durability::Sync)), 1),
        ("spacestore_sync_4_threads", ours(Some(Durability::Sync)), 4),
        ("sqlite_off", sqlite(SqliteSync::Off), 1),
        ("sqlite_normal", sqlite(SqliteSync::Normal), 1),
        ("sqlite_full", sqlite(SqliteSync::Full), 1),
        ("sqlite_full_4_threads", sqlite(SqliteSync::Full), 4),
        // fjall's journal buffer only: a process crash loses the batch, unlike `Buffered`.
        ("fjall_no_persist_not_like_for_like", fjall(None), 1),
        // To the OS, as `Buffered`: fjall 3's default for a write batch.
        ("fjall_buffer", fjall(Some(fjall::PersistMode::Buffer)), 1),
        (
            "fjall_sync_data",
            fjall(Some(fjall::PersistMode::SyncData)),
            1,
        ),
        (
            "fjall_sync_data_4_threads",
            fjall(Some(fjall::PersistMode::SyncData)),
            4,
        ),
        ("redb_none", redb(redb::Durability::None), 1),
        ("redb_immediate", redb(redb::Durability::Immediate), 1),
        (
            "redb_immediate_4_threads",
            redb(redb::Durability::Immediate),
            4,
        ),
    ]
}

fn add_all(c: &mut Criterion) {
    for size in [1usize, 16] {
        let mut group = c.benchmark_group(format!("add_all_{size}x256B"));
        group.throughput(Throughput::Elements(size as u64));
        for (name, make, threads) in stores() {
            let durable =
                name.contains("sync") || name.contains("full") || name.contains("immediate");
            if durable {
                group
                    .sample_size(10)
                    .measurement_time(Duration::from_secs(3));
            } else {
                group
                    .sample_size(20)
                    .measurement_time(Duration::from_secs(2));
            }
            let mut writers = Writers::new(&make, threads, size);
            if threads == 1 {
                group.bench_function(name, |b| b.iter(|| black_box(writers.write_one())));
            } else {
                group.bench_function(name, |b| b.iter_custom(|iters| writers.write_n(iters)));
            }
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500));
    targets = add_all_one_change, add_all
}
criterion_main!(benches);
