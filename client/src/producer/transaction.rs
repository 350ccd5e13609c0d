//! [`TransactionProducer`]: half message, local transaction, commit or rollback, and the
//! answer to the broker's check-back (reference §7.4).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use sluice_remoting::header::{CheckTransactionStateRequestHeader, EndTransactionRequestHeader};
use sluice_remoting::message::msgid::decode_offset_msg_id;
use sluice_remoting::message::{property, sysflag, MessageExt};
use sluice_remoting::net::Channel;
use sluice_remoting::{RemotingCommand, RequestCode};

use super::{PreparedSend, Producer, ProducerBuilder};
use crate::error::{ClientError, Result};
use crate::message::{Message, SendResult, SendStatus};

/// The outcome of a local transaction (`LocalTransactionState`; `Unknow` as spelled in Java).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalTransactionState {
    CommitMessage,
    RollbackMessage,
    /// Not decided yet: the broker will ask again later.
    Unknow,
}

impl LocalTransactionState {
    /// The END_TRANSACTION `commitOrRollback` value.
    fn wire(self) -> i32 {
        match self {
            Self::CommitMessage => sysflag::TRANSACTION_COMMIT,
            Self::RollbackMessage => sysflag::TRANSACTION_ROLLBACK,
            Self::Unknow => sysflag::TRANSACTION_NOT,
        }
    }
}

/// Runs local transactions and answers the broker's questions about undecided ones.
pub trait TransactionListener: Send + Sync + 'static {
    /// Runs the local transaction of a half message that the broker stored.
    fn execute_local_transaction(
        &self,
        message: &Message,
        result: &SendResult,
    ) -> BoxFuture<'static, LocalTransactionState>;

    /// Says what became of the local transaction of `message` (the broker did not get an answer
    /// in time).
    fn check_local_transaction(
        &self,
        message: MessageExt,
    ) -> BoxFuture<'static, LocalTransactionState>;
}

/// A listener from two closures.
pub struct FnTransactionListener<E, C> {
    pub execute: E,
    pub check: C,
}

impl<E, EF, C, CF> TransactionListener for FnTransactionListener<E, C>
where
    E: Fn(&Message, &SendResult) -> EF + Send + Sync + 'static,
    EF: Future<Output = LocalTransactionState> + Send + 'static,
    C: Fn(MessageExt) -> CF + Send + Sync + 'static,
    CF: Future<Output = LocalTransactionState> + Send + 'static,
{
    fn execute_local_transaction(
        &self,
        message: &Message,
        result: &SendResult,
    ) -> BoxFuture<'static, LocalTransactionState> {
        (self.execute)(message, result).boxed()
    }

    fn check_local_transaction(
        &self,
        message: MessageExt,
    ) -> BoxFuture<'static, LocalTransactionState> {
        (self.check)(message).boxed()
    }
}

/// What a transactional send returns.
#[derive(Clone, Debug)]
pub struct TransactionSendResult {
    pub send: SendResult,
    pub local_state: LocalTransactionState,
}

/// A producer of transactional messages. Cheap to clone.
#[derive(Clone)]
pub struct TransactionProducer {
    producer: Producer,
    listener: Arc<dyn TransactionListener>,
}

impl TransactionProducer {
    /// A transactional producer from a producer builder and the listener.
    pub fn new(builder: ProducerBuilder, listener: impl TransactionListener) -> Result<Self> {
        Ok(Self {
            producer: builder.build()?,
            listener: Arc::new(listener),
        })
    }

    /// The plain producer underneath (for non-transactional sends).
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    /// Starts the producer and routes the broker's check-backs for this group to the listener.
    pub async fn start(&self) -> Result<()> {
        let instance = self.producer.instance().clone();
        let listener = self.listener.clone();
        let group = self.producer.group().to_string();
        let weak = Arc::downgrade(&instance);
        instance.register_transaction_checker(
            &group.clone(),
            Arc::new(
                move |channel: Channel,
                      header: CheckTransactionStateRequestHeader,
                      message: MessageExt| {
                    let listener = listener.clone();
                    let group = group.clone();
                    let weak = weak.clone();
                    tokio::spawn(async move {
                        if weak.upgrade().is_none() {
                            return;
                        }
                        let state = listener.check_local_transaction(message.clone()).await;
                        let request = check_answer(&group, &header, &message, state);
                        if let Err(error) = channel.send_oneway(request) {
                            tracing::warn!(%error, msg_id = %message.msg_id, "answering a transaction check failed");
                        }
                    });
                },
            ),
        );
        self.producer.start().await
    }

    pub async fn shutdown(&self) {
        self.producer
            .instance()
            .unregister_transaction_checker(self.producer.group());
        self.producer.shutdown().await;
    }

    /// Sends `msg` as a half message, runs the local transaction and tells the broker to commit
    /// or roll back (a failed store rolls back without running it).
    pub async fn send_in_transaction(
        &self,
        mut msg: Message,
        timeout: Duration,
    ) -> Result<TransactionSendResult> {
        self.producer.check_running()?;
        if msg.delay_level() > 0 {
            return Err(ClientError::InvalidMessage(
                "transactional messages cannot have a delay level".into(),
            ));
        }
        let inner = &self.producer.inner;
        msg.properties.insert(property::TRAN_MSG, "true");
        msg.properties.insert(property::PGROUP, &inner.group);
        let mut prepared = PreparedSend::single(msg.clone(), &inner.ids, &inner.options)?;
        prepared.sys_flag |= sysflag::TRANSACTION_PREPARED;
        msg.properties.insert(property::UNIQ_KEY, &prepared.msg_id);
        let send = self.producer.send_prepared(prepared, timeout).await?;
        let local_state = if send.status == SendStatus::SendOk {
            self.listener.execute_local_transaction(&msg, &send).await
        } else {
            LocalTransactionState::RollbackMessage
        };
        if let Err(error) = self.end_transaction(&send, local_state).await {
            // The broker will check back; the local outcome stands.
            tracing::warn!(msg_id = %send.msg_id, %error, "END_TRANSACTION failed");
        }
        Ok(TransactionSendResult { send, local_state })
    }

    async fn end_transaction(&self, send: &SendResult, state: LocalTransactionState) -> Result<()> {
        let instance = self.producer.instance();
        let (_, commit_log_offset) = decode_offset_msg_id(&send.offset_msg_id)?;
        let header = EndTransactionRequestHeader {
            topic: Some(send.queue.topic.clone()),
            producer_group: self.producer.group().to_string(),
            tran_state_table_offset: send.queue_offset,
            commit_log_offset,
            commit_or_rollback: state.wire(),
            from_transaction_check: Some(false),
            msg_id: send.msg_id.clone(),
            transaction_id: Some(
                send.transaction_id
                    .clone()
                    .unwrap_or_else(|| send.msg_id.clone()),
            ),
            ..Default::default()
        };
        let addr = instance
            .find_master_addr(&send.queue.topic, &send.queue.broker_name)
            .await?;
        let mut request =
            RemotingCommand::request(RequestCode::EndTransaction).with_header(&header);
        request.mark_oneway();
        instance.invoke_oneway(&addr, request).await
    }
}

/// The END_TRANSACTION answering a check of `message`.
fn check_answer(
    group: &str,
    header: &CheckTransactionStateRequestHeader,
    message: &MessageExt,
    state: LocalTransactionState,
) -> RemotingCommand {
    let uniq = message
        .property(property::UNIQ_KEY)
        .unwrap_or(&message.msg_id)
        .to_string();
    let end = EndTransactionRequestHeader {
        topic: header.topic.clone(),
        producer_group: group.to_string(),
        tran_state_table_offset: header.tran_state_table_offset,
        commit_log_offset: header.commit_log_offset,
        commit_or_rollback: state.wire(),
        from_transaction_check: Some(true),
        msg_id: uniq.clone(),
        transaction_id: Some(header.transaction_id.clone().unwrap_or(uniq)),
        ..Default::default()
    };
    let mut request = RemotingCommand::request(RequestCode::EndTransaction).with_header(&end);
    request.mark_oneway();
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_to_the_sysflag_values() {
        assert_eq!(LocalTransactionState::CommitMessage.wire(), 8);
        assert_eq!(LocalTransactionState::RollbackMessage.wire(), 12);
        assert_eq!(LocalTransactionState::Unknow.wire(), 0);
    }
}
