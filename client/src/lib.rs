//! `sluice-client`: a Rust client for RocketMQ-compatible clusters (Sluice or Apache RocketMQ),
//! speaking the Remoting protocol.
//!
//! Map of the crate:
//! - [`admin`]: [`Admin`], cluster management (topics, stats, connections, configs, queries),
//!   and the `mqadmin` command implementations (`admin::cli`).
//! - [`config`]: [`ClientConfig`] (NameServers, client id, intervals).
//! - [`instance`]: [`ClientInstance`], the shared connection pool, route cache, heartbeats.
//! - [`route`]: publish and subscribe queues derived from a topic route.
//! - [`fault`]: latency-based broker avoidance for sends.
//! - [`message`]: [`Message`], [`SendResult`], [`SendStatus`].
//! - [`producer`]: [`Producer`] (sync, async, oneway, ordered, batch sends) and
//!   [`TransactionProducer`].
//! - [`consumer`]: [`PullConsumer`] (assign or subscribe, poll, seek, commit) and
//!   [`PushConsumer`] (rebalancing, long polling, concurrent or orderly listener, send-back,
//!   clustering or broadcasting).
//! - [`error`]: [`ClientError`], the one error type.
//!
//! ```no_run
//! use std::time::Duration;
//! use sluice_client::{Message, Producer};
//!
//! # async fn demo() -> sluice_client::Result<()> {
//! let producer = Producer::builder("orders-producer")
//!     .namesrv_addr("127.0.0.1:9876")
//!     .build()?;
//! producer.start().await?;
//! let result = producer
//!     .send(Message::new("OrderTopic", "hello").with_tags("TagA"), Duration::from_secs(3))
//!     .await?;
//! println!("{} stored as {} ({})", result.msg_id, result.offset_msg_id, result.status);
//! producer.shutdown().await;
//! # Ok(())
//! # }
//! ```

pub mod admin;
pub mod bench;
pub mod config;
pub mod consumer;
pub mod error;
pub mod fault;
pub mod instance;
pub mod message;
pub mod producer;
pub mod route;

pub use admin::Admin;
pub use config::ClientConfig;
pub use consumer::push::{MessageListenerOrderly, OrderlyFn, OrderlyStatus};
pub use consumer::{
    ConsumeContext, ConsumeFromWhere, ConsumeStatus, MessageListener, PullConsumer,
    PullConsumerBuilder, PushConsumer, PushConsumerBuilder,
};
pub use error::{ClientError, Result};
pub use instance::ClientInstance;
pub use message::{Message, SendResult, SendStatus};
pub use producer::{
    LocalTransactionState, Producer, ProducerBuilder, TransactionListener, TransactionProducer,
};
pub use sluice_remoting::body::MessageQueue;
pub use sluice_remoting::message::MessageExt;
