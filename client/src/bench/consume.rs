//! The consuming side: a push consumer whose listener only counts, and the e2e run that sends
//! and consumes at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::produce::{self, parse_e2e_body, E2eTrack, SeqSet};
use super::stats::Stats;
use super::{now_micros, spawn_progress, BenchOptions, Report, SideReport};
use crate::consumer::push::PushOptions;
use crate::{ConsumeFromWhere, ConsumeStatus, PushConsumer};

/// What the listener updates.
struct ConsumeState {
    stats: Arc<Stats>,
    /// When the first message arrived (consume TPS is measured from there, not from start-up
    /// and rebalancing).
    first: OnceLock<Instant>,
    last_micros: AtomicU64,
    /// Fired when `--count` messages have been consumed.
    enough: CancellationToken,
    count: Option<u64>,
    /// e2e: the run's id and the sequence numbers seen.
    e2e: Option<(u64, SeqSet)>,
    duplicates: AtomicU64,
    started: Instant,
}

impl ConsumeState {
    fn on_message(&self, body: &[u8], born_ms: i64) {
        let now_us = now_micros();
        let latency = match &self.e2e {
            Some((run_id, seen)) => match parse_e2e_body(body) {
                Some((id, seq, sent_us)) if id == *run_id => {
                    if !seen.insert(seq) {
                        self.duplicates.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    now_us.saturating_sub(sent_us)
                }
                // A warm-up message or one from an earlier run.
                _ => return,
            },
            None => now_us.saturating_sub((born_ms.max(0) as u64) * 1000),
        };
        self.first.get_or_init(Instant::now);
        self.stats.success(1, body.len() as u64, latency);
        self.last_micros
            .store(self.started.elapsed().as_micros() as u64, Ordering::Relaxed);
        if self.count.is_some_and(|c| self.stats.ok() >= c) {
            self.enough.cancel();
        }
    }

    /// Seconds from the first to the last consumed message.
    fn active(&self) -> Duration {
        match self.first.get() {
            Some(first) => {
                let first_us = first.duration_since(self.started).as_micros() as u64;
                Duration::from_micros(
                    self.last_micros
                        .load(Ordering::Relaxed)
                        .saturating_sub(first_us),
                )
            }
            None => Duration::ZERO,
        }
    }
}

async fn start_consumer(
    options: &BenchOptions,
    state: Arc<ConsumeState>,
    from: ConsumeFromWhere,
) -> crate::Result<PushConsumer> {
    let push = PushOptions {
        consume_from_where: from,
        concurrency: options.concurrency,
        ..PushOptions::default()
    };
    let consumer = PushConsumer::builder(options.group())
        .namesrv_addr(options.namesrv.clone())
        .subscribe(options.topic.clone(), "*")
        .options(push)
        .listener(move |messages: Vec<crate::MessageExt>, _ctx| {
            for m in &messages {
                state.on_message(&m.record.body, m.record.born_timestamp);
            }
            async { ConsumeStatus::ConsumeSuccess }
        })
        .build()?;
    consumer.start().await?;
    Ok(consumer)
}

pub async fn run_consumer(options: &BenchOptions) -> crate::Result<Report> {
    super::topic::ensure_topic(options).await?;
    let stats = Arc::new(Stats::default());
    let state = Arc::new(ConsumeState {
        stats: stats.clone(),
        first: OnceLock::new(),
        last_micros: AtomicU64::new(0),
        enough: CancellationToken::new(),
        count: options.count,
        e2e: None,
        duplicates: AtomicU64::new(0),
        started: Instant::now(),
    });
    let from = if options.from_first {
        ConsumeFromWhere::ConsumeFromFirstOffset
    } else {
        ConsumeFromWhere::ConsumeFromLastOffset
    };
    let consumer = start_consumer(options, state.clone(), from).await?;
    let stop_progress = CancellationToken::new();
    let progress = spawn_progress(
        vec![("consume", stats.clone())],
        stop_progress.clone(),
        !options.quiet,
    );
    match options.duration() {
        Some(limit) => {
            tokio::select! {
                _ = state.enough.cancelled() => {}
                _ = tokio::time::sleep(limit) => {}
            }
        }
        None => state.enough.cancelled().await,
    }
    stop_progress.cancel();
    let _ = progress.await;
    consumer.shutdown().await;
    let elapsed = state.active();
    Ok(Report {
        mode: "consumer".into(),
        elapsed_secs: state.started.elapsed().as_secs_f64(),
        send: None,
        consume: Some(SideReport::from_stats(&stats, elapsed)),
        lost: None,
        duplicates: None,
    })
}

pub async fn run_e2e(options: &BenchOptions) -> crate::Result<Report> {
    let producer = produce::start_producer(options).await?;
    if let Err(e) = produce::warm_up(&producer, options).await {
        producer.shutdown().await;
        return Err(e);
    }
    if let Err(e) = super::topic::ensure_topic(options).await {
        producer.shutdown().await;
        return Err(e);
    }
    let run_id = now_micros();
    let consume_stats = Arc::new(Stats::default());
    let state = Arc::new(ConsumeState {
        stats: consume_stats.clone(),
        first: OnceLock::new(),
        last_micros: AtomicU64::new(0),
        enough: CancellationToken::new(),
        count: None,
        e2e: Some((run_id, SeqSet::default())),
        duplicates: AtomicU64::new(0),
        started: Instant::now(),
    });
    // From the first offset: the group is new, so nothing sent from now on can be skipped;
    // older messages are recognised by their run id and ignored.
    let consumer = match start_consumer(
        options,
        state.clone(),
        ConsumeFromWhere::ConsumeFromFirstOffset,
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            producer.shutdown().await;
            return Err(e);
        }
    };
    let send_stats = Arc::new(Stats::default());
    let track = Arc::new(E2eTrack {
        run_id,
        acked: SeqSet::default(),
    });
    let stop_progress = CancellationToken::new();
    let progress = spawn_progress(
        vec![("send", send_stats.clone()), ("e2e", consume_stats.clone())],
        stop_progress.clone(),
        !options.quiet,
    );
    let started = Instant::now();
    produce::send_all(
        producer.clone(),
        options,
        send_stats.clone(),
        Some(track.clone()),
    )
    .await;
    let send_elapsed = started.elapsed();
    // Wait for the stragglers: until every acknowledged message arrived or the drain time ends.
    let drain_until = Instant::now() + Duration::from_secs_f64(options.drain_secs.max(0.0));
    while Instant::now() < drain_until {
        let seen = &state.e2e.as_ref().map(|(_, s)| s);
        if let Some(seen) = seen {
            if track.acked.missing_from(seen) == 0 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    stop_progress.cancel();
    let _ = progress.await;
    consumer.shutdown().await;
    producer.shutdown().await;
    let lost = state
        .e2e
        .as_ref()
        .map(|(_, seen)| track.acked.missing_from(seen))
        .unwrap_or(0);
    Ok(Report {
        mode: format!("e2e ({:?}, batch {})", options.mode, options.batch).to_lowercase(),
        elapsed_secs: elapsed.as_secs_f64(),
        send: Some(SideReport::from_stats(&send_stats, send_elapsed)),
        consume: Some(SideReport::from_stats(&consume_stats, elapsed)),
        lost: Some(lost),
        duplicates: Some(state.duplicates.load(Ordering::Relaxed)),
    })
}
