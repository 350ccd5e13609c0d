//! Counters shared by the benchmark tasks, the once-a-second progress line, and the final report.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use super::histogram::Histogram;

/// What every worker adds to; read by the progress ticker and at the end.
#[derive(Default)]
pub struct Stats {
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    pub bytes: AtomicU64,
    pub latency: Histogram,
    /// Since the last progress line: operations, summed and largest latency (µs).
    interval_ops: AtomicU64,
    interval_rt_sum: AtomicU64,
    interval_rt_max: AtomicU64,
}

impl Stats {
    /// `messages` messages of `bytes` body bytes succeeded in one operation taking `micros`.
    pub fn success(&self, messages: u64, bytes: u64, micros: u64) {
        self.ok.fetch_add(messages, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.latency.record(micros);
        self.interval_ops.fetch_add(1, Ordering::Relaxed);
        self.interval_rt_sum.fetch_add(micros, Ordering::Relaxed);
        self.interval_rt_max.fetch_max(micros, Ordering::Relaxed);
    }

    pub fn failure(&self, messages: u64) {
        self.failed.fetch_add(messages, Ordering::Relaxed);
    }

    /// Takes the interval counters: (operations, mean µs, max µs).
    pub fn take_interval(&self) -> (u64, f64, u64) {
        let ops = self.interval_ops.swap(0, Ordering::Relaxed);
        let sum = self.interval_rt_sum.swap(0, Ordering::Relaxed);
        let max = self.interval_rt_max.swap(0, Ordering::Relaxed);
        let mean = if ops == 0 {
            0.0
        } else {
            sum as f64 / ops as f64
        };
        (ops, mean, max)
    }

    pub fn ok(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// The latency summary in milliseconds.
    pub fn latency_ms(&self) -> Latency {
        let h = &self.latency;
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            samples: h.count(),
            avg: h.mean() / 1000.0,
            p50: ms(h.value_at(0.50)),
            p90: ms(h.value_at(0.90)),
            p99: ms(h.value_at(0.99)),
            p999: ms(h.value_at(0.999)),
            max: ms(h.max()),
        }
    }
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    pub samples: u64,
    pub avg: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// One side (send or consume) of a run.
#[derive(Clone, Debug, Serialize)]
pub struct SideReport {
    pub messages: u64,
    pub failures: u64,
    pub tps: f64,
    pub mb_per_sec: f64,
    /// Send round trip for producers; born-to-consumed (e2e: send-to-consumed) for consumers.
    pub latency_ms: Latency,
}

impl SideReport {
    pub fn from_stats(stats: &Stats, elapsed: Duration) -> SideReport {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let messages = stats.ok();
        SideReport {
            messages,
            failures: stats.failed(),
            tps: messages as f64 / secs,
            mb_per_sec: stats.bytes.load(Ordering::Relaxed) as f64 / secs / (1024.0 * 1024.0),
            latency_ms: stats.latency_ms(),
        }
    }
}

/// The final report of a run; `--json` prints it as JSON.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub mode: String,
    pub elapsed_secs: f64,
    pub send: Option<SideReport>,
    pub consume: Option<SideReport>,
    /// e2e only: messages acknowledged as sent but never consumed.
    pub lost: Option<u64>,
    /// e2e only: deliveries beyond the first of a message.
    pub duplicates: Option<u64>,
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

fn side(f: &mut fmt::Formatter<'_>, name: &str, s: &SideReport) -> fmt::Result {
    let l = &s.latency_ms;
    writeln!(
        f,
        "{name}: {} msgs, {} failures, TPS {:.0}, {:.2} MB/s",
        s.messages, s.failures, s.tps, s.mb_per_sec
    )?;
    writeln!(
        f,
        "  {name} RT ms: avg {:.3} p50 {:.3} p90 {:.3} p99 {:.3} p99.9 {:.3} max {:.3} ({} samples)",
        l.avg, l.p50, l.p90, l.p99, l.p999, l.max, l.samples
    )
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "=== mqbench {} report ({:.2} s) ===",
            self.mode, self.elapsed_secs
        )?;
        if let Some(s) = &self.send {
            side(f, "send", s)?;
        }
        if let Some(s) = &self.consume {
            side(f, "consume", s)?;
        }
        if let (Some(lost), Some(dup)) = (self.lost, self.duplicates) {
            writeln!(f, "lost {lost}, duplicates {dup}")?;
        }
        Ok(())
    }
}
