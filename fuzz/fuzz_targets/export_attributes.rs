//! kumo_sdk::encoding::decode_attributes (the attribute-set encoding of
//! batched export calls, decoded inside every policy module) on the fuzz
//! input: never a panic, and a decoded set accounts for every octet.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Some(attrs) = kumo_sdk::encoding::decode_attributes(bytes) {
        // The smallest encoding of what was decoded must fit in the input.
        let asns: usize = attrs.as_path.segments.iter().map(|s| 3 + 4 * s.asns.len()).sum();
        let lists = 8 + 4 * attrs.communities.len() + 8 * attrs.extended_communities.len()
            + 12 * attrs.large_communities.len();
        assert!(1 + asns + lists <= bytes.len());
    }
});
