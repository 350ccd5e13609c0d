//! criterion benchmark: JSON bodies on the paths that run per request or per client period:
//! route encoding (every GET_ROUTEINFO_BY_TOPIC), heartbeat decoding (every client, every
//! 30 s) in the strict Java form and the C++ form that needs the lenient rewrite, ConsumeStats
//! with object keys, and a compressed registration of 1,000 topics.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use sluice_remoting::body::{
    BrokerData, ConsumeStats, HeartbeatData, JsonBody, MessageQueue, OffsetWrapper, QueueData,
    RegisterBrokerBody, TopicConfig, TopicRouteData,
};
use sluice_remoting::code::version;

const JAVA_HEARTBEAT: &str = r#"{"clientID":"10.0.0.5@12345#1700000000000","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"G1","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598919,2598920],"expressionType":"TAG","subString":"TagA || TagB","subVersion":1700000000123,"tagsSet":["TagA","TagB"],"topic":"T1"},{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1700000000124,"tagsSet":[],"topic":"%RETRY%G1"}],"unitMode":false}],"heartbeatFingerprint":0,"producerDataSet":[{"groupName":"P1"},{"groupName":"CLIENT_INNER_PRODUCER"}],"withoutSub":false}"#;
const CPP_HEARTBEAT: &str = "{\"clientID\":\"10.0.0.5@12345#1700000000000\",\"consumerDataSet\":[{\"consumeFromWhere\":4,\"consumeType\":1,\"groupName\":\"G1\",\"messageModel\":1,\"subscriptionDataSet\":[{\"codeSet\":[0],\"subString\":\"TagA || TagB\",\"subVersion\":\"1700000000123\",\"tagsSet\":[\"TagA\",\"TagB\"],\"topic\":\"T1\"},{\"subString\":\"*\",\"subVersion\":\"1700000000124\",\"topic\":\"%RETRY%G1\"}]}],\"producerDataSet\":[{\"groupName\":\"P1\"},{\"groupName\":\"CLIENT_INNER_PRODUCER\"}]}\n";

fn route() -> TopicRouteData {
    let mut r = TopicRouteData::default();
    for b in ["broker-a", "broker-b"] {
        r.broker_datas.push(BrokerData {
            broker_addrs: [
                (0, "10.0.0.1:10911".to_string()),
                (1, "10.0.0.2:10911".to_string()),
            ]
            .into(),
            broker_name: b.into(),
            cluster: "DefaultCluster".into(),
            ..Default::default()
        });
        r.queue_datas.push(QueueData {
            broker_name: b.into(),
            perm: 6,
            read_queue_nums: 8,
            write_queue_nums: 8,
            topic_sys_flag: 0,
        });
    }
    r
}

fn bench(c: &mut Criterion) {
    let r = route();
    c.bench_function("route_encode_legacy", |b| {
        b.iter(|| black_box(&r).encode_legacy())
    });
    c.bench_function("route_encode_standard", |b| {
        b.iter(|| black_box(&r).encode_standard())
    });
    let legacy = r.encode_legacy();
    c.bench_function("route_decode_legacy", |b| {
        b.iter(|| TopicRouteData::decode(black_box(&legacy)).unwrap())
    });
    c.bench_function("heartbeat_decode_java", |b| {
        b.iter(|| HeartbeatData::decode(black_box(JAVA_HEARTBEAT.as_bytes())).unwrap())
    });
    c.bench_function("heartbeat_decode_cpp", |b| {
        b.iter(|| HeartbeatData::decode(black_box(CPP_HEARTBEAT.as_bytes())).unwrap())
    });

    let mut stats = ConsumeStats::default();
    for q in 0..32 {
        stats.offset_table.insert(
            MessageQueue::new(
                "TopicTest",
                if q % 2 == 0 { "broker-a" } else { "broker-b" },
                q,
            ),
            OffsetWrapper {
                broker_offset: 1_000_000,
                consumer_offset: 999_000,
                ..Default::default()
            },
        );
    }
    c.bench_function("consume_stats_32q_encode", |b| {
        b.iter(|| black_box(&stats).encode())
    });
    let stats_bytes = stats.encode();
    c.bench_function("consume_stats_32q_decode", |b| {
        b.iter(|| ConsumeStats::decode(black_box(&stats_bytes)).unwrap())
    });

    let mut reg = RegisterBrokerBody::default();
    for i in 0..1000 {
        let name = format!("Topic{i:04}");
        reg.topic_config_serialize_wrapper
            .topic_config_table
            .insert(name.clone(), TopicConfig::new(name));
    }
    c.bench_function("register_1000_topics_encode_compressed", |b| {
        b.iter(|| black_box(&reg).encode_compressed().unwrap())
    });
    let z = reg.encode_compressed().unwrap();
    c.bench_function("register_1000_topics_decode_compressed", |b| {
        b.iter(|| RegisterBrokerBody::decode_compressed(black_box(&z), version::V5_3_3).unwrap())
    });
    let plain = reg.encode();
    c.bench_function("register_1000_topics_decode_json", |b| {
        b.iter(|| RegisterBrokerBody::decode(black_box(&plain)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
