//! Randomized bad input for every bsend request code: the broker answers each request and keeps
//! serving. Prints its seed; replay with `BSEND_SEED=<seed>`.

mod bsend_common;

use bsend_common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sluice_remoting::{RemotingCommand, RequestCode};

const CODES: [RequestCode; 12] = [
    RequestCode::SendMessage,
    RequestCode::SendMessageV2,
    RequestCode::SendBatchMessage,
    RequestCode::SendReplyMessage,
    RequestCode::SendReplyMessageV2,
    RequestCode::PullMessage,
    RequestCode::LitePullMessage,
    RequestCode::QueryMessage,
    RequestCode::ViewMessageById,
    RequestCode::GetMaxOffset,
    RequestCode::SearchOffsetByTimestamp,
    RequestCode::GetEarliestMsgStoretime,
];

/// Every key any of these headers reads, V1 and V2.
const KEYS: [&str; 32] = [
    "producerGroup",
    "topic",
    "defaultTopic",
    "defaultTopicQueueNums",
    "queueId",
    "sysFlag",
    "bornTimestamp",
    "flag",
    "properties",
    "reconsumeTimes",
    "maxReconsumeTimes",
    "a",
    "b",
    "c",
    "d",
    "e",
    "f",
    "g",
    "h",
    "i",
    "j",
    "consumerGroup",
    "queueOffset",
    "maxMsgNums",
    "commitOffset",
    "suspendTimeoutMillis",
    "subscription",
    "subVersion",
    "expressionType",
    "key",
    "maxNum",
    "offset",
];

fn value(rng: &mut StdRng) -> String {
    match rng.gen_range(0..9) {
        0 => rng.gen::<i64>().to_string(),
        1 => rng.gen_range(-3i64..40).to_string(),
        2 => "TopicG".into(),
        3 => "%RETRY%GG".into(),
        4 => "*".into(),
        5 => "SQL92".into(),
        6 => "\u{1}\u{2}TAGS\u{1}x\u{2}DELAY\u{1}99\u{2}".into(),
        7 => (0..rng.gen_range(0..300))
            .map(|_| rng.gen_range(' '..='~'))
            .collect(),
        _ => String::new(),
    }
}

/// A well-formed request of `code` on topic `TopicG`.
fn valid(code: RequestCode) -> RemotingCommand {
    let p = props(&[("TAGS", "x"), ("KEYS", "k")]);
    match code {
        RequestCode::SendMessage | RequestCode::SendReplyMessage => send_v1("TopicG", 0, &p, b"v"),
        RequestCode::SendMessageV2
        | RequestCode::SendBatchMessage
        | RequestCode::SendReplyMessageV2 => send_v2("TopicG", 0, &p, b"v"),
        RequestCode::PullMessage | RequestCode::LitePullMessage => pull(&pull_header(
            "GG",
            "TopicG",
            0,
            0,
            FLAG_SUBSCRIPTION | FLAG_SUSPEND | FLAG_COMMIT_OFFSET,
            "x || y",
            10,
        )),
        _ => {
            let mut r = RemotingCommand::request(code);
            for (k, v) in [
                ("topic", "TopicG"),
                ("queueId", "0"),
                ("key", "k"),
                ("maxNum", "32"),
                ("beginTimestamp", "0"),
                ("endTimestamp", "9999999999999"),
                ("offset", "0"),
                ("timestamp", "0"),
            ] {
                r.ext_fields.insert(k.into(), v.into());
            }
            r
        }
    }
}

#[tokio::test]
async fn random_headers_and_bodies_are_answered_without_panic() {
    let seed = std::env::var("BSEND_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("bsend garbage seed: {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let b = start_broker(|c| c.store.max_message_size = 4096).await;
    // A real topic with a message, so that some random requests get past the checks.
    assert_eq!(b.invoke(send_v1("TopicG", 0, "", b"seed")).await.code, 0);
    for round in 0..300 {
        let code = CODES[rng.gen_range(0..CODES.len())];
        // Start from a valid request of that code half of the time, so that mutations reach
        // past header decoding; otherwise start empty.
        let mut request = if rng.gen_bool(0.5) {
            valid(code)
        } else {
            RemotingCommand::request(code)
        };
        request.code = code.as_i32();
        for _ in 0..rng.gen_range(0..4) {
            let key = KEYS[rng.gen_range(0..KEYS.len())];
            if rng.gen_bool(0.2) {
                request.ext_fields.remove(key);
            } else {
                request.ext_fields.insert(key.into(), value(&mut rng));
            }
        }
        if rng.gen_bool(0.3) {
            let len = rng.gen_range(0..6000);
            request.body = (0..len)
                .map(|_| rng.gen::<u8>())
                .collect::<Vec<u8>>()
                .into();
        }
        // Keep holds short: the point is the answer, not the wait.
        if request.ext_fields.contains_key("suspendTimeoutMillis") {
            request.ext_fields.insert(
                "suspendTimeoutMillis".into(),
                rng.gen_range(0..50).to_string(),
            );
        }
        let response = b
            .client
            .invoke(&b.addr, request, TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("round {round} (seed {seed}): no answer: {e}"));
        assert!(response.is_response());
    }
    // Still serving.
    assert_eq!(b.invoke(send_v2("TopicG", 0, "", b"after")).await.code, 0);
    b.stop().await;
}
