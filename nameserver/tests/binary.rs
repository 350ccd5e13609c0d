//! The `mqnamesrv` binary as a real process.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_mqnamesrv");

fn write_conf(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("namesrv.conf");
    let text = format!(
        "# test config\nlistenPort=9876\nbindAddress=127.0.0.1\nkvConfigPath={}\nserverWorkerThreads=8\n{extra}",
        dir.join("kv").join("kvConfig.json").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn the_binary_serves_routes_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(dir.path(), "someTypoKey=1\n");
    let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let mut child = Command::new(BIN)
        .arg("-c")
        .arg(&conf)
        .args(["--listen-port", "0"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let boot = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("boot line within 30 s")
        .unwrap()
        .expect("a boot line");
    assert!(boot.starts_with("The Name Server boot success."), "{boot}");
    let addr = boot.rsplit(' ').next().unwrap().to_string();
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );

    let broker_conn = client();
    let broker = Broker::master("broker-a", "127.0.0.1:10911", &[("BinTopic", 4)]);
    assert_eq!(register(&broker_conn, &addr, &broker).await.code, 0);
    let asker = client();
    let r = route(&asker, &addr, "BinTopic", 333).await;
    assert_eq!(r.code, 0);
    assert!(body_text(&r).contains(r#"{0:"127.0.0.1:10911"}"#));
    assert_eq!(route(&asker, &addr, "Other", 479).await.code, 17);

    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(
        log.contains("someTypoKey"),
        "unknown key not warned about:\n{log}"
    );
    assert!(log.contains("shutdown signal received"), "{log}");
}

#[tokio::test]
async fn print_config_shows_the_effective_values_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(dir.path(), "orderMessageEnable=true\n");
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for line in [
        "listenPort=9876",
        "bindAddress=127.0.0.1",
        "orderMessageEnable=true",
        "scanNotActiveBrokerInterval=5000",
        "brokerChannelExpiredTime=120000",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from:\n{text}"
        );
    }
}

#[tokio::test]
async fn a_missing_or_bad_config_file_is_a_clear_error() {
    let out = Command::new(BIN)
        .args(["-c", "/nonexistent/namesrv.conf"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("/nonexistent/namesrv.conf"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(dir.path(), "listenPort=ninety\n");
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&conf)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("listenPort") && err.contains("ninety"),
        "{err}"
    );
}
