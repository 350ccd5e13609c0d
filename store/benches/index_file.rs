//! IndexFile: building entries (what dispatch does per UNIQ_KEY / KEYS token) and key queries, with
//! the default geometry (5M slots, 20M entries).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sluice_store::index_file::{
    index_key_hash, IndexFile, DEFAULT_HASH_SLOT_NUM, DEFAULT_INDEX_NUM,
};

fn index(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = IndexFile::create(
        &dir.path().join("20260101000000000"),
        DEFAULT_HASH_SLOT_NUM,
        DEFAULT_INDEX_NUM,
        0,
        0,
    )
    .expect("create index file");
    let mut group = c.benchmark_group("index_file");
    group.throughput(Throughput::Elements(1));
    let base_ts = 1_700_000_000_000i64;
    let mut n = 0u64;
    group.bench_function("put_key_uniq_id", |b| {
        b.iter(|| {
            // A 32-hex-digit client message id, like UNIQ_KEY.
            let key = format!("7F0000010A2B18B4AAC2{n:012X}");
            let hash = index_key_hash("BenchTopic", &key);
            if !file.put_key(hash, n as i64 * 1024, base_ts + (n as i64 / 1000)) {
                panic!("index file full");
            }
            n += 1;
            black_box(hash)
        })
    });
    let written = n.max(1);
    group.bench_function("select_one_key", |b| {
        let mut i = 0u64;
        let mut out = Vec::with_capacity(4);
        b.iter(|| {
            i = (i + 7919) % written;
            let key = format!("7F0000010A2B18B4AAC2{i:012X}");
            out.clear();
            file.select_phy_offsets(&mut out, index_key_hash("BenchTopic", &key), 4, 0, i64::MAX);
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, index);
criterion_main!(benches);
