//! The crate's cases as tables: queries over a node-network trace with the spans each must
//! select, errors with their offsets, hints, and odd inputs the parser must survive.

use std::ops::ControlFlow;
use std::sync::Arc;

use spans::{
    KeyValue, MemSpans, Resource, Span, SpanId, SpanKind, SpanStore, Status, StatusCode, TraceId,
    Value, Window,
};

use crate::{ErrorKind, Query};

const T0: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;

/// The seed flow of one request: an API call sent over P2P, a DHT lookup, a guild that
/// fails to form around a task running WASM, and the payment settled.
fn network_trace() -> Vec<Span> {
    let trace: TraceId = "0af7651916cd43dd8448eb211c80319c".parse().expect("hex");
    let mut out = Vec::new();
    let mut add =
        |n: u8, parent: Option<u8>, service: &str, name: &str, kind, from: u64, to: u64| {
            let mut s = Span::new(
                trace,
                SpanId([0, 0, 0, 0, 0, 0, 0, n]),
                name,
                T0 + from * MS,
                T0 + to * MS,
            );
            s.parent_span_id = parent.map(|p| SpanId([0, 0, 0, 0, 0, 0, 0, p]));
            s.resource = Arc::new(Resource {
                attributes: vec![
                    KeyValue::new("service.name", service),
                    KeyValue::new("host.name", format!("node-0{n}")),
                ],
                ..Resource::default()
            });
            s.kind = kind;
            out.push(s);
        };
    add(1, None, "api", "POST /tasks", SpanKind::Server, 0, 120);
    add(2, Some(1), "api", "p2p.send", SpanKind::Client, 5, 100);
    add(3, Some(2), "p2p", "p2p.receive", SpanKind::Server, 10, 95);
    add(4, Some(3), "dht", "dht.lookup", SpanKind::Internal, 12, 40);
    add(
        5,
        Some(3),
        "guild",
        "guild.form",
        SpanKind::Internal,
        41,
        80,
    );
    add(6, Some(5), "task", "task.run", SpanKind::Consumer, 45, 78);
    add(7, Some(6), "wasm", "wasm.exec", SpanKind::Internal, 46, 70);
    add(
        8,
        Some(1),
        "payments",
        "payment.settle",
        SpanKind::Producer,
        100,
        118,
    );
    out[0].attributes = vec![
        KeyValue::new("http.method", "POST"),
        KeyValue::new("http.status_code", 200_i64),
        KeyValue::new("http.route", "/tasks"),
    ];
    out[1].attributes = vec![KeyValue::new("peer.id", "node-07")];
    out[3].attributes = vec![
        KeyValue::new("dht.key", "abc"),
        KeyValue::new("dht.hops", 3_i64),
    ];
    out[4].attributes = vec![KeyValue::new("guild.size", 5_i64)];
    out[4].status = Status {
        code: StatusCode::Error,
        message: "quorum lost".into(),
    };
    out[5].attributes = vec![
        KeyValue::new("task.id", "t-1"),
        KeyValue::new("tags", Value::Array(vec!["wasm".into(), "gpu".into()])),
    ];
    out[6].attributes = vec![
        KeyValue::new("wasm.fuel", 1.5),
        KeyValue::new("wasm.ok", false),
        KeyValue::new("service.name", "shadow"),
    ];
    out[7].attributes = vec![KeyValue::new("payment.amount", 12.5)];
    out[7].status.code = StatusCode::Ok;
    out
}

/// The names of the spans in each spanset `q` selects from the network trace.
fn run(q: &str) -> Vec<Vec<String>> {
    let trace = network_trace();
    let query: Query = q.parse().unwrap_or_else(|e| panic!("{q}: {e}"));
    let found = query.eval(&trace);
    found
        .spansets
        .iter()
        .map(|ss| ss.spans.iter().map(|&i| trace[i].name.clone()).collect())
        .collect()
}

/// Checks that `q` selects one spanset with exactly `names`, or nothing when `names` is
/// empty.
fn check(q: &str, names: &[&str]) {
    let got = run(q);
    let want: Vec<Vec<String>> = if names.is_empty() {
        Vec::new()
    } else {
        vec![names.iter().map(|s| s.to_string()).collect()]
    };
    assert_eq!(got, want, "{q}");
}

const ALL: &[&str] = &[
    "POST /tasks",
    "p2p.send",
    "p2p.receive",
    "dht.lookup",
    "guild.form",
    "task.run",
    "wasm.exec",
    "payment.settle",
];

/// Every query of the table with what it selects, for the hint check as well.
const CASES: &[(&str, &[&str])] = &[
    ("{ }", ALL),
    ("{}", ALL),
    (r#"{ resource.service.name = "dht" }"#, &["dht.lookup"]),
    (r#"{ .service.name = "dht" }"#, &["dht.lookup"]),
    // The span's attribute hides the resource's for an unscoped name.
    (r#"{ .service.name = "shadow" }"#, &["wasm.exec"]),
    (r#"{ .service.name = "wasm" }"#, &[]),
    (r#"{ resource.service.name = "wasm" }"#, &["wasm.exec"]),
    (r#"{ name = "guild.form" }"#, &["guild.form"]),
    (r#"{ span:name = "guild.form" }"#, &["guild.form"]),
    ("{ status = error }", &["guild.form"]),
    ("{ span:status = ok }", &["payment.settle"]),
    (
        "{ status != ok }",
        &[
            "POST /tasks",
            "p2p.send",
            "p2p.receive",
            "dht.lookup",
            "guild.form",
            "task.run",
            "wasm.exec",
        ],
    ),
    ("{ kind = server }", &["POST /tasks", "p2p.receive"]),
    ("{ span:kind = producer }", &["payment.settle"]),
    (
        "{ duration > 50ms }",
        &["POST /tasks", "p2p.send", "p2p.receive"],
    ),
    (
        "{ span:duration <= 24ms }",
        &["wasm.exec", "payment.settle"],
    ),
    (
        "{ duration >= 0.018s && duration < 19000000 }",
        &["payment.settle"],
    ),
    (
        "{ span.http.status_code >= 200 && span.http.status_code < 300 }",
        &["POST /tasks"],
    ),
    // A string never equals an integer.
    (r#"{ span.http.status_code = "200" }"#, &[]),
    ("{ .dht.hops > 2.5 }", &["dht.lookup"]),
    ("{ span.payment.amount = 12.5 }", &["payment.settle"]),
    ("{ span.guild.size = 5.0 }", &["guild.form"]),
    (r#"{ span.peer.id > "node-06" }"#, &["p2p.send"]),
    (r#"{ name =~ "p2p.*" }"#, &["p2p.send", "p2p.receive"]),
    // Regular expressions are anchored at both ends.
    (r#"{ name =~ "p2p" }"#, &[]),
    (
        r#"{ name !~ "p2p.*" }"#,
        &[
            "POST /tasks",
            "dht.lookup",
            "guild.form",
            "task.run",
            "wasm.exec",
            "payment.settle",
        ],
    ),
    (r#"{ span.tags = "gpu" }"#, &["task.run"]),
    (r#"{ span.tags != "gpu" }"#, &[]),
    (r#"{ span.tags != "cpu" }"#, &["task.run"]),
    (r#"{ span.tags =~ "g.." }"#, &["task.run"]),
    ("{ span.wasm.ok = false }", &["wasm.exec"]),
    ("{ span.wasm.ok }", &[]),
    ("{ !span.wasm.ok }", &["wasm.exec"]),
    (
        "{ span.wasm.fuel > 1 && span.wasm.fuel < 2 }",
        &["wasm.exec"],
    ),
    ("{ span.dht.key != nil }", &["dht.lookup"]),
    (
        "{ span.dht.key = nil }",
        &[
            "POST /tasks",
            "p2p.send",
            "p2p.receive",
            "guild.form",
            "task.run",
            "wasm.exec",
            "payment.settle",
        ],
    ),
    // A missing attribute matches no comparison but `= nil`.
    (r#"{ span.missing != "x" }"#, &[]),
    (r#"{ statusMessage = "quorum lost" }"#, &["guild.form"]),
    (r#"{ rootServiceName = "api" }"#, ALL),
    (r#"{ trace:rootService = "p2p" }"#, &[]),
    ("{ traceDuration > 100ms }", ALL),
    ("{ trace:duration > 2m }", &[]),
    (
        r#"{ rootName = "POST /tasks" && kind = producer }"#,
        &["payment.settle"],
    ),
    (
        r#"{ trace:rootName = "POST /tasks" && span:childCount = 2 }"#,
        &["POST /tasks", "p2p.receive"],
    ),
    (r#"{ span:id = "0000000000000004" }"#, &["dht.lookup"]),
    (r#"{ span:parentID = "0000000000000006" }"#, &["wasm.exec"]),
    (
        r#"{ trace:id = "0af7651916cd43dd8448eb211c80319c" && kind = consumer }"#,
        &["task.run"],
    ),
    (
        r#"{ resource.service.name = "api" } >> { status = error }"#,
        &["guild.form"],
    ),
    (
        r#"{ name = "p2p.receive" } > { }"#,
        &["dht.lookup", "guild.form"],
    ),
    (r#"{ name = "POST /tasks" } > { name = "guild.form" }"#, &[]),
    (
        r#"{ name = "POST /tasks" } >> { name = "guild.form" }"#,
        &["guild.form"],
    ),
    (r#"{ name = "wasm.exec" } >> { }"#, &[]),
    (r#"{ kind = server } > { kind = server }"#, &[]),
    (
        r#"{ kind = server } >> { kind = server }"#,
        &["p2p.receive"],
    ),
    (
        r#"{ name = "dht.lookup" } && { name = "wasm.exec" }"#,
        &["dht.lookup", "wasm.exec"],
    ),
    (r#"{ name = "dht.lookup" } && { name = "nope" }"#, &[]),
    (
        r#"{ name = "dht.lookup" } || { name = "nope" }"#,
        &["dht.lookup"],
    ),
    // Structural operators bind tighter than `||`: A || (B >> C).
    (
        r#"{ name = "payment.settle" } || { name = "p2p.receive" } >> { name = "wasm.exec" }"#,
        &["wasm.exec", "payment.settle"],
    ),
    (
        r#"({ name = "payment.settle" } || { name = "p2p.receive" }) >> { name = "wasm.exec" }"#,
        &["wasm.exec"],
    ),
    // `&&` and `||` share one precedence inside a filter, grouped from the left, as in Tempo.
    (
        r#"{ name = "POST /tasks" || name = "wasm.exec" && kind = internal }"#,
        &["wasm.exec"],
    ),
    (
        r#"{ name = "POST /tasks" || (name = "wasm.exec" && kind = internal) }"#,
        &["POST /tasks", "wasm.exec"],
    ),
    (
        "{ kind = internal } | count() > 2",
        &["dht.lookup", "guild.form", "wasm.exec"],
    ),
    ("{ kind = internal } | count() > 3", &[]),
    ("{ } | avg(duration) > 40ms", ALL),
    ("{ } | avg(duration) > 60ms", &[]),
    ("{ } | max(duration) = 120ms", ALL),
    ("{ } | min(span:duration) < 20ms", ALL),
    ("{ } | sum(span.guild.size) = 5", ALL),
    ("{ } | sum(span.missing) > 0", &[]),
    ("{ } | count() > 2 | { status = error }", &["guild.form"]),
    ("count() > 7", ALL),
    ("avg(duration) > 55ms", ALL),
    (
        r#"({ kind = internal } | count() = 3) && { name = "task.run" }"#,
        &["dht.lookup", "guild.form", "task.run", "wasm.exec"],
    ),
    ("{ } with (most_recent=true)", ALL),
    (
        r#"{ resource.host.name = "node-04" && span.dht.key = `abc` }"#,
        &["dht.lookup"],
    ),
    (
        r#"{ instrumentation:name = "" && name = "task.run" }"#,
        &["task.run"],
    ),
];

#[test]
fn queries_select_the_spans_tempo_would() {
    for (q, names) in CASES {
        check(q, names);
    }
}

#[test]
fn aggregates_and_matched_spans_carry_their_values() {
    let trace = network_trace();
    let q: Query = "{ kind = internal && span.dht.hops > 0 || status = error } | avg(duration) > 1ms | count() > 1"
        .parse()
        .unwrap();
    let found = q.eval(&trace);
    assert_eq!(found.spansets.len(), 1);
    let ss = &found.spansets[0];
    assert_eq!(ss.spans, vec![3, 4]);
    assert_eq!(
        ss.attributes,
        vec![
            ("avg(duration)".to_string(), Value::String("33.5ms".into())),
            ("count()".to_string(), Value::Int(2)),
        ]
    );
    assert_eq!(
        found.span_attributes(4),
        vec![
            ("kind".to_string(), Value::String("internal".into())),
            ("status".to_string(), Value::String("error".into()))
        ]
    );
    assert_eq!(
        found.span_attributes(3),
        vec![
            ("kind".to_string(), Value::String("internal".into())),
            ("dht.hops".to_string(), Value::Int(3)),
            ("status".to_string(), Value::String("unset".into())),
        ]
    );
    let avg_int: Query = "{ } | avg(span.dht.hops) >= 3".parse().unwrap();
    assert_eq!(
        avg_int.eval(&trace).spansets[0].attributes[0].1,
        Value::Double(3.0)
    );
    assert!(q.eval(&[]).spansets.is_empty());
}

#[test]
fn errors_name_the_part_and_its_offset() {
    use ErrorKind::{Syntax, Unsupported};
    for (q, offset, kind, words) in [
        (
            "{ .a = 1 } | select(.b)",
            13,
            Unsupported,
            "`select()` is not supported",
        ),
        (
            "{ .a = 1 } | by(resource.service.name)",
            13,
            Unsupported,
            "`by()`",
        ),
        ("{ } | coalesce()", 6, Unsupported, "`coalesce()`"),
        ("{ } | rate()", 6, Unsupported, "metrics function `rate()`"),
        (
            "{ } | quantile_over_time(duration, .9)",
            6,
            Unsupported,
            "quantile_over_time",
        ),
        ("{ .a } << { .b }", 7, Unsupported, "`<<` is not supported"),
        ("{ .a } < { .b }", 7, Unsupported, "`<`"),
        ("{ } ~ { }", 4, Unsupported, "`~`"),
        ("{ } !>> { }", 4, Unsupported, "`!>>`"),
        ("{ } &>> { }", 4, Unsupported, "`&>>`"),
        ("{ } !~ { }", 4, Unsupported, "`!~`"),
        ("{ .a + 1 = 2 }", 5, Unsupported, "arithmetic (`+`)"),
        (
            "{ duration > 2 * 5ms }",
            15,
            Unsupported,
            "arithmetic (`*`)",
        ),
        ("{ -.a = 2 }", 2, Unsupported, "minus sign"),
        ("count() > 2 + 1", 12, Unsupported, "arithmetic"),
        (
            "({ } | count()) > 2",
            7,
            Unsupported,
            "parenthesised pipeline",
        ),
        (
            "2 < count()",
            0,
            Unsupported,
            "must start with its aggregate",
        ),
        (
            r#"{ event.name = "x" }"#,
            2,
            Unsupported,
            "`event.` attributes",
        ),
        (
            r#"{ link:traceID = "x" }"#,
            2,
            Unsupported,
            "`link:traceID`",
        ),
        ("{ parent.x = 1 }", 2, Unsupported, "`parent.`"),
        ("{ nestedSetLeft > 1 }", 2, Unsupported, "nestedSetLeft"),
        (
            "{ name = 1 }",
            7,
            Syntax,
            "compares a string with a integer",
        ),
        (
            r#"{ status = "error" }"#,
            9,
            Syntax,
            "compares a status with a string",
        ),
        (
            "{ kind > server }",
            7,
            Syntax,
            "`>` does not apply to a kind",
        ),
        ("{ .a && 1 }", 5, Syntax, "`&&` does not apply to a integer"),
        (
            r#"{ name =~ "(" }"#,
            7,
            Syntax,
            "invalid regular expression",
        ),
        ("{ .a =~ .b }", 5, Syntax, "must be a string"),
        ("{ 1 }", 0, Syntax, "must be a condition"),
        ("{ !name }", 2, Syntax, "`!` needs a condition"),
        ("{ .a = 1", 8, Syntax, "expected `}`"),
        ("{ foo = 1 }", 2, Syntax, "unknown identifier `foo`"),
        ("{ } | avg(name) > 1", 10, Syntax, "needs a number"),
        ("{ } | avg(1) > 1", 10, Unsupported, "takes one attribute"),
        (
            "{ } | count(.a) > 1",
            12,
            Syntax,
            "count() takes no argument",
        ),
        (
            "{ } | count() =~ 1",
            14,
            Syntax,
            "compare `count()` with a number",
        ),
        (r#"{ } | count() > "x""#, 16, Syntax, "only with a number"),
        (
            "{ .a > nil }",
            7,
            Syntax,
            "`nil` can be compared only with = or !=",
        ),
        ("{ .a = 1 } { .b = 2 }", 11, Syntax, "should end here"),
        ("{ .a = 1 } = { .b = 2 }", 11, Syntax, "should end here"),
        (
            "{ span:nope = 1 }",
            2,
            Syntax,
            "`span:nope` is no intrinsic",
        ),
        ("{ count() > 1 }", 2, Syntax, "belongs after `|`"),
        ("", 0, Syntax, "expected a spanset"),
        ("{ } |", 5, Syntax, "expected a spanset"),
        ("{ } with (most_recent)", 21, Syntax, "expected `=`"),
    ] {
        let e = q.parse::<Query>().expect_err(q);
        assert_eq!((e.offset, e.kind), (offset, kind), "{q}: {e}");
        assert!(e.message.contains(words), "{q}: {e}");
    }
}

#[test]
fn hints_hold_only_what_is_certain() {
    let hint = |q: &str| q.parse::<Query>().unwrap().hint();
    let h =
        hint(r#"{ resource.service.name = "api" && name = "POST /tasks" && duration > 100ms }"#);
    assert_eq!(h.service.as_deref(), Some("api"));
    assert_eq!(h.span_name.as_deref(), Some("POST /tasks"));
    assert_eq!(h.min_span_duration, Some(100 * MS + 1));
    assert_eq!(
        hint(r#"{ resource.service.name = "a" } || { resource.service.name = "b" }"#),
        Default::default()
    );
    let h = hint(
        r#"{ resource.service.name = "a" } || { "a" = resource.service.name && duration > 1s }"#,
    );
    assert_eq!(
        (h.service.as_deref(), h.min_span_duration),
        (Some("a"), None)
    );
    assert_eq!(
        hint("{ duration >= 100ms } >> { 5ms < duration }").min_span_duration,
        Some(100 * MS)
    );
    assert_eq!(
        hint(r#"{ } | { name = "x" } | count() > 1"#)
            .span_name
            .as_deref(),
        Some("x")
    );
    for none in [
        r#"{ span.x = "y" }"#,
        r#"{ !(name = "x") }"#,
        r#"{ name != "x" }"#,
        r#"{ name =~ "x" }"#,
        r#"{ .service.name = "x" }"#,
        r#"{ duration < 1s }"#,
        "count() > 1",
    ] {
        assert_eq!(hint(none), Default::default(), "{none}");
    }
}

/// Wherever a query matches the trace, a store scanning with the query's hint visits it.
#[test]
fn hints_never_hide_a_matching_trace() {
    let store = MemSpans::new();
    let trace = network_trace();
    store.append(&trace).unwrap();
    for (q, names) in CASES {
        let query: Query = q.parse().unwrap();
        let mut visited = 0;
        store
            .scan(Window::ALL, &query.hint(), &mut |_| {
                visited += 1;
                ControlFlow::Continue(())
            })
            .unwrap();
        assert!(
            names.is_empty() || visited == 1,
            "{q}: the hint {:?} hid the trace",
            query.hint()
        );
    }
}

/// Odd inputs give an error or a query, never a panic, and a query runs.
#[test]
fn the_parser_is_total() {
    let trace = network_trace();
    let mut inputs: Vec<String> = [
        "",
        " ",
        "{",
        "}",
        "(",
        ")",
        "|",
        "{ .",
        "{ span.",
        "{ .\"",
        "{ .a = \"",
        "{ .a = `",
        "\"\\",
        "{ .a = \"\\u12\" }",
        "{ .a = \"\\400\" }",
        "{ .a = \"\\xZZ\" }",
        "{ .a = 1e }",
        "1e+",
        ".5",
        "-",
        "--1",
        "{ -- 1 }",
        "{ - }",
        "nil",
        "{ nil }",
        "{ nil = nil }",
        "{ nil != .a }",
        "{ !! }",
        "{ .a = -9223372036854775808 }",
        "{ .a = 9223372036854775808 }",
        "{ .a = 18446744073709551616ms }",
        "{ duration > 9999999999999999h }",
        "µ",
        "{ .µ = 1 }",
        "{ .a = 1 } | count() > 1 |",
        "with",
        "{ } with",
        "{ } with (",
        "{ } with (a=",
        "{ } with (a=1,",
        "\0",
        "{\0}",
        "{ .a = \"\0\" }",
        "/*",
        "//",
        "{ } /* */ | /**/ count() > 0",
        "{ span:",
        "{ trace:duration",
        "span.a",
        "{ resource.service.name = \"é🚀\" }",
        "{ .a =~ \"[\" }",
        "{ .a =~ \"a{1000000}\" }",
        "{ } > > { }",
        "{ } && && { }",
        "( )",
        "(((",
        ")))",
        "{ ( }",
        "{ ) }",
        "{ .a = (1 }",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    inputs.push("(".repeat(100_000));
    inputs.push(format!("{{ {} .a }}", "!".repeat(100_000)));
    inputs.push("{ } && ".repeat(10_000) + "{ }");
    inputs.push("{".repeat(50_000));
    // The longest chains allowed parse and evaluate.
    inputs.push("{ } && ".repeat(511) + "{ }");
    inputs.push(format!("{{ {}true }}", ".a = 1 || ".repeat(255)));
    inputs.push(format!("{}{{ }}{}", "(".repeat(60), ")".repeat(60)));
    // Every prefix of valid queries, and deterministic byte-level mutations of them.
    let mut state: u64 = 0x5eed;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    for (q, _) in CASES {
        for end in 0..=q.len() {
            if q.is_char_boundary(end) {
                inputs.push(q[..end].to_string());
            }
        }
        for _ in 0..20 {
            let mut bytes = q.as_bytes().to_vec();
            let at = next() % bytes.len().max(1);
            match next() % 3 {
                0 if !bytes.is_empty() => {
                    bytes.remove(at);
                }
                1 => bytes.insert(at, b"{}()|&!=~<>\"`.-:\\ 9"[next() % 19]),
                _ if !bytes.is_empty() => bytes[at] = (next() % 128) as u8,
                _ => {}
            }
            inputs.push(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    assert!(("{ } && ".repeat(511) + "{ }").parse::<Query>().is_ok());
    let Err(e) = ("{ } && ".repeat(513) + "{ }").parse::<Query>() else {
        panic!("513 operators are too many");
    };
    assert!(e.message.contains("more than 512 operators"), "{e}");
    let mut parsed = 0;
    for input in &inputs {
        if let Ok(q) = input.parse::<Query>() {
            parsed += 1;
            let found = q.eval(&trace);
            for ss in &found.spansets {
                for &i in &ss.spans {
                    found.span_attributes(i);
                }
            }
            q.hint();
        }
    }
    assert!(
        parsed > 100,
        "only {parsed} of {} inputs parsed",
        inputs.len()
    );
}

#[test]
fn a_deep_trace_evaluates_without_recursion() {
    let trace_id: TraceId = "1".parse().unwrap();
    let chain: Vec<Span> = (1..=100_000u64)
        .map(|n| {
            let mut s = Span::new(trace_id, SpanId(n.to_be_bytes()), "hop", n, n + 1);
            s.parent_span_id = (n > 1).then(|| SpanId((n - 1).to_be_bytes()));
            s
        })
        .collect();
    let q: Query = r#"{ span:id = "0000000000000001" } >> { span:childCount = 0 }"#
        .parse()
        .unwrap();
    let found = q.eval(&chain);
    assert_eq!(found.spansets[0].spans, vec![99_999]);
}
