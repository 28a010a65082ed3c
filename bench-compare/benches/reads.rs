//! Read benches on 1,000 trees of 100 changes (batches of 4, the trees taking turns), for
//! spacestore and the peers: `get_after_add_seq` of a tree's newest batch (the tail) and of the
//! whole tree, `changes_after_add_seq` over the newest 100 batches of the space,
//! `get_after_order` over a whole tree, and `iterate_entries` with `min_last_add_seq` (the
//! newest 100 entries).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use spacestore::Durability;

use spacestore_bench::peers::{Fjall, Redb, Sqlite, SqliteSync};
use spacestore_bench::{Backend, ReadSet, Spacestore, READS};

fn reads(c: &mut Criterion) {
    let set = ReadSet {
        per_tree: 100,
        batch: 4,
    };
    let dir = spacestore_bench::tempdir();
    let sub = |name: &str| {
        let p = dir.path().join(name);
        std::fs::create_dir_all(&p).expect("dir");
        p
    };
    let mut stores: Vec<(&str, Box<dyn Backend>)> = vec![
        (
            "spacestore",
            Box::new(Spacestore::open(&sub("space"), Durability::Buffered)),
        ),
        (
            "sqlite",
            Box::new(Sqlite::create(&sub("sqlite"), SqliteSync::Off)),
        ),
        (
            "fjall",
            Box::new(Fjall::create(
                &sub("fjall"),
                Some(fjall::PersistMode::Buffer),
            )),
        ),
        (
            "redb",
            Box::new(Redb::create(&sub("redb"), redb::Durability::None)),
        ),
    ];
    let mut filled = None;
    for (_, s) in stores.iter_mut() {
        filled = Some(set.fill(s.as_mut()));
    }
    let filled = filled.expect("filled");
    for (which, workload) in READS.iter().enumerate() {
        let mut group = c.benchmark_group(workload.replace([' ', '(', ')'], "_"));
        for (name, s) in stores.iter_mut() {
            let mut i = 0u64;
            group.bench_function(*name, |b| {
                b.iter(|| {
                    i += 1;
                    spacestore_bench::read_once(s.as_mut(), &filled, which, i)
                })
            });
        }
        group.finish();
    }
    drop(stores);
    drop(dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = reads
}
criterion_main!(benches);
