//! Pull filters.
//!
//! Tag filtering: a subscription's tag codes are compared with the code stored in each
//! ConsumeQueue unit (Java `String.hashCode` of the message's tag), then the record's own `TAGS`
//! property is checked so that two tags with the same hash do not leak into each other.
//!
//! SQL92 filtering (`enablePropertyFilter=true`, as Apache's `ExpressionMessageFilter`): the
//! expression is evaluated on each record's stored properties (the user's properties plus the
//! ones the client sets itself, `TAGS`, `KEYS`, `UNIQ_KEY`, ...), read in place from the mapped
//! CommitLog; only a TRUE result delivers the message. Expressions are compiled once per
//! group/topic/subscription text ([`ConsumerFilters`], fed by heartbeats and pulls). With
//! `enablePropertyFilter=false` SQL92 subscriptions are refused as the Java broker refuses them:
//! SYSTEM_ERROR "The broker does not support consumer to filter message by SQL92".
//!
//! `filterSupportRetry=true`: a pull of a group's `%RETRY%` topic evaluates, for each message, the
//! group's SQL92 filter of the message's original topic (its `RETRY_TOPIC` property), so a
//! message sent back for a retry is not redelivered once the group's filter no longer matches it
//! (Apache's `ExpressionForRetryMessageFilter`). Messages whose original topic has no SQL92
//! filter pass. One difference: Apache's current filter returns early for a tag-type retry
//! subscription, which is what clients register for `%RETRY%` (`*`), so there the option only
//! acts on SQL92 retry subscriptions; here it acts on both, which is what the option is for.
//! With `filterSupportRetry=false` (the default) retry topics are not filtered.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::sql92::{compile, Expression, Sql92Error};

/// Prefix of a consumer group's retry topic.
const RETRY_GROUP_TOPIC_PREFIX: &str = "%RETRY%";
use sluice_remoting::body::heartbeat::{SubscriptionData, EXPRESSION_SQL92, EXPRESSION_TAG};
use sluice_remoting::message::property::RETRY_TOPIC;
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

/// The answer to a SQL92 expression that does not compile: SUBSCRIPTION_PARSE_FAILED with the
/// parse error (line, column, what was expected) in the remark.
pub fn parse_failure(expression: &str, err: &Sql92Error) -> FilterRejection {
    FilterRejection {
        code: ResponseCode::SubscriptionParseFailed,
        remark: format!("parse the consumer's subscription [{expression}] failed: {err}"),
    }
}

/// The answer to a non-tag subscription on a broker with `enablePropertyFilter=false`.
pub fn property_filter_disabled(expression_type: &str) -> FilterRejection {
    let kind = if expression_type.eq_ignore_ascii_case(EXPRESSION_SQL92) {
        EXPRESSION_SQL92
    } else {
        expression_type
    };
    FilterRejection {
        code: ResponseCode::SystemError,
        remark: format!("The broker does not support consumer to filter message by {kind}"),
    }
}

/// Whether `sub` is a SQL92 subscription (`expressionType` compared case-insensitively).
pub fn is_sql92(sub: &SubscriptionData) -> bool {
    sub.expression_type.eq_ignore_ascii_case(EXPRESSION_SQL92)
}

/// CHECK_CLIENT_CONFIG's verdict on a subscription (Apache `ClientManageProcessor
/// .checkClientConfig`): tags are always fine; anything else needs `enablePropertyFilter` and an
/// expression that compiles.
pub fn check_subscription(
    sub: &SubscriptionData,
    enable_property_filter: bool,
) -> Result<(), FilterRejection> {
    if sub.is_tag_type() {
        return Ok(());
    }
    if !enable_property_filter {
        return Err(property_filter_disabled(&sub.expression_type));
    }
    if !is_sql92(sub) {
        return Err(unknown_type(&sub.expression_type));
    }
    compile(&sub.sub_string)
        .map(drop)
        .map_err(|e| parse_failure(&sub.sub_string, &e))
}

fn unknown_type(kind: &str) -> FilterRejection {
    FilterRejection {
        code: ResponseCode::SubscriptionParseFailed,
        remark: format!(
            "parse the consumer's subscription failed: unknown expressionType {kind:?} (use TAG or SQL92)"
        ),
    }
}

/// One group's compiled filter for one topic.
#[derive(Debug, Clone)]
struct FilterEntry {
    expression: Box<str>,
    sub_version: i64,
    compiled: Result<Arc<Expression>, Sql92Error>,
}

/// Compiled SQL92 expressions per consumer group and topic (Apache's `ConsumerFilterManager`,
/// without the bloom filters): filled by heartbeats and by pulls that carry their own
/// subscription, read by pulls. An entry is recompiled only when the expression text changes.
#[derive(Debug, Default)]
pub struct ConsumerFilters {
    /// group -> topic -> entry.
    groups: RwLock<HashMap<String, HashMap<String, FilterEntry>>>,
}

impl ConsumerFilters {
    pub fn new() -> Self {
        Self::default()
    }

    /// The compiled `expression` of `group` on `topic`, compiled now if the cache holds another
    /// text. A newer `sub_version` (or the same) replaces the cached entry; an older one is
    /// compiled for this caller only.
    pub fn get_or_compile(
        &self,
        group: &str,
        topic: &str,
        expression: &str,
        sub_version: i64,
    ) -> Result<Arc<Expression>, Sql92Error> {
        {
            let groups = self.groups.read().unwrap_or_else(|e| e.into_inner());
            if let Some(entry) = groups.get(group).and_then(|g| g.get(topic)) {
                if *entry.expression == *expression {
                    return entry.compiled.clone();
                }
            }
        }
        let compiled = compile(expression).map(Arc::new);
        let mut groups = self.groups.write().unwrap_or_else(|e| e.into_inner());
        let topics = groups.entry(group.to_owned()).or_default();
        let replace = topics
            .get(topic)
            .is_none_or(|old| old.sub_version <= sub_version);
        if replace {
            topics.insert(
                topic.to_owned(),
                FilterEntry {
                    expression: expression.into(),
                    sub_version,
                    compiled: compiled.clone(),
                },
            );
        }
        compiled
    }

    /// A heartbeat's subscriptions for `group`: compiles each SQL92 one (answering the ones that
    /// do not compile, for the log) and forgets the group's filters on topics it no longer
    /// subscribes to with SQL92.
    pub fn register_group(
        &self,
        group: &str,
        subscriptions: &[SubscriptionData],
    ) -> Vec<(String, Sql92Error)> {
        let mut failed = Vec::new();
        for sub in subscriptions.iter().filter(|s| is_sql92(s)) {
            if let Err(e) = self.get_or_compile(group, &sub.topic, &sub.sub_string, sub.sub_version)
            {
                failed.push((sub.topic.clone(), e));
            }
        }
        let mut groups = self.groups.write().unwrap_or_else(|e| e.into_inner());
        if let Some(topics) = groups.get_mut(group) {
            topics.retain(|topic, _| {
                subscriptions
                    .iter()
                    .any(|s| s.topic == *topic && is_sql92(s))
            });
            if topics.is_empty() {
                groups.remove(group);
            }
        }
        failed
    }

    /// The compiled filter `group` registered for `topic`, if it compiled.
    pub fn get(&self, group: &str, topic: &str) -> Option<Arc<Expression>> {
        let groups = self.groups.read().unwrap_or_else(|e| e.into_inner());
        groups
            .get(group)
            .and_then(|g| g.get(topic))
            .and_then(|e| e.compiled.as_ref().ok().cloned())
    }

    /// How many (group, topic) filters are cached.
    pub fn len(&self) -> usize {
        let groups = self.groups.read().unwrap_or_else(|e| e.into_inner());
        groups.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A SQL92 filter: every ConsumeQueue unit is a candidate (no bloom filter), the record's
/// properties decide.
#[derive(Debug, Clone)]
pub struct SqlFilter {
    expression: Arc<Expression>,
}

impl SqlFilter {
    pub fn new(expression: Arc<Expression>) -> Self {
        Self { expression }
    }

    /// Whether a stored record passes: its properties make the expression TRUE. A record that
    /// cannot be read is let through, so the client sees (and reports) it.
    pub fn matches_stored(&self, record: &[u8]) -> bool {
        match check_record(record, false) {
            RecordCheck::Message(view) => self
                .expression
                .evaluate_encoded(view.properties_str().as_bytes()),
            _ => true,
        }
    }
}

impl MessageFilter for SqlFilter {
    fn matches_tags_code(&self, _tags_code: i64) -> bool {
        true
    }

    fn matches_record(&self, record: &[u8]) -> bool {
        self.matches_stored(record)
    }
}

/// `filterSupportRetry` on a `%RETRY%<group>` topic: the pull's own tag subscription, then the
/// group's SQL92 filter of each message's original topic (`RETRY_TOPIC`).
#[derive(Debug, Clone)]
pub struct RetryFilter {
    tags: TagFilter,
    group: String,
    filters: Arc<ConsumerFilters>,
}

impl RetryFilter {
    /// The filter for a pull of `topic` when it is a retry topic, else `None`.
    pub fn for_topic(topic: &str, tags: TagFilter, filters: Arc<ConsumerFilters>) -> Option<Self> {
        let group = topic.strip_prefix(RETRY_GROUP_TOPIC_PREFIX)?;
        Some(Self {
            tags,
            group: group.to_owned(),
            filters,
        })
    }
}

impl MessageFilter for RetryFilter {
    fn matches_tags_code(&self, tags_code: i64) -> bool {
        self.tags.matches_tags_code(tags_code)
    }

    fn matches_record(&self, record: &[u8]) -> bool {
        let RecordCheck::Message(view) = check_record(record, false) else {
            return true;
        };
        if !self.tags.matches_tags(view.tags()) {
            return false;
        }
        let Some(real_topic) = view.property(RETRY_TOPIC) else {
            return true;
        };
        match self.filters.get(&self.group, real_topic) {
            Some(expression) => expression.evaluate_encoded(view.properties_str().as_bytes()),
            None => true,
        }
    }
}

/// The filter a pull runs with.
#[derive(Debug, Clone)]
pub enum PullFilter {
    Tag(TagFilter),
    Sql(SqlFilter),
    Retry(RetryFilter),
}

impl MessageFilter for PullFilter {
    fn matches_tags_code(&self, tags_code: i64) -> bool {
        match self {
            PullFilter::Tag(f) => f.matches_tags_code(tags_code),
            PullFilter::Sql(f) => f.matches_tags_code(tags_code),
            PullFilter::Retry(f) => f.matches_tags_code(tags_code),
        }
    }

    fn matches_record(&self, record: &[u8]) -> bool {
        match self {
            PullFilter::Tag(f) => f.matches_record(record),
            PullFilter::Sql(f) => f.matches_record(record),
            PullFilter::Retry(f) => f.matches_record(record),
        }
    }
}

/// Builds the filter for a pull of `topic` by `group` with subscription `sub` (already known to
/// be allowed: tag type, or SQL92 with `enablePropertyFilter`).
pub fn pull_filter(
    group: &str,
    sub: &SubscriptionData,
    filters: &Arc<ConsumerFilters>,
    filter_support_retry: bool,
) -> Result<PullFilter, FilterRejection> {
    if filter_support_retry && sub.topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
        // Apache's retry filter ignores the retry subscription's own expression when it is not
        // a tag one and uses the original topics' filters instead.
        let tags = if sub.is_tag_type() {
            TagFilter::from_subscription(sub)?
        } else {
            TagFilter::accept_all()
        };
        if let Some(f) = RetryFilter::for_topic(&sub.topic, tags, filters.clone()) {
            return Ok(PullFilter::Retry(f));
        }
    }
    if sub.is_tag_type() {
        return TagFilter::from_subscription(sub).map(PullFilter::Tag);
    }
    if !is_sql92(sub) {
        return Err(unknown_type(&sub.expression_type));
    }
    filters
        .get_or_compile(group, &sub.topic, &sub.sub_string, sub.sub_version)
        .map(|e| PullFilter::Sql(SqlFilter::new(e)))
        .map_err(|e| parse_failure(&sub.sub_string, &e))
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

    fn record_with_props(pairs: &[(&str, &str)]) -> Vec<u8> {
        let props: sluice_remoting::message::Properties = pairs.iter().copied().collect();
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

    fn sql(topic: &str, expr: &str, version: i64) -> SubscriptionData {
        build_subscription(topic, Some(expr), Some("SQL92"), version).unwrap()
    }

    #[test]
    fn sql_filter_reads_the_stored_properties() {
        let filters = Arc::new(ConsumerFilters::new());
        let f = pull_filter("G", &sql("T", "a > 5 AND TAGS = 't'", 1), &filters, false).unwrap();
        assert!(
            f.matches_tags_code(0),
            "no bloom filter: every unit is a candidate"
        );
        assert!(f.matches_record(&record_with_props(&[("a", "6"), ("TAGS", "t")])));
        assert!(!f.matches_record(&record_with_props(&[("a", "6"), ("TAGS", "u")])));
        assert!(!f.matches_record(&record_with_props(&[("a", "x"), ("TAGS", "t")])));
        assert!(!f.matches_record(&record_with_props(&[("TAGS", "t")])));
        assert_eq!(filters.len(), 1);
    }

    #[test]
    fn cache_reuses_same_text_and_replaces_on_newer_version() {
        let filters = ConsumerFilters::new();
        let a = filters.get_or_compile("G", "T", "a > 1", 1).unwrap();
        let b = filters.get_or_compile("G", "T", "a > 1", 2).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "same text compiled once");
        filters.get_or_compile("G", "T", "a > 2", 3).unwrap();
        assert_eq!(filters.get("G", "T").unwrap().source(), "a > 2");
        // An older subscription is compiled for its caller but does not replace the newer one.
        filters.get_or_compile("G", "T", "a > 9", 2).unwrap();
        assert_eq!(filters.get("G", "T").unwrap().source(), "a > 2");
        let err = filters.get_or_compile("G", "T2", "a >", 1).unwrap_err();
        assert!(err.to_string().contains("column"), "{err}");
        assert!(filters.get("G", "T2").is_none());
    }

    #[test]
    fn heartbeat_registration_forgets_dropped_topics_and_reports_bad_ones() {
        let filters = ConsumerFilters::new();
        let failed = filters.register_group("G", &[sql("A", "x = 1", 1), sql("B", "x = ", 1)]);
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].0, "B");
        assert!(filters.get("G", "A").is_some());
        filters.register_group("G", &[SubscriptionData::by_tags("A", "*", 2)]);
        assert!(filters.get("G", "A").is_none());
        assert!(filters.is_empty());
    }

    #[test]
    fn check_subscription_follows_check_client_config() {
        let tag = build_subscription("T", Some("a"), None, 1).unwrap();
        assert!(check_subscription(&tag, false).is_ok());
        let err = check_subscription(&sql("T", "a > 1", 1), false).unwrap_err();
        assert_eq!(err.code, ResponseCode::SystemError);
        assert!(check_subscription(&sql("T", "a > 1", 1), true).is_ok());
        let err = check_subscription(&sql("T", "a > 'x'", 1), true).unwrap_err();
        assert_eq!(err.code, ResponseCode::SubscriptionParseFailed);
    }

    #[test]
    fn retry_filter_uses_the_groups_filter_of_the_original_topic() {
        let filters = Arc::new(ConsumerFilters::new());
        filters.register_group("G", &[sql("Real", "a > 5", 1)]);
        let retry = SubscriptionData::by_tags("%RETRY%G", "*", 1);
        let f = pull_filter("G", &retry, &filters, true).unwrap();
        assert!(matches!(f, PullFilter::Retry(_)));
        assert!(f.matches_record(&record_with_props(&[("RETRY_TOPIC", "Real"), ("a", "6")])));
        assert!(!f.matches_record(&record_with_props(&[("RETRY_TOPIC", "Real"), ("a", "1")])));
        assert!(f.matches_record(&record_with_props(&[("RETRY_TOPIC", "Other"), ("a", "1")])));
        assert!(f.matches_record(&record_with_props(&[("a", "1")])));
        let f = pull_filter("G", &retry, &filters, false).unwrap();
        assert!(f.matches_record(&record_with_props(&[("RETRY_TOPIC", "Real"), ("a", "1")])));
    }
}
