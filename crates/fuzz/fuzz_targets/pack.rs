//! The pack reader, on the bytes as they came and sealed with a right checksum; a pack that
//! loads must also build its network and judge an image without panicking.
#![no_main]

use burn::prelude::Device;
use libfuzzer_sys::fuzz_target;
use veil_core::FilterPack;

fuzz_target!(|data: &[u8]| {
    let _ = FilterPack::from_bytes(data);
    if let Ok(pack) = FilterPack::from_bytes(&veil_fuzz::sealed(data)) {
        let _ = pack.judging_model(&Device::flex());
    }
});
