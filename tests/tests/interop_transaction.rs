//! Transactional messages with rocketmq-client-rust's `TransactionMQProducer` against a real
//! Sluice broker (issue 6): a committed message reaches a push consumer once, a rolled-back one
//! never does, and UNKNOWN transactions are resolved both ways by the broker's check-back
//! (CHECK_TRANSACTION_STATE answered with END_TRANSACTION fromTransactionCheck=true).
#![cfg(feature = "broker")]

mod support;

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq_client_rust::{LocalTransactionState, TransactionListener, TransactionMQProducer};
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_model::common::message::MessageTrait;
use rocketmq_model::result::SendStatus;
use sluice_client::Admin;
use sluice_remoting::body::TopicConfig;
use sluice_tests::{broker_bin, nameserver_bin, BrokerSpec, Cluster};
use support::{error_chain, Received, RustClient};

const TOPIC: &str = "TxInterop";
const WAIT_LIMIT: Duration = Duration::from_secs(90);

/// Local outcomes by body prefix: `commit-` / `rollback-` at once; `check-commit-` /
/// `check-rollback-` UNKNOWN at first, decided when the broker checks. Counts the checks.
#[derive(Clone, Default)]
struct Listener {
    checks: Arc<Mutex<HashMap<String, usize>>>,
}

fn body_of(body: Option<&bytes::Bytes>) -> String {
    body.map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

impl TransactionListener for Listener {
    fn execute_local_transaction(
        &self,
        msg: &dyn MessageTrait,
        _arg: Option<&(dyn Any + Send + Sync)>,
    ) -> LocalTransactionState {
        let body = body_of(msg.get_body());
        if body.starts_with("commit-") {
            LocalTransactionState::CommitMessage
        } else if body.starts_with("rollback-") {
            LocalTransactionState::RollbackMessage
        } else {
            LocalTransactionState::Unknown
        }
    }

    fn check_local_transaction(&self, msg: &MessageExt) -> LocalTransactionState {
        let body = body_of(msg.body().as_ref());
        *self.checks.lock().unwrap().entry(body.clone()).or_default() += 1;
        if body.starts_with("check-commit-") {
            LocalTransactionState::CommitMessage
        } else if body.starts_with("check-rollback-") {
            LocalTransactionState::RollbackMessage
        } else {
            LocalTransactionState::Unknown
        }
    }
}

/// The broker binary: `SLUICE_IT_MQBROKER` when set (a private copy, for machines where several
/// checkouts share one target directory and so one `it-mqbroker`), else this package's wrapper.
fn broker_binary() -> String {
    std::env::var("SLUICE_IT_MQBROKER").unwrap_or_else(|_| broker_bin!().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_transactions_commit_rollback_and_check_back() {
    // The client heartbeats every 30 s: a generous check budget so that checks due before the
    // broker knows the producer group do not exhaust it.
    let spec = BrokerSpec::default()
        .with("transactionCheckInterval", "1000")
        .with("transactionTimeOut", "1000")
        .with("transactionCheckMax", "100");
    let cluster = Cluster::start(nameserver_bin!(), broker_binary(), 1, vec![spec])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ns = cluster.namesrv_addr();
    support::init_logging();
    let admin = Admin::new(&ns).unwrap();
    let mut config = TopicConfig::new(TOPIC);
    config.read_queue_nums = 2;
    config.write_queue_nums = 2;
    admin
        .create_topic(&cluster.broker().addr(), &config)
        .await
        .unwrap();
    admin.wait_topic_route(TOPIC, WAIT_LIMIT).await.unwrap();

    let client = RustClient::new("interop-tx");
    let listener = Listener::default();
    let mut producer = TransactionMQProducer::builder(client.runtime.clone())
        .producer_group("it-tx-producer")
        .name_server_addr(ns.clone())
        .send_msg_timeout(10_000)
        .transaction_listener(listener.clone())
        .build();
    producer
        .start()
        .await
        .unwrap_or_else(|e| panic!("transaction producer did not start: {}", error_chain(&e)));

    let mut committed = Vec::new();
    let mut rolled_back = Vec::new();
    for i in 0..3 {
        for prefix in ["commit", "rollback", "check-commit", "check-rollback"] {
            let body = format!("{prefix}-{i}");
            let message = Message::builder()
                .topic(TOPIC)
                .tags("Tx")
                .key(body.clone())
                .body(body.clone().into_bytes())
                .build_unchecked();
            let result = producer
                .send_message_in_transaction::<(), _>(message, None)
                .await
                .unwrap_or_else(|e| panic!("transactional send of {body}: {}", error_chain(&e)));
            let send = result.send_result.expect("a send result");
            assert_eq!(send.send_status, SendStatus::SendOk, "{body}");
            if prefix.ends_with("commit") {
                committed.push(body);
            } else {
                rolled_back.push(body);
            }
        }
    }

    let received = Received::new();
    let mut consumer = client
        .push_consumer("it-tx-consumer", &ns, TOPIC, "*", &received)
        .await;
    received
        .wait_for(committed.len(), WAIT_LIMIT, "committed transactions")
        .await;
    // Every check-rollback transaction got its check (and so its rollback) too.
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        let checked = listener.checks.lock().unwrap().clone();
        if (0..3).all(|i| checked.contains_key(&format!("check-rollback-{i}"))) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rollbacks never checked: {checked:?}\n{}",
            cluster.log_tails()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Time for anything wrongly delivered to show up.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let counts = received.counts_by_body();
    for body in &committed {
        assert_eq!(
            counts.get(body.as_bytes()),
            Some(&1),
            "{body} delivered once"
        );
    }
    for body in &rolled_back {
        assert_eq!(
            counts.get(body.as_bytes()),
            None,
            "{body} must never be delivered"
        );
    }
    assert_eq!(
        counts.len(),
        committed.len(),
        "only committed bodies: {counts:?}"
    );
    let checks = listener.checks.lock().unwrap().clone();
    for i in 0..3 {
        assert!(
            checks.contains_key(&format!("check-commit-{i}")),
            "{checks:?}"
        );
        assert!(!checks.contains_key(&format!("commit-{i}")), "{checks:?}");
        assert!(!checks.contains_key(&format!("rollback-{i}")), "{checks:?}");
    }
    let delivered = received.snapshot();
    assert!(delivered.iter().all(|d| d.tags.as_deref() == Some("Tx")));

    consumer.shutdown().await;
    producer.shutdown().await;
    client.shutdown().await;
}
