//! Fuzzes the exposition parser in both formats: any input parses or fails with an error
//! that names a line and column inside it, and never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use textparse::{Entry, Format, Parser};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().count().max(1) + 1;
    for format in [Format::Text, Format::OpenMetrics] {
        for entry in Parser::new(text, format) {
            match entry {
                Ok(Entry::Sample(s)) => {
                    assert!(!s.name.is_empty());
                    assert!(text.contains(s.series), "a series is a slice of the input");
                }
                Ok(_) => {}
                Err(e) => {
                    assert!(e.line >= 1 && e.line <= lines, "line {} of {lines}", e.line);
                    assert!(e.column >= 1, "column {}", e.column);
                    break;
                }
            }
        }
    }
});
