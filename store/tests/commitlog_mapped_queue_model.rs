//! Randomized model test of `MappedFileQueue`: random appends (with and without the blank rule), raw appends,
//! reads, flushes, reopen + truncate and oldest-segment deletion, checked against a plain byte vector.
//! Seed: `SLUICE_MODEL_SEED` (printed).

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use sluice_store::{EndOfSegment, MappedFileQueue, OsFs, StoreFs};

const SEG: u64 = 512;
const BLANK: u32 = 0xCBD4_3194;

/// The expected content of the log: global offset -> byte (None = never written / zero).
struct Model {
    bytes: Vec<u8>,
    min: u64,
}

impl Model {
    fn end(&self) -> u64 {
        self.bytes.len() as u64
    }
}

#[test]
fn mapped_file_queue_matches_a_byte_vector_model() {
    let seed: u64 = std::env::var("SLUICE_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    println!("mapped file queue model: seed {seed} (SLUICE_MODEL_SEED)");
    run_model(seed);
}

/// Regression: raw appends left 7 bytes in a segment, then a blank-rule append rolled over. No 8-byte blank fits
/// there, so the queue closes the segment leaving zeros; the model used to expect a torn 7-byte "blank".
#[test]
fn seed_1034416950853288415_raw_append_leaves_less_than_a_blank() {
    run_model(1_034_416_950_853_288_415);
}

fn run_model(seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let fs: Arc<dyn StoreFs> = Arc::new(OsFs);
    let mut q = MappedFileQueue::open(dir.path(), SEG, fs.clone(), rng.gen()).unwrap();
    let mut m = Model {
        bytes: Vec::new(),
        min: 0,
    };
    for step in 0..1500 {
        match rng.gen_range(0..100) {
            0..=49 => {
                let len = rng.gen_range(1..=(SEG as usize - 8));
                let fill = rng.gen::<u8>() | 1;
                let blank = rng.gen_bool(0.5);
                let end = if blank {
                    EndOfSegment::Blank { magic: BLANK }
                } else {
                    EndOfSegment::Roll
                };
                let (off, ()) = q.append_with(len, end, |_, b| b.fill(fill)).unwrap();
                let reserve = if blank { 8 } else { 0 };
                let pos = m.end() % SEG;
                if pos + len as u64 + reserve > SEG && pos != 0 {
                    let remaining = SEG - pos;
                    // The blank record is exactly 8 bytes (TOTALSIZE + MAGICCODE). Blank-rule appends always leave
                    // room for it, but raw appends (and roll appends) can leave fewer than 8 bytes: then no blank
                    // is written and the rest of the segment stays zero.
                    if blank && remaining >= 8 {
                        m.bytes.extend_from_slice(&(remaining as u32).to_be_bytes());
                        m.bytes.extend_from_slice(&BLANK.to_be_bytes());
                        m.bytes.resize((m.end() + remaining - 8) as usize, 0);
                    } else {
                        m.bytes.resize((m.end() + remaining) as usize, 0);
                    }
                }
                assert_eq!(off, m.end(), "step {step} seed {seed}");
                m.bytes.resize(m.bytes.len() + len, fill);
            }
            50..=59 => {
                let len = rng.gen_range(1..2 * SEG as usize);
                let data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
                q.append_raw(m.end(), &data).unwrap();
                m.bytes.extend_from_slice(&data);
            }
            60..=84 => {
                if m.end() > m.min {
                    let off = rng.gen_range(m.min..m.end());
                    let max_len = (SEG - off % SEG).min(m.end() - off);
                    let len = rng.gen_range(1..=max_len);
                    let got = q
                        .read(off, len)
                        .unwrap_or_else(|| panic!("step {step} seed {seed}: read {off}+{len}"));
                    assert_eq!(
                        &got[..],
                        &m.bytes[off as usize..(off + len) as usize],
                        "step {step} seed {seed}"
                    );
                    let past = q.read(m.end(), 1);
                    assert!(past.is_none(), "nothing readable past the end");
                }
            }
            85..=89 => {
                let flushed = q.flush(0).unwrap();
                assert_eq!(flushed, m.end());
            }
            90..=94 => {
                // Restart and cut at a random point (what recovery does after a torn tail).
                q.flush(0).unwrap();
                drop(q);
                q = MappedFileQueue::open(dir.path(), SEG, fs.clone(), rng.gen()).unwrap();
                let cut = if m.end() > m.min {
                    rng.gen_range(m.min..=m.end())
                } else {
                    m.end()
                };
                q.truncate_dirty(cut).unwrap();
                m.bytes.truncate(cut as usize);
                assert_eq!(q.max_offset(), cut, "step {step} seed {seed}");
            }
            _ => {
                let n = q
                    .delete_oldest_while(rng.gen_range(0..3), |_| true)
                    .unwrap();
                m.min += n as u64 * SEG;
                assert_eq!(
                    q.min_offset(),
                    m.min.min(q.max_offset()),
                    "step {step} seed {seed}"
                );
                if n > 0 {
                    assert!(q.read(m.min - 1, 1).is_none());
                }
            }
        }
        assert_eq!(q.max_offset(), m.end(), "step {step} seed {seed}");
    }
}
