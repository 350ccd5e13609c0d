//! [`TopicConfigManager`]: the broker's topic table (`config/topics.json`), the default system
//! topics, topic name rules, and topic creation on send (broker-internals §11–12).
//!
//! Every change bumps the table's DataVersion and ticks [`TopicConfigManager::changes`]; the
//! registration task re-registers with the NameServers on a tick and the persistence task writes
//! `topics.json` (mutations themselves never touch the disk, so they are safe in async code).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use sluice_remoting::body::{DataVersion, JsonBody, TopicConfig, TopicConfigSerializeWrapper};
use tokio::sync::watch;

use crate::config::BrokerConfig;
use crate::error::{BrokerError, Result};
use crate::persist;

/// `PermName` bits.
pub const PERM_PRIORITY: i32 = 8;
pub const PERM_READ: i32 = 4;
pub const PERM_WRITE: i32 = 2;
pub const PERM_INHERIT: i32 = 1;

pub fn is_readable(perm: i32) -> bool {
    perm & PERM_READ != 0
}
pub fn is_writeable(perm: i32) -> bool {
    perm & PERM_WRITE != 0
}
pub fn is_inherited(perm: i32) -> bool {
    perm & PERM_INHERIT != 0
}

/// The default topic new topics are created from on send (`TopicValidator.AUTO_CREATE_TOPIC_KEY_TOPIC`).
pub const AUTO_CREATE_TOPIC_KEY_TOPIC: &str = "TBW102";
pub const SELF_TEST_TOPIC: &str = "SELF_TEST_TOPIC";
pub const BENCHMARK_TOPIC: &str = "BenchmarkTest";
pub const OFFSET_MOVED_EVENT: &str = "OFFSET_MOVED_EVENT";
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
pub const TRANS_HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
pub const TRANS_OP_HALF_TOPIC: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
pub const TRANS_CHECK_MAX_TIME_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";
pub const REPLY_TOPIC_POSTFIX: &str = "REPLY_TOPIC";
pub const RETRY_GROUP_TOPIC_PREFIX: &str = "%RETRY%";
pub const DLQ_GROUP_TOPIC_PREFIX: &str = "%DLQ%";
pub const SYSTEM_TOPIC_PREFIX: &str = "rmq_sys_";
pub const TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";
pub const ROCKSDB_OFFSET_TOPIC: &str = "CHECKPOINT_TOPIC";
/// Delay levels in SCHEDULE_TOPIC_XXXX (one queue per level of the default `messageDelayLevel`).
pub const SCHEDULE_QUEUE_NUMS: i32 = 18;

/// Longest ordinary topic name; retry and DLQ topics may be longer (group name + prefix).
pub const TOPIC_MAX_LENGTH: usize = 127;
pub const RETRY_OR_DLQ_TOPIC_MAX_LENGTH: usize = 255;

/// `%RETRY%{group}`.
pub fn retry_topic(group: &str) -> String {
    format!("{RETRY_GROUP_TOPIC_PREFIX}{group}")
}

/// `%DLQ%{group}`.
pub fn dlq_topic(group: &str) -> String {
    format!("{DLQ_GROUP_TOPIC_PREFIX}{group}")
}

fn legal_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'%' | b'|' | b'_' | b'-')
}

/// Checks a topic name as Apache's `TopicValidator.validateTopic` does (same order, same
/// remarks); the error is the remark clients see.
pub fn validate_topic_name(topic: &str) -> std::result::Result<(), String> {
    if topic.trim().is_empty() {
        return Err("The specified topic is blank.".to_string());
    }
    if !topic.bytes().all(legal_char) {
        return Err(format!(
            "The specified topic: {topic}, contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$"
        ));
    }
    if topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) || topic.starts_with(DLQ_GROUP_TOPIC_PREFIX) {
        if topic.len() > RETRY_OR_DLQ_TOPIC_MAX_LENGTH {
            return Err(format!(
                "The specified topic is DLQ or Retry topic: {topic}, and it's longer than topic max length: {RETRY_OR_DLQ_TOPIC_MAX_LENGTH}"
            ));
        }
    } else if topic.len() > TOPIC_MAX_LENGTH {
        return Err(format!(
            "The specified topic: {topic}, is longer than topic max length: {TOPIC_MAX_LENGTH}"
        ));
    }
    Ok(())
}

/// Topics the broker keeps for itself (`TopicValidator.isSystemTopic`): creating them through the
/// admin API is refused.
pub fn is_system_topic(topic: &str) -> bool {
    matches!(
        topic,
        AUTO_CREATE_TOPIC_KEY_TOPIC
            | SCHEDULE_TOPIC
            | BENCHMARK_TOPIC
            | TRANS_HALF_TOPIC
            | TRANS_OP_HALF_TOPIC
            | TRANS_CHECK_MAX_TIME_TOPIC
            | SELF_TEST_TOPIC
            | OFFSET_MOVED_EVENT
            | TRACE_TOPIC
            | ROCKSDB_OFFSET_TOPIC
    ) || topic.starts_with(SYSTEM_TOPIC_PREFIX)
}

/// Topics producers may not send to (`TopicValidator.isNotAllowedSendTopic`); the remark is
/// `Sending message to topic[{topic}] is forbidden.`.
pub fn is_not_allowed_send_topic(topic: &str) -> bool {
    matches!(
        topic,
        SCHEDULE_TOPIC
            | TRANS_HALF_TOPIC
            | TRANS_OP_HALF_TOPIC
            | TRANS_CHECK_MAX_TIME_TOPIC
            | SELF_TEST_TOPIC
            | OFFSET_MOVED_EVENT
    )
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `{dir}/topics.json`.
pub fn topics_json_path(config_dir: &Path) -> PathBuf {
    config_dir.join("topics.json")
}

struct Table {
    topics: HashMap<String, Arc<TopicConfig>>,
    data_version: DataVersion,
}

/// The topic table. Reads are a shared lock and an `Arc` clone.
pub struct TopicConfigManager {
    table: RwLock<Table>,
    path: PathBuf,
    auto_create_topic_enable: bool,
    changes: watch::Sender<u64>,
}

fn topic(name: &str, read: i32, write: i32, perm: i32) -> TopicConfig {
    TopicConfig {
        read_queue_nums: read,
        write_queue_nums: write,
        perm,
        ..TopicConfig::new(name)
    }
}

/// The topics every broker creates at start (`TopicConfigManager`'s constructor).
pub fn default_topics(config: &BrokerConfig) -> Vec<TopicConfig> {
    let rw = PERM_READ | PERM_WRITE;
    let mut topics = vec![topic(SELF_TEST_TOPIC, 1, 1, rw)];
    if config.auto_create_topic_enable {
        let n = config.default_topic_queue_nums;
        topics.push(topic(AUTO_CREATE_TOPIC_KEY_TOPIC, n, n, PERM_INHERIT | rw));
    }
    topics.push(topic(BENCHMARK_TOPIC, 1024, 1024, rw));
    let cluster_perm = PERM_INHERIT | if config.cluster_topic_enable { rw } else { 0 };
    topics.push(topic(&config.broker_cluster_name, 16, 16, cluster_perm));
    let broker_perm = PERM_INHERIT | if config.broker_topic_enable { rw } else { 0 };
    topics.push(topic(&config.broker_name, 1, 1, broker_perm));
    topics.push(topic(OFFSET_MOVED_EVENT, 1, 1, rw));
    topics.push(topic(
        SCHEDULE_TOPIC,
        SCHEDULE_QUEUE_NUMS,
        SCHEDULE_QUEUE_NUMS,
        rw,
    ));
    if config.trace_topic_enable {
        topics.push(topic(&config.msg_trace_topic_name, 1, 1, rw));
    }
    topics.push(topic(
        &format!("{}_{REPLY_TOPIC_POSTFIX}", config.broker_cluster_name),
        1,
        1,
        rw,
    ));
    topics.push(topic(TRANS_HALF_TOPIC, 1, 1, rw));
    topics.push(topic(TRANS_OP_HALF_TOPIC, 1, 1, rw));
    topics
}

impl TopicConfigManager {
    /// The default topics of `config`, then whatever `topics.json` (or its `.bak`) holds on top.
    /// Blocking (reads the file).
    pub fn load(config: &BrokerConfig) -> Result<TopicConfigManager> {
        let path = topics_json_path(&config.config_dir());
        let mut topics: HashMap<String, Arc<TopicConfig>> = default_topics(config)
            .into_iter()
            .map(|t| (t.topic_name.clone(), Arc::new(t)))
            .collect();
        let mut data_version = DataVersion::new(now_ms());
        let loaded = persist::load_with_fallback(&path, |text| {
            TopicConfigSerializeWrapper::decode(text.as_bytes())
        })
        .map_err(|problem| BrokerError::MetadataFile {
            path: path.display().to_string(),
            problem,
        })?;
        if let Some(file) = loaded {
            // A new version at every start: the defaults (cluster/broker-name topics, TBW102)
            // may differ from the last run's, and NameServers must not mistake the table for
            // the one they already hold.
            data_version = file.data_version;
            data_version.next_version(now_ms());
            for (name, t) in file.topic_config_table {
                // TBW102 follows the current autoCreateTopicEnable, not the one of the last run.
                if name == AUTO_CREATE_TOPIC_KEY_TOPIC && !config.auto_create_topic_enable {
                    continue;
                }
                topics.insert(name, Arc::new(t));
            }
        }
        let (changes, _) = watch::channel(0);
        Ok(TopicConfigManager {
            table: RwLock::new(Table {
                topics,
                data_version,
            }),
            path,
            auto_create_topic_enable: config.auto_create_topic_enable,
            changes,
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|e| e.into_inner())
    }

    fn changed(&self, table: &mut Table) {
        table.data_version.next_version(now_ms());
        self.changes.send_modify(|n| *n += 1);
    }

    /// Ticks on every change of the table (registration and persistence listen).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn get(&self, topic: &str) -> Option<Arc<TopicConfig>> {
        self.read().topics.get(topic).cloned()
    }

    pub fn contains(&self, topic: &str) -> bool {
        self.read().topics.contains_key(topic)
    }

    pub fn topic_names(&self) -> Vec<String> {
        self.read().topics.keys().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.read().topics.len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().topics.is_empty()
    }

    pub fn data_version(&self) -> DataVersion {
        self.read().data_version
    }

    /// The whole table with its version (`topics.json`, GET_ALL_TOPIC_CONFIG, registration).
    pub fn snapshot(&self) -> TopicConfigSerializeWrapper {
        let t = self.read();
        TopicConfigSerializeWrapper {
            data_version: t.data_version,
            topic_config_table: t
                .topics
                .iter()
                .map(|(k, v)| (k.clone(), TopicConfig::clone(v)))
                .collect(),
            ..Default::default()
        }
    }

    /// Creates or replaces a topic (UPDATE_AND_CREATE_TOPIC). The name must be legal.
    pub fn update(&self, config: TopicConfig) -> Result<Arc<TopicConfig>> {
        validate_topic_name(&config.topic_name).map_err(BrokerError::IllegalName)?;
        let config = Arc::new(config);
        let mut t = self.write();
        if t.topics.get(&config.topic_name).map(|c| c.as_ref()) == Some(config.as_ref()) {
            return Ok(config);
        }
        t.topics.insert(config.topic_name.clone(), config.clone());
        self.changed(&mut t);
        Ok(config)
    }

    /// Removes a topic (DELETE_TOPIC_IN_BROKER); `None` if it did not exist.
    pub fn delete(&self, topic: &str) -> Option<Arc<TopicConfig>> {
        let mut t = self.write();
        let removed = t.topics.remove(topic)?;
        self.changed(&mut t);
        Some(removed)
    }

    /// Apache's `createTopicInSendMessageMethod`: the existing topic, else a new one inheriting
    /// from `default_topic` when that topic allows it (PERM_INHERIT, and for TBW102
    /// autoCreateTopicEnable): queues = min(`client_queue_nums`, the default topic's write
    /// queues), perm = the default's without INHERIT. `Ok(None)` when creation is not allowed.
    pub fn create_topic_in_send_message_method(
        &self,
        topic: &str,
        default_topic: &str,
        client_queue_nums: i32,
        topic_sys_flag: i32,
    ) -> Result<Option<Arc<TopicConfig>>> {
        if let Some(existing) = self.get(topic) {
            return Ok(Some(existing));
        }
        validate_topic_name(topic).map_err(BrokerError::IllegalName)?;
        let mut t = self.write();
        if let Some(existing) = t.topics.get(topic) {
            return Ok(Some(existing.clone()));
        }
        let Some(default) = t.topics.get(default_topic).cloned() else {
            tracing::warn!(
                topic,
                default_topic,
                "cannot create topic on send: the default topic does not exist"
            );
            return Ok(None);
        };
        let mut default_perm = default.perm;
        if default_topic == AUTO_CREATE_TOPIC_KEY_TOPIC && !self.auto_create_topic_enable {
            default_perm = PERM_READ | PERM_WRITE;
        }
        if !is_inherited(default_perm) {
            tracing::warn!(
                topic,
                default_topic,
                perm = default_perm,
                "cannot create topic on send: the default topic is not inheritable"
            );
            return Ok(None);
        }
        let queues = client_queue_nums.min(default.write_queue_nums).max(0);
        let created = Arc::new(TopicConfig {
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm: default_perm & !PERM_INHERIT,
            topic_sys_flag,
            topic_filter_type: default.topic_filter_type,
            ..TopicConfig::new(topic)
        });
        tracing::info!(topic, default_topic, queues, "topic created on send");
        t.topics.insert(topic.to_string(), created.clone());
        self.changed(&mut t);
        Ok(Some(created))
    }

    /// Apache's `createTopicInSendMessageBackMethod`: the existing topic, else a new one with
    /// `queue_nums` queues and `perm` (retry and DLQ topics of consumer groups).
    pub fn create_topic_in_send_message_back_method(
        &self,
        topic: &str,
        queue_nums: i32,
        perm: i32,
        topic_sys_flag: i32,
    ) -> Result<Arc<TopicConfig>> {
        if let Some(existing) = self.get(topic) {
            return Ok(existing);
        }
        validate_topic_name(topic).map_err(BrokerError::IllegalName)?;
        let mut t = self.write();
        if let Some(existing) = t.topics.get(topic) {
            return Ok(existing.clone());
        }
        let created = Arc::new(TopicConfig {
            read_queue_nums: queue_nums,
            write_queue_nums: queue_nums,
            perm,
            topic_sys_flag,
            ..TopicConfig::new(topic)
        });
        t.topics.insert(topic.to_string(), created.clone());
        self.changed(&mut t);
        Ok(created)
    }

    /// The retry topic of `group` (`%RETRY%group`, `retry_queue_nums` queues, RW), created if absent.
    pub fn create_retry_topic(
        &self,
        group: &str,
        retry_queue_nums: i32,
    ) -> Result<Arc<TopicConfig>> {
        self.create_topic_in_send_message_back_method(
            &retry_topic(group),
            retry_queue_nums,
            PERM_READ | PERM_WRITE,
            0,
        )
    }

    /// Writes `topics.json` (blocking).
    pub fn persist(&self) -> std::io::Result<()> {
        let body = self.snapshot().encode_pretty();
        persist::write_atomic(&self.path, &body)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> BrokerConfig {
        let mut c = BrokerConfig {
            broker_name: "broker-a".into(),
            broker_cluster_name: "C1".into(),
            ..Default::default()
        };
        c.store.store_path_root_dir = dir.to_path_buf();
        c
    }

    #[test]
    fn default_topics_are_apaches() {
        let dir = tempfile::tempdir().unwrap();
        let m = TopicConfigManager::load(&config(dir.path())).unwrap();
        let tbw = m.get("TBW102").unwrap();
        assert_eq!((tbw.perm, tbw.write_queue_nums), (7, 8));
        assert_eq!(m.get("SCHEDULE_TOPIC_XXXX").unwrap().read_queue_nums, 18);
        assert_eq!(m.get("C1").unwrap().perm, 7);
        assert_eq!(m.get("broker-a").unwrap().write_queue_nums, 1);
        for t in [
            "SELF_TEST_TOPIC",
            "BenchmarkTest",
            "OFFSET_MOVED_EVENT",
            "C1_REPLY_TOPIC",
            TRANS_HALF_TOPIC,
            TRANS_OP_HALF_TOPIC,
        ] {
            assert!(m.contains(t), "{t}");
        }
    }

    #[test]
    fn no_tbw102_without_auto_create() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path());
        c.auto_create_topic_enable = false;
        let m = TopicConfigManager::load(&c).unwrap();
        assert!(!m.contains("TBW102"));
        assert!(m
            .create_topic_in_send_message_method("New", "TBW102", 4, 0)
            .unwrap()
            .is_none());
    }

    #[test]
    fn auto_create_inherits_and_clears_inherit() {
        let dir = tempfile::tempdir().unwrap();
        let m = TopicConfigManager::load(&config(dir.path())).unwrap();
        let v0 = m.data_version();
        let mut rx = m.changes();
        let t = m
            .create_topic_in_send_message_method("New", "TBW102", 4, 0)
            .unwrap()
            .unwrap();
        assert_eq!((t.read_queue_nums, t.write_queue_nums, t.perm), (4, 4, 6));
        assert!(m.data_version().counter > v0.counter);
        assert!(rx.has_changed().unwrap());
        rx.borrow_and_update();
        // More queues than the default topic has: capped at its write queue count.
        let t = m
            .create_topic_in_send_message_method("Big", "TBW102", 64, 0)
            .unwrap()
            .unwrap();
        assert_eq!(t.write_queue_nums, 8);
        // A default topic without PERM_INHERIT cannot be inherited from.
        assert!(m
            .create_topic_in_send_message_method("X", "SELF_TEST_TOPIC", 4, 0)
            .unwrap()
            .is_none());
        assert!(m
            .create_topic_in_send_message_method("Y", "NoSuchTopic", 4, 0)
            .unwrap()
            .is_none());
        // An existing topic is returned unchanged.
        let again = m
            .create_topic_in_send_message_method("New", "TBW102", 1, 0)
            .unwrap()
            .unwrap();
        assert_eq!(again.write_queue_nums, 4);
    }

    #[test]
    fn topic_names_are_checked() {
        assert!(validate_topic_name("Topic_Test-1%|x").is_ok());
        assert!(validate_topic_name("").unwrap_err().contains("blank"));
        assert!(validate_topic_name("a b")
            .unwrap_err()
            .contains("illegal characters"));
        assert!(validate_topic_name(&"a".repeat(128))
            .unwrap_err()
            .contains("127"));
        assert!(validate_topic_name(&format!("%RETRY%{}", "g".repeat(200))).is_ok());
        assert!(is_system_topic("TBW102") && is_system_topic("rmq_sys_x") && !is_system_topic("T"));
        assert!(is_not_allowed_send_topic("SCHEDULE_TOPIC_XXXX"));
    }

    #[test]
    fn topics_json_survives_reload_with_apache_shape() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path());
        let m = TopicConfigManager::load(&c).unwrap();
        m.update(TopicConfig {
            read_queue_nums: 3,
            write_queue_nums: 3,
            ..TopicConfig::new("Orders")
        })
        .unwrap();
        m.persist().unwrap();
        let text = std::fs::read_to_string(m.path()).unwrap();
        assert!(text.contains("\"topicConfigTable\""), "{text}");
        assert!(text.contains("\"dataVersion\""), "{text}");
        let again = TopicConfigManager::load(&c).unwrap();
        assert_eq!(again.get("Orders").unwrap().write_queue_nums, 3);
        assert!(again.data_version().counter > m.data_version().counter);
    }
}
