//! Timer messages (arbitrary delivery times) through the send path: each property is honoured,
//! nothing arrives early or more than 1.5 s late, a past time is delivered at once, and bad
//! values are refused with a clear error and nothing stored.

mod timer_common;

use std::time::Duration;

use timer_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_timer_property_is_delivered_on_time_to_its_queue() {
    let dir = tempfile::tempdir().unwrap();
    let b = start_in(dir.path(), |_| {}).await;
    let topic = "TimerTopic";

    let t0 = now_ms();
    let by_sec = b.send(topic, 0, &[("TIMER_DELAY_SEC", "3")], b"sec").await;
    let t1 = now_ms();
    let by_ms = b.send(topic, 1, &[("TIMER_DELAY_MS", "2200")], b"ms").await;
    let t2 = now_ms();
    let at = (t2 + 2_600).to_string();
    let absolute = b.send(topic, 2, &[("TIMER_DELIVER_MS", &at)], b"abs").await;
    let start_at = (t2 + 1_700).to_string();
    let legacy = b
        .send(topic, 3, &[("__STARTDELIVERTIME", &start_at)], b"legacy")
        .await;

    // Nothing is in the topic yet: the sends went to the timer topic.
    b.wait_timer_topic(4).await;
    for q in 0..4 {
        assert!(b.delivered(topic, q).is_empty(), "queue {q} early");
    }

    let cases = [
        (
            0,
            &by_sec,
            t0 + 3_000,
            t1 + 3_000,
            "TIMER_DELAY_SEC=3",
            &b"sec"[..],
        ),
        (
            1,
            &by_ms,
            t1 + 2_200,
            t2 + 2_200,
            "TIMER_DELAY_MS=2200",
            b"ms",
        ),
        (
            2,
            &absolute,
            t2 + 2_600,
            t2 + 2_600,
            "TIMER_DELIVER_MS",
            b"abs",
        ),
        (
            3,
            &legacy,
            t2 + 1_700,
            t2 + 1_700,
            "__STARTDELIVERTIME",
            b"legacy",
        ),
    ];
    for (queue, sent, earliest, latest_due, what, body) in cases {
        let msgs = b.wait_for(topic, queue, 1).await;
        assert_eq!(msgs.len(), 1, "{what}");
        let m = &msgs[0];
        assert_on_time(m, earliest, latest_due, what);
        println!(
            "{what}: stored {} ms after its latest due time",
            m.store_timestamp - latest_due
        );
        assert_eq!(&m.body[..], body);
        assert_eq!(m.topic, topic);
        assert_eq!(m.queue_id, queue);
        assert_eq!(prop(m, "TAGS").as_deref(), Some("TimerTag"));
        assert_eq!(
            prop(m, "UNIQ_KEY"),
            sent.transaction_id.clone(),
            "{what}: same message id"
        );
        assert_eq!(prop(m, "REAL_TOPIC"), None);
        let out: i64 = prop(m, "TIMER_OUT_MS").unwrap().parse().unwrap();
        assert!(
            out >= earliest && out <= latest_due,
            "{what}: TIMER_OUT_MS {out}"
        );
        assert!(prop(m, "TIMER_DEQUEUE_MS").is_some());
    }
    // A while later: still one each.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    for q in 0..4 {
        assert_eq!(b.delivered(topic, q).len(), 1, "queue {q} delivered twice");
    }
    let stats = b.broker.timer().expect("the timer runs").stats();
    assert_eq!((stats.enqueued, stats.delivered, stats.dropped), (4, 4, 0));
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_already_past_is_delivered_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let b = start_in(dir.path(), |_| {}).await;
    let past = (now_ms() - 10_000).to_string();
    let just_past = (now_ms() - 1).to_string();
    let sent = now_ms();
    b.send("PastTopic", 0, &[("TIMER_DELIVER_MS", &past)], b"a")
        .await;
    b.send("PastTopic", 0, &[("__STARTDELIVERTIME", &just_past)], b"b")
        .await;
    b.send("PastTopic", 0, &[("TIMER_DELAY_SEC", "0")], b"c")
        .await;
    let msgs = b
        .wait_for_within("PastTopic", 0, 3, Duration::from_secs(2))
        .await;
    let bodies: Vec<&[u8]> = msgs.iter().map(|m| &m.body[..]).collect();
    assert_eq!(bodies, vec![&b"a"[..], b"b", b"c"]);
    for m in &msgs {
        assert!(m.store_timestamp - sent < 1_000, "not immediate");
    }
    assert_eq!(b.timer_topic_total(), 0, "never went through the timer");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_values_are_refused_with_a_clear_error_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let b = start_in(dir.path(), |c| c.timer_max_delay_sec = 60).await;
    let cases: [(&str, &str, &str); 6] = [
        ("TIMER_DELAY_SEC", "-1", "negative"),
        ("TIMER_DELAY_MS", "-100", "negative"),
        ("TIMER_DELIVER_MS", "tomorrow", "not a whole number"),
        ("TIMER_DELIVER_MS", "-5", "not a time"),
        ("TIMER_DELAY_SEC", "61", "timerMaxDelaySec"),
        ("__STARTDELIVERTIME", "99999999999999", "timerMaxDelaySec"),
    ];
    for (name, value, says) in cases {
        let r = b.send_raw("BadTimer", 0, &[(name, value)], b"x").await;
        assert_eq!(
            r.code, 13,
            "{name}={value}: MESSAGE_ILLEGAL expected, got {r:?}"
        );
        let remark = r.remark.clone().unwrap_or_default();
        assert!(remark.contains(says), "{name}={value}: remark `{remark}`");
        assert!(remark.contains(name), "{name}={value}: remark `{remark}`");
    }
    // Exactly the limit is accepted.
    b.send("BadTimer", 0, &[("TIMER_DELAY_SEC", "60")], b"ok")
        .await;
    let store = &b.broker.state().store;
    assert_eq!(store.max_offset("BadTimer", 0), 0);
    b.wait_timer_topic(1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(b.timer_topic_total(), 1, "only the accepted one");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_timer_disabled_timer_properties_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let b = start_in(dir.path(), |c| c.timer_wheel_enable = false).await;
    assert!(b.broker.timer().is_none());
    let r = b
        .send_raw("OffTopic", 0, &[("TIMER_DELAY_SEC", "5")], b"x")
        .await;
    assert_eq!(r.code, 1, "SYSTEM_ERROR expected: {r:?}");
    assert!(r.remark.unwrap_or_default().contains("timerWheelEnable"));
    // The 4.x property is not a 5.x timer property: ignored, as Apache's broker does.
    let later = (now_ms() + 60_000).to_string();
    b.send("OffTopic", 0, &[("__STARTDELIVERTIME", &later)], b"y")
        .await;
    let msgs = b
        .wait_for_within("OffTopic", 0, 1, Duration::from_secs(2))
        .await;
    assert_eq!(&msgs[0].body[..], b"y");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delay_level_wins_over_timer_properties() {
    let dir = tempfile::tempdir().unwrap();
    let b = start_in(dir.path(), |c| c.store.message_delay_level = "1s 2s".into()).await;
    let sent = now_ms();
    b.send(
        "LevelTopic",
        0,
        &[("DELAY", "1"), ("TIMER_DELAY_SEC", "20")],
        b"x",
    )
    .await;
    assert_eq!(b.timer_topic_total(), 0);
    let msgs = b.wait_for("LevelTopic", 0, 1).await;
    assert!(msgs[0].store_timestamp >= sent + 1_000);
    assert!(msgs[0].store_timestamp < sent + 10_000, "level 1, not 20 s");
    assert_eq!(prop(&msgs[0], "TIMER_DELAY_SEC"), None);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_beyond_the_wheel_window_roll_and_still_arrive_on_time() {
    let dir = tempfile::tempdir().unwrap();
    // A window of 2 one-second slots: a 5 s delay rolls at least twice.
    let b = start_in(dir.path(), |c| c.timer_roll_window_slot = 2).await;
    let t0 = now_ms();
    b.send("RollTopic", 0, &[("TIMER_DELAY_SEC", "5")], b"far")
        .await;
    let t1 = now_ms();
    let near = (t1 + 1_500).to_string();
    b.send("RollTopic", 1, &[("TIMER_DELIVER_MS", &near)], b"near")
        .await;
    let m = &b.wait_for("RollTopic", 1, 1).await[0];
    assert_on_time(m, t1 + 1_500, t1 + 1_500, "within the window");
    let m = &b.wait_for("RollTopic", 0, 1).await[0];
    assert_on_time(m, t0 + 5_000, t1 + 5_000, "rolled");
    let stats = b.broker.timer().unwrap().stats();
    assert!(stats.rolled >= 2, "{stats:?}");
    assert_eq!(stats.delivered, 2);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_a_timed_message_is_refused() {
    use sluice_remoting::header::SendMessageRequestHeaderV2;
    use sluice_remoting::message::batch::{encode_batch, BatchItem};
    use sluice_remoting::{RemotingCommand, RequestCode};

    let dir = tempfile::tempdir().unwrap();
    let b = start_in(dir.path(), |_| {}).await;
    let items: Vec<BatchItem> = (0..2)
        .map(|i| BatchItem {
            flag: 0,
            body: bytes::Bytes::from(format!("b{i}")),
            properties: if i == 1 {
                props(&[("TIMER_DELAY_SEC", "5")])
            } else {
                String::new()
            },
        })
        .collect();
    let mut header = send_header("BatchTimer", 0, "");
    header.batch = Some(true);
    let v2: SendMessageRequestHeaderV2 = header.into();
    let request = RemotingCommand::request(RequestCode::SendBatchMessage)
        .with_header(&v2)
        .with_body(encode_batch(&items));
    let r = b.invoke(request).await;
    assert_eq!(r.code, 13, "{r:?}");
    assert!(r.remark.unwrap_or_default().contains("cannot be timed"));
    assert_eq!(b.broker.state().store.max_offset("BatchTimer", 0), 0);
    b.stop().await;
}
