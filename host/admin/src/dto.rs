//! The JSON documents of the API (data transfer objects).
//!
//! These are what the daemon hands to the server through [`crate::AdminBackend`]
//! and what clients see; they carry no RIB internals. Field names follow the
//! field's words (Adj-RIB-In views, NOTIFICATION, path id). Every type derives
//! `JsonSchema` so the OpenAPI document is generated from the same definitions
//! that serialise the responses and cannot drift from them.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use ipnet::IpNet;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::time::Timestamp;

/// Address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Afi {
    Ipv4,
    Ipv6,
}

impl Afi {
    pub const ALL: [Afi; 2] = [Afi::Ipv4, Afi::Ipv6];

    pub fn of(prefix: &IpNet) -> Afi {
        match prefix {
            IpNet::V4(_) => Afi::Ipv4,
            IpNet::V6(_) => Afi::Ipv6,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Afi::Ipv4 => "ipv4",
            Afi::Ipv6 => "ipv6",
        }
    }
}

/// BGP FSM state (RFC 4271 §8.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl SessionState {
    /// The name BIRD prints in `show protocols` "Info" (`Established`, `OpenSent` ...).
    pub fn bird_name(self) -> &'static str {
        match self {
            SessionState::Idle => "Idle",
            SessionState::Connect => "Connect",
            SessionState::Active => "Active",
            SessionState::OpenSent => "OpenSent",
            SessionState::OpenConfirm => "OpenConfirm",
            SessionState::Established => "Established",
        }
    }
}

/// ORIGIN attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Igp,
    Egp,
    Incomplete,
}

/// A standard community (RFC 1997), written `asn:value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u16, pub u16);

/// A large community (RFC 8092), written `global:local1:local2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity(pub u32, pub u32, pub u32);

/// A community string that is not `a:b` / `a:b:c` with numbers in range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {text:?}: expected {expected}")]
pub struct CommunityParseError {
    kind: &'static str,
    text: String,
    expected: &'static str,
}

fn split_numbers<const N: usize, T: FromStr>(s: &str) -> Option<[T; N]> {
    let parts = s
        .split(':')
        .map(|p| {
            // `str::parse` accepts a leading '+'; a community never has one.
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse().ok()
        })
        .collect::<Option<Vec<T>>>()?;
    parts.try_into().ok()
}

impl FromStr for Community {
    type Err = CommunityParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        split_numbers::<2, u16>(s)
            .map(|[a, b]| Community(a, b))
            .ok_or_else(|| CommunityParseError {
                kind: "community",
                text: s.to_owned(),
                expected: "ASN:VALUE with two numbers 0..=65535",
            })
    }
}

impl FromStr for LargeCommunity {
    type Err = CommunityParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        split_numbers::<3, u32>(s)
            .map(|[a, b, c]| LargeCommunity(a, b, c))
            .ok_or_else(|| CommunityParseError {
                kind: "large community",
                text: s.to_owned(),
                expected: "GLOBAL:LOCAL1:LOCAL2 with three numbers 0..=4294967295",
            })
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0, self.1)
    }
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.0, self.1, self.2)
    }
}

macro_rules! string_serde {
    ($t:ty, $name:literal, $pattern:literal, $desc:literal) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = Cow::<str>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
        impl JsonSchema for $t {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "pattern": $pattern, "description": $desc })
            }
        }
    };
}

string_serde!(
    Community,
    "Community",
    "^[0-9]{1,5}:[0-9]{1,5}$",
    "RFC 1997 community, `asn:value`"
);
string_serde!(
    LargeCommunity,
    "LargeCommunity",
    "^[0-9]{1,10}:[0-9]{1,10}:[0-9]{1,10}$",
    "RFC 8092 large community, `global:local1:local2`"
);

/// An IP prefix in CIDR notation.
///
/// A newtype so the schema says "CIDR string" and so that prefixes with host
/// bits set (`203.0.113.1/24`) are refused at the API boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix(pub IpNet);

impl FromStr for Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let net: IpNet = s
            .parse()
            .map_err(|_| format!("invalid prefix {s:?}: expected ADDRESS/LENGTH"))?;
        if net.trunc() != net {
            return Err(format!(
                "invalid prefix {s:?}: host bits set (did you mean {}?)",
                net.trunc()
            ));
        }
        Ok(Prefix(net))
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<IpNet> for Prefix {
    fn from(n: IpNet) -> Self {
        Prefix(n)
    }
}

impl Serialize for Prefix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Prefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

// The patterns are built from pieces so they stay reviewable; they match
// every form Rust's `Display` writes (and so every prefix the API returns).
macro_rules! h16 {
    () => {
        "[0-9a-fA-F]{1,4}"
    };
}
macro_rules! octet {
    () => {
        "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
    };
}
macro_rules! ipv4 {
    () => {
        concat!("(?:", octet!(), r"\.){3}", octet!())
    };
}
macro_rules! ipv6 {
    () => {
        concat!(
            "(?:(?:",
            h16!(),
            ":){7}",
            h16!(),
            "|(?:",
            h16!(),
            ":){1,7}:",
            "|(?:",
            h16!(),
            ":){1,6}:",
            h16!(),
            "|(?:",
            h16!(),
            ":){1,5}(?::",
            h16!(),
            "){1,2}",
            "|(?:",
            h16!(),
            ":){1,4}(?::",
            h16!(),
            "){1,3}",
            "|(?:",
            h16!(),
            ":){1,3}(?::",
            h16!(),
            "){1,4}",
            "|(?:",
            h16!(),
            ":){1,2}(?::",
            h16!(),
            "){1,5}",
            "|",
            h16!(),
            ":(?::",
            h16!(),
            "){1,6}",
            "|:(?:(?::",
            h16!(),
            "){1,7}|:)",
            "|::[fF]{4}:",
            ipv4!(),
            ")"
        )
    };
}
/// IPv4 CIDR.
const IPV4_CIDR: &str = concat!("^", ipv4!(), "/(?:3[0-2]|[12]?[0-9])$");
/// IPv6 CIDR.
const IPV6_CIDR: &str = concat!("^", ipv6!(), "/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9])$");

impl JsonSchema for Prefix {
    fn schema_name() -> Cow<'static, str> {
        "Prefix".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // Host bits cannot be expressed in a pattern; they are refused with 400.
        json_schema!({
            "type": "string",
            "description": "IP prefix in CIDR notation, no host bits set",
            "anyOf": [{ "pattern": IPV4_CIDR }, { "pattern": IPV6_CIDR }],
        })
    }
}

/// Schema of an IP address field: IPv4 or IPv6 (schemars' default says
/// `format: ip`, which validators do not know).
pub fn ip_address_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "anyOf": [{ "type": "string", "format": "ipv4" }, { "type": "string", "format": "ipv6" }] })
}

/// `GET /api/v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Status {
    /// kumo's version (`CARGO_PKG_VERSION` of the daemon).
    pub version: String,
    pub started_at: Timestamp,
    pub uptime_s: u64,
    pub router_id: Ipv4Addr,
    pub asn: u32,
    /// An identifier of the running configuration (e.g. the SHA-256 of the file).
    pub config_version: String,
    pub config_loaded_at: Timestamp,
    /// The policy modules in use and their versions.
    pub policies: Vec<PolicyVersion>,
    /// IRR data (`[irr]`); absent when not configured.
    pub irr: Option<IrrStatus>,
    /// The RPKI cache (`[rpki]`); absent when not configured.
    pub rpki: Option<RpkiStatus>,
}

/// The IRR data policies check routes against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IrrStatus {
    /// The files it was read from (at start and on every reload).
    pub files: Vec<String>,
    pub route_objects: u64,
    pub as_sets: u64,
    /// Objects skipped as invalid while loading.
    pub warnings: u64,
}

/// The RTR session with the RPKI cache and the VRPs it gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RpkiStatus {
    /// `host:port`.
    pub cache: String,
    /// An RTR session is up.
    pub connected: bool,
    /// `never-synced` (every route not-found until the cache answers), `synced` or
    /// `dropped` (stale data discarded per `rpki.stale`).
    pub data: String,
    /// VRPs policies validate against now.
    pub vrps: u64,
    /// Complete cache responses applied.
    pub updates: u64,
    /// Why the last connection attempt or session ended.
    pub last_error: Option<String>,
}

/// A policy module's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyVersion {
    pub name: String,
    pub sha256: String,
}

/// Negotiated capabilities of an established session.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Capabilities {
    pub peer_asn: u32,
    /// The peer's BGP identifier.
    pub peer_id: String,
    /// Negotiated hold time, seconds.
    pub hold_time: u16,
    /// Negotiated families, e.g. `ipv4-unicast`.
    pub families: Vec<String>,
    pub add_path_tx: Vec<String>,
    pub add_path_rx: Vec<String>,
    pub four_octet_as: bool,
    pub route_refresh: bool,
    pub extended_message: bool,
    pub graceful_restart: bool,
}

/// Path counts of one client for one address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PrefixCounts {
    pub afi: Afi,
    /// Paths in the Adj-RIB-In (pre-policy).
    pub received: u64,
    /// Paths the import policy accepted.
    pub accepted: u64,
    /// Paths the import policy rejected (kept, with their reason).
    pub filtered: u64,
    /// Paths announced to this client.
    pub exported: u64,
}

/// Static-hold state of a client (maintenance windows, DESIGN §3).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Hold {
    /// A declared maintenance window ends at this time: a session loss
    /// before then holds the client's routes.
    pub window_until: Option<Timestamp>,
    /// The session is down and its routes are being held right now.
    pub holding: bool,
    /// Number of paths currently held.
    pub held_routes: u64,
    /// When the held paths will be withdrawn unless the client returns.
    pub expires_at: Option<Timestamp>,
}

/// A route server client and its session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Client {
    pub name: String,
    pub asn: u32,
    pub address: IpAddr,
    pub description: Option<String>,
    pub state: SessionState,
    /// Disabled by an operator (`POST .../shutdown`); stays down until enabled.
    pub admin_down: bool,
    pub state_changed_at: Timestamp,
    /// Seconds the session has been Established, if it is.
    pub uptime_s: Option<u64>,
    pub capabilities: Option<Capabilities>,
    pub prefixes: Vec<PrefixCounts>,
    pub updates_received: u64,
    pub updates_sent: u64,
    /// Last NOTIFICATION or transport error, in words.
    pub last_error: Option<String>,
    pub hold: Hold,
    pub import_policies: Vec<String>,
    pub export_policies: Vec<String>,
}

/// `GET /api/v1/clients`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClientList {
    pub clients: Vec<Client>,
}

/// Which view of a client's routes to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RouteView {
    /// Adj-RIB-In, pre-policy: everything the client sent.
    Received,
    /// Received and accepted by the import policy.
    Accepted,
    /// Received and rejected by the import policy, with the reason.
    Filtered,
    /// Announced to the client (Adj-RIB-Out).
    Exported,
    /// Best paths that the export policy kept from this client, with the reason
    /// (BIRD's `noexport`).
    NotExported,
}

impl RouteView {
    pub const ALL: [RouteView; 5] = [
        RouteView::Received,
        RouteView::Accepted,
        RouteView::Filtered,
        RouteView::Exported,
        RouteView::NotExported,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RouteView::Received => "received",
            RouteView::Accepted => "accepted",
            RouteView::Filtered => "filtered",
            RouteView::Exported => "exported",
            RouteView::NotExported => "not_exported",
        }
    }
}

impl FromStr for RouteView {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RouteView::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "invalid view {s:?}: expected one of received, accepted, filtered, exported, not_exported"
                )
            })
    }
}

/// Why a policy rejected a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FilterReason {
    /// Numeric reason code (also shown as large community `rs-asn:1101:code`).
    pub code: u32,
    pub text: String,
    /// The policy that decided.
    pub policy: String,
}

/// One path with its attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Route {
    pub prefix: Prefix,
    /// ADD-PATH path identifier (RFC 7911), if the client sent one.
    pub path_id: Option<u32>,
    /// Client that announced the path (`kumo` for routes kumo originates).
    pub from_client: String,
    /// AS numbers in path order; AS_SET members appear flattened.
    pub as_path: Vec<u32>,
    pub origin: Origin,
    pub next_hop: IpAddr,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
    /// Extended communities as `type:admin:value` (`rt:65000:1`, `ro:192.0.2.1:7`)
    /// or `0x` + 16 hex digits for types kumo does not name.
    pub ext_communities: Vec<String>,
    pub received_at: Timestamp,
    /// Best path for the prefix among the accepted paths.
    pub best: bool,
    /// Held by static-hold after the client's session went down.
    pub held: bool,
    /// Present in the `filtered` and `not_exported` views.
    pub filtered: Option<FilterReason>,
}

/// `GET /api/v1/clients/{name}/routes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RoutesPage {
    pub client: String,
    pub view: RouteView,
    /// Paths in the view in total (before `offset`/`limit`).
    pub total: u64,
    pub offset: u64,
    pub routes: Vec<Route>,
}

/// What a backend is asked for in [`crate::AdminBackend::client_routes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteQuery {
    pub view: RouteView,
    pub offset: usize,
    /// `None` means all (used by the birdwatcher endpoints).
    pub limit: Option<usize>,
}

/// The export decision for one path towards one client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ExportDecision {
    pub client: String,
    pub exported: bool,
    /// The export policy that decided (absent when no policy ran, e.g. the
    /// path's own source).
    pub policy: Option<String>,
    /// Set when `exported` is false because a policy said so.
    pub reason: Option<FilterReason>,
}

/// One path of a prefix and where it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PrefixPath {
    pub route: Route,
    pub exports: Vec<ExportDecision>,
}

/// `GET /api/v1/routes/{prefix}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PrefixRoutes {
    pub prefix: Prefix,
    pub paths: Vec<PrefixPath>,
}

/// A loaded policy module and its counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Policy {
    pub name: String,
    pub sha256: String,
    pub loaded_at: Timestamp,
    /// Whether a previous module is kept for `rollback`.
    pub rollback_available: bool,
    pub calls: u64,
    /// Prefixes this module rejected on import, policy errors included.
    pub rejects: u64,
    /// Calls that trapped (panic, unreachable, a WASI call kumo does not allow).
    pub traps: u64,
    /// Calls stopped at the module's deadline.
    pub deadline_hits: u64,
    /// Calls stopped at the module's memory cap.
    pub memory_hits: u64,
    /// Calls that returned a malformed answer (wrong verdict count, bad index or bitmap).
    pub invalid_results: u64,
}

/// `GET /api/v1/policies`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyList {
    pub policies: Vec<Policy>,
}

/// Result of swapping in (or rolling back to) a policy module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PolicySwap {
    pub policy: String,
    /// SHA-256 of the module now in use.
    pub sha256: String,
    pub routes_reevaluated: u64,
    /// Paths whose verdict or attributes changed.
    pub changed: u64,
    pub duration_ms: u64,
}

/// A verdict a policy gives a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Accept,
    Reject,
}

/// A path whose verdict a candidate module would flip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Flip {
    pub prefix: Prefix,
    pub path_id: Option<u32>,
    pub from: Verdict,
    pub to: Verdict,
    /// The candidate's reason when it rejects.
    pub reason: Option<FilterReason>,
}

/// Flips for one client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClientFlips {
    pub client: String,
    pub to_reject: u64,
    pub to_accept: u64,
    /// Some of the flips (bounded; see `DryRun::truncated`).
    pub examples: Vec<Flip>,
}

/// `POST /api/v1/policies/{name}/dry-run`: what a candidate would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DryRun {
    pub policy: String,
    /// SHA-256 of the candidate module.
    pub sha256: String,
    pub routes_reevaluated: u64,
    pub changed: u64,
    pub duration_ms: u64,
    pub clients: Vec<ClientFlips>,
    /// True when examples or clients were cut to keep the response bounded.
    pub truncated: bool,
}

/// `POST /api/v1/reload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReloadReport {
    pub config_version: String,
    pub clients_added: Vec<String>,
    pub clients_removed: Vec<String>,
    pub clients_changed: Vec<String>,
    pub clients_unchanged: Vec<String>,
}

/// Body of `POST /api/v1/clients/{name}/hold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    /// Length of the maintenance window, 1..=604800 seconds (one week).
    #[schemars(range(min = 1, max = 604_800))]
    #[serde(deserialize_with = "json_integer::u32")]
    pub seconds: u32,
}

/// The longest maintenance window the API accepts.
pub const MAX_HOLD_SECONDS: u32 = 604_800;

/// Body of `POST /api/v1/clients/{name}/shutdown`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShutdownRequest {
    /// Shutdown Communication (RFC 8203/9003), at most 255 octets of UTF-8.
    #[serde(default)]
    #[schemars(length(max = 255))]
    pub message: Option<String>,
}

/// RFC 9003: the Shutdown Communication is at most 255 octets.
pub const MAX_SHUTDOWN_MESSAGE: usize = 255;

/// Body of `POST /api/v1/routes`: a route kumo originates itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OriginateRequest {
    pub prefix: Prefix,
    #[schemars(schema_with = "ip_address_schema")]
    pub next_hop: IpAddr,
    #[serde(default)]
    pub communities: Vec<Community>,
    #[serde(default)]
    pub large_communities: Vec<LargeCommunity>,
    /// AS_PATH to announce; empty or absent means an empty AS_PATH.
    #[serde(default, deserialize_with = "json_integer::option_vec_u32")]
    pub as_path: Option<Vec<u32>>,
    #[serde(default, deserialize_with = "json_integer::option_u32")]
    pub med: Option<u32>,
}

/// Request integers as JSON Schema defines them: any number with a zero
/// fractional part, so `480.0` is the integer 480 (serde's `u32` takes only
/// integer literals and answered 400 to schema-valid bodies; schemathesis
/// found it).
mod json_integer {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer};
    use serde_json::Number;

    fn to_u32<E: Error>(n: &Number) -> Result<u32, E> {
        let whole = match (n.as_u64(), n.as_f64()) {
            (Some(v), _) => Some(v),
            // Exactly representable: below 2^32 every integral f64 is.
            (None, Some(f)) if f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&f) => {
                format!("{f:.0}").parse().ok()
            }
            _ => None,
        };
        whole
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| E::custom(format!("{n} is not an integer in 0..=4294967295")))
    }

    pub fn u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        to_u32(&Number::deserialize(d)?)
    }

    pub fn option_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        Option::<Number>::deserialize(d)?.map(|n| to_u32(&n)).transpose()
    }

    pub fn option_vec_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u32>>, D::Error> {
        Option::<Vec<Number>>::deserialize(d)?
            .map(|list| list.iter().map(to_u32).collect())
            .transpose()
    }
}

/// Body of `DELETE /api/v1/routes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawRequest {
    pub prefix: Prefix,
}

/// Result of `POST`/`DELETE /api/v1/routes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OriginateResult {
    pub prefix: Prefix,
    /// True after `POST`, false after `DELETE`.
    pub originated: bool,
    /// Clients the change is sent to.
    pub clients: u64,
}

/// `GET /readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Readiness {
    pub ready: bool,
    /// What is not ready yet (empty when ready).
    pub reasons: Vec<String>,
}

/// `GET /livez`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Liveness {
    pub live: bool,
}

/// Every error response: `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_integers_follow_json_schema() {
        let hold: HoldRequest = serde_json::from_str(r#"{"seconds": 480.0}"#).unwrap();
        assert_eq!(hold.seconds, 480);
        for bad in [
            r#"{"seconds": 480.5}"#,
            r#"{"seconds": -1}"#,
            r#"{"seconds": 4294967296}"#,
            r#"{"seconds": "1"}"#,
        ] {
            assert!(serde_json::from_str::<HoldRequest>(bad).is_err(), "{bad}");
        }
        let route: OriginateRequest = serde_json::from_str(
            r#"{"prefix": "192.0.2.0/24", "next_hop": "192.0.2.1", "as_path": [64500.0, 1], "med": 7.0}"#,
        )
        .unwrap();
        assert_eq!((route.as_path, route.med), (Some(vec![64500, 1]), Some(7)));
        let route: OriginateRequest =
            serde_json::from_str(r#"{"prefix": "192.0.2.0/24", "next_hop": "192.0.2.1", "med": null}"#)
                .unwrap();
        assert_eq!((route.as_path, route.med), (None, None));
    }

    #[test]
    fn communities_parse_and_print() {
        assert_eq!("65000:1".parse::<Community>(), Ok(Community(65000, 1)));
        assert_eq!(Community(0, 65535).to_string(), "0:65535");
        assert_eq!(
            "4200000000:1:2".parse::<LargeCommunity>(),
            Ok(LargeCommunity(4_200_000_000, 1, 2))
        );
        for bad in ["65536:1", "1", "1:2:3", "+1:2", "a:b", "", ":", "1:"] {
            assert!(bad.parse::<Community>().is_err(), "{bad}");
        }
        for bad in ["1:2", "1:2:3:4", "4294967296:0:0", "1::2"] {
            assert!(bad.parse::<LargeCommunity>().is_err(), "{bad}");
        }
    }

    #[test]
    fn prefix_patterns_are_what_display_writes() {
        let v4 = regex::Regex::new(IPV4_CIDR).unwrap();
        let v6 = regex::Regex::new(IPV6_CIDR).unwrap();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for i in 0..20_000u32 {
            let len = u8::try_from(next() % 129).unwrap();
            // Mostly sparse addresses, so `::` lands at every position.
            let mut groups = [0u16; 8];
            for g in &mut groups {
                if next() % 3 == 0 {
                    *g = u16::try_from(next() % 0x1_0000).unwrap();
                }
            }
            if i % 50 == 0 {
                groups = [0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201]; // ::ffff:192.0.2.1
            }
            let addr = std::net::Ipv6Addr::from(groups);
            let net = ipnet::Ipv6Net::new(addr, len).unwrap().trunc();
            let text = Prefix(IpNet::V6(net)).to_string();
            assert!(v6.is_match(&text), "{text}");
            let net4 = ipnet::Ipv4Net::new(
                std::net::Ipv4Addr::from(u32::try_from(next() >> 32).unwrap()),
                len % 33,
            )
            .unwrap()
            .trunc();
            let text = Prefix(IpNet::V4(net4)).to_string();
            assert!(v4.is_match(&text) && !v6.is_match(&text), "{text}");
        }
        for bad in [
            "",
            "0/0",
            "1.2.3/8",
            "256.0.0.0/8",
            "10.0.0.0/33",
            ":::/0",
            "1::2::3/64",
            "::/129",
            "g::/8",
        ] {
            assert!(!v4.is_match(bad) && !v6.is_match(bad), "{bad}");
        }
    }

    #[test]
    fn prefix_refuses_host_bits() {
        assert!("203.0.113.0/24".parse::<Prefix>().is_ok());
        assert!("2001:db8::/32".parse::<Prefix>().is_ok());
        let err = "203.0.113.1/24".parse::<Prefix>().err().unwrap_or_default();
        assert!(err.contains("203.0.113.0/24"), "{err}");
        assert!("203.0.113.0".parse::<Prefix>().is_err());
    }

    #[test]
    fn originate_request_rejects_unknown_fields_and_bad_communities() {
        let ok: OriginateRequest =
            serde_json::from_str(r#"{"prefix":"192.0.2.0/24","next_hop":"192.0.2.1","communities":["1:2"]}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok.communities, vec![Community(1, 2)]);
        assert!(
            serde_json::from_str::<OriginateRequest>(
                r#"{"prefix":"192.0.2.0/24","next_hop":"192.0.2.1","x":1}"#
            )
            .is_err()
        );
        assert!(
            serde_json::from_str::<OriginateRequest>(
                r#"{"prefix":"192.0.2.0/24","next_hop":"192.0.2.1","communities":["1:70000"]}"#
            )
            .is_err()
        );
    }
}
