//! RTR client task: keeps a [`RpkiSnapshot`] in sync with an RPKI cache (RFC 8210, and the
//! version 2 draft with ASPA when the cache speaks it).
//!
//! The protocol itself is the `rpki` crate's [`rpki::rtr::client::Client`]; this module supplies
//! its payload target (which turns each complete Cache Response into a new immutable snapshot and
//! the VRP delta), reconnects with exponential backoff, resumes with a Serial Query when the cache
//! still knows our session, and applies the stale-data policy while no cache is reachable.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use ipnet::IpNet;
use rpki::rtr::client::{Client, PayloadError, PayloadTarget, PayloadUpdate};
use rpki::rtr::payload::{Action, Payload, RouteOrigin, Timing};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::table::{RoaTable, RovState, Vrp, VrpDelta};

/// ASPA records: customer AS → sorted provider ASes.
pub type Aspas = BTreeMap<u32, Vec<u32>>;

/// What to do with the data of a cache that can no longer be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StaleData {
    /// Keep validating with the last data until the cache's Expire Interval (RFC 8210 §6,
    /// default 7200 s) has passed since the last successful update, then drop it (every route
    /// becomes NotFound). Default.
    #[default]
    KeepUntilExpire,
    /// Keep the last data until a cache answers again, however long that takes.
    KeepForever,
    /// Drop the data as soon as the connection is lost.
    DiscardOnDisconnect,
}

/// Where the published data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheStatus {
    /// No cache has answered yet: the table is empty and every route validates NotFound. A
    /// caller that prefers to hold routes until RPKI data exists (rather than accept them as
    /// NotFound) can check this and defer its import decisions.
    NeverSynced,
    /// The data is the cache's (possibly kept after the cache went away, see [`StaleData`]).
    Synced,
    /// Data was dropped by the [`StaleData`] policy: empty table again.
    Dropped,
}

/// One published state of the ROA (and ASPA) data. Immutable; share it as `Arc`.
#[derive(Debug)]
pub struct RpkiSnapshot {
    generation: u64,
    roas: RoaTable,
    aspas: Aspas,
    delta: VrpDelta,
    status: CacheStatus,
    updated_at: Instant,
}

impl RpkiSnapshot {
    fn empty() -> Self {
        Self {
            generation: 0,
            roas: RoaTable::new(),
            aspas: BTreeMap::new(),
            delta: VrpDelta::default(),
            status: CacheStatus::NeverSynced,
            updated_at: Instant::now(),
        }
    }

    /// 0 for the initial empty snapshot, then +1 per published snapshot.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// RFC 6811 validation against this snapshot (NotFound for everything while empty).
    pub fn validate(&self, prefix: &IpNet, origin: u32) -> RovState {
        self.roas.validate(prefix, origin)
    }

    /// The ROA table.
    pub fn roas(&self) -> &RoaTable {
        &self.roas
    }

    /// ASPA records (customer AS → provider ASes, sorted) when the cache speaks RTR version 2.
    pub fn aspas(&self) -> &Aspas {
        &self.aspas
    }

    /// VRPs changed from generation `generation() - 1` to this one.
    pub fn delta(&self) -> &VrpDelta {
        &self.delta
    }

    /// Whether the data comes from a cache.
    pub fn status(&self) -> CacheStatus {
        self.status
    }

    /// When this snapshot was published.
    pub fn updated_at(&self) -> Instant {
        self.updated_at
    }

    /// VRPs changed since `older`: the stored delta when `older` is the previous generation
    /// (the common case), a full comparison when the caller skipped generations.
    pub fn changes_since(&self, older: &RpkiSnapshot) -> VrpDelta {
        if older.generation == self.generation {
            VrpDelta::default()
        } else if older.generation + 1 == self.generation {
            self.delta.clone()
        } else {
            RoaTable::diff(&older.roas, &self.roas)
        }
    }
}

/// Connection state, for the admin API and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RtrStatus {
    /// A TCP session with the cache is up.
    pub connected: bool,
    /// Successful TCP connections so far.
    pub connects: u64,
    /// Complete Cache Responses applied so far (whether or not anything changed).
    pub updates: u64,
    /// Why the last connection attempt or session ended, if it did.
    pub last_error: Option<String>,
}

/// RTR client settings.
#[derive(Debug, Clone)]
pub struct RtrConfig {
    /// Cache address, `host:port`.
    pub cache: String,
    /// RTR version proposed first; the client falls back to what the cache supports (the
    /// `rpki` crate supports 0, 1 = RFC 8210 and 2 = draft-ietf-sidrops-8210bis with ASPA).
    ///
    /// Default 1: version 2 is still a draft whose ASPA PDU changed between revisions, and
    /// caches and clients disagree (stayrtr 0.5.1 sends the draft -10 layout, which `rpki` 0.20.1
    /// reads differently, so its ASPA data is lost). ROAs are identical in both versions. Set 2 to
    /// receive ASPA from a cache known to speak the same draft.
    pub initial_version: u8,
    /// First reconnect delay; doubled per failed attempt.
    pub backoff_initial: Duration,
    /// Longest reconnect delay (also capped by the cache's Retry Interval).
    pub backoff_max: Duration,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Data handling while no cache is reachable.
    pub stale: StaleData,
}

impl RtrConfig {
    /// Defaults for a cache at `cache` (`host:port`).
    pub fn new(cache: impl Into<String>) -> Self {
        Self {
            cache: cache.into(),
            initial_version: 1,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            stale: StaleData::default(),
        }
    }
}

/// A running RTR client. Dropping it stops the task.
#[derive(Debug)]
pub struct RtrClient {
    current: Arc<ArcSwap<RpkiSnapshot>>,
    snapshots: watch::Receiver<Arc<RpkiSnapshot>>,
    status: watch::Receiver<RtrStatus>,
    task: JoinHandle<()>,
}

impl RtrClient {
    /// Starts the client task. Must be called from within a tokio runtime.
    pub fn spawn(config: RtrConfig) -> Self {
        let initial = Arc::new(RpkiSnapshot::empty());
        let current = Arc::new(ArcSwap::new(initial.clone()));
        let (snapshot_tx, snapshots) = watch::channel(initial);
        let (status_tx, status) = watch::channel(RtrStatus::default());
        let publisher = Publisher {
            current: current.clone(),
            tx: snapshot_tx,
        };
        let task = tokio::spawn(supervise(config, publisher, status_tx));
        Self {
            current,
            snapshots,
            status,
            task,
        }
    }

    /// The current snapshot (lock-free; use on the route-processing path).
    pub fn snapshot(&self) -> Arc<RpkiSnapshot> {
        self.current.load_full()
    }

    /// The shared cell holding the current snapshot, for components that read it directly.
    pub fn shared(&self) -> Arc<ArcSwap<RpkiSnapshot>> {
        self.current.clone()
    }

    /// A receiver woken for every published snapshot (intermediate ones may be skipped by a slow
    /// receiver: use [`RpkiSnapshot::changes_since`] with the last one it handled).
    pub fn subscribe(&self) -> watch::Receiver<Arc<RpkiSnapshot>> {
        self.snapshots.clone()
    }

    /// Connection state updates.
    pub fn status(&self) -> watch::Receiver<RtrStatus> {
        self.status.clone()
    }

    /// Stops the task and waits for it to end.
    pub async fn shutdown(mut self) {
        self.task.abort();
        // The task was aborted: a JoinError::Cancelled is the expected outcome.
        let _ = (&mut self.task).await;
    }
}

impl Drop for RtrClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Publisher {
    current: Arc<ArcSwap<RpkiSnapshot>>,
    tx: watch::Sender<Arc<RpkiSnapshot>>,
}

impl Publisher {
    fn current(&self) -> Arc<RpkiSnapshot> {
        self.current.load_full()
    }

    fn publish(&self, roas: RoaTable, aspas: Aspas, delta: VrpDelta, status: CacheStatus) {
        let generation = self.current.load().generation + 1;
        tracing::info!(
            generation,
            vrps = roas.len(),
            aspas = aspas.len(),
            announced = delta.announced.len(),
            withdrawn = delta.withdrawn.len(),
            ?status,
            "RPKI snapshot published"
        );
        let snapshot = Arc::new(RpkiSnapshot {
            generation,
            roas,
            aspas,
            delta,
            status,
            updated_at: Instant::now(),
        });
        self.current.store(snapshot.clone());
        // No receiver is fine: readers may use the ArcSwap only.
        let _ = self.tx.send(snapshot);
    }

    /// Empties the table (stale-data policy).
    fn drop_data(&self) {
        let current = self.current();
        if current.status != CacheStatus::Synced {
            return;
        }
        let delta = VrpDelta {
            announced: Vec::new(),
            withdrawn: current.roas.iter().collect::<BTreeSet<_>>().into_iter().collect(),
        };
        self.publish(RoaTable::new(), BTreeMap::new(), delta, CacheStatus::Dropped);
    }
}

/// One Cache Response being received.
#[derive(Debug)]
pub struct PendingUpdate {
    reset: bool,
    items: Vec<(Action, Payload)>,
}

impl PayloadUpdate for PendingUpdate {
    fn push_update(&mut self, action: Action, payload: Payload) -> Result<(), PayloadError> {
        // Checked as a whole in `apply`, against the data the update is applied to.
        self.items.push((action, payload));
        Ok(())
    }
}

struct VrpTarget {
    publisher: Publisher,
    /// The last update was refused: our state no longer matches the cache's serial.
    failed: bool,
    /// Set when an update was applied; the supervisor clears it per connection.
    synced: bool,
    last_sync: Option<Instant>,
    timing: Timing,
    updates: u64,
}

fn vrp_of(origin: RouteOrigin) -> Result<Vrp, PayloadError> {
    let (addr, len) = origin.prefix.prefix().addr_and_len();
    let prefix = IpNet::new(addr, len).map_err(|_| PayloadError::Corrupt)?;
    Vrp::new(prefix, origin.prefix.resolved_max_len(), origin.asn.into_u32())
        .map_err(|_| PayloadError::Corrupt)
}

impl VrpTarget {
    /// Computes the new data, or the RTR error to report (RFC 8210 §5.11 codes 6 and 7).
    fn compute(
        current: &RpkiSnapshot,
        update: PendingUpdate,
    ) -> Result<(RoaTable, Aspas, VrpDelta), PayloadError> {
        let (mut roas, mut aspas) = if update.reset {
            (RoaTable::new(), BTreeMap::new())
        } else {
            (current.roas.clone(), current.aspas.clone())
        };
        let mut touched = BTreeSet::new();
        for (action, payload) in update.items {
            match payload {
                Payload::Origin(origin) => {
                    let vrp = vrp_of(origin)?;
                    match action {
                        Action::Announce => {
                            if !roas.insert(vrp) {
                                return Err(PayloadError::DuplicateAnnounce);
                            }
                        }
                        // A Reset response only announces (RFC 8210 §5.6).
                        Action::Withdraw if update.reset => return Err(PayloadError::Corrupt),
                        Action::Withdraw => {
                            if !roas.remove(&vrp) {
                                return Err(PayloadError::UnknownWithdraw);
                            }
                        }
                    }
                    touched.insert(vrp);
                }
                Payload::Aspa(aspa) => {
                    let customer = aspa.customer.into_u32();
                    match action {
                        // 8210bis: an announcement replaces the customer's provider set.
                        Action::Announce => {
                            let mut providers: Vec<u32> =
                                aspa.providers.iter().map(|a| a.into_u32()).collect();
                            providers.sort_unstable();
                            providers.dedup();
                            aspas.insert(customer, providers);
                        }
                        Action::Withdraw => {
                            aspas.remove(&customer);
                        }
                    }
                }
                // BGPsec router keys are of no use to a route server.
                Payload::RouterKey(_) => {}
            }
        }
        let delta = if update.reset {
            RoaTable::diff(&current.roas, &roas)
        } else {
            let mut delta = VrpDelta::default();
            for vrp in touched {
                match (current.roas.contains(&vrp), roas.contains(&vrp)) {
                    (false, true) => delta.announced.push(vrp),
                    (true, false) => delta.withdrawn.push(vrp),
                    _ => {}
                }
            }
            delta
        };
        Ok((roas, aspas, delta))
    }
}

impl PayloadTarget for VrpTarget {
    type Update = PendingUpdate;

    fn start(&mut self, reset: bool) -> PendingUpdate {
        PendingUpdate {
            reset,
            items: Vec::new(),
        }
    }

    fn apply(&mut self, update: PendingUpdate, timing: Timing) -> Result<(), PayloadError> {
        let current = self.publisher.current();
        let (roas, aspas, delta) = Self::compute(&current, update).inspect_err(|error| {
            tracing::warn!(
                ?error,
                "RTR update refused; will resynchronise with a Reset Query"
            );
            self.failed = true;
        })?;
        self.timing = timing;
        self.last_sync = Some(Instant::now());
        self.synced = true;
        self.updates += 1;
        if !delta.is_empty() || aspas != current.aspas || current.status != CacheStatus::Synced {
            self.publisher.publish(roas, aspas, delta, CacheStatus::Synced);
        }
        Ok(())
    }
}

async fn supervise(config: RtrConfig, publisher: Publisher, status: watch::Sender<RtrStatus>) {
    let mut target = VrpTarget {
        publisher,
        failed: false,
        synced: false,
        last_sync: None,
        timing: Timing::default(),
        updates: 0,
    };
    let mut state = None;
    let mut backoff = config.backoff_initial;
    loop {
        let connected = tokio::time::timeout(config.connect_timeout, TcpStream::connect(&config.cache)).await;
        let error = match connected {
            Ok(Ok(sock)) => {
                let _ = sock.set_nodelay(true);
                status.send_modify(|s| {
                    s.connected = true;
                    s.connects += 1;
                });
                let resumed = state.is_some();
                tracing::info!(cache = %config.cache, resumed, "RTR session up");
                target.synced = false;
                let mut client = Client::with_initial_version(config.initial_version, sock, target, state);
                // Ok(()) means the cache closed the session.
                let result = client.run().await;
                state = client.state();
                target = client.into_target();
                // A refused update, or a resumed session that ended before any update (a
                // restarted cache has a new session id; stayrtr then just closes the connection):
                // start over with a Reset Query, whose response replaces all data.
                let resumed_without_update = resumed && !target.synced;
                if std::mem::take(&mut target.failed) || resumed_without_update {
                    state = None;
                }
                if target.synced {
                    backoff = config.backoff_initial;
                }
                let updates = target.updates;
                status.send_modify(|s| {
                    s.connected = false;
                    s.updates = updates;
                });
                match result {
                    Ok(()) => "cache closed the session".to_owned(),
                    Err(e) => format!("session ended: {e}"),
                }
            }
            Ok(Err(e)) => format!("connect: {e}"),
            Err(_) => "connect: timed out".to_owned(),
        };
        tracing::warn!(cache = %config.cache, %error, retry_in = ?backoff, "RTR cache unreachable");
        status.send_modify(|s| s.last_error = Some(error));

        match config.stale {
            StaleData::KeepForever => {}
            StaleData::DiscardOnDisconnect => target.publisher.drop_data(),
            StaleData::KeepUntilExpire => {}
        }
        let retry_cap = config
            .backoff_max
            .min(Duration::from_secs(u64::from(target.timing.retry.max(1))));
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2)
            .min(retry_cap)
            .max(config.backoff_initial.min(retry_cap));
        if config.stale == StaleData::KeepUntilExpire {
            let expire = Duration::from_secs(u64::from(target.timing.expire));
            if target.last_sync.is_some_and(|at| at.elapsed() >= expire) {
                target.publisher.drop_data();
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rpki::resources::Asn;
    use rpki::resources::addr::{MaxLenPrefix, Prefix};

    fn origin(p: &str, max: u8, asn: u32) -> Payload {
        let net: IpNet = p.parse().unwrap();
        let prefix = Prefix::new(net.addr(), net.prefix_len()).unwrap();
        Payload::origin(MaxLenPrefix::new(prefix, Some(max)).unwrap(), Asn::from_u32(asn))
    }

    fn target() -> (VrpTarget, watch::Receiver<Arc<RpkiSnapshot>>) {
        let initial = Arc::new(RpkiSnapshot::empty());
        let (tx, rx) = watch::channel(initial.clone());
        let publisher = Publisher {
            current: Arc::new(ArcSwap::new(initial)),
            tx,
        };
        let target = VrpTarget {
            publisher,
            failed: false,
            synced: false,
            last_sync: None,
            timing: Timing::default(),
            updates: 0,
        };
        (target, rx)
    }

    fn apply(t: &mut VrpTarget, reset: bool, items: Vec<(Action, Payload)>) -> Result<(), PayloadError> {
        let mut update = t.start(reset);
        for (action, payload) in items {
            update.push_update(action, payload).unwrap();
        }
        t.apply(update, Timing::default())
    }

    fn vrp(p: &str, max: u8, asn: u32) -> Vrp {
        Vrp::new(p.parse().unwrap(), max, asn).unwrap()
    }

    #[test]
    fn reset_then_serial_updates_publish_deltas() {
        let (mut t, rx) = target();
        assert_eq!(rx.borrow().status(), CacheStatus::NeverSynced);
        apply(
            &mut t,
            true,
            vec![
                (Action::Announce, origin("192.0.2.0/24", 24, 64500)),
                (Action::Announce, origin("2001:db8::/32", 48, 64501)),
            ],
        )
        .unwrap();
        let s1 = rx.borrow().clone();
        assert_eq!(
            (s1.generation(), s1.status(), s1.roas().len()),
            (1, CacheStatus::Synced, 2)
        );
        assert_eq!(
            s1.validate(&"192.0.2.0/24".parse().unwrap(), 64500),
            RovState::Valid
        );

        apply(
            &mut t,
            false,
            vec![
                (Action::Withdraw, origin("192.0.2.0/24", 24, 64500)),
                (Action::Announce, origin("198.51.100.0/24", 24, 64502)),
                // Announced then withdrawn within one response: no net change.
                (Action::Announce, origin("203.0.113.0/24", 24, 1)),
                (Action::Withdraw, origin("203.0.113.0/24", 24, 1)),
            ],
        )
        .unwrap();
        let s2 = rx.borrow().clone();
        assert_eq!(s2.generation(), 2);
        assert_eq!(s2.delta().announced, vec![vrp("198.51.100.0/24", 24, 64502)]);
        assert_eq!(s2.delta().withdrawn, vec![vrp("192.0.2.0/24", 24, 64500)]);
        assert_eq!(
            s2.validate(&"192.0.2.0/24".parse().unwrap(), 64500),
            RovState::NotFound
        );

        // An empty serial response publishes nothing new.
        apply(&mut t, false, vec![]).unwrap();
        assert_eq!(rx.borrow().generation(), 2);

        // A reset with the same data as before publishes the difference only.
        apply(
            &mut t,
            true,
            vec![
                (Action::Announce, origin("2001:db8::/32", 48, 64501)),
                (Action::Announce, origin("198.51.100.0/24", 24, 64502)),
            ],
        )
        .unwrap();
        assert_eq!(rx.borrow().generation(), 2);
        assert_eq!(s2.changes_since(&s1), s2.delta().clone());
    }

    #[test]
    fn protocol_errors_are_reported_and_leave_data_unchanged() {
        let (mut t, rx) = target();
        apply(
            &mut t,
            true,
            vec![(Action::Announce, origin("192.0.2.0/24", 24, 64500))],
        )
        .unwrap();
        type Case = (Vec<(Action, Payload)>, bool, PayloadError);
        let cases: Vec<Case> = vec![
            (
                vec![(Action::Announce, origin("192.0.2.0/24", 24, 64500))],
                false,
                PayloadError::DuplicateAnnounce,
            ),
            (
                vec![(Action::Withdraw, origin("10.0.0.0/8", 8, 1))],
                false,
                PayloadError::UnknownWithdraw,
            ),
            (
                vec![(Action::Withdraw, origin("192.0.2.0/24", 24, 64500))],
                true,
                PayloadError::Corrupt,
            ),
        ];
        for (items, reset, want) in cases {
            let err = apply(&mut t, reset, items).unwrap_err();
            assert_eq!(format!("{err:?}"), format!("{want:?}"));
            assert!(std::mem::take(&mut t.failed));
            assert_eq!(rx.borrow().generation(), 1);
            assert_eq!(rx.borrow().roas().len(), 1);
        }
    }

    #[test]
    fn dropping_data_withdraws_everything() {
        let (mut t, rx) = target();
        // Nothing to drop before the first sync.
        t.publisher.drop_data();
        assert_eq!(rx.borrow().generation(), 0);
        apply(
            &mut t,
            true,
            vec![(Action::Announce, origin("192.0.2.0/24", 24, 64500))],
        )
        .unwrap();
        t.publisher.drop_data();
        let s = rx.borrow().clone();
        assert_eq!(
            (s.generation(), s.status(), s.roas().len()),
            (2, CacheStatus::Dropped, 0)
        );
        assert_eq!(s.delta().withdrawn, vec![vrp("192.0.2.0/24", 24, 64500)]);
        assert_eq!(
            s.validate(&"192.0.2.0/24".parse().unwrap(), 64500),
            RovState::NotFound
        );
    }
}
