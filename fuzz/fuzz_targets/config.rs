//! `kumo_config::parse` on arbitrary text. Non-UTF-8 inputs are skipped
//! (a config file is read with `read_to_string`, which rejects them before
//! parsing). The error is rendered too, because rendering computes line and
//! column from byte offsets into the text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match kumo_config::parse(text) {
        Ok(config) => {
            // A config that parsed is usable: at least its Debug form can be built.
            let _ = format!("{config:?}");
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
