//! Broker metrics: the counters processors bump ([`BrokerMetrics`]) and their Prometheus text form
//! with Apache RocketMQ 5.x's OpenTelemetry names (ecosystem §B3). The HTTP endpoint is in
//! [`crate::metrics_http`].
//!
//! Counters are atomics reached through `DashMap`s keyed by topic (and group), so the hot path is
//! a shard read lock and an atomic add; a key is allocated only the first time it is seen.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use sluice_remoting::{RequestCode, ResponseCode};

/// Per-topic producer-side counters.
#[derive(Default, Debug)]
pub struct TopicCounters {
    pub messages_in: AtomicU64,
    pub bytes_in: AtomicU64,
}

/// Per-(topic, group) consumer-side counters.
#[derive(Default, Debug)]
pub struct ConsumeCounters {
    pub messages_out: AtomicU64,
    pub bytes_out: AtomicU64,
}

/// Upper bounds (ms) of the `rocketmq_rpc_latency` histogram buckets (Apache's RPC latency view).
pub const RPC_LATENCY_BUCKETS_MS: [u64; 9] = [1, 3, 5, 7, 10, 100, 1000, 2000, 3000];

/// A fixed-bucket latency histogram.
#[derive(Default, Debug)]
pub struct Histogram {
    /// Cumulative-ready counts per bucket of [`RPC_LATENCY_BUCKETS_MS`], plus +Inf at the end.
    pub buckets: [AtomicU64; RPC_LATENCY_BUCKETS_MS.len() + 1],
    pub count: AtomicU64,
    pub sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let ms = elapsed.as_millis() as u64;
        let idx = RPC_LATENCY_BUCKETS_MS
            .iter()
            .position(|&b| ms <= b)
            .unwrap_or(RPC_LATENCY_BUCKETS_MS.len());
        self.buckets[idx].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }
}

/// Counters shared by every processor (a field of [`crate::BrokerState`]).
#[derive(Default, Debug)]
pub struct BrokerMetrics {
    /// topic -> messages/bytes stored.
    pub topics: DashMap<String, TopicCounters>,
    /// topic -> group -> messages/bytes delivered.
    pub consumes: DashMap<String, DashMap<String, ConsumeCounters>>,
    /// Requests refused with SYSTEM_BUSY by flow control.
    pub system_busy_total: AtomicU64,
    /// (request code, response code) -> processing latency.
    pub rpc_latency: DashMap<(i32, i32), Histogram>,
    /// (consumer group, origin topic) -> messages moved to `%DLQ%group`.
    pub send_to_dlq: DashMap<(String, String), AtomicU64>,
}

impl BrokerMetrics {
    /// `messages` messages of `bytes` body bytes were stored in `topic`.
    pub fn record_messages_in(&self, topic: &str, messages: u64, bytes: u64) {
        if let Some(c) = self.topics.get(topic) {
            c.messages_in.fetch_add(messages, Ordering::Relaxed);
            c.bytes_in.fetch_add(bytes, Ordering::Relaxed);
            return;
        }
        let c = self.topics.entry(topic.to_string()).or_default();
        c.messages_in.fetch_add(messages, Ordering::Relaxed);
        c.bytes_in.fetch_add(bytes, Ordering::Relaxed);
    }

    /// `messages` messages of `bytes` bytes of `topic` were delivered to `group`.
    pub fn record_messages_out(&self, topic: &str, group: &str, messages: u64, bytes: u64) {
        let add = |c: &ConsumeCounters| {
            c.messages_out.fetch_add(messages, Ordering::Relaxed);
            c.bytes_out.fetch_add(bytes, Ordering::Relaxed);
        };
        if let Some(groups) = self.consumes.get(topic) {
            if let Some(c) = groups.get(group) {
                add(&c);
                return;
            }
            add(&groups.entry(group.to_string()).or_default());
            return;
        }
        let groups = self.consumes.entry(topic.to_string()).or_default();
        add(&groups.entry(group.to_string()).or_default());
    }

    /// A message of `topic` consumed by `group` went to the group's DLQ
    /// (`rocketmq_send_to_dlq_messages_total`).
    pub fn record_send_to_dlq(&self, group: &str, topic: &str) {
        self.send_to_dlq
            .entry((group.to_string(), topic.to_string()))
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A request was refused with SYSTEM_BUSY.
    pub fn record_system_busy(&self) {
        self.system_busy_total.fetch_add(1, Ordering::Relaxed);
    }

    /// A request with `request_code` was answered with `response_code` after `elapsed`.
    pub fn record_rpc(&self, request_code: i32, response_code: i32, elapsed: Duration) {
        if let Some(h) = self.rpc_latency.get(&(request_code, response_code)) {
            h.observe(elapsed);
            return;
        }
        self.rpc_latency
            .entry((request_code, response_code))
            .or_default()
            .observe(elapsed);
    }
}

/// Gauges read at scrape time from the rest of the broker.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    pub producer_connections: u64,
    pub consumer_connections: u64,
    pub topic_number: u64,
    pub consumer_group_number: u64,
    pub storage_size: u64,
    pub storage_flush_behind_bytes: u64,
    pub storage_dispatch_behind_bytes: u64,
    pub broker_permission: i64,
}

/// The labels every broker series carries.
#[derive(Debug, Clone)]
pub struct NodeLabels {
    pub cluster: String,
    pub node_id: String,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Apache labels RPCs with the lower-cased constant name (`send_message`), else the number.
fn request_code_desc(code: i32) -> String {
    RequestCode::from_i32(code)
        .map(|c| c.name().to_ascii_lowercase())
        .unwrap_or_else(|| code.to_string())
}

fn response_code_desc(code: i32) -> String {
    ResponseCode::from_i32(code)
        .map(|c| c.name().to_ascii_lowercase())
        .unwrap_or_else(|| code.to_string())
}

/// Renders every metric in the Prometheus text exposition format (version 0.0.4).
pub fn render(metrics: &BrokerMetrics, gauges: &Gauges, node: &NodeLabels) -> String {
    let base = format!(
        "cluster=\"{}\",node_type=\"broker\",node_id=\"{}\"",
        escape(&node.cluster),
        escape(&node.node_id)
    );
    let mut out = String::with_capacity(4096);
    let header = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
    };

    header(
        &mut out,
        "rocketmq_messages_in_total",
        "counter",
        "Messages produced to the broker.",
    );
    for e in metrics.topics.iter() {
        let _ = writeln!(
            out,
            "rocketmq_messages_in_total{{{base},topic=\"{}\"}} {}",
            escape(e.key()),
            e.messages_in.load(Ordering::Relaxed)
        );
    }
    header(
        &mut out,
        "rocketmq_throughput_in_total",
        "counter",
        "Message bytes produced to the broker.",
    );
    for e in metrics.topics.iter() {
        let _ = writeln!(
            out,
            "rocketmq_throughput_in_total{{{base},topic=\"{}\"}} {}",
            escape(e.key()),
            e.bytes_in.load(Ordering::Relaxed)
        );
    }
    header(
        &mut out,
        "rocketmq_messages_out_total",
        "counter",
        "Messages delivered to consumers.",
    );
    for t in metrics.consumes.iter() {
        for g in t.value().iter() {
            let _ = writeln!(
                out,
                "rocketmq_messages_out_total{{{base},topic=\"{}\",consumer_group=\"{}\"}} {}",
                escape(t.key()),
                escape(g.key()),
                g.messages_out.load(Ordering::Relaxed)
            );
        }
    }
    header(
        &mut out,
        "rocketmq_throughput_out_total",
        "counter",
        "Message bytes delivered to consumers.",
    );
    for t in metrics.consumes.iter() {
        for g in t.value().iter() {
            let _ = writeln!(
                out,
                "rocketmq_throughput_out_total{{{base},topic=\"{}\",consumer_group=\"{}\"}} {}",
                escape(t.key()),
                escape(g.key()),
                g.bytes_out.load(Ordering::Relaxed)
            );
        }
    }
    let gauge_lines: [(&str, &str, i128); 8] = [
        (
            "rocketmq_producer_connections",
            "Producer connections.",
            gauges.producer_connections.into(),
        ),
        (
            "rocketmq_consumer_connections",
            "Consumer connections.",
            gauges.consumer_connections.into(),
        ),
        (
            "rocketmq_topic_number",
            "Topics on this broker.",
            gauges.topic_number.into(),
        ),
        (
            "rocketmq_consumer_group_number",
            "Subscription groups on this broker.",
            gauges.consumer_group_number.into(),
        ),
        (
            "rocketmq_storage_size",
            "Bytes of CommitLog data kept.",
            gauges.storage_size.into(),
        ),
        (
            "rocketmq_storage_flush_behind_bytes",
            "CommitLog bytes not yet flushed.",
            gauges.storage_flush_behind_bytes.into(),
        ),
        (
            "rocketmq_storage_dispatch_behind_bytes",
            "CommitLog bytes not yet dispatched to queues.",
            gauges.storage_dispatch_behind_bytes.into(),
        ),
        (
            "rocketmq_broker_permission",
            "Broker permission bits.",
            gauges.broker_permission.into(),
        ),
    ];
    for (name, help, value) in gauge_lines {
        header(&mut out, name, "gauge", help);
        // Apache's store gauges carry where the data lives.
        let extra = if name.starts_with("rocketmq_storage_") {
            ",storage_type=\"local\",storage_medium=\"disk\""
        } else {
            ""
        };
        let _ = writeln!(out, "{name}{{{base}{extra}}} {value}");
    }
    header(
        &mut out,
        "rocketmq_send_to_dlq_messages_total",
        "counter",
        "Messages moved to a consumer group's dead-letter queue.",
    );
    for e in metrics.send_to_dlq.iter() {
        let (group, topic) = e.key();
        // Apache's `isSystem`: a system topic or a CID_RMQ_SYS_ group.
        let is_system = crate::topic_config::is_system_topic(topic)
            || group.starts_with(crate::subscription_group::SYS_CONSUMER_GROUP_PREFIX);
        let _ = writeln!(
            out,
            "rocketmq_send_to_dlq_messages_total{{{base},consumer_group=\"{}\",topic=\"{}\",is_system=\"{is_system}\"}} {}",
            escape(group),
            escape(topic),
            e.value().load(Ordering::Relaxed)
        );
    }
    header(
        &mut out,
        "rocketmq_system_busy_total",
        "counter",
        "Requests refused with SYSTEM_BUSY by flow control.",
    );
    let _ = writeln!(
        out,
        "rocketmq_system_busy_total{{{base}}} {}",
        metrics.system_busy_total.load(Ordering::Relaxed)
    );
    header(
        &mut out,
        "rocketmq_rpc_latency",
        "histogram",
        "Request processing time in milliseconds.",
    );
    for e in metrics.rpc_latency.iter() {
        let (req, resp) = *e.key();
        let labels = format!(
            "{base},protocol_type=\"remoting\",request_code=\"{}\",response_code=\"{}\"",
            request_code_desc(req),
            response_code_desc(resp)
        );
        let mut cumulative = 0;
        for (i, bound) in RPC_LATENCY_BUCKETS_MS.iter().enumerate() {
            cumulative += e.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "rocketmq_rpc_latency_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += e.buckets[RPC_LATENCY_BUCKETS_MS.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "rocketmq_rpc_latency_bucket{{{labels},le=\"+Inf\"}} {cumulative}"
        );
        let sum_ms = e.sum_micros.load(Ordering::Relaxed) as f64 / 1000.0;
        let _ = writeln!(out, "rocketmq_rpc_latency_sum{{{labels}}} {sum_ms}");
        let _ = writeln!(
            out,
            "rocketmq_rpc_latency_count{{{labels}}} {}",
            e.count.load(Ordering::Relaxed)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_labels() {
        let m = BrokerMetrics::default();
        m.record_messages_in("T", 2, 100);
        m.record_messages_in("T", 1, 50);
        m.record_messages_out("T", "g", 3, 150);
        m.record_system_busy();
        m.record_send_to_dlq("g", "T");
        m.record_send_to_dlq("g", "T");
        m.record_rpc(10, 0, Duration::from_millis(2));
        m.record_rpc(10, 0, Duration::from_secs(10));
        let node = NodeLabels {
            cluster: "C".into(),
            node_id: "b-a".into(),
        };
        let text = render(
            &m,
            &Gauges {
                topic_number: 5,
                ..Default::default()
            },
            &node,
        );
        assert!(text.contains("rocketmq_messages_in_total{cluster=\"C\",node_type=\"broker\",node_id=\"b-a\",topic=\"T\"} 3"), "{text}");
        assert!(text.contains("rocketmq_throughput_in_total{cluster=\"C\",node_type=\"broker\",node_id=\"b-a\",topic=\"T\"} 150"));
        assert!(text.contains("consumer_group=\"g\"} 3"));
        assert!(text.contains(
            "rocketmq_topic_number{cluster=\"C\",node_type=\"broker\",node_id=\"b-a\"} 5"
        ));
        assert!(text.contains(
            "rocketmq_system_busy_total{cluster=\"C\",node_type=\"broker\",node_id=\"b-a\"} 1"
        ));
        assert!(
            text.contains("request_code=\"send_message\",response_code=\"success\",le=\"3\"} 1"),
            "{text}"
        );
        assert!(text.contains("le=\"+Inf\"} 2"));
        assert!(
            text.contains("rocketmq_send_to_dlq_messages_total{cluster=\"C\",node_type=\"broker\",node_id=\"b-a\",consumer_group=\"g\",topic=\"T\",is_system=\"false\"} 2"),
            "{text}"
        );
    }
}
