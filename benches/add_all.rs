//! spacestore alone (no peers): `add_all` of one 256-byte change into one of 1,000 trees, in
//! memory, `Buffered` and `Sync` on a temporary directory. The comparison with SQLite, fjall and
//! redb lives in the `spacestore-bench` crate: `cargo bench -p spacestore-bench --bench compare`.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spacestore::{Durability, Options, Space, StorageChange, TreeRoot, TreeStorage};

const TREES: u64 = 1000;

/// A space's 1,000 trees.
fn trees(space: &Space) -> Vec<TreeStorage> {
    (0..TREES)
        .map(|t| {
            space
                .create_tree_storage(TreeRoot::new(format!("tree-{t}"), vec![1u8; 64]))
                .expect("create tree")
        })
        .collect()
}

/// Times `add_all` of one fresh 256-byte change, the trees taking turns.
fn bench_one(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    space: &Space,
) {
    let trees = trees(space);
    let payload = Bytes::from(vec![7u8; 256]);
    let mut n = 0u64;
    c.bench_function(name, |b| {
        b.iter(|| {
            n += 1;
            let tree = &trees[(n % TREES) as usize];
            let change = StorageChange::new(
                format!("bafyreib{n:052}"),
                format!("{n:016}"),
                payload.clone(),
            );
            black_box(
                tree.add_all(vec![change], [] as [&str; 0], tree.id().clone())
                    .expect("add_all"),
            )
        })
    });
}

fn add_all(c: &mut Criterion) {
    let mut group = c.benchmark_group("spacestore_add_all_1x256B");
    group.throughput(Throughput::Elements(1));

    bench_one(&mut group, "in_memory", &Space::in_memory());

    let dir = tempfile::tempdir().expect("temporary directory");
    for (name, durability) in [
        ("buffered", Durability::Buffered),
        ("sync", Durability::Sync),
    ] {
        if durability == Durability::Sync {
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(3));
        }
        let options = Options::default()
            .durability(durability)
            .auto_checkpoint(None, 0);
        let space = Space::open(dir.path().join(name), options).expect("open space");
        bench_one(&mut group, name, &space);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = add_all
}
criterion_main!(benches);
