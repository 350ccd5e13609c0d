//! Route data served by the NameServer: `TopicRouteData` (GET_ROUTEINFO_BY_TOPIC) and
//! `ClusterInfo` (GET_BROKER_CLUSTER_INFO).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{encode_legacy, encode_standard, JsonBody};
use crate::code::version;
use crate::json::lenient;

/// The queues one broker (group) serves for a topic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueueData {
    #[serde(deserialize_with = "lenient::string")]
    pub broker_name: String,
    #[serde(deserialize_with = "lenient::i32")]
    pub perm: i32,
    #[serde(deserialize_with = "lenient::i32")]
    pub read_queue_nums: i32,
    /// Servers before 4.9.0 called this `topicSynFlag`.
    #[serde(alias = "topicSynFlag", deserialize_with = "lenient::i32")]
    pub topic_sys_flag: i32,
    #[serde(deserialize_with = "lenient::i32")]
    pub write_queue_nums: i32,
}

/// One broker group: its cluster, name and the address of each member (0 = master).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrokerData {
    #[serde(deserialize_with = "lenient::or_default")]
    pub broker_addrs: BTreeMap<i64, String>,
    #[serde(deserialize_with = "lenient::string")]
    pub broker_name: String,
    #[serde(deserialize_with = "lenient::string")]
    pub cluster: String,
    /// J5 member, always written.
    #[serde(deserialize_with = "lenient::bool")]
    pub enable_acting_master: bool,
    /// J5 member, omitted when unset.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub zone_name: Option<String>,
}

impl BrokerData {
    /// The master's address (broker id 0), if the master is registered.
    pub fn master_addr(&self) -> Option<&str> {
        self.broker_addrs.get(&0).map(String::as_str)
    }
}

/// The route of one topic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicRouteData {
    #[serde(deserialize_with = "lenient::or_default")]
    pub broker_datas: Vec<BrokerData>,
    /// brokerAddr -> filter servers; always written, normally `{}`.
    #[serde(deserialize_with = "lenient::or_default")]
    pub filter_server_table: BTreeMap<String, Vec<String>>,
    /// Only set when the NameServer has `orderMessageEnable`.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub order_topic_conf: Option<String>,
    #[serde(deserialize_with = "lenient::or_default")]
    pub queue_datas: Vec<QueueData>,
    /// J5 static-topic mapping, kept opaque; omitted when absent.
    pub topic_queue_mapping_by_broker: Option<serde_json::Value>,
}

impl TopicRouteData {
    /// fastjson's legacy form (`{0:"ip:port"}`), for clients older than V4_9_4.
    pub fn encode_legacy(&self) -> Vec<u8> {
        encode_legacy(self)
    }

    /// Standard JSON (`{"0":"ip:port"}`), for clients >= V4_9_4 or `acceptStandardJsonOnly`.
    pub fn encode_standard(&self) -> Vec<u8> {
        encode_standard(self)
    }

    /// The encoding the Java NameServer picks for a request of `request_version` with the
    /// `acceptStandardJsonOnly` header flag.
    pub fn encode_for(&self, request_version: i32, accept_standard_json_only: bool) -> Vec<u8> {
        if request_version >= version::V4_9_4 || accept_standard_json_only {
            self.encode_standard()
        } else {
            self.encode_legacy()
        }
    }
}

impl JsonBody for TopicRouteData {}

/// Every broker group and every cluster known to a NameServer. Always written in the legacy
/// form.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterInfo {
    #[serde(deserialize_with = "lenient::or_default")]
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    #[serde(deserialize_with = "lenient::or_default")]
    pub cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
}

impl JsonBody for ClusterInfo {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_servers_topic_syn_flag_and_string_numbers_are_read() {
        let q: QueueData = crate::json::from_str(
            r#"{"brokerName":"b","perm":"6","readQueueNums":4,"topicSynFlag":2,"writeQueueNums":"4"}"#,
        )
        .unwrap();
        assert_eq!(q.topic_sys_flag, 2);
        assert_eq!((q.perm, q.read_queue_nums, q.write_queue_nums), (6, 4, 4));
    }

    #[test]
    fn encoding_follows_request_version() {
        let mut b = BrokerData {
            broker_name: "b".into(),
            cluster: "c".into(),
            ..Default::default()
        };
        b.broker_addrs.insert(0, "1.2.3.4:10911".into());
        let route = TopicRouteData {
            broker_datas: vec![b],
            ..Default::default()
        };
        let old = String::from_utf8(route.encode_for(version::V4_9_3, false)).unwrap();
        assert!(old.contains(r#"{0:"1.2.3.4:10911"}"#), "{old}");
        let new = String::from_utf8(route.encode_for(version::V4_9_4, false)).unwrap();
        assert!(new.contains(r#"{"0":"1.2.3.4:10911"}"#), "{new}");
        let flag = String::from_utf8(route.encode_for(317, true)).unwrap();
        assert_eq!(flag, new);
        assert_eq!(route.broker_datas[0].master_addr(), Some("1.2.3.4:10911"));
    }
}
