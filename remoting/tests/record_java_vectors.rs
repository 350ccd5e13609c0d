//! Values observed in Apache RocketMQ (its tests and real deployments): the Rust utilities must
//! produce and accept exactly these.

use std::net::{IpAddr, SocketAddr};

use sluice_remoting::message::msgid::{create_offset_msg_id, decode_offset_msg_id, uniq_id_ip};
use sluice_remoting::message::property::Properties;
use sluice_remoting::message::{java_string_hash, tags_code};

const NV: char = '\u{1}';
const PS: char = '\u{2}';

#[test]
fn offset_msg_ids_from_real_brokers() {
    // 192.168.3.202:10911, CommitLog offset 0x31367.
    let (host, offset) = decode_offset_msg_id("C0A803CA00002A9F0000000000031367").unwrap();
    assert_eq!(host, "192.168.3.202:10911".parse::<SocketAddr>().unwrap());
    assert_eq!(offset, 0x31367);
    // 10.154.0.38:10911, offset 9001.
    let host: SocketAddr = "10.154.0.38:10911".parse().unwrap();
    assert_eq!(
        create_offset_msg_id(host, 9001),
        "0A9A002600002A9F0000000000002329"
    );
    // IPv6 loopback, port 0.
    let v6: SocketAddr = "[::1]:0".parse().unwrap();
    let id = create_offset_msg_id(v6, 123_456);
    assert_eq!(
        id,
        "0000000000000000000000000000000100000000000000000001E240"
    );
    assert_eq!(decode_offset_msg_id(&id).unwrap(), (v6, 123_456));
}

#[test]
fn uniq_keys_from_java_clients_carry_their_ip() {
    assert_eq!(
        uniq_id_ip("AC14157E4F1C18B4AAC27EB1A0F30000").unwrap(),
        "172.20.21.126".parse::<IpAddr>().unwrap()
    );
    assert_eq!(
        uniq_id_ip("AC1415116D1418B4AAC217FE1B4E0000").unwrap(),
        "172.20.21.17".parse::<IpAddr>().unwrap()
    );
    assert!(uniq_id_ip("not an id").is_err());
}

/// The cases of `MessageDecoderTest.testString2messageProperties`.
#[test]
fn properties_string_cases_of_the_java_decoder() {
    let cases: Vec<(String, Vec<(&str, &str)>)> = vec![
        (format!("k1{NV}v1"), vec![("k1", "v1")]),
        (String::new(), vec![]),
        (" ".into(), vec![]),
        ("aaa".into(), vec![]),
        (format!("k1{NV}"), vec![]),
        (format!("{NV}v1"), vec![]),
        (format!("k1{NV}v1{PS}"), vec![("k1", "v1")]),
        (
            format!("k1{NV}v1{PS}k2{NV}v2"),
            vec![("k1", "v1"), ("k2", "v2")],
        ),
        (format!("k1{NV}v1{PS}{NV}v2"), vec![("k1", "v1")]),
        (format!("k1{NV}v1{PS}k2{NV}"), vec![("k1", "v1")]),
        (format!("{NV}v1{PS}k2{NV}v2"), vec![("k2", "v2")]),
        (format!("k1{NV}{PS}k2{NV}v2"), vec![("k2", "v2")]),
        (format!("1{NV}1{PS}2{NV}2"), vec![("1", "1"), ("2", "2")]),
        (format!("1{NV}{PS}2{NV}2"), vec![("2", "2")]),
        (format!("{NV}1{PS}2{NV}2"), vec![("2", "2")]),
        (format!("1{NV}1{PS}2{NV}"), vec![("1", "1")]),
        (format!("1{NV}1{PS}{NV}2"), vec![("1", "1")]),
    ];
    for (input, want) in cases {
        let got = Properties::decode(&input);
        assert_eq!(got.iter().collect::<Vec<_>>(), want, "input {input:?}");
    }
}

#[test]
fn java_string_hash_codes() {
    // Values of String.hashCode() in Java.
    for (s, want) in [
        ("hello", 99_162_322),
        ("TagA", 2_598_919),
        ("TagB", 2_598_920),
        ("*", 42),
        ("Hello World", -862_545_276),
        ("polygenelubricants", i32::MIN),
        ("\u{e9}t\u{e9}", 227_742), // "été": 233*961 + 116*31 + 233
        ("\u{1F600}", 1_772_899),   // surrogates D83D DE00: 55357*31 + 56832
        ("中文", 646_394),          // 0x4E2D*31 + 0x6587
    ] {
        assert_eq!(java_string_hash(s), want, "{s:?}");
    }
    assert_eq!(tags_code("Hello World"), -862_545_276i64);
}
