//! [`Admin`]: the cluster-management requests mqadmin is built on, each returning the typed
//! body and failing with the server's code name and remark.

use std::collections::BTreeSet;
use std::sync::Arc;

use sluice_remoting::body::{
    ClusterInfo, ConsumeStats, ConsumerConnection, JsonBody, KVTable, ProducerConnection,
    Properties, TopicConfig, TopicList, TopicRouteData, TopicStatsTable,
};
use sluice_remoting::header::{
    CommandHeader, CreateTopicRequestHeader, DeleteTopicFromNamesrvRequestHeader,
    DeleteTopicRequestHeader, GetConsumeStatsRequestHeader, GetConsumerConnectionListRequestHeader,
    GetProducerConnectionListRequestHeader, GetTopicStatsInfoRequestHeader,
    QueryMessageRequestHeader, ViewMessageRequestHeader, UNIQUE_KEY_QUERY,
};
use sluice_remoting::message::msgid::decode_offset_msg_id;
use sluice_remoting::message::{decode_messages, MessageExt};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};

use crate::config::ClientConfig;
use crate::error::{request_code_name, ClientError, Result};
use crate::instance::ClientInstance;

/// Administrative access to a cluster through its NameServers.
#[derive(Clone, Debug)]
pub struct Admin {
    instance: Arc<ClientInstance>,
}

fn decode_body<T: JsonBody>(
    addr: &str,
    code: RequestCode,
    response: &RemotingCommand,
) -> Result<T> {
    T::decode(&response.body.to_bytes()).map_err(|e| ClientError::Protocol {
        addr: addr.to_string(),
        request: request_code_name(code.as_i32()),
        reason: e.to_string(),
    })
}

impl Admin {
    /// An admin client for the NameServers `namesrv_addrs` (`;`-separated).
    pub fn connect(namesrv_addrs: &str) -> Result<Self> {
        Self::with_config(ClientConfig::with_namesrv(namesrv_addrs)?)
    }

    pub fn with_config(config: ClientConfig) -> Result<Self> {
        Ok(Self {
            instance: ClientInstance::new(config)?,
        })
    }

    /// Shares an existing instance.
    pub fn with_instance(instance: Arc<ClientInstance>) -> Self {
        Self { instance }
    }

    pub fn instance(&self) -> &Arc<ClientInstance> {
        &self.instance
    }

    pub async fn shutdown(&self) {
        self.instance.shutdown().await;
    }

    async fn namesrv(
        &self,
        code: RequestCode,
        request: RemotingCommand,
    ) -> Result<(String, RemotingCommand)> {
        let (addr, response) = self.instance.invoke_namesrv(request).await?;
        if response.code != ResponseCode::Success.as_i32() {
            return Err(ClientError::from_response(&addr, code.as_i32(), &response));
        }
        Ok((addr, response))
    }

    async fn broker(&self, addr: &str, request: RemotingCommand) -> Result<RemotingCommand> {
        self.instance
            .invoke_ok(addr, request, self.instance.config.request_timeout)
            .await
    }

    /// Every broker group and cluster (GET_BROKER_CLUSTER_INFO).
    pub async fn cluster_info(&self) -> Result<ClusterInfo> {
        let code = RequestCode::GetBrokerClusterInfo;
        let (addr, response) = self.namesrv(code, RemotingCommand::request(code)).await?;
        decode_body(&addr, code, &response)
    }

    /// The master addresses of `cluster`'s broker groups.
    pub async fn cluster_masters(&self, cluster: &str) -> Result<Vec<String>> {
        let info = self.cluster_info().await?;
        let names = info.cluster_addr_table.get(cluster).ok_or_else(|| {
            ClientError::Config(format!("cluster {cluster} is not known to the NameServer"))
        })?;
        Ok(names
            .iter()
            .filter_map(|name| info.broker_addr_table.get(name))
            .filter_map(|b| b.master_addr().map(str::to_string))
            .collect())
    }

    /// Every topic the NameServer knows (GET_ALL_TOPIC_LIST_FROM_NAMESERVER).
    pub async fn topic_list(&self) -> Result<TopicList> {
        let code = RequestCode::GetAllTopicListFromNameserver;
        let (addr, response) = self.namesrv(code, RemotingCommand::request(code)).await?;
        decode_body(&addr, code, &response)
    }

    /// A topic's route; an unknown topic is [`ClientError::NoRoute`].
    pub async fn topic_route(&self, topic: &str) -> Result<TopicRouteData> {
        self.instance
            .fetch_route(topic)
            .await?
            .ok_or_else(|| ClientError::NoRoute {
                topic: topic.to_string(),
                reason: "the NameServer answered TOPIC_NOT_EXIST".into(),
            })
    }

    /// Creates or updates `config` on the broker at `broker_addr` (UPDATE_AND_CREATE_TOPIC).
    pub async fn create_topic(&self, broker_addr: &str, config: &TopicConfig) -> Result<()> {
        crate::message::validate_topic(&config.topic_name)?;
        let header = CreateTopicRequestHeader {
            topic: config.topic_name.clone(),
            default_topic: crate::instance::AUTO_CREATE_TOPIC.to_string(),
            read_queue_nums: config.read_queue_nums,
            write_queue_nums: config.write_queue_nums,
            perm: config.perm,
            topic_filter_type: config.topic_filter_type.name().to_string(),
            topic_sys_flag: Some(config.topic_sys_flag),
            order: config.order,
            ..Default::default()
        };
        let request =
            RemotingCommand::request(RequestCode::UpdateAndCreateTopic).with_header(&header);
        self.broker(broker_addr, request).await.map(drop)
    }

    /// [`Self::create_topic`] on every master of `cluster`; returns their addresses.
    pub async fn create_topic_in_cluster(
        &self,
        cluster: &str,
        config: &TopicConfig,
    ) -> Result<Vec<String>> {
        let masters = self.cluster_masters(cluster).await?;
        for addr in &masters {
            self.create_topic(addr, config).await?;
        }
        Ok(masters)
    }

    /// Deletes `topic` from every master of `cluster`, then from the NameServers.
    pub async fn delete_topic(&self, topic: &str, cluster: &str) -> Result<()> {
        let header = DeleteTopicRequestHeader {
            topic: topic.to_string(),
            ..Default::default()
        };
        for addr in self.cluster_masters(cluster).await? {
            let request =
                RemotingCommand::request(RequestCode::DeleteTopicInBroker).with_header(&header);
            self.broker(&addr, request).await?;
        }
        let ns_header = DeleteTopicFromNamesrvRequestHeader {
            topic: topic.to_string(),
            cluster_name: Some(cluster.to_string()),
            ..Default::default()
        };
        let mut failures = Vec::new();
        for addr in &self.instance.config.namesrv_addrs {
            let request =
                RemotingCommand::request(RequestCode::DeleteTopicInNamesrv).with_header(&ns_header);
            if let Err(error) = self.broker(addr, request).await {
                failures.push(error.to_string());
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ClientError::Config(format!(
                "topic {topic} deleted from the brokers but not from every NameServer: {}",
                failures.join("; ")
            )))
        }
    }

    async fn broker_body<H: CommandHeader, T: JsonBody>(
        &self,
        addr: &str,
        code: RequestCode,
        header: &H,
    ) -> Result<T> {
        let response = self
            .broker(addr, RemotingCommand::request(code).with_header(header))
            .await?;
        decode_body(addr, code, &response)
    }

    /// Per-queue offset ranges of `topic` on one broker (GET_TOPIC_STATS_INFO).
    pub async fn topic_stats(&self, broker_addr: &str, topic: &str) -> Result<TopicStatsTable> {
        let header = GetTopicStatsInfoRequestHeader {
            topic: topic.to_string(),
            ..Default::default()
        };
        self.broker_body(broker_addr, RequestCode::GetTopicStatsInfo, &header)
            .await
    }

    /// A group's progress on one broker (GET_CONSUME_STATS), optionally for one topic.
    pub async fn consume_stats(
        &self,
        broker_addr: &str,
        group: &str,
        topic: Option<&str>,
    ) -> Result<ConsumeStats> {
        let header = GetConsumeStatsRequestHeader {
            consumer_group: group.to_string(),
            topic: topic.map(str::to_string),
            ..Default::default()
        };
        self.broker_body(broker_addr, RequestCode::GetConsumeStats, &header)
            .await
    }

    /// The connections of a consumer group on one broker.
    pub async fn consumer_connection(
        &self,
        broker_addr: &str,
        group: &str,
    ) -> Result<ConsumerConnection> {
        let header = GetConsumerConnectionListRequestHeader {
            consumer_group: group.to_string(),
            ..Default::default()
        };
        self.broker_body(broker_addr, RequestCode::GetConsumerConnectionList, &header)
            .await
    }

    /// The connections of a producer group on one broker.
    pub async fn producer_connection(
        &self,
        broker_addr: &str,
        group: &str,
    ) -> Result<ProducerConnection> {
        let header = GetProducerConnectionListRequestHeader {
            producer_group: group.to_string(),
            ..Default::default()
        };
        self.broker_body(broker_addr, RequestCode::GetProducerConnectionList, &header)
            .await
    }

    /// A broker's runtime statistics (GET_BROKER_RUNTIME_INFO).
    pub async fn broker_runtime_info(&self, broker_addr: &str) -> Result<KVTable> {
        let code = RequestCode::GetBrokerRuntimeInfo;
        let response = self
            .broker(broker_addr, RemotingCommand::request(code))
            .await?;
        decode_body(broker_addr, code, &response)
    }

    /// A broker's configuration (GET_BROKER_CONFIG, `key=value` lines).
    pub async fn broker_config(&self, broker_addr: &str) -> Result<Properties> {
        let code = RequestCode::GetBrokerConfig;
        let response = self
            .broker(broker_addr, RemotingCommand::request(code))
            .await?;
        Properties::decode(&response.body.to_bytes()).map_err(|e| ClientError::Protocol {
            addr: broker_addr.to_string(),
            request: "GET_BROKER_CONFIG",
            reason: e.to_string(),
        })
    }

    /// Changes broker settings at runtime (UPDATE_BROKER_CONFIG).
    pub async fn update_broker_config(
        &self,
        broker_addr: &str,
        changes: &Properties,
    ) -> Result<()> {
        let request =
            RemotingCommand::request(RequestCode::UpdateBrokerConfig).with_body(changes.encode());
        self.broker(broker_addr, request).await.map(drop)
    }

    /// The message with this offset msgId, read from the broker the id names
    /// (VIEW_MESSAGE_BY_ID).
    pub async fn view_message(&self, offset_msg_id: &str) -> Result<MessageExt> {
        let (store_host, offset) = decode_offset_msg_id(offset_msg_id)
            .map_err(|e| ClientError::InvalidMessage(e.to_string()))?;
        let addr = store_host.to_string();
        let header = ViewMessageRequestHeader {
            topic: None,
            offset,
        };
        let response = self
            .broker(
                &addr,
                RemotingCommand::request(RequestCode::ViewMessageById).with_header(&header),
            )
            .await?;
        let mut messages = decode_messages(&response.body.to_bytes(), true).map_err(|e| {
            ClientError::Protocol {
                addr: addr.clone(),
                request: "VIEW_MESSAGE_BY_ID",
                reason: e.to_string(),
            }
        })?;
        if messages.is_empty() {
            return Err(ClientError::Protocol {
                addr,
                request: "VIEW_MESSAGE_BY_ID",
                reason: "the answer holds no message".into(),
            });
        }
        Ok(messages.remove(0))
    }

    /// Messages of `topic` whose KEYS (or, with `unique_key`, whose UNIQ_KEY) equal `key`,
    /// stored between the two timestamps, from every master of the topic (QUERY_MESSAGE).
    pub async fn query_messages(
        &self,
        topic: &str,
        key: &str,
        max_num: i32,
        begin_ms: i64,
        end_ms: i64,
        unique_key: bool,
    ) -> Result<Vec<MessageExt>> {
        let route = self.topic_route(topic).await?;
        let masters: BTreeSet<String> = route
            .broker_datas
            .iter()
            .filter_map(|b| b.master_addr().map(str::to_string))
            .collect();
        let header = QueryMessageRequestHeader {
            topic: topic.to_string(),
            key: key.to_string(),
            max_num,
            begin_timestamp: begin_ms,
            end_timestamp: end_ms,
            ..Default::default()
        };
        let mut found = Vec::new();
        for addr in masters {
            let request = RemotingCommand::request(RequestCode::QueryMessage)
                .with_header(&header)
                .with_ext(UNIQUE_KEY_QUERY, unique_key.to_string());
            let response = self
                .instance
                .invoke(&addr, request, self.instance.config.request_timeout)
                .await?;
            match ResponseCode::from_i32(response.code) {
                Some(ResponseCode::Success) => {
                    let messages =
                        decode_messages(&response.body.to_bytes(), true).map_err(|e| {
                            ClientError::Protocol {
                                addr: addr.clone(),
                                request: "QUERY_MESSAGE",
                                reason: e.to_string(),
                            }
                        })?;
                    found.extend(messages);
                }
                Some(ResponseCode::QueryNotFound) => {}
                _ => {
                    return Err(ClientError::from_response(
                        &addr,
                        RequestCode::QueryMessage.as_i32(),
                        &response,
                    ))
                }
            }
        }
        Ok(found)
    }
}
