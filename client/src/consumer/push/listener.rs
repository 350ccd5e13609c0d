//! The concurrent listener a push consumer calls, and what it answers.

use std::future::Future;

use futures::future::BoxFuture;
use futures::FutureExt;
use sluice_remoting::body::MessageQueue;
use sluice_remoting::message::MessageExt;

/// What a listener says about a batch (`ConsumeConcurrentlyStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsumeStatus {
    /// Done; the offset may move past these messages.
    ConsumeSuccess,
    /// Deliver the batch again later (sent back to the group's retry topic with a growing
    /// delay, to the DLQ after the maximum reconsume times).
    ReconsumeLater,
}

/// Where a batch comes from.
#[derive(Clone, Debug)]
pub struct ConsumeContext {
    pub queue: MessageQueue,
}

/// Consumes batches concurrently (several batches, also of one queue, may run at once).
pub trait MessageListener: Send + Sync + 'static {
    fn consume(
        &self,
        messages: Vec<MessageExt>,
        context: ConsumeContext,
    ) -> BoxFuture<'static, ConsumeStatus>;
}

/// Any `Fn(Vec<MessageExt>, ConsumeContext) -> impl Future<Output = ConsumeStatus>` is a
/// listener.
impl<F, Fut> MessageListener for F
where
    F: Fn(Vec<MessageExt>, ConsumeContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ConsumeStatus> + Send + 'static,
{
    fn consume(
        &self,
        messages: Vec<MessageExt>,
        context: ConsumeContext,
    ) -> BoxFuture<'static, ConsumeStatus> {
        self(messages, context).boxed()
    }
}
