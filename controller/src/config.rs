//! `controller.conf`: the controller's keys (Java properties, Apache's `ControllerConfig` names).

use std::path::{Path, PathBuf};
use std::time::Duration;

use sluice_remoting::body::Properties;

use crate::error::{ControllerError, Result};

/// The controller's configuration.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// `listenPort` (9878, the port of Apache's controller samples); 0 picks a free port.
    pub listen_port: u16,
    /// `bindAddress` ("0.0.0.0").
    pub bind_address: String,
    /// `controllerStorePath`: where the replica table is kept (`{home}/controller`).
    pub controller_store_path: PathBuf,
    /// `brokerNotActiveTimeoutMillis` (10 s): a replica without heartbeat this long is dead; a
    /// dead master is replaced.
    pub broker_not_active_timeout: Duration,
    /// `scanNotActiveBrokerInterval`: how often dead masters are looked for. Apache's default is
    /// 5 s; Sluice checks every second so that a group writes again well within 15 s.
    pub scan_not_active_broker_interval: Duration,
    /// `enableElectUncleanMaster` (false): may a replica outside the SyncStateSet (which may
    /// lack acknowledged messages) become master when no in-sync replica is alive?
    pub enable_elect_unclean_master: bool,
    /// `notifyBrokerRoleChanged` (true): push NOTIFY_BROKER_ROLE_CHANGED to the replicas of a
    /// group when its master changes (they also poll).
    pub notify_broker_role_changed: bool,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        ControllerConfig {
            listen_port: 9878,
            bind_address: "0.0.0.0".into(),
            controller_store_path: home.join("controller"),
            broker_not_active_timeout: Duration::from_millis(10_000),
            scan_not_active_broker_interval: Duration::from_millis(1_000),
            enable_elect_unclean_master: false,
            notify_broker_role_changed: true,
        }
    }
}

/// Apache keys that only matter to its DLedger/JRaft controller; accepted and ignored.
const IGNORED_KEYS: &[&str] = &[
    "controllerType",
    "controllerDLegerGroup",
    "controllerDLegerPeers",
    "controllerDLegerSelfId",
    "mappedFileSize",
    "controllerThreadPoolNums",
    "controllerRequestThreadPoolQueueCapacity",
    "jRaftGroupId",
    "jRaftServerId",
    "jRaftInitConf",
    "jRaftControllerRPCAddr",
    "rocketmqHome",
    "configStorePath",
];

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
    value.trim().parse().map_err(|_| ControllerError::Config {
        key: key.into(),
        problem: format!("`{value}` is not a number"),
    })
}

fn boolean(key: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ControllerError::Config {
            key: key.into(),
            problem: format!("`{value}` is not true or false"),
        }),
    }
}

impl ControllerConfig {
    /// Applies one key. Unknown keys are reported back (the caller warns).
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool> {
        match key {
            "listenPort" => self.listen_port = number(key, value)?,
            "bindAddress" => self.bind_address = value.trim().to_string(),
            "controllerStorePath" => self.controller_store_path = PathBuf::from(value.trim()),
            "brokerNotActiveTimeoutMillis" => {
                self.broker_not_active_timeout = Duration::from_millis(number(key, value)?)
            }
            "scanNotActiveBrokerInterval" => {
                self.scan_not_active_broker_interval =
                    Duration::from_millis(number::<u64>(key, value)?.max(10))
            }
            "enableElectUncleanMaster" => self.enable_elect_unclean_master = boolean(key, value)?,
            "notifyBrokerRoleChanged" => self.notify_broker_role_changed = boolean(key, value)?,
            k if IGNORED_KEYS.contains(&k) => {}
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Reads a properties file over the defaults.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ControllerError::Io {
            doing: format!("reading {}", path.display()),
            source: e,
        })?;
        let props = Properties::parse(&text).map_err(|e| ControllerError::Config {
            key: path.display().to_string(),
            problem: e.to_string(),
        })?;
        let mut config = ControllerConfig::default();
        for (key, value) in &props.entries {
            if !config.set(key, value)? {
                tracing::warn!(file = %path.display(), %key, "unknown controller.conf key ignored");
            }
        }
        Ok(config)
    }

    /// The effective configuration as `key=value` lines (`-p`).
    pub fn render(&self) -> String {
        format!(
            "listenPort={}\nbindAddress={}\ncontrollerStorePath={}\nbrokerNotActiveTimeoutMillis={}\n\
             scanNotActiveBrokerInterval={}\nenableElectUncleanMaster={}\nnotifyBrokerRoleChanged={}\n",
            self.listen_port,
            self.bind_address,
            self.controller_store_path.display(),
            self.broker_not_active_timeout.as_millis(),
            self.scan_not_active_broker_interval.as_millis(),
            self.enable_elect_unclean_master,
            self.notify_broker_role_changed,
        )
    }
}
