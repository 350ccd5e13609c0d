//! [`ConsumerOffsetManager`]: committed consume offsets per `topic@group` and queue
//! (`config/consumerOffset.json`, `{"offsetTable":{"topic@group":{0:off}}}` with fastjson's
//! unquoted integer keys), persisted every `flushConsumerOffsetInterval` and at shutdown.
//! Offsets are the next offset to consume.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use dashmap::DashMap;
use sluice_remoting::body::{ConsumerOffsetFile, DataVersion, JsonBody};

use crate::config::BrokerConfig;
use crate::error::{BrokerError, Result};
use crate::persist;
use crate::topic_config::now_ms;

const TOPIC_GROUP_SEPARATOR: char = '@';

/// `{dir}/consumerOffset.json`.
pub fn consumer_offset_json_path(config_dir: &Path) -> PathBuf {
    config_dir.join("consumerOffset.json")
}

fn key(topic: &str, group: &str) -> String {
    let mut k = String::with_capacity(topic.len() + group.len() + 1);
    k.push_str(topic);
    k.push(TOPIC_GROUP_SEPARATOR);
    k.push_str(group);
    k
}

pub struct ConsumerOffsetManager {
    /// `topic@group` -> queue id -> next offset to consume.
    offsets: DashMap<String, BTreeMap<i32, i64>>,
    /// Offsets pulled up to (not persisted; what a pull asked for last, for admin views).
    pull_offsets: DashMap<String, BTreeMap<i32, i64>>,
    data_version: Mutex<DataVersion>,
    dirty: AtomicBool,
    path: PathBuf,
}

impl ConsumerOffsetManager {
    /// Loads `consumerOffset.json` (or its `.bak`); empty when neither exists. Blocking.
    pub fn load(config: &BrokerConfig) -> Result<ConsumerOffsetManager> {
        let path = consumer_offset_json_path(&config.config_dir());
        let loaded =
            persist::load_with_fallback(&path, |text| ConsumerOffsetFile::decode(text.as_bytes()))
                .map_err(|problem| BrokerError::MetadataFile {
                    path: path.display().to_string(),
                    problem,
                })?;
        let offsets = DashMap::new();
        let mut data_version = DataVersion::new(now_ms());
        if let Some(file) = loaded {
            if let Some(v) = file.data_version {
                data_version = v;
            }
            for (k, queues) in file.offset_table {
                // Keys without '@' cannot be attributed to a group; Apache drops them too.
                if ConsumerOffsetFile::split_key(&k).is_some() {
                    offsets.insert(k, queues);
                } else {
                    tracing::warn!(key = %k, "consumerOffset.json: key without topic@group ignored");
                }
            }
        }
        Ok(ConsumerOffsetManager {
            offsets,
            pull_offsets: DashMap::new(),
            data_version: Mutex::new(data_version),
            dirty: AtomicBool::new(false),
            path,
        })
    }

    /// Records the committed offset of one queue (UPDATE_CONSUMER_OFFSET, commit flag of a pull).
    pub fn commit_offset(
        &self,
        client_host: &str,
        group: &str,
        topic: &str,
        queue_id: i32,
        offset: i64,
    ) {
        let k = key(topic, group);
        let previous = self.offsets.entry(k).or_default().insert(queue_id, offset);
        if let Some(prev) = previous {
            if offset < prev {
                tracing::debug!(
                    client_host,
                    group,
                    topic,
                    queue_id,
                    prev,
                    offset,
                    "consumer offset moved backwards"
                );
            }
        }
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// The committed offset of one queue, `-1` when the group never committed one (Apache's value).
    pub fn query_offset(&self, group: &str, topic: &str, queue_id: i32) -> i64 {
        self.offsets
            .get(&key(topic, group))
            .and_then(|q| q.get(&queue_id).copied())
            .unwrap_or(-1)
    }

    /// Every committed offset of a group on a topic.
    pub fn query_offsets(&self, group: &str, topic: &str) -> Option<BTreeMap<i32, i64>> {
        self.offsets.get(&key(topic, group)).map(|q| q.clone())
    }

    /// Replaces a group's offsets on a topic (offset reset); queues not in `offsets` keep theirs.
    pub fn reset_offsets(&self, group: &str, topic: &str, offsets: &BTreeMap<i32, i64>) {
        let mut entry = self.offsets.entry(key(topic, group)).or_default();
        for (q, o) in offsets {
            entry.insert(*q, *o);
        }
        drop(entry);
        self.dirty.store(true, Ordering::Relaxed);
    }

    pub fn commit_pull_offset(&self, group: &str, topic: &str, queue_id: i32, offset: i64) {
        self.pull_offsets
            .entry(key(topic, group))
            .or_default()
            .insert(queue_id, offset);
    }

    /// The offset last pulled from, else the committed one, else -1.
    pub fn query_pull_offset(&self, group: &str, topic: &str, queue_id: i32) -> i64 {
        self.pull_offsets
            .get(&key(topic, group))
            .and_then(|q| q.get(&queue_id).copied())
            .unwrap_or_else(|| self.query_offset(group, topic, queue_id))
    }

    /// Topics a group has offsets on (QUERY_TOPICS_BY_CONSUMER).
    pub fn topics_of_group(&self, group: &str) -> HashSet<String> {
        self.offsets
            .iter()
            .filter_map(|e| {
                let (t, g) = ConsumerOffsetFile::split_key(e.key())?;
                (g == group).then(|| t.to_string())
            })
            .collect()
    }

    /// Groups with offsets on a topic (QUERY_TOPIC_CONSUME_BY_WHO).
    pub fn groups_of_topic(&self, topic: &str) -> HashSet<String> {
        self.offsets
            .iter()
            .filter_map(|e| {
                let (t, g) = ConsumerOffsetFile::split_key(e.key())?;
                (t == topic).then(|| g.to_string())
            })
            .collect()
    }

    /// Forgets a group's offsets on every topic (DELETE_SUBSCRIPTIONGROUP with cleanOffset).
    pub fn remove_group(&self, group: &str) {
        self.offsets
            .retain(|k, _| ConsumerOffsetFile::split_key(k).is_none_or(|(_, g)| g != group));
        self.pull_offsets
            .retain(|k, _| ConsumerOffsetFile::split_key(k).is_none_or(|(_, g)| g != group));
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// Forgets every group's offsets on a topic (DELETE_TOPIC_IN_BROKER).
    pub fn remove_topic(&self, topic: &str) {
        self.offsets
            .retain(|k, _| ConsumerOffsetFile::split_key(k).is_none_or(|(t, _)| t != topic));
        self.pull_offsets
            .retain(|k, _| ConsumerOffsetFile::split_key(k).is_none_or(|(t, _)| t != topic));
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// Number of `topic@group` entries.
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// The file's content.
    pub fn snapshot(&self) -> ConsumerOffsetFile {
        ConsumerOffsetFile {
            data_version: Some(*self.data_version.lock().unwrap_or_else(|e| e.into_inner())),
            offset_table: self
                .offsets
                .iter()
                .map(|e| (e.key().clone(), e.value().clone()))
                .collect(),
        }
    }

    /// Writes `consumerOffset.json` (blocking). Skipped when nothing was committed since the last
    /// write, unless `force`.
    pub fn persist(&self, force: bool) -> std::io::Result<()> {
        let was_dirty = self.dirty.swap(false, Ordering::AcqRel);
        if !was_dirty && !force {
            return Ok(());
        }
        if was_dirty {
            self.data_version
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .next_version(now_ms());
        }
        let body = self.snapshot().encode_pretty();
        persist::write_atomic(&self.path, &body).inspect_err(|_| {
            self.dirty.store(true, Ordering::Relaxed);
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> BrokerConfig {
        let mut c = BrokerConfig::default();
        c.store.store_path_root_dir = dir.to_path_buf();
        c
    }

    #[test]
    fn commit_query_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path());
        let m = ConsumerOffsetManager::load(&c).unwrap();
        assert_eq!(m.query_offset("g", "T", 0), -1);
        m.commit_offset("1.2.3.4:5", "g", "T", 0, 250);
        m.commit_offset("1.2.3.4:5", "g", "T", 1, 249);
        m.commit_offset("1.2.3.4:5", "g2", "T", 0, 7);
        assert_eq!(m.query_offset("g", "T", 1), 249);
        m.persist(false).unwrap();
        let text = std::fs::read_to_string(m.path()).unwrap();
        // fastjson's shape: unquoted integer keys inside "topic@group".
        assert!(text.contains("\"T@g\""), "{text}");
        assert!(text.contains("0:250"), "{text}");
        let again = ConsumerOffsetManager::load(&c).unwrap();
        assert_eq!(again.query_offset("g", "T", 0), 250);
        assert_eq!(again.query_offset("g2", "T", 0), 7);
        assert_eq!(again.groups_of_topic("T").len(), 2);
        assert_eq!(again.topics_of_group("g"), HashSet::from(["T".to_string()]));
    }

    #[test]
    fn reset_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let m = ConsumerOffsetManager::load(&config(dir.path())).unwrap();
        m.commit_offset("h", "g", "T", 0, 10);
        m.reset_offsets("g", "T", &BTreeMap::from([(0, 3), (1, 4)]));
        assert_eq!(
            m.query_offsets("g", "T").unwrap(),
            BTreeMap::from([(0, 3), (1, 4)])
        );
        m.commit_pull_offset("g", "T", 0, 5);
        assert_eq!(m.query_pull_offset("g", "T", 0), 5);
        assert_eq!(m.query_pull_offset("g", "T", 1), 4);
        m.remove_group("g");
        assert!(m.is_empty());
    }
}
