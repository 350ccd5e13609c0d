//! Request processors, one file per request family, and the table that routes codes to them.
//! Codes not listed here get REQUEST_CODE_NOT_SUPPORTED from the transport.

mod broker;
mod config;
mod kv;
mod route;
mod topic;

use std::sync::Arc;

use sluice_remoting::net::{Channel, ProcessorTable};
use sluice_remoting::{RemotingCommand, RemotingError, RequestCode, ResponseCode};

use crate::state::NamesrvState;

/// The codes this NameServer answers.
const CODES: &[RequestCode] = &[
    RequestCode::PutKvConfig,
    RequestCode::GetKvConfig,
    RequestCode::DeleteKvConfig,
    RequestCode::GetKvlistByNamespace,
    RequestCode::RegisterBroker,
    RequestCode::UnregisterBroker,
    RequestCode::BrokerHeartbeat,
    RequestCode::QueryDataVersion,
    RequestCode::GetBrokerMemberGroup,
    RequestCode::GetRouteinfoByTopic,
    RequestCode::GetBrokerClusterInfo,
    RequestCode::GetAllTopicListFromNameserver,
    RequestCode::GetTopicsByCluster,
    RequestCode::GetSystemTopicListFromNs,
    RequestCode::GetUnitTopicList,
    RequestCode::GetHasUnitSubTopicList,
    RequestCode::GetHasUnitSubUnunitTopicList,
    RequestCode::DeleteTopicInNamesrv,
    RequestCode::RegisterTopicInNamesrv,
    RequestCode::WipeWritePermOfBroker,
    RequestCode::AddWritePermOfBroker,
    RequestCode::GetNamesrvConfig,
    RequestCode::UpdateNamesrvConfig,
];

/// Builds the processor table over `state`.
pub fn processor_table(state: Arc<NamesrvState>) -> ProcessorTable {
    let mut table = ProcessorTable::new();
    for &code in CODES {
        let state = state.clone();
        table.register(
            code,
            Arc::new(move |channel: Channel, request: RemotingCommand| {
                let state = state.clone();
                async move { dispatch(code, &state, channel, request).await }
            }),
        );
    }
    table
}

async fn dispatch(
    code: RequestCode,
    state: &Arc<NamesrvState>,
    channel: Channel,
    request: RemotingCommand,
) -> Option<RemotingCommand> {
    let oneway = request.is_oneway();
    let response = match code {
        RequestCode::PutKvConfig => kv::put(state, &request).await,
        RequestCode::GetKvConfig => kv::get(state, &request),
        RequestCode::DeleteKvConfig => kv::delete(state, &request).await,
        RequestCode::GetKvlistByNamespace => kv::list(state, &request),
        RequestCode::RegisterBroker => broker::register(state, channel, &request),
        RequestCode::UnregisterBroker => broker::unregister(state, &request),
        RequestCode::BrokerHeartbeat => broker::heartbeat(state, &request),
        RequestCode::QueryDataVersion => broker::query_data_version(state, &request),
        RequestCode::GetBrokerMemberGroup => broker::member_group(state, &request),
        RequestCode::GetRouteinfoByTopic => route::topic_route(state, &request),
        RequestCode::GetBrokerClusterInfo => route::cluster_info(state, &request),
        RequestCode::GetAllTopicListFromNameserver => topic::all_topics(state, &request),
        RequestCode::GetTopicsByCluster => topic::topics_by_cluster(state, &request),
        RequestCode::GetSystemTopicListFromNs => topic::system_topics(state, &request),
        RequestCode::GetUnitTopicList
        | RequestCode::GetHasUnitSubTopicList
        | RequestCode::GetHasUnitSubUnunitTopicList => topic::unit_topics(state, code, &request),
        RequestCode::DeleteTopicInNamesrv => topic::delete_topic(state, &request),
        RequestCode::RegisterTopicInNamesrv => topic::register_topic(state, &request),
        RequestCode::WipeWritePermOfBroker => topic::write_perm(state, &request, false),
        RequestCode::AddWritePermOfBroker => topic::write_perm(state, &request, true),
        RequestCode::GetNamesrvConfig => config::get(state, &request),
        RequestCode::UpdateNamesrvConfig => config::update(state, &request),
        _ => Ok(
            RemotingCommand::response_to(&request, ResponseCode::RequestCodeNotSupported)
                .with_remark(format!(" request type {} not supported", request.code)),
        ),
    };
    let response = response.unwrap_or_else(|error| {
        tracing::warn!(code = %code, %error, "bad request");
        failure(&request, ResponseCode::SystemError, error.to_string())
    });
    (!oneway).then_some(response)
}

/// SUCCESS with no remark.
fn success(request: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::Success)
}

fn failure(
    request: &RemotingCommand,
    code: ResponseCode,
    remark: impl Into<String>,
) -> RemotingCommand {
    RemotingCommand::response_to(request, code).with_remark(remark)
}

/// What a processor returns: a response, or an error answered as SYSTEM_ERROR with its text
/// (as Java answers a `RemotingCommandException`).
type Reply = Result<RemotingCommand, RemotingError>;
