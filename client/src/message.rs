//! [`Message`] (what a producer sends) and [`SendResult`] (what the broker answered).

use bytes::Bytes;
use sluice_remoting::body::MessageQueue;
use sluice_remoting::message::property::{self, Properties};

use crate::error::{ClientError, Result};

/// Longest topic name a producer may use (`TopicValidator.TOPIC_MAX_LENGTH`).
pub const TOPIC_MAX_LEN: usize = 127;
/// Default largest body (`DefaultMQProducer.maxMessageSize`, 4 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;
/// Highest delay level of the default broker table (`1s 5s 10s 30s 1m ... 2h`).
pub const MAX_DELAY_LEVEL: i32 = 18;

/// A message to send: topic, body, user flag and properties (tags, keys, delay, user
/// properties). Built with the `with_*` methods:
///
/// ```
/// use sluice_client::Message;
/// let msg = Message::new("OrderTopic", "hello")
///     .with_tags("TagA")
///     .with_keys(["order-1"])
///     .with_property("region", "eu");
/// assert_eq!(msg.tags(), Some("TagA"));
/// ```
#[derive(Clone, Debug)]
pub struct Message {
    pub topic: String,
    pub body: Bytes,
    /// The user flag, stored with the message and returned to consumers untouched.
    pub flag: i32,
    pub properties: Properties,
}

impl Message {
    pub fn new(topic: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Self {
            topic: topic.into(),
            body: body.into(),
            flag: 0,
            properties: Properties::new(),
        }
    }

    /// The tag consumers filter on (one tag per message).
    pub fn with_tags(mut self, tags: impl AsRef<str>) -> Self {
        self.properties.insert(property::TAGS, tags);
        self
    }

    /// Business keys, indexed by the broker for `queryMsgByKey` (joined with spaces).
    pub fn with_keys<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined = keys
            .into_iter()
            .map(|k| k.as_ref().to_string())
            .filter(|k| !k.is_empty())
            .collect::<Vec<_>>()
            .join(property::KEY_SEPARATOR);
        if !joined.is_empty() {
            self.properties.insert(property::KEYS, joined);
        }
        self
    }

    /// Delivers the message after the broker's delay level `level` (1..=18; 0 = no delay).
    pub fn with_delay_level(mut self, level: i32) -> Self {
        if level > 0 {
            self.properties.insert(property::DELAY, level.to_string());
        } else {
            self.properties.remove(property::DELAY);
        }
        self
    }

    /// Delivers the message at `deliver_time_ms` (ms since 1970) through the broker's timer
    /// (`TIMER_DELIVER_MS`, RocketMQ 5.x `setDeliverTimeMs`). A time already past is delivered at
    /// once; one beyond the broker's `timerMaxDelaySec` is refused.
    pub fn with_deliver_time_ms(mut self, deliver_time_ms: i64) -> Self {
        self.properties
            .insert(property::TIMER_DELIVER_MS, deliver_time_ms.to_string());
        self
    }

    /// Delivers the message `delay` after the broker receives it (`TIMER_DELAY_MS`, RocketMQ
    /// 5.x `setDelayTimeMs`), at millisecond precision.
    pub fn with_delay_time(mut self, delay: std::time::Duration) -> Self {
        let ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        self.properties
            .insert(property::TIMER_DELAY_MS, ms.to_string());
        self
    }

    /// The delivery time asked with [`with_deliver_time_ms`](Self::with_deliver_time_ms).
    pub fn deliver_time_ms(&self) -> Option<i64> {
        self.properties
            .get(property::TIMER_DELIVER_MS)
            .and_then(|v| v.parse().ok())
    }

    /// Whether the broker should wait for the store to be durable before answering (default
    /// true; `WAIT` property).
    pub fn with_wait_store_msg_ok(mut self, wait: bool) -> Self {
        if wait {
            self.properties.remove(property::WAIT);
        } else {
            self.properties.insert(property::WAIT, "false");
        }
        self
    }

    /// A user property (checked at send time: no empty name, no separator characters).
    pub fn with_property(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.properties.insert(name, value);
        self
    }

    pub fn with_flag(mut self, flag: i32) -> Self {
        self.flag = flag;
        self
    }

    pub fn tags(&self) -> Option<&str> {
        self.properties.get(property::TAGS)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.properties.keys()
    }

    pub fn delay_level(&self) -> i32 {
        self.properties
            .get(property::DELAY)
            .and_then(|d| d.parse().ok())
            .unwrap_or(0)
    }

    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name)
    }

    /// The message's UNIQ_KEY (set by the producer when sending).
    pub fn uniq_key(&self) -> Option<&str> {
        self.properties.get(property::UNIQ_KEY)
    }

    /// Checks what the broker would refuse anyway, with a clearer message: topic name and
    /// length, empty or oversized body, properties that would break the properties string.
    pub fn validate(&self, max_body: usize) -> Result<()> {
        validate_topic(&self.topic)?;
        if self.body.is_empty() {
            return Err(ClientError::InvalidMessage(format!(
                "message to {} has an empty body",
                self.topic
            )));
        }
        if self.body.len() > max_body {
            return Err(ClientError::InvalidMessage(format!(
                "message body of {} bytes exceeds the limit of {max_body} bytes",
                self.body.len()
            )));
        }
        for (name, value) in self.properties.iter() {
            let bad_char = |s: &str| {
                s.contains(property::NAME_VALUE_SEPARATOR)
                    || s.contains(property::PROPERTY_SEPARATOR)
            };
            if name.is_empty() || bad_char(name) || bad_char(value) {
                return Err(ClientError::InvalidMessage(format!(
                    "property {name:?} has an empty name or contains the separator characters \\u0001/\\u0002"
                )));
            }
        }
        let properties_len = self.properties.encoded_len();
        if properties_len > sluice_remoting::message::MAX_PROPERTIES_LEN {
            return Err(ClientError::InvalidMessage(format!(
                "properties of {properties_len} bytes exceed the limit of {} bytes",
                sluice_remoting::message::MAX_PROPERTIES_LEN
            )));
        }
        let level = self.delay_level();
        if !(0..=MAX_DELAY_LEVEL).contains(&level) {
            return Err(ClientError::InvalidMessage(format!(
                "delay level {level} is outside 0..={MAX_DELAY_LEVEL}"
            )));
        }
        Ok(())
    }
}

/// Checks a topic name as `TopicValidator` does: 1..=127 characters of `[%|a-zA-Z0-9_-]`.
pub fn validate_topic(topic: &str) -> Result<()> {
    if topic.is_empty() {
        return Err(ClientError::InvalidMessage("empty topic name".into()));
    }
    if topic.len() > TOPIC_MAX_LEN {
        return Err(ClientError::InvalidMessage(format!(
            "topic name of {} characters exceeds {TOPIC_MAX_LEN}",
            topic.len()
        )));
    }
    if let Some(c) = topic
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '%' | '|' | '_' | '-')))
    {
        return Err(ClientError::InvalidMessage(format!(
            "topic {topic:?} contains {c:?}; allowed are letters, digits, %, |, _ and -"
        )));
    }
    Ok(())
}

/// The outcome of a stored message. The three non-OK values mean the message *is* stored on the
/// master but the durability goal (disk flush, slave copy) was not met in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SendStatus {
    SendOk,
    FlushDiskTimeout,
    FlushSlaveTimeout,
    SlaveNotAvailable,
}

impl SendStatus {
    /// The status of a send response code, `None` for codes that mean "not stored".
    pub fn from_code(code: i32) -> Option<Self> {
        match code {
            0 => Some(Self::SendOk),
            10 => Some(Self::FlushDiskTimeout),
            12 => Some(Self::FlushSlaveTimeout),
            11 => Some(Self::SlaveNotAvailable),
            _ => None,
        }
    }

    /// The Java name (`SEND_OK`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::SendOk => "SEND_OK",
            Self::FlushDiskTimeout => "FLUSH_DISK_TIMEOUT",
            Self::FlushSlaveTimeout => "FLUSH_SLAVE_TIMEOUT",
            Self::SlaveNotAvailable => "SLAVE_NOT_AVAILABLE",
        }
    }
}

impl std::fmt::Display for SendStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a successful send returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendResult {
    pub status: SendStatus,
    /// The client-generated UNIQ_KEY (comma-joined for a batch): the id users see.
    pub msg_id: String,
    /// The broker's offset msgId (store host + commit-log offset; comma-joined for a batch).
    pub offset_msg_id: String,
    /// The queue the message went to.
    pub queue: MessageQueue,
    /// Its consume-queue offset (of the first message for a batch).
    pub queue_offset: i64,
    /// The broker's region (`MSG_REGION`, `DefaultRegion` unless configured).
    pub region_id: String,
    /// The broker's `transactionId` field (the UNIQ_KEY), when present.
    pub transaction_id: Option<String>,
    /// The broker's trace switch (`TRACE_ON`).
    pub trace_on: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_sets_the_java_properties() {
        let msg = Message::new("T", "b")
            .with_tags("TagA")
            .with_keys(["k1", "", "k2"])
            .with_delay_level(3)
            .with_wait_store_msg_ok(false)
            .with_property("p", "v");
        assert_eq!(msg.property("TAGS"), Some("TagA"));
        assert_eq!(msg.property("KEYS"), Some("k1 k2"));
        assert_eq!(msg.property("DELAY"), Some("3"));
        assert_eq!(msg.property("WAIT"), Some("false"));
        assert_eq!(msg.keys().collect::<Vec<_>>(), ["k1", "k2"]);
        assert_eq!(msg.delay_level(), 3);
        assert!(msg.validate(100).is_ok());
        let msg = msg.with_delay_level(0).with_wait_store_msg_ok(true);
        assert_eq!(msg.property("DELAY"), None);
        assert_eq!(msg.property("WAIT"), None);
    }

    #[test]
    fn validation_says_what_is_wrong() {
        let err = |m: Message| m.validate(10).unwrap_err().to_string();
        assert!(err(Message::new("T", "")).contains("empty body"));
        assert!(err(Message::new("T", "0123456789a")).contains("11 bytes"));
        assert!(err(Message::new("bad topic", "x")).contains("' '"));
        assert!(err(Message::new("x".repeat(128), "x")).contains("128"));
        assert!(err(Message::new("T", "x").with_property("a\u{1}", "v")).contains("separator"));
        assert!(err(Message::new("T", "x").with_delay_level(19)).contains("delay level 19"));
        let huge = Message::new("T", "x").with_property("big", "v".repeat(40_000));
        assert!(err(huge).contains("properties of"));
        assert!(Message::new("%RETRY%g|x_y-1", "x").validate(10).is_ok());
    }

    #[test]
    fn status_keeps_the_stored_but_not_durable_cases() {
        assert_eq!(SendStatus::from_code(0), Some(SendStatus::SendOk));
        assert_eq!(
            SendStatus::from_code(10),
            Some(SendStatus::FlushDiskTimeout)
        );
        assert_eq!(
            SendStatus::from_code(11),
            Some(SendStatus::SlaveNotAvailable)
        );
        assert_eq!(
            SendStatus::from_code(12),
            Some(SendStatus::FlushSlaveTimeout)
        );
        assert_eq!(SendStatus::from_code(14), None);
        assert_eq!(
            SendStatus::FlushDiskTimeout.to_string(),
            "FLUSH_DISK_TIMEOUT"
        );
    }
}
