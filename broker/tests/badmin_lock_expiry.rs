//! A queue lock whose lease was not renewed is granted to another client. Its own test binary:
//! the lease is shortened through the environment, which the whole process shares.

mod badmin_support;

use std::collections::BTreeSet;
use std::time::Duration;

use badmin_support::*;
use sluice_broker::processor::lock::LOCK_MAX_LIVE_TIME_ENV;
use sluice_remoting::body::{JsonBody, LockBatchRequestBody, LockBatchResponseBody, MessageQueue};
use sluice_remoting::{RemotingCommand, RequestCode};

fn lock(client_id: &str) -> RemotingCommand {
    let body = LockBatchRequestBody {
        client_id: client_id.into(),
        consumer_group: "LockG".into(),
        mq_set: BTreeSet::from([MessageQueue::new("LockT", "broker-a", 0)]),
        only_this_broker: false,
    };
    RemotingCommand::request(RequestCode::LockBatchMq).with_body(body.encode())
}

#[tokio::test]
async fn an_expired_lock_is_granted_to_another_client() {
    const LEASE: Duration = Duration::from_millis(300);
    std::env::set_var(LOCK_MAX_LIVE_TIME_ENV, LEASE.as_millis().to_string());
    let tb = start_broker().await;
    let (a, b) = (client(), client());
    let granted = |r: RemotingCommand| {
        LockBatchResponseBody::decode(&r.body.to_bytes())
            .unwrap()
            .lock_ok_mq_set
            .len()
    };
    assert_eq!(granted(call(&a, &tb.addr, lock("client-a")).await), 1);
    assert_eq!(granted(call(&b, &tb.addr, lock("client-b")).await), 0);
    // Let the lease lapse without renewal.
    tokio::time::sleep(LEASE * 3).await;
    assert_eq!(granted(call(&b, &tb.addr, lock("client-b")).await), 1);
    assert_eq!(granted(call(&a, &tb.addr, lock("client-a")).await), 0);
    tb.broker.shutdown().await.unwrap();
}
