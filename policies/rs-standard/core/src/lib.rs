//! The logic of `rs-standard`, the standard IX route-server policy, import
//! and export. This crate has no component exports, so that other policies
//! (rs-import) can link it; `policies/rs-standard` exports it as a component.
//!
//! modelled on arouteserver's (option names, defaults, reject codes,
//! communities). The operator's reference is `docs/policies.md`.
//!
//! Import, per client (every check switchable in config):
//! - attribute-wide, once per call: NEXT_HOP (5), left-most AS (6),
//!   AS_PATH length (1), private/reserved ASN in the path (7), transit-free
//!   ASN after the first position (8), never-via-route-servers ASN (15);
//! - per prefix: IPv6 outside 2000::/3 (10), bogon (2), global black list
//!   (3), client black list (11), prefix length (13; blackhole routes from
//!   allowed clients up to /32 and /128); then, in one host call each for
//!   the prefixes still passing, the IRR step (origin in the client's
//!   AS-SETs 9, prefix covered by their route objects or white-listed 12;
//!   without AS-SETs the white list alone) and RPKI origin validation (14),
//!   each rejecting or only tagging as configured;
//! - BLACKHOLE (65535:666) from allowed clients: accepted and tagged with
//!   NO_EXPORT, NEXT_HOP replaced by the IX's blackhole address with
//!   `policy = "rewrite-next-hop"`; from others the community is removed;
//! - GRACEFUL_SHUTDOWN (65535:0): accepted with preference `local_pref`.
//!
//! Export: the Euro-IX / arouteserver action communities, standard and large
//! forms (do not announce to any / to a peer, announce to a peer, prepend
//! x1–x3 to any / to a peer), then strips the action communities it
//! interpreted from what each receiver gets.

// BTreeMap, not HashMap: its default hasher seeds from WASI random, which
// kumo does not provide to guests (instantiation traps).
use std::collections::BTreeMap;
use std::net::IpAddr;

use kumo_sdk::data::{self, IrrMatch, RovState};
use kumo_sdk::prelude::*;
use kumo_sdk::types::ClientTable;

pub mod config;

use config::{ClientSettings, ListAction, ModuleConfig, NextHopPolicy};

/// A client's settings resolved for fast checks.
#[derive(Debug, Clone)]
pub struct ClientPolicy {
    /// The merged settings.
    pub settings: ClientSettings,
    /// Addresses the client's NEXT_HOP may be (empty with policy `off`).
    next_hops: Vec<IpAddr>,
    /// Added to accepted blackhole routes (NO_EXPORT), plus the IPv4 / IPv6 blackhole NEXT_HOP
    /// (`rewrite-next-hop`), when configured for that family.
    blackhole_tag_v4: Modification,
    blackhole_tag_v6: Modification,
    /// Applied to routes of clients not allowed to blackhole.
    blackhole_strip: Modification,
    /// The bogon lists are the SDK's defaults: use its faster matcher.
    default_bogons: (bool, bool),
}

impl ClientPolicy {
    fn new(settings: ClientSettings, client: &Client, table: Option<&ClientTable>) -> Self {
        let next_hop = &settings.filtering.next_hop;
        let mut next_hops: Vec<IpAddr> = match next_hop.policy {
            NextHopPolicy::Off => Vec::new(),
            NextHopPolicy::SameAs => match table {
                Some(table) => table
                    .iter()
                    .filter(|c| c.asn == client.asn)
                    .flat_map(|c| c.addresses.iter().copied())
                    .chain(client.addresses.iter().copied())
                    .collect(),
                None => client.addresses.clone(),
            },
            NextHopPolicy::Strict | NextHopPolicy::AuthorizedAddresses => client.addresses.clone(),
        };
        if next_hop.policy != NextHopPolicy::Off {
            next_hops.extend_from_slice(&next_hop.authorized_addresses_list);
        }
        next_hops.sort_unstable();
        next_hops.dedup();
        let mut blackhole_tag = Modification::new();
        if settings.blackhole_filtering.add_noexport {
            blackhole_tag = blackhole_tag.add_community(Community::NO_EXPORT);
        }
        let blackhole_strip = Modification::new().remove_community(Community::BLACKHOLE);
        let defaults = prefix::PrefixList::default_bogons();
        let family = |v4: bool| {
            defaults
                .entries()
                .iter()
                .filter(|e| matches!(e.prefix, IpNet::V4(_)) == v4)
                .cloned()
                .collect::<Vec<_>>()
        };
        let bogons = &settings.filtering.bogons;
        let default_bogons = (
            bogons.ipv4.entries() == family(true).as_slice(),
            bogons.ipv6.entries() == family(false).as_slice(),
        );
        let blackhole_tag_v4 = blackhole_rewrite(&blackhole_tag, &settings.blackhole_filtering, true);
        let blackhole_tag_v6 = blackhole_rewrite(&blackhole_tag, &settings.blackhole_filtering, false);
        ClientPolicy {
            settings,
            next_hops,
            blackhole_tag_v4,
            blackhole_tag_v6,
            blackhole_strip,
            default_bogons,
        }
    }
}

/// The modification of an accepted blackhole route of one family: the tag,
/// plus the IX's blackhole NEXT_HOP with `rewrite-next-hop`.
fn blackhole_rewrite(tag: &Modification, b: &config::BlackholeFiltering, v4: bool) -> Modification {
    let next_hop: Option<IpAddr> = match (b.policy.as_str(), v4) {
        ("rewrite-next-hop", true) => b.rewrite_next_hop_ipv4.map(IpAddr::V4),
        ("rewrite-next-hop", false) => b.rewrite_next_hop_ipv6.map(IpAddr::V6),
        _ => None,
    };
    match next_hop {
        Some(address) => tag.clone().next_hop(address),
        None => tag.clone(),
    }
}

/// The policy.
#[derive(Debug)]
pub struct RsStandard {
    config: ModuleConfig,
    /// Per-client settings by client id, rebuilt on every client change; an
    /// error when the client's params do not parse (its routes are refused).
    clients: BTreeMap<u32, Result<ClientPolicy, String>>,
}

/// A failed check: reject code and text.
type Failure = (u16, std::borrow::Cow<'static, str>);

/// The per-prefix checks in order; the first failure rejects the prefix.
/// `blackhole`: the route is a blackhole route from a client allowed to.
/// The IRR and RPKI look-ups (9, 12, 14) follow, batched, in `import`.
/// One function rather than a table of function pointers: it inlines into
/// the prefix loop (measured: half the cost per prefix).
#[inline]
fn check_prefix(cp: &ClientPolicy, p: &IpNet, blackhole: bool) -> Option<(u16, &'static str)> {
    bogon_step(cp, p)
        .or_else(|| global_black_list_step(cp, p))
        .or_else(|| client_black_list_step(cp, p))
        .or_else(|| length_step(cp, p, blackhole))
        .or_else(|| white_list_step(cp, p))
}

#[inline]
fn bogon_step(cp: &ClientPolicy, p: &IpNet) -> Option<(u16, &'static str)> {
    let bogons = &cp.settings.filtering.bogons;
    if !bogons.enabled {
        return None;
    }
    match p {
        IpNet::V6(v6) if !prefix::is_ipv6_global_unicast(v6) => {
            Some((reject::IPV6_NOT_GLOBAL, "IPv6 prefix not in global unicast space"))
        }
        IpNet::V4(v4) => {
            let bogon = if cp.default_bogons.0 {
                prefix::is_bogon_v4(v4)
            } else {
                bogons.ipv4.covers(p)
            };
            bogon.then_some((reject::BOGON_PREFIX, "Prefix is bogon"))
        }
        IpNet::V6(v6) => {
            // Outside 2000::/3 was answered above, so the SDK's matcher only
            // sees its listed ranges here.
            let bogon = if cp.default_bogons.1 {
                prefix::is_bogon_v6(v6)
            } else {
                bogons.ipv6.covers(p)
            };
            bogon.then_some((reject::BOGON_PREFIX, "Prefix is bogon"))
        }
    }
}

#[inline]
fn global_black_list_step(cp: &ClientPolicy, p: &IpNet) -> Option<(u16, &'static str)> {
    cp.settings
        .filtering
        .global_black_list_pref
        .covers(p)
        .then_some((reject::GLOBAL_BLOCKLIST, "Prefix is in global blacklist"))
}

#[inline]
fn client_black_list_step(cp: &ClientPolicy, p: &IpNet) -> Option<(u16, &'static str)> {
    cp.settings
        .filtering
        .black_list_pref
        .covers(p)
        .then_some((reject::CLIENT_BLOCKLIST, "Prefix is in client blacklist"))
}

#[inline]
fn length_step(cp: &ClientPolicy, p: &IpNet, blackhole: bool) -> Option<(u16, &'static str)> {
    let f = &cp.settings.filtering;
    let b = &cp.settings.blackhole_filtering;
    let (range, blackhole_max) = match p {
        IpNet::V4(_) => (f.ipv4_pref_len, b.ipv4_max_len),
        IpNet::V6(_) => (f.ipv6_pref_len, b.ipv6_max_len),
    };
    // A blackhole route is a more-specific: only its upper bound moves.
    let max = if blackhole {
        blackhole_max.max(range.max)
    } else {
        range.max
    };
    let len = p.prefix_len();
    (len < range.min || len > max).then_some((reject::PREFIX_LENGTH, "Invalid prefix length"))
}

/// A client without AS-SETs: its `irrdb.white_list_pref`, when set, is the
/// set of prefixes it may announce. (With AS-SETs, `irr_step` decides.)
#[inline]
fn white_list_step(cp: &ClientPolicy, p: &IpNet) -> Option<(u16, &'static str)> {
    let irr = &cp.settings.filtering.irrdb;
    let white = &irr.white_list_pref;
    (irr.as_sets.is_empty() && !white.is_empty() && !white.covers(p))
        .then_some((reject::IRR_PREFIX, "Prefix not in IRRDB AS-SETs"))
}

/// The IRR step for a client with AS-SETs, over the prefixes still passing
/// (`pending`, indices into `prefixes`; rejected ones are removed): one
/// `irr-check` per AS-SET for the whole batch. The origin must be in a set
/// or white-listed (9); each prefix covered by the sets' route objects or
/// white-listed (12). Not enforced: tagged instead.
fn irr_step(
    cp: &ClientPolicy,
    tags: &config::Tags,
    origin: Option<u32>,
    prefixes: &[IpNet],
    pending: &mut Vec<usize>,
    verdicts: &mut ImportVerdicts,
) {
    let f = &cp.settings.filtering;
    let irr = &f.irrdb;
    let (v4, v6) = if irr.allow_longer_prefixes {
        (f.ipv4_pref_len.max, f.ipv6_pref_len.max)
    } else {
        (0, 0)
    };
    let batch: Vec<IpNet> = pending.iter().map(|&i| prefixes[i]).collect();
    let mut origin_in_set = origin.is_some_and(|o| irr.white_list_asn.contains(&o));
    let mut best = vec![IrrMatch::NotFound; batch.len()];
    for as_set in &irr.as_sets {
        let answer = data::irr_check(as_set, origin, &batch, v4, v6);
        origin_in_set |= answer.origin_in_set;
        for (b, m) in best.iter_mut().zip(answer.prefix_match) {
            *b = (*b).max(m);
        }
    }
    if !origin_in_set && irr.enforce_origin_in_as_set {
        for &i in pending.iter() {
            verdicts.reject(i, reject::IRR_ORIGIN, "Origin ASN not in IRRDB AS-SETs");
        }
        pending.clear();
        return;
    }
    let origin_tag = if origin_in_set {
        &tags.origin_present_in_as_set
    } else {
        &tags.origin_not_present_in_as_set
    };
    let mut k = 0;
    pending.retain(|&i| {
        let covered = best[k].is_covered() || irr.white_list_pref.covers(&prefixes[i]);
        k += 1;
        if !covered && irr.enforce_prefix_in_as_set {
            verdicts.reject(i, reject::IRR_PREFIX, "Prefix not in IRRDB AS-SETs");
            return false;
        }
        verdicts.modify(i, origin_tag);
        verdicts.modify(
            i,
            if covered {
                &tags.prefix_present_in_as_set
            } else {
                &tags.prefix_not_present_in_as_set
            },
        );
        true
    });
}

/// RPKI origin validation (RFC 6811) of the prefixes still passing, in one
/// `rpki-validate` call: invalid ones rejected (14) or tagged, the others
/// tagged valid / unknown.
fn rpki_step(
    cp: &ClientPolicy,
    tags: &config::Tags,
    origin: Option<u32>,
    prefixes: &[IpNet],
    pending: &[usize],
    verdicts: &mut ImportVerdicts,
) {
    let rov = cp.settings.filtering.rpki_bgp_origin_validation;
    let batch: Vec<IpNet> = pending.iter().map(|&i| prefixes[i]).collect();
    let states = data::rpki_validate(&batch, origin);
    for (&i, state) in pending.iter().zip(states) {
        match state {
            RovState::Invalid if rov.reject_invalid => {
                verdicts.reject(i, reject::RPKI_INVALID, "RPKI INVALID route")
            }
            RovState::Invalid => verdicts.modify(i, &tags.roa_invalid),
            RovState::Valid => verdicts.modify(i, &tags.roa_valid),
            RovState::NotFound => verdicts.modify(i, &tags.roa_unknown),
        }
    }
}

/// Whether `attrs` carries one of the route server's informational tags.
fn scrub_needed(scrub: &Modification, attrs: &Attributes) -> bool {
    scrub.remove_communities.iter().any(|c| attrs.has_community(*c))
        || scrub
            .remove_large_communities
            .iter()
            .any(|c| attrs.has_large_community(*c))
}

impl RsStandard {
    /// The settings of `client`: precomputed by `clients_changed`, or
    /// resolved now for a client this instance has not been told about.
    fn client_policy(&self, client: &Client) -> Result<std::borrow::Cow<'_, ClientPolicy>, String> {
        match self.clients.get(&client.id) {
            Some(Ok(cp)) => Ok(std::borrow::Cow::Borrowed(cp)),
            Some(Err(e)) => Err(e.clone()),
            None => self
                .config
                .client_settings(&client.params)
                .map(|s| std::borrow::Cow::Owned(ClientPolicy::new(s, client, None))),
        }
    }

    /// The checks on the attributes: once per call, for every prefix.
    fn check_attributes(
        &self,
        cp: &ClientPolicy,
        client: &Client,
        attrs: &Attributes,
    ) -> Result<(), Failure> {
        let f = &cp.settings.filtering;
        if f.next_hop.policy != NextHopPolicy::Off {
            match attrs.next_hop {
                Some(nh) if cp.next_hops.binary_search(&nh).is_ok() => {}
                Some(nh) => {
                    return Err((
                        reject::INVALID_NEXT_HOP,
                        format!("Invalid NEXT_HOP: {nh} is not allowed for AS{}", client.asn).into(),
                    ));
                }
                None => return Err((reject::INVALID_NEXT_HOP, "Invalid NEXT_HOP: none".into())),
            }
        }
        let path = &attrs.as_path;
        if f.enforce_peer_asn_leftmost && path.first_asn() != Some(client.asn) {
            return Err((
                reject::INVALID_FIRST_AS,
                format!("Invalid left-most ASN: expected AS{}", client.asn).into(),
            ));
        }
        if f.max_as_path_len != 0 && path.len() > f.max_as_path_len {
            return Err((
                reject::AS_PATH_LENGTH,
                format!("Invalid AS_PATH length: {} > {}", path.len(), f.max_as_path_len).into(),
            ));
        }
        if f.reject_invalid_as_in_as_path
            && let Some(bad) = path.asns().find(|a| asn::is_bogon(*a))
        {
            return Err((
                reject::INVALID_ASN_IN_PATH,
                format!("Invalid ASN in AS_PATH: AS{bad}").into(),
            ));
        }
        if f.transit_free.action == ListAction::Reject
            && let Some(bad) = path.asns().skip(1).find(|a| f.transit_free.asns.contains(a))
        {
            return Err((
                reject::TRANSIT_FREE_ASN,
                format!("Transit-free ASN in AS_PATH: AS{bad}").into(),
            ));
        }
        if let Some(bad) = path.asns().find(|a| f.never_via_route_servers.asns.contains(a)) {
            return Err((
                reject::NEVER_VIA_RS,
                format!("Never via route-servers ASN in AS_PATH: AS{bad}").into(),
            ));
        }
        Ok(())
    }

    /// The settings the policy resolved for a client id (for tests and
    /// diagnostics).
    pub fn client(&self, id: u32) -> Option<&Result<ClientPolicy, String>> {
        self.clients.get(&id)
    }

    /// The module configuration.
    pub fn config(&self) -> &ModuleConfig {
        &self.config
    }
}

/// What the action communities of one route ask for.
#[derive(Debug, Default)]
struct Requests {
    /// `do_not_announce_to_any` present.
    none: bool,
    /// Peers named by `do_not_announce_to_peer`.
    deny: Vec<u32>,
    /// Peers named by `announce_to_peer`.
    only: Vec<u32>,
    /// (peer, times) from `prepend_x_to_peer`, in x order.
    prepend_peer: Vec<(u32, u8)>,
    /// The smallest `prepend_x_to_any` present.
    prepend_any: u8,
    /// The interpreted communities, removed towards every receiver.
    strip: Modification,
}

impl Requests {
    fn read(actions: &config::Actions, attrs: &Attributes) -> Requests {
        let mut r = Requests::default();
        for &c in &attrs.communities {
            let mut hit = false;
            if let Some(p) = actions.do_not_announce_to_any.std {
                hit |= p.matches_any(c);
                r.none |= p.matches_any(c);
            }
            if let Some(peer) = actions.do_not_announce_to_peer.std.and_then(|p| p.peer(c)) {
                r.deny.push(peer);
                hit = true;
            }
            if let Some(peer) = actions.announce_to_peer.std.and_then(|p| p.peer(c)) {
                r.only.push(peer);
                hit = true;
            }
            for (times, a) in (1u8..).zip(&actions.prepend_to_any) {
                if a.std.is_some_and(|p| p.matches_any(c)) {
                    r.prepend_any = min_nonzero(r.prepend_any, times);
                    hit = true;
                }
            }
            for (times, a) in (1u8..).zip(&actions.prepend_to_peer) {
                if let Some(peer) = a.std.and_then(|p| p.peer(c)) {
                    r.prepend_peer.push((peer, times));
                    hit = true;
                }
            }
            if hit {
                r.strip.remove_communities.push(c);
            }
        }
        for &c in &attrs.large_communities {
            let mut hit = false;
            if let Some(p) = actions.do_not_announce_to_any.lrg {
                hit |= p.matches_any(c);
                r.none |= p.matches_any(c);
            }
            if let Some(peer) = actions.do_not_announce_to_peer.lrg.and_then(|p| p.peer(c)) {
                r.deny.push(peer);
                hit = true;
            }
            if let Some(peer) = actions.announce_to_peer.lrg.and_then(|p| p.peer(c)) {
                r.only.push(peer);
                hit = true;
            }
            for (times, a) in (1u8..).zip(&actions.prepend_to_any) {
                if a.lrg.is_some_and(|p| p.matches_any(c)) {
                    r.prepend_any = min_nonzero(r.prepend_any, times);
                    hit = true;
                }
            }
            for (times, a) in (1u8..).zip(&actions.prepend_to_peer) {
                if let Some(peer) = a.lrg.and_then(|p| p.peer(c)) {
                    r.prepend_peer.push((peer, times));
                    hit = true;
                }
            }
            if hit {
                r.strip.remove_large_communities.push(c);
            }
        }
        // "x is always in the ascending order" (arouteserver): the first
        // matching prepend_x_to_peer wins.
        r.prepend_peer.sort_by_key(|&(_, times)| times);
        r
    }

    fn is_empty(&self) -> bool {
        self.strip.is_empty()
    }
}

fn min_nonzero(current: u8, new: u8) -> u8 {
    if current == 0 { new } else { current.min(new) }
}

impl Policy for RsStandard {
    fn new(config: &Config) -> Result<Self, String> {
        let config = ModuleConfig::parse(config).map_err(|e| format!("rs-standard configuration: {e}"))?;
        Ok(RsStandard {
            config,
            clients: BTreeMap::new(),
        })
    }

    fn clients_changed(&mut self, clients: &ClientTable) {
        self.clients = clients
            .iter()
            .map(|client| {
                let resolved = self
                    .config
                    .client_settings(&client.params)
                    .map(|s| ClientPolicy::new(s, client, Some(clients)))
                    .map_err(|e| {
                        let text = format!("rs-standard: params of client {} refused: {e}", client.name);
                        kumo_sdk::log::error(&text);
                        text
                    });
                (client.id, resolved)
            })
            .collect();
    }

    fn import(&self, client: &Client, attrs: &Attributes, prefixes: &[IpNet], verdicts: &mut ImportVerdicts) {
        let cp = match self.client_policy(client) {
            Ok(cp) => cp,
            // Fail closed: a client whose settings are unknown gets nothing in.
            Err(e) => return verdicts.reject_all(reject::POLICY_ERROR, e),
        };
        if let Err((code, text)) = self.check_attributes(&cp, client, attrs) {
            return verdicts.reject_all(code, text);
        }
        let bh = &cp.settings.blackhole_filtering;
        let tagged_blackhole = attrs.has_community(Community::BLACKHOLE);
        let blackhole = tagged_blackhole && bh.allowed;
        let f = &cp.settings.filtering;
        let irr = !f.irrdb.as_sets.is_empty();
        let rpki = f.rpki_bgp_origin_validation.enabled;
        // The indices still passing, for the batched look-ups; not collected
        // when there are none to do (the common, cheapest case).
        let mut pending = Vec::new();
        for (i, p) in prefixes.iter().enumerate() {
            match check_prefix(&cp, p, blackhole) {
                Some((code, text)) => verdicts.reject(i, code, text),
                None if irr || rpki => pending.push(i),
                None => {}
            }
        }
        let tags = &self.config.tags;
        let origin = attrs.as_path.origin_asn();
        if irr && !pending.is_empty() {
            irr_step(&cp, tags, origin, prefixes, &mut pending, verdicts);
        }
        if rpki && !pending.is_empty() {
            rpki_step(&cp, tags, origin, prefixes, &pending, verdicts);
        }
        if !tags.scrub.is_empty() && scrub_needed(&tags.scrub, attrs) {
            verdicts.modify_all(&tags.scrub);
        }
        if blackhole {
            for (i, p) in prefixes.iter().enumerate() {
                let tag = match p {
                    IpNet::V4(_) => &cp.blackhole_tag_v4,
                    IpNet::V6(_) => &cp.blackhole_tag_v6,
                };
                verdicts.modify(i, tag);
            }
        } else if tagged_blackhole && bh.strip_unauthorised {
            verdicts.modify_all(&cp.blackhole_strip);
        }
        if cp.settings.graceful_shutdown.enabled && attrs.has_community(Community::GRACEFUL_SHUTDOWN) {
            verdicts.modify_all(&cp.settings.gshut_modification());
        }
    }

    /// Export follows the action communities and the targets' settings,
    /// never the prefix (see `export_ignores_the_prefix` in the tests).
    fn export_uses_prefix(&self) -> bool {
        false
    }

    fn export(
        &self,
        _source: &Client,
        attrs: &Attributes,
        _prefix: &IpNet,
        targets: &Targets<'_>,
        verdicts: &mut ExportVerdicts,
    ) {
        let requests = Requests::read(&self.config.actions, attrs);
        let blackhole = attrs.has_community(Community::BLACKHOLE);
        if requests.is_empty() && !blackhole {
            return;
        }
        let restricted = requests.none || (self.config.announce_to_peer_only && !requests.only.is_empty());
        // The targets that get the stripped communities alone: one
        // modification for all of them, stored once.
        let strip = !requests.strip.is_empty();
        let mut stripped = Vec::with_capacity(if strip { targets.len() } else { 0 });
        for (i, target) in targets.iter() {
            let mut send = !restricted || requests.only.contains(&target.asn);
            // do_not_announce_to_peer wins over announce_to_peer.
            send &= !requests.deny.contains(&target.asn);
            if send && blackhole {
                send = match self.client_policy(target) {
                    Ok(cp) => cp.settings.blackhole_filtering.announce_to_client,
                    Err(_) => false,
                };
            }
            if !send {
                verdicts.deny(i);
                continue;
            }
            let prepend = requests
                .prepend_peer
                .iter()
                .find(|(peer, _)| *peer == target.asn)
                .map_or(requests.prepend_any, |&(_, times)| times);
            if prepend == 0 {
                if strip {
                    stripped.push(i);
                }
                continue;
            }
            let mut m = requests.strip.clone();
            m.prepend = prepend;
            verdicts.modify(i, &m);
        }
        verdicts.modify_each(stripped, &requests.strip);
    }

    fn self_test(&self) -> Result<(), String> {
        // Whatever the configuration, the module must see 10.0.0.0/16 as a
        // bogon when bogon filtering is on, and read its own action
        // communities back.
        let client = Client::test(0, 3333).with_address([192, 0, 2, 1]);
        let cp = ClientPolicy::new(self.config.default_settings.clone(), &client, None);
        let bogon = prefixes(&["10.0.0.0/16"])[0];
        if cp.settings.filtering.bogons.enabled && check_prefix(&cp, &bogon, false).is_none() {
            return Err("self-test: 10.0.0.0/16 is not rejected as a bogon".to_owned());
        }
        if let Some(lrg) = self.config.actions.do_not_announce_to_peer.lrg {
            let attrs = Attributes::test().large_community(self.config.rs_as, 0, 6939);
            let target = LargeCommunity::new(self.config.rs_as, 0, 6939);
            let requests = Requests::read(&self.config.actions, &attrs);
            if lrg.matches_peer(target, 6939) && !requests.deny.contains(&6939) {
                return Err("self-test: do_not_announce_to_peer not recognised".to_owned());
            }
        }
        Ok(())
    }
}
