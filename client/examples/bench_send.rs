//! A minimal producer benchmark against a running cluster (mqbench will supersede it):
//! `cargo run --release -p sluice-client --example bench_send -- <namesrv> <topic> [concurrency] [messages] [size] [batch]`
//! `batch` > 1 sends batches of that many messages. Prints one JSON line.

use std::time::{Duration, Instant};

use sluice_client::{Message, Producer};

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
    let concurrency: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(64);
    let total: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let size: usize = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(1024);
    let batch: usize = args.get(5).and_then(|a| a.parse().ok()).unwrap_or(1).max(1);

    let producer = Producer::builder("bench-producer")
        .namesrv_addr(namesrv)
        .build()?;
    producer.start().await?;
    let body = bytes::Bytes::from(vec![b'x'; size]);
    producer
        .send(
            Message::new(topic.as_str(), body.clone()),
            Duration::from_secs(5),
        )
        .await?;

    let per_task = total / concurrency / batch;
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let producer = producer.clone();
            let body = body.clone();
            let topic = topic.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_task);
                let mut failures = 0usize;
                for _ in 0..per_task {
                    let t = Instant::now();
                    let result = if batch == 1 {
                        producer
                            .send(
                                Message::new(topic.as_str(), body.clone()),
                                Duration::from_secs(5),
                            )
                            .await
                    } else {
                        let msgs = (0..batch).map(|_| Message::new(topic.as_str(), body.clone()));
                        producer.send_batch(msgs, Duration::from_secs(5)).await
                    };
                    match result {
                        Ok(_) => latencies.push(t.elapsed()),
                        Err(_) => failures += 1,
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(total);
    let mut failures = 0;
    for t in tasks {
        let (l, f) = t.await?;
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0, |d| d.as_micros())
    };
    let messages = latencies.len() * batch;
    println!(
        "{{\"messages\":{messages},\"size\":{size},\"batch\":{batch},\"concurrency\":{concurrency},\"tps\":{:.0},\"mb_s\":{:.1},\"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{},\"failures\":{failures}}}",
        messages as f64 / elapsed.as_secs_f64(),
        (messages * size) as f64 / elapsed.as_secs_f64() / 1e6,
        pct(0.5),
        pct(0.99),
        pct(0.999),
        latencies.last().map_or(0, |d| d.as_micros()),
    );
    producer.shutdown().await;
    Ok(())
}
