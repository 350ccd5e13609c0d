//! PUT_KV_CONFIG, GET_KV_CONFIG, DELETE_KV_CONFIG, GET_KVLIST_BY_NAMESPACE.

use std::sync::Arc;

use sluice_remoting::body::JsonBody;
use sluice_remoting::header::{
    DeleteKvConfigRequestHeader, GetKvConfigRequestHeader, GetKvConfigResponseHeader,
    GetKvListByNamespaceRequestHeader, PutKvConfigRequestHeader,
};
use sluice_remoting::{RemotingCommand, ResponseCode};

use super::{failure, success, Reply};
use crate::state::NamesrvState;

pub(super) async fn put(state: &Arc<NamesrvState>, request: &RemotingCommand) -> Reply {
    let h: PutKvConfigRequestHeader = request.decode_header()?;
    Ok(match state.kv.put(&h.namespace, &h.key, &h.value).await {
        Ok(()) => success(request),
        Err(e) => {
            tracing::error!(error = %e, "cannot persist KV config");
            failure(request, ResponseCode::SystemError, e.to_string())
        }
    })
}

pub(super) fn get(state: &NamesrvState, request: &RemotingCommand) -> Reply {
    let h: GetKvConfigRequestHeader = request.decode_header()?;
    Ok(match state.kv.get(&h.namespace, &h.key) {
        Some(value) => {
            success(request).with_header(&GetKvConfigResponseHeader { value: Some(value) })
        }
        None => failure(
            request,
            ResponseCode::QueryNotFound,
            format!("No config item, Namespace: {} Key: {}", h.namespace, h.key),
        ),
    })
}

pub(super) async fn delete(state: &Arc<NamesrvState>, request: &RemotingCommand) -> Reply {
    let h: DeleteKvConfigRequestHeader = request.decode_header()?;
    Ok(match state.kv.delete(&h.namespace, &h.key).await {
        Ok(_) => success(request),
        Err(e) => {
            tracing::error!(error = %e, "cannot persist KV config");
            failure(request, ResponseCode::SystemError, e.to_string())
        }
    })
}

pub(super) fn list(state: &NamesrvState, request: &RemotingCommand) -> Reply {
    let h: GetKvListByNamespaceRequestHeader = request.decode_header()?;
    Ok(match state.kv.list(&h.namespace) {
        Some(table) => success(request).with_body(table.encode()),
        None => failure(
            request,
            ResponseCode::QueryNotFound,
            format!("No config item, Namespace: {}", h.namespace),
        ),
    })
}
