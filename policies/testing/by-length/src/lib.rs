//! A policy for kumo-policy's tests of batched export: its export verdict
//! depends on the prefix, so one call over several prefixes must answer
//! `mixed` verdicts through the SDK's glue.
//!
//! Export: prefixes longer than /24 (IPv4) or /48 (IPv6) go to no one;
//! exactly /24 or /48 go to every target, with the path prepended twice
//! towards targets of odd ASN; anything shorter goes everywhere unchanged.
//!
//! Import (for the tests of batched import; `single-import` answers the
//! same through one call per attribute set): a MED of 666 rejects every
//! prefix of the set (code 77); a prefix longer than the edge is rejected
//! (code 9); exactly at the edge it is accepted with community 65000:edge
//! and preference 200; anything shorter is accepted unchanged.

use kumo_sdk::prelude::*;

/// The policy: no configuration.
#[derive(Debug)]
pub struct ByLength;

impl Policy for ByLength {
    fn new(_config: &Config) -> Result<Self, String> {
        Ok(ByLength)
    }

    fn import(
        &self,
        _client: &Client,
        attrs: &Attributes,
        prefixes: &[IpNet],
        verdicts: &mut ImportVerdicts,
    ) {
        if attrs.med == Some(666) {
            return verdicts.reject_all(77, "med 666");
        }
        for (i, prefix) in prefixes.iter().enumerate() {
            let edge = match prefix {
                IpNet::V4(_) => 24,
                IpNet::V6(_) => 48,
            };
            if prefix.prefix_len() > edge {
                verdicts.reject(i, 9, "too long");
            } else if prefix.prefix_len() == edge {
                let tag = Modification::new().add_community(Community((65000 << 16) | u32::from(edge)));
                verdicts.modify(i, &tag.preference(200));
            }
        }
    }

    fn export(
        &self,
        _source: &Client,
        _attrs: &Attributes,
        prefix: &IpNet,
        targets: &Targets<'_>,
        verdicts: &mut ExportVerdicts,
    ) {
        let edge = match prefix {
            IpNet::V4(_) => 24,
            IpNet::V6(_) => 48,
        };
        for (i, target) in targets.iter() {
            if prefix.prefix_len() > edge {
                verdicts.deny(i);
            } else if prefix.prefix_len() == edge && target.asn % 2 == 1 {
                verdicts.modify(i, &Modification::new().prepend(2));
            }
        }
    }
}

kumo_sdk::export_policy!(ByLength);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_follows_the_prefix_length() {
        let targets = [Client::test(2, 64502), Client::test(3, 64503)];
        let export = |p: &str| {
            kumo_sdk::testing::export(
                &ByLength,
                &Client::test(1, 64501),
                &Attributes::test(),
                &prefixes(&[p])[0],
                &targets,
            )
        };
        assert_eq!(export("192.0.2.0/25").allowed(), 0);
        let v = export("192.0.2.0/24");
        assert_eq!(v.allowed(), 2);
        assert!(v.modification(0).is_none());
        assert_eq!(v.modification(1).map(|m| m.prepend), Some(2));
        assert_eq!(export("10.0.0.0/16").modification(1), None);
    }
}
