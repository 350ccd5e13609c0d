//! Bodies about a client's consumers that the broker forwards or checks:
//! GET_CONSUMER_RUNNING_INFO (`ConsumerRunningInfo`, produced by clients, `mqTable` with
//! object keys), CONSUME_MESSAGE_DIRECTLY results, CHECK_CLIENT_CONFIG requests (sent by Java
//! consumers with SQL92 subscriptions) and QUERY_CORRECTION_OFFSET responses.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::heartbeat::SubscriptionData;
use super::queue::MessageQueue;
use super::JsonBody;
use crate::json::{lenient, object_keys};

/// A push consumer's view of one queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProcessQueueInfo {
    #[serde(deserialize_with = "lenient::i32")]
    pub cached_msg_count: i32,
    #[serde(deserialize_with = "lenient::i64")]
    pub cached_msg_max_offset: i64,
    #[serde(deserialize_with = "lenient::i64")]
    pub cached_msg_min_offset: i64,
    #[serde(rename = "cachedMsgSizeInMiB", deserialize_with = "lenient::i32")]
    pub cached_msg_size_in_mib: i32,
    #[serde(deserialize_with = "lenient::i64")]
    pub commit_offset: i64,
    /// Java's spelling (`isDroped`); Go writes `dropped`.
    #[serde(alias = "dropped", deserialize_with = "lenient::bool")]
    pub droped: bool,
    #[serde(deserialize_with = "lenient::i64")]
    pub last_consume_timestamp: i64,
    #[serde(deserialize_with = "lenient::i64")]
    pub last_lock_timestamp: i64,
    #[serde(deserialize_with = "lenient::i64")]
    pub last_pull_timestamp: i64,
    #[serde(deserialize_with = "lenient::bool")]
    pub locked: bool,
    #[serde(deserialize_with = "lenient::i32")]
    pub transaction_msg_count: i32,
    #[serde(deserialize_with = "lenient::i64")]
    pub transaction_msg_max_offset: i64,
    #[serde(deserialize_with = "lenient::i64")]
    pub transaction_msg_min_offset: i64,
    #[serde(deserialize_with = "lenient::i64")]
    pub try_unlock_times: i64,
}

/// A pop consumer's view of one queue (J5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PopProcessQueueInfo {
    #[serde(alias = "dropped", deserialize_with = "lenient::bool")]
    pub droped: bool,
    #[serde(deserialize_with = "lenient::i64")]
    pub last_pop_timestamp: i64,
    #[serde(deserialize_with = "lenient::i32")]
    pub wait_ack_count: i32,
}

/// Per-topic consumption rates of one client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsumeStatus {
    #[serde(rename = "consumeFailedMsgs", deserialize_with = "lenient::i64")]
    pub consume_failed_msgs: i64,
    #[serde(rename = "consumeFailedTPS", deserialize_with = "lenient::f64")]
    pub consume_failed_tps: f64,
    #[serde(rename = "consumeOKTPS", deserialize_with = "lenient::f64")]
    pub consume_ok_tps: f64,
    #[serde(rename = "consumeRT", deserialize_with = "lenient::f64")]
    pub consume_rt: f64,
    #[serde(rename = "pullRT", deserialize_with = "lenient::f64")]
    pub pull_rt: f64,
    #[serde(rename = "pullTPS", deserialize_with = "lenient::f64")]
    pub pull_tps: f64,
}

/// GET_CONSUMER_RUNNING_INFO response, produced by the client and relayed by the broker.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerRunningInfo {
    #[serde(deserialize_with = "lenient::opt_string")]
    pub jstack: Option<String>,
    #[serde(with = "object_keys")]
    pub mq_pop_table: BTreeMap<MessageQueue, PopProcessQueueInfo>,
    #[serde(with = "object_keys")]
    pub mq_table: BTreeMap<MessageQueue, ProcessQueueInfo>,
    /// Client settings (`PROP_CONSUME_TYPE`, `PROP_CONSUMEORDERLY`, ...).
    #[serde(deserialize_with = "lenient::string_map")]
    pub properties: BTreeMap<String, String>,
    #[serde(deserialize_with = "lenient::or_default")]
    pub status_table: BTreeMap<String, ConsumeStatus>,
    #[serde(deserialize_with = "lenient::or_default")]
    pub subscription_set: Vec<SubscriptionData>,
    #[serde(deserialize_with = "lenient::string_map")]
    pub user_consumer_info: BTreeMap<String, String>,
}

impl JsonBody for ConsumerRunningInfo {}

crate::lenient_enum! {
    /// Outcome of CONSUME_MESSAGE_DIRECTLY.
    pub enum CMResult (default CrSuccess) {
        CrSuccess = "CR_SUCCESS",
        CrLater = "CR_LATER",
        CrRollback = "CR_ROLLBACK",
        CrCommit = "CR_COMMIT",
        CrThrowException = "CR_THROW_EXCEPTION",
        CrReturnNull = "CR_RETURN_NULL",
    }
}

/// CONSUME_MESSAGE_DIRECTLY response, produced by the client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumeMessageDirectlyResult {
    #[serde(deserialize_with = "lenient::bool")]
    pub auto_commit: bool,
    pub consume_result: CMResult,
    #[serde(deserialize_with = "lenient::bool")]
    pub order: bool,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub remark: Option<String>,
    #[serde(deserialize_with = "lenient::i64")]
    pub spent_time_mills: i64,
}

impl Default for ConsumeMessageDirectlyResult {
    fn default() -> Self {
        ConsumeMessageDirectlyResult {
            auto_commit: true,
            consume_result: CMResult::CrSuccess,
            order: false,
            remark: None,
            spent_time_mills: 0,
        }
    }
}

impl JsonBody for ConsumeMessageDirectlyResult {}

/// CHECK_CLIENT_CONFIG request: may this group subscribe with this (SQL92) expression?
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CheckClientRequestBody {
    #[serde(deserialize_with = "lenient::string")]
    pub client_id: String,
    #[serde(deserialize_with = "lenient::string")]
    pub group: String,
    /// J5 member; omitted when unset.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub namespace: Option<String>,
    pub subscription_data: Option<SubscriptionData>,
}

impl JsonBody for CheckClientRequestBody {}

/// QUERY_CORRECTION_OFFSET response: queue id -> offset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueryCorrectionOffsetBody {
    #[serde(deserialize_with = "lenient::or_default")]
    pub correction_offsets: BTreeMap<i32, i64>,
}

impl JsonBody for QueryCorrectionOffsetBody {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_running_info_with_object_keys_and_spaces_decodes() {
        // The shape rocketmq-client-go builds by hand: object keys and a space before jstack.
        let text = r#"{"properties":{"PROP_CONSUME_TYPE":"CONSUME_PASSIVELY","PROP_THREADPOOL_CORE_SIZE":20},"statusTable":{"T":{"pullRT":1.5,"pullTPS":2,"consumeRT":0,"consumeOKTPS":3,"consumeFailedTPS":0,"consumeFailedMsgs":0}},"subscriptionSet":[{"classFilterMode":false,"topic":"T","subString":"*","tagsSet":[],"codeSet":[],"subVersion":1,"expressionType":"TAG"}],"mqTable":{{"topic":"T","brokerName":"b","queueId":0}:{"commitOffset":5,"dropped":true}}, "jstack":"" }"#;
        let info = ConsumerRunningInfo::decode(text.as_bytes()).unwrap();
        assert_eq!(info.properties["PROP_THREADPOOL_CORE_SIZE"], "20");
        assert_eq!(info.status_table["T"].consume_ok_tps, 3.0);
        let pq = info.mq_table[&MessageQueue::new("T", "b", 0)];
        assert_eq!(pq.commit_offset, 5);
        assert!(pq.droped);
        let again = ConsumerRunningInfo::decode(&info.encode()).unwrap();
        assert_eq!(again, info);
        let encoded = String::from_utf8(info.encode()).unwrap();
        assert!(
            encoded.contains(
                r#""mqTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"cachedMsgCount":0,"#
            ),
            "{encoded}"
        );
        assert!(encoded.contains(r#""consumeFailedMsgs":0,"consumeFailedTPS":0.0,"consumeOKTPS":3.0,"consumeRT":0.0,"pullRT":1.5,"pullTPS":2.0"#), "{encoded}");
    }

    #[test]
    fn small_client_bodies() {
        let r = ConsumeMessageDirectlyResult::decode(
            br#"{"order":false,"autoCommit":true,"consumeResult":0,"remark":"ok","spentTimeMills":3}"#,
        )
        .unwrap();
        assert_eq!(r.consume_result, CMResult::CrSuccess);
        assert_eq!(
            String::from_utf8(r.encode()).unwrap(),
            r#"{"autoCommit":true,"consumeResult":"CR_SUCCESS","order":false,"remark":"ok","spentTimeMills":3}"#
        );
        let check = CheckClientRequestBody::decode(
            br#"{"clientId":"c","group":"g","subscriptionData":{"topic":"T","subString":"a > 1","expressionType":"SQL92"}}"#,
        )
        .unwrap();
        assert_eq!(check.subscription_data.unwrap().expression_type, "SQL92");
        let c = QueryCorrectionOffsetBody::decode(br#"{"correctionOffsets":{0:100,1:7}}"#).unwrap();
        assert_eq!(c.correction_offsets, [(0, 100), (1, 7)].into());
    }
}
