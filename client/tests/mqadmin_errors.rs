//! Failures: an unreachable NameServer, an unknown topic, missing options. Each gives a non-zero
//! exit status and a message that says what to do. The binary is run as a process here.

mod mqadmin_common;

use std::process::Command;

use mqadmin_common::Cluster;
use sluice_client::admin::cli::{run, CliError};

fn mqadmin(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_mqadmin"))
        .args(args)
        .env_remove("NAMESRV_ADDR")
        .output()
        .expect("run mqadmin");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A loopback port nobody listens on.
fn dead_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr.to_string()
}

#[test]
fn unreachable_namesrv_fails_with_the_address() {
    let addr = dead_addr();
    let (code, _, err) = mqadmin(&["topicList", "-n", &addr]);
    assert_eq!(code, 1);
    assert!(err.contains(&addr) && err.contains("connect"), "{err}");
    assert!(err.contains("check that the server is running"), "{err}");
}

#[test]
fn missing_options_are_named() {
    let (code, _, err) = mqadmin(&["topicList"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("-n ip:port") && err.contains("NAMESRV_ADDR"),
        "{err}"
    );

    let (code, _, err) = mqadmin(&["topicRoute", "-n", "127.0.0.1:9876"]);
    assert_eq!(code, 1);
    assert!(err.contains("--topic"), "{err}");

    let (code, _, err) = mqadmin(&["noSuchCommand"]);
    assert_eq!(code, 1);
    assert!(err.contains("noSuchCommand"), "{err}");

    let (code, _, err) = mqadmin(&[]);
    assert_eq!(code, 1);
    assert!(err.contains("mqadmin --help"), "{err}");
}

#[test]
fn help_lists_apache_command_names() {
    let (code, out, _) = mqadmin(&["--help"]);
    assert_eq!(code, 0);
    for name in [
        "updateTopic",
        "deleteTopic",
        "topicList",
        "topicRoute",
        "topicStatus",
        "topicClusterList",
        "clusterList",
        "brokerStatus",
        "getBrokerConfig",
        "updateBrokerConfig",
        "updateSubGroup",
        "deleteSubGroup",
        "consumerProgress",
        "consumerConnection",
        "producerConnection",
        "queryMsgById",
        "queryMsgByKey",
        "queryMsgByUniqueKey",
        "queryMsgByOffset",
        "sendMessage",
        "consumeMessage",
        "resetOffsetByTime",
        "decodeMessageId",
    ] {
        assert!(out.contains(name), "{name} missing from:\n{out}");
    }
    let (code, out, _) = mqadmin(&["updateTopic", "-h"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("-t, --topic") && out.contains("-c, --clusterName"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_topic_and_group_say_what_to_do() {
    let c = Cluster::start().await;
    let err = c
        .run(&["topicRoute", "-t", "NoSuchTopic"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("mqadmin updateTopic"), "{err}");
    let err = c
        .run(&["topicStatus", "-t", "NoSuchTopic"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("NoSuchTopic"), "{err}");
    let err = c
        .run(&["sendMessage", "-t", "NoSuchTopic", "-p", "x"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("No topic route info"), "{err}");
    let err = c
        .run(&["deleteTopic", "-t", "T", "-c", "NoCluster"])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("cluster NoCluster is not known"),
        "{err}"
    );

    // The binary against the live cluster: same message, exit status 1.
    let (code, _, stderr) = mqadmin(&["topicRoute", "-n", &c.namesrv_addr, "-t", "NoSuchTopic"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("No topic route info"), "{stderr}");
    let (code, stdout, _) = mqadmin(&["topicList", "-n", &c.namesrv_addr]);
    assert_eq!(code, 0);
    assert!(stdout.lines().any(|l| l == "TBW102"), "{stdout}");

    // A NameServer list: a dead first entry is skipped.
    let list = format!("{};{}", dead_addr(), c.namesrv_addr);
    let (code, stdout, stderr) = mqadmin(&["topicList", "-n", &list]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.lines().any(|l| l == "TBW102"), "{stdout}");

    // NAMESRV_ADDR stands in for -n.
    let output = Command::new(env!("CARGO_BIN_EXE_mqadmin"))
        .args(["clusterList"])
        .env("NAMESRV_ADDR", &c.namesrv_addr)
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("broker-a"));
    c.shutdown().await;
}

#[tokio::test]
async fn library_entry_point_reports_usage_errors() {
    let mut out = String::new();
    let err = run(&["queryMsgByKey", "-n", "127.0.0.1:1", "-t", "T"], &mut out)
        .await
        .unwrap_err();
    assert!(matches!(err, CliError::Usage(_)), "{err:?}");
    assert!(err.to_string().contains("--msgKey"), "{err}");
}
