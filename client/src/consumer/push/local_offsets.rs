//! Offsets of a broadcasting consumer: every member reads every queue, so the offsets belong to
//! this client and are kept in a local file (`<dir>/<group>/offsets.json`; Java keeps them
//! under `~/.rocketmq_offsets`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sluice_remoting::body::MessageQueue;

use crate::error::{ClientError, Result};

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    topic: String,
    #[serde(rename = "brokerName")]
    broker_name: String,
    #[serde(rename = "queueId")]
    queue_id: i32,
    offset: i64,
}

/// The default directory: `$HOME/.rocketmq_offsets`, else `./.rocketmq_offsets`.
pub fn default_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".rocketmq_offsets")
}

pub fn file_for(dir: &Path, group: &str) -> PathBuf {
    dir.join(group).join("offsets.json")
}

/// Reads the offsets stored at `path`; a missing file is no offsets.
pub async fn load(path: &Path) -> Result<Vec<(MessageQueue, i64)>> {
    let bytes = match tokio::fs::read(path).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(ClientError::Config(format!(
                "cannot read consumer offsets {}: {e}",
                path.display()
            )))
        }
    };
    let entries: Vec<Entry> = serde_json::from_slice(&bytes).map_err(|e| {
        ClientError::Config(format!(
            "consumer offsets file {} is corrupt ({e}); move it away to start from consumeFromWhere",
            path.display()
        ))
    })?;
    Ok(entries
        .into_iter()
        .map(|e| {
            (
                MessageQueue::new(e.topic, e.broker_name, e.queue_id),
                e.offset,
            )
        })
        .collect())
}

/// Writes `offsets` to `path` (a temporary file renamed over the old one, so a crash leaves
/// either the old or the new table).
pub async fn store(path: &Path, offsets: &[(MessageQueue, i64)]) -> Result<()> {
    let entries: Vec<Entry> = offsets
        .iter()
        .map(|(q, o)| Entry {
            topic: q.topic.clone(),
            broker_name: q.broker_name.clone(),
            queue_id: q.queue_id,
            offset: *o,
        })
        .collect();
    let json = serde_json::to_vec_pretty(&entries)
        .map_err(|e| ClientError::Config(format!("cannot encode consumer offsets: {e}")))?;
    let io = |e: std::io::Error| {
        ClientError::Config(format!(
            "cannot write consumer offsets {}: {e}",
            path.display()
        ))
    };
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(io)?;
    }
    let tmp = path.with_extension("json.tmp");
    tokio::fs::write(&tmp, &json).await.map_err(io)?;
    tokio::fs::rename(&tmp, path).await.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn offsets_survive_a_store_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_for(dir.path(), "G");
        assert!(load(&path).await.unwrap().is_empty());
        let offsets = vec![
            (MessageQueue::new("T", "a", 0), 5),
            (MessageQueue::new("T", "b", 3), 9),
        ];
        store(&path, &offsets).await.unwrap();
        let mut back = load(&path).await.unwrap();
        back.sort();
        assert_eq!(back, offsets);
        tokio::fs::write(&path, b"{not json").await.unwrap();
        let err = load(&path).await.unwrap_err().to_string();
        assert!(err.contains("corrupt"), "{err}");
    }
}
