//! Bodies of the 5.x controller requests: the replicas of a broker group that are in sync with
//! its master (`SyncStateSet`), and the `(epoch, startOffset)` history a broker keeps
//! (`EpochEntry`, GET_BROKER_EPOCH_CACHE).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::JsonBody;
use crate::json::lenient;

/// The broker ids of a group that hold everything its master acknowledged, and the epoch of
/// this set (bumped by every change, so that a stale proposal is refused).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SyncStateSet {
    pub sync_state_set: BTreeSet<i64>,
    #[serde(deserialize_with = "lenient::i32")]
    pub sync_state_set_epoch: i32,
}

impl JsonBody for SyncStateSet {}

/// One master term of a broker group: from `start_offset` on, the CommitLog was written by the
/// master of `epoch` (`end_offset` is where the next term began, or the current max offset).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EpochEntry {
    #[serde(deserialize_with = "lenient::i32")]
    pub epoch: i32,
    #[serde(deserialize_with = "lenient::i64")]
    pub start_offset: i64,
    #[serde(deserialize_with = "lenient::i64")]
    pub end_offset: i64,
}

/// GET_BROKER_EPOCH_CACHE (1007) response body: a replica's epoch history and log end.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EpochEntryCache {
    #[serde(deserialize_with = "lenient::string")]
    pub cluster_name: String,
    #[serde(deserialize_with = "lenient::string")]
    pub broker_name: String,
    #[serde(deserialize_with = "lenient::i64")]
    pub broker_id: i64,
    pub epoch_list: Vec<EpochEntry>,
    #[serde(deserialize_with = "lenient::i64")]
    pub max_offset: i64,
}

impl JsonBody for EpochEntryCache {}

/// One replica as CONTROLLER_GET_SYNC_STATE_DATA reports it. `epoch` and `maxOffset` (its last
/// heartbeat's figures) are Sluice extras; Apache's readers ignore them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReplicaIdentity {
    #[serde(deserialize_with = "lenient::string")]
    pub broker_name: String,
    #[serde(deserialize_with = "lenient::i64")]
    pub broker_id: i64,
    #[serde(deserialize_with = "lenient::string")]
    pub broker_address: String,
    pub alive: bool,
    #[serde(deserialize_with = "lenient::i32")]
    pub epoch: i32,
    #[serde(deserialize_with = "lenient::i64")]
    pub max_offset: i64,
}

impl std::fmt::Display for ReplicaIdentity {
    /// Java's `ReplicaIdentity.toString()`, as `mqadmin getSyncStateSet` prints it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ReplicaIdentity{{brokerName='{}', brokerId={}, brokerAddress='{}', alive={}}}",
            self.broker_name, self.broker_id, self.broker_address, self.alive
        )
    }
}

/// One broker group in a [`BrokerReplicasInfo`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReplicasInfo {
    #[serde(deserialize_with = "lenient::i64")]
    pub master_broker_id: i64,
    #[serde(deserialize_with = "lenient::string")]
    pub master_address: String,
    #[serde(deserialize_with = "lenient::i32")]
    pub master_epoch: i32,
    #[serde(deserialize_with = "lenient::i32")]
    pub sync_state_set_epoch: i32,
    pub in_sync_replicas: Vec<ReplicaIdentity>,
    pub not_in_sync_replicas: Vec<ReplicaIdentity>,
}

/// CONTROLLER_GET_SYNC_STATE_DATA (1006) response body: broker name → its replicas.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrokerReplicasInfo {
    pub replicas_info_table: std::collections::BTreeMap<String, ReplicasInfo>,
}

impl JsonBody for BrokerReplicasInfo {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_state_set_reads_java_and_round_trips() {
        let java = br#"{"syncStateSet":[1,0],"syncStateSetEpoch":3}"#;
        let set = SyncStateSet::decode(java).unwrap();
        assert_eq!(set.sync_state_set, BTreeSet::from([0, 1]));
        assert_eq!(set.sync_state_set_epoch, 3);
        assert_eq!(SyncStateSet::decode(&set.encode()).unwrap(), set);
        // Numbers as strings (C++ style) are read too.
        let loose =
            SyncStateSet::decode(br#"{"syncStateSet":[2],"syncStateSetEpoch":"7"}"#).unwrap();
        assert_eq!(loose.sync_state_set_epoch, 7);
    }
}
