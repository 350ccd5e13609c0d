//! Raw frames in each client's header dialect against a real NameServer (remoting-protocol.md
//! §1.4, §1.5, §1.7, §4.2, §10): every dialect is accepted, every answer is a JSON header with
//! string extFields, and the route body takes the form the asking client can parse.
#![cfg(feature = "nameserver")]

use serde_json::Value;
use sluice_tests::raw::{java_header, register_broker, RawConnection, RawFrame};
use sluice_tests::{nameserver_bin, NameServerProcess};

const TOPIC: &str = "DialectTopic";

struct Setup {
    /// Kept open: a NameServer drops a broker whose registration channel closes.
    _registration: RawConnection,
    ns: NameServerProcess,
    broker_addr: String,
}

/// A NameServer with one (fake, raw-registered) broker serving TOPIC with 4 queues.
async fn setup() -> Setup {
    let ns = NameServerProcess::start(nameserver_bin!())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let broker_port = sluice_tests::ports::free_port().unwrap();
    let broker_addr = format!("127.0.0.1:{broker_port}");
    let mut conn = RawConnection::connect(ns.socket_addr()).await.unwrap();
    let answer = register_broker(
        &mut conn,
        "DefaultCluster",
        "broker-raw",
        &broker_addr,
        &[(TOPIC, 4)],
    )
    .await
    .unwrap();
    assert_eq!(
        answer.code(),
        Some(0),
        "REGISTER_BROKER refused: {:?}",
        answer.header
    );
    Setup {
        _registration: conn,
        ns,
        broker_addr,
    }
}

/// What every client needs of any response header (§1.7): JSON (type 0, parseable even by C++,
/// which does not mask the type byte), response flag, the request's opaque, string extFields.
fn assert_response_shape(frame: &RawFrame, opaque: i64) {
    assert_eq!(
        frame.serialize_type, 0,
        "response header must be JSON: {:?}",
        frame.header_bytes
    );
    assert!(
        frame.header.is_object(),
        "response header is not a JSON object: {}",
        String::from_utf8_lossy(&frame.header_bytes)
    );
    assert_eq!(frame.opaque(), Some(opaque), "{:?}", frame.header);
    assert_eq!(
        frame.flag().map(|f| f & 1),
        Some(1),
        "response bit missing: {:?}",
        frame.header
    );
    if let Some(Value::Object(ext)) = frame.header.get("extFields") {
        for (k, v) in ext {
            assert!(
                v.is_string(),
                "extFields.{k} must be a JSON string for C++ clients, got {v}"
            );
        }
    }
}

fn legacy_addrs(addr: &str) -> String {
    format!("\"brokerAddrs\":{{0:\"{addr}\"}}")
}

fn standard_addrs(addr: &str) -> String {
    format!("\"brokerAddrs\":{{\"0\":\"{addr}\"}}")
}

#[tokio::test]
async fn cpp_header_with_numbers_and_trailing_newline_gets_the_legacy_route() {
    let s = setup().await;
    let mut conn = RawConnection::connect(s.ns.socket_addr()).await.unwrap();
    // jsoncpp FastWriter output: sorted keys, remark "", the three ACL keys, a number and a
    // boolean among the extFields, and a trailing newline (§1.4). Version 333 = V4_6_0.
    let header = format!(
        "{{\"code\":105,\"extFields\":{{\"AccessKey\":\"\",\"OnsChannel\":\"\",\"Signature\":\"\",\"queueId\":0,\"acceptStandardJsonOnly\":false,\"topic\":\"{TOPIC}\"}},\"flag\":0,\"language\":\"CPP\",\"opaque\":7,\"remark\":\"\",\"version\":333}}\n"
    );
    let answer = conn.request(&header, b"").await.unwrap();
    assert_response_shape(&answer, 7);
    assert_eq!(
        answer.code(),
        Some(0),
        "{:?} remark={:?}",
        answer.header,
        answer.remark()
    );
    let body = answer.body_text();
    assert!(
        body.contains(&legacy_addrs(&s.broker_addr)),
        "C++ (333) expects {{0:\"..\"}}: {body}"
    );
    assert!(body.contains("\"brokerName\":\"broker-raw\""), "{body}");
    assert!(body.contains("\"writeQueueNums\":4"), "{body}");
}

#[tokio::test]
async fn cpp_unknown_topic_gets_topic_not_exist_in_json() {
    let s = setup().await;
    let mut conn = RawConnection::connect(s.ns.socket_addr()).await.unwrap();
    let header = "{\"code\":105,\"extFields\":{\"AccessKey\":\"\",\"OnsChannel\":\"\",\"Signature\":\"\",\"topic\":\"NoSuchTopic\"},\"flag\":0,\"language\":\"CPP\",\"opaque\":8,\"remark\":\"\",\"version\":333}\n";
    let answer = conn.request(header, b"").await.unwrap();
    assert_response_shape(&answer, 8);
    assert_eq!(
        answer.code(),
        Some(17),
        "TOPIC_NOT_EXIST expected: {:?}",
        answer.header
    );
    assert!(
        answer.remark().is_some_and(|r| !r.is_empty()),
        "TOPIC_NOT_EXIST should say why: {:?}",
        answer.header
    );
}

#[tokio::test]
async fn go_header_order_gets_the_legacy_route_with_compact_broker_addrs() {
    let s = setup().await;
    let mut conn = RawConnection::connect(s.ns.socket_addr()).await.unwrap();
    // Go struct order: code, language, version, opaque, flag, remark, extFields; version 317.
    let header = format!(
        "{{\"code\":105,\"language\":\"GO\",\"version\":317,\"opaque\":9,\"flag\":0,\"remark\":\"\",\"extFields\":{{\"topic\":\"{TOPIC}\"}}}}"
    );
    let answer = conn.request(&header, b"").await.unwrap();
    assert_response_shape(&answer, 9);
    assert_eq!(answer.code(), Some(0), "{:?}", answer.header);
    let body = answer.body_text();
    // Go splits the brokerAddrs object text on ',' and ':' (§4.2): it must be compact.
    assert!(
        body.contains(&legacy_addrs(&s.broker_addr)),
        "Go (317) expects {{0:\"..\"}}: {body}"
    );
}

#[tokio::test]
async fn java_and_rust_versions_get_standard_json() {
    let s = setup().await;
    let mut conn = RawConnection::connect(s.ns.socket_addr()).await.unwrap();
    for (version, opaque) in [(479, 11), (474, 12), (401, 13)] {
        let answer = conn
            .request(&java_header(105, version, opaque, &[("topic", TOPIC)]), b"")
            .await
            .unwrap();
        assert_response_shape(&answer, i64::from(opaque));
        assert_eq!(answer.code(), Some(0));
        let body = answer.body_text();
        assert!(
            body.contains(&standard_addrs(&s.broker_addr)),
            "version {version}: {body}"
        );
        let parsed: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("version {version} must get valid JSON ({e}): {body}"));
        assert_eq!(parsed["queueDatas"][0]["readQueueNums"], 4, "{body}");
    }
    // An old Java client that asks for standard JSON explicitly gets it too.
    let answer = conn
        .request(
            &java_header(
                105,
                393,
                14,
                &[("acceptStandardJsonOnly", "true"), ("topic", TOPIC)],
            ),
            b"",
        )
        .await
        .unwrap();
    assert!(
        answer.body_text().contains(&standard_addrs(&s.broker_addr)),
        "{}",
        answer.body_text()
    );
}

#[tokio::test]
async fn binary_request_is_answered_with_a_json_header() {
    let s = setup().await;
    let mut conn = RawConnection::connect(s.ns.socket_addr()).await.unwrap();
    // The §1.5 worked example (GET_ROUTEINFO_BY_TOPIC, version 479, opaque 3, topic=TopicTest),
    // with the topic swapped for one that exists: ROCKETMQ binary header, type byte 1.
    let mut header = vec![
        0x00, 0x69, 0x00, 0x01, 0xdf, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let ext_len = 2 + 5 + 4 + TOPIC.len();
    header.extend_from_slice(&(ext_len as u32).to_be_bytes());
    header.extend_from_slice(&5u16.to_be_bytes());
    header.extend_from_slice(b"topic");
    header.extend_from_slice(&(TOPIC.len() as u32).to_be_bytes());
    header.extend_from_slice(TOPIC.as_bytes());
    conn.send(1, &header, b"").await.unwrap();
    let answer = conn.receive().await.unwrap();
    assert_response_shape(&answer, 3);
    assert_eq!(answer.code(), Some(0), "{:?}", answer.header);
    assert!(
        answer.body_text().contains(&standard_addrs(&s.broker_addr)),
        "{}",
        answer.body_text()
    );
}

#[tokio::test]
async fn unknown_request_code_is_answered_not_supported() {
    let s = setup().await;
    let mut conn = RawConnection::connect(s.ns.socket_addr()).await.unwrap();
    let answer = conn
        .request(&java_header(9999, 479, 21, &[]), b"")
        .await
        .unwrap();
    assert_response_shape(&answer, 21);
    assert_eq!(
        answer.code(),
        Some(3),
        "REQUEST_CODE_NOT_SUPPORTED expected: {:?}",
        answer.header
    );
    assert!(
        answer.remark().is_some_and(|r| r.contains("9999")),
        "{:?}",
        answer.header
    );
}
