//! A birdwatcher-compatible subset, so Alice-LG can use kumo as a
//! `single_table` birdwatcher source unchanged.
//!
//! The shapes follow what Alice-LG reads, not all birdwatcher emits:
//! - alice-lg `pkg/sources/birdwatcher/parsers.go` (`parseAPIStatus`,
//!   `parseCacheStatus`, `parseBirdwatcherStatus`, `parseNeighbors`,
//!   `parseNeighborsShort`, `parseRouteBgpInfo`, `parseRouteData`) and
//!   `source_singletable.go` (which endpoints are called: `/status`,
//!   `/protocols/bgp`, `/protocols/short`, `/routes/protocol/{id}`,
//!   `/routes/filtered/{id}`, `/routes/noexport/{id}`, `/routes/prefix`);
//! - alice-lg `pkg/decoders/types.go`: `as_path` goes through `IntList`,
//!   which only takes **strings** (`["65001","65002"]`); numbers are read as
//!   JSON numbers (`neighbor_as`, `routes.imported`, `metric`); `med` and
//!   `local_pref` are read as strings;
//! - birdwatcher `endpoints/utils.go` (`api.Version`, `result_from_cache`,
//!   `cache_status.cached_at.date`) and `bird/parser.go` (protocol and route
//!   fields, communities as arrays of numbers, ext communities as arrays of
//!   three strings).
//!
//! Times: `ttl` and `cached_at.date` are RFC 3339 (Alice's `servertime`);
//! everything else is BIRD's `YYYY-MM-DD hh:mm:ss` (`servertime_short`,
//! `servertime_ext`), in UTC. Configure the Alice source with
//! `timezone = UTC`, `servertime = 2006-01-02T15:04:05Z07:00`,
//! `servertime_short = 2006-01-02 15:04:05`,
//! `servertime_ext = 2006-01-02 15:04:05`, `type = single_table`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::dto::{Client, Origin, Route, SessionState, Status};
use crate::time::Timestamp;

/// How long Alice may cache an answer (`ttl`). Short: kumo has no cache of
/// its own, so this only bounds how often Alice asks again.
pub const TTL: Duration = Duration::from_secs(60);

/// Second number of the large community that carries a filter reason
/// (`rs-asn:1101:code`, as arouteserver and DESIGN §1 use it).
pub const REJECT_REASON_LC: u32 = 1101;

#[derive(Debug, Serialize)]
pub struct Envelope<T: Serialize> {
    pub api: ApiInfo,
    pub ttl: String,
    #[serde(flatten)]
    pub body: T,
}

#[derive(Debug, Serialize)]
pub struct ApiInfo {
    #[serde(rename = "Version")]
    pub version: String,
    pub result_from_cache: bool,
    pub cache_status: CacheStatus,
}

#[derive(Debug, Serialize)]
pub struct CacheStatus {
    pub orig_ttl: i64,
    pub cached_at: TimeInfo,
}

#[derive(Debug, Serialize)]
pub struct TimeInfo {
    pub date: String,
    pub timezone_type: &'static str,
    pub timezone: &'static str,
}

/// Wraps a body in the envelope every birdwatcher response has.
pub fn envelope<T: Serialize>(now: Timestamp, body: T) -> Envelope<T> {
    Envelope {
        api: ApiInfo {
            version: format!("kumo-{}", env!("CARGO_PKG_VERSION")),
            result_from_cache: false,
            cache_status: CacheStatus {
                orig_ttl: -1,
                cached_at: TimeInfo {
                    date: now.to_string(),
                    timezone_type: "UTC",
                    timezone: "UTC",
                },
            },
        },
        ttl: now.after(TTL).to_string(),
        body,
    }
}

#[derive(Debug, Serialize)]
pub struct StatusBody {
    pub status: BirdStatus,
}

#[derive(Debug, Serialize)]
pub struct BirdStatus {
    pub current_server: String,
    pub last_reboot: String,
    pub last_reconfig: String,
    pub version: String,
    pub message: String,
    pub router_id: String,
}

pub fn status(now: Timestamp, s: &Status) -> StatusBody {
    StatusBody {
        status: BirdStatus {
            current_server: now.bird_format(),
            last_reboot: s.started_at.bird_format(),
            last_reconfig: s.config_loaded_at.bird_format(),
            version: s.version.clone(),
            message: "Daemon is up and running".to_owned(),
            router_id: s.router_id.to_string(),
        },
    }
}

#[derive(Debug, Serialize)]
pub struct ProtocolsBody<P: Serialize> {
    pub protocols: BTreeMap<String, P>,
}

#[derive(Debug, Serialize)]
pub struct Protocol {
    pub protocol: String,
    pub bird_protocol: &'static str,
    pub table: &'static str,
    /// `up` when Established, `start` while trying, `down` when disabled.
    pub state: &'static str,
    pub state_changed: String,
    pub connection: &'static str,
    pub description: String,
    pub neighbor_address: String,
    pub neighbor_as: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub neighbor_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub routes: ProtocolRoutes,
}

#[derive(Debug, Serialize)]
pub struct ProtocolRoutes {
    pub imported: u64,
    pub filtered: u64,
    pub exported: u64,
    pub preferred: u64,
}

fn bird_state(c: &Client) -> &'static str {
    if c.state == SessionState::Established {
        "up"
    } else if c.admin_down {
        "down"
    } else {
        "start"
    }
}

pub fn protocols_bgp(clients: &[Client]) -> ProtocolsBody<Protocol> {
    let protocols = clients
        .iter()
        .map(|c| {
            let sum = |f: fn(&crate::dto::PrefixCounts) -> u64| c.prefixes.iter().map(f).sum::<u64>();
            let p = Protocol {
                protocol: c.name.clone(),
                bird_protocol: "BGP",
                table: "master",
                state: bird_state(c),
                state_changed: c.state_changed_at.bird_format(),
                connection: c.state.bird_name(),
                description: c.description.clone().unwrap_or_default(),
                neighbor_address: c.address.to_string(),
                neighbor_as: c.asn,
                neighbor_id: c.capabilities.as_ref().map(|cap| cap.peer_id.clone()),
                last_error: c.last_error.clone(),
                routes: ProtocolRoutes {
                    imported: sum(|p| p.accepted),
                    filtered: sum(|p| p.filtered),
                    exported: sum(|p| p.exported),
                    // kumo does not count "preferred" (best) paths per client;
                    // accepted is the closest and what Alice only displays.
                    preferred: sum(|p| p.accepted),
                },
            };
            (c.name.clone(), p)
        })
        .collect();
    ProtocolsBody { protocols }
}

#[derive(Debug, Serialize)]
pub struct ProtocolShort {
    pub proto: &'static str,
    pub table: &'static str,
    pub state: &'static str,
    pub since: String,
    pub info: &'static str,
}

pub fn protocols_short(clients: &[Client]) -> ProtocolsBody<ProtocolShort> {
    let protocols = clients
        .iter()
        .map(|c| {
            let p = ProtocolShort {
                proto: "BGP",
                table: "master",
                state: bird_state(c),
                since: c.state_changed_at.bird_format(),
                info: c.state.bird_name(),
            };
            (c.name.clone(), p)
        })
        .collect();
    ProtocolsBody { protocols }
}

#[derive(Debug, Serialize)]
pub struct RoutesBody {
    pub routes: Vec<BirdRoute>,
}

#[derive(Debug, Serialize)]
pub struct BirdRoute {
    pub network: String,
    pub gateway: String,
    pub from_protocol: String,
    pub learnt_from: String,
    pub age: String,
    pub primary: bool,
    pub metric: u32,
    #[serde(rename = "type")]
    pub kind: Vec<&'static str>,
    pub bgp: BirdBgp,
}

#[derive(Debug, Serialize)]
pub struct BirdBgp {
    pub origin: &'static str,
    pub as_path: Vec<String>,
    pub next_hop: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub med: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_pref: Option<String>,
    pub communities: Vec<[u32; 2]>,
    pub large_communities: Vec<[u32; 3]>,
    pub ext_communities: Vec<[String; 3]>,
}

/// Converts paths. `rs_asn` adds the `rs-asn:1101:code` large community to
/// filtered paths that do not carry it yet, which is how Alice shows the
/// reason (its `rejection_reasons` table).
pub fn routes(rs_asn: u32, routes: &[Route], learnt_from: impl Fn(&str) -> Option<String>) -> RoutesBody {
    RoutesBody {
        routes: routes.iter().map(|r| route(rs_asn, r, &learnt_from)).collect(),
    }
}

fn route(rs_asn: u32, r: &Route, learnt_from: &impl Fn(&str) -> Option<String>) -> BirdRoute {
    let mut large: Vec<[u32; 3]> = r.large_communities.iter().map(|l| [l.0, l.1, l.2]).collect();
    if let Some(reason) = &r.filtered {
        let lc = [rs_asn, REJECT_REASON_LC, reason.code];
        if !large.contains(&lc) {
            large.push(lc);
        }
    }
    BirdRoute {
        network: r.prefix.to_string(),
        gateway: r.next_hop.to_string(),
        from_protocol: r.from_client.clone(),
        learnt_from: learnt_from(&r.from_client).unwrap_or_else(|| r.next_hop.to_string()),
        age: r.received_at.bird_format(),
        primary: r.best,
        metric: 100,
        kind: vec!["BGP", "univ"],
        bgp: BirdBgp {
            origin: match r.origin {
                Origin::Igp => "IGP",
                Origin::Egp => "EGP",
                Origin::Incomplete => "Incomplete",
            },
            as_path: r.as_path.iter().map(u32::to_string).collect(),
            next_hop: r.next_hop.to_string(),
            med: r.med.map(|m| m.to_string()),
            local_pref: r.local_pref.map(|l| l.to_string()),
            communities: r
                .communities
                .iter()
                .map(|c| [u32::from(c.0), u32::from(c.1)])
                .collect(),
            large_communities: large,
            ext_communities: r.ext_communities.iter().filter_map(|e| ext_triple(e)).collect(),
        },
    }
}

/// `rt:65000:1` → `["rt","65000","1"]`, as birdwatcher's parser emits BIRD's
/// `(rt, 65000, 1)`. Forms that are not three `:`-separated parts (the raw
/// `0x...` of an unnamed type) are skipped: Alice ignores non-triples anyway.
fn ext_triple(e: &str) -> Option<[String; 3]> {
    let mut it = e.splitn(3, ':');
    let (a, b, c) = (it.next()?, it.next()?, it.next()?);
    Some([a.to_owned(), b.to_owned(), c.to_owned()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ext_community_triples() {
        assert_eq!(
            ext_triple("rt:65000:1"),
            Some(["rt".into(), "65000".into(), "1".into()])
        );
        assert_eq!(
            ext_triple("ro:192.0.2.1:7"),
            Some(["ro".into(), "192.0.2.1".into(), "7".into()])
        );
        assert_eq!(ext_triple("0x0002fde800000001"), None);
    }
}
