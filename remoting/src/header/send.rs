//! Producer request headers (reference §3.2): send (V1 and the one-letter V2), its response, and
//! END_TRANSACTION.

use crate::code::RequestCode;
use crate::command::RemotingCommand;
use crate::error::{RemotingError, Result};

use super::CommandHeader;

command_header! {
    /// SEND_MESSAGE (10) and SEND_REPLY_MESSAGE (324) request; also what the broker works with
    /// after converting a V2 header. The broker name a V2 header carries in `n` lives in
    /// `rpc.broker_name` (`bname`), as in Java.
    pub struct SendMessageRequestHeader + rpc {
        req producer_group: String = "producerGroup",
        req topic: String = "topic",
        /// Template topic for auto-creation, normally `TBW102`.
        req default_topic: String = "defaultTopic",
        req default_topic_queue_nums: i32 = "defaultTopicQueueNums",
        /// < 0: the broker picks a queue.
        req queue_id: i32 = "queueId",
        req sys_flag: i32 = "sysFlag",
        req born_timestamp: i64 = "bornTimestamp",
        /// The user's `Message.flag`.
        req flag: i32 = "flag",
        opt properties: String = "properties",
        opt reconsume_times: i32 = "reconsumeTimes",
        opt unit_mode: bool = "unitMode",
        opt batch: bool = "batch",
        opt max_reconsume_times: i32 = "maxReconsumeTimes",
    }
}

command_header! {
    /// SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320) and SEND_REPLY_MESSAGE_V2 (325) request:
    /// the V1 fields under one-letter keys.
    pub struct SendMessageRequestHeaderV2 + rpc {
        /// producerGroup.
        req a: String = "a",
        /// topic.
        req b: String = "b",
        /// defaultTopic.
        req c: String = "c",
        /// defaultTopicQueueNums.
        req d: i32 = "d",
        /// queueId.
        req e: i32 = "e",
        /// sysFlag.
        req f: i32 = "f",
        /// bornTimestamp.
        req g: i64 = "g",
        /// flag.
        req h: i32 = "h",
        /// properties.
        opt i: String = "i",
        /// reconsumeTimes.
        opt j: i32 = "j",
        /// unitMode.
        opt k: bool = "k",
        /// maxReconsumeTimes (`consumeRetryTimes` in C++).
        opt l: i32 = "l",
        /// batch.
        opt m: bool = "m",
        /// brokerName (J5; C++ does not send it).
        opt n: String = "n",
    }
}

impl From<SendMessageRequestHeaderV2> for SendMessageRequestHeader {
    fn from(v2: SendMessageRequestHeaderV2) -> Self {
        let mut rpc = v2.rpc;
        if v2.n.is_some() {
            rpc.broker_name = v2.n;
        }
        Self {
            producer_group: v2.a,
            topic: v2.b,
            default_topic: v2.c,
            default_topic_queue_nums: v2.d,
            queue_id: v2.e,
            sys_flag: v2.f,
            born_timestamp: v2.g,
            flag: v2.h,
            properties: v2.i,
            reconsume_times: v2.j,
            unit_mode: v2.k,
            max_reconsume_times: v2.l,
            batch: v2.m,
            rpc,
        }
    }
}

impl From<SendMessageRequestHeader> for SendMessageRequestHeaderV2 {
    /// The broker name moves to `n` (and leaves `bname`), as the Java client's conversion does.
    fn from(v1: SendMessageRequestHeader) -> Self {
        let mut rpc = v1.rpc;
        let n = rpc.broker_name.take();
        Self {
            a: v1.producer_group,
            b: v1.topic,
            c: v1.default_topic,
            d: v1.default_topic_queue_nums,
            e: v1.queue_id,
            f: v1.sys_flag,
            g: v1.born_timestamp,
            h: v1.flag,
            i: v1.properties,
            j: v1.reconsume_times,
            k: v1.unit_mode,
            l: v1.max_reconsume_times,
            m: v1.batch,
            n,
            rpc,
        }
    }
}

impl SendMessageRequestHeader {
    /// Decodes the header of any send request, picking V1 or V2 keys by request code as the
    /// Java broker does (`SendMessageRequestHeader.parseRequestHeader`).
    pub fn decode_from(request: &RemotingCommand) -> Result<Self> {
        match RequestCode::from_i32(request.code) {
            Some(RequestCode::SendMessage | RequestCode::SendReplyMessage) => {
                Self::read_from(&request.ext_fields)
            }
            Some(
                RequestCode::SendMessageV2
                | RequestCode::SendBatchMessage
                | RequestCode::SendReplyMessageV2,
            ) => SendMessageRequestHeaderV2::read_from(&request.ext_fields).map(Self::from),
            _ => Err(RemotingError::Header(format!(
                "request code {} is not a send request",
                request.code
            ))),
        }
    }
}

/// Ext key of the broker's region on every send response (failures included).
pub const MSG_REGION: &str = "MSG_REGION";
/// Ext key of the broker's trace switch (`true`/`false`) on every send response.
pub const TRACE_ON: &str = "TRACE_ON";

command_header! {
    /// Response to every send request. `MSG_REGION` and `TRACE_ON` are not header-class fields
    /// in Java but the broker adds them to every send response and the J5 client reads
    /// `MSG_REGION`, so they are required here to make forgetting them impossible. A failure
    /// response carries no header but the Java broker still adds these two ([`MSG_REGION`],
    /// [`TRACE_ON`]); add them with `with_ext`.
    pub struct SendMessageResponseHeader {
        /// Offset msgId of the stored message; comma-joined for a batch.
        req msg_id: String = "msgId",
        req queue_id: i32 = "queueId",
        req queue_offset: i64 = "queueOffset",
        /// The message's `UNIQ_KEY`.
        opt transaction_id: String = "transactionId",
        /// J5 inner batch only.
        opt batch_uniq_id: String = "batchUniqId",
        /// J5.3 only.
        opt recall_handle: String = "recallHandle",
        /// Broker `regionId` (default `DefaultRegion`).
        req msg_region: String = "MSG_REGION",
        /// Broker `traceOn`.
        req trace_on: bool = "TRACE_ON",
    }
}

command_header! {
    /// END_TRANSACTION (37) request, sent oneway to commit or roll back a half message.
    pub struct EndTransactionRequestHeader + rpc {
        /// J5.
        opt topic: String = "topic",
        req producer_group: String = "producerGroup",
        /// SendResult.queueOffset of the half message.
        req tran_state_table_offset: i64 = "tranStateTableOffset",
        /// Commit-log offset of the half message.
        req commit_log_offset: i64 = "commitLogOffset",
        /// 0 = not a transaction / unknown, 8 = commit, 12 = rollback (MessageSysFlag values).
        req commit_or_rollback: i32 = "commitOrRollback",
        /// True when answering CHECK_TRANSACTION_STATE.
        opt from_transaction_check: bool = "fromTransactionCheck",
        /// UNIQ_KEY of the half message.
        req msg_id: String = "msgId",
        opt transaction_id: String = "transactionId",
    }
}
