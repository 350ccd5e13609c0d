//! Consumer request headers (reference §3.3, pop excepted): pull, offsets, client management and
//! send-back.

use super::value::BoundaryType;

command_header! {
    /// PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361) request.
    pub struct PullMessageRequestHeader + rpc {
        req consumer_group: String = "consumerGroup",
        req topic: String = "topic",
        req queue_id: i32 = "queueId",
        /// First logical offset wanted.
        req queue_offset: i64 = "queueOffset",
        req max_msg_nums: i32 = "maxMsgNums",
        /// PullSysFlag bits (§7.1).
        req sys_flag: i32 = "sysFlag",
        /// The consumer's offset, stored when the commit bit is set.
        req commit_offset: i64 = "commitOffset",
        /// Longest the broker may hold the request.
        req suspend_timeout_millis: i64 = "suspendTimeoutMillis",
        /// Tag expression, used only with the subscription bit.
        opt subscription: String = "subscription",
        req sub_version: i64 = "subVersion",
        /// `TAG` (default) or `SQL92`.
        opt expression_type: String = "expressionType",
        /// J5.
        opt max_msg_bytes: i32 = "maxMsgBytes",
        /// J5 proxy.
        opt request_source: i32 = "requestSource",
        /// J5 proxy (misspelled on the wire).
        opt proxy_forward_client_id: String = "proxyFrowardClientId",
    }
}

command_header! {
    /// PULL_MESSAGE response. The four offsets are unboxed by every Java client.
    pub struct PullMessageResponseHeader {
        /// 0 = master.
        req suggest_which_broker_id: i64 = "suggestWhichBrokerId",
        req next_begin_offset: i64 = "nextBeginOffset",
        req min_offset: i64 = "minOffset",
        req max_offset: i64 = "maxOffset",
        /// J5.
        opt offset_delta: i64 = "offsetDelta",
        /// J5.
        opt topic_sys_flag: i32 = "topicSysFlag",
        /// J5.
        opt group_sys_flag: i32 = "groupSysFlag",
        /// J5.
        opt forbidden_type: i32 = "forbiddenType",
    }
}

command_header! {
    /// QUERY_CONSUMER_OFFSET (14) request.
    pub struct QueryConsumerOffsetRequestHeader + rpc {
        req consumer_group: String = "consumerGroup",
        req topic: String = "topic",
        req queue_id: i32 = "queueId",
        /// J5.
        opt set_zero_if_not_found: bool = "setZeroIfNotFound",
    }
}

command_header! {
    /// QUERY_CONSUMER_OFFSET response (QUERY_NOT_FOUND, without header, when nothing stored).
    pub struct QueryConsumerOffsetResponseHeader {
        req offset: i64 = "offset",
    }
}

command_header! {
    /// UPDATE_CONSUMER_OFFSET (15) request.
    pub struct UpdateConsumerOffsetRequestHeader + rpc {
        req consumer_group: String = "consumerGroup",
        req topic: String = "topic",
        req queue_id: i32 = "queueId",
        req commit_offset: i64 = "commitOffset",
    }
}

command_header! {
    /// SEARCH_OFFSET_BY_TIMESTAMP (29) request.
    pub struct SearchOffsetRequestHeader + rpc {
        req topic: String = "topic",
        req queue_id: i32 = "queueId",
        req timestamp: i64 = "timestamp",
        /// J5; absent means lower.
        opt boundary_type: BoundaryType = "boundaryType",
    }
}

command_header! {
    /// SEARCH_OFFSET_BY_TIMESTAMP response.
    pub struct SearchOffsetResponseHeader {
        req offset: i64 = "offset",
    }
}

command_header! {
    /// GET_MAX_OFFSET (30) request.
    pub struct GetMaxOffsetRequestHeader + rpc {
        req topic: String = "topic",
        req queue_id: i32 = "queueId",
        /// J5; absent means true (only committed messages count).
        opt committed: bool = "committed",
    }
}

command_header! {
    /// GET_MAX_OFFSET response.
    pub struct GetMaxOffsetResponseHeader {
        req offset: i64 = "offset",
    }
}

command_header! {
    /// GET_MIN_OFFSET (31) request.
    pub struct GetMinOffsetRequestHeader + rpc {
        req topic: String = "topic",
        req queue_id: i32 = "queueId",
    }
}

command_header! {
    /// GET_MIN_OFFSET response.
    pub struct GetMinOffsetResponseHeader {
        req offset: i64 = "offset",
    }
}

command_header! {
    /// GET_EARLIEST_MSG_STORETIME (32) request.
    pub struct GetEarliestMsgStoretimeRequestHeader + rpc {
        req topic: String = "topic",
        req queue_id: i32 = "queueId",
    }
}

command_header! {
    /// GET_EARLIEST_MSG_STORETIME response.
    pub struct GetEarliestMsgStoretimeResponseHeader {
        req timestamp: i64 = "timestamp",
    }
}

command_header! {
    /// UNREGISTER_CLIENT (35) request.
    pub struct UnregisterClientRequestHeader + rpc {
        /// Spelled `clientID` on the wire.
        req client_id: String = "clientID",
        opt producer_group: String = "producerGroup",
        opt consumer_group: String = "consumerGroup",
    }
}

command_header! {
    /// CONSUMER_SEND_MSG_BACK (36) request: a message the consumer failed to process.
    pub struct ConsumerSendMsgBackRequestHeader + rpc {
        /// Commit-log offset of the consumed message.
        req offset: i64 = "offset",
        req group: String = "group",
        /// 0 = broker decides, < 0 = straight to the DLQ.
        req delay_level: i32 = "delayLevel",
        opt origin_msg_id: String = "originMsgId",
        opt origin_topic: String = "originTopic",
        opt unit_mode: bool = "unitMode",
        opt max_reconsume_times: i32 = "maxReconsumeTimes",
    }
}

command_header! {
    /// GET_CONSUMER_LIST_BY_GROUP (38) request.
    pub struct GetConsumerListByGroupRequestHeader + rpc {
        req consumer_group: String = "consumerGroup",
    }
}

command_header! {
    /// HEART_BEAT (34) request: no fields of its own (the data is in the body).
    pub struct HeartbeatRequestHeader + rpc {}
}
