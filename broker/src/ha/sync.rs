//! A slave's copy of its master's metadata (Apache's `SlaveSynchronize`): every 10 s (first after 3 s) it asks the
//! master (its Remoting address from the NameServer's register answer) for GET_ALL_TOPIC_CONFIG,
//! GET_ALL_CONSUMER_OFFSET, GET_ALL_DELAY_OFFSET and GET_ALL_SUBSCRIPTIONGROUP_CONFIG and applies what differs.
//! While the master is unreachable nothing changes, so offsets committed to the slave meanwhile are kept until the
//! master is back (then the master's table wins, as in Apache).

use std::sync::Arc;
use std::time::Duration;

use sluice_remoting::body::{
    ConsumerOffsetFile, JsonBody, SubscriptionGroupWrapper, TopicConfigSerializeWrapper,
};
use sluice_remoting::net::{ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::schedule::offsets::{DelayOffsetTable, DELAY_OFFSET_FILE};
use crate::state::BrokerState;

const FIRST_SYNC: Duration = Duration::from_secs(3);
const SYNC_PERIOD: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

pub fn spawn(state: Arc<BrokerState>, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
        let mut wait = FIRST_SYNC;
        loop {
            tokio::select! {
                _ = stop.cancelled() => { client.close_all(); return; }
                _ = tokio::time::sleep(wait) => {}
            }
            wait = SYNC_PERIOD;
            let Some(master) = state.ha.master_addr() else {
                continue;
            };
            tokio::select! {
                _ = stop.cancelled() => { client.close_all(); return; }
                r = sync_once(&state, &client, &master) => if let Err(e) = r {
                    tracing::debug!(master = %master, error = %e, "slave config sync failed; will retry");
                }
            }
        }
    })
}

async fn fetch(
    client: &RemotingClient,
    addr: &str,
    code: RequestCode,
) -> Result<bytes::Bytes, String> {
    let r = client
        .invoke(addr, RemotingCommand::request(code), REQUEST_TIMEOUT)
        .await
        .map_err(|e| format!("{code}: {e}"))?;
    if r.code != ResponseCode::Success.as_i32() {
        return Err(format!(
            "{code}: answered {} ({})",
            r.code,
            r.remark.unwrap_or_default()
        ));
    }
    Ok(r.body.to_bytes())
}

/// One round: fetch all four tables and apply them.
pub async fn sync_once(
    state: &Arc<BrokerState>,
    client: &RemotingClient,
    master: &str,
) -> Result<(), String> {
    let topics = fetch(client, master, RequestCode::GetAllTopicConfig).await?;
    let topics = TopicConfigSerializeWrapper::decode(&topics).map_err(|e| e.to_string())?;
    apply_topics(state, topics);

    let offsets = fetch(client, master, RequestCode::GetAllConsumerOffset).await?;
    let offsets = ConsumerOffsetFile::decode(&offsets).map_err(|e| e.to_string())?;
    apply_offsets(state, offsets);

    let delay = fetch(client, master, RequestCode::GetAllDelayOffset).await?;
    if !delay.is_empty() {
        let text = String::from_utf8_lossy(&delay).into_owned();
        let table = DelayOffsetTable::decode(&text)?;
        let path = state.config().config_dir().join(DELAY_OFFSET_FILE);
        tokio::task::spawn_blocking(move || {
            let current = DelayOffsetTable::load(&path).ok();
            if current.as_ref() != Some(&table) {
                if let Err(e) = table.persist(&path) {
                    tracing::warn!(file = %path.display(), error = %e, "cannot write the synced delay offsets");
                }
            }
        })
        .await
        .map_err(|e| e.to_string())?;
    }

    let groups = fetch(client, master, RequestCode::GetAllSubscriptiongroupConfig).await?;
    let groups = SubscriptionGroupWrapper::decode(&groups).map_err(|e| e.to_string())?;
    apply_groups(state, groups);
    Ok(())
}

fn apply_topics(state: &BrokerState, wrapper: TopicConfigSerializeWrapper) {
    let topics = &state.topics;
    for (name, config) in &wrapper.topic_config_table {
        if topics.get(name).as_deref() != Some(config) {
            if let Err(e) = topics.update(config.clone()) {
                tracing::warn!(topic = %name, error = %e, "cannot apply the master's topic config");
            }
        }
    }
    for name in topics.topic_names() {
        if !wrapper.topic_config_table.contains_key(&name) {
            topics.delete(&name);
        }
    }
}

fn apply_groups(state: &BrokerState, wrapper: SubscriptionGroupWrapper) {
    let groups = &state.subscription_groups;
    for (name, config) in &wrapper.subscription_group_table {
        if groups.get(name).as_deref() != Some(config) {
            if let Err(e) = groups.update(config.clone()) {
                tracing::warn!(group = %name, error = %e, "cannot apply the master's subscription group");
            }
        }
    }
    for name in groups.group_names() {
        if !wrapper.subscription_group_table.contains_key(&name) {
            groups.delete(&name);
        }
    }
}

fn apply_offsets(state: &BrokerState, file: ConsumerOffsetFile) {
    let offsets = &state.consumer_offsets;
    for (key, queues) in &file.offset_table {
        let Some((topic, group)) = ConsumerOffsetFile::split_key(key) else {
            continue;
        };
        if offsets.query_offsets(group, topic).as_ref() != Some(queues) {
            offsets.reset_offsets(group, topic, queues);
        }
    }
}
