//! CONSUMER_SEND_MSG_BACK (36) at a real broker process over raw Java-style frames: unknown
//! group, bad offsets and a bad header get clear errors and store nothing; a valid send-back
//! lands in `%RETRY%group` after its delay level, `delayLevel` −1 goes straight to `%DLQ%group`,
//! and both topics reach the NameServer's routes. The broker runs with
//! autoCreateSubscriptionGroup=false and 1 s delay levels.
#![cfg(feature = "broker")]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sluice_tests::raw::{java_header, RawConnection, RawFrame};
use sluice_tests::{broker_bin, nameserver_bin, BrokerSpec, Cluster};

const SEND_MESSAGE_V2: i32 = 310;
const GET_MAX_OFFSET: i32 = 30;
const CONSUMER_SEND_MSG_BACK: i32 = 36;
const UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: i32 = 200;
const QUERY_MESSAGE: i32 = 12;

const SUCCESS: i64 = 0;
const SYSTEM_ERROR: i64 = 1;
const SUBSCRIPTION_GROUP_NOT_EXIST: i64 = 26;

fn now_millis() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
        .to_string()
}

fn ext_str(frame: &RawFrame, key: &str) -> String {
    match frame.ext(key) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => panic!("no {key} in {:?}", frame.header),
    }
}

/// Sends one message with keys to `topic` queue 0; returns its CommitLog offset.
async fn send(conn: &mut RawConnection, opaque: i32, topic: &str, body: &[u8]) -> i64 {
    let born = now_millis();
    let header = java_header(
        SEND_MESSAGE_V2,
        479,
        opaque,
        &[
            ("a", "it-send-back-producer"),
            ("b", topic),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "0"),
            ("f", "0"),
            ("g", &born),
            ("h", "0"),
            (
                "i",
                "KEYS\u{1}sb-key\u{2}TAGS\u{1}TagSB\u{2}WAIT\u{1}true\u{2}",
            ),
            ("j", "0"),
            ("k", "false"),
            ("m", "false"),
        ],
    );
    let answer = conn.request(&header, body).await.unwrap();
    assert_eq!(answer.code(), Some(SUCCESS), "{:?}", answer.header);
    // The offset msgId ends with the CommitLog offset as 16 hex digits.
    let msg_id = ext_str(&answer, "msgId");
    i64::from_str_radix(&msg_id[msg_id.len() - 16..], 16).unwrap()
}

async fn send_back(conn: &mut RawConnection, opaque: i32, ext: &[(&str, &str)]) -> RawFrame {
    send_back_versioned(conn, opaque, 479, ext).await
}

/// CONSUMER_SEND_MSG_BACK as a client of protocol `version` sends it.
async fn send_back_versioned(
    conn: &mut RawConnection,
    opaque: i32,
    version: i32,
    ext: &[(&str, &str)],
) -> RawFrame {
    let header = java_header(CONSUMER_SEND_MSG_BACK, version, opaque, ext);
    conn.request(&header, b"").await.unwrap()
}

async fn max_offset(conn: &mut RawConnection, opaque: i32, topic: &str) -> i64 {
    let header = java_header(
        GET_MAX_OFFSET,
        479,
        opaque,
        &[("topic", topic), ("queueId", "0")],
    );
    let answer = conn.request(&header, b"").await.unwrap();
    assert_eq!(answer.code(), Some(SUCCESS), "{:?}", answer.header);
    ext_str(&answer, "offset").parse().unwrap()
}

/// Polls GET_MAX_OFFSET of `topic` queue 0 until it reaches `n`.
async fn wait_max_offset(conn: &mut RawConnection, topic: &str, n: i64, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut opaque = 1000;
    loop {
        opaque += 1;
        let got = max_offset(conn, opaque, topic).await;
        if got >= n {
            assert_eq!(got, n, "{topic}: exactly {n} message(s)");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{topic} holds {got} message(s) after {limit:?}, expected {n}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn send_back_errors_are_clear_and_good_requests_reach_retry_and_dlq() {
    let spec = BrokerSpec::default()
        .with("autoCreateSubscriptionGroup", "false")
        .with("messageDelayLevel", &vec!["1s"; 18].join(" "));
    let cluster = Cluster::start(nameserver_bin!(), broker_bin!(), 1, vec![spec])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let topic = cluster.broker().spec.broker_name.clone();
    let mut conn = RawConnection::connect(cluster.broker().socket_addr())
        .await
        .unwrap();
    let offset = send(&mut conn, 1, &topic, b"send-back body").await;
    let offset_text = offset.to_string();

    // Unknown group (autoCreateSubscriptionGroup=false): SUBSCRIPTION_GROUP_NOT_EXIST naming it.
    let unknown = send_back(
        &mut conn,
        2,
        &[
            ("offset", &offset_text),
            ("group", "NoSuchGroup"),
            ("delayLevel", "0"),
            ("originTopic", &topic),
            ("maxReconsumeTimes", "2"),
        ],
    )
    .await;
    assert_eq!(
        unknown.code(),
        Some(SUBSCRIPTION_GROUP_NOT_EXIST),
        "{:?}",
        unknown.header
    );
    assert!(
        unknown
            .remark()
            .unwrap_or_default()
            .contains("subscription group not exist, NoSuchGroup"),
        "{:?}",
        unknown.header
    );

    // A group name no group can have: the same code, and the remark says what is wrong.
    let illegal = send_back(
        &mut conn,
        3,
        &[
            ("offset", &offset_text),
            ("group", "bad group"),
            ("delayLevel", "0"),
        ],
    )
    .await;
    assert_eq!(
        illegal.code(),
        Some(SUBSCRIPTION_GROUP_NOT_EXIST),
        "{:?}",
        illegal.header
    );
    assert!(
        illegal
            .remark()
            .unwrap_or_default()
            .contains("illegal characters"),
        "{:?}",
        illegal.header
    );

    // Create the group: one retry queue, at most 2 reconsumes.
    let group_body = serde_json::json!({
        "groupName": "G_RAW",
        "consumeEnable": true,
        "consumeFromMinEnable": true,
        "consumeBroadcastEnable": true,
        "retryQueueNums": 1,
        "retryMaxTimes": 2,
        "brokerId": 0,
        "whichBrokerWhenConsumeSlowly": 1,
        "notifyConsumerIdsChangedEnable": true
    })
    .to_string();
    let created = conn
        .request(
            &java_header(UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, 479, 3, &[]),
            group_body.as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(created.code(), Some(SUCCESS), "{:?}", created.header);

    // Offsets that hold no message: past the end, negative, inside a record.
    for (i, bad) in [offset + 1_000_000, -1, offset + 4].into_iter().enumerate() {
        let bad_text = bad.to_string();
        let answer = send_back(
            &mut conn,
            10 + i as i32,
            &[
                ("offset", &bad_text),
                ("group", "G_RAW"),
                ("delayLevel", "0"),
                ("originTopic", &topic),
            ],
        )
        .await;
        assert_eq!(answer.code(), Some(SYSTEM_ERROR), "{:?}", answer.header);
        assert_eq!(
            answer.remark(),
            Some(format!("look message by offset failed, {bad}").as_str()),
            "{:?}",
            answer.header
        );
    }
    // A header without the group field: a clear header error.
    let missing = send_back(
        &mut conn,
        20,
        &[("offset", &offset_text), ("delayLevel", "0")],
    )
    .await;
    assert_eq!(missing.code(), Some(SYSTEM_ERROR), "{:?}", missing.header);
    assert!(
        missing.remark().unwrap_or_default().contains("group"),
        "{:?}",
        missing.header
    );

    // A good send-back: SUCCESS, and after its delay (level 3 = 1 s here) the copy is in
    // %RETRY%G_RAW with one more reconsume.
    let ok = send_back(
        &mut conn,
        30,
        &[
            ("offset", &offset_text),
            ("group", "G_RAW"),
            ("delayLevel", "0"),
            ("originTopic", &topic),
            ("maxReconsumeTimes", "2"),
        ],
    )
    .await;
    assert_eq!(ok.code(), Some(SUCCESS), "{:?}", ok.header);
    wait_max_offset(&mut conn, "%RETRY%G_RAW", 1, Duration::from_secs(20)).await;

    // delayLevel −1: straight to %DLQ%G_RAW, whatever the count.
    let dead = send_back(
        &mut conn,
        31,
        &[
            ("offset", &offset_text),
            ("group", "G_RAW"),
            ("delayLevel", "-1"),
            ("originTopic", &topic),
        ],
    )
    .await;
    assert_eq!(dead.code(), Some(SUCCESS), "{:?}", dead.header);
    wait_max_offset(&mut conn, "%DLQ%G_RAW", 1, Duration::from_secs(10)).await;

    // The header's maxReconsumeTimes counts for clients >= V3_4_9 (ordinal 121): 0 sends a
    // first failure to the DLQ ...
    let header_max = send_back_versioned(
        &mut conn,
        32,
        479,
        &[
            ("offset", &offset_text),
            ("group", "G_RAW"),
            ("delayLevel", "0"),
            ("maxReconsumeTimes", "0"),
        ],
    )
    .await;
    assert_eq!(header_max.code(), Some(SUCCESS), "{:?}", header_max.header);
    wait_max_offset(&mut conn, "%DLQ%G_RAW", 2, Duration::from_secs(10)).await;
    // ... while an older client's value is ignored: the group's retryMaxTimes (2) decides.
    let old_client = send_back_versioned(
        &mut conn,
        33,
        100,
        &[
            ("offset", &offset_text),
            ("group", "G_RAW"),
            ("delayLevel", "0"),
            ("maxReconsumeTimes", "0"),
        ],
    )
    .await;
    assert_eq!(old_client.code(), Some(SUCCESS), "{:?}", old_client.header);
    wait_max_offset(&mut conn, "%RETRY%G_RAW", 2, Duration::from_secs(20)).await;
    // The bad requests stored nothing: two retry copies, two dead letters.
    assert_eq!(max_offset(&mut conn, 40, "%RETRY%G_RAW").await, 2);
    assert_eq!(max_offset(&mut conn, 41, "%DLQ%G_RAW").await, 2);

    // A group without retry queues: SUCCESS and the message is dropped, as in Apache.
    let no_retry =
        serde_json::json!({"groupName": "G_NO_RETRY", "retryQueueNums": 0, "retryMaxTimes": 2})
            .to_string();
    let created = conn
        .request(
            &java_header(UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, 479, 42, &[]),
            no_retry.as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(created.code(), Some(SUCCESS), "{:?}", created.header);
    let dropped = send_back(
        &mut conn,
        43,
        &[
            ("offset", &offset_text),
            ("group", "G_NO_RETRY"),
            ("delayLevel", "-1"),
        ],
    )
    .await;
    assert_eq!(dropped.code(), Some(SUCCESS), "{:?}", dropped.header);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(max_offset(&mut conn, 44, "%DLQ%G_NO_RETRY").await, 0);
    assert_eq!(max_offset(&mut conn, 45, "%RETRY%G_NO_RETRY").await, 0);

    // The dead letter carries the original's body and keys plus RETRY_TOPIC (index lookup).
    let deadline = Instant::now() + Duration::from_secs(10);
    let found = loop {
        let answer = conn
            .request(
                &java_header(
                    QUERY_MESSAGE,
                    479,
                    41,
                    &[
                        ("topic", "%DLQ%G_RAW"),
                        ("key", "sb-key"),
                        ("maxNum", "32"),
                        ("beginTimestamp", "0"),
                        ("endTimestamp", "9223372036854775807"),
                    ],
                ),
                b"",
            )
            .await
            .unwrap();
        if answer.code() == Some(SUCCESS) || Instant::now() >= deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(found.code(), Some(SUCCESS), "{:?}", found.header);
    let contains = |needle: &[u8]| found.body.windows(needle.len()).any(|w| w == needle);
    assert!(contains(b"send-back body"), "{:?}", found.body);
    assert!(contains(b"%DLQ%G_RAW"), "{:?}", found.body);
    assert!(
        contains(format!("RETRY_TOPIC\u{1}{topic}\u{2}").as_bytes()),
        "{:?}",
        found.body
    );
    assert!(contains(b"TAGS\x01TagSB\x02"), "{:?}", found.body);

    // Both topics are announced to the NameServer.
    for t in ["%RETRY%G_RAW", "%DLQ%G_RAW"] {
        cluster.nameservers[0]
            .wait_for_route(t, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
}
