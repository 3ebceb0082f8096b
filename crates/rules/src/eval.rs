//! Evaluating a group of rules at a time, as Prometheus's rule manager does: recording
//! rules write their result under their name, alerting rules keep their alerts' state
//! (pending, firing, resolved) and write `ALERTS` and `ALERTS_FOR_STATE`; a series a rule
//! wrote last time and not this time gets a staleness marker.

use std::collections::{BTreeMap, HashSet};

use model::{Labels, LabelsBuilder, METRIC_NAME, STALE_NAN, Timestamp};
use promql::engine::{Engine, Stepped, Steps};
use storage::{Appendable, Queryable};

use crate::file::{Group, Kind, Rule};
use crate::template::{self, AlertData, Env, Samples};

/// How long a resolved alert is kept (and sent as resolved), as Prometheus keeps it.
const RESOLVED_RETENTION: i64 = 15 * 60 * 1000;

/// An alert's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertState {
    /// Its condition held and has not cleared, and it has been firing at most
    /// `keep_firing_for` since: no longer active.
    Inactive,
    /// Its condition holds, not yet for `for`.
    Pending,
    /// Its condition has held for `for`.
    Firing,
}

impl AlertState {
    /// `inactive`, `pending` or `firing`, as the API says.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of an alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Its labels: the sample's without the metric name, the rule's, and `alertname`.
    pub labels: BTreeMap<String, String>,
    /// Its annotations, expanded.
    pub annotations: BTreeMap<String, String>,
    /// Pending, firing, or inactive (resolved).
    pub state: AlertState,
    /// The value of the sample that made it, at the last evaluation where it held.
    pub value: f64,
    /// When its condition started holding, in ms.
    pub active_at: Timestamp,
    /// When it started firing, in ms.
    pub fired_at: Option<Timestamp>,
    /// When it was resolved, in ms.
    pub resolved_at: Option<Timestamp>,
    /// Since when it has been kept firing after its condition cleared.
    pub keep_firing_since: Option<Timestamp>,
}

/// How a rule's last evaluation went.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    /// The error of the last evaluation, if it failed.
    pub last_error: Option<String>,
    /// When it was last evaluated, in ms (0: never).
    pub last_evaluation: Timestamp,
    /// How long that took, in seconds.
    pub evaluation_seconds: f64,
    /// Series it produced.
    pub samples: usize,
}

/// A rule and what it remembers between evaluations.
#[derive(Debug, Clone)]
pub struct RuleState {
    /// The rule as its file gives it.
    pub rule: Rule,
    /// An alerting rule's alerts, by their labels.
    pub alerts: BTreeMap<Vec<(String, String)>, Alert>,
    /// How its last evaluation went.
    pub health: Health,
    /// The series written last time, to mark stale those not written again.
    written: HashSet<Labels>,
    /// The expression, parsed at an evaluation and kept for the next if the group keeps
    /// parsed expressions: parsing (and compiling its regular expressions) costs more than
    /// most evaluations.
    parsed: Option<std::sync::Arc<Result<promql::ast::Expr, String>>>,
}

/// What the server tells every template and alert.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The server's external labels (`$externalLabels`).
    pub external_labels: BTreeMap<String, String>,
    /// The server's external URL (`$externalURL`).
    pub external_url: String,
    /// Where each rule's query is logged (`global.query_log_file`), if anywhere.
    pub query_log: promql::query_log::Shared,
}

/// A group being evaluated.
#[derive(Debug, Clone)]
pub struct GroupState {
    /// The file the group comes from.
    pub file: String,
    /// The group's name.
    pub name: String,
    /// Its interval in ms.
    pub interval: i64,
    /// The most series (or alerts) a rule may produce; 0: no limit.
    pub limit: usize,
    /// How far in the past it evaluates, in ms.
    pub query_offset: i64,
    /// Labels added to every rule's output.
    pub labels: BTreeMap<String, String>,
    /// Its rules and their state, in order.
    pub rules: Vec<RuleState>,
    /// When it was last evaluated, in ms.
    pub last_evaluation: Timestamp,
    /// How long that took, in seconds.
    pub evaluation_seconds: f64,
    /// Whether each rule's parsed expression is kept between evaluations.
    keep_parsed: bool,
}

/// Queries at one time, for `query` in templates.
struct QueryAt<'a> {
    engine: &'a Engine,
    store: &'a dyn Queryable,
    t: Timestamp,
}

impl Env for QueryAt<'_> {
    fn query(&self, expr: &str) -> Result<Samples, String> {
        let parsed = promql::ast::parse(expr).map_err(|e| e.to_string())?;
        let value = self
            .engine
            .eval(self.store, &parsed, Steps::instant(self.t))
            .map_err(|e| e.to_string())?;
        Ok(vector(value)
            .into_iter()
            .map(|(labels, v)| (to_map(&labels), v))
            .collect())
    }
}

/// An instant result as samples: a scalar is one sample without labels.
fn vector(value: Stepped) -> Vec<(Labels, f64)> {
    match value {
        Stepped::Vector(series) => series
            .into_iter()
            .filter_map(|s| s.points.first().map(|p| (s.labels.clone(), p.v)))
            .collect(),
        Stepped::Scalar(v) => v
            .first()
            .map(|&v| vec![(Labels::empty(), v)])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn to_map(labels: &Labels) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|l| (l.name.to_owned(), l.value.to_owned()))
        .collect()
}

fn from_map(map: &BTreeMap<String, String>) -> Labels {
    let mut b = LabelsBuilder::new();
    for (k, v) in map {
        b.set(k, v);
    }
    b.build()
}

impl GroupState {
    /// A group of `file`, evaluated every `default_interval` ms unless it says otherwise.
    pub fn new(file: &str, group: &Group, default_interval: i64) -> Self {
        Self {
            file: file.to_owned(),
            name: group.name.clone(),
            interval: group.interval.unwrap_or(default_interval),
            limit: group.limit,
            query_offset: group.query_offset.unwrap_or(0),
            labels: group.labels.clone(),
            rules: group
                .rules
                .iter()
                .map(|r| RuleState {
                    rule: r.clone(),
                    alerts: BTreeMap::new(),
                    health: Health::default(),
                    written: HashSet::new(),
                    parsed: None,
                })
                .collect(),
            last_evaluation: 0,
            evaluation_seconds: 0.0,
            keep_parsed: false,
        }
    }

    /// The group, its rules' expressions parsed once and kept rather than at each
    /// evaluation: what a unit test's many evaluations want (parsing the mixins' rules,
    /// and compiling their regular expressions, took most of a test run). The server
    /// parses at each evaluation: keeping the deepest expressions' trees between
    /// evaluations made its resident memory grow (the deep-queries test).
    #[must_use]
    pub fn keeping_parsed_expressions(mut self) -> Self {
        self.keep_parsed = true;
        self
    }

    /// Evaluates every rule at `ts` (ms), in order, each seeing what the ones before it
    /// wrote, and commits their output to `store`.
    pub fn eval<S: Queryable + Appendable>(
        &mut self,
        ts: Timestamp,
        store: &S,
        engine: &Engine,
        ctx: &Context,
    ) {
        let started = std::time::Instant::now();
        let t = ts - self.query_offset;
        for i in 0..self.rules.len() {
            let rule_started = std::time::Instant::now();
            let result = self.eval_rule(i, t, store, engine, ctx);
            let out = match result {
                Ok(out) => {
                    self.rules[i].health.last_error = None;
                    out
                }
                Err(e) => {
                    // As Prometheus: a failed evaluation writes nothing, and marks nothing
                    // stale, so that a passing error does not end every series.
                    let state = &mut self.rules[i];
                    state.health.last_error = Some(e);
                    state.health.samples = 0;
                    state.health.last_evaluation = ts;
                    state.health.evaluation_seconds = rule_started.elapsed().as_secs_f64();
                    continue;
                }
            };
            let state = &mut self.rules[i];
            state.health.samples = out.len();
            state.health.last_evaluation = ts;
            // Written one rule at a time: a later rule of the group reads an earlier one's.
            let mut app = store.appender();
            let mut now_written = HashSet::with_capacity(out.len());
            for (labels, v) in &out {
                if let Err(e) = app.append(None, labels, t, *v) {
                    state
                        .health
                        .last_error
                        .get_or_insert(format!("storing {labels}: {e}"));
                }
                now_written.insert(labels.clone());
            }
            for gone in state.written.difference(&now_written) {
                let _ = app.append(None, gone, t, STALE_NAN);
            }
            if let Err(e) = app.commit() {
                state
                    .health
                    .last_error
                    .get_or_insert(format!("storing the results: {e}"));
            }
            state.written = now_written;
            state.health.evaluation_seconds = rule_started.elapsed().as_secs_f64();
        }
        self.last_evaluation = ts;
        self.evaluation_seconds = started.elapsed().as_secs_f64();
    }

    /// One rule's output series at `t`.
    fn eval_rule(
        &mut self,
        i: usize,
        t: Timestamp,
        store: &dyn Queryable,
        engine: &Engine,
        ctx: &Context,
    ) -> Result<Vec<(Labels, f64)>, String> {
        let limit = self.limit;
        let group_labels = self.labels.clone();
        // Where the query log says the query came from, if a log is open.
        let log = ctx
            .query_log
            .current()
            .map(|log| (log, self.file.clone(), self.name.clone()));
        let keep_parsed = self.keep_parsed;
        let state = &mut self.rules[i];
        if !keep_parsed {
            state.parsed = None;
        }
        let parsed = state
            .parsed
            .get_or_insert_with(|| {
                std::sync::Arc::new(promql::ast::parse(&state.rule.expr).map_err(|e| e.to_string()))
            })
            .clone();
        let rule = &state.rule;
        let expr = parsed.as_ref().as_ref().map_err(Clone::clone)?;
        let began = std::time::Instant::now();
        let value = engine.eval(store, expr, Steps::instant(t));
        if let Some((log, file, group)) = &log {
            log.log(&promql::query_log::Entry {
                query: &rule.expr,
                start: t,
                end: t,
                step: 0,
                error: value.as_ref().err().map(ToString::to_string),
                took: began.elapsed(),
                origin: promql::query_log::Origin::RuleGroup { file, name: group },
            });
        }
        let value = value.map_err(|e| e.to_string())?;
        let samples = vector(value);
        match &rule.kind {
            Kind::Record(name) => {
                let mut out = Vec::with_capacity(samples.len());
                let mut seen = HashSet::with_capacity(samples.len());
                for (labels, v) in samples {
                    let mut b = labels.builder();
                    b.set(METRIC_NAME, name);
                    for (k, val) in group_labels.iter().chain(&rule.labels) {
                        if val.is_empty() {
                            b.remove(k);
                        } else {
                            b.set(k, val);
                        }
                    }
                    let labels = b.build();
                    if !seen.insert(labels.clone()) {
                        return Err("vector contains metrics with the same labelset after applying rule labels".into());
                    }
                    out.push((labels, v));
                }
                if limit > 0 && out.len() > limit {
                    return Err(format!(
                        "exceeded limit of {limit} with {} series",
                        out.len()
                    ));
                }
                Ok(out)
            }
            Kind::Alert(name) => {
                let env = QueryAt { engine, store, t };
                let mut fresh: BTreeMap<Vec<(String, String)>, Alert> = BTreeMap::new();
                for (labels, v) in samples {
                    // Prometheus gives templates the sample's labels as they are,
                    // `__name__` included; the alert's own labels drop it.
                    let template_labels = to_map(&labels);
                    let mut sample_labels = template_labels.clone();
                    sample_labels.remove(METRIC_NAME);
                    let data = AlertData {
                        rule: name,
                        labels: &template_labels,
                        external_labels: &ctx.external_labels,
                        external_url: &ctx.external_url,
                        value: v,
                    };
                    let mut alert_labels = sample_labels.clone();
                    for (k, text) in group_labels.iter().chain(&rule.labels) {
                        let value = template::expand(text, &data, &env);
                        if value.is_empty() {
                            alert_labels.remove(k);
                        } else {
                            alert_labels.insert(k.clone(), value);
                        }
                    }
                    alert_labels.insert("alertname".into(), name.clone());
                    let annotations = rule
                        .annotations
                        .iter()
                        .map(|(k, text)| (k.clone(), template::expand(text, &data, &env)))
                        .collect();
                    let key: Vec<(String, String)> = alert_labels.clone().into_iter().collect();
                    if fresh.contains_key(&key) {
                        return Err("vector contains metrics with the same labelset after applying alert labels".into());
                    }
                    fresh.insert(
                        key,
                        Alert {
                            labels: alert_labels,
                            annotations,
                            state: AlertState::Pending,
                            value: v,
                            active_at: t,
                            fired_at: None,
                            resolved_at: None,
                            keep_firing_since: None,
                        },
                    );
                }
                let (for_, keep_firing_for) = (rule.for_, rule.keep_firing_for);
                // Alerts still holding keep their start; new ones start now.
                for (key, new) in &fresh {
                    match state.alerts.get_mut(key) {
                        Some(a) if a.state != AlertState::Inactive => {
                            a.value = new.value;
                            a.annotations = new.annotations.clone();
                            a.keep_firing_since = None;
                        }
                        _ => {
                            state.alerts.insert(key.clone(), new.clone());
                        }
                    }
                }
                let mut out = Vec::new();
                let mut active = 0;
                state.alerts.retain(|key, a| {
                    let holds = fresh.contains_key(key);
                    let mut keep_firing = false;
                    if !holds {
                        if a.state == AlertState::Firing && keep_firing_for > 0 {
                            let since = *a.keep_firing_since.get_or_insert(t);
                            keep_firing = t - since < keep_firing_for;
                        }
                        if a.state == AlertState::Pending
                            || a.resolved_at.is_some_and(|r| t - r > RESOLVED_RETENTION)
                        {
                            return false;
                        }
                        if a.state != AlertState::Inactive && !keep_firing {
                            a.state = AlertState::Inactive;
                            a.resolved_at = Some(t);
                        }
                        if !keep_firing {
                            return true;
                        }
                    }
                    active += 1;
                    if a.state == AlertState::Pending && t - a.active_at >= for_ {
                        a.state = AlertState::Firing;
                        a.fired_at = Some(t);
                    }
                    let mut labels = a.labels.clone();
                    labels.insert("alertstate".into(), a.state.as_str().into());
                    labels.insert(METRIC_NAME.into(), "ALERTS".into());
                    out.push((from_map(&labels), 1.0));
                    let mut for_state = a.labels.clone();
                    for_state.insert(METRIC_NAME.into(), "ALERTS_FOR_STATE".into());
                    out.push((from_map(&for_state), a.active_at as f64 / 1000.0));
                    true
                });
                if limit > 0 && active > limit {
                    state.alerts.clear();
                    return Err(format!("exceeded limit of {limit} with {active} alerts"));
                }
                Ok(out)
            }
        }
    }

    /// After a restart: gives each alert that is active at the first evaluation the start
    /// time its `ALERTS_FOR_STATE` series recorded before, if within `tolerance` ms, so
    /// that a `for` does not start over.
    pub fn restore(
        &mut self,
        ts: Timestamp,
        store: &dyn Queryable,
        engine: &Engine,
        tolerance: i64,
    ) {
        for state in &mut self.rules {
            if state.rule.for_ == 0 {
                continue;
            }
            for a in state.alerts.values_mut() {
                if a.state == AlertState::Inactive {
                    continue;
                }
                let selector = a
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v:?}"))
                    .collect::<Vec<_>>()
                    .join(",");
                let expr = format!(
                    "last_over_time(ALERTS_FOR_STATE{{{selector}}}[{}ms])",
                    tolerance.max(1)
                );
                let Ok(parsed) = promql::ast::parse(&expr) else {
                    continue;
                };
                let Ok(value) = engine.eval(store, &parsed, Steps::instant(ts)) else {
                    continue;
                };
                if let Some((_, since)) = vector(value).first() {
                    let since = (since * 1000.0) as Timestamp;
                    if since < a.active_at {
                        a.active_at = since;
                        if ts - since >= state.rule.for_ {
                            a.state = AlertState::Firing;
                            a.fired_at.get_or_insert(ts);
                        }
                    }
                }
            }
        }
    }

    /// Every alert of the group's alerting rules, active or recently resolved.
    pub fn alerts(&self) -> impl Iterator<Item = (&Rule, &Alert)> {
        self.rules
            .iter()
            .flat_map(|s| s.alerts.values().map(move |a| (&s.rule, a)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::RuleFile;
    use storage::MemStorage;

    const RULES: &str = r#"
groups:
  - name: g
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: Down
        expr: up == 0
        for: 2m
        annotations:
          summary: "{{ $labels.instance }} down, value {{ $value }}"
"#;

    fn setup(values: &[(i64, &str, f64)]) -> (MemStorage, GroupState) {
        let store = MemStorage::new();
        let mut app = store.appender();
        for &(t, instance, v) in values {
            let labels =
                Labels::from_pairs([("__name__", "up"), ("job", "node"), ("instance", instance)]);
            app.append(None, &labels, t, v).unwrap();
        }
        app.commit().unwrap();
        let file = RuleFile::parse(RULES, "r.yml").unwrap();
        let group = GroupState::new("r.yml", &file.groups[0], 60_000);
        (store, group)
    }

    fn query(store: &MemStorage, expr: &str, t: i64) -> Vec<(String, f64)> {
        let engine = Engine::new(promql::engine::EngineOptions::default());
        let e = promql::ast::parse(expr).unwrap();
        vector(engine.eval(store, &e, Steps::instant(t)).unwrap())
            .into_iter()
            .map(|(l, v)| (l.to_string(), v))
            .collect()
    }

    #[test]
    fn an_alert_goes_pending_firing_and_resolved_and_writes_alerts_series() {
        let minute = 60_000;
        let points: Vec<(i64, &str, f64)> = (0..10)
            .map(|m| (m * minute, "a", if (2..6).contains(&m) { 0.0 } else { 1.0 }))
            .collect();
        let (store, mut g) = setup(&points);
        let engine = Engine::new(promql::engine::EngineOptions::default());
        let ctx = Context::default();
        let mut states = Vec::new();
        for m in 0..10 {
            g.eval(m * minute, &store, &engine, &ctx);
            states.push(g.alerts().map(|(_, a)| a.state).next());
        }
        use AlertState::*;
        assert_eq!(
            states,
            [
                None,
                None,
                Some(Pending),
                Some(Pending),
                Some(Firing),
                Some(Firing),
                Some(Inactive),
                Some(Inactive),
                Some(Inactive),
                Some(Inactive)
            ]
        );
        let (_, a) = g.alerts().next().unwrap();
        assert_eq!(a.annotations["summary"], "a down, value 0");
        assert_eq!(
            (a.active_at, a.fired_at, a.resolved_at),
            (2 * minute, Some(4 * minute), Some(6 * minute))
        );
        assert_eq!(
            query(&store, "ALERTS", 4 * minute),
            [(
                r#"ALERTS{alertname="Down",alertstate="firing",instance="a",job="node"}"#
                    .to_owned(),
                1.0
            )]
        );
        assert_eq!(query(&store, "ALERTS_FOR_STATE", 5 * minute)[0].1, 120.0);
        // Resolved: the ALERTS series are marked stale at once, not left to linger 5 minutes.
        assert!(query(&store, "ALERTS", 6 * minute).is_empty());
        assert_eq!(query(&store, "job:up:sum", 9 * minute)[0].1, 1.0);
    }

    #[test]
    fn a_failed_evaluation_marks_nothing_stale() {
        let minute = 60_000;
        // b appears at 5m, putting the rule over its limit of one series.
        let mut points: Vec<(i64, &str, f64)> = (0..10).map(|m| (m * minute, "a", 1.0)).collect();
        points.extend((5..10).map(|m| (m * minute, "b", 1.0)));
        let (store, _) = setup(&points);
        let file = RuleFile::parse(
            "groups:\n  - name: g\n    limit: 1\n    rules:\n      - record: x\n        expr: up\n",
            "r.yml",
        )
        .unwrap();
        let mut g = GroupState::new("r.yml", &file.groups[0], 60_000);
        let engine = Engine::new(promql::engine::EngineOptions::default());
        g.eval(4 * minute, &store, &engine, &Context::default());
        assert_eq!(g.rules[0].health.last_error, None);
        g.eval(5 * minute, &store, &engine, &Context::default());
        let e = g.rules[0].health.last_error.clone().unwrap();
        assert!(e.contains("exceeded limit of 1 with 2 series"), "{e}");
        // The series written at 4m is still there at 5m: no staleness marker went in.
        assert_eq!(query(&store, "x", 5 * minute).len(), 1);
    }

    #[test]
    fn a_restarted_group_keeps_an_alerts_start_from_alerts_for_state() {
        let minute = 60_000;
        let points: Vec<(i64, &str, f64)> = (0..10).map(|m| (m * minute, "a", 0.0)).collect();
        let (store, mut before) = setup(&points);
        let engine = Engine::new(promql::engine::EngineOptions::default());
        let ctx = Context::default();
        before.eval(0, &store, &engine, &ctx);
        before.eval(minute, &store, &engine, &ctx);
        // A restart at 3m: a new group state, whose first evaluation sees the alert anew.
        let file = RuleFile::parse(RULES, "r.yml").unwrap();
        let mut after = GroupState::new("r.yml", &file.groups[0], 60_000);
        after.eval(3 * minute, &store, &engine, &ctx);
        assert_eq!(after.alerts().next().unwrap().1.state, AlertState::Pending);
        after.restore(3 * minute - 1, &store, &engine, 3_600_000);
        let (_, a) = after.alerts().next().unwrap();
        assert_eq!(a.active_at, 0);
        assert_eq!(a.state, AlertState::Firing, "pending since 0 with for: 2m");
    }
}
