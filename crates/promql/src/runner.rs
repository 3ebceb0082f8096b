//! Runs `.test` scripts against the engine and the reference store.
//!
//! Each `load` appends its samples to a [`MemStorage`] (value `k` at `k × interval`),
//! `clear` starts a new one, and each `eval` is checked: the expression must parse and
//! evaluate, or fail when the script expects it to; the result must equal the expected one
//! as upstream compares them (floats within a relative 1e-6, NaN equal to NaN, series
//! unordered unless `expect ordered`). Annotations are checked as upstream checks
//! them (`expect warn`, `expect no_info`, with or without a message); native histograms in `load`
//! are skipped (with `load_with_nhcb`, the native copies of classic histograms too), and an
//! eval that fails while selecting any of those series fails for that reason. Start
//! timestamps (`@st` lines, relative to their samples) are stored with the samples. Each failure carries a reason, and the
//! known-failures file groups failures by reason.

use std::collections::BTreeMap;
use std::path::Path;

use model::{Labels, STALE_NAN};
use storage::{Appendable, MemStorage};

use crate::engine::{Engine, Series, Stepped, Steps};
use crate::promqltest::{Annotation, Command, Eval, EvalAt, Expected, Load, Matcher, Value};

/// The opening comment of the known-failures file.
pub const KNOWN_FAILURES_HEADER: &str = "\
# Evals of ../shared/promql-testdata that the engine fails, grouped by reason, as
# <file>:<line of the eval>. The test tests/promqltest.rs fails when an eval not listed
# here fails, and when a listed one passes: this list only shrinks. After a change that
# fixes cases, regenerate it with `cargo xtask promqltest --print-known-failures`.";

/// The engine as upstream's test scripts expect it: Prometheus's test engine runs with
/// delayed name removal on.
pub fn test_engine() -> Engine {
    Engine::new(crate::engine::EngineOptions {
        delayed_name_removal: true,
        ..crate::engine::EngineOptions::default()
    })
}

/// The outcome of one eval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The script's file name.
    pub file: String,
    /// The eval's line.
    pub line: usize,
    /// `None` if it passed, else why it failed.
    pub failure: Option<String>,
}

/// Runs one script's text.
pub fn run_script(file: &str, text: &str, engine: &Engine) -> Result<Vec<Outcome>, String> {
    let script = crate::promqltest::parse(text).map_err(|e| format!("{file}: {e}"))?;
    let mut store = MemStorage::new();
    // The series loaded as native histograms, which the engine does not read yet.
    let mut native: Vec<Labels> = Vec::new();
    let mut out = Vec::new();
    for command in &script.commands {
        match command {
            Command::Clear { .. } => {
                store = MemStorage::new();
                native.clear();
            }
            Command::Load(load) => {
                native.extend(native_histogram_series(load));
                // Upstream keys a load's series by labels: a later line for the same series
                // replaces an earlier one.
                let mut series: Vec<&(Labels, Vec<Value>)> = Vec::new();
                for s in &load.series {
                    match series.iter().position(|x| x.0 == s.0) {
                        Some(i) => series[i] = s,
                        None => series.push(s),
                    }
                }
                let mut app = store.appender();
                for (labels, values) in series {
                    let start_times = load
                        .start_times
                        .iter()
                        .rfind(|(l, _)| l == labels)
                        .map(|(_, sts)| sts.as_slice())
                        .unwrap_or_default();
                    for (k, v) in values.iter().enumerate() {
                        let t = k as i64 * load.interval;
                        let value = match v {
                            Value::Float(f) => *f,
                            Value::Stale => STALE_NAN,
                            Value::Missing | Value::Histogram(_) => continue,
                        };
                        let st = start_times.get(k).copied().flatten().map_or(0, |o| t + o);
                        app.append_with_start_time(None, labels, t, st, value)
                            .map_err(|e| format!("{file}:{}: loading {labels}: {e}", load.line))?;
                    }
                }
                app.commit()
                    .map_err(|e| format!("{file}:{}: {e}", load.line))?;
            }
            Command::Eval(eval) => out.push(Outcome {
                file: file.to_owned(),
                line: eval.line,
                failure: check(eval, &store, engine).err().map(|failure| {
                    if reads_any(&eval.expr, &native) {
                        NATIVE_HISTOGRAMS.to_owned()
                    } else {
                        failure
                    }
                }),
            }),
        }
    }
    Ok(out)
}

/// Why an eval over native histograms fails.
const NATIVE_HISTOGRAMS: &str = "native histograms are not supported yet";

/// The series a load gives native histogram samples: those with a histogram value, and
/// with `load_with_nhcb` the classic histograms, which it also loads as native histograms
/// with custom buckets under the name without `_bucket`.
fn native_histogram_series(load: &Load) -> Vec<Labels> {
    load.series
        .iter()
        .filter_map(|(labels, values)| {
            if values.iter().any(|v| matches!(v, Value::Histogram(_))) {
                return Some(labels.clone());
            }
            let classic = labels.get(model::METRIC_NAME)?.strip_suffix("_bucket")?;
            load.with_nhcb.then(|| {
                let mut b = labels.builder();
                b.set(model::METRIC_NAME, classic);
                b.remove("le");
                b.build()
            })
        })
        .collect()
}

/// Whether any selector of `expr` selects any of `series`.
fn reads_any(expr: &str, series: &[Labels]) -> bool {
    crate::ast::parse(expr).is_ok_and(|e| {
        e.selectors().iter().any(|s| {
            series.iter().any(|labels| {
                s.matchers
                    .iter()
                    .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
            })
        })
    })
}

/// Runs every `*.test` script in `dir`, in name order.
pub fn run_dir(dir: &Path, engine: &Engine) -> Result<Vec<Outcome>, String> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.extend(run_script(&name, &text, engine)?);
    }
    Ok(out)
}

fn message_matches(m: &Matcher, message: &str) -> bool {
    match m {
        Matcher::Message(want) => message == want,
        Matcher::Regex(pattern) => regex_lite_match(pattern, message),
    }
}

/// Upstream's `regex:` expectations are Go regexes; an unanchored search with the model's
/// regex engine is equivalent for the patterns the scripts use.
fn regex_lite_match(pattern: &str, message: &str) -> bool {
    model::Matcher::new(model::MatchOp::Regex, "m", format!(".*(?:{pattern}).*"))
        .is_ok_and(|m| m.matches(message))
}

fn check(eval: &Eval, store: &MemStorage, engine: &Engine) -> Result<(), String> {
    let steps = match eval.at {
        EvalAt::Instant(t) => Steps::instant(t),
        EvalAt::Range { start, end, step } => Steps { start, end, step },
    };
    let result = crate::ast::parse(&eval.expr)
        .map_err(|e| e.to_string())
        .and_then(|expr| {
            engine
                .eval_annotated(store, &expr, steps)
                .map_err(|e| e.to_string())
        });
    match (&eval.fail, result) {
        (Some(None), Err(_)) => Ok(()),
        (Some(Some(m)), Err(message)) if message_matches(m, &message) => Ok(()),
        (Some(Some(m)), Err(message)) => Err(format!("wrong error: got {message:?}, want {m:?}")),
        (Some(_), Ok(_)) => Err("expected the evaluation to fail, it succeeded".into()),
        (None, Err(message)) => Err(category(&message)),
        (None, Ok(evaluated)) => {
            check_annotations("warning", &eval.warn, &evaluated.annotations.warnings)?;
            check_annotations("info", &eval.info, &evaluated.annotations.infos)?;
            compare(eval, &evaluated.value, steps)
        }
    }
}

/// Checks the annotations of one kind against the eval's expectation, as upstream does:
/// each `expect warn` line must match one of them (any, without a message), and each of
/// them must match a line; `expect no_warn` wants none.
fn check_annotations(kind: &str, want: &Annotation, got: &[String]) -> Result<(), String> {
    let matches =
        |line: &Option<Matcher>, a: &str| line.as_ref().is_none_or(|m| message_matches(m, a));
    let ok = match want {
        Annotation::Unstated => true,
        Annotation::Absent => got.is_empty(),
        Annotation::Expected(lines) => {
            lines.iter().all(|l| got.iter().any(|a| matches(l, a)))
                && got.iter().all(|a| lines.iter().any(|l| matches(l, a)))
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("annotations: want {kind} {want:?}, got {got:?}"))
    }
}

/// An engine error as a failure message.
fn category(message: &str) -> String {
    if message.starts_with("not implemented yet: ") || message.starts_with("parse error") {
        return message.to_owned();
    }
    format!("error: {message}")
}

/// The group a failure belongs to in the known-failures file: why it fails, without the
/// details (`cargo xtask promqltest --failures` prints those).
pub fn reason(failure: &str) -> String {
    if let Some(what) = failure.strip_prefix("not implemented yet: ") {
        return format!("not implemented yet: {what}s");
    }
    if failure.starts_with("parse error") {
        return "parse error: syntax promql-parser does not accept".into();
    }
    if failure.starts_with("wrong error") {
        return "wrong error message".into();
    }
    if failure.starts_with("annotations") {
        return "annotations: missing, unexpected or worded differently".into();
    }
    if failure == NATIVE_HISTOGRAMS {
        return failure.to_owned();
    }
    if failure.starts_with("expected the evaluation to fail") {
        return "accepted what Prometheus rejects".into();
    }
    if let Some(e) = failure.strip_prefix("error: ") {
        return format!("fails: {e}");
    }
    "wrong result".into()
}

/// Upstream's float comparison: equal, both NaN, or within a relative 1e-6.
pub fn almost_equal(a: f64, b: f64) -> bool {
    almost_equal_tolerance(a, b, 1e-6)
}

/// Prometheus's `almost.Equal`: equal, both NaN, or within a relative `epsilon`.
pub fn almost_equal_tolerance(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    let abs_sum = a.abs() + b.abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// A series as (time, value) points, for comparison.
type PointSeries = (Labels, Vec<(i64, f64)>);

/// The expected series as points at step times.
fn expected_points(
    series: &[(Labels, Vec<Value>)],
    steps: Steps,
) -> Result<Vec<PointSeries>, String> {
    series
        .iter()
        .map(|(labels, values)| {
            let mut points = Vec::new();
            for (t, v) in steps.times().zip(values) {
                match v {
                    Value::Float(f) => points.push((t, *f)),
                    Value::Missing => {}
                    Value::Stale => points.push((t, STALE_NAN)),
                    Value::Histogram(_) => {
                        return Err(NATIVE_HISTOGRAMS.to_owned());
                    }
                }
            }
            Ok((labels.clone(), points))
        })
        .collect()
}

fn render(points: &[(i64, f64)]) -> String {
    points
        .iter()
        .map(|(t, v)| format!("{v}@{t}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn compare(eval: &Eval, value: &Stepped, steps: Steps) -> Result<(), String> {
    match (&eval.expected, value) {
        (Expected::Scalar(want), Stepped::Scalar(got)) => match got.as_slice() {
            [got] if almost_equal(*got, *want) => Ok(()),
            _ => Err(format!("scalar: got {got:?}, want {want}")),
        },
        (Expected::String(want), Stepped::String(got)) if want == got => Ok(()),
        (Expected::String(want), other) => Err(format!("want the string {want:?}, got {other:?}")),
        (Expected::Series(want), Stepped::Vector(got)) => {
            // An instant query's expectation lists one value per series.
            compare_series(&expected_points(want, steps)?, got, eval.ordered)
        }
        (Expected::Series(want), Stepped::Scalar(got))
            if want.len() == 1 && want[0].0.is_empty() =>
        {
            let want = expected_points(want, steps)?;
            let got: Vec<(i64, f64)> = steps.times().zip(got.iter().copied()).collect();
            points_equal(&want[0].1, &got)
                .then_some(())
                .ok_or_else(|| format!("scalar: got {}, want {}", render(&got), render(&want[0].1)))
        }
        (
            Expected::RangeVector {
                from,
                to,
                step,
                series,
            },
            Stepped::Matrix(got),
        ) => {
            let at = Steps {
                start: *from,
                end: *to,
                step: *step,
            };
            compare_series(&expected_points(series, at)?, got, eval.ordered)
        }
        (want, got) => Err(format!("result type: got {got:?}, want {want:?}")),
    }
}

fn points_equal(a: &[(i64, f64)], b: &[(i64, f64)]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.0 == y.0
                && (almost_equal(x.1, y.1)
                    || (model::is_stale_nan(x.1) && model::is_stale_nan(y.1)))
        })
}

fn compare_series(
    want: &[(Labels, Vec<(i64, f64)>)],
    got: &[Series],
    ordered: bool,
) -> Result<(), String> {
    let got: Vec<(Labels, Vec<(i64, f64)>)> = got
        .iter()
        .map(|s| {
            (
                s.labels.clone(),
                s.points.iter().map(|p| (p.t, p.v)).collect(),
            )
        })
        .filter(|(_, p): &(Labels, Vec<(i64, f64)>)| !p.is_empty())
        .collect();
    let want: Vec<&(Labels, Vec<(i64, f64)>)> =
        want.iter().filter(|(_, p)| !p.is_empty()).collect();
    if want.len() != got.len() {
        return Err(format!(
            "got {} series, want {}: got {}",
            got.len(),
            want.len(),
            got.iter()
                .map(|(l, _)| l.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if ordered {
        for (w, g) in want.iter().zip(&got) {
            if w.0 != g.0 || !points_equal(&w.1, &g.1) {
                return Err(format!(
                    "in order: got {} {}, want {} {}",
                    g.0,
                    render(&g.1),
                    w.0,
                    render(&w.1)
                ));
            }
        }
        return Ok(());
    }
    let by_labels: BTreeMap<&Labels, &Vec<(i64, f64)>> = got.iter().map(|(l, p)| (l, p)).collect();
    for (labels, points) in want {
        match by_labels.get(labels) {
            None => return Err(format!("missing series {labels}")),
            Some(g) if !points_equal(points, g) => {
                return Err(format!(
                    "{labels}: got {}, want {}",
                    render(g),
                    render(points)
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_comparison_is_upstreams() {
        assert!(almost_equal(1.0, 1.0 + 1e-9));
        assert!(!almost_equal(1.0, 1.001));
        assert!(almost_equal(f64::NAN, f64::NAN));
        assert!(!almost_equal(0.0, 1e-300));
        assert!(almost_equal(f64::INFINITY, f64::INFINITY));
    }

    #[test]
    fn passes_and_failures_are_reported_per_eval() {
        let script = "load 1m\n  up{job=\"a\"} 1 2 3\n\neval instant at 2m up\n  up{job=\"a\"} 3\n\n\
                      eval instant at 2m up\n  up{job=\"a\"} 4\n\neval range from 0 to 2m step 1m up\n  up{job=\"a\"} 1 2 3\n\n\
                      eval instant at 2m up + 1\n  {job=\"a\"} 4\n\neval instant at 0 1.5\n  1.5\n\n\
                      eval instant at 2m histogram_count(up)\n  {job=\"a\"} 3\n";
        let outcomes = run_script("t.test", script, &Engine::default()).unwrap();
        let failures: Vec<(usize, Option<&str>)> = outcomes
            .iter()
            .map(|o| (o.line, o.failure.as_deref()))
            .collect();
        assert_eq!(failures[0], (4, None));
        assert!(
            failures[1]
                .1
                .unwrap()
                .contains("got 3@120000, want 4@120000"),
            "{failures:?}"
        );
        assert_eq!(failures[2], (10, None));
        assert_eq!(failures[3], (13, None));
        assert_eq!(failures[4], (16, None));
        assert_eq!(failures[5].1, Some("not implemented yet: function call"));
        assert_eq!(
            reason(failures[5].1.unwrap()),
            "not implemented yet: function calls"
        );
        assert_eq!(reason(failures[1].1.unwrap()), "wrong result");
    }
}
