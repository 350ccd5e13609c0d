//! A broker started in-process: default topics, metadata files across restarts, unknown codes,
//! the metrics endpoint.

mod bcore_support;

use std::time::Duration;

use bcore_support::test_config;
use sluice_broker::Broker;
use sluice_remoting::body::TopicConfig;
use sluice_remoting::net::{ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{RemotingCommand, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn default_topics_exist_and_unknown_codes_are_refused_over_the_wire() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(test_config(dir.path(), None)).await.unwrap();
    let topics = &broker.state().topics;
    let tbw = topics.get("TBW102").expect("TBW102");
    assert_eq!(
        (tbw.perm, tbw.read_queue_nums, tbw.write_queue_nums),
        (7, 8, 8)
    );
    for t in [
        "SELF_TEST_TOPIC",
        "BenchmarkTest",
        "TestCluster",
        "broker-t",
        "OFFSET_MOVED_EVENT",
        "SCHEDULE_TOPIC_XXXX",
        "TestCluster_REPLY_TOPIC",
        "RMQ_SYS_TRANS_HALF_TOPIC",
        "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    ] {
        assert!(topics.contains(t), "default topic {t} missing");
    }
    // topics.json exists from the first start, in Apache's shape.
    let text = std::fs::read_to_string(dir.path().join("config/topics.json")).unwrap();
    assert!(
        text.contains("\"topicConfigTable\"") && text.contains("\"TBW102\""),
        "{text}"
    );

    let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    let addr = broker.local_addr().to_string();
    let response = client
        .invoke(
            &addr,
            RemotingCommand::request(99_999),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(
        response.code,
        ResponseCode::RequestCodeNotSupported.as_i32()
    );
    assert_eq!(
        response.remark.as_deref(),
        Some(" request type 99999 not supported")
    );
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn topics_groups_and_offsets_survive_a_restart_in_apache_shape() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(test_config(dir.path(), None)).await.unwrap();
    let state = broker.state().clone();
    state
        .topics
        .update(TopicConfig {
            read_queue_nums: 4,
            write_queue_nums: 4,
            ..TopicConfig::new("Orders")
        })
        .unwrap();
    let auto = state
        .topics
        .create_topic_in_send_message_method("AutoT", "TBW102", 4, 0)
        .unwrap()
        .unwrap();
    assert_eq!((auto.write_queue_nums, auto.perm), (4, 6));
    state.subscription_groups.find_or_create("GroupA").unwrap();
    state
        .consumer_offsets
        .commit_offset("127.0.0.1:1", "GroupA", "Orders", 0, 250);
    state
        .consumer_offsets
        .commit_offset("127.0.0.1:1", "GroupA", "Orders", 3, 17);
    drop(state);
    broker.shutdown().await.unwrap();

    let offsets = std::fs::read_to_string(dir.path().join("config/consumerOffset.json")).unwrap();
    assert!(offsets.contains("\"offsetTable\""), "{offsets}");
    assert!(offsets.contains("\"Orders@GroupA\""), "{offsets}");
    assert!(
        offsets.contains("0:250") && offsets.contains("3:17"),
        "unquoted integer keys: {offsets}"
    );
    let groups = std::fs::read_to_string(dir.path().join("config/subscriptionGroup.json")).unwrap();
    assert!(
        groups.contains("\"subscriptionGroupTable\"") && groups.contains("\"GroupA\""),
        "{groups}"
    );

    let broker = Broker::start(test_config(dir.path(), None)).await.unwrap();
    let state = broker.state();
    assert_eq!(state.topics.get("Orders").unwrap().write_queue_nums, 4);
    assert_eq!(state.topics.get("AutoT").unwrap().perm, 6);
    assert!(state.subscription_groups.contains("GroupA"));
    assert_eq!(
        state.consumer_offsets.query_offset("GroupA", "Orders", 0),
        250
    );
    assert_eq!(
        state.consumer_offsets.query_offset("GroupA", "Orders", 3),
        17
    );
    assert_eq!(
        state.consumer_offsets.query_offset("GroupA", "Orders", 1),
        -1
    );
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn auto_create_disabled_means_no_tbw102_and_no_creation() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), None);
    config.auto_create_topic_enable = false;
    let broker = Broker::start(config).await.unwrap();
    let topics = &broker.state().topics;
    assert!(!topics.contains("TBW102"));
    assert!(topics
        .create_topic_in_send_message_method("NewTopic", "TBW102", 4, 0)
        .unwrap()
        .is_none());
    let err = topics
        .create_topic_in_send_message_method("bad topic!", "TBW102", 4, 0)
        .unwrap_err();
    assert!(err.to_string().contains("illegal characters"), "{err}");
    broker.shutdown().await.unwrap();
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn metrics_endpoint_serves_the_5x_names() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(test_config(dir.path(), None)).await.unwrap();
    let state = broker.state();
    state.metrics.record_messages_in("Orders", 3, 300);
    state
        .metrics
        .record_messages_out("Orders", "GroupA", 2, 200);
    let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    let addr = broker.metrics_addr().expect("metrics endpoint");
    let page = http_get(addr, "/metrics").await;
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    for name in [
        "rocketmq_messages_in_total",
        "rocketmq_messages_out_total",
        "rocketmq_throughput_in_total",
        "rocketmq_throughput_out_total",
        "rocketmq_producer_connections",
        "rocketmq_consumer_connections",
        "rocketmq_topic_number",
        "rocketmq_consumer_group_number",
        "rocketmq_storage_size",
        "rocketmq_storage_flush_behind_bytes",
        "rocketmq_storage_dispatch_behind_bytes",
        "rocketmq_rpc_latency",
        "rocketmq_system_busy_total",
    ] {
        assert!(
            page.contains(&format!("# TYPE {name} ")),
            "{name} missing:\n{page}"
        );
    }
    assert!(page.contains(
        "rocketmq_messages_in_total{cluster=\"TestCluster\",node_type=\"broker\",node_id=\"broker-t\",topic=\"Orders\"} 3"
    ), "{page}");
    let topics = state.topics.len();
    assert!(page.contains(&format!("rocketmq_topic_number{{cluster=\"TestCluster\",node_type=\"broker\",node_id=\"broker-t\"}} {topics}")), "{page}");
    assert!(http_get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
    // Traffic through the processor table is timed, labelled as Apache labels it.
    let remoting = broker.local_addr().to_string();
    let r = client
        .invoke(
            &remoting,
            RemotingCommand::request(sluice_remoting::RequestCode::GetBrokerConfig),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(r.code, ResponseCode::Success.as_i32());
    let page = http_get(addr, "/metrics").await;
    assert!(
        page.contains(
            "request_code=\"get_broker_config\",response_code=\"success\",le=\"+Inf\"} 1"
        ),
        "{page}"
    );
    client.close_all();
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_slave_without_a_positive_broker_id_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), None);
    config.broker_role = sluice_broker::config::BrokerRole::Slave;
    config.broker_id = 0;
    let err = Broker::start(config).await.err().expect("refused");
    assert!(err.to_string().contains("brokerId > 0"), "{err}");
}
