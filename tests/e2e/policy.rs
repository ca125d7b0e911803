//! kumo with a WebAssembly policy loaded from a `.wasm` file, between real
//! BIRD 2 and GoBGP clients.
//!
//! The example policy `examples/policies/origin-tagger` (written only against
//! the SDK) rejects paths with a private ASN (RFC 6996) in the AS_PATH and
//! tags every accepted route with the large community `rs-asn:1000:origin`.
//!
//! Needs the kumo binary and the built components (`cargo build -p kumo`),
//! `bird`/`birdc` and `gobgpd`/`gobgp`.

#![allow(clippy::unwrap_used)]

use anyhow::{bail, ensure};
use kumo_e2e::{
    Announce, Bird, BirdConfig, Gobgp, Ix, KUMO_ASN, LargeCommunity, TIMEOUT, eventually, policy_component,
};

#[test]
fn wasm_import_policy_rejects_one_route_and_tags_the_others() {
    let ix = Ix::new();
    let wasm = policy_component("origin_tagger.wasm").unwrap();
    let (member_a, member_b) = (64501, 64502);
    let config = ix
        .config(vec![
            ix.client(2, member_a).extra("import = [\"origin-tagger\"]"),
            ix.client(3, member_b),
        ])
        .section(&format!(
            "[policies.origin-tagger]\npath = \"{}\"\nconfig = {{ rs_asn = {KUMO_ASN} }}",
            wasm.display()
        ));
    let mut kumo = kumo_e2e::Kumo::start_with(&config).unwrap();

    let sent = [
        Announce::new("10.10.1.0/24"),
        // A private ASN behind the member: the policy rejects this one.
        Announce::new("10.10.2.0/24").path(&[65010]),
        Announce::new("10.10.3.0/24").path(&[64496]),
        Announce::new("2001:db8:10::/48"),
    ];
    let a = Bird::start(sent.iter().cloned().fold(ix.bird(2, member_a), BirdConfig::route)).unwrap();
    let g = Gobgp::start(ix.gobgp(3, member_b)).unwrap();
    a.wait_established(TIMEOUT).unwrap();
    g.wait_established(TIMEOUT).unwrap();

    let want: Vec<_> = ["10.10.1.0/24", "10.10.3.0/24", "2001:db8:10::/48"]
        .iter()
        .map(|p| kumo_e2e::prefix(p))
        .collect();
    eventually("GoBGP to hold exactly the accepted routes, tagged", || {
        let routes = g.adj_in()?;
        let mut got: Vec<_> = routes.iter().map(|r| r.prefix).collect();
        got.sort();
        if got != want {
            bail!("GoBGP holds {got:?}, want {want:?}");
        }
        for route in &routes {
            let origin = *route.as_path.last().unwrap_or(&0);
            let tag = LargeCommunity(KUMO_ASN, 1000, origin);
            ensure!(
                route.large_communities.contains(&tag),
                "{} lacks the origin tag {tag:?}: {route:?}",
                route.prefix
            );
            ensure!(
                route.as_path.first() == Some(&member_a) && !route.as_path.contains(&KUMO_ASN),
                "{} is not passed transparently: {route:?}",
                route.prefix
            );
        }
        Ok(true)
    })
    .unwrap();
    kumo.check_running().unwrap();
}
