//! A minimal consumer benchmark against a running cluster (mqbench will supersede it): reads
//! `messages` messages of `topic` from the first offset with a [`PullConsumer`] and prints one
//! JSON line.
//! `cargo run --release -p sluice-client --example bench_consume -- <namesrv> <topic> [messages] [batch]`

use std::time::{Duration, Instant};

use sluice_client::consumer::ConsumeFromWhere;
use sluice_client::PullConsumer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let namesrv = args
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9876".into());
    let topic = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "BenchmarkTest".into());
    let total: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let batch: i32 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(32);

    let group = format!("bench-consumer-{}", std::process::id());
    let consumer = PullConsumer::builder(group)
        .namesrv_addr(namesrv)
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .batch_size(batch)
        .build()?;
    consumer.start().await?;
    let queues = consumer.instance().subscribe_queues(&topic).await?;
    consumer.assign(queues)?;
    let started = Instant::now();
    let mut received = 0usize;
    let mut bytes = 0usize;
    while received < total {
        let msgs = consumer.poll(Duration::from_secs(5)).await?;
        if msgs.is_empty() {
            break;
        }
        received += msgs.len();
        bytes += msgs.iter().map(|m| m.body().len()).sum::<usize>();
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{{\"messages\":{received},\"batch\":{batch},\"tps\":{:.0},\"mb_s\":{:.1}}}",
        received as f64 / elapsed,
        bytes as f64 / elapsed / 1e6
    );
    consumer.shutdown().await;
    Ok(())
}
