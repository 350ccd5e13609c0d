//! Store benchmark binary (`cargo bench -p sluice-store --bench store_bench [-- scenario...]`). Named scenarios,
//! each printing one JSON line:
//! - `append_1k`: one thread appending 1 KiB messages into page cache (ASYNC_FLUSH) through `MessageStore::put`;
//! - `sync_flush_64`: 64 concurrent appenders with SYNC_FLUSH (group commit);
//! - `read_cq`: pulling 1 KiB messages through the ConsumeQueue (32 per pull) from page cache;
//! - `recovery_1g`: abnormal recovery (scan with CRC + re-dispatch) of 1 GiB of CommitLog;
//! - `fdatasync_latency`: the disk's 1 KiB write + fdatasync latency (bounds SYNC_FLUSH throughput).
//!
//! Environment: `SLUICE_BENCH_DIR` (default: a temp dir under the system temp dir).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_remoting::message::MessageRecord;
use sluice_store::{
    AcceptAll, FaultyFs, FlushDiskType, GetStatus, MessageStore, MessageStoreConfig, PutStatus,
};

fn config(dir: &Path, mode: FlushDiskType) -> MessageStoreConfig {
    MessageStoreConfig {
        mapped_file_size_commit_log: 256 * 1024 * 1024,
        flush_disk_type: mode,
        ..MessageStoreConfig::with_root(dir)
    }
}

fn message(queue_id: i32, body: &Bytes) -> MessageRecord {
    MessageRecord {
        topic: "BenchTopic".to_string(),
        queue_id,
        body: body.clone(),
        properties: "TAGS\u{1}bench\u{2}".to_string(),
        born_host: "127.0.0.1:40000".parse::<SocketAddr>().unwrap(),
        store_host: "127.0.0.1:10911".parse::<SocketAddr>().unwrap(),
        ..MessageRecord::default()
    }
}

fn bench_dir(name: &str) -> tempfile::TempDir {
    match std::env::var_os("SLUICE_BENCH_DIR") {
        Some(d) => tempfile::Builder::new().prefix(name).tempdir_in(d).unwrap(),
        None => tempfile::Builder::new().prefix(name).tempdir().unwrap(),
    }
}

fn report(scenario: &str, count: u64, elapsed: Duration, extra: &str) {
    let rate = count as f64 / elapsed.as_secs_f64();
    println!(
        "{{\"scenario\":\"{scenario}\",\"messages\":{count},\"seconds\":{:.3},\"msgs_per_sec\":{:.0}{extra}}}",
        elapsed.as_secs_f64(),
        rate
    );
}

/// Nanoseconds this thread has run on a CPU (from /proc/thread-self/schedstat), to separate the append path's own
/// cost from time lost to other processes on a shared machine.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn append_1k() {
    let dir = bench_dir("append");
    // Default 1 GiB segments: the run fits in the first, which the allocator prepared at open.
    let cfg = MessageStoreConfig {
        mapped_file_size_commit_log: 1024 * 1024 * 1024,
        ..config(dir.path(), FlushDiskType::AsyncFlush)
    };
    let store = MessageStore::open(cfg).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = Bytes::from(vec![b'x'; 1024]);
    let msgs: Vec<MessageRecord> = (0..8).map(|q| message(q, &body)).collect();
    let n = 900_000u64;
    // Warm up the first segment's pages and the thread-local buffer.
    rt.block_on(async {
        for i in 0..10_000u64 {
            store.put(&msgs[(i % 8) as usize]).await;
        }
    });
    let start = Instant::now();
    let cpu0 = thread_cpu_ns();
    rt.block_on(async {
        for i in 0..n {
            let r = store.put(&msgs[(i % 8) as usize]).await;
            debug_assert_eq!(r.status, PutStatus::PutOk);
        }
    });
    let cpu = thread_cpu_ns() - cpu0;
    let elapsed = start.elapsed();
    report(
        "append_1k",
        n,
        elapsed,
        &format!(
            ",\"bytes\":{},\"appender_cpu_seconds\":{:.3},\"msgs_per_appender_cpu_sec\":{:.0}",
            store.stats().put_bytes,
            cpu as f64 / 1e9,
            n as f64 / (cpu as f64 / 1e9)
        ),
    );
    store.shutdown().unwrap();
}

fn sync_flush_64() {
    let dir = bench_dir("syncflush");
    // FaultyFs with no fault set is the real file system plus a sync counter (messages per fdatasync).
    let fs = FaultyFs::new();
    let store =
        MessageStore::open_with_fs(config(dir.path(), FlushDiskType::SyncFlush), fs.clone())
            .unwrap();
    let syncs0 = fs.syncs.load(Ordering::Relaxed);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let body = Bytes::from(vec![b'y'; 1024]);
    let done = Arc::new(AtomicU64::new(0));
    let timeouts = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let run = Duration::from_secs(5);
    let start = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for t in 0..64 {
            let store = store.clone();
            let msg = message(t % 8, &body);
            let (done, timeouts, stop) = (done.clone(), timeouts.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let r = store.put(&msg).await;
                    match r.status {
                        PutStatus::PutOk => done.fetch_add(1, Ordering::Relaxed),
                        _ => timeouts.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }));
        }
        tokio::time::sleep(run).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
    });
    let elapsed = start.elapsed();
    let syncs = fs.syncs.load(Ordering::Relaxed) - syncs0;
    let n = done.load(Ordering::Relaxed);
    report(
        "sync_flush_64",
        n,
        elapsed,
        &format!(
            ",\"not_ok\":{},\"fdatasyncs\":{syncs},\"msgs_per_sync\":{:.1},\"ms_per_sync\":{:.2}",
            timeouts.load(Ordering::Relaxed),
            n as f64 / syncs.max(1) as f64,
            elapsed.as_secs_f64() * 1000.0 / syncs.max(1) as f64
        ),
    );
    store.shutdown().unwrap();
}

fn read_cq() {
    let dir = bench_dir("read");
    let store = MessageStore::open(config(dir.path(), FlushDiskType::AsyncFlush)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = Bytes::from(vec![b'z'; 1024]);
    let msg = message(0, &body);
    let n = 1_000_000u64;
    rt.block_on(async {
        for _ in 0..n {
            store.put(&msg).await;
        }
    });
    while store.max_offset("BenchTopic", 0) < n {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut total = 0u64;
    let mut bytes = 0usize;
    let start = Instant::now();
    let cpu0 = thread_cpu_ns();
    for _ in 0..3 {
        let mut offset = 0;
        while offset < n {
            let got = store.get_messages("BenchTopic", 0, offset, 32, &AcceptAll);
            assert_eq!(got.status, GetStatus::Found);
            total += got.records.len() as u64;
            bytes += got.total_bytes;
            offset = got.next_begin_offset;
        }
    }
    let cpu = thread_cpu_ns() - cpu0;
    let elapsed = start.elapsed();
    report(
        "read_cq",
        total,
        elapsed,
        &format!(
            ",\"bytes\":{bytes},\"msgs_per_reader_cpu_sec\":{:.0}",
            total as f64 / (cpu as f64 / 1e9)
        ),
    );
    store.shutdown().unwrap();
}

fn recovery_1g() {
    let dir = bench_dir("recovery");
    let cfg = MessageStoreConfig {
        mapped_file_size_commit_log: 1024 * 1024 * 1024,
        ..config(dir.path(), FlushDiskType::AsyncFlush)
    };
    let written;
    {
        let store = MessageStore::open(cfg.clone()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let body = Bytes::from(vec![b'r'; 1024]);
        let msgs: Vec<MessageRecord> = (0..16).map(|q| message(q, &body)).collect();
        rt.block_on(async {
            let mut i = 0usize;
            // Fill the first 1 GiB segment (the 8-byte rule then rolls to the second).
            while store.commit_log.max_offset() < 1024 * 1024 * 1024 - 2048 {
                store.put(&msgs[i % 16]).await;
                i += 1;
            }
        });
        while !store.dispatch_caught_up() {
            std::thread::sleep(Duration::from_millis(10));
        }
        written = store.commit_log.max_offset();
        // Durable, but the abort file stays: the next open is an abnormal recovery.
        store.commit_log.log.flush(0).unwrap();
        store.halt();
    }
    let start = Instant::now();
    let store = MessageStore::open(cfg).unwrap();
    let elapsed = start.elapsed();
    assert!(store.recovery.abnormal);
    assert_eq!(store.commit_log.max_offset(), written);
    report(
        "recovery_1g",
        store.recovery.scan.records,
        elapsed,
        &format!(
            ",\"bytes_scanned\":{},\"reput_from\":{}",
            store.recovery.scan.end_offset - store.recovery.scan.start_offset,
            store.recovery.reput_from
        ),
    );
    store.shutdown().unwrap();
}

/// The disk's fdatasync latency (1 KiB write + fdatasync, 200 times): the ceiling for SYNC_FLUSH is
/// appenders / latency, since every appender waits for at least one sync.
fn fdatasync_latency() {
    use std::io::Write;
    let dir = bench_dir("fsync");
    let mut f = std::fs::File::create(dir.path().join("probe")).unwrap();
    let block = [7u8; 1024];
    let mut lat = Vec::with_capacity(200);
    for _ in 0..200 {
        let t = Instant::now();
        f.write_all(&block).unwrap();
        f.sync_data().unwrap();
        lat.push(t.elapsed());
    }
    lat.sort();
    println!(
        "{{\"scenario\":\"fdatasync_latency\",\"p50_us\":{},\"p90_us\":{},\"p99_us\":{}}}",
        lat[100].as_micros(),
        lat[180].as_micros(),
        lat[198].as_micros()
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let all = [
        "append_1k",
        "sync_flush_64",
        "read_cq",
        "recovery_1g",
        "fdatasync_latency",
    ];
    let chosen: Vec<&str> = if args.is_empty() {
        all.to_vec()
    } else {
        all.iter()
            .copied()
            .filter(|s| args.iter().any(|a| a == s))
            .collect()
    };
    for scenario in chosen {
        match scenario {
            "append_1k" => append_1k(),
            "sync_flush_64" => sync_flush_64(),
            "read_cq" => read_cq(),
            "recovery_1g" => recovery_1g(),
            "fdatasync_latency" => fdatasync_latency(),
            _ => unreachable!(),
        }
    }
}
