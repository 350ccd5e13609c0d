//! The broker's offset files under `{storePathRootDir}/config/`. (`topics.json` is a
//! [`TopicConfigSerializeWrapper`](super::TopicConfigSerializeWrapper), `subscriptionGroup.json`
//! a [`SubscriptionGroupWrapper`](super::SubscriptionGroupWrapper).) Write them with
//! [`JsonBody::encode_pretty`]; reading accepts fastjson's unquoted integer keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::topic::DataVersion;
use super::JsonBody;
use crate::json::lenient;

/// `consumerOffset.json`: `{"offsetTable":{"topic@group":{0:off,1:off}}}`, offsets being the
/// next offset to consume. 5.x adds `dataVersion`; its `groupTopicMap` is derived data and
/// ignored on reading.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerOffsetFile {
    pub data_version: Option<DataVersion>,
    /// `topic@group` -> queue id -> offset.
    #[serde(deserialize_with = "lenient::or_default")]
    pub offset_table: BTreeMap<String, BTreeMap<i32, i64>>,
}

impl ConsumerOffsetFile {
    /// The table key of a topic and group.
    pub fn key(topic: &str, group: &str) -> String {
        format!("{topic}@{group}")
    }

    /// Splits a table key into (topic, group). Topics cannot contain `@`, so the first `@`
    /// separates them.
    pub fn split_key(key: &str) -> Option<(&str, &str)> {
        key.split_once('@')
    }
}

impl JsonBody for ConsumerOffsetFile {}

/// `delayOffset.json`: `{"offsetTable":{1:n,2:m}}`, delay level -> next ConsumeQueue offset of
/// `SCHEDULE_TOPIC_XXXX` queue (level - 1). 5.x adds `dataVersion`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DelayOffsetFile {
    pub data_version: Option<DataVersion>,
    #[serde(deserialize_with = "lenient::or_default")]
    pub offset_table: BTreeMap<i32, i64>,
}

impl JsonBody for DelayOffsetFile {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_offsets_file_as_java_writes_it() {
        // As written by a 4.9 broker (PrettyFormat, unquoted integer keys).
        let java = "{\n\t\"offsetTable\":{\n\t\t\"%RETRY%g@g\":{0:0\n\t\t},\n\t\t\"TopicTest@g\":{0:250,1:249,2:250,3:251\n\t\t}\n\t}\n}";
        let f = ConsumerOffsetFile::decode(java.as_bytes()).unwrap();
        assert_eq!(
            f.offset_table[&ConsumerOffsetFile::key("TopicTest", "g")][&3],
            251
        );
        assert_eq!(
            ConsumerOffsetFile::split_key("%RETRY%g@g"),
            Some(("%RETRY%g", "g"))
        );
        let compact = String::from_utf8(f.encode()).unwrap();
        assert_eq!(
            compact,
            r#"{"offsetTable":{"%RETRY%g@g":{0:0},"TopicTest@g":{0:250,1:249,2:250,3:251}}}"#
        );
        assert_eq!(ConsumerOffsetFile::decode(&f.encode_pretty()).unwrap(), f);
    }

    #[test]
    fn delay_offsets_file_with_5x_data_version() {
        let text = r#"{"dataVersion":{"counter":2,"stateVersion":0,"timestamp":5},"offsetTable":{1:10,3:7}}"#;
        let f = DelayOffsetFile::decode(text.as_bytes()).unwrap();
        assert_eq!(f.offset_table, [(1, 10), (3, 7)].into());
        assert_eq!(String::from_utf8(f.encode()).unwrap(), text);
    }
}
