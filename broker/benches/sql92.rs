//! Cost of the SQL92 filter on the broker's hot path: evaluating a compiled
//! expression against one record's properties, as stored (`name\x01value\x02...`),
//! and compiling an expression (done once per subscription change).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use sluice_broker::sql92::{compile, EncodedProperties};
use std::collections::HashMap;

/// Properties as a typical producer-sent record carries them: user properties plus
/// the system ones (keys, tags, unique id, wait-store flag).
fn record_properties(a: &str, b: &str) -> Vec<u8> {
    let pairs = [
        ("KEYS", "order-20261121-000042"),
        ("TAGS", "TagA"),
        ("a", a),
        ("b", b),
        ("UNIQ_KEY", "7F0000014A2B18B4AAC27A1E3C5D0000"),
        ("WAIT", "true"),
        ("CLUSTER", "DefaultCluster"),
    ];
    let mut out = Vec::new();
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(1);
        out.extend_from_slice(v.as_bytes());
        out.push(2);
    }
    out
}

fn bench(c: &mut Criterion) {
    let filter = compile("a > 5 AND b = 'x'").expect("compiles");
    let hit = record_properties("6", "x");
    let miss = record_properties("3", "x");
    assert!(filter.evaluate(&EncodedProperties(&hit)));
    assert!(!filter.evaluate(&EncodedProperties(&miss)));

    c.bench_function("sql92/eval a>5 AND b='x' encoded props (match)", |bench| {
        bench.iter(|| filter.evaluate(&EncodedProperties(black_box(&hit))))
    });
    c.bench_function(
        "sql92/eval a>5 AND b='x' encoded props (no match)",
        |bench| bench.iter(|| filter.evaluate(&EncodedProperties(black_box(&miss)))),
    );

    assert!(filter.evaluate_encoded(&hit));
    assert!(!filter.evaluate_encoded(&miss));
    c.bench_function("sql92/evaluate_encoded a>5 AND b='x' (match)", |bench| {
        bench.iter(|| filter.evaluate_encoded(black_box(&hit)))
    });
    c.bench_function("sql92/evaluate_encoded a>5 AND b='x' (no match)", |bench| {
        bench.iter(|| filter.evaluate_encoded(black_box(&miss)))
    });

    let map: HashMap<String, String> = [("a", "6"), ("b", "x"), ("TAGS", "TagA"), ("KEYS", "k")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    c.bench_function("sql92/eval a>5 AND b='x' hashmap (match)", |bench| {
        bench.iter(|| filter.evaluate(black_box(&map)))
    });

    let complex = compile(
        "(TAGS IN ('TagA','TagB','TagC','TagD','TagE','TagF') AND a BETWEEN 1 AND 10) \
         OR (KEYS STARTSWITH 'order-' AND b IS NOT NULL AND NOT (b = 'y'))",
    )
    .expect("compiles");
    c.bench_function("sql92/eval complex encoded props", |bench| {
        bench.iter(|| complex.evaluate(&EncodedProperties(black_box(&hit))))
    });
    c.bench_function("sql92/evaluate_encoded complex", |bench| {
        bench.iter(|| complex.evaluate_encoded(black_box(&hit)))
    });

    c.bench_function("sql92/compile a>5 AND b='x'", |bench| {
        bench.iter(|| compile(black_box("a > 5 AND b = 'x'")))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
