//! Decoding an image as the browser gets it and turning it into the network's input, under the
//! decoder's size limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil_core::preprocess;

const SIDE: usize = 32;

fuzz_target!(|data: &[u8]| {
    if let Ok(image) = preprocess::decode(data) {
        let input = preprocess::to_input(&image, SIDE);
        assert_eq!(input.len(), 3 * SIDE * SIDE);
        assert!(input.iter().all(|value| (0.0..=1.0).contains(value)));
    }
});
