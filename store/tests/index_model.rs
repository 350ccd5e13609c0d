//! Randomized IndexService use (tiny slot tables so buckets collide, tiny files so they roll) checked
//! against a list-based model of RocketMQ's rules. Replay with `INDEX_MODEL_SEED=<seed>`.

use std::sync::Arc;

use rand::{rngs::StdRng, Rng, SeedableRng};
use sluice_store::checkpoint::StoreCheckpoint;
use sluice_store::index_file::index_key_hash;
use sluice_store::index_service::{IndexConfig, IndexRequest, IndexService};

const SLOTS: u32 = 3;
const INDEX_NUM: u32 = 6; // 5 entries per file

#[derive(Default)]
struct ModelFile {
    begin_ts: i64,
    end_ts: i64,
    end_phy: i64,
    /// (hash, phy, timeDiff) oldest first.
    entries: Vec<(i32, i64, i64)>,
}

impl ModelFile {
    fn time_matched(&self, b: i64, e: i64) -> bool {
        (b < self.begin_ts && e > self.end_ts)
            || (b >= self.begin_ts && b <= self.end_ts)
            || (e >= self.begin_ts && e <= self.end_ts)
    }
}

#[derive(Default)]
struct Model {
    files: Vec<ModelFile>,
}

impl Model {
    fn current(&mut self) -> &mut ModelFile {
        let full = self
            .files
            .last()
            .is_none_or(|f| f.entries.len() as u32 >= INDEX_NUM - 1);
        if full {
            let (phy, ts) = self.files.last().map_or((0, 0), |f| (f.end_phy, f.end_ts));
            self.files.push(ModelFile {
                begin_ts: ts.max(0),
                end_ts: ts.max(0),
                end_phy: phy.max(0),
                entries: vec![],
            });
        }
        self.files.last_mut().unwrap()
    }

    fn put(&mut self, hash: i32, phy: i64, ts: i64) {
        let f = self.current();
        let diff = if f.begin_ts <= 0 {
            0
        } else {
            ((ts - f.begin_ts) / 1000).clamp(0, i32::MAX as i64)
        };
        if f.entries.is_empty() {
            f.begin_ts = ts;
        }
        f.entries.push((hash, phy, diff));
        f.end_phy = phy;
        f.end_ts = ts;
    }

    fn build(&mut self, topic: &str, keys: &[String], phy: i64, ts: i64) {
        if phy < self.current().end_phy {
            return;
        }
        for k in keys {
            self.put(index_key_hash(topic, k), phy, ts);
        }
    }

    fn query(&self, hash: i32, max: usize, begin: i64, end: i64) -> Vec<i64> {
        let mut out = Vec::new();
        for f in self.files.iter().rev() {
            if f.time_matched(begin, end) {
                let bucket = f
                    .entries
                    .iter()
                    .rev()
                    .filter(|e| e.0 as u32 % SLOTS == hash as u32 % SLOTS);
                for &(h, phy, diff) in bucket {
                    if out.len() >= max {
                        break;
                    }
                    let t = f.begin_ts + diff * 1000;
                    if h == hash && t >= begin && t <= end {
                        out.push(phy);
                    }
                    if t < begin {
                        break;
                    }
                }
            }
            if f.begin_ts < begin || out.len() >= max {
                break;
            }
        }
        out
    }
}

fn run(seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let cp = Arc::new(StoreCheckpoint::open(dir.path().join("checkpoint")).unwrap());
    let cfg = IndexConfig {
        hash_slot_num: SLOTS,
        index_num: INDEX_NUM,
        max_msgs_num_batch: 64,
    };
    let idx = IndexService::load(dir.path().join("index"), cfg, cp, true).unwrap();
    let mut model = Model::default();
    let pool: Vec<String> = (0..12).map(|i| format!("key-{i}")).collect();
    let base = 1_700_000_000_000i64;
    let mut ts = base;
    let mut phy = 0i64;
    let mut answered = 0;
    for step in 0..400 {
        if rng.gen_bool(0.6) {
            let n = rng.gen_range(1..3);
            let keys: Vec<String> = (0..n)
                .map(|_| pool[rng.gen_range(0..pool.len())].clone())
                .collect();
            ts += rng.gen_range(0..2500);
            // Now and then a re-dispatch of an older offset, which must be skipped.
            let at = if rng.gen_bool(0.1) && phy > 0 {
                rng.gen_range(0..phy)
            } else {
                phy
            };
            let joined = keys.join(" ");
            idx.build_index(&IndexRequest {
                topic: "T",
                keys: Some(&joined),
                uniq_key: None,
                commit_log_offset: at,
                store_timestamp: ts,
                sys_flag: 0,
            })
            .unwrap();
            model.build("T", &keys, at, ts);
            if at == phy {
                phy += rng.gen_range(1..300);
            }
        } else {
            let key = &pool[rng.gen_range(0..pool.len())];
            let begin = base + rng.gen_range(-2000..(ts - base + 2000));
            let end = begin + rng.gen_range(0..(ts - base + 4000));
            let max = rng.gen_range(1..12);
            let got = idx.query_offset("T", key, max, begin, end).phy_offsets;
            let want = model.query(index_key_hash("T", key), max, begin, end);
            assert_eq!(
                got, want,
                "seed {seed} step {step}: key {key} max {max} range [{begin}, {end}]"
            );
            answered += usize::from(!got.is_empty());
        }
    }
    assert_eq!(idx.file_count(), model.files.len(), "seed {seed}");
    assert!(
        answered > 20,
        "seed {seed}: only {answered} queries found something"
    );
}

#[test]
fn random_builds_and_queries_match_the_model() {
    let seed: u64 = std::env::var("INDEX_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    println!("index model seed: {seed}");
    for round in 0..8 {
        run(seed.wrapping_add(round));
    }
}
