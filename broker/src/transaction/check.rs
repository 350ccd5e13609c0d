//! [`TransactionCheckService`]: asks producers about half messages nobody committed or rolled back
//! (Apache `TransactionalMessageCheckService` + `TransactionalMessageServiceImpl.check`).
//!
//! Every `transactionCheckInterval` ms, for each half queue: read the op messages from the op
//! queue's saved offset (the resolved half offsets), then walk the half queue from its saved
//! offset (both saved as consumer offsets of `CID_RMQ_SYS_TRANS`, so progress survives a
//! restart):
//! - resolved (an op names it, or its UNIQ_KEY was decided since start) → skip;
//! - `TRANSACTION_CHECK_TIMES` ≥ `transactionCheckMax`, or born longer ago than `fileReservedTime`
//!   → moved to `TRANS_CHECK_MAX_TIME_TOPIC` (1 queue, never delivered to its real topic);
//! - stored after this round began, or younger than `transactionTimeOut` (or its
//!   `CHECK_IMMUNITY_TIME_IN_SECONDS`) → the walk stops there until the next round;
//! - otherwise: re-put to the half queue with `TRANSACTION_CHECK_TIMES` + 1 and send
//!   CHECK_TRANSACTION_STATE (oneway, body = the new copy's record with the real topic and queue)
//!   to one live connection of its producer group. The producer answers with END_TRANSACTION on the
//!   new copy's offsets.
//!
//! Then the half offset moves past everything handled and the op offset past every op message
//! whose offsets all lie below it; the offsets file is written at once when they moved.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use sluice_remoting::header::CheckTransactionStateRequestHeader;
use sluice_remoting::message::msgid::create_offset_msg_id;
use sluice_remoting::message::{property, MessageRecord, Properties};
use sluice_remoting::{RemotingCommand, RequestCode};
use sluice_store::AcceptAll;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{immunity_ms, op_message, parse_op_body, store_host, CID_SYS_RMQ_TRANS, REMOVE_TAG};
use crate::state::BrokerState;
use crate::topic_config::{
    now_ms, PERM_READ, PERM_WRITE, TRANS_CHECK_MAX_TIME_TOPIC, TRANS_HALF_TOPIC,
    TRANS_OP_HALF_TOPIC,
};

/// Longest time one queue's walk may take per round (Apache `MAX_PROCESS_TIME_LIMIT`).
const MAX_WALK_TIME: Duration = Duration::from_secs(60);
/// Records read per store call.
const BATCH: usize = 32;
/// Op messages read at most per round and queue (bounds the round's memory).
const MAX_OPS_PER_ROUND: usize = 500_000;
/// Shortest interval accepted (a 0 in broker.conf would spin).
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// What one round did (for logs and tests).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RoundReport {
    /// CHECK_TRANSACTION_STATE requests sent.
    pub checks_sent: usize,
    /// Half messages re-put for a check while no producer of their group was connected.
    pub no_producer: usize,
    /// Half messages moved to `TRANS_CHECK_MAX_TIME_TOPIC`.
    pub discarded: usize,
    /// Half messages found resolved.
    pub resolved: usize,
}

/// The running check-back service of one (master) broker.
pub struct TransactionCheckService {
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl TransactionCheckService {
    /// Starts the periodic rounds (the first one interval after start).
    pub fn start(state: Arc<BrokerState>) -> TransactionCheckService {
        let stop = CancellationToken::new();
        let checker = Checker::new(state);
        let task = tokio::spawn(run(checker, stop.clone()));
        tracing::info!("transaction check service started");
        TransactionCheckService {
            stop,
            task: Some(task),
        }
    }

    /// Stops the rounds; a round under way finishes its current message first.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        tracing::info!("transaction check service stopped");
    }
}

impl Drop for TransactionCheckService {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn run(checker: Checker, stop: CancellationToken) {
    loop {
        let interval = Duration::from_millis(checker.state.config().transaction_check_interval)
            .max(MIN_INTERVAL);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let report = checker.round(&stop).await;
        if report != RoundReport::default() {
            tracing::info!(?report, "transaction check round");
        }
    }
}

/// One round's walker: the state plus what is computed once.
pub struct Checker {
    state: Arc<BrokerState>,
    store_host: SocketAddr,
    /// Spreads checks over a group's connections.
    next_channel: AtomicUsize,
}

/// Why a half queue's walk ended.
enum Stop {
    /// Reached the end of the queue, or a message not due yet.
    Done,
    /// A put failed: the rest waits for the next round.
    Failed,
}

impl Checker {
    pub fn new(state: Arc<BrokerState>) -> Checker {
        let store_host = store_host(&state.config());
        Checker {
            state,
            store_host,
            next_channel: AtomicUsize::new(0),
        }
    }

    /// Checks every half queue once.
    pub async fn round(&self, stop: &CancellationToken) -> RoundReport {
        let queues = self
            .state
            .topics
            .get(TRANS_HALF_TOPIC)
            .map(|t| t.read_queue_nums.max(t.write_queue_nums))
            .unwrap_or(1)
            .max(1);
        let mut report = RoundReport::default();
        let mut moved = false;
        for queue_id in 0..queues {
            if stop.is_cancelled() {
                break;
            }
            moved |= self.check_queue(queue_id, stop, &mut report).await;
        }
        if moved {
            let state = self.state.clone();
            let written =
                tokio::task::spawn_blocking(move || state.consumer_offsets.persist(false)).await;
            if let Ok(Err(e)) = written {
                tracing::error!(error = %e, "cannot write the transaction check offsets; will retry");
            }
        }
        report
    }

    /// The saved offset of `topic`/`queue_id`, or the queue's min, clamped into [min, max].
    fn saved_offset(&self, topic: &str, queue_id: i32) -> u64 {
        let store = &self.state.store;
        let (min, max) = (
            store.min_offset(topic, queue_id),
            store.max_offset(topic, queue_id),
        );
        let saved = self
            .state
            .consumer_offsets
            .query_offset(CID_SYS_RMQ_TRANS, topic, queue_id);
        if saved < 0 {
            return min;
        }
        (saved as u64).clamp(min, max.max(min))
    }

    fn commit_offset(&self, topic: &str, queue_id: i32, offset: u64) {
        self.state.consumer_offsets.commit_offset(
            "transaction-check",
            CID_SYS_RMQ_TRANS,
            topic,
            queue_id,
            offset as i64,
        );
    }

    /// One half queue; true when a saved offset moved.
    async fn check_queue(
        &self,
        queue_id: i32,
        stop: &CancellationToken,
        report: &mut RoundReport,
    ) -> bool {
        let config = self.state.config();
        let timeout = config.transaction_time_out as i64;
        let check_max = i64::from(config.transaction_check_max);
        let reserved_ms = (self.state.store.config.file_reserved_time as i64)
            .saturating_mul(3_600_000)
            .max(1);
        let started = now_ms();
        let deadline = Instant::now() + MAX_WALK_TIME;
        let store = self.state.store.clone();

        let half_offset = self.saved_offset(TRANS_HALF_TOPIC, queue_id);
        let op_offset = self.saved_offset(TRANS_OP_HALF_TOPIC, queue_id);
        let (removed, ops) = self.read_ops(queue_id, op_offset);

        let half_max = store.max_offset(TRANS_HALF_TOPIC, queue_id);
        let mut next = half_offset;
        let mut ended = Stop::Done;
        'walk: while next < half_max && Instant::now() < deadline && !stop.is_cancelled() {
            let got = store.get_messages(TRANS_HALF_TOPIC, queue_id, next, BATCH, &AcceptAll);
            if got.records.is_empty() {
                if got.next_begin_offset > next {
                    next = got.next_begin_offset;
                    continue;
                }
                break;
            }
            for bytes in &got.records {
                if stop.is_cancelled() {
                    break 'walk;
                }
                let half = match MessageRecord::decode(bytes) {
                    Ok((r, _)) => r,
                    Err(e) => {
                        tracing::error!(queue_id, offset = next, error = %e, "unreadable half message skipped");
                        next += 1;
                        continue;
                    }
                };
                let offset = half.queue_offset.max(0) as u64;
                if offset < next {
                    continue;
                }
                let props = Properties::decode(&half.properties);
                let uniq = props.get(property::UNIQ_KEY).unwrap_or("");
                if removed.contains(&(offset as i64)) {
                    report.resolved += 1;
                    next = offset + 1;
                    continue;
                }
                if !uniq.is_empty() && self.state.transactions.outcome(uniq).is_some() {
                    // Another copy was decided: this copy is done too.
                    let op = op_message(self.store_host, queue_id, offset as i64);
                    if !store.put(&op).await.status.is_stored() {
                        ended = Stop::Failed;
                        break 'walk;
                    }
                    report.resolved += 1;
                    next = offset + 1;
                    continue;
                }
                let now = now_ms();
                let times = props
                    .get(property::TRANSACTION_CHECK_TIMES)
                    .map(|t| t.trim().parse::<i64>().unwrap_or(-1));
                if times.is_some_and(|t| t >= check_max)
                    || now.saturating_sub(half.born_timestamp) > reserved_ms
                {
                    if !self.discard(&half, times.unwrap_or(0)).await {
                        ended = Stop::Failed;
                        break 'walk;
                    }
                    report.discarded += 1;
                    next = offset + 1;
                    continue;
                }
                if half.store_timestamp >= started {
                    break 'walk;
                }
                let age = now - half.born_timestamp;
                if (0..=immunity_ms(&props, timeout)).contains(&age) {
                    break 'walk;
                }
                let times = times.map_or(1, |t| t + 1);
                match self.check(&half, props, times).await {
                    Some(sent) => {
                        if sent {
                            report.checks_sent += 1;
                        } else {
                            report.no_producer += 1;
                        }
                    }
                    None => {
                        ended = Stop::Failed;
                        break 'walk;
                    }
                }
                next = offset + 1;
            }
        }
        if let Stop::Failed = ended {
            tracing::warn!(
                queue_id,
                offset = next,
                "transaction check stopped by a failed put; the rest waits for the next round"
            );
        }
        let mut moved = false;
        if next != half_offset {
            self.commit_offset(TRANS_HALF_TOPIC, queue_id, next);
            moved = true;
        }
        // Op messages are done once every offset they name is behind the half offset.
        let mut op_next = op_offset;
        for (op_queue_offset, highest) in ops {
            if op_queue_offset != op_next || highest.is_some_and(|h| h >= next as i64) {
                break;
            }
            op_next += 1;
        }
        if op_next != op_offset {
            self.commit_offset(TRANS_OP_HALF_TOPIC, queue_id, op_next);
            moved = true;
        }
        moved
    }

    /// The half offsets the op queue marks resolved from `op_offset` on, and each op message's
    /// queue offset with the highest half offset it names (in queue order).
    fn read_ops(&self, queue_id: i32, op_offset: u64) -> (HashSet<i64>, Vec<(u64, Option<i64>)>) {
        let store = &self.state.store;
        let mut removed = HashSet::new();
        let mut ops = Vec::new();
        let mut next = op_offset;
        let max = store.max_offset(TRANS_OP_HALF_TOPIC, queue_id);
        while next < max && ops.len() < MAX_OPS_PER_ROUND {
            let got = store.get_messages(TRANS_OP_HALF_TOPIC, queue_id, next, BATCH, &AcceptAll);
            if got.records.is_empty() {
                if got.next_begin_offset > next {
                    next = got.next_begin_offset;
                    continue;
                }
                break;
            }
            for bytes in &got.records {
                let Ok((op, _)) = MessageRecord::decode(bytes) else {
                    continue;
                };
                let at = op.queue_offset.max(0) as u64;
                let props = Properties::decode(&op.properties);
                let offsets = if props.get(property::TAGS) == Some(REMOVE_TAG) {
                    parse_op_body(&op.body)
                } else {
                    tracing::warn!(op_queue_offset = at, "op message without tag `d` ignored");
                    Vec::new()
                };
                removed.extend(offsets.iter().copied());
                ops.push((at, offsets.into_iter().max()));
            }
            next = got.next_begin_offset.max(next + 1);
        }
        (removed, ops)
    }

    /// Moves a half message checked too often to `TRANS_CHECK_MAX_TIME_TOPIC`; false if the
    /// put failed.
    async fn discard(&self, half: &MessageRecord, times: i64) -> bool {
        if let Err(e) = self.state.topics.create_topic_in_send_message_back_method(
            TRANS_CHECK_MAX_TIME_TOPIC,
            1,
            PERM_READ | PERM_WRITE,
            0,
        ) {
            tracing::error!(error = %e, "cannot create {TRANS_CHECK_MAX_TIME_TOPIC}");
            return false;
        }
        let moved = MessageRecord {
            topic: TRANS_CHECK_MAX_TIME_TOPIC.to_owned(),
            queue_id: 0,
            flag: half.flag,
            sysflag: half.sysflag,
            born_timestamp: half.born_timestamp,
            born_host: half.born_host,
            store_host: half.store_host,
            reconsume_times: half.reconsume_times,
            body: half.body.clone(),
            properties: half.properties.clone(),
            ..Default::default()
        };
        let result = self.state.store.put(&moved).await;
        if !result.status.is_stored() {
            tracing::error!(status = ?result.status, remark = ?result.remark, "moving a half message to {TRANS_CHECK_MAX_TIME_TOPIC} failed");
            return false;
        }
        let props = Properties::decode(&half.properties);
        tracing::warn!(
            real_topic = props.get(property::REAL_TOPIC).unwrap_or(""),
            uniq_key = props.get(property::UNIQ_KEY).unwrap_or(""),
            checks = times,
            "half message checked too many times (or too old); moved to {TRANS_CHECK_MAX_TIME_TOPIC}"
        );
        true
    }

    /// Re-puts `half` with `TRANSACTION_CHECK_TIMES` = `times` and asks a producer of its group
    /// about the new copy. `None` if the put failed; `Some(false)` if no producer was connected.
    async fn check(&self, half: &MessageRecord, mut props: Properties, times: i64) -> Option<bool> {
        props.insert(property::TRANSACTION_CHECK_TIMES, times.to_string());
        let mut copy = MessageRecord {
            topic: half.topic.clone(),
            queue_id: half.queue_id,
            flag: half.flag,
            sysflag: half.sysflag,
            born_timestamp: half.born_timestamp,
            born_host: half.born_host,
            store_host: half.store_host,
            reconsume_times: half.reconsume_times,
            body: half.body.clone(),
            properties: props.encode(),
            ..Default::default()
        };
        let result = self.state.store.put(&copy).await;
        if !result.status.is_stored() {
            tracing::error!(status = ?result.status, remark = ?result.remark, "re-putting a half message for its check failed");
            return None;
        }
        copy.queue_offset = result.queue_offset;
        copy.physical_offset = result.physical_offset as i64;
        copy.store_timestamp = result.store_timestamp;

        let group = props.get(property::PGROUP).unwrap_or("").to_owned();
        let uniq = props.get(property::UNIQ_KEY).map(str::to_owned);
        let channels: Vec<_> = self
            .state
            .clients
            .producer_channels(&group)
            .into_iter()
            .filter(|c| !c.channel.is_closed())
            .collect();
        if channels.is_empty() {
            tracing::warn!(%group, uniq_key = ?uniq, "no producer of the group is connected; the half message waits for the next check");
            return Some(false);
        }
        let header = CheckTransactionStateRequestHeader {
            topic: Some(half.topic.clone()),
            tran_state_table_offset: copy.queue_offset,
            commit_log_offset: copy.physical_offset,
            msg_id: uniq.clone(),
            transaction_id: uniq.clone(),
            offset_msg_id: Some(create_offset_msg_id(self.store_host, copy.physical_offset)),
            ..Default::default()
        };
        // The body shows the message as the producer sent it: real topic and queue.
        let mut shown = copy;
        if let Some(t) = props.get(property::REAL_TOPIC) {
            shown.topic = t.to_owned();
        }
        if let Some(q) = props
            .get(property::REAL_QID)
            .and_then(|q| q.trim().parse().ok())
        {
            shown.queue_id = q;
        }
        let mut body = BytesMut::with_capacity(shown.encoded_len());
        shown.encode(&mut body);
        let mut request =
            RemotingCommand::request(RequestCode::CheckTransactionState).with_header(&header);
        request = request.with_body(body.freeze());
        request.mark_oneway();
        let start = self.next_channel.fetch_add(1, Ordering::Relaxed);
        for i in 0..channels.len() {
            let target = &channels[(start + i) % channels.len()];
            match target.channel.send_oneway(request.clone()) {
                Ok(()) => {
                    tracing::debug!(%group, uniq_key = ?uniq, client = %target.client_id, times, "transaction check sent");
                    return Some(true);
                }
                Err(e) => {
                    tracing::debug!(%group, client = %target.client_id, error = %e, "transaction check not sent; trying another producer")
                }
            }
        }
        Some(false)
    }
}
