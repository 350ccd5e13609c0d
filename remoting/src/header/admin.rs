//! Admin request headers used by mqadmin against a broker (reference §3.6).

command_header! {
    /// UPDATE_AND_CREATE_TOPIC (17) request.
    pub struct CreateTopicRequestHeader + rpc {
        req topic: String = "topic",
        req default_topic: String = "defaultTopic",
        req read_queue_nums: i32 = "readQueueNums",
        req write_queue_nums: i32 = "writeQueueNums",
        req perm: i32 = "perm",
        /// `SINGLE_TAG` or `MULTI_TAG`.
        req topic_filter_type: String = "topicFilterType",
        opt topic_sys_flag: i32 = "topicSysFlag",
        req order: bool = "order",
        /// J5: `+key1=v1,+key2=v2,-key3` (`+` add or alter, `-` delete).
        opt attributes: String = "attributes",
        /// J5.
        opt force: bool = "force",
    }
}

command_header! {
    /// DELETE_TOPIC_IN_BROKER (215) request.
    pub struct DeleteTopicRequestHeader + rpc {
        req topic: String = "topic",
    }
}

command_header! {
    /// GET_ALL_TOPIC_CONFIG (21) request: J5 paging, absent from older clients.
    pub struct GetAllTopicConfigRequestHeader {
        opt topic_seq: i32 = "topicSeq",
        opt data_version: String = "dataVersion",
        opt max_topic_num: i32 = "maxTopicNum",
    }
}

command_header! {
    /// GET_ALL_TOPIC_CONFIG response. A J5 client keeps paging while `totalTopicNum` is present,
    /// so a server that returns everything at once leaves it out.
    pub struct GetAllTopicConfigResponseHeader {
        opt total_topic_num: i32 = "totalTopicNum",
    }
}

command_header! {
    /// GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201) request: J5 paging.
    pub struct GetAllSubscriptionGroupRequestHeader {
        opt group_seq: i32 = "groupSeq",
        opt data_version: String = "dataVersion",
        opt max_group_num: i32 = "maxGroupNum",
    }
}

command_header! {
    /// GET_ALL_SUBSCRIPTIONGROUP_CONFIG response; absent `totalGroupNum` = everything returned.
    pub struct GetAllSubscriptionGroupResponseHeader {
        opt total_group_num: i32 = "totalGroupNum",
    }
}

command_header! {
    /// GET_BROKER_CONFIG (26) response.
    pub struct GetBrokerConfigResponseHeader {
        /// The broker's DataVersion as JSON.
        req version: String = "version",
    }
}

command_header! {
    /// DELETE_SUBSCRIPTIONGROUP (207) request. J5 calls the flag `cleanOffset`, 4.9
    /// `removeOffset`; either asks to delete the group's offsets too.
    pub struct DeleteSubscriptionGroupRequestHeader + rpc {
        req group_name: String = "groupName",
        /// J5.
        opt clean_offset: bool = "cleanOffset",
        /// 4.9.
        opt remove_offset: bool = "removeOffset",
    }
}

impl DeleteSubscriptionGroupRequestHeader {
    /// Whether the sender asked for the group's offsets to be deleted, by either name.
    pub fn delete_offsets(&self) -> bool {
        self.clean_offset == Some(true) || self.remove_offset == Some(true)
    }
}

command_header! {
    /// GET_TOPIC_STATS_INFO (202) request.
    pub struct GetTopicStatsInfoRequestHeader + rpc {
        req topic: String = "topic",
    }
}

command_header! {
    /// GET_CONSUMER_CONNECTION_LIST (203) request.
    pub struct GetConsumerConnectionListRequestHeader + rpc {
        req consumer_group: String = "consumerGroup",
    }
}

command_header! {
    /// GET_PRODUCER_CONNECTION_LIST (204) request.
    pub struct GetProducerConnectionListRequestHeader + rpc {
        req producer_group: String = "producerGroup",
    }
}

command_header! {
    /// GET_CONSUME_STATS (208) request.
    pub struct GetConsumeStatsRequestHeader + rpc {
        req consumer_group: String = "consumerGroup",
        opt topic: String = "topic",
        /// J5: comma-separated topics.
        opt topic_list: String = "topicList",
    }
}

command_header! {
    /// QUERY_TOPIC_CONSUME_BY_WHO (300) request.
    pub struct QueryTopicConsumeByWhoRequestHeader + rpc {
        req topic: String = "topic",
    }
}

command_header! {
    /// QUERY_TOPICS_BY_CONSUMER (343) request.
    pub struct QueryTopicsByConsumerRequestHeader + rpc {
        req group: String = "group",
    }
}
