//! Broker membership: REGISTER_BROKER, UNREGISTER_BROKER, BROKER_HEARTBEAT, QUERY_DATA_VERSION.

use std::sync::Arc;
use std::time::Duration;

use sluice_remoting::body::{body_crc32, DataVersion, JsonBody, RegisterBrokerBody};
use sluice_remoting::header::{
    BrokerHeartbeatRequestHeader, QueryDataVersionRequestHeader, QueryDataVersionResponseHeader,
    RegisterBrokerRequestHeader, RegisterBrokerResponseHeader, UnregisterBrokerRequestHeader,
};
use sluice_remoting::net::Channel;
use sluice_remoting::{RemotingCommand, RemotingError, ResponseCode};

use super::{failure, success, Reply};
use crate::kv::NAMESPACE_ORDER_TOPIC_CONFIG;
use crate::route::Registration;
use crate::state::NamesrvState;

/// Ext field naming the broker's zone (`MixAll.ZONE_NAME`).
const ZONE_NAME: &str = "__ZONE_NAME";

pub(super) fn register(
    state: &Arc<NamesrvState>,
    channel: Channel,
    request: &RemotingCommand,
) -> Reply {
    let h: RegisterBrokerRequestHeader = request.decode_header()?;
    let body = request.body.to_bytes();
    if let Some(expected) = h.body_crc32.filter(|&crc| crc != 0) {
        if body_crc32(&body) != expected {
            tracing::warn!(broker = %h.broker_addr, "register body fails its CRC32 check");
            return Ok(failure(
                request,
                ResponseCode::SystemError,
                "crc32 not match",
            ));
        }
    }
    // No body: a broker with no topics (Java stamps the version 0/0 then).
    let body = if body.is_empty() {
        RegisterBrokerBody::default()
    } else {
        RegisterBrokerBody::decode_from(&body, h.compressed.unwrap_or(false), request.version)?
    };
    let (default_timeout, return_order_config) = {
        let config = state.config();
        (
            config.broker_expiry(),
            config.return_order_topic_config_to_broker,
        )
    };
    let timeout = h
        .heartbeat_timeout_millis
        .and_then(|ms| u64::try_from(ms).ok())
        .filter(|&ms| ms > 0)
        .map_or(default_timeout, Duration::from_millis);

    let channel_id = channel.id();
    let result = state.routes.register_broker(Registration {
        cluster: &h.cluster_name,
        broker_addr: &h.broker_addr,
        broker_name: &h.broker_name,
        broker_id: h.broker_id,
        ha_server_addr: &h.ha_server_addr,
        enable_acting_master: h.enable_acting_master,
        zone_name: request.ext(ZONE_NAME).map(str::to_string),
        topics: &body.topic_config_serialize_wrapper,
        filter_servers: body.filter_server_list,
        timeout,
        channel_id,
        channel: Some(channel.clone()),
    });
    if result.new_channel {
        watch_channel(state, channel);
    }

    let mut response = success(request).with_header(&RegisterBrokerResponseHeader {
        ha_server_addr: result.ha_server_addr,
        master_addr: result.master_addr,
    });
    if return_order_config {
        if let Some(table) = state.kv.list(NAMESPACE_ORDER_TOPIC_CONFIG) {
            response = response.with_body(table.encode());
        }
    }
    Ok(response)
}

/// Removes the brokers of `channel` as soon as it closes.
fn watch_channel(state: &Arc<NamesrvState>, channel: Channel) {
    let state = Arc::downgrade(state);
    let closed = channel.closed();
    let id = channel.id();
    drop(channel);
    tokio::spawn(async move {
        closed.await;
        if let Some(state) = state.upgrade() {
            state.routes.on_channel_closed(id);
        }
    });
}

pub(super) fn unregister(state: &NamesrvState, request: &RemotingCommand) -> Reply {
    let h: UnregisterBrokerRequestHeader = request.decode_header()?;
    tracing::info!(broker = %h.broker_name, addr = %h.broker_addr, id = h.broker_id, "broker unregisters");
    state
        .routes
        .unregister_broker(&h.cluster_name, &h.broker_addr, &h.broker_name);
    Ok(success(request))
}

pub(super) fn heartbeat(state: &NamesrvState, request: &RemotingCommand) -> Reply {
    let h: BrokerHeartbeatRequestHeader = request.decode_header()?;
    if !state.routes.touch_broker(&h.broker_addr) {
        tracing::debug!(addr = %h.broker_addr, "heartbeat from an unregistered broker");
    }
    Ok(success(request))
}

pub(super) fn query_data_version(state: &NamesrvState, request: &RemotingCommand) -> Reply {
    let h: QueryDataVersionRequestHeader = request.decode_header()?;
    let theirs = DataVersion::decode(&request.body.to_bytes())?;
    let ours = state.routes.broker_data_version(&h.broker_addr);
    let changed = ours != Some(theirs);
    if !changed {
        state.routes.touch_broker(&h.broker_addr);
    }
    let mut response = success(request).with_header(&QueryDataVersionResponseHeader { changed });
    if let Some(ours) = ours {
        response = response.with_body(ours.encode());
    }
    Ok(response)
}

/// GET_BROKER_MEMBER_GROUP (5.x) response body (`GetBrokerMemberGroupResponseBody`).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct BrokerMemberGroupBody<'a> {
    broker_member_group: BrokerMemberGroup<'a>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct BrokerMemberGroup<'a> {
    broker_addrs: std::collections::BTreeMap<i64, String>,
    broker_name: &'a str,
    cluster: &'a str,
}

/// A required header field (for headers `sluice-remoting` does not declare).
fn required<'a>(request: &'a RemotingCommand, key: &'static str) -> Result<&'a str, RemotingError> {
    request.ext(key).ok_or_else(|| RemotingError::HeaderField {
        field: key,
        problem: "required field is missing".into(),
    })
}

pub(super) fn member_group(state: &NamesrvState, request: &RemotingCommand) -> Reply {
    let cluster = required(request, "clusterName")?;
    let broker_name = required(request, "brokerName")?;
    let body = BrokerMemberGroupBody {
        broker_member_group: BrokerMemberGroup {
            broker_addrs: state.routes.broker_members(broker_name),
            broker_name,
            cluster,
        },
    };
    Ok(success(request).with_body(sluice_remoting::json::to_legacy(&body)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NamesrvConfig;
    use crate::kv::KvConfigManager;

    #[test]
    fn member_group_body_is_fastjson_legacy() {
        let dir = tempfile::tempdir().unwrap();
        let kv = KvConfigManager::load(&dir.path().join("kv.json")).unwrap();
        let state = NamesrvState::new(NamesrvConfig::default(), kv);
        let request = RemotingCommand::request(sluice_remoting::RequestCode::GetBrokerMemberGroup)
            .with_ext("clusterName", "DefaultCluster")
            .with_ext("brokerName", "broker-a");
        let response = member_group(&state, &request).unwrap();
        assert_eq!(
            String::from_utf8(response.body.to_bytes().to_vec()).unwrap(),
            r#"{"brokerMemberGroup":{"brokerAddrs":{},"brokerName":"broker-a","cluster":"DefaultCluster"}}"#
        );
        let missing = RemotingCommand::request(901).with_ext("clusterName", "c");
        let err = member_group(&state, &missing).unwrap_err().to_string();
        assert!(err.contains("brokerName"), "{err}");
    }
}
