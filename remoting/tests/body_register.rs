//! REGISTER_BROKER bodies: plain JSON (with the J5 mapping members) and the zlib form of
//! remoting-protocol.md §4.4, with the bodyCrc32 check.

use std::io::Read;

use sluice_remoting::body::register::check_body_crc32;
use sluice_remoting::body::{
    body_crc32, DataVersion, JsonBody, RegisterBrokerBody, TopicConfig, TopicConfigSerializeWrapper,
};
use sluice_remoting::code::version;

fn body() -> RegisterBrokerBody {
    let mut table = std::collections::BTreeMap::new();
    for (name, queues, perm) in [
        ("TopicTest", 4, 6),
        ("TBW102", 8, 7),
        ("SELF_TEST_TOPIC", 1, 6),
    ] {
        let mut t = TopicConfig::new(name);
        t.read_queue_nums = queues;
        t.write_queue_nums = queues;
        t.perm = perm;
        table.insert(name.to_string(), t);
    }
    table
        .get_mut("TopicTest")
        .unwrap()
        .attributes
        .insert("+message.type".into(), "NORMAL".into());
    RegisterBrokerBody {
        filter_server_list: vec![],
        topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
            data_version: DataVersion {
                counter: 7,
                state_version: 0,
                timestamp: 1_700_000_000_000,
            },
            topic_config_table: table,
            ..Default::default()
        },
    }
}

#[test]
fn compressed_body_round_trips_and_its_crc_is_checked() {
    let mut original = body();
    original
        .topic_config_serialize_wrapper
        .topic_queue_mapping_info_map = Some(
        [(
            "TopicTest".to_string(),
            serde_json::json!({"bname":"broker-a","epoch":0,"topic":"TopicTest","totalQueues":4}),
        )]
        .into(),
    );
    let compressed = original.encode_compressed().unwrap();
    let crc = body_crc32(&compressed);
    assert!(crc >= 0);
    check_body_crc32(&compressed, crc).unwrap();

    let decoded = RegisterBrokerBody::decode_from(&compressed, true, version::V5_3_3).unwrap();
    assert_eq!(decoded, original);

    // A flipped byte fails the CRC check.
    let mut damaged = compressed.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0x40;
    assert!(check_body_crc32(&damaged, crc).is_err());
}

#[test]
fn compressed_layout_is_javas() {
    let b = body();
    let compressed = b.encode_compressed().unwrap();
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&compressed[..])
        .read_to_end(&mut raw)
        .unwrap();
    let dv = br#"{"counter":7,"stateVersion":0,"timestamp":1700000000000}"#;
    assert_eq!(&raw[..4], &(dv.len() as i32).to_be_bytes());
    assert_eq!(&raw[4..4 + dv.len()], dv);
    let rest = &raw[4 + dv.len()..];
    assert_eq!(&rest[..4], &3i32.to_be_bytes());
    let first_len = i32::from_be_bytes(rest[4..8].try_into().unwrap()) as usize;
    assert_eq!(
        &rest[8..8 + first_len],
        b"SELF_TEST_TOPIC 1 1 6 SINGLE_TAG {}"
    );
    // Ends with the filter server list "[]" and a zero mapping count.
    assert!(raw.ends_with(&[0, 0, 0, 2, b'[', b']', 0, 0, 0, 0]));
}

#[test]
fn pre_5_brokers_send_no_mapping_section() {
    let b = body();
    let compressed = b.encode_compressed().unwrap();
    // A 4.9 broker's stream ends after the filter servers; trailing bytes are not read.
    let decoded = RegisterBrokerBody::decode_compressed(&compressed, version::V4_9_8).unwrap();
    assert_eq!(decoded, b);
}

#[test]
fn crc_of_known_input() {
    // CRC32("123456789") = 0xCBF43926; masked to 0x4BF43926.
    assert_eq!(body_crc32(b"123456789"), 0x4BF4_3926);
}

#[test]
fn j5_plain_json_registration_decodes() {
    let text = r#"{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":7,"stateVersion":0,"timestamp":1700000000000},"mappingDataVersion":{"counter":0,"stateVersion":0,"timestamp":1700000000001},"topicConfigTable":{"SELF_TEST_TOPIC":{"attributes":{},"order":false,"perm":6,"readQueueNums":1,"topicFilterType":"SINGLE_TAG","topicName":"SELF_TEST_TOPIC","topicSysFlag":0,"writeQueueNums":1}},"topicQueueMappingDetailMap":{},"topicQueueMappingInfoMap":{}}}"#;
    let decoded = RegisterBrokerBody::decode(text.as_bytes()).unwrap();
    let w = &decoded.topic_config_serialize_wrapper;
    assert_eq!(w.data_version.counter, 7);
    assert_eq!(w.topic_config_table["SELF_TEST_TOPIC"].read_queue_nums, 1);
    assert!(w.mapping_data_version.is_some());
    // Re-encoding keeps what it read, byte for byte.
    assert_eq!(String::from_utf8(decoded.encode()).unwrap(), text);
}
