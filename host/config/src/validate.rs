//! Rules the types cannot express: value ranges, uniqueness, cross-references.
//!
//! Each check records every problem it finds (not just the first), with the key path, so an
//! operator fixes a file in one round. One function per section; a new section adds one.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::model::{Client, Config, MaxPrefixAction, Server};
use crate::path::KeyPath;

/// AS_TRANS (RFC 6793): a placeholder for 4-octet ASNs, never a real AS.
const AS_TRANS: u32 = 23456;

/// The largest Restart Time the Graceful Restart capability can carry (12 bits, RFC 4724).
const MAX_RESTART_TIME: u16 = 0x0fff;

/// Problems found so far, each with the key it is about.
#[derive(Debug, Default)]
pub(crate) struct Findings(pub(crate) Vec<(KeyPath, String)>);

impl Findings {
    fn push(&mut self, path: KeyPath, message: impl Into<String>) {
        self.0.push((path, message.into()));
    }
}

/// Checks a deserialized configuration.
pub(crate) fn config(config: &Config) -> Findings {
    let mut findings = Findings::default();
    server(&config.server, &config.clients, &mut findings);
    clients(&config.server, &config.clients, &mut findings);
    policies(config, &mut findings);
    route_data(config, &mut findings);
    findings
}

/// `[irr]` and `[rpki]`. Whether the IRR files parse is checked where they
/// are loaded.
fn route_data(config: &Config, findings: &mut Findings) {
    if let Some(irr) = &config.irr
        && irr.files.is_empty()
    {
        findings.push(
            KeyPath::root().key("irr").key("files"),
            "is empty: list bgpq4 JSON or RPSL files, or remove [irr]",
        );
    }
    if let Some(rpki) = &config.rpki {
        let path = KeyPath::root().key("rpki");
        let port = rpki
            .cache
            .rsplit_once(':')
            .and_then(|(host, port)| (!host.is_empty()).then_some(port))
            .and_then(|port| port.parse::<u16>().ok());
        if !matches!(port, Some(p) if p != 0) {
            findings.push(
                path.key("cache"),
                format!("{:?} is not host:port (e.g. \"127.0.0.1:3323\")", rpki.cache),
            );
        }
        if rpki.version > 2 {
            findings.push(path.key("version"), "RTR versions are 0, 1 (RFC 8210) and 2");
        }
        if rpki.retry == 0 || rpki.retry > rpki.retry_max {
            findings.push(path.key("retry"), "need 1 <= retry <= retry_max (seconds)");
        }
    }
}

/// `[policies.NAME]`. Whether a name is built in, and whether the chains
/// name loaded modules, is checked where modules are loaded (the config does
/// not know which modules the binary embeds).
fn policies(config: &Config, findings: &mut Findings) {
    for (name, policy) in &config.policies {
        let path = KeyPath::root().key("policies").key(name);
        if policy.path.is_some() && policy.builtin.is_some() {
            findings.push(
                path.key("builtin"),
                "give either `path` (a .wasm file) or `builtin`, not both",
            );
        }
        if policy.deadline_ms == Some(0) {
            findings.push(path.key("deadline_ms"), "must be at least 1 millisecond");
        }
        if policy.max_memory == Some(0) {
            findings.push(path.key("max_memory"), "must be more than 0 bytes");
        }
    }
}

fn server(server: &Server, clients: &[Client], findings: &mut Findings) {
    let path = KeyPath::root().key("server");
    asn(server.asn, &path.key("asn"), findings);
    if server.router_id.is_unspecified() {
        findings.push(
            path.key("router_id"),
            "must not be 0.0.0.0 (the BGP Identifier must be non-zero, RFC 6286)",
        );
    }

    let listen = path.key("listen");
    if server.listen.is_empty()
        && let Some(client) = clients.iter().find(|client| client.passive)
    {
        findings.push(
            listen.clone(),
            format!(
                "is empty, but client \"{}\" is passive and could never connect; \
                 add an address or set passive = false",
                client.name
            ),
        );
    }
    for (i, addr) in server.listen.iter().enumerate() {
        if let Some(first) = server.listen[..i].iter().position(|other| other == addr) {
            findings.push(
                listen.index(i),
                format!("duplicate listen address {addr} (also {})", listen.index(first)),
            );
        }
    }

    hold_time(server.hold_time, &path.key("hold_time"), findings);
    if server.llgr_stale_time > 0x00ff_ffff {
        findings.push(
            path.key("llgr_stale_time"),
            format!(
                "{} is too large: the LLGR capability carries at most 16777215 seconds (24 bits)",
                server.llgr_stale_time
            ),
        );
    }
    if server.connect_retry == 0 {
        findings.push(path.key("connect_retry"), "must be at least 1 second");
    }
    if server.restart_time > MAX_RESTART_TIME {
        findings.push(
            path.key("restart_time"),
            format!(
                "{} is too large: the Graceful Restart capability carries at most {MAX_RESTART_TIME} seconds",
                server.restart_time
            ),
        );
    }
}

fn clients(server: &Server, clients: &[Client], findings: &mut Findings) {
    let list = KeyPath::root().key("clients");
    // Where each name and address was first seen, to name both places in a duplicate error.
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut addresses: HashMap<IpAddr, KeyPath> = HashMap::new();

    for (i, client) in clients.iter().enumerate() {
        let path = list.index(i);

        name(&client.name, &path.key("name"), findings);
        if let Some(first) = names.get(client.name.as_str()) {
            findings.push(
                path.key("name"),
                format!(
                    "duplicate client name \"{}\" (also {})",
                    client.name,
                    list.index(*first).key("name")
                ),
            );
        } else {
            names.insert(&client.name, i);
        }

        asn(client.asn, &path.key("asn"), findings);
        if client.asn == server.asn {
            findings.push(
                path.key("asn"),
                format!(
                    "{} is the route server's own ASN (server.asn); a route server peers eBGP only",
                    client.asn
                ),
            );
        }

        let ips = path.key("ip");
        if client.ip.is_empty() {
            findings.push(ips.clone(), "must list at least one address");
        }
        for (j, ip) in client.ip.iter().enumerate() {
            let at = ips.index(j);
            if ip.is_unspecified() || ip.is_multicast() || is_broadcast(ip) {
                findings.push(at.clone(), format!("{ip} is not a unicast address"));
            }
            // Canonical form, so `::ffff:192.0.2.1` and `192.0.2.1` count as the same peer.
            match addresses.get(&ip.to_canonical()) {
                Some(first) => findings.push(
                    at,
                    format!("duplicate address {ip} (also {first}); each address belongs to one client"),
                ),
                None => {
                    addresses.insert(ip.to_canonical(), at);
                }
            }
        }

        if let Some(hold) = client.hold_time {
            hold_time(hold, &path.key("hold_time"), findings);
        }
        if !client.passive && client.port == 0 {
            findings.push(
                path.key("port"),
                "must not be 0 when passive = false (kumo connects to this port)",
            );
        }
        if !client.ipv4 && !client.ipv6 {
            findings.push(
                path.key("ipv6"),
                "ipv4 and ipv6 are both false: the session would carry no address family",
            );
        }
        if let Some(max_prefix) = &client.max_prefix {
            let at = path.key("max_prefix");
            if max_prefix.ipv4.is_none() && max_prefix.ipv6.is_none() {
                findings.push(at.clone(), "sets no limit: add ipv4 = N and/or ipv6 = N");
            }
            if max_prefix.action == MaxPrefixAction::Restart && max_prefix.restart_after == 0 {
                findings.push(
                    at.key("restart_after"),
                    "must be at least 1 second with action = \"restart\"",
                );
            }
        }
        if client.password.is_some() {
            findings.push(
                path.key("password"),
                "TCP-MD5 (RFC 2385) is not supported yet; remove this key (kumo will not run the \
                 session without the protection it asks for)",
            );
        }
        policy_names(&client.import, &path.key("import"), findings);
        policy_names(&client.export, &path.key("export"), findings);

        let deny = path.key("test_export_deny_from");
        for (j, other) in client.test_export_deny_from.iter().enumerate() {
            if *other == client.name {
                findings.push(
                    deny.index(j),
                    format!(
                        "\"{other}\" is this client itself; a client never receives its own paths anyway"
                    ),
                );
            } else if !clients.iter().any(|c| c.name == *other) {
                findings.push(deny.index(j), format!("no client is named \"{other}\""));
            }
        }
    }
}

fn asn(asn: u32, path: &KeyPath, findings: &mut Findings) {
    match asn {
        0 => findings.push(path.clone(), "must not be 0 (reserved, RFC 7607)"),
        AS_TRANS => findings.push(
            path.clone(),
            "must not be 23456 (AS_TRANS, RFC 6793); write the real 4-octet ASN",
        ),
        _ => {}
    }
}

/// RFC 4271 §4.2: a hold time is 0 (no keepalives) or at least 3 seconds.
fn hold_time(hold_time: u16, path: &KeyPath, findings: &mut Findings) {
    if hold_time == 1 || hold_time == 2 {
        findings.push(
            path.clone(),
            format!("{hold_time} is not allowed: must be 0 or at least 3 seconds (RFC 4271)"),
        );
    }
}

fn name(name: &str, path: &KeyPath, findings: &mut Findings) {
    if name.is_empty() {
        findings.push(path.clone(), "must not be empty");
    } else if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        findings.push(
            path.clone(),
            format!("\"{name}\" contains {bad:?}; names use only A-Z a-z 0-9 _ . -"),
        );
    }
}

fn policy_names(names: &[String], path: &KeyPath, findings: &mut Findings) {
    for (i, name) in names.iter().enumerate() {
        if name.trim().is_empty() {
            findings.push(path.index(i), "policy name must not be empty");
        }
    }
}

fn is_broadcast(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.is_broadcast())
}
