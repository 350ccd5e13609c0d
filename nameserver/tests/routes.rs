//! Registration and route queries over real sockets.

mod common;

use common::*;
use sluice_remoting::body::{
    ClusterInfo, DataVersion, JsonBody, KVTable, Properties, TopicList, TopicRouteData,
};
use sluice_remoting::header::RegisterTopicRequestHeader;
use sluice_remoting::header::{
    AddWritePermOfBrokerRequestHeader, AddWritePermOfBrokerResponseHeader,
    DeleteKvConfigRequestHeader, DeleteTopicFromNamesrvRequestHeader, GetKvConfigRequestHeader,
    GetKvConfigResponseHeader, GetKvListByNamespaceRequestHeader, GetRouteInfoRequestHeader,
    GetTopicsByClusterRequestHeader, PutKvConfigRequestHeader, QueryDataVersionRequestHeader,
    QueryDataVersionResponseHeader, RegisterBrokerResponseHeader, UnregisterBrokerRequestHeader,
    WipeWritePermOfBrokerRequestHeader, WipeWritePermOfBrokerResponseHeader,
};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};

const ADDR_A: &str = "127.0.0.1:10911";

fn ok(cmd: &RemotingCommand) {
    assert_eq!(cmd.code, 0, "expected SUCCESS, got {cmd:?}");
}

#[tokio::test]
async fn route_form_follows_the_request_version() {
    let ns = start_namesrv(|_| {}).await;
    let c = client();
    let broker = Broker::master("broker-a", ADDR_A, &[("TopicTest", 4)]);
    ok(&register(&c, &ns.addr, &broker).await);

    let legacy = route(&c, &ns.addr, "TopicTest", 333).await;
    ok(&legacy);
    assert_eq!(
        body_text(&legacy),
        r#"{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#
    );
    let standard = route(&c, &ns.addr, "TopicTest", 479).await;
    ok(&standard);
    assert!(
        body_text(&standard).contains(r#""brokerAddrs":{"0":"127.0.0.1:10911"}"#),
        "{}",
        body_text(&standard)
    );
    // An old client that asks for standard JSON gets it.
    let mut asked = RemotingCommand::request(RequestCode::GetRouteinfoByTopic).with_header(
        &GetRouteInfoRequestHeader {
            topic: "TopicTest".into(),
            accept_standard_json_only: Some(true),
            ..Default::default()
        },
    );
    asked.version = 333;
    let asked = c.invoke(&ns.addr, asked, TIMEOUT).await.unwrap();
    assert_eq!(body_text(&asked), body_text(&standard));
    let parsed: TopicRouteData = decode(&legacy);
    assert_eq!(parsed.broker_datas[0].master_addr(), Some(ADDR_A));
}

#[tokio::test]
async fn compressed_registration_is_routed() {
    let ns = start_namesrv(|_| {}).await;
    let c = client();
    let mut broker = Broker::master(
        "broker-z",
        "127.0.0.1:20911",
        &[("Zipped", 8), ("TBW102", 8)],
    );
    broker.compressed = true;
    ok(&register(&c, &ns.addr, &broker).await);
    let r: TopicRouteData = decode(&route(&c, &ns.addr, "Zipped", 479).await);
    assert_eq!(r.queue_datas[0].write_queue_nums, 8);
    assert_eq!(r.broker_datas[0].broker_name, "broker-z");
}

#[tokio::test]
async fn bad_registrations_are_refused_with_a_reason() {
    let ns = start_namesrv(|_| {}).await;
    let c = client();
    let broker = Broker::master("broker-a", ADDR_A, &[("T", 4)]);
    let mut request = broker.register_request();
    let crc: i32 = request.ext("bodyCrc32").unwrap().parse().unwrap();
    request
        .ext_fields
        .insert("bodyCrc32".into(), (crc ^ 1).to_string());
    let response = c.invoke(&ns.addr, request, TIMEOUT).await.unwrap();
    assert_eq!(response.code, ResponseCode::SystemError.as_i32());
    assert_eq!(response.remark.as_deref(), Some("crc32 not match"));

    let mut request = broker.register_request();
    request.ext_fields.remove("brokerName");
    let response = c.invoke(&ns.addr, request, TIMEOUT).await.unwrap();
    assert_eq!(response.code, ResponseCode::SystemError.as_i32());
    assert!(response.remark.unwrap().contains("brokerName"));

    let mut request = broker.register_request();
    request.ext_fields.remove("bodyCrc32");
    request.body = b"{\"topicConfigSerializeWrapper\":[".to_vec().into();
    let response = c.invoke(&ns.addr, request, TIMEOUT).await.unwrap();
    assert_eq!(response.code, ResponseCode::SystemError.as_i32());
    assert!(response.remark.is_some());
    // Nothing of the refused requests was registered.
    assert_eq!(route(&c, &ns.addr, "T", 479).await.code, 17);
    // Unknown codes are answered, not dropped.
    let unknown = c
        .invoke(&ns.addr, RemotingCommand::request(9999), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(unknown.code, ResponseCode::RequestCodeNotSupported.as_i32());
}

#[tokio::test]
async fn unknown_topic_is_topic_not_exist_with_a_remark() {
    let ns = start_namesrv(|_| {}).await;
    let response = route(&client(), &ns.addr, "NoSuchTopic", 479).await;
    assert_eq!(response.code, 17);
    let remark = response.remark.unwrap();
    assert!(
        remark.contains("No topic route info") && remark.contains("NoSuchTopic"),
        "{remark}"
    );
    assert!(response.body.is_empty());
}

#[tokio::test]
async fn cluster_info_is_always_legacy() {
    let ns = start_namesrv(|_| {}).await;
    let c = client();
    ok(&register(
        &c,
        &ns.addr,
        &Broker::master("broker-a", ADDR_A, &[("T", 4)]),
    )
    .await);
    let mut request = RemotingCommand::request(RequestCode::GetBrokerClusterInfo);
    request.version = 479;
    let response = c.invoke(&ns.addr, request, TIMEOUT).await.unwrap();
    ok(&response);
    assert_eq!(
        body_text(&response),
        r#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}},"clusterAddrTable":{"DefaultCluster":["broker-a"]}}"#
    );
    let info: ClusterInfo = decode(&response);
    assert!(info.cluster_addr_table["DefaultCluster"].contains("broker-a"));
}

#[tokio::test]
async fn topic_lists() {
    let ns = start_namesrv(|_| {}).await;
    let c = client();
    ok(&register(
        &c,
        &ns.addr,
        &Broker::master("broker-a", ADDR_A, &[("T1", 4), ("T2", 4)]),
    )
    .await);
    let mut other = Broker::master("broker-b", "127.0.0.1:30911", &[("T3", 2)]);
    other.cluster = "OtherCluster".into();
    ok(&register(&c, &ns.addr, &other).await);

    let all = c
        .invoke(
            &ns.addr,
            RemotingCommand::request(RequestCode::GetAllTopicListFromNameserver),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(body_text(&all), r#"{"topicList":["T1","T2","T3"]}"#);

    let by_cluster = c
        .invoke(
            &ns.addr,
            RemotingCommand::request(RequestCode::GetTopicsByCluster).with_header(
                &GetTopicsByClusterRequestHeader {
                    cluster: "OtherCluster".into(),
                },
            ),
            TIMEOUT,
        )
        .await
        .unwrap();
    let list: TopicList = decode(&by_cluster);
    assert_eq!(list.topic_list.into_iter().collect::<Vec<_>>(), ["T3"]);

    let system = c
        .invoke(
            &ns.addr,
            RemotingCommand::request(RequestCode::GetSystemTopicListFromNs),
            TIMEOUT,
        )
        .await
        .unwrap();
    let list: TopicList = decode(&system);
    for name in ["DefaultCluster", "OtherCluster", "broker-a", "broker-b"] {
        assert!(list.topic_list.contains(name), "{name} missing: {list:?}");
    }
    assert!(list.broker_addr.is_some());

    for code in [
        RequestCode::GetUnitTopicList,
        RequestCode::GetHasUnitSubTopicList,
        RequestCode::GetHasUnitSubUnunitTopicList,
    ] {
        let r = c
            .invoke(&ns.addr, RemotingCommand::request(code), TIMEOUT)
            .await
            .unwrap();
        ok(&r);
        assert_eq!(body_text(&r), r#"{"topicList":[]}"#);
    }

    let closed = start_namesrv(|c| c.enable_all_topic_list = false).await;
    let r = c
        .invoke(
            &closed.addr,
            RemotingCommand::request(RequestCode::GetAllTopicListFromNameserver),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(r.code, ResponseCode::SystemError.as_i32());
    assert_eq!(r.remark.as_deref(), Some("disable"));
}

async fn kv_get(c: &sluice_remoting::net::RemotingClient, ns: &str, key: &str) -> RemotingCommand {
    c.invoke(
        ns,
        RemotingCommand::request(RequestCode::GetKvConfig).with_header(&GetKvConfigRequestHeader {
            namespace: "ORDER_TOPIC_CONFIG".into(),
            key: key.into(),
        }),
        TIMEOUT,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn kv_config_round_trip_and_order_topic_conf() {
    let ns = start_namesrv(|c| c.order_message_enable = true).await;
    let c = client();
    let put = c
        .invoke(
            &ns.addr,
            RemotingCommand::request(RequestCode::PutKvConfig).with_header(
                &PutKvConfigRequestHeader {
                    namespace: "ORDER_TOPIC_CONFIG".into(),
                    key: "Ordered".into(),
                    value: "broker-a:4".into(),
                },
            ),
            TIMEOUT,
        )
        .await
        .unwrap();
    ok(&put);
    let got = kv_get(&c, &ns.addr, "Ordered").await;
    let h: GetKvConfigResponseHeader = got.decode_header().unwrap();
    assert_eq!(h.value.as_deref(), Some("broker-a:4"));
    assert_eq!(kv_get(&c, &ns.addr, "Missing").await.code, 22);

    let list = c
        .invoke(
            &ns.addr,
            RemotingCommand::request(RequestCode::GetKvlistByNamespace).with_header(
                &GetKvListByNamespaceRequestHeader {
                    namespace: "ORDER_TOPIC_CONFIG".into(),
                },
            ),
            TIMEOUT,
        )
        .await
        .unwrap();
    let table: KVTable = decode(&list);
    assert_eq!(table.table["Ordered"], "broker-a:4");

    // Brokers get the namespace back on registration; clients see orderTopicConf.
    let registered = register(
        &c,
        &ns.addr,
        &Broker::master("broker-a", ADDR_A, &[("Ordered", 4)]),
    )
    .await;
    let table: KVTable = decode(&registered);
    assert_eq!(table.table["Ordered"], "broker-a:4");
    let r: TopicRouteData = decode(&route(&c, &ns.addr, "Ordered", 479).await);
    assert_eq!(r.order_topic_conf.as_deref(), Some("broker-a:4"));

    // Persisted in Apache's layout.
    let file = std::fs::read_to_string(ns.dir.path().join("kvConfig.json")).unwrap();
    let compact: String = file.split_whitespace().collect();
    assert_eq!(
        compact,
        r#"{"configTable":{"ORDER_TOPIC_CONFIG":{"Ordered":"broker-a:4"}}}"#
    );

    let deleted = c
        .invoke(
            &ns.addr,
            RemotingCommand::request(RequestCode::DeleteKvConfig).with_header(
                &DeleteKvConfigRequestHeader {
                    namespace: "ORDER_TOPIC_CONFIG".into(),
                    key: "Ordered".into(),
                },
            ),
            TIMEOUT,
        )
        .await
        .unwrap();
    ok(&deleted);
    assert_eq!(kv_get(&c, &ns.addr, "Ordered").await.code, 22);
}

#[tokio::test]
async fn delete_topic_and_unregister() {
    let ns = start_namesrv(|_| {}).await;
    let c = client();
    ok(&register(
        &c,
        &ns.addr,
        &Broker::master("broker-a", ADDR_A, &[("Keep", 4), ("Drop", 4)]),
    )
    .await);
    let deleted = c
        .invoke(
            &ns.addr,
            RemotingCommand::request(RequestCode::DeleteTopicInNamesrv).with_header(
                &DeleteTopicFromNamesrvRequestHeader {
                    topic: "Drop".into(),
                    ..Default::default()
                },
            ),
            TIMEOUT,
        )
        .await
        .unwrap();
    ok(&deleted);
    assert_eq!(route(&c, &ns.addr, "Drop", 479).await.code, 17);
    ok(&route(&c, &ns.addr, "Keep", 479).await);

    let unregistered = c
        .invoke(
            &ns.addr,
            RemotingCommand::request(RequestCode::UnregisterBroker).with_header(
                &UnregisterBrokerRequestHeader {
                    broker_name: "broker-a".into(),
                    broker_addr: ADDR_A.into(),
                    cluster_name: "DefaultCluster".into(),
                    broker_id: 0,
                },
            ),
            TIMEOUT,
        )
        .await
        .unwrap();
    ok(&unregistered);
    assert_eq!(route(&c, &ns.addr, "Keep", 479).await.code, 17);
    let info: ClusterInfo = decode(
        &c.invoke(
            &ns.addr,
            RemotingCommand::request(RequestCode::GetBrokerClusterInfo),
            TIMEOUT,
        )
        .await
        .unwrap(),
    );
    assert!(info.broker_addr_table.is_empty() && info.cluster_addr_table.is_empty());
}

#[tokio::test]
async fn slave_gets_the_master_address() {
    let ns = start_namesrv(|_| {}).await;
    let c = client();
    let master = Broker::master("broker-a", ADDR_A, &[("T", 4)]);
    ok(&register(&c, &ns.addr, &master).await);
    let mut slave = Broker::master("broker-a", "127.0.0.2:10911", &[("T", 4)]);
    slave.id = 1;
    let response = register(&c, &ns.addr, &slave).await;
    ok(&response);
    let h: RegisterBrokerResponseHeader = response.decode_header().unwrap();
    assert_eq!(h.master_addr.as_deref(), Some(ADDR_A));
    assert_eq!(h.ha_server_addr.as_deref(), Some("127.0.0.1:10912"));
    let master_response = register(&c, &ns.addr, &master).await;
    let h: RegisterBrokerResponseHeader = master_response.decode_header().unwrap();
    assert_eq!(h.master_addr, None);
    let r = route(&c, &ns.addr, "T", 333).await;
    assert!(
        body_text(&r).contains(r#"{0:"127.0.0.1:10911",1:"127.0.0.2:10911"}"#),
        "{}",
        body_text(&r)
    );
    // 5.x brokers ask for their group's members.
    let members = c
        .invoke(
            &ns.addr,
            RemotingCommand::request(RequestCode::GetBrokerMemberGroup)
                .with_ext("clusterName", "DefaultCluster")
                .with_ext("brokerName", "broker-a"),
            TIMEOUT,
        )
        .await
        .unwrap();
    ok(&members);
    assert_eq!(
        body_text(&members),
        r#"{"brokerMemberGroup":{"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.2:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}}"#
    );
}

#[tokio::test]
async fn unchanged_data_version_does_not_overwrite_queue_data() {
    let ns = start_namesrv(|_| {}).await;
    let c = client();
    let mut broker = Broker::master("broker-a", ADDR_A, &[("T", 4)]);
    ok(&register(&c, &ns.addr, &broker).await);
    broker.topics = vec![("T".into(), 16)];
    ok(&register(&c, &ns.addr, &broker).await);
    let r: TopicRouteData = decode(&route(&c, &ns.addr, "T", 479).await);
    assert_eq!(r.queue_datas[0].write_queue_nums, 4);
    broker.version_counter += 1;
    ok(&register(&c, &ns.addr, &broker).await);
    let r: TopicRouteData = decode(&route(&c, &ns.addr, "T", 479).await);
    assert_eq!(r.queue_datas[0].write_queue_nums, 16);

    // QUERY_DATA_VERSION compares with what was registered.
    let query = |counter: i64| {
        let mut dv = broker.body().topic_config_serialize_wrapper.data_version;
        dv.counter = counter;
        RemotingCommand::request(RequestCode::QueryDataVersion)
            .with_header(&QueryDataVersionRequestHeader {
                broker_name: "broker-a".into(),
                broker_addr: ADDR_A.into(),
                cluster_name: "DefaultCluster".into(),
                broker_id: 0,
            })
            .with_body(dv.encode())
    };
    let same = c.invoke(&ns.addr, query(2), TIMEOUT).await.unwrap();
    let h: QueryDataVersionResponseHeader = same.decode_header().unwrap();
    assert!(!h.changed);
    let theirs: DataVersion = decode(&same);
    assert_eq!(theirs.counter, 2);
    let other = c.invoke(&ns.addr, query(7), TIMEOUT).await.unwrap();
    let h: QueryDataVersionResponseHeader = other.decode_header().unwrap();
    assert!(h.changed);
}

#[tokio::test]
async fn write_permission_of_a_broker() {
    let ns = start_namesrv(|_| {}).await;
    let c = client();
    ok(&register(
        &c,
        &ns.addr,
        &Broker::master("broker-a", ADDR_A, &[("T1", 4), ("T2", 4)]),
    )
    .await);
    let wipe = c
        .invoke(
            &ns.addr,
            RemotingCommand::request(RequestCode::WipeWritePermOfBroker).with_header(
                &WipeWritePermOfBrokerRequestHeader {
                    broker_name: "broker-a".into(),
                },
            ),
            TIMEOUT,
        )
        .await
        .unwrap();
    let h: WipeWritePermOfBrokerResponseHeader = wipe.decode_header().unwrap();
    assert_eq!(h.wipe_topic_count, 2);
    let r: TopicRouteData = decode(&route(&c, &ns.addr, "T1", 479).await);
    assert_eq!(r.queue_datas[0].perm, 4);
    let add = c
        .invoke(
            &ns.addr,
            RemotingCommand::request(RequestCode::AddWritePermOfBroker).with_header(
                &AddWritePermOfBrokerRequestHeader {
                    broker_name: "broker-a".into(),
                },
            ),
            TIMEOUT,
        )
        .await
        .unwrap();
    let h: AddWritePermOfBrokerResponseHeader = add.decode_header().unwrap();
    assert_eq!(h.add_topic_count, 2);
    let r: TopicRouteData = decode(&route(&c, &ns.addr, "T1", 479).await);
    assert_eq!(r.queue_datas[0].perm, 6);
}

#[tokio::test]
async fn namesrv_config_can_be_read_and_updated() {
    let ns = start_namesrv(|_| {}).await;
    let c = client();
    let get = || RemotingCommand::request(RequestCode::GetNamesrvConfig);
    let before = c.invoke(&ns.addr, get(), TIMEOUT).await.unwrap();
    let props = Properties::decode(&before.body.to_bytes()).unwrap();
    assert_eq!(props.get("enableAllTopicList"), Some("true"));
    assert_eq!(props.get("scanNotActiveBrokerInterval"), Some("5000"));

    let update = RemotingCommand::request(RequestCode::UpdateNamesrvConfig)
        .with_body(b"enableAllTopicList=false\n".to_vec());
    ok(&c.invoke(&ns.addr, update, TIMEOUT).await.unwrap());
    let after = Properties::decode(
        &c.invoke(&ns.addr, get(), TIMEOUT)
            .await
            .unwrap()
            .body
            .to_bytes(),
    )
    .unwrap();
    assert_eq!(after.get("enableAllTopicList"), Some("false"));
    let all = c
        .invoke(
            &ns.addr,
            RemotingCommand::request(RequestCode::GetAllTopicListFromNameserver),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(all.remark.as_deref(), Some("disable"));

    let forbidden = RemotingCommand::request(RequestCode::UpdateNamesrvConfig)
        .with_body(b"kvConfigPath=/tmp/elsewhere\n".to_vec());
    let r = c.invoke(&ns.addr, forbidden, TIMEOUT).await.unwrap();
    assert_eq!(r.code, ResponseCode::NoPermission.as_i32());
    let bad = RemotingCommand::request(RequestCode::UpdateNamesrvConfig)
        .with_body(b"scanNotActiveBrokerInterval=soon\n".to_vec());
    let r = c.invoke(&ns.addr, bad, TIMEOUT).await.unwrap();
    assert_eq!(r.code, ResponseCode::SystemError.as_i32());
    assert!(r.remark.unwrap().contains("scanNotActiveBrokerInterval"));
}

#[tokio::test]
async fn register_topic_in_namesrv_adds_queues_for_known_brokers() {
    let ns = start_namesrv(|_| {}).await;
    let c = client();
    ok(&register(
        &c,
        &ns.addr,
        &Broker::master("broker-a", ADDR_A, &[("T", 4)]),
    )
    .await);
    let body = r#"{"brokerDatas":[],"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":2,"topicSysFlag":0,"writeQueueNums":2}]}"#;
    let request = RemotingCommand::request(RequestCode::RegisterTopicInNamesrv)
        .with_header(&RegisterTopicRequestHeader {
            topic: "Added".into(),
            ..Default::default()
        })
        .with_body(body.as_bytes().to_vec());
    ok(&c.invoke(&ns.addr, request, TIMEOUT).await.unwrap());
    let r: TopicRouteData = decode(&route(&c, &ns.addr, "Added", 479).await);
    assert_eq!(r.queue_datas[0].write_queue_nums, 2);
    assert_eq!(r.broker_datas[0].master_addr(), Some(ADDR_A));

    let unknown = body.replace("broker-a", "broker-x");
    let request = RemotingCommand::request(RequestCode::RegisterTopicInNamesrv)
        .with_header(&RegisterTopicRequestHeader {
            topic: "Ghost".into(),
            ..Default::default()
        })
        .with_body(unknown.into_bytes());
    ok(&c.invoke(&ns.addr, request, TIMEOUT).await.unwrap());
    assert_eq!(route(&c, &ns.addr, "Ghost", 479).await.code, 17);
}

#[tokio::test]
async fn zone_aware_clients_see_their_zone() {
    let ns = start_namesrv(|_| {}).await;
    let c = client();
    for (name, addr, zone) in [
        ("broker-a", ADDR_A, "ZoneA"),
        ("broker-b", "127.0.0.1:30911", "ZoneB"),
    ] {
        let request = Broker::master(name, addr, &[("T", 4)])
            .register_request()
            .with_ext("__ZONE_NAME", zone)
            .with_ext("enableActingMaster", "false");
        ok(&c.invoke(&ns.addr, request, TIMEOUT).await.unwrap());
    }
    let everything: TopicRouteData = decode(&route(&c, &ns.addr, "T", 479).await);
    assert_eq!(everything.broker_datas.len(), 2);
    assert_eq!(
        everything.broker_datas[0].zone_name.as_deref(),
        Some("ZoneA")
    );

    let request = RemotingCommand::request(RequestCode::GetRouteinfoByTopic)
        .with_header(&GetRouteInfoRequestHeader {
            topic: "T".into(),
            ..Default::default()
        })
        .with_ext("__ZONE_MODE", "true")
        .with_ext("__ZONE_NAME", "ZoneB");
    let zoned: TopicRouteData = decode(&c.invoke(&ns.addr, request, TIMEOUT).await.unwrap());
    assert_eq!(zoned.broker_datas.len(), 1);
    assert_eq!(zoned.broker_datas[0].broker_name, "broker-b");
    assert_eq!(zoned.queue_datas.len(), 1);
    assert_eq!(zoned.queue_datas[0].broker_name, "broker-b");
}
