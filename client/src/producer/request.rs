//! Building a send request from a prepared message and reading the broker's answer.

use bytes::Bytes;
use sluice_remoting::body::MessageQueue;
use sluice_remoting::header::{SendMessageRequestHeader, SendMessageRequestHeaderV2};
use sluice_remoting::message::batch::{encode_batch, validate_batch, BatchItem};
use sluice_remoting::message::compression::{compress_zlib, ZLIB_SYSFLAG};
use sluice_remoting::message::msgid::UniqIdGenerator;
use sluice_remoting::message::property;
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};

use crate::error::{request_code_name, ClientError, Result};
use crate::instance::AUTO_CREATE_TOPIC;
use crate::message::{Message, SendResult, SendStatus};

/// Prefix of the retry topic of a consumer group.
pub const RETRY_GROUP_TOPIC_PREFIX: &str = "%RETRY%";

/// Producer settings that shape a request.
#[derive(Clone, Debug)]
pub struct SendOptions {
    /// Bodies of at least this many bytes are zlib-compressed (`compressMsgBodyOverHowmuch`).
    pub compress_over: usize,
    pub compress_level: u32,
    /// Queues a topic created on first send gets (`defaultTopicQueueNums`).
    pub default_topic_queue_nums: i32,
    pub max_message_size: usize,
}

impl Default for SendOptions {
    fn default() -> Self {
        Self {
            compress_over: sluice_remoting::message::compression::DEFAULT_COMPRESS_OVER,
            compress_level: sluice_remoting::message::compression::DEFAULT_COMPRESS_LEVEL,
            default_topic_queue_nums: 4,
            max_message_size: crate::message::DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}

/// A message (or batch) ready to go out: ids assigned, body compressed or batch-encoded,
/// properties encoded once for every attempt.
#[derive(Clone, Debug)]
pub struct PreparedSend {
    pub topic: String,
    pub body: Bytes,
    pub sys_flag: i32,
    pub flag: i32,
    pub properties: String,
    /// UNIQ_KEY (comma-joined for a batch).
    pub msg_id: String,
    pub code: RequestCode,
    pub reconsume_times: Option<i32>,
    pub max_reconsume_times: Option<i32>,
}

impl PreparedSend {
    /// Validates `msg`, gives it a UNIQ_KEY unless it has one and compresses a large body.
    pub fn single(mut msg: Message, ids: &UniqIdGenerator, options: &SendOptions) -> Result<Self> {
        msg.validate(options.max_message_size)?;
        if msg.uniq_key().is_none() {
            msg.properties.insert(property::UNIQ_KEY, ids.next());
        }
        let mut sys_flag = 0;
        let mut body = msg.body;
        if body.len() >= options.compress_over {
            let packed = compress_zlib(&body, options.compress_level);
            // Incompressible bodies go as they are, like the Java producer would not gain.
            if packed.len() < body.len() {
                body = packed;
                sys_flag |= ZLIB_SYSFLAG;
            }
        }
        let (reconsume_times, max_reconsume_times) =
            if msg.topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
                let read = |name| msg.properties.get(name).and_then(|v| v.parse().ok());
                (
                    read(property::RECONSUME_TIME),
                    read(property::MAX_RECONSUME_TIMES),
                )
            } else {
                (None, None)
            };
        Ok(Self {
            msg_id: msg
                .properties
                .get(property::UNIQ_KEY)
                .unwrap_or_default()
                .to_string(),
            properties: msg.properties.encode(),
            topic: msg.topic,
            body,
            sys_flag,
            flag: msg.flag,
            code: RequestCode::SendMessageV2,
            reconsume_times,
            max_reconsume_times,
        })
    }

    /// A SEND_BATCH_MESSAGE of `msgs`: one topic, no delay, no retry topic; each message gets
    /// its own UNIQ_KEY; the body is never compressed (as in Java).
    pub fn batch(msgs: Vec<Message>, ids: &UniqIdGenerator, options: &SendOptions) -> Result<Self> {
        let Some(first) = msgs.first() else {
            return Err(ClientError::InvalidMessage("empty batch".into()));
        };
        let topic = first.topic.clone();
        let wait = first.property(property::WAIT).map(str::to_string);
        let mut items = Vec::with_capacity(msgs.len());
        let mut msg_ids = Vec::with_capacity(msgs.len());
        for (i, mut msg) in msgs.into_iter().enumerate() {
            if msg.topic != topic {
                return Err(ClientError::InvalidMessage(format!(
                    "batch message {i} goes to {} but the batch goes to {topic}: a batch has one topic",
                    msg.topic
                )));
            }
            if msg.delay_level() > 0 {
                return Err(ClientError::InvalidMessage(format!(
                    "batch message {i} has a delay level; delayed messages cannot be batched"
                )));
            }
            if topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
                return Err(ClientError::InvalidMessage(
                    "retry-topic messages cannot be batched".into(),
                ));
            }
            msg.validate(options.max_message_size)?;
            if msg.uniq_key().is_none() {
                msg.properties.insert(property::UNIQ_KEY, ids.next());
            }
            msg_ids.push(msg.uniq_key().unwrap_or_default().to_string());
            items.push(BatchItem {
                flag: msg.flag,
                body: msg.body,
                properties: msg.properties.encode(),
            });
        }
        validate_batch(&items).map_err(|e| ClientError::InvalidMessage(e.to_string()))?;
        let body = encode_batch(&items);
        if body.len() > options.max_message_size {
            return Err(ClientError::InvalidMessage(format!(
                "batch of {} bytes exceeds the limit of {} bytes; split it",
                body.len(),
                options.max_message_size
            )));
        }
        let mut properties = String::new();
        property::push_pair(&mut properties, property::UNIQ_KEY, &ids.next());
        if let Some(wait) = wait {
            property::push_pair(&mut properties, property::WAIT, &wait);
        }
        Ok(Self {
            topic,
            body,
            sys_flag: 0,
            flag: 0,
            properties,
            msg_id: msg_ids.join(","),
            code: RequestCode::SendBatchMessage,
            reconsume_times: None,
            max_reconsume_times: None,
        })
    }

    /// The request for `queue`: V2 header keys, template topic TBW102 for auto-creation.
    pub fn request(
        &self,
        group: &str,
        queue: &MessageQueue,
        options: &SendOptions,
    ) -> RemotingCommand {
        let mut v1 = SendMessageRequestHeader {
            producer_group: group.to_string(),
            topic: self.topic.clone(),
            default_topic: AUTO_CREATE_TOPIC.to_string(),
            default_topic_queue_nums: options.default_topic_queue_nums,
            queue_id: queue.queue_id,
            sys_flag: self.sys_flag,
            born_timestamp: now_ms(),
            flag: self.flag,
            properties: Some(self.properties.clone()),
            reconsume_times: self.reconsume_times.or(Some(0)),
            unit_mode: Some(false),
            batch: Some(self.code == RequestCode::SendBatchMessage),
            max_reconsume_times: self.max_reconsume_times,
            ..Default::default()
        };
        v1.rpc.broker_name = Some(queue.broker_name.clone());
        let header = SendMessageRequestHeaderV2::from(v1);
        RemotingCommand::request(self.code)
            .with_header(&header)
            .with_body(self.body.clone())
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Reads a send response: the four "stored" codes become a [`SendResult`], anything else a
/// [`ClientError::Broker`].
pub fn parse_send_response(
    addr: &str,
    request_code: RequestCode,
    response: &RemotingCommand,
    queue: &MessageQueue,
    msg_id: &str,
) -> Result<SendResult> {
    let Some(status) = SendStatus::from_code(response.code) else {
        return Err(ClientError::from_response(
            addr,
            request_code.as_i32(),
            response,
        ));
    };
    let bad = |reason: String| ClientError::Protocol {
        addr: addr.to_string(),
        request: request_code_name(request_code.as_i32()),
        reason,
    };
    let required = |key: &str| {
        response
            .ext(key)
            .ok_or_else(|| bad(format!("header field `{key}` is missing")))
    };
    let number = |key: &str| -> Result<i64> {
        let raw = required(key)?;
        raw.parse()
            .map_err(|_| bad(format!("header field `{key}` is not a number: {raw:?}")))
    };
    let queue_id = number("queueId")?;
    let queue_id =
        i32::try_from(queue_id).map_err(|_| bad(format!("queueId {queue_id} out of range")))?;
    Ok(SendResult {
        status,
        msg_id: msg_id.to_string(),
        offset_msg_id: required("msgId")?.to_string(),
        queue: MessageQueue::new(&queue.topic, &queue.broker_name, queue_id),
        queue_offset: number("queueOffset")?,
        region_id: response
            .ext(property::MSG_REGION)
            .unwrap_or("DefaultRegion")
            .to_string(),
        transaction_id: response.ext("transactionId").map(str::to_string),
        trace_on: response.ext(property::TRACE_ON) == Some("true"),
    })
}

/// Send response codes after which the Java producer tries another broker
/// (`DefaultMQProducer.retryResponseCodes`).
pub fn is_retryable_code(code: i32) -> bool {
    use ResponseCode::*;
    matches!(
        ResponseCode::from_i32(code),
        Some(
            TopicNotExist
                | ServiceNotAvailable
                | SystemError
                | SystemBusy
                | NoPermission
                | NoBuyerId
                | NotInCurrentUnit
                | GoAway
        )
    )
}

/// Whether a failed attempt may be retried on another broker.
pub fn is_retryable(error: &ClientError) -> bool {
    match error {
        ClientError::Remoting(_) | ClientError::BrokerNotFound { .. } => true,
        ClientError::Broker { code, .. } => is_retryable_code(*code),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_remoting::header::CommandHeader;
    use sluice_remoting::message::batch::decode_batch;
    use sluice_remoting::message::compression::decompress;

    fn ids() -> UniqIdGenerator {
        UniqIdGenerator::new("10.0.0.1".parse().unwrap())
    }

    #[test]
    fn single_message_request_has_v2_keys_and_uniq_key() {
        let options = SendOptions::default();
        let prepared = PreparedSend::single(
            Message::new("T", "hello").with_tags("A").with_keys(["k"]),
            &ids(),
            &options,
        )
        .unwrap();
        assert_eq!(prepared.msg_id.len(), 32);
        let queue = MessageQueue::new("T", "broker-a", 3);
        let request = prepared.request("G", &queue, &options);
        assert_eq!(request.code, 310);
        let h = SendMessageRequestHeaderV2::read_from(&request.ext_fields).unwrap();
        assert_eq!(
            (h.a.as_str(), h.b.as_str(), h.c.as_str()),
            ("G", "T", "TBW102")
        );
        assert_eq!((h.d, h.e, h.f, h.h), (4, 3, 0, 0));
        assert_eq!(h.n.as_deref(), Some("broker-a"));
        assert_eq!(h.m, Some(false));
        let props = sluice_remoting::message::Properties::decode(h.i.as_deref().unwrap());
        assert_eq!(props.get("TAGS"), Some("A"));
        assert_eq!(props.get("KEYS"), Some("k"));
        assert_eq!(props.get("UNIQ_KEY"), Some(prepared.msg_id.as_str()));
        assert_eq!(request.body.to_bytes(), Bytes::from_static(b"hello"));
    }

    #[test]
    fn large_bodies_are_compressed_with_the_zlib_sysflag() {
        let options = SendOptions::default();
        let body = Bytes::from(vec![b'a'; 5000]);
        let prepared =
            PreparedSend::single(Message::new("T", body.clone()), &ids(), &options).unwrap();
        assert_eq!(prepared.sys_flag, 0x301);
        assert!(prepared.body.len() < body.len());
        assert_eq!(decompress(prepared.sys_flag, &prepared.body).unwrap(), body);
        let small =
            PreparedSend::single(Message::new("T", vec![b'a'; 4095]), &ids(), &options).unwrap();
        assert_eq!(small.sys_flag, 0);
    }

    #[test]
    fn batch_body_holds_each_message_with_its_own_uniq_key() {
        let options = SendOptions::default();
        let msgs = vec![
            Message::new("T", "one").with_tags("A"),
            Message::new("T", "two"),
        ];
        let prepared = PreparedSend::batch(msgs, &ids(), &options).unwrap();
        assert_eq!(prepared.code, RequestCode::SendBatchMessage);
        let items = decode_batch(&prepared.body).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(&items[1].body[..], b"two");
        let keys: Vec<String> = items
            .iter()
            .map(|i| {
                sluice_remoting::message::Properties::decode(&i.properties)
                    .get("UNIQ_KEY")
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(prepared.msg_id, keys.join(","));
        let request = prepared.request("G", &MessageQueue::new("T", "b", 0), &options);
        assert_eq!(request.code, 320);
        assert_eq!(request.ext("m"), Some("true"));
        let mixed = vec![Message::new("T", "a"), Message::new("U", "b")];
        assert!(PreparedSend::batch(mixed, &ids(), &options).is_err());
        let delayed = vec![Message::new("T", "a").with_delay_level(2)];
        assert!(PreparedSend::batch(delayed, &ids(), &options).is_err());
        assert!(PreparedSend::batch(vec![], &ids(), &options).is_err());
    }

    #[test]
    fn responses_map_to_results_or_errors() {
        let request = RemotingCommand::request(310);
        let queue = MessageQueue::new("T", "b", 0);
        let ok = RemotingCommand::response_to(&request, ResponseCode::FlushDiskTimeout)
            .with_ext("msgId", "0A00000100002A9F0000000000000000")
            .with_ext("queueId", "2")
            .with_ext("queueOffset", "77")
            .with_ext("MSG_REGION", "R1")
            .with_ext("TRACE_ON", "true");
        let result =
            parse_send_response("a:1", RequestCode::SendMessageV2, &ok, &queue, "U").unwrap();
        assert_eq!(result.status, SendStatus::FlushDiskTimeout);
        assert_eq!(result.queue, MessageQueue::new("T", "b", 2));
        assert_eq!((result.queue_offset, result.region_id.as_str()), (77, "R1"));
        assert!(result.trace_on);
        let missing = RemotingCommand::response_to(&request, 0).with_ext("queueId", "x");
        let err = parse_send_response("a:1", RequestCode::SendMessageV2, &missing, &queue, "U")
            .unwrap_err()
            .to_string();
        assert!(err.contains("queueId"), "{err}");
        let failed = RemotingCommand::response_to(&request, ResponseCode::MessageIllegal);
        let err = parse_send_response("a:1", RequestCode::SendMessageV2, &failed, &queue, "U")
            .unwrap_err();
        assert!(!is_retryable(&err));
        assert!(is_retryable_code(ResponseCode::SystemBusy.as_i32()));
    }
}
