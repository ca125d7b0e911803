//! Write kumo route-server policies in plain Rust.
//!
//! A policy is a type implementing [`Policy`]; [`export_policy!`] turns it into
//! a WebAssembly component for kumo (when compiled for `wasm32-wasip2`) and does
//! nothing otherwise, so `cargo test` of a policy runs natively, without wasm.
//!
//! Module map:
//! - [`Policy`] (this file): the trait a policy implements; [`export_policy!`].
//! - [`types`]: [`Client`], [`Attributes`], [`AsPath`], [`Community`],
//!   [`LargeCommunity`], [`Origin`] — the data a policy decides on.
//! - [`verdict`]: [`ImportVerdicts`], [`ExportVerdicts`], [`Outcome`],
//!   [`Rejection`], [`Modification`] — what a policy answers.
//! - [`reject`]: the route-server reject reason codes.
//! - [`asn`], [`prefix`]: ASN and prefix classification (private, reserved, bogon),
//!   prefix lists.
//! - [`communities`]: action-community patterns (`0:peer_as`, `rs_as:1:peer_as`).
//! - [`testing`]: one-line builders and runners for native tests.
//! - [`log`]: write to kumo's log.
//! - [`data`]: ask kumo's IRR and RPKI data about a batch of prefixes
//!   ([`data::rpki_validate`], [`data::irr_check`]), with native test doubles.
//! - [`static_hold`]: static-hold policies (what happens to a lost session's
//!   routes): [`static_hold::StaticHold`], [`export_static_hold!`].
//! - `encoding` (hidden): the attribute-set encoding of batched export calls.
//! - `guest` (wasm32 only, hidden): the wit-bindgen glue behind [`export_policy!`].
//!
//! ```
//! use kumo_sdk::prelude::*;
//!
//! struct NoLongPaths;
//!
//! impl Policy for NoLongPaths {
//!     fn new(_config: &Config) -> Result<Self, String> {
//!         Ok(NoLongPaths)
//!     }
//!     fn import(&self, _client: &Client, attrs: &Attributes, _prefixes: &[IpNet], verdicts: &mut ImportVerdicts) {
//!         if attrs.as_path.len() > 32 {
//!             verdicts.reject_all(reject::AS_PATH_LENGTH, "AS_PATH longer than 32");
//!         }
//!     }
//! }
//! kumo_sdk::export_policy!(NoLongPaths);
//!
//! let verdicts = kumo_sdk::testing::import(&NoLongPaths, &Client::test(1, 64501),
//!     &Attributes::test().path((0..40).map(|_| 64501)), &prefixes(&["192.0.2.0/24"]));
//! assert!(verdicts.get(0).unwrap().is_reject());
//! ```

pub mod asn;
pub mod communities;
pub mod data;
#[doc(hidden)]
pub mod encoding;
pub mod log;
pub mod prefix;
pub mod reject;
pub mod static_hold;
pub mod testing;
pub mod types;
pub mod verdict;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod guest;

pub use ipnet::{IpNet, Ipv4Net, Ipv6Net};
pub use serde_json::Value as Config;
pub use types::{
    AsPath, Attributes, Client, Community, LargeCommunity, Origin, Segment, SegmentKind, Targets,
};
pub use verdict::{ExportVerdicts, ImportVerdicts, Modification, Outcome, Rejection};

/// Everything a policy file usually needs: `use kumo_sdk::prelude::*;`.
///
/// ```
/// use kumo_sdk::prelude::*;
/// let c = Community::new(65000, 1);
/// assert_eq!(c.to_string(), "65000:1");
/// ```
pub mod prelude {
    pub use crate::testing::prefixes;
    pub use crate::{
        AsPath, Attributes, Client, Community, Config, ExportVerdicts, ImportVerdicts, IpNet, LargeCommunity,
        Modification, Origin, Outcome, Policy, Rejection, Targets, asn, prefix, reject,
    };
    pub use std::net::IpAddr;
}

/// A route-server policy.
///
/// One value is built per instance from the module's configuration
/// ([`Policy::new`]) and then answers calls. Implement [`Policy::import`],
/// [`Policy::export`] or both; the defaults accept everything. Keep the
/// per-prefix loop tight: decide what depends only on the attributes once per
/// call (they are shared by every prefix of the call) and reject all at once.
///
/// ```
/// use kumo_sdk::prelude::*;
///
/// /// Announce nothing to clients whose params say `"quarantine": true`.
/// struct Quarantine;
///
/// impl Policy for Quarantine {
///     fn new(_config: &Config) -> Result<Self, String> {
///         Ok(Quarantine)
///     }
///     fn export(&self, _source: &Client, _attrs: &Attributes, _prefix: &IpNet,
///               targets: &Targets<'_>, verdicts: &mut ExportVerdicts) {
///         for (i, target) in targets.iter() {
///             if target.params["quarantine"] == true {
///                 verdicts.deny(i);
///             }
///         }
///     }
/// }
///
/// let quiet = Client::test(3, 64503).with_params(serde_json::json!({"quarantine": true}));
/// let v = kumo_sdk::testing::export(&Quarantine, &Client::test(1, 64501), &Attributes::test(),
///     &prefixes(&["192.0.2.0/24"])[0], &[Client::test(2, 64502), quiet]);
/// assert!(v.is_allowed(0));
/// assert!(!v.is_allowed(1));
/// ```
pub trait Policy: Sized + 'static {
    /// Build the policy from its configuration table (`[policies.NAME.config]`
    /// in kumo's TOML, as JSON; `{}` when absent). An error refuses the module
    /// with that text.
    fn new(config: &Config) -> Result<Self, String>;

    /// Decide on routes received from `client`: one attribute set, many
    /// prefixes. `verdicts` starts as "accept all, unmodified".
    fn import(&self, client: &Client, attrs: &Attributes, prefixes: &[IpNet], verdicts: &mut ImportVerdicts) {
        let _ = (client, attrs, prefixes, verdicts);
    }

    /// Decide which of `targets` may receive the route for `prefix` from
    /// `source`. `verdicts` starts as "every target, unmodified".
    fn export(
        &self,
        source: &Client,
        attrs: &Attributes,
        prefix: &IpNet,
        targets: &Targets<'_>,
        verdicts: &mut ExportVerdicts,
    ) {
        let _ = (source, attrs, prefix, targets, verdicts);
    }

    /// Does [`Policy::export`]'s verdict depend on the prefix? Return
    /// `false` when it depends only on the source, the attributes and the
    /// targets (action communities, per-client flags): kumo then calls
    /// `export` once per attribute set, with its first prefix, and gives
    /// every prefix of the set that verdict, instead of one call per
    /// prefix. The default, `true`, is always correct.
    ///
    /// ```
    /// use kumo_sdk::prelude::*;
    /// struct NoOne;
    /// impl Policy for NoOne {
    ///     fn new(_: &Config) -> Result<Self, String> { Ok(NoOne) }
    ///     fn export(&self, _: &Client, _: &Attributes, _: &IpNet, _: &Targets<'_>, v: &mut ExportVerdicts) {
    ///         v.deny_all();
    ///     }
    ///     fn export_uses_prefix(&self) -> bool { false }
    /// }
    /// assert!(!NoOne.export_uses_prefix());
    /// ```
    fn export_uses_prefix(&self) -> bool {
        true
    }

    /// The policy's own checks, run by kumo when it loads the module.
    fn self_test(&self) -> Result<(), String> {
        Ok(())
    }

    /// The configured clients changed (called after [`Policy::new`] and on
    /// every change). Override it to precompute per-client state, such as
    /// parsed `params` or the addresses of every client of one AS; the
    /// default does nothing.
    ///
    /// ```
    /// use kumo_sdk::prelude::*;
    /// use kumo_sdk::types::ClientTable;
    ///
    /// #[derive(Default)]
    /// struct CountClients(usize);
    /// impl Policy for CountClients {
    ///     fn new(_: &Config) -> Result<Self, String> { Ok(CountClients::default()) }
    ///     fn clients_changed(&mut self, clients: &ClientTable) { self.0 = clients.len(); }
    /// }
    /// let mut p = CountClients::default();
    /// p.clients_changed(&ClientTable::new(vec![Client::test(0, 64500)]));
    /// assert_eq!(p.0, 1);
    /// ```
    fn clients_changed(&mut self, clients: &types::ClientTable) {
        let _ = clients;
    }
}

/// Export a [`Policy`] type as kumo's `policy-module` component.
///
/// In a `wasm32` build this generates the component exports; in any other
/// build it expands to nothing, so the same crate tests natively. Use it once,
/// at the crate root, in a `cdylib` crate.
///
/// ```
/// use kumo_sdk::prelude::*;
/// struct AcceptAll;
/// impl Policy for AcceptAll {
///     fn new(_: &Config) -> Result<Self, String> { Ok(AcceptAll) }
/// }
/// kumo_sdk::export_policy!(AcceptAll);
/// ```
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        // Named at the call site so the type path resolves where it was written.
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        type __KumoPolicy = $policy;

        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        mod __kumo_policy_export {
            use super::__KumoPolicy;
            use $crate::guest::bindings::exports::kumo::policy::policy as wit;
            use $crate::guest::bindings::kumo::policy::types as t;

            ::std::thread_local! {
                static STATE: ::std::cell::RefCell<$crate::guest::State<__KumoPolicy>> =
                    ::std::cell::RefCell::new($crate::guest::State::default());
            }

            struct Exports;

            impl wit::Guest for Exports {
                fn init(config: String) -> Result<(), String> {
                    STATE.with(|s| $crate::guest::init(&mut s.borrow_mut(), &config))
                }
                fn set_clients(clients: Vec<t::Client>) {
                    STATE.with(|s| $crate::guest::set_clients(&mut s.borrow_mut(), clients))
                }
                fn import_routes(client: u32, attrs: t::Attributes, prefixes: t::PrefixBatch) -> t::ImportVerdicts {
                    STATE.with(|s| $crate::guest::import_routes(&s.borrow(), client, attrs, prefixes))
                }
                fn export_routes(batch: t::ExportBatch) -> Vec<t::ExportVerdicts> {
                    STATE.with(|s| $crate::guest::export_routes(&s.borrow(), batch))
                }
                fn self_test() -> Result<(), String> {
                    STATE.with(|s| $crate::guest::self_test(&s.borrow()))
                }
            }

            impl $crate::guest::bindings::exports::kumo::policy::batch_import::Guest for Exports {
                fn import_many(batch: t::ImportBatch) -> t::ImportAnswers {
                    STATE.with(|s| $crate::guest::import_batch(&s.borrow(), batch))
                }
            }

            $crate::guest::bindings::export!(Exports with_types_in $crate::guest::bindings);
        }
    };
}
