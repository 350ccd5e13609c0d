//! The controller's state machine: for every broker group (brokerName) its replicas, its
//! master, the master's epoch, and the SyncStateSet (the replicas that hold everything the
//! master acknowledged).
//!
//! Everything here is deterministic: liveness and replica progress come in as arguments, so
//! the same calls always give the same state (and the state could be driven by a replicated
//! log later). Rules:
//! - The master epoch grows by one at every master change and never goes back; the
//!   SyncStateSet epoch grows at every change of the set. Proposals carrying an old epoch are
//!   refused (a deposed master cannot shrink or grow the set).
//! - A new master comes from the alive members of the SyncStateSet, highest (epoch, max offset)
//!   first, then lowest election priority value, then lowest id; only with
//!   `enableElectUncleanMaster` may an out-of-sync replica be chosen (it may lack acknowledged
//!   messages).
//! - The first broker of a group that has never had a master becomes its master at epoch 1.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sluice_remoting::ResponseCode;

/// What the controller knows of one broker group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupState {
    pub cluster_name: String,
    /// brokerId → address (`ip:port`).
    pub brokers: BTreeMap<i64, String>,
    pub master: Option<i64>,
    /// 0 until the first master is elected.
    pub master_epoch: i32,
    pub sync_state_set: BTreeSet<i64>,
    pub sync_state_set_epoch: i32,
}

impl GroupState {
    pub fn master_address(&self) -> Option<&str> {
        self.master
            .and_then(|id| self.brokers.get(&id))
            .map(String::as_str)
    }
}

/// A replica's latest heartbeat figures, used to rank election candidates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplicaProgress {
    pub epoch: i32,
    pub max_offset: i64,
    pub election_priority: i32,
}

/// What the caller knows of the replicas at the moment of a decision.
pub trait Liveness {
    /// Whether broker `id` of `group` has sent a heartbeat recently enough.
    fn is_alive(&self, group: &str, id: i64) -> bool;
    /// Its last reported progress, if any.
    fn progress(&self, group: &str, id: i64) -> Option<ReplicaProgress>;
}

/// A refused request: the controller's response code and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{remark}")]
pub struct Refusal {
    pub code: ResponseCode,
    pub remark: String,
}

fn refuse(code: ResponseCode, remark: impl Into<String>) -> Refusal {
    Refusal {
        code,
        remark: remark.into(),
    }
}

/// Who leads a group after a call, and whether the call changed the state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub group: GroupState,
    /// The master (or its epoch) changed: every replica of the group must hear about it.
    pub master_changed: bool,
    /// Anything changed (the state must be persisted).
    pub changed: bool,
}

/// All broker groups.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaTable {
    pub groups: BTreeMap<String, GroupState>,
}

impl ReplicaTable {
    pub fn group(&self, name: &str) -> Option<&GroupState> {
        self.groups.get(name)
    }

    /// CONTROLLER_REGISTER_BROKER: records the replica's address; a group that never had a
    /// master gets this broker as its first master; a group whose master is gone gets a new one
    /// if a clean candidate is alive.
    pub fn register(
        &mut self,
        cluster: &str,
        name: &str,
        id: i64,
        address: &str,
        live: &dyn Liveness,
        allow_unclean: bool,
    ) -> Result<Outcome, Refusal> {
        if name.is_empty() || address.is_empty() || id < 0 {
            return Err(refuse(
                ResponseCode::ControllerInvalidRequest,
                format!("register needs brokerName, brokerAddress and brokerId >= 0 (got `{name}`, `{address}`, {id})"),
            ));
        }
        let group = self.groups.entry(name.to_string()).or_default();
        let mut changed = false;
        if group.cluster_name != cluster {
            group.cluster_name = cluster.to_string();
            changed = true;
        }
        if group.brokers.get(&id).map(String::as_str) != Some(address) {
            group.brokers.insert(id, address.to_string());
            changed = true;
        }
        if group.master.is_none() && group.master_epoch == 0 {
            // A brand-new group: nothing was ever acknowledged, anyone may start it.
            group.master = Some(id);
            group.master_epoch = 1;
            group.sync_state_set = BTreeSet::from([id]);
            group.sync_state_set_epoch += 1;
            return Ok(Outcome {
                group: group.clone(),
                master_changed: true,
                changed: true,
            });
        }
        if group.master.is_none() {
            let mut outcome = self.elect(name, None, live, allow_unclean)?;
            outcome.changed |= changed;
            return Ok(outcome);
        }
        Ok(Outcome {
            group: group.clone(),
            master_changed: false,
            changed,
        })
    }

    /// CONTROLLER_ELECT_MASTER and the controller's own failure detection. With `prefer`, only
    /// that broker may win (an operator's choice); without it, a live master stays master.
    pub fn elect(
        &mut self,
        name: &str,
        prefer: Option<i64>,
        live: &dyn Liveness,
        allow_unclean: bool,
    ) -> Result<Outcome, Refusal> {
        let Some(group) = self.groups.get_mut(name) else {
            return Err(refuse(
                ResponseCode::ControllerBrokerNeedToBeRegistered,
                format!("broker group `{name}` has not registered with this controller"),
            ));
        };
        let alive = |id: &i64| live.is_alive(name, *id);
        if let Some(master) = group.master {
            if alive(&master) && prefer.is_none_or(|p| p == master) {
                return Err(refuse(
                    ResponseCode::ControllerMasterStillExist,
                    format!(
                        "broker group `{name}` still has a live master (brokerId {master}, epoch {})",
                        group.master_epoch
                    ),
                ));
            }
        }
        let clean: Vec<i64> = group.sync_state_set.iter().copied().filter(alive).collect();
        let candidates = if !clean.is_empty() {
            clean
        } else if allow_unclean {
            group.brokers.keys().copied().filter(alive).collect()
        } else {
            Vec::new()
        };
        let winner = match prefer {
            Some(p) => candidates.contains(&p).then_some(p),
            None => best_candidate(name, &candidates, live),
        };
        let Some(winner) = winner else {
            // Nobody may lead: the group has no master until a clean replica is back.
            let changed = group.master.take().is_some();
            let remark = match prefer {
                Some(p) => format!("brokerId {p} of `{name}` cannot be elected: it is not an alive member of the SyncStateSet {:?}", group.sync_state_set),
                None => format!("no alive replica of `{name}` is in the SyncStateSet {:?}; the group has no master", group.sync_state_set),
            };
            return if changed {
                Ok(Outcome {
                    group: group.clone(),
                    master_changed: true,
                    changed: true,
                })
            } else {
                Err(refuse(ResponseCode::ControllerMasterNotAvailable, remark))
            };
        };
        group.master = Some(winner);
        group.master_epoch += 1;
        group.sync_state_set = BTreeSet::from([winner]);
        group.sync_state_set_epoch += 1;
        Ok(Outcome {
            group: group.clone(),
            master_changed: true,
            changed: true,
        })
    }

    /// CONTROLLER_ALTER_SYNC_STATE_SET from the master of `name` at `master_epoch`, proposing
    /// `set` derived from the set of epoch `set_epoch`.
    pub fn alter_sync_state_set(
        &mut self,
        name: &str,
        master_id: i64,
        master_epoch: i32,
        set: &BTreeSet<i64>,
        set_epoch: i32,
        live: &dyn Liveness,
    ) -> Result<Outcome, Refusal> {
        let Some(group) = self.groups.get_mut(name) else {
            return Err(refuse(
                ResponseCode::ControllerAlterSyncStateSetFailed,
                format!("broker group `{name}` has not registered with this controller"),
            ));
        };
        if group.master != Some(master_id) {
            return Err(refuse(
                ResponseCode::ControllerInvalidMaster,
                format!(
                    "brokerId {master_id} is not the master of `{name}` (the master is {:?})",
                    group.master
                ),
            ));
        }
        if master_epoch != group.master_epoch {
            return Err(refuse(
                ResponseCode::ControllerFencedMasterEpoch,
                format!(
                    "master epoch {master_epoch} is fenced: `{name}` is at epoch {}",
                    group.master_epoch
                ),
            ));
        }
        if set_epoch != group.sync_state_set_epoch {
            return Err(refuse(
                ResponseCode::ControllerFencedSyncStateSetEpoch,
                format!(
                    "SyncStateSet epoch {set_epoch} is fenced: `{name}` is at {}",
                    group.sync_state_set_epoch
                ),
            ));
        }
        if !set.contains(&master_id) {
            return Err(refuse(
                ResponseCode::ControllerInvalidReplicas,
                format!("the SyncStateSet {set:?} of `{name}` must contain its master {master_id}"),
            ));
        }
        for id in set {
            if !group.brokers.contains_key(id) {
                return Err(refuse(
                    ResponseCode::ControllerInvalidReplicas,
                    format!("brokerId {id} is not a registered replica of `{name}`"),
                ));
            }
            if *id != master_id && !live.is_alive(name, *id) {
                return Err(refuse(
                    ResponseCode::ControllerBrokerNotAlive,
                    format!("brokerId {id} of `{name}` is not alive"),
                ));
            }
        }
        if *set == group.sync_state_set {
            return Ok(Outcome {
                group: group.clone(),
                master_changed: false,
                changed: false,
            });
        }
        group.sync_state_set = set.clone();
        group.sync_state_set_epoch += 1;
        Ok(Outcome {
            group: group.clone(),
            master_changed: false,
            changed: true,
        })
    }
}

/// Highest (epoch, max offset), then lowest election priority, then lowest id. Replicas that
/// never reported progress rank last.
fn best_candidate(name: &str, candidates: &[i64], live: &dyn Liveness) -> Option<i64> {
    candidates.iter().copied().min_by(|a, b| {
        let pa = live.progress(name, *a);
        let pb = live.progress(name, *b);
        let key = |p: Option<ReplicaProgress>| {
            p.map(|p| (p.epoch, p.max_offset, -(p.election_priority as i64)))
        };
        key(pb).cmp(&key(pa)).then(a.cmp(b))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[derive(Default)]
    struct Live {
        alive: BTreeSet<i64>,
        progress: HashMap<i64, ReplicaProgress>,
    }

    impl Liveness for Live {
        fn is_alive(&self, _group: &str, id: i64) -> bool {
            self.alive.contains(&id)
        }
        fn progress(&self, _group: &str, id: i64) -> Option<ReplicaProgress> {
            self.progress.get(&id).copied()
        }
    }

    fn live(ids: &[i64]) -> Live {
        Live {
            alive: ids.iter().copied().collect(),
            ..Live::default()
        }
    }

    /// broker-a with master 0 at epoch 1 and replicas 1, 2 registered and in sync.
    fn three_in_sync() -> ReplicaTable {
        let mut t = ReplicaTable::default();
        let l = live(&[0, 1, 2]);
        t.register("c", "broker-a", 0, "10.0.0.1:10911", &l, false)
            .unwrap();
        t.register("c", "broker-a", 1, "10.0.0.2:10911", &l, false)
            .unwrap();
        t.register("c", "broker-a", 2, "10.0.0.3:10911", &l, false)
            .unwrap();
        t.alter_sync_state_set("broker-a", 0, 1, &BTreeSet::from([0, 1, 2]), 1, &l)
            .unwrap();
        t
    }

    #[test]
    fn the_first_broker_of_a_new_group_becomes_master_at_epoch_one() {
        let mut t = ReplicaTable::default();
        let o = t
            .register("c", "broker-a", 1, "10.0.0.2:10911", &live(&[1]), false)
            .unwrap();
        assert!(o.master_changed);
        assert_eq!(o.group.master, Some(1));
        assert_eq!(o.group.master_epoch, 1);
        assert_eq!(o.group.sync_state_set, BTreeSet::from([1]));
        // The second one joins as a replica, outside the set until the master adds it.
        let o = t
            .register("c", "broker-a", 0, "10.0.0.1:10911", &live(&[0, 1]), false)
            .unwrap();
        assert!(!o.master_changed);
        assert_eq!(o.group.master, Some(1));
        assert_eq!(o.group.sync_state_set, BTreeSet::from([1]));
    }

    #[test]
    fn a_dead_master_is_replaced_by_the_most_advanced_in_sync_replica() {
        let mut t = three_in_sync();
        let mut l = live(&[1, 2]);
        l.progress.insert(
            1,
            ReplicaProgress {
                epoch: 1,
                max_offset: 500,
                election_priority: 0,
            },
        );
        l.progress.insert(
            2,
            ReplicaProgress {
                epoch: 1,
                max_offset: 900,
                election_priority: 0,
            },
        );
        let o = t.elect("broker-a", None, &l, false).unwrap();
        assert_eq!(o.group.master, Some(2));
        assert_eq!(o.group.master_epoch, 2);
        assert_eq!(o.group.sync_state_set, BTreeSet::from([2]));
        assert_eq!(o.group.sync_state_set_epoch, 3);
        assert_eq!(o.group.master_address(), Some("10.0.0.3:10911"));
    }

    #[test]
    fn a_live_master_is_kept_unless_an_operator_designates_another() {
        let mut t = three_in_sync();
        let l = live(&[0, 1, 2]);
        let e = t.elect("broker-a", None, &l, false).unwrap_err();
        assert_eq!(e.code, ResponseCode::ControllerMasterStillExist);
        let o = t.elect("broker-a", Some(1), &l, false).unwrap();
        assert_eq!(o.group.master, Some(1));
        assert_eq!(o.group.master_epoch, 2);
    }

    #[test]
    fn an_out_of_sync_replica_is_elected_only_when_unclean_election_is_allowed() {
        let mut t = ReplicaTable::default();
        let l = live(&[0, 1]);
        t.register("c", "g", 0, "a:1", &l, false).unwrap();
        t.register("c", "g", 1, "b:1", &l, false).unwrap();
        // 1 never made it into the set; 0 dies.
        let only_1 = live(&[1]);
        let o = t.elect("g", None, &only_1, false).unwrap();
        assert_eq!(o.group.master, None, "no clean candidate: no master");
        assert!(o.master_changed);
        let e = t.elect("g", None, &only_1, false).unwrap_err();
        assert_eq!(e.code, ResponseCode::ControllerMasterNotAvailable);
        let o = t.elect("g", None, &only_1, true).unwrap();
        assert_eq!(o.group.master, Some(1));
        assert_eq!(o.group.master_epoch, 2);
        // The old master, back, is now a replica: registering doesn't make it master again.
        let o = t
            .register("c", "g", 0, "a:1", &live(&[0, 1]), false)
            .unwrap();
        assert_eq!(o.group.master, Some(1));
    }

    #[test]
    fn a_group_without_master_gets_one_when_a_clean_replica_registers_again() {
        let mut t = three_in_sync();
        // Everyone dies: no master.
        let o = t.elect("broker-a", None, &live(&[]), false).unwrap();
        assert_eq!(o.group.master, None);
        // Replica 1 (in sync) restarts and registers.
        let o = t
            .register("c", "broker-a", 1, "10.0.0.2:10911", &live(&[1]), false)
            .unwrap();
        assert_eq!(o.group.master, Some(1));
        assert!(o.master_changed);
        assert_eq!(o.group.master_epoch, 2);
    }

    #[test]
    fn stale_masters_and_stale_sets_are_fenced() {
        let mut t = three_in_sync();
        let l = live(&[1, 2]);
        t.elect("broker-a", Some(1), &l, false).unwrap();
        // The deposed master 0 (epoch 1) tries to change the set.
        let e = t
            .alter_sync_state_set("broker-a", 0, 1, &BTreeSet::from([0]), 2, &l)
            .unwrap_err();
        assert_eq!(e.code, ResponseCode::ControllerInvalidMaster);
        // The new master with an old epoch number.
        let e = t
            .alter_sync_state_set("broker-a", 1, 1, &BTreeSet::from([1, 2]), 3, &l)
            .unwrap_err();
        assert_eq!(e.code, ResponseCode::ControllerFencedMasterEpoch);
        // The right master and epoch but a set derived from an old one.
        let e = t
            .alter_sync_state_set("broker-a", 1, 2, &BTreeSet::from([1, 2]), 2, &l)
            .unwrap_err();
        assert_eq!(e.code, ResponseCode::ControllerFencedSyncStateSetEpoch);
        let o = t
            .alter_sync_state_set("broker-a", 1, 2, &BTreeSet::from([1, 2]), 3, &l)
            .unwrap();
        assert_eq!(o.group.sync_state_set, BTreeSet::from([1, 2]));
        assert_eq!(o.group.sync_state_set_epoch, 4);
    }

    #[test]
    fn a_set_must_hold_the_master_and_only_live_registered_replicas() {
        let mut t = three_in_sync();
        let l = live(&[0, 1]);
        let e = t
            .alter_sync_state_set("broker-a", 0, 1, &BTreeSet::from([1]), 2, &l)
            .unwrap_err();
        assert_eq!(e.code, ResponseCode::ControllerInvalidReplicas);
        let e = t
            .alter_sync_state_set("broker-a", 0, 1, &BTreeSet::from([0, 7]), 2, &l)
            .unwrap_err();
        assert_eq!(e.code, ResponseCode::ControllerInvalidReplicas);
        let e = t
            .alter_sync_state_set("broker-a", 0, 1, &BTreeSet::from([0, 2]), 2, &l)
            .unwrap_err();
        assert_eq!(e.code, ResponseCode::ControllerBrokerNotAlive);
    }

    #[test]
    fn ties_go_to_the_lower_priority_value_then_the_lower_id() {
        let mut t = three_in_sync();
        let mut l = live(&[1, 2]);
        l.progress.insert(
            1,
            ReplicaProgress {
                epoch: 1,
                max_offset: 10,
                election_priority: 5,
            },
        );
        l.progress.insert(
            2,
            ReplicaProgress {
                epoch: 1,
                max_offset: 10,
                election_priority: 1,
            },
        );
        assert_eq!(
            t.clone()
                .elect("broker-a", None, &l, false)
                .unwrap()
                .group
                .master,
            Some(2)
        );
        l.progress.insert(
            2,
            ReplicaProgress {
                epoch: 1,
                max_offset: 10,
                election_priority: 5,
            },
        );
        assert_eq!(
            t.elect("broker-a", None, &l, false).unwrap().group.master,
            Some(1)
        );
    }
}
