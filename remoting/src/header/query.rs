//! Message query headers (reference §3.4).

command_header! {
    /// QUERY_MESSAGE (12) request. The Java client also adds ext `_UNIQUE_KEY_QUERY`
    /// (`true`/`false`), read with [`QueryMessageRequestHeader::is_unique_key_query`].
    pub struct QueryMessageRequestHeader + rpc {
        req topic: String = "topic",
        req key: String = "key",
        req max_num: i32 = "maxNum",
        req begin_timestamp: i64 = "beginTimestamp",
        req end_timestamp: i64 = "endTimestamp",
    }
}

/// Ext key the Java client sets to `true` when querying by UNIQ_KEY (message id).
pub const UNIQUE_KEY_QUERY: &str = "_UNIQUE_KEY_QUERY";

impl QueryMessageRequestHeader {
    /// Whether `ext` marks the query as a message-id (UNIQ_KEY) lookup; the broker then
    /// overrides `maxNum` with its `defaultQueryMaxNum`.
    pub fn is_unique_key_query(ext: &crate::command::ExtFields) -> bool {
        ext.get(UNIQUE_KEY_QUERY)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

command_header! {
    /// QUERY_MESSAGE response; the body holds the matching records.
    pub struct QueryMessageResponseHeader {
        req index_last_update_timestamp: i64 = "indexLastUpdateTimestamp",
        req index_last_update_phyoffset: i64 = "indexLastUpdatePhyoffset",
    }
}

command_header! {
    /// VIEW_MESSAGE_BY_ID (33) request.
    pub struct ViewMessageRequestHeader {
        /// J5.
        opt topic: String = "topic",
        /// Commit-log physical offset.
        req offset: i64 = "offset",
    }
}
