//! Load generator: an embedded NameServer with 2 brokers x 1,000 topics, and `CONCURRENCY`
//! tasks asking GET_ROUTEINFO_BY_TOPIC over one multiplexed loopback connection for a few
//! seconds. Prints requests per second and latency percentiles.
//!
//! `cargo run --release -p sluice-nameserver --example route_load [concurrency] [seconds]`

use std::time::{Duration, Instant};

use sluice_nameserver::{NameServer, NamesrvConfig};
use sluice_remoting::body::{body_crc32, JsonBody, RegisterBrokerBody, TopicConfig};
use sluice_remoting::header::{GetRouteInfoRequestHeader, RegisterBrokerRequestHeader};
use sluice_remoting::net::{ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{RemotingCommand, RequestCode};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let concurrency: usize = args.next().map_or(Ok(64), |a| a.parse())?;
    let seconds: u64 = args.next().map_or(Ok(5), |a| a.parse())?;
    let dir = std::env::temp_dir().join(format!("route_load-{}", std::process::id()));
    let server = NameServer::start(NamesrvConfig {
        listen_port: 0,
        bind_address: "127.0.0.1".into(),
        kv_config_path: dir.join("kvConfig.json"),
        ..Default::default()
    })
    .await?;
    let addr = server.local_addr().to_string();
    let broker_conn = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    for (name, broker_addr) in [
        ("broker-a", "10.0.0.1:10911"),
        ("broker-b", "10.0.0.2:10911"),
    ] {
        let mut body = RegisterBrokerBody::default();
        body.topic_config_serialize_wrapper.data_version.counter = 1;
        for i in 0..1000 {
            let topic = format!("Topic{i:04}");
            body.topic_config_serialize_wrapper
                .topic_config_table
                .insert(topic.clone(), TopicConfig::new(topic));
        }
        let body = body.encode();
        let request = RemotingCommand::request(RequestCode::RegisterBroker)
            .with_header(&RegisterBrokerRequestHeader {
                broker_name: name.into(),
                broker_addr: broker_addr.into(),
                cluster_name: "DefaultCluster".into(),
                ha_server_addr: "10.0.0.1:10912".into(),
                broker_id: 0,
                body_crc32: Some(body_crc32(&body)),
                ..Default::default()
            })
            .with_body(body);
        let response = broker_conn
            .invoke(&addr, request, Duration::from_secs(5))
            .await?;
        assert_eq!(response.code, 0, "{response:?}");
    }

    let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let client = client.clone();
        let addr = addr.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = t;
            while Instant::now() < deadline {
                let request = RemotingCommand::request(RequestCode::GetRouteinfoByTopic)
                    .with_header(&GetRouteInfoRequestHeader {
                        topic: format!("Topic{:04}", i % 1000),
                        ..Default::default()
                    });
                let start = Instant::now();
                let response = client.invoke(&addr, request, Duration::from_secs(5)).await;
                latencies.push(start.elapsed());
                match response {
                    Ok(r) if r.code == 0 => {}
                    other => panic!("route query failed: {other:?}"),
                }
                i += concurrency;
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await?);
    }
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "{{\"concurrency\":{concurrency},\"requests\":{},\"per_sec\":{:.0},\"p50_us\":{},\"p99_us\":{},\"p999_us\":{}}}",
        all.len(),
        all.len() as f64 / seconds as f64,
        pct(0.50).as_micros(),
        pct(0.99).as_micros(),
        pct(0.999).as_micros()
    );
    server.shutdown(Duration::from_secs(1)).await;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}
