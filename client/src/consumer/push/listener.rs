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

/// What an orderly listener says about a batch (`ConsumeOrderlyStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderlyStatus {
    /// Done; the queue moves on.
    Success,
    /// Stop this queue for a moment and deliver the same batch again (order is kept).
    SuspendCurrentQueueAMoment,
}

/// Consumes each queue's messages one batch at a time, in queue order, while this client holds
/// the queue's broker lock.
pub trait MessageListenerOrderly: Send + Sync + 'static {
    fn consume(
        &self,
        messages: Vec<MessageExt>,
        context: ConsumeContext,
    ) -> BoxFuture<'static, OrderlyStatus>;
}

/// Wraps a closure as an orderly listener (closures already implement [`MessageListener`]).
pub struct OrderlyFn<F>(pub F);

impl<F, Fut> MessageListenerOrderly for OrderlyFn<F>
where
    F: Fn(Vec<MessageExt>, ConsumeContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = OrderlyStatus> + Send + 'static,
{
    fn consume(
        &self,
        messages: Vec<MessageExt>,
        context: ConsumeContext,
    ) -> BoxFuture<'static, OrderlyStatus> {
        (self.0)(messages, context).boxed()
    }
}
