//! NameServer and broker processes with their config files and data directories, and a `Cluster`
//! of them.
//!
//! Config files use Apache RocketMQ's keys (`namesrv.conf`: `listenPort`; `broker.conf`:
//! `brokerClusterName`, `brokerName`, `brokerId`, `namesrvAddr`, `listenPort`, `brokerIP1`,
//! `storePathRootDir`, …) so the same harness would drive an Apache distribution.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::error::{HarnessError, Result};
use crate::ports::{free_broker_port, free_port};
use crate::process::ServerProcess;
use crate::raw::{java_header, RawConnection};

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

fn temp_dir(prefix: &str) -> Result<TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| HarnessError::io("creating a temporary directory", e))
}

/// Writes `key=value` lines; later entries override earlier ones with the same key.
fn write_properties(path: &Path, entries: &[(String, String)]) -> Result<()> {
    let mut kept: Vec<&(String, String)> = Vec::new();
    for entry in entries.iter().rev() {
        if !kept.iter().any(|k| k.0 == entry.0) {
            kept.push(entry);
        }
    }
    kept.reverse();
    let text: String = kept.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(path, text)
        .map_err(|e| HarnessError::io(format!("writing {}", path.display()), e))
}

/// A loopback server child started from a properties file in its own temp dir: what the
/// NameServer and controller handles share.
struct Launched {
    process: ServerProcess,
    port: u16,
    config_path: PathBuf,
    dir: TempDir,
}

/// Writes `{dir}/{name}.conf` from `base(dir, port)` plus `extra` (which override), starts
/// `binary -c conf` with `$HOME` in its dir and its log in `{dir}/{name}.log`, and waits until
/// `127.0.0.1:port` accepts connections.
async fn launch(
    name: &str,
    binary: &Path,
    base: impl FnOnce(&Path, u16) -> Vec<(String, String)>,
    extra: &[(&str, &str)],
) -> Result<Launched> {
    let dir = temp_dir(&format!("sluice-{name}-"))?;
    let port = free_port()?;
    let config_path = dir.path().join(format!("{name}.conf"));
    let mut entries = base(dir.path(), port);
    entries.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    write_properties(&config_path, &entries)?;
    let mut process = ServerProcess::new(
        format!("mq{name} 127.0.0.1:{port}"),
        binary,
        vec!["-c".into(), config_path.clone().into_os_string()],
        loopback(port),
        dir.path().join(format!("{name}.log")),
    );
    // Anything the child would put under $HOME lands in its temp dir instead.
    process.envs.push(("HOME".into(), dir.path().into()));
    process.start().await?;
    Ok(Launched {
        process,
        port,
        config_path,
        dir,
    })
}

/// A running `mqcontroller` child (automatic failover) with its own temp dir.
#[derive(Debug)]
pub struct ControllerProcess {
    pub process: ServerProcess,
    pub port: u16,
    pub config_path: PathBuf,
    pub dir: TempDir,
}

impl ControllerProcess {
    /// Starts a controller on a free port, listening on every address (so brokers in network
    /// namespaces reach it), with extra `controller.conf` entries.
    pub async fn start_with(binary: impl AsRef<Path>, extra: &[(&str, &str)]) -> Result<Self> {
        let base = |dir: &Path, port: u16| {
            vec![
                ("listenPort".to_string(), port.to_string()),
                ("bindAddress".to_string(), "0.0.0.0".to_string()),
                (
                    "controllerStorePath".to_string(),
                    dir.join("store").display().to_string(),
                ),
            ]
        };
        let l = launch("controller", binary.as_ref(), base, extra).await?;
        Ok(Self {
            process: l.process,
            port: l.port,
            config_path: l.config_path,
            dir: l.dir,
        })
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The saved replica table (`replicas.json`) as JSON, if written yet.
    pub fn replica_table(&self) -> Option<serde_json::Value> {
        let bytes = std::fs::read(self.dir.path().join("store").join("replicas.json")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// A running `mqnamesrv` child with its own temp dir and `namesrv.conf`.
#[derive(Debug)]
pub struct NameServerProcess {
    pub process: ServerProcess,
    pub port: u16,
    pub config_path: PathBuf,
    /// Dropped last: the child is killed before its directory disappears.
    pub dir: TempDir,
}

impl NameServerProcess {
    /// Starts a NameServer on a free port with default settings.
    pub async fn start(binary: impl AsRef<Path>) -> Result<Self> {
        Self::start_with(binary, &[]).await
    }

    /// Starts a NameServer with extra `namesrv.conf` entries (which override the harness's own).
    pub async fn start_with(
        binary: impl AsRef<Path>,
        extra_config: &[(&str, &str)],
    ) -> Result<Self> {
        let base = |dir: &Path, port: u16| {
            vec![
                ("listenPort".to_string(), port.to_string()),
                ("bindAddress".to_string(), "127.0.0.1".to_string()),
                (
                    "kvConfigPath".to_string(),
                    dir.join("kvConfig.json").display().to_string(),
                ),
                (
                    "configStorePath".to_string(),
                    dir.join("namesrv.properties").display().to_string(),
                ),
            ]
        };
        let l = launch("namesrv", binary.as_ref(), base, extra_config).await?;
        Ok(Self {
            process: l.process,
            port: l.port,
            config_path: l.config_path,
            dir: l.dir,
        })
    }

    /// `127.0.0.1:port`, the form clients put in `namesrvAddr`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn socket_addr(&self) -> SocketAddr {
        loopback(self.port)
    }

    pub async fn kill(&mut self) -> Result<()> {
        self.process.kill().await
    }

    pub async fn stop(&mut self) -> Result<()> {
        self.process.stop().await.map(|_| ())
    }

    pub async fn restart(&mut self) -> Result<()> {
        self.process.restart().await
    }

    /// Asks this NameServer for a topic's route with a raw J5-style request; returns the response
    /// code and body.
    pub async fn route_of(&self, topic: &str) -> Result<(i64, String)> {
        let mut conn = RawConnection::connect(self.socket_addr()).await?;
        let header = java_header(105, 479, 1, &[("topic", topic)]);
        let response = conn.request(&header, b"").await?;
        let code = response.code().ok_or_else(|| {
            HarnessError::new(format!(
                "route response without a code: {:?}",
                response.header
            ))
        })?;
        Ok((code, response.body_text()))
    }

    /// Polls until this NameServer has a route for `topic` (code 0) or `limit` passes.
    pub async fn wait_for_route(&self, topic: &str, limit: Duration) -> Result<String> {
        let deadline = Instant::now() + limit;
        loop {
            let last = self.route_of(topic).await;
            if let Ok((0, body)) = &last {
                return Ok(body.clone());
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::new(format!(
                    "{} has no route for topic {topic} after {limit:?} (last answer: {last:?})\n--- log tail ---\n{}",
                    self.process.name,
                    self.process.log_tail()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls until this NameServer answers TOPIC_NOT_EXIST (17) for `topic` or `limit` passes.
    pub async fn wait_for_no_route(&self, topic: &str, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let last = self.route_of(topic).await;
            if let Ok((17, _)) = &last {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::new(format!(
                    "{} still routes topic {topic} after {limit:?} (last answer: {last:?})",
                    self.process.name
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// What to put in a broker's `broker.conf` beyond the harness's defaults.
#[derive(Debug, Clone)]
pub struct BrokerSpec {
    pub cluster_name: String,
    pub broker_name: String,
    pub broker_id: u64,
    /// Extra `broker.conf` entries; they override the harness's own.
    pub config: Vec<(String, String)>,
}

impl Default for BrokerSpec {
    fn default() -> Self {
        Self {
            cluster_name: "DefaultCluster".to_string(),
            broker_name: "broker-a".to_string(),
            broker_id: 0,
            config: Vec::new(),
        }
    }
}

impl BrokerSpec {
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.config.push((key.to_string(), value.to_string()));
        self
    }
}

/// A running `mqbroker` child with its own temp dir (`store/` inside it) and `broker.conf`.
#[derive(Debug)]
pub struct BrokerProcess {
    pub process: ServerProcess,
    pub spec: BrokerSpec,
    pub port: u16,
    /// The address it advertises and is reached at (`127.0.0.1`, or a namespace's address).
    pub host: String,
    pub config_path: PathBuf,
    pub dir: TempDir,
}

impl BrokerProcess {
    /// Starts a broker on a free port, registered with the NameServers at `namesrv_addr`
    /// (`a;b` form). Returns once the port accepts connections.
    pub async fn start(
        binary: impl AsRef<Path>,
        namesrv_addr: &str,
        spec: BrokerSpec,
    ) -> Result<Self> {
        Self::start_on(binary, namesrv_addr, spec, None).await
    }

    /// Like [`start`](Self::start), inside the network namespace `ns` when given: the broker
    /// advertises and is reached at the namespace's address.
    pub async fn start_on(
        binary: impl AsRef<Path>,
        namesrv_addr: &str,
        spec: BrokerSpec,
        ns: Option<&crate::netns::NetNs>,
    ) -> Result<Self> {
        let host = ns.map_or_else(|| "127.0.0.1".to_string(), |n| n.ns_ip.clone());
        let dir = temp_dir("sluice-broker-")?;
        let port = free_broker_port()?;
        // Its own Prometheus port: the default (5557) would collide between parallel tests.
        let metrics_port = free_port()?;
        let store = dir.path().join("store");
        let config_path = dir.path().join("broker.conf");
        let mut entries: Vec<(String, String)> = [
            ("brokerClusterName", spec.cluster_name.clone()),
            ("brokerName", spec.broker_name.clone()),
            ("brokerId", spec.broker_id.to_string()),
            ("namesrvAddr", namesrv_addr.to_string()),
            ("listenPort", port.to_string()),
            ("haListenPort", (port + 1).to_string()),
            ("brokerIP1", host.clone()),
            ("storePathRootDir", store.display().to_string()),
            (
                "storePathCommitLog",
                store.join("commitlog").display().to_string(),
            ),
            // 64 MiB CommitLog segments instead of 1 GiB: tests write a few MB, and a test
            // machine runs many brokers at once.
            ("mappedFileSizeCommitLog", (64u64 << 20).to_string()),
            ("metricsPromExporterHost", "127.0.0.1".to_string()),
            ("metricsPromExporterPort", metrics_port.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        entries.extend(spec.config.iter().cloned());
        write_properties(&config_path, &entries)?;
        let socket: SocketAddr = format!("{host}:{port}")
            .parse()
            .map_err(|e| HarnessError::new(format!("bad broker address {host}:{port}: {e}")))?;
        let conf_args = vec!["-c".into(), config_path.clone().into_os_string()];
        let (program, args): (PathBuf, Vec<std::ffi::OsString>) = match ns {
            None => (binary.as_ref().to_path_buf(), conf_args),
            Some(n) => {
                let mut a = n.exec_prefix();
                a.push(binary.as_ref().as_os_str().to_owned());
                a.extend(conf_args);
                (PathBuf::from("ip"), a)
            }
        };
        let mut process = ServerProcess::new(
            format!("mqbroker {} {host}:{port}", spec.broker_name),
            program,
            args,
            socket,
            dir.path().join("broker.log"),
        );
        process.envs.push(("HOME".into(), dir.path().into()));
        process.start().await?;
        Ok(Self {
            process,
            spec,
            port,
            host,
            config_path,
            dir,
        })
    }

    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    pub fn socket_addr(&self) -> SocketAddr {
        self.process.addr
    }

    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    pub async fn kill(&mut self) -> Result<()> {
        self.process.kill().await
    }

    pub async fn stop(&mut self) -> Result<()> {
        self.process.stop().await.map(|_| ())
    }

    /// Graceful stop and start on the same port and store.
    pub async fn restart(&mut self) -> Result<()> {
        self.process.restart().await
    }
}

/// NameServers plus brokers registered with all of them.
#[derive(Debug)]
pub struct Cluster {
    pub brokers: Vec<BrokerProcess>,
    pub nameservers: Vec<NameServerProcess>,
}

/// How long a fresh broker may take to appear at every NameServer.
pub const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(60);

impl Cluster {
    /// Starts `nameserver_count` NameServers, then one broker per spec, and waits until every
    /// NameServer routes each broker's own topic (a broker registers a topic named after itself).
    pub async fn start(
        namesrv_binary: impl AsRef<Path>,
        broker_binary: impl AsRef<Path>,
        nameserver_count: usize,
        specs: Vec<BrokerSpec>,
    ) -> Result<Self> {
        let mut nameservers = Vec::with_capacity(nameserver_count);
        for _ in 0..nameserver_count {
            nameservers.push(NameServerProcess::start(namesrv_binary.as_ref()).await?);
        }
        let mut cluster = Self {
            brokers: Vec::new(),
            nameservers,
        };
        for spec in specs {
            let broker =
                BrokerProcess::start(broker_binary.as_ref(), &cluster.namesrv_addr(), spec).await?;
            cluster.brokers.push(broker);
        }
        cluster.wait_registered().await?;
        Ok(cluster)
    }

    /// `a;b;c`: the `namesrvAddr` value for clients and brokers.
    pub fn namesrv_addr(&self) -> String {
        self.nameservers
            .iter()
            .map(NameServerProcess::addr)
            .collect::<Vec<_>>()
            .join(";")
    }

    /// Waits until every NameServer routes every broker's own topic.
    pub async fn wait_registered(&self) -> Result<()> {
        for broker in &self.brokers {
            for ns in &self.nameservers {
                ns.wait_for_route(&broker.spec.broker_name, REGISTRATION_TIMEOUT)
                    .await
                    .map_err(|e| {
                        HarnessError::new(format!(
                            "{e}\n--- {} log tail ---\n{}",
                            broker.process.name,
                            broker.process.log_tail()
                        ))
                    })?;
            }
        }
        Ok(())
    }

    /// The log tails of every process, for failure messages.
    pub fn log_tails(&self) -> String {
        let brokers = self.brokers.iter().map(|b| &b.process);
        let nameservers = self.nameservers.iter().map(|n| &n.process);
        brokers
            .chain(nameservers)
            .map(|p| format!("--- {} ---\n{}\n", p.name, p.log_tail()))
            .collect()
    }

    pub fn broker(&self) -> &BrokerProcess {
        &self.brokers[0]
    }

    pub fn broker_mut(&mut self) -> &mut BrokerProcess {
        &mut self.brokers[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_config_entries_override_earlier_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.conf");
        let entries = vec![
            ("listenPort".to_string(), "1".to_string()),
            ("a".to_string(), "b".to_string()),
            ("listenPort".to_string(), "2".to_string()),
        ];
        write_properties(&path, &entries).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "a=b\nlistenPort=2\n"
        );
    }
}
