//! Golden tests: route data and cluster info byte for byte as the Java NameServer writes them
//! (remoting-protocol.md §4.2, §4.3).

use std::collections::BTreeMap;

use sluice_remoting::body::{BrokerData, ClusterInfo, JsonBody, QueueData, TopicRouteData};
use sluice_remoting::code::version;

const ROUTE_LEGACY: &str = r#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;
const ROUTE_STANDARD: &str = r#"{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;
const CLUSTER_INFO: &str = r#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"10.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}},"clusterAddrTable":{"DefaultCluster":["broker-a"]}}"#;

fn broker_a() -> BrokerData {
    BrokerData {
        broker_addrs: [(0, "10.0.0.1:10911".to_string())].into(),
        broker_name: "broker-a".into(),
        cluster: "DefaultCluster".into(),
        enable_acting_master: false,
        zone_name: None,
    }
}

fn route() -> TopicRouteData {
    TopicRouteData {
        broker_datas: vec![broker_a()],
        queue_datas: vec![QueueData {
            broker_name: "broker-a".into(),
            perm: 6,
            read_queue_nums: 4,
            topic_sys_flag: 0,
            write_queue_nums: 4,
        }],
        ..Default::default()
    }
}

#[test]
fn route_legacy_form_is_byte_exact() {
    assert_eq!(
        String::from_utf8(route().encode_legacy()).unwrap(),
        ROUTE_LEGACY
    );
    // What a Go (317) or C++ (333) client asking without the flag receives.
    assert_eq!(route().encode_for(317, false), ROUTE_LEGACY.as_bytes());
    assert_eq!(
        route().encode_for(version::V4_9_3, false),
        ROUTE_LEGACY.as_bytes()
    );
}

#[test]
fn route_standard_form_is_byte_exact() {
    assert_eq!(
        String::from_utf8(route().encode_standard()).unwrap(),
        ROUTE_STANDARD
    );
    assert_eq!(
        route().encode_for(version::V4_9_4, false),
        ROUTE_STANDARD.as_bytes()
    );
    assert_eq!(route().encode_for(317, true), ROUTE_STANDARD.as_bytes());
}

#[test]
fn both_route_forms_decode_back() {
    assert_eq!(
        TopicRouteData::decode(ROUTE_LEGACY.as_bytes()).unwrap(),
        route()
    );
    assert_eq!(
        TopicRouteData::decode(ROUTE_STANDARD.as_bytes()).unwrap(),
        route()
    );
}

#[test]
fn order_topic_conf_and_zone_only_when_set() {
    let mut r = route();
    r.order_topic_conf = Some("broker-a:4".into());
    r.broker_datas[0].zone_name = Some("z1".into());
    let text = String::from_utf8(r.encode_standard()).unwrap();
    assert!(
        text.contains(r#""enableActingMaster":false,"zoneName":"z1"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#""filterServerTable":{},"orderTopicConf":"broker-a:4","queueDatas""#),
        "{text}"
    );
    assert_eq!(TopicRouteData::decode(text.as_bytes()).unwrap(), r);
}

/// The Go client's `brokerAddrs` parsing (text surgery on the raw object, rocketmq-client-go
/// `internal/route.go`), re-done here to prove both forms survive it.
fn go_parse_broker_addrs(route_json: &str) -> BTreeMap<i64, String> {
    let start = route_json.find(r#""brokerAddrs":"#).unwrap() + r#""brokerAddrs":"#.len();
    let end = start + route_json[start..].find('}').unwrap() + 1;
    let raw = &route_json[start..end];
    let inner = &raw[1..raw.len() - 1];
    inner
        .split(',')
        .map(|piece| {
            let (k, v) = piece.split_once(':').unwrap();
            (k.replace('"', "").parse().unwrap(), v.replace('"', ""))
        })
        .collect()
}

#[test]
fn go_text_surgery_reads_both_forms() {
    let mut r = route();
    r.broker_datas[0]
        .broker_addrs
        .insert(1, "10.0.0.2:10911".into());
    for text in [r.encode_legacy(), r.encode_standard()] {
        let text = String::from_utf8(text).unwrap();
        assert_eq!(go_parse_broker_addrs(&text), r.broker_datas[0].broker_addrs);
    }
}

#[test]
fn cluster_info_is_byte_exact_and_decodes_back() {
    let info = ClusterInfo {
        broker_addr_table: [("broker-a".to_string(), broker_a())].into(),
        cluster_addr_table: [(
            "DefaultCluster".to_string(),
            ["broker-a".to_string()].into(),
        )]
        .into(),
    };
    assert_eq!(String::from_utf8(info.encode()).unwrap(), CLUSTER_INFO);
    assert_eq!(ClusterInfo::decode(CLUSTER_INFO.as_bytes()).unwrap(), info);
}

#[test]
fn j49_and_pre_4_9_route_dialects_decode() {
    // 4.9 NameServer: no enableActingMaster; pre-4.9.0: topicSynFlag; C++ style trailing newline.
    let old = "{\"brokerDatas\":[{\"brokerAddrs\":{0:\"10.0.0.1:10911\"},\"brokerName\":\"broker-a\",\"cluster\":\"DefaultCluster\"}],\"filterServerTable\":{},\"queueDatas\":[{\"brokerName\":\"broker-a\",\"perm\":6,\"readQueueNums\":4,\"topicSynFlag\":0,\"writeQueueNums\":4}]}\n";
    assert_eq!(TopicRouteData::decode(old.as_bytes()).unwrap(), route());
}
