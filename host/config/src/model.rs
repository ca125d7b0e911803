//! The configuration as typed data: [`Config`], [`Server`], [`Client`], [`MaxPrefix`].
//!
//! Every struct denies unknown keys, so a typo is an error rather than a silently ignored
//! setting. Defaults live next to the field they belong to. Rules that span fields or entries
//! (uniqueness, cross-references, value ranges) are in `validate`.
//!
//! Later sections (`[admin]`, `[policies.NAME]`) are added as a field on [`Config`], a struct
//! here, and a check in `validate`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::addr;

/// The BGP port (RFC 4271).
pub const BGP_PORT: u16 = 179;

/// A whole configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`: the route server itself.
    pub server: Server,
    /// `[[clients]]`: the peers whose routes kumo redistributes.
    #[serde(default)]
    pub clients: Vec<Client>,
    /// `[policies.NAME]`: WebAssembly policy modules that clients name in their chains.
    #[serde(default)]
    pub policies: BTreeMap<String, PolicyConfig>,
    /// `[admin]`: the HTTP admin API. Absent: no admin API.
    #[serde(default)]
    pub admin: Option<Admin>,
    /// `[irr]`: IRR data (route objects, AS-SETs) policies check routes
    /// against. Absent: no IRR data (every AS-SET unknown).
    #[serde(default)]
    pub irr: Option<Irr>,
    /// `[rpki]`: the RTR cache giving the VRPs for RPKI origin validation.
    /// Absent: no RPKI data (every route not-found).
    #[serde(default)]
    pub rpki: Option<Rpki>,
    /// The directory of the file this was loaded from; relative paths in the
    /// file (policy modules, token file) are relative to it.
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

impl Config {
    /// `path` as written in the file, resolved against the file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        match &self.base_dir {
            Some(base) if path.is_relative() => base.join(path),
            _ => path.to_owned(),
        }
    }
}

/// `[irr]`: where IRR data comes from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Irr {
    /// bgpq4 JSON files (`bgpq4 -j -l NAME AS-SET`, `*.json`) and RPSL files
    /// (`route:`/`route6:` and `as-set:` objects; plain or gzip), relative to
    /// the config file's directory. Read again on every reload (SIGHUP,
    /// `POST /api/v1/reload`), after which the routes are checked again.
    pub files: Vec<PathBuf>,
}

/// `[rpki]`: the RTR (RFC 8210) cache.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rpki {
    /// The cache, `host:port` (stayrtr, Routinator, rpki-client + gortr...).
    pub cache: String,
    /// What the VRPs are worth once the cache cannot be reached:
    /// `keep-until-expire` (the cache's Expire Interval, RFC 8210 §6; then
    /// every route is not-found), `keep-forever`, or `discard` (not-found at
    /// once).
    #[serde(default)]
    pub stale: RpkiStale,
    /// RTR version proposed first (kumo falls back to what the cache speaks).
    #[serde(default = "default_rtr_version")]
    pub version: u8,
    /// Seconds before the first reconnect; doubled per failure up to
    /// `retry_max`.
    #[serde(default = "default_rtr_retry")]
    pub retry: u64,
    /// Longest wait between reconnects, seconds.
    #[serde(default = "default_rtr_retry_max")]
    pub retry_max: u64,
}

/// `rpki.stale`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RpkiStale {
    /// Keep the VRPs until the cache's Expire Interval has passed.
    #[default]
    KeepUntilExpire,
    /// Keep them until a cache answers again.
    KeepForever,
    /// Drop them when the connection is lost.
    Discard,
}

fn default_rtr_version() -> u8 {
    1
}

fn default_rtr_retry() -> u64 {
    1
}

fn default_rtr_retry_max() -> u64 {
    60
}

/// `[policies.NAME]`: one WebAssembly policy module.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The component (`.wasm`), relative to the config file's directory.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Instead of `path`: one of the modules built into kumo (e.g.
    /// `rs-import`), here given its own limits and configuration. A table
    /// named after a built-in module may leave out both.
    #[serde(default)]
    pub builtin: Option<String>,
    /// Memory cap of one instance, bytes. Default: the engine's (64 MiB).
    #[serde(default)]
    pub max_memory: Option<u64>,
    /// Deadline of one call, milliseconds. Default: the engine's (5 ms).
    #[serde(default)]
    pub deadline_ms: Option<u64>,
    /// Free-form configuration handed to the module at instantiation (as JSON).
    #[serde(default)]
    pub config: toml::Table,
}

/// `[admin]`: the HTTP admin API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// Where the API listens. Default 127.0.0.1:8179 (loopback only).
    #[serde(
        default = "default_admin_listen",
        deserialize_with = "addr::deserialize_socket_addr"
    )]
    pub listen: SocketAddr,
    /// Bearer token for mutations.
    #[serde(default)]
    pub token: Option<String>,
    /// File holding the bearer token (first line), e.g. a Kubernetes secret.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
}

fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8179))
}

impl Config {
    /// The client that owns `ip`, if any. An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, as a
    /// dual-stack socket reports an IPv4 peer) matches the IPv4 address.
    pub fn client_by_ip(&self, ip: IpAddr) -> Option<&Client> {
        let ip = ip.to_canonical();
        // A linear scan: this runs once per accepted connection, and IXs have hundreds of clients.
        self.clients
            .iter()
            .find(|client| client.ip.iter().any(|own| own.to_canonical() == ip))
    }

    /// The client named `name`, if any.
    pub fn client_by_name(&self, name: &str) -> Option<&Client> {
        self.clients.iter().find(|client| client.name == name)
    }
}

/// `[server]`: settings of the route server itself.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// The route server's AS number (4 octets).
    pub asn: u32,
    /// The BGP Identifier sent in OPEN.
    #[serde(deserialize_with = "addr::deserialize_ipv4")]
    pub router_id: Ipv4Addr,
    /// Where kumo accepts BGP connections. `"IP"` means port 179.
    #[serde(default = "default_listen", deserialize_with = "addr::deserialize_listen")]
    pub listen: Vec<SocketAddr>,
    /// Hold time offered in OPEN, seconds: 0 (no keepalives) or at least 3.
    #[serde(default = "default_hold_time")]
    pub hold_time: u16,
    /// Seconds between attempts to connect to clients with `passive = false`.
    #[serde(default = "default_connect_retry")]
    pub connect_retry: u64,
    /// Graceful Restart (RFC 4724) helper mode: keep a restarting client's routes.
    #[serde(default = "default_true")]
    pub graceful_restart: bool,
    /// The Restart Time kumo announces in its Graceful Restart capability, seconds (12 bits).
    #[serde(default = "default_restart_time")]
    pub restart_time: u16,
    /// Watch the configuration file and reload when it changes (also through
    /// a symlink swap, as a mounted Kubernetes ConfigMap changes).
    #[serde(default)]
    pub watch_config: bool,
    /// On shutdown, first re-announce every route with GRACEFUL_SHUTDOWN
    /// (65535:0, RFC 8326) and wait this many seconds so clients move
    /// traffic away, then close the sessions. 0: close at once.
    #[serde(default)]
    pub shutdown_drain: u64,
    /// What SIGTERM means: an upgrade restart (sessions dropped without a
    /// NOTIFICATION so that clients with Graceful Restart keep kumo's routes)
    /// or a decommission (Cease / Administrative Shutdown to everyone).
    #[serde(default)]
    pub on_sigterm: SigtermAction,
    /// Long-Lived Graceful Restart (RFC 9494) stale time kumo offers, seconds
    /// (24 bits): clients that support LLGR keep kumo's routes this long
    /// after the Graceful Restart time, marked LLGR_STALE. 0: not offered.
    #[serde(default)]
    pub llgr_stale_time: u32,
    /// The static-hold module deciding whether a lost session's routes are
    /// held: a `[policies.NAME]` table or a built-in. Default: the built-in
    /// `static-hold`, holding within declared maintenance windows.
    #[serde(default)]
    pub static_hold: Option<String>,
}

/// `server.on_sigterm`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SigtermAction {
    /// Close the sessions without a NOTIFICATION: a Kubernetes rolling
    /// upgrade or a package upgrade, after which kumo comes back (run it
    /// with `--graceful-restart`). Clients that negotiated Graceful Restart
    /// keep kumo's routes meanwhile.
    #[default]
    Restart,
    /// Drain (`shutdown_drain`), then Cease / Administrative Shutdown.
    Decommission,
}

impl Server {
    /// A server with every optional setting at its default.
    pub fn new(asn: u32, router_id: Ipv4Addr) -> Self {
        Self {
            asn,
            router_id,
            listen: default_listen(),
            hold_time: default_hold_time(),
            connect_retry: default_connect_retry(),
            graceful_restart: true,
            restart_time: default_restart_time(),
            watch_config: false,
            shutdown_drain: 0,
            on_sigterm: SigtermAction::default(),
            static_hold: None,
            llgr_stale_time: 0,
        }
    }

    /// The keepalive interval for a hold time: one third of it (RFC 4271 §10), 0 when the
    /// hold time is 0.
    pub fn keepalive_time(hold_time: u16) -> u16 {
        hold_time / 3
    }
}

/// `[[clients]]`: one peer of the route server.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    /// Unique name, used in logs, the admin API and policies: `[A-Za-z0-9_.-]+`.
    pub name: String,
    /// The client's AS number; must differ from the server's (route servers peer eBGP only).
    pub asn: u32,
    /// The client's addresses on the IX (one or more, IPv4 and/or IPv6).
    #[serde(deserialize_with = "addr::deserialize_ips")]
    pub ip: Vec<IpAddr>,
    /// Free text shown in the admin API.
    #[serde(default)]
    pub description: Option<String>,
    /// Wait for the client to connect (true) or also connect to it (false).
    #[serde(default = "default_true")]
    pub passive: bool,
    /// Port to connect to when `passive = false`.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Overrides `server.hold_time` for this client.
    #[serde(default)]
    pub hold_time: Option<u16>,
    /// Limits on the number of prefixes the client may announce.
    #[serde(default)]
    pub max_prefix: Option<MaxPrefix>,
    /// What ADD-PATH (RFC 7911) kumo offers this client.
    #[serde(default)]
    pub add_path: AddPath,
    /// Offer IPv4 unicast.
    #[serde(default = "default_true")]
    pub ipv4: bool,
    /// Offer IPv6 unicast.
    #[serde(default = "default_true")]
    pub ipv6: bool,
    /// TCP-MD5 password. Not supported yet: setting it is a validation error, so a session
    /// never comes up silently without the protection the operator asked for.
    #[serde(default)]
    pub password: Option<String>,
    /// Overrides `server.graceful_restart` for this client.
    #[serde(default)]
    pub graceful_restart: Option<bool>,
    /// Import policy chain, by policy name, applied in order.
    #[serde(default = "default_policies")]
    pub import: Vec<String>,
    /// Export policy chain, by policy name, applied in order.
    #[serde(default = "default_policies")]
    pub export: Vec<String>,
    /// Per-client parameters handed to the policies (AS-SET, limits, flags), free-form.
    #[serde(default)]
    pub params: toml::Table,
    /// Test aid: names of clients whose paths are never exported to this one.
    #[doc(hidden)]
    #[serde(default)]
    pub test_export_deny_from: Vec<String>,
}

impl Client {
    /// A client with every optional setting at its default.
    pub fn new(name: impl Into<String>, asn: u32, ip: Vec<IpAddr>) -> Self {
        Self {
            name: name.into(),
            asn,
            ip,
            description: None,
            passive: true,
            port: default_port(),
            hold_time: None,
            max_prefix: None,
            add_path: AddPath::default(),
            ipv4: true,
            ipv6: true,
            password: None,
            graceful_restart: None,
            import: default_policies(),
            export: default_policies(),
            params: toml::Table::new(),
            test_export_deny_from: Vec::new(),
        }
    }

    /// The prefix limit for one address family, if any.
    pub fn max_prefix_for(&self, afi: Afi) -> Option<u32> {
        let limits = self.max_prefix.as_ref()?;
        match afi {
            Afi::Ipv4 => limits.ipv4,
            Afi::Ipv6 => limits.ipv6,
        }
    }

    /// The hold time to offer this client: its own, else the server's.
    pub fn effective_hold_time(&self, server: &Server) -> u16 {
        self.hold_time.unwrap_or(server.hold_time)
    }

    /// Whether to act as Graceful Restart helper for this client: its own setting, else the
    /// server's.
    pub fn effective_graceful_restart(&self, server: &Server) -> bool {
        self.graceful_restart.unwrap_or(server.graceful_restart)
    }

    /// Whether kumo offers this address family to the client.
    pub fn offers(&self, afi: Afi) -> bool {
        match afi {
            Afi::Ipv4 => self.ipv4,
            Afi::Ipv6 => self.ipv6,
        }
    }
}

/// The address families kumo's configuration distinguishes (unicast only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Afi {
    /// IPv4 unicast.
    Ipv4,
    /// IPv6 unicast.
    Ipv6,
}

/// `max_prefix`: per-family limits on accepted announcements and what to do when one is passed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxPrefix {
    /// Limit on IPv4 prefixes; no limit when absent.
    #[serde(default)]
    pub ipv4: Option<u32>,
    /// Limit on IPv6 prefixes; no limit when absent.
    #[serde(default)]
    pub ipv6: Option<u32>,
    /// What to do when a limit is passed.
    #[serde(default)]
    pub action: MaxPrefixAction,
    /// With `action = "restart"`: seconds to wait before accepting the session again.
    #[serde(default = "default_restart_after")]
    pub restart_after: u64,
}

/// What happens when a client passes its prefix limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MaxPrefixAction {
    /// Send NOTIFICATION Cease / Maximum Number of Prefixes Reached and keep the session down
    /// until an operator intervenes.
    #[default]
    Shutdown,
    /// As `Shutdown`, then allow the session again after `restart_after` seconds.
    Restart,
    /// Log and count only.
    Warn,
}

/// The ADD-PATH (RFC 7911) mode kumo offers a client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddPath {
    /// No ADD-PATH.
    #[default]
    Off,
    /// kumo sends several paths per prefix to the client.
    Send,
    /// kumo accepts several paths per prefix from the client.
    Receive,
    /// Both directions.
    Both,
}

impl AddPath {
    /// Whether kumo sends several paths per prefix.
    pub fn sends(self) -> bool {
        matches!(self, AddPath::Send | AddPath::Both)
    }

    /// Whether kumo accepts several paths per prefix.
    pub fn receives(self) -> bool {
        matches!(self, AddPath::Receive | AddPath::Both)
    }
}

/// The policy chain used when a client names none.
pub const DEFAULT_POLICY: &str = "accept-all";

fn default_listen() -> Vec<SocketAddr> {
    vec![
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), BGP_PORT),
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), BGP_PORT),
    ]
}

fn default_hold_time() -> u16 {
    90
}

fn default_connect_retry() -> u64 {
    5
}

fn default_restart_time() -> u16 {
    120
}

fn default_true() -> bool {
    true
}

fn default_port() -> u16 {
    BGP_PORT
}

fn default_restart_after() -> u64 {
    60
}

fn default_policies() -> Vec<String> {
    vec![DEFAULT_POLICY.to_owned()]
}
