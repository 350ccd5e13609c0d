//! TransactionProducer against in-process fake servers.

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sluice_client::producer::FnTransactionListener;
use sluice_client::{LocalTransactionState, Message, MessageExt, Producer, TransactionProducer};
use sluice_remoting::header::CheckTransactionStateRequestHeader;
use sluice_remoting::message::MessageRecord;
use sluice_remoting::{RemotingCommand, RequestCode};
use support::{request_properties, FakeBroker, FakeNameServer};

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never happened: {what}");
}

fn listener() -> FnTransactionListener<
    impl Fn(&Message, &sluice_client::SendResult) -> std::future::Ready<LocalTransactionState>
        + Send
        + Sync,
    impl Fn(MessageExt) -> std::future::Ready<LocalTransactionState> + Send + Sync,
> {
    FnTransactionListener {
        execute: |msg: &Message, _r: &sluice_client::SendResult| {
            std::future::ready(if msg.body.as_ref() == b"commit" {
                LocalTransactionState::CommitMessage
            } else {
                LocalTransactionState::Unknow
            })
        },
        check: |msg: MessageExt| {
            std::future::ready(if msg.body().as_ref() == b"undecided" {
                LocalTransactionState::RollbackMessage
            } else {
                LocalTransactionState::CommitMessage
            })
        },
    }
}

#[tokio::test]
async fn half_message_then_commit_and_check_back_answers() {
    let ns = FakeNameServer::start().await;
    let broker = FakeBroker::start("broker-a").await;
    ns.set_route("T", &[("broker-a", &broker.addr())], 1);
    let tp = TransactionProducer::new(
        Producer::builder("tx-group").namesrv_addr(ns.addr()),
        listener(),
    )
    .unwrap();
    tp.start().await.unwrap();

    let r = tp
        .send_in_transaction(Message::new("T", "commit"), Duration::from_secs(3))
        .await
        .unwrap();
    assert_eq!(r.local_state, LocalTransactionState::CommitMessage);
    let send = &broker.state.requests(RequestCode::SendMessageV2)[0];
    assert_eq!(send.ext("f"), Some("4"), "PREPARED sysflag");
    let props = request_properties(send);
    assert_eq!(props.get("TRAN_MSG"), Some("true"));
    assert_eq!(props.get("PGROUP"), Some("tx-group"));
    let state = broker.state.clone();
    eventually("END_TRANSACTION", || {
        state.count(RequestCode::EndTransaction) == 1
    })
    .await;
    let end = &broker.state.requests(RequestCode::EndTransaction)[0];
    let stored = &broker.state.stored("T", 0)[0];
    assert!(end.is_oneway());
    assert_eq!(end.ext("commitOrRollback"), Some("8"));
    assert_eq!(end.ext("fromTransactionCheck"), Some("false"));
    assert_eq!(end.ext("producerGroup"), Some("tx-group"));
    assert_eq!(end.ext("msgId"), Some(r.send.msg_id.as_str()));
    assert_eq!(end.ext("tranStateTableOffset"), Some("0"));
    assert_eq!(
        end.ext("commitLogOffset"),
        Some(stored.physical_offset.to_string().as_str())
    );

    // The broker asks about an undecided half message; the listener says roll back.
    let mut buf = BytesMut::new();
    MessageRecord {
        topic: "T".into(),
        body: Bytes::from_static(b"undecided"),
        properties: "PGROUP\u{1}tx-group\u{2}UNIQ_KEY\u{1}ABC\u{2}TRAN_MSG\u{1}true\u{2}".into(),
        physical_offset: 4242,
        store_host: broker.server.local_addr(),
        ..Default::default()
    }
    .encode(&mut buf);
    let header = CheckTransactionStateRequestHeader {
        topic: Some("T".into()),
        tran_state_table_offset: 7,
        commit_log_offset: 4242,
        msg_id: Some("ABC".into()),
        transaction_id: Some("ABC".into()),
        ..Default::default()
    };
    for channel in broker.server.channels() {
        let mut check = RemotingCommand::request(RequestCode::CheckTransactionState)
            .with_header(&header)
            .with_body(buf.clone().freeze());
        check.mark_oneway();
        let _ = channel.send_oneway(check);
    }
    eventually("check answered", || {
        state.count(RequestCode::EndTransaction) == 2
    })
    .await;
    let answer = &broker.state.requests(RequestCode::EndTransaction)[1];
    assert_eq!(answer.ext("commitOrRollback"), Some("12"));
    assert_eq!(answer.ext("fromTransactionCheck"), Some("true"));
    assert_eq!(answer.ext("tranStateTableOffset"), Some("7"));
    assert_eq!(answer.ext("commitLogOffset"), Some("4242"));
    assert_eq!(answer.ext("msgId"), Some("ABC"));
    tp.shutdown().await;
}
