//! Fuzzes PromQL from parse to answer: any query text parses, formats and evaluates to a
//! value or an error, and never panics or overflows the stack. It runs each input on a
//! thread with the 2 MiB stack of an async runtime's worker, where the server parses and
//! evaluates queries (issue 21: 5,000 nested parentheses aborted the server there).

#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use promql::engine::{Engine, EngineOptions, Steps};
use storage::{Appendable as _, MemStorage};

/// A few series of counters, gauges and histogram buckets for the queries to select.
fn store() -> &'static MemStorage {
    static STORE: OnceLock<MemStorage> = OnceLock::new();
    STORE.get_or_init(|| {
        let s = MemStorage::new();
        let mut app = s.appender();
        for (i, (name, le)) in [
            ("up", None),
            ("x", None),
            ("http_requests_total", None),
            ("latency_bucket", Some("0.1")),
            ("latency_bucket", Some("+Inf")),
        ]
        .into_iter()
        .enumerate()
        {
            for job in ["a", "b"] {
                let mut pairs = vec![("__name__", name), ("job", job)];
                if let Some(le) = le {
                    pairs.push(("le", le));
                }
                let labels = model::Labels::from_pairs(pairs);
                for t in 0..20i64 {
                    let v = (t * (i as i64 + 1)) as f64;
                    app.append(None, &labels, t * 15_000, v).ok();
                }
            }
        }
        app.commit().ok();
        s
    })
}

fn run(text: &str) {
    // Formatting grows with the cube of the depth: only short inputs, to keep runs fast.
    if text.len() <= 2048 {
        let _ = promql::ast::format(text);
    }
    let Ok(expr) = promql::ast::parse(text) else {
        return;
    };
    let engine = Engine::new(EngineOptions {
        timeout: Some(Duration::from_millis(200)),
        max_samples: 1_000_000,
        ..EngineOptions::default()
    });
    let _ = engine.eval(store(), &expr, Steps::instant(150_000));
    let range = Steps {
        start: 0,
        end: 300_000,
        step: 30_000,
    };
    let _ = engine.eval(store(), &expr, range);
}

fuzz_target!(
    // libfuzzer-sys aborts at any panic, before it unwinds; but promql-parser panics on some
    // input, and Skywatch catches that as a parse error. So panics unwind, quietly, and one
    // that reaches the input's thread is reported and fails the run below.
    init: std::panic::set_hook(Box::new(|_| {})),
    |data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        skywatch_fuzz::on_worker_stack("the query", || run(text));
    }
);
