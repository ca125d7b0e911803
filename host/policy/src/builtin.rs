//! The policy components kumo ships, built from `policies/` by `build.rs`
//! and embedded in the binary.

/// `accept-all`: accepts every route, sends it to every client.
pub const ACCEPT_ALL: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/accept_all.wasm"));

/// `rs-import`: the standard IX import filter (NEXT_HOP, first AS, AS_PATH
/// length, bogon ASNs, bogon prefixes, prefix length; optional tag).
pub const RS_IMPORT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rs_import.wasm"));

/// `rs-standard`: the standard IX route-server policy, import and export
/// (RFC 7948 filters with arouteserver's options and reject codes, BLACKHOLE,
/// GRACEFUL_SHUTDOWN, Euro-IX action communities). Needs `rs_as` in its
/// config; see docs/policies.md.
pub const RS_STANDARD: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rs_standard.wasm"));

/// `static-hold`: the standard static-hold module (world
/// `static-hold-module`, load it with [`crate::StaticHoldModule::load`]):
/// holds a lost session's routes only inside a declared maintenance window,
/// by default. Options in policies/static-hold/src/lib.rs.
pub const STATIC_HOLD: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/static_hold.wasm"));

/// Names of the built-in modules, as configurations refer to them.
pub const NAMES: &[&str] = &["accept-all", "rs-import", "rs-standard", "static-hold"];

/// The component bytes of built-in module `name`.
pub fn get(name: &str) -> Option<&'static [u8]> {
    match name {
        "accept-all" => Some(ACCEPT_ALL),
        "rs-import" => Some(RS_IMPORT),
        "rs-standard" => Some(RS_STANDARD),
        "static-hold" => Some(STATIC_HOLD),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_name_resolves_to_a_component() {
        for name in super::NAMES {
            let bytes = super::get(name).unwrap_or_default();
            // Component binaries: "\0asm" magic, then a layer-1 version.
            assert!(bytes.starts_with(b"\0asm"), "{name}");
            assert_eq!(bytes.get(6..8), Some(&[1u8, 0][..]), "{name} is not a component");
        }
        assert!(super::get("nope").is_none());
    }
}
