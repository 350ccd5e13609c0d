//! The epoch history of a replica: `{storePathRootDir}/epochFileCheckpoint`, one entry per master
//! term this replica's CommitLog holds data of, `(epoch, startOffset)`, in increasing order. The
//! last term runs to the CommitLog's max offset.
//!
//! When a replica joins a master, both histories decide how much of the replica's log is shared:
//! the newest epoch both have, up to where the shorter of the two ends that epoch. Anything after
//! that on the replica was written by a master that lost its role (or never reached the new one)
//! and is truncated.

use std::path::{Path, PathBuf};

use sluice_remoting::body::EpochEntry;

use crate::persist::write_atomic;

/// The entries, saved as JSON (`[{"epoch":1,"startOffset":0,"endOffset":-1}, ...]`; `endOffset`
/// of the last entry is -1: open).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpochHistory {
    entries: Vec<EpochEntry>,
}

impl EpochHistory {
    pub fn from_entries(mut entries: Vec<EpochEntry>) -> EpochHistory {
        entries.sort_by_key(|e| e.epoch);
        let n = entries.len();
        for i in 0..n {
            entries[i].end_offset = if i + 1 < n {
                entries[i + 1].start_offset
            } else {
                -1
            };
        }
        EpochHistory { entries }
    }

    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub fn last_epoch(&self) -> i32 {
        self.entries.last().map_or(0, |e| e.epoch)
    }

    /// A new term starts at `start_offset` (the master's max offset when it took over). Older or
    /// equal epochs are ignored; terms that would start after `start_offset` are dropped (their
    /// data is being cut).
    pub fn begin(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch <= self.last_epoch() {
            return false;
        }
        self.entries.retain(|e| e.start_offset <= start_offset);
        if let Some(last) = self.entries.last_mut() {
            last.end_offset = start_offset;
        }
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
            end_offset: -1,
        });
        true
    }

    /// Forgets everything after `offset` (after a truncation to it).
    pub fn truncate(&mut self, offset: i64) {
        self.entries
            .retain(|e| e.start_offset < offset || e.start_offset == 0);
        if let Some(last) = self.entries.last_mut() {
            last.end_offset = -1;
        }
    }

    /// Where `epoch` ends in this history (`max_offset` for the open last term).
    fn end_of(&self, epoch: i32, max_offset: i64) -> Option<(i64, i64)> {
        let i = self.entries.iter().position(|e| e.epoch == epoch)?;
        let e = &self.entries[i];
        let end = if i + 1 < self.entries.len() {
            self.entries[i + 1].start_offset
        } else {
            max_offset
        };
        Some((e.start_offset, end))
    }

    /// The offset up to which this replica (history `self`, log end `local_max`) holds the same
    /// bytes as a master with `master` history and log end `master_max`: the end of the newest
    /// epoch they share, as the shorter of the two has it. 0 when they share nothing.
    pub fn consistent_offset(&self, local_max: i64, master: &EpochHistory, master_max: i64) -> i64 {
        if self.entries.is_empty() {
            // Data of unknown terms (a classic-mode store): only what the master also has can
            // stay, and nothing proves it is the same: keep nothing unless the log is empty.
            return 0;
        }
        for mine in self.entries.iter().rev() {
            let Some((m_start, m_end)) = master.end_of(mine.epoch, master_max) else {
                continue;
            };
            let Some((l_start, l_end)) = self.end_of(mine.epoch, local_max) else {
                continue;
            };
            if m_start != l_start {
                continue;
            }
            return l_end.min(m_end);
        }
        0
    }
}

/// The file behind an [`EpochHistory`].
#[derive(Clone, Debug)]
pub struct EpochFile {
    path: PathBuf,
}

impl EpochFile {
    pub fn new(store_root: &Path) -> EpochFile {
        EpochFile {
            path: store_root.join("epochFileCheckpoint"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved history, empty when there is none.
    pub fn load(&self) -> std::io::Result<EpochHistory> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                let entries: Vec<EpochEntry> = serde_json::from_slice(&bytes).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: {e}", self.path.display()),
                    )
                })?;
                Ok(EpochHistory::from_entries(entries))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(EpochHistory::default()),
            Err(e) => Err(e),
        }
    }

    pub fn save(&self, history: &EpochHistory) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(history.entries()).expect("plain data");
        write_atomic(&self.path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(terms: &[(i32, i64)]) -> EpochHistory {
        let mut h = EpochHistory::default();
        for &(e, s) in terms {
            assert!(h.begin(e, s));
        }
        h
    }

    #[test]
    fn a_replica_that_kept_up_keeps_everything() {
        let master = history(&[(1, 0), (2, 5000)]);
        let replica = history(&[(1, 0), (2, 5000)]);
        assert_eq!(replica.consistent_offset(7000, &master, 9000), 7000);
    }

    #[test]
    fn an_old_master_cuts_what_it_wrote_after_losing_its_role() {
        // Replica was master of epoch 1 up to 6000; the new master took over at 5000 (it had
        // received only that much) and began epoch 2 there.
        let old_master = history(&[(1, 0)]);
        let new_master = history(&[(1, 0), (2, 5000)]);
        assert_eq!(old_master.consistent_offset(6000, &new_master, 8000), 5000);
        // A replica that lags behind the switch point keeps its whole log.
        assert_eq!(old_master.consistent_offset(4000, &new_master, 8000), 4000);
    }

    #[test]
    fn a_term_the_master_never_saw_is_skipped() {
        // Replica briefly led epoch 3 from 7000 (a master the controller then replaced before
        // anyone replicated); the master holds epochs 1, 2, 4.
        let replica = history(&[(1, 0), (2, 5000), (3, 7000)]);
        let master = history(&[(1, 0), (2, 5000), (4, 7500)]);
        assert_eq!(replica.consistent_offset(7200, &master, 9000), 7000);
        // Epoch 2 ended at 7000 on the replica and at 7500 on the master: the shorter wins.
        let replica = history(&[(1, 0), (2, 5000), (3, 7600)]);
        assert_eq!(replica.consistent_offset(8000, &master, 9000), 7500);
    }

    #[test]
    fn nothing_shared_means_nothing_kept() {
        assert_eq!(
            history(&[(5, 0)]).consistent_offset(100, &history(&[(6, 0)]), 50),
            0
        );
        assert_eq!(
            EpochHistory::default().consistent_offset(100, &history(&[(1, 0)]), 50),
            0
        );
    }

    #[test]
    fn begin_and_truncate_keep_the_history_ordered() {
        let mut h = history(&[(1, 0), (2, 5000)]);
        assert!(!h.begin(2, 9000), "an epoch is never begun twice");
        assert!(h.begin(4, 8000));
        assert_eq!(h.entries()[1].end_offset, 8000);
        h.truncate(6000);
        assert_eq!(h.last_epoch(), 2);
        assert_eq!(h.entries().last().unwrap().end_offset, -1);
    }

    #[test]
    fn the_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let f = EpochFile::new(dir.path());
        assert_eq!(f.load().unwrap(), EpochHistory::default());
        let h = history(&[(1, 0), (3, 4096)]);
        f.save(&h).unwrap();
        assert_eq!(f.load().unwrap(), h);
    }
}
