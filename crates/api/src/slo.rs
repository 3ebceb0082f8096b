//! The SLO API: `GET /api/v1/slos`, every SLO the server runs with its state now.
//!
//! Each SLO's objective and period come from its spec; its error ratio per window, burn
//! rates, budget left and time to exhaustion from the series its generated rules record
//! (one instant query selecting every recorded metric name of every SLO at once, so 1,000
//! SLOs cost one query); its alerts' states from the rules' alerts. Sorted by the budget
//! left, least first, so the SLO in most trouble leads; SLOs without data yet come last.
//!
//! The answer is written straight from typed summaries borrowing the SLOs, not built as a
//! `serde_json::Value` first: for 1,000 SLOs that tree is some 80,000 map entries, each
//! allocated, sorted and dropped for one request (`scripts/bench-slos` measures it).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use promql::engine::{Stepped, Steps};
use serde::Serialize;
use serde_json::{Value, json};

use crate::ApiState;

/// Where the SLO API reads the SLOs the server runs.
pub type SloSource = Arc<dyn Fn() -> Arc<Vec<slo::Slo>> + Send + Sync>;

/// The SLO API's routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/slos", get(slos))
        .with_state(Arc::new(state))
}

async fn slos(State(state): State<Arc<ApiState>>) -> Response {
    let list = state.slos.as_ref().map(|f| f()).unwrap_or_default();
    let alerts = state.alerts.as_ref().map(|f| f()).unwrap_or(Value::Null);
    let now = crate::prometheus::now_ms();
    // Serialised on the blocking side too, while the summaries borrow `list` and `alerts`.
    let body = tokio::task::block_in_place(|| {
        let names = window_names(&list);
        serde_json::to_vec(&Envelope {
            status: "success",
            data: summaries(&state, &list, &names, &alerts, now),
        })
    });
    match body {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        // Not expected: every map key is a string and every value serialisable.
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"status": "error", "errorType": "internal", "error": e.to_string()})),
        )
            .into_response(),
    }
}

/// The answer: Prometheus's envelope around the summaries.
#[derive(Serialize)]
struct Envelope<'a> {
    status: &'static str,
    data: Vec<Summary<'a>>,
}

/// One SLO's state, as `/api/v1/slos` lists it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary<'a> {
    id: &'a str,
    service: &'a str,
    name: &'a str,
    description: &'a str,
    file: &'a str,
    objective: f64,
    period: &'a str,
    period_seconds: i64,
    labels: &'a BTreeMap<String, String>,
    sli: Option<f64>,
    error_budget_remaining: Option<f64>,
    current_burn_rate: Option<f64>,
    time_to_exhaustion_seconds: Option<f64>,
    windows: Vec<WindowState<'a>>,
    alerts: Vec<AlertSummary<'a>>,
}

/// The error ratio over one window and the burn rate it means.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WindowState<'a> {
    window: &'a str,
    seconds: i64,
    error_ratio: Option<f64>,
    burn_rate: Option<f64>,
}

/// One of an SLO's alerts, its state and what makes it fire.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertSummary<'a> {
    name: &'a str,
    severity: &'a str,
    state: &'a str,
    active_at: Option<&'a str>,
    /// The budget alert's share of the budget left.
    #[serde(skip_serializing_if = "Option::is_none")]
    threshold: Option<f64>,
    conditions: Vec<ConditionSummary<'a>>,
}

/// One condition of a burn-rate alert: both windows' error ratios over `burn_rate` times
/// the budget.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConditionSummary<'a> {
    short_window: &'a str,
    long_window: &'a str,
    burn_rate: f64,
}

/// A window's names, worked out once per request rather than once per SLO.
struct WindowNames {
    /// The window as Sloth writes it: `5m`, `30d`.
    label: String,
    /// Its SLI recording: `slo:sli_error:ratio_rate5m`.
    metric: String,
}

const BUDGET_REMAINING: &str = "slo:period_error_budget_remaining:ratio";
const CURRENT_BURN_RATE: &str = "slo:current_burn_rate:ratio";

/// Each recorded series' value now, by metric name and `sloth_id`.
struct Recorded(HashMap<String, HashMap<String, f64>>);

impl Recorded {
    /// Reads every metric of `names` with one instant query: one selector matching all the
    /// names, so the store's cost per query (a querier, its view of the head) is paid once,
    /// not once per name.
    fn read(state: &ApiState, names: &[&str], now: i64) -> Self {
        let mut out: HashMap<String, HashMap<String, f64>> = HashMap::new();
        // Metric names hold only letters, digits, `_` and `:`, none of which a regular
        // expression treats specially, so the alternation matches exactly these names.
        let selector = format!("{{__name__=~\"{}\"}}", names.join("|"));
        let Ok(expr) = promql::ast::parse(&selector) else {
            return Self(out);
        };
        if let Ok(Stepped::Vector(series)) =
            state
                .engine
                .eval(state.storage.as_ref(), &expr, Steps::instant(now))
        {
            for s in series {
                if let (Some(name), Some(id), Some(p)) = (
                    s.labels.metric_name(),
                    s.labels.get("sloth_id"),
                    s.points.last(),
                ) {
                    out.entry(name.to_owned())
                        .or_default()
                        .insert(id.to_owned(), p.v);
                }
            }
        }
        Self(out)
    }

    fn get(&self, name: &str, id: &str) -> Option<f64> {
        self.0.get(name)?.get(id).copied().filter(|v| v.is_finite())
    }
}

/// The names of every window the SLOs use, by its length in milliseconds.
fn window_names(slos: &[slo::Slo]) -> HashMap<i64, WindowNames> {
    let mut out = HashMap::new();
    for s in slos {
        let conditions = s
            .alerts
            .iter()
            .flat_map(|a| a.conditions.iter().flat_map(|c| [c.short, c.long]));
        for w in s.recorded_windows().into_iter().chain(conditions) {
            out.entry(w).or_insert_with(|| WindowNames {
                label: slo::generate::duration(w),
                metric: slo::generate::sli_metric(w),
            });
        }
    }
    out
}

/// The summaries of `slos`, sorted by the budget left.
fn summaries<'a>(
    state: &ApiState,
    slos: &'a [slo::Slo],
    names: &'a HashMap<i64, WindowNames>,
    alerts: &'a Value,
    now: i64,
) -> Vec<Summary<'a>> {
    if slos.is_empty() {
        return Vec::new();
    }
    let mut metrics: Vec<&str> = slos
        .iter()
        .flat_map(slo::Slo::recorded_windows)
        .filter_map(|w| names.get(&w).map(|n| n.metric.as_str()))
        .collect();
    metrics.sort_unstable();
    metrics.dedup();
    metrics.extend([BUDGET_REMAINING, CURRENT_BURN_RATE]);
    let recorded = Recorded::read(state, &metrics, now);
    // The active alerts by (alertname, sloth_id, sloth_severity).
    let mut active: HashMap<(&str, &str, &str), (&str, &str)> = HashMap::new();
    for a in alerts
        .get("alerts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let label = |k: &str| a["labels"][k].as_str().unwrap_or_default();
        let entry = (
            label("alertname"),
            label("sloth_id"),
            label("sloth_severity"),
        );
        let state = a["state"].as_str().unwrap_or_default();
        // Firing wins over pending when several series of one alert are active.
        if active.get(&entry).is_none_or(|(s, _)| *s != "firing") {
            active.insert(entry, (state, a["activeAt"].as_str().unwrap_or_default()));
        }
    }
    let mut out: Vec<Summary<'a>> = slos
        .iter()
        .map(|s| summary(s, names, &recorded, &active))
        .collect();
    out.sort_by(|a, b| {
        match (a.error_budget_remaining, b.error_budget_remaining) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
        .then_with(|| a.id.cmp(b.id))
    });
    out
}

fn summary<'a>(
    s: &'a slo::Slo,
    names: &'a HashMap<i64, WindowNames>,
    recorded: &Recorded,
    active: &HashMap<(&str, &str, &str), (&'a str, &'a str)>,
) -> Summary<'a> {
    // Every window of every SLO was named by `window_names`.
    let label = |w: i64| names.get(&w).map_or("", |n| n.label.as_str());
    let metric = |w: i64| names.get(&w).map_or("", |n| n.metric.as_str());
    let budget = s.error_budget();
    let id = s.id.as_str();
    let windows = s
        .recorded_windows()
        .into_iter()
        .map(|w| {
            let ratio = recorded.get(metric(w), id);
            WindowState {
                window: label(w),
                seconds: w / 1000,
                error_ratio: ratio,
                burn_rate: ratio.map(|r| r / budget),
            }
        })
        .collect();
    let period_ratio = recorded.get(metric(s.period), id);
    let remaining = recorded.get(BUDGET_REMAINING, id);
    let current = recorded.get(CURRENT_BURN_RATE, id);
    let period_seconds = s.period / 1000;
    let exhaustion = match (remaining, current) {
        (Some(r), _) if r <= 0.0 => Some(0.0),
        (Some(r), Some(c)) if c > 0.0 => Some(r * period_seconds as f64 / c),
        _ => None,
    };
    let state_of = |name: &str, severity: &str| {
        active
            .get(&(name, id, severity))
            .map_or(("inactive", None), |(st, at)| (*st, Some(*at)))
    };
    let mut alerts: Vec<AlertSummary<'a>> = s
        .alerts
        .iter()
        .map(|a| {
            let (state, active_at) = state_of(&a.name, &a.severity);
            AlertSummary {
                name: &a.name,
                severity: &a.severity,
                state,
                active_at,
                threshold: None,
                conditions: a
                    .conditions
                    .iter()
                    .map(|c| ConditionSummary {
                        short_window: label(c.short),
                        long_window: label(c.long),
                        burn_rate: c.factor,
                    })
                    .collect(),
            }
        })
        .collect();
    if let Some(b) = &s.budget_alert {
        let (state, active_at) = state_of(&b.name, "budget");
        alerts.push(AlertSummary {
            name: &b.name,
            severity: "budget",
            state,
            active_at,
            threshold: Some(b.threshold),
            conditions: Vec::new(),
        });
    }
    Summary {
        id,
        service: &s.service,
        name: &s.name,
        description: &s.description,
        file: &s.file,
        objective: s.objective_ratio(),
        period: label(s.period),
        period_seconds,
        labels: &s.labels,
        sli: period_ratio.map(|r| 1.0 - r),
        error_budget_remaining: remaining,
        current_burn_rate: current,
        time_to_exhaustion_seconds: exhaustion,
        windows,
        alerts,
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "a failed unwrap in a test is a test failure"
    )]

    use super::*;
    use http_body_util::BodyExt;
    use storage::Appendable;
    use tower::ServiceExt;

    const SPEC: &str = r#"
version: "prometheus/v1"
service: "svc"
slos:
  - name: "calm"
    objective: 99
    sli:
      raw:
        error_ratio_query: x[{{.window}}]
    alerting:
      name: SvcCalm
  - name: "burning"
    objective: 99.9
    sli:
      raw:
        error_ratio_query: y[{{.window}}]
    alerting:
      name: SvcBurning
  - name: "new"
    objective: 99.9
    sli:
      raw:
        error_ratio_query: z[{{.window}}]
    alerting:
      name: SvcNew
"#;

    /// A server running `spec`'s SLOs over a store holding what a rule evaluation a second
    /// before `now` would have recorded: (metric name, `sloth_id`, value).
    fn serving(spec: &str, recorded: &[(&str, &str, f64)], now: i64) -> ApiState {
        let store = Arc::new(storage::MemStorage::new());
        let mut app = store.appender();
        for &(name, id, v) in recorded {
            let labels = model::Labels::from_pairs([("__name__", name), ("sloth_id", id)]);
            app.append(None, &labels, now - 1000, v).unwrap();
        }
        app.commit().unwrap();
        let mut state = ApiState::new(
            store,
            promql::engine::Engine::new(promql::engine::EngineOptions::default()),
        );
        let slos = Arc::new(slo::load(spec, "s.yml", &slo::Defaults::default()).unwrap());
        state.slos = Some(Arc::new(move || slos.clone()));
        state
    }

    /// `SPEC`'s SLOs: one calm, one burning with its page alert firing, one without data.
    fn state(now: i64) -> ApiState {
        let mut state = serving(
            SPEC,
            &[
                ("slo:sli_error:ratio_rate5m", "svc-calm", 0.001),
                ("slo:sli_error:ratio_rate30d", "svc-calm", 0.002),
                ("slo:period_error_budget_remaining:ratio", "svc-calm", 0.8),
                ("slo:current_burn_rate:ratio", "svc-calm", 0.1),
                ("slo:sli_error:ratio_rate5m", "svc-burning", 0.02),
                (
                    "slo:period_error_budget_remaining:ratio",
                    "svc-burning",
                    -0.5,
                ),
                ("slo:current_burn_rate:ratio", "svc-burning", 20.0),
            ],
            now,
        );
        state.alerts = Some(Arc::new(|| {
            json!({"alerts": [{
                "labels": {"alertname": "SvcBurning", "sloth_id": "svc-burning", "sloth_severity": "page"},
                "state": "firing", "activeAt": "2026-12-06T10:00:00Z",
            }]})
        }));
        state
    }

    /// `GET /api/v1/slos`, parsed.
    async fn get(state: ApiState) -> Value {
        let response = router(state)
            .oneshot(
                axum::http::Request::get("/api/v1/slos")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.headers()["content-type"], "application/json");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&body).unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn slos_are_listed_by_budget_left_with_their_windows_and_alerts() {
        let now = crate::prometheus::now_ms();
        let v = get(state(now)).await;
        let data = v["data"].as_array().unwrap();
        let ids: Vec<&str> = data.iter().map(|s| s["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["svc-burning", "svc-calm", "svc-new"]);
        let burning = &data[0];
        assert_eq!(burning["timeToExhaustionSeconds"], 0.0);
        assert_eq!(burning["alerts"][0]["state"], "firing");
        assert_eq!(burning["alerts"][0]["conditions"][0]["burnRate"], 14.4);
        assert_eq!(burning["alerts"][1]["state"], "inactive");
        assert_eq!(burning["alerts"][2]["severity"], "budget");
        let calm = &data[1];
        assert_eq!(calm["objective"], 0.99);
        assert_eq!(calm["periodSeconds"], 2_592_000);
        assert!((calm["sli"].as_f64().unwrap() - 0.998).abs() < 1e-12);
        // 80% left at a tenth of the sustainable rate: 8 periods.
        assert!(
            (calm["timeToExhaustionSeconds"].as_f64().unwrap() - 8.0 * 2_592_000.0).abs() < 1e-3
        );
        assert_eq!(calm["windows"][0]["window"], "5m");
        assert!((calm["windows"][0]["burnRate"].as_f64().unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(
            calm["windows"].as_array().unwrap().last().unwrap()["window"],
            "30d"
        );
        assert_eq!(data[2]["errorBudgetRemaining"], Value::Null);
        assert_eq!(data[2]["timeToExhaustionSeconds"], Value::Null);
    }

    /// The one query that reads every recorded metric reads those of SLOs whose period
    /// and window table differ from the others' too.
    #[tokio::test(flavor = "multi_thread")]
    async fn slos_of_other_periods_and_window_tables_are_read_with_the_rest() {
        const SPECS: &str = r#"
version: "prometheus/v1"
service: "svc"
slos:
  - name: "month"
    objective: 99
    sli:
      raw:
        error_ratio_query: x[{{.window}}]
    alerting:
      name: SvcMonth
  - name: "week"
    objective: 99
    sli:
      raw:
        error_ratio_query: y[{{.window}}]
    alerting:
      name: SvcWeek
    skywatch:
      period: 7d
      windows: workbook
"#;
        let now = crate::prometheus::now_ms();
        let state = serving(
            SPECS,
            &[
                ("slo:sli_error:ratio_rate30d", "svc-month", 0.004),
                // Seven days are a week, as Sloth writes durations.
                ("slo:sli_error:ratio_rate1w", "svc-week", 0.002),
                // Its windows scale with the period: the shortest is a minute.
                ("slo:sli_error:ratio_rate1m", "svc-week", 0.03),
                ("slo:current_burn_rate:ratio", "svc-week", 3.0),
            ],
            now,
        );
        let v = get(state).await;
        let by_id = |id: &str| {
            v["data"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["id"] == id)
                .unwrap()
                .clone()
        };
        let (month, week) = (by_id("svc-month"), by_id("svc-week"));
        assert!((month["sli"].as_f64().unwrap() - 0.996).abs() < 1e-12);
        assert!((week["sli"].as_f64().unwrap() - 0.998).abs() < 1e-12);
        assert_eq!(week["period"], "1w");
        assert_eq!(week["currentBurnRate"], 3.0);
        let windows: Vec<&str> = week["windows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["window"].as_str().unwrap())
            .collect();
        assert_eq!(windows.first(), Some(&"1m"));
        assert_eq!(windows.last(), Some(&"1w"));
        assert!((week["windows"][0]["burnRate"].as_f64().unwrap() - 3.0).abs() < 1e-9);
        // Without alerts from the rules, every alert is inactive.
        assert_eq!(week["alerts"][0]["state"], "inactive");
        assert_eq!(week["alerts"][0]["activeAt"], Value::Null);
    }
}
