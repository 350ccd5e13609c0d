//! Shared by the `ha_*` tests: a NameServer, a master and a slave of one broker group as real processes, load
//! generation with Sluice's producer, and consumption through the NameServer (so consumers must find the
//! slave on their own once the master is gone).

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_client::consumer::ConsumeFromWhere;
use sluice_client::{Admin, Message, Producer, PullConsumer, SendStatus};
use sluice_remoting::body::TopicConfig;
use sluice_remoting::message::msgid::decode_offset_msg_id;
use sluice_tests::{BrokerProcess, BrokerSpec, NameServerProcess};

pub const SEGMENT: u64 = 64 << 20;

/// The broker binary: `SLUICE_IT_MQBROKER` when set (a copy that a concurrent build elsewhere cannot replace),
/// else the wrapper cargo built for this package.
fn broker_bin() -> String {
    std::env::var("SLUICE_IT_MQBROKER").unwrap_or_else(|_| sluice_tests::broker_bin!().to_string())
}

fn nameserver_bin() -> String {
    std::env::var("SLUICE_IT_MQNAMESRV")
        .unwrap_or_else(|_| sluice_tests::nameserver_bin!().to_string())
}

pub struct Group {
    pub ns: NameServerProcess,
    pub master: BrokerProcess,
    pub slave: Option<BrokerProcess>,
    pub admin: Admin,
}

/// The master's spec: `role` and `flush`, `brokerIP2` on loopback so the advertised HA address works.
pub fn master_spec(role: &str, flush: &str) -> BrokerSpec {
    BrokerSpec::default()
        .with("brokerRole", role)
        .with("flushDiskType", flush)
        .with("brokerIP2", "127.0.0.1")
}

/// The slave of `master`: brokerId 1, same group name, found through the NameServer's register answer (no
/// `haMasterAddress`), so the test also covers that path.
pub fn slave_spec(flush: &str) -> BrokerSpec {
    BrokerSpec {
        broker_id: 1,
        ..BrokerSpec::default()
    }
    .with("brokerRole", "SLAVE")
    .with("flushDiskType", flush)
    .with("brokerIP2", "127.0.0.1")
}

impl Group {
    pub async fn start(master: BrokerSpec, slave: Option<BrokerSpec>) -> Group {
        let ns = NameServerProcess::start(nameserver_bin())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let master = BrokerProcess::start(broker_bin(), &ns.addr(), master)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        ns.wait_for_route(&master.spec.broker_name, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", master.process.log_tail()));
        let admin = Admin::new(&ns.addr()).unwrap();
        let mut group = Group {
            ns,
            master,
            slave: None,
            admin,
        };
        if let Some(spec) = slave {
            group.start_slave(spec).await;
        }
        group
    }

    pub async fn start_slave(&mut self, spec: BrokerSpec) {
        let slave = BrokerProcess::start(broker_bin(), &self.ns.addr(), spec)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        self.slave = Some(slave);
        self.wait_slave_connected().await;
    }

    pub fn slave(&self) -> &BrokerProcess {
        self.slave.as_ref().expect("slave started")
    }

    pub fn logs(&self) -> String {
        let mut s = format!("--- master ---\n{}\n", self.master.process.log_tail());
        if let Some(slave) = &self.slave {
            s.push_str(&format!("--- slave ---\n{}\n", slave.process.log_tail()));
        }
        s
    }

    /// Until the master's haStatus lists one in-sync slave.
    pub async fn wait_slave_connected(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(info) = self.admin.ha_status(&self.master.addr()).await {
                if info.in_sync_slave_nums == 1 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the slave never connected to the master\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Creates `topic` on the master, then waits until the NameServer routes it and the slave has copied it.
    pub async fn create_topic(&self, topic: &str, queues: i32) {
        let mut config = TopicConfig::new(topic);
        config.read_queue_nums = queues;
        config.write_queue_nums = queues;
        self.admin
            .create_topic(&self.master.addr(), &config)
            .await
            .unwrap_or_else(|e| panic!("create topic: {e}"));
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let routed = self.admin.topic_route(topic).await.is_ok();
            let on_slave = match &self.slave {
                Some(s) => self.admin.topic_stats(&s.addr(), topic).await.is_ok(),
                None => true,
            };
            if routed && on_slave {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "topic {topic} not routed ({routed}) or not on the slave ({on_slave})\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// One acknowledged message: body and where the master stored it.
#[derive(Debug, Clone)]
pub struct Acked {
    pub body: String,
    pub physical_offset: u64,
}

/// What the producers saw.
#[derive(Debug, Default)]
pub struct LoadOutcome {
    /// Answered SEND_OK.
    pub acked: Vec<Acked>,
    /// Answered with a non-OK status (stored, but not acknowledged as replicated/durable).
    pub not_ok: BTreeMap<String, usize>,
    /// Failed with an error (connection refused after the kill, timeouts).
    pub errors: usize,
}

/// `producers` tasks sending `TOPIC` messages one after another until `stop` is set.
pub async fn run_load(
    namesrv: String,
    topic: &'static str,
    producers: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> LoadOutcome {
    let outcome = Arc::new(Mutex::new(LoadOutcome::default()));
    let mut tasks = Vec::new();
    for p in 0..producers {
        let producer = Producer::builder(format!("ha-load-{p}"))
            .namesrv_addr(namesrv.as_str())
            .retry_times(0)
            .build()
            .unwrap();
        producer.start().await.unwrap();
        let stop = stop.clone();
        let outcome = outcome.clone();
        let topic = topic.to_string();
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let body = format!("p{p}-m{i:07}-{}", "x".repeat(100));
                i += 1;
                match producer
                    .send(Message::new(&topic, body.clone()), Duration::from_secs(3))
                    .await
                {
                    Ok(r) if r.status == SendStatus::SendOk => {
                        let (_, offset) = decode_offset_msg_id(&r.offset_msg_id)
                            .unwrap_or_else(|e| panic!("offset msg id {}: {e}", r.offset_msg_id));
                        outcome.lock().unwrap().acked.push(Acked {
                            body,
                            physical_offset: offset as u64,
                        });
                    }
                    Ok(r) => {
                        *outcome
                            .lock()
                            .unwrap()
                            .not_ok
                            .entry(format!("{:?}", r.status))
                            .or_default() += 1;
                    }
                    Err(_) => {
                        outcome.lock().unwrap().errors += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            producer.shutdown().await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    Arc::try_unwrap(outcome)
        .map(|m| m.into_inner().unwrap())
        .unwrap_or_default()
}

/// Consumes `topic` from the first offset through the NameServer until `want` bodies were seen or nothing new
/// arrived for `quiet`. Returns body → times received.
pub async fn consume_all(
    namesrv: &str,
    group: &str,
    topic: &str,
    want: &dyn Fn(&HashMap<String, usize>) -> bool,
    limit: Duration,
) -> HashMap<String, usize> {
    let pull = PullConsumer::builder(group)
        .namesrv_addr(namesrv)
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .long_poll(Duration::from_secs(1))
        .build()
        .unwrap();
    pull.start().await.unwrap();
    pull.subscribe(topic, "*").unwrap();
    let mut got: HashMap<String, usize> = HashMap::new();
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline && !want(&got) {
        match pull.poll(Duration::from_millis(500)).await {
            Ok(msgs) => {
                for m in msgs {
                    let body = String::from_utf8_lossy(m.body()).into_owned();
                    *got.entry(body).or_default() += 1;
                }
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    pull.shutdown().await;
    got
}

/// The CommitLog of a store as one byte vector (segments in order), at most `limit` bytes.
pub fn commit_log_bytes(store: &Path, limit: u64) -> Vec<u8> {
    let dir = store.join("commitlog");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.len() == 20 && n.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        assert_eq!(
            name.parse::<u64>().unwrap(),
            i as u64 * SEGMENT,
            "segments start at 0 and follow each other"
        );
        if out.len() as u64 >= limit {
            break;
        }
        let bytes = std::fs::read(dir.join(name)).unwrap();
        out.extend_from_slice(&bytes);
    }
    out.truncate(limit.min(out.len() as u64) as usize);
    out
}

/// Sends SIGSTOP / SIGCONT to a process.
pub fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill -{sig} {pid} failed");
}
