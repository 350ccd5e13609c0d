//! Broker status bodies read by mqadmin: GET_BROKER_HA_STATUS (`haStatus`),
//! VIEW_BROKER_STATS_DATA (`statsAll`) and QUERY_CONSUME_TIME_SPAN.

use serde::{Deserialize, Serialize};

use super::queue::MessageQueue;
use super::JsonBody;
use crate::json::lenient;

/// One slave connection as its master sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HAConnectionRuntimeInfo {
    #[serde(deserialize_with = "lenient::string")]
    pub addr: String,
    /// Master max offset minus the slave's acknowledged offset.
    #[serde(deserialize_with = "lenient::i64")]
    pub diff: i64,
    #[serde(deserialize_with = "lenient::bool")]
    pub in_sync: bool,
    #[serde(deserialize_with = "lenient::i64")]
    pub slave_ack_offset: i64,
    #[serde(deserialize_with = "lenient::i64")]
    pub transfer_from_where: i64,
    #[serde(deserialize_with = "lenient::i64")]
    pub transferred_byte_in_second: i64,
}

/// A slave's replication client state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HAClientRuntimeInfo {
    #[serde(deserialize_with = "lenient::i64")]
    pub last_read_timestamp: i64,
    #[serde(deserialize_with = "lenient::i64")]
    pub last_write_timestamp: i64,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub master_addr: Option<String>,
    #[serde(deserialize_with = "lenient::i64")]
    pub master_flush_offset: i64,
    #[serde(deserialize_with = "lenient::i64")]
    pub max_offset: i64,
    #[serde(deserialize_with = "lenient::i64")]
    pub transferred_byte_in_second: i64,
}

/// GET_BROKER_HA_STATUS response.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HARuntimeInfo {
    #[serde(deserialize_with = "lenient::or_default")]
    pub ha_client_runtime_info: HAClientRuntimeInfo,
    #[serde(deserialize_with = "lenient::or_default")]
    pub ha_connection_info: Vec<HAConnectionRuntimeInfo>,
    #[serde(deserialize_with = "lenient::i32")]
    pub in_sync_slave_nums: i32,
    #[serde(deserialize_with = "lenient::bool")]
    pub master: bool,
    #[serde(deserialize_with = "lenient::i64")]
    pub master_commit_log_max_offset: i64,
}

impl JsonBody for HARuntimeInfo {}

/// One statistics window: total, rate and average.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BrokerStatsItem {
    #[serde(deserialize_with = "lenient::f64")]
    pub avgpt: f64,
    #[serde(deserialize_with = "lenient::i64")]
    pub sum: i64,
    #[serde(deserialize_with = "lenient::f64")]
    pub tps: f64,
}

/// VIEW_BROKER_STATS_DATA response.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrokerStatsData {
    pub stats_day: Option<BrokerStatsItem>,
    pub stats_hour: Option<BrokerStatsItem>,
    pub stats_minute: Option<BrokerStatsItem>,
}

impl JsonBody for BrokerStatsData {}

/// Store-time span of one queue for a consumer group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueueTimeSpan {
    #[serde(deserialize_with = "lenient::i64")]
    pub consume_time_stamp: i64,
    #[serde(deserialize_with = "lenient::i64")]
    pub delay_time: i64,
    #[serde(deserialize_with = "lenient::i64")]
    pub max_time_stamp: i64,
    pub message_queue: Option<MessageQueue>,
    #[serde(deserialize_with = "lenient::i64")]
    pub min_time_stamp: i64,
}

/// QUERY_CONSUME_TIME_SPAN response.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueryConsumeTimeSpanBody {
    #[serde(deserialize_with = "lenient::or_default")]
    pub consume_time_span_set: Vec<QueueTimeSpan>,
}

impl JsonBody for QueryConsumeTimeSpanBody {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ha_status_layout() {
        let info = HARuntimeInfo {
            ha_connection_info: vec![HAConnectionRuntimeInfo {
                addr: "10.0.0.2:50000".into(),
                diff: 0,
                in_sync: true,
                slave_ack_offset: 1024,
                transfer_from_where: 0,
                transferred_byte_in_second: 10,
            }],
            in_sync_slave_nums: 1,
            master: true,
            master_commit_log_max_offset: 1024,
            ..Default::default()
        };
        let text = String::from_utf8(info.encode()).unwrap();
        assert_eq!(
            text,
            r#"{"haClientRuntimeInfo":{"lastReadTimestamp":0,"lastWriteTimestamp":0,"masterFlushOffset":0,"maxOffset":0,"transferredByteInSecond":0},"haConnectionInfo":[{"addr":"10.0.0.2:50000","diff":0,"inSync":true,"slaveAckOffset":1024,"transferFromWhere":0,"transferredByteInSecond":10}],"inSyncSlaveNums":1,"master":true,"masterCommitLogMaxOffset":1024}"#
        );
        assert_eq!(HARuntimeInfo::decode(text.as_bytes()).unwrap(), info);
    }

    #[test]
    fn stats_and_time_spans_round_trip() {
        let stats = BrokerStatsData {
            stats_minute: Some(BrokerStatsItem {
                avgpt: 1.5,
                sum: 90,
                tps: 1.5,
            }),
            ..Default::default()
        };
        assert_eq!(
            String::from_utf8(stats.encode()).unwrap(),
            r#"{"statsMinute":{"avgpt":1.5,"sum":90,"tps":1.5}}"#
        );
        assert_eq!(BrokerStatsData::decode(&stats.encode()).unwrap(), stats);
        let spans = QueryConsumeTimeSpanBody {
            consume_time_span_set: vec![QueueTimeSpan {
                message_queue: Some(MessageQueue::new("T", "b", 0)),
                max_time_stamp: 9,
                ..Default::default()
            }],
        };
        assert_eq!(
            QueryConsumeTimeSpanBody::decode(&spans.encode()).unwrap(),
            spans
        );
    }
}
