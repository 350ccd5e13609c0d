//! Statistics answers: GET_BROKER_RUNTIME_INFO (every key `mqadmin clusterList` parses),
//! GET_TOPIC_STATS_INFO and GET_CONSUME_STATS (bodies keyed by MessageQueue objects).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sluice_remoting::body::{
    ConsumeStats, JsonBody, KVTable, MessageQueue, OffsetWrapper, TopicOffset, TopicStatsTable,
};
use sluice_remoting::code::version;
use sluice_remoting::command::CURRENT_VERSION;
use sluice_remoting::header::{GetConsumeStatsRequestHeader, GetTopicStatsInfoRequestHeader};
use sluice_remoting::message::{check_record, RecordCheck};
use sluice_remoting::{RemotingCommand, ResponseCode};
use sluice_store::disk::PartitionSpace;
use sluice_store::local_time::LocalTime;
use sluice_store::MessageStore;

use super::{answer, bad_request, AdminProcessor};
use crate::topic_config::now_ms;

/// Samples kept: one a second for the 10-minute TPS window, plus the one it starts from.
const MAX_SAMPLES: usize = 601;
/// The TPS windows Apache reports (`putTps` = "10s 60s 600s").
const TPS_WINDOWS: [Duration; 3] = [
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(600),
];

#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Instant,
    puts: u64,
    get_requests: u64,
    got_messages: u64,
}

#[derive(Debug, Default)]
struct DailyTotals {
    /// Local date of the last sample.
    day: Option<(i32, u32, u32)>,
    put_today_morning: u64,
    put_yesterday_morning: u64,
    get_today_morning: u64,
    get_yesterday_morning: u64,
}

#[derive(Debug, Default)]
struct SamplerState {
    samples: VecDeque<Sample>,
    daily: DailyTotals,
}

/// Store counters sampled once a second (TPS over 10 s / 60 s / 10 min) and at each local
/// midnight (the `msgPutTotal*Morning` keys), as Apache's `StoreStatsService` and `BrokerStats`.
/// The sampling task starts with the first runtime-info request.
#[derive(Debug, Default)]
pub struct RuntimeSampler {
    state: Mutex<SamplerState>,
    started: std::sync::atomic::AtomicBool,
}

impl RuntimeSampler {
    pub fn new() -> Arc<RuntimeSampler> {
        Arc::new(RuntimeSampler::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SamplerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts sampling `store` every second until the sampler or the store is dropped.
    pub fn start(self: &Arc<Self>, store: &Arc<MessageStore>) {
        if self
            .started
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        let sampler: Weak<Self> = Arc::downgrade(self);
        let store: Weak<MessageStore> = Arc::downgrade(store);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(1));
            loop {
                ticker.tick().await;
                let (Some(sampler), Some(store)) = (sampler.upgrade(), store.upgrade()) else {
                    return;
                };
                if store.is_shut_down() {
                    return;
                }
                sampler.sample(&store, Instant::now(), now_ms());
            }
        });
    }

    /// Records the store's counters at `at` (local wall time `now_ms`, for the day boundary).
    pub fn sample(&self, store: &MessageStore, at: Instant, now_ms: i64) {
        let stats = store.stats();
        self.record(
            Sample {
                at,
                puts: stats.puts,
                get_requests: stats.gets,
                got_messages: stats.got_messages,
            },
            now_ms,
        );
    }

    fn record(&self, sample: Sample, now_ms: i64) {
        let mut st = self.lock();
        let t = LocalTime::from_millis(now_ms);
        let today = (t.year, t.month, t.day);
        let daily = &mut st.daily;
        match daily.day {
            None => daily.day = Some(today),
            Some(day) if day != today => {
                daily.put_yesterday_morning = daily.put_today_morning;
                daily.get_yesterday_morning = daily.get_today_morning;
                daily.put_today_morning = sample.puts;
                daily.get_today_morning = sample.got_messages;
                daily.day = Some(today);
            }
            Some(_) => {}
        }
        if st.samples.len() == MAX_SAMPLES {
            st.samples.pop_front();
        }
        st.samples.push_back(sample);
    }

    /// "tps10 tps60 tps600" of one counter: over each window, or over as much history as there
    /// is; 0.0 before two samples exist.
    fn tps(&self, counter: impl Fn(&Sample) -> u64) -> String {
        let st = self.lock();
        let Some(last) = st.samples.back() else {
            return "0.0 0.0 0.0".to_string();
        };
        TPS_WINDOWS
            .iter()
            .map(|window| {
                let from = st
                    .samples
                    .iter()
                    .rev()
                    .find(|s| last.at.saturating_duration_since(s.at) >= *window)
                    .or_else(|| st.samples.front())
                    .copied()
                    .unwrap_or(*last);
                let secs = last.at.saturating_duration_since(from.at).as_secs_f64();
                let delta = counter(last).saturating_sub(counter(&from)) as f64;
                let tps = if secs > 0.0 { delta / secs } else { 0.0 };
                format!("{tps:.1}")
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Apache's `MixAll.humanReadableByteCount(bytes, false)`.
fn human_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let exp = ((bytes as f64).ln() / 1024f64.ln()) as i32;
    let unit = ['K', 'M', 'G', 'T', 'P', 'E'][(exp - 1).clamp(0, 5) as usize];
    format!("{:.1} {unit}iB", bytes as f64 / 1024f64.powi(exp))
}

/// `[ 0 days, 1 hours, 2 minutes, 3 seconds ]` as Apache's `runtime` key.
fn format_runtime(millis: i64) -> String {
    let secs = millis.max(0) / 1000;
    format!(
        "[ {} days, {} hours, {} minutes, {} seconds ]",
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn disk_ratio(path: &std::path::Path) -> String {
    match PartitionSpace::of(path) {
        Ok(space) => space.used_ratio().to_string(),
        Err(_) => "-1.0".to_string(),
    }
}

impl AdminProcessor {
    pub(super) fn runtime_info(&self, request: &RemotingCommand) -> RemotingCommand {
        let state = &self.state;
        let store = &state.store;
        self.runtime.start(store);
        self.runtime.sample(store, Instant::now(), now_ms());
        let config = state.config();
        let stats = store.stats();
        let mut t: BTreeMap<String, String> = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            t.insert(k.to_string(), v);
        };
        put("brokerVersionDesc", version::name(CURRENT_VERSION));
        put("brokerVersion", CURRENT_VERSION.to_string());
        put("brokerActive", config.is_master().to_string());
        {
            let daily = &self.runtime.lock().daily;
            put(
                "msgPutTotalYesterdayMorning",
                daily.put_yesterday_morning.to_string(),
            );
            put(
                "msgPutTotalTodayMorning",
                daily.put_today_morning.to_string(),
            );
            put(
                "msgGetTotalYesterdayMorning",
                daily.get_yesterday_morning.to_string(),
            );
            put(
                "msgGetTotalTodayMorning",
                daily.get_today_morning.to_string(),
            );
        }
        put("msgPutTotalTodayNow", stats.puts.to_string());
        put("msgGetTotalTodayNow", stats.got_messages.to_string());
        put("putTps", self.runtime.tps(|s| s.puts));
        put("getTransferredTps", self.runtime.tps(|s| s.got_messages));
        put("getTotalTps", self.runtime.tps(|s| s.get_requests));
        // Sends wait in the flow-control queue; pulls are never queued (held pulls are not
        // waiting for a worker), so their queue is always empty.
        put(
            "sendThreadPoolQueueSize",
            state.send_flow_control.queued().to_string(),
        );
        put(
            "sendThreadPoolQueueCapacity",
            config.send_thread_pool_queue_capacity.to_string(),
        );
        put("sendThreadPoolQueueHeadWaitTimeMills", "0".to_string());
        put("pullThreadPoolQueueSize", "0".to_string());
        put("pullThreadPoolQueueHeadWaitTimeMills", "0".to_string());
        put("pageCacheLockTimeMills", "0".to_string());
        put(
            "earliestMessageTimeStamp",
            earliest_message_time(store).to_string(),
        );
        put(
            "commitLogDiskRatio",
            disk_ratio(&store.config.commit_log_dir()),
        );
        put(
            "consumeQueueDiskRatio",
            disk_ratio(&store.config.consume_queue_dir()),
        );
        put(
            "commitLogMinOffset",
            stats.commit_log_min_offset.to_string(),
        );
        put(
            "commitLogMaxOffset",
            stats.commit_log_max_offset.to_string(),
        );
        put(
            "dispatchBehindBytes",
            stats.dispatch_behind_bytes.to_string(),
        );
        put(
            "remainHowManyDataToFlush",
            human_bytes(
                stats
                    .commit_log_max_offset
                    .saturating_sub(stats.commit_log_flushed_offset),
            ),
        );
        put("putMessageTimesTotal", stats.puts.max(1).to_string());
        put("putMessageSizeTotal", stats.put_bytes.to_string());
        put("putMessageFailedTimes", stats.put_failures.to_string());
        put("bootTimestamp", state.boot_timestamp.to_string());
        put("runtime", format_runtime(now_ms() - state.boot_timestamp));
        put("startAcceptSendRequestTimeStamp", "0".to_string());
        // No timer wheel: the keys clusterList parses, with Apache's values for a disabled one.
        put("timerReadBehind", "0".to_string());
        put("timerOffsetBehind", "0".to_string());
        put("timerCongestNum", "0".to_string());
        put("timerEnqueueTps", "0.0".to_string());
        put("timerDequeueTps", "0.0".to_string());
        let body = KVTable { table: t };
        RemotingCommand::response_to(request, ResponseCode::Success).with_body(body.encode())
    }

    pub(super) fn topic_stats(&self, request: &RemotingCommand) -> RemotingCommand {
        let h: GetTopicStatsInfoRequestHeader = match request.decode_header() {
            Ok(h) => h,
            Err(e) => return bad_request(request, e),
        };
        let Some(topic) = self.state.topics.get(&h.topic) else {
            return answer(
                request,
                ResponseCode::TopicNotExist,
                format!("topic[{}] not exist", h.topic),
            );
        };
        let store = &self.state.store;
        let broker_name = self.state.config().broker_name.clone();
        let queues = topic.write_queue_nums.max(topic.read_queue_nums).max(0);
        let mut table = TopicStatsTable::default();
        for q in 0..queues {
            let min = store.min_offset(&h.topic, q) as i64;
            let max = store.max_offset(&h.topic, q) as i64;
            let last_update_timestamp = if max > 0 {
                store
                    .message_store_timestamp(&h.topic, q, (max - 1) as u64)
                    .unwrap_or(0)
            } else {
                0
            };
            table.offset_table.insert(
                MessageQueue::new(h.topic.clone(), broker_name.clone(), q),
                TopicOffset {
                    last_update_timestamp,
                    max_offset: max,
                    min_offset: min,
                },
            );
        }
        RemotingCommand::response_to(request, ResponseCode::Success).with_body(table.encode())
    }

    pub(super) fn consume_stats(&self, request: &RemotingCommand) -> RemotingCommand {
        let h: GetConsumeStatsRequestHeader = match request.decode_header() {
            Ok(h) => h,
            Err(e) => return bad_request(request, e),
        };
        let state = &self.state;
        let group = h.consumer_group.as_str();
        let listed: BTreeSet<String> = h
            .topic_list
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        let topics: BTreeSet<String> = if !listed.is_empty() {
            listed
        } else {
            let mut topics: BTreeSet<String> = match h.topic.as_deref().map(str::trim) {
                Some(t) if !t.is_empty() => [t.to_string()].into(),
                _ => state
                    .consumer_offsets
                    .topics_of_group(group)
                    .into_iter()
                    .collect(),
            };
            // Like Apache: when the group is online, only the topics it subscribes to count.
            let subscribed = state.clients.subscribed_topics(group);
            if !subscribed.is_empty() {
                topics.retain(|t| subscribed.contains(t));
            }
            topics
        };
        let store = &state.store;
        let broker_name = state.config().broker_name.clone();
        let mut stats = ConsumeStats::default();
        for topic in &topics {
            let Some(config) = state.topics.get(topic) else {
                tracing::debug!(topic, group, "consume stats: topic does not exist");
                continue;
            };
            for q in 0..config.read_queue_nums.max(0) {
                let broker_offset = store.max_offset(topic, q) as i64;
                let consumer_offset = state.consumer_offsets.query_offset(group, topic, q).max(0);
                let pull_offset = state
                    .consumer_offsets
                    .query_pull_offset(group, topic, q)
                    .max(consumer_offset);
                let last_timestamp = if consumer_offset > 0 {
                    store
                        .message_store_timestamp(topic, q, (consumer_offset - 1) as u64)
                        .unwrap_or(0)
                } else {
                    0
                };
                stats.offset_table.insert(
                    MessageQueue::new(topic.clone(), broker_name.clone(), q),
                    OffsetWrapper {
                        broker_offset,
                        consumer_offset,
                        last_timestamp,
                        pull_offset,
                    },
                );
            }
        }
        RemotingCommand::response_to(request, ResponseCode::Success).with_body(stats.encode())
    }
}

/// Store time of the oldest record in the CommitLog, -1 when it is empty (Apache's value).
fn earliest_message_time(store: &MessageStore) -> i64 {
    let stats = store.stats();
    if stats.commit_log_max_offset <= stats.commit_log_min_offset {
        return -1;
    }
    match store.lookup_by_physical_offset(stats.commit_log_min_offset) {
        Some(record) => match check_record(&record, false) {
            RecordCheck::Message(view) => view.store_timestamp(),
            _ => -1,
        },
        None => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tps_over_windows_and_daily_rollover() {
        let s = RuntimeSampler::default();
        assert_eq!(s.tps(|x| x.puts), "0.0 0.0 0.0");
        let t0 = Instant::now();
        // 2024-01-01 12:00 UTC; local day boundaries depend on TZ, so roll over by two days.
        let day0 = 1_704_110_400_000i64;
        for i in 0..=20u64 {
            s.record(
                Sample {
                    at: t0 + Duration::from_secs(i),
                    puts: i * 100,
                    get_requests: 0,
                    got_messages: i * 10,
                },
                day0,
            );
        }
        // 10 s window: 1000 puts / 10 s; longer windows fall back to the 20 s of history.
        assert_eq!(s.tps(|x| x.puts), "100.0 100.0 100.0");
        assert_eq!(s.tps(|x| x.got_messages), "10.0 10.0 10.0");
        s.record(
            Sample {
                at: t0 + Duration::from_secs(21),
                puts: 5000,
                get_requests: 0,
                got_messages: 700,
            },
            day0 + 2 * 86_400_000,
        );
        let d = &s.lock().daily;
        assert_eq!(d.put_today_morning, 5000);
        assert_eq!(d.get_today_morning, 700);
        assert_eq!(d.put_yesterday_morning, 0);
    }

    #[test]
    fn formats() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(
            format_runtime(90_061_000),
            "[ 1 days, 1 hours, 1 minutes, 1 seconds ]"
        );
    }
}
