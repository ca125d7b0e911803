//! `accept-all`: accepts every route on import and sends it to every client
//! on export. kumo's default when a client has no policy chain.

use kumo_sdk::prelude::*;

/// The policy: no state, no configuration.
#[derive(Debug)]
pub struct AcceptAll;

impl Policy for AcceptAll {
    fn new(_config: &Config) -> Result<Self, String> {
        Ok(AcceptAll)
    }
}

kumo_sdk::export_policy!(AcceptAll);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_exports_everything() {
        let policy = AcceptAll;
        let v = kumo_sdk::testing::import(
            &policy,
            &Client::test(1, 64501),
            &Attributes::test().path([64501]),
            &prefixes(&["10.0.0.0/8", "192.0.2.0/24"]),
        );
        assert_eq!(v.accepted(), 2);
        let e = kumo_sdk::testing::export(
            &policy,
            &Client::test(1, 64501),
            &Attributes::test(),
            &prefixes(&["192.0.2.0/24"])[0],
            &[Client::test(2, 64502), Client::test(3, 64503)],
        );
        assert_eq!(e.allowed(), 2);
    }
}
