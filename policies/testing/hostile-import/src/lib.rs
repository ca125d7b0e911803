//! A policy component of the right world plus one import kumo does not
//! offer (`kumo:extra/thing`), for kumo-policy's and kumo's tests: kumo must
//! refuse it at load and name the import. Every call uses the import, so the
//! import survives into the component. Natively this crate is empty.

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code, missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: ["../../../wit", "wit"],
        world: "kumo:extra/hostile-import",
        generate_all,
    });
}

#[cfg(target_arch = "wasm32")]
mod guest {
    use super::bindings::exports::kumo::policy::policy::Guest;
    use super::bindings::kumo::extra::thing;
    use super::bindings::kumo::policy::types as t;

    struct NeedsMore;

    impl Guest for NeedsMore {
        fn init(_config: String) -> Result<(), String> {
            Ok(())
        }

        fn set_clients(_clients: Vec<t::Client>) {}

        fn import_routes(
            _client: u32,
            _attrs: t::Attributes,
            _prefixes: t::PrefixBatch,
        ) -> t::ImportVerdicts {
            // Whatever the host answers, the route is accepted: the point is the call.
            let _ = thing::poke();
            t::ImportVerdicts::AcceptAll
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

    super::bindings::export!(NeedsMore with_types_in super::bindings);
}
