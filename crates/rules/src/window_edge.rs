//! Which samples of a test's input lie exactly on the left edge of a window an expression
//! reads: the samples Prometheus 2 counted and Skywatch, as Prometheus 3, does not (its
//! range and lookback windows are open on the left). `skywatch test rules` names them under
//! a failed assertion, whose outcome may hang on them. A lookback reads only a series'
//! newest sample, so its edge sample counts only when the series has none newer.

use promql::ast::{At, Expr, Selector};
use storage::{Queryable, SelectHints};

/// At most this many evaluation times are followed into subqueries.
const MAX_TIMES: usize = 10_000;

/// A sample on a window's left edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EdgeSample {
    /// The series.
    pub(crate) series: model::Labels,
    /// The sample's time, in ms.
    pub(crate) at: i64,
    /// The window's width, in ms.
    pub(crate) width: i64,
    /// Whether the window is a range selector's (else the lookback of an instant one).
    pub(crate) range: bool,
}

/// The samples of `store` lying exactly on the left edge of a window `expr` reads when
/// evaluated at `t`, with `lookback` the instant selectors' window and `default_step` the
/// subqueries' step where none is written.
pub(crate) fn samples_on_edges(
    store: &dyn Queryable,
    expr: &Expr,
    t: i64,
    lookback: i64,
    default_step: i64,
) -> Vec<EdgeSample> {
    let mut found = Vec::new();
    let mut pending: Vec<(&Expr, Vec<i64>)> = vec![(expr, vec![t])];
    while let Some((e, times)) = pending.pop() {
        match e {
            Expr::Vector(selector) => {
                edges(store, selector, &times, t, lookback, false, &mut found);
            }
            Expr::Matrix { selector, range } => {
                edges(store, selector, &times, t, *range, true, &mut found);
            }
            Expr::Subquery {
                expr: inner,
                range,
                step,
                offset,
                at,
            } => {
                let step = step.unwrap_or(default_step).max(1);
                let mut inner_times = Vec::new();
                for &outer in &times {
                    let end = read_time(outer, *offset, *at, t);
                    // The steps in (end - range, end], aligned to multiples of the step.
                    let mut s = (end - range).div_euclid(step) * step + step;
                    while s <= end && inner_times.len() < MAX_TIMES {
                        inner_times.push(s);
                        s += step;
                    }
                }
                inner_times.sort_unstable();
                inner_times.dedup();
                pending.push((inner, inner_times));
            }
            other => other.for_each_operand(|o| pending.push((o, times.clone()))),
        }
    }
    found.sort_by(|a, b| (&a.series, a.at).cmp(&(&b.series, b.at)));
    found.dedup();
    found
}

/// When a selector at evaluation time `t` reads, as the engine places it.
fn read_time(t: i64, offset: i64, at: Option<At>, query: i64) -> i64 {
    match at {
        Some(At::Time(at)) => at - offset,
        Some(At::Start | At::End) => query - offset,
        None => t - offset,
    }
}

fn edges(
    store: &dyn Queryable,
    selector: &Selector,
    times: &[i64],
    query: i64,
    width: i64,
    range: bool,
    found: &mut Vec<EdgeSample>,
) {
    let lefts: Vec<i64> = times
        .iter()
        .map(|&t| read_time(t, selector.offset, selector.at, query) - width)
        .collect();
    let (Some(&min), Some(&max)) = (lefts.iter().min(), lefts.iter().max()) else {
        return;
    };
    // A lookback gives a series' newest sample in the window, so Prometheus 2 read the one
    // on the edge only when the series had none newer: the samples up to the read times
    // are needed to tell. A range gives every sample, so an edge sample always counts.
    let end = if range { max } else { max + width };
    let Ok(querier) = store.querier(min, end) else {
        return;
    };
    let hints = SelectHints {
        start: min,
        end,
        ..SelectHints::default()
    };
    let Ok(set) = querier.select(&hints, &selector.matchers) else {
        return;
    };
    for series in set.flatten() {
        let mut samples = series.samples;
        let mut read = Vec::new();
        while let Ok(Some(sample)) = samples.next() {
            if sample.t > end {
                break;
            }
            read.push(sample);
        }
        for sample in &read {
            if !lefts.contains(&sample.t) || model::is_stale_nan(sample.v) {
                continue;
            }
            // A newer sample, a staleness marker too, hides the edge one from a lookback.
            let hidden = !range
                && read
                    .iter()
                    .any(|s| s.t > sample.t && s.t <= sample.t + width);
            if !hidden {
                found.push(EdgeSample {
                    series: series.labels.clone(),
                    at: sample.t,
                    width,
                    range,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use storage::{Appendable, MemStorage};

    use super::*;

    fn store() -> MemStorage {
        let store = MemStorage::new();
        let mut app = store.appender();
        let labels = model::Labels::from_pairs([("__name__", "x"), ("job", "a")]);
        for i in 0..=10 {
            app.append(None, &labels, i * 60_000, i as f64).unwrap();
        }
        app.commit().unwrap();
        store
    }

    fn edges_of(query: &str, t: i64) -> Vec<(i64, i64, bool)> {
        let expr = promql::ast::parse(query).unwrap();
        samples_on_edges(&store(), &expr, t, 300_000, 60_000)
            .into_iter()
            .map(|e| (e.at, e.width, e.range))
            .collect()
    }

    /// Regression: every failed assertion on a rule's output noted the sample five minutes
    /// before, though the rule had recorded one at the assertion's time, which Prometheus
    /// 2 read as Skywatch does (found by `tests/slo_rules.rs`, issue 14).
    #[test]
    fn a_lookback_edge_hidden_by_a_newer_sample_is_not_noted() {
        assert_eq!(edges_of("x", 600_000), []);
        assert_eq!(edges_of("x", 840_000), []);
        // Nor in a subquery's steps.
        assert_eq!(edges_of("max_over_time(x[5m:1m])", 600_000), []);
    }

    #[test]
    fn samples_on_the_left_edge_of_ranges_and_lookbacks_are_found() {
        // rate(x[5m]) at 10m reads (5m, 10m]: the sample at 5m is on the edge.
        assert_eq!(edges_of("rate(x[5m])", 600_000), [(300_000, 300_000, true)]);
        // Between samples: no edge.
        assert_eq!(edges_of("rate(x[5m])", 630_000), []);
        // With an offset, the window moves.
        assert_eq!(
            edges_of("x[2m] offset 1m", 600_000),
            [(420_000, 120_000, true)]
        );
        // An instant selector's lookback, where the series has no newer sample: the
        // store's last is at 10m.
        assert_eq!(edges_of("x", 900_000), [(600_000, 300_000, false)]);
        // A subquery reads the range at each of its steps: 6m, 8m and 10m here.
        let inner = edges_of("max_over_time(x[1m])[5m:2m]", 600_000);
        assert_eq!(
            inner,
            [
                (300_000, 60_000, true),
                (420_000, 60_000, true),
                (540_000, 60_000, true)
            ]
        );
        let e = samples_on_edges(
            &store(),
            &promql::ast::parse("x[1m]").unwrap(),
            120_000,
            300_000,
            60_000,
        );
        assert_eq!(
            e[0].series,
            model::Labels::from_pairs([("__name__", "x"), ("job", "a")])
        );
    }
}
