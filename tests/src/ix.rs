//! One test's exchange: an address block of its own, kumo's listen address
//! on it, and builders for the clients and kumo.

use std::net::{Ipv4Addr, SocketAddr};

use crate::{Api, BirdConfig, FrrConfig, GobgpConfig, KUMO_ASN, Kumo, KumoClient, KumoConfig, TestNet};

/// One test's exchange.
#[derive(Debug)]
pub struct Ix {
    pub net: TestNet,
    pub listen: SocketAddr,
}

impl Ix {
    /// # Panics
    /// When no address block or port is free (the test cannot go on).
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let net = TestNet::new().unwrap_or_else(|e| panic!("no test address block: {e:#}"));
        let port = net
            .free_port(net.addr(1))
            .unwrap_or_else(|e| panic!("no free port: {e:#}"));
        let listen = SocketAddr::from((net.addr(1), port));
        Self { net, listen }
    }

    pub fn kumo_ip(&self) -> Ipv4Addr {
        self.net.addr(1)
    }

    pub fn bird(&self, host: u8, asn: u32) -> BirdConfig {
        BirdConfig::client(
            asn,
            self.net.addr(host),
            self.kumo_ip(),
            self.listen.port(),
            KUMO_ASN,
        )
    }

    pub fn gobgp(&self, host: u8, asn: u32) -> GobgpConfig {
        GobgpConfig::client(
            asn,
            self.net.addr(host),
            self.kumo_ip(),
            self.listen.port(),
            KUMO_ASN,
        )
    }

    /// An FRR `bgpd` client at `.host`.
    pub fn frr(&self, host: u8, asn: u32) -> FrrConfig {
        FrrConfig::client(
            asn,
            self.net.addr(host),
            self.kumo_ip(),
            self.listen.port(),
            KUMO_ASN,
        )
    }

    /// The admin API on a free port of kumo's address, with the tests' token; put it in the
    /// config with [`KumoConfig::admin`].
    ///
    /// # Panics
    /// When no port is free (the test cannot go on).
    pub fn api(&self) -> Api {
        let port = self
            .net
            .free_port(self.kumo_ip())
            .unwrap_or_else(|e| panic!("no free port for the admin API: {e:#}"));
        Api::new(SocketAddr::from((self.kumo_ip(), port)))
    }

    /// The `[[clients]]` entry for a client at `.host`; its name is `as<ASN>`.
    pub fn client(&self, host: u8, asn: u32) -> KumoClient {
        KumoClient::new(&format!("as{asn}"), asn, self.net.addr(host))
    }

    /// kumo's configuration with `clients`.
    pub fn config(&self, clients: Vec<KumoClient>) -> KumoConfig {
        clients
            .into_iter()
            .fold(KumoConfig::new(self.listen), KumoConfig::client)
    }

    /// kumo running with `clients`.
    ///
    /// # Panics
    /// When kumo does not start (the test cannot go on).
    pub fn kumo(&self, clients: Vec<KumoClient>) -> Kumo {
        match Kumo::start_with(&self.config(clients)) {
            Ok(kumo) => kumo,
            Err(e) => panic!("kumo did not start: {e:#}"),
        }
    }
}
