//! Federation: `GET` or `POST /federate?match[]=...`, the latest sample of every series a
//! selector matches, in the text exposition format, so that another Prometheus (or
//! Skywatch) scrapes this server as it scrapes any target, as Prometheus 2.42's
//! `/federate` answers:
//!
//! - `match[]` is repeatable and required (without one the answer is 400, naming the
//!   parameter); a series several selectors match is written once.
//! - A series' latest sample at or before now, and no older than the lookback
//!   (`--query.lookback-delta`, 5m), is written with its timestamp; a series whose latest
//!   sample is the staleness marker has ended, and is left out.
//! - The server's `external_labels` are added to each series that lacks them, after its
//!   own labels, in name order.
//! - Series are grouped by metric name, families in name order, each under a `# TYPE name
//!   untyped` line (federation has no types, as in Prometheus); within a family series are
//!   in label order. Values and label values are written as Prometheus writes them
//!   (`1e+06`, `+Inf`, `NaN`; `\\`, `\"`, `\n` escaped).
//!
//! The answer is always text 0.0.4 (`text/plain; version=0.0.4`): Prometheus's protobuf
//! negotiation is not served (a scraper falls back to text, which every Prometheus
//! accepts). Federation reads the local store alone, never remote read endpoints, as
//! Prometheus's does.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use model::{Labels, Matcher, Sample, is_stale_nan};

use crate::ApiState;
use crate::prometheus::{Params, blocking, now_ms, selectors};

/// The content type of the answer: Prometheus's text format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Returns `/federate`'s routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/federate", get(federate).post(federate))
        .with_state(state)
}

async fn federate(State(state): State<ApiState>, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let p = Params::new(raw, &body);
    let sets = match selectors(&p, true) {
        Ok(sets) if sets.is_empty() => {
            return bad_request("invalid parameter \"match[]\": at least one match[] is required, for example match[]={job=\"node\"}".into());
        }
        Ok(sets) => sets,
        Err(e) => return bad_request(e.message),
    };
    let external = state
        .external_labels
        .as_ref()
        .map(|f| f())
        .unwrap_or_default();
    let now = now_ms();
    let lookback = state.engine.options().lookback;
    let latest = blocking(|| latest_samples(&state, &sets, now - lookback, now));
    match latest {
        Ok(latest) => (
            [(header::CONTENT_TYPE, CONTENT_TYPE)],
            exposition(&latest, &external),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("federation failed reading the store: {e}\n"),
        )
            .into_response(),
    }
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response()
}

/// The latest sample in `[mint, maxt]` of every series a selector matches, unless it is
/// the staleness marker; sorted by labels, each series once.
fn latest_samples(
    state: &ApiState,
    sets: &[Vec<Matcher>],
    mint: i64,
    maxt: i64,
) -> Result<Vec<(Labels, Sample)>, storage::StorageError> {
    let querier = state.local.querier(mint, maxt)?;
    let hints = storage::SelectHints {
        start: mint,
        end: maxt,
        ..storage::SelectHints::default()
    };
    let mut found = std::collections::BTreeMap::new();
    for matchers in sets {
        for series in querier.select(&hints, matchers)? {
            let mut series = series?;
            if found.contains_key(&series.labels) {
                continue;
            }
            let mut last = None;
            while let Some(s) = series.samples.next()? {
                last = Some(s);
            }
            if let Some(s) = last.filter(|s| !is_stale_nan(s.v)) {
                found.insert(series.labels, s);
            }
        }
    }
    Ok(found.into_iter().collect())
}

/// `latest` (sorted by labels) as text exposition 0.0.4, one untyped family per metric
/// name; nameless series are left out, as Prometheus leaves them out.
fn exposition(latest: &[(Labels, Sample)], external: &Labels) -> String {
    let mut named: Vec<(&str, &Labels, &Sample)> = latest
        .iter()
        .filter_map(|(l, s)| Some((l.metric_name().filter(|n| !n.is_empty())?, l, s)))
        .collect();
    // Stable: within a name, the label order the store gave.
    named.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::new();
    let mut family = None;
    for (name, labels, sample) in named {
        if family != Some(name) {
            out.push_str(&format!("# TYPE {name} untyped\n"));
            family = Some(name);
        }
        out.push_str(name);
        let own = labels
            .iter()
            .filter(|l| l.name != "__name__" && !l.value.is_empty());
        let added = external
            .iter()
            .filter(|e| labels.get(e.name).is_none_or(str::is_empty));
        let pairs: Vec<String> = own
            .chain(added)
            .map(|l| format!("{}=\"{}\"", l.name, escape(l.value)))
            .collect();
        if !pairs.is_empty() {
            out.push('{');
            out.push_str(&pairs.join(","));
            out.push('}');
        }
        out.push_str(&format!(" {} {}\n", value(sample.v), sample.t));
    }
    out
}

/// A label value escaped as the text format escapes it.
fn escape(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// A value as Prometheus's text encoder writes it: Go's shortest `%g` (`1e+06`), and
/// `+Inf`, `-Inf`, `NaN` as the API writes them.
fn value(v: f64) -> String {
    if v.is_finite() {
        gotemplate::fmt::go_float(v)
    } else {
        crate::format_value(v)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use model::{STALE_NAN, Sample};
    use storage::{Appendable, MemStorage};

    use super::*;

    fn sample(t: i64, v: f64) -> Sample {
        Sample { t, v }
    }

    #[test]
    fn families_sorted_untyped_with_external_labels_after() {
        let latest = vec![
            (
                Labels::from_pairs([("__name__", "up"), ("job", "a"), ("dc", "x")]),
                sample(1000, 1.0),
            ),
            (
                Labels::from_pairs([("__name__", "b_total"), ("job", "a\"\n\\")]),
                sample(2000, 1e6),
            ),
            (
                Labels::from_pairs([("__name__", "up"), ("job", "b")]),
                sample(1000, f64::INFINITY),
            ),
        ];
        let external = Labels::from_pairs([("dc", "eu"), ("replica", "1")]);
        let mut sorted = latest.clone();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            exposition(&sorted, &external),
            "# TYPE b_total untyped\n\
             b_total{job=\"a\\\"\\n\\\\\",dc=\"eu\",replica=\"1\"} 1e+06 2000\n\
             # TYPE up untyped\n\
             up{dc=\"x\",job=\"a\",replica=\"1\"} 1 1000\n\
             up{job=\"b\",dc=\"eu\",replica=\"1\"} +Inf 1000\n"
        );
    }

    #[test]
    fn latest_within_lookback_and_not_stale() {
        let store = Arc::new(MemStorage::new());
        let mut app = store.appender();
        let live = Labels::from_pairs([("__name__", "m"), ("i", "live")]);
        let stale = Labels::from_pairs([("__name__", "m"), ("i", "stale")]);
        let old = Labels::from_pairs([("__name__", "m"), ("i", "old")]);
        for (l, t, v) in [
            (&live, 10_000, 1.0),
            (&live, 20_000, 2.0),
            (&stale, 10_000, 5.0),
            (&stale, 20_000, STALE_NAN),
            (&old, 1_000, 9.0),
        ] {
            app.append(None, l, t, v).expect("append");
        }
        app.commit().expect("commit");
        let state = ApiState::new(
            store,
            promql::engine::Engine::new(promql::engine::EngineOptions::default()),
        );
        let sets = vec![
            vec![Matcher::equal("__name__", "m")],
            vec![Matcher::equal("i", "live")],
        ];
        let got = latest_samples(&state, &sets, 5_000, 30_000).expect("select");
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!((got[0].1.t, got[0].1.v), (20_000, 2.0));
        assert_eq!(got[0].0, live);
    }
}
