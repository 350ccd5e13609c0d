//! Consumers: [`PullConsumer`] and the pieces a push consumer reuses (pull round trip,
//! offsets, allocation, group membership).

pub mod allocate;
pub mod group;
pub mod offset;
mod pull;
pub mod pull_api;

pub use pull::{PolledBatch, PullConsumer, PullConsumerBuilder};
pub use sluice_remoting::body::{ConsumeFromWhere, MessageModel};
pub mod push;

pub use push::{ConsumeContext, ConsumeStatus, MessageListener, PushConsumer, PushConsumerBuilder};
