//! [`FailoverGate`]: what the request path of a broker in controller mode needs to know — whether
//! this master may accept writes now (its lease), and the epoch history it serves to replicas.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use super::epoch::EpochHistory;

/// Milliseconds on a monotonic clock local to this process.
pub fn mono_ms() -> i64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_millis() as i64
}

/// Per-broker failover state (present in every broker; inert outside controller mode).
#[derive(Debug)]
pub struct FailoverGate {
    /// Controller mode and this broker runs as master: writes need a live lease.
    leased_master: bool,
    /// Writes are allowed while `mono_ms() < lease_until`.
    lease_until: AtomicI64,
    /// This replica's master epoch (0 outside controller mode).
    epoch: AtomicI64,
    history: Mutex<EpochHistory>,
    /// Controller mode: the SyncStateSet holds only this master, so a SYNC_MASTER has nobody to
    /// wait for (the controller already knows no other replica may be elected).
    alone: std::sync::atomic::AtomicBool,
}

impl FailoverGate {
    pub fn new(controller_mode: bool, is_master: bool) -> FailoverGate {
        FailoverGate {
            leased_master: controller_mode && is_master,
            lease_until: AtomicI64::new(0),
            epoch: AtomicI64::new(0),
            history: Mutex::new(EpochHistory::default()),
            alone: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Extends the lease to `until` (monotonic ms); never shortens it.
    pub fn extend_lease(&self, until: i64) {
        self.lease_until.fetch_max(until, Ordering::AcqRel);
    }

    /// Ends the lease now (the controller named another master).
    pub fn revoke_lease(&self) {
        self.lease_until.store(0, Ordering::Release);
    }

    /// Why a write must be refused now, if it must.
    pub fn refuse_write(&self) -> Option<String> {
        if !self.leased_master {
            return None;
        }
        let until = self.lease_until.load(Ordering::Acquire);
        if mono_ms() < until {
            return None;
        }
        Some(if until == 0 {
            "this broker is not (yet) confirmed as master by the controller; retry on the new master".to_string()
        } else {
            "this master lost contact with the controller and stopped accepting writes (its lease expired); another replica may have been elected".to_string()
        })
    }

    /// Records whether the group's SyncStateSet holds only this master.
    pub fn set_alone(&self, alone: bool) {
        self.alone
            .store(alone && self.leased_master, Ordering::Release);
    }

    /// A leased master whose SyncStateSet holds only itself acknowledges writes without
    /// waiting for a slave.
    pub fn acks_alone(&self) -> bool {
        self.alone.load(Ordering::Acquire)
    }

    pub fn epoch(&self) -> i32 {
        self.epoch.load(Ordering::Acquire) as i32
    }

    pub fn set_history(&self, history: EpochHistory) {
        self.epoch
            .store(i64::from(history.last_epoch()), Ordering::Release);
        *self.history.lock().unwrap_or_else(|e| e.into_inner()) = history;
    }

    pub fn history(&self) -> EpochHistory {
        self.history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_leased_master_is_fenced() {
        assert!(FailoverGate::new(false, true).refuse_write().is_none());
        assert!(FailoverGate::new(true, false).refuse_write().is_none());
        let g = FailoverGate::new(true, true);
        assert!(
            g.refuse_write().is_some(),
            "no lease before the first heartbeat"
        );
        g.extend_lease(mono_ms() + 60_000);
        assert!(g.refuse_write().is_none());
        g.extend_lease(0);
        assert!(
            g.refuse_write().is_none(),
            "a lease is never shortened by an old heartbeat"
        );
        g.revoke_lease();
        assert!(g.refuse_write().is_some());
    }
}
