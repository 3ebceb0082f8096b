//! The conformance suite: what every store must do, as tests any store can run.
//!
//! A store's test module calls [`conformance_tests!`](crate::conformance_tests) with an
//! expression that builds a fresh store and a function that builds one with a series
//! limit; the macro expands to one `#[test]` per case. A store with a persisted form (the
//! TSDB's blocks) implements [`Subject::persist`] so that the cases also run across
//! persisted and fresh data.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use model::{Labels, MatchOp, Matcher, STALE_NAN, Sample, Timestamp};

use crate::{AppendError, Appendable, Exemplar, ExemplarError, Queryable, StorageError};

/// A store under test.
pub trait Subject: Appendable + Queryable {
    /// Moves everything committed so far into the store's persisted form (for the TSDB: cut
    /// the head into a block), so that later cases read across both. The default does
    /// nothing, for stores that have one form only.
    fn persist(&self) {}
}

impl Subject for crate::MemStorage {}

/// Expands to one `#[test]` per conformance case.
///
/// `$new` is an expression evaluated once per test to build a fresh store; `$limited` is a
/// function from a series limit to a fresh store with that limit.
#[macro_export]
macro_rules! conformance_tests {
    ($new:expr, $limited:expr) => {
        $crate::conformance_tests!(@cases $new, $limited;
            commit_makes_samples_visible_in_range,
            uncommitted_and_rolled_back_samples_are_invisible,
            rejected_samples_do_not_spoil_the_transaction,
            refs_are_stable_and_skip_lookups,
            matchers_select_like_prometheus,
            label_names_and_values_follow_the_matchers,
            special_values_round_trip_bit_for_bit,
            seek_moves_forward_only,
            a_querier_is_a_snapshot,
            many_series_and_samples,
            concurrent_appenders_and_queries,
            queries_span_persisted_and_fresh_data,
            exemplars_are_selected_by_series_and_range,
            exemplars_follow_prometheus_rules,
        );
        #[test]
        fn series_limit_fails_loudly() {
            $crate::conformance::series_limit_fails_loudly(&($limited)(3));
        }
    };
    (@cases $new:expr, $limited:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::conformance::$case(&$new);
            }
        )*
    };
}

fn series(name: &str, pairs: &[(&str, &str)]) -> Labels {
    let mut b = Labels::from_pairs(pairs.iter().copied()).builder();
    b.set(model::METRIC_NAME, name);
    b.build()
}

fn append_all(s: &impl Subject, data: &[(Labels, Vec<(Timestamp, f64)>)]) {
    let mut app = s.appender();
    for (labels, samples) in data {
        for &(t, v) in samples {
            app.append(None, labels, t, v)
                .unwrap_or_else(|e| panic!("append {labels} @{t}: {e}"));
        }
    }
    app.commit().expect("commit");
}

/// Runs `select` and collects every series with its samples.
pub fn select_all(
    s: &impl Queryable,
    mint: Timestamp,
    maxt: Timestamp,
    matchers: &[Matcher],
) -> Vec<(Labels, Vec<Sample>)> {
    try_select_all(s, mint, maxt, matchers).expect("select")
}

fn try_select_all(
    s: &impl Queryable,
    mint: Timestamp,
    maxt: Timestamp,
    matchers: &[Matcher],
) -> Result<Vec<(Labels, Vec<Sample>)>, StorageError> {
    let q = s.querier(mint, maxt)?;
    let mut out = Vec::new();
    let hints = crate::SelectHints {
        start: mint,
        end: maxt,
        ..crate::SelectHints::default()
    };
    for series in q.select(&hints, matchers)? {
        let mut series = series?;
        out.push((series.labels.clone(), series.samples.collect_vec()?));
    }
    Ok(out)
}

fn samples(v: &[(Timestamp, f64)]) -> Vec<Sample> {
    v.iter().map(|&(t, v)| Sample::new(t, v)).collect()
}

fn m(op: MatchOp, name: &str, value: &str) -> Matcher {
    Matcher::new(op, name, value).expect("matcher")
}

/// Committed samples are returned in order, bounded by the querier's closed range.
pub fn commit_makes_samples_visible_in_range(s: &impl Subject) {
    let up = series("up", &[("job", "node")]);
    append_all(
        s,
        &[(up.clone(), vec![(1000, 1.0), (2000, 0.0), (3000, 1.0)])],
    );
    assert_eq!(
        select_all(s, 0, 10_000, &[]),
        vec![(
            up.clone(),
            samples(&[(1000, 1.0), (2000, 0.0), (3000, 1.0)])
        )]
    );
    assert_eq!(
        select_all(s, 1000, 2000, &[]),
        vec![(up.clone(), samples(&[(1000, 1.0), (2000, 0.0)]))],
        "both ends of the range are inclusive"
    );
    assert!(
        select_all(s, 3001, 9000, &[]).is_empty(),
        "no series without samples in range"
    );
    assert!(select_all(s, 0, 999, &[]).is_empty());
}

/// Neither an open, a rolled-back nor a dropped transaction is visible.
pub fn uncommitted_and_rolled_back_samples_are_invisible(s: &impl Subject) {
    let a = series("a", &[]);
    let mut open = s.appender();
    open.append(None, &a, 1, 1.0).expect("append");
    assert!(
        select_all(s, 0, 10, &[]).is_empty(),
        "an open transaction is invisible"
    );
    open.rollback();
    assert!(
        select_all(s, 0, 10, &[]).is_empty(),
        "a rolled back transaction is invisible"
    );
    {
        let mut dropped = s.appender();
        dropped.append(None, &a, 2, 2.0).expect("append");
    }
    assert!(
        select_all(s, 0, 10, &[]).is_empty(),
        "dropping an appender rolls it back"
    );
    // A rolled-back sample does not block the same timestamp later.
    append_all(s, &[(a.clone(), vec![(1, 5.0)])]);
    assert_eq!(select_all(s, 0, 10, &[]), vec![(a, samples(&[(1, 5.0)]))]);
}

/// Out-of-order and conflicting samples are rejected with an error naming the series;
/// the rest of the transaction commits.
pub fn rejected_samples_do_not_spoil_the_transaction(s: &impl Subject) {
    let a = series("a", &[("x", "1")]);
    append_all(s, &[(a.clone(), vec![(100, 1.0)])]);
    let mut app = s.appender();
    match app.append(None, &a, 50, 2.0) {
        Err(
            AppendError::OutOfOrder {
                t: 50, last: 100, ..
            }
            | AppendError::TooOld { t: 50, .. },
        ) => {}
        other => panic!("expected an out-of-order error, got {other:?}"),
    }
    match app.append(None, &a, 100, 3.0) {
        Err(AppendError::Duplicate { t: 100, .. }) => {}
        other => panic!("expected a duplicate error, got {other:?}"),
    }
    app.append(None, &a, 100, 1.0)
        .expect("the same sample again is accepted");
    app.append(None, &a, 200, 4.0).expect("a later sample");
    match app.append(None, &a, 150, 5.0) {
        Err(AppendError::OutOfOrder {
            t: 150, last: 200, ..
        }) => {}
        other => panic!("order is checked against the transaction's own samples too: {other:?}"),
    }
    let err = app
        .append(None, &a, 120, 0.0)
        .expect_err("out of order")
        .to_string();
    assert!(
        err.contains("a{x=\"1\"}"),
        "the error names the series: {err}"
    );
    app.commit().expect("commit");
    assert_eq!(
        select_all(s, 0, 1000, &[]),
        vec![(a, samples(&[(100, 1.0), (200, 4.0)]))]
    );
}

/// Refs returned by append identify the series across transactions.
pub fn refs_are_stable_and_skip_lookups(s: &impl Subject) {
    let a = series("a", &[]);
    let b = series("b", &[]);
    let mut app = s.appender();
    let ra = app.append(None, &a, 1, 1.0).expect("append");
    let rb = app.append(None, &b, 1, 1.0).expect("append");
    assert_ne!(ra, rb);
    assert_eq!(app.append(Some(ra), &a, 2, 2.0).expect("append"), ra);
    app.commit().expect("commit");
    let mut app = s.appender();
    assert_eq!(
        app.append(None, &a, 3, 3.0).expect("append"),
        ra,
        "same labels, same ref"
    );
    assert_eq!(app.append(Some(rb), &b, 3, 3.0).expect("append"), rb);
    app.commit().expect("commit");
    assert_eq!(
        select_all(s, 0, 10, &[]),
        vec![
            (a, samples(&[(1, 1.0), (2, 2.0), (3, 3.0)])),
            (b, samples(&[(1, 1.0), (3, 3.0)])),
        ]
    );
}

/// Every matcher type, absent labels, and several matchers together.
pub fn matchers_select_like_prometheus(s: &impl Subject) {
    use MatchOp::*;
    let eu = series("req", &[("zone", "eu"), ("code", "200")]);
    let us = series("req", &[("zone", "us"), ("code", "500")]);
    let none = series("req", &[("code", "200")]);
    let other = series("up", &[("zone", "eu")]);
    append_all(
        s,
        &[
            (eu.clone(), vec![(1, 1.0)]),
            (us.clone(), vec![(1, 1.0)]),
            (none.clone(), vec![(1, 1.0)]),
            (other.clone(), vec![(1, 1.0)]),
        ],
    );
    let names = |matchers: &[Matcher]| -> Vec<Labels> {
        select_all(s, 0, 10, matchers)
            .into_iter()
            .map(|(l, _)| l)
            .collect()
    };
    let mut all = vec![eu.clone(), us.clone(), none.clone(), other.clone()];
    all.sort();
    assert_eq!(names(&[]), all, "results are sorted by labels");
    let req = m(Equal, "__name__", "req");
    assert_eq!(
        names(&[req.clone(), m(Equal, "zone", "eu")]),
        vec![eu.clone()]
    );
    assert_eq!(
        names(&[req.clone(), m(Equal, "zone", "")]),
        vec![none.clone()]
    );
    assert_eq!(
        names(&[req.clone(), m(NotEqual, "zone", "")]),
        sorted(vec![eu.clone(), us.clone()])
    );
    assert_eq!(
        names(&[req.clone(), m(NotEqual, "zone", "eu")]),
        sorted(vec![us.clone(), none.clone()])
    );
    assert_eq!(
        names(&[req.clone(), m(Regex, "zone", "e.")]),
        vec![eu.clone()]
    );
    assert_eq!(
        names(&[req.clone(), m(Regex, "zone", "e")]),
        vec![],
        "regexes are anchored"
    );
    assert_eq!(
        names(&[req.clone(), m(Regex, "zone", ".*")]),
        sorted(vec![eu.clone(), us.clone(), none.clone()])
    );
    assert_eq!(
        names(&[req.clone(), m(NotRegex, "zone", "eu|us")]),
        vec![none.clone()]
    );
    assert_eq!(names(&[m(Regex, "code", "5..")]), vec![us.clone()]);
    assert_eq!(
        names(&[m(Equal, "zone", "eu"), m(NotRegex, "__name__", "up")]),
        vec![eu]
    );
    assert_eq!(names(&[m(Equal, "nope", "x")]), vec![]);
}

fn sorted(mut v: Vec<Labels>) -> Vec<Labels> {
    v.sort();
    v
}

/// Label names and values come from the matching series with samples in range.
pub fn label_names_and_values_follow_the_matchers(s: &impl Subject) {
    append_all(
        s,
        &[
            (series("a", &[("zone", "eu"), ("x", "1")]), vec![(10, 1.0)]),
            (series("a", &[("zone", "us")]), vec![(20, 1.0)]),
            (series("b", &[("host", "h1")]), vec![(30, 1.0)]),
        ],
    );
    let q = s.querier(0, 100).expect("querier");
    assert_eq!(
        q.label_names(&[]).expect("names"),
        ["__name__", "host", "x", "zone"]
    );
    assert_eq!(
        q.label_names(&[Matcher::equal("__name__", "a")])
            .expect("names"),
        ["__name__", "x", "zone"]
    );
    assert_eq!(q.label_values("zone", &[]).expect("values"), ["eu", "us"]);
    assert_eq!(q.label_values("__name__", &[]).expect("values"), ["a", "b"]);
    assert_eq!(
        q.label_values("zone", &[Matcher::equal("x", "1")])
            .expect("values"),
        ["eu"]
    );
    assert!(q.label_values("missing", &[]).expect("values").is_empty());
    let early = s.querier(0, 15).expect("querier");
    assert_eq!(
        early.label_values("zone", &[]).expect("values"),
        ["eu"],
        "range applies"
    );
}

/// NaN, the staleness marker, infinities, negative zero and extreme timestamps are kept
/// exactly.
pub fn special_values_round_trip_bit_for_bit(s: &impl Subject) {
    let a = series("a", &[]);
    let values = [
        (i64::MIN / 2, 1.0),
        (-1, f64::NAN),
        (0, STALE_NAN),
        (1, f64::INFINITY),
        (2, f64::NEG_INFINITY),
        (3, -0.0),
        (4, f64::MIN_POSITIVE / 2.0),
        (5, f64::MAX),
        (i64::MAX / 2, 0.1 + 0.2),
    ];
    append_all(s, &[(a.clone(), values.to_vec())]);
    let got = select_all(s, i64::MIN, i64::MAX, &[]);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1.len(), values.len());
    for (g, (t, v)) in got[0].1.iter().zip(values) {
        assert_eq!((g.t, g.v.to_bits()), (t, v.to_bits()), "sample at {t}");
    }
    assert!(model::is_stale_nan(got[0].1[2].v));
}

/// `seek` finds the first sample at or after a time and never goes back.
pub fn seek_moves_forward_only(s: &impl Subject) {
    let a = series("a", &[]);
    append_all(s, &[(a, (0..100).map(|i| (i * 10, i as f64)).collect())]);
    let q = s.querier(0, 10_000).expect("querier");
    let mut set = q
        .select(&crate::SelectHints::default(), &[])
        .expect("select");
    let mut one = set.next().expect("a series").expect("readable");
    let it = &mut one.samples;
    assert_eq!(it.seek(55).expect("seek").map(|s| s.t), Some(60));
    assert_eq!(
        it.seek(60).expect("seek").map(|s| s.t),
        Some(70),
        "seek never returns the same sample twice"
    );
    assert_eq!(
        it.seek(0).expect("seek").map(|s| s.t),
        Some(80),
        "seek never moves back"
    );
    assert_eq!(it.next().expect("next").map(|s| s.t), Some(90));
    assert_eq!(it.seek(5000).expect("seek"), None);
    assert_eq!(it.next().expect("next"), None);
}

/// A querier keeps seeing the data committed when it was created.
pub fn a_querier_is_a_snapshot(s: &impl Subject) {
    let a = series("a", &[]);
    append_all(s, &[(a.clone(), vec![(1, 1.0)])]);
    let before = s.querier(0, 100).expect("querier");
    append_all(
        s,
        &[
            (a.clone(), vec![(2, 2.0)]),
            (series("b", &[]), vec![(2, 2.0)]),
        ],
    );
    let mut set = before
        .select(&crate::SelectHints::default(), &[])
        .expect("select");
    let mut one = set.next().expect("one series").expect("readable");
    assert_eq!(one.labels, a);
    assert_eq!(
        one.samples.collect_vec().expect("samples"),
        samples(&[(1, 1.0)])
    );
    assert!(
        set.next().is_none(),
        "a series created later is not in an older snapshot"
    );
}

/// Thousands of series and samples, selected by regex.
pub fn many_series_and_samples(s: &impl Subject) {
    let mut data = Vec::new();
    for i in 0..2000 {
        let labels = series(
            "load",
            &[
                ("instance", &format!("node-{i}")),
                ("parity", if i % 2 == 0 { "even" } else { "odd" }),
            ],
        );
        data.push((
            labels,
            (0..50)
                .map(|j| (j * 15_000, (i * j) as f64))
                .collect::<Vec<_>>(),
        ));
    }
    for chunk in data.chunks(500) {
        append_all(s, chunk);
    }
    let all = select_all(s, 0, i64::MAX, &[m(MatchOp::Equal, "__name__", "load")]);
    assert_eq!(all.len(), 2000);
    assert!(all.iter().all(|(_, v)| v.len() == 50));
    // Sorted by labels, not by creation (node-10 before node-2), then again once more
    // series have come.
    let sorted = |all: &[(Labels, Vec<Sample>)]| all.windows(2).all(|w| w[0].0 < w[1].0);
    assert!(sorted(&all));
    append_all(
        s,
        &[
            (series("load", &[("instance", "node-0a")]), vec![(0, 1.0)]),
            (series("load", &[("instance", "a")]), vec![(0, 1.0)]),
        ],
    );
    let more = select_all(s, 0, i64::MAX, &[m(MatchOp::Equal, "__name__", "load")]);
    assert_eq!(more.len(), 2002);
    assert!(sorted(&more));
    assert_eq!(more[0].0.get("instance"), Some("a"));
    let odd = select_all(
        s,
        0,
        i64::MAX,
        &[
            m(MatchOp::Regex, "instance", "node-1.*"),
            m(MatchOp::Equal, "parity", "odd"),
        ],
    );
    assert_eq!(
        odd.len(),
        556,
        "node-1, node-1x, node-1xx, node-1xxx with odd numbers"
    );
    let (labels, values) = &odd[0];
    assert_eq!(labels.get("instance"), Some("node-1"));
    assert_eq!(values[49], Sample::new(49 * 15_000, 49.0));
}

/// Appenders on several threads, some sharing series, while queries run over persisted and
/// fresh data: every query sees each series as an in-order prefix of what was committed,
/// never a torn transaction, and the persisted data throughout.
pub fn concurrent_appenders_and_queries<S: Subject>(s: &S) {
    const THREADS: i64 = 4;
    const ROUNDS: i64 = 200;
    let shared = series("shared", &[]);
    // Older data in the store's persisted form, read throughout by the concurrent queries.
    let base = series("base", &[]);
    let base_samples = samples(&[(-2000, 1.0), (-1000, 2.0)]);
    append_all(s, &[(base.clone(), vec![(-2000, 1.0), (-1000, 2.0)])]);
    s.persist();
    let done = Arc::new(AtomicBool::new(false));
    std::thread::scope(|scope| {
        let writers: Vec<_> = (0..THREADS)
            .map(|w| {
                let shared = shared.clone();
                scope.spawn(move || {
                    let own = series("own", &[("writer", &w.to_string())]);
                    for round in 0..ROUNDS {
                        let mut app = s.appender();
                        // Both samples of a round commit together: a reader sees both or none.
                        app.append(None, &own, round * 2, round as f64)
                            .expect("own series");
                        app.append(None, &own, round * 2 + 1, round as f64)
                            .expect("own series");
                        // Writers race on the shared series; some samples lose, none may break it.
                        let _ = app.append(None, &shared, round * THREADS + w, w as f64);
                        app.commit().expect("commit");
                    }
                })
            })
            .collect();
        let reader_done = done.clone();
        let (base, base_samples) = (&base, &base_samples);
        let reader = scope.spawn(move || {
            let mut reads = 0;
            while !reader_done.load(Ordering::Acquire) || reads == 0 {
                let all = select_all(s, i64::MIN, i64::MAX, &[]);
                assert!(
                    all.iter().any(|(l, v)| l == base && v == base_samples),
                    "persisted data lost: {all:?}"
                );
                for (labels, got) in all {
                    if labels == *base {
                        continue;
                    }
                    assert!(
                        got.windows(2).all(|w| w[0].t < w[1].t),
                        "{labels}: out of order {got:?}"
                    );
                    if labels.metric_name() == Some("own") {
                        assert_eq!(got.len() % 2, 0, "{labels}: a torn transaction: {got:?}");
                        for (i, x) in got.iter().enumerate() {
                            assert_eq!(x.t, i as i64, "{labels}: a gap: {got:?}");
                        }
                    }
                }
                reads += 1;
                std::thread::yield_now();
            }
        });
        // Joining propagates a writer's panic as this test's failure.
        for w in writers {
            w.join().expect("a writer failed");
        }
        done.store(true, Ordering::Release);
        reader
            .join()
            .expect("the reader found an inconsistent view");
    });
    let own = select_all(s, 0, i64::MAX, &[Matcher::equal("__name__", "own")]);
    assert_eq!(own.len(), THREADS as usize);
    assert!(own.iter().all(|(_, v)| v.len() == (ROUNDS * 2) as usize));
    let shared_samples = &select_all(s, 0, i64::MAX, &[Matcher::equal("__name__", "shared")])[0].1;
    assert!(!shared_samples.is_empty());
    assert!(shared_samples.windows(2).all(|w| w[0].t < w[1].t));
}

/// Data committed before and after [`Subject::persist`] reads as one series, and order is
/// enforced against persisted data.
pub fn queries_span_persisted_and_fresh_data(s: &impl Subject) {
    let a = series("a", &[("zone", "eu")]);
    let b = series("b", &[]);
    append_all(
        s,
        &[(a.clone(), (0..100).map(|i| (i * 1000, i as f64)).collect())],
    );
    s.persist();
    append_all(
        s,
        &[
            (
                a.clone(),
                (100..200).map(|i| (i * 1000, i as f64)).collect(),
            ),
            (b.clone(), vec![(150_000, 1.0)]),
        ],
    );
    let all = select_all(s, 0, i64::MAX, &[]);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].0, a);
    assert_eq!(
        all[0].1,
        (0..200)
            .map(|i| Sample::new(i * 1000, i as f64))
            .collect::<Vec<_>>()
    );
    let middle = select_all(s, 95_000, 104_000, &[Matcher::equal("zone", "eu")]);
    assert_eq!(
        middle[0].1.len(),
        10,
        "a range across the persisted boundary"
    );
    let q = s.querier(0, i64::MAX).expect("querier");
    assert_eq!(q.label_values("__name__", &[]).expect("values"), ["a", "b"]);
    let mut app = s.appender();
    assert!(
        app.append(None, &a, 50_000, 0.0).is_err(),
        "older than persisted data"
    );
    app.rollback();
}

/// Creating a series past the limit fails with an error naming the limit; existing series
/// still take samples.
pub fn series_limit_fails_loudly(s: &impl Subject) {
    let mut app = s.appender();
    for i in 0..3 {
        app.append(None, &series("s", &[("i", &i.to_string())]), 1, 1.0)
            .expect("within the limit");
    }
    let over = series("s", &[("i", "3")]);
    match app.append(None, &over, 1, 1.0) {
        Err(e @ AppendError::SeriesLimit { limit: 3, .. }) => {
            assert!(e.to_string().contains("series limit of 3"), "{e}");
        }
        other => panic!("expected a series limit error, got {other:?}"),
    }
    app.append(None, &series("s", &[("i", "0")]), 2, 2.0)
        .expect("an existing series");
    app.commit().expect("commit");
    assert_eq!(select_all(s, 0, 10, &[]).len(), 3);
}

fn exemplar(t: Timestamp, v: f64, trace: &str) -> Exemplar {
    Exemplar {
        labels: Labels::from_pairs([("trace_id", trace)]),
        value: v,
        t,
        has_timestamp: true,
    }
}

/// A series and its exemplars as `(t, value, trace_id)`.
pub type FoundExemplars = (Labels, Vec<(Timestamp, f64, String)>);

/// Every exemplar of `s` in `[start, end]` for the matcher sets.
pub fn exemplars_of(
    s: &impl Queryable,
    start: Timestamp,
    end: Timestamp,
    matcher_sets: &[&[Matcher]],
) -> Vec<FoundExemplars> {
    s.select_exemplars(start, end, matcher_sets)
        .expect("select exemplars")
        .into_iter()
        .map(|found| {
            let exemplars = found
                .exemplars
                .iter()
                .map(|e| {
                    let trace = e.labels.get("trace_id").unwrap_or_default().to_owned();
                    (e.t, e.value, trace)
                })
                .collect();
            (found.series, exemplars)
        })
        .collect()
}

/// Committed exemplars come back by series labels, oldest first, within the closed range,
/// each series once however many matcher sets select it; uncommitted ones are invisible.
pub fn exemplars_are_selected_by_series_and_range(s: &impl Subject) {
    let (a, b) = (
        series("req_total", &[("x", "a")]),
        series("req_total", &[("x", "b")]),
    );
    let mut app = s.appender();
    for (labels, t, trace) in [
        (&b, 10, "b1"),
        (&a, 10, "a1"),
        (&a, 20, "a2"),
        (&b, 30, "b2"),
    ] {
        let r = app.append(None, labels, t, 1.0).expect("append");
        app.append_exemplar(Some(r), labels, exemplar(t, t as f64, trace))
            .expect("append exemplar");
    }
    assert!(
        exemplars_of(s, 0, 100, &[&[]]).is_empty(),
        "exemplars are invisible before commit"
    );
    app.commit().expect("commit");
    let all = exemplars_of(s, 0, 100, &[&[m(MatchOp::Equal, "__name__", "req_total")]]);
    assert_eq!(
        all,
        vec![
            (
                a.clone(),
                vec![(10, 10.0, "a1".into()), (20, 20.0, "a2".into())]
            ),
            (
                b.clone(),
                vec![(10, 10.0, "b1".into()), (30, 30.0, "b2".into())]
            ),
        ]
    );
    assert_eq!(
        exemplars_of(
            s,
            20,
            30,
            &[
                &[m(MatchOp::Equal, "x", "a")],
                &[m(MatchOp::Equal, "x", "b")]
            ]
        ),
        vec![
            (a.clone(), vec![(20, 20.0, "a2".into())]),
            (b.clone(), vec![(30, 30.0, "b2".into())]),
        ],
        "both ends are inclusive; several matcher sets are a union"
    );
    assert_eq!(
        exemplars_of(
            s,
            0,
            100,
            &[
                &[m(MatchOp::Equal, "x", "a")],
                &[m(MatchOp::Regex, "x", "a|b")]
            ]
        )
        .len(),
        2,
        "a series selected twice is answered once"
    );
    assert!(
        exemplars_of(s, 21, 29, &[&[]]).is_empty(),
        "no series without exemplars in range"
    );
    let mut rolled_back = s.appender();
    rolled_back
        .append_exemplar(None, &a, exemplar(40, 1.0, "a3"))
        .expect("append exemplar");
    rolled_back.rollback();
    assert_eq!(
        exemplars_of(s, 0, 100, &[&[]]),
        all,
        "a rollback keeps nothing"
    );
}

/// Duplicates, out-of-order exemplars and labels over 128 characters are refused without
/// spoiling the transaction, as Prometheus refuses them.
pub fn exemplars_follow_prometheus_rules(s: &impl Subject) {
    let a = series("a_total", &[]);
    let mut app = s.appender();
    app.append(None, &a, 100, 1.0).expect("append");
    app.append_exemplar(None, &a, exemplar(100, 1.0, "t1"))
        .expect("first exemplar");
    match app.append_exemplar(None, &a, exemplar(100, 1.0, "t1")) {
        Err(ExemplarError::Duplicate { .. }) => {}
        other => panic!("the same exemplar again is a duplicate: {other:?}"),
    }
    match app.append_exemplar(None, &a, exemplar(100, 2.0, "t2")) {
        Err(ExemplarError::OutOfOrder {
            t: 100,
            newest: 100,
            ..
        }) => {}
        other => panic!("another exemplar at the same time is out of order: {other:?}"),
    }
    let long = Exemplar {
        labels: Labels::from_pairs([("trace_id", "x".repeat(121).as_str())]),
        value: 1.0,
        t: 200,
        has_timestamp: true,
    };
    match app.append_exemplar(None, &a, long) {
        Err(ExemplarError::LabelLength { length: 129, .. }) => {}
        other => panic!("129 characters are too long: {other:?}"),
    }
    app.commit().expect("commit");
    let mut app = s.appender();
    match app.append_exemplar(None, &a, exemplar(100, 1.0, "t1")) {
        Err(ExemplarError::Duplicate { .. }) => {}
        other => panic!("committed exemplars are checked too: {other:?}"),
    }
    match app.append_exemplar(None, &a, exemplar(50, 1.0, "t0")) {
        Err(ExemplarError::OutOfOrder {
            t: 50, newest: 100, ..
        }) => {}
        other => panic!("an older exemplar is out of order: {other:?}"),
    }
    app.append_exemplar(None, &a, exemplar(300, 3.0, "t3"))
        .expect("a newer exemplar");
    // Exemplars without a timestamp of their own (timed by their scrape) are the same
    // whatever their time: a target repeating one stores it once.
    let untimed = |t| Exemplar {
        has_timestamp: false,
        ..exemplar(t, 4.0, "t4")
    };
    app.append_exemplar(None, &a, untimed(400))
        .expect("an untimed exemplar");
    match app.append_exemplar(None, &a, untimed(500)) {
        Err(ExemplarError::Duplicate { .. }) => {}
        other => panic!("the untimed exemplar again is a duplicate: {other:?}"),
    }
    app.commit().expect("commit");
    assert_eq!(
        exemplars_of(s, 0, 1000, &[&[]]),
        vec![(
            a,
            vec![
                (100, 1.0, "t1".into()),
                (300, 3.0, "t3".into()),
                (400, 4.0, "t4".into())
            ]
        )]
    );
}
