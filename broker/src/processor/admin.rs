//! The admin codes `mqadmin` sends to a broker (Apache `AdminBrokerProcessor`): topics,
//! subscription groups, broker config, connections, statistics and offset resets.
//!
//! Statistics bodies are in [`stats`], offset resets in [`reset_offset`], requests forwarded to a
//! consumer in [`call_consumer`]. Admin codes Apache serves that are not listed here fall through
//! to the transport's REQUEST_CODE_NOT_SUPPORTED.

mod call_consumer;
mod reset_offset;
mod stats;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use sluice_remoting::body::{
    DataVersion, GroupList, JsonBody, Properties, SubscriptionGroupConfig, TopicConfig,
    TopicFilterType, TopicList,
};
use sluice_remoting::header::{
    CreateTopicRequestHeader, DeleteSubscriptionGroupRequestHeader, DeleteTopicRequestHeader,
    GetBrokerConfigResponseHeader, GetConsumerConnectionListRequestHeader,
    GetProducerConnectionListRequestHeader, QueryTopicConsumeByWhoRequestHeader,
    QueryTopicsByConsumerRequestHeader,
};
use sluice_remoting::net::Channel;
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};

use super::Processors;
use crate::state::BrokerState;
use crate::topic_config::{is_system_topic, now_ms, validate_topic_name};

pub use stats::RuntimeSampler;

/// Keys UPDATE_BROKER_CONFIG may never change (Apache `configBlackList` default).
const CONFIG_BLACK_LIST: &[&str] = &["configBlackList", "brokerConfigPath"];

/// The codes this module answers.
const CODES: &[RequestCode] = &[
    RequestCode::UpdateAndCreateTopic,
    RequestCode::DeleteTopicInBroker,
    RequestCode::GetAllTopicConfig,
    RequestCode::UpdateAndCreateSubscriptiongroup,
    RequestCode::GetAllSubscriptiongroupConfig,
    RequestCode::DeleteSubscriptiongroup,
    RequestCode::GetBrokerRuntimeInfo,
    RequestCode::GetTopicStatsInfo,
    RequestCode::GetConsumeStats,
    RequestCode::GetConsumerConnectionList,
    RequestCode::GetProducerConnectionList,
    RequestCode::GetBrokerConfig,
    RequestCode::UpdateBrokerConfig,
    RequestCode::InvokeBrokerToResetOffset,
    RequestCode::QueryTopicConsumeByWho,
    RequestCode::QueryTopicsByConsumer,
    RequestCode::GetConsumerRunningInfo,
    RequestCode::ConsumeMessageDirectly,
    RequestCode::GetTopicConfig,
    RequestCode::GetSubscriptiongroupConfig,
];

pub fn register(table: &mut Processors, state: Arc<BrokerState>) {
    let admin = Arc::new(AdminProcessor {
        runtime: RuntimeSampler::new(),
        config_version: Mutex::new(DataVersion::new(now_ms())),
        state,
    });
    for &code in CODES {
        let a = admin.clone();
        table.register(
            code,
            Arc::new(move |channel: Channel, request: RemotingCommand| {
                let a = a.clone();
                async move { Some(a.process(&channel, request).await) }
            }),
        );
    }
}

pub(crate) struct AdminProcessor {
    pub(crate) state: Arc<BrokerState>,
    /// Version of the broker's configuration (GET_BROKER_CONFIG's `version` header), bumped by
    /// every accepted UPDATE_BROKER_CONFIG.
    config_version: Mutex<DataVersion>,
    pub(crate) runtime: Arc<RuntimeSampler>,
}

/// A request whose header or body cannot be read (Java: `RemotingCommandException`).
pub(crate) fn bad_request(
    request: &RemotingCommand,
    what: impl std::fmt::Display,
) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::SystemError).with_remark(what.to_string())
}

pub(crate) fn answer(
    request: &RemotingCommand,
    code: ResponseCode,
    remark: impl Into<String>,
) -> RemotingCommand {
    RemotingCommand::response_to(request, code).with_remark(remark)
}

fn success(request: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::Success)
}

macro_rules! header_or_answer {
    ($request:expr, $ty:ty) => {
        match $request.decode_header::<$ty>() {
            Ok(h) => h,
            Err(e) => return bad_request($request, e),
        }
    };
}

impl AdminProcessor {
    async fn process(&self, channel: &Channel, request: RemotingCommand) -> RemotingCommand {
        let request = &request;
        let Some(code) = RequestCode::from_i32(request.code) else {
            return answer(
                request,
                ResponseCode::RequestCodeNotSupported,
                format!(" request type {} not supported", request.code),
            );
        };
        tracing::debug!(%code, addr = %channel.remote_addr(), "admin request");
        match code {
            RequestCode::UpdateAndCreateTopic => self.update_and_create_topic(request),
            RequestCode::DeleteTopicInBroker => self.delete_topic(request),
            RequestCode::GetAllTopicConfig => self.all_topic_config(request),
            RequestCode::UpdateAndCreateSubscriptiongroup => {
                self.update_subscription_group(request)
            }
            RequestCode::GetAllSubscriptiongroupConfig => self.all_subscription_groups(request),
            RequestCode::DeleteSubscriptiongroup => self.delete_subscription_group(request),
            RequestCode::GetBrokerRuntimeInfo => self.runtime_info(request),
            RequestCode::GetTopicStatsInfo => self.topic_stats(request),
            RequestCode::GetConsumeStats => self.consume_stats(request),
            RequestCode::GetConsumerConnectionList => self.consumer_connections(request),
            RequestCode::GetProducerConnectionList => self.producer_connections(request),
            RequestCode::GetBrokerConfig => self.broker_config(request),
            RequestCode::UpdateBrokerConfig => self.update_broker_config(request).await,
            RequestCode::InvokeBrokerToResetOffset => self.reset_offset(request),
            RequestCode::QueryTopicConsumeByWho => self.topic_consumed_by(request),
            RequestCode::QueryTopicsByConsumer => self.topics_of_consumer(request),
            RequestCode::GetTopicConfig => self.topic_config(request),
            RequestCode::GetSubscriptiongroupConfig => self.subscription_group(request),
            RequestCode::GetConsumerRunningInfo => self.consumer_running_info(request).await,
            RequestCode::ConsumeMessageDirectly => self.consume_message_directly(request).await,
            other => answer(
                request,
                ResponseCode::RequestCodeNotSupported,
                format!(" request type {} not supported", other.as_i32()),
            ),
        }
    }

    // ---- topics ----

    fn update_and_create_topic(&self, request: &RemotingCommand) -> RemotingCommand {
        let h = header_or_answer!(request, CreateTopicRequestHeader);
        if let Err(remark) = validate_topic_name(&h.topic) {
            return answer(request, ResponseCode::InvalidParameter, remark);
        }
        if is_system_topic(&h.topic) {
            return answer(
                request,
                ResponseCode::InvalidParameter,
                format!("The topic[{}] is conflict with system topic.", h.topic),
            );
        }
        let Some(filter_type) = TopicFilterType::from_name(&h.topic_filter_type) else {
            return answer(
                request,
                ResponseCode::InvalidParameter,
                format!(
                    "topicFilterType {} is not SINGLE_TAG or MULTI_TAG",
                    h.topic_filter_type
                ),
            );
        };
        if h.read_queue_nums < 0 || h.write_queue_nums < 0 {
            return answer(
                request,
                ResponseCode::InvalidParameter,
                format!(
                    "queue numbers must not be negative (readQueueNums {}, writeQueueNums {})",
                    h.read_queue_nums, h.write_queue_nums
                ),
            );
        }
        let current = self.state.topics.get(&h.topic);
        let base = current
            .as_ref()
            .map(|c| c.attributes.clone())
            .unwrap_or_default();
        let attributes = match apply_attributes(base, h.attributes.as_deref(), current.is_none()) {
            Ok(a) => a,
            Err(remark) => return answer(request, ResponseCode::InvalidParameter, remark),
        };
        let config = TopicConfig {
            attributes,
            order: h.order,
            perm: h.perm,
            read_queue_nums: h.read_queue_nums,
            topic_filter_type: filter_type,
            topic_name: h.topic.clone(),
            topic_sys_flag: h.topic_sys_flag.unwrap_or(0),
            write_queue_nums: h.write_queue_nums,
        };
        match self.state.topics.update(config) {
            Ok(_) => {
                tracing::info!(topic = %h.topic, "topic created or updated by admin");
                success(request)
            }
            Err(e) => answer(request, ResponseCode::SystemError, e.to_string()),
        }
    }

    fn delete_topic(&self, request: &RemotingCommand) -> RemotingCommand {
        let h = header_or_answer!(request, DeleteTopicRequestHeader);
        let topic = h.topic.as_str();
        if topic.trim().is_empty() {
            return answer(
                request,
                ResponseCode::InvalidParameter,
                "The specified topic is blank.",
            );
        }
        if is_system_topic(topic) {
            return answer(
                request,
                ResponseCode::InvalidParameter,
                format!("The topic[{topic}] is conflict with system topic."),
            );
        }
        let state = &self.state;
        state.topics.delete(topic);
        state.consumer_offsets.remove_topic(topic);
        // The store keeps no files for a topic that never had messages; removal is idempotent.
        if let Err(e) = state.store.consume_queues.remove_topic(topic) {
            return answer(
                request,
                ResponseCode::SystemError,
                format!("topic {topic} deleted, but removing its consume queues failed: {e}"),
            );
        }
        state.store.commit_log.remove_topic(topic);
        tracing::info!(topic, "topic deleted by admin");
        success(request)
    }

    /// Everything in one page: `totalTopicNum` is left out so J5 clients stop paging.
    fn all_topic_config(&self, request: &RemotingCommand) -> RemotingCommand {
        let wrapper = self.state.topics.snapshot();
        success(request).with_body(wrapper.encode())
    }

    /// GET_TOPIC_CONFIG: one topic's config (static-topic mapping is not supported, so never
    /// `mappingDetail`).
    fn topic_config(&self, request: &RemotingCommand) -> RemotingCommand {
        let Some(topic) = request.ext("topic") else {
            return bad_request(request, "header field `topic`: missing");
        };
        match self.state.topics.get(topic) {
            Some(config) => success(request).with_body(config.encode()),
            None => answer(
                request,
                ResponseCode::TopicNotExist,
                format!("No topic in this broker. topic: {topic}"),
            ),
        }
    }

    // ---- subscription groups ----

    /// GET_SUBSCRIPTIONGROUP_CONFIG: one group's config, created first when groups are
    /// auto-created (Apache's `findSubscriptionGroupConfig`).
    fn subscription_group(&self, request: &RemotingCommand) -> RemotingCommand {
        let Some(group) = request.ext("group") else {
            return bad_request(request, "header field `group`: missing");
        };
        match self.state.subscription_groups.find_or_create(group) {
            Some(config) => success(request).with_body(config.encode()),
            None => answer(
                request,
                ResponseCode::SubscriptionGroupNotExist,
                "No group in this broker",
            ),
        }
    }

    fn update_subscription_group(&self, request: &RemotingCommand) -> RemotingCommand {
        let body = request.body.to_bytes();
        if body.is_empty() {
            return success(request);
        }
        let config = match SubscriptionGroupConfig::decode(&body) {
            Ok(c) => c,
            Err(e) => return bad_request(request, format!("SubscriptionGroupConfig body: {e}")),
        };
        let name = config.group_name.clone();
        match self.state.subscription_groups.update(config) {
            Ok(_) => {
                tracing::info!(group = %name, "subscription group created or updated by admin");
                success(request)
            }
            Err(e) => answer(request, ResponseCode::InvalidParameter, e.to_string()),
        }
    }

    /// Everything in one page (`totalGroupNum` left out, as for topics).
    fn all_subscription_groups(&self, request: &RemotingCommand) -> RemotingCommand {
        let wrapper = self.state.subscription_groups.snapshot();
        success(request).with_body(wrapper.encode())
    }

    fn delete_subscription_group(&self, request: &RemotingCommand) -> RemotingCommand {
        let h = header_or_answer!(request, DeleteSubscriptionGroupRequestHeader);
        self.state.subscription_groups.delete(&h.group_name);
        if h.delete_offsets() {
            self.state.consumer_offsets.remove_group(&h.group_name);
        }
        tracing::info!(group = %h.group_name, offsets = h.delete_offsets(), "subscription group deleted by admin");
        success(request)
    }

    // ---- connections ----

    fn consumer_connections(&self, request: &RemotingCommand) -> RemotingCommand {
        let h = header_or_answer!(request, GetConsumerConnectionListRequestHeader);
        match self.state.clients.consumer_connection(&h.consumer_group) {
            Some(body) => success(request).with_body(body.encode()),
            None => answer(
                request,
                ResponseCode::ConsumerNotOnline,
                format!("the consumer group[{}] not online", h.consumer_group),
            ),
        }
    }

    fn producer_connections(&self, request: &RemotingCommand) -> RemotingCommand {
        let h = header_or_answer!(request, GetProducerConnectionListRequestHeader);
        match self.state.clients.producer_connection(&h.producer_group) {
            Some(body) => success(request).with_body(body.encode()),
            None => answer(
                request,
                ResponseCode::SystemError,
                format!("the producer group[{}] not exist", h.producer_group),
            ),
        }
    }

    // ---- broker config ----

    fn broker_config(&self, request: &RemotingCommand) -> RemotingCommand {
        let text = self.state.config().to_properties_text();
        let version = *self
            .config_version
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let header = GetBrokerConfigResponseHeader {
            version: String::from_utf8_lossy(&version.encode()).into_owned(),
        };
        success(request).with_header(&header).with_body(text)
    }

    /// Applies the properties to the running config (keys read only at start take effect at the
    /// next start) and writes the whole effective config to `{storePathRootDir}/config/broker.properties`,
    /// Apache's default `brokerConfigPath`.
    async fn update_broker_config(&self, request: &RemotingCommand) -> RemotingCommand {
        let body = request.body.to_bytes();
        if body.is_empty() {
            return success(request);
        }
        let props = match Properties::decode(&body) {
            Ok(p) => p,
            Err(e) => {
                return answer(
                    request,
                    ResponseCode::SystemError,
                    format!("string2Properties error: {e}"),
                )
            }
        };
        if props
            .entries
            .keys()
            .any(|k| CONFIG_BLACK_LIST.contains(&k.as_str()))
        {
            return answer(
                request,
                ResponseCode::NoPermission,
                "Can not update config in black list.",
            );
        }
        let text = String::from_utf8_lossy(&body).into_owned();
        let unknown = match self.state.update_config(&text) {
            Ok(u) => u,
            Err(e) => return answer(request, ResponseCode::SystemError, e.to_string()),
        };
        if !unknown.is_empty() {
            tracing::warn!(keys = ?unknown, "UPDATE_BROKER_CONFIG: unknown keys ignored");
        }
        self.config_version
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_version(now_ms());
        let config = self.state.config();
        let path = config.config_dir().join("broker.properties");
        let contents = config.to_properties_text();
        let written = tokio::task::spawn_blocking(move || {
            crate::persist::write_atomic(&path, contents.as_bytes()).map_err(|e| (path, e))
        })
        .await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err((path, e))) => {
                tracing::warn!(path = %path.display(), error = %e, "updated broker config not persisted")
            }
            Err(e) => tracing::warn!(error = %e, "updated broker config not persisted"),
        }
        tracing::info!(keys = ?props.entries.keys().collect::<Vec<_>>(), "broker config updated");
        success(request)
    }

    // ---- who consumes what ----

    fn topic_consumed_by(&self, request: &RemotingCommand) -> RemotingCommand {
        let h = header_or_answer!(request, QueryTopicConsumeByWhoRequestHeader);
        let mut groups: BTreeSet<String> = self.state.clients.groups_subscribing(&h.topic);
        groups.extend(self.state.consumer_offsets.groups_of_topic(&h.topic));
        success(request).with_body(GroupList { group_list: groups }.encode())
    }

    fn topics_of_consumer(&self, request: &RemotingCommand) -> RemotingCommand {
        let h = header_or_answer!(request, QueryTopicsByConsumerRequestHeader);
        let topics = self.state.consumer_offsets.topics_of_group(&h.group);
        let body = TopicList {
            broker_addr: Some(self.state.config().broker_addr()),
            topic_list: topics.into_iter().collect(),
        };
        success(request).with_body(body.encode())
    }
}

/// Applies J5's attribute modification string (`+key=value,-key`) to `attributes`. Removing
/// from a topic being created is refused, as Apache does.
fn apply_attributes(
    mut attributes: BTreeMap<String, String>,
    modification: Option<&str>,
    creating: bool,
) -> Result<BTreeMap<String, String>, String> {
    let Some(text) = modification.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(attributes);
    };
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if let Some(add) = item.strip_prefix('+') {
            let Some((key, value)) = add.split_once('=') else {
                return Err(format!("attribute {item} must be +key=value"));
            };
            if key.is_empty() {
                return Err(format!("attribute {item} has an empty key"));
            }
            attributes.insert(key.to_string(), value.to_string());
        } else if let Some(key) = item.strip_prefix('-') {
            if key.is_empty() || key.contains('=') {
                return Err(format!("attribute {item} must be -key"));
            }
            if creating {
                return Err(format!(
                    "only add attribute is supported while creating topic. key: {key}"
                ));
            }
            attributes.remove(key);
        } else {
            return Err(format!("attribute {item} must start with + or -"));
        }
    }
    Ok(attributes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_modifications() {
        let a = apply_attributes(
            BTreeMap::new(),
            Some("+queue.type=SimpleCQ,+message.type=NORMAL"),
            true,
        )
        .unwrap();
        assert_eq!(a.get("queue.type").map(String::as_str), Some("SimpleCQ"));
        assert_eq!(a.len(), 2);
        let b = apply_attributes(a.clone(), Some("-queue.type"), false).unwrap();
        assert_eq!(b.len(), 1);
        assert!(apply_attributes(a.clone(), Some("-queue.type"), true).is_err());
        assert!(apply_attributes(a.clone(), Some("queue.type=x"), false).is_err());
        assert!(apply_attributes(a.clone(), Some("+novalue"), false).is_err());
        assert_eq!(apply_attributes(a.clone(), None, false).unwrap(), a);
    }
}
