//! Fuzzes rule files (Prometheus's `groups:` YAML): any text is a rule file or an error
//! naming the file with at least one problem, and the text read as an alert template
//! (as the rules' labels and annotations are) parses or fails and expands to some text,
//! never panicking or overflowing a worker's stack.

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use rules::template::{AlertData, NoQueries, Template, expand};

fn run(text: &str) {
    match rules::RuleFile::parse(text, "fuzz.yml") {
        Ok(file) => assert_eq!(file.file, "fuzz.yml"),
        Err(e) => {
            assert_eq!(e.file, "fuzz.yml");
            assert!(!e.problems.is_empty(), "an error names a problem");
        }
    }
    if Template::parse(text).is_ok() {
        let labels = BTreeMap::from([("job".to_owned(), "node".to_owned())]);
        let data = AlertData {
            rule: "Fuzz",
            labels: &labels,
            external_labels: &BTreeMap::new(),
            external_url: "http://localhost:9090",
            value: 1.5,
        };
        let _ = expand(text, &data, &NoQueries);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    skywatch_fuzz::on_worker_stack("the rule file", || run(text));
});
