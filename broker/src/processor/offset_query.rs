//! Queue offset queries: GET_MAX_OFFSET, GET_MIN_OFFSET, SEARCH_OFFSET_BY_TIMESTAMP and
//! GET_EARLIEST_MSG_STORETIME (reference §3.3). Like Apache, an unknown topic or queue is not an
//! error: its offsets are 0 and its earliest store time is -1.

use std::sync::Arc;

use sluice_remoting::header::{
    BoundaryType, GetEarliestMsgStoretimeRequestHeader, GetEarliestMsgStoretimeResponseHeader,
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader, SearchOffsetRequestHeader, SearchOffsetResponseHeader,
};
use sluice_remoting::net::Channel;
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};
use sluice_store::consume_queue::BoundaryType as StoreBoundary;
use sluice_store::MessageStore;

use super::Processors;
use crate::state::BrokerState;

type Handler = fn(&MessageStore, &RemotingCommand) -> RemotingCommand;

/// Routes the four offset queries to this module.
pub fn register(table: &mut Processors, state: Arc<BrokerState>) {
    let handlers: [(RequestCode, Handler); 4] = [
        (RequestCode::GetMaxOffset, get_max_offset),
        (RequestCode::GetMinOffset, get_min_offset),
        (
            RequestCode::SearchOffsetByTimestamp,
            search_offset_by_timestamp,
        ),
        (
            RequestCode::GetEarliestMsgStoretime,
            get_earliest_msg_storetime,
        ),
    ];
    for (code, handler) in handlers {
        let state = state.clone();
        table.register(
            code,
            Arc::new(move |_channel: Channel, request: RemotingCommand| {
                let state = state.clone();
                async move { Some(handler(&state.store, &request)) }
            }),
        );
    }
}

fn bad_header(request: &RemotingCommand, err: impl std::fmt::Display) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::SystemError)
        .with_remark(format!("bad request header: {err}"))
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// GET_MAX_OFFSET: the queue offset the next message will get. `committed=false` (J5) asks for
/// the same value here: every dispatched message is committed (no transient store pool).
pub fn get_max_offset(store: &MessageStore, request: &RemotingCommand) -> RemotingCommand {
    match request.decode_header::<GetMaxOffsetRequestHeader>() {
        Ok(h) => RemotingCommand::response_to(request, ResponseCode::Success).with_header(
            &GetMaxOffsetResponseHeader {
                offset: to_i64(store.max_offset(&h.topic, h.queue_id)),
            },
        ),
        Err(e) => bad_header(request, e),
    }
}

/// GET_MIN_OFFSET: the oldest queue offset still readable.
pub fn get_min_offset(store: &MessageStore, request: &RemotingCommand) -> RemotingCommand {
    match request.decode_header::<GetMinOffsetRequestHeader>() {
        Ok(h) => RemotingCommand::response_to(request, ResponseCode::Success).with_header(
            &GetMinOffsetResponseHeader {
                offset: to_i64(store.min_offset(&h.topic, h.queue_id)),
            },
        ),
        Err(e) => bad_header(request, e),
    }
}

/// SEARCH_OFFSET_BY_TIMESTAMP: with `boundaryType` LOWER (default) the first message stored at or
/// after the time, with UPPER the last one stored at or before it.
pub fn search_offset_by_timestamp(
    store: &MessageStore,
    request: &RemotingCommand,
) -> RemotingCommand {
    let h = match request.decode_header::<SearchOffsetRequestHeader>() {
        Ok(h) => h,
        Err(e) => return bad_header(request, e),
    };
    let offset = match h.boundary_type.unwrap_or_default() {
        BoundaryType::Lower => store.offset_by_time(&h.topic, h.queue_id, h.timestamp),
        BoundaryType::Upper => match store.consume_queues.get(&h.topic, h.queue_id) {
            Some(cq) => {
                let lookup = |phy: i64, size: i32| store.store_timestamp_at(phy, size);
                cq.offset_by_time(
                    h.timestamp,
                    StoreBoundary::Upper,
                    to_i64(store.commit_log.min_offset()),
                    &lookup,
                )
            }
            None => 0,
        },
    };
    RemotingCommand::response_to(request, ResponseCode::Success).with_header(
        &SearchOffsetResponseHeader {
            offset: to_i64(offset),
        },
    )
}

/// GET_EARLIEST_MSG_STORETIME: store time of the oldest message in the queue, -1 when empty.
pub fn get_earliest_msg_storetime(
    store: &MessageStore,
    request: &RemotingCommand,
) -> RemotingCommand {
    match request.decode_header::<GetEarliestMsgStoretimeRequestHeader>() {
        Ok(h) => RemotingCommand::response_to(request, ResponseCode::Success).with_header(
            &GetEarliestMsgStoretimeResponseHeader {
                timestamp: store
                    .earliest_message_time(&h.topic, h.queue_id)
                    .unwrap_or(-1),
            },
        ),
        Err(e) => bad_header(request, e),
    }
}
