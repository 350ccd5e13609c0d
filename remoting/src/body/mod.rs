//! JSON bodies carried by Remoting commands, each with Java's encoding and a lenient decoder
//! that accepts what every client dialect sends (see [`crate::json`]).
//!
//! Map: [`route`] (TopicRouteData, ClusterInfo), [`topic`] (TopicConfig, DataVersion, the
//! topic table wrapper), [`register`] (RegisterBrokerBody, plain and zlib), [`heartbeat`]
//! (HeartbeatData and the consumer enums), [`queue`] (MessageQueue, lock/unlock batches),
//! [`admin`] (lists, KVTable, connections), [`broker_status`] (HA status, stats, time spans),
//! [`consumer_info`] (running info, direct consume, client config checks), [`stats`]
//! (ConsumeStats, TopicStatsTable, ResetOffsetBody), [`subscription_group`], [`config_files`]
//! (the broker's `config/*.json`), [`properties`] (GET/UPDATE_BROKER_CONFIG text).
//!
//! ```
//! use sluice_remoting::body::{ConsumeType, HeartbeatData, JsonBody, TopicRouteData};
//!
//! // A C++ client's heartbeat: enum ordinals, string subVersion, trailing newline.
//! let body = b"{\"clientID\":\"c1\",\"consumerDataSet\":[{\"consumeType\":1,\"groupName\":\"G\",\
//!     \"subscriptionDataSet\":[{\"subString\":\"*\",\"subVersion\":\"17\",\"topic\":\"T\"}]}]}\n";
//! let heartbeat = HeartbeatData::decode(body)?.with_java_tag_codes();
//! assert_eq!(heartbeat.consumer_data_set[0].consume_type, ConsumeType::ConsumePassively);
//!
//! // A route answer in the form the asking client reads (request version, header flag).
//! let route = TopicRouteData::default();
//! assert_eq!(route.encode_for(317, false), br#"{"brokerDatas":[],"filterServerTable":{},"queueDatas":[]}"#);
//! # Ok::<(), sluice_remoting::RemotingError>(())
//! ```

pub mod admin;
pub mod broker_status;
pub mod config_files;
pub mod consumer_info;
pub mod controller;
pub mod heartbeat;
pub mod properties;
pub mod queue;
pub mod register;
pub mod route;
pub mod stats;
pub mod subscription_group;
pub mod topic;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::RemotingError;
use crate::json;

pub use admin::{
    Connection, ConsumerConnection, GetConsumerListByGroupResponseBody, GroupList, KVTable,
    ProducerConnection, TopicList,
};
pub use broker_status::{
    BrokerStatsData, BrokerStatsItem, HARuntimeInfo, QueryConsumeTimeSpanBody, QueueTimeSpan,
};
pub use config_files::{ConsumerOffsetFile, DelayOffsetFile};
pub use consumer_info::{
    CMResult, CheckClientRequestBody, ConsumeMessageDirectlyResult, ConsumeStatus,
    ConsumerRunningInfo, ProcessQueueInfo, QueryCorrectionOffsetBody,
};
pub use controller::{
    BrokerReplicasInfo, EpochEntry, EpochEntryCache, ReplicaIdentity, ReplicasInfo, SyncStateSet,
};
pub use heartbeat::{
    ConsumeFromWhere, ConsumeType, ConsumerData, HeartbeatData, MessageModel, ProducerData,
    SubscriptionData,
};
pub use properties::Properties;
pub use queue::{
    LockBatchRequestBody, LockBatchResponseBody, MessageQueue, UnlockBatchRequestBody,
};
pub use register::{body_crc32, RegisterBrokerBody};
pub use route::{BrokerData, ClusterInfo, QueueData, TopicRouteData};
pub use stats::{
    ConsumeStats, GetConsumerStatusBody, MessageQueueForC, OffsetWrapper, QueueOffsets,
    ResetOffsetBody, ResetOffsetBodyForC, TopicOffset, TopicStatsTable,
};
pub use subscription_group::{
    GroupRetryPolicy, SubscriptionGroupConfig, SubscriptionGroupList, SubscriptionGroupWrapper,
};
pub use topic::{
    CreateTopicListRequestBody, DataVersion, TopicConfig, TopicConfigSerializeWrapper,
    TopicFilterType,
};

/// A body carried as JSON: encoded as the Java side encodes it (fastjson legacy output) and
/// decoded leniently.
pub trait JsonBody: Serialize + DeserializeOwned {
    /// The body as Java's `RemotingSerializable.encode` writes it.
    fn encode(&self) -> Vec<u8> {
        encode_legacy(self)
    }

    /// The layout of the broker's `config/*.json` files (fastjson PrettyFormat: tabs and
    /// newlines, otherwise as [`encode`](Self::encode)).
    fn encode_pretty(&self) -> Vec<u8> {
        json::to_pretty(self).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot encode JSON file");
            Vec::new()
        })
    }

    /// Reads the body from any client dialect; bad input is a [`RemotingError::Body`].
    fn decode(bytes: &[u8]) -> Result<Self, RemotingError> {
        json::from_slice(bytes)
    }
}

/// Body types only hold members the writer supports (strings, numbers, booleans, sequences,
/// maps with string/integer/struct keys), so writing cannot fail; should a future member break
/// that, the failure is logged and an empty body sent rather than a panic.
pub(crate) fn encode_legacy<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    json::to_legacy(value).unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot encode JSON body");
        Vec::new()
    })
}

pub(crate) fn encode_standard<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    json::to_standard(value).unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot encode JSON body");
        Vec::new()
    })
}
