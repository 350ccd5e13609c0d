//! Automatic failover with real processes: a NameServer, an `mqcontroller`, and two replicas of
//! broker-a in controller mode (SYNC_MASTER + SYNC_FLUSH).
//!
//! - The master is SIGKILLed under load: the in-sync replica is elected and accepts writes again
//!   (the time is printed); every acknowledged message is consumed through the NameServer,
//!   duplicates are counted; the old master, restarted, rejoins as a slave, cuts its diverged
//!   tail and converges to a byte-identical CommitLog.
//! - The master is cut off by a network partition instead (network namespace + iptables): at no
//!   moment do both replicas accept writes, and after healing the old master follows the new one.
#![cfg(feature = "broker")]

mod ha_common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ha_common::{commit_log_bytes, consume_all, run_load};
use sluice_client::Admin;
use sluice_remoting::body::{EpochEntryCache, JsonBody, TopicConfig};
use sluice_remoting::header::{SendMessageRequestHeader, SendMessageRequestHeaderV2};
use sluice_remoting::net::{ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};
use sluice_tests::netns::NetNs;
use sluice_tests::{BrokerProcess, BrokerSpec, ControllerProcess, NameServerProcess};

const TOPIC: &str = "FailoverTopic";
const T: Duration = Duration::from_secs(3);

fn replica_spec_as(id: u64, controller: &str, role: &str, flush: &str) -> BrokerSpec {
    BrokerSpec {
        broker_id: id,
        ..BrokerSpec::default()
    }
    .with("enableControllerMode", "true")
    .with("controllerAddr", controller)
    .with("brokerRole", role)
    .with("flushDiskType", flush)
    .with("brokerHeartbeatInterval", "300")
    .with("controllerHeartBeatTimeoutMills", "4000")
    .with("brokerIP2", "127.0.0.1")
}

fn send_request(body: &str) -> RemotingCommand {
    let h = SendMessageRequestHeader {
        producer_group: "PG_FAILOVER".into(),
        topic: TOPIC.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: 0,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        flag: 0,
        properties: Some(String::new()),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        batch: Some(false),
        max_reconsume_times: None,
        rpc: Default::default(),
    };
    let v2: SendMessageRequestHeaderV2 = h.into();
    RemotingCommand::request(RequestCode::SendMessageV2)
        .with_header(&v2)
        .with_body(body.as_bytes().to_vec())
}

/// Whether `addr` stores a write now.
async fn accepts_write(client: &RemotingClient, addr: &str, body: &str) -> bool {
    matches!(client.invoke(addr, send_request(body), T).await,
             Ok(r) if r.code == ResponseCode::Success.as_i32())
}

async fn epoch_cache(client: &RemotingClient, addr: &str) -> Option<EpochEntryCache> {
    let r = client
        .invoke(
            addr,
            RemotingCommand::request(RequestCode::GetBrokerEpochCache),
            T,
        )
        .await
        .ok()?;
    EpochEntryCache::decode(&r.body.to_bytes()).ok()
}

/// The controller's view of broker-a: (master id, master epoch, SyncStateSet).
fn group_state(controller: &ControllerProcess) -> Option<(Option<i64>, i64, Vec<i64>)> {
    let table = controller.replica_table()?;
    let g = table.get("groups")?.get("broker-a")?;
    Some((
        g.get("master").and_then(|m| m.as_i64()),
        g.get("masterEpoch")?.as_i64()?,
        g.get("syncStateSet")?
            .as_array()?
            .iter()
            .filter_map(|v| v.as_i64())
            .collect(),
    ))
}

async fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn create_topic(namesrv: &str, master: &str) {
    let admin = Admin::new(namesrv).unwrap();
    let mut topic = TopicConfig::new(TOPIC);
    topic.read_queue_nums = 4;
    topic.write_queue_nums = 4;
    admin.create_topic(master, &topic).await.unwrap();
}

/// Waits until the replica at `addr` holds exactly `max` bytes of CommitLog.
async fn wait_converged(client: &RemotingClient, addr: &str, max: i64) {
    for _ in 0..300 {
        if let Some(c) = epoch_cache(client, addr).await {
            if c.max_offset == max {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{addr} did not converge to {max}");
}

/// A NameServer, a controller, and replicas 1 (leading) and 2 (in its SyncStateSet) of
/// broker-a as real processes.
struct Pair {
    ns: NameServerProcess,
    controller: ControllerProcess,
    b1: BrokerProcess,
    b2: BrokerProcess,
}

async fn start_pair(role: &str, flush: &str) -> Pair {
    let ns = NameServerProcess::start(sluice_tests::nameserver_bin!())
        .await
        .unwrap();
    let controller = ControllerProcess::start_with(
        sluice_tests::controller_bin!(),
        &[("scanNotActiveBrokerInterval", "200")],
    )
    .await
    .unwrap();
    let caddr = controller.addr();
    let spec = |id| replica_spec_as(id, &caddr, role, flush);
    let b1 = BrokerProcess::start(sluice_tests::broker_bin!(), &ns.addr(), spec(1))
        .await
        .unwrap();
    wait_for("replica 1 to lead", Duration::from_secs(20), || {
        matches!(group_state(&controller), Some((Some(1), _, _)))
    })
    .await;
    let b2 = BrokerProcess::start(sluice_tests::broker_bin!(), &ns.addr(), spec(2))
        .await
        .unwrap();
    wait_for(
        "replica 2 in the SyncStateSet",
        Duration::from_secs(30),
        || matches!(group_state(&controller), Some((_, _, set)) if set.contains(&2)),
    )
    .await;
    Pair {
        ns,
        controller,
        b1,
        b2,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_sigkill_elects_the_in_sync_replica_and_the_old_master_rejoins() {
    let Pair {
        ns,
        controller: _controller,
        mut b1,
        b2,
    } = start_pair("SYNC_MASTER", "SYNC_FLUSH").await;
    create_topic(&ns.addr(), &b1.addr()).await;

    // Load through the NameServer; kill the master after 2 s.
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(run_load(ns.addr(), TOPIC, 4, stop.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    b1.kill().await.unwrap();
    let killed = Instant::now();
    // The group writes again: replica 2, elected, takes a write.
    let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    let mut took = None;
    while killed.elapsed() < Duration::from_secs(60) {
        if accepts_write(&client, &b2.addr(), "probe-after-kill").await {
            took = Some(killed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = took.expect("no write accepted within 60 s of the master's death");
    println!("the group accepted writes again {took:?} after the master was killed");
    assert!(
        took < Duration::from_secs(15),
        "writes resumed only after {took:?} (the issue asks for 15 s)"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let outcome = load.await.unwrap();
    let acked: HashSet<String> = outcome.acked.iter().map(|a| a.body.clone()).collect();
    println!(
        "acknowledged {}; not-OK {:?}; errors {}",
        acked.len(),
        outcome.not_ok,
        outcome.errors
    );
    assert!(!acked.is_empty());

    // Every acknowledged message is there, on the new master.
    let got = consume_all(
        &ns.addr(),
        "failover-check",
        TOPIC,
        &|g| acked.iter().all(|b| g.contains_key(b)),
        Duration::from_secs(60),
    )
    .await;
    let lost: Vec<_> = acked.iter().filter(|b| !got.contains_key(*b)).collect();
    let duplicates: usize = got.values().map(|n| n - 1).sum();
    println!(
        "consumed {} distinct, {duplicates} duplicates, {} lost",
        got.len(),
        lost.len()
    );
    assert!(
        lost.is_empty(),
        "acknowledged but lost: {} e.g. {:?}",
        lost.len(),
        lost.iter().take(3).collect::<Vec<_>>()
    );

    // The old master comes back as a slave, cuts what it alone had, and converges.
    b1.process.start().await.unwrap();
    let master = epoch_cache(&client, &b2.addr())
        .await
        .expect("new master answers");
    assert_eq!(
        master
            .epoch_list
            .iter()
            .map(|e| e.epoch)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
    wait_converged(&client, &b1.addr(), master.max_offset).await;
    let rejoined = epoch_cache(&client, &b1.addr()).await.unwrap();
    assert_eq!(
        rejoined.epoch_list, master.epoch_list,
        "the rejoined replica shares the history"
    );
    let limit = master.max_offset as u64;
    assert!(
        commit_log_bytes(&b1.store_dir(), limit) == commit_log_bytes(&b2.store_dir(), limit),
        "CommitLogs differ below {limit}"
    );
    assert!(
        !accepts_write(&client, &b1.addr(), "to-the-old-master").await,
        "a slave took a write"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_master_stops_writing_before_its_successor_starts() {
    if let Err(why) = NetNs::available() {
        eprintln!("SKIPPED a_partitioned_master_stops_writing_before_its_successor_starts: {why}");
        return;
    }
    let net = NetNs::create().unwrap();
    // Everything but replica 1 runs here and listens on every address, so the namespace reaches it.
    let ns = NameServerProcess::start_with(
        sluice_tests::nameserver_bin!(),
        &[("bindAddress", "0.0.0.0")],
    )
    .await
    .unwrap();
    let controller = ControllerProcess::start_with(
        sluice_tests::controller_bin!(),
        &[("scanNotActiveBrokerInterval", "200")],
    )
    .await
    .unwrap();
    let caddr = format!("{}:{}", net.host_ip, controller.port);
    let namesrv = format!("{}:{}", net.host_ip, ns.port);
    let b1 = BrokerProcess::start_on(
        sluice_tests::broker_bin!(),
        &namesrv,
        // ASYNC: the cut-off master keeps taking writes until its lease runs out, so the test
        // sees exactly when it stops.
        replica_spec_as(1, &caddr, "ASYNC_MASTER", "ASYNC_FLUSH").with("brokerIP2", &net.ns_ip),
        Some(&net),
    )
    .await
    .unwrap();
    wait_for("replica 1 to lead", Duration::from_secs(20), || {
        matches!(group_state(&controller), Some((Some(1), _, _)))
    })
    .await;
    let b2 = BrokerProcess::start(
        sluice_tests::broker_bin!(),
        &namesrv,
        replica_spec_as(2, &caddr, "ASYNC_MASTER", "ASYNC_FLUSH")
            .with("brokerIP1", &net.host_ip)
            .with("brokerIP2", &net.host_ip),
    )
    .await
    .unwrap();
    let b2_addr = format!("{}:{}", net.host_ip, b2.port);
    wait_for(
        "replica 2 in the SyncStateSet",
        Duration::from_secs(30),
        || matches!(group_state(&controller), Some((_, _, set)) if set.contains(&2)),
    )
    .await;
    create_topic(&ns.addr(), &b1.addr()).await;
    let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    assert!(accepts_write(&client, &b1.addr(), "before").await);

    // Cut replica 1 off from the controller, the NameServer and its slave; the test still
    // reaches it.
    net.cut_port(controller.port).unwrap();
    net.cut_port(ns.port).unwrap();
    net.cut_inbound_port(b1.port + 1).unwrap();
    let cut = Instant::now();
    // Probe both replicas until replica 2 has taken writes for a while.
    let mut old_last_ok: Option<Instant> = None;
    let mut new_first_ok: Option<Instant> = None;
    let mut i = 0;
    while cut.elapsed() < Duration::from_secs(40) {
        i += 1;
        if accepts_write(&client, &b1.addr(), &format!("old-{i}")).await {
            old_last_ok = Some(Instant::now());
        }
        let sent = Instant::now();
        if accepts_write(&client, &b2_addr, &format!("new-{i}")).await && new_first_ok.is_none() {
            new_first_ok = Some(sent);
        }
        if new_first_ok.is_some_and(|t| t.elapsed() > Duration::from_secs(2)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let new_first =
        new_first_ok.expect("the replica was never elected while the master was cut off");
    let old_last = old_last_ok
        .expect("the master took no write after the cut (its lease should last a while)");
    println!(
        "old master's last accepted write {:?} after the cut, new master's first {:?}",
        old_last - cut,
        new_first - cut
    );
    assert!(
        old_last < new_first,
        "both replicas accepted writes at the same time"
    );
    assert!(
        !accepts_write(&client, &b1.addr(), "after-election").await,
        "the cut-off master still writes"
    );

    // Heal: the old master learns of its successor and follows it.
    net.heal().unwrap();
    let master = {
        let mut m = None;
        for _ in 0..100 {
            if let Some(c) = epoch_cache(&client, &b2_addr).await {
                m = Some(c);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        m.expect("the new master answers")
    };
    wait_converged(&client, &b1.addr(), master.max_offset).await;
    let limit = master.max_offset as u64;
    assert!(commit_log_bytes(&b1.store_dir(), limit) == commit_log_bytes(&b2.store_dir(), limit));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqadmin_shows_the_sync_state_set_and_elect_master_switches_over() {
    let Pair {
        ns,
        controller,
        b1: _b1,
        b2,
    } = start_pair("ASYNC_MASTER", "ASYNC_FLUSH").await;
    let caddr = controller.addr();
    let mut out = String::new();
    sluice_client::admin::cli::run(
        &[
            "getSyncStateSet",
            "-n",
            &ns.addr(),
            "-a",
            &caddr,
            "-c",
            "DefaultCluster",
        ],
        &mut out,
    )
    .await
    .unwrap_or_else(|e| panic!("getSyncStateSet failed: {e}"));
    for want in [
        "#brokerName\tbroker-a",
        "#MasterBrokerId\t1",
        "#MasterEpoch\t1",
        "#SyncStateSetNums\t2",
        "InSyncReplica:\tReplicaIdentity{brokerName='broker-a', brokerId=2",
        "alive=true}",
    ] {
        assert!(out.contains(want), "missing `{want}` in:\n{out}");
    }

    // The operator moves the master to replica 2.
    let mut out = String::new();
    sluice_client::admin::cli::run(
        &[
            "electMaster",
            "-a",
            &caddr,
            "-b",
            "2",
            "-bn",
            "broker-a",
            "-c",
            "DefaultCluster",
        ],
        &mut out,
    )
    .await
    .unwrap_or_else(|e| panic!("electMaster failed: {e}"));
    assert!(
        out.contains(&format!("#BrokerMasterAddr\t{}", b2.addr())),
        "{out}"
    );
    assert!(out.contains("#MasterEpoch\t2"), "{out}");
    let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    let mut took = false;
    for _ in 0..200 {
        if accepts_write(&client, &b2.addr(), "after-switchover").await {
            took = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(took, "replica 2 never took writes after electMaster");
}
