//! The sending side: `-w` workers share a ticket counter (so `--count` is exact) and send
//! sync, async (up to `--inflight` per worker) or oneway, single or batched.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio_util::sync::CancellationToken;

use super::stats::Stats;
use super::{spawn_progress, BenchOptions, Report, SendMode, SideReport};
use crate::{Message, Producer};

/// e2e bodies start with: magic (4), run id (8), sequence number (8), send time in µs (8).
pub const E2E_HEADER: usize = 28;
const E2E_MAGIC: &[u8; 4] = b"SLBQ";
const SEND_TIMEOUT: Duration = Duration::from_secs(3);

/// A growable set of sequence numbers (bits), shared by tasks.
#[derive(Default)]
pub struct SeqSet {
    bits: Mutex<Vec<u64>>,
}

impl SeqSet {
    /// Adds `seq`; false when it was already there.
    pub fn insert(&self, seq: u64) -> bool {
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        let mut bits = self.bits.lock().unwrap_or_else(|p| p.into_inner());
        if bits.len() <= word {
            bits.resize(word + 1, 0);
        }
        let fresh = bits[word] & bit == 0;
        bits[word] |= bit;
        fresh
    }

    /// How many members of `self` are missing from `other`.
    pub fn missing_from(&self, other: &SeqSet) -> u64 {
        let mine = self.bits.lock().unwrap_or_else(|p| p.into_inner());
        let theirs = other.bits.lock().unwrap_or_else(|p| p.into_inner());
        mine.iter()
            .enumerate()
            .map(|(i, w)| (w & !theirs.get(i).copied().unwrap_or(0)).count_ones() as u64)
            .sum()
    }
}

/// What the e2e consumer reads back from a body: (run id, sequence, send time µs).
pub fn parse_e2e_body(body: &[u8]) -> Option<(u64, u64, u64)> {
    if body.len() < E2E_HEADER || &body[..4] != E2E_MAGIC {
        return None;
    }
    let word = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&body[at..at + 8]);
        u64::from_be_bytes(b)
    };
    Some((word(4), word(12), word(20)))
}

/// e2e tagging of sent messages: the run id, and the acknowledged sequence numbers.
pub struct E2eTrack {
    pub run_id: u64,
    pub acked: SeqSet,
}

pub(crate) fn e2e_body(run_id: u64, seq: u64, size: usize) -> Bytes {
    let mut body = BytesMut::with_capacity(size.max(E2E_HEADER));
    body.put_slice(E2E_MAGIC);
    body.put_u64(run_id);
    body.put_u64(seq);
    body.put_u64(super::now_micros());
    body.resize(size.max(E2E_HEADER), b'x');
    body.freeze()
}

/// Everything the workers share.
struct Shared {
    producer: Producer,
    options: BenchOptions,
    stats: Arc<Stats>,
    next_seq: AtomicU64,
    stop: CancellationToken,
    deadline: Option<Instant>,
    payload: Bytes,
    e2e: Option<Arc<E2eTrack>>,
}

impl Shared {
    /// Claims up to `n` sequence numbers; None once the run is over.
    fn claim(&self, n: u64) -> Option<std::ops::Range<u64>> {
        if self.stop.is_cancelled() || self.deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let start = self.next_seq.fetch_add(n, Ordering::Relaxed);
        let end = match self.options.count {
            Some(count) => (start + n).min(count),
            None => start + n,
        };
        (start < end).then_some(start..end)
    }

    fn message(&self, seq: u64) -> Message {
        let body = match &self.e2e {
            Some(track) => e2e_body(track.run_id, seq, self.options.size),
            None => self.payload.clone(),
        };
        let mut msg = Message::new(self.options.topic.clone(), body).with_tags(&self.options.tag);
        if self.options.keys {
            msg = msg.with_keys([format!("bench-{seq}")]);
        }
        msg
    }

    fn done(&self, seqs: std::ops::Range<u64>, ok: bool, elapsed: Duration) {
        let n = seqs.end - seqs.start;
        if ok {
            self.stats
                .success(n, n * self.options.size as u64, elapsed.as_micros() as u64);
            if let Some(track) = &self.e2e {
                for seq in seqs {
                    track.acked.insert(seq);
                }
            }
        } else {
            self.stats.failure(n);
        }
    }
}

async fn send_one(
    shared: &Shared,
    seqs: std::ops::Range<u64>,
) -> (std::ops::Range<u64>, bool, Duration) {
    let started = Instant::now();
    let producer = &shared.producer;
    let ok = if shared.options.mode == SendMode::Oneway {
        let mut ok = true;
        for seq in seqs.clone() {
            ok &= producer.send_oneway(shared.message(seq)).await.is_ok();
        }
        ok
    } else if seqs.end - seqs.start > 1 || shared.options.batch > 1 {
        let msgs: Vec<Message> = seqs.clone().map(|s| shared.message(s)).collect();
        producer.send_batch(msgs, SEND_TIMEOUT).await.is_ok()
    } else {
        producer
            .send(shared.message(seqs.start), SEND_TIMEOUT)
            .await
            .is_ok()
    };
    (seqs, ok, started.elapsed())
}

async fn worker(shared: Arc<Shared>) {
    let batch = shared.options.batch as u64;
    if shared.options.mode != SendMode::Async {
        while let Some(seqs) = shared.claim(batch) {
            let (seqs, ok, elapsed) = send_one(&shared, seqs).await;
            shared.done(seqs, ok, elapsed);
        }
        return;
    }
    let mut inflight = FuturesUnordered::new();
    let mut more = true;
    loop {
        while more && inflight.len() < shared.options.inflight {
            match shared.claim(batch) {
                Some(seqs) => inflight.push(send_one(&shared, seqs)),
                None => more = false,
            }
        }
        match inflight.next().await {
            Some((seqs, ok, elapsed)) => shared.done(seqs, ok, elapsed),
            None => return,
        }
    }
}

/// Starts a producer for `options` in a group of its own.
pub async fn start_producer(options: &BenchOptions) -> crate::Result<Producer> {
    let producer = Producer::builder(format!("benchmark_producer_{}", std::process::id()))
        .namesrv_addr(options.namesrv.clone())
        .build()?;
    producer.start().await?;
    Ok(producer)
}

/// Runs the send loop with an already started producer, adding to `stats`; `e2e` tags bodies
/// for the e2e check. Returns how long sending took.
pub async fn send_all(
    producer: Producer,
    options: &BenchOptions,
    stats: Arc<Stats>,
    e2e: Option<Arc<E2eTrack>>,
) -> Duration {
    let started = Instant::now();
    let shared = Arc::new(Shared {
        producer,
        options: options.clone(),
        stats,
        next_seq: AtomicU64::new(0),
        stop: CancellationToken::new(),
        deadline: options.duration().map(|d| started + d),
        payload: Bytes::from(vec![b'a'; options.size]),
        e2e,
    });
    let workers: Vec<_> = (0..options.concurrency)
        .map(|_| tokio::spawn(worker(shared.clone())))
        .collect();
    for w in workers {
        let _ = w.await;
    }
    started.elapsed()
}

/// One synchronous send first: creates the topic if the broker auto-creates topics, and
/// caches the route, so neither is in the measurement.
pub async fn warm_up(producer: &Producer, options: &BenchOptions) -> crate::Result<()> {
    let body = Bytes::from(vec![b'w'; options.size]);
    let msg = Message::new(options.topic.clone(), body).with_tags("BenchWarmUp");
    producer.send(msg, SEND_TIMEOUT).await.map(drop)
}

pub async fn run_producer(options: &BenchOptions) -> crate::Result<Report> {
    let producer = start_producer(options).await?;
    if let Err(e) = warm_up(&producer, options).await {
        producer.shutdown().await;
        return Err(e);
    }
    let stats = Arc::new(Stats::default());
    let stop_progress = CancellationToken::new();
    let progress = spawn_progress(
        vec![("send", stats.clone())],
        stop_progress.clone(),
        !options.quiet,
    );
    let elapsed = send_all(producer.clone(), options, stats.clone(), None).await;
    stop_progress.cancel();
    let _ = progress.await;
    producer.shutdown().await;
    Ok(Report {
        mode: format!("producer ({:?}, batch {})", options.mode, options.batch).to_lowercase(),
        elapsed_secs: elapsed.as_secs_f64(),
        send: Some(SideReport::from_stats(&stats, elapsed)),
        consume: None,
        lost: None,
        duplicates: None,
    })
}
