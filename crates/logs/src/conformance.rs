//! The conformance suite: what every log store must do, as tests any store can run.
//!
//! A store's test module calls [`conformance_tests!`](crate::conformance_tests) with an
//! expression that builds a fresh store; the macro expands to one `#[test]` per case. A
//! store with a persisted form (chunks written out, blocks) implements [`Subject::persist`]
//! so that the cases also run across persisted and fresh entries.

use model::{Labels, Matcher};

use crate::{Direction, Entry, LogStore, Select, Stream, Visit};

/// A store under test.
pub trait Subject: LogStore {
    /// Moves everything pushed so far into the store's persisted form, so that later cases
    /// read across both. The default does nothing, for stores that have one form only.
    fn persist(&self) {}
}

impl Subject for crate::MemLogs {}

/// Expands to one `#[test]` per conformance case; `$new` is an expression evaluated once
/// per test to build a fresh store.
#[macro_export]
macro_rules! conformance_tests {
    ($new:expr) => {
        $crate::conformance_tests!(@cases $new;
            entries_read_back_with_labels_and_metadata,
            streams_are_identified_by_their_whole_label_set,
            entries_come_in_time_order_both_directions,
            out_of_order_entries_within_the_window_are_kept_in_order,
            entries_too_far_behind_are_refused_alone,
            a_repeated_entry_is_kept_once,
            equal_timestamps_keep_push_order,
            the_window_is_half_open,
            a_stream_without_labels_refuses_the_push_whole,
            visit_can_skip_a_stream_or_stop,
            contains_hints_never_hide_a_line,
            series_labels_and_values_follow_matchers_and_window,
            stats_count_entries_and_bytes_per_stream,
            many_streams_read_back,
        );
    };
    (@cases $new:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let store = $new;
                $crate::conformance::$case(&store);
            }
        )*
    };
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn stream(pairs: &[(&str, &str)], entries: &[(i64, &str)]) -> Stream {
    Stream {
        labels: labels(pairs),
        entries: entries.iter().map(|&(t, l)| Entry::new(t, l)).collect(),
    }
}

/// Every entry of the matching streams in `[start, end)`, per stream, in `direction`.
pub fn read(
    store: &dyn LogStore,
    matchers: Vec<Matcher>,
    start: i64,
    end: i64,
    direction: Direction,
) -> Vec<(Labels, Vec<Entry>)> {
    let mut out: Vec<(Labels, Vec<Entry>)> = Vec::new();
    let select = Select::new(matchers, start, end).direction(direction);
    store
        .select(&select, &mut |l, batch| {
            assert!(!batch.is_empty(), "a batch is never empty");
            match out.last_mut() {
                Some((last, entries)) if last == l => entries.extend_from_slice(batch),
                _ => {
                    assert!(
                        out.iter().all(|(seen, _)| seen != l),
                        "stream {l} visited twice, apart"
                    );
                    out.push((l.clone(), batch.to_vec()));
                }
            }
            Visit::Continue
        })
        .expect("select");
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn lines(store: &dyn LogStore, matchers: Vec<Matcher>) -> Vec<(i64, String)> {
    read(store, matchers, i64::MIN, i64::MAX, Direction::Forward)
        .into_iter()
        .flat_map(|(_, e)| e)
        .map(|e| (e.timestamp, e.line))
        .collect()
}

fn job(value: &str) -> Vec<Matcher> {
    vec![Matcher::equal("job", value)]
}

/// What goes in comes out: labels, timestamps, lines and structured metadata.
pub fn entries_read_back_with_labels_and_metadata(store: &impl Subject) {
    let meta = labels(&[
        ("span_id", "00f067aa0ba902b7"),
        ("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"),
    ]);
    let s = Stream {
        labels: labels(&[("job", "node"), ("level", "info")]),
        entries: vec![
            Entry::new(1_000, "started").with_metadata(meta.clone()),
            Entry::new(2_000, "héllo \u{1F600} \"quoted\"\ttab"),
        ],
    };
    let pushed = store.push(std::slice::from_ref(&s)).expect("push");
    assert_eq!((pushed.accepted, pushed.refused.len()), (2, 0));
    for _ in 0..2 {
        let got = read(store, job("node"), 0, 10_000, Direction::Forward);
        assert_eq!(got, vec![(s.labels.clone(), s.entries.clone())]);
        store.persist();
    }
}

/// Two label sets that differ in one value are two streams; a selector picks by any label.
pub fn streams_are_identified_by_their_whole_label_set(store: &impl Subject) {
    store
        .push(&[
            stream(&[("job", "node"), ("level", "info")], &[(1, "a")]),
            stream(&[("job", "node"), ("level", "warn")], &[(2, "b")]),
            stream(&[("job", "api")], &[(3, "c")]),
        ])
        .expect("push");
    store.persist();
    let got = read(store, job("node"), 0, 10, Direction::Forward);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, labels(&[("job", "node"), ("level", "info")]));
    let warn = vec![Matcher::equal("level", "warn")];
    assert_eq!(lines(store, warn), vec![(2, "b".into())]);
}

/// Forward is oldest first and backward newest first, across pushes and persistence.
pub fn entries_come_in_time_order_both_directions(store: &impl Subject) {
    let l = [("job", "node")];
    store
        .push(&[stream(&l, &[(10, "a"), (20, "b")])])
        .expect("push");
    store.persist();
    store
        .push(&[stream(&l, &[(30, "c"), (40, "d")])])
        .expect("push");
    let forward = read(store, job("node"), 0, 100, Direction::Forward);
    let ts: Vec<i64> = forward[0].1.iter().map(|e| e.timestamp).collect();
    assert_eq!(ts, [10, 20, 30, 40]);
    let backward = read(store, job("node"), 0, 100, Direction::Backward);
    let ts: Vec<i64> = backward[0].1.iter().map(|e| e.timestamp).collect();
    assert_eq!(ts, [40, 30, 20, 10]);
}

/// An entry older than its stream's newest but within the window is kept, in its place.
pub fn out_of_order_entries_within_the_window_are_kept_in_order(store: &impl Subject) {
    let l = [("job", "node")];
    let s = 1_000_000_000;
    store
        .push(&[stream(&l, &[(100 * s, "late"), (10 * s, "early")])])
        .expect("push");
    store.persist();
    store
        .push(&[stream(&l, &[(50 * s, "middle")])])
        .expect("push");
    let got: Vec<String> = lines(store, job("node"))
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    assert_eq!(got, ["early", "middle", "late"]);
}

/// An entry further behind than any store's window (a day) is refused, named by its place;
/// the rest of the push is kept.
pub fn entries_too_far_behind_are_refused_alone(store: &impl Subject) {
    let l = [("job", "node")];
    let day = 86_400 * 1_000_000_000;
    let now = 10 * day;
    store.push(&[stream(&l, &[(now, "new")])]).expect("push");
    let pushed = store
        .push(&[
            stream(&[("job", "other")], &[(now, "fine")]),
            stream(&l, &[(now - 2 * day, "ancient"), (now + 1, "newer")]),
        ])
        .expect("push");
    assert_eq!(pushed.accepted, 2);
    assert_eq!(pushed.refused.len(), 1);
    assert_eq!((pushed.refused[0].stream, pushed.refused[0].entry), (1, 0));
    assert!(
        matches!(
            pushed.refused[0].reason,
            crate::Reason::TooOld { .. } | crate::Reason::BeyondRetention { .. }
        ),
        "{:?}",
        pushed.refused[0].reason
    );
    let got: Vec<String> = lines(store, job("node"))
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    assert_eq!(got, ["new", "newer"]);
}

/// The same entry (stream, timestamp, line) pushed twice is read once; a different line at
/// the same time is a different entry.
pub fn a_repeated_entry_is_kept_once(store: &impl Subject) {
    let l = [("job", "node")];
    store
        .push(&[stream(&l, &[(5, "x"), (5, "y")])])
        .expect("push");
    store.persist();
    let again = store.push(&[stream(&l, &[(5, "x")])]).expect("push");
    assert_eq!(again.refused, []);
    assert_eq!(
        lines(store, job("node")),
        [(5, "x".into()), (5, "y".into())]
    );
}

/// Entries with one timestamp come in the order they were pushed (forward).
pub fn equal_timestamps_keep_push_order(store: &impl Subject) {
    let l = [("job", "node")];
    store
        .push(&[stream(&l, &[(7, "first"), (7, "second")])])
        .expect("push");
    store.push(&[stream(&l, &[(7, "third")])]).expect("push");
    let got: Vec<String> = lines(store, job("node"))
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    assert_eq!(got, ["first", "second", "third"]);
}

/// `start` is included, `end` is not; streams without entries inside are not visited.
pub fn the_window_is_half_open(store: &impl Subject) {
    store
        .push(&[
            stream(&[("job", "node")], &[(10, "a"), (20, "b"), (30, "c")]),
            stream(&[("job", "node"), ("x", "1")], &[(40, "d")]),
        ])
        .expect("push");
    store.persist();
    let got = read(store, job("node"), 10, 30, Direction::Forward);
    assert_eq!(got.len(), 1, "{got:?}");
    let ts: Vec<i64> = got[0].1.iter().map(|e| e.timestamp).collect();
    assert_eq!(ts, [10, 20]);
}

/// A stream without labels makes the push invalid, and nothing of it is kept.
pub fn a_stream_without_labels_refuses_the_push_whole(store: &impl Subject) {
    let err = store
        .push(&[
            stream(&[("job", "node")], &[(1, "a")]),
            stream(&[], &[(1, "b")]),
        ])
        .expect_err("invalid");
    assert!(
        matches!(err, crate::LogError::Invalid { stream: 1, .. }),
        "{err}"
    );
    assert_eq!(lines(store, vec![]), []);
}

/// `NextStream` ends the current stream only; `Stop` ends the walk.
pub fn visit_can_skip_a_stream_or_stop(store: &impl Subject) {
    let many: Vec<(i64, String)> = (0..2_000).map(|i| (i, format!("line {i}"))).collect();
    let many: Vec<(i64, &str)> = many.iter().map(|(t, l)| (*t, l.as_str())).collect();
    store
        .push(&[
            stream(&[("job", "a")], &many),
            stream(&[("job", "b")], &many),
        ])
        .expect("push");
    store.persist();
    let select = Select::new(vec![], 0, 10_000);
    let mut seen = Vec::new();
    store
        .select(&select, &mut |l, _| {
            seen.push(l.clone());
            Visit::NextStream
        })
        .expect("select");
    assert_eq!(seen.len(), 2, "one batch of each stream");
    let mut calls = 0;
    store
        .select(&select, &mut |_, _| {
            calls += 1;
            Visit::Stop
        })
        .expect("select");
    assert_eq!(calls, 1);
}

/// A `contains` hint may let a store skip chunks, never a line that holds the strings.
pub fn contains_hints_never_hide_a_line(store: &impl Subject) {
    let l = [("job", "node")];
    let needle = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut entries: Vec<(i64, String)> =
        (0..5_000).map(|i| (i, format!("request {i} ok"))).collect();
    entries[3_333].1 = format!("request failed trace_id={needle}");
    let entries: Vec<(i64, &str)> = entries.iter().map(|(t, l)| (*t, l.as_str())).collect();
    store.push(&[stream(&l, &entries[..2_500])]).expect("push");
    store.persist();
    store.push(&[stream(&l, &entries[2_500..])]).expect("push");
    let mut select = Select::new(job("node"), 0, 10_000);
    select.contains = vec![needle.into(), "failed".into()];
    let mut found = Vec::new();
    store
        .select(&select, &mut |_, batch| {
            found.extend(
                batch
                    .iter()
                    .filter(|e| e.line.contains(needle))
                    .map(|e| e.timestamp),
            );
            Visit::Continue
        })
        .expect("select");
    assert_eq!(found, [3_333]);
}

/// Series, label names and values list the streams with entries in the window that match.
pub fn series_labels_and_values_follow_matchers_and_window(store: &impl Subject) {
    store
        .push(&[
            stream(&[("job", "node"), ("level", "info")], &[(10, "a")]),
            stream(
                &[("job", "node"), ("level", "error"), ("node", "n1")],
                &[(20, "b")],
            ),
            stream(&[("job", "api"), ("path", "/x")], &[(100, "c")]),
        ])
        .expect("push");
    store.persist();
    let all = store.series(&[], 0, 1_000).expect("series");
    assert_eq!(all.len(), 3);
    let early = store.series(&[], 0, 50).expect("series");
    assert_eq!(early.len(), 2);
    let either = store
        .series(
            &[job("api"), vec![Matcher::equal("level", "error")]],
            0,
            1_000,
        )
        .expect("series");
    assert_eq!(either.len(), 2);
    let names = store.label_names(&job("node"), 0, 1_000).expect("names");
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["job", "level", "node"]
    );
    let values = store.label_values("level", &[], 0, 1_000).expect("values");
    assert_eq!(values.into_iter().collect::<Vec<_>>(), ["error", "info"]);
    let none = store.label_values("job", &[], 200, 300).expect("values");
    assert!(none.is_empty());
}

/// Stats count each matching stream's entries and line bytes in the window.
pub fn stats_count_entries_and_bytes_per_stream(store: &impl Subject) {
    store
        .push(&[
            stream(
                &[("job", "node")],
                &[(1, "abc"), (2, "de"), (50, "outside")],
            ),
            stream(&[("job", "api")], &[(1, "x")]),
        ])
        .expect("push");
    store.persist();
    let stats = store.stats(&job("node"), 0, 10).expect("stats");
    assert_eq!(stats.len(), 1);
    assert_eq!((stats[0].entries, stats[0].bytes), (2, 5));
}

/// Ten thousand streams go in and come back: no stream-count cliff in the contract.
pub fn many_streams_read_back(store: &impl Subject) {
    let streams: Vec<Stream> = (0..10_000)
        .map(|i| {
            let pod = format!("pod-{i:05}");
            stream(&[("job", "node"), ("pod", &pod)], &[(i, "hello")])
        })
        .collect();
    let pushed = store.push(&streams).expect("push");
    assert_eq!(pushed.accepted, 10_000);
    store.persist();
    assert_eq!(
        store
            .series(&[job("node")], 0, 20_000)
            .expect("series")
            .len(),
        10_000
    );
    let got = read(store, job("node"), 0, 20_000, Direction::Forward);
    assert_eq!(got.len(), 10_000);
}

#[cfg(test)]
mod tests {
    crate::conformance_tests!(crate::MemLogs::new());
}
