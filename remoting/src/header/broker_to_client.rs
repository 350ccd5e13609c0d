//! Requests a broker sends to its clients (reference §3.5).

command_header! {
    /// CHECK_TRANSACTION_STATE (39), oneway; the body is the half message's stored record.
    pub struct CheckTransactionStateRequestHeader + rpc {
        /// J5.
        opt topic: String = "topic",
        req tran_state_table_offset: i64 = "tranStateTableOffset",
        req commit_log_offset: i64 = "commitLogOffset",
        /// UNIQ_KEY.
        opt msg_id: String = "msgId",
        /// UNIQ_KEY.
        opt transaction_id: String = "transactionId",
        opt offset_msg_id: String = "offsetMsgId",
    }
}

command_header! {
    /// NOTIFY_CONSUMER_IDS_CHANGED (40), oneway: rebalance now.
    pub struct NotifyConsumerIdsChangedRequestHeader + rpc {
        req consumer_group: String = "consumerGroup",
    }
}

command_header! {
    /// RESET_CONSUMER_CLIENT_OFFSET (220, broker → client) and INVOKE_BROKER_TO_RESET_OFFSET
    /// (222, admin → broker).
    pub struct ResetOffsetRequestHeader + rpc {
        req topic: String = "topic",
        req group: String = "group",
        req timestamp: i64 = "timestamp",
        req is_force: bool = "isForce",
        /// J5; -1 (default) = all queues.
        opt queue_id: i32 = "queueId",
        /// J5: reset to this offset instead of searching by timestamp.
        opt offset: i64 = "offset",
    }
}

command_header! {
    /// GET_CONSUMER_STATUS_FROM_CLIENT (221) request.
    pub struct GetConsumerStatusRequestHeader + rpc {
        req topic: String = "topic",
        req group: String = "group",
        opt client_addr: String = "clientAddr",
    }
}

command_header! {
    /// GET_CONSUMER_RUNNING_INFO (307) request (admin → broker, forwarded to the client).
    pub struct GetConsumerRunningInfoRequestHeader + rpc {
        req consumer_group: String = "consumerGroup",
        req client_id: String = "clientId",
        opt jstack_enable: bool = "jstackEnable",
    }
}

command_header! {
    /// CONSUME_MESSAGE_DIRECTLY (309) request (admin → broker, forwarded to the client); the body
    /// is one stored record.
    pub struct ConsumeMessageDirectlyResultRequestHeader + rpc {
        req consumer_group: String = "consumerGroup",
        opt client_id: String = "clientId",
        opt msg_id: String = "msgId",
        opt broker_name: String = "brokerName",
        opt topic: String = "topic",
        opt topic_sys_flag: i32 = "topicSysFlag",
        opt group_sys_flag: i32 = "groupSysFlag",
    }
}

command_header! {
    /// PUSH_REPLY_MESSAGE_TO_CLIENT (326): a reply message delivered to the requesting producer.
    pub struct ReplyMessageRequestHeader + rpc {
        req producer_group: String = "producerGroup",
        req topic: String = "topic",
        req default_topic: String = "defaultTopic",
        req default_topic_queue_nums: i32 = "defaultTopicQueueNums",
        req queue_id: i32 = "queueId",
        req sys_flag: i32 = "sysFlag",
        req born_timestamp: i64 = "bornTimestamp",
        req flag: i32 = "flag",
        opt properties: String = "properties",
        opt reconsume_times: i32 = "reconsumeTimes",
        opt unit_mode: bool = "unitMode",
        /// `ip:port`.
        req born_host: String = "bornHost",
        /// `ip:port`.
        req store_host: String = "storeHost",
        req store_timestamp: i64 = "storeTimestamp",
    }
}
