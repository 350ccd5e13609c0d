//! [`SubscriptionGroupManager`]: consumer group settings (`config/subscriptionGroup.json`), the
//! built-in groups, and group creation on first use when `autoCreateSubscriptionGroup` is on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use sluice_remoting::body::{
    DataVersion, JsonBody, SubscriptionGroupConfig, SubscriptionGroupWrapper,
};

use crate::config::BrokerConfig;
use crate::error::{BrokerError, Result};
use crate::persist;
use crate::topic_config::now_ms;

/// Groups every broker knows from the start (`SubscriptionGroupManager.init`).
pub const BUILT_IN_GROUPS: &[&str] = &[
    "TOOLS_CONSUMER",
    "FILTERSRV_CONSUMER",
    "SELF_TEST_C_GROUP",
    "CID_ONS-HTTP-PROXY",
    "CID_ONSAPI_PULL",
    "CID_ONSAPI_PERMISSION",
    "CID_ONSAPI_OWNER",
    "CID_RMQ_SYS_TRANS",
];

/// Prefix of the broker's own consumer groups (`MixAll.CID_SYS_RMQ_TRANS` and friends), created
/// on first use even without autoCreateSubscriptionGroup.
pub const SYS_CONSUMER_GROUP_PREFIX: &str = "CID_RMQ_SYS_";

/// `{dir}/subscriptionGroup.json`.
pub fn subscription_group_json_path(config_dir: &Path) -> PathBuf {
    config_dir.join("subscriptionGroup.json")
}

struct Table {
    groups: HashMap<String, Arc<SubscriptionGroupConfig>>,
    /// J5 `forbiddenTable` (group -> topic -> bits), kept so that it survives a rewrite.
    forbidden: std::collections::BTreeMap<String, std::collections::BTreeMap<String, i32>>,
    data_version: DataVersion,
    dirty: bool,
}

pub struct SubscriptionGroupManager {
    table: RwLock<Table>,
    path: PathBuf,
    auto_create: bool,
}

/// Longest group name (`TopicValidator.GROUP_MAX_LENGTH`).
pub const GROUP_MAX_LENGTH: usize = 120;

/// Checks a group name as Apache's `TopicValidator.validateGroup` does (same remarks).
pub fn validate_group_name(group: &str) -> std::result::Result<(), String> {
    if group.trim().is_empty() {
        return Err("The specified group is blank.".to_string());
    }
    if !group
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'%' | b'|' | b'_' | b'-'))
    {
        return Err(format!(
            "The specified group: {group}, contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$"
        ));
    }
    if group.len() > GROUP_MAX_LENGTH {
        return Err(format!(
            "The specified group: {group}, is longer than group max length: {GROUP_MAX_LENGTH}"
        ));
    }
    Ok(())
}

impl SubscriptionGroupManager {
    /// Built-in groups, then `subscriptionGroup.json` (or its `.bak`). Blocking.
    pub fn load(config: &BrokerConfig) -> Result<SubscriptionGroupManager> {
        let path = subscription_group_json_path(&config.config_dir());
        let mut groups: HashMap<String, Arc<SubscriptionGroupConfig>> = BUILT_IN_GROUPS
            .iter()
            .map(|g| (g.to_string(), Arc::new(SubscriptionGroupConfig::new(*g))))
            .collect();
        let mut data_version = DataVersion::new(now_ms());
        let mut forbidden = Default::default();
        let loaded = persist::load_with_fallback(&path, |text| {
            SubscriptionGroupWrapper::decode(text.as_bytes())
        })
        .map_err(|problem| BrokerError::MetadataFile {
            path: path.display().to_string(),
            problem,
        })?;
        if let Some(file) = loaded {
            data_version = file.data_version;
            forbidden = file.forbidden_table;
            for (name, g) in file.subscription_group_table {
                groups.insert(name, Arc::new(g));
            }
        }
        Ok(SubscriptionGroupManager {
            table: RwLock::new(Table {
                groups,
                forbidden,
                data_version,
                dirty: false,
            }),
            path,
            auto_create: config.auto_create_subscription_group,
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, group: &str) -> Option<Arc<SubscriptionGroupConfig>> {
        self.read().groups.get(group).cloned()
    }

    pub fn contains(&self, group: &str) -> bool {
        self.read().groups.contains_key(group)
    }

    pub fn len(&self) -> usize {
        self.read().groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().groups.is_empty()
    }

    pub fn group_names(&self) -> Vec<String> {
        self.read().groups.keys().cloned().collect()
    }

    pub fn data_version(&self) -> DataVersion {
        self.read().data_version
    }

    /// Apache's `findSubscriptionGroupConfig`: the group, else (with autoCreateSubscriptionGroup,
    /// or for system groups `CID_RMQ_SYS_*`) a new one with default settings; `None` otherwise.
    pub fn find_or_create(&self, group: &str) -> Option<Arc<SubscriptionGroupConfig>> {
        if let Some(g) = self.get(group) {
            return Some(g);
        }
        let system_group = group.starts_with(SYS_CONSUMER_GROUP_PREFIX);
        if !(self.auto_create || system_group) || validate_group_name(group).is_err() {
            return None;
        }
        let mut t = self.write();
        if let Some(g) = t.groups.get(group) {
            return Some(g.clone());
        }
        let created = Arc::new(SubscriptionGroupConfig::new(group));
        t.groups.insert(group.to_string(), created.clone());
        t.data_version.next_version(now_ms());
        t.dirty = true;
        tracing::info!(group, "subscription group created on first use");
        Some(created)
    }

    /// Creates or replaces a group (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP).
    pub fn update(&self, config: SubscriptionGroupConfig) -> Result<Arc<SubscriptionGroupConfig>> {
        validate_group_name(&config.group_name).map_err(BrokerError::IllegalName)?;
        let config = Arc::new(config);
        let mut t = self.write();
        t.groups.insert(config.group_name.clone(), config.clone());
        t.data_version.next_version(now_ms());
        t.dirty = true;
        Ok(config)
    }

    /// Removes a group (DELETE_SUBSCRIPTIONGROUP); `None` if it did not exist.
    pub fn delete(&self, group: &str) -> Option<Arc<SubscriptionGroupConfig>> {
        let mut t = self.write();
        let removed = t.groups.remove(group)?;
        t.forbidden.remove(group);
        t.data_version.next_version(now_ms());
        t.dirty = true;
        Some(removed)
    }

    /// Every group with the table's version (file and GET_ALL_SUBSCRIPTIONGROUP_CONFIG body).
    pub fn snapshot(&self) -> SubscriptionGroupWrapper {
        let t = self.read();
        SubscriptionGroupWrapper {
            data_version: t.data_version,
            forbidden_table: t.forbidden.clone(),
            subscription_group_table: t
                .groups
                .iter()
                .map(|(k, v)| (k.clone(), SubscriptionGroupConfig::clone(v)))
                .collect(),
        }
    }

    /// Writes `subscriptionGroup.json` if something changed since the last write (blocking).
    pub fn persist_if_dirty(&self) -> std::io::Result<()> {
        if !std::mem::take(&mut self.write().dirty) {
            return Ok(());
        }
        self.persist().inspect_err(|_| self.write().dirty = true)
    }

    /// Writes `subscriptionGroup.json` (blocking).
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

    fn config(dir: &Path, auto: bool) -> BrokerConfig {
        let mut c = BrokerConfig::default();
        c.store.store_path_root_dir = dir.to_path_buf();
        c.auto_create_subscription_group = auto;
        c
    }

    #[test]
    fn built_in_groups_and_auto_create() {
        let dir = tempfile::tempdir().unwrap();
        let m = SubscriptionGroupManager::load(&config(dir.path(), true)).unwrap();
        assert!(m.contains("TOOLS_CONSUMER") && m.contains("CID_RMQ_SYS_TRANS"));
        let g = m.find_or_create("G1").unwrap();
        assert_eq!((g.retry_queue_nums, g.retry_max_times), (1, 16));
        assert!(m.find_or_create("bad group").is_none());

        let dir = tempfile::tempdir().unwrap();
        let m = SubscriptionGroupManager::load(&config(dir.path(), false)).unwrap();
        assert!(m.find_or_create("G1").is_none());
        assert!(m.find_or_create("CID_RMQ_SYS_X").is_some());
    }

    #[test]
    fn survives_reload() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path(), true);
        let m = SubscriptionGroupManager::load(&c).unwrap();
        let mut g = SubscriptionGroupConfig::new("Orders");
        g.retry_max_times = 3;
        m.update(g).unwrap();
        m.persist_if_dirty().unwrap();
        let text = std::fs::read_to_string(m.path()).unwrap();
        assert!(text.contains("\"subscriptionGroupTable\""), "{text}");
        let again = SubscriptionGroupManager::load(&c).unwrap();
        assert_eq!(again.get("Orders").unwrap().retry_max_times, 3);
        assert!(again.delete("Orders").is_some());
        assert!(again.delete("Orders").is_none());
    }
}
