//! [`BrokerConfig`]: `broker.conf` (Java properties) with Apache RocketMQ's key names and defaults.
//!
//! Keys are Apache's camelCase setter names (`MixAll.properties2Object`). Broker keys live here as
//! snake_case fields; store keys are handed to [`MessageStoreConfig::set`]. Apache ignores unknown
//! keys silently, which hides typos for years; Sluice keeps going but warns about each one.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::path::Path;

use sluice_store::MessageStoreConfig;

use crate::error::{BrokerError, Result};

/// `brokerRole`: what this broker is in its master/slave group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokerRole {
    AsyncMaster,
    SyncMaster,
    Slave,
}

impl BrokerRole {
    pub fn name(self) -> &'static str {
        match self {
            BrokerRole::AsyncMaster => "ASYNC_MASTER",
            BrokerRole::SyncMaster => "SYNC_MASTER",
            BrokerRole::Slave => "SLAVE",
        }
    }
}

/// A value a config key can hold: parsed from and rendered to its properties text.
trait ConfigValue: Sized {
    fn parse_value(key: &str, value: &str) -> Result<Self>;
    fn render(&self) -> String;
}

fn bad(key: &str, value: &str, expected: &str) -> BrokerError {
    BrokerError::Config(format!("{key} = `{value}`: expected {expected}"))
}

macro_rules! number_value {
    ($($t:ty),*) => {$(
        impl ConfigValue for $t {
            fn parse_value(key: &str, value: &str) -> Result<Self> {
                value.trim().parse().map_err(|_| bad(key, value, "a number"))
            }
            fn render(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
number_value!(i32, i64, u16, u32, u64, usize);

impl ConfigValue for bool {
    fn parse_value(key: &str, value: &str) -> Result<Self> {
        // Java's Boolean.parseBoolean is case-insensitive; anything else is a typo worth reporting.
        match value.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(bad(key, value, "true or false")),
        }
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl ConfigValue for String {
    fn parse_value(_key: &str, value: &str) -> Result<Self> {
        Ok(value.trim().to_string())
    }
    fn render(&self) -> String {
        self.clone()
    }
}

impl ConfigValue for Option<String> {
    fn parse_value(_key: &str, value: &str) -> Result<Self> {
        let v = value.trim();
        Ok((!v.is_empty()).then(|| v.to_string()))
    }
    fn render(&self) -> String {
        self.clone().unwrap_or_default()
    }
}

impl ConfigValue for BrokerRole {
    fn parse_value(key: &str, value: &str) -> Result<Self> {
        match value.trim() {
            "ASYNC_MASTER" => Ok(BrokerRole::AsyncMaster),
            "SYNC_MASTER" => Ok(BrokerRole::SyncMaster),
            "SLAVE" => Ok(BrokerRole::Slave),
            _ => Err(bad(key, value, "ASYNC_MASTER, SYNC_MASTER or SLAVE")),
        }
    }
    fn render(&self) -> String {
        self.name().to_string()
    }
}

/// Declares the broker's own keys once: the struct fields, their defaults, `set` and the listing.
macro_rules! broker_keys {
    ($( $(#[$doc:meta])* $key:literal => $field:ident : $ty:ty = $default:expr ),* $(,)?) => {
        /// The broker's configuration. Store keys are in [`store`](Self::store).
        #[derive(Clone, Debug)]
        pub struct BrokerConfig {
            $( $(#[$doc])* pub $field: $ty, )*
            /// The store's keys (`storePathRootDir`, `flushDiskType`, `maxMessageSize`, ...).
            pub store: MessageStoreConfig,
        }

        impl Default for BrokerConfig {
            fn default() -> Self {
                BrokerConfig {
                    $( $field: $default, )*
                    store: MessageStoreConfig::default(),
                }
            }
        }

        impl BrokerConfig {
            fn set_broker_key(&mut self, key: &str, value: &str) -> Result<bool> {
                match key {
                    $( $key => self.$field = <$ty as ConfigValue>::parse_value(key, value)?, )*
                    _ => return Ok(false),
                }
                Ok(true)
            }

            fn broker_properties(&self) -> Vec<(&'static str, String)> {
                vec![ $( ($key, self.$field.render()), )* ]
            }
        }
    };
}

broker_keys! {
    "brokerClusterName" => broker_cluster_name: String = "DefaultCluster".to_string(),
    /// Default: the local host name, as Apache (`DEFAULT_BROKER` when unknown).
    "brokerName" => broker_name: String = local_host_name(),
    /// 0 is the master; masters are forced to 0.
    "brokerId" => broker_id: i64 = 0,
    /// `;`-separated NameServer addresses; default from env `NAMESRV_ADDR`.
    "namesrvAddr" => namesrv_addr: Option<String> = std::env::var("NAMESRV_ADDR").ok().filter(|s| !s.trim().is_empty()),
    "listenPort" => listen_port: u16 = 10911,
    /// The client-facing address, written as STOREHOST into every record and offset msgId.
    "brokerIP1" => broker_ip1: String = local_address(),
    /// The HA address reported to NameServers.
    "brokerIP2" => broker_ip2: String = local_address(),
    /// Left at 10912 it follows `listenPort` + 1 (a free port when `listenPort=0`); 0 picks a free port.
    "haListenPort" => ha_listen_port: u16 = 10912,
    "brokerRole" => broker_role: BrokerRole = BrokerRole::AsyncMaster,
    "autoCreateTopicEnable" => auto_create_topic_enable: bool = true,
    "autoCreateSubscriptionGroup" => auto_create_subscription_group: bool = true,
    "clusterTopicEnable" => cluster_topic_enable: bool = true,
    "brokerTopicEnable" => broker_topic_enable: bool = true,
    "traceTopicEnable" => trace_topic_enable: bool = false,
    "msgTraceTopicName" => msg_trace_topic_name: String = "RMQ_SYS_TRACE_TOPIC".to_string(),
    "defaultTopicQueueNums" => default_topic_queue_nums: i32 = 8,
    /// PermName bits: READ 4, WRITE 2 (INHERIT 1, PRIORITY 8).
    "brokerPermission" => broker_permission: i32 = 6,
    "registerNameServerPeriod" => register_name_server_period: u64 = 30_000,
    "registerBrokerTimeoutMills" => register_broker_timeout_mills: u64 = 6_000,
    "forceRegister" => force_register: bool = true,
    "compressedRegister" => compressed_register: bool = false,
    "flushConsumerOffsetInterval" => flush_consumer_offset_interval: u64 = 5_000,
    "longPollingEnable" => long_polling_enable: bool = true,
    "shortPollingTimeMills" => short_polling_time_mills: u64 = 1_000,
    "notifyConsumerIdsChangedEnable" => notify_consumer_ids_changed_enable: bool = true,
    "channelNotActiveInterval" => channel_not_active_interval: u64 = 60_000,
    "rejectTransactionMessage" => reject_transaction_message: bool = false,
    "enablePropertyFilter" => enable_property_filter: bool = false,
    "filterSupportRetry" => filter_support_retry: bool = false,
    "slaveReadEnable" => slave_read_enable: bool = false,
    "accessMessageInMemoryMaxRatio" => access_message_in_memory_max_ratio: u32 = 40,
    "transactionTimeOut" => transaction_time_out: u64 = 6_000,
    "transactionCheckMax" => transaction_check_max: u32 = 15,
    "transactionCheckInterval" => transaction_check_interval: u64 = 30_000,
    "sendMessageThreadPoolNums" => send_message_thread_pool_nums: usize = 4,
    "pullMessageThreadPoolNums" => pull_message_thread_pool_nums: usize = 16,
    /// The send queue's bound: sends beyond it are refused at once with SYSTEM_BUSY.
    "sendThreadPoolQueueCapacity" => send_thread_pool_queue_capacity: usize = 10_000,
    /// A send that waited longer than this for its turn is refused with SYSTEM_BUSY.
    "waitTimeMillsInSendQueue" => wait_time_mills_in_send_queue: u64 = 200,
    "brokerFastFailureEnable" => broker_fast_failure_enable: bool = true,
    "maxHoldPullRequests" => max_hold_pull_requests: usize = 100_000,
    "metricsExporterType" => metrics_exporter_type: String = "PROM".to_string(),
    "metricsPromExporterHost" => metrics_prom_exporter_host: String = String::new(),
    /// Port of `/metrics`; 0 picks a free one (tests).
    "metricsPromExporterPort" => metrics_prom_exporter_port: u16 = 5557,
    /// Master HA address for a slave (`ip:port`).
    "haMasterAddress" => ha_master_address: Option<String> = None,
    /// Controller mode (automatic failover): the controller decides which replica is master;
    /// `brokerId` (>= 1) identifies this replica, `brokerRole` only says SYNC or ASYNC master.
    "enableControllerMode" => enable_controller_mode: bool = false,
    /// Controller address(es), `ip:port;ip:port`.
    "controllerAddr" => controller_addr: String = String::new(),
    /// How often (ms) a replica heartbeats to the controller and reads its group's state.
    "brokerHeartbeatInterval" => broker_heartbeat_interval: u64 = 1_000,
    /// A replica silent this long (ms) is dead to the controller; a master stops accepting writes
    /// after half of it without an acknowledged heartbeat (its lease), so two masters never write.
    "controllerHeartBeatTimeoutMills" => controller_heart_beat_timeout_mills: u64 = 10_000,
    /// Arbitrary-time delivery (TIMER_DELIVER_MS, TIMER_DELAY_SEC/MS, `__STARTDELIVERTIME`).
    "timerWheelEnable" => timer_wheel_enable: bool = true,
    /// Furthest delivery time accepted, in seconds from now (3 days).
    "timerMaxDelaySec" => timer_max_delay_sec: u64 = 259_200,
    /// Width of one timer wheel slot in ms.
    "timerPrecisionMs" => timer_precision_ms: u64 = 1_000,
    /// Slots ahead of the dequeue cursor an entry is linked at most; later ones roll (2 days).
    "timerRollWindowSlot" => timer_roll_window_slot: u64 = 172_800,
    /// How often the timer log is synced and `config/timercheck` written.
    "timerFlushIntervalMs" => timer_flush_interval_ms: u64 = 1_000,
    /// Size of one `timerlog` segment file (rounded down to whole 40-byte entries).
    "mappedFileSizeTimerLog" => mapped_file_size_timer_log: u64 = 100 * 1024 * 1024,
    /// HA: a slave reports its offset at least this often (ms); a master sends an empty header as often.
    "haSendHeartbeatInterval" => ha_send_heartbeat_interval: u64 = 5_000,
    /// HA: a connection with nothing read for this long (ms) is closed.
    "haHousekeepingInterval" => ha_housekeeping_interval: u64 = 20_000,
    /// HA: the most CommitLog bytes a master ships in one transfer.
    "haTransferBatchSize" => ha_transfer_batch_size: usize = 32 * 1024,
    /// HA: a slave further behind than this (bytes) is not in sync (SYNC_MASTER answers SLAVE_NOT_AVAILABLE).
    "haSlaveFallbehindMax" => ha_slave_fallbehind_max: u64 = 256 * 1024 * 1024,
    /// SYNC_MASTER: how long a send waits for a slave's acknowledgement (ms) before FLUSH_SLAVE_TIMEOUT.
    "slaveTimeout" => slave_timeout: u64 = 3_000,
}

impl BrokerConfig {
    /// Applies one key: a broker key, else a store key. `Ok(false)` for a key nobody knows.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool> {
        if self.set_broker_key(key, value)? {
            return Ok(true);
        }
        Ok(self.store.set(key, value)?)
    }

    /// Parses `broker.conf` text over the defaults. Returns the config and the unknown keys (in
    /// file order) so the caller can warn about them; a known key with a bad value is an error
    /// naming the line.
    pub fn from_properties(text: &str) -> Result<(BrokerConfig, Vec<String>)> {
        let mut config = BrokerConfig::default();
        let unknown = config.apply_properties(text)?;
        Ok((config, unknown))
    }

    /// Applies `broker.conf` text over this config; see [`from_properties`](Self::from_properties).
    pub fn apply_properties(&mut self, text: &str) -> Result<Vec<String>> {
        let mut unknown = Vec::new();
        for (line_no, key, value) in parse_properties(text) {
            match self.set(&key, &value) {
                Ok(true) => {}
                Ok(false) => unknown.push(key),
                Err(e) => {
                    return Err(BrokerError::Config(format!("line {line_no}: {e}")));
                }
            }
        }
        self.normalize();
        Ok(unknown)
    }

    /// Reads `path` and parses it, logging a warning for each unknown key.
    pub fn load(path: &Path) -> Result<BrokerConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            BrokerError::Config(format!("cannot read config file {}: {e}", path.display()))
        })?;
        let (config, unknown) = Self::from_properties(&text).map_err(|e| {
            BrokerError::Config(format!("{}: {}", path.display(), strip_prefix(&e)))
        })?;
        for key in unknown {
            tracing::warn!(file = %path.display(), key = %key, "unknown broker.conf key ignored");
        }
        Ok(config)
    }

    /// Apache's start-up adjustments: a master's id is 0 (in controller mode `brokerId` names
    /// the replica whatever its role, so it is kept).
    pub fn normalize(&mut self) {
        if self.broker_role != BrokerRole::Slave && !self.enable_controller_mode {
            self.broker_id = 0;
        }
    }

    /// Every key with its effective value, broker keys first, then the store's, as `-p` prints
    /// them and GET_BROKER_CONFIG reports them.
    pub fn to_properties(&self) -> Vec<(&'static str, String)> {
        let mut props = self.broker_properties();
        props.extend(self.store.to_properties());
        props
    }

    /// The effective config as properties text (`-p`, GET_BROKER_CONFIG's body).
    pub fn to_properties_text(&self) -> String {
        let mut out = String::new();
        for (k, v) in self.to_properties() {
            out.push_str(k);
            out.push('=');
            out.push_str(&v);
            out.push('\n');
        }
        out
    }

    /// The NameServer addresses, `;`-separated in the config, blanks dropped.
    pub fn namesrv_addrs(&self) -> Vec<String> {
        self.namesrv_addr
            .as_deref()
            .unwrap_or("")
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// `brokerIP1:listenPort`, the address clients and NameServers know this broker by.
    pub fn broker_addr(&self) -> String {
        format!("{}:{}", self.broker_ip1, self.listen_port)
    }

    /// `brokerIP2:haListenPort`.
    pub fn ha_server_addr(&self) -> String {
        format!("{}:{}", self.broker_ip2, self.ha_listen_port)
    }

    /// `{storePathRootDir}/config`, home of the metadata JSON files.
    pub fn config_dir(&self) -> std::path::PathBuf {
        self.store.store_path_root_dir.join("config")
    }

    pub fn is_master(&self) -> bool {
        self.broker_role != BrokerRole::Slave
    }
}

fn strip_prefix(e: &BrokerError) -> String {
    match e {
        BrokerError::Config(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Java properties, the subset broker.conf files use: `key=value` or `key: value` or `key value`,
/// `#`/`!` comments, blank lines, surrounding blanks trimmed, a trailing `\` continues the line.
/// Yields (1-based line number, key, value).
pub fn parse_properties(text: &str) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((idx, raw)) = lines.next() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let mut logical = line.to_string();
        while logical.ends_with('\\') && !logical.ends_with("\\\\") {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        // The key ends at the first unescaped separator; `\` escapes are resolved in both parts.
        let mut key = String::new();
        let mut chars = logical.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        key.push(unescape(next));
                    }
                }
                '=' | ':' | ' ' | '\t' => {
                    // Blanks around the separator, then at most one '=' or ':'.
                    let mut seen_sep = c != ' ' && c != '\t';
                    while let Some(&n) = chars.peek() {
                        if n == ' ' || n == '\t' {
                            chars.next();
                        } else if !seen_sep && (n == '=' || n == ':') {
                            seen_sep = true;
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    break;
                }
                other => key.push(other),
            }
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(next) = chars.next() {
                    value.push(unescape(next));
                }
            } else {
                value.push(c);
            }
        }
        out.push((idx + 1, key.trim().to_string(), value.trim().to_string()));
    }
    out
}

fn unescape(c: char) -> char {
    match c {
        't' => '\t',
        'n' => '\n',
        'r' => '\r',
        'f' => '\u{c}',
        other => other,
    }
}

fn local_host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "DEFAULT_BROKER".to_string())
}

/// A non-loopback local IPv4 address (the one the default route would use), else 127.0.0.1.
/// Connecting a UDP socket sends nothing; it only asks the kernel to pick a source address.
pub fn local_address() -> String {
    let picked = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|s| {
            s.connect((Ipv4Addr::new(192, 0, 2, 1), 9))?;
            s.local_addr()
        })
        .map(|a| a.ip());
    match picked {
        Ok(IpAddr::V4(ip)) if !ip.is_loopback() && !ip.is_unspecified() => ip.to_string(),
        _ => Ipv4Addr::LOCALHOST.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_store::FlushDiskType;

    #[test]
    fn defaults_are_apaches() {
        let c = BrokerConfig::default();
        assert_eq!(c.broker_cluster_name, "DefaultCluster");
        assert_eq!(c.listen_port, 10911);
        assert_eq!(c.default_topic_queue_nums, 8);
        assert_eq!(c.broker_permission, 6);
        assert!(c.auto_create_topic_enable);
        assert_eq!(c.register_name_server_period, 30_000);
        assert_eq!(c.flush_consumer_offset_interval, 5_000);
        assert_eq!(c.wait_time_mills_in_send_queue, 200);
        assert_eq!(c.metrics_prom_exporter_port, 5557);
        assert_eq!(c.store.max_message_size, 4 * 1024 * 1024);
    }

    #[test]
    fn parses_a_broker_conf_with_comments_and_store_keys() {
        let text = "# comment\n\nbrokerClusterName = C1\nbrokerName=broker-a\nbrokerId=0\n\
                    deleteWhen=04\nfileReservedTime=48\nbrokerRole=SYNC_MASTER\n\
                    flushDiskType=SYNC_FLUSH\nnamesrvAddr=1.2.3.4:9876;5.6.7.8:9876\n\
                    autoCreateTopicEnable=false\nmaxMessageSize : 1024\nbogusKey=1\n";
        let (c, unknown) = BrokerConfig::from_properties(text).unwrap();
        assert_eq!(c.broker_cluster_name, "C1");
        assert_eq!(c.broker_name, "broker-a");
        assert_eq!(c.broker_role, BrokerRole::SyncMaster);
        assert_eq!(c.store.flush_disk_type, FlushDiskType::SyncFlush);
        assert_eq!(c.store.file_reserved_time, 48);
        assert_eq!(c.store.max_message_size, 1024);
        assert!(!c.auto_create_topic_enable);
        assert_eq!(c.namesrv_addrs(), vec!["1.2.3.4:9876", "5.6.7.8:9876"]);
        assert_eq!(unknown, vec!["bogusKey".to_string()]);
    }

    #[test]
    fn bad_values_name_the_line() {
        let err = BrokerConfig::from_properties("brokerName=a\nlistenPort=ten\n").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("line 2") && msg.contains("listenPort"),
            "{msg}"
        );
        assert!(BrokerConfig::from_properties("brokerRole=BOSS\n").is_err());
    }

    #[test]
    fn masters_get_id_zero_and_properties_round_trip() {
        let (c, _) = BrokerConfig::from_properties("brokerId=3\n").unwrap();
        assert_eq!(c.broker_id, 0);
        let text = c.to_properties_text();
        assert!(text.contains("brokerId=0\n"));
        assert!(text.contains("flushDiskType=ASYNC_FLUSH\n"));
        let (again, unknown) = BrokerConfig::from_properties(&text).unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        assert_eq!(again.to_properties_text(), text);
    }

    #[test]
    fn continuation_lines_and_colon_separators() {
        let p = parse_properties("a: 1\nb = x \\\n  y\n! c\nd\ne\\:f=g\\=h\nk v w\n");
        assert_eq!(
            p,
            vec![
                (1, "a".into(), "1".into()),
                (2, "b".into(), "x y".into()),
                (5, "d".into(), "".into()),
                (6, "e:f".into(), "g=h".into()),
                (7, "k".into(), "v w".into())
            ]
        );
    }

    #[test]
    fn shipped_sample_conf_parses_without_unknown_keys() {
        let (c, unknown) =
            BrokerConfig::from_properties(include_str!("../../conf/broker.conf")).unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        assert_eq!(c.broker_name, "broker-a");
        assert_eq!(c.store.file_reserved_time, 48);
    }
}
