//! `kumo demo`: a self-contained demo Internet Exchange in one process.
//!
//! kumo runs on 127.0.0.1 and three simulated members (kumo's own speaker on
//! 127.0.0.11-13) peer with it, announce routes, and print what they receive
//! through the route server. Every member's routes pass the embedded
//! `rs-standard` policy (WebAssembly), which visibly rejects member B's
//! 10.0.0.0/8 as a bogon; the admin API shows why. Ctrl-C stops everything.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ipnet::IpNet;
use kumo_wire::{AsPath, AsPathSegment, AsPathSegmentRef, LargeCommunity, MpNextHop, Origin, PathAttributes};

use crate::daemon::Daemon;
use crate::speaker::{Speaker, SpeakerConfig};

/// The demo IX's configuration (also a readable example of a config file).
pub fn demo_config(port: u16) -> String {
    format!(
        r#"[server]
asn = 64500
router_id = "192.0.2.254"
listen = ["127.0.0.1:{port}"]

[admin]
listen = "127.0.0.1:{admin}"

# The standard route-server policy, built into kumo as a WebAssembly component.
[policies.rs-standard]
[policies.rs-standard.config]
rs_as = 64500
[policies.rs-standard.config.filtering]
# The demo's members use private ASNs and documentation prefixes, which a
# real IX rejects; here only RFC 1918 and loopback space count as bogons.
reject_invalid_as_in_as_path = false
bogons = {{ ipv4 = ["10.0.0.0/8", "127.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"], ipv6 = ["fc00::/7"] }}

[[clients]]
name = "as65001"
asn = 65001
ip = ["127.0.0.11", "2001:db8::11"]
description = "Member A: announces two IPv4 prefixes and one IPv6 prefix"
import = ["rs-standard"]
export = ["rs-standard"]

[[clients]]
name = "as65002"
asn = 65002
ip = ["127.0.0.12", "2001:db8::12"]
description = "Member B: announces one prefix, and a bogon (10.0.0.0/8)"
import = ["rs-standard"]
export = ["rs-standard"]

[[clients]]
name = "as65003"
asn = 65003
ip = ["127.0.0.13", "2001:db8::13"]
description = "Member C: announces nothing, receives everything it may"
import = ["rs-standard"]
export = ["rs-standard"]
"#,
        admin = admin_port(port)
    )
}

/// The demo's admin API port: next to its BGP port.
pub fn admin_port(port: u16) -> u16 {
    port.wrapping_add(1)
}

struct Member {
    name: &'static str,
    asn: u32,
    host: u8,
    announces: &'static [&'static str],
}

const MEMBERS: [Member; 3] = [
    Member {
        name: "as65001",
        asn: 65001,
        host: 11,
        announces: &["198.51.100.0/24", "192.0.2.0/24", "2001:db8:1::/48"],
    },
    Member {
        name: "as65002",
        asn: 65002,
        host: 12,
        announces: &["203.0.113.0/24", "10.0.0.0/8"],
    },
    Member {
        name: "as65003",
        asn: 65003,
        host: 13,
        announces: &[],
    },
];

/// Run the demo until Ctrl-C.
pub async fn run(port: u16) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    let (daemon, _members) = start(port, &mut out).await?;
    writeln!(out, "Press Ctrl-C to stop.")?;
    tokio::signal::ctrl_c().await?;
    daemon.shutdown("kumo demo stopping").await;
    Ok(())
}

/// Start the demo IX, tell its story on `out`, and return the running
/// daemon and the members' sessions (dropping them ends the demo).
pub async fn start(port: u16, out: &mut impl Write) -> anyhow::Result<(Arc<Daemon>, Vec<Speaker>)> {
    let config = kumo_config::parse(&demo_config(port)).context("demo config")?;
    writeln!(
        out,
        "kumo demo: route server AS64500 on 127.0.0.1:{port}, three members on 127.0.0.11-13,\n\
         every route through the rs-standard policy (WebAssembly)\n"
    )?;
    let daemon = Arc::new(Daemon::start(config).await?);
    let admin = crate::admin::spawn(daemon.clone()).await?;
    let addr: SocketAddr = daemon.listening[0];

    let mut speakers = Vec::new();
    for m in &MEMBERS {
        let local = IpAddr::V4(Ipv4Addr::new(127, 0, 0, m.host));
        let cfg = SpeakerConfig::new(local, m.asn, Ipv4Addr::new(10, 255, 0, m.host));
        let mut s = Speaker::connect(&cfg, addr)
            .await
            .with_context(|| format!("{} cannot connect", m.name))?;
        writeln!(out, "{:8} AS{} connected from {local}", m.name, m.asn)?;
        let attrs = member_attrs(m);
        let (v4, v6): (Vec<IpNet>, Vec<IpNet>) = m
            .announces
            .iter()
            .filter_map(|p| p.parse::<IpNet>().ok())
            .partition(|p| p.addr().is_ipv4());
        s.announce(&attrs, None, &v4).await?;
        let mut attrs6 = attrs.clone();
        attrs6.next_hop = None;
        let nh6 = MpNextHop::V6 {
            global: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10 + u16::from(m.host - 10)),
            link_local: None,
        };
        s.announce(&attrs6, Some(nh6), &v6).await?;
        for p in m.announces {
            writeln!(out, "{:8} announces {p:18} AS_PATH {}", m.name, m.asn)?;
        }
        speakers.push(s);
    }

    writeln!(out)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (m, s) in MEMBERS.iter().zip(speakers.iter_mut()) {
        let _ = s.recv_until(Duration::from_millis(300), |_| false).await;
        let mut got: Vec<String> = s
            .rib
            .iter()
            .map(|(n, a)| {
                let path = a.as_path.as_ref().map(format_as_path).unwrap_or_default();
                format!("{:18} AS_PATH {path}", n.prefix.to_string())
            })
            .collect();
        got.sort();
        writeln!(
            out,
            "{:8} received {} routes through the route server:",
            m.name,
            got.len()
        )?;
        for line in got {
            writeln!(out, "           {line}")?;
        }
    }
    let rejected = daemon
        .query(|core| {
            let mut lines = Vec::new();
            for (i, slot) in core.clients().iter().enumerate() {
                for path in core.rib().adj_rib_in(kumo_rib::PeerId(i as u32)) {
                    if let Some(reason) = path.reject_reason() {
                        lines.push(format!(
                            "{:8} {:18} rejected by {}: code {} \"{}\"",
                            slot.config.name,
                            path.prefix.to_string(),
                            reason.policy.as_deref().unwrap_or("?"),
                            reason.code,
                            reason.text
                        ));
                    }
                }
            }
            lines
        })
        .await
        .unwrap_or_default();
    writeln!(
        out,
        "\nFiltered by the import policy (kept in the Adj-RIB-In, sent to no one):"
    )?;
    for line in rejected {
        writeln!(out, "  {line}")?;
    }
    writeln!(
        out,
        "\nNote: AS64500 (the route server) is in no AS_PATH: re-announcement is transparent (RFC 7947)."
    )?;
    if let Some(admin) = admin {
        let api = admin.listening;
        writeln!(out, "\nLook inside (admin API on {api}):")?;
        writeln!(out, "  curl http://{api}/api/v1/clients")?;
        writeln!(
            out,
            "  curl 'http://{api}/api/v1/clients/as65002/routes?view=filtered'"
        )?;
        writeln!(out, "  curl http://{api}/api/v1/policies")?;
        writeln!(out, "  curl http://{api}/metrics")?;
    }
    Ok((daemon, speakers))
}

fn member_attrs(m: &Member) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from(vec![AsPathSegment::Sequence(vec![m.asn])])),
        // Its own address: rs-standard checks that NEXT_HOP is the member's.
        next_hop: Some(Ipv4Addr::new(127, 0, 0, m.host)),
        large_communities: kumo_wire::thin_vec![LargeCommunity {
            global_admin: m.asn,
            local_data1: 0,
            local_data2: 1,
        }],
        ..Default::default()
    }
}

fn format_as_path(path: &AsPath) -> String {
    let join = |asns: &[u32], sep: &str| asns.iter().map(u32::to_string).collect::<Vec<_>>().join(sep);
    path.segments()
        .map(|segment| match segment {
            AsPathSegmentRef::Sequence(a) => join(a, " "),
            AsPathSegmentRef::Set(a) => format!("{{{}}}", join(a, ",")),
            AsPathSegmentRef::ConfedSequence(a) => format!("({})", join(a, " ")),
            AsPathSegmentRef::ConfedSet(a) => format!("[{}]", join(a, ",")),
        })
        .collect::<Vec<_>>()
        .join(" ")
}
