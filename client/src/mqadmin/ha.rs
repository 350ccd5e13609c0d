//! haStatus: a master's slaves and how far behind each is, or a slave's view of its master.

use std::fmt::Write;

use clap::Args;
use sluice_remoting::body::HARuntimeInfo;

use super::format::format_millis;
use super::{target_brokers, CliResult, NamesrvArg};

#[derive(Args, Debug)]
pub struct HaStatus {
    #[command(flatten)]
    ns: NamesrvArg,
    /// which cluster
    #[arg(short = 'c', long = "clusterName")]
    cluster: Option<String>,
    /// which broker to fetch
    #[arg(short = 'b', long = "brokerAddr")]
    broker: Option<String>,
}

impl HaStatus {
    pub async fn run(self, out: &mut String) -> CliResult {
        let admin = self.ns.admin()?;
        let brokers =
            target_brokers(&admin, self.broker.as_deref(), self.cluster.as_deref()).await?;
        for addr in brokers {
            let info = admin.ha_status(&addr).await?;
            print_ha(out, &addr, &info);
        }
        Ok(())
    }
}

/// Apache's layout: a master's summary and one row per slave connection, or a slave's
/// `#Key\tvalue` lines about its master.
pub fn print_ha(out: &mut String, addr: &str, info: &HARuntimeInfo) {
    if info.master {
        let _ = write!(
            out,
            "\n#MasterAddr\t{addr}\n#MasterCommitLogMaxOffset\t{}\n#SlaveNum\t{}\n#InSyncSlaveNum\t{}\n",
            info.master_commit_log_max_offset,
            info.ha_connection_info.len(),
            info.in_sync_slave_nums
        );
        let _ = writeln!(
            out,
            "{:<32}  {:<16} {:>16} {:>16} {:>16} {:>16}",
            "#SlaveAddr",
            "#SlaveAckOffset",
            "#Diff",
            "#TransferSpeed(KB/s)",
            "#Status",
            "#TransferFromWhere"
        );
        for c in &info.ha_connection_info {
            let _ = writeln!(
                out,
                "{:<32}  {:<16} {:>16} {:>16.2} {:>16} {:>16}",
                c.addr,
                c.slave_ack_offset,
                c.diff,
                c.transferred_byte_in_second as f64 / 1024.0,
                if c.in_sync { "OK" } else { "Fall Behind" },
                c.transfer_from_where
            );
        }
    } else {
        let c = &info.ha_client_runtime_info;
        let _ = writeln!(
            out,
            "\n#MasterAddr\t{}",
            c.master_addr.as_deref().unwrap_or("null")
        );
        let _ = writeln!(out, "#CommitLogMaxOffset\t{}", c.max_offset);
        let _ = writeln!(
            out,
            "#TransferSpeed(KB/s)\t{:.2}",
            c.transferred_byte_in_second as f64 / 1024.0
        );
        let _ = writeln!(
            out,
            "#LastReadTime\t{}",
            format_millis(c.last_read_timestamp)
        );
        let _ = writeln!(
            out,
            "#LastWriteTime\t{}",
            format_millis(c.last_write_timestamp)
        );
        let _ = writeln!(out, "#MasterFlushOffset\t{}", c.master_flush_offset);
    }
}

#[cfg(test)]
mod tests {
    use sluice_remoting::body::broker_status::HAConnectionRuntimeInfo;

    use super::*;

    #[test]
    fn master_view_lists_each_slave() {
        let info = HARuntimeInfo {
            master: true,
            master_commit_log_max_offset: 4096,
            in_sync_slave_nums: 1,
            ha_connection_info: vec![
                HAConnectionRuntimeInfo {
                    addr: "10.0.0.2:10912".into(),
                    slave_ack_offset: 4096,
                    diff: 0,
                    in_sync: true,
                    transferred_byte_in_second: 2048,
                    transfer_from_where: 0,
                },
                HAConnectionRuntimeInfo {
                    addr: "10.0.0.3:10912".into(),
                    slave_ack_offset: 1000,
                    diff: 3096,
                    in_sync: false,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let mut out = String::new();
        print_ha(&mut out, "10.0.0.1:10911", &info);
        assert!(out.contains("#MasterAddr\t10.0.0.1:10911\n"), "{out}");
        assert!(out.contains("#SlaveNum\t2\n#InSyncSlaveNum\t1\n"), "{out}");
        let rows: Vec<Vec<&str>> = out
            .lines()
            .skip_while(|l| !l.starts_with("#SlaveAddr"))
            .skip(1)
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(rows[0], ["10.0.0.2:10912", "4096", "0", "2.00", "OK", "0"]);
        assert_eq!(rows[1][..3], ["10.0.0.3:10912", "1000", "3096"]);
        assert!(out.contains("Fall Behind"), "{out}");
    }

    #[test]
    fn slave_view_names_its_master() {
        let mut info = HARuntimeInfo::default();
        info.ha_client_runtime_info.master_addr = Some("10.0.0.1:10912".into());
        info.ha_client_runtime_info.max_offset = 77;
        let mut out = String::new();
        print_ha(&mut out, "10.0.0.2:10911", &info);
        assert!(
            out.contains("#MasterAddr\t10.0.0.1:10912\n#CommitLogMaxOffset\t77\n"),
            "{out}"
        );
        assert!(
            out.contains("#LastReadTime\t1970-01-01 00:00:00,000"),
            "{out}"
        );
    }
}
