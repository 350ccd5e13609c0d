//! [`Producer`]: sends messages with retries on another broker, latency-based fault avoidance,
//! topic auto-creation through TBW102, async, oneway, ordered and batch sends.

mod request;
mod select;
mod transaction;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sluice_remoting::body::MessageQueue;
use sluice_remoting::message::msgid::UniqIdGenerator;
use tokio::time::Instant;

use crate::config::ClientConfig;
use crate::error::{ClientError, Result};
use crate::fault::{FaultTolerance, FAILURE_LATENCY};
use crate::instance::ClientInstance;
use crate::message::{Message, SendResult};

pub use request::{
    is_retryable, is_retryable_code, PreparedSend, SendOptions, RETRY_GROUP_TOPIC_PREFIX,
};
pub use select::select_queue;
pub use transaction::{
    FnTransactionListener, LocalTransactionState, TransactionListener, TransactionProducer,
    TransactionSendResult,
};

/// Builds a [`Producer`].
#[derive(Clone, Debug)]
pub struct ProducerBuilder {
    group: String,
    config: Option<ClientConfig>,
    namesrv_addr: Option<String>,
    instance: Option<Arc<ClientInstance>>,
    options: SendOptions,
    retry_times: u32,
    send_timeout: Duration,
}

impl ProducerBuilder {
    /// NameServer addresses, `;`-separated (else `NAMESRV_ADDR`).
    pub fn namesrv_addr(mut self, addrs: impl Into<String>) -> Self {
        self.namesrv_addr = Some(addrs.into());
        self
    }

    /// A full client configuration (its NameServers are used unless `namesrv_addr` is set).
    pub fn config(mut self, config: ClientConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// Shares an existing client instance (one client id, one connection pool).
    pub fn instance(mut self, instance: Arc<ClientInstance>) -> Self {
        self.instance = Some(instance);
        self
    }

    /// Extra attempts on another broker after a retryable failure (default 2).
    pub fn retry_times(mut self, times: u32) -> Self {
        self.retry_times = times;
        self
    }

    /// Timeout of [`Producer::send_default`] (default 3 s).
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// Bodies of at least this many bytes are compressed (default 4096).
    pub fn compress_over(mut self, bytes: usize) -> Self {
        self.options.compress_over = bytes;
        self
    }

    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.options.max_message_size = bytes;
        self
    }

    /// Queues a topic auto-created by the first send gets (default 4).
    pub fn default_topic_queue_nums(mut self, queues: i32) -> Self {
        self.options.default_topic_queue_nums = queues;
        self
    }

    pub fn build(self) -> Result<Producer> {
        if self.group.is_empty() {
            return Err(ClientError::Config("empty producer group".into()));
        }
        crate::message::validate_topic(&self.group)
            .map_err(|_| ClientError::Config(format!("invalid producer group {:?}", self.group)))?;
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
        let ip = instance
            .config
            .client_ip
            .parse()
            .unwrap_or_else(|_| crate::config::local_ip());
        Ok(Producer {
            inner: Arc::new(ProducerInner {
                group: self.group,
                instance,
                owns_instance,
                options: self.options,
                retry_times: self.retry_times,
                send_timeout: self.send_timeout,
                faults: FaultTolerance::new(),
                next_queue: AtomicUsize::new(0),
                ids: UniqIdGenerator::new(ip),
                running: AtomicBool::new(false),
            }),
        })
    }
}

struct ProducerInner {
    group: String,
    instance: Arc<ClientInstance>,
    /// The builder made the instance, so shutdown ends it.
    owns_instance: bool,
    options: SendOptions,
    retry_times: u32,
    send_timeout: Duration,
    faults: FaultTolerance,
    next_queue: AtomicUsize,
    ids: UniqIdGenerator,
    running: AtomicBool,
}

/// A message producer. Cheap to clone (clones share everything); thread-safe.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<ProducerInner>,
}

impl Producer {
    pub fn builder(group: impl Into<String>) -> ProducerBuilder {
        ProducerBuilder {
            group: group.into(),
            config: None,
            namesrv_addr: None,
            instance: None,
            options: SendOptions::default(),
            retry_times: 2,
            send_timeout: Duration::from_secs(3),
        }
    }

    pub fn group(&self) -> &str {
        &self.inner.group
    }

    pub fn instance(&self) -> &Arc<ClientInstance> {
        &self.inner.instance
    }

    /// Registers the group, starts the instance's background tasks and sends a first heartbeat
    /// to the brokers already known.
    pub async fn start(&self) -> Result<()> {
        let inner = &self.inner;
        if inner.instance.is_shut_down() {
            return Err(ClientError::NotRunning(
                "the producer's client instance is shut down",
            ));
        }
        inner.instance.register_producer(&inner.group);
        inner.instance.start();
        inner.running.store(true, Ordering::SeqCst);
        inner.instance.send_heartbeat_to_all().await;
        Ok(())
    }

    /// Stops sending and unregisters the group; shuts the instance down if the builder made
    /// it (a shared instance stays up for its other users).
    pub async fn shutdown(&self) {
        self.inner.running.store(false, Ordering::SeqCst);
        if self.inner.owns_instance {
            self.inner.instance.shutdown().await;
        } else {
            self.inner.instance.unregister_producer(&self.inner.group);
        }
    }

    fn check_running(&self) -> Result<()> {
        if self.inner.running.load(Ordering::SeqCst) && !self.inner.instance.is_shut_down() {
            Ok(())
        } else {
            Err(ClientError::NotRunning(
                "the producer is not started (call start) or is shut down",
            ))
        }
    }

    /// [`Self::send`] with the builder's timeout.
    pub async fn send_default(&self, msg: Message) -> Result<SendResult> {
        self.send(msg, self.inner.send_timeout).await
    }

    /// Sends `msg`, trying up to `1 + retry_times` brokers within `timeout`.
    pub async fn send(&self, msg: Message, timeout: Duration) -> Result<SendResult> {
        self.check_running()?;
        let prepared = PreparedSend::single(msg, &self.inner.ids, &self.inner.options)?;
        self.send_prepared(prepared, timeout).await
    }

    /// Sends `msgs` (one topic) as one SEND_BATCH_MESSAGE; the result's `msg_id` joins the
    /// messages' ids with commas, as does `offset_msg_id`.
    pub async fn send_batch(
        &self,
        msgs: impl IntoIterator<Item = Message>,
        timeout: Duration,
    ) -> Result<SendResult> {
        self.check_running()?;
        let prepared = PreparedSend::batch(
            msgs.into_iter().collect(),
            &self.inner.ids,
            &self.inner.options,
        )?;
        self.send_prepared(prepared, timeout).await
    }

    /// Starts sending `msg` in a task of its own and returns its outcome as a future; the send
    /// goes on even if the future is dropped.
    pub fn send_async(
        &self,
        msg: Message,
        timeout: Duration,
    ) -> impl Future<Output = Result<SendResult>> + Send + 'static {
        let producer = self.clone();
        let task = tokio::spawn(async move { producer.send(msg, timeout).await });
        async move {
            task.await
                .unwrap_or(Err(ClientError::NotRunning("the send task was aborted")))
        }
    }

    /// Sends `msg` in the background and hands the outcome to `callback`.
    pub fn send_with_callback<F>(&self, msg: Message, timeout: Duration, callback: F)
    where
        F: FnOnce(Result<SendResult>) + Send + 'static,
    {
        let producer = self.clone();
        tokio::spawn(async move { callback(producer.send(msg, timeout).await) });
    }

    /// Sends `msg` without waiting for an answer (no result, no retry).
    pub async fn send_oneway(&self, msg: Message) -> Result<()> {
        self.check_running()?;
        let inner = &self.inner;
        let prepared = PreparedSend::single(msg, &inner.ids, &inner.options)?;
        let info = inner
            .instance
            .publish_info(
                &prepared.topic,
                Some(inner.options.default_topic_queue_nums),
            )
            .await?;
        let queue = select_queue(&info.queues, &inner.next_queue, &inner.faults, None)
            .ok_or_else(|| no_queue(&prepared.topic))?;
        let addr = inner
            .instance
            .find_master_addr(&prepared.topic, &queue.broker_name)
            .await?;
        let mut request = prepared.request(&inner.group, &queue, &inner.options);
        request.mark_oneway();
        inner.instance.invoke_oneway(&addr, request).await
    }

    /// Sends `msg` to exactly `queue` (ordered messages): one attempt, no other broker.
    pub async fn send_to_queue(
        &self,
        msg: Message,
        queue: &MessageQueue,
        timeout: Duration,
    ) -> Result<SendResult> {
        self.check_running()?;
        if msg.topic != queue.topic {
            return Err(ClientError::InvalidMessage(format!(
                "message topic {} differs from the queue's topic {}",
                msg.topic, queue.topic
            )));
        }
        let prepared = PreparedSend::single(msg, &self.inner.ids, &self.inner.options)?;
        let deadline = Instant::now() + timeout;
        self.send_once(&prepared, queue, deadline).await
    }

    /// Sends `msg` to the queue `selector` picks among the topic's writable queues (e.g. by
    /// hashing an order id), so that related messages keep their order.
    pub async fn send_with_selector<S>(
        &self,
        msg: Message,
        selector: S,
        timeout: Duration,
    ) -> Result<SendResult>
    where
        S: FnOnce(&[MessageQueue], &Message) -> Option<MessageQueue>,
    {
        self.check_running()?;
        let deadline = Instant::now() + timeout;
        let inner = &self.inner;
        let info = within(
            deadline,
            timeout,
            "route lookup",
            inner
                .instance
                .publish_info(&msg.topic, Some(inner.options.default_topic_queue_nums)),
        )
        .await?;
        let queue = selector(&info.queues, &msg).ok_or_else(|| {
            ClientError::InvalidMessage(format!("the selector chose no queue of {}", msg.topic))
        })?;
        let left = deadline.saturating_duration_since(Instant::now());
        self.send_to_queue(msg, &queue, left).await
    }

    async fn send_prepared(&self, prepared: PreparedSend, timeout: Duration) -> Result<SendResult> {
        let inner = &self.inner;
        let deadline = Instant::now() + timeout;
        let info = within(
            deadline,
            timeout,
            "route lookup",
            inner.instance.publish_info(
                &prepared.topic,
                Some(inner.options.default_topic_queue_nums),
            ),
        )
        .await?;
        let attempts = 1 + inner.retry_times;
        let mut last_broker: Option<String> = None;
        let mut last_error = None;
        let mut made = 0;
        for _ in 0..attempts {
            if Instant::now() >= deadline {
                break;
            }
            let queue = select_queue(
                &info.queues,
                &inner.next_queue,
                &inner.faults,
                last_broker.as_deref(),
            )
            .ok_or_else(|| no_queue(&prepared.topic))?;
            made += 1;
            let started = Instant::now();
            match self.send_once(&prepared, &queue, deadline).await {
                Ok(result) => {
                    inner.faults.update(&queue.broker_name, started.elapsed());
                    return Ok(result);
                }
                Err(error) => {
                    inner.faults.update(&queue.broker_name, FAILURE_LATENCY);
                    tracing::debug!(broker = %queue.broker_name, %error, "send attempt failed");
                    if !is_retryable(&error) {
                        // Template queues may not match the topic the broker now has.
                        if info.auto_create {
                            inner.instance.refresh_route_soon(&prepared.topic);
                        }
                        return Err(error);
                    }
                    inner.instance.refresh_route_soon(&prepared.topic);
                    last_broker = Some(queue.broker_name.clone());
                    last_error = Some(error);
                }
            }
        }
        Err(match last_error {
            Some(last) => ClientError::SendFailed {
                topic: prepared.topic,
                attempts: made,
                last: Box::new(last),
            },
            None => ClientError::Timeout {
                what: format!("send to {}", prepared.topic),
                millis: timeout.as_millis() as u64,
            },
        })
    }

    async fn send_once(
        &self,
        prepared: &PreparedSend,
        queue: &MessageQueue,
        deadline: Instant,
    ) -> Result<SendResult> {
        let inner = &self.inner;
        let addr = inner
            .instance
            .find_master_addr(&prepared.topic, &queue.broker_name)
            .await?;
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ClientError::Timeout {
                what: format!("send to {addr}"),
                millis: 0,
            });
        }
        let request = prepared.request(&inner.group, queue, &inner.options);
        let response = inner.instance.invoke(&addr, request, left).await?;
        request::parse_send_response(&addr, prepared.code, &response, queue, &prepared.msg_id)
    }
}

fn no_queue(topic: &str) -> ClientError {
    ClientError::NoRoute {
        topic: topic.to_string(),
        reason: "no writable queue".into(),
    }
}

/// Runs `work` until `deadline`, reporting a timeout of the caller's `budget`.
async fn within<T>(
    deadline: Instant,
    budget: Duration,
    what: &str,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout_at(deadline, work)
        .await
        .unwrap_or_else(|_| {
            Err(ClientError::Timeout {
                what: what.to_string(),
                millis: budget.as_millis() as u64,
            })
        })
}
