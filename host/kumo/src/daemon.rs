//! Start-up and shutdown of the route server: listeners, one task per client,
//! the core task, and signal handling.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kumo_config::{AddPath, Client, Config};
use kumo_policy::{PolicyEngine, PolicyRegistry};
use kumo_rib::PeerId;
use kumo_session::{GracefulRestartOffer, LocalCapabilities, SessionConfig};
use kumo_wire::{AddPathMode, AfiSafi, Notification, Role, notification::cease};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::core::{ClientSlot, Core, CoreEvent, CoreJob};
use crate::outqueue::OutQueue;
use crate::peer::{PeerCommand, PeerTask, refuse_connection};
use crate::pipeline::Pipeline;
use crate::status::SessionStatus;

/// A running route server.
#[derive(Debug)]
pub struct Daemon {
    peers: Vec<PeerHandle>,
    config: Config,
    config_version: String,
    core: mpsc::Sender<CoreEvent>,
    /// Bound BGP listen addresses (useful when the config asked for port 0).
    pub listening: Vec<SocketAddr>,
    policies: Arc<PolicyRegistry>,
    policy_engine: PolicyEngine,
}

/// Run the core on a thread of its own: policy calls (bounded by their
/// deadlines) then never delay the session tasks' keepalives and reads.
fn spawn_core(core: Core, events: mpsc::Receiver<CoreEvent>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("core runtime")?;
    std::thread::Builder::new()
        .name("kumo-core".into())
        .spawn(move || runtime.block_on(core.run(events)))
        .context("core thread")?;
    Ok(())
}

/// A client's session task, as the daemon sees it.
#[derive(Debug)]
pub struct PeerHandle {
    pub client: Arc<Client>,
    pub commands: mpsc::Sender<PeerCommand>,
}

/// The session parameters kumo offers a client.
pub fn session_config(config: &Config, client: &Client) -> SessionConfig {
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
            // Helper mode only: an empty family list says "I keep no forwarding
            // state myself but understand yours" (RFC 4724 §3).
            graceful_restart: graceful_restart.then(|| GracefulRestartOffer {
                restart_time: config.server.restart_time,
                restarting: false,
                notification: false,
                families: Vec::new(),
            }),
            llgr: Vec::new(),
            role: Some(Role::RouteServer),
        },
        ..SessionConfig::new(config.server.asn, config.server.router_id, client.asn)
    }
}

impl Daemon {
    /// Bind the listeners and start every task.
    pub async fn start(config: Config) -> anyhow::Result<Daemon> {
        let config_for_daemon = config.clone();
        let (core_tx, core_rx) = mpsc::channel(1024);
        let mut slots = Vec::new();
        let mut peers = Vec::new();
        let mut by_ip: HashMap<IpAddr, mpsc::Sender<PeerCommand>> = HashMap::new();
        // Compiling modules is CPU work; keep it off the runtime's threads.
        let policies = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || crate::policies::load(&config))
                .await
                .context("policy loader")??
        };

        for (i, client) in config.clients.iter().enumerate() {
            let id = PeerId(i as u32);
            let client = Arc::new(client.clone());
            let outq = Arc::new(OutQueue::new());
            let status = Arc::new(SessionStatus::default());
            let (cmd_tx, cmd_rx) = mpsc::channel(16);
            for ip in &client.ip {
                by_ip.insert(*ip, cmd_tx.clone());
            }
            let local_bind = config.server.listen.iter().map(|a| a.ip()).find(|ip| {
                ip.is_ipv4() == client.ip.first().is_some_and(|c| c.is_ipv4()) && !ip.is_unspecified()
            });
            let task = PeerTask {
                id,
                client: client.clone(),
                session: session_config(&config, &client),
                local_bind,
                outq: outq.clone(),
                core: core_tx.clone(),
                commands: cmd_rx,
                status: status.clone(),
            };
            tokio::spawn(task.run());
            slots.push(ClientSlot::new(client.clone(), outq, status, cmd_tx.clone()));
            peers.push(PeerHandle {
                client,
                commands: cmd_tx,
            });
        }

        let registry = policies.registry.clone();
        let core = Core::new(slots, Pipeline::new(&config, &policies), core_tx.clone());
        spawn_core(core, core_rx)?;

        let by_ip = Arc::new(by_ip);
        let mut listening = Vec::new();
        for addr in &config.server.listen {
            let listener = bind(*addr).with_context(|| format!("cannot listen on {addr} (server.listen)"))?;
            let local = listener.local_addr()?;
            info!(address = %local, "BGP listener bound");
            listening.push(local);
            tokio::spawn(accept_loop(listener, by_ip.clone()));
        }
        let config_version = config_digest(&config_for_daemon);
        Ok(Daemon {
            peers,
            config: config_for_daemon,
            config_version,
            core: core_tx,
            listening,
            policies: registry,
            policy_engine: policies.engine,
        })
    }

    /// The loaded policy modules.
    pub fn policies(&self) -> &Arc<PolicyRegistry> {
        &self.policies
    }

    /// The engine policy modules are compiled with (for uploads).
    pub fn policy_engine(&self) -> &PolicyEngine {
        &self.policy_engine
    }

    /// The configuration the daemon runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A short digest identifying the configuration.
    pub fn config_version(&self) -> &str {
        &self.config_version
    }

    /// A client's id and session task, by name.
    pub fn peer_by_name(&self, name: &str) -> Option<(PeerId, &PeerHandle)> {
        self.peers
            .iter()
            .enumerate()
            .find(|(_, p)| p.client.name == name)
            .map(|(i, p)| (PeerId(i as u32), p))
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

    /// Close every session with Cease / Administrative Shutdown and this message (RFC 8203).
    pub async fn shutdown(&self, message: &str) {
        for peer in &self.peers {
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
async fn accept_loop(listener: TcpListener, by_ip: Arc<HashMap<IpAddr, mpsc::Sender<PeerCommand>>>) {
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
        match by_ip.get(&ip) {
            Some(commands) => {
                if commands.send(PeerCommand::Incoming(stream)).await.is_err() {
                    return;
                }
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
