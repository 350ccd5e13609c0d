//! Consumer and producer group commands against an in-process NameServer + broker:
//! updateSubGroup, deleteSubGroup, consumerProgress, consumerConnection, producerConnection,
//! resetOffsetByTime.

mod mqadmin_common;

use std::time::Duration;

use mqadmin_common::{header, rows, Cluster};
use sluice_client::admin::Admin;
use sluice_remoting::body::{
    ConsumeFromWhere, ConsumeType, ConsumerData, HeartbeatData, JsonBody, MessageModel,
    ProducerData, SubscriptionData,
};
use sluice_remoting::net::{ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};

const PROGRESS_HEADER: [&str; 8] = [
    "#Topic",
    "#Broker Name",
    "#QID",
    "#Broker Offset",
    "#Consumer Offset",
    "#Diff",
    "#Inflight",
    "#LastTime",
];

async fn send(c: &Cluster, topic: &str, qid: &str, n: usize) {
    for i in 0..n {
        let body = format!("m{i}");
        c.ok(&[
            "sendMessage",
            "-t",
            topic,
            "-p",
            &body,
            "-b",
            "broker-a",
            "-i",
            qid,
        ])
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_reset_and_group_lifecycle() {
    let c = Cluster::start().await;
    let addr = c.broker_addr.clone();
    c.ok(&[
        "updateTopic",
        "-c",
        "DefaultCluster",
        "-t",
        "Pay",
        "-r",
        "2",
        "-w",
        "2",
    ])
    .await;
    c.register().await;

    let out = c
        .ok(&[
            "updateSubGroup",
            "-c",
            "DefaultCluster",
            "-g",
            "PayGroup",
            "-r",
            "5",
        ])
        .await;
    assert!(
        out.contains(&format!("create subscription group to {addr} success.")),
        "{out}"
    );
    assert!(out.contains("groupName=PayGroup"), "{out}");
    assert!(out.contains("retryMaxTimes=5"), "{out}");

    send(&c, "Pay", "0", 3).await;
    send(&c, "Pay", "1", 1).await;
    let admin = Admin::new(&c.namesrv_addr).unwrap();
    admin
        .update_consumer_offset(&addr, "PayGroup", "Pay", 0, 1)
        .await
        .unwrap();
    admin
        .update_consumer_offset(&addr, "PayGroup", "Pay", 1, 1)
        .await
        .unwrap();

    let out = c
        .eventually(&["consumerProgress", "-g", "PayGroup"], |o| {
            o.contains("Consume Diff Total: 2")
        })
        .await;
    assert_eq!(header(&out), PROGRESS_HEADER, "{out}");
    let table = rows(&out);
    assert_eq!(table.len(), 2, "{out}");
    assert_eq!(
        &table[0][..6],
        ["Pay", "broker-a", "0", "3", "1", "2"],
        "{out}"
    );
    assert_eq!(
        &table[1][..6],
        ["Pay", "broker-a", "1", "1", "1", "0"],
        "{out}"
    );
    assert!(out.contains("Consume TPS:"), "{out}");
    assert!(out.contains("Consume Inflight Total:"), "{out}");
    let out = c
        .ok(&[
            "consumerProgress",
            "-g",
            "PayGroup",
            "-t",
            "Pay",
            "-s",
            "true",
        ])
        .await;
    assert_eq!(header(&out)[5], "#Client IP", "{out}");

    // Rewind to the start of time: every queue's offset goes back to 0.
    let out = c
        .ok(&[
            "resetOffsetByTime",
            "-g",
            "PayGroup",
            "-t",
            "Pay",
            "-s",
            "0",
        ])
        .await;
    assert!(
        out.contains("start reset consumer offset by specified, group[PayGroup], topic[Pay], force[true], timestamp(string)[0], timestamp(long)[0]"),
        "{out}"
    );
    assert_eq!(
        header(&out),
        ["#brokerName", "#queueId", "#offset"],
        "{out}"
    );
    assert_eq!(
        rows(&out),
        [["broker-a", "0", "0"], ["broker-a", "1", "0"]],
        "{out}"
    );
    let out = c.ok(&["consumerProgress", "-g", "PayGroup"]).await;
    assert!(out.contains("Consume Diff Total: 4"), "{out}");
    assert_eq!(
        admin
            .consumer_offset(&addr, "PayGroup", "Pay", 0)
            .await
            .unwrap(),
        0
    );
    // `now` moves forward to the end.
    c.ok(&[
        "resetOffsetByTime",
        "-g",
        "PayGroup",
        "-t",
        "Pay",
        "-s",
        "now",
    ])
    .await;
    let out = c.ok(&["consumerProgress", "-g", "PayGroup"]).await;
    assert!(out.contains("Consume Diff Total: 0"), "{out}");
    // One queue to an explicit offset.
    let out = c
        .ok(&[
            "resetOffsetByTime",
            "-g",
            "PayGroup",
            "-t",
            "Pay",
            "-s",
            "now",
            "-b",
            &addr,
            "-q",
            "0",
            "-o",
            "2",
        ])
        .await;
    assert!(out.contains("queueId[0], broker["), "{out}");
    assert!(out.contains("reset consumer offset to 2"), "{out}");
    assert_eq!(
        admin
            .consumer_offset(&addr, "PayGroup", "Pay", 0)
            .await
            .unwrap(),
        2
    );
    let out = c.ok(&["consumerProgress", "-g", "PayGroup"]).await;
    assert!(out.contains("Consume Diff Total: 1"), "{out}");
    let err = c
        .run(&[
            "resetOffsetByTime",
            "-g",
            "PayGroup",
            "-t",
            "Pay",
            "-s",
            "yesterday",
        ])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("yyyy-MM-dd#HH:mm:ss:SSS"), "{err}");

    let out = c
        .ok(&["deleteSubGroup", "-c", "DefaultCluster", "-g", "PayGroup"])
        .await;
    assert!(
        out.contains(&format!(
            "delete subscription group [PayGroup] from broker [{addr}] in cluster [DefaultCluster] success."
        )),
        "{out}"
    );
    let out = c.ok(&["deleteSubGroup", "-b", &addr, "-g", "Gone"]).await;
    assert!(
        out.contains(&format!(
            "delete subscription group [Gone] from broker [{addr}] success."
        )),
        "{out}"
    );

    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_of_clients_that_sent_heartbeats() {
    let c = Cluster::start().await;
    c.ok(&[
        "updateTopic",
        "-c",
        "DefaultCluster",
        "-t",
        "Ship",
        "-r",
        "1",
        "-w",
        "1",
    ])
    .await;
    c.register().await;

    let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    let heartbeat = HeartbeatData {
        client_id: "127.0.0.1@shipper".into(),
        consumer_data_set: vec![ConsumerData {
            group_name: "ShipConsumers".into(),
            consume_type: ConsumeType::ConsumePassively,
            message_model: MessageModel::Clustering,
            consume_from_where: ConsumeFromWhere::ConsumeFromFirstOffset,
            subscription_data_set: vec![SubscriptionData {
                topic: "Ship".into(),
                sub_string: "TagA || TagB".into(),
                expression_type: "TAG".into(),
                tags_set: vec!["TagA".into(), "TagB".into()],
                ..Default::default()
            }],
            ..Default::default()
        }],
        producer_data_set: vec![ProducerData {
            group_name: "ShipProducers".into(),
        }],
        ..Default::default()
    };
    let request = RemotingCommand::request(RequestCode::HeartBeat).with_body(heartbeat.encode());
    let response = client
        .invoke(&c.broker_addr, request, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        response.code,
        ResponseCode::Success.as_i32(),
        "{:?}",
        response.remark
    );

    let out = c.ok(&["consumerConnection", "-g", "ShipConsumers"]).await;
    assert_eq!(
        header(&out),
        ["#ClientId", "#ClientAddr", "#Language", "#Version"],
        "{out}"
    );
    let cols = &rows(&out)[0];
    assert_eq!(cols[0], "127.0.0.1@shipper", "{out}");
    assert!(cols[1].starts_with("127.0.0.1:"), "{out}");
    assert_eq!(cols[2], "RUST", "our RemotingClient says RUST: {out}");
    let subscription = out
        .split("Below is subscription:")
        .nth(1)
        .unwrap_or_default();
    assert_eq!(header(subscription), ["#Topic", "#SubExpression"], "{out}");
    assert!(
        subscription
            .lines()
            .any(|l| l.starts_with("Ship ") && l.ends_with("TagA || TagB")),
        "{out}"
    );
    assert!(out.contains("ConsumeType: CONSUME_PASSIVELY"), "{out}");
    assert!(out.contains("MessageModel: CLUSTERING"), "{out}");
    assert!(
        out.contains("ConsumeFromWhere: CONSUME_FROM_FIRST_OFFSET"),
        "{out}"
    );

    let out = c
        .ok(&["producerConnection", "-g", "ShipProducers", "-t", "Ship"])
        .await;
    let cols: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(cols[0], "0001", "{out}");
    assert_eq!(cols[1], "127.0.0.1@shipper", "{out}");

    // topicList -c names the groups consuming each topic.
    let out = c.ok(&["topicList", "-c"]).await;
    assert!(
        rows(&out).contains(&vec!["DefaultCluster", "Ship", "ShipConsumers"]),
        "{out}"
    );

    // Without -g: one row per group, found through its %RETRY% topic (made by the heartbeat).
    c.register().await;
    let out = c.ok(&["consumerProgress"]).await;
    assert_eq!(
        header(&out),
        [
            "#Group",
            "#Count",
            "#Version",
            "#Type",
            "#Model",
            "#TPS",
            "#Diff Total"
        ],
        "{out}"
    );
    let row = rows(&out)
        .into_iter()
        .find(|r| r[0] == "ShipConsumers")
        .unwrap_or_else(|| panic!("no ShipConsumers row in:\n{out}"));
    // The version our RemotingClient stamps on its requests.
    let ours = sluice_remoting::code::version::name(RemotingCommand::request(0).version);
    assert_eq!(
        &row[1..],
        ["1", ours.as_str(), "PUSH", "CLUSTERING", "0", "0"],
        "{out}"
    );

    let err = c
        .run(&["consumerConnection", "-g", "NobodyHere"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("has no online consumer"), "{err}");
    let err = c
        .run(&["producerConnection", "-g", "NobodyHere", "-t", "Ship"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("has no online producer"), "{err}");
    c.shutdown().await;
}
