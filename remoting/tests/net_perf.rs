//! Throughput over loopback, for humans: `cargo test --release -p sluice-remoting --test net_perf
//! -- --ignored --nocapture`. Prints numbers, asserts only correctness (never durations).

mod net_common;

use std::time::Instant;

use bytes::Bytes;
use net_common::*;
use sluice_remoting::net::{Channel, ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{Body, RemotingCommand, ResponseCode};

const PULL_LIKE: i32 = 1001;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "throughput measurement; run in release with --ignored --nocapture"]
async fn echo_and_large_body_throughput() {
    // A pull-like answer: 32 stored records of 1 KiB as separate slices of one buffer.
    let segment = Bytes::from(vec![0xABu8; 32 * 1024]);
    let table = echo_table().with(PULL_LIKE, move |_c: Channel, request: RemotingCommand| {
        let parts = (0..32)
            .map(|i| segment.slice(i * 1024..(i + 1) * 1024))
            .collect();
        async move {
            Some(
                RemotingCommand::response_to(&request, ResponseCode::Success)
                    .with_body(Body::from_parts(parts)),
            )
        }
    });
    let server = start(local_config(), table).await;
    let addr = server.local_addr().to_string();
    let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());

    for (label, code, body_len, concurrency, per_task) in [
        ("echo 128 B, 1 in flight", ECHO, 128, 1, 20_000),
        ("echo 128 B, 64 in flight", ECHO, 128, 64, 2_000),
        (
            "pull-like 32 KiB in 32 parts, 16 in flight",
            PULL_LIKE,
            0,
            16,
            1_000,
        ),
    ] {
        let start = Instant::now();
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let client = client.clone();
                let addr = addr.clone();
                tokio::spawn(async move {
                    let mut bytes = 0usize;
                    for _ in 0..per_task {
                        let request = RemotingCommand::request(code)
                            .with_body(Bytes::from(vec![1u8; body_len]));
                        let response = client.invoke(&addr, request, RPC_TIMEOUT).await.unwrap();
                        assert_eq!(response.code, 0);
                        bytes += response.body.len();
                    }
                    bytes
                })
            })
            .collect();
        let mut bytes = 0;
        for task in tasks {
            bytes += task.await.unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        let requests = (concurrency * per_task) as f64;
        println!(
            "{label}: {:.0} req/s, {:.1} MiB/s of response bodies, {:.1} µs mean round trip",
            requests / secs,
            bytes as f64 / secs / (1024.0 * 1024.0),
            secs * 1e6 * concurrency as f64 / requests
        );
    }
}
