//! What a client derives from a topic's route: the queues it may send to (publish info) and the
//! queues it may pull from (subscribe info), as the Java client computes them
//! (`MQClientInstance.topicRouteData2TopicPublishInfo` / `topicRouteData2TopicSubscribeInfo`).

use std::sync::Arc;

use sluice_remoting::body::{MessageQueue, TopicRouteData};

/// `PermName.PERM_WRITE`.
pub const PERM_WRITE: i32 = 0x2;
/// `PermName.PERM_READ`.
pub const PERM_READ: i32 = 0x4;

/// The queues a producer may write to for one topic.
#[derive(Clone, Debug, Default)]
pub struct TopicPublishInfo {
    /// The route carries an `orderTopicConf` (queues fixed per broker for ordered messages).
    pub order_topic: bool,
    /// Writable queues, grouped by broker in route order.
    pub queues: Vec<MessageQueue>,
    /// The route the queues came from.
    pub route: Arc<TopicRouteData>,
    /// The queues are the template topic's (TBW102): the topic does not exist yet and the broker
    /// is asked to create it on the first send.
    pub auto_create: bool,
}

impl TopicPublishInfo {
    /// Publish info of `topic` from its route: for each writable queue data whose broker has a
    /// master, queues `0..writeQueueNums`; with an `orderTopicConf` (`broker:count;...`) exactly
    /// those queues.
    pub fn from_route(topic: &str, route: Arc<TopicRouteData>) -> Self {
        let mut queues = Vec::new();
        let order_conf = route.order_topic_conf.as_deref().filter(|c| !c.is_empty());
        if let Some(conf) = order_conf {
            for item in conf.split(';') {
                let Some((broker, count)) = item.split_once(':') else {
                    continue;
                };
                let count = count.trim().parse::<i32>().unwrap_or(0);
                for queue_id in 0..count {
                    queues.push(MessageQueue::new(topic, broker.trim(), queue_id));
                }
            }
        } else {
            let mut datas = route.queue_datas.clone();
            datas.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
            for qd in datas {
                if qd.perm & PERM_WRITE == 0 {
                    continue;
                }
                let has_master = route
                    .broker_datas
                    .iter()
                    .any(|b| b.broker_name == qd.broker_name && b.master_addr().is_some());
                if !has_master {
                    continue;
                }
                for queue_id in 0..qd.write_queue_nums.max(0) {
                    queues.push(MessageQueue::new(topic, &qd.broker_name, queue_id));
                }
            }
        }
        Self {
            order_topic: order_conf.is_some(),
            queues,
            route,
            auto_create: false,
        }
    }

    /// Publish info for a topic that does not exist yet, from the template topic's route: the
    /// template's writable queues renamed to `topic`, at most `queue_nums` per broker.
    pub fn from_template(topic: &str, template: Arc<TopicRouteData>, queue_nums: i32) -> Self {
        let mut route = (*template).clone();
        for qd in &mut route.queue_datas {
            qd.write_queue_nums = qd.write_queue_nums.min(queue_nums);
            qd.read_queue_nums = qd.read_queue_nums.min(queue_nums);
        }
        route.order_topic_conf = None;
        let mut info = Self::from_route(topic, Arc::new(route));
        info.auto_create = true;
        info
    }

    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }
}

/// The readable queues of `topic`: `0..readQueueNums` of every queue data with the read bit,
/// sorted (topic, broker, queue id) as rebalancing needs.
pub fn subscribe_queues(topic: &str, route: &TopicRouteData) -> Vec<MessageQueue> {
    let mut queues: Vec<MessageQueue> = route
        .queue_datas
        .iter()
        .filter(|qd| qd.perm & PERM_READ != 0)
        .flat_map(|qd| {
            (0..qd.read_queue_nums.max(0)).map(|id| MessageQueue::new(topic, &qd.broker_name, id))
        })
        .collect();
    queues.sort();
    queues
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_remoting::body::{BrokerData, QueueData};

    fn route(brokers: &[(&str, i32, i32, bool)]) -> TopicRouteData {
        let mut route = TopicRouteData::default();
        for (name, perm, queues, master) in brokers {
            route.queue_datas.push(QueueData {
                broker_name: name.to_string(),
                perm: *perm,
                read_queue_nums: *queues,
                write_queue_nums: *queues,
                topic_sys_flag: 0,
            });
            let mut bd = BrokerData {
                broker_name: name.to_string(),
                cluster: "c".into(),
                ..Default::default()
            };
            let id = if *master { 0 } else { 1 };
            bd.broker_addrs.insert(id, format!("{name}:10911"));
            route.broker_datas.push(bd);
        }
        route
    }

    #[test]
    fn publish_queues_need_write_perm_and_a_master() {
        let r = Arc::new(route(&[
            ("b", 6, 2, true),
            ("a", 6, 1, true),
            ("ro", 4, 3, true),
            ("slave-only", 6, 3, false),
        ]));
        let info = TopicPublishInfo::from_route("T", r.clone());
        let names: Vec<String> = info.queues.iter().map(ToString::to_string).collect();
        assert_eq!(
            info.queues,
            vec![
                MessageQueue::new("T", "a", 0),
                MessageQueue::new("T", "b", 0),
                MessageQueue::new("T", "b", 1),
            ],
            "{names:?}"
        );
        assert!(!info.order_topic && !info.auto_create);
        // Read side: readable queues whatever the master, sorted.
        let subs = subscribe_queues("T", &r);
        assert_eq!(subs.len(), 1 + 2 + 3 + 3);
        assert_eq!(subs[0], MessageQueue::new("T", "a", 0));
        assert!(subs.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn order_topic_conf_fixes_the_queues() {
        let mut r = route(&[("a", 6, 8, true)]);
        r.order_topic_conf = Some("a:2;b:1".into());
        let info = TopicPublishInfo::from_route("T", Arc::new(r));
        assert!(info.order_topic);
        assert_eq!(
            info.queues,
            vec![
                MessageQueue::new("T", "a", 0),
                MessageQueue::new("T", "a", 1),
                MessageQueue::new("T", "b", 0),
            ]
        );
    }

    #[test]
    fn template_route_is_capped_and_renamed() {
        let info = TopicPublishInfo::from_template("New", Arc::new(route(&[("a", 7, 8, true)])), 4);
        assert!(info.auto_create);
        assert_eq!(info.queues.len(), 4);
        assert!(info.queues.iter().all(|q| q.topic == "New"));
    }
}
