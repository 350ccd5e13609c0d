//! Raw frames written the way the C++ and Go clients write them, and their answers read the way
//! those clients read them.

mod common;

use common::*;
use serde_json::Value;
use sluice_remoting::net::RemotingClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One frame with a JSON header (type 0) and an empty body.
fn frame(header: &str) -> Vec<u8> {
    let header = header.as_bytes();
    let mut out = Vec::new();
    out.extend_from_slice(&(4 + header.len() as i32).to_be_bytes());
    out.extend_from_slice(&(header.len() as u32).to_be_bytes()); // type byte 0 = JSON
    out.extend_from_slice(header);
    out
}

struct Answer {
    serialize_type: u8,
    header: Value,
    body: String,
}

async fn exchange(addr: &str, header: &str) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&frame(header)).await.unwrap();
    let len = stream.read_i32().await.unwrap() as usize;
    let word = stream.read_u32().await.unwrap();
    let mut rest = vec![0u8; len - 4];
    stream.read_exact(&mut rest).await.unwrap();
    // C++ takes the whole word as the header length: the type byte must be 0.
    let serialize_type = (word >> 24) as u8;
    let header_len = word as usize;
    assert!(
        header_len <= rest.len(),
        "header length {word:#x} must not carry flags"
    );
    let header: Value = serde_json::from_slice(&rest[..header_len]).unwrap();
    let body = String::from_utf8(rest[header_len..].to_vec()).unwrap();
    Answer {
        serialize_type,
        header,
        body,
    }
}

/// rocketmq-client-go `internal/route.go`: `brokerAddrs` is cut out of the raw text and split
/// by hand: drop the braces, split on `,`, split each at the first `:`, strip every `"`.
fn go_broker_addrs(body: &str) -> Vec<(String, String)> {
    let start = body.find("\"brokerAddrs\":").expect("brokerAddrs") + "\"brokerAddrs\":".len();
    let end = start + body[start..].find('}').expect("end of brokerAddrs") + 1;
    let raw = &body[start..end];
    let inner = &raw[1..raw.len() - 1];
    inner
        .split(',')
        .map(|piece| {
            let (k, v) = piece.split_once(':').expect("key:value");
            (k.replace('"', ""), v.replace('"', ""))
        })
        .collect()
}

/// A NameServer with broker-a registered; the broker's connection must stay open (the
/// returned client), or its routes go with it.
async fn namesrv_with_route() -> (TestNamesrv, RemotingClient) {
    let ns = start_namesrv(|_| {}).await;
    let c = client();
    let broker = Broker::master("broker-a", "127.0.0.1:10911", &[("TopicTest", 4)]);
    assert_eq!(register(&c, &ns.addr, &broker).await.code, 0);
    (ns, c)
}

#[tokio::test]
async fn cpp_route_request_gets_json_header_and_legacy_body() {
    let (ns, _broker) = namesrv_with_route().await;
    // jsoncpp FastWriter: sorted keys, remark always there, ACL keys always there, numbers
    // where C++ has ints, trailing newline.
    let header = "{\"code\":105,\"extFields\":{\"AccessKey\":\"\",\"OnsChannel\":\"\",\"Signature\":\"\",\"topic\":\"TopicTest\"},\"flag\":0,\"language\":\"CPP\",\"opaque\":7,\"remark\":\"\",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":333}\n";
    let answer = exchange(&ns.addr, header).await;
    assert_eq!(answer.serialize_type, 0);
    assert_eq!(answer.header["code"], 0);
    assert_eq!(answer.header["opaque"], 7);
    assert_eq!(answer.header["flag"], 1);
    assert!(
        answer
            .body
            .contains(r#""brokerAddrs":{0:"127.0.0.1:10911"}"#),
        "{}",
        answer.body
    );
    // jsoncpp with allowNumericKeys reads that; so does the lenient reader.
    assert!(!answer.body.contains(' '));
}

#[tokio::test]
async fn cpp_numbers_in_ext_fields_are_accepted_and_answers_use_strings() {
    let (ns, _broker) = namesrv_with_route().await;
    // A numeric brokerId, as jsoncpp writes ints.
    let unregister = "{\"code\":104,\"extFields\":{\"brokerAddr\":\"127.0.0.1:10911\",\"brokerId\":0,\"brokerName\":\"broker-a\",\"clusterName\":\"DefaultCluster\"},\"flag\":0,\"language\":\"CPP\",\"opaque\":1,\"remark\":\"\",\"version\":333}\n";
    let answer = exchange(&ns.addr, unregister).await;
    assert_eq!(answer.header["code"], 0, "{}", answer.header);
    let gone = "{\"code\":105,\"extFields\":{\"topic\":\"TopicTest\"},\"flag\":0,\"language\":\"CPP\",\"opaque\":2,\"remark\":\"\",\"version\":333}\n";
    assert_eq!(exchange(&ns.addr, gone).await.header["code"], 17);

    // Response header values are JSON strings (C++ only reads strings).
    let (ns, _broker) = namesrv_with_route().await;
    let wipe = "{\"code\":205,\"extFields\":{\"brokerName\":\"broker-a\"},\"flag\":0,\"language\":\"CPP\",\"opaque\":3,\"remark\":\"\",\"version\":333}\n";
    let answer = exchange(&ns.addr, wipe).await;
    assert_eq!(answer.header["extFields"]["wipeTopicCount"], "1");
}

#[tokio::test]
async fn go_route_request_gets_a_body_go_can_cut_apart() {
    let (ns, _broker) = namesrv_with_route().await;
    // rocketmq-client-go: struct field order, language "GO", version 317, remark "".
    let header = r#"{"code":105,"language":"GO","version":317,"opaque":11,"flag":0,"remark":"","extFields":{"topic":"TopicTest"}}"#;
    let answer = exchange(&ns.addr, header).await;
    assert_eq!(answer.serialize_type, 0);
    assert_eq!(answer.header["code"], 0);
    assert_eq!(answer.header["opaque"], 11);
    assert_eq!(
        go_broker_addrs(&answer.body),
        [("0".to_string(), "127.0.0.1:10911".to_string())]
    );
    // queueDatas goes through a normal JSON decoder in Go: it must be valid on its own.
    let start = answer.body.find("\"queueDatas\":").unwrap() + "\"queueDatas\":".len();
    let queues: Value = serde_json::from_str(&answer.body[start..answer.body.len() - 1]).unwrap();
    assert_eq!(queues[0]["writeQueueNums"], 4);

    // Unknown topic: same code for every dialect.
    let header = r#"{"code":105,"language":"GO","version":317,"opaque":12,"flag":0,"remark":"","extFields":{"topic":"Nope"}}"#;
    assert_eq!(exchange(&ns.addr, header).await.header["code"], 17);
}

#[tokio::test]
async fn go_parse_survives_a_master_and_a_slave() {
    let (ns, _broker) = namesrv_with_route().await;
    let c = client();
    let mut slave = Broker::master("broker-a", "127.0.0.2:10911", &[("TopicTest", 4)]);
    slave.id = 1;
    assert_eq!(register(&c, &ns.addr, &slave).await.code, 0);
    let header = r#"{"code":105,"language":"GO","version":317,"opaque":1,"flag":0,"remark":"","extFields":{"topic":"TopicTest"}}"#;
    let answer = exchange(&ns.addr, header).await;
    assert_eq!(
        go_broker_addrs(&answer.body),
        [
            ("0".to_string(), "127.0.0.1:10911".to_string()),
            ("1".to_string(), "127.0.0.2:10911".to_string())
        ]
    );
}
