//! Randomized ConsumeQueue operations (puts, re-dispatch duplicates, truncation at a CommitLog
//! offset, restart with and without a torn unit) checked against a plain Vec model.
//! Replay a failure with `CQ_MODEL_SEED=<seed>` (the seed is printed).

use std::sync::Arc;

use rand::{rngs::StdRng, Rng, SeedableRng};
use sluice_store::consume_queue::{ConsumeQueue, CqUnit, PutOutcome, CQ_STORE_UNIT_SIZE};
use sluice_store::{OsFs, StoreFs};

const UNITS_PER_FILE: u64 = 7;

fn open(dir: &std::path::Path) -> ConsumeQueue {
    let fs: Arc<dyn StoreFs> = Arc::new(OsFs);
    ConsumeQueue::open(dir, "M", 0, UNITS_PER_FILE * CQ_STORE_UNIT_SIZE, fs).unwrap()
}

struct Model {
    units: Vec<CqUnit>,
    max_physic: i64,
}

fn check(cq: &ConsumeQueue, m: &Model, step: usize, seed: u64) {
    let ctx = format!("seed {seed} step {step}");
    assert_eq!(cq.max_offset_in_queue(), m.units.len() as u64, "{ctx}");
    assert_eq!(cq.min_offset_in_queue(), 0, "{ctx}");
    assert_eq!(cq.max_physic_offset(), m.max_physic, "{ctx}");
    let mut i = 0u64;
    while i < m.units.len() as u64 {
        let run = cq
            .units_from(i, 5)
            .unwrap_or_else(|| panic!("{ctx}: no units at {i}"));
        assert!(!run.is_empty(), "{ctx}");
        for (idx, unit) in run.iter() {
            assert_eq!(unit, m.units[idx as usize], "{ctx}: unit {idx}");
        }
        i += run.len() as u64;
    }
    assert!(cq.get(m.units.len() as u64).is_none(), "{ctx}");
}

fn run(seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut cq = open(dir.path());
    let mut m = Model {
        units: Vec::new(),
        max_physic: -1,
    };
    let mut next_phy = 0i64;
    for step in 0..300 {
        match rng.gen_range(0..100) {
            0..=59 => {
                for _ in 0..rng.gen_range(1..6) {
                    let size = rng.gen_range(1..500);
                    let unit = CqUnit {
                        phy_offset: next_phy,
                        size,
                        tags_code: rng.gen(),
                    };
                    next_phy += size as i64 + rng.gen_range(0..50);
                    let at = m.units.len() as u64;
                    assert_eq!(
                        cq.put(unit, at).unwrap(),
                        PutOutcome::Appended,
                        "seed {seed} step {step}"
                    );
                    m.units.push(unit);
                    m.max_physic = unit.end_phy_offset();
                }
            }
            60..=69 if !m.units.is_empty() => {
                let i = rng.gen_range(0..m.units.len());
                assert_eq!(
                    cq.put(m.units[i], i as u64).unwrap(),
                    PutOutcome::Duplicate,
                    "seed {seed} step {step}"
                );
            }
            70..=79 if !m.units.is_empty() => {
                // Recovery cuts the CommitLog at a record boundary: the start of one of them.
                let cut = m.units[rng.gen_range(0..m.units.len())].phy_offset;
                cq.truncate_dirty(cut).unwrap();
                let keep = m.units.iter().take_while(|u| u.phy_offset < cut).count();
                if keep < m.units.len() {
                    m.units.truncate(keep);
                    m.max_physic = m.units.last().map_or(cut, |u| u.end_phy_offset());
                    // The CommitLog was cut too: new records start at the cut.
                    next_phy = cut;
                }
            }
            80..=99 => {
                cq.flush(0).unwrap();
                drop(cq);
                let torn = rng.gen_bool(0.5);
                let pos = m.units.len() as u64 * CQ_STORE_UNIT_SIZE;
                let file_start = pos - pos % (UNITS_PER_FILE * CQ_STORE_UNIT_SIZE);
                let path = dir.path().join(format!("{file_start:020}"));
                if torn && path.exists() && pos > file_start {
                    // A unit whose CommitLog offset reached the disk but whose size did not.
                    let mut bytes = std::fs::read(&path).unwrap();
                    let at = (pos - file_start) as usize;
                    bytes[at..at + 8].copy_from_slice(&next_phy.to_be_bytes());
                    std::fs::write(&path, &bytes).unwrap();
                }
                cq = open(dir.path());
                cq.recover().unwrap();
                if m.units.is_empty() {
                    m.max_physic = -1;
                }
            }
            _ => continue,
        }
        check(&cq, &m, step, seed);
    }
}

#[test]
fn random_operations_match_the_model() {
    let seed: u64 = std::env::var("CQ_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    println!("consume queue model seed: {seed}");
    for round in 0..4 {
        run(seed.wrapping_add(round));
    }
}
