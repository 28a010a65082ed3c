//! Replay benches: `Space::open` of a directory holding 100,000 changes (1,000 trees, batches of
//! 4) until the first read is answered, from the log and after a checkpoint, with the page cache
//! warm. Throughput is the log's bytes. The 1-million-change figures, cold and warm, and the
//! resident memory per change are measured by
//! `cargo bench -p spacestore-bench --bench compare`.

use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spacestore::{Durability, Options, Space};

use spacestore_bench::{Backend, BatchGen, Spacestore};

const CHANGES: u64 = 100_000;

fn build(dir: &Path) {
    let mut s = Spacestore::open(dir, Durability::Buffered);
    let mut gen = BatchGen::new(0, 1);
    for _ in 0..CHANGES / 4 {
        let (tree, changes) = gen.batch(4);
        s.add_all(tree, changes);
    }
}

fn open_and_read(dir: &Path) -> usize {
    let space = Space::create(dir, Options::default()).expect("open");
    let tree = space
        .tree_storage(&spacestore_bench::root_id(0))
        .expect("tree");
    let change = tree.get(&spacestore_bench::cid(0, 0)).expect("read");
    std::hint::black_box(change);
    space.change_count()
}

fn replay(c: &mut Criterion) {
    let root = spacestore_bench::tempdir();
    let log = root.path().join("log");
    let checkpointed = root.path().join("checkpoint");
    build(&log);
    build(&checkpointed);
    Space::create(&checkpointed, Options::default())
        .expect("open")
        .checkpoint()
        .expect("checkpoint");
    let mut group = c.benchmark_group("replay_100k_changes");
    for (name, dir) in [("log", &log), ("checkpoint", &checkpointed)] {
        group.throughput(Throughput::Bytes(spacestore_bench::dir_bytes(dir)));
        group.bench_function(name, |b| b.iter(|| open_and_read(dir)));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    targets = replay
}
criterion_main!(benches);
