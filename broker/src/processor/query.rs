//! QUERY_MESSAGE (by business key or UNIQ_KEY through the IndexFile) and VIEW_MESSAGE_BY_ID (by
//! CommitLog physical offset, the offset msgId's second half). Reference §3.4.
//!
//! Both answer with whole stored records as zero-copy slices of the mapped CommitLog.

use std::sync::Arc;

use sluice_remoting::header::{
    QueryMessageRequestHeader, QueryMessageResponseHeader, ViewMessageRequestHeader,
};
use sluice_remoting::net::Channel;
use sluice_remoting::{Body, RemotingCommand, RequestCode, ResponseCode};
use sluice_store::MessageStore;

use super::Processors;
use crate::state::BrokerState;

/// Routes QUERY_MESSAGE and VIEW_MESSAGE_BY_ID to this module.
pub fn register(table: &mut Processors, state: Arc<BrokerState>) {
    let query_state = state.clone();
    table.register(
        RequestCode::QueryMessage,
        Arc::new(move |_channel: Channel, request: RemotingCommand| {
            let state = query_state.clone();
            async move { Some(query_message(&state.store, &request)) }
        }),
    );
    table.register(
        RequestCode::ViewMessageById,
        Arc::new(move |_channel: Channel, request: RemotingCommand| {
            let state = state.clone();
            async move { Some(view_message_by_id(&state.store, &request)) }
        }),
    );
}

fn bad_header(request: &RemotingCommand, err: impl std::fmt::Display) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::SystemError)
        .with_remark(format!("bad request header: {err}"))
}

/// QUERY_MESSAGE: messages of `topic` whose KEYS (or UNIQ_KEY) contain `key`, stored within
/// `[beginTimestamp, endTimestamp]`, newest first. `_UNIQUE_KEY_QUERY=true` caps the answer at
/// `defaultQueryMaxNum` as Apache does. Nothing found → QUERY_NOT_FOUND, still with the header.
pub fn query_message(store: &MessageStore, request: &RemotingCommand) -> RemotingCommand {
    let header = match request.decode_header::<QueryMessageRequestHeader>() {
        Ok(h) => h,
        Err(e) => return bad_header(request, e),
    };
    let max_num = if QueryMessageRequestHeader::is_unique_key_query(&request.ext_fields) {
        store.config.default_query_max_num
    } else {
        header.max_num.max(0) as usize
    };
    let found = store.query_by_key(
        &header.topic,
        &header.key,
        max_num,
        header.begin_timestamp,
        header.end_timestamp,
    );
    let response_header = QueryMessageResponseHeader {
        index_last_update_timestamp: found.index_last_update_timestamp,
        index_last_update_phyoffset: found.index_last_update_phy_offset,
    };
    if found.records.is_empty() {
        return RemotingCommand::response_to(request, ResponseCode::QueryNotFound)
            .with_header(&response_header)
            .with_remark(format!(
                "can not find message with key {:?} in topic {:?}, maybe time range not correct",
                header.key, header.topic
            ));
    }
    RemotingCommand::response_to(request, ResponseCode::Success)
        .with_header(&response_header)
        .with_body(Body::from_parts(found.records))
}

/// VIEW_MESSAGE_BY_ID: the record at a physical offset; SYSTEM_ERROR when there is none.
pub fn view_message_by_id(store: &MessageStore, request: &RemotingCommand) -> RemotingCommand {
    let header = match request.decode_header::<ViewMessageRequestHeader>() {
        Ok(h) => h,
        Err(e) => return bad_header(request, e),
    };
    let record = u64::try_from(header.offset)
        .ok()
        .and_then(|offset| store.lookup_by_physical_offset(offset));
    match record {
        Some(record) => {
            RemotingCommand::response_to(request, ResponseCode::Success).with_body(record)
        }
        None => RemotingCommand::response_to(request, ResponseCode::SystemError).with_remark(
            format!("can not find message by the offset, {}", header.offset),
        ),
    }
}
