//! Producer behaviour against an in-process fake NameServer and fake brokers.

mod support;

use std::time::Duration;

use sluice_client::{ClientError, Message, MessageQueue, Producer, SendStatus};
use sluice_remoting::message::batch::decode_batch;
use sluice_remoting::message::compression::decompress;
use sluice_remoting::{RequestCode, ResponseCode};
use support::{request_properties, FakeBroker, FakeNameServer};

const T: Duration = Duration::from_secs(3);

async fn producer(ns: &FakeNameServer) -> Producer {
    let p = Producer::builder("test-producer")
        .namesrv_addr(ns.addr())
        .build()
        .unwrap();
    p.start().await.unwrap();
    p
}

async fn two_brokers(topic: &str) -> (FakeNameServer, FakeBroker, FakeBroker) {
    let ns = FakeNameServer::start().await;
    let a = FakeBroker::start("broker-a").await;
    let b = FakeBroker::start("broker-b").await;
    ns.set_route(
        topic,
        &[("broker-a", &a.addr()), ("broker-b", &b.addr())],
        2,
    );
    (ns, a, b)
}

#[tokio::test]
async fn send_delivers_properties_and_reports_the_result() {
    let (ns, a, b) = two_brokers("T").await;
    let p = producer(&ns).await;
    let msg = Message::new("T", "hello")
        .with_tags("TagA")
        .with_keys(["order-1", "order-2"])
        .with_property("region", "eu")
        .with_delay_level(2)
        .with_flag(7);
    let result = p.send(msg, T).await.unwrap();
    assert_eq!(result.status, SendStatus::SendOk);
    assert_eq!(result.msg_id.len(), 32, "UNIQ_KEY of an IPv4 client");
    assert_eq!(result.region_id, "DefaultRegion");
    let broker = if result.queue.broker_name == "broker-a" {
        &a
    } else {
        &b
    };
    let sends = broker.state.requests(RequestCode::SendMessageV2);
    assert_eq!(sends.len(), 1);
    let props = request_properties(&sends[0]);
    assert_eq!(props.get("UNIQ_KEY"), Some(result.msg_id.as_str()));
    assert_eq!(props.get("TAGS"), Some("TagA"));
    assert_eq!(props.get("KEYS"), Some("order-1 order-2"));
    assert_eq!(props.get("region"), Some("eu"));
    assert_eq!(props.get("DELAY"), Some("2"));
    assert_eq!(sends[0].ext("h"), Some("7"));
    assert_eq!(sends[0].ext("a"), Some("test-producer"));
    assert_eq!(sends[0].ext("n"), Some(result.queue.broker_name.as_str()));
    let stored = broker.state.stored("T", result.queue.queue_id);
    assert_eq!(&stored[0].body[..], b"hello");
    assert_eq!(result.queue_offset, 0);
    assert_eq!(
        result.offset_msg_id,
        sluice_remoting::message::msgid::create_offset_msg_id(
            broker.server.local_addr(),
            stored[0].physical_offset
        )
    );
    // The producer group reached the brokers through heartbeats.
    p.instance().send_heartbeat_to_all().await;
    assert!(a.state.count(RequestCode::HeartBeat) + b.state.count(RequestCode::HeartBeat) >= 2);
    p.shutdown().await;
    assert!(a.state.count(RequestCode::UnregisterClient) >= 1);
}

#[tokio::test]
async fn sends_round_robin_over_every_queue() {
    let (ns, a, b) = two_brokers("T").await;
    let p = producer(&ns).await;
    for i in 0..8 {
        p.send(Message::new("T", format!("m{i}")), T).await.unwrap();
    }
    for broker in [&a, &b] {
        for q in 0..2 {
            assert_eq!(
                broker.state.stored("T", q).len(),
                2,
                "{} queue {q}",
                broker.state.name
            );
        }
    }
}

#[tokio::test]
async fn retryable_failure_goes_to_another_broker_and_the_bad_one_is_avoided() {
    let (ns, a, b) = two_brokers("T").await;
    a.always(Some(ResponseCode::ServiceNotAvailable));
    let p = producer(&ns).await;
    for i in 0..6 {
        let r = p.send(Message::new("T", format!("m{i}")), T).await.unwrap();
        assert_eq!(r.queue.broker_name, "broker-b");
    }
    assert_eq!(b.state.stored_total("T"), 6);
    // At most one attempt reached the failing broker: afterwards fault avoidance skipped it.
    assert!(a.state.count(RequestCode::SendMessageV2) <= 1);
    assert_eq!(a.state.stored_total("T"), 0);
}

#[tokio::test]
async fn a_dead_broker_is_skipped() {
    let ns = FakeNameServer::start().await;
    let b = FakeBroker::start("broker-b").await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap().to_string();
    drop(dead);
    ns.set_route("T", &[("broker-a", &dead_addr), ("broker-b", &b.addr())], 1);
    let p = producer(&ns).await;
    for _ in 0..4 {
        let r = p.send(Message::new("T", "x"), T).await.unwrap();
        assert_eq!(r.queue.broker_name, "broker-b");
    }
    assert_eq!(b.state.stored_total("T"), 4);
}

#[tokio::test]
async fn non_retryable_failure_is_returned_at_once_with_details() {
    let (ns, a, b) = two_brokers("T").await;
    a.always(Some(ResponseCode::MessageIllegal));
    b.always(Some(ResponseCode::MessageIllegal));
    let p = producer(&ns).await;
    let err = p.send(Message::new("T", "x"), T).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("MESSAGE_ILLEGAL(13)"), "{text}");
    assert!(text.contains("scripted failure"), "{text}");
    assert!(
        text.contains(&a.addr()) || text.contains(&b.addr()),
        "{text}"
    );
    assert_eq!(err.response_code(), Some(13));
    let attempts =
        a.state.count(RequestCode::SendMessageV2) + b.state.count(RequestCode::SendMessageV2);
    assert_eq!(attempts, 1);
}

#[tokio::test]
async fn every_broker_failing_reports_all_attempts() {
    let (ns, a, b) = two_brokers("T").await;
    a.always(Some(ResponseCode::SystemBusy));
    b.always(Some(ResponseCode::SystemBusy));
    let p = producer(&ns).await;
    let err = p.send(Message::new("T", "x"), T).await.unwrap_err();
    match &err {
        ClientError::SendFailed {
            attempts, topic, ..
        } => {
            assert_eq!(*attempts, 3);
            assert_eq!(topic, "T");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("SYSTEM_BUSY"), "{err}");
    let attempts =
        a.state.count(RequestCode::SendMessageV2) + b.state.count(RequestCode::SendMessageV2);
    assert_eq!(attempts, 3);
}

#[tokio::test]
async fn stored_but_not_durable_is_a_status_not_an_error() {
    let ns = FakeNameServer::start().await;
    let a = FakeBroker::start("broker-a").await;
    ns.set_route("T", &[("broker-a", &a.addr())], 1);
    a.script(&[
        ResponseCode::FlushDiskTimeout,
        ResponseCode::FlushSlaveTimeout,
        ResponseCode::SlaveNotAvailable,
    ]);
    let p = producer(&ns).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(p.send(Message::new("T", "x"), T).await.unwrap().status);
    }
    assert_eq!(
        statuses,
        [
            SendStatus::FlushDiskTimeout,
            SendStatus::FlushSlaveTimeout,
            SendStatus::SlaveNotAvailable
        ]
    );
    // Not retried: one request per send.
    assert_eq!(a.state.count(RequestCode::SendMessageV2), 3);
}

#[tokio::test]
async fn large_bodies_travel_compressed() {
    let ns = FakeNameServer::start().await;
    let a = FakeBroker::start("broker-a").await;
    ns.set_route("T", &[("broker-a", &a.addr())], 1);
    let p = producer(&ns).await;
    let body: Vec<u8> = (0..10_000u32).map(|i| (i % 7) as u8).collect();
    p.send(Message::new("T", body.clone()), T).await.unwrap();
    p.send(Message::new("T", "small"), T).await.unwrap();
    let sends = a.state.requests(RequestCode::SendMessageV2);
    assert_eq!(sends[0].ext("f"), Some("769"), "COMPRESSED | ZLIB = 0x301");
    let wire = sends[0].body.to_bytes();
    assert!(wire.len() < body.len());
    assert_eq!(&decompress(0x301, &wire).unwrap()[..], &body[..]);
    assert_eq!(sends[1].ext("f"), Some("0"));
}

#[tokio::test]
async fn batch_goes_as_one_request_with_every_message() {
    let ns = FakeNameServer::start().await;
    let a = FakeBroker::start("broker-a").await;
    ns.set_route("T", &[("broker-a", &a.addr())], 1);
    let p = producer(&ns).await;
    let msgs = (0..5).map(|i| Message::new("T", format!("m{i}")).with_tags("B"));
    let r = p.send_batch(msgs, T).await.unwrap();
    assert_eq!(r.msg_id.split(',').count(), 5);
    assert_eq!(r.offset_msg_id.split(',').count(), 5);
    let sends = a.state.requests(RequestCode::SendBatchMessage);
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].ext("m"), Some("true"));
    let items = decode_batch(&sends[0].body.to_bytes()).unwrap();
    assert_eq!(items.len(), 5);
    assert_eq!(&items[4].body[..], b"m4");
    let stored = a.state.stored("T", 0);
    assert_eq!(stored.len(), 5);
    let keys: Vec<String> = stored
        .iter()
        .map(|m| {
            sluice_remoting::message::Properties::decode(&m.properties)
                .get("UNIQ_KEY")
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(r.msg_id, keys.join(","));
}

#[tokio::test]
async fn unknown_topic_is_sent_through_the_template_route() {
    let ns = FakeNameServer::start().await;
    let a = FakeBroker::start("broker-a").await;
    ns.set_route("TBW102", &[("broker-a", &a.addr())], 8);
    let p = producer(&ns).await;
    let r = p.send(Message::new("BrandNew", "x"), T).await.unwrap();
    assert_eq!(r.queue.topic, "BrandNew");
    assert!(
        r.queue.queue_id < 4,
        "template queues capped at defaultTopicQueueNums"
    );
    let sends = a.state.requests(RequestCode::SendMessageV2);
    assert_eq!(sends[0].ext("b"), Some("BrandNew"));
    assert_eq!(sends[0].ext("c"), Some("TBW102"));
    assert_eq!(sends[0].ext("d"), Some("4"));
    // Without a template either, the error says so.
    let ns2 = FakeNameServer::start().await;
    let p2 = producer(&ns2).await;
    let err = p2
        .send(Message::new("Nope", "x"), T)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("Nope") && err.contains("TBW102"), "{err}");
}

#[tokio::test]
async fn async_oneway_and_ordered_sends() {
    let (ns, a, b) = two_brokers("T").await;
    let p = producer(&ns).await;
    let futures: Vec<_> = (0..10)
        .map(|i| p.send_async(Message::new("T", format!("a{i}")), T))
        .collect();
    for f in futures {
        assert_eq!(f.await.unwrap().status, SendStatus::SendOk);
    }
    p.send_oneway(Message::new("T", "oneway")).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    p.send_with_callback(Message::new("T", "cb"), T, move |r| {
        let _ = tx.send(r.map(|r| r.status));
    });
    assert_eq!(rx.await.unwrap().unwrap(), SendStatus::SendOk);
    // Ordered: every message of one order id lands in the same queue, in order.
    let target = MessageQueue::new("T", "broker-b", 1);
    for i in 0..5 {
        let r = p
            .send_with_selector(
                Message::new("T", format!("order-{i}")),
                |queues, _msg| queues.iter().find(|q| **q == target).cloned(),
                T,
            )
            .await
            .unwrap();
        assert_eq!(r.queue, target);
    }
    let direct = p
        .send_to_queue(
            Message::new("T", "direct"),
            &MessageQueue::new("T", "broker-a", 0),
            T,
        )
        .await
        .unwrap();
    assert_eq!(direct.queue, MessageQueue::new("T", "broker-a", 0));
    let ordered: Vec<String> = b
        .state
        .stored("T", 1)
        .iter()
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .filter(|s| s.starts_with("order-"))
        .collect();
    assert_eq!(
        ordered,
        ["order-0", "order-1", "order-2", "order-3", "order-4"]
    );
    // The oneway message arrives eventually (no answer to wait for).
    for _ in 0..100 {
        if a.state.stored_total("T") + b.state.stored_total("T") == 10 + 1 + 1 + 5 + 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(a.state.stored_total("T") + b.state.stored_total("T"), 18);
}

#[tokio::test]
async fn unstarted_producer_and_bad_input_are_clear_errors() {
    let (ns, _a, _b) = two_brokers("T").await;
    let p = Producer::builder("g")
        .namesrv_addr(ns.addr())
        .build()
        .unwrap();
    let err = p
        .send(Message::new("T", "x"), T)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not started"), "{err}");
    p.start().await.unwrap();
    let err = p
        .send(Message::new("T", ""), T)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("empty body"), "{err}");
    assert!(Producer::builder("g")
        .namesrv_addr("nohost")
        .build()
        .is_err());
    p.shutdown().await;
    assert!(p.send(Message::new("T", "x"), T).await.is_err());
}

#[tokio::test]
async fn namesrv_rotation_skips_a_dead_nameserver() {
    let ns = FakeNameServer::start().await;
    let a = FakeBroker::start("broker-a").await;
    ns.set_route("T", &[("broker-a", &a.addr())], 1);
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap().to_string();
    drop(dead);
    let p = Producer::builder("g")
        .namesrv_addr(format!("{dead_addr};{}", ns.addr()))
        .build()
        .unwrap();
    p.start().await.unwrap();
    p.send(Message::new("T", "x"), T).await.unwrap();
    assert_eq!(ns.lookups_of("T"), 1);
    assert_eq!(a.state.stored_total("T"), 1);
}

#[tokio::test]
async fn the_route_is_looked_up_once_not_per_send() {
    let (ns, _a, _b) = two_brokers("T").await;
    let p = producer(&ns).await;
    p.instance().route("T").await.unwrap();
    for _ in 0..5 {
        p.send(Message::new("T", "x"), T).await.unwrap();
    }
    assert_eq!(ns.lookups_of("T"), 1);
    // A refresh finds the same route and keeps serving it.
    p.instance().refresh_all_routes().await;
    p.send(Message::new("T", "x"), T).await.unwrap();
    assert_eq!(ns.lookups_of("T"), 2);
}
