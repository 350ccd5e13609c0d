//! Client management: HEART_BEAT, UNREGISTER_CLIENT, GET_CONSUMER_LIST_BY_GROUP and
//! CHECK_CLIENT_CONFIG (Apache `ClientManageProcessor` and the consumer-list part of
//! `ConsumerManageProcessor`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sluice_remoting::body::{
    GetConsumerListByGroupResponseBody, HeartbeatData, JsonBody, SubscriptionData,
};
use sluice_remoting::header::{GetConsumerListByGroupRequestHeader, UnregisterClientRequestHeader};
use sluice_remoting::json::lenient;
use sluice_remoting::net::Channel;
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};

use super::Processors;
use crate::client_registry::{ClientChannelInfo, ConsumerRegistration};
use crate::state::BrokerState;

/// Response ext keys of J5 brokers: the client may switch to fingerprint heartbeats, and whether
/// the subscriptions changed.
const IS_SUPPORT_HEART_BEAT_V2: &str = "IS_SUPPORT_HEART_BEAT_V2";
const IS_SUB_CHANGE: &str = "IS_SUB_CHANGE";

/// Bit 1 of TopicSysFlag: the topic belongs to a unit-mode subscriber.
const TOPIC_SYS_FLAG_UNIT_SUB: i32 = 1 << 1;
/// PermName READ | WRITE.
const PERM_RW: i32 = 4 | 2;

pub fn register(table: &mut Processors, state: Arc<BrokerState>) {
    let processor = Arc::new(ClientManageProcessor {
        state,
        fingerprints: Mutex::new(HashMap::new()),
    });
    for code in [
        RequestCode::HeartBeat,
        RequestCode::UnregisterClient,
        RequestCode::GetConsumerListByGroup,
        RequestCode::CheckClientConfig,
    ] {
        let p = processor.clone();
        table.register(
            code,
            Arc::new(move |channel: Channel, request: RemotingCommand| {
                let p = p.clone();
                async move { Some(p.process(&channel, &request)) }
            }),
        );
    }
}

struct ClientManageProcessor {
    state: Arc<BrokerState>,
    /// Consumer group → last heartbeat fingerprint (heartbeat v2).
    fingerprints: Mutex<HashMap<String, i32>>,
}

/// A request whose header or body cannot be read, answered as Java answers a
/// `RemotingCommandException`.
fn bad_request(request: &RemotingCommand, what: impl std::fmt::Display) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::SystemError).with_remark(what.to_string())
}

impl ClientManageProcessor {
    fn process(&self, channel: &Channel, request: &RemotingCommand) -> RemotingCommand {
        match RequestCode::from_i32(request.code) {
            Some(RequestCode::HeartBeat) => self.heartbeat(channel, request),
            Some(RequestCode::UnregisterClient) => self.unregister_client(channel, request),
            Some(RequestCode::GetConsumerListByGroup) => self.consumer_list(request),
            Some(RequestCode::CheckClientConfig) => {
                check_client_config(request, self.state.config().enable_property_filter)
            }
            _ => RemotingCommand::response_to(request, ResponseCode::RequestCodeNotSupported)
                .with_remark(format!(" request type {} not supported", request.code)),
        }
    }

    fn heartbeat(&self, channel: &Channel, request: &RemotingCommand) -> RemotingCommand {
        let data = match HeartbeatData::decode(&request.body.to_bytes()) {
            Ok(d) => d.with_java_tag_codes(),
            Err(e) => return bad_request(request, format!("HEART_BEAT body: {e}")),
        };
        let state = &self.state;
        let config = state.config();
        let client = ClientChannelInfo::new(
            channel.clone(),
            data.client_id.clone(),
            request.language,
            request.version,
        );
        let v2 = data.heartbeat_fingerprint != 0;
        let mut sub_changed = false;
        for consumer in &data.consumer_data_set {
            if v2 {
                let mut prints = self.fingerprints.lock().unwrap_or_else(|e| e.into_inner());
                let old = prints.insert(consumer.group_name.clone(), data.heartbeat_fingerprint);
                sub_changed |= old.is_some_and(|o| o != data.heartbeat_fingerprint);
            }
            let Some(group) = state
                .subscription_groups
                .find_or_create(&consumer.group_name)
            else {
                tracing::warn!(
                    group = %consumer.group_name,
                    client = %data.client_id,
                    "heartbeat for an unknown consumer group (autoCreateSubscriptionGroup is off); ignored"
                );
                continue;
            };
            let sys_flag = if consumer.unit_mode {
                TOPIC_SYS_FLAG_UNIT_SUB
            } else {
                0
            };
            let retry = crate::topic_config::retry_topic(&consumer.group_name);
            if let Err(e) = state.topics.create_topic_in_send_message_back_method(
                &retry,
                group.retry_queue_nums,
                PERM_RW,
                sys_flag,
            ) {
                tracing::warn!(topic = %retry, error = %e, "cannot create the group's retry topic");
            }
            // A v2 heartbeat without subscriptions keeps the ones registered before.
            let keep_subscriptions = v2 && data.without_sub;
            let subscriptions = if keep_subscriptions {
                state
                    .clients
                    .consumer_group(&consumer.group_name)
                    .map(|g| g.subscriptions.into_values().collect())
                    .unwrap_or_default()
            } else {
                consumer.subscription_data_set.clone()
            };
            for (topic, err) in state
                .filters
                .register_group(&consumer.group_name, &subscriptions)
            {
                tracing::warn!(
                    group = %consumer.group_name,
                    topic = %topic,
                    client = %data.client_id,
                    error = %err,
                    "consumer subscribed with a SQL92 expression that does not compile; its pulls will be refused"
                );
            }
            let registration = ConsumerRegistration {
                consume_type: consumer.consume_type,
                message_model: consumer.message_model,
                consume_from_where: consumer.consume_from_where,
                subscriptions,
                notify_enabled: group.notify_consumer_ids_changed_enable
                    && config.notify_consumer_ids_changed_enable,
            };
            state
                .clients
                .register_consumer(&consumer.group_name, client.clone(), registration);
        }
        for producer in &data.producer_data_set {
            state
                .clients
                .register_producer(&producer.group_name, client.clone());
        }
        let sub_change = if v2 { sub_changed } else { true };
        RemotingCommand::response_to(request, ResponseCode::Success)
            .with_ext(IS_SUPPORT_HEART_BEAT_V2, "true")
            .with_ext(IS_SUB_CHANGE, sub_change.to_string())
    }

    fn unregister_client(&self, channel: &Channel, request: &RemotingCommand) -> RemotingCommand {
        let header: UnregisterClientRequestHeader = match request.decode_header() {
            Ok(h) => h,
            Err(e) => return bad_request(request, e),
        };
        let clients = &self.state.clients;
        if let Some(group) = &header.producer_group {
            clients.unregister_producer(group, channel.id());
        }
        if let Some(group) = &header.consumer_group {
            clients.unregister_consumer(group, channel.id());
            let released = self
                .state
                .rebalance_locks
                .release_client(group, &header.client_id);
            if released > 0 {
                tracing::info!(group, client = %header.client_id, released, "queue locks of an unregistered client released");
            }
        }
        tracing::info!(client = %header.client_id, addr = %channel.remote_addr(), "client unregistered");
        RemotingCommand::response_to(request, ResponseCode::Success)
    }

    fn consumer_list(&self, request: &RemotingCommand) -> RemotingCommand {
        let header: GetConsumerListByGroupRequestHeader = match request.decode_header() {
            Ok(h) => h,
            Err(e) => return bad_request(request, e),
        };
        let ids = self.state.clients.consumer_ids(&header.consumer_group);
        if ids.is_empty() {
            return RemotingCommand::response_to(request, ResponseCode::SystemError).with_remark(
                format!("no consumer for this group, {}", header.consumer_group),
            );
        }
        let body = GetConsumerListByGroupResponseBody {
            consumer_id_list: ids,
        };
        RemotingCommand::response_to(request, ResponseCode::Success).with_body(body.encode())
    }
}

/// CHECK_CLIENT_CONFIG body (`CheckClientRequestBody`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CheckClientRequestBody {
    #[serde(deserialize_with = "lenient::string")]
    pub client_id: String,
    #[serde(deserialize_with = "lenient::string")]
    pub group: String,
    pub subscription_data: Option<SubscriptionData>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub namespace: Option<String>,
}

impl JsonBody for CheckClientRequestBody {}

/// Tag subscriptions are always fine; SQL92 needs `enablePropertyFilter` (else SYSTEM_ERROR, as
/// Apache) and an expression that compiles (else SUBSCRIPTION_PARSE_FAILED with the parse error).
fn check_client_config(request: &RemotingCommand, enable_property_filter: bool) -> RemotingCommand {
    let body = request.body.to_bytes();
    if body.is_empty() {
        return RemotingCommand::response_to(request, ResponseCode::Success);
    }
    let checked = match CheckClientRequestBody::decode(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(request, format!("CHECK_CLIENT_CONFIG body: {e}")),
    };
    let Some(sub) = checked.subscription_data else {
        return RemotingCommand::response_to(request, ResponseCode::Success);
    };
    match crate::filter::check_subscription(&sub, enable_property_filter) {
        Ok(()) => RemotingCommand::response_to(request, ResponseCode::Success),
        Err(r) => {
            tracing::warn!(
                client = %checked.client_id,
                group = %checked.group,
                expression = %sub.sub_string,
                remark = %r.remark,
                "CHECK_CLIENT_CONFIG refused a subscription"
            );
            RemotingCommand::response_to(request, r.code).with_remark(r.remark)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_client_config_accepts_tags_and_refuses_sql92() {
        let tag = br#"{"clientId":"c","group":"g","subscriptionData":{"topic":"T","subString":"a","expressionType":"TAG"}}"#;
        let req = RemotingCommand::request(RequestCode::CheckClientConfig).with_body(tag.to_vec());
        assert_eq!(check_client_config(&req, false).code, 0);
        let sql = br#"{"clientId":"c","group":"g","subscriptionData":{"topic":"T","subString":"a > 1","expressionType":"SQL92"}}"#;
        let req = RemotingCommand::request(RequestCode::CheckClientConfig).with_body(sql.to_vec());
        let resp = check_client_config(&req, false);
        assert_eq!(resp.code, ResponseCode::SystemError.as_i32());
        assert_eq!(
            resp.remark.as_deref(),
            Some("The broker does not support consumer to filter message by SQL92")
        );
        let junk =
            RemotingCommand::request(RequestCode::CheckClientConfig).with_body(b"{".to_vec());
        assert_eq!(
            check_client_config(&junk, false).code,
            ResponseCode::SystemError.as_i32()
        );
    }

    #[test]
    fn check_client_config_compiles_sql92_with_property_filter_on() {
        let sql = br#"{"clientId":"c","group":"g","subscriptionData":{"topic":"T","subString":"a > 5 AND b = 'x'","expressionType":"SQL92"}}"#;
        let req = RemotingCommand::request(RequestCode::CheckClientConfig).with_body(sql.to_vec());
        assert_eq!(check_client_config(&req, true).code, 0);
        let bad = br#"{"clientId":"c","group":"g","subscriptionData":{"topic":"T","subString":"a > AND","expressionType":"SQL92"}}"#;
        let req = RemotingCommand::request(RequestCode::CheckClientConfig).with_body(bad.to_vec());
        let resp = check_client_config(&req, true);
        assert_eq!(resp.code, ResponseCode::SubscriptionParseFailed.as_i32());
        let remark = resp.remark.unwrap_or_default();
        assert!(remark.contains("a > AND"), "{remark}");
        assert!(remark.contains("column"), "{remark}");
    }
}
