//! Tag filtering for pulls: a subscription's tag codes are compared with the code stored in each
//! ConsumeQueue unit (Java `String.hashCode` of the message's tag), then the record's own `TAGS`
//! property is checked so that two tags with the same hash do not leak into each other.
//!
//! SQL92 subscriptions are refused until the SQL filter exists, with the answer the Java broker
//! gives when `enablePropertyFilter=false`: SYSTEM_ERROR "The broker does not support consumer to
//! filter message by SQL92".

use sluice_remoting::body::heartbeat::{SubscriptionData, EXPRESSION_SQL92, EXPRESSION_TAG};
use sluice_remoting::message::{check_record, tags_code, RecordCheck};
use sluice_remoting::ResponseCode;
use sluice_store::MessageFilter;

/// Why a subscription cannot be used for a pull: the response code and remark to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterRejection {
    pub code: ResponseCode,
    pub remark: String,
}

/// Builds the subscription a pull carries itself (FLAG_SUBSCRIPTION): `expression` is `*`, empty
/// or tags joined by `||`; `expression_type` is `TAG` (also when absent) or `SQL92`.
pub fn build_subscription(
    topic: &str,
    expression: Option<&str>,
    expression_type: Option<&str>,
    sub_version: i64,
) -> Result<SubscriptionData, FilterRejection> {
    let kind = expression_type.unwrap_or(EXPRESSION_TAG);
    if kind.is_empty() || kind.eq_ignore_ascii_case(EXPRESSION_TAG) {
        return Ok(SubscriptionData::by_tags(
            topic,
            expression.unwrap_or(""),
            sub_version,
        ));
    }
    if kind.eq_ignore_ascii_case(EXPRESSION_SQL92) {
        return Ok(SubscriptionData {
            topic: topic.to_owned(),
            sub_string: expression.unwrap_or("").to_owned(),
            expression_type: EXPRESSION_SQL92.to_owned(),
            sub_version,
            ..Default::default()
        });
    }
    Err(FilterRejection {
        code: ResponseCode::SubscriptionParseFailed,
        remark: format!(
            "parse the consumer's subscription failed: unknown expressionType {kind:?} (use TAG or SQL92)"
        ),
    })
}

/// A pull filter built from a tag subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFilter {
    /// `*`: every message, no check at all.
    all: bool,
    /// Java hashes of `tags`, sign-extended as the ConsumeQueue stores them.
    codes: Vec<i64>,
    tags: Vec<String>,
}

impl TagFilter {
    /// A filter that takes every message.
    pub fn accept_all() -> Self {
        Self {
            all: true,
            codes: Vec::new(),
            tags: Vec::new(),
        }
    }

    /// The filter for `sub`. Codes are recomputed from the tag names with Java's hash: C++ clients
    /// register `atoi(tag)` as codes, which would match nothing.
    pub fn from_subscription(sub: &SubscriptionData) -> Result<Self, FilterRejection> {
        if !sub.is_tag_type() {
            return Err(FilterRejection {
                code: ResponseCode::SystemError,
                remark: format!(
                    "The broker does not support consumer to filter message by {}",
                    sub.expression_type
                ),
            });
        }
        if sub.is_all() {
            return Ok(Self::accept_all());
        }
        let tags: Vec<String> = if sub.tags_set.is_empty() {
            // A subscription without a parsed tag set (some heartbeat dialects): parse its text.
            SubscriptionData::by_tags(&sub.topic, &sub.sub_string, sub.sub_version).tags_set
        } else {
            sub.tags_set.clone()
        };
        if tags.is_empty() {
            return Ok(Self::accept_all());
        }
        let codes = tags.iter().map(|t| tags_code(t)).collect();
        Ok(Self {
            all: false,
            codes,
            tags,
        })
    }

    pub fn accepts_everything(&self) -> bool {
        self.all
    }

    /// Whether a message with these tags passes (the exact check, after the hash matched).
    pub fn matches_tags(&self, tags: Option<&str>) -> bool {
        self.all || tags.is_some_and(|t| self.tags.iter().any(|want| want == t))
    }
}

impl MessageFilter for TagFilter {
    fn matches_tags_code(&self, tags_code: i64) -> bool {
        self.all || self.codes.contains(&tags_code)
    }

    fn matches_record(&self, record: &[u8]) -> bool {
        if self.all {
            return true;
        }
        match check_record(record, false) {
            RecordCheck::Message(view) => self.matches_tags(view.tags()),
            // Not a readable message: let the client see (and report) it rather than hide it.
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_remoting::message::{java_string_hash, MessageRecord};

    fn record_with_tags(tags: Option<&str>) -> Vec<u8> {
        let mut props = sluice_remoting::message::Properties::new();
        if let Some(t) = tags {
            props.insert("TAGS", t);
        }
        let rec = MessageRecord {
            topic: "T".into(),
            body: bytes::Bytes::from_static(b"hello"),
            properties: props.encode(),
            ..Default::default()
        };
        let mut buf = bytes::BytesMut::new();
        rec.encode(&mut buf);
        buf.to_vec()
    }

    #[test]
    fn star_and_empty_take_everything() {
        for expr in ["*", "", "  "] {
            let sub = build_subscription("T", Some(expr), None, 1).unwrap();
            let f = TagFilter::from_subscription(&sub).unwrap();
            assert!(f.accepts_everything());
            assert!(f.matches_tags_code(12345));
            assert!(f.matches_record(&record_with_tags(None)));
        }
    }

    #[test]
    fn tag_list_matches_codes_and_exact_tags() {
        let sub = build_subscription("T", Some("TagA || TagB"), Some("TAG"), 1).unwrap();
        let f = TagFilter::from_subscription(&sub).unwrap();
        assert!(f.matches_tags_code(java_string_hash("TagA") as i64));
        assert!(f.matches_tags_code(java_string_hash("TagB") as i64));
        assert!(!f.matches_tags_code(java_string_hash("TagC") as i64));
        assert!(f.matches_record(&record_with_tags(Some("TagB"))));
        assert!(!f.matches_record(&record_with_tags(Some("TagC"))));
        assert!(!f.matches_record(&record_with_tags(None)));
    }

    #[test]
    fn hash_collision_is_caught_by_the_exact_check() {
        // "Aa" and "BB" have the same Java hash code.
        assert_eq!(java_string_hash("Aa"), java_string_hash("BB"));
        let sub = build_subscription("T", Some("Aa"), None, 1).unwrap();
        let f = TagFilter::from_subscription(&sub).unwrap();
        assert!(f.matches_tags_code(java_string_hash("BB") as i64));
        assert!(!f.matches_record(&record_with_tags(Some("BB"))));
        assert!(f.matches_record(&record_with_tags(Some("Aa"))));
    }

    #[test]
    fn cpp_atoi_codes_are_replaced_by_java_hashes() {
        let sub = SubscriptionData {
            topic: "T".into(),
            sub_string: "TagA".into(),
            tags_set: vec!["TagA".into()],
            code_set: vec![0],
            ..Default::default()
        };
        let f = TagFilter::from_subscription(&sub).unwrap();
        assert!(f.matches_tags_code(java_string_hash("TagA") as i64));
        assert!(!f.matches_tags_code(0));
    }

    #[test]
    fn sql92_is_refused_like_a_broker_without_property_filter() {
        let sub = build_subscription("T", Some("a > 1"), Some("SQL92"), 1).unwrap();
        let err = TagFilter::from_subscription(&sub).unwrap_err();
        assert_eq!(err.code, ResponseCode::SystemError);
        assert!(err.remark.contains("SQL92"), "{}", err.remark);
    }

    #[test]
    fn unknown_expression_type_is_a_parse_failure() {
        let err = build_subscription("T", Some("x"), Some("XPATH"), 1).unwrap_err();
        assert_eq!(err.code, ResponseCode::SubscriptionParseFailed);
    }
}
