//! Building the stored records of a send: size checks, properties (`UNIQ_KEY`, `CLUSTER`),
//! MULTI_TAGS, `%RETRY%` → `%DLQ%` redirection, transactional half messages and DELAY →
//! `SCHEDULE_TOPIC_XXXX`, and the batch body's per-message blobs.

use sluice_remoting::body::{TopicConfig, TopicFilterType};
use sluice_remoting::code::version;
use sluice_remoting::header::SendMessageRequestHeader;
use sluice_remoting::message::batch::decode_batch;
use sluice_remoting::message::{property, sysflag, MessageRecord, Properties, MAX_PROPERTIES_LEN};
use sluice_remoting::net::Channel;
use sluice_remoting::{RemotingCommand, ResponseCode};

use super::{refuse, Refused, SendProcessor, BATCH_TOPIC_MAX_LEN, DLQ_NUMS_PER_GROUP};
use crate::topic_config::{
    dlq_topic, DLQ_GROUP_TOPIC_PREFIX, PERM_READ, PERM_WRITE, RETRY_GROUP_TOPIC_PREFIX,
    SCHEDULE_TOPIC, TRANS_HALF_TOPIC,
};

/// The DELAY property's level (0 when absent or not a number).
fn delay_level(props: &Properties) -> i32 {
    props
        .get(property::DELAY)
        .and_then(|d| d.trim().parse::<i32>().ok())
        .unwrap_or(0)
}

impl SendProcessor {
    fn check_body_size(&self, request: &RemotingCommand, len: usize) -> Result<(), Refused> {
        let max = self.state.store.config.max_message_size;
        if len > max {
            return Err(refuse(
                request,
                ResponseCode::MessageIllegal,
                format!("the message body size {len} bytes exceeds the limit of {max} bytes (maxMessageSize)"),
            ));
        }
        Ok(())
    }

    fn check_properties_len(&self, request: &RemotingCommand, len: usize) -> Result<(), Refused> {
        if len > MAX_PROPERTIES_LEN {
            return Err(refuse(
                request,
                ResponseCode::MessageIllegal,
                format!(
                    "the message properties length {len} bytes exceeds the properties length limit 32KB ({MAX_PROPERTIES_LEN} bytes)"
                ),
            ));
        }
        Ok(())
    }

    /// The record of a single send, and its UNIQ_KEY.
    pub(super) fn build_single(
        &self,
        channel: &Channel,
        request: &RemotingCommand,
        header: &SendMessageRequestHeader,
        topic_cfg: &TopicConfig,
        queue_id: i32,
    ) -> Result<(MessageRecord, String), Refused> {
        let body = request.body.to_bytes();
        self.check_body_size(request, body.len())?;
        let raw_props = header.properties.as_deref().unwrap_or("");
        self.check_properties_len(request, raw_props.len())?;
        let mut props = Properties::decode(raw_props);
        let mut topic = header.topic.clone();
        let mut queue_id = queue_id;
        if topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
            self.redirect_to_dlq(request, header, &mut topic, &mut queue_id, &mut props)?;
        }
        let mut sys_flag = header.sys_flag;
        if topic_cfg.topic_filter_type == TopicFilterType::MultiTag {
            sys_flag |= sysflag::MULTI_TAGS;
        }
        let uniq = self.ensure_uniq_key(&mut props);
        let config = self.state.config();
        props.insert(property::CLUSTER, &config.broker_cluster_name);
        let reconsume_times = header.reconsume_times.unwrap_or(0);
        // Old clients (< 4.6.1) resend retried transactional messages with TRAN_MSG still set.
        let half = props
            .get(property::TRAN_MSG)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
            && !(reconsume_times > 0 && delay_level(&props) > 0);
        if half {
            if config.reject_transaction_message {
                return Err(refuse(
                    request,
                    ResponseCode::NoPermission,
                    format!(
                        "the broker[{}] sending transaction message is forbidden",
                        config.broker_ip1
                    ),
                ));
            }
            // Stored as Apache's transactional service stores a half message: in the half
            // topic's only queue, invisible to consumers until END_TRANSACTION commits it.
            props.insert(property::REAL_TOPIC, topic.as_str());
            props.insert(property::REAL_QID, queue_id.to_string());
            sys_flag = sysflag::reset_transaction(sys_flag, sysflag::TRANSACTION_NOT);
            topic = TRANS_HALF_TOPIC.to_owned();
            queue_id = 0;
        } else if matches!(
            sysflag::transaction_type(sys_flag),
            sysflag::TRANSACTION_NOT | sysflag::TRANSACTION_COMMIT
        ) {
            crate::timer::redirect_if_timed(
                &config,
                crate::topic_config::now_ms(),
                delay_level(&props),
                &mut topic,
                &mut queue_id,
                &mut props,
            )
            .map_err(|e| refuse(request, e.code, e.remark))?;
            self.schedule_if_delayed(&mut topic, &mut queue_id, &mut props);
        }
        let properties = props.encode();
        self.check_properties_len(request, properties.len())?;
        let record = MessageRecord {
            queue_id,
            flag: header.flag,
            sysflag: sys_flag,
            born_timestamp: header.born_timestamp,
            born_host: channel.remote_addr(),
            store_host: self.store_host,
            reconsume_times,
            body,
            topic,
            properties,
            ..Default::default()
        };
        Ok((record, uniq))
    }

    /// The records of a SEND_BATCH_MESSAGE: each blob keeps its own flag, body and properties;
    /// batch-level properties (`WAIT`, ...) fill in what an item lacks, except the UNIQ_KEY.
    pub(super) fn build_batch(
        &self,
        channel: &Channel,
        request: &RemotingCommand,
        header: &SendMessageRequestHeader,
        topic_cfg: &TopicConfig,
        queue_id: i32,
    ) -> Result<(Vec<MessageRecord>, Option<String>), Refused> {
        let topic = &header.topic;
        if topic.len() > BATCH_TOPIC_MAX_LEN {
            return Err(refuse(
                request,
                ResponseCode::MessageIllegal,
                format!("message topic length too long {} (a batch topic has at most {BATCH_TOPIC_MAX_LEN} bytes)", topic.len()),
            ));
        }
        if topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) || topic.starts_with(DLQ_GROUP_TOPIC_PREFIX)
        {
            return Err(refuse(
                request,
                ResponseCode::MessageIllegal,
                "batch request does not support retry group",
            ));
        }
        let body = request.body.to_bytes();
        self.check_body_size(request, body.len())?;
        let items = decode_batch(&body).map_err(|e| {
            refuse(
                request,
                ResponseCode::MessageIllegal,
                format!("malformed batch body: {e}"),
            )
        })?;
        if items.is_empty() {
            return Err(refuse(
                request,
                ResponseCode::MessageIllegal,
                "the batch holds no message",
            ));
        }
        let batch_props = Properties::decode(header.properties.as_deref().unwrap_or(""));
        let batch_uniq = batch_props.get(property::UNIQ_KEY).map(str::to_owned);
        let mut sys_flag = header.sys_flag;
        if topic_cfg.topic_filter_type == TopicFilterType::MultiTag {
            sys_flag |= sysflag::MULTI_TAGS;
        }
        let cluster = self.state.config().broker_cluster_name.clone();
        let mut records = Vec::with_capacity(items.len());
        for item in items {
            let mut props = Properties::decode(&item.properties);
            for (name, value) in batch_props.iter() {
                if name != property::UNIQ_KEY && !props.contains(name) {
                    props.insert(name, value);
                }
            }
            if delay_level(&props) > 0 {
                return Err(refuse(
                    request,
                    ResponseCode::MessageIllegal,
                    "batch messages cannot be delayed (DELAY property set)",
                ));
            }
            if crate::timer::is_timer_message(&props, &self.state.config()) {
                return Err(refuse(
                    request,
                    ResponseCode::MessageIllegal,
                    "batch messages cannot be timed (TIMER_DELIVER_MS, TIMER_DELAY_SEC, TIMER_DELAY_MS or __STARTDELIVERTIME set)",
                ));
            }
            self.ensure_uniq_key(&mut props);
            props.insert(property::CLUSTER, &cluster);
            let properties = props.encode();
            self.check_properties_len(request, properties.len())?;
            records.push(MessageRecord {
                queue_id,
                flag: item.flag,
                sysflag: sys_flag,
                born_timestamp: header.born_timestamp,
                born_host: channel.remote_addr(),
                store_host: self.store_host,
                reconsume_times: header.reconsume_times.unwrap_or(0),
                body: item.body,
                topic: topic.clone(),
                properties,
                ..Default::default()
            });
        }
        Ok((records, batch_uniq))
    }

    /// The message's UNIQ_KEY, generated (with the broker's IP) when the producer sent none.
    fn ensure_uniq_key(&self, props: &mut Properties) -> String {
        match props.get(property::UNIQ_KEY) {
            Some(k) if !k.is_empty() => k.to_owned(),
            _ => {
                let id = self.uniq_ids.next();
                props.insert(property::UNIQ_KEY, &id);
                id
            }
        }
    }

    /// A send to `%RETRY%group` whose reconsume count reached the group's maximum goes to
    /// `%DLQ%group` (one queue) instead (Apache `handleRetryAndDLQ`).
    fn redirect_to_dlq(
        &self,
        request: &RemotingCommand,
        header: &SendMessageRequestHeader,
        topic: &mut String,
        queue_id: &mut i32,
        props: &mut Properties,
    ) -> Result<(), Refused> {
        let group = &topic[RETRY_GROUP_TOPIC_PREFIX.len()..];
        let Some(group_cfg) = self.state.subscription_groups.find_or_create(group) else {
            return Err(refuse(
                request,
                ResponseCode::SubscriptionGroupNotExist,
                format!("subscription group not exist, {group}"),
            ));
        };
        let mut max_reconsume = group_cfg.retry_max_times;
        if request.version >= version::V3_4_9 {
            if let Some(m) = header.max_reconsume_times {
                max_reconsume = m;
            }
        }
        let reconsume = header.reconsume_times.unwrap_or(0);
        if reconsume < max_reconsume {
            return Ok(());
        }
        let dlq = dlq_topic(group);
        self.state
            .topics
            .create_topic_in_send_message_back_method(
                &dlq,
                DLQ_NUMS_PER_GROUP,
                PERM_WRITE | PERM_READ,
                0,
            )
            .map_err(|e| {
                refuse(
                    request,
                    ResponseCode::SystemError,
                    format!("topic[{dlq}] not exist: {e}"),
                )
            })?;
        tracing::info!(
            group,
            reconsume,
            max_reconsume,
            "retry message sent to the DLQ"
        );
        let origin_topic = props.get(property::RETRY_TOPIC).unwrap_or(topic.as_str());
        self.state.metrics.record_send_to_dlq(group, origin_topic);
        props.insert(property::DELAY, "0");
        *topic = dlq;
        *queue_id = 0;
        Ok(())
    }

    /// DELAY level > 0: store in `SCHEDULE_TOPIC_XXXX`, queue level−1 (level clamped to the
    /// configured levels), remembering the real topic and queue in REAL_TOPIC / REAL_QID.
    pub(crate) fn schedule_if_delayed(
        &self,
        topic: &mut String,
        queue_id: &mut i32,
        props: &mut Properties,
    ) {
        let level = delay_level(props);
        if level <= 0 {
            return;
        }
        let max_level = self
            .state
            .store
            .config
            .message_delay_level
            .split_whitespace()
            .count()
            .max(1) as i32;
        let level = level.min(max_level);
        if level.to_string() != props.get(property::DELAY).unwrap_or("") {
            props.insert(property::DELAY, level.to_string());
        }
        props.insert(property::REAL_TOPIC, topic.as_str());
        props.insert(property::REAL_QID, queue_id.to_string());
        *topic = SCHEDULE_TOPIC.to_owned();
        *queue_id = level - 1;
    }
}
