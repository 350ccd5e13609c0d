//! [`ClientConfig`]: what every producer and consumer of one client instance shares.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{ClientError, Result};

/// Environment variable holding `;`-separated NameServer addresses, as for the Java tools.
pub const NAMESRV_ADDR_ENV: &str = "NAMESRV_ADDR";

/// Settings of a client instance. Defaults follow the Java client (`ClientConfig.java`).
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// NameServer `host:port` addresses, tried in turn.
    pub namesrv_addrs: Vec<String>,
    /// Second half of the client id; unique per instance by default (`<pid>#<nanos>`, as Java
    /// turns `DEFAULT` into).
    pub instance_name: String,
    /// First half of the client id: this host's outbound IP.
    pub client_ip: String,
    /// Timeout of NameServer and administrative requests (`mqClientApiTimeout`).
    pub request_timeout: Duration,
    /// How often every broker gets a HEART_BEAT (`heartbeatBrokerInterval`).
    pub heartbeat_interval: Duration,
    /// How often routes are fetched again (`pollNameServerInterval`).
    pub poll_name_server_interval: Duration,
    /// Transport limits of the shared connection pool.
    pub remoting: sluice_remoting::net::ClientConfig,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            namesrv_addrs: Vec::new(),
            instance_name: default_instance_name(),
            client_ip: local_ip().to_string(),
            request_timeout: Duration::from_secs(3),
            heartbeat_interval: Duration::from_secs(30),
            poll_name_server_interval: Duration::from_secs(30),
            remoting: sluice_remoting::net::ClientConfig::default(),
        }
    }
}

impl ClientConfig {
    /// Defaults with the NameServers of `addrs` (`"host:port;host:port"`).
    pub fn with_namesrv(addrs: &str) -> Result<Self> {
        Ok(Self {
            namesrv_addrs: parse_namesrv_addrs(addrs)?,
            ..Self::default()
        })
    }

    /// Defaults with the NameServers of the `NAMESRV_ADDR` environment variable.
    pub fn from_env() -> Result<Self> {
        let addrs = std::env::var(NAMESRV_ADDR_ENV).map_err(|_| {
            ClientError::Config(format!(
                "no NameServer address given and {NAMESRV_ADDR_ENV} is not set"
            ))
        })?;
        Self::with_namesrv(&addrs)
    }

    /// `ip@instanceName`, how brokers tell clients apart (heartbeats, rebalance).
    pub fn client_id(&self) -> String {
        format!("{}@{}", self.client_ip, self.instance_name)
    }

    /// Checks what a start needs: at least one NameServer, each a `host:port`.
    pub fn validate(&self) -> Result<()> {
        if self.namesrv_addrs.is_empty() {
            return Err(ClientError::Config(format!(
                "no NameServer address: set one on the builder or in {NAMESRV_ADDR_ENV}"
            )));
        }
        for addr in &self.namesrv_addrs {
            check_host_port(addr)?;
        }
        if self.instance_name.is_empty() {
            return Err(ClientError::Config("empty instance name".into()));
        }
        Ok(())
    }
}

/// Splits `"a:9876;b:9876"` (spaces and empty pieces ignored) and checks each address.
pub fn parse_namesrv_addrs(addrs: &str) -> Result<Vec<String>> {
    let list: Vec<String> = addrs
        .split(';')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    if list.is_empty() {
        return Err(ClientError::Config(format!(
            "NameServer address list {addrs:?} holds no address"
        )));
    }
    for addr in &list {
        check_host_port(addr)?;
    }
    Ok(list)
}

fn check_host_port(addr: &str) -> Result<()> {
    let bad = |why: &str| ClientError::Config(format!("NameServer address {addr:?}: {why}"));
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| bad("expected host:port"))?;
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(bad("port must be a number in 1..=65535")),
    }
}

fn default_instance_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}#{}", std::process::id(), nanos)
}

/// This host's outbound IPv4 address (routing a UDP socket sends nothing), else 127.0.0.1.
pub fn local_ip() -> IpAddr {
    let probe = || -> Option<IpAddr> {
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
        socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
        let ip = socket.local_addr().ok()?.ip();
        (!ip.is_unspecified()).then_some(ip)
    };
    probe().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namesrv_list_splits_on_semicolons() {
        let list = parse_namesrv_addrs(" 10.0.0.1:9876; 10.0.0.2:9876 ;").unwrap();
        assert_eq!(list, ["10.0.0.1:9876", "10.0.0.2:9876"]);
        assert!(parse_namesrv_addrs(";;").is_err());
        assert!(parse_namesrv_addrs("10.0.0.1").is_err());
        assert!(parse_namesrv_addrs("10.0.0.1:0").is_err());
        assert!(parse_namesrv_addrs(":9876").is_err());
        let err = parse_namesrv_addrs("host:port").unwrap_err().to_string();
        assert!(err.contains("host:port"), "{err}");
    }

    #[test]
    fn client_id_is_ip_at_instance() {
        let mut config = ClientConfig::with_namesrv("127.0.0.1:9876").unwrap();
        config.client_ip = "10.1.2.3".into();
        config.instance_name = "orders".into();
        assert_eq!(config.client_id(), "10.1.2.3@orders");
        assert!(config.validate().is_ok());
        // Two default instances differ, so two producers in one process are two clients.
        assert_ne!(
            ClientConfig::default().instance_name,
            ClientConfig::default().instance_name
        );
        assert!(ClientConfig::default().validate().is_err());
    }
}
