//! Shared helpers of the delay-level tests: a broker over a store directory that outlives it
//! (for restarts), short delay levels, sending delayed messages and polling the real topic.

#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use sluice_broker::{Broker, BrokerConfig};
use sluice_remoting::header::{PullMessageResponseHeader, SendMessageResponseHeader};
use sluice_remoting::message::msgid::decode_offset_msg_id;
use sluice_remoting::message::{decode_messages, MessageExt, MessageRecord};
use sluice_remoting::net::{ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::RemotingCommand;

#[path = "../bsend_common/mod.rs"]
mod bsend_common;
pub use bsend_common::{props, pull, pull_header, send_v2, FLAG_SUBSCRIPTION, TIMEOUT};

/// Levels of these tests: level 1 = 1 s, level 2 = 3 s.
pub const LEVELS: &str = "1s 3s";

/// Upper bound of every poll: far beyond any delay used here, so a miss is a real failure.
pub const POLL_LIMIT: Duration = Duration::from_secs(30);

pub struct DelayBroker {
    pub broker: Broker,
    pub addr: String,
    pub client: RemotingClient,
}

/// Starts a broker whose store lives in `dir` (kept across restarts), with [`LEVELS`].
pub async fn start_in(dir: &Path) -> DelayBroker {
    start_with_levels(dir, LEVELS).await
}

/// Starts a broker whose store lives in `dir` with `messageDelayLevel` = `levels`.
pub async fn start_with_levels(dir: &Path, levels: &str) -> DelayBroker {
    let mut config = BrokerConfig {
        broker_name: "broker-delay".into(),
        broker_ip1: "127.0.0.1".into(),
        broker_ip2: "127.0.0.1".into(),
        listen_port: 0,
        namesrv_addr: None,
        metrics_prom_exporter_port: 0,
        store: sluice_store::MessageStoreConfig::with_root(dir),
        ..BrokerConfig::default()
    };
    config.store.mapped_file_size_commit_log = 4 * 1024 * 1024;
    config.store.mapped_file_size_consume_queue = 6_000;
    config.store.message_delay_level = levels.into();
    let broker = Broker::start(config).await.expect("broker starts");
    let addr = broker.broker_addr();
    let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    DelayBroker {
        broker,
        addr,
        client,
    }
}

impl DelayBroker {
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

    /// Sends `body` to `topic`/`queue_id` with DELAY=`level` and tag `tag`.
    pub async fn send_delayed(
        &self,
        topic: &str,
        queue_id: i32,
        level: i32,
        tag: &str,
        body: &[u8],
    ) -> SendMessageResponseHeader {
        let level = level.to_string();
        let p = props(&[("TAGS", tag), ("KEYS", "k1 k2"), ("DELAY", &level)]);
        let r = self.invoke(send_v2(topic, queue_id, &p, body)).await;
        assert_eq!(r.code, 0, "delayed send refused: {r:?}");
        r.decode_header().expect("send response header")
    }

    /// The stored record behind an offset msgId (the original in SCHEDULE_TOPIC_XXXX).
    pub fn stored(&self, msg_id: &str) -> MessageRecord {
        let (_, phy) = decode_offset_msg_id(msg_id).expect("offset msgId");
        let bytes = self
            .broker
            .state()
            .store
            .lookup_by_physical_offset(phy as u64)
            .expect("the original record is in the CommitLog");
        MessageRecord::decode(&bytes).expect("a record").0
    }

    /// Every message of `topic`/`queue_id` from offset 0 (one pull, no suspension).
    pub async fn pull_all(&self, topic: &str, queue_id: i32) -> Vec<MessageExt> {
        let h = pull_header("CG_DELAY", topic, queue_id, 0, FLAG_SUBSCRIPTION, "*", 0);
        let r = self.invoke(pull(&h)).await;
        if r.code != 0 {
            // PULL_NOT_FOUND / OFFSET_MOVED: nothing there yet.
            let _: PullMessageResponseHeader = r.decode_header().expect("pull response header");
            return Vec::new();
        }
        decode_messages(&r.body.to_bytes(), true).expect("pull body decodes")
    }

    /// Polls until `topic`/`queue_id` holds at least `n` messages (bounded by [`POLL_LIMIT`]).
    pub async fn wait_for(&self, topic: &str, queue_id: i32, n: usize) -> Vec<MessageExt> {
        let deadline = tokio::time::Instant::now() + POLL_LIMIT;
        loop {
            let msgs = self.pull_all(topic, queue_id).await;
            if msgs.len() >= n {
                return msgs;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{topic}/{queue_id} has {} of {n} messages after {POLL_LIMIT:?}",
                msgs.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
