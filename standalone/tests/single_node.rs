//! The single-node mode: one call starts a NameServer and a broker that clients find through it.

use std::time::Duration;

use sluice_remoting::header::GetRouteInfoRequestHeader;
use sluice_remoting::net::{ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};
use sluice_standalone::{start, Args};

#[tokio::test]
async fn single_node_serves_routes_for_the_default_topics() {
    let dir = tempfile::tempdir().unwrap();
    let args = Args {
        data: dir.path().join("data"),
        namesrv_port: 0,
        broker_port: 0,
        broker_ip: "127.0.0.1".into(),
        metrics_port: 0,
        config_file: None,
    };
    let node = start(&args).await.unwrap();
    node.broker.register_now().await;
    let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    let header = GetRouteInfoRequestHeader {
        topic: "TBW102".into(),
        ..Default::default()
    };
    let request = RemotingCommand::request(RequestCode::GetRouteinfoByTopic).with_header(&header);
    let response = client
        .invoke(
            &node.namesrv_addr().to_string(),
            request,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(
        response.code,
        ResponseCode::Success.as_i32(),
        "{:?}",
        response.remark
    );
    let body = String::from_utf8(response.body.to_bytes().to_vec()).unwrap();
    assert!(body.contains(&node.broker.broker_addr()), "{body}");
    assert!(dir.path().join("data/broker/config/topics.json").exists());
    node.shutdown().await.unwrap();
}

fn args(data: std::path::PathBuf) -> Args {
    Args {
        data,
        namesrv_port: 0,
        broker_port: 0,
        broker_ip: "127.0.0.1".into(),
        metrics_port: 0,
        config_file: None,
    }
}

fn send(topic: &str, body: &[u8]) -> RemotingCommand {
    use sluice_remoting::header::SendMessageRequestHeader;
    let header = SendMessageRequestHeader {
        producer_group: "QuickStartProducer".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: 0,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        flag: 0,
        properties: Some("TAGS\u{1}TagA\u{2}KEYS\u{1}k1\u{2}".into()),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        batch: Some(false),
        max_reconsume_times: None,
        rpc: Default::default(),
    };
    RemotingCommand::request(RequestCode::SendMessage)
        .with_header(&header)
        .with_body(body.to_vec())
}

fn pull(topic: &str, offset: i64) -> RemotingCommand {
    use sluice_remoting::header::PullMessageRequestHeader;
    let header = PullMessageRequestHeader {
        consumer_group: "QuickStartConsumer".into(),
        topic: topic.into(),
        queue_id: 0,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag: 0x4,
        commit_offset: 0,
        suspend_timeout_millis: 0,
        subscription: Some("*".into()),
        sub_version: 1,
        expression_type: Some("TAG".into()),
        max_msg_bytes: None,
        request_source: None,
        proxy_forward_client_id: None,
        rpc: Default::default(),
    };
    RemotingCommand::request(RequestCode::PullMessage).with_header(&header)
}

/// The quick start as a client sees it: a send to a new topic creates it, the NameServer learns
/// its route, a pull returns the message, and all of it survives a restart on the same folder.
#[tokio::test]
async fn send_creates_the_topic_routes_it_and_a_pull_gets_it_back_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    let topic = "QuickStartTopic";
    let t = Duration::from_secs(10);

    let node = start(&args(data.clone())).await.unwrap();
    let broker = node.broker.broker_addr();
    let sent = client
        .invoke(&broker, send(topic, b"hello sluice"), t)
        .await
        .unwrap();
    assert_eq!(
        sent.code,
        ResponseCode::Success.as_i32(),
        "{:?}",
        sent.remark
    );
    assert!(sent.ext("msgId").is_some_and(|id| !id.is_empty()));

    let ns = node.namesrv_addr().to_string();
    let header = GetRouteInfoRequestHeader {
        topic: topic.into(),
        ..Default::default()
    };
    let mut route = None;
    for _ in 0..200 {
        let request =
            RemotingCommand::request(RequestCode::GetRouteinfoByTopic).with_header(&header);
        let r = client.invoke(&ns, request, t).await.unwrap();
        if r.code == ResponseCode::Success.as_i32() {
            route = Some(String::from_utf8(r.body.to_bytes().to_vec()).unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let route = route.expect("the new topic's route reaches the NameServer");
    assert!(route.contains(&broker), "{route}");
    assert!(route.contains("\"writeQueueNums\":4"), "{route}");

    let mut found = false;
    for _ in 0..200 {
        let r = client.invoke(&broker, pull(topic, 0), t).await.unwrap();
        if r.code == ResponseCode::Success.as_i32() {
            let body = r.body.to_bytes();
            assert!(body.windows(12).any(|w| w == b"hello sluice"));
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(found, "the message never became pullable");
    client.close_all();
    node.shutdown().await.unwrap();

    let node = start(&args(data)).await.unwrap();
    let broker = node.broker.broker_addr();
    let r = client.invoke(&broker, pull(topic, 0), t).await.unwrap();
    assert_eq!(r.code, ResponseCode::Success.as_i32(), "{:?}", r.remark);
    assert!(r.body.to_bytes().windows(12).any(|w| w == b"hello sluice"));
    client.close_all();
    node.shutdown().await.unwrap();
}
