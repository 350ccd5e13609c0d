//! Route table hot paths: the route lookup every client makes every 30 s per topic (table read
//! plus JSON encoding), and a full broker registration of 1,000 topics.

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use sluice_nameserver::route::{Registration, RouteInfoManager};
use sluice_remoting::body::{TopicConfig, TopicConfigSerializeWrapper};

fn wrapper(counter: i64, topics: usize) -> TopicConfigSerializeWrapper {
    let mut w = TopicConfigSerializeWrapper::default();
    w.data_version.counter = counter;
    for i in 0..topics {
        let name = format!("Topic{i:04}");
        let mut t = TopicConfig::new(name.clone());
        t.read_queue_nums = 8;
        t.write_queue_nums = 8;
        w.topic_config_table.insert(name, t);
    }
    w
}

fn register(
    m: &RouteInfoManager,
    name: &str,
    addr: &str,
    channel_id: u64,
    topics: &TopicConfigSerializeWrapper,
) {
    m.register_broker(Registration {
        cluster: "DefaultCluster",
        broker_addr: addr,
        broker_name: name,
        broker_id: 0,
        ha_server_addr: "10.0.0.1:10912",
        enable_acting_master: Some(false),
        zone_name: None,
        topics,
        filter_servers: Vec::new(),
        timeout: Duration::from_secs(120),
        channel_id,
        channel: None,
    });
}

fn bench(c: &mut Criterion) {
    let m = RouteInfoManager::new();
    register(&m, "broker-a", "10.0.0.1:10911", 1, &wrapper(1, 1000));
    register(&m, "broker-b", "10.0.0.2:10911", 2, &wrapper(1, 1000));

    c.bench_function("topic_route (2 brokers)", |b| {
        b.iter(|| black_box(m.topic_route(black_box("Topic0500"))))
    });
    c.bench_function("topic_route + legacy JSON", |b| {
        b.iter(|| black_box(m.topic_route("Topic0500").map(|r| r.encode_for(333, false))))
    });
    c.bench_function("topic_route + standard JSON", |b| {
        b.iter(|| black_box(m.topic_route("Topic0500").map(|r| r.encode_for(479, false))))
    });
    // The decoded body is built outside the measurement.
    let mut counter = 1;
    c.bench_function("register 1000 topics, version changed", |b| {
        b.iter_batched(
            || {
                counter += 1;
                wrapper(counter, 1000)
            },
            |w| {
                register(&m, "broker-a", "10.0.0.1:10911", 1, &w);
                w
            },
            BatchSize::LargeInput,
        )
    });
    let same = counter;
    c.bench_function("register 1000 topics, version unchanged", |b| {
        b.iter_batched(
            || wrapper(same, 1000),
            |w| {
                register(&m, "broker-a", "10.0.0.1:10911", 1, &w);
                w
            },
            BatchSize::LargeInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
