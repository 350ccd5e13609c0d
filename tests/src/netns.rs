//! Test hosts in Linux network namespaces: each [`NetNs`] is a namespace joined to the test's own
//! namespace by a veth pair on a private /30 (`10.213.N.1` here, `10.213.N.2` inside), so a
//! process started in it (`ip netns exec`) has its own address, and the test can cut chosen
//! traffic with iptables rules inside the namespace without touching anything else.
//!
//! Needs root and `ip` (iproute2) and `iptables`; [`NetNs::available`] says why not when they
//! are missing, so tests can skip with a message.

use std::ffi::OsString;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{HarnessError, Result};

/// A network namespace with a veth link to the test's namespace.
#[derive(Debug)]
pub struct NetNs {
    pub name: String,
    /// The test side's address on the link.
    pub host_ip: String,
    /// The namespace side's address.
    pub ns_ip: String,
    host_if: String,
}

fn run(args: &[&str]) -> Result<()> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| HarnessError::io(format!("running {}", args.join(" ")), e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(HarnessError::new(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl NetNs {
    /// Why namespaces cannot be used here, if they cannot.
    pub fn available() -> std::result::Result<(), String> {
        let probe = format!("sluice-probe-{}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &probe])
            .output()
            .map_err(|e| format!("`ip` not runnable: {e}"))?;
        if !ok.status.success() {
            return Err(format!(
                "cannot create a network namespace (root and iproute2 needed): {}",
                String::from_utf8_lossy(&ok.stderr).trim()
            ));
        }
        let _ = Command::new("ip").args(["netns", "del", &probe]).output();
        let ipt = Command::new("iptables").arg("--version").output();
        if !matches!(ipt, Ok(o) if o.status.success()) {
            return Err("iptables is not available".into());
        }
        Ok(())
    }

    /// Creates a namespace with its link up. Each call in a process gets its own /30.
    pub fn create() -> Result<NetNs> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // A subnet and interface names unique to this process and call.
        let slot = (pid.wrapping_mul(7) + n * 13) % 16_000;
        let (b, c) = (slot / 64, (slot % 64) * 4);
        let name = format!("sl{pid}n{n}");
        let host_if = format!("vh{}n{n}", pid % 1_000_000);
        let ns_if = format!("vn{}n{n}", pid % 1_000_000);
        let host_ip = format!("10.{}.{}.{}", 200 + b / 256, b % 256, c + 1);
        let ns_ip = format!("10.{}.{}.{}", 200 + b / 256, b % 256, c + 2);
        run(&["ip", "netns", "add", &name])?;
        let ns = NetNs {
            name: name.clone(),
            host_ip: host_ip.clone(),
            ns_ip: ns_ip.clone(),
            host_if: host_if.clone(),
        };
        run(&[
            "ip", "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
        ])?;
        run(&["ip", "link", "set", &ns_if, "netns", &name])?;
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{host_ip}/30"),
            "dev",
            &host_if,
        ])?;
        run(&["ip", "link", "set", &host_if, "up"])?;
        ns.exec(&["ip", "addr", "add", &format!("{ns_ip}/30"), "dev", &ns_if])?;
        ns.exec(&["ip", "link", "set", &ns_if, "up"])?;
        ns.exec(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Runs a command inside the namespace and waits for it.
    pub fn exec(&self, args: &[&str]) -> Result<()> {
        let mut all = vec!["ip", "netns", "exec", &self.name];
        all.extend_from_slice(args);
        run(&all)
    }

    /// The program and leading arguments that start a process inside the namespace: spawn
    /// `ip` with these arguments followed by the real program and its arguments.
    pub fn exec_prefix(&self) -> Vec<OsString> {
        vec!["netns".into(), "exec".into(), self.name.clone().into()]
    }

    /// Drops TCP traffic between this namespace and `port` on the test's side (both the
    /// namespace's connections to that port and their answers).
    pub fn cut_port(&self, port: u16) -> Result<()> {
        let p = port.to_string();
        self.exec(&[
            "iptables",
            "-A",
            "OUTPUT",
            "-p",
            "tcp",
            "-d",
            &self.host_ip,
            "--dport",
            &p,
            "-j",
            "DROP",
        ])?;
        self.exec(&[
            "iptables",
            "-A",
            "INPUT",
            "-p",
            "tcp",
            "-s",
            &self.host_ip,
            "--sport",
            &p,
            "-j",
            "DROP",
        ])
    }

    /// Drops TCP connections from the test's side to `port` inside the namespace.
    pub fn cut_inbound_port(&self, port: u16) -> Result<()> {
        let p = port.to_string();
        self.exec(&[
            "iptables", "-A", "INPUT", "-p", "tcp", "--dport", &p, "-j", "DROP",
        ])?;
        self.exec(&[
            "iptables", "-A", "OUTPUT", "-p", "tcp", "--sport", &p, "-j", "DROP",
        ])
    }

    /// Removes every rule added by `cut_*`.
    pub fn heal(&self) -> Result<()> {
        self.exec(&["iptables", "-F", "INPUT"])?;
        self.exec(&["iptables", "-F", "OUTPUT"])
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
