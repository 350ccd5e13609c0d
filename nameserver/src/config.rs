//! `namesrv.conf`: Apache's `NamesrvConfig` and `NettyServerConfig` keys (Java properties text),
//! plus the Sluice-specific `brokerChannelExpiredTime`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sluice_remoting::body::Properties;

use crate::error::{NamesrvError, Result};

/// Keys Apache's NameServer accepts that Sluice has no use for (thread pools, Netty buffers,
/// controller mode). They are accepted silently and keep no value.
const IGNORED_KEYS: &[&str] = &[
    "serverWorkerThreads",
    "serverCallbackExecutorThreads",
    "serverSelectorThreads",
    "serverOnewaySemaphoreValue",
    "serverAsyncSemaphoreValue",
    "serverSocketSndBufSize",
    "serverSocketRcvBufSize",
    "writeBufferHighWaterMark",
    "writeBufferLowWaterMark",
    "serverSocketBacklog",
    "serverPooledByteBufAllocatorEnable",
    "useEpollNativeSelector",
    "enableShutdownGracefully",
    "shutdownWaitTimeSeconds",
    "clientRequestThreadPoolNums",
    "defaultThreadPoolNums",
    "clientRequestThreadPoolQueueCapacity",
    "defaultThreadPoolQueueCapacity",
    "unRegisterBrokerQueueCapacity",
    "supportActingMaster",
    "notifyMinBrokerIdChanged",
    "enableControllerInNamesrv",
    "needWaitForService",
    "waitSecondsForService",
    "deleteTopicWithBrokerRegistration",
    "clusterTest",
];

/// The effective NameServer configuration. Field names follow the Java keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamesrvConfig {
    /// `listenPort` (9876); 0 picks a free port.
    pub listen_port: u16,
    /// `bindAddress` ("0.0.0.0").
    pub bind_address: String,
    /// `rocketmqHome` (env `ROCKETMQ_HOME`); informational.
    pub rocketmq_home: String,
    /// `kvConfigPath` (`~/namesrv/kvConfig.json`): where KV config is persisted.
    pub kv_config_path: PathBuf,
    /// `configStorePath` (`~/namesrv/namesrv.properties`); informational.
    pub config_store_path: PathBuf,
    /// `productEnvName` ("center"); informational.
    pub product_env_name: String,
    /// `orderMessageEnable` (false): route responses carry `orderTopicConf` from the KV config.
    pub order_message_enable: bool,
    /// `returnOrderTopicConfigToBroker` (true): REGISTER_BROKER answers with the
    /// ORDER_TOPIC_CONFIG namespace.
    pub return_order_topic_config_to_broker: bool,
    /// `scanNotActiveBrokerInterval` in ms (5000): how often silent brokers are looked for.
    pub scan_not_active_broker_interval: u64,
    /// `enableAllTopicList` (true): GET_ALL_TOPIC_LIST_FROM_NAMESERVER is answered.
    pub enable_all_topic_list: bool,
    /// `enableTopicList` (true): GET_TOPICS_BY_CLUSTER and the unit-topic lists are answered.
    pub enable_topic_list: bool,
    /// `brokerChannelExpiredTime` in ms (120000). **Sluice-specific**: Apache hard-codes this
    /// (`DEFAULT_BROKER_CHANNEL_EXPIRED_TIME`); a broker may still ask for another value with the
    /// `heartbeatTimeoutMillis` registration header.
    pub broker_channel_expired_time: u64,
    /// `serverChannelMaxIdleTimeSeconds` (120): idle connections are closed after this.
    pub server_channel_max_idle_time_seconds: u64,
    /// `configBlackList`: keys UPDATE_NAMESRV_CONFIG may not change (`;`-separated).
    pub config_black_list: String,
}

fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

impl Default for NamesrvConfig {
    fn default() -> Self {
        let home = home_dir();
        Self {
            listen_port: 9876,
            bind_address: "0.0.0.0".into(),
            rocketmq_home: std::env::var("ROCKETMQ_HOME").unwrap_or_default(),
            kv_config_path: home.join("namesrv").join("kvConfig.json"),
            config_store_path: home.join("namesrv").join("namesrv.properties"),
            product_env_name: "center".into(),
            order_message_enable: false,
            return_order_topic_config_to_broker: true,
            scan_not_active_broker_interval: 5_000,
            enable_all_topic_list: true,
            enable_topic_list: true,
            broker_channel_expired_time: 120_000,
            server_channel_max_idle_time_seconds: 120,
            config_black_list: "configBlackList;configStorePath;kvConfigPath".into(),
        }
    }
}

/// What [`NamesrvConfig::set`] did with a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOutcome {
    /// The key is one of ours and its value was taken.
    Applied,
    /// An Apache key Sluice does not use.
    Ignored,
    /// Nobody knows this key (a typo?).
    Unknown,
}

fn parse_num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
    value.trim().parse().map_err(|_| NamesrvError::Config {
        key: key.into(),
        problem: format!("`{value}` is not a valid number"),
    })
}

/// `Boolean.parseBoolean`: only "true" (any case) is true.
fn parse_bool(value: &str) -> bool {
    value.trim().eq_ignore_ascii_case("true")
}

impl NamesrvConfig {
    /// Sets one key from its text value.
    pub fn set(&mut self, key: &str, value: &str) -> Result<KeyOutcome> {
        match key {
            "listenPort" => self.listen_port = parse_num(key, value)?,
            "bindAddress" => self.bind_address = value.trim().to_string(),
            "rocketmqHome" => self.rocketmq_home = value.to_string(),
            "kvConfigPath" => self.kv_config_path = PathBuf::from(value.trim()),
            "configStorePath" => self.config_store_path = PathBuf::from(value.trim()),
            "productEnvName" => self.product_env_name = value.to_string(),
            "orderMessageEnable" => self.order_message_enable = parse_bool(value),
            "returnOrderTopicConfigToBroker" => {
                self.return_order_topic_config_to_broker = parse_bool(value)
            }
            "scanNotActiveBrokerInterval" => {
                let ms: u64 = parse_num(key, value)?;
                if ms == 0 {
                    return Err(NamesrvError::Config {
                        key: key.into(),
                        problem: "must be at least 1 ms".into(),
                    });
                }
                self.scan_not_active_broker_interval = ms;
            }
            "enableAllTopicList" => self.enable_all_topic_list = parse_bool(value),
            "enableTopicList" => self.enable_topic_list = parse_bool(value),
            "brokerChannelExpiredTime" => self.broker_channel_expired_time = parse_num(key, value)?,
            "serverChannelMaxIdleTimeSeconds" => {
                self.server_channel_max_idle_time_seconds = parse_num(key, value)?
            }
            "configBlackList" => self.config_black_list = value.to_string(),
            _ if IGNORED_KEYS.contains(&key) => return Ok(KeyOutcome::Ignored),
            _ => return Ok(KeyOutcome::Unknown),
        }
        Ok(KeyOutcome::Applied)
    }

    /// Applies every entry of `props`, warning about keys nobody knows.
    pub fn apply(&mut self, props: &Properties) -> Result<()> {
        for (key, value) in &props.entries {
            match self.set(key, value)? {
                KeyOutcome::Applied => {}
                KeyOutcome::Ignored => tracing::debug!(key, "config key not used by Sluice"),
                KeyOutcome::Unknown => tracing::warn!(key, value, "unknown config key ignored"),
            }
        }
        Ok(())
    }

    /// Reads a `namesrv.conf` file (Java properties) over the defaults.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).map_err(|source| NamesrvError::File {
            path: path.to_path_buf(),
            source,
        })?;
        let props = Properties::decode(&text).map_err(|e| NamesrvError::Corrupt {
            path: path.to_path_buf(),
            problem: e.to_string(),
        })?;
        let mut config = Self::default();
        config.apply(&props)?;
        Ok(config)
    }

    /// Whether UPDATE_NAMESRV_CONFIG may change `key`.
    pub fn is_black_listed(&self, key: &str) -> bool {
        self.config_black_list
            .split([';', ','])
            .any(|k| k.trim() == key)
    }

    /// Every key with its effective value (GET_NAMESRV_CONFIG, `mqnamesrv -p`).
    pub fn to_properties(&self) -> Properties {
        let mut p = Properties::default();
        p.insert("listenPort", self.listen_port.to_string());
        p.insert("bindAddress", &self.bind_address);
        p.insert("rocketmqHome", &self.rocketmq_home);
        p.insert("kvConfigPath", self.kv_config_path.display().to_string());
        p.insert(
            "configStorePath",
            self.config_store_path.display().to_string(),
        );
        p.insert("productEnvName", &self.product_env_name);
        p.insert("orderMessageEnable", self.order_message_enable.to_string());
        p.insert(
            "returnOrderTopicConfigToBroker",
            self.return_order_topic_config_to_broker.to_string(),
        );
        p.insert(
            "scanNotActiveBrokerInterval",
            self.scan_not_active_broker_interval.to_string(),
        );
        p.insert("enableAllTopicList", self.enable_all_topic_list.to_string());
        p.insert("enableTopicList", self.enable_topic_list.to_string());
        p.insert(
            "brokerChannelExpiredTime",
            self.broker_channel_expired_time.to_string(),
        );
        p.insert(
            "serverChannelMaxIdleTimeSeconds",
            self.server_channel_max_idle_time_seconds.to_string(),
        );
        p.insert("configBlackList", &self.config_black_list);
        p
    }

    pub fn scan_interval(&self) -> Duration {
        Duration::from_millis(self.scan_not_active_broker_interval.max(1))
    }

    pub fn broker_expiry(&self) -> Duration {
        Duration::from_millis(self.broker_channel_expired_time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_keys_are_applied_and_unknown_ones_reported() {
        let mut c = NamesrvConfig::default();
        let props = Properties::parse(
            "listenPort=9877\norderMessageEnable=TRUE\nscanNotActiveBrokerInterval = 200\n\
             serverWorkerThreads=8\n",
        )
        .unwrap();
        c.apply(&props).unwrap();
        assert_eq!(c.listen_port, 9877);
        assert!(c.order_message_enable);
        assert_eq!(c.scan_interval(), Duration::from_millis(200));
        assert_eq!(
            c.set("serverWorkerThreads", "8").unwrap(),
            KeyOutcome::Ignored
        );
        assert_eq!(c.set("listenProt", "1").unwrap(), KeyOutcome::Unknown);
        let err = c.set("listenPort", "98x76").unwrap_err().to_string();
        assert!(err.contains("listenPort") && err.contains("98x76"), "{err}");
        assert!(c.set("scanNotActiveBrokerInterval", "0").is_err());
    }

    #[test]
    fn properties_round_trip_through_text() {
        let c = NamesrvConfig {
            enable_all_topic_list: false,
            broker_channel_expired_time: 1500,
            ..Default::default()
        };
        let text = c.to_properties().encode();
        let mut back = NamesrvConfig::default();
        back.apply(&Properties::decode(&text).unwrap()).unwrap();
        assert_eq!(back, c);
        assert!(c.is_black_listed("kvConfigPath"));
        assert!(!c.is_black_listed("orderMessageEnable"));
    }

    #[test]
    fn the_sample_conf_uses_only_known_keys() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/namesrv.conf");
        let text = std::fs::read(&path).unwrap();
        let props = Properties::decode(&text).unwrap();
        assert!(props.entries.len() >= 5);
        let mut c = NamesrvConfig::default();
        for (key, value) in &props.entries {
            assert_eq!(c.set(key, value).unwrap(), KeyOutcome::Applied, "{key}");
        }
        assert_eq!(c, NamesrvConfig::load(&path).unwrap());
    }
}
