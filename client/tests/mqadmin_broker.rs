//! Cluster and broker commands against an in-process NameServer + broker: clusterList,
//! brokerStatus, getBrokerConfig, updateBrokerConfig.

mod mqadmin_common;

use mqadmin_common::{header, rows, Cluster};

/// `key=  value` lines of getBrokerConfig.
fn config_value<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    out.lines().find_map(|l| {
        let (k, v) = l.split_once("=  ")?;
        (k.trim() == key).then(|| v.trim())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_and_broker_commands() {
    let c = Cluster::start().await;
    let addr = c.broker_addr.clone();

    let out = c.ok(&["clusterList"]).await;
    assert_eq!(
        header(&out),
        [
            "#Cluster Name",
            "#Broker Name",
            "#BID",
            "#Addr",
            "#Version",
            "#InTPS(LOAD)",
            "#OutTPS(LOAD)",
            "#Timer(Progress)",
            "#PCWait(ms)",
            "#Hour",
            "#SPACE",
            "#ACTIVATED"
        ],
        "{out}"
    );
    let table = rows(&out);
    assert_eq!(table.len(), 1, "{out}");
    assert_eq!(
        &table[0][..4],
        ["DefaultCluster", "broker-a", "0", addr.as_str()],
        "{out}"
    );
    assert!(table[0][4].starts_with('V'), "version column: {out}");
    // -m: message totals per day; a message sent now counts in #InTotalToday.
    c.ok(&["updateTopic", "-b", &addr, "-t", "Counted"]).await;
    c.register().await;
    c.ok(&["sendMessage", "-t", "Counted", "-p", "x"]).await;
    let out = c.ok(&["clusterList", "-m"]).await;
    assert_eq!(
        header(&out),
        [
            "#Cluster Name",
            "#Broker Name",
            "#InTotalYest",
            "#OutTotalYest",
            "#InTotalToday",
            "#OutTotalToday"
        ],
        "{out}"
    );
    let row = &rows(&out)[0];
    assert_eq!(&row[..2], ["DefaultCluster", "broker-a"], "{out}");
    assert_eq!(row[4], "1", "{out}");
    let out = c.ok(&["clusterList", "-c", "OtherCluster"]).await;
    assert!(rows(&out).is_empty(), "{out}");

    let out = c.ok(&["brokerStatus", "-b", &addr]).await;
    let keys: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_once(':').map(|(k, _)| k.trim()))
        .collect();
    for key in ["brokerVersionDesc", "putTps", "msgPutTotalTodayNow"] {
        assert!(keys.contains(&key), "no {key} in:\n{out}");
    }
    let out = c.ok(&["brokerStatus", "-c", "DefaultCluster"]).await;
    assert!(out.lines().all(|l| l.starts_with(&addr)), "{out}");

    let out = c.ok(&["getBrokerConfig", "-b", &addr]).await;
    assert!(
        out.starts_with(&format!("============{addr}============")),
        "{out}"
    );
    assert_eq!(config_value(&out, "brokerName"), Some("broker-a"), "{out}");
    assert_eq!(
        config_value(&out, "brokerClusterName"),
        Some("DefaultCluster")
    );
    let before = config_value(&out, "maxMessageSize").map(str::to_owned);
    assert!(before.is_some(), "{out}");

    let out = c
        .ok(&[
            "updateBrokerConfig",
            "-b",
            &addr,
            "-k",
            "maxMessageSize",
            "-v",
            "1048576",
        ])
        .await;
    assert_eq!(out.trim(), format!("update broker config success, {addr}"));
    let out = c.ok(&["getBrokerConfig", "-c", "DefaultCluster"]).await;
    assert!(
        out.starts_with(&format!("============Master: {addr}============")),
        "{out}"
    );
    assert_eq!(
        config_value(&out, "maxMessageSize"),
        Some("1048576"),
        "{out}"
    );

    // A key the broker refuses to change at run time: refused, with the broker's reason.
    let err = c
        .run(&[
            "updateBrokerConfig",
            "-b",
            &addr,
            "-k",
            "brokerConfigPath",
            "-v",
            "/x",
        ])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("black list"), "{err}");

    // haStatus: a master without slaves reports itself and no slave rows.
    let out = c.ok(&["haStatus", "-b", &addr]).await;
    assert!(out.contains(&format!("#MasterAddr\t{addr}")), "{out}");
    assert!(out.contains("#SlaveNum\t0\n#InSyncSlaveNum\t0"), "{out}");
    c.shutdown().await;
}
