//! [`PullConsumerBuilder`].

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_remoting::body::ConsumeFromWhere;
use tokio::sync::mpsc;

use super::{Inner, PullConsumer, State};
use crate::config::ClientConfig;
use crate::consumer::offset;
use crate::error::{ClientError, Result};
use crate::instance::ClientInstance;

/// Builds a [`PullConsumer`].
#[derive(Debug)]
pub struct PullConsumerBuilder {
    group: String,
    config: Option<ClientConfig>,
    namesrv_addr: Option<String>,
    instance: Option<Arc<ClientInstance>>,
    consume_from_where: ConsumeFromWhere,
    consume_timestamp: Option<i64>,
    batch_size: i32,
    long_poll: Duration,
    rebalance_interval: Duration,
}

impl PullConsumerBuilder {
    /// NameServer addresses, `;`-separated (else `NAMESRV_ADDR`).
    pub fn namesrv_addr(mut self, addrs: impl Into<String>) -> Self {
        self.namesrv_addr = Some(addrs.into());
        self
    }

    pub fn config(mut self, config: ClientConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// Shares an existing client instance.
    pub fn instance(mut self, instance: Arc<ClientInstance>) -> Self {
        self.instance = Some(instance);
        self
    }

    /// Where a queue without a stored group offset starts (default: the end).
    pub fn consume_from_where(mut self, from: ConsumeFromWhere) -> Self {
        self.consume_from_where = from;
        self
    }

    /// Start time (ms) for `ConsumeFromTimestamp` (default: half an hour ago).
    pub fn consume_timestamp(mut self, millis: i64) -> Self {
        self.consume_timestamp = Some(millis);
        self
    }

    /// Most messages one pull returns (default 32).
    pub fn batch_size(mut self, size: i32) -> Self {
        self.batch_size = size.max(1);
        self
    }

    /// How long a broker may hold a pull when nothing is new (default 15 s).
    pub fn long_poll(mut self, hold: Duration) -> Self {
        self.long_poll = hold;
        self
    }

    /// How often subscribed queues are reallocated (default 20 s; also on membership changes).
    pub fn rebalance_interval(mut self, every: Duration) -> Self {
        self.rebalance_interval = every;
        self
    }

    pub fn build(self) -> Result<PullConsumer> {
        crate::message::validate_topic(&self.group)
            .map_err(|_| ClientError::Config(format!("invalid consumer group {:?}", self.group)))?;
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
        let (outcomes_tx, outcomes_rx) = mpsc::unbounded_channel();
        let notifications = instance.rebalance_notifications();
        Ok(PullConsumer {
            inner: Arc::new(Inner {
                group: self.group,
                instance,
                owns_instance,
                consume_from_where: self.consume_from_where,
                consume_timestamp: self
                    .consume_timestamp
                    .unwrap_or_else(offset::default_consume_timestamp),
                batch_size: self.batch_size,
                long_poll: self.long_poll,
                rebalance_interval: self.rebalance_interval,
                state: Mutex::new(State::default()),
                outcomes_tx,
                outcomes_rx: tokio::sync::Mutex::new(outcomes_rx),
                notifications: Mutex::new(notifications),
                running: AtomicBool::new(false),
            }),
        })
    }
}

impl PullConsumer {
    pub fn builder(group: impl Into<String>) -> PullConsumerBuilder {
        PullConsumerBuilder {
            group: group.into(),
            config: None,
            namesrv_addr: None,
            instance: None,
            consume_from_where: ConsumeFromWhere::ConsumeFromLastOffset,
            consume_timestamp: None,
            batch_size: 32,
            long_poll: Duration::from_secs(15),
            rebalance_interval: Duration::from_secs(20),
        }
    }
}
