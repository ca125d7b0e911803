//! Example policy: reject paths containing private ASNs, tag routes by origin.
//!
//! Import:
//! - a route whose AS_PATH contains a private ASN (RFC 6996) is rejected with
//!   code 7 ("invalid ASN in AS_PATH");
//! - every accepted route is tagged with the large community
//!   `rs_asn:origin_tag:ORIGIN-AS`, so members can filter by origin downstream.
//!
//! Export: a route tagged `0:PEER-AS` (Euro-IX "do not announce to PEER") is
//! not sent to that peer.
//!
//! Configuration: `{"rs_asn": 64500, "origin_tag": 1000}` (`origin_tag`
//! optional, default 1000).

use kumo_sdk::prelude::*;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    rs_asn: u32,
    #[serde(default = "default_origin_tag")]
    origin_tag: u32,
}

fn default_origin_tag() -> u32 {
    1000
}

/// The policy.
#[derive(Debug)]
pub struct OriginTagger {
    settings: Settings,
}

impl Policy for OriginTagger {
    fn new(config: &Config) -> Result<Self, String> {
        let settings = serde_json::from_value(config.clone()).map_err(|e| format!("origin-tagger: {e}"))?;
        Ok(OriginTagger { settings })
    }

    fn import(
        &self,
        _client: &Client,
        attrs: &Attributes,
        _prefixes: &[IpNet],
        verdicts: &mut ImportVerdicts,
    ) {
        if attrs.as_path.any(asn::is_private) {
            return verdicts.reject_all(reject::INVALID_ASN_IN_PATH, "private ASN in AS_PATH");
        }
        if let Some(origin) = attrs.as_path.origin_asn() {
            let tag = LargeCommunity::new(self.settings.rs_asn, self.settings.origin_tag, origin);
            verdicts.modify_all(&Modification::new().add_large_community(tag));
        }
    }

    fn export(
        &self,
        _source: &Client,
        attrs: &Attributes,
        _prefix: &IpNet,
        targets: &Targets<'_>,
        verdicts: &mut ExportVerdicts,
    ) {
        for (i, target) in targets.iter() {
            if let Ok(asn) = u16::try_from(target.asn)
                && attrs.has_community(Community::new(0, asn))
            {
                verdicts.deny(i);
            }
        }
    }
}

kumo_sdk::export_policy!(OriginTagger);

#[cfg(test)]
mod tests {
    use super::*;
    use kumo_sdk::testing;

    fn policy() -> OriginTagger {
        testing::build(r#"{"rs_asn": 64500}"#).unwrap()
    }

    #[test]
    fn private_asn_anywhere_rejects_every_prefix() {
        let attrs = Attributes::test().path([64501, 64512, 3356]);
        let v = testing::import(
            &policy(),
            &Client::test(1, 64501),
            &attrs,
            &prefixes(&["8.8.8.0/24", "9.9.9.0/24"]),
        );
        assert_eq!(v.accepted(), 0);
        assert_eq!(
            v.get(1).unwrap().rejection().unwrap().code,
            reject::INVALID_ASN_IN_PATH
        );
    }

    #[test]
    fn accepted_routes_are_tagged_with_their_origin() {
        let attrs = Attributes::test().path([64501, 3356, 15169]);
        let v = testing::import(
            &policy(),
            &Client::test(1, 64501),
            &attrs,
            &prefixes(&["8.8.8.0/24"]),
        );
        let m = v.get(0).unwrap().modification().unwrap();
        assert_eq!(
            m.add_large_communities,
            vec![LargeCommunity::new(64500, 1000, 15169)]
        );
    }

    #[test]
    fn do_not_announce_to_peer() {
        let attrs = Attributes::test().path([64501]).community(0, 64503);
        let v = testing::export(
            &policy(),
            &Client::test(1, 64501),
            &attrs,
            &prefixes(&["8.8.8.0/24"])[0],
            &[Client::test(2, 64502), Client::test(3, 64503)],
        );
        assert!(v.is_allowed(0));
        assert!(!v.is_allowed(1));
    }

    #[test]
    fn configuration_is_checked() {
        assert!(
            testing::build::<OriginTagger>("{}")
                .unwrap_err()
                .contains("rs_asn")
        );
        assert!(testing::build::<OriginTagger>(r#"{"rs_asn": 1, "extra": 2}"#).is_err());
    }
}
