//! One server child process: spawn, wait until it listens, SIGKILL / SIGTERM, restart.
//!
//! stdout and stderr go to one log file (appended across restarts) so a failure message can quote
//! the tail of what the child said, and a chatty child can never block on a full pipe.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::error::{HarnessError, Result};

/// How long a child may take to open its port. Generous: CI machines are slow and shared.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a SIGTERM'd child may take to exit before the harness gives up on it.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
const LOG_TAIL_LINES: usize = 40;

/// A server binary run as a child process, listening on `addr`.
#[derive(Debug)]
pub struct ServerProcess {
    /// Short human name used in error messages ("mqnamesrv 127.0.0.1:40001").
    pub name: String,
    pub binary: PathBuf,
    pub args: Vec<OsString>,
    pub envs: Vec<(OsString, OsString)>,
    /// Address the child listens on; readiness means it accepts a TCP connection there.
    pub addr: SocketAddr,
    pub log_path: PathBuf,
    pub ready_timeout: Duration,
    pub stop_timeout: Duration,
    child: Option<Child>,
}

impl ServerProcess {
    pub fn new(
        name: impl Into<String>,
        binary: impl Into<PathBuf>,
        args: Vec<OsString>,
        addr: SocketAddr,
        log_path: PathBuf,
    ) -> Self {
        Self {
            name: name.into(),
            binary: binary.into(),
            args,
            envs: Vec::new(),
            addr,
            log_path,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
            child: None,
        }
    }

    /// Spawns the child and waits until its port accepts connections.
    pub async fn start(&mut self) -> Result<()> {
        if self.is_running() {
            return Err(HarnessError::new(format!(
                "{} is already running (pid {:?})",
                self.name,
                self.pid()
            )));
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| HarnessError::io(format!("opening log {}", self.log_path.display()), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| HarnessError::io("duplicating the log file handle", e))?;
        let child = Command::new(&self.binary)
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(|e| {
                HarnessError::io(
                    format!("spawning {} ({})", self.name, self.binary.display()),
                    e,
                )
            })?;
        self.child = Some(child);
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + self.ready_timeout;
        loop {
            if let Some(status) = self.try_exit_status()? {
                self.child = None;
                return Err(self.failure(&format!(
                    "exited with {status} before listening on {}",
                    self.addr
                )));
            }
            let attempt = tokio::time::timeout(
                Duration::from_secs(1),
                tokio::net::TcpStream::connect(self.addr),
            );
            if let Ok(Ok(_stream)) = attempt.await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.failure(&format!(
                    "did not accept connections on {} within {:?}",
                    self.addr, self.ready_timeout
                )));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    fn try_exit_status(&mut self) -> Result<Option<ExitStatus>> {
        match self.child.as_mut() {
            None => Ok(None),
            Some(child) => child
                .try_wait()
                .map_err(|e| HarnessError::io(format!("checking whether {} exited", self.name), e)),
        }
    }

    /// True while the child has been started and has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.try_exit_status(), Ok(None)) && self.child.is_some()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: the process gets no chance to flush or unregister (a crash).
    pub async fn kill(&mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else {
            return Ok(());
        };
        child
            .kill()
            .map_err(|e| HarnessError::io(format!("sending SIGKILL to {}", self.name), e))?;
        self.wait_exit(Duration::from_secs(10)).await.map(|_| ())
    }

    /// SIGTERM and wait for a clean exit (flush, persist offsets, unregister). Returns the exit
    /// status; a child that does not exit within `stop_timeout` is killed and reported as an error.
    pub async fn stop(&mut self) -> Result<ExitStatus> {
        let Some(pid) = self.pid() else {
            return Err(HarnessError::new(format!("{} is not running", self.name)));
        };
        // `kill -TERM` instead of libc::kill keeps this crate free of `unsafe`.
        let status = tokio::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await
            .map_err(|e| HarnessError::io(format!("running kill -TERM {pid}"), e))?;
        if !status.success() {
            return Err(self.failure(&format!("kill -TERM {pid} failed ({status})")));
        }
        match self.wait_exit(self.stop_timeout).await {
            Ok(status) => Ok(status),
            Err(err) => {
                let _ = self.kill().await;
                Err(err)
            }
        }
    }

    /// Graceful stop, then start again with the same arguments, data directory and port.
    pub async fn restart(&mut self) -> Result<()> {
        if self.is_running() {
            self.stop().await?;
        }
        self.child = None;
        self.start().await
    }

    async fn wait_exit(&mut self, limit: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_exit_status()? {
                self.child = None;
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(self.failure(&format!("did not exit within {limit:?}")));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The last lines the child wrote to stdout/stderr (all runs of it).
    pub fn log_tail(&self) -> String {
        let text = match std::fs::read(&self.log_path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => return format!("<log {} unreadable: {e}>", self.log_path.display()),
        };
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(LOG_TAIL_LINES);
        lines[start..].join("\n")
    }

    fn failure(&self, what: &str) -> HarnessError {
        HarnessError::new(format!(
            "{} {what}\n--- last {LOG_TAIL_LINES} lines of {} ---\n{}\n---",
            self.name,
            self.log_path.display(),
            self.log_tail()
        ))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL then reap; a killed process exits at once, so the wait is short.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, addr: SocketAddr, dir: &std::path::Path) -> ServerProcess {
        let mut p = ServerProcess::new(
            "sh",
            "/bin/sh",
            vec!["-c".into(), script.into()],
            addr,
            dir.join("sh.log"),
        );
        p.ready_timeout = Duration::from_secs(5);
        p
    }

    #[tokio::test]
    async fn a_child_that_exits_early_is_reported_with_its_output() {
        let dir = tempfile::tempdir().unwrap();
        let port = crate::ports::free_port().unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut p = sh("echo 'bad config key foo' >&2; exit 3", addr, dir.path());
        let err = p.start().await.unwrap_err().to_string();
        assert!(err.contains("exited with"), "{err}");
        assert!(err.contains("bad config key foo"), "{err}");
        assert!(!p.is_running());
    }

    #[tokio::test]
    async fn a_child_that_never_listens_times_out_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let port = crate::ports::free_port().unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut p = sh("echo started; sleep 30", addr, dir.path());
        p.ready_timeout = Duration::from_millis(300);
        let err = p.start().await.unwrap_err().to_string();
        assert!(err.contains("did not accept connections"), "{err}");
        assert!(err.contains("started"), "{err}");
        p.kill().await.unwrap();
        assert!(!p.is_running());
    }

    #[tokio::test]
    async fn stop_sends_sigterm_and_reports_the_exit() {
        let dir = tempfile::tempdir().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // The harness only needs the port to accept; the listener stays open in this process.
        let mut p = sh(
            "trap 'exit 7' TERM; while true; do sleep 0.05; done",
            addr,
            dir.path(),
        );
        p.start().await.unwrap();
        assert!(p.is_running());
        let status = p.stop().await.unwrap();
        assert_eq!(status.code(), Some(7));
        assert!(!p.is_running());
    }
}
