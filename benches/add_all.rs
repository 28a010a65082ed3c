//! In-memory `add_all` of one 256-byte change per batch (the Storage core's figure). The full
//! benchmark suite against SQLite, fjall and redb is its own bench.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spacestore::{Space, StorageChange, TreeRoot};

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
                tree.add_all(vec![change], [] as [&str; 0], tree.id().clone())
                    .unwrap(),
            )
        });
    });
    group.finish();
}

criterion_group!(benches, add_all_one_change);
criterion_main!(benches);
