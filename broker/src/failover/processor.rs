//! GET_BROKER_EPOCH_CACHE (1007): this replica's epoch history and CommitLog end, plus its HA
//! address in `extFields.haServerAddr` (a Sluice extra), so that a joining replica can find the
//! offset it shares with this master and connect to it.

use std::sync::Arc;

use sluice_remoting::body::{EpochEntryCache, JsonBody};
use sluice_remoting::net::Channel;
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};

use crate::processor::Processors;
use crate::state::BrokerState;

pub fn register(table: &mut Processors, state: Arc<BrokerState>) {
    table.register(
        RequestCode::GetBrokerEpochCache,
        Arc::new(move |_channel: Channel, request: RemotingCommand| {
            let state = state.clone();
            async move { Some(epoch_cache(&state, &request)) }
        }),
    );
}

fn epoch_cache(state: &BrokerState, request: &RemotingCommand) -> RemotingCommand {
    let config = state.config();
    let max_offset = state.store.commit_log.max_offset() as i64;
    let mut entries = state.failover.history().entries().to_vec();
    if let Some(last) = entries.last_mut() {
        last.end_offset = max_offset;
    }
    let body = EpochEntryCache {
        cluster_name: config.broker_cluster_name.clone(),
        broker_name: config.broker_name.clone(),
        broker_id: config.broker_id,
        epoch_list: entries,
        max_offset,
    };
    RemotingCommand::response_to(request, ResponseCode::Success)
        .with_ext("haServerAddr", config.ha_server_addr())
        .with_body(body.encode())
}
