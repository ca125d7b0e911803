//! Prometheus metrics (`/metrics`), built on `prometheus-client`.
//!
//! [`Metrics`] owns the registry and every metric family; the daemon keeps an
//! `Arc<Metrics>` and updates it through small per-client and per-policy
//! handles ([`ClientMetrics`], [`PolicyMetrics`]) as events happen, or in
//! [`crate::AdminBackend::refresh_metrics`] just before a scrape. All names
//! carry the `kumo_` prefix. Series of a client or policy that goes away are
//! removed with [`Metrics::remove_client`] / [`Metrics::remove_policy`] so
//! they do not linger.
//!
//! Two encodings: OpenMetrics text ([`Metrics::encode`], for scrapers that
//! ask for it in `Accept`) and the classic Prometheus text format 0.0.4
//! ([`Metrics::encode_prometheus_text`], the default, and what `promtool
//! check metrics` lints). The classic form is derived from the OpenMetrics
//! output: counters' `HELP`/`TYPE` lines name the `_total` series, and
//! `# UNIT` / `# EOF` are dropped.

use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::dto::{Afi, PrefixCounts};

/// Content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE_OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of [`Metrics::encode_prometheus_text`]'s output.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Path state a prefix count refers to (label `state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrefixState {
    Received,
    Accepted,
    Filtered,
    Exported,
}

impl PrefixState {
    pub const ALL: [PrefixState; 4] = [
        PrefixState::Received,
        PrefixState::Accepted,
        PrefixState::Filtered,
        PrefixState::Exported,
    ];
}

/// Address family label value (`ipv4`, `ipv6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum AfiLabel {
    Ipv4,
    Ipv6,
}

impl From<Afi> for AfiLabel {
    fn from(a: Afi) -> Self {
        match a {
            Afi::Ipv4 => AfiLabel::Ipv4,
            Afi::Ipv6 => AfiLabel::Ipv6,
        }
    }
}

/// How a policy call failed closed (label `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrapKind {
    /// The module trapped (unreachable, out-of-bounds, ...).
    Trap,
    /// The per-call deadline (epoch interruption) fired.
    Deadline,
    /// The memory cap was hit.
    Memory,
    /// The module answered something malformed (wrong length, bad index).
    InvalidResult,
}

// Label values are the lowercase words operators query by; the derive would
// use the Rust variant names.
macro_rules! label_value {
    ($t:ty { $($variant:ident => $text:literal),* $(,)? }) => {
        impl EncodeLabelValue for $t {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                use std::fmt::Write;
                encoder.write_str(match self { $(Self::$variant => $text),* })
            }
        }
    };
}

label_value!(PrefixState { Received => "received", Accepted => "accepted", Filtered => "filtered", Exported => "exported" });
label_value!(AfiLabel { Ipv4 => "ipv4", Ipv6 => "ipv6" });
label_value!(TrapKind { Trap => "trap", Deadline => "deadline", Memory => "memory", InvalidResult => "invalid-result" });

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ClientLabel {
    client: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PrefixLabels {
    client: String,
    afi: AfiLabel,
    state: PrefixState,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PolicyLabel {
    policy: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TrapLabels {
    policy: String,
    kind: TrapKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    operation: String,
    code: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn policy_duration_histogram() -> Histogram {
    // 1 µs .. ~262 ms in factors of 4: a call costs from well under a
    // microsecond (small batch) to the deadline (a runaway module).
    Histogram::new(exponential_buckets(1e-6, 4.0, 10))
}

/// The registry and every metric family kumo exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    client_up: Family<ClientLabel, Gauge>,
    client_prefixes: Family<PrefixLabels, Gauge>,
    client_updates_received: Family<ClientLabel, Counter>,
    client_updates_sent: Family<ClientLabel, Counter>,
    client_held_routes: Family<ClientLabel, Gauge>,
    policy_calls: Family<PolicyLabel, Counter>,
    policy_call_duration: HistogramFamily<PolicyLabel>,
    policy_traps: Family<TrapLabels, Counter>,
    admin_requests: Family<RequestLabels, Counter>,
    rpki_cache_up: Gauge,
    rpki_vrps: Gauge,
    irr_route_objects: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(env!("CARGO_PKG_VERSION"))
    }
}

impl Metrics {
    /// A registry with every family registered; `version` is exported as
    /// `kumo_build_info{version=...} 1`.
    pub fn new(version: &str) -> Self {
        let mut registry = Registry::with_prefix("kumo");
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: version.to_owned(),
            })
            .set(1);
        registry.register("build_info", "kumo build information (always 1)", build_info);

        let mut m = Metrics {
            client_up: Family::default(),
            client_prefixes: Family::default(),
            client_updates_received: Family::default(),
            client_updates_sent: Family::default(),
            client_held_routes: Family::default(),
            policy_calls: Family::default(),
            policy_call_duration: Family::new_with_constructor(policy_duration_histogram),
            policy_traps: Family::default(),
            admin_requests: Family::default(),
            rpki_cache_up: Gauge::default(),
            rpki_vrps: Gauge::default(),
            irr_route_objects: Gauge::default(),
            registry,
        };
        let r = &mut m.registry;
        r.register(
            "client_up",
            "1 if the BGP session with the client is Established",
            m.client_up.clone(),
        );
        r.register(
            "client_prefixes",
            "Paths of a client by address family and state (received = Adj-RIB-In pre-policy)",
            m.client_prefixes.clone(),
        );
        r.register(
            "client_updates_received",
            "UPDATE messages received from a client",
            m.client_updates_received.clone(),
        );
        r.register(
            "client_updates_sent",
            "UPDATE messages sent to a client",
            m.client_updates_sent.clone(),
        );
        r.register(
            "client_held_routes",
            "Paths of a client held by static-hold while its session is down",
            m.client_held_routes.clone(),
        );
        r.register(
            "policy_calls",
            "Calls into a policy module",
            m.policy_calls.clone(),
        );
        r.register_with_unit(
            "policy_call_duration",
            "Duration of one call into a policy module (one batch of routes)",
            Unit::Seconds,
            m.policy_call_duration.clone(),
        );
        r.register(
            "policy_traps",
            "Policy calls that failed closed, by kind (trap, deadline, memory)",
            m.policy_traps.clone(),
        );
        r.register(
            "rpki_cache_up",
            "1 if an RTR session with the RPKI cache is up",
            m.rpki_cache_up.clone(),
        );
        r.register(
            "rpki_vrps",
            "VRPs routes are validated against",
            m.rpki_vrps.clone(),
        );
        r.register(
            "irr_route_objects",
            "IRR route objects loaded",
            m.irr_route_objects.clone(),
        );
        r.register(
            "admin_requests",
            "Admin API requests by operation and HTTP status",
            m.admin_requests.clone(),
        );
        m
    }

    /// The route-data gauges, from the status the API shows.
    pub fn set_route_data(&self, irr: Option<&crate::dto::IrrStatus>, rpki: Option<&crate::dto::RpkiStatus>) {
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.irr_route_objects
            .set(irr.map_or(0, |i| gauge(i.route_objects)));
        self.rpki_cache_up
            .set(i64::from(rpki.is_some_and(|r| r.connected)));
        self.rpki_vrps.set(rpki.map_or(0, |r| gauge(r.vrps)));
    }

    /// Handle for one client's series.
    pub fn client(&self, name: &str) -> ClientMetrics<'_> {
        ClientMetrics {
            metrics: self,
            label: ClientLabel {
                client: name.to_owned(),
            },
        }
    }

    /// Handle for one policy's series.
    pub fn policy(&self, name: &str) -> PolicyMetrics<'_> {
        PolicyMetrics {
            metrics: self,
            label: PolicyLabel {
                policy: name.to_owned(),
            },
        }
    }

    /// Drops every series of a client (after it is removed from the config).
    pub fn remove_client(&self, name: &str) {
        let label = ClientLabel {
            client: name.to_owned(),
        };
        self.client_up.remove(&label);
        self.client_updates_received.remove(&label);
        self.client_updates_sent.remove(&label);
        self.client_held_routes.remove(&label);
        for afi in Afi::ALL {
            for state in PrefixState::ALL {
                self.client_prefixes.remove(&PrefixLabels {
                    client: name.to_owned(),
                    afi: afi.into(),
                    state,
                });
            }
        }
    }

    /// Drops every series of a policy.
    pub fn remove_policy(&self, name: &str) {
        let label = PolicyLabel {
            policy: name.to_owned(),
        };
        self.policy_calls.remove(&label);
        self.policy_call_duration.remove(&label);
        for kind in [TrapKind::Trap, TrapKind::Deadline, TrapKind::Memory] {
            self.policy_traps.remove(&TrapLabels {
                policy: name.to_owned(),
                kind,
            });
        }
    }

    /// Counts one admin API request (done by the server).
    pub(crate) fn admin_request(&self, operation: &str, code: u16) {
        self.admin_requests
            .get_or_create(&RequestLabels {
                operation: operation.to_owned(),
                code,
            })
            .inc();
    }

    /// The whole registry in OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an Err would only come from a
        // custom metric's encoder, of which there are none.
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
            out.push_str("# EOF\n");
        }
        out
    }

    /// The whole registry in the classic Prometheus text format (0.0.4).
    pub fn encode_prometheus_text(&self) -> String {
        openmetrics_to_text(&self.encode())
    }
}

/// Rewrites prometheus-client's OpenMetrics output as text format 0.0.4.
fn openmetrics_to_text(om: &str) -> String {
    let mut out = String::with_capacity(om.len());
    let mut help: Option<&str> = None;
    let push = |out: &mut String, line: &str| {
        out.push_str(line);
        out.push('\n');
    };
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if line.starts_with("# HELP ") {
            // Held back until the TYPE line says whether the name changes.
            if let Some(h) = help.replace(line) {
                push(&mut out, h);
            }
            continue;
        }
        if let Some((name, kind)) = line.strip_prefix("# TYPE ").and_then(|r| r.split_once(' ')) {
            let family = if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_owned()
            };
            if let Some(h) = help.take() {
                match h.strip_prefix("# HELP ").and_then(|r| r.strip_prefix(name)) {
                    Some(text) => push(&mut out, &format!("# HELP {family}{text}")),
                    None => push(&mut out, h),
                }
            }
            push(&mut out, &format!("# TYPE {family} {kind}"));
            continue;
        }
        if let Some(h) = help.take() {
            push(&mut out, h);
        }
        push(&mut out, line);
    }
    out
}

/// Series of one client. Cheap to create; hold it or re-create it per event.
#[derive(Debug)]
pub struct ClientMetrics<'a> {
    metrics: &'a Metrics,
    label: ClientLabel,
}

impl ClientMetrics<'_> {
    /// Session Established (true) or not.
    pub fn set_up(&self, up: bool) {
        self.metrics
            .client_up
            .get_or_create(&self.label)
            .set(i64::from(up));
    }

    /// Sets the four path counts of one address family.
    pub fn set_prefixes(&self, counts: &PrefixCounts) {
        let pairs = [
            (PrefixState::Received, counts.received),
            (PrefixState::Accepted, counts.accepted),
            (PrefixState::Filtered, counts.filtered),
            (PrefixState::Exported, counts.exported),
        ];
        for (state, n) in pairs {
            self.metrics
                .client_prefixes
                .get_or_create(&PrefixLabels {
                    client: self.label.client.clone(),
                    afi: counts.afi.into(),
                    state,
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Counts UPDATE messages received from the client.
    pub fn updates_received(&self, n: u64) {
        self.metrics
            .client_updates_received
            .get_or_create(&self.label)
            .inc_by(n);
    }

    /// Counts UPDATE messages sent to the client.
    pub fn updates_sent(&self, n: u64) {
        self.metrics
            .client_updates_sent
            .get_or_create(&self.label)
            .inc_by(n);
    }

    /// Paths currently held by static-hold.
    pub fn set_held_routes(&self, n: u64) {
        self.metrics
            .client_held_routes
            .get_or_create(&self.label)
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
}

/// Series of one policy.
#[derive(Debug)]
pub struct PolicyMetrics<'a> {
    metrics: &'a Metrics,
    label: PolicyLabel,
}

impl PolicyMetrics<'_> {
    /// Records one call and how long it took.
    pub fn observe_call(&self, duration: Duration) {
        self.metrics.policy_calls.get_or_create(&self.label).inc();
        self.metrics
            .policy_call_duration
            .get_or_create(&self.label)
            .observe(duration.as_secs_f64());
    }

    /// Counts a call that failed closed.
    pub fn trap(&self, kind: TrapKind) {
        self.metrics
            .policy_traps
            .get_or_create(&TrapLabels {
                policy: self.label.policy.clone(),
                kind,
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_appear_with_prefix_and_labels() {
        let m = Metrics::new("9.9.9");
        let c = m.client("as65001");
        c.set_up(true);
        c.set_prefixes(&PrefixCounts {
            afi: Afi::Ipv6,
            received: 10,
            accepted: 7,
            filtered: 3,
            exported: 5,
        });
        c.updates_received(4);
        m.policy("bogons").observe_call(Duration::from_micros(3));
        m.policy("bogons").trap(TrapKind::Deadline);
        let text = m.encode();
        for needle in [
            "kumo_build_info{version=\"9.9.9\"} 1",
            "kumo_client_up{client=\"as65001\"} 1",
            "kumo_client_prefixes{client=\"as65001\",afi=\"ipv6\",state=\"filtered\"} 3",
            "kumo_client_updates_received_total{client=\"as65001\"} 4",
            "kumo_policy_calls_total{policy=\"bogons\"} 1",
            "kumo_policy_call_duration_seconds_count{policy=\"bogons\"} 1",
            "kumo_policy_traps_total{policy=\"bogons\",kind=\"deadline\"} 1",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));

        let classic = m.encode_prometheus_text();
        assert!(
            classic.contains("# HELP kumo_client_updates_received_total UPDATE messages received"),
            "{classic}"
        );
        assert!(
            classic.contains("# TYPE kumo_client_updates_received_total counter\n"),
            "{classic}"
        );
        assert!(classic.contains("# TYPE kumo_client_up gauge\n"), "{classic}");
        assert!(
            classic.contains("# TYPE kumo_policy_call_duration_seconds histogram\n"),
            "{classic}"
        );
        assert!(
            !classic.contains("# EOF") && !classic.contains("# UNIT"),
            "{classic}"
        );
    }

    #[test]
    fn remove_client_drops_its_series() {
        let m = Metrics::default();
        let c = m.client("gone");
        c.set_up(false);
        c.set_prefixes(&PrefixCounts {
            afi: Afi::Ipv4,
            received: 1,
            accepted: 1,
            filtered: 0,
            exported: 1,
        });
        c.set_held_routes(2);
        m.client("stays").set_up(true);
        m.remove_client("gone");
        let text = m.encode();
        assert!(!text.contains("client=\"gone\""), "{text}");
        assert!(text.contains("client=\"stays\""), "{text}");
    }
}
