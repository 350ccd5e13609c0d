//! Pop consumption headers (J5, reference §3.3). The codes exceed int16, so these only travel in
//! JSON-encoded commands.

command_header! {
    /// POP_MESSAGE (200050) request.
    pub struct PopMessageRequestHeader + rpc {
        req consumer_group: String = "consumerGroup",
        req topic: String = "topic",
        /// -1 = any queue.
        req queue_id: i32 = "queueId",
        req max_msg_nums: i32 = "maxMsgNums",
        req invisible_time: i64 = "invisibleTime",
        req poll_time: i64 = "pollTime",
        req born_time: i64 = "bornTime",
        req init_mode: i32 = "initMode",
        opt exp_type: String = "expType",
        opt exp: String = "exp",
        opt order: bool = "order",
        opt attempt_id: String = "attemptId",
    }
}

command_header! {
    /// POP_MESSAGE response; the body holds the records.
    pub struct PopMessageResponseHeader {
        req pop_time: i64 = "popTime",
        req invisible_time: i64 = "invisibleTime",
        req revive_qid: i32 = "reviveQid",
        req rest_num: i64 = "restNum",
        opt start_offset_info: String = "startOffsetInfo",
        opt msg_offset_info: String = "msgOffsetInfo",
        opt order_count_info: String = "orderCountInfo",
    }
}

command_header! {
    /// ACK_MESSAGE (200051) request.
    pub struct AckMessageRequestHeader + rpc {
        req consumer_group: String = "consumerGroup",
        req topic: String = "topic",
        req queue_id: i32 = "queueId",
        /// The `POP_CK` handle (space-separated, see `ExtraInfoUtil`).
        req extra_info: String = "extraInfo",
        req offset: i64 = "offset",
    }
}

command_header! {
    /// CHANGE_MESSAGE_INVISIBLETIME (200053) request.
    pub struct ChangeInvisibleTimeRequestHeader + rpc {
        req consumer_group: String = "consumerGroup",
        req topic: String = "topic",
        req queue_id: i32 = "queueId",
        req extra_info: String = "extraInfo",
        req offset: i64 = "offset",
        req invisible_time: i64 = "invisibleTime",
    }
}

command_header! {
    /// CHANGE_MESSAGE_INVISIBLETIME response.
    pub struct ChangeInvisibleTimeResponseHeader {
        req pop_time: i64 = "popTime",
        req invisible_time: i64 = "invisibleTime",
        req revive_qid: i32 = "reviveQid",
    }
}

command_header! {
    /// PEEK_MESSAGE (200052) request.
    pub struct PeekMessageRequestHeader + rpc {
        req topic: String = "topic",
        req queue_id: i32 = "queueId",
        req max_msg_nums: i32 = "maxMsgNums",
        req consumer_group: String = "consumerGroup",
    }
}

command_header! {
    /// NOTIFICATION (200054) request.
    pub struct NotificationRequestHeader + rpc {
        req consumer_group: String = "consumerGroup",
        req topic: String = "topic",
        req queue_id: i32 = "queueId",
        req poll_time: i64 = "pollTime",
        req born_time: i64 = "bornTime",
        opt order: bool = "order",
        opt attempt_id: String = "attemptId",
    }
}

command_header! {
    /// NOTIFICATION response.
    pub struct NotificationResponseHeader {
        req has_msg: bool = "hasMsg",
        opt polling_full: bool = "pollingFull",
    }
}

command_header! {
    /// POLLING_INFO (200055) request.
    pub struct PollingInfoRequestHeader + rpc {
        req consumer_group: String = "consumerGroup",
        req topic: String = "topic",
        req queue_id: i32 = "queueId",
    }
}

command_header! {
    /// POLLING_INFO response.
    pub struct PollingInfoResponseHeader {
        req polling_num: i32 = "pollingNum",
    }
}
