//! Start-up and shutdown of the route server: listeners, one task per client,
//! the core task, and signal handling.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use arc_swap::ArcSwap;
use kumo_admin::{Metrics, TrapKind};
use kumo_config::{AddPath, Client, Config};
use kumo_policy::{CallObserver, FailureKind, PolicyEngine, PolicyRegistry};
use kumo_rib::PeerId;
use kumo_session::{GracefulRestartOffer, LocalCapabilities, SessionConfig};
use kumo_wire::{AddPathMode, AfiSafi, Notification, Role, notification::cease};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::core::{ClientSlot, Core, CoreEvent, CoreJob, UpdateGate};
use crate::outqueue::OutQueue;
use crate::peer::{PeerCommand, PeerTask, refuse_connection};
use crate::pipeline::Pipeline;
use crate::route_data::{RouteDataService, RpkiFeed, load_irr};
use crate::status::SessionStatus;

/// A running route server.
#[derive(Debug)]
pub struct Daemon {
    state: Mutex<DaemonState>,
    core: mpsc::Sender<CoreEvent>,
    /// Shared by every session task and the core (see [`UpdateGate`]).
    gate: Arc<UpdateGate>,
    /// Where the session tasks run.
    runtime: tokio::runtime::Handle,
    /// Bound BGP listen addresses (useful when the config asked for port 0).
    pub listening: Vec<SocketAddr>,
    policies: Arc<PolicyRegistry>,
    policy_engine: PolicyEngine,
    /// Where each configured address's connections go (read by the listeners).
    by_ip: Arc<ArcSwap<HashMap<IpAddr, mpsc::Sender<PeerCommand>>>>,
    /// The file the configuration came from (`reload` reads it again).
    config_path: Option<PathBuf>,
    /// Reloads run one at a time.
    reloading: tokio::sync::Mutex<()>,
    metrics: Arc<Metrics>,
    /// IRR and RPKI data as policies see it.
    route_data: Arc<RouteDataService>,
}

/// Records every policy call in the metrics (duration histogram, failures by kind).
fn policy_observer(metrics: Arc<Metrics>) -> CallObserver {
    Arc::new(
        move |module: &str, took: Duration, failure: Option<FailureKind>| {
            let policy = metrics.policy(module);
            policy.observe_call(took);
            if let Some(kind) = failure {
                policy.trap(match kind {
                    FailureKind::Trap => TrapKind::Trap,
                    FailureKind::Deadline => TrapKind::Deadline,
                    FailureKind::Memory => TrapKind::Memory,
                    FailureKind::InvalidResult => TrapKind::InvalidResult,
                });
            }
        },
    )
}

/// How the daemon starts.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// The configuration file (`reload` reads it again).
    pub config_path: Option<PathBuf>,
    /// kumo has just restarted (an upgrade) and clients may keep its routes:
    /// announce the restart (R bit) and send routes only once every client's
    /// End-of-RIB is in, or after `server.restart_time` (RFC 4724 §4.1).
    pub graceful_restart: bool,
    /// Where policy modules are compiled (the `kumo` binary: in a child
    /// process of itself).
    pub compiler: kumo_policy::Compiler,
}

/// What changes with a reload.
#[derive(Debug)]
struct DaemonState {
    /// By client id; `None` for removed clients (ids are never reused).
    peers: Vec<Option<PeerHandle>>,
    config: Arc<Config>,
    config_version: String,
    loaded_at: SystemTime,
    /// The RTR client of `[rpki]`, if configured.
    rpki: Option<RpkiFeed>,
}

/// A client's session task, as the daemon sees it.
#[derive(Debug, Clone)]
pub struct PeerHandle {
    pub client: Arc<Client>,
    pub commands: mpsc::Sender<PeerCommand>,
}

/// Why a reload was refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("kumo was started without a configuration file; there is nothing to re-read")]
    NoFile,
    /// The file does not parse or validate, or a policy module does not load.
    #[error("{0}")]
    Invalid(String),
    /// The change cannot be applied to a running daemon.
    #[error("{0}")]
    NeedsRestart(String),
    #[error("the route-server core is not running")]
    CoreGone,
}

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    pub config_version: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Changed clients: policy-only changes applied in place, session
    /// changes by restarting that one session.
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
}

/// Events the core's channel holds: room for every session's burst beyond
/// the gate's high mark, so that sessions wait at the gate, not here.
const CORE_CHANNEL: usize = 1 << 16;

/// Run the core on a thread of its own: policy calls (bounded by their
/// deadlines) then never delay the session tasks' keepalives and reads.
fn spawn_core(core: Core, events: mpsc::Receiver<CoreEvent>, gate: Arc<UpdateGate>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("core runtime")?;
    std::thread::Builder::new()
        .name("kumo-core".into())
        .spawn(move || runtime.block_on(core.run(events, gate)))
        .context("core thread")?;
    Ok(())
}

/// The session parameters kumo offers a client.
///
/// `restarting`: kumo has just restarted (`--graceful-restart`): the R bit
/// tells clients so, and they keep kumo's routes until its End-of-RIB.
pub fn session_config(config: &Config, client: &Client, restarting: bool) -> SessionConfig {
    let mut families = Vec::new();
    if client.ipv4 {
        families.push(AfiSafi::IPV4_UNICAST);
    }
    if client.ipv6 {
        families.push(AfiSafi::IPV6_UNICAST);
    }
    let add_path_mode = match client.add_path {
        AddPath::Off => None,
        AddPath::Send => Some(AddPathMode::Send),
        AddPath::Receive => Some(AddPathMode::Receive),
        AddPath::Both => Some(AddPathMode::Both),
    };
    let graceful_restart = client.effective_graceful_restart(&config.server);
    // LLGR (RFC 9494) rides on GR: offered only with it.
    let llgr_families = if graceful_restart && config.server.llgr_stale_time > 0 {
        families
            .iter()
            .map(|f| kumo_wire::LlgrAfi {
                afi_safi: *f,
                forwarding_preserved: true,
                stale_time: config.server.llgr_stale_time,
            })
            .collect()
    } else {
        Vec::new()
    };
    let gr_families = families
        .iter()
        .map(|f| kumo_wire::GracefulRestartAfi {
            afi_safi: *f,
            forwarding_preserved: true,
        })
        .collect();
    SessionConfig {
        local_asn: config.server.asn,
        local_id: config.server.router_id,
        peer_asn: client.asn,
        hold_time: client.effective_hold_time(&config.server),
        connect_retry: Duration::from_secs(config.server.connect_retry),
        passive: client.passive,
        capabilities: LocalCapabilities {
            add_path: add_path_mode
                .map(|m| families.iter().map(|f| (*f, m)).collect())
                .unwrap_or_default(),
            families,
            route_refresh: true,
            enhanced_route_refresh: false,
            extended_message: true,
            // Helper for the client's restarts, and restarting speaker for
            // kumo's own: kumo's routes stay valid while it restarts (it
            // forwards nothing itself, the members do), so the F bit is set
            // and clients keep them until kumo's End-of-RIB (RFC 4724 §4.2).
            graceful_restart: graceful_restart.then_some(GracefulRestartOffer {
                restart_time: config.server.restart_time,
                restarting,
                notification: false,
                families: gr_families,
            }),
            llgr: llgr_families,
            role: Some(Role::RouteServer),
        },
        ..SessionConfig::new(config.server.asn, config.server.router_id, client.asn)
    }
}

/// Start the session task of client `id` and make its core slot.
fn spawn_peer(
    id: PeerId,
    client: Arc<Client>,
    config: &Config,
    core: &mpsc::Sender<CoreEvent>,
    gate: &Arc<UpdateGate>,
    runtime: &tokio::runtime::Handle,
    restarting: bool,
) -> (ClientSlot, PeerHandle) {
    let outq = Arc::new(OutQueue::new());
    let status = Arc::new(SessionStatus::default());
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    let local_bind =
        config.server.listen.iter().map(|a| a.ip()).find(|ip| {
            ip.is_ipv4() == client.ip.first().is_some_and(|c| c.is_ipv4()) && !ip.is_unspecified()
        });
    let task = PeerTask {
        id,
        client: client.clone(),
        session: session_config(config, &client, restarting),
        local_bind,
        outq: outq.clone(),
        core: core.clone(),
        gate: gate.clone(),
        commands: cmd_rx,
        status: status.clone(),
    };
    // On the daemon's runtime even when called from the core's thread (a
    // reload), whose own runtime has no I/O driver.
    runtime.spawn(task.run());
    (
        ClientSlot::new(client.clone(), outq, status, cmd_tx.clone()),
        PeerHandle {
            client,
            commands: cmd_tx,
        },
    )
}

fn address_map(peers: &[Option<PeerHandle>]) -> HashMap<IpAddr, mpsc::Sender<PeerCommand>> {
    peers
        .iter()
        .flatten()
        .flat_map(|p| {
            p.client
                .ip
                .iter()
                .map(move |ip| (ip.to_canonical(), p.commands.clone()))
        })
        .collect()
}

/// The client with its policy-only fields cleared: equal keys mean a change
/// needs no new session.
fn session_key(client: &Client) -> Client {
    Client {
        description: None,
        import: Vec::new(),
        export: Vec::new(),
        params: Default::default(),
        max_prefix: None,
        test_export_deny_from: Vec::new(),
        ..client.clone()
    }
}

impl Daemon {
    /// Bind the listeners and start every task.
    pub async fn start(config: Config) -> anyhow::Result<Daemon> {
        Self::start_from(config, None).await
    }

    /// [`Daemon::start`] for a configuration read from `path`, which
    /// [`Daemon::reload`] reads again.
    pub async fn start_from(config: Config, path: Option<PathBuf>) -> anyhow::Result<Daemon> {
        Self::start_with(
            config,
            StartOptions {
                config_path: path,
                ..StartOptions::default()
            },
        )
        .await
    }

    /// Start with every option.
    pub async fn start_with(config: Config, options: StartOptions) -> anyhow::Result<Daemon> {
        let path = options.config_path.clone();
        // Sessions hold back at the gate long before the channel is full
        // (`GATE_HIGH`): a full channel wakes a waiting sender per event taken.
        let (core_tx, core_rx) = mpsc::channel(CORE_CHANNEL);
        let gate = Arc::new(UpdateGate::default());
        let runtime = tokio::runtime::Handle::current();
        let route_data = RouteDataService::new();
        // Reading IRR files and compiling modules is CPU work; keep it off
        // the runtime's threads.
        let irr = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || load_irr(&config))
                .await
                .context("IRR loader")?
                .map_err(anyhow::Error::msg)?
        };
        route_data.set_irr(irr);
        let policies = {
            let config = config.clone();
            let route_data = route_data.clone();
            let compiler = options.compiler.clone();
            tokio::task::spawn_blocking(move || crate::policies::load(&config, route_data, compiler))
                .await
                .context("policy loader")??
        };

        let mut slots = Vec::new();
        let mut peers = Vec::new();
        for (i, client) in config.clients.iter().enumerate() {
            let (slot, handle) = spawn_peer(
                PeerId(i as u32),
                Arc::new(client.clone()),
                &config,
                &core_tx,
                &gate,
                &runtime,
                options.graceful_restart,
            );
            slots.push(slot);
            peers.push(Some(handle));
        }
        let metrics = Arc::new(Metrics::new(env!("CARGO_PKG_VERSION")));
        let mut core = Core::new(
            slots,
            Pipeline::new(&config, &policies, Some(policy_observer(metrics.clone()))),
            core_tx.clone(),
        );
        core.set_static_hold(policies.static_hold.clone());
        core.wake_writers_on(&runtime);
        if options.graceful_restart && config.server.graceful_restart {
            let wait = Duration::from_secs(u64::from(config.server.restart_time));
            core.begin_recovery(wait);
            info!(
                seconds = wait.as_secs(),
                "graceful restart: routes are sent once the clients' End-of-RIB markers are in, or after this wait"
            );
        }
        spawn_core(core, core_rx, gate.clone())?;
        let rpki = config
            .rpki
            .as_ref()
            .map(|rpki| RpkiFeed::start(rpki, route_data.clone(), core_tx.clone()));

        let by_ip = Arc::new(ArcSwap::from_pointee(address_map(&peers)));
        let mut listening = Vec::new();
        for addr in &config.server.listen {
            let listener = bind(*addr).with_context(|| format!("cannot listen on {addr} (server.listen)"))?;
            let local = listener.local_addr()?;
            info!(address = %local, "BGP listener bound");
            listening.push(local);
            tokio::spawn(accept_loop(listener, by_ip.clone()));
        }
        Ok(Daemon {
            state: Mutex::new(DaemonState {
                peers,
                config_version: config_digest(&config),
                config: Arc::new(config),
                loaded_at: SystemTime::now(),
                rpki,
            }),
            core: core_tx,
            gate,
            runtime,
            listening,
            policies: policies.registry,
            policy_engine: policies.engine,
            by_ip,
            config_path: path,
            reloading: tokio::sync::Mutex::new(()),
            metrics,
            route_data,
        })
    }

    /// IRR and RPKI data as policies see it now.
    pub fn route_data(&self) -> &Arc<RouteDataService> {
        &self.route_data
    }

    /// The RPKI cache address, its RTR session's state and the VRPs it
    /// gave, when `[rpki]` is configured.
    pub fn rpki_status(&self) -> Option<(String, kumo_rpki::RtrStatus, Arc<kumo_rpki::RpkiSnapshot>)> {
        self.state()
            .rpki
            .as_ref()
            .map(|feed| (feed.config.cache.clone(), feed.status(), feed.snapshot()))
    }

    /// The metrics the admin API serves (policy calls are recorded as they happen).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    fn state(&self) -> std::sync::MutexGuard<'_, DaemonState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The configuration the daemon runs with.
    pub fn config(&self) -> Arc<Config> {
        self.state().config.clone()
    }

    /// A short digest identifying the configuration.
    pub fn config_version(&self) -> String {
        self.state().config_version.clone()
    }

    /// When the running configuration was loaded.
    pub fn config_loaded_at(&self) -> SystemTime {
        self.state().loaded_at
    }

    /// The loaded policy modules.
    pub fn policies(&self) -> &Arc<PolicyRegistry> {
        &self.policies
    }

    /// The engine policy modules are compiled with (for uploads).
    pub fn policy_engine(&self) -> &PolicyEngine {
        &self.policy_engine
    }

    /// A client's id and session task, by name.
    pub fn peer_by_name(&self, name: &str) -> Option<(PeerId, PeerHandle)> {
        self.state().peers.iter().enumerate().find_map(|(i, p)| {
            p.as_ref()
                .filter(|p| p.client.name == name)
                .map(|p| (PeerId(i as u32), p.clone()))
        })
    }

    /// Run `f` inside the core task and return its result (`None` if the core is gone).
    pub async fn query<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Core) -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: CoreJob = Box::new(move |core| {
            let _ = tx.send(f(core));
        });
        self.core.send(CoreEvent::Job(job)).await.ok()?;
        rx.await.ok()
    }

    /// Read the configuration file again and apply the difference: added
    /// clients start, removed ones get a Cease (Peer De-configured), changed
    /// ones are updated in place (policies, parameters, limits) or have just
    /// their own session restarted (addresses, ASN, timers, families);
    /// untouched clients keep their sessions. Policy modules are reloaded and
    /// every retained path is re-evaluated under the new chains. All or
    /// nothing: a file that does not validate, or a module that does not
    /// load, changes nothing.
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let _one_at_a_time = self.reloading.lock().await;
        let path = self.config_path.clone().ok_or(ReloadError::NoFile)?;
        let new = kumo_config::load(&path).map_err(|e| ReloadError::Invalid(e.to_string()))?;
        let old = self.config();
        if new.server != old.server {
            return Err(ReloadError::NeedsRestart(
                "[server] changed (ASN, router id, listen addresses, timers): restart kumo to apply it"
                    .into(),
            ));
        }
        if new.admin != old.admin {
            return Err(ReloadError::NeedsRestart(
                "[admin] changed: restart kumo to apply it".into(),
            ));
        }
        let loaded = {
            let engine = self.policy_engine.clone();
            let new = new.clone();
            tokio::task::spawn_blocking(move || crate::policies::load_with(&engine, &new))
                .await
                .map_err(|e| ReloadError::Invalid(format!("policy loader: {e}")))?
                .map_err(|e| ReloadError::Invalid(e.to_string()))?
        };
        // The IRR files are read again on every reload (their content is
        // what changes, not the file names).
        let irr = {
            let new = new.clone();
            tokio::task::spawn_blocking(move || load_irr(&new))
                .await
                .map_err(|e| ReloadError::Invalid(format!("IRR loader: {e}")))?
                .map_err(ReloadError::Invalid)?
        };

        let mut report = ReloadReport {
            config_version: config_digest(&new),
            ..Default::default()
        };
        let before: Vec<Option<PeerHandle>> = self.state().peers.clone();
        let find = |name: &str| {
            before.iter().enumerate().find_map(|(i, p)| {
                p.as_ref()
                    .filter(|p| p.client.name == name)
                    .map(|p| (PeerId(i as u32), p))
            })
        };
        // (id, handle, notification) of sessions to end; clients to start; in-place updates.
        let mut stop: Vec<(PeerId, PeerHandle, Notification)> = Vec::new();
        let mut start: Vec<Arc<Client>> = Vec::new();
        let mut update: Vec<(PeerId, Arc<Client>)> = Vec::new();
        for client in &new.clients {
            match find(&client.name) {
                None => {
                    report.added.push(client.name.clone());
                    start.push(Arc::new(client.clone()));
                }
                Some((_, handle)) if *handle.client == *client => report.unchanged.push(client.name.clone()),
                Some((id, handle)) => {
                    report.changed.push(client.name.clone());
                    if session_key(&handle.client) == session_key(client) {
                        update.push((id, Arc::new(client.clone())));
                    } else {
                        let cease = Notification::new(
                            kumo_wire::notification::code::CEASE,
                            cease::OTHER_CONFIGURATION_CHANGE,
                            Vec::new(),
                        );
                        stop.push((id, handle.clone(), cease));
                        start.push(Arc::new(client.clone()));
                    }
                }
            }
        }
        for (id, handle) in before
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((i, p.as_ref()?)))
        {
            if !new.clients.iter().any(|c| c.name == handle.client.name) {
                report.removed.push(handle.client.name.clone());
                let cease = Notification::new(
                    kumo_wire::notification::code::CEASE,
                    cease::PEER_DE_CONFIGURED,
                    Vec::new(),
                );
                stop.push((PeerId(id as u32), handle.clone(), cease));
            }
        }

        // Sessions that end: NOTIFICATION first, then the task ends when its
        // command channel closes (the core's copy is dropped with the slot).
        for (_, handle, notification) in &stop {
            let _ = handle
                .commands
                .send(PeerCommand::Stop {
                    notification: notification.clone(),
                    restart_after: None,
                })
                .await;
        }
        let stopped: Vec<PeerId> = stop.iter().map(|(id, _, _)| *id).collect();
        // New data first: the re-evaluation below then sees it.
        self.route_data.set_irr(irr);
        if new.rpki != old.rpki {
            let feed = new
                .rpki
                .as_ref()
                .map(|rpki| RpkiFeed::start(rpki, self.route_data.clone(), self.core.clone()));
            if feed.is_none() {
                self.route_data.set_rpki(None);
            }
            // The old client stops as it is dropped here.
            self.state().rpki = feed;
        }
        let modules = loaded.registry.snapshot();
        let static_hold = loaded.static_hold.clone();
        let registry = self.policies.clone();
        let core_tx = self.core.clone();
        let gate = self.gate.clone();
        let runtime = self.runtime.clone();
        let new_for_core = new.clone();
        let started = self
            .query(move |core| {
                for id in &stopped {
                    core.remove_client(*id);
                }
                for (id, config) in update {
                    core.update_client(id, config);
                }
                let mut handles = Vec::new();
                for client in start {
                    let id = PeerId(core.clients().len() as u32);
                    let (slot, handle) =
                        spawn_peer(id, client, &new_for_core, &core_tx, &gate, &runtime, false);
                    let added = core.add_client(slot);
                    debug_assert_eq!(added, id);
                    handles.push((id, handle));
                }
                registry.replace_all(modules.iter().cloned());
                core.set_static_hold(static_hold);
                let change = core.rebuild_pipeline();
                (handles, change)
            })
            .await;
        let Some((handles, change)) = started else {
            return Err(ReloadError::CoreGone);
        };

        {
            let mut state = self.state();
            for (id, _, _) in &stop {
                if let Some(slot) = state.peers.get_mut(id.0 as usize) {
                    *slot = None;
                }
            }
            for (id, handle) in handles {
                let i = id.0 as usize;
                if state.peers.len() <= i {
                    state.peers.resize(i + 1, None);
                }
                state.peers[i] = Some(handle);
            }
            self.by_ip.store(Arc::new(address_map(&state.peers)));
            state.config = Arc::new(new);
            state.config_version = report.config_version.clone();
            state.loaded_at = SystemTime::now();
        }
        info!(
            added = ?report.added, removed = ?report.removed, changed = ?report.changed,
            routes = change.routes_reevaluated, route_changes = change.changed,
            "configuration reloaded"
        );
        Ok(report)
    }

    /// Reload whenever the configuration file's content changes (checked
    /// every `every`, reading through symlinks, so a Kubernetes ConfigMap's
    /// atomic symlink swap counts). Stops when the daemon is dropped.
    pub fn watch_config(self: &Arc<Self>, every: Duration) -> Option<tokio::task::JoinHandle<()>> {
        let path = self.config_path.clone()?;
        let daemon = Arc::downgrade(self);
        Some(tokio::spawn(async move {
            // A small file: reading it inline costs less than a blocking-pool hop.
            let mut last = std::fs::read(&path).ok();
            loop {
                tokio::time::sleep(every).await;
                let Some(daemon) = daemon.upgrade() else { return };
                let now = std::fs::read(&path).ok();
                // A file missing for a moment (mid-swap) is not a change.
                if now.is_none() || now == last {
                    continue;
                }
                last = now;
                match daemon.reload().await {
                    Ok(report) => {
                        info!(?report, file = %path.display(), "configuration file changed: reloaded")
                    }
                    Err(e) => {
                        warn!(error = %e, file = %path.display(), "configuration file changed but not reloaded; nothing changed")
                    }
                }
            }
        }))
    }

    /// An upgrade restart's exit: close every session without a NOTIFICATION,
    /// so that clients which negotiated Graceful Restart keep kumo's routes
    /// until it is back (RFC 4724; a Cease would end that, RFC 8538 aside).
    pub async fn restart_exit(&self) {
        let peers: Vec<PeerHandle> = self.state().peers.iter().flatten().cloned().collect();
        for peer in peers {
            let _ = peer.commands.send(PeerCommand::Disconnect).await;
        }
        // Let the writers close their connections.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    /// Close every session with Cease / Administrative Shutdown and this
    /// message (RFC 8203), after the configured drain (`server.shutdown_drain`:
    /// every route re-announced with GRACEFUL_SHUTDOWN, then a wait).
    pub async fn shutdown(&self, message: &str) {
        let drain = Duration::from_secs(self.config().server.shutdown_drain);
        if !drain.is_zero() {
            let marked = self.query(|core| core.start_drain()).await.unwrap_or(0);
            info!(
                paths = marked,
                seconds = drain.as_secs(),
                "draining: routes re-announced with GRACEFUL_SHUTDOWN"
            );
            tokio::time::sleep(drain).await;
        }
        let peers: Vec<PeerHandle> = self.state().peers.iter().flatten().cloned().collect();
        for peer in peers {
            debug!(client = %peer.client.name, "sending administrative shutdown");
            let notification = Notification::admin_shutdown(message);
            let _ = peer
                .commands
                .send(PeerCommand::Stop {
                    notification,
                    restart_after: None,
                })
                .await;
        }
        // Let the writers flush their NOTIFICATIONs.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A digest of the configuration as kumo understood it (stable for equal configs).
fn config_digest(config: &Config) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    format!(
        "{:?}",
        Config {
            base_dir: None,
            ..config.clone()
        }
    )
    .hash(&mut h);
    format!("{:016x}", h.finish())
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Hand accepted connections to their client's task; refuse unknown sources cheaply.
async fn accept_loop(listener: TcpListener, by_ip: Arc<ArcSwap<HashMap<IpAddr, mpsc::Sender<PeerCommand>>>>) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let ip = remote.ip().to_canonical();
        let commands = by_ip.load().get(&ip).cloned();
        match commands {
            Some(commands) => {
                // A closed channel: the client was just removed.
                let _ = commands.send(PeerCommand::Incoming(stream)).await;
            }
            None => {
                debug!(%remote, "connection from an unconfigured address refused");
                tokio::spawn(refuse(stream));
            }
        }
    }
}

async fn refuse(stream: TcpStream) {
    refuse_connection(
        stream,
        Notification::new(
            kumo_wire::notification::code::CEASE,
            cease::CONNECTION_REJECTED,
            Vec::new(),
        ),
    )
    .await;
}
