//! `rs-standard` as a kumo policy component: the policy is
//! [`kumo_policy_rs_standard_core::RsStandard`] (import filters with
//! arouteserver's options and reject codes, BLACKHOLE, GRACEFUL_SHUTDOWN,
//! Euro-IX action communities on export). The operator's reference is
//! `docs/policies.md`; the table-driven tests are in `tests.rs`.

pub use kumo_policy_rs_standard_core::*;

kumo_sdk::export_policy!(kumo_policy_rs_standard_core::RsStandard);

#[cfg(test)]
mod tests;
