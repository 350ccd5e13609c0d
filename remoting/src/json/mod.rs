//! The lenient fastjson-compatible JSON layer.
//!
//! Reading: [`from_slice`] first tries serde_json on the bytes as they are (the common case:
//! Java heartbeats and most bodies are strict JSON); on a syntax error it rewrites the fastjson
//! quirks into strict JSON ([`reader::to_strict`]) and tries again. Typed extraction is serde
//! derive plus the helpers in [`lenient`] and [`object_keys`].
//!
//! Writing: [`to_legacy`] / [`to_standard`] produce fastjson's two output styles
//! ([`writer::Style`]); [`to_pretty`] lays legacy output out like the broker's config files.

pub mod format;
pub mod lenient;
pub mod reader;
pub mod writer;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::RemotingError;

pub use writer::Style;

/// Reads one body: strict JSON, fastjson's legacy form, or jsoncpp output with its trailing `\n`.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, RemotingError> {
    match serde_json::from_slice::<T>(bytes) {
        Ok(v) => Ok(v),
        Err(e) if e.is_syntax() || e.is_eof() => {
            let strict = reader::to_strict(bytes)?;
            serde_json::from_slice(&strict).map_err(|e| RemotingError::Body(e.to_string()))
        }
        Err(e) => Err(RemotingError::Body(e.to_string())),
    }
}

/// [`from_slice`] for text.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, RemotingError> {
    from_slice(text.as_bytes())
}

/// fastjson's default output (`RemotingSerializable.encode`): sorted members, no whitespace,
/// nulls omitted, integer map keys unquoted, struct map keys as object literals.
pub fn to_legacy<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, RemotingError> {
    writer::to_vec(value, Style::Legacy).map_err(|e| RemotingError::Body(e.to_string()))
}

/// The NameServer's "standard JSON" output: as [`to_legacy`] but integer map keys quoted,
/// non-ASCII escaped and longs beyond ±2^53 written as strings.
pub fn to_standard<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, RemotingError> {
    writer::to_vec(value, Style::Standard).map_err(|e| RemotingError::Body(e.to_string()))
}

/// Legacy output laid out with tabs and newlines, as the broker's `config/*.json` files are.
pub fn to_pretty<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, RemotingError> {
    to_legacy(value).map(|compact| format::pretty(&compact))
}

/// Serde helpers for maps keyed by a struct (`Map<MessageQueue, V>` in Java), which fastjson
/// writes with object literals as keys. Use as `#[serde(with = "json::object_keys")]` on a
/// `BTreeMap<K, V>`. Reading accepts the object-literal form (rewritten by the lenient reader
/// to a string key holding the object's JSON), a string key holding the JSON, and gson's
/// array of `[key, value]` pairs.
pub mod object_keys {
    use std::collections::BTreeMap;
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{self, DeserializeOwned, MapAccess, SeqAccess, Visitor};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K, V, S>(map: &BTreeMap<K, V>, s: S) -> Result<S::Ok, S::Error>
    where
        K: Serialize,
        V: Serialize,
        S: Serializer,
    {
        s.collect_map(map)
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: DeserializeOwned + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        struct MapVisitor<K, V>(PhantomData<(K, V)>);
        impl<'de, K, V> Visitor<'de> for MapVisitor<K, V>
        where
            K: DeserializeOwned + Ord,
            V: Deserialize<'de>,
        {
            type Value = BTreeMap<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map keyed by JSON objects")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = access.next_key::<String>()? {
                    let k: K = super::from_str(&key)
                        .map_err(|e| de::Error::custom(format!("bad object key {key:?}: {e}")))?;
                    let v = access.next_value::<V>()?;
                    out.insert(k, v);
                }
                Ok(out)
            }
            /// gson's form of a map with object keys: `[[{key}, value], ...]`.
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((key, v)) = seq.next_element::<(serde_json::Value, V)>()? {
                    let k = K::deserialize(key)
                        .map_err(|e| de::Error::custom(format!("bad object key: {e}")))?;
                    out.insert(k, v);
                }
                Ok(out)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(BTreeMap::new())
            }
        }
        d.deserialize_any(MapVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Serialize, Deserialize, Debug, PartialEq, Eq, PartialOrd, Ord, Clone)]
    #[serde(rename_all = "camelCase")]
    struct Key {
        topic: String,
        queue_id: i32,
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Table {
        #[serde(with = "object_keys")]
        offset_table: BTreeMap<Key, i64>,
        #[serde(default)]
        addrs: BTreeMap<i64, String>,
    }

    #[test]
    fn object_keys_and_numeric_keys_round_trip_in_both_styles() {
        let t = Table {
            offset_table: [(
                Key {
                    topic: "T".into(),
                    queue_id: 3,
                },
                42,
            )]
            .into(),
            addrs: [(0, "a:1".to_string())].into(),
        };
        let legacy = to_legacy(&t).unwrap();
        assert_eq!(
            std::str::from_utf8(&legacy).unwrap(),
            r#"{"addrs":{0:"a:1"},"offsetTable":{{"queueId":3,"topic":"T"}:42}}"#
        );
        assert_eq!(from_slice::<Table>(&legacy).unwrap(), t);
        let standard = to_standard(&t).unwrap();
        assert_eq!(from_slice::<Table>(&standard).unwrap(), t);
        let pretty = to_pretty(&t).unwrap();
        assert_eq!(from_slice::<Table>(&pretty).unwrap(), t);
    }

    #[test]
    fn strict_json_string_keys_holding_objects_are_accepted() {
        let text = r#"{"offsetTable":{"{\"topic\":\"T\",\"queueId\":1}":7}}"#;
        let t: Table = from_str(text).unwrap();
        assert_eq!(t.offset_table.values().next(), Some(&7));
    }

    #[test]
    fn gson_pair_arrays_are_accepted() {
        let text =
            r#"{"offsetTable":[[{"topic":"T","queueId":1},7],[{"topic":"U","queueId":0},8]]}"#;
        let t: Table = from_str(text).unwrap();
        assert_eq!(t.offset_table.len(), 2);
        assert_eq!(
            t.offset_table.values().copied().collect::<Vec<_>>(),
            vec![7, 8]
        );
        assert!(from_str::<Table>(r#"{"offsetTable":[[1,7]]}"#).is_err());
    }

    #[test]
    fn type_errors_are_reported_not_rewritten() {
        let err = from_str::<Table>(r#"{"offsetTable":{"nope":1}}"#).unwrap_err();
        assert!(err.to_string().contains("bad object key"), "{err}");
    }
}
