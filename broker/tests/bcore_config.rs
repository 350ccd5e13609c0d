//! The `mqbroker` binary's config handling: `-c`, `-n`, `-p`, NAMESRV_ADDR, unknown keys.

use std::process::Command;

fn mqbroker() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mqbroker"));
    cmd.env_remove("NAMESRV_ADDR").env("RUST_LOG", "warn");
    cmd
}

const CONF: &str = "# Apache's sample plus a typo\n\
brokerClusterName=DefaultCluster\n\
brokerName=broker-a\n\
brokerId=0\n\
deleteWhen=04\n\
fileReservedTime=48\n\
brokerRole=ASYNC_MASTER\n\
flushDiskType=SYNC_FLUSH\n\
listenPort = 20911\n\
autoCreateTopicEnable=false\n\
namesrvAddr=10.0.0.1:9876;10.0.0.2:9876\n\
maxMessageSize=65536\n\
autoCreateTopicEnabel=true\n";

#[test]
fn print_config_shows_file_values_and_warns_about_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("broker.conf");
    std::fs::write(&conf, CONF).unwrap();
    let out = mqbroker().arg("-c").arg(&conf).arg("-p").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    for line in [
        "brokerClusterName=DefaultCluster",
        "brokerName=broker-a",
        "brokerId=0",
        "listenPort=20911",
        "flushDiskType=SYNC_FLUSH",
        "fileReservedTime=48",
        "deleteWhen=04",
        "autoCreateTopicEnable=false",
        "namesrvAddr=10.0.0.1:9876;10.0.0.2:9876",
        "maxMessageSize=65536",
        "defaultTopicQueueNums=8",
        "metricsPromExporterPort=5557",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "{line} missing:\n{stdout}"
        );
    }
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("autoCreateTopicEnabel"),
        "no warning for the typo: {stderr}"
    );
}

#[test]
fn namesrv_from_flag_beats_env_and_env_beats_default() {
    let out = mqbroker()
        .env("NAMESRV_ADDR", "1.1.1.1:9876")
        .arg("-p")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.lines().any(|l| l == "namesrvAddr=1.1.1.1:9876"),
        "{stdout}"
    );
    let out = mqbroker()
        .env("NAMESRV_ADDR", "1.1.1.1:9876")
        .args(["-n", "2.2.2.2:9876", "-p"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.lines().any(|l| l == "namesrvAddr=2.2.2.2:9876"),
        "{stdout}"
    );
}

#[test]
fn bad_value_or_missing_file_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("broker.conf");
    std::fs::write(&conf, "brokerName=a\nlistenPort=lots\n").unwrap();
    let out = mqbroker().arg("-c").arg(&conf).arg("-p").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("listenPort") && stderr.contains("line 2"),
        "{stderr}"
    );

    let out = mqbroker()
        .args(["-c", "/nonexistent/broker.conf", "-p"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("/nonexistent/broker.conf"));
}

/// The binary serves, and SIGTERM is a graceful shutdown: exit 0 with the metadata files written.
#[test]
fn sigterm_shuts_down_cleanly_and_writes_the_metadata_files() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = dir.path().join("broker.conf");
    std::fs::write(
        &conf,
        format!(
            "brokerName=broker-sig\nlistenPort={port}\nbrokerIP1=127.0.0.1\nmetricsPromExporterPort=0\n\
             storePathRootDir={}\nmappedFileSizeCommitLog=1048576\n",
            dir.path().join("store").display()
        ),
    )
    .unwrap();
    let mut child = mqbroker()
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.contains("boot success") && line.contains(&format!("127.0.0.1:{port}")),
        "{line}"
    );
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("the broker listens");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let config = dir.path().join("store/config");
    for f in ["topics.json", "consumerOffset.json"] {
        assert!(config.join(f).exists(), "{f} not written at shutdown");
    }
    // A clean shutdown removes the abort file, so the next start is a normal recovery.
    assert!(!dir.path().join("store/abort").exists());
}
