//! Headers of the 5.x controller requests (codes 1001–1008): brokers register with the
//! controller, read the replica state of their group, and the master reports its in-sync
//! replicas; the controller tells brokers when the master changes. Field names follow
//! `remoting/protocol/header/controller/*` so Apache's admin tools read the same keys.

command_header! {
    /// CONTROLLER_REGISTER_BROKER (1003) request (5.2's `RegisterBrokerToControllerRequestHeader`).
    pub struct RegisterBrokerToControllerRequestHeader {
        req cluster_name: String = "clusterName",
        req broker_name: String = "brokerName",
        req broker_id: i64 = "brokerId",
        req broker_address: String = "brokerAddress",
        opt invoke_time: i64 = "invokeTime",
    }
}

command_header! {
    /// CONTROLLER_REGISTER_BROKER (1003) response; the body is the group's `SyncStateSet`.
    pub struct RegisterBrokerToControllerResponseHeader {
        opt cluster_name: String = "clusterName",
        opt broker_name: String = "brokerName",
        opt master_broker_id: i64 = "masterBrokerId",
        opt master_address: String = "masterAddress",
        opt master_epoch: i32 = "masterEpoch",
        opt sync_state_set_epoch: i32 = "syncStateSetEpoch",
    }
}

command_header! {
    /// CONTROLLER_GET_REPLICA_INFO (1004) request.
    pub struct GetReplicaInfoRequestHeader {
        req broker_name: String = "brokerName",
    }
}

command_header! {
    /// CONTROLLER_GET_REPLICA_INFO (1004) response; the body is the group's `SyncStateSet`.
    pub struct GetReplicaInfoResponseHeader {
        opt master_broker_id: i64 = "masterBrokerId",
        opt master_address: String = "masterAddress",
        opt master_epoch: i32 = "masterEpoch",
    }
}

command_header! {
    /// CONTROLLER_ALTER_SYNC_STATE_SET (1001) request from a group's master; the body is the
    /// proposed `SyncStateSet` carrying the epoch it was derived from.
    pub struct AlterSyncStateSetRequestHeader {
        req broker_name: String = "brokerName",
        req master_broker_id: i64 = "masterBrokerId",
        req master_epoch: i32 = "masterEpoch",
        opt invoke_time: i64 = "invokeTime",
    }
}

command_header! {
    /// CONTROLLER_ALTER_SYNC_STATE_SET (1001) response.
    pub struct AlterSyncStateSetResponseHeader {
        req new_sync_state_set_epoch: i32 = "newSyncStateSetEpoch",
    }
}

command_header! {
    /// CONTROLLER_ELECT_MASTER (1002) request (mqadmin electMaster, or a broker of a group
    /// without a master). `designateElect` with a `brokerId` asks for that broker.
    pub struct ElectMasterRequestHeader {
        opt cluster_name: String = "clusterName",
        req broker_name: String = "brokerName",
        opt broker_id: i64 = "brokerId",
        opt designate_elect: bool = "designateElect",
        opt invoke_time: i64 = "invokeTime",
    }
}

command_header! {
    /// CONTROLLER_ELECT_MASTER (1002) response.
    pub struct ElectMasterResponseHeader {
        opt master_broker_id: i64 = "masterBrokerId",
        opt master_address: String = "masterAddress",
        opt master_epoch: i32 = "masterEpoch",
        opt sync_state_set_epoch: i32 = "syncStateSetEpoch",
    }
}

command_header! {
    /// NOTIFY_BROKER_ROLE_CHANGED (1008): controller → broker, after an election; the body is
    /// the group's `SyncStateSet`.
    pub struct NotifyBrokerRoleChangedRequestHeader {
        opt master_address: String = "masterAddress",
        opt master_epoch: i32 = "masterEpoch",
        opt sync_state_set_epoch: i32 = "syncStateSetEpoch",
        opt master_broker_id: i64 = "masterBrokerId",
    }
}
