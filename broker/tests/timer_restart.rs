//! Timer messages across restarts: what is pending at shutdown is delivered after the next start,
//! on time, and nothing already delivered is delivered again (timer log + `config/timercheck`).

mod timer_common;

use std::collections::HashMap;
use std::time::Duration;

use timer_common::*;

const TOPIC: &str = "TimerRestart";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_timer_messages_survive_restarts_and_are_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    let check = dir.path().join("config").join("timercheck");

    let b = start_in(dir.path(), |_| {}).await;
    b.send(TOPIC, 0, &[("TIMER_DELAY_MS", "500")], b"early")
        .await;
    // 60 more, due 2.5 s to 8.4 s from now over 60 slots; the broker stops after ~1 s with all
    // of them pending.
    let base = now_ms() + 2_500;
    for i in 0..60 {
        let at = (base + i * 100).to_string();
        b.send(
            TOPIC,
            0,
            &[("TIMER_DELIVER_MS", &at)],
            format!("m{i}").as_bytes(),
        )
        .await;
    }
    b.wait_for(TOPIC, 0, 1).await;
    b.stop().await;
    let stopped = now_ms();
    assert!(check.exists(), "timercheck written at shutdown");
    assert!(dir.path().join("timerlog").is_dir());

    let b = start_in(dir.path(), |_| {}).await;
    let started = now_ms();
    let msgs = b.wait_for(TOPIC, 0, 61).await;
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    for m in &msgs {
        *seen.entry(m.body.to_vec()).or_default() += 1;
        if &m.body[..] == b"early" {
            continue;
        }
        let due: i64 = prop(m, "TIMER_OUT_MS").unwrap().parse().unwrap();
        // A message due while the broker was down is due at the restart.
        let effective = if due < stopped { started } else { due };
        assert_on_time(m, due, effective, "after the restart");
    }
    assert_eq!(seen.len(), 61);
    assert!(seen.values().all(|n| *n == 1), "delivered twice: {seen:?}");
    b.stop().await;

    // A third start delivers nothing more.
    let b = start_in(dir.path(), |_| {}).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(b.delivered(TOPIC, 0).len(), 61);
    assert_eq!(b.broker.timer().unwrap().stats().delivered, 0);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_checkpoint_redelivers_rather_than_loses() {
    let dir = tempfile::tempdir().unwrap();
    let b = start_in(dir.path(), |_| {}).await;
    b.send(TOPIC, 0, &[("TIMER_DELAY_SEC", "2")], b"pending")
        .await;
    b.wait_timer_topic(1).await;
    b.stop().await;
    // Without timercheck (and its backup) the timer starts over from the timer queue's start.
    for f in ["timercheck", "timercheck.bak"] {
        let _ = std::fs::remove_file(dir.path().join("config").join(f));
    }
    let b = start_in(dir.path(), |_| {}).await;
    let msgs = b.wait_for(TOPIC, 0, 1).await;
    assert_eq!(&msgs[0].body[..], b"pending");
    let due: i64 = prop(&msgs[0], "TIMER_OUT_MS").unwrap().parse().unwrap();
    assert!(msgs[0].store_timestamp >= due, "never early");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_precision_or_window_keeps_pending_messages() {
    let dir = tempfile::tempdir().unwrap();
    let b = start_in(dir.path(), |_| {}).await;
    let base = now_ms() + 2_000;
    for i in 0..10 {
        let at = (base + i * 250).to_string();
        b.send(
            TOPIC,
            1,
            &[("TIMER_DELIVER_MS", &at)],
            format!("p{i}").as_bytes(),
        )
        .await;
    }
    b.wait_timer_topic(10).await;
    // Let the entries reach the timer log before stopping.
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.stop().await;

    // 250 ms slots and a 3-slot window now: every pending entry is re-chained at start.
    let b = start_in(dir.path(), |c| {
        c.timer_precision_ms = 250;
        c.timer_roll_window_slot = 3;
    })
    .await;
    let started = now_ms();
    let msgs = b.wait_for(TOPIC, 1, 10).await;
    for m in &msgs {
        let due: i64 = prop(m, "TIMER_OUT_MS").unwrap().parse().unwrap();
        assert_on_time(m, due, due.max(started), "after the precision change");
    }
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(b.delivered(TOPIC, 1).len(), 10, "each once");
    b.stop().await;
}
