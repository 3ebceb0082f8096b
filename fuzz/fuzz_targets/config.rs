//! Fuzzes the configuration parser: any input is a configuration or an error naming the
//! file, and never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = scrape::Config::parse(text, "fuzz.yml") {
        assert_eq!(e.file, "fuzz.yml");
        assert!(!e.message.is_empty());
    }
});
