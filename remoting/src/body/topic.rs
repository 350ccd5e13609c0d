//! Topic configuration as brokers persist it (`topics.json`) and report it to NameServers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::JsonBody;
use crate::error::RemotingError;
use crate::json::{self, lenient};

/// Version stamp of a broker's topic (or subscription group) table; NameServers compare it to
/// detect changes. Equality compares every member.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DataVersion {
    #[serde(deserialize_with = "lenient::i64")]
    pub counter: i64,
    /// J5 member.
    #[serde(deserialize_with = "lenient::i64")]
    pub state_version: i64,
    /// Milliseconds since the epoch of the last change.
    #[serde(deserialize_with = "lenient::i64")]
    pub timestamp: i64,
}

impl DataVersion {
    /// A fresh version stamped `now_ms` with counter 0.
    pub fn new(now_ms: i64) -> Self {
        DataVersion {
            counter: 0,
            state_version: 0,
            timestamp: now_ms,
        }
    }

    /// Records a change: counter + 1, timestamp = `now_ms`.
    pub fn next_version(&mut self, now_ms: i64) {
        self.counter += 1;
        self.timestamp = now_ms;
    }
}

impl JsonBody for DataVersion {}

crate::lenient_enum! {
    /// How a topic's tags are matched (`TopicFilterType`).
    pub enum TopicFilterType (default SingleTag) {
        SingleTag = "SINGLE_TAG",
        MultiTag = "MULTI_TAG",
    }
}

/// Read/write queue count of a topic created without explicit numbers (Java `TopicConfig`).
pub const DEFAULT_QUEUE_NUMS: i32 = 16;
/// PERM_READ | PERM_WRITE.
pub const DEFAULT_PERM: i32 = 6;

/// One topic's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfig {
    /// J5 topic attributes (`queue.type`, `message.type`, ...).
    #[serde(deserialize_with = "lenient::or_default")]
    pub attributes: BTreeMap<String, String>,
    #[serde(deserialize_with = "lenient::bool")]
    pub order: bool,
    #[serde(deserialize_with = "lenient::i32")]
    pub perm: i32,
    #[serde(deserialize_with = "lenient::i32")]
    pub read_queue_nums: i32,
    pub topic_filter_type: TopicFilterType,
    #[serde(deserialize_with = "lenient::string")]
    pub topic_name: String,
    #[serde(deserialize_with = "lenient::i32")]
    pub topic_sys_flag: i32,
    #[serde(deserialize_with = "lenient::i32")]
    pub write_queue_nums: i32,
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            attributes: BTreeMap::new(),
            order: false,
            perm: DEFAULT_PERM,
            read_queue_nums: DEFAULT_QUEUE_NUMS,
            topic_filter_type: TopicFilterType::SingleTag,
            topic_name: String::new(),
            topic_sys_flag: 0,
            write_queue_nums: DEFAULT_QUEUE_NUMS,
        }
    }
}

impl TopicConfig {
    pub fn new(topic_name: impl Into<String>) -> Self {
        TopicConfig {
            topic_name: topic_name.into(),
            ..Default::default()
        }
    }

    /// The space-separated text form used inside compressed registrations:
    /// `topicName readQueueNums writeQueueNums perm topicFilterType attributesJson`.
    /// (`topicSysFlag` and `order` are not part of it, as in Java.)
    pub fn encode_text(&self) -> String {
        let attributes = super::encode_legacy(&self.attributes);
        format!(
            "{} {} {} {} {} {}",
            self.topic_name,
            self.read_queue_nums,
            self.write_queue_nums,
            self.perm,
            self.topic_filter_type.name(),
            String::from_utf8_lossy(&attributes)
        )
    }

    /// Parses [`encode_text`](Self::encode_text) output (the attributes part is optional).
    pub fn decode_text(text: &str) -> Result<Self, RemotingError> {
        let bad = |what: &str| RemotingError::Body(format!("topic config text {text:?}: {what}"));
        let mut parts = text.splitn(6, ' ');
        let mut next = |what: &str| parts.next().ok_or_else(|| bad(what));
        let topic_name = next("missing topic name")?.to_owned();
        let int = |s: &str, what: &str| s.trim().parse::<i32>().map_err(|_| bad(what));
        let read_queue_nums = int(next("missing readQueueNums")?, "bad readQueueNums")?;
        let write_queue_nums = int(next("missing writeQueueNums")?, "bad writeQueueNums")?;
        let perm = int(next("missing perm")?, "bad perm")?;
        let filter = next("missing topicFilterType")?;
        let topic_filter_type =
            TopicFilterType::from_name(filter.trim()).ok_or_else(|| bad("bad topicFilterType"))?;
        let attributes = match parts.next().map(str::trim) {
            Some(a) if !a.is_empty() => json::from_str(a)?,
            _ => BTreeMap::new(),
        };
        Ok(TopicConfig {
            attributes,
            perm,
            read_queue_nums,
            topic_filter_type,
            topic_name,
            write_queue_nums,
            ..Default::default()
        })
    }
}

impl JsonBody for TopicConfig {}

/// A broker's topic table with its version: the `topics.json` file and the
/// `topicConfigSerializeWrapper` of a registration. The J5 static-topic members
/// (`TopicConfigAndMappingSerializeWrapper`) are kept opaque and omitted when absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfigSerializeWrapper {
    #[serde(deserialize_with = "lenient::or_default")]
    pub data_version: DataVersion,
    pub mapping_data_version: Option<serde_json::Value>,
    #[serde(deserialize_with = "lenient::or_default")]
    pub topic_config_table: BTreeMap<String, TopicConfig>,
    pub topic_queue_mapping_detail_map: Option<BTreeMap<String, serde_json::Value>>,
    pub topic_queue_mapping_info_map: Option<BTreeMap<String, serde_json::Value>>,
}

impl JsonBody for TopicConfigSerializeWrapper {}

/// UPDATE_AND_CREATE_TOPIC_LIST request (J5 `mqadmin updateTopicList`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CreateTopicListRequestBody {
    #[serde(deserialize_with = "lenient::or_default")]
    pub topic_config_list: Vec<TopicConfig>,
}

impl JsonBody for CreateTopicListRequestBody {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_config_json_matches_topics_json_layout() {
        let t = TopicConfig {
            read_queue_nums: 8,
            write_queue_nums: 8,
            ..TopicConfig::new("T")
        };
        assert_eq!(
            String::from_utf8(t.encode()).unwrap(),
            r#"{"attributes":{},"order":false,"perm":6,"readQueueNums":8,"topicFilterType":"SINGLE_TAG","topicName":"T","topicSysFlag":0,"writeQueueNums":8}"#
        );
        assert_eq!(TopicConfig::decode(&t.encode()).unwrap(), t);
        let list = CreateTopicListRequestBody {
            topic_config_list: vec![t.clone()],
        };
        assert_eq!(
            CreateTopicListRequestBody::decode(&list.encode()).unwrap(),
            list
        );
        // Members missing from old files take Java's defaults.
        let old = TopicConfig::decode(br#"{"topicName":"X","topicFilterType":1}"#).unwrap();
        assert_eq!(old.read_queue_nums, 16);
        assert_eq!(old.topic_filter_type, TopicFilterType::MultiTag);
    }

    #[test]
    fn text_form_round_trips_and_rejects_junk() {
        let mut t = TopicConfig::new("T1");
        t.attributes.insert("+queue.type".into(), "SimpleCQ".into());
        let text = t.encode_text();
        assert_eq!(text, r#"T1 16 16 6 SINGLE_TAG {"+queue.type":"SimpleCQ"}"#);
        assert_eq!(TopicConfig::decode_text(&text).unwrap(), t);
        assert_eq!(
            TopicConfig::decode_text("T2 1 2 7 MULTI_TAG")
                .unwrap()
                .write_queue_nums,
            2
        );
        for bad in [
            "",
            "T",
            "T x 1 6 SINGLE_TAG",
            "T 1 1 6 NOPE",
            "T 1 1 6 SINGLE_TAG {",
        ] {
            assert!(TopicConfig::decode_text(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn data_version_layout() {
        let mut v = DataVersion::new(1000);
        v.next_version(2000);
        assert_eq!(
            String::from_utf8(v.encode()).unwrap(),
            r#"{"counter":1,"stateVersion":0,"timestamp":2000}"#
        );
    }
}
