//! Makes sure the benchmark topic has a route at the NameServer before a consumer subscribes
//! (a topic a broker just auto-created reaches the NameServer only at its next registration).

use std::time::{Duration, Instant};

use sluice_remoting::body::TopicConfig;

use super::BenchOptions;
use crate::admin::{Admin, AdminError};
use crate::ClientError;

/// Waits until the NameServer knows `options.topic`; if it does not at once, creates the topic
/// (default queue count, read/write) on every master of every cluster, then waits up to 10 s.
pub async fn ensure_topic(options: &BenchOptions) -> crate::Result<()> {
    let admin = Admin::new(&options.namesrv).map_err(admin_error)?;
    ensure_with(&admin, &options.topic)
        .await
        .map_err(admin_error)
}

fn admin_error(e: AdminError) -> ClientError {
    ClientError::Config(e.to_string())
}

async fn ensure_with(admin: &Admin, topic: &str) -> Result<(), AdminError> {
    if admin.topic_route(topic).await.is_ok() {
        return Ok(());
    }
    let info = admin.cluster_info().await?;
    let config = TopicConfig::new(topic);
    let mut created = 0;
    for cluster in info.cluster_addr_table.keys() {
        for master in admin.cluster_masters(cluster).await? {
            admin.create_topic(&master.addr, &config).await?;
            created += 1;
        }
    }
    if created == 0 {
        return Err(AdminError::Invalid(format!(
            "cannot create topic {topic}: the NameServer knows no broker"
        )));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match admin.topic_route(topic).await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
