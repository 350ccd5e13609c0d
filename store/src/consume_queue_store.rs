//! All ConsumeQueues of a store: the map (topic, queueId) → [`ConsumeQueue`] over
//! `{root}/consumequeue/{topic}/{queueId}/`, and the operations recovery, flush and retention apply to
//! every queue.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dashmap::DashMap;

use crate::consume_queue::ConsumeQueue;
use crate::error::{Result, StoreError};
use crate::fs::StoreFs;

/// The queues of one topic, by queue id.
type TopicQueues = DashMap<i32, Arc<ConsumeQueue>>;

/// Every ConsumeQueue of the store.
pub struct ConsumeQueueStore {
    /// `{root}/consumequeue`.
    pub dir: PathBuf,
    /// Bytes per file (a multiple of 20).
    pub file_size: u64,
    fs: Arc<dyn StoreFs>,
    queues: DashMap<String, Arc<TopicQueues>>,
}

impl std::fmt::Debug for ConsumeQueueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumeQueueStore")
            .field("dir", &self.dir)
            .field("topics", &self.queues.len())
            .finish()
    }
}

impl ConsumeQueueStore {
    /// Opens every queue found under `dir` (`{topic}/{queueId}` directories; anything else is ignored
    /// with a warning). Call [`recover_all`](Self::recover_all) before dispatching into them.
    pub fn load(dir: impl Into<PathBuf>, file_size: u64, fs: Arc<dyn StoreFs>) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)
            .map_err(|e| StoreError::io(format!("creating {}", dir.display()), e))?;
        let store = ConsumeQueueStore {
            dir,
            file_size,
            fs,
            queues: DashMap::new(),
        };
        for topic_entry in read_dir(&store.dir)? {
            let topic_path = topic_entry.path();
            let Some(topic) = topic_entry.file_name().to_str().map(str::to_owned) else {
                tracing::warn!(path = %topic_path.display(), "ignoring a non-UTF-8 topic directory");
                continue;
            };
            if !topic_path.is_dir() {
                tracing::warn!(path = %topic_path.display(), "ignoring a file in the consumequeue directory");
                continue;
            }
            for queue_entry in read_dir(&topic_path)? {
                let queue_path = queue_entry.path();
                let queue_id = queue_entry
                    .file_name()
                    .to_str()
                    .and_then(|s| s.parse::<i32>().ok());
                match queue_id {
                    Some(id) if queue_path.is_dir() => {
                        let cq = ConsumeQueue::open(
                            &queue_path,
                            topic.clone(),
                            id,
                            file_size,
                            store.fs.clone(),
                        )?;
                        store.topic_queues(&topic).insert(id, Arc::new(cq));
                    }
                    _ => {
                        tracing::warn!(path = %queue_path.display(), "ignoring an entry that is not a queue directory")
                    }
                }
            }
        }
        Ok(store)
    }

    fn topic_queues(&self, topic: &str) -> Arc<TopicQueues> {
        if let Some(q) = self.queues.get(topic) {
            return Arc::clone(&q);
        }
        Arc::clone(
            &self
                .queues
                .entry(topic.to_owned())
                .or_insert_with(|| Arc::new(DashMap::new())),
        )
    }

    /// The queue if it exists.
    pub fn get(&self, topic: &str, queue_id: i32) -> Option<Arc<ConsumeQueue>> {
        let topic_queues = self.queues.get(topic)?;
        let cq = topic_queues.get(&queue_id)?;
        Some(Arc::clone(&cq))
    }

    /// The queue, created (empty, directory made) if it does not exist yet.
    pub fn find_or_create(&self, topic: &str, queue_id: i32) -> Result<Arc<ConsumeQueue>> {
        if let Some(cq) = self.get(topic, queue_id) {
            return Ok(cq);
        }
        check_topic_dir_name(topic)?;
        let topic_queues = self.topic_queues(topic);
        let entry = topic_queues.entry(queue_id);
        match entry {
            dashmap::mapref::entry::Entry::Occupied(e) => Ok(Arc::clone(e.get())),
            dashmap::mapref::entry::Entry::Vacant(v) => {
                let cq = ConsumeQueue::open(
                    self.queue_dir(topic, queue_id),
                    topic,
                    queue_id,
                    self.file_size,
                    self.fs.clone(),
                )?;
                Ok(Arc::clone(v.insert(Arc::new(cq)).value()))
            }
        }
    }

    /// `{dir}/{topic}/{queueId}`.
    pub fn queue_dir(&self, topic: &str, queue_id: i32) -> PathBuf {
        self.dir.join(topic).join(queue_id.to_string())
    }

    /// A snapshot of every queue.
    pub fn all(&self) -> Vec<Arc<ConsumeQueue>> {
        let mut out = Vec::new();
        for topic in self.queues.iter() {
            for cq in topic.value().iter() {
                out.push(Arc::clone(cq.value()));
            }
        }
        out
    }

    /// The queues of one topic.
    pub fn topic(&self, topic: &str) -> Vec<Arc<ConsumeQueue>> {
        self.queues
            .get(topic)
            .map(|t| t.iter().map(|cq| Arc::clone(cq.value())).collect())
            .unwrap_or_default()
    }

    /// Topics that have queues.
    pub fn topics(&self) -> Vec<String> {
        self.queues.iter().map(|t| t.key().clone()).collect()
    }

    /// Recovers every queue (torn tails cut, max physical offsets restored).
    pub fn recover_all(&self) -> Result<()> {
        for cq in self.all() {
            cq.recover()?;
        }
        Ok(())
    }

    /// The highest CommitLog end offset any queue has indexed (-1 if none): where recovery's dispatch
    /// may resume and beyond which queue units are dirty.
    pub fn max_physic_offset(&self) -> i64 {
        self.all()
            .iter()
            .map(|cq| cq.max_physic_offset())
            .max()
            .unwrap_or(-1)
    }

    /// Cuts units pointing at or beyond `phy_offset` from every queue.
    pub fn truncate_dirty(&self, phy_offset: i64) -> Result<()> {
        for cq in self.all() {
            cq.truncate_dirty(phy_offset)?;
        }
        Ok(())
    }

    /// Moves every queue's min offset past units below `cl_min_offset` (after recovery or cleanup).
    pub fn correct_min_offsets(&self, cl_min_offset: i64) {
        for cq in self.all() {
            cq.correct_min_offset(cl_min_offset);
        }
    }

    /// Retention for every queue; returns the number of files deleted.
    pub fn delete_expired_files(&self, cl_min_offset: i64) -> Result<usize> {
        let mut deleted = 0;
        for cq in self.all() {
            deleted += cq.delete_expired_files(cl_min_offset)?;
        }
        Ok(deleted)
    }

    /// Flushes every queue with at least `least_pages` dirty pages (0 = all). Blocking.
    pub fn flush_all(&self, least_pages: u32) -> Result<()> {
        for cq in self.all() {
            cq.flush(least_pages)?;
        }
        Ok(())
    }

    /// Empties every queue (the CommitLog has no files at all, so nothing they point at exists).
    pub fn destroy_all(&self) -> Result<()> {
        for cq in self.all() {
            cq.destroy()?;
        }
        Ok(())
    }

    /// Forgets a topic's queues and deletes their directory (admin `deleteTopic`).
    pub fn remove_topic(&self, topic: &str) -> Result<()> {
        check_topic_dir_name(topic)?;
        self.queues.remove(topic);
        let path = self.dir.join(topic);
        match std::fs::remove_dir_all(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(StoreError::io(format!("deleting {}", path.display()), e))
            }
            _ => Ok(()),
        }
    }

    /// Bytes on disk taken by all queues.
    pub fn total_size(&self) -> u64 {
        self.all().iter().map(|cq| cq.total_size()).sum()
    }
}

/// The topic becomes a directory name: refuse anything that would leave `consumequeue/` or is not a
/// plain name (the broker's topic rules are stricter; this is the store's own guard).
fn check_topic_dir_name(topic: &str) -> Result<()> {
    if topic.is_empty() || topic == "." || topic == ".." || topic.contains(['/', '\\', '\0']) {
        return Err(StoreError::MessageIllegal {
            reason: format!("topic {topic:?} cannot name a ConsumeQueue directory"),
        });
    }
    Ok(())
}

fn read_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| StoreError::io(format!("listing {}", dir.display()), e))?;
    let mut out = Vec::new();
    for entry in entries {
        out.push(entry.map_err(|e| StoreError::io(format!("listing {}", dir.display()), e))?);
    }
    out.sort_by_key(|e| e.file_name());
    Ok(out)
}
