//! Message commands against an in-process NameServer + broker: sendMessage, the four queries,
//! consumeMessage and decodeMessageId.

mod mqadmin_common;

use mqadmin_common::{header, rows, Cluster};

/// The value after `label` in a message detail block.
fn field<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(label))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {label} in:\n{out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_then_find_and_consume() {
    let c = Cluster::start().await;
    c.ok(&[
        "updateTopic",
        "-c",
        "DefaultCluster",
        "-t",
        "Orders",
        "-r",
        "2",
        "-w",
        "2",
    ])
    .await;
    c.register().await;

    let out = c
        .ok(&[
            "sendMessage",
            "-t",
            "Orders",
            "-p",
            "hello sluice",
            "-k",
            "order-42",
            "-c",
            "TagA",
            "-b",
            "broker-a",
            "-i",
            "1",
        ])
        .await;
    assert_eq!(
        header(&out),
        ["#Broker Name", "#QID", "#Send Result", "#MsgId"],
        "{out}"
    );
    let row = &rows(&out)[0];
    assert_eq!(
        (row[0], row[1], row[2]),
        ("broker-a", "1", "SEND_OK"),
        "{out}"
    );
    let uniq = row[3].to_string();
    assert_eq!(uniq.len(), 32, "{out}");
    c.ok(&[
        "sendMessage",
        "-t",
        "Orders",
        "-p",
        "second",
        "-k",
        "order-43",
        "-b",
        "broker-a",
        "-i",
        "1",
    ])
    .await;

    // The index is built asynchronously: wait until the key is found.
    let out = c
        .eventually(&["queryMsgByKey", "-t", "Orders", "-k", "order-42"], |o| {
            o.contains(&uniq)
        })
        .await;
    assert_eq!(header(&out), ["#Message ID", "#QID", "#Offset"], "{out}");
    let found = rows(&out);
    assert_eq!(found.len(), 1, "only the message with that key: {out}");
    assert_eq!(found[0], [uniq.as_str(), "1", "0"]);
    let out = c
        .ok(&["queryMsgByKey", "-t", "Orders", "-k", "no-such-key"])
        .await;
    assert!(rows(&out).is_empty(), "{out}");

    let out = c
        .eventually(&["queryMsgByUniqueKey", "-i", &uniq, "-t", "Orders"], |o| {
            o.contains("hello sluice")
        })
        .await;
    assert_eq!(field(&out, "Topic:"), "Orders");
    assert_eq!(field(&out, "Tags:"), "[TagA]");
    assert_eq!(field(&out, "Keys:"), "[order-42]");
    assert_eq!(field(&out, "Queue ID:"), "1");
    assert_eq!(field(&out, "Queue Offset:"), "0");

    let out = c
        .eventually(
            &[
                "queryMsgByOffset",
                "-t",
                "Orders",
                "-b",
                "broker-a",
                "-i",
                "1",
                "-o",
                "1",
            ],
            |o| o.contains("Message Body:"),
        )
        .await;
    assert_eq!(field(&out, "Message Body:"), "second");
    assert_eq!(field(&out, "Keys:"), "[order-43]");
    let offset_id = field(&out, "OffsetID:").to_string();

    let out = c.ok(&["queryMsgById", "-i", &offset_id]).await;
    assert_eq!(field(&out, "OffsetID:"), offset_id);
    // A unique key with -t is found through the index.
    let by_uniq = c.ok(&["queryMsgById", "-i", &uniq, "-t", "Orders"]).await;
    assert_eq!(field(&by_uniq, "Message Body:"), "hello sluice");
    let body_path = field(&out, "Message Body Path:");
    assert_eq!(std::fs::read(body_path).unwrap(), b"second");
    assert_eq!(field(&out, "Message Body:"), "second");
    assert_eq!(field(&out, "Store Host:"), c.broker_addr);

    let out = c
        .ok(&[
            "consumeMessage",
            "-t",
            "Orders",
            "-b",
            "broker-a",
            "-i",
            "1",
            "-o",
            "0",
        ])
        .await;
    let consumed: Vec<&str> = out.lines().filter(|l| l.starts_with("MSGID: ")).collect();
    assert_eq!(consumed.len(), 2, "{out}");
    assert!(consumed[0].starts_with(&format!("MSGID: {uniq} ")), "{out}");
    assert!(consumed[0].ends_with("BODY: hello sluice"), "{out}");
    assert!(consumed[1].ends_with("BODY: second"), "{out}");
    assert!(out.contains("Consume ok"), "{out}");
    assert!(out.contains("2 message(s) consumed"), "{out}");
    assert!(
        out.contains("MessageQueue [topic=Orders, brokerName=broker-a, queueId=1] print msg finished. status=NO_NEW_MSG, offset=2"),
        "{out}"
    );
    // -c limits the count; queue 0 is empty.
    let out = c.ok(&["consumeMessage", "-t", "Orders", "-c", "1"]).await;
    assert_eq!(
        out.lines().filter(|l| l.starts_with("MSGID: ")).count(),
        1,
        "{out}"
    );
    let out = c
        .ok(&[
            "consumeMessage",
            "-t",
            "Orders",
            "-b",
            "broker-a",
            "-i",
            "0",
            "-o",
            "0",
        ])
        .await;
    assert!(out.contains("0 message(s) consumed"), "{out}");

    // decodeMessageId: the unique key carries the producer's IP; the offset id the store host.
    let out = c.ok(&["decodeMessageId", "-i", &offset_id]).await;
    assert!(
        out.contains(&format!("storeHost={}", c.broker_addr)),
        "{out}"
    );
    assert!(out.contains("commitLogOffset="), "{out}");
    let out = c.ok(&["decodeMessageId", "-i", &uniq]).await;
    assert!(out.lines().any(|l| l.starts_with("ip=")), "{out}");
    // The id was made moments ago: its date is today's (UTC). Around midnight the day may have
    // turned between send and check, so accept either side of now.
    let now = sluice_client::admin::now_millis();
    let days: Vec<String> = [now - 60_000, now]
        .iter()
        .map(|t| {
            format!(
                "date={}",
                &sluice_client::admin::cli::format_millis(*t)[..10]
            )
        })
        .collect();
    assert!(days.iter().any(|d| out.contains(d.as_str())), "{out}");
    let err = c.run(&["decodeMessageId", "-i", "xyz"]).await.unwrap_err();
    assert!(err.to_string().contains("is not a message id"), "{err}");

    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_queries_that_find_nothing_say_so() {
    let c = Cluster::start().await;
    c.ok(&[
        "updateTopic",
        "-c",
        "DefaultCluster",
        "-t",
        "Empty",
        "-r",
        "1",
        "-w",
        "1",
    ])
    .await;
    c.register().await;
    let err = c
        .run(&[
            "queryMsgByOffset",
            "-t",
            "Empty",
            "-b",
            "broker-a",
            "-i",
            "0",
            "-o",
            "5",
        ])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no message at offset 5"), "{err}");
    let err = c
        .run(&[
            "queryMsgByUniqueKey",
            "-i",
            "0A0000010000000000000000000000FF",
            "-t",
            "Empty",
        ])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("no message with unique key"),
        "{err}"
    );
    let err = c
        .run(&[
            "queryMsgByOffset",
            "-t",
            "Empty",
            "-b",
            "broker-z",
            "-i",
            "0",
            "-o",
            "0",
        ])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("broker broker-z has no master"),
        "{err}"
    );
    c.shutdown().await;
}
