//! The role loop of a broker in controller mode.
//!
//! 1. Register with the controller; it answers with the group's master, epoch and SyncStateSet
//!    (a brand-new group gets this replica as its first master).
//! 2. As master: start with `brokerId` 0 and begin the epoch in `epochFileCheckpoint` at the
//!    current CommitLog end. As slave: read the master's epoch history, cut this replica's log
//!    back to the offset both share ([`truncate_commit_log`]), adopt the master's history and
//!    start as its slave (`haMasterAddress` from the master).
//! 3. Session, every `brokerHeartbeatInterval`: heartbeat (epoch, max offset); a master extends
//!    its write lease to half of `controllerHeartBeatTimeoutMills` after the heartbeat was *sent*,
//!    so it stops writing before the controller can think it dead. Read the group's state; a
//!    master keeps the SyncStateSet to the replicas that caught up with it recently.
//! 4. When the controller names another master (pushed or polled), stop the broker and go to 1.
//!
//! A master that loses the controller (partition) keeps serving reads but refuses writes once
//! its lease runs out; when it can talk to the controller again it learns its successor and
//! rejoins as a slave, cutting what it wrote alone.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use sluice_store::truncate_commit_log;
use tokio_util::sync::CancellationToken;

use super::epoch::{EpochFile, EpochHistory};
use super::gate::mono_ms;
use super::link::{ControllerLink, GroupView};
use crate::broker::Broker;
use crate::config::{BrokerConfig, BrokerRole};
use crate::error::{BrokerError, Result};

/// How a session ended.
enum SessionEnd {
    Stop,
    RoleChanged,
}

async fn pause(stop: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(d) => true,
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BrokerError::Config(format!("failover task failed: {e}")))
}

/// Checks the controller-mode keys.
pub fn validate(config: &BrokerConfig) -> Result<()> {
    if config.controller_addr.trim().is_empty() {
        return Err(BrokerError::Config(
            "enableControllerMode=true needs controllerAddr (ip:port of the mqcontroller)".into(),
        ));
    }
    if config.broker_id < 1 {
        return Err(BrokerError::Config(format!(
            "in controller mode brokerId identifies the replica and must be >= 1 (got {}); the master registers with the NameServers as 0",
            config.broker_id
        )));
    }
    Ok(())
}

/// Runs the broker in controller mode until `stop`. `started` is called after every (re)start.
pub async fn run(
    config: BrokerConfig,
    stop: CancellationToken,
    started: impl Fn(&Broker),
) -> Result<()> {
    validate(&config)?;
    let me = config.broker_id;
    let master_flavor = match config.broker_role {
        BrokerRole::SyncMaster => BrokerRole::SyncMaster,
        _ => BrokerRole::AsyncMaster,
    };
    let interval = Duration::from_millis(config.broker_heartbeat_interval.max(100));
    let link = ControllerLink::new(&config);
    let epoch_file = EpochFile::new(&config.store.store_path_root_dir);
    loop {
        if stop.is_cancelled() {
            return Ok(());
        }
        let view = match link.register(&config, me).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot register with the controller; retrying");
                if !pause(&stop, interval).await {
                    return Ok(());
                }
                continue;
            }
        };
        let Some(master) = view.master_id else {
            tracing::warn!(
                group = %config.broker_name,
                "the group has no master (no in-sync replica alive); waiting for the controller"
            );
            if !pause(&stop, interval).await {
                return Ok(());
            }
            continue;
        };
        let mut history = {
            let f = epoch_file.clone();
            blocking(move || f.load()).await?.map_err(|e| {
                BrokerError::Config(format!("cannot read {}: {e}", epoch_file.path().display()))
            })?
        };
        let mut cfg = config.clone();
        if master == me {
            cfg.broker_role = master_flavor;
            cfg.broker_id = 0;
            cfg.ha_master_address = None;
        } else {
            let Some(master_addr) = view.master_address.clone() else {
                if !pause(&stop, interval).await {
                    return Ok(());
                }
                continue;
            };
            let (cache, ha_addr) = match link.epoch_cache(&master_addr).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(master = %master_addr, error = %e, "cannot read the master's epoch history; retrying");
                    if !pause(&stop, interval).await {
                        return Ok(());
                    }
                    continue;
                }
            };
            let theirs = EpochHistory::from_entries(cache.epoch_list.clone());
            let keep = history.consistent_offset(i64::MAX, &theirs, cache.max_offset);
            let store_cfg = cfg.store.clone();
            let cut =
                blocking(move || truncate_commit_log(&store_cfg, keep.max(0) as u64)).await??;
            if cut.new_max_offset < cut.old_max_offset {
                tracing::warn!(
                    from = cut.old_max_offset,
                    to = cut.new_max_offset,
                    "diverged tail cut before following the new master"
                );
            }
            // What this replica holds is now a prefix of the master's log.
            history = theirs;
            cfg.broker_role = BrokerRole::Slave;
            cfg.broker_id = me;
            cfg.ha_master_address = Some(ha_addr);
        }
        let broker = Broker::start(cfg).await?;
        if master == me {
            let start = broker.state().store.commit_log.max_offset() as i64;
            history.begin(view.master_epoch, start);
        }
        {
            let f = epoch_file.clone();
            let h = history.clone();
            blocking(move || f.save(&h))
                .await?
                .map_err(|e| BrokerError::Config(format!("cannot write the epoch file: {e}")))?;
        }
        broker.state().failover.set_history(history);
        broker
            .state()
            .failover
            .set_alone(view.sync_state_set == BTreeSet::from([me]));
        tracing::info!(
            role = if master == me { "master" } else { "slave" },
            epoch = view.master_epoch,
            master = ?view.master_address,
            "running in controller mode"
        );
        started(&broker);
        let end = session(&broker, &link, me, &view, &stop, interval).await;
        let grace = Duration::from_secs(1);
        if let Err(e) = broker.shutdown_within(grace).await {
            tracing::error!(error = %e, "broker shutdown failed during a role change");
        }
        match end {
            SessionEnd::Stop => return Ok(()),
            SessionEnd::RoleChanged => {
                tracing::info!("the controller named another master: restarting in the new role")
            }
        }
    }
}

async fn session(
    broker: &Broker,
    link: &ControllerLink,
    me: i64,
    view: &GroupView,
    stop: &CancellationToken,
    interval: Duration,
) -> SessionEnd {
    let state = broker.state().clone();
    let config = state.config();
    let is_master = view.master_id == Some(me);
    let lease = (config.controller_heart_beat_timeout_mills / 2) as i64;
    let mut set_epoch = view.sync_state_set_epoch;
    // (when, master max offset): a replica is in sync when it reached what the master had a
    // few heartbeats ago.
    let mut samples: VecDeque<(i64, i64)> = VecDeque::new();
    let catch_up_window = 3 * interval.as_millis() as i64;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return SessionEnd::Stop,
            _ = tick.tick() => {}
            _ = link.role_change_pushed() => {}
        }
        let max = state.store.commit_log.max_offset() as i64;
        let sent = mono_ms();
        let beat = link.heartbeat(&config, me, view.master_epoch, max).await;
        if let Err(e) = &beat {
            tracing::debug!(error = %e, "controller heartbeat failed");
        }
        let now_view = match link.replica_info(&config.broker_name).await {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the group's state");
                continue;
            }
        };
        if now_view.master_id != view.master_id || now_view.master_epoch != view.master_epoch {
            state.failover.revoke_lease();
            return SessionEnd::RoleChanged;
        }
        // The lease runs from before the heartbeat, and only once the controller has confirmed
        // (after that instant) that this replica still leads at this epoch.
        if is_master && beat.is_ok() {
            state.failover.extend_lease(sent + lease);
        }
        if !is_master {
            continue;
        }
        let set = &now_view.sync_state_set;
        state.failover.set_alone(*set == BTreeSet::from([me]));
        set_epoch = set_epoch.max(now_view.sync_state_set_epoch);
        samples.push_back((sent, max));
        while samples.len() > 1 && samples[1].0 <= sent - catch_up_window {
            samples.pop_front();
        }
        let threshold = samples.front().map_or(max, |s| s.1);
        let replicas = match link.replicas(&config.broker_name).await {
            Ok(r) => r,
            Err(_) => continue,
        };
        let mut wanted: BTreeSet<i64> = BTreeSet::from([me]);
        for r in replicas {
            if r.broker_id != me
                && r.alive
                && r.epoch == view.master_epoch
                && r.max_offset >= threshold
            {
                wanted.insert(r.broker_id);
            }
        }
        if wanted != *set {
            // Adding a replica: wait for its acknowledgements before the controller counts it.
            if wanted != BTreeSet::from([me]) {
                state.failover.set_alone(false);
            }
            match link
                .alter_sync_state_set(
                    &config.broker_name,
                    me,
                    view.master_epoch,
                    wanted.clone(),
                    set_epoch,
                )
                .await
            {
                Ok(e) => {
                    tracing::info!(set = ?wanted, epoch = e, "SyncStateSet changed");
                    state.failover.set_alone(wanted == BTreeSet::from([me]));
                    set_epoch = e;
                }
                Err(e) => {
                    state.failover.set_alone(*set == BTreeSet::from([me]));
                    tracing::warn!(error = %e, "SyncStateSet change refused");
                }
            }
        }
    }
}
