//! Fuzzes rule unit test files (`promtool test rules`'s YAML): any text runs to an outcome
//! naming the file, never panicking or overflowing a worker's stack. The tests' rule files
//! are relative to a directory holding one small rule file, `rules.yml`; inputs that name
//! an absolute path or a parent directory are skipped, so that a run reads nothing else.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

const RULES: &str = "groups:
  - name: fuzz
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: Down
        expr: up == 0
        for: 1m
        labels:
          severity: page
        annotations:
          summary: '{{ $labels.job }} is down ({{ $value }})'
";

/// The directory the tests' `rule_files` are relative to, made once per process.
fn dir() -> &'static str {
    static DIR: OnceLock<String> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir: PathBuf =
            std::env::temp_dir().join(format!("skywatch-fuzz-rule-tests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        std::fs::write(dir.join("rules.yml"), RULES).expect("the rule file");
        dir.to_string_lossy().into_owned()
    })
}

/// Whether `text` may name a file outside the directory: a `..`, or a `/` that starts a
/// word (an absolute pattern).
fn leaves_dir(text: &str) -> bool {
    let b = text.as_bytes();
    text.contains("..")
        || b.iter()
            .enumerate()
            .any(|(i, &c)| c == b'/' && (i == 0 || b" \t\n[,\"'-:{".contains(&b[i - 1])))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if leaves_dir(text) {
        return;
    }
    skywatch_fuzz::on_worker_stack("the rule test file", || {
        let outcome = rules::unittest::run(text, dir(), "fuzz_test.yml".to_owned());
        assert_eq!(outcome.file, "fuzz_test.yml");
        assert!(outcome.failures.iter().all(|f| !f.is_empty()));
    });
});
