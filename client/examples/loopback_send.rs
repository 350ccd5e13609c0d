//! Client-side cost of a send: a producer against an in-process NameServer and a broker that
//! answers SEND_MESSAGE_V2 at once without storing anything, over loopback TCP. What it
//! measures is the client plus the remoting transport, not a broker.
//!
//! `cargo run --release -p sluice-client --example loopback_send -- [concurrency] [messages] [size]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_client::{Message, Producer};
use sluice_remoting::body::{BrokerData, QueueData, TopicRouteData};
use sluice_remoting::net::{Channel, ProcessorTable, RemotingServer, ServerConfig};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let total: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let size: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1024);

    let broker = RemotingServer::start(
        ServerConfig::new(([127, 0, 0, 1], 0).into()),
        ProcessorTable::new().with_default(|_c: Channel, req: RemotingCommand| async move {
            if req.code != RequestCode::SendMessageV2.as_i32() {
                return Some(RemotingCommand::response_to(&req, ResponseCode::Success));
            }
            Some(
                RemotingCommand::response_to(&req, ResponseCode::Success)
                    .with_ext("msgId", "7F00000100002A9F0000000000000000")
                    .with_ext("queueId", req.ext("e").unwrap_or("0").to_string())
                    .with_ext("queueOffset", "0")
                    .with_ext("MSG_REGION", "DefaultRegion")
                    .with_ext("TRACE_ON", "true"),
            )
        }),
    )
    .await?;
    let mut route = TopicRouteData::default();
    route.queue_datas.push(QueueData {
        broker_name: "broker-a".into(),
        perm: 6,
        read_queue_nums: 8,
        write_queue_nums: 8,
        topic_sys_flag: 0,
    });
    let mut bd = BrokerData {
        broker_name: "broker-a".into(),
        cluster: "c".into(),
        ..Default::default()
    };
    bd.broker_addrs.insert(0, broker.local_addr().to_string());
    route.broker_datas.push(bd);
    let route = Arc::new(route);
    let namesrv = RemotingServer::start(
        ServerConfig::new(([127, 0, 0, 1], 0).into()),
        ProcessorTable::new().with_default(move |_c: Channel, req: RemotingCommand| {
            let route = route.clone();
            async move {
                Some(
                    RemotingCommand::response_to(&req, ResponseCode::Success)
                        .with_body(route.encode_standard()),
                )
            }
        }),
    )
    .await?;

    let producer = Producer::builder("bench")
        .namesrv_addr(namesrv.local_addr().to_string())
        .build()?;
    producer.start().await?;
    let body = bytes::Bytes::from(vec![b'x'; size]);
    producer
        .send(Message::new("Bench", body.clone()), Duration::from_secs(3))
        .await?;

    let per_task = total / concurrency;
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let producer = producer.clone();
            let body = body.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_task);
                for _ in 0..per_task {
                    let t = Instant::now();
                    producer
                        .send(Message::new("Bench", body.clone()), Duration::from_secs(3))
                        .await
                        .expect("send");
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(total);
    for t in tasks {
        latencies.extend(t.await?);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{{\"messages\":{},\"size\":{size},\"concurrency\":{concurrency},\"tps\":{:.0},\"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{}}}",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.5).as_micros(),
        pct(0.99).as_micros(),
        pct(0.999).as_micros(),
        latencies.last().map_or(0, |d| d.as_micros()),
    );
    producer.shutdown().await;
    Ok(())
}
