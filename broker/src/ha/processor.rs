//! The replication-related admin codes: GET_BROKER_HA_STATUS (`mqadmin haStatus`), and the two tables a slave
//! copies that no other family serves: GET_ALL_CONSUMER_OFFSET and GET_ALL_DELAY_OFFSET.

use std::sync::Arc;

use sluice_remoting::body::JsonBody;
use sluice_remoting::net::Channel;
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};

use crate::processor::Processors;
use crate::schedule::offsets::DELAY_OFFSET_FILE;
use crate::state::BrokerState;

pub fn register(table: &mut Processors, state: Arc<BrokerState>) {
    for code in [
        RequestCode::GetBrokerHaStatus,
        RequestCode::GetAllConsumerOffset,
        RequestCode::GetAllDelayOffset,
    ] {
        let state = state.clone();
        table.register(
            code,
            Arc::new(move |_channel: Channel, request: RemotingCommand| {
                let state = state.clone();
                async move { Some(process(&state, &request).await) }
            }),
        );
    }
}

async fn process(state: &Arc<BrokerState>, request: &RemotingCommand) -> RemotingCommand {
    let ok = |body: Vec<u8>| {
        RemotingCommand::response_to(request, ResponseCode::Success).with_body(body)
    };
    match RequestCode::from_i32(request.code) {
        Some(RequestCode::GetBrokerHaStatus) => ok(state.ha.runtime_info().encode()),
        Some(RequestCode::GetAllConsumerOffset) => ok(state.consumer_offsets.snapshot().encode()),
        Some(RequestCode::GetAllDelayOffset) => {
            // Apache answers with the file's content (what the schedule service last wrote).
            let path = state.config().config_dir().join(DELAY_OFFSET_FILE);
            let read = tokio::task::spawn_blocking(move || std::fs::read(&path)).await;
            match read {
                Ok(Ok(bytes)) => ok(bytes),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => ok(Vec::new()),
                Ok(Err(e)) => RemotingCommand::response_to(request, ResponseCode::SystemError)
                    .with_remark(format!("cannot read {DELAY_OFFSET_FILE}: {e}")),
                Err(e) => RemotingCommand::response_to(request, ResponseCode::SystemError)
                    .with_remark(e.to_string()),
            }
        }
        _ => RemotingCommand::response_to(request, ResponseCode::RequestCodeNotSupported)
            .with_remark(format!(" request type {} not supported", request.code)),
    }
}
