//! LOCK_BATCH_MQ and UNLOCK_BATCH_MQ: queue leases of orderly consumers (single broker; the
//! J5 forwarding of locks to the other replicas of a broker group is not done).

use std::sync::Arc;
use std::time::Duration;

use sluice_remoting::body::{
    JsonBody, LockBatchRequestBody, LockBatchResponseBody, UnlockBatchRequestBody,
};
use sluice_remoting::net::Channel;
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};

use super::Processors;
use crate::rebalance_lock::{RebalanceLockManager, DEFAULT_LOCK_MAX_LIVE_TIME};

use crate::state::BrokerState;

/// Environment variable overriding the lease in milliseconds (Apache reads the system property
/// `rocketmq.broker.rebalance.lockMaxLiveTime`).
pub const LOCK_MAX_LIVE_TIME_ENV: &str = "ROCKETMQ_BROKER_REBALANCE_LOCK_MAX_LIVE_TIME";

/// The lease: the environment override if it is a number of milliseconds, else 60 s.
pub fn lock_max_live_time() -> Duration {
    match std::env::var(LOCK_MAX_LIVE_TIME_ENV) {
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(ms) => Duration::from_millis(ms),
            Err(_) => {
                tracing::warn!(var = LOCK_MAX_LIVE_TIME_ENV, value = %v, "not a number of milliseconds; using 60000");
                DEFAULT_LOCK_MAX_LIVE_TIME
            }
        },
        Err(_) => DEFAULT_LOCK_MAX_LIVE_TIME,
    }
}

pub fn register(table: &mut Processors, state: Arc<BrokerState>) {
    let locks = state.rebalance_locks.clone();
    let l = locks.clone();
    table.register(
        RequestCode::LockBatchMq,
        Arc::new(move |_channel: Channel, request: RemotingCommand| {
            let l = l.clone();
            async move { Some(lock_batch(&l, &request)) }
        }),
    );
    table.register(
        RequestCode::UnlockBatchMq,
        Arc::new(move |_channel: Channel, request: RemotingCommand| {
            let l = locks.clone();
            async move { Some(unlock_batch(&l, &request)) }
        }),
    );
}

fn bad_body(request: &RemotingCommand, what: impl std::fmt::Display) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::SystemError).with_remark(what.to_string())
}

/// Answers with the queues the requester now holds (`lockOKMQSet`).
pub fn lock_batch(locks: &RebalanceLockManager, request: &RemotingCommand) -> RemotingCommand {
    let body = match LockBatchRequestBody::decode(&request.body.to_bytes()) {
        Ok(b) => b,
        Err(e) => return bad_body(request, format!("LOCK_BATCH_MQ body: {e}")),
    };
    let granted = locks.try_lock_batch(&body.consumer_group, &body.mq_set, &body.client_id);
    let response = LockBatchResponseBody {
        lock_ok_mq_set: granted,
    };
    RemotingCommand::response_to(request, ResponseCode::Success).with_body(response.encode())
}

pub fn unlock_batch(locks: &RebalanceLockManager, request: &RemotingCommand) -> RemotingCommand {
    let body = match UnlockBatchRequestBody::decode(&request.body.to_bytes()) {
        Ok(b) => b,
        Err(e) => return bad_body(request, format!("UNLOCK_BATCH_MQ body: {e}")),
    };
    locks.unlock_batch(&body.consumer_group, &body.mq_set, &body.client_id);
    RemotingCommand::response_to(request, ResponseCode::Success)
}
