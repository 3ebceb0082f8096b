//! The conformance suite: what every span store must do, as tests any store can run.
//!
//! A store's test module calls [`conformance_tests!`](crate::conformance_tests) with an
//! expression that builds a fresh store; the macro expands to one `#[test]` per case. A
//! store with a persisted form (blocks) implements [`Subject::persist`] so that the cases
//! also run across persisted and fresh spans.

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use crate::{
    AttributeScope, Event, Hint, KeyValue, Link, Resource, Scope, Span, SpanError, SpanId,
    SpanKind, SpanStore, Status, StatusCode, TraceId, Value, Window,
};

/// A store under test.
pub trait Subject: SpanStore {
    /// Moves everything appended so far into the store's persisted form (for a block store:
    /// cut its head into a block), so that later cases read across both. The default does
    /// nothing, for stores that have one form only.
    fn persist(&self) {}
}

impl Subject for crate::MemSpans {}

/// Expands to one `#[test]` per conformance case; `$new` is an expression evaluated once
/// per test to build a fresh store.
#[macro_export]
macro_rules! conformance_tests {
    ($new:expr) => {
        $crate::conformance_tests!(@cases $new;
            spans_read_back_field_for_field,
            a_trace_gathers_its_batches_in_any_order,
            a_span_sent_twice_is_kept_once,
            an_invalid_batch_is_refused_whole,
            a_trace_is_found_by_any_span_in_the_window,
            scan_visits_each_trace_once_whole_newest_first,
            hints_never_hide_a_matching_trace,
            tag_names_values_and_operations_follow_the_window,
            many_traces_and_a_large_one,
            concurrent_appends_and_reads,
        );
    };
    (@cases $new:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::conformance::$case(&$new);
            }
        )*
    };
}

/// Trace `n`'s ID.
pub fn trace_id(n: u64) -> TraceId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&0x5eed_u64.to_be_bytes());
    id[8..].copy_from_slice(&n.to_be_bytes());
    TraceId(id)
}

/// Span `n`'s ID.
pub fn span_id(n: u64) -> SpanId {
    SpanId((n + 1).to_be_bytes())
}

/// A span of trace `t`, number `n`, of `service`, from `start` for `len` nanoseconds; its
/// parent is span `n - 1` (none for 0).
pub fn span(t: u64, n: u64, service: &str, start: u64, len: u64) -> Span {
    let mut s = Span::new(
        trace_id(t),
        span_id(n),
        &format!("op-{}", n % 3),
        start,
        start + len,
    );
    s.parent_span_id = n.checked_sub(1).map(span_id);
    s.resource = Arc::new(Resource::service(service));
    s.kind = if n == 0 {
        SpanKind::Server
    } else {
        SpanKind::Internal
    };
    s
}

/// A span with every field set, and attribute values of every kind.
pub fn rich_span() -> Span {
    let resource = Arc::new(Resource {
        attributes: vec![
            KeyValue::new("service.name", "payments"),
            KeyValue::new("host.name", "node-07"),
            KeyValue::new("process.pid", 4242_i64),
        ],
        dropped_attributes_count: 1,
        schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
    });
    let scope = Arc::new(Scope {
        name: "zerostate.payments".into(),
        version: "1.4.2".into(),
        attributes: vec![KeyValue::new("scope.kind", "lib")],
        dropped_attributes_count: 2,
        schema_url: "https://opentelemetry.io/schemas/1.20.0".into(),
    });
    Span {
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".parse().expect("hex"),
        span_id: "00f067aa0ba902b7".parse().expect("hex"),
        parent_span_id: Some("53995c3f42cd8ad8".parse().expect("hex")),
        trace_state: "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".into(),
        flags: 1,
        name: "settle payment ✓".into(),
        kind: SpanKind::Consumer,
        start: 1_700_000_000_123_456_789,
        end: 1_700_000_000_223_456_789,
        attributes: vec![
            KeyValue::new("payment.amount", 12.5),
            KeyValue::new("payment.retry", false),
            KeyValue::new("payment.attempts", -3_i64),
            KeyValue::new("nan", f64::NAN),
            KeyValue::new("negative.zero", -0.0),
            KeyValue::new("inf", f64::INFINITY),
            KeyValue::new("raw", Value::Bytes(vec![0, 255, 7])),
            KeyValue::new(
                "route",
                Value::Array(vec!["p2p".into(), Value::Int(3), Value::Empty]),
            ),
            KeyValue::new(
                "nested",
                Value::Map(vec![KeyValue::new(
                    "inner",
                    Value::Array(vec![true.into()]),
                )]),
            ),
            KeyValue::new("empty", Value::Empty),
            KeyValue::new("unicode", "größe 🚀"),
        ],
        dropped_attributes_count: 3,
        events: vec![Event {
            time: 1_700_000_000_200_000_000,
            name: "exception".into(),
            attributes: vec![KeyValue::new("exception.message", "insufficient funds")],
            dropped_attributes_count: 4,
        }],
        dropped_events_count: 5,
        links: vec![Link {
            trace_id: trace_id(99),
            span_id: span_id(9),
            trace_state: "k=v".into(),
            attributes: vec![KeyValue::new("link.kind", "follows")],
            dropped_attributes_count: 6,
            flags: 1,
        }],
        dropped_links_count: 7,
        status: Status {
            code: StatusCode::Error,
            message: "payment rejected".into(),
        },
        resource,
        scope,
    }
}

/// Compares spans field by field, doubles bit for bit (NaN equals NaN of the same bits).
fn same(a: &[Span], b: &[Span]) -> bool {
    format!("{a:?}") == format!("{b:?}") && a.len() == b.len()
}

fn ids(trace: &[Span]) -> Vec<SpanId> {
    trace.iter().map(|s| s.span_id).collect()
}

/// Every trace `scan` visits, in order, with `hint` over `window`.
fn scanned(s: &impl Subject, window: Window, hint: &Hint) -> Vec<Vec<Span>> {
    let mut out = Vec::new();
    s.scan(window, hint, &mut |t| {
        out.push(t.to_vec());
        ControlFlow::Continue(())
    })
    .expect("scan");
    out
}

/// Every field, and values of every kind (NaN, -0.0, bytes, nested lists and maps, empty,
/// unicode), read back as appended, before and after `persist`.
pub fn spans_read_back_field_for_field(s: &impl Subject) {
    let rich = rich_span();
    s.append(std::slice::from_ref(&rich)).expect("append");
    let read = s.trace(&rich.trace_id, Window::ALL).expect("trace");
    assert!(same(&read, std::slice::from_ref(&rich)), "{read:#?}");
    if let Value::Double(d) = read[0].attributes[3].value {
        assert!(d.is_nan());
    }
    if let Value::Double(d) = read[0].attributes[4].value {
        assert!(d == 0.0 && d.is_sign_negative(), "-0.0 lost its sign");
    }
    s.persist();
    let read = s.trace(&rich.trace_id, Window::ALL).expect("trace");
    assert!(
        same(&read, std::slice::from_ref(&rich)),
        "after persist: {read:#?}"
    );
}

/// Spans of one trace sent in several batches, late children first, some persisted
/// between, read back as one trace in start order.
pub fn a_trace_gathers_its_batches_in_any_order(s: &impl Subject) {
    let base = 1_000_000_000;
    let spans: Vec<Span> = (0..6)
        .map(|n| span(1, n, "api", base + n * 10, 100))
        .collect();
    s.append(&spans[4..]).expect("append");
    s.append(&[spans[1].clone(), spans[3].clone()])
        .expect("append");
    s.persist();
    s.append(&[spans[2].clone(), spans[0].clone()])
        .expect("append");
    let read = s.trace(&trace_id(1), Window::ALL).expect("trace");
    assert_eq!(ids(&read), ids(&spans));
    assert!(same(&read, &spans));
    assert!(
        s.trace(&trace_id(2), Window::ALL)
            .expect("trace")
            .is_empty()
    );
}

/// The same span again (a retried export) is kept once, whether or not the first copy
/// was persisted.
pub fn a_span_sent_twice_is_kept_once(s: &impl Subject) {
    let a = span(3, 0, "api", 5_000, 10);
    let b = span(3, 1, "api", 5_001, 10);
    s.append(&[a.clone(), b.clone()]).expect("append");
    s.append(std::slice::from_ref(&a)).expect("append again");
    s.persist();
    s.append(&[a, b]).expect("append after persist");
    assert_eq!(s.trace(&trace_id(3), Window::ALL).expect("trace").len(), 2);
    assert_eq!(scanned(s, Window::ALL, &Hint::default())[0].len(), 2);
}

/// A batch with a span without IDs is refused whole, naming the span; what was appended
/// before stays.
pub fn an_invalid_batch_is_refused_whole(s: &impl Subject) {
    s.append(&[span(4, 0, "api", 1, 1)]).expect("append");
    let good = span(5, 0, "api", 1, 1);
    let mut bad = span(5, 1, "api", 1, 1);
    bad.trace_id = TraceId::default();
    match s.append(&[good, bad]) {
        Err(SpanError::Invalid { index, message }) => {
            assert_eq!(index, 1);
            assert!(message.contains("trace ID"), "{message}");
        }
        other => panic!("expected the batch refused, got {other:?}"),
    }
    let mut no_span = span(6, 0, "api", 1, 1);
    no_span.span_id = SpanId::default();
    assert!(matches!(
        s.append(&[no_span]),
        Err(SpanError::Invalid { index: 0, .. })
    ));
    assert!(
        s.trace(&trace_id(5), Window::ALL)
            .expect("trace")
            .is_empty()
    );
    assert!(
        s.trace(&trace_id(6), Window::ALL)
            .expect("trace")
            .is_empty()
    );
    assert_eq!(s.trace(&trace_id(4), Window::ALL).expect("trace").len(), 1);
}

/// `trace` with a window: the whole trace when any of its spans overlaps it, nothing when
/// none does.
pub fn a_trace_is_found_by_any_span_in_the_window(s: &impl Subject) {
    // Spans at [100, 200] and [1000, 1100].
    s.append(&[span(7, 0, "api", 100, 100), span(7, 1, "db", 1_000, 100)])
        .expect("append");
    s.persist();
    let whole = |w: Window| s.trace(&trace_id(7), w).expect("trace").len();
    assert_eq!(
        whole(Window {
            start: 150,
            end: 160
        }),
        2
    );
    assert_eq!(
        whole(Window {
            start: 1_100,
            end: 5_000
        }),
        2
    );
    assert_eq!(whole(Window { start: 0, end: 100 }), 2);
    assert_eq!(
        whole(Window {
            start: 201,
            end: 999
        }),
        0
    );
    assert_eq!(
        whole(Window {
            start: 1_101,
            end: u64::MAX
        }),
        0
    );
}

/// `scan` gives each trace in the window once with all its spans, those whose last span
/// ends latest first, across persisted and fresh spans; `Break` stops it.
pub fn scan_visits_each_trace_once_whole_newest_first(s: &impl Subject) {
    for t in 0..5 {
        s.append(&[span(10 + t, 0, "api", t * 1_000, 100)])
            .expect("append");
    }
    s.persist();
    // Trace 10 gets a late span: it now ends last of all.
    s.append(&[span(10, 1, "db", 9_000, 100)]).expect("append");
    s.append(&[span(20, 0, "api", 50_000, 100)])
        .expect("append");
    let all = scanned(
        s,
        Window {
            start: 0,
            end: 10_000,
        },
        &Hint::default(),
    );
    let order: Vec<TraceId> = all.iter().map(|t| t[0].trace_id).collect();
    assert_eq!(
        order,
        [10, 14, 13, 12, 11].map(trace_id),
        "newest first, trace 20 outside the window"
    );
    assert_eq!(all[0].len(), 2, "trace 10 whole: {:?}", all[0]);
    let mut seen = 0;
    s.scan(Window::ALL, &Hint::default(), &mut |_| {
        seen += 1;
        if seen == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .expect("scan");
    assert_eq!(seen, 2);
}

/// Whatever a hint names, every trace that has it is still visited.
pub fn hints_never_hide_a_matching_trace(s: &impl Subject) {
    let mut spans = Vec::new();
    for t in 0..30 {
        let mut a = span(
            100 + t,
            0,
            ["api", "p2p", "dht"][(t % 3) as usize],
            t * 10,
            5 + t,
        );
        a.attributes
            .push(KeyValue::new("node", format!("node-{}", t % 4)));
        a.attributes.push(KeyValue::new("attempt", (t % 2) as i64));
        let b = span(100 + t, 1, "payments", t * 10 + 1, 1);
        spans.extend([a, b]);
    }
    s.append(&spans[..30]).expect("append");
    s.persist();
    s.append(&spans[30..]).expect("append");
    let hints = [
        Hint {
            service: Some("p2p".into()),
            ..Hint::default()
        },
        Hint {
            service: Some("payments".into()),
            ..Hint::default()
        },
        Hint {
            span_name: Some("op-1".into()),
            ..Hint::default()
        },
        Hint {
            min_span_duration: Some(20),
            ..Hint::default()
        },
        Hint {
            attributes: vec![(AttributeScope::Span, "node".into(), "node-2".into())],
            ..Hint::default()
        },
        Hint {
            attributes: vec![(AttributeScope::Span, "attempt".into(), "1".into())],
            ..Hint::default()
        },
        Hint {
            attributes: vec![(
                AttributeScope::Resource,
                "service.name".into(),
                "dht".into(),
            )],
            service: Some("dht".into()),
            ..Hint::default()
        },
        Hint {
            service: Some("nowhere".into()),
            ..Hint::default()
        },
    ];
    let all = scanned(s, Window::ALL, &Hint::default());
    assert_eq!(all.len(), 30);
    for hint in hints {
        let want: BTreeSet<TraceId> = all
            .iter()
            .filter(|t| hint.matches(t))
            .map(|t| t[0].trace_id)
            .collect();
        let got: BTreeSet<TraceId> = scanned(s, Window::ALL, &hint)
            .iter()
            .map(|t| t[0].trace_id)
            .collect();
        assert!(
            got.is_superset(&want),
            "{hint:?}: missing {:?}",
            want.difference(&got)
        );
    }
}

/// Tag names and values, and a service's operations, of the spans in the window only.
pub fn tag_names_values_and_operations_follow_the_window(s: &impl Subject) {
    let mut early = span(200, 0, "api", 100, 10);
    early.attributes.push(KeyValue::new("http.method", "GET"));
    early
        .attributes
        .push(KeyValue::new("http.status_code", 200_i64));
    let mut late = span(201, 0, "api", 10_000, 10);
    late.attributes.push(KeyValue::new("http.method", "POST"));
    late.attributes.push(KeyValue::new("retry", true));
    late.kind = SpanKind::Client;
    let mut other = span(202, 1, "dht", 10_005, 10);
    other.attributes.push(KeyValue::new("http.method", "PUT"));
    s.append(&[early]).expect("append");
    s.persist();
    s.append(&[late, other]).expect("append");
    let all = s.tag_names(Window::ALL).expect("tag names");
    assert!(all.resource.contains("service.name"));
    let span_keys: Vec<&str> = all.span.iter().map(String::as_str).collect();
    assert_eq!(span_keys, ["http.method", "http.status_code", "retry"]);
    let late_window = Window {
        start: 9_000,
        end: 20_000,
    };
    let late_keys = s.tag_names(late_window).expect("tag names");
    assert!(!late_keys.span.contains("http.status_code"));
    let values = |w, scope, key, limit| -> Vec<String> {
        s.tag_values(w, scope, key, limit)
            .expect("tag values")
            .into_iter()
            .collect()
    };
    assert_eq!(
        values(Window::ALL, AttributeScope::Span, "http.method", 10),
        ["GET", "POST", "PUT"]
    );
    assert_eq!(
        values(Window::ALL, AttributeScope::Span, "http.method", 2),
        ["GET", "POST"]
    );
    assert_eq!(
        values(late_window, AttributeScope::Span, "http.method", 10),
        ["POST", "PUT"]
    );
    assert_eq!(
        values(Window::ALL, AttributeScope::Span, "http.status_code", 10),
        ["200"]
    );
    assert_eq!(
        values(Window::ALL, AttributeScope::Resource, "service.name", 10),
        ["api", "dht"]
    );
    assert!(values(Window::ALL, AttributeScope::Resource, "http.method", 10).is_empty());
    let ops: Vec<(String, SpanKind)> = s
        .operations(Window::ALL, "api")
        .expect("operations")
        .into_iter()
        .collect();
    assert_eq!(
        ops,
        [
            ("op-0".to_owned(), SpanKind::Server),
            ("op-0".to_owned(), SpanKind::Client)
        ]
    );
    assert_eq!(
        s.operations(late_window, "dht").expect("operations").len(),
        1
    );
    assert!(
        s.operations(Window::ALL, "nobody")
            .expect("operations")
            .is_empty()
    );
}

/// 2,000 traces of 5 spans and one trace of 20,000 spans, in batches as an exporter sends
/// them, across a persist: each reads back whole.
pub fn many_traces_and_a_large_one(s: &impl Subject) {
    let mut batch = Vec::new();
    for t in 0..2_000u64 {
        for n in 0..5 {
            batch.push(span(
                1_000 + t,
                n,
                ["api", "p2p", "dht", "guild", "wasm"][n as usize],
                t * 100 + n,
                50,
            ));
        }
        if batch.len() >= 512 {
            s.append(&batch).expect("append");
            batch.clear();
        }
    }
    s.append(&batch).expect("append");
    s.persist();
    let large: Vec<Span> = (0..20_000)
        .map(|n| span(9_999, n, "wasm", 1_000_000 + n, 3))
        .collect();
    for chunk in large.chunks(1_000) {
        s.append(chunk).expect("append");
    }
    for t in [1_000, 1_999, 2_999] {
        let read = s.trace(&trace_id(t), Window::ALL).expect("trace");
        assert_eq!(read.len(), 5, "trace {t}");
        assert_eq!(read[4].service_name(), "wasm");
    }
    let read = s.trace(&trace_id(9_999), Window::ALL).expect("trace");
    assert_eq!(read.len(), 20_000);
    assert!(read.windows(2).all(|w| w[0].start <= w[1].start));
    assert_eq!(scanned(s, Window::ALL, &Hint::default()).len(), 2_001);
}

/// Appends from several threads while others read: every acknowledged batch is visible
/// whole to the reads that follow it, and no read sees half a batch.
pub fn concurrent_appends_and_reads<S: Subject>(s: &S) {
    std::thread::scope(|scope| {
        for w in 0..4u64 {
            scope.spawn(move || {
                for i in 0..100u64 {
                    let t = 50_000 + w * 1_000 + i;
                    s.append(&[span(t, 0, "api", i, 10), span(t, 1, "db", i + 1, 5)])
                        .expect("append");
                    assert_eq!(s.trace(&trace_id(t), Window::ALL).expect("trace").len(), 2);
                }
            });
        }
        scope.spawn(|| {
            for _ in 0..50 {
                s.scan(Window::ALL, &Hint::default(), &mut |t| {
                    assert_eq!(t.len(), 2, "half a batch: {t:?}");
                    ControlFlow::Continue(())
                })
                .expect("scan");
            }
        });
    });
    assert_eq!(scanned(s, Window::ALL, &Hint::default()).len(), 400);
}
