//! The broker's transaction check-back seen from a raw producer connection: what
//! CHECK_TRANSACTION_STATE carries, that its answer (END_TRANSACTION fromTransactionCheck=true on
//! the header's offsets) resolves the transaction, that `transactionCheckMax` unanswered checks
//! park the message in `TRANS_CHECK_MAX_TIME_TOPIC`, and that an undecided half message is still
//! checked after a broker restart (progress kept in consumerOffset.json).

#[path = "bsend_common/mod.rs"]
mod bsend_common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bsend_common::{props, pull, pull_header, send_header, FLAG_SUBSCRIPTION, TIMEOUT};
use sluice_broker::{Broker, BrokerConfig};
use sluice_remoting::body::heartbeat::{HeartbeatData, ProducerData};
use sluice_remoting::body::JsonBody;
use sluice_remoting::header::{
    CheckTransactionStateRequestHeader, EndTransactionRequestHeader, SendMessageRequestHeaderV2,
    SendMessageResponseHeader,
};
use sluice_remoting::message::msgid::decode_offset_msg_id;
use sluice_remoting::message::{decode_messages, sysflag, MessageExt};
use sluice_remoting::net::{Channel, ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{RemotingCommand, RequestCode};
use tokio::sync::mpsc;

const TOPIC: &str = "TxCheck";
const GROUP: &str = "PG_CHECK";
const CHECK_MAX: u32 = 2;

/// One CHECK_TRANSACTION_STATE as the producer received it.
struct Check {
    header: CheckTransactionStateRequestHeader,
    message: MessageExt,
}

struct Producer {
    broker: Broker,
    addr: String,
    client: RemotingClient,
    checks: mpsc::UnboundedReceiver<Check>,
}

async fn start(dir: &Path, check_max: u32) -> Producer {
    let mut config = BrokerConfig {
        broker_name: "broker-tx".into(),
        broker_ip1: "127.0.0.1".into(),
        broker_ip2: "127.0.0.1".into(),
        listen_port: 0,
        namesrv_addr: None,
        metrics_prom_exporter_port: 0,
        store: sluice_store::MessageStoreConfig::with_root(dir),
        transaction_check_interval: 200,
        transaction_time_out: 500,
        transaction_check_max: check_max,
        ..BrokerConfig::default()
    };
    config.store.mapped_file_size_commit_log = 4 * 1024 * 1024;
    config.store.mapped_file_size_consume_queue = 6_000;
    let broker = Broker::start(config).await.expect("broker starts");
    let addr = broker.broker_addr();
    let (tx, checks) = mpsc::unbounded_channel();
    let mut table = ProcessorTable::new();
    table.register(
        RequestCode::CheckTransactionState,
        Arc::new(move |_channel: Channel, request: RemotingCommand| {
            let tx = tx.clone();
            async move {
                assert!(request.is_oneway(), "checks are oneway");
                let header = request.decode_header().expect("check header");
                let mut messages = decode_messages(&request.body.to_bytes(), true).expect("body");
                assert_eq!(messages.len(), 1, "one message per check");
                let _ = tx.send(Check {
                    header,
                    message: messages.remove(0),
                });
                None
            }
        }),
    );
    let client = RemotingClient::new(ClientConfig::default(), table);
    let p = Producer {
        broker,
        addr,
        client,
        checks,
    };
    let data = HeartbeatData {
        client_id: "127.0.0.1@tx-check".into(),
        producer_data_set: vec![ProducerData {
            group_name: GROUP.into(),
        }],
        ..Default::default()
    };
    let r = p
        .invoke(RemotingCommand::request(RequestCode::HeartBeat).with_body(data.encode()))
        .await;
    assert_eq!(r.code, 0, "{r:?}");
    p
}

impl Producer {
    async fn invoke(&self, request: RemotingCommand) -> RemotingCommand {
        self.client
            .invoke(&self.addr, request, TIMEOUT)
            .await
            .expect("the broker answers")
    }

    async fn stop(self) {
        self.client.close_all();
        self.broker.shutdown().await.expect("clean shutdown");
    }

    async fn send_half(&self, body: &str) -> SendMessageResponseHeader {
        let p = props(&[
            ("TRAN_MSG", "true"),
            ("PGROUP", GROUP),
            ("TAGS", "T"),
            ("UNIQ_KEY", &format!("UNIQ-{body}")),
        ]);
        let mut header = send_header(TOPIC, 1, &p);
        header.producer_group = GROUP.into();
        header.sys_flag = sysflag::TRANSACTION_PREPARED;
        header.born_timestamp = now_ms();
        let v2: SendMessageRequestHeaderV2 = header.into();
        let request = RemotingCommand::request(RequestCode::SendMessageV2)
            .with_header(&v2)
            .with_body(body.as_bytes().to_vec());
        let r = self.invoke(request).await;
        assert_eq!(r.code, 0, "half send refused: {r:?}");
        r.decode_header().unwrap()
    }

    /// The next check, within `limit`.
    async fn next_check(&mut self, limit: Duration) -> Option<Check> {
        tokio::time::timeout(limit, self.checks.recv())
            .await
            .ok()
            .flatten()
    }

    /// Answers `check` as a producer does.
    async fn answer(&self, check: &Check, kind: i32) {
        let header = EndTransactionRequestHeader {
            topic: check.header.topic.clone(),
            producer_group: GROUP.into(),
            tran_state_table_offset: check.header.tran_state_table_offset,
            commit_log_offset: check.header.commit_log_offset,
            commit_or_rollback: kind,
            from_transaction_check: Some(true),
            msg_id: check.header.msg_id.clone().unwrap_or_default(),
            transaction_id: check.header.transaction_id.clone(),
            ..Default::default()
        };
        let mut request =
            RemotingCommand::request(RequestCode::EndTransaction).with_header(&header);
        request.mark_oneway();
        self.client
            .invoke_oneway(&self.addr, request)
            .await
            .expect("answer sent");
    }

    async fn pull_all(&self, topic: &str, queue_id: i32) -> Vec<MessageExt> {
        let h = pull_header("CG_CHECK", topic, queue_id, 0, FLAG_SUBSCRIPTION, "*", 0);
        let r = self.invoke(pull(&h)).await;
        if r.code != 0 {
            return Vec::new();
        }
        decode_messages(&r.body.to_bytes(), true).unwrap()
    }

    async fn wait_for(&self, topic: &str, queue_id: i32, n: usize) -> Vec<MessageExt> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.pull_all(topic, queue_id).await;
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "{topic}: {} of {n}", got.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn body(m: &MessageExt) -> String {
    String::from_utf8_lossy(m.body()).into_owned()
}

const CHECK_WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_carry_the_new_copy_and_their_answer_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = start(dir.path(), CHECK_MAX).await;
    let sent_at = Instant::now();
    let half = p.send_half("b").await;
    let check = p.next_check(CHECK_WAIT).await.expect("a check");
    assert!(
        sent_at.elapsed() >= Duration::from_millis(500),
        "no check before transactionTimeOut"
    );
    let h = &check.header;
    let (_, half_offset) = decode_offset_msg_id(&half.msg_id).unwrap();
    // The check names a fresh copy of the half message, at the end of the half queue.
    assert!(
        h.tran_state_table_offset > half.queue_offset,
        "{:?}",
        h.tran_state_table_offset
    );
    assert!(h.commit_log_offset > half_offset);
    assert_eq!(h.msg_id.as_deref(), Some("UNIQ-b"));
    assert_eq!(h.transaction_id.as_deref(), Some("UNIQ-b"));
    assert_eq!(
        decode_offset_msg_id(h.offset_msg_id.as_deref().unwrap())
            .unwrap()
            .1,
        h.commit_log_offset
    );
    let m = &check.message;
    assert_eq!(body(m), "b");
    assert_eq!((m.record.topic.as_str(), m.record.queue_id), (TOPIC, 1));
    assert_eq!(m.property("TRANSACTION_CHECK_TIMES"), Some("1"));
    assert_eq!(m.property("PGROUP"), Some(GROUP));
    assert_eq!(m.property("UNIQ_KEY"), Some("UNIQ-b"));
    assert_eq!(m.record.queue_offset, h.tran_state_table_offset);
    assert_eq!(m.record.physical_offset, h.commit_log_offset);

    p.answer(&check, sysflag::TRANSACTION_COMMIT).await;
    let got = p.wait_for(TOPIC, 1, 1).await;
    assert_eq!(got.iter().map(body).collect::<Vec<_>>(), ["b"]);
    assert_eq!(
        got[0].record.prepared_transaction_offset,
        h.commit_log_offset
    );
    // Resolved: never asked again, delivered once.
    assert!(p.next_check(Duration::from_millis(1500)).await.is_none());
    assert_eq!(p.pull_all(TOPIC, 1).await.len(), 1);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_checks_end_in_the_check_max_topic() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = start(dir.path(), CHECK_MAX).await;
    p.send_half("a").await;
    for times in 1..=CHECK_MAX {
        let check = p.next_check(CHECK_WAIT).await.expect("a check");
        assert_eq!(body(&check.message), "a");
        assert_eq!(
            check.message.property("TRANSACTION_CHECK_TIMES"),
            Some(times.to_string().as_str())
        );
        // Answer "unknown": nothing changes.
        p.answer(&check, sysflag::TRANSACTION_NOT).await;
    }
    let parked = p.wait_for("TRANS_CHECK_MAX_TIME_TOPIC", 0, 1).await;
    assert_eq!(parked.iter().map(body).collect::<Vec<_>>(), ["a"]);
    assert_eq!(parked[0].property("REAL_TOPIC"), Some(TOPIC));
    assert_eq!(parked[0].property("REAL_QID"), Some("1"));
    assert!(
        p.next_check(Duration::from_millis(1000)).await.is_none(),
        "no check after transactionCheckMax"
    );
    assert!(p.pull_all(TOPIC, 1).await.is_empty(), "never delivered");
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecided_half_message_is_checked_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = start(dir.path(), 10).await;
    p.send_half("c").await;
    let first = p
        .next_check(CHECK_WAIT)
        .await
        .expect("a check before the restart");
    assert_eq!(first.message.property("TRANSACTION_CHECK_TIMES"), Some("1"));
    p.stop().await;
    let offsets = std::fs::read_to_string(dir.path().join("config/consumerOffset.json")).unwrap();
    assert!(
        offsets.contains("RMQ_SYS_TRANS_HALF_TOPIC@CID_RMQ_SYS_TRANS"),
        "{offsets}"
    );

    let mut p = start(dir.path(), 10).await;
    let check = p
        .next_check(CHECK_WAIT)
        .await
        .expect("a check after the restart");
    assert_eq!(body(&check.message), "c");
    // A copy made before the restart is the one checked: the count goes on.
    let times: u32 = check
        .message
        .property("TRANSACTION_CHECK_TIMES")
        .unwrap()
        .parse()
        .unwrap();
    assert!(times >= 2, "check count {times} after the restart");
    p.answer(&check, sysflag::TRANSACTION_ROLLBACK).await;
    assert!(p.next_check(Duration::from_millis(1500)).await.is_none());
    assert!(p.pull_all(TOPIC, 1).await.is_empty(), "rolled back");
    p.stop().await;
}
