//! Route lookups: GET_ROUTEINFO_BY_TOPIC and GET_BROKER_CLUSTER_INFO.

use sluice_remoting::body::JsonBody;
use sluice_remoting::header::GetRouteInfoRequestHeader;
use sluice_remoting::{RemotingCommand, ResponseCode};

use super::{failure, success, Reply};
use crate::kv::NAMESPACE_ORDER_TOPIC_CONFIG;
use crate::state::NamesrvState;

/// Apache's hint appended to "no route" remarks (`FAQUrl.suggestTodo(APPLY_TOPIC_URL)`).
const APPLY_TOPIC_HINT: &str =
    "\nSee https://rocketmq.apache.org/docs/bestPractice/06FAQ for further details.";

pub(super) fn topic_route(state: &NamesrvState, request: &RemotingCommand) -> Reply {
    let h: GetRouteInfoRequestHeader = request.decode_header()?;
    let Some(mut route) = state.routes.topic_route(&h.topic) else {
        return Ok(failure(
            request,
            ResponseCode::TopicNotExist,
            format!(
                "No topic route info in name server for the topic: {}{APPLY_TOPIC_HINT}",
                h.topic
            ),
        ));
    };
    if state.config().order_message_enable {
        route.order_topic_conf = state.kv.get(NAMESPACE_ORDER_TOPIC_CONFIG, &h.topic);
    }
    // Clients older than V4_9_4 (Go, C++, Python, old Java) get fastjson's `{0:"..."}` keys.
    let body = route.encode_for(
        request.version,
        h.accept_standard_json_only.unwrap_or(false),
    );
    Ok(success(request).with_body(body))
}

pub(super) fn cluster_info(state: &NamesrvState, request: &RemotingCommand) -> Reply {
    Ok(success(request).with_body(state.routes.cluster_info().encode()))
}
