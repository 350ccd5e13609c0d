//! Send and pull throughput over loopback, printed, never asserted (numbers depend on the machine).
//! Run: `cargo test --release -p sluice-broker --test bsend_throughput -- --ignored --nocapture`.

mod bsend_common;

use std::time::Instant;

use bsend_common::*;
use sluice_remoting::header::PullMessageResponseHeader;
use sluice_remoting::message::decode_messages;

const SENDERS: usize = 16;
const PER_SENDER: usize = 2_000;
const BODY: usize = 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly with --ignored --nocapture"]
async fn send_and_pull_throughput() {
    let b = start_broker(|_| {}).await;
    let body = vec![b'x'; BODY];
    let p = props(&[("TAGS", "TagA"), ("WAIT", "true")]);
    // Create the topic first so every sender sees it.
    assert_eq!(b.invoke(send_v2("TopicBench", 0, &p, &body)).await.code, 0);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..SENDERS {
        let (client, addr, body, p) = (b.client.clone(), b.addr.clone(), body.clone(), p.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(PER_SENDER);
            for _ in 0..PER_SENDER {
                let t = Instant::now();
                let r = client
                    .invoke(
                        &addr,
                        send_v2("TopicBench", (s % 4) as i32, &p, &body),
                        TIMEOUT,
                    )
                    .await
                    .expect("send answered");
                assert_eq!(r.code, 0, "{r:?}");
                latencies.push(t.elapsed().as_micros() as u64);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    let total = SENDERS * PER_SENDER;
    let pct = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "send: {total} x {BODY} B with {SENDERS} concurrent senders in {:.2} s = {:.0} msg/s; latency p50 {} us, p99 {} us, p99.9 {} us",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        pct(0.999)
    );

    let start = Instant::now();
    let mut pulled = 0usize;
    let mut bytes = 0usize;
    for queue in 0..4 {
        let mut offset = 0i64;
        loop {
            let h = pull_header(
                "G_BENCH",
                "TopicBench",
                queue,
                offset,
                FLAG_SUBSCRIPTION,
                "*",
                0,
            );
            let r = b.invoke(pull(&h)).await;
            if r.code != 0 {
                break;
            }
            bytes += r.body.len();
            pulled += decode_messages(&r.body.to_bytes(), false).unwrap().len();
            offset = r
                .decode_header::<PullMessageResponseHeader>()
                .unwrap()
                .next_begin_offset;
        }
    }
    let elapsed = start.elapsed();
    println!(
        "pull: {pulled} messages ({:.1} MiB) in {:.2} s = {:.0} msg/s, one puller, 32 per pull",
        bytes as f64 / (1024.0 * 1024.0),
        elapsed.as_secs_f64(),
        pulled as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(pulled, total + 1);
    b.stop().await;
}
