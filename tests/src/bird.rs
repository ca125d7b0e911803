//! A BIRD 2 instance as a BGP speaker: generated config, `bird -f` as a child, `birdc` to
//! read its routes and protocol state and to reconfigure it.
//!
//! IPv6 routes travel over the IPv4 session (an `ipv6` channel on an IPv4 BGP session,
//! RFC 4760 MP-BGP). BIRD needs only `next hop address 2001:db8::N` on that channel; the v6
//! next hop makes the extended-next-hop capability unnecessary. GoBGP accepts such routes as
//! well, so no IPv6 addresses have to be added to `lo`.
//!
//! Received routes whose documentation next hop cannot be resolved are kept by BIRD as
//! `unreachable`; their `BGP.*` attributes are intact, which is all the tests look at.

use std::fmt::Write as _;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ipnet::IpNet;

use crate::net::{doc_next_hop_v4, doc_next_hop_v6};
use crate::process::{Daemon, TestDir};
use crate::route::{Announce, Community, ExtCommunity, LargeCommunity, Route};
use crate::{SessionState, wait_until};

/// ADD-PATH (RFC 7911) mode of a BIRD channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddPath {
    #[default]
    Off,
    /// Receive several paths per prefix (`add paths rx`).
    Rx,
    /// Send several paths per prefix (`add paths tx`).
    Tx,
    /// Both directions (`add paths on`).
    Both,
}

/// One BGP protocol of a BIRD instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdNeighbor {
    /// BIRD protocol name (not `rs`: that is a keyword).
    pub name: String,
    pub address: Ipv4Addr,
    pub port: u16,
    pub asn: u32,
    pub add_path: AddPath,
    pub graceful_restart: bool,
    /// Long-Lived Graceful Restart (RFC 9494) as well (`long lived graceful restart on`).
    pub long_lived_graceful_restart: bool,
    /// Wait for the neighbor to connect (`passive on`).
    pub passive: bool,
    /// Act as a transparent route server towards this neighbor (`rs client`); used to check
    /// the harness and the tests' expectations against a known route server.
    pub rs_client: bool,
    /// Export every route in the table, not only this instance's own static routes.
    pub export_all: bool,
    /// Send received routes with their NEXT_HOP unchanged (`next hop keep`) instead of the
    /// instance's documentation next hop.
    pub next_hop_keep: bool,
    /// Extended messages (RFC 8654, `enable extended messages on`); BIRD's default is off.
    pub extended_messages: bool,
    pub hold_time: Option<u16>,
}

impl BirdNeighbor {
    pub fn new(name: &str, address: Ipv4Addr, port: u16, asn: u32) -> Self {
        Self {
            name: name.to_owned(),
            address,
            port,
            asn,
            add_path: AddPath::Off,
            graceful_restart: false,
            long_lived_graceful_restart: false,
            passive: false,
            rs_client: false,
            export_all: false,
            next_hop_keep: false,
            extended_messages: false,
            hold_time: None,
        }
    }
}

/// What a BIRD instance runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdConfig {
    pub asn: u32,
    /// Local address; also the router ID.
    pub local: Ipv4Addr,
    pub neighbors: Vec<BirdNeighbor>,
    /// Static routes announced to every neighbor.
    pub routes: Vec<Announce>,
}

/// Protocol name of the single neighbor made by [`BirdConfig::client`].
pub const CLIENT_PROTOCOL: &str = "kumo";

impl BirdConfig {
    /// A route server client: one neighbor named [`CLIENT_PROTOCOL`] at `server:port`.
    pub fn client(asn: u32, local: Ipv4Addr, server: Ipv4Addr, port: u16, server_asn: u32) -> Self {
        Self {
            asn,
            local,
            neighbors: vec![BirdNeighbor::new(CLIENT_PROTOCOL, server, port, server_asn)],
            routes: Vec::new(),
        }
    }

    /// An instance with no neighbors yet (add them with [`BirdConfig::neighbor`]).
    pub fn new(asn: u32, local: Ipv4Addr) -> Self {
        Self {
            asn,
            local,
            neighbors: Vec::new(),
            routes: Vec::new(),
        }
    }

    pub fn neighbor(mut self, n: BirdNeighbor) -> Self {
        self.neighbors.push(n);
        self
    }

    pub fn route(mut self, route: Announce) -> Self {
        self.routes.push(route);
        self
    }

    /// ADD-PATH mode on every neighbor.
    pub fn add_path(mut self, mode: AddPath) -> Self {
        self.neighbors.iter_mut().for_each(|n| n.add_path = mode);
        self
    }

    /// Graceful restart (RFC 4724) on every neighbor.
    pub fn graceful_restart(mut self, on: bool) -> Self {
        self.neighbors.iter_mut().for_each(|n| n.graceful_restart = on);
        self
    }

    /// Graceful Restart with Long-Lived Graceful Restart on every neighbor.
    pub fn long_lived_graceful_restart(mut self) -> Self {
        self.neighbors.iter_mut().for_each(|n| {
            n.graceful_restart = true;
            n.long_lived_graceful_restart = true;
        });
        self
    }

    /// Extended messages (RFC 8654) on every neighbor.
    pub fn extended_messages(mut self, on: bool) -> Self {
        self.neighbors.iter_mut().for_each(|n| n.extended_messages = on);
        self
    }

    /// Passive mode on every neighbor.
    pub fn passive(mut self, on: bool) -> Self {
        self.neighbors.iter_mut().for_each(|n| n.passive = on);
        self
    }

    pub fn next_hop_v4(&self) -> Ipv4Addr {
        doc_next_hop_v4(self.local)
    }

    pub fn next_hop_v6(&self) -> Ipv6Addr {
        doc_next_hop_v6(self.local)
    }

    /// The `bird.conf` text.
    pub fn render(&self) -> Result<String> {
        let mut c = String::new();
        let _ = writeln!(c, "# generated by kumo-e2e");
        let _ = writeln!(c, "router id {};", self.local);
        let _ = writeln!(c, "log stderr all;");
        let _ = writeln!(c, "protocol device {{ }}");
        for (name, v6) in [("static4", false), ("static6", true)] {
            let _ = writeln!(
                c,
                "protocol static {name} {{\n  {};",
                if v6 { "ipv6" } else { "ipv4" }
            );
            for r in self
                .routes
                .iter()
                .filter(|r| matches!(r.prefix, IpNet::V6(_)) == v6)
            {
                let _ = writeln!(c, "  route {} blackhole {{ {} }};", r.prefix, static_attrs(r)?);
            }
            let _ = writeln!(c, "}}");
        }
        for n in &self.neighbors {
            self.render_neighbor(&mut c, n);
        }
        Ok(c)
    }

    fn render_neighbor(&self, c: &mut String, n: &BirdNeighbor) {
        // BIRD drops MED towards eBGP unless the export filter sets it, hence the self-assignment.
        let _ = writeln!(
            c,
            "filter export_{name} {{\n  if defined(bgp_med) then bgp_med = bgp_med;\n  {}\n  reject;\n}}",
            if n.export_all {
                "accept;"
            } else {
                "if proto = \"static4\" || proto = \"static6\" then accept;"
            },
            name = n.name,
        );
        let _ = writeln!(c, "protocol bgp {} {{", n.name);
        let _ = writeln!(c, "  local {} as {};", self.local, self.asn);
        let _ = writeln!(c, "  neighbor {} port {} as {};", n.address, n.port, n.asn);
        // Loopback peers are not on a shared subnet; without multihop BIRD waits forever.
        let _ = writeln!(c, "  multihop;");
        // Several instances listen on port 179 of their own address.
        let _ = writeln!(c, "  strict bind yes;");
        // Defaults (120 s connect retry, 60 s error wait) would make tests crawl.
        let _ = writeln!(c, "  connect delay time 1;\n  connect retry time 2;");
        let _ = writeln!(c, "  error wait time 1, 5;\n  error forget time 10;");
        if let Some(h) = n.hold_time {
            let _ = writeln!(c, "  hold time {h};");
        }
        let _ = writeln!(c, "  graceful restart {};", on_off(n.graceful_restart));
        if n.long_lived_graceful_restart {
            let _ = writeln!(c, "  long lived graceful restart on;");
        }
        let _ = writeln!(c, "  passive {};", on_off(n.passive));
        let _ = writeln!(c, "  enable extended messages {};", on_off(n.extended_messages));
        if n.rs_client {
            let _ = writeln!(c, "  rs client;");
        }
        let add_path = match n.add_path {
            AddPath::Off => "off",
            AddPath::Rx => "rx",
            AddPath::Tx => "tx",
            AddPath::Both => "on",
        };
        for (afi, nh) in [
            ("ipv4", self.next_hop_v4().to_string()),
            ("ipv6", self.next_hop_v6().to_string()),
        ] {
            // `next hop address` is needed even with `next hop keep`: an IPv6 channel on an
            // IPv4 session has no local v6 address to fall back on ("Missing next hop address").
            let keep = if n.next_hop_keep { " next hop keep;" } else { "" };
            let next_hop = format!("next hop address {nh};{keep}");
            let _ = writeln!(
                c,
                "  {afi} {{ import all; export filter export_{}; {next_hop} add paths {add_path}; }};",
                n.name
            );
        }
        let _ = writeln!(c, "}}");
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

fn static_attrs(r: &Announce) -> Result<String> {
    let mut stmts = Vec::new();
    // Prepend in reverse so that the path reads as given after BIRD adds its own ASN.
    for asn in r.as_path.iter().rev() {
        stmts.push(format!("bgp_path.prepend({asn});"));
    }
    if let Some(med) = r.med {
        stmts.push(format!("bgp_med = {med};"));
    }
    if let Some(next_hop) = r.next_hop {
        stmts.push(format!("bgp_next_hop = {next_hop};"));
    }
    for Community(a, v) in &r.communities {
        stmts.push(format!("bgp_community.add(({a},{v}));"));
    }
    for LargeCommunity(g, l1, l2) in &r.large_communities {
        stmts.push(format!("bgp_large_community.add(({g},{l1},{l2}));"));
    }
    for e in &r.ext_communities {
        stmts.push(match e {
            ExtCommunity::RouteTarget { asn, value } => {
                format!("bgp_ext_community.add((rt,{asn},{value}));")
            }
            ExtCommunity::RouteOrigin { asn, value } => {
                format!("bgp_ext_community.add((ro,{asn},{value}));")
            }
            ExtCommunity::Other(text) => bail!("cannot announce extended community {text:?} from BIRD"),
        });
    }
    Ok(stmts.join(" "))
}

/// A running BIRD. Dropping it kills the process and removes its directory (kept on panic).
#[derive(Debug)]
pub struct Bird {
    config: BirdConfig,
    // Declared before `dir`: the daemon is killed (and its log tail printed) before the
    // directory holding the log goes away.
    daemon: Option<Daemon>,
    dir: TestDir,
}

impl Bird {
    /// Writes the config and starts `bird -f`, waiting until its control socket answers.
    pub fn start(config: BirdConfig) -> Result<Self> {
        let dir = TestDir::new(&format!("bird-as{}-{}", config.asn, config.local))?;
        let mut bird = Self {
            config,
            daemon: None,
            dir,
        };
        bird.write_config()?;
        bird.spawn()?;
        Ok(bird)
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("bird.ctl")
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("bird.conf")
    }

    fn write_config(&self) -> Result<()> {
        fs::write(self.config_path(), self.config.render()?)
            .with_context(|| format!("writing {}", self.config_path().display()))
    }

    fn spawn(&mut self) -> Result<()> {
        let _ = fs::remove_file(self.socket());
        let mut cmd = Command::new("bird");
        cmd.arg("-f")
            .arg("-c")
            .arg(self.config_path())
            .arg("-s")
            .arg(self.socket())
            .arg("-P")
            .arg(self.dir.join("bird.pid"));
        let name = format!("bird AS{} {}", self.config.asn, self.config.local);
        self.daemon = Some(Daemon::spawn(&name, cmd, &self.dir.join("bird.log"))?);
        let started = Instant::now();
        loop {
            if let Some(d) = self.daemon.as_mut() {
                d.check_running().context("bird did not start (config error?)")?;
            }
            if self.birdc(&["show", "status"]).is_ok() {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!(
                    "bird's control socket {} did not answer within 10 s",
                    self.socket().display()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `birdc -s SOCKET ARGS...` and returns its output (without the banner line).
    pub fn birdc(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("birdc")
            .arg("-s")
            .arg(self.socket())
            .args(args)
            .output()
            .context("running birdc")?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "birdc {} failed ({}): {}{}",
                args.join(" "),
                out.status,
                text,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // birdc exits 0 when the socket is missing; its message says so.
        if text.contains("Unable to connect to server") {
            bail!("birdc {}: {}", args.join(" "), text.trim());
        }
        Ok(text
            .lines()
            .filter(|l| !l.starts_with("BIRD "))
            .collect::<Vec<_>>()
            .join("\n"))
    }

    pub fn config(&self) -> &BirdConfig {
        &self.config
    }

    pub fn asn(&self) -> u32 {
        self.config.asn
    }

    pub fn address(&self) -> Ipv4Addr {
        self.config.local
    }

    /// The NEXT_HOP this instance announces for IPv4 routes (`192.0.2.N`).
    pub fn next_hop_v4(&self) -> IpAddr {
        IpAddr::V4(self.config.next_hop_v4())
    }

    /// The NEXT_HOP this instance announces for IPv6 routes (`2001:db8::N`).
    pub fn next_hop_v6(&self) -> IpAddr {
        IpAddr::V6(self.config.next_hop_v6())
    }

    /// The NEXT_HOP this instance announces for `prefix`'s address family.
    pub fn next_hop_for(&self, prefix: &IpNet) -> IpAddr {
        match prefix {
            IpNet::V4(_) => self.next_hop_v4(),
            IpNet::V6(_) => self.next_hop_v6(),
        }
    }

    fn first_protocol(&self) -> Result<&str> {
        match self.config.neighbors.first() {
            Some(n) => Ok(&n.name),
            None => bail!("this BIRD has no BGP neighbor"),
        }
    }

    /// Routes received from the first (usually only) neighbor, IPv4 and IPv6.
    pub fn routes(&self) -> Result<Vec<Route>> {
        let proto = self.first_protocol()?.to_owned();
        self.routes_from(&proto)
    }

    /// Routes received by the BGP protocol `proto`.
    pub fn routes_from(&self, proto: &str) -> Result<Vec<Route>> {
        let text = self.birdc(&["show", "route", "all", "protocol", proto])?;
        parse_show_route(&text)
    }

    /// State of the first neighbor's session.
    pub fn state(&self) -> Result<SessionState> {
        let proto = self.first_protocol()?.to_owned();
        self.state_of(&proto)
    }

    /// State of the BGP protocol `proto`.
    pub fn state_of(&self, proto: &str) -> Result<SessionState> {
        let text = self.birdc(&["show", "protocols", "all", proto])?;
        parse_protocol_state(&text).with_context(|| format!("no BGP state for protocol {proto} in:\n{text}"))
    }

    /// Waits until every neighbor's session is Established.
    pub fn wait_established(&self, timeout: Duration) -> Result<()> {
        for n in &self.config.neighbors {
            wait_until(timeout, Duration::from_millis(100), || {
                let s = self.state_of(&n.name)?;
                if s == SessionState::Established {
                    Ok(true)
                } else {
                    bail!("BIRD AS{} protocol {} is {s:?}", self.config.asn, n.name)
                }
            })?;
        }
        Ok(())
    }

    /// Announces `route` (replacing an announcement of the same prefix) by reconfiguring.
    pub fn announce(&mut self, route: Announce) -> Result<()> {
        self.announce_all([route])
    }

    /// Announces `routes` (each replacing an announcement of the same prefix) in one
    /// reconfiguration, so that BIRD sends them together.
    pub fn announce_all(&mut self, routes: impl IntoIterator<Item = Announce>) -> Result<()> {
        for route in routes {
            self.config.routes.retain(|r| r.prefix != route.prefix);
            self.config.routes.push(route);
        }
        self.reconfigure()
    }

    /// Stops announcing `prefix`.
    pub fn withdraw(&mut self, prefix: &IpNet) -> Result<()> {
        let before = self.config.routes.len();
        self.config.routes.retain(|r| &r.prefix != prefix);
        if self.config.routes.len() == before {
            bail!("BIRD AS{} does not announce {prefix}", self.config.asn);
        }
        self.reconfigure()
    }

    /// Rewrites the config from [`Bird::config`] and runs `birdc configure`.
    pub fn reconfigure(&mut self) -> Result<()> {
        self.write_config()?;
        let out = self.birdc(&["configure"])?;
        if !out.contains("Reconfigur") || out.to_lowercase().contains("error") {
            bail!("birdc configure did not succeed:\n{out}");
        }
        Ok(())
    }

    /// Kills the process (SIGKILL: the kernel closes its TCP sessions, no NOTIFICATION).
    pub fn kill(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            d.kill();
        }
    }

    /// Kills the process and starts it again with the same config.
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        self.spawn()
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        self.daemon.as_mut().is_some_and(|d| d.check_running().is_ok())
    }

    pub fn log_tail(&self, lines: usize) -> String {
        crate::process::log_tail(&self.dir.join("bird.log"), lines)
    }
}

/// Parses `show protocols all NAME` for the `BGP state:` line.
pub fn parse_protocol_state(text: &str) -> Option<SessionState> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("BGP state:"))
        .map(|s| SessionState::parse(s.trim()))
}

/// Parses `birdc show route all ...` output into routes.
///
/// Layout (BIRD 2.0): a route line starts with the prefix at column 0; further routes for
/// the same prefix start with spaces instead of a prefix; attribute lines start with a tab
/// (`\tBGP.as_path: 65002 65010`).
pub fn parse_show_route(text: &str) -> Result<Vec<Route>> {
    let mut routes: Vec<Route> = Vec::new();
    let mut current: Option<IpNet> = None;
    // A long attribute (a big community set) goes on over lines that start with two tabs.
    let mut last_key = String::new();
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with("Table ") {
            continue;
        }
        if line.starts_with("\t\t") {
            let Some(route) = routes.last_mut() else { continue };
            parse_attribute(route, &last_key, line.trim())
                .with_context(|| format!("parsing BIRD attribute line {line:?}"))?;
        } else if line.starts_with('\t') {
            let Some(route) = routes.last_mut() else { continue };
            let Some((key, value)) = line.trim().split_once(':') else {
                continue;
            };
            last_key = key.trim().to_owned();
            parse_attribute(route, &last_key, value.trim())
                .with_context(|| format!("parsing BIRD attribute line {line:?}"))?;
        } else if line.starts_with(' ') {
            // Another path for the previous prefix.
            let Some(p) = current else {
                bail!("route line without prefix: {line:?}")
            };
            routes.push(Route::empty(p));
            last_key.clear();
        } else {
            last_key.clear();
            let first = line.split_whitespace().next().unwrap_or_default();
            let p: IpNet = first
                .parse()
                .with_context(|| format!("unexpected line in BIRD route output: {line:?}"))?;
            current = Some(p);
            routes.push(Route::empty(p));
        }
    }
    routes.iter_mut().for_each(Route::normalise);
    Ok(routes)
}

fn parse_attribute(route: &mut Route, key: &str, value: &str) -> Result<()> {
    match key {
        "BGP.as_path" => {
            // AS_SETs print as `{1 2}`; the tests only compare sequences, so braces are dropped.
            for asn in value
                .split(|c: char| c.is_whitespace() || c == '{' || c == '}' || c == ',')
                .filter(|t| !t.is_empty())
            {
                route.as_path.push(asn.parse()?);
            }
        }
        "BGP.next_hop" => {
            // With a link-local next hop BIRD prints two addresses; the first is the global one.
            let first = value.split_whitespace().next().unwrap_or_default();
            route.next_hop = Some(first.parse()?);
        }
        "BGP.med" => route.med = Some(value.parse()?),
        "BGP.community" => {
            for t in tuples(value) {
                let [a, v] = t.as_slice() else {
                    bail!("bad community {t:?}")
                };
                route.communities.push(Community(a.parse()?, v.parse()?));
            }
        }
        "BGP.large_community" => {
            for t in tuples(value) {
                let [g, l1, l2] = t.as_slice() else {
                    bail!("bad large community {t:?}")
                };
                route
                    .large_communities
                    .push(LargeCommunity(g.parse()?, l1.parse()?, l2.parse()?));
            }
        }
        "BGP.ext_community" => {
            for t in tuples(value) {
                route.ext_communities.push(match t.as_slice() {
                    [kind, asn, v] if kind == "rt" => ExtCommunity::RouteTarget {
                        asn: asn.parse()?,
                        value: v.parse()?,
                    },
                    [kind, asn, v] if kind == "ro" => ExtCommunity::RouteOrigin {
                        asn: asn.parse()?,
                        value: v.parse()?,
                    },
                    other => ExtCommunity::Other(other.join(",")),
                });
            }
        }
        _ => {}
    }
    Ok(())
}

/// `(a,b) (c, d, e)` → `[["a","b"], ["c","d","e"]]`.
fn tuples(value: &str) -> Vec<Vec<String>> {
    value
        .split(')')
        .filter_map(|chunk| chunk.trim().strip_prefix('('))
        .map(|inner| inner.split(',').map(|s| s.trim().to_owned()).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::route::prefix;

    // Captured from BIRD 2.0.12 on this machine (GoBGP announcing to BIRD), plus a second
    // path for one prefix in the ADD-PATH layout.
    const SHOW_ROUTE: &str = "Table master4:
10.3.0.0/24          unreachable [peer1 14:13:41.231 from 127.0.250.3] * (100) [AS65011?]
\tType: BGP univ
\tBGP.origin: Incomplete
\tBGP.as_path: 65003 65011
\tBGP.next_hop: 192.0.2.3
\tBGP.med: 30
\tBGP.local_pref: 100
\tBGP.community: (65003,1) (65003,0)
\tBGP.large_community: (65003, 1, 1)
                     unreachable [peer1 14:13:41.256 from 127.0.250.3] (100) [AS65003?]
\tType: BGP univ
\tBGP.as_path: 65003
\tBGP.next_hop: 192.0.2.4
\tBGP.ext_community: (rt, 65003, 5) (ro, 65003, 6) (generic, 0x43000000, 0x1)

Table master6:
2001:db8:3::/48      unreachable [peer1 14:13:41.242 from 127.0.250.3] * (100) [AS65003?]
\tType: BGP univ
\tBGP.as_path: 65003
\tBGP.next_hop: 2001:db8::3
\tBGP.med: 31
";

    #[test]
    fn parses_routes_paths_and_attributes() {
        let routes = parse_show_route(SHOW_ROUTE).unwrap();
        assert_eq!(routes.len(), 3);
        let a = &routes[0];
        assert_eq!(a.prefix, prefix("10.3.0.0/24"));
        assert_eq!(a.as_path, vec![65003, 65011]);
        assert_eq!(a.next_hop, Some("192.0.2.3".parse().unwrap()));
        assert_eq!(a.med, Some(30));
        assert_eq!(
            a.communities,
            vec![Community(65003, 0), Community(65003, 1)],
            "sorted"
        );
        assert_eq!(a.large_communities, vec![LargeCommunity(65003, 1, 1)]);
        let b = &routes[1];
        assert_eq!(b.prefix, prefix("10.3.0.0/24"), "second path inherits the prefix");
        assert_eq!(b.next_hop, Some("192.0.2.4".parse().unwrap()));
        assert_eq!(b.med, None);
        assert_eq!(
            b.ext_communities,
            vec![
                ExtCommunity::RouteTarget { asn: 65003, value: 5 },
                ExtCommunity::RouteOrigin { asn: 65003, value: 6 },
                ExtCommunity::Other("generic,0x43000000,0x1".into()),
            ]
        );
        let c = &routes[2];
        assert_eq!(c.prefix, prefix("2001:db8:3::/48"));
        assert_eq!(c.next_hop, Some("2001:db8::3".parse().unwrap()));
        assert_eq!(c.med, Some(31));
    }

    #[test]
    fn parses_attributes_continued_over_lines() {
        // The layout of BIRD 2.0.12 for a set too long for one line.
        let text = "10.80.0.0/24         unreachable [kumo 14:54:54.118] * (100) [AS65001i]
\tBGP.as_path: 65001
\tBGP.community: (65001,0) (65001,1)
\t\t(65001,2) (65001,3)
\t\t(65001,4)
\tBGP.med: 3
";
        let routes = parse_show_route(text).unwrap();
        assert_eq!(routes[0].communities.len(), 5, "{routes:?}");
        assert_eq!(routes[0].med, Some(3));
    }

    #[test]
    fn rejects_garbage_route_lines() {
        assert!(parse_show_route("not-a-prefix blackhole\n").is_err());
        assert!(parse_show_route("10.0.0.0/24 x\n\tBGP.med: many\n").is_err());
    }

    #[test]
    fn parses_protocol_state() {
        let text = "Name       Proto      Table      State  Since         Info\n\
                    peer1      BGP        ---        up     14:13:03.905  Established\n  \
                    BGP state:          Established\n    Neighbor address: 127.0.250.3\n";
        assert_eq!(parse_protocol_state(text), Some(SessionState::Established));
        let text =
            "kumo BGP --- start 14:00 Active Socket: Connection refused\n  BGP state:          Active\n";
        assert_eq!(parse_protocol_state(text), Some(SessionState::Active));
        assert_eq!(parse_protocol_state("nothing"), None);
    }

    #[test]
    fn renders_static_attributes_and_channels() {
        let local = Ipv4Addr::new(127, 0, 9, 2);
        let cfg = BirdConfig::client(65002, local, Ipv4Addr::new(127, 0, 9, 1), 1179, 64500)
            .add_path(AddPath::Rx)
            .graceful_restart(true)
            .route(
                Announce::new("10.2.0.0/24")
                    .path(&[65010, 65011])
                    .med(5)
                    .community(65002, 1)
                    .large_community(65002, 0, 9)
                    .route_origin(65002, 3),
            )
            .route(Announce::new("2001:db8:2::/48"));
        let text = cfg.render().unwrap();
        assert!(text.contains("neighbor 127.0.9.1 port 1179 as 64500;"), "{text}");
        assert!(text.contains("local 127.0.9.2 as 65002;"), "{text}");
        assert!(
            text.contains("route 10.2.0.0/24 blackhole { bgp_path.prepend(65011); bgp_path.prepend(65010); bgp_med = 5; bgp_community.add((65002,1)); bgp_large_community.add((65002,0,9)); bgp_ext_community.add((ro,65002,3)); };"),
            "{text}"
        );
        assert!(text.contains("route 2001:db8:2::/48 blackhole"), "{text}");
        assert!(
            text.contains("next hop address 192.0.2.2; add paths rx;"),
            "{text}"
        );
        assert!(
            text.contains("next hop address 2001:db8::2; add paths rx;"),
            "{text}"
        );
        assert!(text.contains("graceful restart on;"), "{text}");
        assert!(text.contains("passive off;"), "{text}");
    }
}
