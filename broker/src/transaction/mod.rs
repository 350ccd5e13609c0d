//! Transactional (half) messages after the send stored them (Apache's `transaction/queue/*` and
//! `EndTransactionProcessor`; broker-internals §9, remoting-protocol §7.4).
//!
//! A half message lives in `RMQ_SYS_TRANS_HALF_TOPIC` (stored by the send path,
//! `processor/send/record.rs`). Resolving it writes an *op message* to
//! `RMQ_SYS_TRANS_OP_HALF_TOPIC` (same queue id, tag `d`, body = the half message's queue offset as
//! decimal ASCII). A commit first puts the message for `REAL_TOPIC` / `REAL_QID`.
//! - [`end`]: END_TRANSACTION (commit / rollback / unknown), oneway or not.
//! - [`check`]: [`TransactionCheckService`], the periodic check-back of undecided half messages
//!   (progress kept as consumer offsets of `CID_SYS_RMQ_TRANS`), and the move to
//!   `TRANS_CHECK_MAX_TIME_TOPIC` once `transactionCheckMax` checks went unanswered.
//! - [`ResolvedTransactions`]: which transactions (by UNIQ_KEY) this broker already committed or
//!   rolled back, so that a late END_TRANSACTION for one copy of a half message and the answer
//!   to a check of another copy do not deliver the message twice.

pub mod check;
pub mod end;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_remoting::message::{property, MessageRecord, Properties};

use crate::config::BrokerConfig;
use crate::topic_config::{now_ms, TRANS_OP_HALF_TOPIC};

pub use check::TransactionCheckService;

/// The system group whose consumer offsets record the check service's progress on the half and
/// op queues (Apache `MixAll.CID_SYS_RMQ_TRANS`).
pub const CID_SYS_RMQ_TRANS: &str = "CID_RMQ_SYS_TRANS";
/// Tag of op messages that mark half messages as resolved (`TransactionalMessageUtil.REMOVE_TAG`).
pub const REMOVE_TAG: &str = "d";
/// Separator of offsets inside a (5.x batched) op body.
pub const OFFSET_SEPARATOR: char = ',';

/// `brokerIP1:listenPort` as a socket address (the STOREHOST of records this module writes).
pub(crate) fn store_host(config: &BrokerConfig) -> SocketAddr {
    let ip: IpAddr = config
        .broker_ip1
        .parse()
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    SocketAddr::new(ip, config.listen_port)
}

/// The op message marking half message `half_queue_offset` of half queue `queue_id` resolved.
pub fn op_message(store_host: SocketAddr, queue_id: i32, half_queue_offset: i64) -> MessageRecord {
    let mut props = Properties::new();
    props.insert(property::TAGS, REMOVE_TAG);
    props.insert(property::WAIT, "false");
    MessageRecord {
        topic: TRANS_OP_HALF_TOPIC.to_owned(),
        queue_id,
        born_timestamp: now_ms(),
        born_host: store_host,
        store_host,
        body: Bytes::from(half_queue_offset.to_string()),
        properties: props.encode(),
        ..Default::default()
    }
}

/// The half-queue offsets an op message's body names: one decimal offset (4.9.x) or
/// `off1,off2,...,` (5.1+ batches). Junk entries are skipped.
pub fn parse_op_body(body: &[u8]) -> Vec<i64> {
    String::from_utf8_lossy(body)
        .split(OFFSET_SEPARATOR)
        .filter_map(|s| s.trim().parse::<i64>().ok())
        .filter(|o| *o >= 0)
        .collect()
}

/// How long after its birth a half message is left alone: `transactionTimeOut`, or the
/// message's `CHECK_IMMUNITY_TIME_IN_SECONDS` × 1000 when that is longer (Apache
/// `TransactionalMessageUtil.getImmunityTime`).
pub fn immunity_ms(props: &Properties, transaction_timeout_ms: i64) -> i64 {
    let custom = props
        .get(property::CHECK_IMMUNITY_TIME_IN_SECONDS)
        .and_then(|s| s.trim().parse::<i64>().ok())
        .map(|s| s.saturating_mul(1000))
        .unwrap_or(0);
    custom.max(transaction_timeout_ms)
}

/// The message a commit puts: REAL_TOPIC / REAL_QID restored (and removed from the
/// properties, with TRAN_MSG), transaction bits := COMMIT, preparedTransactionOffset := the half
/// message's CommitLog offset; body, flag, born and store hosts, born time and reconsume times
/// kept. `Err` says why the half message cannot be committed.
pub fn committed_message(
    half: &MessageRecord,
    half_commit_log_offset: i64,
) -> Result<MessageRecord, String> {
    let mut props = Properties::decode(&half.properties);
    let topic = props
        .remove(property::REAL_TOPIC)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "the half message has no REAL_TOPIC property".to_owned())?;
    let qid = props
        .remove(property::REAL_QID)
        .ok_or_else(|| "the half message has no REAL_QID property".to_owned())?;
    let queue_id = qid
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|q| *q >= 0)
        .ok_or_else(|| format!("the half message's REAL_QID `{qid}` is not a queue id"))?;
    props.remove(property::TRAN_MSG);
    Ok(MessageRecord {
        topic,
        queue_id,
        flag: half.flag,
        sysflag: sluice_remoting::message::sysflag::reset_transaction(
            half.sysflag,
            sluice_remoting::message::sysflag::TRANSACTION_COMMIT,
        ),
        born_timestamp: half.born_timestamp,
        born_host: half.born_host,
        store_host: half.store_host,
        reconsume_times: half.reconsume_times,
        prepared_transaction_offset: half_commit_log_offset,
        body: half.body.clone(),
        properties: props.encode(),
        ..Default::default()
    })
}

/// Entries older than this are forgotten first when the table grows past its bound.
const RESOLVED_KEEP: Duration = Duration::from_secs(3600);
/// Bound of [`ResolvedTransactions`].
const RESOLVED_MAX: usize = 100_000;

/// What a claim on a transaction found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Nobody resolved it yet: the caller does, then calls [`ResolvedTransactions::finish`], or
    /// [`ResolvedTransactions::release`] if that failed.
    Fresh,
    /// Another request is resolving it right now.
    InProgress,
    /// Already committed (8) or rolled back (12) by an earlier END_TRANSACTION.
    Resolved(i32),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    outcome: i32,
    finished: bool,
    at: Instant,
}

/// The transactions (by UNIQ_KEY) this broker committed or rolled back since it started.
///
/// Every check re-puts a copy of the half message, so one transaction can have several live
/// copies; the first decision wins and later ones only mark their copy done.
#[derive(Default)]
pub struct ResolvedTransactions {
    table: Mutex<HashMap<String, Entry>>,
}

impl ResolvedTransactions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that `outcome` is being applied to `key`, unless some outcome is recorded.
    pub fn claim(&self, key: &str, outcome: i32) -> Claim {
        let mut table = self.lock();
        if let Some(e) = table.get(key) {
            return if e.finished {
                Claim::Resolved(e.outcome)
            } else {
                Claim::InProgress
            };
        }
        if table.len() >= RESOLVED_MAX {
            let now = Instant::now();
            table.retain(|_, e| !e.finished || now.duration_since(e.at) < RESOLVED_KEEP);
            if table.len() >= RESOLVED_MAX {
                table.retain(|_, e| {
                    !e.finished || now.duration_since(e.at) < Duration::from_secs(60)
                });
            }
            if table.len() >= RESOLVED_MAX {
                table.retain(|_, e| !e.finished);
            }
        }
        table.insert(
            key.to_owned(),
            Entry {
                outcome,
                finished: false,
                at: Instant::now(),
            },
        );
        Claim::Fresh
    }

    /// The claimed outcome of `key` is applied.
    pub fn finish(&self, key: &str) {
        if let Some(e) = self.lock().get_mut(key) {
            e.finished = true;
            e.at = Instant::now();
        }
    }

    /// Forgets a claim whose resolution failed.
    pub fn release(&self, key: &str) {
        self.lock().remove(key);
    }

    /// The applied outcome of `key`, if any.
    pub fn outcome(&self, key: &str) -> Option<i32> {
        self.lock()
            .get(key)
            .filter(|e| e.finished)
            .map(|e| e.outcome)
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_remoting::message::sysflag;

    #[test]
    fn op_bodies_of_both_versions_parse() {
        assert_eq!(parse_op_body(b"42"), vec![42]);
        assert_eq!(parse_op_body(b"1,2,3,"), vec![1, 2, 3]);
        assert_eq!(parse_op_body(b"x,7,,-1"), vec![7]);
        assert!(parse_op_body(b"").is_empty());
    }

    #[test]
    fn op_message_names_the_half_offset() {
        let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
        let op = op_message(host, 0, 17);
        assert_eq!(op.topic, TRANS_OP_HALF_TOPIC);
        assert_eq!(&op.body[..], b"17");
        let p = Properties::decode(&op.properties);
        assert_eq!(p.get(property::TAGS), Some(REMOVE_TAG));
    }

    #[test]
    fn immunity_is_at_least_the_timeout() {
        let mut p = Properties::new();
        assert_eq!(immunity_ms(&p, 6000), 6000);
        p.insert(property::CHECK_IMMUNITY_TIME_IN_SECONDS, "20");
        assert_eq!(immunity_ms(&p, 6000), 20_000);
        p.insert(property::CHECK_IMMUNITY_TIME_IN_SECONDS, "1");
        assert_eq!(immunity_ms(&p, 6000), 6000);
        p.insert(property::CHECK_IMMUNITY_TIME_IN_SECONDS, "soon");
        assert_eq!(immunity_ms(&p, 6000), 6000);
    }

    #[test]
    fn commit_restores_the_real_destination() {
        let mut p = Properties::new();
        p.insert(property::TAGS, "A");
        p.insert(property::TRAN_MSG, "true");
        p.insert(property::PGROUP, "pg");
        p.insert(property::REAL_TOPIC, "Orders");
        p.insert(property::REAL_QID, "2");
        let half = MessageRecord {
            topic: crate::topic_config::TRANS_HALF_TOPIC.into(),
            flag: 3,
            sysflag: sysflag::MULTI_TAGS,
            born_timestamp: 99,
            body: Bytes::from_static(b"x"),
            properties: p.encode(),
            ..Default::default()
        };
        let m = committed_message(&half, 4096).unwrap();
        assert_eq!((m.topic.as_str(), m.queue_id, m.flag), ("Orders", 2, 3));
        assert_eq!(m.sysflag, sysflag::MULTI_TAGS | sysflag::TRANSACTION_COMMIT);
        assert_eq!(m.prepared_transaction_offset, 4096);
        let p = Properties::decode(&m.properties);
        assert_eq!(p.get(property::REAL_TOPIC), None);
        assert_eq!(p.get(property::REAL_QID), None);
        assert_eq!(p.get(property::TRAN_MSG), None);
        assert_eq!(p.get(property::TAGS), Some("A"));
        assert_eq!(p.get(property::PGROUP), Some("pg"));

        let mut bad = half.clone();
        let mut p = Properties::decode(&half.properties);
        p.insert(property::REAL_QID, "-4");
        bad.properties = p.encode();
        assert!(committed_message(&bad, 0).unwrap_err().contains("-4"));
    }

    #[test]
    fn the_first_decision_wins() {
        let t = ResolvedTransactions::default();
        assert_eq!(t.claim("k", 8), Claim::Fresh);
        assert_eq!(t.claim("k", 12), Claim::InProgress);
        assert_eq!(t.outcome("k"), None);
        t.release("k");
        assert_eq!(t.claim("k", 12), Claim::Fresh);
        t.finish("k");
        assert_eq!(t.claim("k", 8), Claim::Resolved(12));
        assert_eq!(t.outcome("k"), Some(12));
    }
}
