//! Controller-mode commands (Apache 5.x names and layouts): `getSyncStateSet` prints each broker
//! group's master, epochs and in-sync replicas as the controller sees them; `electMaster` asks
//! the controller to make a given replica master.

use std::fmt::Write;

use clap::Args;
use sluice_remoting::body::{BrokerReplicasInfo, JsonBody};
use sluice_remoting::header::{ElectMasterRequestHeader, ElectMasterResponseHeader};
use sluice_remoting::{RemotingCommand, RequestCode};

use super::{CliError, CliResult, NamesrvArg};
use crate::admin::Admin;

fn first_controller(addr: &str) -> Result<String, CliError> {
    addr.split(';')
        .map(str::trim)
        .find(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| CliError::Usage("-a needs the controller address (ip:port)".into()))
}

/// The broker names of `-b`, or of every group of cluster `-c` (through the NameServer).
async fn broker_names(
    ns: &NamesrvArg,
    broker: Option<&str>,
    cluster: Option<&str>,
) -> Result<Vec<String>, CliError> {
    if let Some(b) = broker {
        return Ok(vec![b.trim().to_string()]);
    }
    let Some(cluster) = cluster else {
        return Err(CliError::Usage(
            "pass -b brokerName or -c clusterName".into(),
        ));
    };
    let info = ns.admin()?.cluster_info().await?;
    info.cluster_addr_table
        .get(cluster.trim())
        .map(|names| names.iter().cloned().collect())
        .ok_or_else(|| {
            CliError::Failed(format!("cluster {cluster} is not known to the NameServer"))
        })
}

#[derive(Args, Debug)]
pub struct GetSyncStateSet {
    #[command(flatten)]
    ns: NamesrvArg,
    /// the address of controller
    #[arg(short = 'a', long = "controllerAddress")]
    controller: String,
    /// which cluster
    #[arg(short = 'c', long = "clusterName")]
    cluster: Option<String>,
    /// which broker to fetch
    #[arg(short = 'b', long = "brokerName")]
    broker: Option<String>,
}

impl GetSyncStateSet {
    pub async fn run(self, out: &mut String) -> CliResult {
        let controller = first_controller(&self.controller)?;
        let names = broker_names(&self.ns, self.broker.as_deref(), self.cluster.as_deref()).await?;
        let admin = Admin::new(&controller)?;
        let body = serde_json::to_vec(&names).map_err(|e| CliError::Failed(e.to_string()))?;
        let response = admin
            .invoke(
                &controller,
                RemotingCommand::request(RequestCode::ControllerGetSyncStateData).with_body(body),
            )
            .await?;
        let info = BrokerReplicasInfo::decode(&response.body.to_bytes())
            .map_err(|e| CliError::Failed(format!("bad answer from the controller: {e}")))?;
        for (name, g) in &info.replicas_info_table {
            let _ = write!(
                out,
                "\n#brokerName\t{name}\n#MasterBrokerId\t{}\n#MasterAddr\t{}\n#MasterEpoch\t{}\n#SyncStateSetEpoch\t{}\n#SyncStateSetNums\t{}\n",
                g.master_broker_id,
                g.master_address,
                g.master_epoch,
                g.sync_state_set_epoch,
                g.in_sync_replicas.len()
            );
            for r in &g.in_sync_replicas {
                let _ = write!(out, "\nInSyncReplica:\t{r}\n");
            }
            for r in &g.not_in_sync_replicas {
                let _ = write!(out, "\nNotInSyncReplica:\t{r}\n");
            }
        }
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct ElectMaster {
    /// The address of controller
    #[arg(short = 'a', long = "controllerAddress")]
    controller: String,
    /// The id of the broker which requires to become master
    #[arg(short = 'b', long = "brokerId")]
    broker_id: i64,
    /// The broker name of the replicas that require to be manipulated (Apache's `-bn`)
    #[arg(long = "brokerName", alias = "bn")]
    broker_name: String,
    /// the clusterName of broker
    #[arg(short = 'c', long = "clusterName")]
    cluster: String,
}

impl ElectMaster {
    pub async fn run(self, out: &mut String) -> CliResult {
        let controller = first_controller(&self.controller)?;
        let admin = Admin::new(&controller)?;
        let header = ElectMasterRequestHeader {
            cluster_name: Some(self.cluster.clone()),
            broker_name: self.broker_name.clone(),
            broker_id: Some(self.broker_id),
            designate_elect: Some(true),
            invoke_time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_millis() as i64),
        };
        let response = admin
            .invoke(
                &controller,
                RemotingCommand::request(RequestCode::ControllerElectMaster).with_header(&header),
            )
            .await?;
        let h: ElectMasterResponseHeader = response
            .decode_header()
            .map_err(|e| CliError::Failed(format!("bad answer from the controller: {e}")))?;
        let _ = write!(
            out,
            "\n#ClusterName\t{}\n#BrokerName\t{}\n#BrokerMasterAddr\t{}\n#MasterEpoch\t{}\n#SyncStateSetEpoch\t{}\n",
            self.cluster,
            self.broker_name,
            h.master_address.as_deref().unwrap_or(""),
            h.master_epoch.unwrap_or(0),
            h.sync_state_set_epoch.unwrap_or(0)
        );
        Ok(())
    }
}
