//! ConsumeQueue lookups: the pull path reads a run of units and decodes each one.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sluice_store::consume_queue::{
    ConsumeQueue, CqUnit, CQ_STORE_UNIT_SIZE, DEFAULT_UNITS_PER_FILE,
};
use sluice_store::{OsFs, StoreFs};

const UNITS: u64 = 1_000_000;

fn filled_queue(dir: &std::path::Path) -> ConsumeQueue {
    let fs: Arc<dyn StoreFs> = Arc::new(OsFs);
    let cq = ConsumeQueue::open(
        dir,
        "BenchTopic",
        0,
        DEFAULT_UNITS_PER_FILE * CQ_STORE_UNIT_SIZE,
        fs,
    )
    .expect("open consume queue");
    for i in 0..UNITS {
        let unit = CqUnit {
            phy_offset: i as i64 * 1024,
            size: 1024,
            tags_code: (i % 7) as i64,
        };
        cq.put(unit, i).expect("put");
    }
    cq
}

fn lookups(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cq = filled_queue(dir.path());
    let mut group = c.benchmark_group("consume_queue");

    for batch in [1usize, 32] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(
            BenchmarkId::new("units_from_decode", batch),
            &batch,
            |b, &batch| {
                // A cheap LCG walks the queue so reads are spread over all files.
                let mut x = 0x9E37_79B9u64;
                b.iter(|| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let start = (x >> 33) % (UNITS - batch as u64);
                    let run = cq.units_from(start, batch).expect("units");
                    let mut sum = 0i64;
                    for (_, u) in run.iter() {
                        sum = sum.wrapping_add(u.phy_offset ^ u.tags_code);
                    }
                    black_box(sum)
                })
            },
        );
    }

    group.throughput(Throughput::Elements(1));
    group.bench_function("get", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = (i + 7919) % UNITS;
            black_box(cq.get(i))
        })
    });

    group.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
