//! Small admin bodies: topic and group lists, KVTable, consumer lists and connection listings.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::heartbeat::{ConsumeFromWhere, ConsumeType, MessageModel, SubscriptionData};
use super::JsonBody;
use crate::code::LanguageCode;
use crate::json::lenient;

/// GET_ALL_TOPIC_LIST_FROM_NAMESERVER, GET_TOPICS_BY_CLUSTER, ... responses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicList {
    /// Omitted when unset.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub broker_addr: Option<String>,
    #[serde(deserialize_with = "lenient::or_default")]
    pub topic_list: BTreeSet<String>,
}

impl JsonBody for TopicList {}

/// A string-to-string table (GET_KVLIST_BY_NAMESPACE, GET_BROKER_RUNTIME_INFO).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KVTable {
    #[serde(deserialize_with = "lenient::or_default")]
    pub table: BTreeMap<String, String>,
}

impl JsonBody for KVTable {}

/// GET_CONSUMER_LIST_BY_GROUP response.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetConsumerListByGroupResponseBody {
    #[serde(deserialize_with = "lenient::vec_string")]
    pub consumer_id_list: Vec<String>,
}

impl JsonBody for GetConsumerListByGroupResponseBody {}

/// GET_ALL_PRODUCER_INFO / QUERY_TOPIC_CONSUME_BY_WHO style group listings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupList {
    #[serde(deserialize_with = "lenient::or_default")]
    pub group_list: BTreeSet<String>,
}

impl JsonBody for GroupList {}

/// One client connection as the broker reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Connection {
    #[serde(deserialize_with = "lenient::string")]
    pub client_addr: String,
    #[serde(deserialize_with = "lenient::string")]
    pub client_id: String,
    #[serde(with = "lenient::language")]
    pub language: LanguageCode,
    #[serde(deserialize_with = "lenient::i32")]
    pub version: i32,
}

/// GET_CONSUMER_CONNECTION_LIST response.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerConnection {
    #[serde(deserialize_with = "lenient::or_default")]
    pub connection_set: Vec<Connection>,
    pub consume_from_where: ConsumeFromWhere,
    pub consume_type: ConsumeType,
    pub message_model: MessageModel,
    /// topic -> subscription.
    #[serde(deserialize_with = "lenient::or_default")]
    pub subscription_table: BTreeMap<String, SubscriptionData>,
}

impl JsonBody for ConsumerConnection {}

/// GET_PRODUCER_CONNECTION_LIST response.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerConnection {
    #[serde(deserialize_with = "lenient::or_default")]
    pub connection_set: Vec<Connection>,
}

impl JsonBody for ProducerConnection {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_list_omits_missing_broker_addr() {
        let t = TopicList {
            broker_addr: None,
            topic_list: ["T2".to_string(), "T1".to_string()].into(),
        };
        assert_eq!(
            String::from_utf8(t.encode()).unwrap(),
            r#"{"topicList":["T1","T2"]}"#
        );
        let with = TopicList {
            broker_addr: Some("1.2.3.4:10911".into()),
            ..t
        };
        assert_eq!(
            String::from_utf8(with.encode()).unwrap(),
            r#"{"brokerAddr":"1.2.3.4:10911","topicList":["T1","T2"]}"#
        );
        assert_eq!(TopicList::decode(&with.encode()).unwrap(), with);
    }

    #[test]
    fn connections_write_language_names_and_read_ordinals() {
        let c = ProducerConnection {
            connection_set: vec![Connection {
                client_addr: "10.0.0.5:50000".into(),
                client_id: "10.0.0.5@1".into(),
                language: LanguageCode::Cpp,
                version: 333,
            }],
        };
        let text = String::from_utf8(c.encode()).unwrap();
        assert_eq!(
            text,
            r#"{"connectionSet":[{"clientAddr":"10.0.0.5:50000","clientId":"10.0.0.5@1","language":"CPP","version":333}]}"#
        );
        assert_eq!(ProducerConnection::decode(text.as_bytes()).unwrap(), c);
        let by_ordinal = text.replace(r#""CPP""#, "1");
        assert_eq!(
            ProducerConnection::decode(by_ordinal.as_bytes()).unwrap(),
            c
        );
        assert!(
            ProducerConnection::decode(br#"{"connectionSet":[{"language":"COBOL"}]}"#).is_err()
        );
    }

    #[test]
    fn kv_table_and_lists() {
        let kv = KVTable {
            table: [("brokerVersionDesc".to_string(), "V5_3_3".to_string())].into(),
        };
        assert_eq!(
            String::from_utf8(kv.encode()).unwrap(),
            r#"{"table":{"brokerVersionDesc":"V5_3_3"}}"#
        );
        let ids =
            GetConsumerListByGroupResponseBody::decode(br#"{"consumerIdList":["a@1",2]}"#).unwrap();
        assert_eq!(ids.consumer_id_list, vec!["a@1", "2"]);
        let g = GroupList::decode(b"{\"groupList\":[\"g1\"]}\n").unwrap();
        assert!(g.group_list.contains("g1"));
    }
}
