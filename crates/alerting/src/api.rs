//! Alertmanager's v2 API, the part `amtool` and Prometheus use: alerts (list and post),
//! silences (list, get, create or update, expire), receivers and status; and
//! `/api/v1/notifications`, Skywatch's notification log.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::parse_matcher;
use crate::notify::{Service, lock, now_ms};
use crate::silence::{Silence, SilenceMatcher};

fn bad(message: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!(message.into()))).into_response()
}

/// The routes, over `service`.
pub fn router<S: Clone + Send + Sync + 'static>(
    service: Arc<Service>,
    config_text: String,
) -> axum::Router<S> {
    axum::Router::new()
        .route("/api/v2/alerts", get(list_alerts).post(post_alerts))
        .route("/api/v2/silences", get(list_silences).post(post_silence))
        .route("/api/v2/silence/{id}", get(get_silence))
        .route("/api/v2/silence/{id}", delete(expire_silence))
        .route("/api/v2/receivers", get(receivers))
        .route(
            "/api/v2/status",
            get(move |s| status(s, config_text.clone())),
        )
        .route("/api/v1/notifications", get(notifications))
        .with_state(service)
}

/// `filter` matchers and the state flags of `GET /api/v2/alerts` and `/api/v2/silences`.
#[derive(Debug, Default)]
struct AlertQuery {
    filter: Vec<model::Matcher>,
    active: Option<bool>,
    silenced: Option<bool>,
    inhibited: Option<bool>,
    receiver: Option<String>,
}

/// Reads the parameters, `filter` repeated; a filter that is not a matcher is refused.
fn alert_query(raw: Option<String>) -> Result<AlertQuery, String> {
    let mut q = AlertQuery::default();
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "filter" => q.filter.push(parse_matcher(&v)?),
            "active" => q.active = Some(v == "true"),
            "silenced" => q.silenced = Some(v == "true"),
            "inhibited" => q.inhibited = Some(v == "true"),
            "receiver" => q.receiver = Some(v.into_owned()),
            _ => {}
        }
    }
    Ok(q)
}

async fn list_alerts(
    State(s): State<Arc<Service>>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response {
    let q = match alert_query(raw) {
        Ok(q) => q,
        Err(e) => return bad(e),
    };
    let now = now_ms();
    let d = lock(&s.dispatcher);
    let list: Vec<Value> = d
        .alerts
        .iter()
        .filter(|(_, a)| !a.resolved(now))
        .filter(|(_, a)| {
            q.filter
                .iter()
                .all(|m| m.matches(a.labels.get(&m.name).map_or("", String::as_str)))
        })
        .filter_map(|(fp, a)| {
            let muted = d.muted(a, now);
            let silenced = !muted.silenced_by.is_empty();
            let inhibited = !muted.inhibited_by.is_empty();
            let active = !silenced && !inhibited;
            if q.active == Some(false) && active
                || q.silenced == Some(false) && silenced
                || q.inhibited == Some(false) && inhibited
            {
                return None;
            }
            let receivers = d.receivers_of(fp);
            if q.receiver.as_ref().is_some_and(|r| !receivers.contains(r)) {
                return None;
            }
            Some(json!({
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": model::format_rfc3339(a.starts_at),
                "endsAt": model::format_rfc3339(a.ends_at.unwrap_or(0)),
                "updatedAt": model::format_rfc3339(a.updated_at),
                "generatorURL": a.generator_url,
                "fingerprint": fp,
                "receivers": receivers.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
                "status": {
                    "state": if active { "active" } else { "suppressed" },
                    "silencedBy": muted.silenced_by,
                    "inhibitedBy": muted.inhibited_by,
                },
            }))
        })
        .collect();
    Json(list).into_response()
}

async fn post_alerts(State(s): State<Arc<Service>>, body: axum::body::Bytes) -> Response {
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return bad(format!(
                "the body is not JSON: {e} (at byte {})",
                e.column()
            ));
        }
    };
    match s.receive(&value) {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => bad(e),
    }
}

async fn list_silences(
    State(s): State<Arc<Service>>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response {
    // A filter that is not a matcher matches no silence.
    let Ok(q) = alert_query(raw) else {
        return Json(Vec::<Value>::new()).into_response();
    };
    let now = now_ms();
    let d = lock(&s.dispatcher);
    let list: Vec<Value> = d
        .silences
        .all()
        .iter()
        .filter(|si| {
            q.filter.iter().all(|m| {
                si.matchers
                    .iter()
                    .any(|sm| sm.name == m.name && m.matches(&sm.value))
            })
        })
        .map(|si| si.json(now))
        .collect();
    Json(list).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableSilence {
    #[serde(default)]
    id: String,
    matchers: Vec<SilenceMatcher>,
    starts_at: String,
    ends_at: String,
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    comment: String,
}

async fn post_silence(State(s): State<Arc<Service>>, body: axum::body::Bytes) -> Response {
    let p: PostableSilence = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return bad(format!("not a silence: {e}")),
    };
    let (Some(starts_at), Some(ends_at)) = (
        model::parse_rfc3339(&p.starts_at),
        model::parse_rfc3339(&p.ends_at),
    ) else {
        return bad("startsAt and endsAt are RFC 3339 times");
    };
    if p.created_by.is_empty() {
        return bad("createdBy is required: say who silences");
    }
    let now = now_ms();
    let silence = Silence {
        id: p.id,
        matchers: p.matchers,
        starts_at,
        ends_at,
        updated_at: now,
        created_by: p.created_by,
        comment: p.comment,
    };
    match lock(&s.dispatcher).silences.upsert(silence, now) {
        Ok(id) => Json(json!({"silenceID": id})).into_response(),
        Err(e) => bad(e),
    }
}

async fn get_silence(State(s): State<Arc<Service>>, Path(id): Path<String>) -> Response {
    let d = lock(&s.dispatcher);
    match d.silences.get(&id) {
        Some(si) => Json(si.json(now_ms())).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!(format!("no silence with id {id}"))),
        )
            .into_response(),
    }
}

async fn expire_silence(State(s): State<Arc<Service>>, Path(id): Path<String>) -> Response {
    match lock(&s.dispatcher).silences.expire(&id, now_ms()) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) if e.starts_with("no silence") => {
            (StatusCode::NOT_FOUND, Json(json!(e))).into_response()
        }
        Err(e) => bad(e),
    }
}

async fn receivers(State(s): State<Arc<Service>>) -> Response {
    let d = lock(&s.dispatcher);
    let list: Vec<Value> = d
        .config()
        .receivers
        .iter()
        .map(|r| json!({"name": r.name.value}))
        .collect();
    Json(list).into_response()
}

async fn status(State(_): State<Arc<Service>>, config: String) -> Response {
    Json(json!({
        "cluster": {"status": "disabled", "peers": []},
        "versionInfo": {"version": env!("CARGO_PKG_VERSION"), "revision": "", "branch": "", "buildUser": "", "buildDate": "", "goVersion": ""},
        "config": {"original": config},
        "uptime": model::format_rfc3339(now_ms()),
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct LogQuery {
    receiver: Option<String>,
    limit: Option<usize>,
}

async fn notifications(State(s): State<Arc<Service>>, Query(q): Query<LogQuery>) -> Response {
    let entries = s.log.query(q.receiver.as_deref(), q.limit.unwrap_or(100));
    Json(json!({"status": "success", "data": entries})).into_response()
}
