//! [`Stayrtr`]: a real RPKI cache (stayrtr) serving ROAs from a JSON file the test writes, on a
//! loopback address; kumo's `[rpki]` connects to it over RTR.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ipnet::IpNet;

use crate::process::{Daemon, TestDir};

/// One ROA as the cache serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roa {
    pub prefix: IpNet,
    pub max_length: u8,
    pub asn: u32,
}

impl Roa {
    /// # Panics
    /// On a prefix literal that does not parse (a typo in test code).
    pub fn new(prefix: &str, max_length: u8, asn: u32) -> Self {
        Self {
            prefix: crate::prefix(prefix),
            max_length,
            asn,
        }
    }
}

/// A running stayrtr. Dropping it kills the process and removes its directory.
#[derive(Debug)]
pub struct Stayrtr {
    pub address: SocketAddr,
    daemon: Daemon,
    dir: TestDir,
}

impl Stayrtr {
    /// Serve `roas` over RTR version 1 (RFC 8210) on `address:port`, re-reading the file every
    /// second.
    pub fn start(address: Ipv4Addr, port: u16, metrics_port: u16, roas: &[Roa]) -> Result<Self> {
        let dir = TestDir::new(&format!("stayrtr-{address}"))?;
        write_roas(&dir, roas)?;
        let mut cmd = Command::new("stayrtr");
        cmd.arg("-cache")
            .arg(dir.join("vrps.json"))
            .arg("-bind")
            .arg(format!("{address}:{port}"))
            .arg("-metrics.addr")
            .arg(format!("{address}:{metrics_port}"))
            .args(["-checktime=false", "-refresh", "1", "-protocol", "1"]);
        let daemon = Daemon::spawn("stayrtr", cmd, &dir.join("stayrtr.log"))?;
        let mut cache = Self {
            address: SocketAddr::from((address, port)),
            daemon,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(cache.address).is_err() {
            cache.daemon.check_running().context("stayrtr exited")?;
            if Instant::now() > deadline {
                bail!(
                    "stayrtr did not listen on {}:\n{}",
                    cache.address,
                    cache.daemon.log_tail(20)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(cache)
    }

    /// Replace the served ROAs (atomically; stayrtr notices within about a second and tells its
    /// RTR clients).
    pub fn set_roas(&self, roas: &[Roa]) -> Result<()> {
        write_roas(&self.dir, roas)
    }

    pub fn log_tail(&self, lines: usize) -> String {
        self.daemon.log_tail(lines)
    }
}

fn write_roas(dir: &TestDir, roas: &[Roa]) -> Result<()> {
    let roas: Vec<_> = roas
        .iter()
        .map(|r| {
            serde_json::json!({"prefix": r.prefix.to_string(), "maxLength": r.max_length, "asn": format!("AS{}", r.asn)})
        })
        .collect();
    let body = serde_json::to_vec_pretty(&serde_json::json!({ "roas": roas }))?;
    let tmp = dir.join("vrps.json.tmp");
    fs::write(&tmp, body).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, dir.join("vrps.json")).context("replacing vrps.json")?;
    Ok(())
}
