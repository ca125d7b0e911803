//! Configuration: the module-wide table (`[policies.NAME.config]`) and each
//! client's `params`, with field names taken from arouteserver's
//! `general.yml` / `clients.yml` where they fit (see docs/policies.md).
//!
//! The per-client sections (`filtering`, `blackhole_filtering`,
//! `graceful_shutdown`) are written once in the module config as defaults and
//! overridden per client: the client's object is merged key by key over the
//! default one (nested objects merged, lists and scalars replaced), then the
//! result is read with unknown keys refused.

use std::collections::BTreeSet;
use std::net::IpAddr;

use kumo_sdk::communities::{LargePattern, StdPattern};
use kumo_sdk::prefix::{PrefixEntry, PrefixList};
use kumo_sdk::{Config, IpNet, Modification};
use serde::Deserialize;
use serde_json::Value;

/// The module configuration as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModuleText {
    rs_as: u32,
    #[serde(default)]
    filtering: Value,
    #[serde(default)]
    blackhole_filtering: Value,
    #[serde(default)]
    graceful_shutdown: Value,
    #[serde(default)]
    communities: CommunitiesText,
    #[serde(default = "yes")]
    announce_to_peer_only: bool,
}

fn yes() -> bool {
    true
}

/// One action community as written: `{ std = "0:peer_as", lrg = "rs_as:0:peer_as" }`.
/// A missing form keeps the default; `""` disables that form.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionText {
    std: Option<String>,
    lrg: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommunitiesText {
    #[serde(default)]
    do_not_announce_to_any: ActionText,
    #[serde(default)]
    do_not_announce_to_peer: ActionText,
    #[serde(default)]
    announce_to_peer: ActionText,
    #[serde(default)]
    prepend_once_to_any: ActionText,
    #[serde(default)]
    prepend_twice_to_any: ActionText,
    #[serde(default)]
    prepend_thrice_to_any: ActionText,
    #[serde(default)]
    prepend_once_to_peer: ActionText,
    #[serde(default)]
    prepend_twice_to_peer: ActionText,
    #[serde(default)]
    prepend_thrice_to_peer: ActionText,
    // Informational tags (arouteserver's names), off unless set.
    #[serde(default)]
    origin_present_in_as_set: ActionText,
    #[serde(default)]
    origin_not_present_in_as_set: ActionText,
    #[serde(default)]
    prefix_present_in_as_set: ActionText,
    #[serde(default)]
    prefix_not_present_in_as_set: ActionText,
    #[serde(default)]
    roa_valid: ActionText,
    #[serde(default)]
    roa_invalid: ActionText,
    #[serde(default)]
    roa_unknown: ActionText,
}

/// An action community in its standard and large forms (either may be off).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Action {
    /// Standard form.
    pub std: Option<StdPattern>,
    /// Large form.
    pub lrg: Option<LargePattern>,
}

impl Action {
    fn parse(
        name: &str,
        text: &ActionText,
        default: (&str, &str),
        rs_as: u32,
        needs_peer: bool,
    ) -> Result<Action, String> {
        let std_text = text.std.as_deref();
        let lrg_text = text.lrg.as_deref().unwrap_or(default.1);
        let std = match std_text {
            Some("") => None,
            Some(t) => Some(StdPattern::parse(t, rs_as).map_err(|e| format!("communities.{name}.std: {e}"))?),
            // The default standard forms name rs_as; with a 32-bit rs_as they
            // cannot exist, and only the large form is used.
            None => StdPattern::parse(default.0, rs_as).ok(),
        };
        let lrg = match lrg_text {
            "" => None,
            t => Some(LargePattern::parse(t, rs_as).map_err(|e| format!("communities.{name}.lrg: {e}"))?),
        };
        let has_peer = |fixed: bool| fixed != needs_peer;
        if let Some(p) = std
            && !has_peer(p.fixed().is_some())
        {
            return Err(format!("communities.{name}.std: {}", peer_rule(needs_peer)));
        }
        if let Some(p) = lrg
            && !has_peer(p.fixed().is_some())
        {
            return Err(format!("communities.{name}.lrg: {}", peer_rule(needs_peer)));
        }
        Ok(Action { std, lrg })
    }
}

fn peer_rule(needs_peer: bool) -> &'static str {
    if needs_peer {
        "must contain peer_as"
    } else {
        "must not contain peer_as"
    }
}

/// The Euro-IX / arouteserver action communities the policy interprets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actions {
    /// Announce to no client (unless also `announce_to_peer`).
    pub do_not_announce_to_any: Action,
    /// Do not announce to `peer_as`.
    pub do_not_announce_to_peer: Action,
    /// Announce to `peer_as`.
    pub announce_to_peer: Action,
    /// Prepend the announcing client's AS 1, 2, 3 times towards every client.
    pub prepend_to_any: [Action; 3],
    /// Prepend 1, 2, 3 times towards `peer_as`.
    pub prepend_to_peer: [Action; 3],
}

impl Actions {
    fn parse(text: &CommunitiesText, rs_as: u32) -> Result<Actions, String> {
        // arouteserver's `configure` defaults (examples/auto-config/bird-general.yml).
        let p = |name, t, d, peer| Action::parse(name, t, d, rs_as, peer);
        Ok(Actions {
            do_not_announce_to_any: p(
                "do_not_announce_to_any",
                &text.do_not_announce_to_any,
                ("0:rs_as", "rs_as:0:0"),
                false,
            )?,
            do_not_announce_to_peer: p(
                "do_not_announce_to_peer",
                &text.do_not_announce_to_peer,
                ("0:peer_as", "rs_as:0:peer_as"),
                true,
            )?,
            announce_to_peer: p(
                "announce_to_peer",
                &text.announce_to_peer,
                ("rs_as:peer_as", "rs_as:1:peer_as"),
                true,
            )?,
            prepend_to_any: [
                p(
                    "prepend_once_to_any",
                    &text.prepend_once_to_any,
                    ("65501:rs_as", "rs_as:101:0"),
                    false,
                )?,
                p(
                    "prepend_twice_to_any",
                    &text.prepend_twice_to_any,
                    ("65502:rs_as", "rs_as:102:0"),
                    false,
                )?,
                p(
                    "prepend_thrice_to_any",
                    &text.prepend_thrice_to_any,
                    ("65503:rs_as", "rs_as:103:0"),
                    false,
                )?,
            ],
            prepend_to_peer: [
                p(
                    "prepend_once_to_peer",
                    &text.prepend_once_to_peer,
                    ("65511:peer_as", "rs_as:101:peer_as"),
                    true,
                )?,
                p(
                    "prepend_twice_to_peer",
                    &text.prepend_twice_to_peer,
                    ("65512:peer_as", "rs_as:102:peer_as"),
                    true,
                )?,
                p(
                    "prepend_thrice_to_peer",
                    &text.prepend_thrice_to_peer,
                    ("65513:peer_as", "rs_as:103:peer_as"),
                    true,
                )?,
            ],
        })
    }

    /// Every configured action, for stripping.
    pub fn all(&self) -> impl Iterator<Item = &Action> + '_ {
        [
            &self.do_not_announce_to_any,
            &self.do_not_announce_to_peer,
            &self.announce_to_peer,
        ]
        .into_iter()
        .chain(&self.prepend_to_any)
        .chain(&self.prepend_to_peer)
    }
}

/// The informational communities the policy adds to accepted routes
/// (arouteserver's IRR and RPKI tags), each empty unless configured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tags {
    /// Origin AS in the client's AS-SETs.
    pub origin_present_in_as_set: Modification,
    /// Origin AS not in them (with `enforce_origin_in_as_set = false`).
    pub origin_not_present_in_as_set: Modification,
    /// Prefix covered by the AS-SETs' route objects.
    pub prefix_present_in_as_set: Modification,
    /// Prefix not covered (with `enforce_prefix_in_as_set = false`).
    pub prefix_not_present_in_as_set: Modification,
    /// RPKI valid.
    pub roa_valid: Modification,
    /// RPKI invalid (with `reject_invalid = false`).
    pub roa_invalid: Modification,
    /// RPKI not-found.
    pub roa_unknown: Modification,
    /// Removes every tag above: applied to what clients send, so that a
    /// client cannot claim the route server's verdicts.
    pub scrub: Modification,
}

impl Tags {
    fn parse(text: &CommunitiesText, rs_as: u32) -> Result<Tags, String> {
        let mut scrub = Modification::new();
        let mut tag = |name: &str, t: &ActionText| -> Result<Modification, String> {
            let action = Action::parse(name, t, ("", ""), rs_as, false)?;
            let mut m = Modification::new();
            // The defaults ("", "") are off: only configured forms tag.
            if let Some(c) = action.std.and_then(|p| p.fixed()) {
                m = m.add_community(c);
                scrub = scrub.clone().remove_community(c);
            }
            if let Some(c) = action.lrg.and_then(|p| p.fixed()) {
                m = m.add_large_community(c);
                scrub = scrub.clone().remove_large_community(c);
            }
            Ok(m)
        };
        Ok(Tags {
            origin_present_in_as_set: tag("origin_present_in_as_set", &text.origin_present_in_as_set)?,
            origin_not_present_in_as_set: tag(
                "origin_not_present_in_as_set",
                &text.origin_not_present_in_as_set,
            )?,
            prefix_present_in_as_set: tag("prefix_present_in_as_set", &text.prefix_present_in_as_set)?,
            prefix_not_present_in_as_set: tag(
                "prefix_not_present_in_as_set",
                &text.prefix_not_present_in_as_set,
            )?,
            roa_valid: tag("roa_valid", &text.roa_valid)?,
            roa_invalid: tag("roa_invalid", &text.roa_invalid)?,
            roa_unknown: tag("roa_unknown", &text.roa_unknown)?,
            scrub,
        })
    }
}

/// `next_hop.policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum NextHopPolicy {
    /// NEXT_HOP must be one of the client's own addresses.
    #[serde(rename = "strict")]
    Strict,
    /// ...or an address of any client with the same ASN.
    #[serde(rename = "same-as")]
    SameAs,
    /// ...or an address in `authorized_addresses_list` (the list is accepted
    /// with every policy; this name exists for arouteserver configurations).
    #[serde(rename = "authorized_addresses")]
    AuthorizedAddresses,
    /// No NEXT_HOP check.
    #[serde(rename = "off")]
    Off,
}

/// `filtering.next_hop`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NextHop {
    /// How the NEXT_HOP is checked.
    #[serde(default = "strict")]
    pub policy: NextHopPolicy,
    /// Extra NEXT_HOP addresses the client may use.
    #[serde(default)]
    pub authorized_addresses_list: Vec<IpAddr>,
}

fn strict() -> NextHopPolicy {
    NextHopPolicy::Strict
}

/// An inclusive prefix length range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LengthRange {
    /// Shortest accepted length.
    pub min: u8,
    /// Longest accepted length.
    pub max: u8,
}

/// `reject` or `none` for a list-based check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListAction {
    /// Reject routes that match.
    Reject,
    /// Do nothing.
    None,
}

/// `filtering.transit_free`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitFree {
    /// `reject` or `none`.
    pub action: ListAction,
    /// Transit-free ASNs: they may only appear as the left-most AS.
    pub asns: BTreeSet<u32>,
}

/// `filtering.never_via_route_servers`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeverViaRouteServers {
    /// ASNs that must not appear anywhere in a path learnt through the RS.
    pub asns: BTreeSet<u32>,
}

/// `filtering.bogons`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bogons {
    /// Reject bogon prefixes (code 2) and IPv6 outside 2000::/3 (code 10).
    pub enabled: bool,
    /// IPv4 bogon prefixes (replace the default list).
    pub ipv4: PrefixList,
    /// IPv6 bogon prefixes (replace the default list).
    pub ipv6: PrefixList,
}

/// `filtering.irrdb`: the IRR step, against kumo's IRR data (`[irr]` files)
/// through the host import `irr-check` (see docs/policies.md).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Irrdb {
    /// The client's AS-SETs (RPSL names, `SOURCE::AS-NAME`, or bgpq4 list
    /// names). Empty: no IRR check for this client (only the white list).
    #[serde(default)]
    pub as_sets: Vec<String>,
    /// Reject (code 9) routes whose origin AS is not in the AS-SETs;
    /// otherwise only tag them.
    #[serde(default = "yes")]
    pub enforce_origin_in_as_set: bool,
    /// Reject (code 12) prefixes not covered by the AS-SETs' route objects;
    /// otherwise only tag them.
    #[serde(default = "yes")]
    pub enforce_prefix_in_as_set: bool,
    /// Accept more specifics of registered prefixes, up to the prefix length
    /// limits (`ipv4_pref_len.max`, `ipv6_pref_len.max`); otherwise exact
    /// matches only.
    #[serde(default)]
    pub allow_longer_prefixes: bool,
    /// Prefixes the client is authorised to announce regardless of IRR data.
    /// Without `as_sets`, when not empty, a prefix outside it is rejected
    /// with code 12.
    #[serde(default)]
    pub white_list_pref: PrefixList,
    /// Origin ASNs accepted regardless of the AS-SETs.
    #[serde(default)]
    pub white_list_asn: BTreeSet<u32>,
}

/// `filtering.rpki_bgp_origin_validation`: RFC 6811 origin validation
/// against kumo's VRPs (`[rpki]` cache) through the host import
/// `rpki-validate`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpkiValidation {
    /// Validate at all.
    pub enabled: bool,
    /// Reject invalid routes (code 14); otherwise only tag them.
    pub reject_invalid: bool,
}

/// `filtering`: the import checks of one client.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filtering {
    /// NEXT_HOP check (code 5).
    pub next_hop: NextHop,
    /// Left-most AS must be the client's AS (code 6). kumo addition.
    pub enforce_peer_asn_leftmost: bool,
    /// IPv4 prefix lengths (code 13).
    pub ipv4_pref_len: LengthRange,
    /// IPv6 prefix lengths (code 13).
    pub ipv6_pref_len: LengthRange,
    /// Longest AS_PATH (code 1); 0 turns the check off.
    pub max_as_path_len: usize,
    /// Private or reserved ASNs anywhere in the path (code 7).
    pub reject_invalid_as_in_as_path: bool,
    /// Transit-free ASNs (code 8).
    pub transit_free: TransitFree,
    /// Never-via-route-servers ASNs (code 15).
    pub never_via_route_servers: NeverViaRouteServers,
    /// Bogon prefixes (codes 2 and 10).
    pub bogons: Bogons,
    /// Prefixes rejected for every client (code 3).
    pub global_black_list_pref: PrefixList,
    /// Prefixes rejected for this client (code 11).
    pub black_list_pref: PrefixList,
    /// The IRR step (codes 9 and 12).
    pub irrdb: Irrdb,
    /// RPKI origin validation (code 14).
    pub rpki_bgp_origin_validation: RpkiValidation,
}

/// `blackhole_filtering`: RFC 7999 BLACKHOLE (65535:666).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlackholeFiltering {
    /// The client may announce blackhole routes (more-specifics up to
    /// `ipv4_max_len` / `ipv6_max_len`).
    pub allowed: bool,
    /// Longest IPv4 blackhole prefix.
    pub ipv4_max_len: u8,
    /// Longest IPv6 blackhole prefix.
    pub ipv6_max_len: u8,
    /// Add NO_EXPORT to accepted blackhole routes (RFC 7999 §3.2).
    pub add_noexport: bool,
    /// Remove the BLACKHOLE community from routes of clients not allowed to
    /// blackhole (the route is then handled as any other).
    pub strip_unauthorised: bool,
    /// Send blackhole routes to this client (export side).
    pub announce_to_client: bool,
    /// `propagate-unchanged` (NEXT_HOP as the client sent it) or
    /// `rewrite-next-hop` (NEXT_HOP replaced by `rewrite_next_hop_ipv4` /
    /// `rewrite_next_hop_ipv6`, the IX's blackhole addresses, so that members
    /// drop the traffic without a policy of their own).
    pub policy: String,
    /// The IPv4 blackhole NEXT_HOP (`rewrite-next-hop`).
    #[serde(default)]
    pub rewrite_next_hop_ipv4: Option<std::net::Ipv4Addr>,
    /// The IPv6 blackhole NEXT_HOP (`rewrite-next-hop`).
    #[serde(default)]
    pub rewrite_next_hop_ipv6: Option<std::net::Ipv6Addr>,
}

/// `graceful_shutdown`: RFC 8326 GRACEFUL_SHUTDOWN (65535:0).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GracefulShutdown {
    /// Honour the community from this client.
    pub enabled: bool,
    /// The preference given to such routes (BIRD-style: higher wins; the
    /// usual preference of a route is unset).
    pub local_pref: u32,
}

/// Everything that can be set per client.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// Import checks.
    pub filtering: Filtering,
    /// BLACKHOLE handling.
    pub blackhole_filtering: BlackholeFiltering,
    /// GRACEFUL_SHUTDOWN handling.
    pub graceful_shutdown: GracefulShutdown,
}

/// The defaults of every per-client section, as JSON so that the module
/// config and then the client's params merge over them.
fn default_sections() -> Value {
    let bogons = PrefixList::default_bogons();
    let list = |v4: bool| -> Vec<String> {
        bogons
            .entries()
            .iter()
            .filter(|e| matches!(e.prefix, IpNet::V4(_)) == v4)
            .map(|e| e.prefix.to_string())
            .collect()
    };
    serde_json::json!({
        "filtering": {
            "next_hop": {"policy": "strict", "authorized_addresses_list": []},
            "enforce_peer_asn_leftmost": true,
            // arouteserver's defaults.
            "ipv4_pref_len": {"min": 8, "max": 24},
            "ipv6_pref_len": {"min": 12, "max": 48},
            "max_as_path_len": 32,
            "reject_invalid_as_in_as_path": true,
            "transit_free": {
                "action": "reject",
                "asns": [174, 701, 1299, 2914, 3257, 3320, 3356, 5511, 6453, 6461, 6762, 6830, 7018, 12956]
            },
            "never_via_route_servers": {"asns": []},
            "bogons": {"enabled": true, "ipv4": list(true), "ipv6": list(false)},
            "global_black_list_pref": [],
            "black_list_pref": [],
            "irrdb": {
                "as_sets": [],
                "enforce_origin_in_as_set": true,
                "enforce_prefix_in_as_set": true,
                "allow_longer_prefixes": false,
                "white_list_pref": [],
                "white_list_asn": []
            },
            "rpki_bgp_origin_validation": {"enabled": false, "reject_invalid": true}
        },
        "blackhole_filtering": {
            "allowed": false,
            "ipv4_max_len": 32,
            "ipv6_max_len": 128,
            "add_noexport": true,
            "strip_unauthorised": true,
            "announce_to_client": true,
            "policy": "propagate-unchanged"
        },
        "graceful_shutdown": {"enabled": true, "local_pref": 0}
    })
}

/// Merge `over` into `base`: objects key by key, anything else replaced.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (key, value) in o {
                match b.get_mut(key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        b.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, over) => *base = over.clone(),
    }
}

const SECTIONS: [&str; 3] = ["filtering", "blackhole_filtering", "graceful_shutdown"];

/// The module configuration, parsed and checked.
#[derive(Debug, Clone)]
pub struct ModuleConfig {
    /// The route server's ASN (arouteserver `cfg.rs_as`).
    pub rs_as: u32,
    /// The action communities.
    pub actions: Actions,
    /// `rs_as:peer_as` alone (without `0:rs_as`) means "only to that peer".
    pub announce_to_peer_only: bool,
    /// The informational IRR and RPKI tags.
    pub tags: Tags,
    /// Defaults of the per-client sections (module config merged over kumo's).
    defaults: Value,
    /// The defaults, parsed (used for clients with no overrides).
    pub default_settings: ClientSettings,
}

impl ModuleConfig {
    /// Parse the module config (`{}` is refused: `rs_as` is required).
    pub fn parse(config: &Config) -> Result<ModuleConfig, String> {
        let text: ModuleText = serde_json::from_value(config.clone()).map_err(|e| e.to_string())?;
        let mut defaults = default_sections();
        for (name, value) in SECTIONS.iter().zip([
            &text.filtering,
            &text.blackhole_filtering,
            &text.graceful_shutdown,
        ]) {
            if !value.is_null()
                && let Some(slot) = defaults.get_mut(*name)
            {
                merge(slot, value);
            }
        }
        let default_settings = read_settings(&defaults).map_err(|e| format!("module defaults: {e}"))?;
        Ok(ModuleConfig {
            rs_as: text.rs_as,
            actions: Actions::parse(&text.communities, text.rs_as)?,
            tags: Tags::parse(&text.communities, text.rs_as)?,
            announce_to_peer_only: text.announce_to_peer_only,
            defaults,
            default_settings,
        })
    }

    /// The settings of a client: its `params` sections merged over the
    /// module defaults. Other keys of `params` belong to other modules and
    /// are left alone.
    pub fn client_settings(&self, params: &Value) -> Result<ClientSettings, String> {
        if !SECTIONS.iter().any(|s| params.get(s).is_some()) {
            return Ok(self.default_settings.clone());
        }
        let mut merged = self.defaults.clone();
        for name in SECTIONS {
            if let (Some(slot), Some(value)) = (merged.get_mut(name), params.get(name)) {
                merge(slot, value);
            }
        }
        read_settings(&merged)
    }
}

fn read_settings(value: &Value) -> Result<ClientSettings, String> {
    let settings: ClientSettings = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    check(&settings)?;
    Ok(settings)
}

fn check(s: &ClientSettings) -> Result<(), String> {
    let f = &s.filtering;
    for (name, range, max) in [
        ("ipv4_pref_len", f.ipv4_pref_len, 32),
        ("ipv6_pref_len", f.ipv6_pref_len, 128),
    ] {
        if range.min > range.max || range.max > max {
            return Err(format!(
                "filtering.{name}: need min ({}) <= max ({}) <= {max}",
                range.min, range.max
            ));
        }
    }
    let family = |list: &PrefixList, v4: bool, name: &str| match list
        .entries()
        .iter()
        .find(|e: &&PrefixEntry| matches!(e.prefix, IpNet::V4(_)) != v4)
    {
        Some(e) => Err(format!("filtering.bogons.{name}: {} is not {name}", e.prefix)),
        None => Ok(()),
    };
    family(&f.bogons.ipv4, true, "ipv4")?;
    family(&f.bogons.ipv6, false, "ipv6")?;
    let b = &s.blackhole_filtering;
    if b.ipv4_max_len > 32 || b.ipv6_max_len > 128 {
        return Err("blackhole_filtering: ipv4_max_len <= 32, ipv6_max_len <= 128".to_owned());
    }
    match b.policy.as_str() {
        "propagate-unchanged" => {}
        "rewrite-next-hop" => {
            if b.rewrite_next_hop_ipv4.is_none() && b.rewrite_next_hop_ipv6.is_none() {
                return Err("blackhole_filtering.policy \"rewrite-next-hop\" needs \
                     rewrite_next_hop_ipv4 and/or rewrite_next_hop_ipv6"
                    .to_owned());
            }
        }
        other => {
            return Err(format!(
                "blackhole_filtering.policy {other:?}: \"propagate-unchanged\" or \"rewrite-next-hop\""
            ));
        }
    }
    Ok(())
}

impl ClientSettings {
    /// The import modification for an accepted GRACEFUL_SHUTDOWN route.
    pub fn gshut_modification(&self) -> Modification {
        Modification::new().preference(self.graceful_shutdown.local_pref)
    }
}
