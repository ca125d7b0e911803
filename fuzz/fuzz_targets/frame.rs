//! Framing over arbitrary receive buffers, with both size limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for max in [kumo_wire::MAX_MESSAGE_LEN, kumo_wire::MAX_EXTENDED_MESSAGE_LEN] {
        if let Ok(Some(f)) = kumo_wire::frame(data, max) {
            assert!(f.message.len() >= kumo_wire::HEADER_LEN && f.message.len() <= max);
            assert_eq!(f.message, &data[..f.message.len()]);
        }
    }
});
