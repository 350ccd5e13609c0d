//! [`PushOptions`] and [`PushConsumerBuilder`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_remoting::body::{ConsumeFromWhere, MessageModel, SubscriptionData};
use tokio::sync::Semaphore;

use super::listener::{MessageListener, MessageListenerOrderly};
use super::{local_offsets, OffsetTable, PushConsumer, PushShared};
use crate::config::ClientConfig;
use crate::consumer::group::now_ms;
use crate::consumer::offset;
use crate::error::{ClientError, Result};
use crate::instance::ClientInstance;
use crate::producer::RETRY_GROUP_TOPIC_PREFIX;

/// Push-consumer settings; defaults are the Java client's.
#[derive(Clone, Debug)]
pub struct PushOptions {
    pub message_model: MessageModel,
    pub consume_from_where: ConsumeFromWhere,
    pub consume_timestamp: i64,
    /// Messages per listener call (`consumeMessageBatchMaxSize`, 1).
    pub consume_batch_size: usize,
    /// Messages per pull (`pullBatchSize`, 32).
    pub pull_batch_size: i32,
    /// Listener calls running at once (`consumeThreadMax`, 20).
    pub concurrency: usize,
    /// Pulled-but-unfinished messages per queue before pulling pauses (1000).
    pub pull_threshold_for_queue: usize,
    /// Pulled-but-unfinished body bytes per queue before pulling pauses (100 MiB).
    pub pull_threshold_size_for_queue: usize,
    /// Offset distance between the oldest unfinished and newest pulled message before pulling
    /// pauses (`consumeConcurrentlyMaxSpan`, 2000).
    pub consume_concurrently_max_span: i64,
    /// Deliveries before a message goes to the DLQ (16).
    pub max_reconsume_times: i32,
    /// How long the broker may hold a pull (15 s).
    pub long_poll: Duration,
    /// Round-trip limit of a pull (30 s).
    pub pull_timeout: Duration,
    pub rebalance_interval: Duration,
    /// How often changed offsets are sent to the broker (5 s).
    pub persist_interval: Duration,
    /// Where a broadcasting consumer keeps its offsets (`~/.rocketmq_offsets`).
    pub local_offset_dir: std::path::PathBuf,
}

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            message_model: MessageModel::Clustering,
            consume_from_where: ConsumeFromWhere::ConsumeFromLastOffset,
            consume_timestamp: offset::default_consume_timestamp(),
            consume_batch_size: 1,
            pull_batch_size: 32,
            concurrency: 20,
            pull_threshold_for_queue: 1000,
            pull_threshold_size_for_queue: 100 * 1024 * 1024,
            consume_concurrently_max_span: 2000,
            max_reconsume_times: 16,
            long_poll: Duration::from_secs(15),
            pull_timeout: Duration::from_secs(30),
            rebalance_interval: Duration::from_secs(20),
            persist_interval: Duration::from_secs(5),
            local_offset_dir: local_offsets::default_dir(),
        }
    }
}

/// Builds a [`PushConsumer`].
pub struct PushConsumerBuilder {
    group: String,
    config: Option<ClientConfig>,
    namesrv_addr: Option<String>,
    instance: Option<Arc<ClientInstance>>,
    /// (topic, expression, is SQL92).
    subscriptions: Vec<(String, String, bool)>,
    listener: Option<Arc<dyn MessageListener>>,
    orderly: Option<Arc<dyn MessageListenerOrderly>>,
    options: PushOptions,
}

impl PushConsumerBuilder {
    pub fn namesrv_addr(mut self, addrs: impl Into<String>) -> Self {
        self.namesrv_addr = Some(addrs.into());
        self
    }

    pub fn config(mut self, config: ClientConfig) -> Self {
        self.config = Some(config);
        self
    }

    pub fn instance(mut self, instance: Arc<ClientInstance>) -> Self {
        self.instance = Some(instance);
        self
    }

    /// Subscribes to `topic` with a tag expression (`*`, `TagA || TagB`).
    pub fn subscribe(mut self, topic: impl Into<String>, expression: impl Into<String>) -> Self {
        self.subscriptions
            .push((topic.into(), expression.into(), false));
        self
    }

    /// Subscribes to `topic` with an SQL92 expression over message properties.
    pub fn subscribe_sql92(
        mut self,
        topic: impl Into<String>,
        expression: impl Into<String>,
    ) -> Self {
        self.subscriptions
            .push((topic.into(), expression.into(), true));
        self
    }

    /// The listener; a closure `|msgs, ctx| async { ConsumeStatus::ConsumeSuccess }` will do.
    pub fn listener(mut self, listener: impl MessageListener) -> Self {
        self.listener = Some(Arc::new(listener));
        self
    }

    /// An orderly listener instead (queue locks, one batch at a time per queue, in order):
    /// `.orderly_listener(OrderlyFn(|msgs, ctx| async { OrderlyStatus::Success }))`.
    pub fn orderly_listener(mut self, listener: impl MessageListenerOrderly) -> Self {
        self.orderly = Some(Arc::new(listener));
        self
    }

    pub fn message_model(mut self, model: MessageModel) -> Self {
        self.options.message_model = model;
        self
    }

    pub fn consume_from_where(mut self, from: ConsumeFromWhere) -> Self {
        self.options.consume_from_where = from;
        self
    }

    pub fn consume_timestamp(mut self, millis: i64) -> Self {
        self.options.consume_timestamp = millis;
        self
    }

    /// Where a broadcasting consumer keeps its offsets (default `~/.rocketmq_offsets`).
    pub fn local_offset_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.options.local_offset_dir = dir.into();
        self
    }

    /// Every setting at once.
    pub fn options(mut self, options: PushOptions) -> Self {
        self.options = options;
        self
    }

    pub fn build(self) -> Result<PushConsumer> {
        crate::message::validate_topic(&self.group)
            .map_err(|_| ClientError::Config(format!("invalid consumer group {:?}", self.group)))?;
        let (listener, orderly) = match (self.listener, self.orderly) {
            (Some(l), None) => (Some(l), None),
            (None, Some(o)) => (None, Some(o)),
            (None, None) => {
                return Err(ClientError::Config(
                    "a push consumer needs a listener".into(),
                ))
            }
            (Some(_), Some(_)) => {
                return Err(ClientError::Config(
                    "a push consumer takes a concurrent or an orderly listener, not both".into(),
                ))
            }
        };
        if orderly.is_some() && self.options.message_model == MessageModel::Broadcasting {
            return Err(ClientError::Config(
                "orderly consumption needs the clustering model".into(),
            ));
        }
        if self.subscriptions.is_empty() {
            return Err(ClientError::Config(
                "a push consumer needs at least one subscription".into(),
            ));
        }
        let version = now_ms();
        let mut subscriptions = BTreeMap::new();
        for (topic, expression, sql92) in &self.subscriptions {
            crate::message::validate_topic(topic)?;
            let data = if *sql92 {
                crate::consumer::group::sql92_subscription(topic, expression, version)
            } else {
                SubscriptionData::by_tags(topic.as_str(), expression, version)
            };
            subscriptions.insert(topic.clone(), data);
        }
        if self.options.message_model == MessageModel::Clustering {
            let retry = format!("{RETRY_GROUP_TOPIC_PREFIX}{}", self.group);
            subscriptions
                .entry(retry.clone())
                .or_insert_with(|| SubscriptionData::by_tags(retry, "*", version));
        }
        let owns_instance = self.instance.is_none();
        let instance = match self.instance {
            Some(instance) => instance,
            None => {
                let mut config = match self.config {
                    Some(config) => config,
                    None if self.namesrv_addr.is_some() => ClientConfig::default(),
                    None => ClientConfig::from_env()?,
                };
                if let Some(addrs) = &self.namesrv_addr {
                    config.namesrv_addrs = crate::config::parse_namesrv_addrs(addrs)?;
                }
                ClientInstance::new(config)?
            }
        };
        let token = instance.shutdown_token().child_token();
        Ok(PushConsumer {
            shared: Arc::new(PushShared {
                group: self.group,
                instance,
                owns_instance,
                permits: Arc::new(Semaphore::new(self.options.concurrency.max(1))),
                options: self.options,
                listener,
                orderly,
                subscriptions,
                offsets: OffsetTable::default(),
                queues: Mutex::new(BTreeMap::new()),
                token,
                tasks: Mutex::new(Vec::new()),
            }),
        })
    }
}

impl PushConsumer {
    pub fn builder(group: impl Into<String>) -> PushConsumerBuilder {
        PushConsumerBuilder {
            group: group.into(),
            config: None,
            namesrv_addr: None,
            instance: None,
            subscriptions: Vec::new(),
            listener: None,
            orderly: None,
            options: PushOptions::default(),
        }
    }
}
