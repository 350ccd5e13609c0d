//! Topic commands against an in-process NameServer + broker.

mod mqadmin_common;

use mqadmin_common::{header, rows, Cluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_lifecycle_through_mqadmin() {
    let c = Cluster::start().await;

    let out = c
        .ok(&[
            "updateTopic",
            "-c",
            "DefaultCluster",
            "-t",
            "OrderTopic",
            "-r",
            "4",
            "-w",
            "4",
        ])
        .await;
    assert!(
        out.contains(&format!("create topic to {} success.", c.broker_addr)),
        "{out}"
    );
    assert!(
        out.contains("topicName=OrderTopic, readQueueNums=4, writeQueueNums=4, perm=RW-"),
        "{out}"
    );
    c.register().await;

    // topicList: one topic per line, the new one among them.
    let out = c.ok(&["topicList"]).await;
    assert!(out.lines().any(|l| l == "OrderTopic"), "{out}");
    let out = c.ok(&["topicList", "-c"]).await;
    assert_eq!(
        header(&out),
        ["#Cluster Name", "#Topic", "#Consumer Group"],
        "{out}"
    );
    assert!(
        rows(&out)
            .iter()
            .any(|r| r[0] == "DefaultCluster" && r[1] == "OrderTopic"),
        "{out}"
    );

    // topicRoute: JSON by default, a table with -l.
    let out = c.ok(&["topicRoute", "-t", "OrderTopic"]).await;
    let route: serde_json::Value = serde_json::from_str(&out).expect("topicRoute prints JSON");
    assert_eq!(route["brokerDatas"][0]["brokerName"], "broker-a");
    assert_eq!(route["queueDatas"][0]["readQueueNums"], 4);
    let out = c.ok(&["topicRoute", "-t", "OrderTopic", "-l"]).await;
    assert_eq!(
        header(&out),
        [
            "#ClusterName",
            "#BrokerName",
            "#BrokerAddrs",
            "#ReadQueue",
            "#WriteQueue",
            "#Perm"
        ]
    );
    let r = &rows(&out)[0];
    assert_eq!((r[0], r[1]), ("DefaultCluster", "broker-a"), "{out}");
    assert_eq!(
        r[2],
        format!("{{0={}}}", c.broker_addr),
        "Java map form: {out}"
    );
    assert_eq!(&r[3..], ["4", "4", "6"], "{out}");
    assert!(out.contains("Total:"), "{out}");

    // topicStatus: one row per queue, offsets 0 before any send.
    let out = c.ok(&["topicStatus", "-t", "OrderTopic"]).await;
    assert_eq!(
        header(&out),
        [
            "#Broker Name",
            "#QID",
            "#Min Offset",
            "#Max Offset",
            "#Last Updated"
        ],
        "{out}"
    );
    let table = rows(&out);
    assert_eq!(table.len(), 4, "{out}");
    for (i, r) in table.iter().enumerate() {
        assert_eq!(r[0], "broker-a");
        assert_eq!(r[1], i.to_string());
        assert_eq!((r[2], r[3]), ("0", "0"), "{out}");
    }
    assert!(out.contains("Topic Put TPS:"), "{out}");

    // A sent message moves queue 0's max offset.
    c.ok(&[
        "sendMessage",
        "-t",
        "OrderTopic",
        "-p",
        "x",
        "-b",
        "broker-a",
        "-i",
        "0",
    ])
    .await;
    // The ConsumeQueue is built by the store's dispatch thread just after the send is
    // acknowledged: ask until it has caught up.
    c.eventually(&["topicStatus", "-t", "OrderTopic"], |o| {
        rows(o).first().and_then(|r| r.get(3)) == Some(&"1")
    })
    .await;

    let out = c.ok(&["topicClusterList", "-t", "OrderTopic"]).await;
    assert_eq!(out.trim(), "DefaultCluster");

    let out = c
        .ok(&["deleteTopic", "-t", "OrderTopic", "-c", "DefaultCluster"])
        .await;
    assert!(
        out.contains("delete topic [OrderTopic] from cluster [DefaultCluster] success."),
        "{out}"
    );
    assert!(
        out.contains("delete topic [OrderTopic] from NameServer success."),
        "{out}"
    );
    let out = c.ok(&["topicList"]).await;
    assert!(!out.lines().any(|l| l == "OrderTopic"), "{out}");
    let err = c
        .run(&["topicRoute", "-t", "OrderTopic"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("No topic route info"), "{err}");

    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_topic_on_one_broker_with_perm_and_order() {
    let c = Cluster::start().await;
    let addr = c.broker_addr.clone();
    let out = c
        .ok(&[
            "updateTopic",
            "-b",
            &addr,
            "-t",
            "ReadOnly",
            "-p",
            "4",
            "-o",
            "true",
        ])
        .await;
    assert!(out.contains("perm=R--"), "{out}");
    assert!(out.contains("order=true"), "{out}");
    c.register().await;
    let out = c.ok(&["topicRoute", "-t", "ReadOnly", "-l"]).await;
    assert_eq!(rows(&out)[0].last(), Some(&"4"), "{out}");
    // Neither -b nor -c: told what to pass.
    let err = c.run(&["updateTopic", "-t", "X"]).await.unwrap_err();
    assert!(
        err.to_string().contains("-b brokerAddr or -c clusterName"),
        "{err}"
    );
    let err = c
        .run(&["updateTopic", "-b", &addr, "-t", "X", "-p", "3"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("2 (W), 4 (R) or 6 (RW)"), "{err}");
    c.shutdown().await;
}
