//! KV config (`PUT/GET/DELETE_KV_CONFIG`, `GET_KVLIST_BY_NAMESPACE`): namespace -> key -> value,
//! kept in memory and persisted to `kvConfigPath` as Apache does
//! (`{"configTable":{"ns":{"k":"v"}}}`). The only state a NameServer keeps on disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::{Deserialize, Serialize};
use sluice_remoting::body::KVTable;

use crate::error::{NamesrvError, Result};

/// The namespace whose entries brokers get back on registration and clients see as
/// `orderTopicConf` (`NamesrvUtil.NAMESPACE_ORDER_TOPIC_CONFIG`).
pub const NAMESPACE_ORDER_TOPIC_CONFIG: &str = "ORDER_TOPIC_CONFIG";

type Table = BTreeMap<String, BTreeMap<String, String>>;

/// The file layout (Java `KVConfigSerializeWrapper`).
#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct KvConfigFile {
    config_table: Table,
}

pub struct KvConfigManager {
    path: PathBuf,
    table: RwLock<Table>,
    /// Serializes writers of the file so that the newest snapshot is written last.
    persist_lock: tokio::sync::Mutex<()>,
}

impl KvConfigManager {
    /// Loads `path` if it exists (a missing file is an empty table; a damaged one is an error).
    pub fn load(path: &Path) -> Result<Self> {
        let table = match std::fs::read(path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Table::new(),
            Ok(bytes) => {
                let file: KvConfigFile =
                    sluice_remoting::json::from_slice(&bytes).map_err(|e| {
                        NamesrvError::Corrupt {
                            path: path.to_path_buf(),
                            problem: format!("not a KV config file ({e}); fix or remove it"),
                        }
                    })?;
                file.config_table
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Table::new(),
            Err(source) => {
                return Err(NamesrvError::File {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let entries: usize = table.values().map(BTreeMap::len).sum();
        tracing::info!(path = %path.display(), entries, "KV config loaded");
        Ok(Self {
            path: path.to_path_buf(),
            table: RwLock::new(table),
            persist_lock: tokio::sync::Mutex::new(()),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, namespace: &str, key: &str) -> Option<String> {
        self.read().get(namespace)?.get(key).cloned()
    }

    /// Every entry of `namespace`, or `None` when it has none.
    pub fn list(&self, namespace: &str) -> Option<KVTable> {
        let t = self.read();
        let entries = t.get(namespace).filter(|m| !m.is_empty())?;
        Some(KVTable {
            table: entries.clone(),
        })
    }

    pub async fn put(self: &Arc<Self>, namespace: &str, key: &str, value: &str) -> Result<()> {
        let previous = self
            .write()
            .entry(namespace.to_string())
            .or_default()
            .insert(key.to_string(), value.to_string());
        match previous {
            None => tracing::info!(namespace, key, value, "KV config added"),
            Some(old) => tracing::info!(namespace, key, old, value, "KV config updated"),
        }
        self.persist().await
    }

    /// Removes one entry; returns whether it existed.
    pub async fn delete(self: &Arc<Self>, namespace: &str, key: &str) -> Result<bool> {
        let removed = {
            let mut t = self.write();
            let removed = t.get_mut(namespace).and_then(|m| m.remove(key)).is_some();
            if t.get(namespace).is_some_and(BTreeMap::is_empty) {
                t.remove(namespace);
            }
            removed
        };
        if removed {
            tracing::info!(namespace, key, "KV config deleted");
            self.persist().await?;
        }
        Ok(removed)
    }

    /// Writes the table to its file (temp file + rename, off the async runtime).
    async fn persist(self: &Arc<Self>) -> Result<()> {
        let _writer = self.persist_lock.lock().await;
        let snapshot = KvConfigFile {
            config_table: self.read().clone(),
        };
        let bytes = sluice_remoting::json::to_pretty(&snapshot)?;
        let path = self.path.clone();
        let written = tokio::task::spawn_blocking(move || write_atomically(&path, &bytes)).await;
        match written {
            Ok(result) => result,
            Err(join) => Err(NamesrvError::File {
                path: self.path.clone(),
                source: std::io::Error::other(join.to_string()),
            }),
        }
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let io_err = |source| NamesrvError::File {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_err)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(io_err)?;
    std::fs::rename(&tmp, path).map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_survive_a_restart_in_apache_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("kvConfig.json");
        let kv = Arc::new(KvConfigManager::load(&path).unwrap());
        kv.put("ORDER_TOPIC_CONFIG", "T1", "broker-a:4")
            .await
            .unwrap();
        kv.put("ns2", "k", "v").await.unwrap();
        kv.put("ns2", "gone", "x").await.unwrap();
        assert!(kv.delete("ns2", "gone").await.unwrap());
        assert!(!kv.delete("ns2", "gone").await.unwrap());

        let text = std::fs::read_to_string(&path).unwrap();
        let compact: String = text.split_whitespace().collect();
        assert_eq!(
            compact,
            r#"{"configTable":{"ORDER_TOPIC_CONFIG":{"T1":"broker-a:4"},"ns2":{"k":"v"}}}"#
        );
        let again = KvConfigManager::load(&path).unwrap();
        assert_eq!(again.get("ns2", "k").as_deref(), Some("v"));
        assert_eq!(again.get("ns2", "gone"), None);
        assert_eq!(again.list("ORDER_TOPIC_CONFIG").unwrap().table.len(), 1);
        assert!(again.list("nothing").is_none());
    }

    #[test]
    fn a_damaged_file_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kvConfig.json");
        std::fs::write(&path, b"{\"configTable\":[").unwrap();
        let err = KvConfigManager::load(&path).err().unwrap().to_string();
        assert!(err.contains("kvConfig.json"), "{err}");
    }
}
