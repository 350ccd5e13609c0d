//! Headers of requests served by the NameServer (reference §3.1).

command_header! {
    /// PUT_KV_CONFIG (100) request.
    pub struct PutKvConfigRequestHeader {
        req namespace: String = "namespace",
        req key: String = "key",
        req value: String = "value",
    }
}

command_header! {
    /// GET_KV_CONFIG (101) request.
    pub struct GetKvConfigRequestHeader {
        req namespace: String = "namespace",
        req key: String = "key",
    }
}

command_header! {
    /// GET_KV_CONFIG (101) response; QUERY_NOT_FOUND when absent.
    pub struct GetKvConfigResponseHeader {
        opt value: String = "value",
    }
}

command_header! {
    /// DELETE_KV_CONFIG (102) request.
    pub struct DeleteKvConfigRequestHeader {
        req namespace: String = "namespace",
        req key: String = "key",
    }
}

command_header! {
    /// GET_KVLIST_BY_NAMESPACE (219) request.
    pub struct GetKvListByNamespaceRequestHeader {
        req namespace: String = "namespace",
    }
}

command_header! {
    /// REGISTER_BROKER (103) request. The body is a RegisterBrokerBody, possibly compressed.
    pub struct RegisterBrokerRequestHeader {
        req broker_name: String = "brokerName",
        /// `ip:port` clients connect to.
        req broker_addr: String = "brokerAddr",
        req cluster_name: String = "clusterName",
        req ha_server_addr: String = "haServerAddr",
        /// 0 = master.
        req broker_id: i64 = "brokerId",
        /// J5: how long the NameServer keeps the broker without a new registration.
        opt heartbeat_timeout_millis: i64 = "heartbeatTimeoutMillis",
        /// J5.
        opt enable_acting_master: bool = "enableActingMaster",
        /// Body is compressed (default false).
        opt compressed: bool = "compressed",
        /// CRC32 of the body; 0 (default) = not checked.
        opt body_crc32: i32 = "bodyCrc32",
    }
}

command_header! {
    /// REGISTER_BROKER (103) response: the master's HA address and address, for slaves.
    pub struct RegisterBrokerResponseHeader {
        opt ha_server_addr: String = "haServerAddr",
        opt master_addr: String = "masterAddr",
    }
}

command_header! {
    /// UNREGISTER_BROKER (104) request.
    pub struct UnregisterBrokerRequestHeader {
        req broker_name: String = "brokerName",
        req broker_addr: String = "brokerAddr",
        req cluster_name: String = "clusterName",
        req broker_id: i64 = "brokerId",
    }
}

command_header! {
    /// GET_ROUTEINFO_BY_TOPIC (105) request.
    pub struct GetRouteInfoRequestHeader + rpc {
        req topic: String = "topic",
        /// J5: the client wants standard JSON (string map keys) whatever its version.
        opt accept_standard_json_only: bool = "acceptStandardJsonOnly",
    }
}

command_header! {
    /// WIPE_WRITE_PERM_OF_BROKER (205) request.
    pub struct WipeWritePermOfBrokerRequestHeader {
        req broker_name: String = "brokerName",
    }
}

command_header! {
    /// WIPE_WRITE_PERM_OF_BROKER (205) response.
    pub struct WipeWritePermOfBrokerResponseHeader {
        req wipe_topic_count: i32 = "wipeTopicCount",
    }
}

command_header! {
    /// ADD_WRITE_PERM_OF_BROKER (327) request.
    pub struct AddWritePermOfBrokerRequestHeader {
        req broker_name: String = "brokerName",
    }
}

command_header! {
    /// ADD_WRITE_PERM_OF_BROKER (327) response.
    pub struct AddWritePermOfBrokerResponseHeader {
        req add_topic_count: i32 = "addTopicCount",
    }
}

command_header! {
    /// DELETE_TOPIC_IN_NAMESRV (216) request.
    pub struct DeleteTopicFromNamesrvRequestHeader + rpc {
        req topic: String = "topic",
        /// When set, delete the topic only from this cluster's brokers.
        opt cluster_name: String = "clusterName",
    }
}

command_header! {
    /// REGISTER_TOPIC_IN_NAMESRV (217) request; the body is a TopicRouteData.
    pub struct RegisterTopicRequestHeader + rpc {
        req topic: String = "topic",
    }
}

command_header! {
    /// GET_TOPICS_BY_CLUSTER (224) request.
    pub struct GetTopicsByClusterRequestHeader {
        req cluster: String = "cluster",
    }
}

command_header! {
    /// QUERY_DATA_VERSION (322) request; the body is the broker's DataVersion.
    pub struct QueryDataVersionRequestHeader {
        req broker_name: String = "brokerName",
        req broker_addr: String = "brokerAddr",
        req cluster_name: String = "clusterName",
        req broker_id: i64 = "brokerId",
    }
}

command_header! {
    /// QUERY_DATA_VERSION (322) response.
    pub struct QueryDataVersionResponseHeader {
        /// The NameServer's DataVersion for this broker differs from the one sent.
        req changed: bool = "changed",
    }
}

command_header! {
    /// BROKER_HEARTBEAT (904, J5) request: keeps a registration alive between full
    /// registrations.
    pub struct BrokerHeartbeatRequestHeader {
        req cluster_name: String = "clusterName",
        req broker_addr: String = "brokerAddr",
        req broker_name: String = "brokerName",
        opt broker_id: i64 = "brokerId",
        opt epoch: i32 = "epoch",
        opt max_offset: i64 = "maxOffset",
        opt confirm_offset: i64 = "confirmOffset",
        /// Spelled `Mills` on the wire (sic).
        opt heartbeat_timeout_millis: i64 = "heartbeatTimeoutMills",
        opt election_priority: i32 = "electionPriority",
    }
}
