//! A policy component of world `kumo:policy/policy-module` only, written
//! against the WIT directly (no SDK): it exports no `batch-import`, like a
//! module built before that interface existed, so kumo must ask it one
//! `import-routes` call per attribute set. Its import answers what
//! `by-length` answers through the SDK (see that crate): MED 666 rejects the
//! set (77), longer than /24 or /48 is rejected (9), exactly at the edge is
//! accepted with community 65000:edge and preference 200. Export lets
//! everything through. Natively this crate is empty.

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code, missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "kumo:policy/policy-module",
        generate_all,
    });
}

#[cfg(target_arch = "wasm32")]
mod guest {
    use super::bindings::exports::kumo::policy::policy::Guest;
    use super::bindings::kumo::policy::types as t;

    struct SingleImport;

    fn modification(edge: u8) -> t::Modification {
        t::Modification {
            add_communities: vec![(65000 << 16) | u32::from(edge)],
            remove_communities: Vec::new(),
            add_large_communities: Vec::new(),
            remove_large_communities: Vec::new(),
            prepend: 0,
            preference: Some(200),
            next_hop: None,
        }
    }

    impl Guest for SingleImport {
        fn init(_config: String) -> Result<(), String> {
            Ok(())
        }

        fn set_clients(_clients: Vec<t::Client>) {}

        fn import_routes(_client: u32, attrs: t::Attributes, prefixes: t::PrefixBatch) -> t::ImportVerdicts {
            if attrs.med == Some(666) {
                return t::ImportVerdicts::RejectAll(t::Rejection {
                    code: 77,
                    text: "med 666".into(),
                });
            }
            // Outcomes: 0 accept, 1 too long, 2 tagged at /24, 3 tagged at /48.
            let outcomes = vec![
                t::Outcome::Accept,
                t::Outcome::Reject(t::Rejection {
                    code: 9,
                    text: "too long".into(),
                }),
                t::Outcome::AcceptModified(modification(24)),
                t::Outcome::AcceptModified(modification(48)),
            ];
            let verdicts: Vec<u16> = prefixes
                .lengths
                .iter()
                .zip(&prefixes.families)
                .map(|(&length, &family)| {
                    let (edge, tagged) = if family == 6 { (48, 3) } else { (24, 2) };
                    match length {
                        l if l > edge => 1,
                        l if l == edge => tagged,
                        _ => 0,
                    }
                })
                .collect();
            if verdicts.iter().all(|&v| v == 0) {
                return t::ImportVerdicts::AcceptAll;
            }
            t::ImportVerdicts::Mixed(t::MixedVerdicts { verdicts, outcomes })
        }

        fn export_routes(batch: t::ExportBatch) -> Vec<t::ExportVerdicts> {
            batch
                .sources
                .iter()
                .map(|_| {
                    t::ExportVerdicts::Uniform(t::ExportVerdict {
                        receivers: t::Receivers::All,
                        modifications: Vec::new(),
                        modified_targets: Vec::new(),
                        modified_by: Vec::new(),
                    })
                })
                .collect()
        }

        fn self_test() -> Result<(), String> {
            Ok(())
        }
    }

    super::bindings::export!(SingleImport with_types_in super::bindings);
}
