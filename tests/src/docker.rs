//! The repository's `docker-compose.yml` cluster (2 NameServers, broker-a and broker-b, each a
//! master and a slave) as a test fixture: builds an image from binaries, brings the cluster up
//! under a unique compose project name and subnet, waits for the health checks, kills or cuts off
//! containers, and always tears everything down (`down -v`, the image removed) when dropped.
//!
//! Everything here blocks (it shells out to `docker`): call it outside async tasks, e.g. between
//! `Runtime::block_on` calls, or through `spawn_blocking`.
//!
//! Addresses: the compose file gives every container a fixed address in `SLUICE_NET.0/24` and
//! the brokers advertise those; the host reaches them through the network's bridge (see the
//! comment at the top of docker-compose.yml).

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{HarnessError, Result};

/// The services of docker-compose.yml and the last octet of their fixed addresses.
pub const SERVICES: [(&str, u8); 6] = [
    ("namesrv1", 11),
    ("namesrv2", 12),
    ("broker-a", 21),
    ("broker-a-s", 22),
    ("broker-b", 31),
    ("broker-b-s", 32),
];

/// The repository root (where docker-compose.yml lives).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// How to run compose on this machine: `docker compose` (v2) or `docker-compose` (v1).
#[derive(Debug, Clone)]
pub struct ComposeCommand {
    program: String,
    prefix: Vec<String>,
}

impl ComposeCommand {
    fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.prefix);
        c
    }
}

fn quiet_ok(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Whether Docker and compose can be used here; `Err` says why not (a test then skips).
pub fn docker_available() -> std::result::Result<ComposeCommand, String> {
    if let Ok(v) = std::env::var("SLUICE_SKIP_DOCKER_TESTS") {
        if !v.is_empty() && v != "0" {
            return Err("SLUICE_SKIP_DOCKER_TESTS is set".into());
        }
    }
    if !quiet_ok("docker", &["version"]) {
        return Err("no usable `docker` (not installed, or no access to the daemon)".into());
    }
    if quiet_ok("docker", &["info"]) {
        if quiet_ok("docker", &["compose", "version"]) {
            return Ok(ComposeCommand {
                program: "docker".into(),
                prefix: vec!["compose".into()],
            });
        }
        if quiet_ok("docker-compose", &["version"]) {
            return Ok(ComposeCommand {
                program: "docker-compose".into(),
                prefix: Vec::new(),
            });
        }
        return Err("neither `docker compose` nor `docker-compose` is installed".into());
    }
    Err("the Docker daemon does not answer (`docker info` failed)".into())
}

fn run(mut cmd: Command, what: &str) -> Result<Output> {
    cmd.stdin(Stdio::null());
    let out = cmd
        .output()
        .map_err(|e| HarnessError::io(format!("running {what}"), e))?;
    if !out.status.success() {
        return Err(HarnessError::new(format!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(out)
}

/// Paths of the three binaries an image is built from.
#[derive(Debug, Clone)]
pub struct ImageBinaries {
    pub mqnamesrv: PathBuf,
    pub mqbroker: PathBuf,
    pub mqadmin: PathBuf,
}

/// Builds image `tag` with docker/build-image.sh from already-built binaries.
pub fn build_image(tag: &str, bins: &ImageBinaries) -> Result<()> {
    let root = repo_root();
    let mut cmd = Command::new(root.join("docker/build-image.sh"));
    cmd.current_dir(&root)
        .env("SLUICE_IMAGE", tag)
        .env("MQNAMESRV_BIN", &bins.mqnamesrv)
        .env("MQBROKER_BIN", &bins.mqbroker)
        .env("MQADMIN_BIN", &bins.mqadmin);
    run(cmd, "docker/build-image.sh")?;
    Ok(())
}

/// A running compose project of docker-compose.yml. Dropping it runs `down -v` and removes the
/// image when the fixture owns it.
#[derive(Debug)]
pub struct ComposeCluster {
    compose: ComposeCommand,
    pub project: String,
    /// First three octets of the cluster's /24 (`SLUICE_NET`).
    pub net: String,
    pub image: String,
    remove_image: bool,
    envs: Vec<(String, String)>,
}

/// `<pid>-<unix seconds>-<nanos in hex>`: unique, and says when it was made (see
/// [`sweep_stale`]).
fn unique_suffix() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{}-{}-{:x}",
        std::process::id(),
        now.as_secs(),
        now.subsec_nanos()
    )
}

/// The creation time (unix seconds) in a name made by [`unique_suffix`] after `prefix`.
fn created_secs(name: &str, prefix: &str) -> Option<u64> {
    let rest = name.strip_prefix(prefix)?;
    let mut parts = rest.split('-');
    let _pid = parts.next()?;
    parts.next()?.parse().ok()
}

fn lines(mut cmd: Command) -> Vec<String> {
    cmd.stdin(Stdio::null()).stderr(Stdio::null());
    match cmd.output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Removes what test runs killed before their clean-up left behind (containers, networks and
/// volumes of `sluice-it-*` projects, `sluice:it-*` images) once it is older than `age`. A test
/// run lasts about a minute, so an hour-old project is certainly abandoned.
pub fn sweep_stale(age: Duration) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let stale = |name: &str, prefix: &str| {
        created_secs(name, prefix).is_some_and(|t| t + age.as_secs() < now)
    };
    let label = "{{.Label \"com.docker.compose.project\"}}";
    let listed = |kind: &[&str], id: &str| {
        let mut cmd = Command::new("docker");
        cmd.args(kind).args([
            "--filter",
            "label=com.docker.compose.project",
            "--format",
            &format!("{id} {label}"),
        ]);
        lines(cmd)
            .into_iter()
            .filter_map(|l| {
                let (id, project) = l.split_once(' ')?;
                stale(project, "sluice-it-").then(|| id.to_string())
            })
            .collect::<Vec<_>>()
    };
    let remove = |args: &[&str], ids: Vec<String>| {
        if ids.is_empty() {
            return;
        }
        eprintln!(
            "removing {} stale docker test object(s): {ids:?}",
            ids.len()
        );
        let _ = Command::new("docker")
            .args(args)
            .args(&ids)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    };
    remove(&["rm", "-f", "-v"], listed(&["ps", "-a"], "{{.ID}}"));
    remove(&["network", "rm"], listed(&["network", "ls"], "{{.ID}}"));
    remove(
        &["volume", "rm", "-f"],
        listed(&["volume", "ls"], "{{.Name}}"),
    );
    let mut images = Command::new("docker");
    images.args(["images", "sluice", "--format", "{{.Tag}}"]);
    let tags: Vec<String> = lines(images)
        .into_iter()
        .filter(|t| stale(t, "it-"))
        .map(|t| format!("sluice:{t}"))
        .collect();
    remove(&["rmi", "-f"], tags);
}

impl ComposeCluster {
    /// Brings docker-compose.yml up (`up -d`) with image `image` under a fresh project name,
    /// on a /24 chosen from 172.28.100.0–172.28.249.0 (others are tried when one is taken),
    /// with the NameServers published on free host ports. Does not wait for health.
    /// `remove_image`: remove `image` on drop.
    pub fn up(compose: ComposeCommand, image: &str, remove_image: bool) -> Result<ComposeCluster> {
        let suffix = unique_suffix();
        let project = format!("sluice-it-{suffix}");
        let seed = std::process::id() as usize;
        let mut last_err = None;
        for attempt in 0..6 {
            let net = format!("172.28.{}", 100 + (seed + attempt * 37) % 150);
            let mut cluster = ComposeCluster {
                compose: compose.clone(),
                project: project.clone(),
                net: net.clone(),
                image: image.to_string(),
                remove_image: false,
                envs: vec![
                    ("SLUICE_NET".into(), net.clone()),
                    ("SLUICE_IMAGE".into(), image.to_string()),
                    // 64 MiB CommitLog segments: four brokers preallocating 1 GiB each at once
                    // is slow on a small CI machine.
                    (
                        "SLUICE_COMMITLOG_FILE_SIZE".into(),
                        (64u64 << 20).to_string(),
                    ),
                    (
                        "SLUICE_NAMESRV1_PORT".into(),
                        crate::ports::free_port()?.to_string(),
                    ),
                    (
                        "SLUICE_NAMESRV2_PORT".into(),
                        crate::ports::free_port()?.to_string(),
                    ),
                ],
            };
            let mut cmd = cluster.compose_cmd();
            cmd.args(["up", "-d"]);
            match run(cmd, "compose up -d") {
                Ok(_) => {
                    cluster.remove_image = remove_image;
                    return Ok(cluster);
                }
                Err(e) => {
                    // Dropping `cluster` runs `down -v` for whatever was created.
                    let overlap = e.message.contains("overlap");
                    last_err = Some(e);
                    if !overlap {
                        break;
                    }
                }
            }
        }
        if remove_image {
            let _ = Command::new("docker")
                .args(["rmi", "-f", image])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        Err(last_err.unwrap_or_else(|| HarnessError::new("compose up failed")))
    }

    fn compose_cmd(&self) -> Command {
        let mut cmd = self.compose.command();
        cmd.current_dir(repo_root())
            .args(["-p", &self.project, "-f"])
            .arg(repo_root().join("docker-compose.yml"))
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }

    /// The fixed address of `service` (e.g. "broker-a" → 172.28.x.21).
    pub fn ip(&self, service: &str) -> String {
        let octet = SERVICES
            .iter()
            .find(|(s, _)| *s == service)
            .map(|(_, o)| *o)
            .unwrap_or_else(|| panic!("unknown service {service}"));
        format!("{}.{octet}", self.net)
    }

    /// `ip:9876;ip:9876` of both NameServers, as containers and the host dial them.
    pub fn namesrv_addrs(&self) -> String {
        format!("{}:9876;{}:9876", self.ip("namesrv1"), self.ip("namesrv2"))
    }

    /// `ip:10911` of a broker service.
    pub fn broker_addr(&self, service: &str) -> String {
        format!("{}:10911", self.ip(service))
    }

    /// The container id of `service`.
    pub fn container(&self, service: &str) -> Result<String> {
        let mut cmd = self.compose_cmd();
        // -a: `docker compose` (v2) lists stopped containers only with it.
        cmd.args(["ps", "-a", "-q", service]);
        let out = run(cmd, "compose ps -q")?;
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if id.is_empty() {
            return Err(HarnessError::new(format!(
                "service {service} has no container"
            )));
        }
        Ok(id)
    }

    /// Waits until every service's container runs with a healthy health check. Fails early when
    /// one exits or turns unhealthy; the error carries the logs.
    pub fn wait_healthy(&self, timeout: Duration) -> Result<()> {
        let all: Vec<&str> = SERVICES.iter().map(|(s, _)| *s).collect();
        self.wait_services_healthy(&all, timeout)
    }

    /// [`wait_healthy`](Self::wait_healthy) for some services only.
    pub fn wait_services_healthy(&self, services: &[&str], timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut pending = Vec::new();
            for &service in services {
                let id = self.container(service)?;
                let mut cmd = Command::new("docker");
                cmd.args([
                    "inspect",
                    "-f",
                    "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}",
                    &id,
                ]);
                let out = run(cmd, "docker inspect")?;
                let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
                match state.as_str() {
                    "running healthy" => {}
                    "running starting" | "created starting" | "created none" => {
                        pending.push(service)
                    }
                    other => {
                        return Err(HarnessError::new(format!(
                            "{service} is `{other}`, not healthy; logs:\n{}",
                            self.logs()
                        )))
                    }
                }
            }
            if pending.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::new(format!(
                    "still not healthy after {timeout:?}: {pending:?}; logs:\n{}",
                    self.logs()
                )));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Whether this host can open a TCP connection to `service`'s fixed address on `port`
    /// (false with rootless Docker or Docker Desktop, whose container networks are not routed).
    pub fn host_reaches(&self, service: &str, port: u16) -> bool {
        let Ok(addr) = format!("{}:{port}", self.ip(service)).parse::<SocketAddr>() else {
            return false;
        };
        TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok()
    }

    /// Runs `args` inside `service`'s container (`compose exec -T`); returns its stdout.
    pub fn exec(&self, service: &str, args: &[&str]) -> Result<String> {
        let mut cmd = self.compose_cmd();
        cmd.args(["exec", "-T", service]).args(args);
        let out = run(cmd, &format!("compose exec {service} {args:?}"))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// SIGKILLs `service`'s container (`compose kill -s SIGKILL`); it stays stopped.
    pub fn kill(&self, service: &str) -> Result<()> {
        let mut cmd = self.compose_cmd();
        cmd.args(["kill", "-s", "SIGKILL", service]);
        run(cmd, "compose kill")?;
        Ok(())
    }

    /// Starts a stopped service again (same container, same store volume).
    pub fn start(&self, service: &str) -> Result<()> {
        let mut cmd = self.compose_cmd();
        cmd.args(["start", service]);
        run(cmd, "compose start")?;
        Ok(())
    }

    /// The name of the project's network (compose labels it `sluice`).
    pub fn network(&self) -> Result<String> {
        let mut cmd = Command::new("docker");
        cmd.args([
            "network",
            "ls",
            "--filter",
            "label=com.docker.compose.network=sluice",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--format",
            "{{.Name}}",
        ]);
        let out = run(cmd, "docker network ls")?;
        let name = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        if name.is_empty() {
            return Err(HarnessError::new(format!(
                "project {} has no sluice network",
                self.project
            )));
        }
        Ok(name)
    }

    /// Cuts `service` off the cluster network (`docker network disconnect`): the process keeps
    /// running, nothing reaches it and it reaches nothing. Infrastructure for partition tests.
    pub fn disconnect(&self, service: &str) -> Result<()> {
        let mut cmd = Command::new("docker");
        cmd.args(["network", "disconnect", "--force"])
            .arg(self.network()?)
            .arg(self.container(service)?);
        run(cmd, "docker network disconnect")?;
        Ok(())
    }

    /// Reconnects `service` with its fixed address after [`disconnect`](Self::disconnect).
    pub fn connect(&self, service: &str) -> Result<()> {
        let mut cmd = Command::new("docker");
        cmd.args(["network", "connect", "--ip", &self.ip(service)])
            .arg(self.network()?)
            .arg(self.container(service)?);
        run(cmd, "docker network connect")?;
        Ok(())
    }

    /// The last lines of every container's log (for failure messages).
    pub fn logs(&self) -> String {
        let mut cmd = self.compose_cmd();
        cmd.args(["logs", "--no-color", "--tail=40"]);
        match cmd.stdin(Stdio::null()).output() {
            Ok(out) => format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => format!("(compose logs failed: {e})"),
        }
    }
}

impl Drop for ComposeCluster {
    fn drop(&mut self) {
        let mut cmd = self.compose_cmd();
        cmd.args(["down", "-v", "--remove-orphans", "-t", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match cmd.output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "compose down for {} failed: {}",
                self.project,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("compose down for {} failed: {e}", self.project),
        }
        if self.remove_image {
            let _ = Command::new("docker")
                .args(["rmi", "-f", &self.image])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A tag no other run uses: `sluice:it-<pid>-<nanos>`.
pub fn unique_image_tag() -> String {
    format!("sluice:it-{}", unique_suffix())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_their_creation_time() {
        let name = format!("sluice-it-{}", unique_suffix());
        let t = created_secs(&name, "sluice-it-").expect("a time");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(t <= now && now - t < 5, "{name}: {t} vs {now}");
        assert_eq!(
            created_secs("sluice-it-12-1000-ab", "sluice-it-"),
            Some(1000)
        );
        assert_eq!(created_secs("other-12-1000-ab", "sluice-it-"), None);
        assert_eq!(created_secs("sluice-it-12-x-ab", "sluice-it-"), None);
    }
}
