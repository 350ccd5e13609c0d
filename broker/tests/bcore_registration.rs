//! NameServer registration: two NameServers, re-registration after a topic change, unregister at
//! shutdown; and a real `sluice_nameserver` serving the broker's routes.

mod bcore_support;

use std::time::Duration;

use bcore_support::{test_config, FakeNameServer};
use sluice_broker::Broker;
use sluice_nameserver::{NameServer, NamesrvConfig};
use sluice_remoting::body::{JsonBody, RegisterBrokerBody, TopicConfig};
use sluice_remoting::header::{GetRouteInfoRequestHeader, RegisterBrokerRequestHeader};
use sluice_remoting::net::{ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};

const REGISTER: i32 = RequestCode::RegisterBroker as i32;
const UNREGISTER: i32 = RequestCode::UnregisterBroker as i32;

fn registered_topics(cmd: &RemotingCommand) -> Vec<String> {
    let body = RegisterBrokerBody::decode(&cmd.body.to_bytes()).unwrap();
    body.topic_config_serialize_wrapper
        .topic_config_table
        .into_keys()
        .collect()
}

#[tokio::test]
async fn registers_with_every_nameserver_reregisters_on_change_and_unregisters() {
    let ns1 = FakeNameServer::start().await;
    let ns2 = FakeNameServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path(), Some(format!("{};{}", ns1.addr(), ns2.addr())));
    let broker = Broker::start(config).await.unwrap();
    let expected_addr = broker.broker_addr();

    for ns in [&ns1, &ns2] {
        ns.wait_until("first REGISTER_BROKER", |seen| {
            seen.iter().any(|c| c.code == REGISTER)
        })
        .await;
        let first = &ns.requests(REGISTER)[0];
        let header: RegisterBrokerRequestHeader = first.decode_header().unwrap();
        assert_eq!(header.broker_name, "broker-t");
        assert_eq!(header.cluster_name, "TestCluster");
        assert_eq!(header.broker_addr, expected_addr);
        assert_eq!(header.broker_id, 0);
        // Header values are strings on the wire, as Java writes them.
        assert_eq!(first.ext("brokerId"), Some("0"));
        assert!(registered_topics(first).contains(&"TBW102".to_string()));
        assert!(header.body_crc32.is_some());
    }

    broker
        .state()
        .topics
        .update(TopicConfig::new("FreshTopic"))
        .unwrap();
    for ns in [&ns1, &ns2] {
        ns.wait_until("REGISTER_BROKER carrying FreshTopic", |seen| {
            seen.iter()
                .filter(|c| c.code == REGISTER)
                .any(|c| registered_topics(c).contains(&"FreshTopic".to_string()))
        })
        .await;
    }

    broker.shutdown().await.unwrap();
    for ns in [&ns1, &ns2] {
        let unregisters = ns.requests(UNREGISTER);
        assert_eq!(unregisters.len(), 1, "codes {:?}", ns.codes());
        assert_eq!(unregisters[0].ext("brokerName"), Some("broker-t"));
        assert_eq!(
            unregisters[0].ext("brokerAddr"),
            Some(expected_addr.as_str())
        );
    }
}

#[tokio::test]
async fn a_dead_nameserver_does_not_stop_the_broker() {
    let ns = FakeNameServer::start().await;
    // Port 9 on loopback: nothing listens there.
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path(), Some(format!("127.0.0.1:9;{}", ns.addr())));
    let broker = Broker::start(config).await.unwrap();
    ns.wait_until("REGISTER_BROKER", |seen| {
        seen.iter().any(|c| c.code == REGISTER)
    })
    .await;
    broker.shutdown().await.unwrap();
}

async fn route_code(client: &RemotingClient, ns: &str, topic: &str) -> i32 {
    let header = GetRouteInfoRequestHeader {
        topic: topic.to_string(),
        ..Default::default()
    };
    let request = RemotingCommand::request(RequestCode::GetRouteinfoByTopic).with_header(&header);
    client
        .invoke(ns, request, Duration::from_secs(5))
        .await
        .unwrap()
        .code
}

#[tokio::test]
async fn routes_appear_on_real_nameservers() {
    let kv = tempfile::tempdir().unwrap();
    let mut names = Vec::new();
    for i in 0..2 {
        let config = NamesrvConfig {
            listen_port: 0,
            bind_address: "127.0.0.1".into(),
            kv_config_path: kv.path().join(format!("kv{i}.json")),
            config_store_path: kv.path().join(format!("ns{i}.properties")),
            ..Default::default()
        };
        names.push(NameServer::start(config).await.unwrap());
    }
    let addrs: Vec<String> = names.iter().map(|n| n.local_addr().to_string()).collect();
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(test_config(dir.path(), Some(addrs.join(";"))))
        .await
        .unwrap();
    broker.register_now().await;
    let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    for ns in &addrs {
        assert_eq!(
            route_code(&client, ns, "SELF_TEST_TOPIC").await,
            ResponseCode::Success.as_i32()
        );
        assert_eq!(
            route_code(&client, ns, "NoSuchTopic").await,
            ResponseCode::TopicNotExist.as_i32()
        );
    }
    broker
        .state()
        .topics
        .update(TopicConfig::new("LateTopic"))
        .unwrap();
    for ns in &addrs {
        let mut code = -1;
        for _ in 0..400 {
            code = route_code(&client, ns, "LateTopic").await;
            if code == ResponseCode::Success.as_i32() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            code,
            ResponseCode::Success.as_i32(),
            "LateTopic never routed on {ns}"
        );
    }
    broker.shutdown().await.unwrap();
    for ns in &addrs {
        assert_eq!(
            route_code(&client, ns, "SELF_TEST_TOPIC").await,
            ResponseCode::TopicNotExist.as_i32()
        );
    }
    for n in names {
        n.shutdown(Duration::from_secs(1)).await;
    }
}
