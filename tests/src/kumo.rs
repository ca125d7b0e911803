//! The kumo daemon under test: `kumo run -c FILE` with a generated TOML config.
//!
//! The binary is not built by this crate (a test cannot depend on a binary target of another
//! package); it is taken from `KUMO_BIN` or from the workspace's `target/{debug,release}`.

use std::fmt::Write as _;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};

use crate::process::{Daemon, TestDir};

/// One `[[clients]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KumoClient {
    pub name: String,
    pub asn: u32,
    pub ip: Ipv4Addr,
    /// kumo waits for the client to connect.
    pub passive: Option<bool>,
    /// The client's BGP port, when kumo connects to it.
    pub port: Option<u16>,
    /// kumo sends several paths per prefix (`add_path = "send"`).
    pub add_path_send: bool,
    /// Paths learned from these clients (by name) are not exported to this one.
    pub test_export_deny_from: Vec<String>,
    /// Extra TOML lines for this client, verbatim (e.g. `max_prefix = { ipv4 = 10 }`).
    pub extra: Vec<String>,
}

impl KumoClient {
    pub fn new(name: &str, asn: u32, ip: Ipv4Addr) -> Self {
        Self {
            name: name.to_owned(),
            asn,
            ip,
            passive: None,
            port: None,
            add_path_send: false,
            test_export_deny_from: Vec::new(),
            extra: Vec::new(),
        }
    }

    pub fn add_path_send(mut self) -> Self {
        self.add_path_send = true;
        self
    }

    pub fn deny_from(mut self, names: &[&str]) -> Self {
        self.test_export_deny_from = names.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    pub fn passive(mut self, on: bool) -> Self {
        self.passive = Some(on);
        self
    }

    pub fn extra(mut self, line: &str) -> Self {
        self.extra.push(line.to_owned());
        self
    }
}

/// kumo's config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KumoConfig {
    pub asn: u32,
    pub router_id: Ipv4Addr,
    pub listen: SocketAddr,
    pub clients: Vec<KumoClient>,
    /// Further TOML tables, verbatim (e.g. `[policies.NAME]`, `[admin]`).
    pub sections: Vec<String>,
    /// Extra `[server]` lines, verbatim (e.g. `restart_time = 2`).
    pub server_lines: Vec<String>,
}

/// The route server's ASN in the tests.
pub const KUMO_ASN: u32 = 64500;

impl KumoConfig {
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            asn: KUMO_ASN,
            router_id: Ipv4Addr::new(192, 0, 2, 254),
            listen,
            clients: Vec::new(),
            sections: Vec::new(),
            server_lines: Vec::new(),
        }
    }

    /// Add a `[server]` line, verbatim.
    pub fn server_line(mut self, line: &str) -> Self {
        self.server_lines.push(line.to_owned());
        self
    }

    /// Append a TOML table (or several), verbatim.
    pub fn section(mut self, text: &str) -> Self {
        self.sections.push(text.to_owned());
        self
    }

    pub fn client(mut self, c: KumoClient) -> Self {
        self.clients.push(c);
        self
    }

    /// The `[admin]` table for `api` (its listen address and token).
    pub fn admin(self, api: &crate::Api) -> Self {
        self.section(&api.config_section())
    }

    /// The TOML text.
    pub fn render(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "[server]\nasn = {}\nrouter_id = \"{}\"",
            self.asn, self.router_id
        );
        let _ = writeln!(t, "listen = [\"{}\"]", self.listen);
        for line in &self.server_lines {
            let _ = writeln!(t, "{line}");
        }
        for c in &self.clients {
            let _ = writeln!(t, "\n[[clients]]\nname = \"{}\"\nasn = {}", c.name, c.asn);
            let _ = writeln!(t, "ip = [\"{}\"]", c.ip);
            if let Some(p) = c.passive {
                let _ = writeln!(t, "passive = {p}");
            }
            if let Some(p) = c.port {
                let _ = writeln!(t, "port = {p}");
            }
            if c.add_path_send {
                let _ = writeln!(t, "add_path = \"send\"");
            }
            if !c.test_export_deny_from.is_empty() {
                let names: Vec<String> = c
                    .test_export_deny_from
                    .iter()
                    .map(|n| format!("\"{n}\""))
                    .collect();
                let _ = writeln!(t, "test_export_deny_from = [{}]", names.join(", "));
            }
            for line in &c.extra {
                let _ = writeln!(t, "{line}");
            }
        }
        for section in &self.sections {
            let _ = writeln!(t, "\n{section}");
        }
        t
    }
}

/// A running kumo. Dropping it kills the process (printing its log tail if the test panicked).
#[derive(Debug)]
pub struct Kumo {
    bin: PathBuf,
    config: PathBuf,
    daemon: Option<Daemon>,
    dir: TestDir,
}

/// Where the kumo binary is: `KUMO_BIN`, else the newest of `target/{debug,release}/kumo`
/// (honouring `CARGO_TARGET_DIR`).
pub fn kumo_binary() -> Result<PathBuf> {
    if let Ok(bin) = std::env::var("KUMO_BIN") {
        let bin = PathBuf::from(bin);
        if !bin.is_file() {
            bail!("KUMO_BIN={} is not a file", bin.display());
        }
        return Ok(bin);
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .context("tests/ has no parent directory")?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let newest = ["debug", "release"]
        .iter()
        .map(|profile| target.join(profile).join("kumo"))
        .filter(|p| p.is_file())
        .max_by_key(|p| {
            fs::metadata(p)
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH)
        });
    newest.with_context(|| {
        format!(
            "kumo binary not found in {}/{{debug,release}}: run `cargo build -p kumo` first \
             (or set KUMO_BIN)",
            target.display()
        )
    })
}

/// A policy component built by `cargo build -p kumo` (host/policy/build.rs
/// builds `policies/` and `examples/policies/` to `target/wasm`), e.g.
/// `origin_tagger.wasm`.
pub fn policy_component(file: &str) -> Result<PathBuf> {
    let bin = kumo_binary()?;
    // target/<profile>/kumo -> target/wasm/wasm32-wasip2/release/<file>
    let target = bin
        .parent()
        .and_then(|p| p.parent())
        .context("kumo binary has no target directory")?;
    let path = target.join("wasm/wasm32-wasip2/release").join(file);
    if !path.is_file() {
        bail!(
            "policy component {} not found: run `cargo build -p kumo` first",
            path.display()
        );
    }
    Ok(path)
}

impl Kumo {
    /// Writes `config` (TOML text) and starts `kumo run -c FILE`; fails if kumo exits within
    /// the first half second (typically a config error), with its log.
    pub fn start(config: &str) -> Result<Self> {
        let bin = kumo_binary()?;
        let dir = TestDir::new("kumo")?;
        let path = dir.join("kumo.toml");
        fs::write(&path, config).with_context(|| format!("writing {}", path.display()))?;
        let mut kumo = Self {
            bin,
            config: path,
            daemon: None,
            dir,
        };
        kumo.spawn()?;
        Ok(kumo)
    }

    /// [`Kumo::start`] with a [`KumoConfig`].
    pub fn start_with(config: &KumoConfig) -> Result<Self> {
        Self::start(&config.render())
    }

    fn spawn(&mut self) -> Result<()> {
        self.spawn_with(&[])
    }

    /// Start kumo again after [`Kumo::stop`], with the same config and extra
    /// `kumo run` arguments (e.g. `--graceful-restart`).
    pub fn start_again(&mut self, args: &[&str]) -> Result<()> {
        if self.daemon.is_some() {
            bail!("kumo is still running");
        }
        self.spawn_with(args)
    }

    fn spawn_with(&mut self, args: &[&str]) -> Result<()> {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("run").arg("-c").arg(&self.config).args(args);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info,kumo=debug");
        }
        let mut d = Daemon::spawn("kumo", cmd, &self.dir.join("kumo.log"))?;
        let until = Instant::now() + Duration::from_millis(500);
        while Instant::now() < until {
            d.check_running().context("kumo exited right after start")?;
            thread::sleep(Duration::from_millis(50));
        }
        self.daemon = Some(d);
        Ok(())
    }

    /// Fails with the log tail if kumo is not running.
    pub fn check_running(&mut self) -> Result<()> {
        match self.daemon.as_mut() {
            Some(d) => d.check_running(),
            None => bail!("kumo was stopped"),
        }
    }

    /// SIGTERM and wait (up to 10 s) for the exit.
    pub fn stop(&mut self) -> Result<ExitStatus> {
        match self.daemon.take() {
            Some(mut d) => d.signal_and_wait("TERM", Duration::from_secs(10)),
            None => bail!("kumo was already stopped"),
        }
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            d.kill();
        }
    }

    /// The config file kumo was started with.
    pub fn config_path(&self) -> &std::path::Path {
        &self.config
    }

    /// Rewrites the config file only (a reload is then asked for through the API).
    pub fn write_config(&self, config: &str) -> Result<()> {
        fs::write(&self.config, config).with_context(|| format!("writing {}", self.config.display()))
    }

    /// Rewrites the config file and sends SIGHUP (config reload).
    pub fn reload(&mut self, config: &str) -> Result<()> {
        fs::write(&self.config, config)?;
        let pid = self
            .daemon
            .as_ref()
            .and_then(Daemon::pid)
            .context("kumo is not running")?;
        let ok = Command::new("kill")
            .arg("-HUP")
            .arg(pid.to_string())
            .status()?
            .success();
        if !ok {
            bail!("kill -HUP {pid} failed");
        }
        Ok(())
    }

    pub fn log_tail(&self, lines: usize) -> String {
        crate::process::log_tail(&self.dir.join("kumo.log"), lines)
    }
}
