//! Bad input at a real broker process, over raw frames (issue 4, "Done when"): each gets the
//! response code the reference gives, with a remark where a user needs one, and the broker keeps
//! running. One broker for the whole file (autoCreateTopicEnable=false, maxMessageSize=1024).
#![cfg(feature = "broker")]

use std::time::{SystemTime, UNIX_EPOCH};

use sluice_tests::raw::{java_header, RawConnection, RawFrame};
use sluice_tests::{broker_bin, nameserver_bin, BrokerSpec, Cluster};

const SEND_MESSAGE_V2: i32 = 310;
const PULL_MESSAGE: i32 = 11;
const MAX_MESSAGE_SIZE: usize = 1024;

fn now_millis() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
        .to_string()
}

async fn send_v2(conn: &mut RawConnection, opaque: i32, topic: &str, body: &[u8]) -> RawFrame {
    let born = now_millis();
    let header = java_header(
        SEND_MESSAGE_V2,
        479,
        opaque,
        &[
            ("a", "it-bad-input-producer"),
            ("b", topic),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "0"),
            ("f", "0"),
            ("g", &born),
            ("h", "0"),
            ("i", "WAIT\u{1}true\u{2}"),
            ("j", "0"),
            ("k", "false"),
            ("m", "false"),
        ],
    );
    conn.request(&header, body)
        .await
        .unwrap_or_else(|e| panic!("send to {topic}: {e}"))
}

fn remark_of(frame: &RawFrame) -> String {
    frame.remark().unwrap_or_default().to_string()
}

#[tokio::test]
async fn bad_input_is_refused_with_the_reference_codes() {
    let spec = BrokerSpec::default()
        .with("autoCreateTopicEnable", "false")
        .with("maxMessageSize", &MAX_MESSAGE_SIZE.to_string());
    let mut cluster = Cluster::start(nameserver_bin!(), broker_bin!(), 1, vec![spec])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The broker's own topic (named after it, perm 7) exists from the start.
    let existing = cluster.broker().spec.broker_name.clone();
    let mut conn = RawConnection::connect(cluster.broker().socket_addr())
        .await
        .unwrap();

    // A message that fits is stored: the baseline the refusals below differ from.
    let ok = send_v2(&mut conn, 1, &existing, b"fits").await;
    assert_eq!(
        ok.code(),
        Some(0),
        "{:?}\n{}",
        ok.header,
        cluster.log_tails()
    );

    // Unknown topic with auto-creation off → TOPIC_NOT_EXIST (17), saying which topic.
    let unknown = send_v2(&mut conn, 2, "NoSuchTopicHere", b"x").await;
    assert_eq!(unknown.code(), Some(17), "{:?}", unknown.header);
    assert!(
        remark_of(&unknown).contains("NoSuchTopicHere"),
        "remark should name the topic: {:?}",
        unknown.header
    );

    // Body over maxMessageSize → MESSAGE_ILLEGAL (13) with a remark.
    let big = vec![b'x'; MAX_MESSAGE_SIZE + 1];
    let too_big = send_v2(&mut conn, 3, &existing, &big).await;
    assert_eq!(too_big.code(), Some(13), "{:?}", too_big.header);
    assert!(
        !remark_of(&too_big).is_empty(),
        "MESSAGE_ILLEGAL needs a remark: {:?}",
        too_big.header
    );

    // Illegal topic name → refused with a remark, never stored.
    let illegal = send_v2(&mut conn, 4, "bad topic/name", b"x").await;
    assert_ne!(
        illegal.code(),
        Some(0),
        "illegal topic name accepted: {:?}",
        illegal.header
    );
    assert!(
        remark_of(&illegal).to_lowercase().contains("topic"),
        "remark should explain the topic name: {:?}",
        illegal.header
    );

    // Pull far beyond the max offset → PULL_OFFSET_MOVED (21) with the corrected nextBeginOffset.
    let pull = java_header(
        PULL_MESSAGE,
        479,
        5,
        &[
            ("consumerGroup", "it-bad-input-group"),
            ("topic", &existing),
            ("queueId", "0"),
            ("queueOffset", "100000"),
            ("maxMsgNums", "32"),
            // FLAG_SUBSCRIPTION: the subscription travels with the pull (no heartbeat needed).
            ("sysFlag", "4"),
            ("commitOffset", "0"),
            ("suspendTimeoutMillis", "0"),
            ("subscription", "*"),
            ("subVersion", "0"),
            ("expressionType", "TAG"),
        ],
    );
    let moved = conn.request(&pull, b"").await.unwrap();
    assert_eq!(moved.code(), Some(21), "{:?}", moved.header);
    let next = moved
        .ext("nextBeginOffset")
        .and_then(|v| v.as_str())
        .and_then(|v| v.parse::<i64>().ok());
    assert!(
        next.is_some_and(|n| (0..=1).contains(&n)),
        "nextBeginOffset must be corrected into [min, max]: {:?}",
        moved.header
    );

    // None of that took the broker down.
    assert!(
        cluster.broker_mut().process.is_running(),
        "{}",
        cluster.log_tails()
    );
    let after = send_v2(&mut conn, 6, &existing, b"still fine").await;
    assert_eq!(after.code(), Some(0), "{:?}", after.header);
}
