//! Route table unit tests, including a randomized consistency test.

use super::*;
use sluice_remoting::body::TopicConfig;

/// A topic table that lives for the whole test run (leaked: tests only).
fn topics(version: i64, entries: &[(&str, i32)]) -> &'static TopicConfigSerializeWrapper {
    let mut w = TopicConfigSerializeWrapper::default();
    w.data_version.counter = version;
    w.data_version.timestamp = 1000 + version;
    for &(name, queues) in entries {
        let mut t = TopicConfig::new(name);
        t.read_queue_nums = queues;
        t.write_queue_nums = queues;
        t.perm = PERM_READ | PERM_WRITE;
        w.topic_config_table.insert(name.into(), t);
    }
    Box::leak(Box::new(w))
}

fn reg<'a>(
    name: &'a str,
    addr: &'a str,
    id: i64,
    channel_id: u64,
    topics: &'a TopicConfigSerializeWrapper,
) -> Registration<'a> {
    Registration {
        cluster: "DefaultCluster",
        broker_addr: addr,
        broker_name: name,
        broker_id: id,
        ha_server_addr: if id == 0 {
            "10.0.0.1:10912"
        } else {
            "10.0.0.2:10912"
        },
        enable_acting_master: None,
        zone_name: None,
        topics,
        filter_servers: Vec::new(),
        timeout: Duration::from_secs(120),
        channel_id,
        channel: None,
    }
}

fn queues_of(m: &RouteInfoManager, topic: &str) -> Vec<i32> {
    m.topic_route(topic)
        .map(|r| r.queue_datas.iter().map(|q| q.write_queue_nums).collect())
        .unwrap_or_default()
}

#[test]
fn queue_data_changes_only_with_a_new_data_version() {
    let m = RouteInfoManager::new();
    let first = m.register_broker(reg("a", "10.0.0.1:10911", 0, 1, topics(1, &[("T", 4)])));
    assert!(first.new_channel);
    assert_eq!(queues_of(&m, "T"), [4]);
    // Same version, different content: ignored (the broker did not say it changed).
    let again = m.register_broker(reg("a", "10.0.0.1:10911", 0, 1, topics(1, &[("T", 8)])));
    assert!(!again.new_channel);
    assert_eq!(queues_of(&m, "T"), [4]);
    m.register_broker(reg(
        "a",
        "10.0.0.1:10911",
        0,
        1,
        topics(2, &[("T", 8), ("U", 1)]),
    ));
    assert_eq!(queues_of(&m, "T"), [8]);
    assert_eq!(queues_of(&m, "U"), [1]);
    assert_eq!(m.broker_data_version("10.0.0.1:10911").unwrap().counter, 2);
}

#[test]
fn slaves_learn_their_master_and_never_write_queue_data() {
    let m = RouteInfoManager::new();
    let alone = m.register_broker(reg("a", "10.0.0.2:10911", 1, 2, topics(1, &[("T", 4)])));
    assert_eq!(alone.master_addr, None);
    assert!(m.topic_route("T").is_none(), "slave topics are not routed");
    m.register_broker(reg("a", "10.0.0.1:10911", 0, 1, topics(1, &[("T", 4)])));
    let slave = m.register_broker(reg("a", "10.0.0.2:10911", 1, 2, topics(1, &[("T", 4)])));
    assert_eq!(slave.master_addr.as_deref(), Some("10.0.0.1:10911"));
    assert_eq!(slave.ha_server_addr.as_deref(), Some("10.0.0.1:10912"));
    let route = m.topic_route("T").unwrap();
    assert_eq!(route.broker_datas[0].broker_addrs.len(), 2);
}

#[test]
fn an_address_changing_id_is_registered_once() {
    let m = RouteInfoManager::new();
    m.register_broker(reg("a", "10.0.0.2:10911", 1, 2, topics(1, &[])));
    m.register_broker(reg("a", "10.0.0.2:10911", 0, 2, topics(1, &[("T", 4)])));
    let info = m.cluster_info();
    let addrs = &info.broker_addr_table["a"].broker_addrs;
    assert_eq!(addrs.len(), 1);
    assert_eq!(addrs[&0], "10.0.0.2:10911");
}

#[test]
fn removing_the_last_member_cleans_cluster_and_topics() {
    let m = RouteInfoManager::new();
    m.register_broker(reg(
        "a",
        "10.0.0.1:10911",
        0,
        1,
        topics(1, &[("T", 4), ("OnlyA", 1)]),
    ));
    m.register_broker(reg("b", "10.0.0.3:10911", 0, 3, topics(1, &[("T", 2)])));
    m.register_broker(reg("a", "10.0.0.2:10911", 1, 2, topics(1, &[])));
    m.unregister_broker("DefaultCluster", "10.0.0.1:10911", "a");
    // A slave remains: group "a" and its queues stay.
    assert!(m.topic_route("OnlyA").is_some());
    m.on_channel_closed(2);
    assert!(m.topic_route("OnlyA").is_none());
    assert_eq!(queues_of(&m, "T"), [2]);
    assert_eq!(m.all_topics().topic_list.len(), 1);
    let info = m.cluster_info();
    assert_eq!(info.cluster_addr_table["DefaultCluster"].len(), 1);
    m.unregister_broker("DefaultCluster", "10.0.0.3:10911", "b");
    assert!(m.cluster_info().cluster_addr_table.is_empty());
    assert!(m.all_topics().topic_list.is_empty());
    assert_eq!(m.live_brokers(), 0);
}

#[test]
fn silent_brokers_expire_and_touched_ones_stay() {
    let m = RouteInfoManager::new();
    let mut short = reg("a", "10.0.0.1:10911", 0, 1, topics(1, &[("T", 4)]));
    short.timeout = Duration::from_secs(10);
    m.register_broker(short);
    m.register_broker(reg("b", "10.0.0.3:10911", 0, 3, topics(1, &[("T", 2)])));
    assert_eq!(m.scan_not_active_brokers(Instant::now()), 0);
    let later = Instant::now() + Duration::from_secs(11);
    assert_eq!(m.scan_not_active_brokers(later), 1);
    assert_eq!(queues_of(&m, "T"), [2]);
    assert!(m.touch_broker("10.0.0.3:10911"));
    assert!(!m.touch_broker("10.0.0.1:10911"));
    assert_eq!(
        m.scan_not_active_brokers(Instant::now() + Duration::from_secs(121)),
        1
    );
    assert!(m.topic_route("T").is_none());
}

#[test]
fn topic_administration() {
    let m = RouteInfoManager::new();
    m.register_broker(reg("a", "10.0.0.1:10911", 0, 1, topics(1, &[("T", 4)])));
    let mut other = reg("b", "10.0.0.3:10911", 0, 3, topics(1, &[("T", 2)]));
    other.cluster = "Other";
    m.register_broker(other);
    assert_eq!(m.topics_of_cluster("Other").topic_list.len(), 1);
    let system = m.system_topics();
    assert!(system.topic_list.contains("DefaultCluster") && system.topic_list.contains("b"));
    assert!(system.broker_addr.is_some());

    assert_eq!(m.set_write_perm_of_broker("a", false), 1);
    let perms: Vec<i32> = m
        .topic_route("T")
        .unwrap()
        .queue_datas
        .iter()
        .map(|q| q.perm)
        .collect();
    assert_eq!(perms, [PERM_READ, PERM_READ | PERM_WRITE]);
    assert_eq!(m.set_write_perm_of_broker("a", true), 1);

    m.delete_topic("T", Some("Other"));
    assert_eq!(queues_of(&m, "T"), [4]);
    m.delete_topic("T", None);
    assert!(m.topic_route("T").is_none());

    let q = |b: &str| QueueData {
        broker_name: b.into(),
        perm: 6,
        read_queue_nums: 3,
        write_queue_nums: 3,
        topic_sys_flag: 0,
    };
    assert_eq!(m.register_topic("New", vec![q("a"), q("unknown")]), 0);
    assert!(m.topic_route("New").is_none());
    assert_eq!(m.register_topic("New", vec![q("a")]), 1);
    assert_eq!(queues_of(&m, "New"), [3]);
}

#[test]
fn a_topic_deleted_by_admin_comes_back_with_the_next_registration() {
    let m = RouteInfoManager::new();
    m.register_broker(reg("a", "10.0.0.1:10911", 0, 1, topics(1, &[("T", 4)])));
    m.delete_topic("T", None);
    assert!(m.topic_route("T").is_none());
    // Same data version: Apache still restores a topic the table lost.
    m.register_broker(reg("a", "10.0.0.1:10911", 0, 1, topics(1, &[("T", 4)])));
    assert_eq!(queues_of(&m, "T"), [4]);
}

#[test]
fn a_5x_slave_without_master_registers_topics_read_only_when_acting_master() {
    let m = RouteInfoManager::new();
    let mut slave = reg("a", "10.0.0.2:10911", 1, 2, topics(1, &[("T", 4)]));
    slave.enable_acting_master = Some(true);
    m.register_broker(slave);
    let route = m.topic_route("T").unwrap();
    assert_eq!(route.queue_datas[0].perm, PERM_READ);
    assert!(route.broker_datas[0].enable_acting_master);

    // Master back: it owns the queue data again; losing it makes the group read-only.
    let mut master = reg("a", "10.0.0.1:10911", 0, 1, topics(2, &[("T", 4)]));
    master.enable_acting_master = Some(true);
    m.register_broker(master);
    assert_eq!(
        m.topic_route("T").unwrap().queue_datas[0].perm,
        PERM_READ | PERM_WRITE
    );
    m.unregister_broker("DefaultCluster", "10.0.0.1:10911", "a");
    assert_eq!(m.topic_route("T").unwrap().queue_datas[0].perm, PERM_READ);
}

#[test]
fn a_stale_process_cannot_take_over_a_newer_ones_id() {
    let m = RouteInfoManager::new();
    let mut current = topics(1, &[("T", 4)]).clone();
    current.data_version.state_version = 5;
    m.register_broker(reg("a", "10.0.0.1:10911", 0, 1, &current));
    let mut stale = topics(1, &[("T", 8)]).clone();
    stale.data_version.state_version = 3;
    let result = m.register_broker(reg("a", "10.0.0.9:10911", 0, 9, &stale));
    assert_eq!(result, RegisterResult::default());
    let route = m.topic_route("T").unwrap();
    assert_eq!(route.broker_datas[0].master_addr(), Some("10.0.0.1:10911"));
    assert_eq!(route.queue_datas[0].write_queue_nums, 4);
    assert_eq!(m.live_brokers(), 1);
}

/// The tables stay consistent whatever brokers do: every routed queue belongs to a known
/// group, every group is in its cluster, nothing empty lingers, every member address is live.
fn check_invariants(m: &RouteInfoManager, seed: u64, step: usize) {
    let t = m.read();
    let ctx = format!("seed {seed}, step {step}");
    for (topic, queues) in &t.topic_queues {
        assert!(!queues.is_empty(), "{ctx}: topic {topic} has no queues");
        for name in queues.keys() {
            assert!(
                t.broker_addrs.contains_key(name),
                "{ctx}: {topic} routed to gone {name}"
            );
        }
    }
    for (name, broker) in &t.broker_addrs {
        assert!(!broker.broker_addrs.is_empty(), "{ctx}: empty group {name}");
        assert!(
            t.clusters
                .get(&broker.cluster)
                .is_some_and(|c| c.contains(name)),
            "{ctx}: {name} missing from cluster {}",
            broker.cluster
        );
        for addr in broker.broker_addrs.values() {
            assert!(
                t.live.contains_key(addr),
                "{ctx}: member {addr} of {name} not live"
            );
        }
    }
    for (cluster, names) in &t.clusters {
        assert!(!names.is_empty(), "{ctx}: empty cluster {cluster}");
        for name in names {
            assert!(
                t.broker_addrs.contains_key(name),
                "{ctx}: {cluster} lists gone {name}"
            );
        }
    }
}

#[test]
fn random_broker_lives_keep_the_tables_consistent() {
    use rand::{Rng, SeedableRng};
    let seed: u64 = std::env::var("ROUTE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("route table random test seed: {seed} (replay with ROUTE_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let names = ["a", "b", "c"];
    let addrs = [
        "10.0.0.1:1",
        "10.0.0.2:1",
        "10.0.0.3:1",
        "10.0.0.4:1",
        "10.0.0.5:1",
    ];
    let topic_names = ["T0", "T1", "T2", "T3", "T4"];
    let m = RouteInfoManager::new();
    for step in 0..3000 {
        let name = names[rng.gen_range(0..names.len())];
        let cluster = if name == "c" {
            "Other"
        } else {
            "DefaultCluster"
        };
        let addr_index = rng.gen_range(0..addrs.len());
        let addr = addrs[addr_index];
        match rng.gen_range(0..10) {
            0..=5 => {
                let mut w = TopicConfigSerializeWrapper::default();
                w.data_version.counter = rng.gen_range(0..3);
                w.data_version.state_version = rng.gen_range(0..2);
                for topic in topic_names {
                    if rng.gen_bool(0.5) {
                        let mut tc = TopicConfig::new(topic);
                        tc.write_queue_nums = rng.gen_range(1..9);
                        w.topic_config_table.insert(topic.into(), tc);
                    }
                }
                m.register_broker(Registration {
                    cluster,
                    broker_addr: addr,
                    broker_name: name,
                    broker_id: rng.gen_range(0..2),
                    ha_server_addr: "h",
                    enable_acting_master: if rng.gen_bool(0.5) {
                        Some(rng.gen_bool(0.5))
                    } else {
                        None
                    },
                    zone_name: None,
                    topics: &w,
                    filter_servers: Vec::new(),
                    timeout: Duration::from_secs(rng.gen_range(1..200)),
                    channel_id: addr_index as u64,
                    channel: None,
                });
            }
            6 => {
                // Sometimes with the wrong cluster, as a confused admin tool might send.
                let c = if rng.gen_bool(0.2) { "Wrong" } else { cluster };
                m.unregister_broker(c, addr, name)
            }
            7 => m.on_channel_closed(addr_index as u64),
            8 => {
                let later = Instant::now() + Duration::from_secs(rng.gen_range(0..150));
                m.scan_not_active_brokers(later);
            }
            _ => m.delete_topic(topic_names[rng.gen_range(0..topic_names.len())], None),
        }
        check_invariants(&m, seed, step);
    }
}

#[test]
fn an_address_re_registering_under_another_name_leaves_its_old_group() {
    let m = RouteInfoManager::new();
    m.register_broker(reg("a", "10.0.0.1:10911", 0, 1, topics(1, &[("OnlyA", 4)])));
    m.register_broker(reg("b", "10.0.0.1:10911", 0, 1, topics(1, &[("OnlyB", 4)])));
    assert!(m.topic_route("OnlyA").is_none());
    assert!(m.topic_route("OnlyB").is_some());
    assert_eq!(m.cluster_info().broker_addr_table.len(), 1);
    // An unregistration naming the old group does not touch the new one.
    m.unregister_broker("DefaultCluster", "10.0.0.1:10911", "a");
    assert!(m.topic_route("OnlyB").is_some());
    assert_eq!(m.live_brokers(), 1);
}
