//! rocketmq-client-rust plumbing shared by the interop tests: a client runtime with the wide
//! blocking lane the push consumer needs on 2 CPUs, a listener that records what it receives, and
//! error formatting that shows the cause chain.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq_client_rust::{
    ClientRuntime, ClientRuntimeConfig, ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus,
    DefaultMQProducer, DefaultMQPushConsumer, MQPushConsumer, MessageListenerConcurrently,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_observability::TelemetryHandle;
use rocketmq_runtime::{RuntimeConfig, RuntimeOwner};

/// Client-side logs on stderr when `RUST_LOG` asks for them (e.g.
/// `RUST_LOG=rocketmq_transport=debug,rocketmq_client_rust=info`); silent otherwise. The same
/// variable reaches the server children, whose output lands in their log files.
pub fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
}

/// The error and every `source()` below it: rocketmq-client-rust's top-level messages hide the cause.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(" <- ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A client runtime owned by one test.
pub struct RustClient {
    owner: Option<RuntimeOwner>,
    pub runtime: Arc<ClientRuntime>,
}

impl RustClient {
    /// Builds the runtime with the "metadata-io" lane widened: the push consumer runs every
    /// listener call on that lane, and its 2-CPU default (4 running, 16 queued) rejects calls
    /// under load, which the client turns into a failed consumption and a 10 s %RETRY% detour.
    pub fn new(scope: &str) -> Self {
        let mut config = RuntimeConfig {
            thread_name: format!("it-client-{scope}"),
            ..RuntimeConfig::default()
        };
        config.max_blocking_threads = 64;
        // Bounded teardown: a test's client must not hold the suite up at shutdown.
        config.shutdown_timeout = Duration::from_secs(5);
        let lane = &mut config.blocking_lane_policies.metadata_io;
        lane.max_concurrency = 32;
        lane.max_queue_depth = 4096;
        lane.queue_timeout = Duration::from_secs(60);
        let owner = RuntimeOwner::plan(config)
            .expect("client runtime configuration is valid")
            .build()
            .expect("client runtime builds");
        let runtime = ClientRuntime::try_new(
            owner.root_context().component("client"),
            ClientRuntimeConfig::default(),
            TelemetryHandle::noop(),
        )
        .expect("client runtime starts");
        Self {
            owner: Some(owner),
            runtime,
        }
    }

    pub async fn producer(&self, group: &str, namesrv_addr: &str) -> DefaultMQProducer {
        let mut producer = DefaultMQProducer::builder(self.runtime.clone())
            .producer_group(group.to_string())
            .name_server_addr(namesrv_addr.to_string())
            .send_msg_timeout(10_000)
            .build();
        if let Err(e) = producer.start().await {
            panic!("producer {group} did not start: {}", error_chain(&e));
        }
        producer
    }

    /// A started push consumer in `group` subscribed to `topic` with `expression`, reading from
    /// the first offset when the group has none yet.
    pub async fn push_consumer(
        &self,
        group: &str,
        namesrv_addr: &str,
        topic: &str,
        expression: &str,
        received: &Received,
    ) -> DefaultMQPushConsumer {
        let mut consumer = DefaultMQPushConsumer::builder(self.runtime.clone())
            .consumer_group(group.to_string())
            .name_server_addr(namesrv_addr.to_string())
            .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
            .build();
        if let Err(e) = consumer.subscribe(topic, expression).await {
            panic!(
                "consumer {group} could not subscribe to {topic}: {}",
                error_chain(&e)
            );
        }
        consumer.register_message_listener_concurrently(received.listener());
        if let Err(e) = consumer.start().await {
            panic!("consumer {group} did not start: {}", error_chain(&e));
        }
        consumer
    }

    pub async fn shutdown(mut self) {
        self.runtime.shutdown().await;
        if let Some(owner) = self.owner.take() {
            owner.shutdown_tasks().await;
            owner.shutdown_background();
        }
    }
}

impl Drop for RustClient {
    fn drop(&mut self) {
        // Also on panic: shutting the client's runtime down in the background never blocks,
        // so it is safe inside the test's own runtime.
        if let Some(owner) = self.owner.take() {
            owner.shutdown_background();
        }
    }
}

/// One delivered message, as the listener saw it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub msg_id: String,
    pub keys: Option<String>,
    pub tags: Option<String>,
    pub body: Vec<u8>,
    pub queue_id: i32,
    pub queue_offset: i64,
    pub reconsume_times: i32,
}

/// Everything a consumer's listener received, shared between the listener and the test.
#[derive(Clone, Default)]
pub struct Received {
    deliveries: Arc<Mutex<Vec<Delivery>>>,
}

impl Received {
    pub fn new() -> Self {
        Self::default()
    }

    fn listener(&self) -> RecordingListener {
        RecordingListener {
            deliveries: self.deliveries.clone(),
        }
    }

    pub fn len(&self) -> usize {
        self.deliveries.lock().map(|d| d.len()).unwrap_or(0)
    }

    pub fn snapshot(&self) -> Vec<Delivery> {
        self.deliveries
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default()
    }

    /// Delivery count per message body (the tests make every body unique).
    pub fn counts_by_body(&self) -> HashMap<Vec<u8>, usize> {
        let mut counts = HashMap::new();
        for d in self.snapshot() {
            *counts.entry(d.body).or_insert(0) += 1;
        }
        counts
    }

    /// Polls until at least `expected` deliveries arrived; panics with progress after `limit`.
    pub async fn wait_for(&self, expected: usize, limit: Duration, what: &str) {
        let deadline = Instant::now() + limit;
        while self.len() < expected {
            if Instant::now() >= deadline {
                panic!(
                    "{what}: {} of {expected} messages delivered after {limit:?}",
                    self.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the delivery count stops changing for `quiet` (bounded by `limit`), so a test
    /// can assert that nothing beyond the expected set arrives (no duplicates, no leaks).
    pub async fn settle(&self, quiet: Duration, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        let mut last = self.len();
        let mut stable_since = Instant::now();
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = self.len();
            if now != last {
                last = now;
                stable_since = Instant::now();
            } else if stable_since.elapsed() >= quiet {
                break;
            }
        }
        last
    }
}

struct RecordingListener {
    deliveries: Arc<Mutex<Vec<Delivery>>>,
}

impl MessageListenerConcurrently for RecordingListener {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        _context: &ConsumeConcurrentlyContext,
    ) -> rocketmq_client_rust::ClientResult<ConsumeConcurrentlyStatus> {
        let batch: Vec<Delivery> = msgs
            .iter()
            .map(|m| Delivery {
                msg_id: m.msg_id().to_string(),
                keys: m.message_inner().keys().map(|k| k.join(" ")),
                tags: m.message_inner().tags().map(str::to_string),
                body: m.body().map(|b| b.to_vec()).unwrap_or_default(),
                queue_id: m.queue_id(),
                queue_offset: m.queue_offset(),
                reconsume_times: m.reconsume_times(),
            })
            .collect();
        if let Ok(mut all) = self.deliveries.lock() {
            all.extend(batch);
        }
        Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
    }
}
