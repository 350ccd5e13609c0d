//! The Admin API: typed calls to a NameServer and brokers, what `mqadmin` is built on.
//!
//! Every call is one Remoting request built from `sluice_remoting`'s typed headers and bodies;
//! a non-success response becomes an [`AdminError::Refused`] naming the server, the response
//! code and the server's remark, so a tool can show the user what went wrong where.

mod message;

use std::time::Duration;

use sluice_remoting::body::{
    ClusterInfo, ConsumeStats, ConsumerConnection, GroupList, HARuntimeInfo, JsonBody, KVTable,
    ProducerConnection, ResetOffsetBody, SubscriptionGroupConfig, TopicConfig, TopicList,
    TopicRouteData, TopicStatsTable,
};
use sluice_remoting::header::{
    CreateTopicRequestHeader, DeleteSubscriptionGroupRequestHeader,
    DeleteTopicFromNamesrvRequestHeader, DeleteTopicRequestHeader, GetConsumeStatsRequestHeader,
    GetConsumerConnectionListRequestHeader, GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader,
    GetMinOffsetRequestHeader, GetMinOffsetResponseHeader, GetProducerConnectionListRequestHeader,
    GetRouteInfoRequestHeader, GetTopicStatsInfoRequestHeader, QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader, QueryTopicConsumeByWhoRequestHeader,
    ResetOffsetRequestHeader, SearchOffsetRequestHeader, SearchOffsetResponseHeader,
    UpdateConsumerOffsetRequestHeader,
};
use sluice_remoting::net::{ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{RemotingCommand, RemotingError, RequestCode, ResponseCode};

pub use message::{now_millis, MessageQuery, OutgoingMessage, PullOutcome, SendOutcome};

/// What an admin call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The request never got an answer (connection refused, timeout, bad frame).
    #[error("{0}")]
    Remoting(#[from] RemotingError),
    /// The server answered with a failure code.
    #[error("{server} refused {request}: code {code}, {remark}")]
    Refused {
        server: String,
        request: String,
        code: i32,
        remark: String,
    },
    /// The answer was understood but names nothing to act on (no route, no such message...).
    #[error("{0}")]
    NotFound(String),
    /// The caller's input cannot be used.
    #[error("{0}")]
    Invalid(String),
}

impl AdminError {
    /// Whether the server reported the topic as unknown.
    pub fn is_topic_not_exist(&self) -> bool {
        matches!(self, AdminError::Refused { code, .. } if *code == ResponseCode::TopicNotExist.as_i32())
    }
}

pub type Result<T, E = AdminError> = std::result::Result<T, E>;

/// One master broker as the cluster table names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerRef {
    pub cluster: String,
    pub broker_name: String,
    pub broker_id: i64,
    pub addr: String,
}

/// An admin session: NameServer addresses and one connection pool for every server it talks to.
pub struct Admin {
    pub namesrv_addrs: Vec<String>,
    pub timeout: Duration,
    client: RemotingClient,
}

impl Admin {
    /// `namesrv` is one address or a `;`-separated list, as `-n` takes it.
    pub fn new(namesrv: &str) -> Result<Self> {
        let namesrv_addrs: Vec<String> = namesrv
            .split(';')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        if namesrv_addrs.is_empty() {
            return Err(AdminError::Invalid(
                "no NameServer address: pass -n ip:port or set NAMESRV_ADDR".into(),
            ));
        }
        let config = ClientConfig {
            connect_timeout: Duration::from_secs(3),
            ..ClientConfig::default()
        };
        Ok(Self {
            namesrv_addrs,
            timeout: Duration::from_secs(5),
            client: RemotingClient::new(config, ProcessorTable::new()),
        })
    }

    /// Sends `request` to `addr`; a response code other than SUCCESS is an error.
    pub async fn invoke(&self, addr: &str, request: RemotingCommand) -> Result<RemotingCommand> {
        let code = request.code;
        let response = self.invoke_raw(addr, request).await?;
        if response.code != ResponseCode::Success.as_i32() {
            return Err(refused(addr, code, &response));
        }
        Ok(response)
    }

    /// Sends `request` to `addr` and returns whatever answer comes back.
    pub async fn invoke_raw(
        &self,
        addr: &str,
        request: RemotingCommand,
    ) -> Result<RemotingCommand> {
        Ok(self.client.invoke(addr, request, self.timeout).await?)
    }

    /// Sends `request` to the first NameServer that answers.
    async fn invoke_namesrv(&self, build: impl Fn() -> RemotingCommand) -> Result<RemotingCommand> {
        let mut last = None;
        for addr in &self.namesrv_addrs {
            let request = build();
            let code = request.code;
            match self.client.invoke(addr, request, self.timeout).await {
                Ok(response) if response.code == ResponseCode::Success.as_i32() => {
                    return Ok(response)
                }
                Ok(response) => return Err(refused(addr, code, &response)),
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) => AdminError::Remoting(e),
            None => AdminError::Invalid("no NameServer address".into()),
        })
    }

    pub async fn topic_list(&self) -> Result<TopicList> {
        let response = self
            .invoke_namesrv(|| RemotingCommand::request(RequestCode::GetAllTopicListFromNameserver))
            .await?;
        Ok(TopicList::decode(&response.body.to_bytes())?)
    }

    /// The route of `topic`; an unknown topic is [`AdminError::NotFound`].
    pub async fn topic_route(&self, topic: &str) -> Result<TopicRouteData> {
        let header = GetRouteInfoRequestHeader {
            topic: topic.into(),
            accept_standard_json_only: Some(true),
            ..Default::default()
        };
        let response = self
            .invoke_namesrv(|| {
                RemotingCommand::request(RequestCode::GetRouteinfoByTopic).with_header(&header)
            })
            .await;
        match response {
            Ok(r) => Ok(TopicRouteData::decode(&r.body.to_bytes())?),
            Err(AdminError::Refused { code, .. })
                if code == ResponseCode::TopicNotExist.as_i32() =>
            {
                Err(AdminError::NotFound(format!(
                    "No topic route info in name server for the topic: {topic} \
                     (create it with mqadmin updateTopic)"
                )))
            }
            Err(e) => Err(e),
        }
    }

    /// The route of `topic`, asking again for up to `within` while the NameServer does not know it
    /// yet: a broker reports a topic created a moment ago with its next registration (a fraction of
    /// a second later), so `updateTopic` followed at once by `sendMessage` must not fail.
    pub async fn wait_topic_route(
        &self,
        topic: &str,
        within: std::time::Duration,
    ) -> Result<TopicRouteData> {
        let deadline = std::time::Instant::now() + within;
        loop {
            match self.topic_route(topic).await {
                Err(AdminError::NotFound(_)) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    }

    pub async fn cluster_info(&self) -> Result<ClusterInfo> {
        let response = self
            .invoke_namesrv(|| RemotingCommand::request(RequestCode::GetBrokerClusterInfo))
            .await?;
        Ok(ClusterInfo::decode(&response.body.to_bytes())?)
    }

    /// The master of every broker group in `cluster`, sorted by broker name.
    pub async fn cluster_masters(&self, cluster: &str) -> Result<Vec<BrokerRef>> {
        let info = self.cluster_info().await?;
        let names = info.cluster_addr_table.get(cluster).ok_or_else(|| {
            AdminError::NotFound(format!(
                "cluster {cluster} is not known to the NameServer (see mqadmin clusterList)"
            ))
        })?;
        let mut out = Vec::new();
        for name in names {
            if let Some(addr) = info
                .broker_addr_table
                .get(name)
                .and_then(|b| b.master_addr())
            {
                out.push(BrokerRef {
                    cluster: cluster.to_string(),
                    broker_name: name.clone(),
                    broker_id: 0,
                    addr: addr.to_string(),
                });
            }
        }
        Ok(out)
    }

    /// The master address of broker group `broker_name`.
    pub async fn broker_addr_by_name(&self, broker_name: &str) -> Result<String> {
        let info = self.cluster_info().await?;
        info.broker_addr_table
            .get(broker_name)
            .and_then(|b| b.master_addr())
            .map(str::to_owned)
            .ok_or_else(|| {
                AdminError::NotFound(format!(
                    "broker {broker_name} has no master registered (see mqadmin clusterList)"
                ))
            })
    }

    pub async fn create_topic(&self, broker_addr: &str, config: &TopicConfig) -> Result<()> {
        let attributes = (!config.attributes.is_empty()).then(|| {
            config
                .attributes
                .iter()
                .map(|(k, v)| format!("+{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        });
        let header = CreateTopicRequestHeader {
            topic: config.topic_name.clone(),
            default_topic: "TBW102".into(),
            read_queue_nums: config.read_queue_nums,
            write_queue_nums: config.write_queue_nums,
            perm: config.perm,
            topic_filter_type: config.topic_filter_type.name().into(),
            topic_sys_flag: Some(config.topic_sys_flag),
            order: config.order,
            attributes,
            ..Default::default()
        };
        let request =
            RemotingCommand::request(RequestCode::UpdateAndCreateTopic).with_header(&header);
        self.invoke(broker_addr, request).await.map(drop)
    }

    pub async fn delete_topic_in_broker(&self, broker_addr: &str, topic: &str) -> Result<()> {
        let header = DeleteTopicRequestHeader {
            topic: topic.into(),
            ..Default::default()
        };
        let request =
            RemotingCommand::request(RequestCode::DeleteTopicInBroker).with_header(&header);
        self.invoke(broker_addr, request).await.map(drop)
    }

    /// Removes `topic` from every NameServer (each keeps its own table).
    pub async fn delete_topic_in_namesrv(&self, topic: &str, cluster: Option<&str>) -> Result<()> {
        let header = DeleteTopicFromNamesrvRequestHeader {
            topic: topic.into(),
            cluster_name: cluster.map(str::to_owned),
            ..Default::default()
        };
        for addr in &self.namesrv_addrs {
            let request =
                RemotingCommand::request(RequestCode::DeleteTopicInNamesrv).with_header(&header);
            self.invoke(addr, request).await?;
        }
        Ok(())
    }

    pub async fn topic_stats(&self, broker_addr: &str, topic: &str) -> Result<TopicStatsTable> {
        let header = GetTopicStatsInfoRequestHeader {
            topic: topic.into(),
            ..Default::default()
        };
        let request = RemotingCommand::request(RequestCode::GetTopicStatsInfo).with_header(&header);
        let response = self.invoke(broker_addr, request).await?;
        Ok(TopicStatsTable::decode(&response.body.to_bytes())?)
    }

    pub async fn broker_runtime_info(&self, broker_addr: &str) -> Result<KVTable> {
        let request = RemotingCommand::request(RequestCode::GetBrokerRuntimeInfo);
        let response = self.invoke(broker_addr, request).await?;
        Ok(KVTable::decode(&response.body.to_bytes())?)
    }

    /// Replication state of one broker (GET_BROKER_HA_STATUS, 5.x). A broker that does not
    /// serve the request is reported as [`AdminError::Invalid`] saying HA is unavailable there.
    pub async fn ha_status(&self, broker_addr: &str) -> Result<HARuntimeInfo> {
        let request = RemotingCommand::request(RequestCode::GetBrokerHaStatus);
        let code = request.code;
        let response = self.invoke_raw(broker_addr, request).await?;
        if response.code == ResponseCode::RequestCodeNotSupported.as_i32() {
            return Err(AdminError::Invalid(format!(
                "broker {broker_addr} does not serve GET_BROKER_HA_STATUS: master/slave \
                 replication (HA) is not available on it"
            )));
        }
        if response.code != ResponseCode::Success.as_i32() {
            return Err(refused(broker_addr, code, &response));
        }
        Ok(HARuntimeInfo::decode(&response.body.to_bytes())?)
    }

    /// The broker's live configuration as `key=value` lines (Java properties text).
    pub async fn broker_config(&self, broker_addr: &str) -> Result<Vec<(String, String)>> {
        let request = RemotingCommand::request(RequestCode::GetBrokerConfig);
        let response = self.invoke(broker_addr, request).await?;
        let text = String::from_utf8_lossy(&response.body.to_bytes()).into_owned();
        let mut pairs: Vec<(String, String)> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        pairs.sort();
        Ok(pairs)
    }

    pub async fn update_broker_config(
        &self,
        broker_addr: &str,
        key: &str,
        value: &str,
    ) -> Result<()> {
        let body = format!("{key}={value}\n");
        let request =
            RemotingCommand::request(RequestCode::UpdateBrokerConfig).with_body(body.into_bytes());
        self.invoke(broker_addr, request).await.map(drop)
    }

    pub async fn create_subscription_group(
        &self,
        broker_addr: &str,
        config: &SubscriptionGroupConfig,
    ) -> Result<()> {
        let request = RemotingCommand::request(RequestCode::UpdateAndCreateSubscriptiongroup)
            .with_body(config.encode());
        self.invoke(broker_addr, request).await.map(drop)
    }

    pub async fn delete_subscription_group(
        &self,
        broker_addr: &str,
        group: &str,
        remove_offset: bool,
    ) -> Result<()> {
        let header = DeleteSubscriptionGroupRequestHeader {
            group_name: group.into(),
            clean_offset: Some(remove_offset),
            remove_offset: Some(remove_offset),
            ..Default::default()
        };
        let request =
            RemotingCommand::request(RequestCode::DeleteSubscriptiongroup).with_header(&header);
        self.invoke(broker_addr, request).await.map(drop)
    }

    pub async fn consume_stats(
        &self,
        broker_addr: &str,
        group: &str,
        topic: Option<&str>,
    ) -> Result<ConsumeStats> {
        let header = GetConsumeStatsRequestHeader {
            consumer_group: group.into(),
            topic: topic.map(str::to_owned),
            ..Default::default()
        };
        let request = RemotingCommand::request(RequestCode::GetConsumeStats).with_header(&header);
        let response = self.invoke(broker_addr, request).await?;
        Ok(ConsumeStats::decode(&response.body.to_bytes())?)
    }

    pub async fn consumer_connection(
        &self,
        broker_addr: &str,
        group: &str,
    ) -> Result<ConsumerConnection> {
        let header = GetConsumerConnectionListRequestHeader {
            consumer_group: group.into(),
            ..Default::default()
        };
        let request =
            RemotingCommand::request(RequestCode::GetConsumerConnectionList).with_header(&header);
        let response = self.invoke(broker_addr, request).await?;
        Ok(ConsumerConnection::decode(&response.body.to_bytes())?)
    }

    pub async fn producer_connection(
        &self,
        broker_addr: &str,
        group: &str,
    ) -> Result<ProducerConnection> {
        let header = GetProducerConnectionListRequestHeader {
            producer_group: group.into(),
            ..Default::default()
        };
        let request =
            RemotingCommand::request(RequestCode::GetProducerConnectionList).with_header(&header);
        let response = self.invoke(broker_addr, request).await?;
        Ok(ProducerConnection::decode(&response.body.to_bytes())?)
    }

    /// The consumer groups subscribed to `topic` at one broker (QUERY_TOPIC_CONSUME_BY_WHO).
    pub async fn topic_consumers(&self, broker_addr: &str, topic: &str) -> Result<Vec<String>> {
        let header = QueryTopicConsumeByWhoRequestHeader {
            topic: topic.into(),
            ..Default::default()
        };
        let request =
            RemotingCommand::request(RequestCode::QueryTopicConsumeByWho).with_header(&header);
        let response = self.invoke(broker_addr, request).await?;
        Ok(GroupList::decode(&response.body.to_bytes())?
            .group_list
            .into_iter()
            .collect())
    }

    pub async fn max_offset(&self, broker_addr: &str, topic: &str, queue_id: i32) -> Result<i64> {
        let header = GetMaxOffsetRequestHeader {
            topic: topic.into(),
            queue_id,
            ..Default::default()
        };
        let request = RemotingCommand::request(RequestCode::GetMaxOffset).with_header(&header);
        let response = self.invoke(broker_addr, request).await?;
        Ok(response
            .decode_header::<GetMaxOffsetResponseHeader>()?
            .offset)
    }

    pub async fn min_offset(&self, broker_addr: &str, topic: &str, queue_id: i32) -> Result<i64> {
        let header = GetMinOffsetRequestHeader {
            topic: topic.into(),
            queue_id,
            ..Default::default()
        };
        let request = RemotingCommand::request(RequestCode::GetMinOffset).with_header(&header);
        let response = self.invoke(broker_addr, request).await?;
        Ok(response
            .decode_header::<GetMinOffsetResponseHeader>()?
            .offset)
    }

    /// The queue offset of the first message stored at or after `timestamp` (ms).
    pub async fn search_offset(
        &self,
        broker_addr: &str,
        topic: &str,
        queue_id: i32,
        timestamp: i64,
    ) -> Result<i64> {
        let header = SearchOffsetRequestHeader {
            topic: topic.into(),
            queue_id,
            timestamp,
            ..Default::default()
        };
        let request =
            RemotingCommand::request(RequestCode::SearchOffsetByTimestamp).with_header(&header);
        let response = self.invoke(broker_addr, request).await?;
        Ok(response
            .decode_header::<SearchOffsetResponseHeader>()?
            .offset)
    }

    /// The group's committed offset of one queue, `-1` when it has none.
    pub async fn consumer_offset(
        &self,
        broker_addr: &str,
        group: &str,
        topic: &str,
        queue_id: i32,
    ) -> Result<i64> {
        let header = QueryConsumerOffsetRequestHeader {
            consumer_group: group.into(),
            topic: topic.into(),
            queue_id,
            ..Default::default()
        };
        let request =
            RemotingCommand::request(RequestCode::QueryConsumerOffset).with_header(&header);
        let code = request.code;
        let response = self.invoke_raw(broker_addr, request).await?;
        if response.code == ResponseCode::QueryNotFound.as_i32() {
            return Ok(-1);
        }
        if response.code != ResponseCode::Success.as_i32() {
            return Err(refused(broker_addr, code, &response));
        }
        Ok(response
            .decode_header::<QueryConsumerOffsetResponseHeader>()?
            .offset)
    }

    /// Stores `group`'s committed offset of one queue (UPDATE_CONSUMER_OFFSET).
    pub async fn update_consumer_offset(
        &self,
        broker_addr: &str,
        group: &str,
        topic: &str,
        queue_id: i32,
        offset: i64,
    ) -> Result<()> {
        let header = UpdateConsumerOffsetRequestHeader {
            consumer_group: group.into(),
            topic: topic.into(),
            queue_id,
            commit_offset: offset,
            ..Default::default()
        };
        let request =
            RemotingCommand::request(RequestCode::UpdateConsumerOffset).with_header(&header);
        self.invoke(broker_addr, request).await.map(drop)
    }

    /// Moves `group`'s offsets on `topic` at one broker to `timestamp` (ms; `-1` = the end),
    /// or, with `queue`, one queue to the offset found for `timestamp` or to the given offset.
    pub async fn reset_offset(
        &self,
        broker_addr: &str,
        topic: &str,
        group: &str,
        timestamp: i64,
        force: bool,
        queue: Option<(i32, Option<i64>)>,
    ) -> Result<ResetOffsetBody> {
        let header = ResetOffsetRequestHeader {
            topic: topic.into(),
            group: group.into(),
            timestamp,
            is_force: force,
            queue_id: queue.map(|(q, _)| q),
            offset: queue.and_then(|(_, o)| o),
            ..Default::default()
        };
        let request =
            RemotingCommand::request(RequestCode::InvokeBrokerToResetOffset).with_header(&header);
        let response = self.invoke(broker_addr, request).await?;
        let body = response.body.to_bytes();
        if body.is_empty() {
            return Ok(ResetOffsetBody::default());
        }
        Ok(ResetOffsetBody::decode(&body)?)
    }
}

fn refused(server: &str, request_code: i32, response: &RemotingCommand) -> AdminError {
    let request = RequestCode::from_i32(request_code)
        .map(|c| c.name().to_string())
        .unwrap_or_else(|| format!("request {request_code}"));
    let code = response.code;
    let name = ResponseCode::from_i32(code).map_or("", |c| c.name());
    AdminError::Refused {
        server: server.to_string(),
        request,
        code,
        remark: format!("{name} {}", response.remark.as_deref().unwrap_or_default())
            .trim()
            .to_string(),
    }
}

/// The `mqadmin` command implementations (one file per group of commands under
/// `client/src/mqadmin/`), reachable as `sluice_client::admin::cli`.
#[path = "../mqadmin/mod.rs"]
pub mod cli;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namesrv_list_is_split_on_semicolons() {
        let admin = Admin::new(" 10.0.0.1:9876 ; 10.0.0.2:9876;").unwrap();
        assert_eq!(admin.namesrv_addrs, ["10.0.0.1:9876", "10.0.0.2:9876"]);
        let err = Admin::new(" ; ").err().expect("an empty list is refused");
        assert!(err.to_string().contains("NAMESRV_ADDR"), "{err}");
    }

    #[test]
    fn refusals_name_server_request_and_code() {
        let request = RemotingCommand::request(RequestCode::UpdateBrokerConfig);
        let response = RemotingCommand::response_to(&request, ResponseCode::NoPermission)
            .with_remark("Can not update config in black list.");
        let err = refused("10.0.0.1:10911", request.code, &response);
        assert!(!err.is_topic_not_exist());
        assert_eq!(
            err.to_string(),
            "10.0.0.1:10911 refused UPDATE_BROKER_CONFIG: code 16, NO_PERMISSION Can not update config in black list."
        );
        let request = RemotingCommand::request(RequestCode::GetRouteinfoByTopic);
        let response = RemotingCommand::response_to(&request, ResponseCode::TopicNotExist);
        assert!(refused("ns", request.code, &response).is_topic_not_exist());
    }
}
