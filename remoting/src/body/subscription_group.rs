//! Subscription group configuration (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP body,
//! GET_ALL_SUBSCRIPTIONGROUP_CONFIG response, `subscriptionGroup.json`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::topic::DataVersion;
use super::JsonBody;
use crate::json::lenient;

crate::lenient_enum! {
    pub enum GroupRetryPolicyType (default Customized) {
        Exponential = "EXPONENTIAL",
        Customized = "CUSTOMIZED",
    }
}

/// Retry delays growing from `initial` by `multiplier` up to `max` (ms).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExponentialRetryPolicy {
    #[serde(deserialize_with = "lenient::i64")]
    pub initial: i64,
    #[serde(deserialize_with = "lenient::i64")]
    pub max: i64,
    #[serde(deserialize_with = "lenient::i64")]
    pub multiplier: i64,
}

impl Default for ExponentialRetryPolicy {
    fn default() -> Self {
        ExponentialRetryPolicy {
            initial: 5_000,
            max: 2 * 3_600_000,
            multiplier: 2,
        }
    }
}

/// Retry delay per attempt (ms); the default is the 18 delay levels "1s 5s ... 2h".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomizedRetryPolicy {
    #[serde(deserialize_with = "lenient::or_default")]
    pub next: Vec<i64>,
}

impl Default for CustomizedRetryPolicy {
    fn default() -> Self {
        const S: i64 = 1000;
        const M: i64 = 60 * S;
        CustomizedRetryPolicy {
            next: vec![
                S,
                5 * S,
                10 * S,
                30 * S,
                M,
                2 * M,
                3 * M,
                4 * M,
                5 * M,
                6 * M,
                7 * M,
                8 * M,
                9 * M,
                10 * M,
                20 * M,
                30 * M,
                60 * M,
                120 * M,
            ],
        }
    }
}

/// J5 per-group retry policy; absent policies mean the customized default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupRetryPolicy {
    pub customized_retry_policy: Option<CustomizedRetryPolicy>,
    pub exponential_retry_policy: Option<ExponentialRetryPolicy>,
    #[serde(rename = "type")]
    pub policy_type: GroupRetryPolicyType,
}

/// J5 subscription recorded on the group (`SimpleSubscriptionData`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SimpleSubscriptionData {
    #[serde(deserialize_with = "lenient::string")]
    pub expression: String,
    #[serde(deserialize_with = "lenient::string")]
    pub expression_type: String,
    #[serde(deserialize_with = "lenient::string")]
    pub topic: String,
    #[serde(deserialize_with = "lenient::i64")]
    pub version: i64,
}

/// One consumer group's settings; members missing from the input take Java's defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupConfig {
    #[serde(deserialize_with = "lenient::or_default")]
    pub attributes: BTreeMap<String, String>,
    /// Broker id consumers are sent to (0 = master).
    #[serde(deserialize_with = "lenient::i64")]
    pub broker_id: i64,
    #[serde(deserialize_with = "lenient::bool")]
    pub consume_broadcast_enable: bool,
    #[serde(deserialize_with = "lenient::bool")]
    pub consume_enable: bool,
    #[serde(deserialize_with = "lenient::bool")]
    pub consume_from_min_enable: bool,
    #[serde(deserialize_with = "lenient::bool")]
    pub consume_message_orderly: bool,
    #[serde(deserialize_with = "lenient::i32")]
    pub consume_timeout_minute: i32,
    #[serde(deserialize_with = "lenient::string")]
    pub group_name: String,
    #[serde(deserialize_with = "lenient::or_default")]
    pub group_retry_policy: GroupRetryPolicy,
    #[serde(deserialize_with = "lenient::i32")]
    pub group_sys_flag: i32,
    #[serde(deserialize_with = "lenient::bool")]
    pub notify_consumer_ids_changed_enable: bool,
    #[serde(deserialize_with = "lenient::i32")]
    pub retry_max_times: i32,
    #[serde(deserialize_with = "lenient::i32")]
    pub retry_queue_nums: i32,
    /// Omitted when null (the Java default).
    pub subscription_data_set: Option<Vec<SimpleSubscriptionData>>,
    #[serde(deserialize_with = "lenient::i64")]
    pub which_broker_when_consume_slowly: i64,
}

impl Default for SubscriptionGroupConfig {
    fn default() -> Self {
        SubscriptionGroupConfig {
            attributes: BTreeMap::new(),
            broker_id: 0,
            consume_broadcast_enable: true,
            consume_enable: true,
            consume_from_min_enable: true,
            consume_message_orderly: false,
            consume_timeout_minute: 15,
            group_name: String::new(),
            group_retry_policy: GroupRetryPolicy::default(),
            group_sys_flag: 0,
            notify_consumer_ids_changed_enable: true,
            retry_max_times: 16,
            retry_queue_nums: 1,
            subscription_data_set: None,
            which_broker_when_consume_slowly: 1,
        }
    }
}

impl SubscriptionGroupConfig {
    pub fn new(group_name: impl Into<String>) -> Self {
        SubscriptionGroupConfig {
            group_name: group_name.into(),
            ..Default::default()
        }
    }
}

impl JsonBody for SubscriptionGroupConfig {}

/// Every subscription group of a broker with its version (`subscriptionGroup.json`,
/// GET_ALL_SUBSCRIPTIONGROUP_CONFIG).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupWrapper {
    #[serde(deserialize_with = "lenient::or_default")]
    pub data_version: DataVersion,
    /// J5: group -> topic -> forbidden bits.
    #[serde(deserialize_with = "lenient::or_default")]
    pub forbidden_table: BTreeMap<String, BTreeMap<String, i32>>,
    #[serde(deserialize_with = "lenient::or_default")]
    pub subscription_group_table: BTreeMap<String, SubscriptionGroupConfig>,
}

impl JsonBody for SubscriptionGroupWrapper {}

/// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP_LIST request (J5).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupList {
    #[serde(deserialize_with = "lenient::or_default")]
    pub group_config_list: Vec<SubscriptionGroupConfig>,
}

impl JsonBody for SubscriptionGroupList {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_missing_members() {
        let g =
            SubscriptionGroupConfig::decode(br#"{"groupName":"G","retryMaxTimes":"3"}"#).unwrap();
        assert_eq!(g.retry_max_times, 3);
        assert!(g.consume_enable && g.consume_from_min_enable && g.consume_broadcast_enable);
        assert!(g.notify_consumer_ids_changed_enable && !g.consume_message_orderly);
        assert_eq!(
            (
                g.retry_queue_nums,
                g.broker_id,
                g.which_broker_when_consume_slowly
            ),
            (1, 0, 1)
        );
        assert_eq!((g.consume_timeout_minute, g.group_sys_flag), (15, 0));
        assert_eq!(
            g.group_retry_policy.policy_type,
            GroupRetryPolicyType::Customized
        );
    }

    #[test]
    fn encoding_is_java_layout_and_round_trips() {
        let g = SubscriptionGroupConfig::new("G");
        let text = String::from_utf8(g.encode()).unwrap();
        assert_eq!(
            text,
            r#"{"attributes":{},"brokerId":0,"consumeBroadcastEnable":true,"consumeEnable":true,"consumeFromMinEnable":true,"consumeMessageOrderly":false,"consumeTimeoutMinute":15,"groupName":"G","groupRetryPolicy":{"type":"CUSTOMIZED"},"groupSysFlag":0,"notifyConsumerIdsChangedEnable":true,"retryMaxTimes":16,"retryQueueNums":1,"whichBrokerWhenConsumeSlowly":1}"#
        );
        let mut w = SubscriptionGroupWrapper::default();
        w.subscription_group_table.insert("G".into(), g);
        w.forbidden_table
            .insert("G".into(), [("T".to_string(), 1)].into());
        assert_eq!(SubscriptionGroupWrapper::decode(&w.encode()).unwrap(), w);
        let pretty = crate::json::to_pretty(&w).unwrap();
        assert_eq!(SubscriptionGroupWrapper::decode(&pretty).unwrap(), w);
        let list = SubscriptionGroupList::decode(
            br#"{"groupConfigList":[{"groupName":"A"},{"groupName":"B","consumeEnable":false}]}"#,
        )
        .unwrap();
        assert_eq!(list.group_config_list.len(), 2);
        assert!(
            list.group_config_list[0].consume_enable && !list.group_config_list[1].consume_enable
        );
    }
}
