//! HEART_BEAT body: the producer groups and consumer groups (with subscriptions) of a client.
//!
//! Three dialects arrive: Java (enum names, number `codeSet` of Java hash codes), C++/Python
//! (enum ordinals, string `subVersion`, empty sets omitted, trailing `\n`, `codeSet` from
//! `atoi(tag)`), Go (enum names upper-cased, string `codeSet`). All decode to the same types;
//! [`HeartbeatData::with_java_tag_codes`] rebuilds every `codeSet` the way the broker's tag
//! filter needs it.

use serde::{Deserialize, Serialize};

use super::JsonBody;
use crate::json::lenient;

crate::lenient_enum! {
    /// Pull (`CONSUME_ACTIVELY`), push (`CONSUME_PASSIVELY`) or pop consumer.
    pub enum ConsumeType (default ConsumePassively) {
        ConsumeActively = "CONSUME_ACTIVELY",
        ConsumePassively = "CONSUME_PASSIVELY",
        ConsumePop = "CONSUME_POP",
    }
}

crate::lenient_enum! {
    pub enum MessageModel (default Clustering) {
        Broadcasting = "BROADCASTING",
        Clustering = "CLUSTERING",
    }
}

crate::lenient_enum! {
    /// Where a consumer group without a stored offset starts.
    pub enum ConsumeFromWhere (default ConsumeFromLastOffset) {
        ConsumeFromLastOffset = "CONSUME_FROM_LAST_OFFSET",
        ConsumeFromLastOffsetAndFromMinWhenBootFirst = "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
        ConsumeFromMinOffset = "CONSUME_FROM_MIN_OFFSET",
        ConsumeFromMaxOffset = "CONSUME_FROM_MAX_OFFSET",
        ConsumeFromFirstOffset = "CONSUME_FROM_FIRST_OFFSET",
        ConsumeFromTimestamp = "CONSUME_FROM_TIMESTAMP",
    }
}

/// `subString` meaning "every tag".
pub const SUB_ALL: &str = "*";
/// `expressionType` of tag subscriptions.
pub const EXPRESSION_TAG: &str = "TAG";
/// `expressionType` of SQL92 subscriptions.
pub const EXPRESSION_SQL92: &str = "SQL92";

/// Java's `String.hashCode()`: the tag code stored per message and matched against `codeSet`.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// One topic subscription of a consumer group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionData {
    #[serde(deserialize_with = "lenient::bool")]
    pub class_filter_mode: bool,
    /// Tag codes (Java: `String.hashCode` of each tag; Go sends them as strings, C++ as atoi).
    #[serde(deserialize_with = "lenient::vec_i32")]
    pub code_set: Vec<i32>,
    /// `TAG` (also when absent, as from C++) or `SQL92`.
    #[serde(deserialize_with = "lenient::string")]
    pub expression_type: String,
    /// `*`, tags joined by `||`, or an SQL92 expression.
    #[serde(deserialize_with = "lenient::string")]
    pub sub_string: String,
    /// Version of the subscription (the client's clock when it subscribed).
    #[serde(deserialize_with = "lenient::i64")]
    pub sub_version: i64,
    #[serde(deserialize_with = "lenient::vec_string")]
    pub tags_set: Vec<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub topic: String,
}

impl Default for SubscriptionData {
    fn default() -> Self {
        SubscriptionData {
            class_filter_mode: false,
            code_set: Vec::new(),
            expression_type: EXPRESSION_TAG.to_owned(),
            sub_string: String::new(),
            sub_version: 0,
            tags_set: Vec::new(),
            topic: String::new(),
        }
    }
}

impl SubscriptionData {
    /// A tag subscription as the Java client builds it from `subscribe(topic, "A || B")`
    /// (`FilterAPI.buildSubscriptionData`): `*` or an empty expression subscribes to
    /// everything; otherwise each non-blank `||`-separated tag, trimmed, with its Java hash.
    pub fn by_tags(topic: impl Into<String>, expression: &str, sub_version: i64) -> Self {
        let mut data = SubscriptionData {
            topic: topic.into(),
            sub_version,
            ..Default::default()
        };
        if expression.is_empty() || expression == SUB_ALL {
            data.sub_string = SUB_ALL.to_owned();
            return data;
        }
        data.sub_string = expression.to_owned();
        for tag in expression
            .split("||")
            // Java's String.trim: every char <= ' '.
            .map(|t| t.trim_matches(|c: char| c <= ' '))
            .filter(|t| !t.is_empty())
        {
            if !data.tags_set.iter().any(|t| t == tag) {
                data.tags_set.push(tag.to_owned());
                data.code_set.push(java_string_hash(tag));
            }
        }
        data
    }

    /// Whether this subscription takes every tag.
    pub fn is_all(&self) -> bool {
        self.sub_string.is_empty() || self.sub_string == SUB_ALL
    }

    pub fn is_tag_type(&self) -> bool {
        self.expression_type.is_empty() || self.expression_type.eq_ignore_ascii_case(EXPRESSION_TAG)
    }

    /// Replaces `codeSet` with the Java hash codes of `tagsSet` (C++ sends `atoi(tag)`).
    pub fn rebuild_java_tag_codes(&mut self) {
        if self.is_tag_type() {
            self.code_set = self.tags_set.iter().map(|t| java_string_hash(t)).collect();
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerData {
    #[serde(deserialize_with = "lenient::string")]
    pub group_name: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerData {
    pub consume_from_where: ConsumeFromWhere,
    pub consume_type: ConsumeType,
    #[serde(deserialize_with = "lenient::string")]
    pub group_name: String,
    pub message_model: MessageModel,
    #[serde(deserialize_with = "lenient::or_default")]
    pub subscription_data_set: Vec<SubscriptionData>,
    #[serde(deserialize_with = "lenient::bool")]
    pub unit_mode: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HeartbeatData {
    #[serde(rename = "clientID", deserialize_with = "lenient::string")]
    pub client_id: String,
    #[serde(deserialize_with = "lenient::or_default")]
    pub consumer_data_set: Vec<ConsumerData>,
    /// J5: non-zero switches the broker to heartbeat-v2 handling.
    #[serde(deserialize_with = "lenient::i32")]
    pub heartbeat_fingerprint: i32,
    #[serde(deserialize_with = "lenient::or_default")]
    pub producer_data_set: Vec<ProducerData>,
    /// J5 (`isWithoutSub`).
    #[serde(deserialize_with = "lenient::bool")]
    pub without_sub: bool,
}

impl HeartbeatData {
    /// Rebuilds every tag subscription's `codeSet` from its tags with Java's hash.
    pub fn with_java_tag_codes(mut self) -> Self {
        for consumer in &mut self.consumer_data_set {
            for sub in &mut consumer.subscription_data_set {
                sub.rebuild_java_tag_codes();
            }
        }
        self
    }
}

impl JsonBody for HeartbeatData {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_matches_known_values() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("TagA"), 2598919);
        assert_eq!(java_string_hash("hello"), 99162322);
        // Non-BMP characters hash as surrogate pairs, like Java.
        assert_eq!(java_string_hash("😀"), 55357 * 31 + 56832);
    }

    #[test]
    fn by_tags_splits_and_hashes() {
        let s = SubscriptionData::by_tags("T", " TagA || TagB ||TagA", 5);
        assert_eq!(s.tags_set, vec!["TagA", "TagB"]);
        assert_eq!(s.code_set, vec![2598919, java_string_hash("TagB")]);
        assert!(!s.is_all());
        let all = SubscriptionData::by_tags("T", "*", 5);
        assert!(all.is_all() && all.tags_set.is_empty());
    }

    #[test]
    fn enums_read_names_ordinals_and_go_case() {
        let c: ConsumerData = crate::json::from_str(
            r#"{"consumeType":0,"messageModel":"CLUSTERING","consumeFromWhere":"4"}"#,
        )
        .unwrap();
        assert_eq!(c.consume_type, ConsumeType::ConsumeActively);
        assert_eq!(c.message_model, MessageModel::Clustering);
        assert_eq!(
            c.consume_from_where,
            ConsumeFromWhere::ConsumeFromFirstOffset
        );
        assert!(crate::json::from_str::<ConsumerData>(r#"{"consumeType":9}"#).is_err());
    }
}
