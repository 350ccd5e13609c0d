//! A rough throughput probe (ignored by default; prints, asserts only correctness):
//! `cargo test -p sluice-broker --test bcore_throughput -- --ignored --nocapture`.

mod bcore_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bcore_support::test_config;
use sluice_broker::Broker;
use sluice_remoting::header::SendMessageRequestHeader;
use sluice_remoting::net::{ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};

fn send(topic: &str, queue_id: i32) -> RemotingCommand {
    let header = SendMessageRequestHeader {
        producer_group: "PG".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        flag: 0,
        properties: Some("TAGS\u{1}A\u{2}".into()),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        batch: Some(false),
        max_reconsume_times: None,
        rpc: Default::default(),
    };
    RemotingCommand::request(RequestCode::SendMessage)
        .with_header(&header)
        .with_body(vec![b'x'; 1024])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn sync_send_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), None);
    config.store.mapped_file_size_commit_log = 256 * 1024 * 1024;
    let broker = Broker::start(config).await.unwrap();
    let addr = broker.broker_addr();
    let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    // Create the topic first so the probe measures steady-state sends.
    let first = client
        .invoke(&addr, send("Bench", 0), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(first.code, ResponseCode::Success.as_i32());
    let total = 20_000usize;
    let concurrency = 64usize;
    let start = Instant::now();
    let mut tasks = Vec::new();
    let latencies = Arc::new(std::sync::Mutex::new(Vec::with_capacity(total)));
    for w in 0..concurrency {
        let client = client.clone();
        let addr = addr.clone();
        let latencies = latencies.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..total).step_by(concurrency) {
                let t = Instant::now();
                let r = client
                    .invoke(
                        &addr,
                        send("Bench", (i % 4) as i32),
                        Duration::from_secs(10),
                    )
                    .await
                    .unwrap();
                assert_eq!(r.code, ResponseCode::Success.as_i32(), "{:?}", r.remark);
                latencies.lock().unwrap().push(t.elapsed());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = start.elapsed();
    let mut l = latencies.lock().unwrap().clone();
    l.sort();
    let p = |q: f64| l[((l.len() as f64 * q) as usize).min(l.len() - 1)];
    println!(
        "{total} sends of 1 KiB, {concurrency} in flight: {:.0} msg/s, p50 {:?}, p99 {:?}, max {:?}",
        total as f64 / elapsed.as_secs_f64(),
        p(0.5),
        p(0.99),
        l[l.len() - 1]
    );
    client.close_all();
    broker.shutdown().await.unwrap();
}
