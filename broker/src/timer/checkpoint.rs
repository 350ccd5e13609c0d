//! `{root}/config/timercheck`: the timer's progress, written (tmp + fsync + rename, `.bak` kept)
//! every `timerFlushIntervalMs` after the timer log is msynced up to `logEnd`.
//!
//! - `enqueueOffset`: next `rmq_sys_wheel_timer` queue offset to enqueue; every offset below it is
//!   in the log below `logEnd` (or was delivered directly).
//! - `doneSlotMs`: the slot being delivered; every slot before it is fully delivered.
//! - `doneUpToPos`: within that slot, every entry at a log position <= this is delivered (−1: none).
//! - `logEnd`: the log's synced end; entries beyond it are dropped at start and re-enqueued.
//! - `precisionMs`: the slot width the positions above were written with.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::persist::{load_with_fallback, write_atomic};

pub const TIMER_CHECK_FILE: &str = "timercheck";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimerCheckpoint {
    pub enqueue_offset: u64,
    pub done_slot_ms: i64,
    pub done_up_to_pos: i64,
    pub log_end: u64,
    pub precision_ms: i64,
}

impl TimerCheckpoint {
    /// The saved checkpoint (or its backup); `Ok(None)` when there is none. Blocking.
    pub fn load(path: &Path) -> Result<Option<TimerCheckpoint>, String> {
        load_with_fallback(path, |text: &str| {
            serde_json::from_str::<TimerCheckpoint>(text)
        })
    }

    /// Writes it atomically. Blocking.
    pub fn persist(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        write_atomic(path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_missing_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TIMER_CHECK_FILE);
        assert_eq!(TimerCheckpoint::load(&path).unwrap(), None);
        let ck = TimerCheckpoint {
            enqueue_offset: 7,
            done_slot_ms: 1_700_000_000_000,
            done_up_to_pos: 80,
            log_end: 120,
            precision_ms: 1000,
        };
        ck.persist(&path).unwrap();
        assert_eq!(TimerCheckpoint::load(&path).unwrap(), Some(ck));
        let later = TimerCheckpoint {
            enqueue_offset: 9,
            ..ck
        };
        later.persist(&path).unwrap();
        assert_eq!(TimerCheckpoint::load(&path).unwrap(), Some(later));
        std::fs::write(&path, "garbage").unwrap();
        assert_eq!(
            TimerCheckpoint::load(&path).unwrap(),
            Some(ck),
            "falls back to .bak"
        );
    }
}
