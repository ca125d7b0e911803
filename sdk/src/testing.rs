//! Native test helpers: build routes in one line and run a policy over them
//! exactly as the component glue would (including its fail-closed handling of
//! unknown targets).
//!
//! ```
//! use kumo_sdk::prelude::*;
//! use kumo_sdk::testing;
//!
//! struct RejectAll;
//! impl Policy for RejectAll {
//!     fn new(_: &Config) -> Result<Self, String> { Ok(RejectAll) }
//!     fn import(&self, _: &Client, _: &Attributes, _: &[IpNet], v: &mut ImportVerdicts) {
//!         v.reject_all(reject::CLIENT_BLOCKLIST, "closed");
//!     }
//! }
//! let v = testing::import(&RejectAll, &Client::test(1, 64501), &Attributes::test(), &prefixes(&["192.0.2.0/24"]));
//! assert_eq!(v.accepted(), 0);
//! ```

use ipnet::IpNet;

use crate::types::ClientTable;
use crate::{Attributes, Client, ExportVerdicts, ImportVerdicts, Policy, Targets};

/// Parse prefixes for a test.
///
/// # Panics
/// On a string that is not a prefix: this is a test helper.
///
/// ```
/// let p = kumo_sdk::testing::prefixes(&["192.0.2.0/24", "2001:db8::/32"]);
/// assert_eq!(p.len(), 2);
/// ```
#[allow(clippy::panic)]
pub fn prefixes(text: &[&str]) -> Vec<IpNet> {
    text.iter()
        .map(|s| match s.parse() {
            Ok(p) => p,
            Err(e) => panic!("test prefix {s:?}: {e}"),
        })
        .collect()
}

/// Run `policy`'s import over `prefixes` from `client`.
///
/// ```
/// use kumo_sdk::prelude::*;
/// struct AcceptAll;
/// impl Policy for AcceptAll { fn new(_: &Config) -> Result<Self, String> { Ok(AcceptAll) } }
/// let v = kumo_sdk::testing::import(&AcceptAll, &Client::test(1, 1), &Attributes::test(), &prefixes(&["192.0.2.0/24"]));
/// assert_eq!(v.accepted(), 1);
/// ```
pub fn import<P: Policy>(
    policy: &P,
    client: &Client,
    attrs: &Attributes,
    prefixes: &[IpNet],
) -> ImportVerdicts {
    let mut verdicts = ImportVerdicts::new(prefixes.len());
    policy.import(client, attrs, prefixes, &mut verdicts);
    verdicts
}

/// Run `policy`'s export of `prefix` from `source` towards `targets`
/// (positions in the verdict follow `targets`).
///
/// ```
/// use kumo_sdk::prelude::*;
/// struct AcceptAll;
/// impl Policy for AcceptAll { fn new(_: &Config) -> Result<Self, String> { Ok(AcceptAll) } }
/// let v = kumo_sdk::testing::export(&AcceptAll, &Client::test(1, 1), &Attributes::test(),
///     &prefixes(&["192.0.2.0/24"])[0], &[Client::test(2, 2)]);
/// assert!(v.is_allowed(0));
/// ```
pub fn export<P: Policy>(
    policy: &P,
    source: &Client,
    attrs: &Attributes,
    prefix: &IpNet,
    targets: &[Client],
) -> ExportVerdicts {
    let ids: Vec<u32> = targets.iter().map(|c| c.id).collect();
    let table = ClientTable::new(targets.to_vec());
    let targets = Targets::new(&ids, &table);
    let mut verdicts = ExportVerdicts::new(targets.len());
    policy.export(source, attrs, prefix, &targets, &mut verdicts);
    verdicts
}

/// Check a policy's [`Policy::export_uses_prefix`] claim: when it says
/// `false` (kumo then evaluates its export once per attribute set, with the
/// set's first prefix), the export of each of `prefixes` must equal the
/// first one's. `Err` names the first prefix that differs. Always `Ok` for a
/// policy that says `true`.
///
/// ```
/// use kumo_sdk::prelude::*;
/// /// Claims to ignore the prefix, but denies /25s: the check catches it.
/// struct Wrong;
/// impl Policy for Wrong {
///     fn new(_: &Config) -> Result<Self, String> { Ok(Wrong) }
///     fn export(&self, _: &Client, _: &Attributes, p: &IpNet, _: &Targets<'_>, v: &mut ExportVerdicts) {
///         if p.prefix_len() > 24 { v.deny_all(); }
///     }
///     fn export_uses_prefix(&self) -> bool { false }
/// }
/// let check = |p: &[&str]| kumo_sdk::testing::check_export_uses_prefix(&Wrong,
///     &Client::test(1, 1), &Attributes::test(), &prefixes(p), &[Client::test(2, 2)]);
/// assert!(check(&["192.0.2.0/24", "198.51.100.0/24"]).is_ok());
/// assert!(check(&["192.0.2.0/24", "198.51.100.0/25"]).is_err());
/// ```
pub fn check_export_uses_prefix<P: Policy>(
    policy: &P,
    source: &Client,
    attrs: &Attributes,
    prefixes: &[IpNet],
    targets: &[Client],
) -> Result<(), String> {
    if policy.export_uses_prefix() {
        return Ok(());
    }
    let Some(first) = prefixes.first() else {
        return Ok(());
    };
    let expected = export(policy, source, attrs, first, targets);
    match prefixes
        .iter()
        .find(|p| export(policy, source, attrs, p, targets) != expected)
    {
        Some(p) => Err(format!(
            "export_uses_prefix() is false, but the export of {p} differs from that of {first}"
        )),
        None => Ok(()),
    }
}

/// Build a policy from a JSON configuration, as kumo does at instantiation.
///
/// ```
/// use kumo_sdk::prelude::*;
/// struct NeedsLimit(u64);
/// impl Policy for NeedsLimit {
///     fn new(c: &Config) -> Result<Self, String> {
///         c["limit"].as_u64().map(NeedsLimit).ok_or_else(|| "limit missing".to_string())
///     }
/// }
/// assert!(kumo_sdk::testing::build::<NeedsLimit>(r#"{"limit": 3}"#).is_ok());
/// assert!(kumo_sdk::testing::build::<NeedsLimit>("{}").is_err());
/// ```
pub fn build<P: Policy>(config_json: &str) -> Result<P, String> {
    let config: crate::Config =
        serde_json::from_str(config_json).map_err(|e| format!("config is not JSON: {e}"))?;
    P::new(&config)
}
