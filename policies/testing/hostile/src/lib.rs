//! A deliberately misbehaving policy for kumo-policy's tests.
//!
//! Its module configuration picks the misbehaviour, `{"mode": M, "victims": [ids]}`:
//! - `loop`: never returns from import/export (the host's deadline must stop it);
//! - `memory`: allocates until it is stopped (the host's memory cap);
//! - `panic`: panics (a trap);
//! - `wrong-length`: returns one verdict index too few;
//! - `bad-index`: returns a verdict index past the outcome table (import and export);
//! - `bad-bitmap`: returns an export bitmap of the wrong size;
//! - `wrong-count`: leaves its victims' questions out of an export or a
//!   batched import (`import-many`) answer;
//! - `bad-shared-index`: in an `import-many` answer, names modification 1
//!   of a list of one (an index one past the end);
//! - `chatty`: writes 100 log lines per import question (the host's cap,
//!   per call times the call's questions, must hold them back);
//! - `loop-above`: never returns from an export or `import-many` call of
//!   more than `max_questions` questions (default 8), whoever they are
//!   from: a module too slow for many questions in one call's time;
//! - `init-error`: refuses its configuration; `self-test-error`: fails its self-test;
//! - `init-loop`: never returns from `init`;
//! - `grow`: keeps state across calls, each call leaking `grow_kib` KiB
//!   (default 1024) into a static list, so memory grows until the cap;
//! - `sockets`: opens a TCP connection (a real `wasi:sockets` call);
//! - `files`: reads a file (a real `wasi:filesystem` call).
//!
//! Clients not listed in `victims` (when given) get accept-all behaviour, so a
//! test can show the same module keeps serving others after a failure.
//!
//! It implements the raw WIT exports (not the SDK's `Policy`) because the SDK
//! cannot produce malformed answers. Natively this crate is empty.

#[cfg(target_arch = "wasm32")]
mod guest {
    use std::cell::RefCell;

    use kumo_sdk::guest::bindings::exports::kumo::policy::batch_import::Guest as BatchGuest;
    use kumo_sdk::guest::bindings::exports::kumo::policy::policy::Guest;
    use kumo_sdk::guest::bindings::kumo::policy::types as t;

    #[derive(Default)]
    struct Settings {
        mode: String,
        victims: Option<Vec<u32>>,
        grow_kib: usize,
        max_questions: usize,
    }

    thread_local! {
        static SETTINGS: RefCell<Settings> = RefCell::new(Settings::default());
        /// What `grow` keeps from call to call: never freed.
        static LEAKED: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    }

    /// One call's leak for `grow`: the instance's memory only ever grows.
    fn leak() {
        let kib = SETTINGS.with(|s| s.borrow().grow_kib);
        LEAKED.with(|l| l.borrow_mut().push(std::hint::black_box(vec![0x5Au8; kib << 10])));
    }

    /// Try to use the OS through WASI; kumo links no such interface, so this traps.
    fn use_the_os(mode: &str) {
        match mode {
            "sockets" => {
                let _ = std::hint::black_box(std::net::TcpStream::connect("192.0.2.1:179"));
            }
            _ => {
                let _ = std::hint::black_box(std::fs::read("/etc/passwd"));
            }
        }
    }

    fn misbehave_for(client: u32) -> Option<String> {
        SETTINGS.with(|s| {
            let s = s.borrow();
            match &s.victims {
                Some(ids) if !ids.contains(&client) => None,
                _ => Some(s.mode.clone()),
            }
        })
    }

    fn spin() -> ! {
        let mut n = 0u64;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }

    fn eat_memory() -> ! {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            let chunk = vec![0xA5u8; 1 << 20];
            hoard.push(std::hint::black_box(chunk));
        }
    }

    /// The import answer for `count` prefixes from `client`, one call or one
    /// question of a batch alike.
    fn import_verdicts(client: u32, count: usize) -> t::ImportVerdicts {
        match misbehave_for(client).as_deref() {
            Some("loop") => spin(),
            Some("memory") => eat_memory(),
            Some("panic") => panic!("hostile: panicking on purpose"),
            Some("grow") => {
                leak();
                t::ImportVerdicts::AcceptAll
            }
            Some(os @ ("sockets" | "files")) => {
                use_the_os(os);
                t::ImportVerdicts::AcceptAll
            }
            Some("chatty") => {
                for i in 0..100 {
                    kumo_sdk::guest::bindings::kumo::policy::host::log(
                        t::Level::Info,
                        &format!("hostile: line {i} about client {client}"),
                    );
                }
                t::ImportVerdicts::AcceptAll
            }
            Some("wrong-length") => t::ImportVerdicts::Mixed(t::MixedVerdicts {
                verdicts: vec![0; count.saturating_sub(1)],
                outcomes: vec![t::Outcome::Accept],
            }),
            Some("bad-index") => t::ImportVerdicts::Mixed(t::MixedVerdicts {
                verdicts: vec![7; count],
                outcomes: vec![t::Outcome::Accept],
            }),
            _ => t::ImportVerdicts::AcceptAll,
        }
    }

    /// `loop-above`: spin in a batch of more than `max_questions` questions.
    fn spin_above(questions: usize) {
        let too_many = SETTINGS.with(|s| {
            let s = s.borrow();
            s.mode == "loop-above" && questions > s.max_questions
        });
        if too_many {
            spin();
        }
    }

    struct Hostile;

    impl BatchGuest for Hostile {
        fn import_many(batch: t::ImportBatch) -> t::ImportAnswers {
            spin_above(batch.clients.len());
            let mut verdicts = Vec::with_capacity(batch.clients.len());
            let mut start = 0;
            for (&client, &end) in batch.clients.iter().zip(&batch.prefix_ends) {
                let count = (end as usize).saturating_sub(start);
                start = end as usize;
                verdicts.push(match misbehave_for(client).as_deref() {
                    // No answer at all for this question: the batch has one too few.
                    Some("wrong-count") => continue,
                    Some("bad-shared-index") => t::SharedImportVerdicts::AcceptAllModified(1),
                    // `import_verdicts` answers accept-all or mixed accepts
                    // only: a mode that rejects needs its own case here.
                    _ => match import_verdicts(client, count) {
                        t::ImportVerdicts::Mixed(m) => {
                            t::SharedImportVerdicts::Mixed(t::SharedMixedVerdicts {
                                verdicts: m.verdicts,
                                // Every outcome this guest gives is `accept`.
                                outcomes: m.outcomes.iter().map(|_| t::SharedOutcome::Accept).collect(),
                            })
                        }
                        _ => t::SharedImportVerdicts::AcceptAll,
                    },
                });
            }
            t::ImportAnswers {
                // Named by no honest answer: a host that clamped a bad
                // index to the last entry would apply it.
                modifications: vec![t::Modification {
                    add_communities: vec![(65535 << 16) | 666],
                    remove_communities: Vec::new(),
                    add_large_communities: Vec::new(),
                    remove_large_communities: Vec::new(),
                    prepend: 0,
                    preference: None,
                    next_hop: None,
                }],
                rejections: Vec::new(),
                verdicts,
            }
        }
    }

    impl Guest for Hostile {
        fn init(config: String) -> Result<(), String> {
            let value: serde_json::Value = serde_json::from_str(&config).map_err(|e| e.to_string())?;
            let mode = value["mode"].as_str().unwrap_or("none").to_owned();
            let victims = value["victims"]
                .as_array()
                .map(|ids| ids.iter().filter_map(|v| v.as_u64()).map(|v| v as u32).collect());
            let grow_kib = value["grow_kib"].as_u64().unwrap_or(1024) as usize;
            let max_questions = value["max_questions"].as_u64().unwrap_or(8) as usize;
            match mode.as_str() {
                "init-error" => return Err("hostile: configuration refused on purpose".to_owned()),
                "init-loop" => spin(),
                _ => {}
            }
            SETTINGS.with(|s| {
                *s.borrow_mut() = Settings {
                    mode,
                    victims,
                    grow_kib,
                    max_questions,
                }
            });
            Ok(())
        }

        fn set_clients(_clients: Vec<t::Client>) {}

        fn import_routes(client: u32, _attrs: t::Attributes, prefixes: t::PrefixBatch) -> t::ImportVerdicts {
            import_verdicts(client, prefixes.lengths.len())
        }

        fn export_routes(batch: t::ExportBatch) -> Vec<t::ExportVerdicts> {
            let verdict = |receivers| t::ExportVerdict {
                receivers,
                modifications: Vec::new(),
                modified_targets: Vec::new(),
                modified_by: Vec::new(),
            };
            let all = |receivers| t::ExportVerdicts::Uniform(verdict(receivers));
            let count = |ends: &[u32], i: usize| {
                let start = if i == 0 { 0 } else { ends[i - 1] };
                (ends[i] - start) as usize
            };
            spin_above(batch.sources.len());
            let mut answers = Vec::with_capacity(batch.sources.len());
            for (i, &source) in batch.sources.iter().enumerate() {
                let answer = match misbehave_for(source).as_deref() {
                    Some("loop") => spin(),
                    Some("memory") => eat_memory(),
                    Some("panic") => panic!("hostile: panicking on purpose"),
                    Some("bad-bitmap") => all(t::Receivers::Bitmap(vec![
                        u64::MAX;
                        count(&batch.target_ends, i) / 64
                            + 3
                    ])),
                    Some("bad-index") => t::ExportVerdicts::Mixed(t::MixedExportVerdicts {
                        verdicts: vec![7; count(&batch.prefix_ends, i)],
                        distinct: vec![verdict(t::Receivers::All)],
                    }),
                    // No answer at all for this question: the batch has one too few.
                    Some("wrong-count") => continue,
                    _ => all(t::Receivers::All),
                };
                answers.push(answer);
            }
            answers
        }

        fn self_test() -> Result<(), String> {
            SETTINGS.with(|s| match s.borrow().mode.as_str() {
                "self-test-error" => Err("hostile: self-test fails on purpose".to_owned()),
                _ => Ok(()),
            })
        }
    }

    kumo_sdk::guest::bindings::export!(Hostile with_types_in kumo_sdk::guest::bindings);
}
