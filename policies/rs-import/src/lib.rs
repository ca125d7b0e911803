//! `rs-import`: the standard IX route-server import filter, small and fixed:
//! rs-standard's import checks with a compact configuration, no export side.
//! It is the policy the WASM-vs-native benchmark measures.
//!
//! Checks (rs-standard's code, attribute-wide first, once per call):
//! 1. NEXT_HOP is one of the client's addresses (code 5);
//! 2. the left-most AS is the client's AS (code 6);
//! 3. AS_PATH length at most `max_path_length` (code 1);
//! 4. no private or reserved ASN in the AS_PATH (code 7);
//! 5. per prefix: IPv6 outside 2000::/3 (code 10), bogon (code 2), length
//!    within bounds (code 13).
//!
//! Transit-free and never-via-route-servers ASNs, black/white lists,
//! BLACKHOLE and GRACEFUL_SHUTDOWN handling are off (use rs-standard for
//! those). Clients' `params` sections read by rs-standard (`filtering`, ...)
//! apply here too.
//!
//! Accepted routes are tagged with the `tag` large community, if configured.
//!
//! Module configuration (`[policies.rs-import.config]`), all optional:
//! ```toml
//! max_path_length = 32
//! ipv4_length = [8, 24]
//! ipv6_length = [16, 48]
//! tag = "64500:1000:1"
//! ```

use kumo_policy_rs_standard_core::RsStandard;
use kumo_sdk::prelude::*;
use kumo_sdk::types::ClientTable;
use serde::Deserialize;

/// The module configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Longest AS_PATH accepted.
    pub max_path_length: usize,
    /// Accepted IPv4 prefix lengths, inclusive.
    pub ipv4_length: (u8, u8),
    /// Accepted IPv6 prefix lengths, inclusive.
    pub ipv6_length: (u8, u8),
    /// Large community added to accepted routes, `"a:b:c"`.
    pub tag: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_path_length: 32,
            ipv4_length: (8, 24),
            ipv6_length: (16, 48),
            tag: None,
        }
    }
}

impl Settings {
    /// The rs-standard configuration with exactly rs-import's checks.
    fn standard_config(&self) -> Config {
        serde_json::json!({
            // rs-import has no export side: the action communities built
            // from rs_as are never read.
            "rs_as": 0,
            "filtering": {
                "max_as_path_len": self.max_path_length,
                "ipv4_pref_len": {"min": self.ipv4_length.0, "max": self.ipv4_length.1},
                "ipv6_pref_len": {"min": self.ipv6_length.0, "max": self.ipv6_length.1},
                "transit_free": {"action": "none"}
            },
            "blackhole_filtering": {"strip_unauthorised": false},
            "graceful_shutdown": {"enabled": false}
        })
    }
}

/// The policy.
#[derive(Debug)]
pub struct RsImport {
    standard: RsStandard,
    settings: Settings,
    tag: Option<Modification>,
}

impl Policy for RsImport {
    fn new(config: &Config) -> Result<Self, String> {
        let settings: Settings =
            serde_json::from_value(config.clone()).map_err(|e| format!("rs-import configuration: {e}"))?;
        let tag = match &settings.tag {
            Some(text) => {
                let community: LargeCommunity = text.parse().map_err(|e| format!("rs-import tag: {e}"))?;
                Some(Modification::new().add_large_community(community))
            }
            None => None,
        };
        for (name, (min, max), limit) in [
            ("ipv4_length", settings.ipv4_length, 32),
            ("ipv6_length", settings.ipv6_length, 128),
        ] {
            if min > max || max > limit {
                return Err(format!(
                    "rs-import {name} {:?} is not a range within 0..={limit}",
                    (min, max)
                ));
            }
        }
        let standard = RsStandard::new(&settings.standard_config()).map_err(|e| format!("rs-import: {e}"))?;
        Ok(RsImport {
            standard,
            settings,
            tag,
        })
    }

    fn clients_changed(&mut self, clients: &ClientTable) {
        self.standard.clients_changed(clients);
    }

    fn import(&self, client: &Client, attrs: &Attributes, prefixes: &[IpNet], verdicts: &mut ImportVerdicts) {
        self.standard.import(client, attrs, prefixes, verdicts);
        if let Some(tag) = &self.tag {
            verdicts.modify_all(tag);
        }
    }

    fn self_test(&self) -> Result<(), String> {
        let client = Client::test(0, 3333).with_address([192, 0, 2, 1]);
        let attrs = Attributes::test().path([3333, 3356]).next_hop([192, 0, 2, 1]);
        // A valid prefix at the longest configured length, whatever the configuration.
        let valid = IpNet::new([8, 8, 8, 0].into(), self.settings.ipv4_length.1)
            .map_err(|e| e.to_string())?
            .trunc();
        let v = kumo_sdk::testing::import(self, &client, &attrs, &[prefixes(&["10.0.0.0/8"])[0], valid]);
        match (v.get(0).map(Outcome::is_reject), v.get(1).map(Outcome::is_accept)) {
            (Some(true), Some(true)) => Ok(()),
            _ => Err("self-test: bogon not rejected or valid route not accepted".to_owned()),
        }
    }
}

kumo_sdk::export_policy!(RsImport);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use kumo_sdk::testing;

    fn policy() -> RsImport {
        testing::build(r#"{"tag": "64500:1000:1"}"#).unwrap()
    }

    fn client() -> Client {
        Client::test(1, 3333).with_address([192, 0, 2, 1])
    }

    fn good() -> Attributes {
        Attributes::test().path([3333, 3356]).next_hop([192, 0, 2, 1])
    }

    fn code(v: &ImportVerdicts, i: usize) -> Option<u16> {
        v.get(i).unwrap().rejection().map(|r| r.code)
    }

    #[test]
    fn accepts_and_tags_valid_route() {
        let v = testing::import(
            &policy(),
            &client(),
            &good(),
            &prefixes(&["8.8.8.0/24", "2a00:1450::/32"]),
        );
        assert_eq!(v.accepted(), 2);
        let m = v.get(0).unwrap().modification().unwrap();
        assert_eq!(m.add_large_communities, vec![LargeCommunity::new(64500, 1000, 1)]);
    }

    #[test]
    fn attribute_checks_reject_every_prefix() {
        let p = prefixes(&["8.8.8.0/24", "9.9.9.0/24"]);
        let cases = [
            (good().next_hop([192, 0, 2, 99]), reject::INVALID_NEXT_HOP),
            (good().path([6939, 3356]), reject::INVALID_FIRST_AS),
            (
                good().path(std::iter::once(3333).chain(std::iter::repeat_n(3356, 40))),
                reject::AS_PATH_LENGTH,
            ),
            (good().path([3333, 65000, 3356]), reject::INVALID_ASN_IN_PATH),
        ];
        for (attrs, expected) in cases {
            let v = testing::import(&policy(), &client(), &attrs, &p);
            assert_eq!(
                (code(&v, 0), code(&v, 1)),
                (Some(expected), Some(expected)),
                "{attrs:?}"
            );
        }
    }

    #[test]
    fn per_prefix_checks() {
        let p = prefixes(&[
            "10.0.0.0/8",
            "8.8.8.0/25",
            "8.8.8.0/24",
            "2001:db8::/32",
            "2a00::/12",
        ]);
        let v = testing::import(&policy(), &client(), &good(), &p);
        assert_eq!(code(&v, 0), Some(reject::BOGON_PREFIX));
        assert_eq!(code(&v, 1), Some(reject::PREFIX_LENGTH));
        assert_eq!(code(&v, 2), None);
        assert_eq!(code(&v, 3), Some(reject::BOGON_PREFIX));
        assert_eq!(code(&v, 4), Some(reject::PREFIX_LENGTH));
    }

    #[test]
    fn config_errors_are_reported() {
        assert!(
            testing::build::<RsImport>(r#"{"tag": "nope"}"#)
                .unwrap_err()
                .contains("tag")
        );
        assert!(testing::build::<RsImport>(r#"{"ipv4_length": [25, 24]}"#).is_err());
        assert!(testing::build::<RsImport>(r#"{"colour": "blue"}"#).is_err());
        assert!(policy().self_test().is_ok());
    }
}
