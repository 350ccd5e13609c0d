//! PushConsumer behaviour against in-process fake servers.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_client::consumer::ConsumeFromWhere;
use sluice_client::{ConsumeContext, ConsumeStatus, MessageExt, PushConsumer};
use sluice_remoting::header::NotifyConsumerIdsChangedRequestHeader;
use sluice_remoting::{RemotingCommand, RequestCode};
use support::{FakeBroker, FakeNameServer};
use tokio::sync::mpsc;

async fn setup(queues: i32) -> (FakeNameServer, FakeBroker) {
    let ns = FakeNameServer::start().await;
    let broker = FakeBroker::start("broker-a").await;
    ns.set_route("T", &[("broker-a", &broker.addr())], queues);
    (ns, broker)
}

/// Waits (bounded) until `check` holds; the bound only stops a broken test from hanging.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never happened: {what}");
}

fn collecting(
    group: &str,
    ns: &FakeNameServer,
    fail_body: Option<&'static str>,
) -> (PushConsumer, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let failed_once = Arc::new(Mutex::new(false));
    let consumer = PushConsumer::builder(group)
        .namesrv_addr(ns.addr())
        .subscribe("T", "*")
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
            let tx = tx.clone();
            let failed_once = failed_once.clone();
            async move {
                for m in &msgs {
                    let body = String::from_utf8_lossy(m.body()).into_owned();
                    if Some(body.as_str()) == fail_body
                        && !std::mem::replace(&mut *failed_once.lock().unwrap(), true)
                    {
                        return ConsumeStatus::ReconsumeLater;
                    }
                    let _ = tx.send(body);
                }
                ConsumeStatus::ConsumeSuccess
            }
        })
        .build()
        .unwrap();
    (consumer, rx)
}

#[tokio::test]
async fn every_message_reaches_the_listener_and_offsets_are_stored() {
    let (ns, broker) = setup(2).await;
    for i in 0..10 {
        broker.state.put("T", i % 2, format!("m{i}").as_bytes(), "");
    }
    let (c, mut rx) = collecting("G", &ns, None);
    *broker.state.consumer_ids.lock().unwrap() = vec![c.instance().client_id.clone()];
    c.start().await.unwrap();
    let mut got = Vec::new();
    while got.len() < 10 {
        got.push(
            tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    // A message that arrives later is delivered by a held pull.
    broker.state.put("T", 1, b"late", "");
    let late = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(late, "late");
    got.sort();
    let mut want: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    want.sort();
    assert_eq!(got, want);
    c.shutdown().await;
    let offsets = broker.state.offsets.lock().unwrap().clone();
    assert_eq!(offsets.get(&("G".into(), "T".into(), 0)), Some(&5));
    assert_eq!(offsets.get(&("G".into(), "T".into(), 1)), Some(&6));
    // The heartbeat said what this consumer is.
    let hb = broker.state.requests(RequestCode::HeartBeat);
    let body = String::from_utf8(hb[0].body.to_bytes().to_vec()).unwrap();
    assert!(body.contains("CONSUME_PASSIVELY"), "{body}");
    assert!(body.contains("%RETRY%G"), "{body}");
}

#[tokio::test]
async fn reconsume_later_sends_the_message_back() {
    let (ns, broker) = setup(1).await;
    for body in ["ok1", "bad", "ok2"] {
        broker.state.put("T", 0, body.as_bytes(), "");
    }
    let (c, mut rx) = collecting("G", &ns, Some("bad"));
    *broker.state.consumer_ids.lock().unwrap() = vec![c.instance().client_id.clone()];
    c.start().await.unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        got.push(
            tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    got.sort();
    assert_eq!(got, ["ok1", "ok2"]);
    let state = broker.state.clone();
    eventually("send-back", || {
        state.count(RequestCode::ConsumerSendMsgBack) == 1
    })
    .await;
    let back = &broker.state.requests(RequestCode::ConsumerSendMsgBack)[0];
    let bad = &broker.state.stored("T", 0)[1];
    assert_eq!(
        back.ext("offset"),
        Some(bad.physical_offset.to_string().as_str())
    );
    assert_eq!(back.ext("group"), Some("G"));
    assert_eq!(back.ext("delayLevel"), Some("0"));
    assert_eq!(back.ext("maxReconsumeTimes"), Some("16"));
    // Sent back means done here: the offset moves past it.
    let queue = sluice_client::MessageQueue::new("T", "broker-a", 0);
    eventually("offset past the failed message", || {
        c.offset(&queue) == Some(3)
    })
    .await;
    c.shutdown().await;
}

#[tokio::test]
async fn members_share_queues_and_rebalance_when_notified() {
    let (ns, broker) = setup(4).await;
    let (c1, _rx1) = collecting("G", &ns, None);
    let (c2, _rx2) = collecting("G", &ns, None);
    let mut ids = vec![
        c1.instance().client_id.clone(),
        c2.instance().client_id.clone(),
    ];
    ids.sort();
    *broker.state.consumer_ids.lock().unwrap() = ids;
    c1.start().await.unwrap();
    c2.start().await.unwrap();
    let (a1, a2) = (c1.assignment(), c2.assignment());
    assert_eq!((a1.len(), a2.len()), (2, 2));
    assert!(a1.iter().all(|q| !a2.contains(q)));
    // c2 leaves; the broker tells the group, c1 takes every queue.
    c2.shutdown().await;
    *broker.state.consumer_ids.lock().unwrap() = vec![c1.instance().client_id.clone()];
    let header = NotifyConsumerIdsChangedRequestHeader {
        consumer_group: "G".into(),
        ..Default::default()
    };
    for channel in broker.server.channels() {
        let mut note =
            RemotingCommand::request(RequestCode::NotifyConsumerIdsChanged).with_header(&header);
        note.mark_oneway();
        let _ = channel.send_oneway(note);
    }
    eventually("c1 owns all four queues", || c1.assignment().len() == 4).await;
    c1.shutdown().await;
}

#[tokio::test]
async fn builder_refuses_incomplete_consumers() {
    let ns = FakeNameServer::start().await;
    let err = PushConsumer::builder("G")
        .namesrv_addr(ns.addr())
        .subscribe("T", "*")
        .build()
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("listener"), "{err}");
    let err = PushConsumer::builder("G")
        .namesrv_addr(ns.addr())
        .listener(|_m: Vec<MessageExt>, _c: ConsumeContext| async { ConsumeStatus::ConsumeSuccess })
        .build()
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("subscription"), "{err}");
    // A topic nobody knows fails the start with a clear error.
    let c = PushConsumer::builder("G")
        .namesrv_addr(ns.addr())
        .subscribe("Missing", "*")
        .listener(|_m: Vec<MessageExt>, _c: ConsumeContext| async { ConsumeStatus::ConsumeSuccess })
        .build()
        .unwrap();
    let err = c.start().await.unwrap_err().to_string();
    assert!(err.contains("Missing"), "{err}");
    c.shutdown().await;
}

#[tokio::test]
async fn broadcasting_members_each_get_everything_and_resume_from_their_file() {
    let (ns, broker) = setup(2).await;
    for i in 0..6 {
        broker.state.put("T", i % 2, format!("m{i}").as_bytes(), "");
    }
    let dir = tempfile::tempdir().unwrap();
    let member = |dir: &std::path::Path, tx: mpsc::UnboundedSender<String>| {
        PushConsumer::builder("B")
            .namesrv_addr(ns.addr())
            .subscribe("T", "*")
            .message_model(sluice_client::consumer::MessageModel::Broadcasting)
            .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
            .local_offset_dir(dir)
            .listener(move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
                let tx = tx.clone();
                async move {
                    for m in msgs {
                        let _ = tx.send(String::from_utf8_lossy(m.body()).into_owned());
                    }
                    ConsumeStatus::ConsumeSuccess
                }
            })
            .build()
            .unwrap()
    };
    let (dir1, dir2) = (dir.path().join("one"), dir.path().join("two"));
    let (tx1, mut rx1) = mpsc::unbounded_channel();
    let (tx2, mut rx2) = mpsc::unbounded_channel();
    let c1 = member(&dir1, tx1);
    let c2 = member(&dir2, tx2.clone());
    c1.start().await.unwrap();
    c2.start().await.unwrap();
    for rx in [&mut rx1, &mut rx2] {
        let mut got = Vec::new();
        while got.len() < 6 {
            got.push(
                tokio::time::timeout(Duration::from_secs(10), rx.recv())
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        got.sort();
        assert_eq!(got, ["m0", "m1", "m2", "m3", "m4", "m5"]);
    }
    assert_eq!(c1.assignment().len(), 2);
    // Broadcasting needs no member list and stores nothing on the broker.
    assert_eq!(broker.state.count(RequestCode::GetConsumerListByGroup), 0);
    c2.shutdown().await;
    assert!(broker.state.offsets.lock().unwrap().is_empty());
    // c2 comes back: it resumes after what it consumed, from its own file.
    broker.state.put("T", 0, b"new", "");
    let c2 = member(&dir2, tx2);
    c2.start().await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), rx2.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next, "new");
    c1.shutdown().await;
    c2.shutdown().await;
}

#[tokio::test]
async fn orderly_listener_keeps_queue_order_through_a_suspension() {
    use sluice_client::consumer::push::{OrderlyFn, OrderlyStatus};
    let (ns, broker) = setup(1).await;
    for i in 0..5 {
        broker.state.put("T", 0, format!("m{i}").as_bytes(), "");
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let suspended = Arc::new(Mutex::new(false));
    let c = PushConsumer::builder("O")
        .namesrv_addr(ns.addr())
        .subscribe("T", "*")
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .orderly_listener(OrderlyFn(
            move |msgs: Vec<MessageExt>, _ctx: ConsumeContext| {
                let tx = tx.clone();
                let suspended = suspended.clone();
                async move {
                    let body = String::from_utf8_lossy(msgs[0].body()).into_owned();
                    let _ = tx.send(body.clone());
                    if body == "m2" && !std::mem::replace(&mut *suspended.lock().unwrap(), true) {
                        return OrderlyStatus::SuspendCurrentQueueAMoment;
                    }
                    OrderlyStatus::Success
                }
            },
        ))
        .build()
        .unwrap();
    *broker.state.consumer_ids.lock().unwrap() = vec![c.instance().client_id.clone()];
    c.start().await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 6 {
        seen.push(
            tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert_eq!(seen, ["m0", "m1", "m2", "m2", "m3", "m4"]);
    assert!(broker.state.count(RequestCode::LockBatchMq) >= 1);
    let queue = sluice_client::MessageQueue::new("T", "broker-a", 0);
    eventually("offset after the last message", || {
        c.offset(&queue) == Some(5)
    })
    .await;
    c.shutdown().await;
    let state = broker.state.clone();
    eventually("unlock at shutdown", || {
        state.count(RequestCode::UnlockBatchMq) >= 1
    })
    .await;
    // Concurrent and orderly listeners exclude each other.
    let both = PushConsumer::builder("O")
        .namesrv_addr(ns.addr())
        .subscribe("T", "*")
        .listener(|_m: Vec<MessageExt>, _c: ConsumeContext| async { ConsumeStatus::ConsumeSuccess })
        .orderly_listener(OrderlyFn(|_m: Vec<MessageExt>, _c: ConsumeContext| async {
            OrderlyStatus::Success
        }))
        .build();
    assert!(both.is_err());
}

#[tokio::test]
async fn a_broker_offset_reset_restarts_the_queue() {
    use sluice_remoting::body::{JsonBody, ResetOffsetBody};
    use sluice_remoting::header::ResetOffsetRequestHeader;
    let (ns, broker) = setup(1).await;
    for i in 0..3 {
        broker.state.put("T", 0, format!("m{i}").as_bytes(), "");
    }
    let (c, mut rx) = collecting("G", &ns, None);
    *broker.state.consumer_ids.lock().unwrap() = vec![c.instance().client_id.clone()];
    c.start().await.unwrap();
    for want in ["m0", "m1", "m2"] {
        let got = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, want);
    }
    let queue = sluice_client::MessageQueue::new("T", "broker-a", 0);
    let mut body = ResetOffsetBody::default();
    body.offset_table.insert(queue.clone(), 1);
    let header = ResetOffsetRequestHeader {
        topic: "T".into(),
        group: "G".into(),
        timestamp: 0,
        is_force: true,
        ..Default::default()
    };
    for channel in broker.server.channels() {
        let mut reset = RemotingCommand::request(RequestCode::ResetConsumerClientOffset)
            .with_header(&header)
            .with_body(body.encode());
        reset.mark_oneway();
        let _ = channel.send_oneway(reset);
    }
    for want in ["m1", "m2"] {
        let got = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, want);
    }
    eventually("offset back at the end", || c.offset(&queue) == Some(3)).await;
    c.shutdown().await;
}
