//! Topic lists and topic administration: GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
//! GET_TOPICS_BY_CLUSTER, GET_SYSTEM_TOPIC_LIST_FROM_NS, the unit-topic lists,
//! DELETE_TOPIC_IN_NAMESRV, REGISTER_TOPIC_IN_NAMESRV, WIPE/ADD_WRITE_PERM_OF_BROKER.

use sluice_remoting::body::{JsonBody, TopicRouteData};
use sluice_remoting::header::{
    AddWritePermOfBrokerRequestHeader, AddWritePermOfBrokerResponseHeader,
    DeleteTopicFromNamesrvRequestHeader, GetTopicsByClusterRequestHeader,
    RegisterTopicRequestHeader, WipeWritePermOfBrokerRequestHeader,
    WipeWritePermOfBrokerResponseHeader,
};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};

use super::{failure, success, Reply};
use crate::state::NamesrvState;

pub(super) fn all_topics(state: &NamesrvState, request: &RemotingCommand) -> Reply {
    if !state.config().enable_all_topic_list {
        return Ok(failure(request, ResponseCode::SystemError, "disable"));
    }
    Ok(success(request).with_body(state.routes.all_topics().encode()))
}

pub(super) fn topics_by_cluster(state: &NamesrvState, request: &RemotingCommand) -> Reply {
    if !state.config().enable_topic_list {
        return Ok(failure(request, ResponseCode::SystemError, "disable"));
    }
    let h: GetTopicsByClusterRequestHeader = request.decode_header()?;
    Ok(success(request).with_body(state.routes.topics_of_cluster(&h.cluster).encode()))
}

pub(super) fn system_topics(state: &NamesrvState, request: &RemotingCommand) -> Reply {
    Ok(success(request).with_body(state.routes.system_topics().encode()))
}

pub(super) fn unit_topics(
    state: &NamesrvState,
    code: RequestCode,
    request: &RemotingCommand,
) -> Reply {
    if !state.config().enable_topic_list {
        return Ok(failure(request, ResponseCode::SystemError, "disable"));
    }
    let list = match code {
        RequestCode::GetUnitTopicList => state.routes.unit_topics(),
        RequestCode::GetHasUnitSubTopicList => state.routes.unit_sub_topics(),
        _ => state.routes.unit_sub_ununit_topics(),
    };
    Ok(success(request).with_body(list.encode()))
}

pub(super) fn delete_topic(state: &NamesrvState, request: &RemotingCommand) -> Reply {
    let h: DeleteTopicFromNamesrvRequestHeader = request.decode_header()?;
    tracing::info!(topic = %h.topic, cluster = ?h.cluster_name, "deleting topic");
    state
        .routes
        .delete_topic(&h.topic, h.cluster_name.as_deref());
    Ok(success(request))
}

pub(super) fn register_topic(state: &NamesrvState, request: &RemotingCommand) -> Reply {
    let h: RegisterTopicRequestHeader = request.decode_header()?;
    let body = request.body.to_bytes();
    if !body.is_empty() {
        let route = TopicRouteData::decode(&body)?;
        let added = state.routes.register_topic(&h.topic, route.queue_datas);
        tracing::info!(topic = %h.topic, added, "topic registered by request");
    }
    Ok(success(request))
}

pub(super) fn write_perm(state: &NamesrvState, request: &RemotingCommand, add: bool) -> Reply {
    Ok(if add {
        let h: AddWritePermOfBrokerRequestHeader = request.decode_header()?;
        let count = state.routes.set_write_perm_of_broker(&h.broker_name, true);
        tracing::info!(broker = %h.broker_name, topics = count, "write permission added");
        success(request).with_header(&AddWritePermOfBrokerResponseHeader {
            add_topic_count: count,
        })
    } else {
        let h: WipeWritePermOfBrokerRequestHeader = request.decode_header()?;
        let count = state.routes.set_write_perm_of_broker(&h.broker_name, false);
        tracing::info!(broker = %h.broker_name, topics = count, "write permission wiped");
        success(request).with_header(&WipeWritePermOfBrokerResponseHeader {
            wipe_topic_count: count,
        })
    })
}
