//! The crash test that really crashes: a child process (this test binary, re-executed with an env var) appends
//! with several concurrent producers and prints every acknowledged message; the parent SIGKILLs it at a random
//! moment, reopens the store (abnormal recovery) and checks:
//! - SYNC_FLUSH: every acknowledged message reads back through its ConsumeQueue, at its physical offset, with a
//!   valid CRC and the body the child wrote;
//! - both modes: every queue holds exactly the messages 0..max in order (nothing appears that was not written, no
//!   hole, no duplicate), every record's CRC is valid, and each ConsumeQueue's max offset equals the number of
//!   records of that queue found by scanning the CommitLog.
//!
//! Seed: `SLUICE_CRASH_SEED` (printed); rounds: `SLUICE_CRASH_ROUNDS` (default 50 per mode).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use sluice_remoting::message::{check_record, MessageRecord, RecordCheck};
use sluice_store::{
    AcceptAll, FlushDiskType, GetStatus, MessageStore, MessageStoreConfig, PutStatus, StoreError,
};

const TOPIC: &str = "CrashTopic";
const QUEUES: i32 = 6;
const CHILD_DIR: &str = "SLUICE_CRASH_CHILD_DIR";
const CHILD_MODE: &str = "SLUICE_CRASH_CHILD_MODE";

fn config(dir: &Path, mode: FlushDiskType) -> MessageStoreConfig {
    MessageStoreConfig {
        mapped_file_size_commit_log: 256 * 1024,
        mapped_file_size_consume_queue: 20 * 500,
        max_hash_slot_num: 256,
        max_index_num: 4096,
        flush_disk_type: mode,
        flush_interval_commit_log: 5,
        flush_interval_consume_queue: 20,
        flush_consume_queue_thorough_interval: 50,
        ..MessageStoreConfig::with_root(dir)
    }
}

/// The body of message `seq` of `queue`: recognisable, of varying length, checkable.
fn body(queue: i32, seq: u64) -> Vec<u8> {
    let mut b = format!("q{queue}-s{seq}-").into_bytes();
    let pad = 50 + (seq as usize * 37 + queue as usize * 11) % 700;
    b.extend(std::iter::repeat_n(b'a' + (seq % 26) as u8, pad));
    b
}

fn message(queue: i32, seq: u64) -> MessageRecord {
    MessageRecord {
        topic: TOPIC.to_string(),
        queue_id: queue,
        body: Bytes::from(body(queue, seq)),
        properties: format!("KEYS\u{1}k{queue}-{seq}\u{2}TAGS\u{1}t{}\u{2}", seq % 3),
        born_host: "127.0.0.1:40000".parse::<SocketAddr>().unwrap(),
        store_host: "127.0.0.1:10911".parse::<SocketAddr>().unwrap(),
        ..MessageRecord::default()
    }
}

/// Child entry point: does nothing unless re-executed by the parent with the env vars set.
#[test]
fn crash_child_entry() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let mode = match std::env::var(CHILD_MODE).as_deref() {
        Ok("sync") => FlushDiskType::SyncFlush,
        _ => FlushDiskType::AsyncFlush,
    };
    // Both crash tests run as threads of one parent process, so a child forked by one test can briefly inherit
    // (until its exec) the other test's open lock file and with it the flock: retry a locked directory.
    let mut tries = 0;
    let store = loop {
        match MessageStore::open(config(Path::new(&dir), mode)) {
            Ok(s) => break s,
            Err(StoreError::Locked(_)) if tries < 200 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                println!("OPEN-ERROR {e}");
                std::process::exit(3);
            }
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let out = Arc::new(Mutex::new(std::io::stdout()));
    {
        let mut o = out.lock().unwrap();
        writeln!(o, "READY").unwrap();
        o.flush().unwrap();
    }
    rt.block_on(async {
        let mut tasks = Vec::new();
        for q in 0..QUEUES {
            let store = store.clone();
            let out = out.clone();
            tasks.push(tokio::spawn(async move {
                let mut seq = store.max_offset(TOPIC, q);
                loop {
                    let r = store.put(&message(q, seq)).await;
                    if r.status != PutStatus::PutOk {
                        let mut o = out.lock().unwrap();
                        writeln!(o, "FAIL {q} {seq} {:?}", r.status).unwrap();
                        continue;
                    }
                    assert_eq!(
                        r.queue_offset as u64, seq,
                        "queue offset must follow the queue's max offset"
                    );
                    {
                        let mut o = out.lock().unwrap();
                        writeln!(o, "ACK {q} {seq} {} {}", r.physical_offset, r.wrote_bytes)
                            .unwrap();
                        o.flush().unwrap();
                    }
                    seq += 1;
                    if mode == FlushDiskType::AsyncFlush {
                        // Page-cache appends are so fast that unthrottled rounds would pile up far more data than
                        // the checks can verify within the test's time budget.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
}

#[derive(Debug, Clone, Copy)]
struct Ack {
    queue: i32,
    seq: u64,
    phys: u64,
    size: u64,
}

/// Runs the child until killed after `delay`; returns its acknowledgements.
fn run_child(dir: &Path, mode: &str, delay: Duration) -> Vec<Ack> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "crash_child_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .env(CHILD_MODE, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let acks = Arc::new(Mutex::new(Vec::new()));
    let child_error = Arc::new(Mutex::new(None::<String>));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let reader = {
        let acks = acks.clone();
        let child_error = child_error.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.ends_with("READY") {
                    let _ = ready_tx.send(());
                } else if let Some(rest) = line.strip_prefix("ACK ") {
                    let f: Vec<u64> = rest.split(' ').map(|x| x.parse().unwrap()).collect();
                    acks.lock().unwrap().push(Ack {
                        queue: f[0] as i32,
                        seq: f[1],
                        phys: f[2],
                        size: f[3],
                    });
                } else if line.starts_with("OPEN-ERROR") {
                    *child_error.lock().unwrap() = Some(line);
                }
            }
        })
    };
    // Kill during recovery sometimes (no READY wait when delay is 0), otherwise while appending.
    if !delay.is_zero() {
        if let Err(e) = ready_rx.recv_timeout(Duration::from_secs(20)) {
            let _ = child.kill();
            let _ = child.wait();
            let _ = reader.join();
            panic!(
                "child never became ready ({e}): {:?}",
                child_error.lock().unwrap()
            );
        }
        std::thread::sleep(delay);
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().expect("child output reader");
    if let Some(e) = child_error.lock().unwrap().take() {
        panic!("child could not open the store: {e}");
    }
    let acks = acks.lock().unwrap().clone();
    acks
}

/// Counts records per queue by scanning the CommitLog files with CRC checks.
fn scan_commit_log(store: &MessageStore) -> HashMap<i32, u64> {
    let mut counts = HashMap::new();
    let max = store.commit_log.max_offset();
    for seg in store.commit_log.log.segments() {
        let data = seg.whole();
        let mut pos = 0usize;
        while seg.start_offset + (pos as u64) < max && pos < data.len() {
            match check_record(&data[pos..], true) {
                RecordCheck::Message(v) => {
                    assert_eq!(v.physical_offset() as u64, seg.start_offset + pos as u64);
                    *counts.entry(v.queue_id()).or_insert(0) += 1;
                    pos += v.total_size();
                }
                RecordCheck::Blank { .. } => break,
                other => panic!(
                    "bad record below the max offset at {}: {other:?}",
                    seg.start_offset + pos as u64
                ),
            }
        }
    }
    counts
}

/// Returns the number of acknowledged messages missing (ASYNC_FLUSH only) and each queue's max offset.
fn verify(
    dir: &Path,
    mode: FlushDiskType,
    acked: &HashMap<(i32, u64), Ack>,
    round: usize,
) -> (u64, HashMap<i32, u64>) {
    // See `crash_child_entry`: the other test's fork may briefly hold this directory's lock.
    let mut tries = 0;
    let store = loop {
        match MessageStore::open(config(dir, mode)) {
            Ok(s) => break s,
            Err(StoreError::Locked(_)) if tries < 200 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("round {round}: reopen failed: {e}"),
        }
    };
    let mut lost = 0;
    for ack in acked.values() {
        let got = store.get_messages(TOPIC, ack.queue, ack.seq, 1, &AcceptAll);
        if got.status != GetStatus::Found {
            assert_eq!(
                mode,
                FlushDiskType::AsyncFlush,
                "round {round}: acknowledged {ack:?} lost: {:?}",
                got.status
            );
            lost += 1;
            continue;
        }
        let rec = &got.records[0];
        match check_record(rec, true) {
            RecordCheck::Message(v) => {
                assert_eq!(
                    v.physical_offset() as u64,
                    ack.phys,
                    "round {round}: {ack:?}"
                );
                assert_eq!(rec.len() as u64, ack.size);
                assert_eq!(v.body(), &body(ack.queue, ack.seq)[..]);
            }
            other => panic!("round {round}: acknowledged {ack:?} unreadable: {other:?}"),
        }
    }
    let counts = scan_commit_log(&store);
    let mut maxes = HashMap::new();
    for q in 0..QUEUES {
        let max = store.max_offset(TOPIC, q);
        maxes.insert(q, max);
        assert_eq!(
            max,
            counts.get(&q).copied().unwrap_or(0),
            "round {round}: queue {q} max offset vs CommitLog"
        );
        let mut next = 0;
        while next < max {
            let got = store.get_messages(TOPIC, q, next, 32, &AcceptAll);
            assert_eq!(
                got.status,
                GetStatus::Found,
                "round {round}: queue {q} at {next}"
            );
            for rec in &got.records {
                let RecordCheck::Message(v) = check_record(rec, true) else {
                    panic!("round {round}: invalid record in queue {q} at {next}");
                };
                assert_eq!(v.queue_offset() as u64, next);
                assert_eq!(
                    v.body(),
                    &body(q, next)[..],
                    "round {round}: queue {q} offset {next} holds another message"
                );
                next += 1;
            }
            assert_eq!(next, got.next_begin_offset);
        }
    }
    store.halt();
    (lost, maxes)
}

fn crash_rounds(mode: FlushDiskType, mode_name: &str) {
    let seed: u64 = std::env::var("SLUICE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    let rounds: usize = std::env::var("SLUICE_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    println!("crash test {mode_name}: seed {seed} (SLUICE_CRASH_SEED), {rounds} rounds");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut acked: HashMap<(i32, u64), Ack> = HashMap::new();
    let mut total_lost = 0;
    for round in 0..rounds {
        let delay = if rng.gen_ratio(1, 10) {
            Duration::ZERO
        } else {
            Duration::from_millis(rng.gen_range(1..120))
        };
        for ack in run_child(dir.path(), mode_name, delay) {
            acked.insert((ack.queue, ack.seq), ack);
        }
        let (lost, store_max) = verify(dir.path(), mode, &acked, round);
        total_lost += lost;
        // ASYNC_FLUSH may lose acknowledged messages; forget them so later rounds check what remains.
        acked.retain(|(q, s), _| *s < store_max[q]);
    }
    println!(
        "crash test {mode_name}: {} acknowledged messages checked, {total_lost} lost (seed {seed})",
        acked.len()
    );
    assert!(!acked.is_empty(), "the child never acknowledged anything");
}

#[test]
fn sigkill_during_sync_flush_appends_loses_nothing_acknowledged() {
    crash_rounds(FlushDiskType::SyncFlush, "sync");
}

#[test]
fn sigkill_during_async_flush_appends_stays_consistent() {
    crash_rounds(FlushDiskType::AsyncFlush, "async");
}
