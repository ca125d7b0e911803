//! kumo's IRR and RPKI data, as policies query it through the host imports
//! `irr-check` and `rpki-validate` ([`RouteDataService`]), and the tasks that
//! keep it current: the IRR files read at start and on every reload, the VRPs
//! fed by an RTR client ([`RpkiFeed`]). When the VRPs change, the core runs
//! the import policies again over the routes the change covers.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use ipnet::IpNet;
use kumo_config::{Config, RpkiStale};
use kumo_irr::{IrrDb, IrrPolicy, IrrSources, LengthBounds, PrefixScope};
use kumo_policy::{IrrAnswer, NoRouteData, RouteData, Rov};
use kumo_rpki::{RoaTable, RovState, RpkiSnapshot, RtrClient, RtrConfig, RtrStatus, StaleData, VrpDelta};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::core::CoreEvent;

/// The IRR snapshot and the VRPs policies see. Both swap atomically; a call
/// sees one version of each.
#[derive(Debug, Default)]
pub struct RouteDataService {
    irr: ArcSwapOption<IrrDb>,
    rpki: ArcSwapOption<RpkiSnapshot>,
}

impl RouteDataService {
    /// No data yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Replace the IRR data (`None`: no `[irr]` configured).
    pub fn set_irr(&self, db: Option<Arc<IrrDb>>) {
        self.irr.store(db);
    }

    /// The IRR data policies see now.
    pub fn irr(&self) -> Option<Arc<IrrDb>> {
        self.irr.load_full()
    }

    /// Replace the VRPs (`None`: no `[rpki]` configured).
    pub fn set_rpki(&self, snapshot: Option<Arc<RpkiSnapshot>>) {
        self.rpki.store(snapshot);
    }
}

impl RouteData for RouteDataService {
    fn rpki_validate(&self, prefixes: &[IpNet], origin: u32, out: &mut Vec<Rov>) {
        let snapshot = self.rpki.load();
        match snapshot.as_deref() {
            Some(snapshot) => out.extend(prefixes.iter().map(|p| Rov::from(snapshot.validate(p, origin)))),
            None => NoRouteData.rpki_validate(prefixes, origin, out),
        }
    }

    fn irr_check(
        &self,
        as_set: &str,
        origin: u32,
        prefixes: &[IpNet],
        max_len_v4: u8,
        max_len_v6: u8,
    ) -> IrrAnswer {
        let db = self.irr.load();
        let Some(db) = db.as_deref() else {
            return NoRouteData.irr_check(as_set, origin, prefixes, max_len_v4, max_len_v6);
        };
        let policy = IrrPolicy {
            bounds: LengthBounds::up_to(max_len_v4, max_len_v6),
            scope: PrefixScope::AsSet,
        };
        db.check_many(as_set, origin, prefixes, &policy).into()
    }
}

/// Read the `[irr]` files of `config` (`Ok(None)` without `[irr]`). Slow
/// (parsing, expansion): call it off the runtime's threads. The error names
/// the key and the file.
pub fn load_irr(config: &Config) -> Result<Option<Arc<IrrDb>>, String> {
    let Some(irr) = &config.irr else { return Ok(None) };
    let files: Vec<_> = irr.files.iter().map(|f| config.resolve(f)).collect();
    let db = IrrSources::new(files)
        .load()
        .map_err(|e| format!("irr.files: {e}"))?;
    for warning in db.warnings().iter().take(20) {
        warn!(%warning, "IRR data");
    }
    info!(
        files = db.files().len(),
        route_objects = db.route_object_count(),
        as_sets = db.as_set_count(),
        warnings = db.warnings().len(),
        "IRR data loaded"
    );
    Ok(Some(Arc::new(db)))
}

/// The RTR client of `[rpki]` and the task copying its VRPs into the
/// [`RouteDataService`] and telling the core what changed. Dropping it stops
/// both.
#[derive(Debug)]
pub struct RpkiFeed {
    client: RtrClient,
    forward: tokio::task::JoinHandle<()>,
    /// The `[rpki]` table this feed was started from.
    pub config: kumo_config::Rpki,
}

impl Drop for RpkiFeed {
    fn drop(&mut self) {
        self.forward.abort();
    }
}

impl RpkiFeed {
    /// Connect to the cache of `config` (within a tokio runtime).
    pub fn start(
        config: &kumo_config::Rpki,
        data: Arc<RouteDataService>,
        core: mpsc::Sender<CoreEvent>,
    ) -> Self {
        let mut rtr = RtrConfig::new(config.cache.clone());
        rtr.initial_version = config.version;
        rtr.backoff_initial = Duration::from_secs(config.retry);
        rtr.backoff_max = Duration::from_secs(config.retry_max);
        rtr.stale = match config.stale {
            RpkiStale::KeepUntilExpire => StaleData::KeepUntilExpire,
            RpkiStale::KeepForever => StaleData::KeepForever,
            RpkiStale::Discard => StaleData::DiscardOnDisconnect,
        };
        let client = RtrClient::spawn(rtr);
        let snapshots = client.subscribe();
        data.set_rpki(Some(client.snapshot()));
        let forward = tokio::spawn(forward(snapshots, data, core));
        info!(cache = %config.cache, "RTR client started");
        RpkiFeed {
            client,
            forward,
            config: config.clone(),
        }
    }

    /// The RTR session's state.
    pub fn status(&self) -> RtrStatus {
        self.client.status().borrow().clone()
    }

    /// The VRPs as last published.
    pub fn snapshot(&self) -> Arc<RpkiSnapshot> {
        self.client.snapshot()
    }
}

/// Publish every new snapshot to policies, then have the core re-validate the
/// routes the VRPs that changed cover.
async fn forward(
    mut snapshots: watch::Receiver<Arc<RpkiSnapshot>>,
    data: Arc<RouteDataService>,
    core: mpsc::Sender<CoreEvent>,
) {
    let mut last = snapshots.borrow_and_update().clone();
    while snapshots.changed().await.is_ok() {
        let now = snapshots.borrow_and_update().clone();
        let delta = now.changes_since(&last);
        data.set_rpki(Some(now.clone()));
        info!(
            generation = now.generation(),
            vrps = now.roas().len(),
            announced = delta.announced.len(),
            withdrawn = delta.withdrawn.len(),
            "RPKI data updated"
        );
        last = now;
        if delta.is_empty() {
            continue;
        }
        let changed = Arc::new(ChangedVrps::new(&delta));
        let job: crate::core::CoreJob = Box::new(move |core| {
            let change = core.revalidate(&|p| changed.cover(p));
            info!(
                routes = change.routes_reevaluated,
                changed = change.changed,
                "routes re-validated after an RPKI change"
            );
        });
        if core.send(CoreEvent::Job(job)).await.is_err() {
            return;
        }
    }
}

/// The prefixes of the VRPs one update changed, for "does the change cover
/// this route?" in a trie look-up (a full first sync changes every VRP).
#[derive(Debug)]
pub struct ChangedVrps(RoaTable);

impl ChangedVrps {
    /// The changed VRPs of `delta`.
    pub fn new(delta: &VrpDelta) -> Self {
        let mut table = RoaTable::new();
        for vrp in delta.announced.iter().chain(&delta.withdrawn) {
            table.insert(*vrp);
        }
        ChangedVrps(table)
    }

    /// A changed VRP covers `prefix`: its routes may have changed state.
    pub fn cover(&self, prefix: &IpNet) -> bool {
        // Origin 0 (NONE) matches no VRP: Invalid exactly when covered.
        self.0.validate(prefix, 0) != RovState::NotFound
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kumo_policy::IrrMatch;
    use kumo_rpki::Vrp;

    fn net(text: &str) -> IpNet {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn changed_vrps_cover_their_more_specifics_only() {
        let delta = VrpDelta {
            announced: vec![Vrp::new(net("192.0.2.0/24"), 24, 64501).expect("vrp")],
            withdrawn: vec![Vrp::new(net("2001:db8::/32"), 48, 64502).expect("vrp")],
        };
        let changed = ChangedVrps::new(&delta);
        assert!(changed.cover(&net("192.0.2.0/24")));
        assert!(changed.cover(&net("192.0.2.128/25")));
        assert!(changed.cover(&net("2001:db8:1::/48")));
        assert!(!changed.cover(&net("192.0.2.0/23")));
        assert!(!changed.cover(&net("198.51.100.0/24")));
    }

    #[test]
    fn without_data_everything_is_not_found() {
        let data = RouteDataService::default();
        let mut out = Vec::new();
        data.rpki_validate(&[net("192.0.2.0/24")], 64501, &mut out);
        assert_eq!(out, [Rov::NotFound]);
        let answer = data.irr_check("AS-FOO", 64501, &[net("192.0.2.0/24")], 24, 48);
        assert!(!answer.as_set_found && !answer.origin_in_set);
        assert_eq!(answer.prefix_match, [IrrMatch::NotFound]);
    }

    #[test]
    fn irr_answers_come_from_the_loaded_files() {
        let dir = std::env::temp_dir().join(format!("kumo-route-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(
            dir.join("ix.rpsl"),
            "as-set: AS-FOO\nmembers: AS64501, AS-BAR\nsource: TEST\n\n\
             as-set: AS-BAR\nmembers: AS64502\nsource: TEST\n\n\
             route: 192.0.2.0/23\norigin: AS64502\nsource: TEST\n",
        )
        .expect("write");
        let config = kumo_config::parse(&format!(
            "[server]\nasn = 64500\nrouter_id = \"192.0.2.254\"\nlisten = []\n\n[irr]\nfiles = [\"{}\"]\n",
            dir.join("ix.rpsl").display()
        ))
        .expect("config");
        let data = RouteDataService::default();
        data.set_irr(load_irr(&config).expect("irr"));
        let p = [net("192.0.2.0/23"), net("192.0.3.0/24"), net("198.51.100.0/24")];
        let exact = data.irr_check("AS-FOO", 64502, &p, 0, 0);
        assert!(exact.as_set_found && exact.origin_in_set);
        assert_eq!(
            exact.prefix_match,
            [IrrMatch::Exact, IrrMatch::NotFound, IrrMatch::NotFound]
        );
        let longer = data.irr_check("as-foo", 64503, &p, 24, 48);
        assert!(!longer.origin_in_set);
        assert_eq!(longer.prefix_match[1], IrrMatch::MoreSpecific);
        assert!(data.irr_check("AS-FOO", 64501, &[], 0, 0).origin_in_set);

        let missing = config.clone();
        std::fs::remove_dir_all(&dir).expect("clean up");
        let error = load_irr(&missing).expect_err("files are gone");
        assert!(error.starts_with("irr.files: "), "{error}");
    }
}
