//! Consumers.
pub use sluice_remoting::body::ConsumeFromWhere;
pub struct PullConsumer;
pub struct PullConsumerBuilder;
