//! Randomized check that the three ways of reading properties agree for any filter:
//! a map, the stored encoding looked up per reference, and the one-pass
//! `evaluate_encoded`. Also checks `NOT` never makes an expression and its negation
//! both deliver a message. The seed is printed; replay with SQL92_SEED=<seed>.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use sluice_broker::sql92::{compile, EncodedProperties};
use std::collections::HashMap;

fn condition() -> impl Strategy<Value = String> {
    let prop = prop::sample::select(vec!["a", "b", "c", "TAGS"]);
    let value = prop::sample::select(vec![
        "5",
        "6",
        "-1",
        "5.5",
        "3000000000",
        "'x'",
        "'5'",
        "TRUE",
    ]);
    let op = prop::sample::select(vec!["=", "<>", ">", ">=", "<", "<="]);
    let leaf = prop_oneof![
        (prop.clone(), op, value).prop_map(|(p, o, v)| format!("{p} {o} {v}")),
        prop.clone().prop_map(|p| format!("{p} IS NULL")),
        prop.clone().prop_map(|p| format!("{p} IS NOT NULL")),
        prop.clone()
            .prop_map(|p| format!("{p} IN ('x', '5', 'TagA')")),
        prop.clone().prop_map(|p| format!("{p} NOT IN ('x', '6')")),
        prop.clone().prop_map(|p| format!("{p} BETWEEN 1 AND 5.5")),
        prop.clone()
            .prop_map(|p| format!("{p} NOT BETWEEN 5 AND 6")),
        prop.clone().prop_map(|p| format!("{p} CONTAINS 'a'")),
        prop.clone().prop_map(|p| format!("{p} NOT STARTSWITH 'T'")),
        prop.prop_map(|p| p.to_string()),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(l, r)| format!("({l}) AND ({r})")),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| format!("{l} OR {r}")),
            inner.prop_map(|e| format!("NOT ({e})")),
        ]
    })
}

fn properties() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop::sample::select(vec!["a", "b", "c", "TAGS", "KEYS"]);
    let value = prop::sample::select(vec![
        "5",
        "6",
        "-1",
        "5.5",
        "x",
        "TagA",
        "true",
        "",
        "3000000000",
    ]);
    prop::collection::vec((name, value), 0..6).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    })
}

fn seeded_runner(cases: u32) -> TestRunner {
    let seed: u64 = std::env::var("SQL92_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x5eed, |d| d.as_nanos() as u64)
        });
    println!("sql92 lookup seed: {seed} (replay with SQL92_SEED={seed})");
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

#[test]
fn map_encoded_and_gathered_lookups_agree() {
    let mut runner = seeded_runner(3000);
    runner
        .run(&(condition(), properties()), |(expr, pairs)| {
            let Ok(filter) = compile(&expr) else {
                return Ok(()); // e.g. `a > 'x'`: refused at compile time
            };
            // Later duplicates win in both the map and the encoding.
            let map: HashMap<String, String> = pairs.iter().cloned().collect();
            let mut encoded = Vec::new();
            for (n, v) in &pairs {
                encoded.extend_from_slice(n.as_bytes());
                encoded.push(1);
                encoded.extend_from_slice(v.as_bytes());
                encoded.push(2);
            }
            let by_map = filter.evaluate(&map);
            prop_assert_eq!(
                by_map,
                filter.evaluate(&EncodedProperties(&encoded)),
                "{}",
                expr
            );
            prop_assert_eq!(by_map, filter.evaluate_encoded(&encoded), "{}", expr);

            let negated = compile(&format!("NOT ({expr})")).expect("negation compiles");
            prop_assert!(
                !(by_map && negated.evaluate(&map)),
                "{} and its negation both matched {:?}",
                expr,
                pairs
            );
            Ok(())
        })
        .expect("lookups agree");
}
