//! Issue 21: deep expressions overflowed the stack and aborted the server. Every case here
//! runs on a thread with the 2 MiB stack of an async runtime's worker, where the server
//! parses and evaluates queries, and must answer (a result or an error), never abort.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

use promql::ast::{Expr, format, parse};
use promql::engine::{Engine, Stepped, Steps};
use promql::limits::MAX_DEPTH;
use storage::{Appendable as _, MemStorage};

/// Runs `f` on a thread with a tokio worker's default stack.
fn on_worker_stack<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn_scoped(s, f)
            .unwrap()
            .join()
            .unwrap()
    })
}

fn store() -> MemStorage {
    let s = MemStorage::new();
    let mut app = s.appender();
    let labels = model::Labels::from_pairs([("__name__", "x"), ("job", "j")]);
    app.append(None, &labels, 0, 2.0).unwrap();
    app.commit().unwrap();
    s
}

fn instant(q: &str) -> Result<Stepped, String> {
    let e = parse(q).map_err(|e| e.to_string())?;
    Engine::default()
        .eval(&store(), &e, Steps::instant(0))
        .map_err(|e| e.to_string())
}

fn scalar(v: &Stepped) -> f64 {
    match v {
        Stepped::Scalar(v) => v[0],
        Stepped::Vector(s) => s[0].points[0].v,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_issues_queries_answer_as_prometheus_does() {
    on_worker_stack(|| {
        // 5,000 nested parentheses: Prometheus answers 1.
        let parens = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        assert_eq!(scalar(&instant(&parens).unwrap()), 1.0);
        // A 10,000-term chain (a 40 KB body in the issue).
        let chain = vec!["1"; 10_000].join("+");
        assert_eq!(scalar(&instant(&chain).unwrap()), 10_000.0);
        // The same over a vector, through binary vector arithmetic at every level.
        let vector_chain = vec!["x"; 10_000].join(" + ");
        assert_eq!(scalar(&instant(&vector_chain).unwrap()), 20_000.0);
    });
}

#[test]
fn every_kind_of_nesting_up_to_the_limit_parses_evaluates_and_drops() {
    let n = MAX_DEPTH - 2;
    let cases = [
        format!("{}x{}", "(".repeat(n), ")".repeat(n)),
        format!("{}x", "-".repeat(n)),
        format!("{}x{}", "abs(".repeat(n), ")".repeat(n)),
        format!("{}x{}", "sum(".repeat(n / 2), ")".repeat(n / 2)),
        vec!["x"; n].join(" ^ "),
        vec!["x"; n].join(" or "),
        // Each nested subquery reads one more step than the one it is in: quadratic work,
        // so not as deep.
        format!(
            "{}x{}",
            "max_over_time(".repeat(1000),
            "[1m:1m])".repeat(1000)
        ),
    ];
    for q in cases {
        on_worker_stack(|| {
            let head = &q[..20];
            let e = parse(&q).unwrap_or_else(|e| panic!("{head}...: {e}"));
            assert!(!e.selectors().is_empty());
            let v = Engine::default()
                .eval(&store(), &e, Steps::instant(0))
                .unwrap_or_else(|e| panic!("{head}...: {e}"));
            drop(v);
            drop(e);
        });
    }
}

#[test]
fn format_query_formats_up_to_its_limit_and_names_it_beyond() {
    on_worker_stack(|| {
        let n = promql::limits::MAX_FORMAT_DEPTH - 1;
        let parens = format!("{}x{}", "(".repeat(n), ")".repeat(n));
        let text = format(&parens).unwrap();
        // The same tokens, each level on lines of its own until the rest fits on one.
        assert_eq!(text.split_whitespace().collect::<String>(), parens);
        assert!(text.lines().count() > n, "{}", text.lines().count());
        let chain = vec!["x"; 10_000].join("+");
        let e = format(&chain).unwrap_err().to_string();
        assert!(
            e.contains("more than the limit of 1000 for formatting"),
            "{e}"
        );
    });
}

#[test]
fn beyond_the_limit_is_a_parse_error_naming_it() {
    on_worker_stack(|| {
        for q in [
            format!("{}1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH)),
            vec!["1"; MAX_DEPTH + 1].join("+"),
            format!("{}1", "-".repeat(1_000_000)),
        ] {
            let e = parse(&q).unwrap_err().to_string();
            assert!(
                e.starts_with("parse error: the expression nests or chains "),
                "{e}"
            );
            assert!(e.contains("more than the limit of 20000"), "{e}");
        }
    });
}

#[test]
fn a_deep_tree_built_by_hand_drops_without_recursing() {
    on_worker_stack(|| {
        let mut e = Expr::Number(1.0);
        for _ in 0..1_000_000 {
            e = Expr::Negate(Box::new(e));
        }
        drop(e);
    });
}

#[test]
fn a_long_regex_is_a_parse_error_that_does_not_repeat_it() {
    let alternatives: Vec<String> = (0..200_000).map(|i| format!("a{i}")).collect();
    let q = format!("up{{job=~\"{}\"}}", alternatives.join("|"));
    let e = parse(&q).unwrap_err().to_string();
    assert!(
        e.contains("label \"job\"") && e.contains("limit of 131072 bytes"),
        "{e}"
    );
    assert!(e.len() < 300, "{e}");
    // label_replace compiles its regex at evaluation: the same limit applies.
    let q = format!(
        "label_replace(x, \"a\", \"$1\", \"job\", \"{}\")",
        alternatives.join("|")
    );
    let e = instant(&q).unwrap_err();
    assert!(e.contains("limit of 131072 bytes") && e.len() < 400, "{e}");
}

#[test]
fn positions_are_found_in_many_nested_calls_on_lines_of_their_own() {
    // The call-site scan once searched each call's closing bracket from its opening one,
    // and counted lines from the start of the text for each call: quadratic in the depth.
    let n = MAX_DEPTH - 2;
    let q = format!("{}x{}", "abs(\n".repeat(n), ")".repeat(n));
    on_worker_stack(|| {
        let e = parse(&q).unwrap();
        let Expr::Call { pos, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!((pos.at.line, pos.at.col, pos.args[0].line), (1, 1, 2));
    });
}

// Found by the fuzz target: promql-parser panicked converting a duration of 95e99 seconds.
#[test]
fn a_duration_too_large_for_the_parser_is_a_parse_error() {
    for q in ["1+1-:h[95e99]", "x[1e300]", "rate(x[5m])[1e300:1m]"] {
        let e = parse(q).unwrap_err().to_string();
        assert!(e.starts_with("parse error: "), "{q}: {e}");
        assert!(format(q).is_err(), "{q}");
    }
}

// Found by the fuzz target: `@` a time past i64's milliseconds overflowed `@ t - offset`.
#[test]
fn times_at_the_ends_of_the_range_do_not_overflow() {
    for q in [
        "((x - x offset -4h)[1h:5m] @ 1777777777777777777777777777777777777777777777777777777)",
        "max_over_time(x[5m] @ -1777777777777777777777777777777777777 offset 1h)",
        "x offset -200y",
    ] {
        // An answer (empty: no sample is there) or an error, not a panic.
        let _ = instant(q);
    }
}

// A subquery of a long range at a fine step asked for a value per step up front: 10 years
// at 1 ms is 3e11 steps, an allocation that aborts the process.
#[test]
fn a_subquery_with_more_steps_than_samples_allowed_is_refused() {
    let e = instant("max_over_time(vector(1)[10y:1ms])").unwrap_err();
    assert!(e.contains("too many samples"), "{e}");
}
