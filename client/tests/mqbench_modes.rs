//! mqbench against an in-process cluster: each mode for a small count, checking the report adds
//! up (what a user reads off it).

#[path = "mqadmin_common/mod.rs"]
mod common;

use common::Cluster;
use sluice_client::bench::cli::run;
use sluice_client::bench::Report;

async fn bench(cluster: &Cluster, args: &[&str]) -> (Report, String) {
    let mut argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    argv.extend(["-n".into(), cluster.namesrv_addr.clone(), "-q".into()]);
    match run(&argv).await {
        Ok(out) => out,
        Err(e) => panic!("mqbench {args:?} failed: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_modes_send_exactly_the_count_without_failures() {
    let cluster = Cluster::start().await;
    for (mode, batch, expected) in [
        ("sync", "1", 200u64),
        ("async", "1", 300),
        ("sync", "10", 200),
        ("oneway", "1", 100),
    ] {
        let args = [
            "producer",
            "-t",
            "BenchProduce",
            "--mode",
            mode,
            "-b",
            batch,
            "-w",
            "4",
            "-s",
            "256",
            "-k",
            "true",
            "--count",
            &expected.to_string(),
        ];
        let (report, text) = bench(&cluster, &args).await;
        let send = report.send.expect("a send side");
        assert_eq!(send.messages, expected, "{mode} batch {batch}:\n{text}");
        assert_eq!(send.failures, 0, "{text}");
        assert!(send.tps > 0.0 && send.mb_per_sec > 0.0, "{text}");
        let l = &send.latency_ms;
        let batches = expected.div_ceil(batch.parse::<u64>().unwrap());
        assert_eq!(
            l.samples, batches,
            "one latency sample per send call:\n{text}"
        );
        assert!(
            l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max,
            "{text}"
        );
        assert!(text.contains("p99.9") && text.contains("TPS"), "{text}");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_reads_back_what_the_producer_sent() {
    let cluster = Cluster::start().await;
    let (sent, _) = bench(
        &cluster,
        &[
            "producer",
            "-t",
            "BenchConsume",
            "--count",
            "500",
            "-s",
            "100",
        ],
    )
    .await;
    assert_eq!(sent.send.as_ref().map(|s| s.messages), Some(500));
    // 500 counted messages plus the producer's warm-up message, from the first offset.
    let (report, text) = bench(
        &cluster,
        &[
            "consumer",
            "-t",
            "BenchConsume",
            "--count",
            "501",
            "--duration",
            "30",
            "--json",
        ],
    )
    .await;
    let consume = report.consume.expect("a consume side");
    assert_eq!(consume.messages, 501, "{text}");
    assert_eq!(consume.failures, 0);
    assert_eq!(consume.latency_ms.samples, 501);
    let json: serde_json::Value = serde_json::from_str(&text).expect("--json prints JSON");
    assert_eq!(json["consume"]["messages"], 501);
    assert_eq!(json["mode"], "consumer");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_loses_nothing_and_counts_every_message_once() {
    let cluster = Cluster::start().await;
    for mode in ["sync", "async"] {
        let topic = format!("BenchE2e{mode}");
        let (report, text) = bench(
            &cluster,
            &[
                "e2e",
                "-t",
                &topic,
                "--mode",
                mode,
                "-w",
                "4",
                "-s",
                "64",
                "--count",
                "400",
                "--drainSecs",
                "20",
            ],
        )
        .await;
        let send = report.send.as_ref().expect("send side");
        let consume = report.consume.as_ref().expect("consume side");
        assert_eq!(send.messages, 400, "{text}");
        assert_eq!(send.failures, 0, "{text}");
        assert_eq!(report.lost, Some(0), "{text}");
        assert_eq!(report.duplicates, Some(0), "{text}");
        assert_eq!(consume.messages, 400, "{text}");
        assert!(text.contains("lost 0, duplicates 0"), "{text}");
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn bad_arguments_are_usage_errors() {
    for args in [
        vec!["producer", "-s", "0"],
        vec!["e2e", "-s", "8"],
        vec!["producer", "--mode", "sideways"],
        vec!["nonsense"],
    ] {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match run(&argv).await {
            Err(sluice_client::bench::cli::CliError::Usage(_)) => {}
            Err(e) => panic!("{args:?}: expected a usage error, got {e}"),
            Ok((_, text)) => panic!("{args:?}: expected a usage error, got a report:\n{text}"),
        }
    }
}
