//! Admin requests the broker forwards to one consumer client and answers with the client's
//! response: GET_CONSUMER_RUNNING_INFO (`mqadmin consumerStatus`) and CONSUME_MESSAGE_DIRECTLY
//! (`mqadmin consumeMessage`), as Apache's `AdminBrokerProcessor.callConsumer`.

use std::time::Duration;

use sluice_remoting::code::version;
use sluice_remoting::header::{
    ConsumeMessageDirectlyResultRequestHeader, GetConsumerRunningInfoRequestHeader,
};
use sluice_remoting::message::msgid::decode_offset_msg_id;
use sluice_remoting::{RemotingCommand, RemotingError, RequestCode, ResponseCode};

use super::{answer, bad_request, AdminProcessor};

/// How long the client may take (Apache `Broker2Client.callClient`).
pub const CALL_CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

impl AdminProcessor {
    pub(super) async fn consumer_running_info(&self, request: &RemotingCommand) -> RemotingCommand {
        let h: GetConsumerRunningInfoRequestHeader = match request.decode_header() {
            Ok(h) => h,
            Err(e) => return bad_request(request, e),
        };
        let forward = RemotingCommand {
            ext_fields: request.ext_fields.clone(),
            body: request.body.clone(),
            ..RemotingCommand::request(RequestCode::GetConsumerRunningInfo)
        };
        self.call_consumer(request, forward, &h.consumer_group, &h.client_id)
            .await
    }

    /// Adds the broker name, the topic's and group's sys flags and the stored message itself,
    /// then lets the client consume it.
    pub(super) async fn consume_message_directly(
        &self,
        request: &RemotingCommand,
    ) -> RemotingCommand {
        let h: ConsumeMessageDirectlyResultRequestHeader = match request.decode_header() {
            Ok(h) => h,
            Err(e) => return bad_request(request, e),
        };
        let state = &self.state;
        let mut forward = RemotingCommand {
            ext_fields: request.ext_fields.clone(),
            ..RemotingCommand::request(RequestCode::ConsumeMessageDirectly)
        };
        forward = forward.with_ext("brokerName", state.config().broker_name.clone());
        if let Some(topic) = h.topic.as_deref().and_then(|t| state.topics.get(t)) {
            forward = forward.with_ext("topicSysFlag", topic.topic_sys_flag.to_string());
        }
        if let Some(group) = state.subscription_groups.get(&h.consumer_group) {
            forward = forward.with_ext("groupSysFlag", group.group_sys_flag.to_string());
        }
        let Some(msg_id) = h.msg_id.as_deref() else {
            return answer(request, ResponseCode::SystemError, "msgId is missing");
        };
        let record = decode_offset_msg_id(msg_id)
            .ok()
            .and_then(|(_, offset)| u64::try_from(offset).ok())
            .and_then(|offset| state.store.lookup_by_physical_offset(offset));
        let Some(record) = record else {
            return answer(
                request,
                ResponseCode::SystemError,
                format!("no message with id {msg_id} in this broker"),
            );
        };
        forward = forward.with_body(record);
        let client_id = h.client_id.unwrap_or_default();
        self.call_consumer(request, forward, &h.consumer_group, &client_id)
            .await
    }

    async fn call_consumer(
        &self,
        request: &RemotingCommand,
        forward: RemotingCommand,
        group: &str,
        client_id: &str,
    ) -> RemotingCommand {
        let member = self
            .state
            .clients
            .consumer_channels(group)
            .into_iter()
            .find(|c| c.client_id == client_id);
        let Some(member) = member else {
            return answer(
                request,
                ResponseCode::SystemError,
                format!("The Consumer <{group}> <{client_id}> not online"),
            );
        };
        if member.version < version::V3_1_8_SNAPSHOT {
            return answer(
                request,
                ResponseCode::SystemError,
                format!(
                    "The Consumer <{client_id}> Version <{}> too low to finish, please upgrade it to V3_1_8_SNAPSHOT",
                    version::name(member.version)
                ),
            );
        }
        match member
            .channel
            .send_request(forward, CALL_CLIENT_TIMEOUT)
            .await
        {
            Ok(mut response) => {
                // The client's answer, addressed to the admin's request.
                response.opaque = request.opaque;
                response
            }
            Err(RemotingError::Timeout { millis, .. }) => answer(
                request,
                ResponseCode::ConsumeMsgTimeout,
                format!("consumer <{group}> <{client_id}> Timeout: no answer in {millis} ms"),
            ),
            Err(e) => answer(
                request,
                ResponseCode::SystemError,
                format!("invoke consumer <{group}> <{client_id}> Exception: {e}"),
            ),
        }
    }
}
