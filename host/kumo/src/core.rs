//! The route-server core: one task that owns the RIB.
//!
//! Peer tasks send it what their sessions receive ([`CoreEvent`]); it runs the
//! import stage, updates the Adj-RIB-In and per-client best paths, and pushes
//! the resulting changes into each client's [`OutQueue`]. It never touches a
//! socket and never waits for a client, so one slow client cannot stall it.
//! UPDATEs are applied in bursts (up to `BURST_UPDATES`, from any
//! sessions): the import and export policies are asked about all of a
//! burst's attribute sets in one call each, then the UPDATEs are applied in
//! order (`Core::apply_burst`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use ipnet::IpNet;
use kumo_config::{Client, MaxPrefixAction};
use kumo_policy::{
    ClientCtx, HoldDecision, LossReason, Marking, POLICY_ERROR_CODE, POLICY_ERROR_TEXT, PolicyModule,
    SessionLoss, StaticHoldModule,
};
use kumo_rib::{
    Attrs, ExportDecision, ExportPolicy, ExportSet, FastMap, ImportVerdict, OutChanges, PathView, PeerId,
    PeerInfo, RejectReason, Rib, RouteAttrs, VerdictView, decide_sets,
};
use kumo_session::{DownReason, Negotiated};
use kumo_wire::{Afi, AfiSafi, MpNextHop, Nlri, Notification, Update};
use smallvec::SmallVec;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::outqueue::{Fanout, OutQueue, WriterWakeups};
use crate::peer::{PeerCommand, family_of};
use crate::pipeline::{ImportAsk, Pipeline};
use crate::status::SessionStatus;

/// A closure run inside the core task with exclusive access (admin API
/// queries and operations: they see a consistent RIB without locks).
pub type CoreJob = Box<dyn FnOnce(&mut Core) + Send>;

/// What peer tasks (and timers, and the admin API) tell the core.
pub enum CoreEvent {
    Job(CoreJob),
    Established {
        peer: PeerId,
        address: IpAddr,
        negotiated: Box<Negotiated>,
    },
    Update {
        peer: PeerId,
        update: Box<Update>,
        treat_as_withdraw: bool,
    },
    Down {
        peer: PeerId,
        reason: DownReason,
    },
    /// The client asked for our routes again (ROUTE-REFRESH, RFC 2918).
    RouteRefresh {
        peer: PeerId,
        family: AfiSafi,
    },
    /// The Graceful Restart timer of a stale peer fired.
    StaleTimer {
        peer: PeerId,
        generation: u64,
    },
    /// kumo's own restart: the wait for the clients' End-of-RIB is over.
    RecoveryTimer,
}

impl CoreEvent {
    /// Counted at the [`UpdateGate`].
    pub fn is_update(&self) -> bool {
        matches!(self, CoreEvent::Update { .. })
    }
}

impl std::fmt::Debug for CoreEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CoreEvent::Job(_) => f.write_str("Job"),
            CoreEvent::Established { peer, address, .. } => write!(f, "Established({peer:?}, {address})"),
            CoreEvent::Update {
                peer,
                treat_as_withdraw,
                ..
            } => write!(f, "Update({peer:?}, {treat_as_withdraw})"),
            CoreEvent::Down { peer, reason } => write!(f, "Down({peer:?}, {reason})"),
            CoreEvent::StaleTimer { peer, generation } => write!(f, "StaleTimer({peer:?}, {generation})"),
            CoreEvent::RouteRefresh { peer, family } => write!(f, "RouteRefresh({peer:?}, {family:?})"),
            CoreEvent::RecoveryTimer => f.write_str("RecoveryTimer"),
        }
    }
}

/// The core's view of one configured client.
#[derive(Debug)]
pub struct ClientSlot {
    pub config: Arc<Client>,
    pub outq: Arc<OutQueue>,
    pub status: Arc<SessionStatus>,
    pub commands: mpsc::Sender<PeerCommand>,
    /// Set while the session is Established.
    info: Option<PeerInfo>,
    /// Families for which the client's routes are stale (GR helper) and the timer generation.
    stale: Option<(Vec<AfiSafi>, u64)>,
    generation: u64,
    /// GR families and restart time the peer announced in this session's OPEN.
    graceful_restart: Option<(Vec<AfiSafi>, u16)>,
    /// Families of the current (or last) session.
    families: Vec<AfiSafi>,
    /// A maintenance window declared by the operator (static-hold): if the
    /// session is lost before this time, its routes are held until then.
    pub hold_until: Option<SystemTime>,
    /// When the routes held now (GR or static-hold) are withdrawn if not refreshed.
    held_until: Option<SystemTime>,
    /// Shut down by the operator; stays down until enabled.
    pub admin_down: bool,
    /// Max-prefix warning already logged for this session.
    max_prefix_warned: bool,
    /// Removed from the configuration (ids are never reused).
    pub removed: bool,
    /// kumo is restarting: this client gets its table once the recovery ends.
    deferred: bool,
    /// Families whose End-of-RIB the client sent in this session.
    end_of_rib_in: Vec<AfiSafi>,
}

impl ClientSlot {
    pub fn new(
        config: Arc<Client>,
        outq: Arc<OutQueue>,
        status: Arc<SessionStatus>,
        commands: mpsc::Sender<PeerCommand>,
    ) -> Self {
        ClientSlot {
            config,
            outq,
            status,
            commands,
            info: None,
            graceful_restart: None,
            families: Vec::new(),
            hold_until: None,
            held_until: None,
            admin_down: false,
            stale: None,
            generation: 0,
            max_prefix_warned: false,
            removed: false,
            deferred: false,
            end_of_rib_in: Vec::new(),
        }
    }
}

/// A client's maintenance window and held routes, for the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldView {
    pub window_until: Option<SystemTime>,
    pub holding: bool,
    pub held_routes: u64,
    pub expires_at: Option<SystemTime>,
}

impl ClientSlot {
    pub fn hold_view(&self, held_routes: u64) -> HoldView {
        let now = SystemTime::now();
        HoldView {
            window_until: self.hold_until.filter(|u| *u > now),
            holding: self.stale.is_some(),
            held_routes,
            expires_at: self.held_until,
        }
    }
}

/// A path whose import verdict a policy change flips (dry run).
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictFlip {
    pub nlri: Nlri,
    /// Accepted now?
    pub was_accepted: bool,
    /// The candidate's verdict.
    pub verdict: ImportVerdict,
}

/// What a policy change did, or for a dry run would do.
#[derive(Debug, Clone, Default)]
pub struct PolicyChange {
    /// Paths run through the changed chains (import and export counted once each).
    pub routes_reevaluated: u64,
    /// Paths whose verdict, attributes or export decision changed.
    pub changed: u64,
    /// Dry run only: import flips per client (accept <-> reject).
    pub flips: Vec<(PeerId, Vec<VerdictFlip>)>,
    /// Dry run only: receivers that would gain or lose a path (export).
    pub export_flips: Vec<ExportFlip>,
}

/// A path a receiver would gain or lose under a candidate export policy (dry run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFlip {
    pub receiver: PeerId,
    pub nlri: Nlri,
    /// The client the path comes from.
    pub source: PeerId,
    /// Exported to `receiver` now?
    pub was_exported: bool,
}

/// Backpressure from the core to the sessions' readers, with hysteresis:
/// a session stops handing UPDATEs to the core once [`GATE_HIGH`] wait for
/// it, and all resume together once it is down to [`GATE_LOW`]. (The core's
/// bounded channel alone woke a waiting session for every event the core
/// took: with kumo on one CPU the kernel switched to it at once, and the
/// core and the sessions took turns event by event; perf at P1: 106k context
/// switches of the core in 2 s of its CPU, nearly all in that wake-up.)
#[derive(Debug, Default)]
pub struct UpdateGate {
    /// UPDATE events sent and not yet taken by the core, and [`GATE_CLOSED`].
    state: AtomicUsize,
    open: tokio::sync::Notify,
}

const GATE_CLOSED: usize = 1 << (usize::BITS - 1);
/// UPDATEs waiting for the core at which sessions stop handing over more.
pub const GATE_HIGH: usize = 1024;
/// ... and at which they resume.
pub const GATE_LOW: usize = 256;

impl UpdateGate {
    pub fn is_open(&self) -> bool {
        self.state.load(Ordering::Acquire) & GATE_CLOSED == 0
    }

    /// A session handed the core an UPDATE.
    pub fn sent(&self) {
        let _ = self.state.fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
            let queued = (s & !GATE_CLOSED) + 1;
            Some(if queued >= GATE_HIGH {
                queued | GATE_CLOSED
            } else {
                queued | (s & GATE_CLOSED)
            })
        });
    }

    /// The core took an UPDATE. The count and the flag change in one step,
    /// so the gate cannot be left closed with nothing queued to reopen it.
    pub fn taken(&self) {
        let before = self.state.fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
            let queued = (s & !GATE_CLOSED).saturating_sub(1);
            Some(if queued <= GATE_LOW {
                queued
            } else {
                queued | (s & GATE_CLOSED)
            })
        });
        if let Ok(s) = before
            && s & GATE_CLOSED != 0
            && (s & !GATE_CLOSED).saturating_sub(1) <= GATE_LOW
        {
            self.open.notify_waiters();
        }
    }

    /// Returns once the gate is open.
    pub async fn wait_open(&self) {
        loop {
            let notified = self.open.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.is_open() {
                return;
            }
            notified.await;
        }
    }
}

/// The route-server core state.
#[derive(Debug)]
pub struct Core {
    rib: Rib,
    clients: Vec<ClientSlot>,
    pipeline: Pipeline,
    events_tx: mpsc::Sender<CoreEvent>,
    out: OutChanges,
    /// One `distribute` call's runs, in one shared segment; each client's
    /// share is pushed to its queue at once (one lock and one wake-up per
    /// client and batch).
    fanout: Fanout,
    /// The writers to wake once a batch is queued.
    wakeups: WriterWakeups,
    /// UPDATEs taken from the sessions and not applied yet: they are
    /// applied together, with one import question and one export question
    /// per attribute set for all of them (see [`Core::apply_burst`]).
    burst: Vec<(PeerId, Box<Update>, bool)>,
    /// Reused: the import verdicts of a burst's announcements.
    verdicts: Vec<Vec<ImportVerdict>>,
    /// The source of routes kumo originates itself (admin API), once used:
    /// an id reserved like a removed client's, so no client ever gets it.
    local: Option<PeerInfo>,
    /// Decides whether a lost session's routes are held (static-hold).
    static_hold: Option<Arc<StaticHoldModule>>,
    /// kumo restarted with Graceful Restart: clients get their tables only
    /// once every client's End-of-RIB is in (or the wait ends), so no client
    /// sees a partial table and drops the routes it kept (RFC 4724 §4.1).
    recovering: bool,
}

/// What policies see of kumo's own route source.
fn local_ctx(local: &PeerInfo) -> ClientCtx {
    ClientCtx {
        id: local.id.0,
        name: LOCAL_SOURCE.into(),
        asn: local.asn,
        addresses: Vec::new(),
        params: serde_json::json!({}),
    }
}

/// The static-hold module's view of why a session was lost.
fn loss_reason(reason: &DownReason, admin_down: bool) -> LossReason {
    use kumo_wire::notification::{cease, code};
    match reason {
        _ if admin_down => LossReason::AdminShutdown,
        DownReason::NotificationSent(n) if n.code == code::HOLD_TIMER_EXPIRED => LossReason::HoldTimerExpired,
        DownReason::NotificationSent(n)
            if n.code == code::CEASE && n.subcode == cease::ADMINISTRATIVE_SHUTDOWN =>
        {
            LossReason::AdminShutdown
        }
        DownReason::NotificationSent(n) => LossReason::NotificationSent {
            code: n.code,
            subcode: n.subcode,
        },
        DownReason::NotificationReceived(n) => LossReason::NotificationReceived {
            code: n.code,
            subcode: n.subcode,
        },
        DownReason::ConnectionLost => LossReason::ConnectionLost,
    }
}

/// Paths to run import chains over, by (source, attribute set): each group
/// is one policy call.
type ImportGroups = HashMap<(PeerId, usize), (Attrs, Vec<Nlri>)>;

/// Import verdicts by (source, NLRI).
type Verdicts = HashMap<(PeerId, Nlri), ImportVerdict>;

/// Group `paths` for [`Core::import_groups`].
fn group_by_attrs<'a>(paths: impl Iterator<Item = PathView<'a>>) -> ImportGroups {
    let mut groups = ImportGroups::new();
    for path in paths {
        groups
            .entry((path.source, path.received.addr()))
            .or_insert_with(|| (path.received.clone(), Vec::new()))
            .1
            .push(path.nlri());
    }
    groups
}

/// The verdict computed for a path being re-evaluated; a path with none
/// (unreachable: every retained path was grouped) fails closed.
fn take_verdict(verdicts: &mut Verdicts, info: &PeerInfo, nlri: &Nlri) -> ImportVerdict {
    verdicts
        .remove(&(info.id, *nlri))
        .unwrap_or_else(|| ImportVerdict::reject(RejectReason::new(POLICY_ERROR_CODE, POLICY_ERROR_TEXT)))
}

/// The interner is never swept below this many attribute sets.
const SWEEP_MIN: usize = 4096;

/// How long a client that comes back with held routes has to send its
/// End-of-RIB before the held routes it did not re-announce are withdrawn.
const END_OF_RIB_WAIT: Duration = Duration::from_secs(30);

/// Name policies and the API see for routes kumo originates.
pub const LOCAL_SOURCE: &str = "kumo";

impl Core {
    pub fn new(clients: Vec<ClientSlot>, pipeline: Pipeline, events_tx: mpsc::Sender<CoreEvent>) -> Self {
        Core {
            rib: Rib::new(),
            clients,
            pipeline,
            events_tx,
            out: OutChanges::default(),
            fanout: Fanout::default(),
            wakeups: WriterWakeups::direct(),
            burst: Vec::new(),
            verdicts: Vec::new(),
            local: None,
            recovering: false,
            static_hold: None,
        }
    }

    /// Wake the writers through a dispatcher task on `runtime`, where they
    /// run (see [`WriterWakeups`]), rather than one by one from the core's thread.
    pub fn wake_writers_on(&mut self, runtime: &tokio::runtime::Handle) {
        self.wakeups = WriterWakeups::dispatched(runtime);
    }

    /// The static-hold module (`None`: hold within declared windows only).
    pub fn set_static_hold(&mut self, module: Option<Arc<StaticHoldModule>>) {
        self.static_hold = module;
    }

    /// kumo has restarted: defer every client's table until the clients'
    /// End-of-RIB markers are in, or `wait` has passed.
    pub fn begin_recovery(&mut self, wait: Duration) {
        self.recovering = true;
        let tx = self.events_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let _ = tx.send(CoreEvent::RecoveryTimer).await;
        });
    }

    /// Still deferring tables after a restart?
    pub fn recovering(&self) -> bool {
        self.recovering
    }

    /// Every configured, enabled client is up and has sent End-of-RIB for
    /// each of its families (clients without Graceful Restart: being up is enough).
    fn recovery_complete(&self) -> bool {
        self.clients
            .iter()
            .filter(|s| !s.removed && !s.admin_down)
            .all(|s| {
                s.info.is_some()
                    && (s.graceful_restart.is_none()
                        || s.families.iter().all(|f| s.end_of_rib_in.contains(f)))
            })
    }

    fn end_recovery(&mut self, why: &str) {
        if !self.recovering {
            return;
        }
        self.recovering = false;
        self.distribute();
        let deferred: Vec<PeerId> = (0..self.clients.len() as u32)
            .map(PeerId)
            .filter(|p| self.clients[p.0 as usize].deferred)
            .collect();
        info!(
            clients = deferred.len(),
            "graceful restart recovery over ({why}): sending tables and End-of-RIB"
        );
        for peer in deferred {
            self.send_initial_table(peer);
        }
    }

    /// The client's whole table, then End-of-RIB per family.
    fn send_initial_table(&mut self, peer: PeerId) {
        let table = self.rib.initial_table(peer);
        let Some(slot) = self.clients.get_mut(peer.0 as usize) else {
            return;
        };
        slot.deferred = false;
        slot.outq
            .push(table.into_iter().map(|(nlri, attrs)| (nlri, Some(attrs))));
        for family in &slot.families {
            slot.outq.push_end_of_rib(*family);
        }
    }

    /// Process events until every sender is gone.
    pub async fn run(mut self, mut events: mpsc::Receiver<CoreEvent>, gate: Arc<UpdateGate>) {
        let taken = |event: &CoreEvent| {
            if event.is_update() {
                gate.taken();
            }
        };
        // Attribute sets no path uses any more (replaced, withdrawn) are
        // dropped from the interner whenever it has doubled since the last
        // sweep: memory stays within twice what the paths use, and the cost of
        // a sweep (one pass over the sets) is amortised over as many new ones.
        let mut sweep_at = SWEEP_MIN;
        while let Some(event) = events.recv().await {
            if self.rib.interner().len() >= sweep_at {
                let dropped = self.rib.interner().sweep();
                sweep_at = (2 * self.rib.interner().len()).max(SWEEP_MIN);
                tracing::debug!(dropped, next_at = sweep_at, "attribute interner swept");
            }
            taken(&event);
            self.queue(event);
            // Drain what is already queued before distributing, so a burst of
            // UPDATEs is fanned out in one batch per client.
            while let Ok(event) = events.try_recv() {
                taken(&event);
                self.queue(event);
                if self.out.route_changes() > BATCH_ROUTE_CHANGES {
                    break;
                }
            }
            self.apply_burst();
            self.distribute();
            self.wait_for_clients().await;
        }
    }

    /// Backpressure: while the clients' queues hold more than
    /// [`BACKLOG_HIGH`] route changes in all, stop taking events (sessions then
    /// stop reading their sockets, and TCP pushes back on the senders) until
    /// the writers bring it under [`BACKLOG_LOW`]. Producing faster than the
    /// clients read only grows memory: measured with 1,000 clients read by
    /// one starved harness, 12.7 GB of queued segments. A client behind
    /// everyone else by more than [`BEHIND`] route changes (or stalled with a
    /// backlog longer than the table) is coalesced instead of waited for, so
    /// one slow reader cannot hold the others back for long.
    async fn wait_for_clients(&mut self) {
        let (rib, clients) = (&self.rib, &self.clients);
        let backlog = || {
            let table = rib.paths_held();
            clients
                .iter()
                .filter(|s| s.info.is_some())
                .map(|s| s.outq.backlog(table, BEHIND))
                .sum()
        };
        wait_below(backlog, BACKLOG_HIGH, BACKLOG_LOW, Duration::from_millis(1)).await;
    }

    /// Take `event`: an UPDATE joins the burst (applied once
    /// [`BURST_UPDATES`] are in, or before any other event, which is then
    /// handled).
    fn queue(&mut self, event: CoreEvent) {
        match event {
            CoreEvent::Update {
                peer,
                update,
                treat_as_withdraw,
            } => {
                self.burst.push((peer, update, treat_as_withdraw));
                if self.burst.len() >= BURST_UPDATES {
                    self.apply_burst();
                }
            }
            other => {
                self.apply_burst();
                self.handle(other);
            }
        }
    }

    /// Handle `event` now.
    pub fn handle(&mut self, event: CoreEvent) {
        self.apply_burst();
        match event {
            CoreEvent::Established {
                peer,
                address,
                negotiated,
            } => self.established(peer, address, &negotiated),
            update @ CoreEvent::Update { .. } => {
                self.queue(update);
                self.apply_burst();
            }
            CoreEvent::Down { peer, reason } => self.down(peer, reason),
            CoreEvent::StaleTimer { peer, generation } => self.stale_timer(peer, generation),
            CoreEvent::RouteRefresh { peer, family } => self.route_refresh(peer, family),
            CoreEvent::RecoveryTimer => self.end_recovery("wait over"),
            CoreEvent::Job(job) => job(self),
        }
    }

    /// The RIB, for queries.
    pub fn rib(&self) -> &Rib {
        &self.rib
    }

    /// The configured clients, indexed by [`PeerId`].
    pub fn clients(&self) -> &[ClientSlot] {
        &self.clients
    }

    /// Declare (or with `None` cancel) a maintenance window for a client.
    pub fn declare_hold(&mut self, peer: PeerId, until: Option<SystemTime>) -> Option<HoldView> {
        let slot = self.clients.get_mut(peer.0 as usize)?;
        slot.hold_until = until;
        info!(client = %slot.config.name, ?until, "maintenance window {}", if until.is_some() { "declared" } else { "cancelled" });
        let stale = self.rib.counts(peer).stale as u64;
        Some(self.clients[peer.0 as usize].hold_view(stale))
    }

    /// Mark a client shut down (or enabled); returns the previous setting.
    pub fn set_admin_down(&mut self, peer: PeerId, down: bool) -> bool {
        match self.clients.get_mut(peer.0 as usize) {
            Some(slot) => std::mem::replace(&mut slot.admin_down, down),
            None => false,
        }
    }

    fn slot(&mut self, peer: PeerId) -> Option<&mut ClientSlot> {
        self.clients.get_mut(peer.0 as usize)
    }

    fn established(&mut self, peer: PeerId, address: IpAddr, negotiated: &Negotiated) {
        // Changes computed for earlier sessions must not be queued after this
        // session's initial table.
        self.distribute();
        let Some(slot) = self.clients.get_mut(peer.0 as usize).filter(|s| !s.removed) else {
            return;
        };
        let info = PeerInfo {
            id: peer,
            name: slot.config.name.as_str().into(),
            asn: negotiated.peer_asn,
            bgp_id: negotiated.peer_id,
            address,
            families: negotiated.families.clone(),
            add_path_tx: negotiated.add_path_tx.clone(),
        };
        slot.info = Some(info.clone());
        slot.families = negotiated.families.clone();
        // What the helper side of Graceful Restart (RFC 4724 §4.2) keeps if this session is lost.
        slot.graceful_restart = negotiated
            .peer_graceful_restart
            .as_ref()
            .map(|gr| (gr.families.iter().map(|f| f.afi_safi).collect(), gr.restart_time));
        slot.max_prefix_warned = false;
        slot.end_of_rib_in.clear();
        slot.outq.clear();
        if self.pipeline.mark_source(peer, None) {
            self.rib.reevaluate_export(&self.pipeline, &mut self.out);
        }
        let Some(slot) = self.clients.get_mut(peer.0 as usize) else {
            return;
        };
        // Held routes (GR, static-hold) wait for the client's End-of-RIB; a
        // client that sends none (BIRD without GR) must not keep them until
        // the hold runs out: purge what it has not re-announced after a while.
        if let Some((_, generation)) = slot.stale {
            let tx = self.events_tx.clone();
            let name = slot.config.name.clone();
            tokio::spawn(async move {
                tokio::time::sleep(END_OF_RIB_WAIT).await;
                tracing::debug!(client = %name, "no End-of-RIB in time: purging held routes not re-announced");
                let _ = tx.send(CoreEvent::StaleTimer { peer, generation }).await;
            });
        }
        self.rib.peer_up(info, &mut self.out);
        if self.recovering {
            self.clients[peer.0 as usize].deferred = true;
            if self.recovery_complete() {
                self.end_recovery("every client is back");
            }
            return;
        }
        // Initial table, then End-of-RIB per family (RFC 4724 §2: sent even
        // without GR, harmless and useful to the client).
        self.send_initial_table(peer);
    }

    fn route_refresh(&mut self, peer: PeerId, family: AfiSafi) {
        let Some(slot) = self.clients.get(peer.0 as usize).filter(|s| s.info.is_some()) else {
            return;
        };
        let table = self.rib.initial_table(peer);
        slot.outq.push(
            table
                .into_iter()
                .filter(|(nlri, _)| family_of(nlri) == family)
                .map(|(nlri, attrs)| (nlri, Some(attrs))),
        );
    }

    /// Apply the UPDATEs of the burst, in order, as if one by one: the
    /// import chains run over all their attribute sets at once (a batching
    /// module is called once for all), and the export decisions for every
    /// accepted set are asked at once too. Policy answers depend on the
    /// route and the policy state only, never on the RIB, and every event
    /// that changes the policy state or a client's session ends a burst, so
    /// asking first and applying after gives what one by one gives.
    fn apply_burst(&mut self) {
        if self.burst.is_empty() {
            return;
        }
        let mut burst = std::mem::take(&mut self.burst);
        self.pipeline.refresh();
        // Each UPDATE from a client that is up, with its announcements.
        let mut updates: Vec<Taken> = Vec::with_capacity(burst.len());
        for (peer, update, treat_as_withdraw) in burst.drain(..) {
            let Some(info) = self.clients.get(peer.0 as usize).and_then(|s| s.info.clone()) else {
                continue; // not Established any more: stale event from a closed session
            };
            let mut update = *update;
            // Told before the announcements are taken out (an UPDATE left
            // empty would read as the IPv4 End-of-RIB).
            let end_of_rib = update.end_of_rib();
            let announcements = match treat_as_withdraw || end_of_rib.is_some() {
                true => Announcements::new(),
                false => self.announcements(&mut update),
            };
            updates.push(Taken {
                info,
                update,
                end_of_rib,
                treat_as_withdraw,
                announcements,
            });
        }
        self.burst = burst;
        let asks: Vec<ImportAsk<'_>> = updates
            .iter()
            .flat_map(|taken| {
                taken.announcements.iter().map(|(received, nlri)| ImportAsk {
                    peer: &taken.info,
                    received,
                    prefixes: nlri,
                })
            })
            .collect();
        let mut verdicts = std::mem::take(&mut self.verdicts);
        self.pipeline
            .import_many(&asks, self.rib.interner(), &mut verdicts);
        let decisions = ask_export(&self.pipeline, &asks, &verdicts);
        drop(asks);
        let mut verdicts_of = verdicts.iter_mut();
        for taken in updates {
            let these = verdicts_of.by_ref().take(taken.announcements.len());
            self.apply_update(taken, these, &decisions);
        }
        self.verdicts = verdicts;
    }

    /// The announcements of `update` (its attributes and NLRI taken out),
    /// attributes interned: those of MP_REACH_NLRI first, then the classic
    /// NLRI's.
    fn announcements(&mut self, update: &mut Update) -> Announcements {
        let mut out = Announcements::new();
        // LOCAL_PREF is never part of what a route server passes on (all eBGP).
        update.attributes.local_pref = None;
        let nlri = std::mem::take(&mut update.nlri);
        if let Some(reach) = update.mp_reach.as_mut() {
            let mut attrs = if nlri.is_empty() {
                std::mem::take(&mut update.attributes)
            } else {
                update.attributes.clone()
            };
            let mp_next_hop = match reach.next_hop {
                // An IPv4 route carried in MP_REACH is stored like a classic one.
                MpNextHop::V4(addr) if reach.afi_safi.afi == Afi::Ipv4 => {
                    attrs.next_hop = Some(addr);
                    None
                }
                other => {
                    attrs.next_hop = None;
                    Some(other)
                }
            };
            let received = self.rib.interner().intern(RouteAttrs::new(attrs, mp_next_hop));
            out.push((received, std::mem::take(&mut reach.nlri)));
        }
        if !nlri.is_empty() {
            let attrs = std::mem::take(&mut update.attributes);
            let received = self.rib.interner().intern(RouteAttrs::new(attrs, None));
            out.push((received, nlri));
        }
        out
    }

    /// Apply one UPDATE of a burst: its withdrawals, then its
    /// `announcements` with their import `verdicts` and the burst's export
    /// `decisions`.
    fn apply_update<'v>(
        &mut self,
        taken: Taken,
        verdicts: impl Iterator<Item = &'v mut Vec<ImportVerdict>>,
        decisions: &ExportDecisions,
    ) {
        let Taken {
            info,
            update,
            end_of_rib,
            treat_as_withdraw,
            announcements,
        } = taken;
        let peer = info.id;
        if let Some(family) = end_of_rib {
            self.end_of_rib(peer, family);
            return;
        }
        let Update {
            withdrawn,
            mp_reach,
            mp_unreach,
            nlri,
            ..
        } = update;
        for n in withdrawn
            .iter()
            .chain(mp_unreach.iter().flat_map(|u| u.nlri.iter()))
        {
            let _ = self.rib.withdraw(peer, *n, &mut self.out);
        }
        if treat_as_withdraw {
            // RFC 7606 §2: the prefixes of a malformed UPDATE are withdrawn.
            for n in nlri.iter().chain(mp_reach.iter().flat_map(|r| r.nlri.iter())) {
                let _ = self.rib.withdraw(peer, *n, &mut self.out);
            }
            return;
        }
        let decided = Decided {
            decisions,
            pipeline: &self.pipeline,
        };
        for ((received, nlri), verdicts) in announcements.into_iter().zip(verdicts) {
            for (n, verdict) in nlri.iter().zip(verdicts.drain(..)) {
                // Only fails for a peer that is not up, which the burst ruled out.
                let _ = self
                    .rib
                    .announce(peer, *n, received.clone(), verdict, &decided, &mut self.out);
            }
        }
        self.check_max_prefix(peer);
    }

    fn end_of_rib(&mut self, peer: PeerId, family: AfiSafi) {
        let Some(slot) = self.slot(peer) else { return };
        if !slot.end_of_rib_in.contains(&family) {
            slot.end_of_rib_in.push(family);
        }
        if self.recovering && self.recovery_complete() {
            self.end_recovery("every client's End-of-RIB is in");
        }
        let Some(slot) = self.slot(peer) else { return };
        let Some((families, _)) = slot.stale.as_mut() else {
            return;
        };
        families.retain(|f| *f != family);
        let done = families.is_empty();
        if done {
            slot.stale = None;
            slot.held_until = None;
        }
        let purged = self.rib.purge_stale(peer, Some(family), &mut self.out);
        if purged > 0 {
            info!(client = %self.clients[peer.0 as usize].config.name, ?family, purged, "End-of-RIB: stale routes removed");
        }
    }

    fn down(&mut self, peer: PeerId, reason: DownReason) {
        self.distribute();
        let Some(slot) = self.clients.get_mut(peer.0 as usize) else {
            return;
        };
        let Some(info) = slot.info.take() else { return };
        slot.outq.clear();
        slot.generation += 1;
        let now = SystemTime::now();
        let graceful_restart = slot.graceful_restart.take();
        let window = slot
            .hold_until
            .filter(|until| *until > now)
            .and_then(|until| until.duration_since(now).ok());
        // Static-hold (DESIGN §3): the static-hold module decides whether the
        // session's routes are held, for how long and marked how.
        let counts = self.rib.counts(peer);
        let loss = SessionLoss {
            client_id: peer.0,
            client_name: info.name.to_string(),
            asn: info.asn,
            reason: loss_reason(&reason, slot.admin_down),
            window: window.map(|w| u32::try_from(w.as_secs().max(1)).unwrap_or(u32::MAX)),
            graceful_restart: graceful_restart.as_ref().map(|(_, t)| *t),
            routes_ipv4: u32::try_from(counts.ipv4.received).unwrap_or(u32::MAX),
            routes_ipv6: u32::try_from(counts.ipv6.received).unwrap_or(u32::MAX),
        };
        let decision = match &self.static_hold {
            Some(module) => module.decide_or_withdraw(&loss),
            // No module configured: hold within a declared window only.
            None => match loss.window {
                Some(seconds) if !slot.admin_down => HoldDecision::Hold {
                    seconds,
                    marking: Marking::None,
                },
                _ => HoldDecision::WithdrawNow,
            },
        };
        // GR applies when the transport failed without a NOTIFICATION (RFC 4724 §4.2).
        let retain = match (decision, &reason, graceful_restart) {
            (HoldDecision::Hold { seconds, marking }, _, _) => Some((
                slot.families.clone(),
                Duration::from_secs(u64::from(seconds)),
                marking.community(),
                "static-hold",
            )),
            (HoldDecision::WithdrawNow, DownReason::ConnectionLost, Some((families, restart_time))) => {
                Some((
                    families,
                    Duration::from_secs(u64::from(restart_time)),
                    None,
                    "Graceful Restart helper",
                ))
            }
            _ => None,
        };
        match retain {
            Some((families, keep_for, marking, why)) if !families.is_empty() => {
                let generation = slot.generation;
                slot.stale = Some((families.clone(), generation));
                slot.held_until = Some(now + keep_for);
                // Routes of families not retained are withdrawn now.
                let held = self.rib.mark_stale(peer, &families, &mut self.out);
                info!(client = %info.name, held, seconds = keep_for.as_secs(), reason = %reason, ?marking, "session lost; {why} keeps its routes");
                if self.pipeline.mark_source(peer, marking) {
                    self.rib.reevaluate_export(&self.pipeline, &mut self.out);
                }
                let tx = self.events_tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(keep_for).await;
                    let _ = tx.send(CoreEvent::StaleTimer { peer, generation }).await;
                });
            }
            _ => {
                slot.stale = None;
                self.rib.peer_down(peer, &mut self.out);
            }
        }
    }

    fn stale_timer(&mut self, peer: PeerId, generation: u64) {
        let Some(slot) = self.slot(peer) else { return };
        if !matches!(slot.stale, Some((_, g)) if g == generation) {
            return;
        }
        slot.stale = None;
        slot.held_until = None;
        let purged = self.rib.purge_stale(peer, None, &mut self.out);
        warn!(client = %self.clients[peer.0 as usize].config.name, purged, "Graceful Restart timer expired: stale routes removed");
    }

    fn check_max_prefix(&mut self, peer: PeerId) {
        let Some(slot) = self.clients.get_mut(peer.0 as usize) else {
            return;
        };
        let Some(limits) = slot.config.max_prefix.as_ref() else {
            return;
        };
        let counts = self.rib.counts(peer);
        for (family, limit, received) in [
            (AfiSafi::IPV4_UNICAST, limits.ipv4, counts.ipv4.received),
            (AfiSafi::IPV6_UNICAST, limits.ipv6, counts.ipv6.received),
        ] {
            let Some(limit) = limit else { continue };
            if received <= limit as usize {
                continue;
            }
            match limits.action {
                MaxPrefixAction::Warn => {
                    if !slot.max_prefix_warned {
                        warn!(client = %slot.config.name, ?family, received, limit, "max-prefix exceeded (action warn)");
                        slot.max_prefix_warned = true;
                    }
                }
                MaxPrefixAction::Shutdown | MaxPrefixAction::Restart => {
                    let restart = (limits.action == MaxPrefixAction::Restart)
                        .then(|| Duration::from_secs(limits.restart_after));
                    warn!(client = %slot.config.name, ?family, received, limit, ?restart, "max-prefix exceeded: closing session");
                    let afi = match family.afi {
                        Afi::Ipv4 => 1,
                        Afi::Ipv6 => 2,
                        Afi::Other(x) => x,
                    };
                    let notification = Notification::max_prefix(afi, 1, limit);
                    // try_send: the peer task may be busy; a full queue means it is already stopping.
                    let _ = slot.commands.try_send(PeerCommand::Stop {
                        notification,
                        restart_after: restart,
                    });
                    return;
                }
            }
        }
    }

    /// The policy stages.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Import verdicts for every path `peer` holds in its Adj-RIB-In, under
    /// the pipeline's current chains, one policy call per attribute set.
    fn import_all(&mut self, peer: PeerId) -> Verdicts {
        let groups = group_by_attrs(self.rib.adj_rib_in(peer));
        self.import_groups(groups)
    }

    /// Import verdicts for paths grouped by [`group_by_attrs`], one import
    /// question per (source, attribute set), asked [`REEVALUATE_SETS`] at a
    /// time (a module that answers in batches gets them in few calls).
    fn import_groups(&mut self, groups: ImportGroups) -> Verdicts {
        let mut verdicts = HashMap::new();
        let groups: Vec<(PeerInfo, Attrs, Vec<Nlri>)> = groups
            .into_iter()
            .filter_map(|((source, _), (received, nlri))| {
                Some((self.rib.peer_info(source).cloned()?, received, nlri))
            })
            .collect();
        let mut batch = Vec::new();
        for chunk in groups.chunks(REEVALUATE_SETS) {
            let asks: Vec<ImportAsk<'_>> = chunk
                .iter()
                .map(|(info, received, nlri)| ImportAsk {
                    peer: info,
                    received,
                    prefixes: nlri,
                })
                .collect();
            self.pipeline.import_many(&asks, self.rib.interner(), &mut batch);
            for ((info, _, nlri), answers) in chunk.iter().zip(batch.iter_mut()) {
                verdicts.extend(nlri.iter().map(|n| (info.id, *n)).zip(answers.drain(..)));
            }
        }
        verdicts
    }

    /// Clients whose import chain uses module `name`, and that hold paths.
    fn importers_of(&self, name: &str) -> Vec<PeerId> {
        (0..self.clients.len() as u32)
            .map(PeerId)
            .filter(|p| self.rib.peer_info(*p).is_some() && self.pipeline.imports_with(*p, name))
            .collect()
    }

    /// After module `name` changed in the registry: run the chains that use
    /// it again over the retained paths and send the clients only the difference.
    pub fn apply_policy_change(&mut self, name: &str) -> PolicyChange {
        self.pipeline.refresh();
        let importers = self.importers_of(name);
        let export = self.pipeline.exports_with(name);
        self.reevaluate(importers, export)
    }

    /// Run the import chains of `importers` and (with `export`) every export
    /// decision again, and send the clients the difference.
    fn reevaluate(&mut self, importers: Vec<PeerId>, export: bool) -> PolicyChange {
        let mut change = PolicyChange::default();
        for peer in importers {
            let mut verdicts = self.import_all(peer);
            change.routes_reevaluated += verdicts.len() as u64;
            let mut lookup =
                |info: &PeerInfo, nlri: &Nlri, _: &Attrs| take_verdict(&mut verdicts, info, nlri);
            change.changed +=
                self.rib
                    .reevaluate_import(Some(peer), &mut lookup, &self.pipeline, &mut self.out)
                    as u64;
        }
        if export {
            // From the per-peer counters: walking the table only to count it
            // cost a pass over every path before the export walks.
            change.routes_reevaluated += self.rib.paths_held() as u64;
            change.changed += self.reevaluate_export_sending() as u64;
        }
        self.distribute();
        change
    }

    /// Every export decision asked again, and the changes sent a part of
    /// the table at a time (see `Rib::reevaluate_export_in_steps`), after
    /// what was pending: clients receive the first parts while kumo decides
    /// the next. Returns the number of paths whose decision changed.
    fn reevaluate_export_sending(&mut self) -> usize {
        let Core {
            rib,
            pipeline,
            out,
            fanout,
            wakeups,
            clients,
            ..
        } = self;
        let changed =
            rib.reevaluate_export_in_steps(pipeline, out, |out| send_changes(out, fanout, wakeups, clients));
        // The parts reused one buffer; this trims it.
        self.distribute();
        changed
    }

    /// After the RPKI data changed: run the import chains again over the
    /// retained paths of the prefixes `affected` selects (those a changed
    /// VRP covers), from every client, one policy call per (client,
    /// attribute set), and send the clients only the difference.
    pub fn revalidate(&mut self, affected: &dyn Fn(&IpNet) -> bool) -> PolicyChange {
        let groups = group_by_attrs(self.rib.paths_where(affected));
        let mut verdicts = self.import_groups(groups);
        let mut change = PolicyChange {
            routes_reevaluated: verdicts.len() as u64,
            ..PolicyChange::default()
        };
        let mut lookup = |info: &PeerInfo, nlri: &Nlri, _: &Attrs| take_verdict(&mut verdicts, info, nlri);
        change.changed =
            self.rib
                .reevaluate_import_where(affected, &mut lookup, &self.pipeline, &mut self.out)
                as u64;
        self.distribute();
        change
    }

    /// The source of kumo's own routes, created on first use.
    fn local_source(&mut self, asn: u32, router_id: std::net::Ipv4Addr) -> PeerInfo {
        if let Some(info) = &self.local {
            return info.clone();
        }
        let config = Arc::new(Client::new(LOCAL_SOURCE, asn, Vec::new()));
        let (commands, _) = mpsc::channel(1);
        let mut slot = ClientSlot::new(
            config,
            Arc::new(OutQueue::new()),
            Arc::new(SessionStatus::default()),
            commands,
        );
        slot.removed = true;
        let id = self.add_client(slot);
        let info = PeerInfo {
            id,
            name: LOCAL_SOURCE.into(),
            asn,
            bgp_id: router_id,
            address: IpAddr::V4(router_id),
            families: vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST],
            add_path_tx: Vec::new(),
        };
        self.rib.peer_up(info.clone(), &mut self.out);
        self.pipeline.add_source(local_ctx(&info));
        self.local = Some(info.clone());
        info
    }

    /// Originate a route from kumo itself (replacing an earlier one for the
    /// prefix); it is exported through the clients' export chains. Returns
    /// the number of clients the change is sent to.
    pub fn originate(
        &mut self,
        asn: u32,
        router_id: std::net::Ipv4Addr,
        prefix: IpNet,
        attrs: RouteAttrs,
    ) -> usize {
        let info = self.local_source(asn, router_id);
        let attrs = self.rib.interner().intern(attrs);
        let before = self.out.len();
        let _ = self.rib.announce(
            info.id,
            Nlri {
                prefix,
                path_id: None,
            },
            attrs.clone(),
            ImportVerdict::accept(attrs),
            &self.pipeline,
            &mut self.out,
        );
        let sent = self.out.len() - before;
        self.distribute();
        sent
    }

    /// Withdraw a route kumo originated; `None` if there is none.
    pub fn withdraw_originated(&mut self, prefix: IpNet) -> Option<usize> {
        let local = self.local.as_ref()?.id;
        let nlri = Nlri {
            prefix,
            path_id: None,
        };
        self.rib.adj_rib_in(local).find(|p| p.nlri() == nlri)?;
        let before = self.out.len();
        let _ = self.rib.withdraw(local, nlri, &mut self.out);
        let sent = self.out.len() - before;
        self.distribute();
        Some(sent)
    }

    /// Shutting down with a drain: send every client every route again with
    /// GRACEFUL_SHUTDOWN added. Returns the number of paths re-announced.
    pub fn start_drain(&mut self) -> usize {
        self.pipeline.start_drain();
        self.reevaluate_export_sending()
    }

    /// Add a client (from a configuration reload); returns its id.
    pub fn add_client(&mut self, slot: ClientSlot) -> PeerId {
        self.clients.push(slot);
        PeerId(self.clients.len() as u32 - 1)
    }

    /// Remove a client (from a configuration reload): its routes are
    /// withdrawn now, whatever hold was declared; its id is never reused.
    pub fn remove_client(&mut self, peer: PeerId) {
        self.distribute();
        let Some(slot) = self.clients.get_mut(peer.0 as usize) else {
            return;
        };
        slot.removed = true;
        slot.admin_down = true;
        slot.hold_until = None;
        slot.held_until = None;
        slot.stale = None;
        slot.generation += 1;
        slot.info = None;
        slot.outq.clear();
        self.rib.peer_down(peer, &mut self.out);
        self.distribute();
    }

    /// Replace a client's configuration where no session reset is needed
    /// (policy chains, parameters, limits, description).
    pub fn update_client(&mut self, peer: PeerId, config: Arc<Client>) {
        if let Some(slot) = self.clients.get_mut(peer.0 as usize) {
            slot.config = config;
        }
    }

    /// Build the policy stages again from the current clients (after a
    /// reload) and re-evaluate every retained path under them.
    pub fn rebuild_pipeline(&mut self) -> PolicyChange {
        let clients: Vec<(PeerId, &Client)> = self
            .clients
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.removed)
            .map(|(i, s)| (PeerId(i as u32), &*s.config))
            .collect();
        let rebuilt = Pipeline::for_clients(
            &clients,
            self.pipeline.registry().clone(),
            &self.pipeline.engine().clone(),
            self.pipeline.observer().cloned(),
        );
        let old = std::mem::replace(&mut self.pipeline, rebuilt);
        self.pipeline.keep_marks_of(&old);
        drop(old);
        if let Some(local) = &self.local {
            self.pipeline.add_source(local_ctx(local));
        }
        let importers = (0..self.clients.len() as u32)
            .map(PeerId)
            .filter(|p| self.rib.peer_info(*p).is_some())
            .collect();
        self.reevaluate(importers, true)
    }

    /// What replacing module `candidate.name()` with `candidate` would change,
    /// without changing anything.
    pub fn dry_run_policy(&mut self, candidate: Arc<PolicyModule>) -> PolicyChange {
        let name = candidate.name().to_owned();
        self.pipeline.set_override(Some(candidate));
        let mut change = PolicyChange::default();
        for peer in self.importers_of(&name) {
            let verdicts = self.import_all(peer);
            change.routes_reevaluated += verdicts.len() as u64;
            let mut flips = Vec::new();
            for path in self.rib.adj_rib_in(peer) {
                let Some(new) = verdicts.get(&(peer, path.nlri())) else {
                    continue;
                };
                let (was_accepted, same) = match (path.verdict, new) {
                    (
                        VerdictView::Accepted {
                            attrs, local_pref, ..
                        },
                        ImportVerdict::Accept {
                            attrs: new_attrs,
                            local_pref: new_pref,
                        },
                    ) => (true, attrs == new_attrs && local_pref == *new_pref),
                    (VerdictView::Rejected(reason), ImportVerdict::Reject(new_reason)) => (
                        false,
                        reason.code == new_reason.code && reason.text == new_reason.text,
                    ),
                    (VerdictView::Accepted { .. }, _) => (true, false),
                    (VerdictView::Rejected(_), _) => (false, false),
                };
                if !same {
                    change.changed += 1;
                    if was_accepted != matches!(new, ImportVerdict::Accept { .. }) {
                        flips.push(VerdictFlip {
                            nlri: path.nlri(),
                            was_accepted,
                            verdict: new.clone(),
                        });
                    }
                }
            }
            change.flips.push((peer, flips));
        }
        if self.pipeline.exports_with(&name) {
            for peer in (0..self.clients.len() as u32).map(PeerId) {
                let Some(info) = self.rib.peer_info(peer) else {
                    continue;
                };
                for path in self.rib.adj_rib_in(peer) {
                    if let VerdictView::Accepted { attrs, export, .. } = path.verdict {
                        change.routes_reevaluated += 1;
                        let new = self.pipeline.targets(info, &path.prefix, attrs);
                        let same = (new.is_all() && export.is_all()) || new == *export;
                        change.changed += u64::from(!same);
                        if same {
                            continue;
                        }
                        // Which receivers would gain or lose this path.
                        for (i, slot) in self.clients.iter().enumerate() {
                            let receiver = PeerId(i as u32);
                            if receiver == peer || slot.removed {
                                continue;
                            }
                            let (was, now) = (export.targets.allows(receiver), new.targets.allows(receiver));
                            if was != now {
                                change.export_flips.push(ExportFlip {
                                    receiver,
                                    nlri: path.nlri(),
                                    source: peer,
                                    was_exported: was,
                                });
                            }
                        }
                    }
                }
            }
        }
        self.pipeline.set_override(None);
        change
    }

    /// Hand the accumulated changes to the clients' output queues.
    ///
    /// Update groups, formed on the fly: the RIB emits a prefix's changes for
    /// all receivers together, stored as one change per route with its
    /// receivers ([`OutChanges`]). The changes with the same receivers (at
    /// an IXP: everyone but the announcing client, or everyone but the
    /// source and the client an action community names) form a run, even
    /// when other receivers' changes came between them
    /// ([`OutChanges::runs`]); the runs are cut into the pieces of one
    /// segment, and every receiver's queue gets one share of it (the pieces
    /// of its runs), one push per client and batch. Each client still gets
    /// exactly its changes, those of one NLRI in the order the RIB emitted
    /// them.
    pub fn distribute(&mut self) {
        send_changes(&mut self.out, &mut self.fanout, &mut self.wakeups, &self.clients);
        // Keep the buffer's capacity for the next batch, unless a rare big
        // one (a policy change re-evaluating every path) grew it: measured,
        // that capacity stayed allocated for the life of the process (5.6 MB
        // after 100,000 paths, 40 MB after a P3 policy change).
        if self.out.capacity() > OUT_KEEP {
            self.out = OutChanges::default();
        }
    }
}

/// [`Core::distribute`] but for the buffer's capacity, which it keeps: over
/// the fields it needs, so that it can run while the RIB is borrowed
/// (between the parts of a policy change). Leaves `out` empty.
fn send_changes(
    out: &mut OutChanges,
    fanout: &mut Fanout,
    wakeups: &mut WriterWakeups,
    clients: &[ClientSlot],
) {
    if out.is_empty() {
        return;
    }
    for run in out.runs() {
        fanout.run(
            run.routes.into_iter().map(|(n, a)| (n, a.clone())),
            run.receivers.iter().map(|client| client.0 as usize),
        );
    }
    fanout.finish(|i, share| {
        if let Some(slot) = clients.get(i)
            && slot.info.is_some()
            && !slot.deferred
        {
            slot.outq.push_shared_quietly([share]);
            wakeups.add(&slot.outq);
        }
    });
    wakeups.wake();
    out.clear();
}

/// Returns at once if `backlog()` is at most `high`; otherwise polls every
/// `poll` until it is at most `low`. The gap between the marks keeps the core
/// from flapping between waiting and producing one batch at a time.
async fn wait_below(mut backlog: impl FnMut() -> usize, high: usize, low: usize, poll: Duration) {
    let mut limit = high;
    while backlog() > limit {
        limit = low;
        tokio::time::sleep(poll).await;
    }
}

/// Backpressure bounds, in route changes queued in shared segments summed
/// over all clients: stop taking events above the high mark, resume under
/// the low. The segments are shared, so memory follows the gap between the
/// fastest and the slowest reader rather than this sum; at 1,000 clients the
/// high mark lets each fall 32k route changes (8 batches) behind the core.
/// (Until session 15 the marks counted queued segment pointers, 4M/2M, with
/// a segment per run of a batch: measured in session 13, 16M/8M pointers
/// held kumo's peak at 425 MiB at P6 1,000 x 1k, 4M/2M at 252 MiB.)
const BACKLOG_HIGH: usize = 32 << 20;
const BACKLOG_LOW: usize = 16 << 20;
/// Route changes a client behind everyone else may wait for before it is
/// coalesced rather than waited for (below the low mark, so that one client
/// alone cannot keep the core waiting).
const BEHIND: usize = BACKLOG_LOW / 2;

/// Route changes after which a burst of events is distributed before the
/// next is taken. Counted once per route change whatever its receivers:
/// bounded by (client, route) changes instead (65,536 until session 13), a
/// batch held 65 routes at 1,000 clients, and every client's queue was
/// locked and its writer woken once per 65 routes.
const BATCH_ROUTE_CHANGES: usize = 4096;

/// Entries (route changes, receiver ids listed) whose buffers are kept
/// between batches: a batch of `BATCH_ROUTE_CHANGES` with a few receivers
/// listed per change.
const OUT_KEEP: usize = 16 * 1024;

/// UPDATEs applied together (see [`Core::apply_burst`]): a burst's import
/// and export questions go to a policy in one call each (one call per UPDATE
/// of ~3 prefixes cost more than the policy's own work), and the burst is
/// short enough that a batch per client stays small (P1: one UPDATE from
/// each of up to 64 sessions).
const BURST_UPDATES: usize = 64;

/// One UPDATE of a burst, from a client that is up, ready to apply.
struct Taken {
    info: PeerInfo,
    /// What is left of the UPDATE once its announcements are taken out.
    update: Update,
    end_of_rib: Option<AfiSafi>,
    treat_as_withdraw: bool,
    announcements: Announcements,
}

/// Attribute sets whose import is asked at once when paths are evaluated
/// again (a policy or RPKI/IRR data change): bounds the prefixes held for
/// one round of questions.
const REEVALUATE_SETS: usize = 1024;

/// The announcements of one UPDATE: (received attributes, interned; NLRI).
type Announcements = SmallVec<[(Attrs, Vec<Nlri>); 2]>;

/// Export decisions asked in advance for the accepted prefixes of a burst,
/// by (source, prefix, attribute set's address), with the set itself: held,
/// so that no other set can take its address while the burst is applied.
type ExportDecisions = FastMap<(PeerId, IpNet, usize), (Attrs, ExportDecision)>;

/// The export decisions for every accepted prefix of `asks` (with their
/// import `verdicts`): one question per accepted attribute set.
fn ask_export(
    pipeline: &Pipeline,
    asks: &[ImportAsk<'_>],
    verdicts: &[Vec<ImportVerdict>],
) -> ExportDecisions {
    let mut decisions = FastMap::default();
    let mut sets: Vec<(&PeerInfo, &Attrs, Vec<IpNet>)> = Vec::new();
    for (ask, verdicts) in asks.iter().zip(verdicts) {
        let first = sets.len();
        for (n, verdict) in ask.prefixes.iter().zip(verdicts) {
            if let ImportVerdict::Accept { attrs, .. } = verdict {
                match sets[first..].iter_mut().find(|(_, a, _)| Attrs::ptr_eq(a, attrs)) {
                    Some((_, _, prefixes)) => prefixes.push(n.prefix),
                    None => sets.push((ask.peer, attrs, vec![n.prefix])),
                }
            }
        }
    }
    let questions: Vec<ExportSet<'_>> = sets
        .iter()
        .map(|(source, attrs, prefixes)| ExportSet {
            source,
            attrs,
            prefixes,
        })
        .collect();
    let mut answers = Vec::new();
    // Without one answer per prefix, each prefix asks the pipeline alone.
    decide_sets(pipeline, &questions, &mut answers);
    let mut answers = answers.into_iter();
    for (source, attrs, prefixes) in &sets {
        let key = attrs.addr();
        for (prefix, decision) in prefixes.iter().zip(answers.by_ref()) {
            decisions.insert((source.id, *prefix, key), ((*attrs).clone(), decision));
        }
    }
    decisions
}

/// The RIB's export policy while a burst's UPDATEs are applied: the
/// decisions asked in advance; anything not asked for goes to the pipeline.
struct Decided<'a> {
    decisions: &'a ExportDecisions,
    pipeline: &'a Pipeline,
}

impl ExportPolicy for Decided<'_> {
    fn targets(&self, source: &PeerInfo, prefix: &IpNet, attrs: &Attrs) -> ExportDecision {
        match self.decisions.get(&(source.id, *prefix, attrs.addr())) {
            Some((_, decision)) => decision.clone(),
            None => self.pipeline.targets(source, prefix, attrs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_update_gate_closes_at_the_high_mark_and_opens_at_the_low() {
        let gate = Arc::new(UpdateGate::default());
        for _ in 0..GATE_HIGH - 1 {
            gate.sent();
        }
        assert!(gate.is_open());
        gate.sent();
        assert!(!gate.is_open());
        // A session waiting at the closed gate.
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.wait_open().await }
        });
        for _ in 0..GATE_HIGH - GATE_LOW - 1 {
            gate.taken();
        }
        // Still above the low mark: closed, even though below the high one.
        assert!(!gate.is_open());
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        gate.taken();
        assert!(gate.is_open());
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the waiting session is woken")
            .expect("task");
        // Sent again below the high mark: open; the count never goes negative.
        gate.sent();
        assert!(gate.is_open());
        for _ in 0..2 * GATE_HIGH {
            gate.taken();
        }
        assert_eq!(gate.state.load(Ordering::Acquire), 0);
    }

    /// Polls `wait_below` over a backlog that the "writers" drain by one step
    /// per poll; returns the backlog values it read.
    async fn reads(start: usize, step: usize) -> Vec<usize> {
        let mut seen = Vec::new();
        let mut now = start;
        let backlog = || {
            seen.push(now);
            let read = now;
            now = now.saturating_sub(step);
            read
        };
        wait_below(backlog, 10, 4, Duration::from_micros(100)).await;
        seen
    }

    #[tokio::test]
    async fn backpressure_waits_from_the_high_mark_down_to_the_low_one() {
        // At or under the high mark: no wait at all.
        assert_eq!(reads(10, 1).await, [10]);
        assert_eq!(reads(0, 1).await, [0]);
        // Over it: waits until the low mark, not merely back under the high one.
        assert_eq!(reads(12, 2).await, [12, 10, 8, 6, 4]);
        assert_eq!(reads(11, 5).await, [11, 6, 1]);
    }
}
