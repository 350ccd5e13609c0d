//! Shared helpers of the timer tests: a broker over a store directory that outlives it (for
//! restarts), timed sends over Remoting, and reads of what was delivered to a queue.

#![allow(dead_code, unused_imports)]

use std::path::Path;
use std::time::{Duration, Instant};

use sluice_broker::{Broker, BrokerConfig};
use sluice_remoting::header::SendMessageResponseHeader;
use sluice_remoting::message::{MessageRecord, Properties};
use sluice_remoting::net::{ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::RemotingCommand;
use sluice_store::AcceptAll;

#[path = "../bsend_common/mod.rs"]
mod bsend_common;
pub use bsend_common::{props, send_header, send_v2, TIMEOUT};

/// Upper bound of every wait for a delivery: far beyond any delay used here.
pub const POLL_LIMIT: Duration = Duration::from_secs(30);
/// How late a delivery may be in these tests (the feature promises at most 1 s; the rest is
/// room for a loaded 2-core machine).
pub const LATE_LIMIT_MS: i64 = 1_500;

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub struct TimerBroker {
    pub broker: Broker,
    pub addr: String,
    pub client: RemotingClient,
}

/// Starts a broker whose store lives in `dir`; `tweak` adjusts the config first.
pub async fn start_in(dir: &Path, tweak: impl FnOnce(&mut BrokerConfig)) -> TimerBroker {
    let mut config = BrokerConfig {
        broker_name: "broker-timer".into(),
        broker_ip1: "127.0.0.1".into(),
        broker_ip2: "127.0.0.1".into(),
        listen_port: 0,
        namesrv_addr: None,
        metrics_prom_exporter_port: 0,
        store: sluice_store::MessageStoreConfig::with_root(dir),
        ..BrokerConfig::default()
    };
    config.store.mapped_file_size_commit_log = 16 * 1024 * 1024;
    config.store.mapped_file_size_consume_queue = 60_000;
    // Small timer log segments, so that tests cross segment boundaries.
    config.mapped_file_size_timer_log = 40 * 4096;
    tweak(&mut config);
    let broker = Broker::start(config).await.expect("broker starts");
    let addr = broker.broker_addr();
    let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    TimerBroker {
        broker,
        addr,
        client,
    }
}

impl TimerBroker {
    pub async fn invoke(&self, request: RemotingCommand) -> RemotingCommand {
        self.client
            .invoke(&self.addr, request, TIMEOUT)
            .await
            .expect("the broker answers")
    }

    pub async fn stop(self) {
        self.client.close_all();
        self.broker.shutdown().await.expect("clean shutdown");
    }

    /// Sends `body` to `topic`/`queue_id` with the properties `extra` (plus a tag); the raw answer.
    pub async fn send_raw(
        &self,
        topic: &str,
        queue_id: i32,
        extra: &[(&str, &str)],
        body: &[u8],
    ) -> RemotingCommand {
        let mut pairs = vec![("TAGS", "TimerTag")];
        pairs.extend_from_slice(extra);
        self.invoke(send_v2(topic, queue_id, &props(&pairs), body))
            .await
    }

    /// Like [`send_raw`](Self::send_raw), asserting SEND_OK.
    pub async fn send(
        &self,
        topic: &str,
        queue_id: i32,
        extra: &[(&str, &str)],
        body: &[u8],
    ) -> SendMessageResponseHeader {
        let r = self.send_raw(topic, queue_id, extra, body).await;
        assert_eq!(r.code, 0, "timed send refused: {r:?}");
        r.decode_header().expect("send response header")
    }

    /// Every record of `topic`/`queue_id` (read from the store).
    pub fn delivered(&self, topic: &str, queue_id: i32) -> Vec<MessageRecord> {
        let store = &self.broker.state().store;
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let got = store.get_messages(topic, queue_id, offset, 256, &AcceptAll);
            if got.records.is_empty() {
                return out;
            }
            for bytes in &got.records {
                out.push(MessageRecord::decode(bytes).expect("a record").0);
            }
            offset = got.next_begin_offset;
        }
    }

    /// Waits until `topic`/`queue_id` holds at least `n` records, at most `limit`.
    pub async fn wait_for_within(
        &self,
        topic: &str,
        queue_id: i32,
        n: usize,
        limit: Duration,
    ) -> Vec<MessageRecord> {
        let deadline = Instant::now() + limit;
        loop {
            let msgs = self.delivered(topic, queue_id);
            if msgs.len() >= n {
                return msgs;
            }
            assert!(
                Instant::now() < deadline,
                "{topic}/{queue_id} has {} of {n} messages after {limit:?}",
                msgs.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn wait_for(&self, topic: &str, queue_id: i32, n: usize) -> Vec<MessageRecord> {
        self.wait_for_within(topic, queue_id, n, POLL_LIMIT).await
    }

    /// Waits (at most 5 s) until the timer topic's queue holds `n` messages.
    pub async fn wait_timer_topic(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.timer_topic_total() < n {
            assert!(
                Instant::now() < deadline,
                "timer topic holds {} of {n}",
                self.timer_topic_total()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Messages stored in the timer topic (waiting or delivered).
    pub fn timer_topic_total(&self) -> u64 {
        self.broker
            .state()
            .store
            .max_offset(sluice_broker::timer::TIMER_TOPIC, 0)
    }
}

pub fn prop(m: &MessageRecord, name: &str) -> Option<String> {
    Properties::decode(&m.properties)
        .get(name)
        .map(str::to_owned)
}

/// Asserts that `m` was stored no sooner than `earliest` and at most [`LATE_LIMIT_MS`] after
/// `latest_due` (a relative delay is due somewhere between the send's start and its answer).
pub fn assert_on_time(m: &MessageRecord, earliest: i64, latest_due: i64, what: &str) {
    let at = m.store_timestamp;
    assert!(
        at >= earliest,
        "{what}: delivered {} ms early",
        earliest - at
    );
    assert!(
        at <= latest_due + LATE_LIMIT_MS,
        "{what}: delivered {} ms late",
        at - latest_due
    );
}
