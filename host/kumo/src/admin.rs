//! The daemon's side of the admin API: [`kumo_admin::AdminBackend`] answered
//! from the core (consistent RIB reads via core jobs), the session status and
//! the peer tasks' command channels.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use ipnet::IpNet;
use kumo_admin::dto::{self, Afi, Community, LargeCommunity, Prefix, RouteView, SessionState, Timestamp};
use kumo_admin::{AdminBackend, AdminError, AdminResult, Metrics};
use kumo_rib::RouteAttrs;
use kumo_rib::{PathView, PeerId, VerdictView};
use kumo_session::State;
use kumo_wire::{AsPath, AsPathSegment, AsPathSegmentRef, MpNextHop, Notification, Origin, PathAttributes};

use kumo_policy::{PolicyError, PolicyModule};

use crate::core::Core;
use crate::daemon::Daemon;
use crate::peer::PeerCommand;

/// The admin backend of a running [`Daemon`].
#[derive(Debug)]
pub struct KumoBackend {
    daemon: Arc<Daemon>,
    started_at: SystemTime,
    /// UPDATE counters already reported to the metrics registry, per client.
    reported: Mutex<HashMap<String, (u64, u64)>>,
    /// Serialises policy swaps and rollbacks.
    swaps: tokio::sync::Mutex<()>,
}

impl KumoBackend {
    pub fn new(daemon: Arc<Daemon>) -> Self {
        KumoBackend {
            daemon,
            started_at: SystemTime::now(),
            reported: Mutex::new(HashMap::new()),
            swaps: tokio::sync::Mutex::new(()),
        }
    }

    async fn core<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Core) -> R + Send + 'static,
    ) -> AdminResult<R> {
        self.daemon
            .query(f)
            .await
            .ok_or_else(|| AdminError::Unavailable("the route-server core is not running".into()))
    }

    /// Compile an uploaded module as a candidate for `name`, with the limits
    /// and configuration of the module it would replace. CPU work: off the
    /// runtime's threads, and never in the core.
    async fn compile_candidate(&self, name: &str, wasm: Bytes) -> AdminResult<Arc<PolicyModule>> {
        let current = self.daemon.policies().get(name).ok_or_else(|| {
            AdminError::NotFound(format!(
                "no policy module named {name:?} is loaded (modules are added in the configuration)"
            ))
        })?;
        let engine = self.daemon.policy_engine().clone();
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || {
            let config =
                serde_json::from_str(current.config_json()).unwrap_or_else(|_| serde_json::json!({}));
            PolicyModule::load(&engine, &name, &wasm, current.limits().clone(), config)
                .map(Arc::new)
                .map_err(|e| match e {
                    // kumo could not compile now: not the upload's fault.
                    PolicyError::Compiler { .. } => AdminError::Internal(e.to_string()),
                    _ => AdminError::BadRequest(e.to_string()),
                })
        })
        .await
        .map_err(|e| AdminError::Internal(format!("policy compiler: {e}")))?
    }

    fn peer(&self, name: &str) -> AdminResult<(PeerId, crate::daemon::PeerHandle)> {
        self.daemon
            .peer_by_name(name)
            .ok_or_else(|| AdminError::NotFound(format!("no client named {name:?}")))
    }
}

fn session_state(state: State) -> SessionState {
    match state {
        State::Idle => SessionState::Idle,
        State::Connect => SessionState::Connect,
        State::Active => SessionState::Active,
        State::OpenSent => SessionState::OpenSent,
        State::OpenConfirm => SessionState::OpenConfirm,
        State::Established => SessionState::Established,
    }
}

/// Build the API view of one client inside the core.
fn client_dto(core: &Core, id: PeerId) -> Option<dto::Client> {
    let slot = core.clients().get(id.0 as usize).filter(|s| !s.removed)?;
    let status = slot.status.snapshot();
    let counts = core.rib().counts(id);
    let exported = if core.rib().is_up(id) {
        core.rib().initial_table(id)
    } else {
        Vec::new()
    };
    let exported_of = |afi: Afi| exported.iter().filter(|(n, _)| Afi::of(&n.prefix) == afi).count() as u64;
    let prefixes = [(Afi::Ipv4, counts.ipv4), (Afi::Ipv6, counts.ipv6)]
        .into_iter()
        .map(|(afi, c)| dto::PrefixCounts {
            afi,
            received: c.received as u64,
            accepted: c.accepted as u64,
            filtered: c.filtered() as u64,
            exported: exported_of(afi),
        })
        .collect();
    let hold = hold_dto(slot.hold_view(counts.stale as u64));
    let config = &slot.config;
    Some(dto::Client {
        name: config.name.clone(),
        asn: config.asn,
        address: config.ip.first().copied().unwrap_or(IpAddr::from([0, 0, 0, 0])),
        description: config.description.clone(),
        state: session_state(status.state),
        admin_down: slot.admin_down,
        state_changed_at: status.last_change.into(),
        uptime_s: status
            .established_at
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .map(|d| d.as_secs()),
        capabilities: status.capabilities,
        prefixes,
        updates_received: status.updates_in,
        updates_sent: status.updates_out,
        last_error: status.last_error,
        hold,
        import_policies: config.import.clone(),
        export_policies: config.export.clone(),
    })
}

fn hold_dto(h: crate::core::HoldView) -> dto::Hold {
    dto::Hold {
        window_until: h.window_until.map(Into::into),
        holding: h.holding,
        held_routes: h.held_routes,
        expires_at: h.expires_at.map(Into::into),
    }
}

/// The API view of a route with `attrs`, learned from `from_client`.
fn route_dto(prefix: IpNet, path_id: Option<u32>, from_client: &str, attrs: &kumo_rib::Attrs) -> dto::Route {
    let a: &PathAttributes = &attrs.path_attributes();
    let as_path = a
        .as_path
        .iter()
        .flat_map(|p| p.segments())
        .flat_map(|s| match s {
            AsPathSegmentRef::Sequence(v) | AsPathSegmentRef::Set(v) => v,
            AsPathSegmentRef::ConfedSequence(_) | AsPathSegmentRef::ConfedSet(_) => &[],
        })
        .copied()
        .collect();
    let next_hop = match (a.next_hop, attrs.mp_next_hop()) {
        (Some(v4), _) => IpAddr::V4(v4),
        (None, Some(kumo_wire::MpNextHop::V4(v4))) => IpAddr::V4(v4),
        (None, Some(kumo_wire::MpNextHop::V6 { global, .. })) => IpAddr::V6(global),
        (None, None) => IpAddr::from([0, 0, 0, 0]),
    };
    dto::Route {
        prefix: Prefix(prefix),
        path_id,
        from_client: from_client.to_owned(),
        as_path,
        origin: match a.origin {
            Some(Origin::Igp) => dto::Origin::Igp,
            Some(Origin::Egp) => dto::Origin::Egp,
            _ => dto::Origin::Incomplete,
        },
        next_hop,
        med: a.med,
        local_pref: a.local_pref,
        communities: a
            .communities
            .iter()
            .map(|c| Community((c >> 16) as u16, *c as u16))
            .collect(),
        large_communities: a
            .large_communities
            .iter()
            .map(|l| LargeCommunity(l.global_admin, l.local_data1, l.local_data2))
            .collect(),
        ext_communities: a
            .extended_communities
            .iter()
            .map(|e| format!("{:016x}", u64::from_be_bytes(*e)))
            .collect(),
        // The RIB does not keep arrival times (memory per path is a budget), so
        // this is the time of the query; noted as a known gap in the issue notes.
        received_at: Timestamp::now(),
        best: false,
        held: false,
        filtered: None,
    }
}

fn path_dto(core: &Core, p: &PathView<'_>) -> dto::Route {
    let name = core
        .clients()
        .get(p.source.0 as usize)
        .map(|s| s.config.name.as_str())
        .unwrap_or("?");
    let mut route = route_dto(p.prefix, p.remote_path_id, name, p.received);
    route.held = p.stale;
    if let Some(reason) = p.reject_reason() {
        route.filtered = Some(filter_reason(reason));
    }
    route.best = core
        .rib()
        .best(&p.prefix)
        .is_some_and(|b| b.source == p.source && b.remote_path_id == p.remote_path_id);
    route
}

fn swap_dto(
    policy: String,
    sha256: String,
    change: crate::core::PolicyChange,
    started: std::time::Instant,
) -> dto::PolicySwap {
    dto::PolicySwap {
        policy,
        sha256,
        routes_reevaluated: change.routes_reevaluated,
        changed: change.changed,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

fn filter_reason(reason: &kumo_rib::RejectReason) -> dto::FilterReason {
    dto::FilterReason {
        code: u32::from(reason.code),
        text: reason.text.to_string(),
        policy: reason.policy.as_deref().unwrap_or("").to_owned(),
    }
}

/// Accept (received / exported) or reject (filtered / not exported).
fn verdict(accepted: bool) -> dto::Verdict {
    if accepted {
        dto::Verdict::Accept
    } else {
        dto::Verdict::Reject
    }
}

fn flip_dto(flip: &crate::core::VerdictFlip) -> dto::Flip {
    let reason = match &flip.verdict {
        kumo_rib::ImportVerdict::Reject(reason) => Some(filter_reason(reason)),
        kumo_rib::ImportVerdict::Accept { .. } => None,
    };
    dto::Flip {
        prefix: Prefix(flip.nlri.prefix),
        path_id: flip.nlri.path_id,
        from: verdict(flip.was_accepted),
        to: verdict(reason.is_none()),
        reason,
    }
}

impl AdminBackend for KumoBackend {
    async fn status(&self) -> AdminResult<dto::Status> {
        let config = self.daemon.config();
        let now = SystemTime::now();
        Ok(dto::Status {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at: self.started_at.into(),
            uptime_s: now.duration_since(self.started_at).unwrap_or_default().as_secs(),
            router_id: config.server.router_id,
            asn: config.server.asn,
            config_version: self.daemon.config_version().to_owned(),
            config_loaded_at: self.daemon.config_loaded_at().into(),
            policies: self
                .daemon
                .policies()
                .snapshot()
                .iter()
                .map(|m| dto::PolicyVersion {
                    name: m.name().to_owned(),
                    sha256: m.sha256().to_owned(),
                })
                .collect(),
            irr: self.daemon.route_data().irr().map(|db| dto::IrrStatus {
                files: db.files().iter().map(|f| f.display().to_string()).collect(),
                route_objects: db.route_object_count() as u64,
                as_sets: db.as_set_count() as u64,
                warnings: db.warnings().len() as u64,
            }),
            rpki: self
                .daemon
                .rpki_status()
                .map(|(cache, rtr, snapshot)| dto::RpkiStatus {
                    cache,
                    connected: rtr.connected,
                    data: match snapshot.status() {
                        kumo_rpki::CacheStatus::NeverSynced => "never-synced",
                        kumo_rpki::CacheStatus::Synced => "synced",
                        kumo_rpki::CacheStatus::Dropped => "dropped",
                    }
                    .to_owned(),
                    vrps: snapshot.roas().len() as u64,
                    updates: rtr.updates,
                    last_error: rtr.last_error,
                }),
        })
    }

    async fn clients(&self) -> AdminResult<Vec<dto::Client>> {
        self.core(|core| {
            (0..core.clients().len() as u32)
                .filter_map(|i| client_dto(core, PeerId(i)))
                .collect()
        })
        .await
    }

    async fn client(&self, name: &str) -> AdminResult<dto::Client> {
        let (id, _) = self.peer(name)?;
        self.core(move |core| client_dto(core, id))
            .await?
            .ok_or_else(|| AdminError::NotFound(name.to_owned()))
    }

    async fn client_routes(&self, name: &str, query: dto::RouteQuery) -> AdminResult<dto::RoutesPage> {
        let (id, _) = self.peer(name)?;
        let client = name.to_owned();
        self.core(move |core| {
            let mut routes: Vec<dto::Route> = match query.view {
                RouteView::Received => core.rib().adj_rib_in(id).map(|p| path_dto(core, &p)).collect(),
                RouteView::Accepted => core
                    .rib()
                    .adj_rib_in(id)
                    .filter(|p| p.accepted().is_some())
                    .map(|p| path_dto(core, &p))
                    .collect(),
                RouteView::Filtered => core
                    .rib()
                    .adj_rib_in(id)
                    .filter(|p| p.reject_reason().is_some())
                    .map(|p| path_dto(core, &p))
                    .collect(),
                RouteView::Exported => core
                    .rib()
                    .initial_table(id)
                    .into_iter()
                    .map(|(nlri, attrs)| {
                        let from = core
                            .rib()
                            .paths(&nlri.prefix)
                            .into_iter()
                            .find(|p| p.accepted().is_some_and(|a| kumo_rib::Attrs::ptr_eq(a, &attrs)))
                            .and_then(|p| core.clients().get(p.source.0 as usize))
                            .map(|s| s.config.name.clone())
                            .unwrap_or_default();
                        route_dto(nlri.prefix, nlri.path_id, &from, &attrs)
                    })
                    .collect(),
                RouteView::NotExported => {
                    // Accepted paths of this client that some up client does not receive.
                    core.rib()
                        .adj_rib_in(id)
                        .filter(|p| match p.verdict {
                            VerdictView::Accepted { export, .. } => !export.is_all(),
                            VerdictView::Rejected(_) => false,
                        })
                        .map(|p| path_dto(core, &p))
                        .collect()
                }
            };
            routes.sort_by_key(|r| (r.prefix.0, r.path_id));
            let total = routes.len() as u64;
            let routes: Vec<dto::Route> = routes
                .into_iter()
                .skip(query.offset)
                .take(query.limit.unwrap_or(usize::MAX))
                .collect();
            dto::RoutesPage {
                client,
                view: query.view,
                total,
                offset: query.offset as u64,
                routes,
            }
        })
        .await
    }

    async fn prefix_routes(&self, prefix: Prefix) -> AdminResult<dto::PrefixRoutes> {
        self.core(move |core| {
            let net = prefix.0;
            let paths = core
                .rib()
                .paths(&net)
                .into_iter()
                .map(|p| {
                    let route = path_dto(core, &p);
                    let exports = core
                        .clients()
                        .iter()
                        .enumerate()
                        .filter(|(i, slot)| *i as u32 != p.source.0 && !slot.removed)
                        .map(|(i, slot)| {
                            let client = PeerId(i as u32);
                            // What this client would get from this path (an export
                            // policy may have modified it for the client).
                            let offered = match p.verdict {
                                VerdictView::Accepted { attrs, export, .. }
                                    if export.targets.allows(client) =>
                                {
                                    Some(export.modified_for(client).unwrap_or(attrs))
                                }
                                _ => None,
                            };
                            let allowed = offered.is_some();
                            let held_by_client = offered.is_some_and(|offered| {
                                core.rib()
                                    .selected_for(client, &net)
                                    .iter()
                                    .any(|(_, a)| kumo_rib::Attrs::ptr_eq(offered, a))
                            });
                            dto::ExportDecision {
                                client: slot.config.name.clone(),
                                exported: held_by_client,
                                policy: (!allowed).then(|| slot.config.export.join(",")),
                                reason: None,
                            }
                        })
                        .collect();
                    dto::PrefixPath { route, exports }
                })
                .collect();
            dto::PrefixRoutes { prefix, paths }
        })
        .await
    }

    async fn policies(&self) -> AdminResult<Vec<dto::Policy>> {
        let registry = self.daemon.policies();
        Ok(registry
            .snapshot()
            .iter()
            .map(|m| {
                let stats = m.stats().snapshot();
                dto::Policy {
                    name: m.name().to_owned(),
                    sha256: m.sha256().to_owned(),
                    loaded_at: m.loaded_at().into(),
                    rollback_available: registry.previous_versions(m.name()) > 0,
                    calls: stats.calls,
                    rejects: stats.rejects,
                    traps: stats.traps,
                    deadline_hits: stats.deadline_hits,
                    memory_hits: stats.memory_hits,
                    invalid_results: stats.invalid_results,
                }
            })
            .collect())
    }

    async fn policy_replace(&self, name: &str, module: Bytes) -> AdminResult<dto::PolicySwap> {
        // One upload at a time: concurrent swaps of one name must not interleave.
        let _serial = self.swaps.lock().await;
        let candidate = self.compile_candidate(name, module).await?;
        let started = std::time::Instant::now();
        let owned = name.to_owned();
        let (sha256, change) = self
            .core(move |core| {
                let registry = core.pipeline().registry().clone();
                let sha256 = candidate.sha256().to_owned();
                registry
                    .swap(candidate)
                    .map_err(|e| AdminError::NotFound(e.to_string()))?;
                Ok::<_, AdminError>((sha256, core.apply_policy_change(&owned)))
            })
            .await??;
        tracing::info!(policy = name, %sha256, routes = change.routes_reevaluated, changed = change.changed, "policy module swapped");
        Ok(swap_dto(name.to_owned(), sha256, change, started))
    }

    async fn policy_dry_run(&self, name: &str, module: Bytes) -> AdminResult<dto::DryRun> {
        let candidate = self.compile_candidate(name, module).await?;
        let sha256 = candidate.sha256().to_owned();
        let started = std::time::Instant::now();
        let (change, names) = self
            .core(move |core| {
                let change = core.dry_run_policy(candidate);
                let names: Vec<String> = core.clients().iter().map(|c| c.config.name.clone()).collect();
                (change, names)
            })
            .await?;
        const EXAMPLES: usize = 20;
        let mut truncated = false;
        let client_name = |peer: PeerId| names.get(peer.0 as usize).cloned().unwrap_or_default();
        // Import flips: per client whose routes the candidate accepts or rejects differently.
        let mut clients: Vec<dto::ClientFlips> = change
            .flips
            .iter()
            .filter(|(_, flips)| !flips.is_empty())
            .map(|(peer, flips)| {
                truncated |= flips.len() > EXAMPLES;
                dto::ClientFlips {
                    client: client_name(*peer),
                    to_reject: flips.iter().filter(|f| f.was_accepted).count() as u64,
                    to_accept: flips.iter().filter(|f| !f.was_accepted).count() as u64,
                    examples: flips.iter().take(EXAMPLES).map(flip_dto).collect(),
                }
            })
            .collect();
        // Export flips: per receiver that would lose (to_reject) or gain (to_accept) paths.
        let mut receivers: Vec<PeerId> = change.export_flips.iter().map(|f| f.receiver).collect();
        receivers.sort();
        receivers.dedup();
        for receiver in receivers {
            let flips: Vec<&crate::core::ExportFlip> = change
                .export_flips
                .iter()
                .filter(|f| f.receiver == receiver)
                .collect();
            truncated |= flips.len() > EXAMPLES;
            clients.push(dto::ClientFlips {
                client: client_name(receiver),
                to_reject: flips.iter().filter(|f| f.was_exported).count() as u64,
                to_accept: flips.iter().filter(|f| !f.was_exported).count() as u64,
                examples: flips
                    .iter()
                    .take(EXAMPLES)
                    .map(|f| dto::Flip {
                        prefix: Prefix(f.nlri.prefix),
                        path_id: f.nlri.path_id,
                        from: verdict(f.was_exported),
                        to: verdict(!f.was_exported),
                        reason: None,
                    })
                    .collect(),
            });
        }
        Ok(dto::DryRun {
            policy: name.to_owned(),
            sha256,
            routes_reevaluated: change.routes_reevaluated,
            changed: change.changed,
            duration_ms: started.elapsed().as_millis() as u64,
            clients,
            truncated,
        })
    }

    async fn policy_rollback(&self, name: &str) -> AdminResult<dto::PolicySwap> {
        let _serial = self.swaps.lock().await;
        if self.daemon.policies().get(name).is_none() {
            return Err(AdminError::NotFound(format!(
                "no policy module named {name:?} is loaded"
            )));
        }
        let started = std::time::Instant::now();
        let owned = name.to_owned();
        let (sha256, change) = self
            .core(move |core| {
                let registry = core.pipeline().registry().clone();
                let restored = registry
                    .rollback(&owned)
                    .map_err(|e| AdminError::Conflict(e.to_string()))?;
                Ok::<_, AdminError>((restored.sha256().to_owned(), core.apply_policy_change(&owned)))
            })
            .await??;
        Ok(swap_dto(name.to_owned(), sha256, change, started))
    }

    async fn reload(&self) -> AdminResult<dto::ReloadReport> {
        use crate::daemon::ReloadError;
        let report = self.daemon.reload().await.map_err(|e| match e {
            ReloadError::NoFile | ReloadError::NeedsRestart(_) => AdminError::Conflict(e.to_string()),
            ReloadError::Invalid(_) => AdminError::BadRequest(e.to_string()),
            ReloadError::CoreGone => AdminError::Unavailable(e.to_string()),
        })?;
        Ok(dto::ReloadReport {
            config_version: report.config_version,
            clients_added: report.added,
            clients_removed: report.removed,
            clients_changed: report.changed,
            clients_unchanged: report.unchanged,
        })
    }

    async fn hold_declare(&self, name: &str, seconds: u32) -> AdminResult<dto::Hold> {
        let (id, _) = self.peer(name)?;
        let until = SystemTime::now() + Duration::from_secs(u64::from(seconds));
        self.core(move |core| core.declare_hold(id, Some(until)))
            .await?
            .map(hold_dto)
            .ok_or_else(|| AdminError::NotFound(name.into()))
    }

    async fn hold_cancel(&self, name: &str) -> AdminResult<dto::Hold> {
        let (id, _) = self.peer(name)?;
        self.core(move |core| core.declare_hold(id, None))
            .await?
            .map(hold_dto)
            .ok_or_else(|| AdminError::NotFound(name.into()))
    }

    async fn client_shutdown(&self, name: &str, message: Option<String>) -> AdminResult<dto::Client> {
        let (id, peer) = self.peer(name)?;
        let text = message.unwrap_or_else(|| "shut down by the route-server operator".into());
        let notification = Notification::admin_shutdown(&text);
        peer.commands
            .send(PeerCommand::Stop {
                notification,
                restart_after: None,
            })
            .await
            .map_err(|_| AdminError::Unavailable("the session task is not running".into()))?;
        self.core(move |core| core.set_admin_down(id, true)).await?;
        self.client(name).await
    }

    async fn client_enable(&self, name: &str) -> AdminResult<dto::Client> {
        let (id, peer) = self.peer(name)?;
        let was_down = self.core(move |core| core.set_admin_down(id, false)).await?;
        if !was_down {
            return Err(AdminError::Conflict(format!("client {name:?} is not shut down")));
        }
        peer.commands
            .send(PeerCommand::Start)
            .await
            .map_err(|_| AdminError::Unavailable("the session task is not running".into()))?;
        self.client(name).await
    }

    async fn route_originate(&self, route: dto::OriginateRequest) -> AdminResult<dto::OriginateResult> {
        let prefix = route.prefix.0.trunc();
        let (next_hop, mp_next_hop) = match (prefix, route.next_hop) {
            (IpNet::V4(_), IpAddr::V4(v4)) => (Some(v4), None),
            (IpNet::V6(_), IpAddr::V6(v6)) => (
                None,
                Some(MpNextHop::V6 {
                    global: v6,
                    link_local: None,
                }),
            ),
            _ => {
                return Err(AdminError::BadRequest(format!(
                    "next_hop {} is not of the prefix's address family ({prefix})",
                    route.next_hop
                )));
            }
        };
        let attrs = PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::from(
                route
                    .as_path
                    .filter(|p| !p.is_empty())
                    .map(|p| vec![AsPathSegment::Sequence(p)])
                    .unwrap_or_default(),
            )),
            next_hop,
            med: route.med,
            communities: route
                .communities
                .iter()
                .map(|c| (u32::from(c.0) << 16) | u32::from(c.1))
                .collect(),
            large_communities: route
                .large_communities
                .iter()
                .map(|c| kumo_wire::LargeCommunity {
                    global_admin: c.0,
                    local_data1: c.1,
                    local_data2: c.2,
                })
                .collect(),
            ..Default::default()
        };
        let config = self.daemon.config();
        let (asn, router_id) = (config.server.asn, config.server.router_id);
        let clients = self
            .core(move |core| core.originate(asn, router_id, prefix, RouteAttrs::new(attrs, mp_next_hop)))
            .await?;
        tracing::info!(%prefix, clients, "route originated by the operator");
        Ok(dto::OriginateResult {
            prefix: Prefix(prefix),
            originated: true,
            clients: clients as u64,
        })
    }

    async fn route_withdraw(&self, route: dto::WithdrawRequest) -> AdminResult<dto::OriginateResult> {
        let prefix = route.prefix.0.trunc();
        let clients = self
            .core(move |core| core.withdraw_originated(prefix))
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("kumo does not originate {prefix}")))?;
        tracing::info!(%prefix, clients, "originated route withdrawn by the operator");
        Ok(dto::OriginateResult {
            prefix: Prefix(prefix),
            originated: false,
            clients: clients as u64,
        })
    }

    async fn readiness(&self) -> dto::Readiness {
        let mut reasons = Vec::new();
        if self.daemon.listening.is_empty() {
            reasons.push("no BGP listener bound".to_owned());
        }
        if self.daemon.query(|_| ()).await.is_none() {
            reasons.push("the route-server core is not running".to_owned());
        }
        dto::Readiness {
            ready: reasons.is_empty(),
            reasons,
        }
    }

    async fn refresh_metrics(&self, metrics: &Metrics) {
        if let Ok(status) = self.status().await {
            metrics.set_route_data(status.irr.as_ref(), status.rpki.as_ref());
        }
        let Ok(clients) = self.clients().await else { return };
        let mut reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        for c in clients {
            let m = metrics.client(&c.name);
            m.set_up(c.state == SessionState::Established);
            for p in &c.prefixes {
                m.set_prefixes(p);
            }
            m.set_held_routes(c.hold.held_routes);
            let last = reported.entry(c.name.clone()).or_default();
            m.updates_received(c.updates_received.saturating_sub(last.0));
            m.updates_sent(c.updates_sent.saturating_sub(last.1));
            *last = (c.updates_received.max(last.0), c.updates_sent.max(last.1));
        }
    }
}

/// The bound admin API and the metrics it serves.
#[derive(Debug)]
pub struct AdminHandle {
    pub listening: std::net::SocketAddr,
    pub metrics: Arc<Metrics>,
}

/// Start the admin API if the configuration has an `[admin]` section.
pub async fn spawn(daemon: Arc<Daemon>) -> anyhow::Result<Option<AdminHandle>> {
    use anyhow::Context;
    let Some(admin) = daemon.config().admin.clone() else {
        return Ok(None);
    };
    let token = match (&admin.token, &admin.token_file) {
        (Some(token), _) => Some(token.clone()),
        (None, Some(file)) => {
            let path = daemon.config().resolve(file);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("admin.token_file: cannot read {}", path.display()))?;
            Some(text.lines().next().unwrap_or_default().trim().to_owned())
        }
        (None, None) => None,
    };
    let options = kumo_admin::AdminOptions {
        listen: admin.listen,
        token,
        ..kumo_admin::AdminOptions::default()
    };
    let listener = tokio::net::TcpListener::bind(admin.listen)
        .await
        .with_context(|| format!("cannot listen on {} (admin.listen)", admin.listen))?;
    let listening = listener.local_addr()?;
    let metrics = daemon.metrics().clone();
    let server = kumo_admin::AdminServer::new(options, Arc::new(KumoBackend::new(daemon)), metrics.clone());
    tokio::spawn(server.serve(listener, std::future::pending()));
    tracing::info!(address = %listening, "admin API listening");
    Ok(Some(AdminHandle { listening, metrics }))
}
