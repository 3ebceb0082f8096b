//! The SLO API: `GET /api/v1/slos`, every SLO the server runs with its state now.
//!
//! Each SLO's objective and period come from its spec; its error ratio per window, burn
//! rates, budget left and time to exhaustion from the series its generated rules record
//! (one instant query per recorded metric name, over all SLOs at once, so 1,000 SLOs cost
//! a dozen queries); its alerts' states from the rules' alerts. Sorted by the budget left,
//! least first, so the SLO in most trouble leads; SLOs without data yet come last.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use promql::engine::{Stepped, Steps};
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

async fn slos(State(state): State<Arc<ApiState>>) -> Json<Value> {
    let list = state.slos.as_ref().map(|f| f()).unwrap_or_default();
    let alerts = state.alerts.as_ref().map(|f| f()).unwrap_or(Value::Null);
    let now = crate::prometheus::now_ms();
    let data = tokio::task::block_in_place(|| summaries(&state, &list, &alerts, now));
    Json(json!({ "status": "success", "data": data }))
}

/// Each recorded series' value now, by metric name and `sloth_id`.
struct Recorded(HashMap<String, HashMap<String, f64>>);

impl Recorded {
    fn read(state: &ApiState, names: impl IntoIterator<Item = String>, now: i64) -> Self {
        let mut out = HashMap::new();
        for name in names {
            let Ok(expr) = promql::ast::parse(&name) else {
                continue;
            };
            let mut values = HashMap::new();
            if let Ok(Stepped::Vector(series)) =
                state
                    .engine
                    .eval(state.storage.as_ref(), &expr, Steps::instant(now))
            {
                for s in series {
                    if let (Some(id), Some(p)) = (s.labels.get("sloth_id"), s.points.last()) {
                        values.insert(id.to_owned(), p.v);
                    }
                }
            }
            out.insert(name, values);
        }
        Self(out)
    }

    fn get(&self, name: &str, id: &str) -> Option<f64> {
        self.0.get(name)?.get(id).copied().filter(|v| v.is_finite())
    }
}

/// The summaries of `slos`, sorted by the budget left.
fn summaries(state: &ApiState, slos: &[slo::Slo], alerts: &Value, now: i64) -> Vec<Value> {
    let mut names: Vec<String> = slos
        .iter()
        .flat_map(slo::Slo::recorded_windows)
        .map(slo::generate::sli_metric)
        .collect();
    names.sort();
    names.dedup();
    names.push("slo:period_error_budget_remaining:ratio".into());
    names.push("slo:current_burn_rate:ratio".into());
    let recorded = Recorded::read(state, names, now);
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
    let mut out: Vec<(Option<f64>, String, Value)> = slos
        .iter()
        .map(|s| {
            let (remaining, v) = summary(s, &recorded, &active);
            (remaining, s.id.clone(), v)
        })
        .collect();
    out.sort_by(|a, b| match (a.0, b.0) {
        (Some(x), Some(y)) => x.total_cmp(&y).then_with(|| a.1.cmp(&b.1)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.1.cmp(&b.1),
    });
    out.into_iter().map(|(_, _, v)| v).collect()
}

fn summary(
    s: &slo::Slo,
    recorded: &Recorded,
    active: &HashMap<(&str, &str, &str), (&str, &str)>,
) -> (Option<f64>, Value) {
    let budget = s.error_budget();
    let id = s.id.as_str();
    let windows: Vec<Value> = s
        .recorded_windows()
        .into_iter()
        .map(|w| {
            let ratio = recorded.get(&slo::generate::sli_metric(w), id);
            json!({
                "window": slo::generate::duration(w),
                "seconds": w / 1000,
                "errorRatio": ratio,
                "burnRate": ratio.map(|r| r / budget),
            })
        })
        .collect();
    let period_ratio = recorded.get(&slo::generate::sli_metric(s.period), id);
    let remaining = recorded.get("slo:period_error_budget_remaining:ratio", id);
    let current = recorded.get("slo:current_burn_rate:ratio", id);
    let period_seconds = s.period / 1000;
    let exhaustion = match (remaining, current) {
        (Some(r), _) if r <= 0.0 => Some(0.0),
        (Some(r), Some(c)) if c > 0.0 => Some(r * period_seconds as f64 / c),
        _ => None,
    };
    let state_of = |name: &str, severity: &str| {
        active
            .get(&(name, id, severity))
            .map_or(("inactive", Value::Null), |(st, at)| {
                (*st, Value::String((*at).to_owned()))
            })
    };
    let mut alerts: Vec<Value> = s
        .alerts
        .iter()
        .map(|a| {
            let (state, at) = state_of(&a.name, &a.severity);
            let conditions: Vec<Value> = a
                .conditions
                .iter()
                .map(|c| {
                    json!({
                        "shortWindow": slo::generate::duration(c.short),
                        "longWindow": slo::generate::duration(c.long),
                        "burnRate": c.factor,
                    })
                })
                .collect();
            json!({"name": a.name, "severity": a.severity, "state": state, "activeAt": at, "conditions": conditions})
        })
        .collect();
    if let Some(b) = &s.budget_alert {
        let (state, at) = state_of(&b.name, "budget");
        alerts.push(json!({
            "name": b.name, "severity": "budget", "state": state, "activeAt": at,
            "threshold": b.threshold, "conditions": [],
        }));
    }
    let labels: BTreeMap<&str, &str> = s
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let value = json!({
        "id": s.id,
        "service": s.service,
        "name": s.name,
        "description": s.description,
        "file": s.file,
        "objective": s.objective_ratio(),
        "period": slo::generate::duration(s.period),
        "periodSeconds": period_seconds,
        "labels": labels,
        "sli": period_ratio.map(|r| 1.0 - r),
        "errorBudgetRemaining": remaining,
        "currentBurnRate": current,
        "timeToExhaustionSeconds": exhaustion,
        "windows": windows,
        "alerts": alerts,
    });
    (remaining, value)
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

    /// A store holding the recorded series a rule evaluation would have written.
    fn state(now: i64) -> ApiState {
        let store = Arc::new(storage::MemStorage::new());
        let mut app = store.appender();
        let mut put = |name: &str, id: &str, v: f64| {
            let labels = model::Labels::from_pairs([("__name__", name), ("sloth_id", id)]);
            app.append(None, &labels, now - 1000, v).unwrap();
        };
        put("slo:sli_error:ratio_rate5m", "svc-calm", 0.001);
        put("slo:sli_error:ratio_rate30d", "svc-calm", 0.002);
        put("slo:period_error_budget_remaining:ratio", "svc-calm", 0.8);
        put("slo:current_burn_rate:ratio", "svc-calm", 0.1);
        put("slo:sli_error:ratio_rate5m", "svc-burning", 0.02);
        put(
            "slo:period_error_budget_remaining:ratio",
            "svc-burning",
            -0.5,
        );
        put("slo:current_burn_rate:ratio", "svc-burning", 20.0);
        app.commit().unwrap();
        let mut state = ApiState::new(
            store,
            promql::engine::Engine::new(promql::engine::EngineOptions::default()),
        );
        let slos = Arc::new(slo::load(SPEC, "s.yml", &slo::Defaults::default()).unwrap());
        state.slos = Some(Arc::new(move || slos.clone()));
        state.alerts = Some(Arc::new(|| {
            json!({"alerts": [{
                "labels": {"alertname": "SvcBurning", "sloth_id": "svc-burning", "sloth_severity": "page"},
                "state": "firing", "activeAt": "2026-12-06T10:00:00Z",
            }]})
        }));
        state
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn slos_are_listed_by_budget_left_with_their_windows_and_alerts() {
        let now = crate::prometheus::now_ms();
        let response = router(state(now))
            .oneshot(
                axum::http::Request::get("/api/v1/slos")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&body).unwrap();
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
}
