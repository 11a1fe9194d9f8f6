//! The trainer's recipe parser: any text either is refused with a message or parses, and a
//! recipe that parses writes itself back as TOML that parses again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil_train::config::RunConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = RunConfig::from_toml(text, "fuzzed recipe") {
        let _ = config.validate();
        RunConfig::from_toml(&config.to_toml(), "written back").expect("a parsed recipe re-parses");
    }
});
