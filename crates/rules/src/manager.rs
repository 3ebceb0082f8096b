//! The rule manager: every group of the configured rule files evaluated at its interval
//! against a store, replaced as a whole when the files change (a bad file changes
//! nothing), the state of alerts carried over to the same rule in the new files, and
//! alerts' start times restored from `ALERTS_FOR_STATE` at the first evaluation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use promql::engine::Engine;
use serde_json::{Value, json};
use storage::{Appendable, Queryable};

use crate::eval::{AlertState, Context, GroupState};
use crate::file::{Kind, RuleFile};

/// How far back an alert's earlier start is looked for after a restart (Prometheus's
/// `rules.alert.for-outage-tolerance` default).
const OUTAGE_TOLERANCE: i64 = 3600 * 1000;

/// Where alerts go when their state changes: an Alertmanager, or Skywatch's own routing.
pub trait Notifier: Send + Sync {
    /// Called after each group evaluation with the group's firing and recently resolved
    /// alerts, as Prometheus sends them.
    fn send(&self, alerts: Vec<Value>);
}

type Shared = Arc<Mutex<GroupState>>;

/// Runs the groups of a set of rule files.
pub struct RuleManager<S> {
    store: Arc<S>,
    engine: Engine,
    notifier: Option<Arc<dyn Notifier>>,
    groups: Mutex<Vec<(Shared, tokio::task::JoinHandle<()>)>>,
}

impl<S> std::fmt::Debug for RuleManager<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleManager").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> i64 {
    promql::ast::system_time_ms(std::time::SystemTime::now())
}

/// The files `patterns` (a configuration's `rule_files`) name, relative to `base`, the
/// configuration file's directory, as Prometheus expands them: Go's globs (see
/// [`crate::glob`]), each sorted.
///
/// As Prometheus's configuration refuses it, a pattern with a `*` before its last `/`
/// (a glob in a directory's name) is an error, `invalid rule file path "..."`. A pattern
/// without `*` that names no file is an error too, as `promtool check config` says it;
/// a `*` pattern may match nothing.
pub fn resolve(base: &Path, patterns: &[String]) -> Result<Vec<PathBuf>, String> {
    let base = base.to_string_lossy();
    let mut out = Vec::new();
    for p in patterns {
        // Prometheus's `patRulePath`, `^[^*]*(\*[^/]*)?$`, checked before the base is joined.
        if p.find('*').is_some_and(|star| p[star..].contains('/')) {
            return Err(format!("invalid rule file path {p:?}"));
        }
        let path = if p.is_empty() || p.starts_with('/') {
            p.clone()
        } else {
            crate::glob::join(&base, p)
        };
        let found = crate::glob::glob(&path)
            .map_err(|e| format!("error retrieving rule files for {path}: {e}"))?;
        if found.is_empty() && !p.contains('*') {
            return Err(format!("{path:?} does not point to an existing file"));
        }
        out.extend(found.into_iter().map(PathBuf::from));
    }
    Ok(out)
}

/// Reads and checks every file: all of them, or every problem found.
pub fn load_all(files: &[PathBuf]) -> Result<Vec<RuleFile>, Vec<String>> {
    let mut loaded = Vec::new();
    let mut problems = Vec::new();
    for f in files {
        match RuleFile::load(f) {
            Ok(r) => loaded.push(r),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(problems)
    }
}

impl<S: Queryable + Appendable + 'static> RuleManager<S> {
    /// A manager with no rules yet.
    pub fn new(store: Arc<S>, engine: Engine, notifier: Option<Arc<dyn Notifier>>) -> Self {
        Self {
            store,
            engine,
            notifier,
            groups: Mutex::new(Vec::new()),
        }
    }

    /// Runs the groups of `loaded` every `interval` ms (unless a group says otherwise),
    /// replacing the running ones; returns how many rules run.
    pub fn apply(&self, loaded: &[RuleFile], interval: i64, ctx: Context) -> usize {
        let mut running = lock(&self.groups);
        let mut old: BTreeMap<(String, String), GroupState> = running
            .drain(..)
            .map(|(g, task)| {
                task.abort();
                let g = lock(&g).clone();
                ((g.file.clone(), g.name.clone()), g)
            })
            .collect();
        let mut rules = 0;
        for file in loaded {
            for group in &file.groups {
                let mut state = GroupState::new(&file.file, group, interval);
                rules += state.rules.len();
                // The same rule in the same group keeps its alerts.
                if let Some(before) = old.remove(&(file.file.clone(), group.name.clone())) {
                    for r in &mut state.rules {
                        if let Some(b) = before.rules.iter().find(|b| b.rule == r.rule) {
                            r.alerts = b.alerts.clone();
                        }
                    }
                    state.last_evaluation = before.last_evaluation;
                }
                let shared = Arc::new(Mutex::new(state));
                let task = tokio::spawn(run_group(
                    shared.clone(),
                    self.store.clone(),
                    self.engine,
                    ctx.clone(),
                    self.notifier.clone(),
                ));
                running.push((shared, task));
            }
        }
        rules
    }

    /// Stops every group.
    pub fn stop(&self) {
        for (_, task) in lock(&self.groups).drain(..) {
            task.abort();
        }
    }

    /// The groups and their rules as `/api/v1/rules` gives them; `kind` is `alert`,
    /// `record` or empty for both.
    pub fn rules_json(&self, kind: &str) -> Value {
        let groups: Vec<Value> = lock(&self.groups)
            .iter()
            .map(|(g, _)| {
                let g = lock(g);
                let rules: Vec<Value> = g
                    .rules
                    .iter()
                    .filter(|r| match kind {
                        "alert" => matches!(r.rule.kind, Kind::Alert(_)),
                        "record" => matches!(r.rule.kind, Kind::Record(_)),
                        _ => true,
                    })
                    .map(|r| {
                        let health = if r.health.last_evaluation == 0 {
                            "unknown"
                        } else if r.health.last_error.is_some() {
                            "err"
                        } else {
                            "ok"
                        };
                        let mut v = json!({
                            "name": r.rule.name(),
                            "query": r.rule.expr,
                            "labels": r.rule.labels,
                            "health": health,
                            "lastError": r.health.last_error.clone().unwrap_or_default(),
                            "evaluationTime": r.health.evaluation_seconds,
                            "lastEvaluation": rfc3339(r.health.last_evaluation),
                        });
                        if matches!(r.rule.kind, Kind::Alert(_)) {
                            let alerts: Vec<Value> = r
                                .alerts
                                .values()
                                .filter(|a| a.state != AlertState::Inactive)
                                .map(alert_json)
                                .collect();
                            let state = r
                                .alerts
                                .values()
                                .map(|a| a.state)
                                .filter(|s| *s != AlertState::Inactive)
                                .max()
                                .unwrap_or(AlertState::Inactive);
                            v["type"] = json!("alerting");
                            v["state"] = json!(state.as_str());
                            v["duration"] = json!(r.rule.for_ as f64 / 1000.0);
                            v["keepFiringFor"] = json!(r.rule.keep_firing_for as f64 / 1000.0);
                            v["annotations"] = json!(r.rule.annotations);
                            v["alerts"] = json!(alerts);
                        } else {
                            v["type"] = json!("recording");
                        }
                        v
                    })
                    .collect();
                json!({
                    "name": g.name,
                    "file": g.file,
                    "interval": g.interval as f64 / 1000.0,
                    "limit": g.limit,
                    "rules": rules,
                    "evaluationTime": g.evaluation_seconds,
                    "lastEvaluation": rfc3339(g.last_evaluation),
                })
            })
            .collect();
        json!({ "groups": groups })
    }

    /// The pending and firing alerts, as `/api/v1/alerts` gives them.
    pub fn alerts_json(&self) -> Value {
        let alerts: Vec<Value> = lock(&self.groups)
            .iter()
            .flat_map(|(g, _)| {
                lock(g)
                    .alerts()
                    .filter(|(_, a)| a.state != AlertState::Inactive)
                    .map(|(_, a)| alert_json(a))
                    .collect::<Vec<_>>()
            })
            .collect();
        json!({ "alerts": alerts })
    }
}

fn alert_json(a: &crate::eval::Alert) -> Value {
    json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "state": a.state.as_str(),
        "activeAt": rfc3339(a.active_at),
        "value": crate::template::go_shortest_e(a.value, 'e'),
    })
}

/// Milliseconds since the epoch as RFC 3339 in UTC; the zero time for 0.
pub fn rfc3339(ms: i64) -> String {
    if ms == 0 {
        return "0001-01-01T00:00:00Z".into();
    }
    // As Go writes times in JSON: the fraction without trailing zeros.
    let text = model::format_rfc3339(ms);
    match text.trim_end_matches('Z').split_once('.') {
        Some((whole, fraction)) => match fraction.trim_end_matches('0') {
            "" => format!("{whole}Z"),
            f => format!("{whole}.{f}Z"),
        },
        None => text,
    }
}

/// An alert as Prometheus sends it to an Alertmanager.
pub fn notification_json(a: &crate::eval::Alert, external_url: &str, group_interval: i64) -> Value {
    let ends = match (a.state, a.resolved_at) {
        (AlertState::Inactive, Some(r)) => r,
        // Valid until four evaluation intervals from now, as Prometheus says.
        _ => now_ms() + 4 * group_interval.max(1000),
    };
    let mut labels = a.labels.clone();
    labels.retain(|_, v| !v.is_empty());
    json!({
        "labels": labels,
        "annotations": a.annotations,
        "startsAt": rfc3339(a.fired_at.unwrap_or(a.active_at)),
        "endsAt": rfc3339(ends),
        "generatorURL": format!("{}/graph", external_url.trim_end_matches('/')),
    })
}

/// How far into each interval a group evaluates, in ms: as Prometheus works it out, the
/// hash of the labels `{file, name}` (xxHash64 of `file`, 0xff, the file, 0xff, `name`,
/// 0xff, the name, 0xff) modulo the interval in nanoseconds, so that a group whose file
/// is named as Prometheus names it evaluates at the same instants there and here.
fn eval_offset(file: &str, name: &str, interval: i64) -> i64 {
    let mut h = xxhash_rust::xxh64::Xxh64::new(0);
    for part in ["file", file, "name", name] {
        h.update(part.as_bytes());
        h.update(&[0xff]);
    }
    let interval_ns = interval.max(1).unsigned_abs().saturating_mul(1_000_000);
    i64::try_from(h.digest() % interval_ns / 1_000_000).unwrap_or(0)
}

/// The group's latest evaluation instant at or before `now`: a multiple of the interval
/// plus the group's offset.
fn eval_timestamp(now: i64, interval: i64, offset: i64) -> i64 {
    let adjusted = now - offset;
    adjusted - adjusted.rem_euclid(interval) + offset
}

async fn run_group<S: Queryable + Appendable + 'static>(
    group: Shared,
    store: Arc<S>,
    engine: Engine,
    ctx: Context,
    notifier: Option<Arc<dyn Notifier>>,
) {
    let (interval, offset) = {
        let g = lock(&group);
        let interval = g.interval.max(1);
        (interval, eval_offset(&g.file, &g.name, interval))
    };
    // Each group's evaluations fall at its own offset into the interval, as Prometheus
    // spreads them, rather than every group at once at the top of the minute.
    let now = now_ms();
    let first = eval_timestamp(now, interval, offset) + interval;
    tokio::time::sleep(Duration::from_millis((first - now).max(0) as u64)).await;
    let mut tick = tokio::time::interval(Duration::from_millis(interval as u64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut restored = false;
    loop {
        tick.tick().await;
        let ts = eval_timestamp(now_ms(), interval, offset);
        let (g, store, ctx, notifier) =
            (group.clone(), store.clone(), ctx.clone(), notifier.clone());
        let first_run = !restored;
        restored = true;
        let done = tokio::task::spawn_blocking(move || {
            // Evaluated on a copy, so that readers of the group's rules and alerts (the
            // API) do not wait for its queries; the copy replaces the group's state after.
            let shared = g;
            let mut g = lock(&shared).clone();
            g.eval(ts, store.as_ref(), &engine, &ctx);
            for r in &g.rules {
                if let Some(e) = &r.health.last_error {
                    tracing::warn!(group = %g.name, rule = r.rule.name(), error = %e, "rule evaluation failed");
                }
            }
            if first_run {
                let before = ts - g.query_offset - 1;
                g.restore(before, store.as_ref(), &engine, OUTAGE_TOLERANCE);
            }
            if let Some(n) = notifier {
                let alerts: Vec<Value> = g
                    .alerts()
                    .filter(|(_, a)| a.state == AlertState::Firing || a.resolved_at.is_some())
                    .map(|(_, a)| notification_json(a, &ctx.external_url, g.interval))
                    .collect();
                if !alerts.is_empty() {
                    n.send(alerts);
                }
            }
            *lock(&shared) = g;
        })
        .await;
        if let Err(e) = done {
            tracing::error!(error = %e, "a rule group's evaluation panicked; it runs again at its next interval");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn groups_evaluate_at_their_own_offset_into_the_interval() {
        // Each group's instants are a fixed offset past multiples of its interval, the
        // offset under the interval and different for different groups.
        let interval = 60_000;
        let offsets: Vec<i64> = (0..50)
            .map(|i| super::eval_offset("rules/slo.yml", &format!("group-{i}"), interval))
            .collect();
        assert!(offsets.iter().all(|o| (0..interval).contains(o)));
        let distinct: std::collections::BTreeSet<_> = offsets.iter().collect();
        assert!(distinct.len() > 40, "{offsets:?}");
        let offset = offsets[0];
        for now in [
            1_700_000_000_000,
            1_700_000_000_000 + offset,
            1_700_000_059_999,
        ] {
            let ts = super::eval_timestamp(now, interval, offset);
            assert!(ts <= now && now - ts < interval, "{now} -> {ts}");
            assert_eq!((ts - offset).rem_euclid(interval), 0);
        }
        assert_eq!(super::eval_offset("f", "g", 1), 0);
    }

    #[test]
    fn times_are_written_as_go_writes_them_in_json() {
        assert_eq!(
            super::rfc3339(1_435_065_584_128),
            "2015-06-23T13:19:44.128Z"
        );
        assert_eq!(super::rfc3339(1_435_065_584_500), "2015-06-23T13:19:44.5Z");
        assert_eq!(super::rfc3339(1_435_065_584_000), "2015-06-23T13:19:44Z");
        assert_eq!(super::rfc3339(0), "0001-01-01T00:00:00Z");
    }

    /// Regression: a `*` in a directory of a configuration's `rule_files` is refused with
    /// Prometheus's words, and the file part may be any Go glob.
    #[test]
    fn rule_file_patterns_are_checked_and_expanded_as_prometheus_does() {
        let tmp = tempfile::tempdir().unwrap();
        for f in ["a.yml", "b.yml", "c.txt"] {
            std::fs::write(tmp.path().join(f), "").unwrap();
        }
        let resolve = |p: &str| super::resolve(tmp.path(), &[p.to_owned()]);
        for bad in ["*/x.yml", "rules*/x.yml", "a/*b/*.yml"] {
            assert_eq!(resolve(bad), Err(format!("invalid rule file path {bad:?}")));
        }
        let names = |p: &str| -> Vec<String> {
            resolve(p)
                .unwrap()
                .iter()
                .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names("*.yml"), ["a.yml", "b.yml"]);
        assert_eq!(names("[ac].*"), ["a.yml", "c.txt"]);
        assert_eq!(names("x*.yml"), [] as [&str; 0]);
        assert!(
            resolve("x.yml")
                .unwrap_err()
                .ends_with("does not point to an existing file")
        );
        assert!(
            resolve("[.yml")
                .unwrap_err()
                .ends_with("syntax error in pattern")
        );
    }
}
