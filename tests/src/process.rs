//! Child daemons and their scratch directories, cleaned up on drop even when a test panics.
//!
//! When a test panics, the daemon's log tail is printed (cargo shows it with the failure) and
//! its directory is kept so that the generated config and the full log can be read afterwards.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A scratch directory under `$TMPDIR/kumo-e2e/`, removed on drop unless the thread panics.
#[derive(Debug)]
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    pub fn new(label: &str) -> Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir()
            .join("kumo-e2e")
            .join(format!("{label}-{}-{n}", std::process::id()));
        if path.exists() {
            fs::remove_dir_all(&path).with_context(|| format!("clearing {}", path.display()))?;
        }
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("[kumo-e2e] kept {} for inspection", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// A running child process whose stdout and stderr go to a log file.
#[derive(Debug)]
pub struct Daemon {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    /// Spawns `cmd` with its output appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Self> {
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening log {}", log.display()))?;
        let err = out.try_clone()?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name}: {cmd:?} (is it installed?)"))?;
        Ok(Self {
            name: name.to_owned(),
            child: Some(child),
            log: log.to_owned(),
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Fails (with the log tail) if the process has exited.
    pub fn check_running(&mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else {
            bail!("{} was stopped", self.name)
        };
        if let Some(status) = child.try_wait()? {
            bail!(
                "{} exited with {status}; log tail:\n{}",
                self.name,
                self.log_tail(40)
            );
        }
        Ok(())
    }

    /// SIGKILL and reap. Idempotent.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` (a name such as `TERM`) and waits up to `timeout` for the exit, then
    /// SIGKILLs. Returns the exit status when the process exited by itself.
    pub fn signal_and_wait(&mut self, signal: &str, timeout: Duration) -> Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("{} was already stopped", self.name)
        };
        // `kill(1)` instead of libc: the workspace denies unsafe code.
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .context("running kill(1)")?;
        if !sent.success() {
            let _ = child.kill();
            let _ = child.wait();
            bail!("kill -{signal} {} failed", child.id());
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "{} did not exit within {timeout:?} after SIG{signal}; killed. Log tail:\n{}",
                    self.name,
                    self.log_tail(40)
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log, lines)
    }
}

/// The last `lines` lines of a text file (empty when unreadable).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if thread::panicking() && self.child.is_some() {
            eprintln!(
                "[kumo-e2e] ---- {} log tail ({}) ----\n{}\n[kumo-e2e] ---- end of {} log ----",
                self.name,
                self.log.display(),
                self.log_tail(60),
                self.name
            );
        }
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn daemon_logs_output_and_is_killed() {
        let dir = TestDir::new("selftest-process").unwrap();
        let log = dir.join("sleep.log");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo hello-from-child; exec sleep 30"]);
        let mut d = Daemon::spawn("sleeper", cmd, &log).unwrap();
        let pid = d.pid().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !d.log_tail(5).contains("hello-from-child") {
            assert!(Instant::now() < deadline, "child output never reached the log");
            thread::sleep(Duration::from_millis(20));
        }
        d.check_running().unwrap();
        let status = d.signal_and_wait("TERM", Duration::from_secs(5)).unwrap();
        assert!(!status.success(), "sleep killed by SIGTERM does not exit 0");
        assert!(!Path::new(&format!("/proc/{pid}")).exists() || d.check_running().is_err());
    }

    #[test]
    fn log_tail_returns_last_lines() {
        let dir = TestDir::new("selftest-tail").unwrap();
        let p = dir.join("f");
        fs::write(&p, "a\nb\nc\n").unwrap();
        assert_eq!(log_tail(&p, 2), "b\nc");
        assert_eq!(log_tail(&p, 10), "a\nb\nc");
    }
}
