//! Two NameServers and one broker (issue 4, "Done when"): the route is on both; the broker killed
//! → its routes disappear (connection close or the 120 s expiry, whichever comes first);
//! restarted → back on both.
#![cfg(feature = "broker")]

use std::time::Duration;

use sluice_tests::{broker_bin, nameserver_bin, BrokerSpec, Cluster};

#[tokio::test]
async fn routes_follow_the_broker_on_every_nameserver() {
    let mut cluster = Cluster::start(
        nameserver_bin!(),
        broker_bin!(),
        2,
        vec![BrokerSpec::default()],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let own_topic = cluster.broker().spec.broker_name.clone();
    let broker_addr = cluster.broker().addr();
    for ns in &cluster.nameservers {
        let route = ns
            .wait_for_route(&own_topic, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(route.contains(&broker_addr), "{}: {route}", ns.addr());
    }

    cluster
        .broker_mut()
        .kill()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Expiry is 120 s after the last registration, scanned every 5 s: allow for both.
    for ns in &cluster.nameservers {
        ns.wait_for_no_route(&own_topic, Duration::from_secs(150))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    cluster
        .broker_mut()
        .restart()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    cluster
        .wait_registered()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for ns in &cluster.nameservers {
        let route = ns
            .wait_for_route(&own_topic, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(route.contains(&broker_addr), "{}: {route}", ns.addr());
    }
}
