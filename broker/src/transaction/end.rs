//! END_TRANSACTION (37): commit or roll back a half message (Apache `EndTransactionProcessor`).
//!
//! The half message is read by its CommitLog offset and must be a record of
//! `RMQ_SYS_TRANS_HALF_TOPIC` whose `PGROUP`, queue offset and CommitLog offset match the header.
//! Commit puts it for `REAL_TOPIC` / `REAL_QID` (transaction bits COMMIT, preparedTransactionOffset
//! = the half's offset) and then writes the op message; rollback writes only the op message;
//! `commitOrRollback` 0 (unknown) changes nothing and leaves the half message to the check-back.
//! Java clients send END_TRANSACTION oneway: the transport drops the answer then, so every problem
//! is also logged.

use std::net::SocketAddr;
use std::sync::Arc;

use sluice_remoting::header::EndTransactionRequestHeader;
use sluice_remoting::message::{property, sysflag, MessageRecord, Properties};
use sluice_remoting::net::Channel;
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};
use sluice_store::PutStatus;

use super::{committed_message, immunity_ms, op_message, store_host, Claim};
use crate::processor::Processors;
use crate::state::BrokerState;
use crate::topic_config::{now_ms, TRANS_HALF_TOPIC};

/// Routes END_TRANSACTION to an [`EndTransactionProcessor`].
pub fn register(table: &mut Processors, state: Arc<BrokerState>) {
    let processor = Arc::new(EndTransactionProcessor::new(state));
    table.register(
        RequestCode::EndTransaction,
        Arc::new(move |channel: Channel, request: RemotingCommand| {
            let processor = processor.clone();
            async move { processor.process(&channel, &request).await }
        }),
    );
}

pub struct EndTransactionProcessor {
    state: Arc<BrokerState>,
    store_host: SocketAddr,
}

fn answer(
    request: &RemotingCommand,
    code: ResponseCode,
    remark: impl Into<String>,
) -> RemotingCommand {
    RemotingCommand::response_to(request, code).with_remark(remark)
}

impl EndTransactionProcessor {
    pub fn new(state: Arc<BrokerState>) -> Self {
        let store_host = store_host(&state.config());
        Self { state, store_host }
    }

    /// Handles one END_TRANSACTION; `None` only for a oneway "unknown" answer (nothing to say).
    pub async fn process(
        &self,
        channel: &Channel,
        request: &RemotingCommand,
    ) -> Option<RemotingCommand> {
        let peer = channel.remote_addr();
        let response = self.end(request).await;
        if response.code != i32::from(ResponseCode::Success) {
            tracing::warn!(
                %peer,
                code = response.code,
                remark = response.remark.as_deref().unwrap_or(""),
                "END_TRANSACTION refused"
            );
        }
        if request.is_oneway() && response.code == i32::from(ResponseCode::Success) {
            return None;
        }
        Some(response)
    }

    async fn end(&self, request: &RemotingCommand) -> RemotingCommand {
        if !self.state.config().is_master() {
            return answer(
                request,
                ResponseCode::SlaveNotAvailable,
                "the broker is a slave: end transaction is forbidden",
            );
        }
        let header = match request.decode_header::<EndTransactionRequestHeader>() {
            Ok(h) => h,
            Err(e) => {
                return answer(
                    request,
                    ResponseCode::SystemError,
                    format!("bad END_TRANSACTION header: {e}"),
                )
            }
        };
        let from_check = header.from_transaction_check.unwrap_or(false);
        let kind = header.commit_or_rollback;
        match kind {
            sysflag::TRANSACTION_NOT => {
                tracing::info!(
                    group = %header.producer_group,
                    msg_id = %header.msg_id,
                    from_check,
                    remark = request.remark.as_deref().unwrap_or(""),
                    "transaction state unknown; the half message waits for a check"
                );
                return answer(
                    request,
                    ResponseCode::Success,
                    "transaction state unknown: nothing done, the broker will check back",
                );
            }
            sysflag::TRANSACTION_COMMIT | sysflag::TRANSACTION_ROLLBACK => {}
            other => {
                return answer(
                    request,
                    ResponseCode::SystemError,
                    format!(
                    "commitOrRollback {other} is none of 0 (unknown), 8 (commit), 12 (rollback)"
                ),
                )
            }
        }
        let (half, props) = match self.find_half(&header) {
            Ok(found) => found,
            Err(remark) => return answer(request, ResponseCode::SystemError, remark),
        };
        if !from_check {
            // Apache 5.x: a producer's own late decision on a message with a custom immunity time
            // that already passed is refused; the check-back will ask it again.
            if props.contains(property::CHECK_IMMUNITY_TIME_IN_SECONDS) {
                let timeout = self.state.config().transaction_time_out as i64;
                let age = now_ms() - half.born_timestamp;
                if age > immunity_ms(&props, timeout) {
                    return answer(
                        request,
                        ResponseCode::IllegalOperation,
                        format!(
                            "end transaction of {} refused: the check immunity time passed, wait for the check",
                            header.msg_id
                        ),
                    );
                }
            }
        }
        let key = props
            .get(property::UNIQ_KEY)
            .filter(|k| !k.is_empty())
            .map(str::to_owned);
        let claim = match &key {
            Some(k) => self.state.transactions.claim(k, kind),
            None => Claim::Fresh,
        };
        if claim == Claim::InProgress {
            return answer(
                request,
                ResponseCode::SystemError,
                format!(
                    "the transaction {} is being resolved by another request; the broker will check back",
                    header.msg_id
                ),
            );
        }
        if let Claim::Resolved(earlier) = claim {
            // Another copy of this transaction was decided already: only mark this one done.
            self.write_op(&half).await;
            return if earlier == kind {
                answer(request, ResponseCode::Success, "already resolved")
            } else {
                answer(
                    request,
                    ResponseCode::SystemError,
                    format!(
                        "the transaction {} was already {}",
                        header.msg_id,
                        if earlier == sysflag::TRANSACTION_COMMIT {
                            "committed"
                        } else {
                            "rolled back"
                        }
                    ),
                )
            };
        }
        if kind == sysflag::TRANSACTION_COMMIT {
            if let Err(response) = self.put_committed(request, &half).await {
                if let Some(k) = &key {
                    self.state.transactions.release(k);
                }
                return response;
            }
        }
        if let Some(k) = &key {
            self.state.transactions.finish(k);
        }
        self.write_op(&half).await;
        tracing::debug!(
            group = %header.producer_group,
            msg_id = %header.msg_id,
            commit = kind == sysflag::TRANSACTION_COMMIT,
            from_check,
            "transaction ended"
        );
        answer(request, ResponseCode::Success, "")
    }

    /// The half message the header names, checked against it.
    fn find_half(
        &self,
        header: &EndTransactionRequestHeader,
    ) -> Result<(MessageRecord, Properties), String> {
        let offset = header.commit_log_offset;
        let missing = || {
            format!("Find prepared transaction message failed: no half message at commitLogOffset {offset}")
        };
        if offset < 0 {
            return Err(missing());
        }
        let bytes = self
            .state
            .store
            .lookup_by_physical_offset(offset as u64)
            .ok_or_else(missing)?;
        let (half, _) = MessageRecord::decode(&bytes).map_err(|e| format!("{}: {e}", missing()))?;
        if half.topic != TRANS_HALF_TOPIC {
            return Err(format!(
                "Find prepared transaction message failed: the message at commitLogOffset {offset} is in topic {}, not a half message",
                half.topic
            ));
        }
        let props = Properties::decode(&half.properties);
        let group = props.get(property::PGROUP).unwrap_or("");
        if group != header.producer_group {
            return Err(format!(
                "The producer group wrong: the half message belongs to `{group}`, not `{}`",
                header.producer_group
            ));
        }
        if half.queue_offset != header.tran_state_table_offset {
            return Err(format!(
                "The transaction state table offset wrong: the half message is at queue offset {}, not {}",
                half.queue_offset, header.tran_state_table_offset
            ));
        }
        if half.physical_offset != offset {
            return Err(format!(
                "The commit log offset wrong: the half message is at {}, not {offset}",
                half.physical_offset
            ));
        }
        Ok((half, props))
    }

    /// Puts the committed message for its real topic.
    async fn put_committed(
        &self,
        request: &RemotingCommand,
        half: &MessageRecord,
    ) -> Result<(), RemotingCommand> {
        let msg = committed_message(half, half.physical_offset)
            .map_err(|why| answer(request, ResponseCode::SystemError, why))?;
        let result = self.state.store.put(&msg).await;
        if result.status.is_stored() {
            self.state
                .metrics
                .record_messages_in(&msg.topic, 1, msg.body.len() as u64);
            return Ok(());
        }
        let remark = result.remark.unwrap_or_default();
        let (code, remark) = match result.status {
            PutStatus::MessageIllegal | PutStatus::PropertiesSizeExceeded => (
                ResponseCode::MessageIllegal,
                format!("the committed message is illegal: {remark}"),
            ),
            PutStatus::ServiceNotAvailable => (
                ResponseCode::ServiceNotAvailable,
                format!("service not available now: {remark}"),
            ),
            other => (
                ResponseCode::SystemError,
                format!("storing the committed message failed ({other:?}): {remark}"),
            ),
        };
        Err(answer(request, code, remark))
    }

    /// Marks the half message done. A failure is logged: the check-back then asks again.
    async fn write_op(&self, half: &MessageRecord) {
        let op = op_message(self.store_host, half.queue_id, half.queue_offset);
        let result = self.state.store.put(&op).await;
        if !result.status.is_stored() {
            tracing::error!(
                half_queue_offset = half.queue_offset,
                status = ?result.status,
                remark = ?result.remark,
                "writing the transaction op message failed; the half message will be checked again"
            );
        }
    }
}
