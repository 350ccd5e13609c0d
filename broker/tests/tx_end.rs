//! END_TRANSACTION on raw Remoting requests against an in-process broker: what a commit stores,
//! oneway requests, unknown states, a second decision on the same transaction, and the clear
//! SYSTEM_ERROR remarks for a half message that is missing or does not match the header.

#[path = "bsend_common/mod.rs"]
mod bsend_common;

use std::time::{Duration, Instant};

use bsend_common::{
    props, pull, pull_header, send_header, start_broker, TestBroker, FLAG_SUBSCRIPTION,
};
use sluice_remoting::header::{
    EndTransactionRequestHeader, SendMessageRequestHeaderV2, SendMessageResponseHeader,
};
use sluice_remoting::message::msgid::decode_offset_msg_id;
use sluice_remoting::message::{decode_messages, sysflag, MessageExt};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};

const TOPIC: &str = "TxEnd";
const GROUP: &str = "PG_TX";

/// A half message sent as the Java client sends it (TRAN_MSG, PGROUP, PREPARED sysflag).
async fn send_half(b: &TestBroker, queue_id: i32, body: &str) -> SendMessageResponseHeader {
    let p = props(&[
        ("TRAN_MSG", "true"),
        ("PGROUP", GROUP),
        ("TAGS", "T"),
        ("UNIQ_KEY", &format!("UNIQ-{body}")),
    ]);
    let mut header = send_header(TOPIC, queue_id, &p);
    header.producer_group = GROUP.into();
    header.sys_flag = sysflag::TRANSACTION_PREPARED;
    let v2: SendMessageRequestHeaderV2 = header.into();
    let request = RemotingCommand::request(RequestCode::SendMessageV2)
        .with_header(&v2)
        .with_body(body.as_bytes().to_vec());
    let r = b.invoke(request).await;
    assert_eq!(r.code, 0, "half send refused: {r:?}");
    r.decode_header().unwrap()
}

fn end_header(half: &SendMessageResponseHeader, kind: i32) -> EndTransactionRequestHeader {
    let (_, commit_log_offset) = decode_offset_msg_id(&half.msg_id).unwrap();
    EndTransactionRequestHeader {
        producer_group: GROUP.into(),
        tran_state_table_offset: half.queue_offset,
        commit_log_offset,
        commit_or_rollback: kind,
        from_transaction_check: Some(false),
        msg_id: half.transaction_id.clone().unwrap_or_default(),
        ..Default::default()
    }
}

fn end(header: &EndTransactionRequestHeader) -> RemotingCommand {
    RemotingCommand::request(RequestCode::EndTransaction).with_header(header)
}

async fn pull_all(b: &TestBroker, queue_id: i32) -> Vec<MessageExt> {
    let h = pull_header("CG_TX", TOPIC, queue_id, 0, FLAG_SUBSCRIPTION, "*", 0);
    let r = b.invoke(pull(&h)).await;
    if r.code != 0 {
        return Vec::new();
    }
    decode_messages(&r.body.to_bytes(), true).unwrap()
}

/// Polls `queue_id` until it holds `n` messages (bounded), then a little longer to catch extras.
async fn wait_for(b: &TestBroker, queue_id: i32, n: usize) -> Vec<MessageExt> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = pull_all(b, queue_id).await;
        if got.len() >= n {
            tokio::time::sleep(Duration::from_millis(300)).await;
            return pull_all(b, queue_id).await;
        }
        assert!(Instant::now() < deadline, "{} of {n} messages", got.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn body(m: &MessageExt) -> String {
    String::from_utf8_lossy(m.body()).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_rollback_unknown_and_a_second_decision() {
    // No check-back during this test.
    let b = start_broker(|c| c.transaction_check_interval = 3_600_000).await;
    let committed = send_half(&b, 1, "to-commit").await;
    let rolled = send_half(&b, 1, "to-rollback").await;
    let unknown = send_half(&b, 1, "unknown").await;
    assert!(
        pull_all(&b, 1).await.is_empty(),
        "half messages are invisible"
    );

    let r = b
        .invoke(end(&end_header(&unknown, sysflag::TRANSACTION_NOT)))
        .await;
    assert_eq!(r.code, 0, "{r:?}");
    let r = b
        .invoke(end(&end_header(&rolled, sysflag::TRANSACTION_ROLLBACK)))
        .await;
    assert_eq!(r.code, 0, "{r:?}");
    let r = b
        .invoke(end(&end_header(&committed, sysflag::TRANSACTION_COMMIT)))
        .await;
    assert_eq!(r.code, 0, "{r:?}");

    let got = wait_for(&b, 1, 1).await;
    assert_eq!(got.iter().map(body).collect::<Vec<_>>(), ["to-commit"]);
    let m = &got[0];
    assert_eq!(m.record.topic, TOPIC);
    assert_eq!(
        m.record.sysflag & sysflag::TRANSACTION_TYPE_MASK,
        sysflag::TRANSACTION_COMMIT
    );
    let (_, half_offset) = decode_offset_msg_id(&committed.msg_id).unwrap();
    assert_eq!(m.record.prepared_transaction_offset, half_offset);
    assert_eq!(m.property("TRAN_MSG"), None);
    assert_eq!(m.property("REAL_TOPIC"), None);
    assert_eq!(m.property("REAL_QID"), None);
    assert_eq!(m.property("PGROUP"), Some(GROUP));
    assert_eq!(m.property("UNIQ_KEY"), Some("UNIQ-to-commit"));
    assert_eq!(m.tags(), Some("T"));

    // The same commit again (a retried END_TRANSACTION) delivers nothing new.
    let r = b
        .invoke(end(&end_header(&committed, sysflag::TRANSACTION_COMMIT)))
        .await;
    assert_eq!(r.code, 0, "{r:?}");
    // A commit after the rollback is refused, saying why.
    let r = b
        .invoke(end(&end_header(&rolled, sysflag::TRANSACTION_COMMIT)))
        .await;
    assert_eq!(r.code, i32::from(ResponseCode::SystemError));
    assert!(
        r.remark.as_deref().unwrap_or("").contains("rolled back"),
        "{r:?}"
    );
    let got = wait_for(&b, 1, 1).await;
    assert_eq!(
        got.len(),
        1,
        "{:?}",
        got.iter().map(body).collect::<Vec<_>>()
    );

    // The unknown one can still be committed later.
    let r = b
        .invoke(end(&end_header(&unknown, sysflag::TRANSACTION_COMMIT)))
        .await;
    assert_eq!(r.code, 0, "{r:?}");
    let got = wait_for(&b, 1, 2).await;
    assert_eq!(
        got.iter().map(body).collect::<Vec<_>>(),
        ["to-commit", "unknown"]
    );
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oneway_end_transaction_commits() {
    let b = start_broker(|c| c.transaction_check_interval = 3_600_000).await;
    let half = send_half(&b, 0, "oneway").await;
    let mut request = end(&end_header(&half, sysflag::TRANSACTION_COMMIT));
    request.mark_oneway();
    b.client
        .invoke_oneway(&b.addr, request)
        .await
        .expect("oneway request sent");
    let got = wait_for(&b, 0, 1).await;
    assert_eq!(got.iter().map(body).collect::<Vec<_>>(), ["oneway"]);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mismatched_or_missing_half_messages_get_clear_errors() {
    let b = start_broker(|c| c.transaction_check_interval = 3_600_000).await;
    let half = send_half(&b, 0, "checked").await;
    // A plain message: not a half message.
    let plain = b
        .invoke(bsend_common::send_v2(
            TOPIC,
            0,
            &props(&[("TAGS", "T")]),
            b"plain",
        ))
        .await;
    assert_eq!(plain.code, 0);
    let plain: SendMessageResponseHeader = plain.decode_header().unwrap();

    let cases: Vec<(EndTransactionRequestHeader, &str)> = vec![
        (
            EndTransactionRequestHeader {
                producer_group: "someone-else".into(),
                ..end_header(&half, sysflag::TRANSACTION_COMMIT)
            },
            "producer group",
        ),
        (
            EndTransactionRequestHeader {
                tran_state_table_offset: half.queue_offset + 7,
                ..end_header(&half, sysflag::TRANSACTION_COMMIT)
            },
            "transaction state table offset",
        ),
        (
            EndTransactionRequestHeader {
                commit_log_offset: 1 << 40,
                ..end_header(&half, sysflag::TRANSACTION_ROLLBACK)
            },
            "Find prepared transaction message failed",
        ),
        (
            EndTransactionRequestHeader {
                commit_log_offset: -5,
                ..end_header(&half, sysflag::TRANSACTION_COMMIT)
            },
            "Find prepared transaction message failed",
        ),
        (
            // Inside the half message's record, not at its start.
            EndTransactionRequestHeader {
                commit_log_offset: end_header(&half, 0).commit_log_offset + 3,
                ..end_header(&half, sysflag::TRANSACTION_COMMIT)
            },
            "Find prepared transaction message failed",
        ),
        (
            end_header(&plain, sysflag::TRANSACTION_COMMIT),
            "not a half message",
        ),
        (
            EndTransactionRequestHeader {
                commit_or_rollback: 5,
                ..end_header(&half, sysflag::TRANSACTION_COMMIT)
            },
            "commitOrRollback 5",
        ),
    ];
    for (header, expected) in cases {
        let r = b.invoke(end(&header)).await;
        assert_eq!(
            r.code,
            i32::from(ResponseCode::SystemError),
            "{expected}: {r:?}"
        );
        let remark = r.remark.unwrap_or_default();
        assert!(
            remark.contains(expected),
            "`{remark}` should mention `{expected}`"
        );
    }
    // A header missing required fields.
    let r = b
        .invoke(RemotingCommand::request(RequestCode::EndTransaction))
        .await;
    assert_eq!(r.code, i32::from(ResponseCode::SystemError), "{r:?}");
    // Nothing was committed by any of that; the right header still works.
    assert_eq!(
        wait_for(&b, 0, 1)
            .await
            .iter()
            .map(body)
            .collect::<Vec<_>>(),
        ["plain"]
    );
    let r = b
        .invoke(end(&end_header(&half, sysflag::TRANSACTION_COMMIT)))
        .await;
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        wait_for(&b, 0, 2)
            .await
            .iter()
            .map(body)
            .collect::<Vec<_>>(),
        ["plain", "checked"]
    );
    b.stop().await;
}
