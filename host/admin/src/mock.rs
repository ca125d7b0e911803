//! An in-memory [`AdminBackend`] with a small sample IX, for tests, for the
//! `mock_server` example (schemathesis, curl) and as a reference of the
//! semantics the daemon's backend must have (NotFound / Conflict cases,
//! all-or-nothing mutations).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::backend::{AdminBackend, AdminError, AdminResult};
use crate::dto::{
    Afi, Capabilities, Client, ClientFlips, Community, DryRun, ExportDecision, FilterReason, Flip, Hold,
    LargeCommunity, Origin, OriginateRequest, OriginateResult, Policy, PolicySwap, PolicyVersion, Prefix,
    PrefixCounts, PrefixPath, PrefixRoutes, Readiness, ReloadReport, Route, RouteQuery, RouteView,
    RoutesPage, SessionState, Status, Verdict, WithdrawRequest,
};
use crate::metrics::Metrics;
use crate::time::Timestamp;

/// A module whose bytes contain this marker "fails to compile" in the mock.
pub const BAD_MODULE_MARKER: &[u8] = b"not-a-policy";

#[derive(Debug, Clone)]
struct MockPolicy {
    current: Policy,
    previous: Option<String>,
}

#[derive(Debug)]
struct State {
    status: Status,
    clients: BTreeMap<String, Client>,
    /// Paths each client sent, with `filtered` set for rejected ones.
    received: BTreeMap<String, Vec<Route>>,
    /// Per client, best paths kept from it by export policy.
    not_exported: BTreeMap<String, Vec<Route>>,
    policies: BTreeMap<String, MockPolicy>,
    originated: BTreeMap<Prefix, OriginateRequest>,
    ready: Readiness,
}

/// The mock backend. All state sits behind one mutex; every mutation
/// validates first and changes state last, so an error leaves it untouched.
#[derive(Debug)]
pub struct MockBackend {
    state: Mutex<State>,
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

fn prefix(s: &str) -> Prefix {
    // Only called with the literals below.
    s.parse()
        .unwrap_or(Prefix(ipnet::IpNet::V4(ipnet::Ipv4Net::default())))
}

fn route(p: &str, from: &str, as_path: &[u32], next_hop: IpAddr, at: Timestamp) -> Route {
    Route {
        prefix: prefix(p),
        path_id: None,
        from_client: from.to_owned(),
        as_path: as_path.to_vec(),
        origin: Origin::Igp,
        next_hop,
        med: None,
        local_pref: None,
        communities: vec![],
        large_communities: vec![],
        ext_communities: vec![],
        received_at: at,
        best: true,
        held: false,
        filtered: None,
    }
}

impl MockBackend {
    /// A small IX: `as65001` (IPv4, Established, one accepted and one filtered
    /// path) and `as65002` (IPv6, Active, never came up); policies `rs-import`
    /// and `rs-export`.
    pub fn sample() -> Self {
        let t0 = Timestamp(1_700_000_000);
        let nh1 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let nh2 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));
        let mut accepted = route("203.0.113.0/24", "as65001", &[65001, 64496], nh1, t0);
        accepted.med = Some(10);
        accepted.communities = vec![Community(65001, 100)];
        accepted.large_communities = vec![LargeCommunity(65001, 1, 2)];
        accepted.ext_communities = vec!["rt:65001:7".to_owned()];
        let mut filtered = route("10.0.0.0/8", "as65001", &[65001], nh1, t0);
        filtered.best = false;
        filtered.filtered = Some(FilterReason {
            code: 9,
            text: "prefix is a bogon".to_owned(),
            policy: "rs-import".to_owned(),
        });
        let hidden = route("198.51.100.0/24", "as65001", &[65001], nh1, t0);
        let mut kept = hidden.clone();
        kept.filtered = Some(FilterReason {
            code: 1,
            text: "0:65002 action community: do not announce to AS65002".to_owned(),
            policy: "rs-export".to_owned(),
        });
        let client = |name: &str, asn: u32, address: IpAddr, state: SessionState| Client {
            name: name.to_owned(),
            asn,
            address,
            description: Some(format!("Example member AS{asn}")),
            state,
            admin_down: false,
            state_changed_at: t0,
            uptime_s: (state == SessionState::Established).then_some(3600),
            capabilities: (state == SessionState::Established).then(|| Capabilities {
                peer_asn: asn,
                peer_id: address.to_string(),
                hold_time: 90,
                families: vec!["ipv4-unicast".to_owned()],
                four_octet_as: true,
                route_refresh: true,
                ..Capabilities::default()
            }),
            prefixes: vec![],
            updates_received: 0,
            updates_sent: 0,
            last_error: None,
            hold: Hold::default(),
            import_policies: vec!["rs-import".to_owned()],
            export_policies: vec!["rs-export".to_owned()],
        };
        let mut c1 = client("as65001", 65001, nh1, SessionState::Established);
        c1.prefixes = vec![PrefixCounts {
            afi: Afi::Ipv4,
            received: 3,
            accepted: 2,
            filtered: 1,
            exported: 0,
        }];
        c1.updates_received = 3;
        let mut c2 = client("as65002", 65002, nh2, SessionState::Active);
        c2.prefixes = vec![PrefixCounts {
            afi: Afi::Ipv6,
            received: 0,
            accepted: 0,
            filtered: 0,
            exported: 0,
        }];
        c2.last_error = Some("Hold timer expired".to_owned());
        let policy = |name: &str| MockPolicy {
            current: Policy {
                name: name.to_owned(),
                sha256: sha256_hex(name.as_bytes()),
                loaded_at: t0,
                rollback_available: false,
                calls: 42,
                rejects: 1,
                traps: 0,
                deadline_hits: 0,
                memory_hits: 0,
                invalid_results: 0,
            },
            previous: None,
        };
        let policies: BTreeMap<_, _> = ["rs-import", "rs-export"]
            .into_iter()
            .map(|n| (n.to_owned(), policy(n)))
            .collect();
        let status = Status {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at: t0,
            uptime_s: 3600,
            router_id: Ipv4Addr::new(192, 0, 2, 254),
            asn: 64500,
            config_version: sha256_hex(b"config"),
            config_loaded_at: t0,
            policies: policies
                .values()
                .map(|p| PolicyVersion {
                    name: p.current.name.clone(),
                    sha256: p.current.sha256.clone(),
                })
                .collect(),
            irr: None,
            rpki: None,
        };
        let state = State {
            status,
            clients: [c1, c2].into_iter().map(|c| (c.name.clone(), c)).collect(),
            received: [("as65001".to_owned(), vec![accepted, filtered, hidden])]
                .into_iter()
                .collect(),
            not_exported: [("as65002".to_owned(), vec![kept])].into_iter().collect(),
            policies,
            originated: BTreeMap::new(),
            ready: Readiness {
                ready: true,
                reasons: vec![],
            },
        };
        MockBackend {
            state: Mutex::new(state),
        }
    }

    /// Makes `/readyz` report not ready with these reasons (empty = ready).
    pub fn set_not_ready(&self, reasons: Vec<String>) {
        self.with(|s| {
            s.ready = Readiness {
                ready: reasons.is_empty(),
                reasons,
            }
        });
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A poisoned lock means a test panicked while holding it; the state
        // is still usable for the remaining assertions.
        let mut guard = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    fn client_or_404<'a>(s: &'a mut State, name: &str) -> AdminResult<&'a mut Client> {
        s.clients
            .get_mut(name)
            .ok_or_else(|| AdminError::NotFound(format!("no client named {name:?}")))
    }

    fn policy_or_404<'a>(s: &'a mut State, name: &str) -> AdminResult<&'a mut MockPolicy> {
        s.policies
            .get_mut(name)
            .ok_or_else(|| AdminError::NotFound(format!("no policy named {name:?}")))
    }

    fn compile(module: &[u8]) -> AdminResult<String> {
        if module
            .windows(BAD_MODULE_MARKER.len())
            .any(|w| w == BAD_MODULE_MARKER)
        {
            return Err(AdminError::BadRequest(
                "module is not a kumo:policy component: missing export `import`".to_owned(),
            ));
        }
        Ok(sha256_hex(module))
    }

    fn swap(s: &mut State, name: &str, sha: String) -> AdminResult<PolicySwap> {
        let p = Self::policy_or_404(s, name)?;
        let old = std::mem::replace(&mut p.current.sha256, sha.clone());
        p.previous = Some(old);
        p.current.rollback_available = true;
        p.current.loaded_at = Timestamp::now();
        let reevaluated = s.received.values().map(|v| v.len() as u64).sum();
        Ok(PolicySwap {
            policy: name.to_owned(),
            sha256: sha,
            routes_reevaluated: reevaluated,
            changed: 1,
            duration_ms: 1,
        })
    }
}

impl MockBackend {
    /// Import rejects are exported to nobody; otherwise the per-client
    /// not-exported list (export policy) decides.
    fn export_decision(s: &State, r: &Route, client: &str) -> ExportDecision {
        if let Some(reason) = &r.filtered {
            return ExportDecision {
                client: client.to_owned(),
                exported: false,
                policy: Some(reason.policy.clone()),
                reason: Some(reason.clone()),
            };
        }
        let kept = s
            .not_exported
            .get(client)
            .and_then(|v| {
                v.iter()
                    .find(|k| k.prefix == r.prefix && k.from_client == r.from_client)
            })
            .and_then(|k| k.filtered.clone());
        ExportDecision {
            client: client.to_owned(),
            exported: kept.is_none(),
            policy: Some("rs-export".to_owned()),
            reason: kept,
        }
    }
}

impl AdminBackend for MockBackend {
    async fn status(&self) -> AdminResult<Status> {
        Ok(self.with(|s| s.status.clone()))
    }

    async fn clients(&self) -> AdminResult<Vec<Client>> {
        Ok(self.with(|s| s.clients.values().cloned().collect()))
    }

    async fn client(&self, name: &str) -> AdminResult<Client> {
        self.with(|s| Self::client_or_404(s, name).map(|c| c.clone()))
    }

    async fn client_routes(&self, name: &str, query: RouteQuery) -> AdminResult<RoutesPage> {
        self.with(|s| {
            Self::client_or_404(s, name)?;
            let received = s.received.get(name).cloned().unwrap_or_default();
            let all: Vec<Route> = match query.view {
                RouteView::Received => received,
                RouteView::Accepted => received.into_iter().filter(|r| r.filtered.is_none()).collect(),
                RouteView::Filtered => received.into_iter().filter(|r| r.filtered.is_some()).collect(),
                RouteView::Exported => {
                    let kept = s.not_exported.get(name).map(Vec::as_slice).unwrap_or_default();
                    s.received
                        .iter()
                        .filter(|(from, _)| from.as_str() != name)
                        .flat_map(|(_, v)| v.iter().filter(|r| r.filtered.is_none()))
                        .filter(|r| {
                            !kept
                                .iter()
                                .any(|k| k.prefix == r.prefix && k.from_client == r.from_client)
                        })
                        .cloned()
                        .collect()
                }
                RouteView::NotExported => s.not_exported.get(name).cloned().unwrap_or_default(),
            };
            let total = all.len() as u64;
            let routes = all
                .into_iter()
                .skip(query.offset)
                .take(query.limit.unwrap_or(usize::MAX))
                .collect();
            Ok(RoutesPage {
                client: name.to_owned(),
                view: query.view,
                total,
                offset: query.offset as u64,
                routes,
            })
        })
    }

    async fn prefix_routes(&self, prefix: Prefix) -> AdminResult<PrefixRoutes> {
        self.with(|s| {
            let paths: Vec<PrefixPath> = s
                .received
                .values()
                .flatten()
                .filter(|r| r.prefix == prefix)
                .map(|r| PrefixPath {
                    route: r.clone(),
                    exports: s
                        .clients
                        .keys()
                        .filter(|c| **c != r.from_client)
                        .map(|c| Self::export_decision(s, r, c))
                        .collect(),
                })
                .collect();
            let mut paths = paths;
            if let Some(o) = s.originated.get(&prefix) {
                let mut r = route(
                    &prefix.to_string(),
                    "kumo",
                    o.as_path.as_deref().unwrap_or_default(),
                    o.next_hop,
                    Timestamp::now(),
                );
                r.prefix = prefix;
                r.med = o.med;
                r.communities = o.communities.clone();
                r.large_communities = o.large_communities.clone();
                let exports = s
                    .clients
                    .keys()
                    .map(|c| Self::export_decision(s, &r, c))
                    .collect();
                paths.push(PrefixPath { route: r, exports });
            }
            if paths.is_empty() {
                return Err(AdminError::NotFound(format!("no path for {prefix}")));
            }
            Ok(PrefixRoutes { prefix, paths })
        })
    }

    async fn policies(&self) -> AdminResult<Vec<Policy>> {
        Ok(self.with(|s| s.policies.values().map(|p| p.current.clone()).collect()))
    }

    async fn policy_replace(&self, name: &str, module: Bytes) -> AdminResult<PolicySwap> {
        self.with(|s| {
            Self::policy_or_404(s, name)?;
            let sha = Self::compile(&module)?;
            Self::swap(s, name, sha)
        })
    }

    async fn policy_dry_run(&self, name: &str, module: Bytes) -> AdminResult<DryRun> {
        self.with(|s| {
            Self::policy_or_404(s, name)?;
            let sha = Self::compile(&module)?;
            let flips = vec![ClientFlips {
                client: "as65001".to_owned(),
                to_reject: 1,
                to_accept: 0,
                examples: vec![Flip {
                    prefix: prefix("203.0.113.0/24"),
                    path_id: None,
                    from: Verdict::Accept,
                    to: Verdict::Reject,
                    reason: Some(FilterReason {
                        code: 7,
                        text: "candidate says no".into(),
                        policy: name.into(),
                    }),
                }],
            }];
            Ok(DryRun {
                policy: name.to_owned(),
                sha256: sha,
                routes_reevaluated: 3,
                changed: 1,
                duration_ms: 1,
                clients: flips,
                truncated: false,
            })
        })
    }

    async fn policy_rollback(&self, name: &str) -> AdminResult<PolicySwap> {
        self.with(|s| {
            let p = Self::policy_or_404(s, name)?;
            let previous = p
                .previous
                .take()
                .ok_or_else(|| AdminError::Conflict(format!("policy {name:?} has no previous module")))?;
            p.current.sha256 = previous.clone();
            p.current.rollback_available = false;
            Ok(PolicySwap {
                policy: name.to_owned(),
                sha256: previous,
                routes_reevaluated: 3,
                changed: 1,
                duration_ms: 1,
            })
        })
    }

    async fn reload(&self) -> AdminResult<ReloadReport> {
        Ok(self.with(|s| ReloadReport {
            config_version: s.status.config_version.clone(),
            clients_added: vec![],
            clients_removed: vec![],
            clients_changed: vec![],
            clients_unchanged: s.clients.keys().cloned().collect(),
        }))
    }

    async fn hold_declare(&self, name: &str, seconds: u32) -> AdminResult<Hold> {
        self.with(|s| {
            let c = Self::client_or_404(s, name)?;
            c.hold.window_until = Some(Timestamp::now().after(Duration::from_secs(u64::from(seconds))));
            Ok(c.hold.clone())
        })
    }

    async fn hold_cancel(&self, name: &str) -> AdminResult<Hold> {
        self.with(|s| {
            let c = Self::client_or_404(s, name)?;
            c.hold = Hold::default();
            Ok(c.hold.clone())
        })
    }

    async fn client_shutdown(&self, name: &str, message: Option<String>) -> AdminResult<Client> {
        self.with(|s| {
            let c = Self::client_or_404(s, name)?;
            c.admin_down = true;
            c.state = SessionState::Idle;
            c.uptime_s = None;
            c.last_error = Some(match message {
                Some(m) => format!("Cease / Administrative Shutdown: {m}"),
                None => "Cease / Administrative Shutdown".to_owned(),
            });
            Ok(c.clone())
        })
    }

    async fn client_enable(&self, name: &str) -> AdminResult<Client> {
        self.with(|s| {
            let c = Self::client_or_404(s, name)?;
            if !c.admin_down {
                return Err(AdminError::Conflict(format!("client {name:?} is not shut down")));
            }
            c.admin_down = false;
            c.state = SessionState::Active;
            Ok(c.clone())
        })
    }

    async fn route_originate(&self, route: OriginateRequest) -> AdminResult<OriginateResult> {
        self.with(|s| {
            let prefix = route.prefix;
            s.originated.insert(prefix, route);
            Ok(OriginateResult {
                prefix,
                originated: true,
                clients: s.clients.len() as u64,
            })
        })
    }

    async fn route_withdraw(&self, route: WithdrawRequest) -> AdminResult<OriginateResult> {
        self.with(|s| {
            s.originated
                .remove(&route.prefix)
                .ok_or_else(|| AdminError::NotFound(format!("kumo does not originate {}", route.prefix)))?;
            Ok(OriginateResult {
                prefix: route.prefix,
                originated: false,
                clients: s.clients.len() as u64,
            })
        })
    }

    async fn readiness(&self) -> Readiness {
        self.with(|s| s.ready.clone())
    }

    async fn refresh_metrics(&self, metrics: &Metrics) {
        let clients: Vec<Client> = self.with(|s| s.clients.values().cloned().collect());
        for c in clients {
            let m = metrics.client(&c.name);
            m.set_up(c.state == SessionState::Established);
            for p in &c.prefixes {
                m.set_prefixes(p);
            }
            m.set_held_routes(c.hold.held_routes);
        }
    }
}

impl MockBackend {
    /// Whether kumo currently originates `prefix` (for tests).
    pub fn originates(&self, prefix: Prefix) -> bool {
        self.with(|s| s.originated.contains_key(&prefix))
    }

    /// The SHA-256 of a policy's current module (for tests).
    pub fn policy_sha256(&self, name: &str) -> Option<String> {
        self.with(|s| s.policies.get(name).map(|p| p.current.sha256.clone()))
    }
}
