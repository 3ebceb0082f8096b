//! OpenSLO v1: `SLO` objects with their SLIs and alert policies, inline or referenced
//! by name from other documents of the same file.
//!
//! What Skywatch runs: a `ratioMetric` SLI (`good`/`total`, `bad`/`total`, or `raw` with
//! `rawType`) or a `thresholdMetric` one over Prometheus queries (`metricSource.spec.query`,
//! each using `{{.window}}` where the window goes, as in Sloth's OpenSLO support), one
//! objective (`target` or `targetPercent`), a rolling `timeWindow`, and
//! `budgetingMethod: Occurrences` (or `Timeslices` for a threshold metric, which is read as
//! the share of minutes the threshold held). What it does not (calendar windows,
//! composite SLOs, other data sources) is refused by name.
//!
//! Alerts: each `AlertPolicy` becomes one alert named after it, its `burnrate` conditions
//! checked over `lookbackWindow` and a twelfth of it (the workbook's short window) and held
//! `alertAfter`; the condition's `severity` is the `sloth_severity` label. An SLO without
//! policies gets the window table's page and ticket alerts, named after the SLO, so an
//! OpenSLO SLO alerts exactly as the equivalent Sloth spec does.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::sloth::{Extensions, budget_alert, check_window_template, interval, period_and_table};
use crate::{BurnAlert, Condition, Defaults, Sli, Slo, SpecError, Windows};

/// Whether `text` holds OpenSLO v1 (or v1alpha) objects.
pub fn is_spec(text: &str) -> bool {
    text.lines().any(|l| {
        l.strip_prefix("apiVersion:").is_some_and(|v| {
            matches!(
                v.trim().trim_matches(|c| c == '"' || c == '\''),
                "openslo/v1" | "openslo/v1alpha"
            )
        })
    })
}

/// OpenSLO v1alpha's `SLO`, as Sloth reads it: each of its objectives an SLO of its own,
/// named `<name>-<index>`, with `ratioMetrics` good over total and a `timeWindows` count.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AlphaSlo {
    metadata: Metadata,
    spec: AlphaSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct AlphaSpec {
    service: String,
    description: String,
    budgeting_method: String,
    objectives: Vec<AlphaObjective>,
    time_windows: Vec<AlphaWindow>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct AlphaObjective {
    ratio_metrics: Option<AlphaRatio>,
    target: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AlphaRatio {
    good: AlphaQuery,
    total: AlphaQuery,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AlphaQuery {
    source: String,
    query: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AlphaWindow {
    count: i64,
    unit: String,
}

/// The SLOs of a v1alpha `SLO`: one an objective.
fn alpha_slos(o: &AlphaSlo, defaults: &Defaults) -> Result<Vec<Slo>, String> {
    let spec = &o.spec;
    if spec.budgeting_method != "Occurrences" {
        return Err(format!(
            "spec.budgetingMethod: {:?}: Skywatch counts Occurrences",
            spec.budgeting_method
        ));
    }
    let mut ext = Extensions::default();
    match spec.time_windows.as_slice() {
        [] => {}
        [w] => {
            let days = match w.unit.as_str() {
                "Day" => w.count,
                "Week" => w.count * 7,
                "Month" => w.count * 30,
                "Quarter" => w.count * 90,
                "Year" => w.count * 365,
                other => {
                    return Err(format!(
                        "spec.timeWindows[0].unit: {other:?}: Day, Week, Month, Quarter or Year"
                    ));
                }
            };
            ext.period = Some(format!("{days}d"));
        }
        _ => return Err("spec.timeWindows: exactly one window".into()),
    }
    let mut out = Vec::new();
    for (i, objective) in spec.objectives.iter().enumerate() {
        let at = format!("spec.objectives[{i}]");
        let Some(r) = &objective.ratio_metrics else {
            return Err(format!("{at}.ratioMetrics: required"));
        };
        let mut queries = Vec::new();
        for (what, q) in [("good", &r.good), ("total", &r.total)] {
            if !q.source.is_empty() && !q.source.eq_ignore_ascii_case("prometheus") {
                return Err(format!(
                    "{at}.ratioMetrics.{what}.source: {:?}: Skywatch reads Prometheus queries",
                    q.source
                ));
            }
            check_window_template(q.query.trim())
                .map_err(|e| format!("{at}.ratioMetrics.{what}.query: {e}"))?;
            queries.push(q.query.trim());
        }
        let slo = SloObject {
            metadata: Metadata {
                name: format!("{}-{i}", o.metadata.name),
                ..o.metadata.clone()
            },
            spec: SloSpec {
                description: spec.description.clone(),
                service: spec.service.clone(),
                budgeting_method: "Occurrences".into(),
                objectives: vec![Objective {
                    target: Some(objective.target),
                    ..Objective::default()
                }],
                skywatch: ext.clone(),
                ..SloSpec::default()
            },
        };
        let sli = Sli::Raw {
            error_ratio_query: good_over_total(queries[0], queries[1]),
        };
        out.push(slo_with(
            &slo,
            sli,
            &Objects::default(),
            defaults,
            "openslo/v1alpha",
        )?);
    }
    Ok(out)
}

/// The error ratio of good events over all: one minus their ratio, as Sloth writes it.
fn good_over_total(good: &str, total: &str) -> String {
    format!("\n  1 - (\n    (\n      {good}\n    )\n    /\n    (\n      {total}\n    )\n  )\n")
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Object {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    metadata: Metadata,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct Metadata {
    name: String,
    labels: BTreeMap<String, LabelValue>,
}

/// OpenSLO's label values: a string or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum LabelValue {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SloObject {
    metadata: Metadata,
    spec: SloSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct SloSpec {
    description: String,
    service: String,
    indicator: Option<SliObject>,
    indicator_ref: Option<String>,
    time_window: Vec<TimeWindow>,
    budgeting_method: String,
    objectives: Vec<Objective>,
    alert_policies: Vec<PolicyOrRef>,
    /// Skywatch's settings, as in a Sloth spec (`windows`, `budget_alert`).
    skywatch: Extensions,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct SliObject {
    metadata: Metadata,
    spec: SliSpec,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct SliSpec {
    ratio_metric: Option<RatioMetric>,
    threshold_metric: Option<MetricHolder>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RatioMetric {
    good: Option<MetricHolder>,
    bad: Option<MetricHolder>,
    total: Option<MetricHolder>,
    raw: Option<MetricHolder>,
    raw_type: String,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct MetricHolder {
    metric_source: MetricSource,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct MetricSource {
    #[serde(rename = "type")]
    kind: String,
    spec: MetricSpec,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct MetricSpec {
    query: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct TimeWindow {
    duration: String,
    is_rolling: Option<bool>,
    calendar: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Objective {
    op: String,
    value: Option<f64>,
    target: Option<f64>,
    target_percent: Option<f64>,
    indicator: Option<serde::de::IgnoredAny>,
    indicator_ref: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PolicyOrRef {
    alert_policy_ref: Option<String>,
    metadata: Metadata,
    spec: PolicySpec,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct PolicySpec {
    conditions: Vec<ConditionOrRef>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ConditionOrRef {
    condition_ref: Option<String>,
    metadata: Metadata,
    spec: ConditionSpec,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ConditionSpec {
    severity: String,
    condition: BurnRate,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct BurnRate {
    kind: String,
    op: String,
    threshold: Option<f64>,
    lookback_window: String,
    alert_after: String,
}

/// The objects of a file, by kind and name, with the line each starts on.
#[derive(Default)]
struct Objects {
    slos: Vec<(usize, SloObject)>,
    slis: BTreeMap<String, SliObject>,
    policies: BTreeMap<String, PolicyOrRef>,
    conditions: BTreeMap<String, ConditionOrRef>,
}

/// Reads the `SLO` objects of an OpenSLO v1 file.
pub fn load(text: &str, file: &str, defaults: &Defaults) -> Result<Vec<Slo>, SpecError> {
    let mut objects = Objects::default();
    let mut alpha_found = Vec::new();
    for (line, doc) in yaml::documents(text) {
        let read_err = |e: yaml::Error| SpecError::in_document(file, line, &e);
        let head: Object = yaml::from_str(doc).map_err(read_err)?;
        if head.api_version == "openslo/v1alpha" && head.kind == "SLO" {
            let alpha: AlphaSlo = yaml::from_str(doc).map_err(read_err)?;
            let slos = alpha_slos(&alpha, defaults).map_err(|m| {
                SpecError::new(
                    file,
                    Some(line),
                    format!("SLO {:?}: {m}", alpha.metadata.name),
                )
            })?;
            alpha_found.extend(slos.into_iter().map(|mut s| {
                s.file = file.to_owned();
                s.line = line;
                s
            }));
            continue;
        }
        if head.api_version != "openslo/v1" {
            return Err(SpecError::new(
                file,
                Some(line),
                format!("apiVersion: {:?} is not openslo/v1", head.api_version),
            ));
        }
        let name = head.metadata.name.clone();
        match head.kind.as_str() {
            "SLO" => objects
                .slos
                .push((line, yaml::from_str(doc).map_err(read_err)?)),
            "SLI" => {
                objects
                    .slis
                    .insert(name, yaml::from_str(doc).map_err(read_err)?);
            }
            "AlertPolicy" => {
                objects
                    .policies
                    .insert(name, yaml::from_str(doc).map_err(read_err)?);
            }
            "AlertCondition" => {
                objects
                    .conditions
                    .insert(name, yaml::from_str(doc).map_err(read_err)?);
            }
            "Service" | "DataSource" | "AlertNotificationTarget" => {}
            other => {
                return Err(SpecError::new(
                    file,
                    Some(line),
                    format!(
                        "kind: {other:?} is not an OpenSLO v1 kind (SLO, SLI, AlertPolicy, \
                         AlertCondition, AlertNotificationTarget, Service, DataSource)"
                    ),
                ));
            }
        }
    }
    if objects.slos.is_empty() && alpha_found.is_empty() {
        return Err(SpecError::new(file, None, "no object of kind SLO"));
    }
    let mut slos: Vec<Slo> = objects
        .slos
        .iter()
        .map(|(line, o)| {
            slo(o, &objects, defaults).map_err(|m| {
                SpecError::new(file, Some(*line), format!("SLO {:?}: {m}", o.metadata.name))
            })
        })
        .map(|r| {
            r.map(|mut s| {
                s.file = file.to_owned();
                s
            })
        })
        .zip(objects.slos.iter().map(|(l, _)| *l))
        .map(|(r, line)| {
            r.map(|mut s| {
                s.line = line;
                s
            })
        })
        .collect::<Result<_, _>>()?;
    slos.extend(alpha_found);
    Ok(slos)
}

fn slo(o: &SloObject, objects: &Objects, defaults: &Defaults) -> Result<Slo, String> {
    let spec = &o.spec;
    let [objective] = spec.objectives.as_slice() else {
        return Err(format!(
            "spec.objectives: {} objectives; Skywatch runs SLOs of exactly one (composite SLOs \
             are not supported)",
            spec.objectives.len()
        ));
    };
    if objective.indicator.is_some() || objective.indicator_ref.is_some() {
        return Err("spec.objectives[0].indicator: composite SLOs are not supported".into());
    }
    objective_percent(objective)?;
    let indicator = match (&spec.indicator, &spec.indicator_ref) {
        (Some(i), None) => i.clone(),
        (None, Some(r)) => objects
            .slis
            .get(r)
            .cloned()
            .ok_or_else(|| format!("spec.indicatorRef: no SLI named {r:?} in the file"))?,
        _ => return Err("spec: exactly one of indicator and indicatorRef".into()),
    };
    let threshold = indicator.spec.threshold_metric.is_some();
    let sli = sli(&indicator, objective)?;
    check_budgeting(&spec.budgeting_method, threshold)?;
    slo_with(o, sli, objects, defaults, "openslo/v1")
}

fn check_budgeting(method: &str, threshold: bool) -> Result<(), String> {
    match method {
        "Occurrences" => Ok(()),
        "Timeslices" if threshold => Ok(()),
        other => Err(format!(
            "spec.budgetingMethod: {other:?}: Skywatch counts Occurrences (and Timeslices of \
             a thresholdMetric)"
        )),
    }
}

/// The SLO of `o` with its SLI worked out: period, windows, alerts.
fn slo_with(
    o: &SloObject,
    sli: Sli,
    objects: &Objects,
    defaults: &Defaults,
    format: &'static str,
) -> Result<Slo, String> {
    let name = &o.metadata.name;
    if !crate::is_safe_name(name) {
        return Err(format!(
            "metadata.name: {name:?} must start and end with a letter or digit and hold only \
             letters, digits, `.`, `_` and `-`"
        ));
    }
    let spec = &o.spec;
    if !crate::is_safe_name(&spec.service) {
        return Err(format!(
            "spec.service: {:?} is not a safe name",
            spec.service
        ));
    }
    let percent = objective_percent(&spec.objectives[0])?;
    let ext = &spec.skywatch;
    let mut ext = ext.clone();
    match spec.time_window.as_slice() {
        [] => {}
        [w] if w.calendar.is_some() || w.is_rolling == Some(false) => {
            return Err(
                "spec.timeWindow: calendar-aligned windows are not supported; \
                        Skywatch's budgets roll"
                    .into(),
            );
        }
        [w] => ext.period = Some(openslo_duration(&w.duration)?),
        _ => return Err("spec.timeWindow: exactly one window".into()),
    }
    let (period, table) = period_and_table(&ext, defaults)?;
    let windows = Windows::new(table, period);
    let default_name = camel(&format!("{}-{name}", spec.service));
    let mut alerts: Vec<BurnAlert> = Vec::new();
    if spec.alert_policies.is_empty() {
        for (severity, conditions) in [("page", &windows.page), ("ticket", &windows.ticket)] {
            alerts.push(BurnAlert {
                name: default_name.clone(),
                severity: severity.to_owned(),
                conditions: conditions.clone(),
                for_: 0,
                labels: BTreeMap::new(),
                annotations: BTreeMap::new(),
            });
        }
    }
    for (i, p) in spec.alert_policies.iter().enumerate() {
        let at = format!("spec.alertPolicies[{i}]");
        let policy = match &p.alert_policy_ref {
            Some(r) => objects
                .policies
                .get(r)
                .ok_or_else(|| format!("{at}.alertPolicyRef: no AlertPolicy named {r:?}"))?,
            None => p,
        };
        let alert_name = if crate::is_metric_name(&policy.metadata.name) {
            policy.metadata.name.clone()
        } else {
            camel(&policy.metadata.name)
        };
        for (j, c) in policy.spec.conditions.iter().enumerate() {
            let at = format!("{at} ({}).conditions[{j}]", policy.metadata.name);
            let c = match &c.condition_ref {
                Some(r) => objects
                    .conditions
                    .get(r)
                    .ok_or_else(|| format!("{at}.conditionRef: no AlertCondition named {r:?}"))?,
                None => c,
            };
            let (condition, for_) =
                burn_condition(&c.spec.condition).map_err(|m| format!("{at}: {m}"))?;
            let severity = if c.spec.severity.is_empty() {
                return Err(format!("{at}.severity: required (page, ticket, ...)"));
            } else {
                c.spec.severity.clone()
            };
            match alerts
                .iter_mut()
                .find(|a| a.name == alert_name && a.severity == severity && a.for_ == for_)
            {
                Some(a) => a.conditions.push(condition),
                None => alerts.push(BurnAlert {
                    name: alert_name.clone(),
                    severity,
                    conditions: vec![condition],
                    for_,
                    labels: BTreeMap::new(),
                    annotations: BTreeMap::new(),
                }),
            }
        }
    }
    let first_name = alerts.first().map_or(default_name, |a| a.name.clone());
    let budget_alert = budget_alert(
        ext.budget_alert.as_ref(),
        &first_name,
        &BTreeMap::new(),
        &BTreeMap::new(),
        defaults,
    )
    .map_err(|m| format!("spec.skywatch.budget_alert: {m}"))?;
    let labels = o
        .metadata
        .labels
        .iter()
        .filter_map(|(k, v)| match v {
            LabelValue::One(s) => Some((k.clone(), s.clone())),
            LabelValue::Many(l) => (!l.is_empty()).then(|| (k.clone(), l.join(","))),
        })
        .filter(|(k, v)| crate::is_label_name(k) && !k.starts_with("sloth_") && !v.is_empty())
        .collect();
    Ok(Slo {
        id: format!("{}-{name}", spec.service),
        service: spec.service.clone(),
        name: name.clone(),
        description: spec.description.clone(),
        objective: percent,
        period,
        labels,
        sli,
        alerts,
        budget_alert,
        windows,
        interval: interval(&ext)?,
        spec: format,
        file: String::new(),
        line: 0,
    })
}

/// An objective's target in percent, as Sloth keeps it.
fn objective_percent(objective: &Objective) -> Result<f64, String> {
    let percent = match (objective.target, objective.target_percent) {
        (Some(t), None) => t * 100.0,
        (None, Some(p)) => p,
        _ => return Err("spec.objectives[0]: exactly one of target and targetPercent".into()),
    };
    if !(percent > 0.0 && percent < 100.0) {
        return Err(format!(
            "spec.objectives[0].target: {} is not above 0 and below 1",
            percent / 100.0
        ));
    }
    Ok(percent)
}

fn query(m: &MetricHolder, at: &str) -> Result<String, String> {
    let kind = m.metric_source.kind.to_ascii_lowercase();
    if !kind.is_empty() && kind != "prometheus" {
        return Err(format!(
            "{at}.metricSource.type: {:?}: Skywatch reads Prometheus queries",
            m.metric_source.kind
        ));
    }
    let q = m.metric_source.spec.query.trim().to_owned();
    check_window_template(&q).map_err(|e| format!("{at}.metricSource.spec.query: {e}"))?;
    Ok(q)
}

fn sli(i: &SliObject, objective: &Objective) -> Result<Sli, String> {
    let at = format!("indicator ({})", i.metadata.name);
    if let Some(t) = &i.spec.threshold_metric {
        let at = format!("{at}.thresholdMetric.metricSource");
        let kind = t.metric_source.kind.to_ascii_lowercase();
        if !kind.is_empty() && kind != "prometheus" {
            return Err(format!(
                "{at}.type: {:?}: Skywatch reads Prometheus queries",
                t.metric_source.kind
            ));
        }
        let q = t.metric_source.spec.query.trim();
        if q.is_empty() || q.contains("{{") {
            return Err(format!(
                "{at}.spec.query: an instant query without {{{{.window}}}} is required: the \
                 error ratio is the share of minutes in the window it breached the objective"
            ));
        }
        let op = match objective.op.as_str() {
            "lte" => "<=",
            "lt" => "<",
            "gte" => ">=",
            "gt" => ">",
            other => {
                return Err(format!(
                    "objectives[0].op: {other:?}: one of lte, lt, gte, gt"
                ));
            }
        };
        let value = objective
            .value
            .ok_or("objectives[0].value: required with a thresholdMetric")?;
        return Ok(Sli::Raw {
            error_ratio_query: format!(
                "1 - avg_over_time((({q}) {op} bool {})[{{{{.window}}}}:1m])",
                gotemplate::fmt::go_float(value)
            ),
        });
    }
    let Some(r) = &i.spec.ratio_metric else {
        return Err(format!(
            "{at}.spec: one of ratioMetric and thresholdMetric is required"
        ));
    };
    let at = format!("{at}.ratioMetric");
    match (&r.good, &r.bad, &r.total, &r.raw) {
        (Some(good), None, Some(total), None) => {
            let good = query(good, &format!("{at}.good"))?;
            let total = query(total, &format!("{at}.total"))?;
            Ok(Sli::Raw {
                error_ratio_query: good_over_total(&good, &total),
            })
        }
        (None, Some(bad), Some(total), None) => Ok(Sli::Events {
            error_query: query(bad, &format!("{at}.bad"))?,
            total_query: query(total, &format!("{at}.total"))?,
        }),
        (None, None, None, Some(raw)) => {
            let q = query(raw, &format!("{at}.raw"))?;
            match r.raw_type.as_str() {
                "failure" => Ok(Sli::Raw {
                    error_ratio_query: q,
                }),
                "success" => Ok(Sli::Raw {
                    error_ratio_query: format!("1 - ({q})"),
                }),
                other => Err(format!("{at}.rawType: {other:?}: success or failure")),
            }
        }
        _ => Err(format!(
            "{at}: good and total, bad and total, or raw (with rawType)"
        )),
    }
}

fn burn_condition(b: &BurnRate) -> Result<(Condition, i64), String> {
    if !b.kind.is_empty() && b.kind != "burnrate" {
        return Err(format!("condition.kind: {:?}: only burnrate", b.kind));
    }
    match b.op.as_str() {
        "gt" | "gte" => {}
        other => {
            return Err(format!(
                "condition.op: {other:?}: a burn-rate alert fires while the burn rate is above \
                 its threshold; use gt or gte"
            ));
        }
    }
    let factor = match b.threshold {
        Some(t) if t > 0.0 => t,
        _ => return Err("condition.threshold: a burn rate above 0 is required".into()),
    };
    let long = model::parse_duration(&openslo_duration(&b.lookback_window)?)
        .filter(|&l| l >= 60_000)
        .ok_or_else(|| {
            format!(
                "condition.lookbackWindow: {:?} is not a duration of a minute or more",
                b.lookback_window
            )
        })?;
    let short = ((long / 12) / 60_000).max(1) * 60_000;
    let for_ = if b.alert_after.is_empty() {
        0
    } else {
        model::parse_duration(&openslo_duration(&b.alert_after)?).ok_or_else(|| {
            format!(
                "condition.alertAfter: {:?} is not a duration",
                b.alert_after
            )
        })?
    };
    Ok((
        Condition {
            short,
            long,
            factor,
        },
        for_,
    ))
}

/// An OpenSLO duration shorthand (`30d`, `4w`, `1M`, `1Q`, `1Y`) as a Prometheus duration.
fn openslo_duration(d: &str) -> Result<String, String> {
    let d = d.trim();
    let (number, unit) = d.split_at(d.len().saturating_sub(1));
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{d:?} is not a duration such as 30d or 4w"))?;
    Ok(match unit {
        "m" | "h" | "d" | "w" => d.to_owned(),
        "M" => format!("{}d", n * 30),
        "Q" => format!("{}d", n * 90),
        "Y" => format!("{}d", n * 365),
        _ => return Err(format!("{d:?}: the unit is one of m, h, d, w, M, Q, Y")),
    })
}

/// `my-service.name` as `MyServiceName`: an alert name from a name with dashes.
fn camel(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next().map_or(String::new(), |f| {
                f.to_ascii_uppercase().to_string() + c.as_str()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"
apiVersion: openslo/v1
kind: SLI
metadata:
  name: checkout-errors
spec:
  ratioMetric:
    counter: true
    bad:
      metricSource:
        type: Prometheus
        spec:
          query: sum(rate(http_requests_total{job="checkout",code=~"5.."}[{{.window}}]))
    total:
      metricSource:
        type: Prometheus
        spec:
          query: sum(rate(http_requests_total{job="checkout"}[{{.window}}]))
---
apiVersion: openslo/v1
kind: AlertCondition
metadata:
  name: fast-burn
spec:
  severity: page
  condition:
    kind: burnrate
    op: gt
    threshold: 14.4
    lookbackWindow: 1h
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: requests-availability
spec:
  service: checkout
  indicatorRef: checkout-errors
  timeWindow:
    - duration: 4w
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - targetPercent: 99.9
  alertPolicies:
    - kind: AlertPolicy
      metadata:
        name: CheckoutAvailability
      spec:
        conditions:
          - conditionRef: fast-burn
          - kind: AlertCondition
            metadata:
              name: slow-burn
            spec:
              severity: page
              condition:
                kind: burnrate
                op: gte
                threshold: 6
                lookbackWindow: 6h
"#;

    #[test]
    fn an_slo_with_referenced_sli_and_conditions_reads() {
        let slos = load(SPEC, "o.yml", &Defaults::default()).unwrap();
        let [s] = slos.as_slice() else {
            panic!("{slos:?}")
        };
        assert_eq!(s.id, "checkout-requests-availability");
        assert_eq!(s.period, 28 * crate::windows::DAY);
        assert_eq!(s.line, 32);
        assert!(matches!(&s.sli, Sli::Events { error_query, .. } if error_query.contains("5..")));
        let [a] = s.alerts.as_slice() else {
            panic!("{:?}", s.alerts)
        };
        assert_eq!(a.name, "CheckoutAvailability");
        assert_eq!(a.severity, "page");
        let got: Vec<(i64, i64, f64)> = a
            .conditions
            .iter()
            .map(|c| (c.short, c.long, c.factor))
            .collect();
        assert_eq!(
            got,
            [(300_000, 3_600_000, 14.4), (1_800_000, 21_600_000, 6.0)]
        );
        assert_eq!(
            s.budget_alert.as_ref().unwrap().name,
            "CheckoutAvailabilityErrorBudgetLow"
        );
    }

    #[test]
    fn what_skywatch_cannot_run_is_refused_by_name() {
        let cases = [
            (
                "budgetingMethod: Occurrences",
                "budgetingMethod: RatioTimeslices",
                "spec.budgetingMethod",
            ),
            (
                "    - duration: 4w\n      isRolling: true",
                "    - duration: 1M\n      isRolling: false",
                "calendar-aligned",
            ),
            ("op: gt", "op: lte", "use gt or gte"),
            (
                "indicatorRef: checkout-errors",
                "indicatorRef: nope",
                "no SLI named \"nope\"",
            ),
            (
                "targetPercent: 99.9",
                "target: 1.5",
                "not above 0 and below 1",
            ),
            (
                "type: Prometheus",
                "type: Datadog",
                "metricSource.type: \"Datadog\"",
            ),
        ];
        for (from, to, want) in cases {
            let e = load(&SPEC.replacen(from, to, 1), "o.yml", &Defaults::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{to}: {e}");
        }
    }

    #[test]
    fn v1alpha_objectives_are_slos_of_their_own_as_sloth_reads_them() {
        let text = r#"
apiVersion: openslo/v1alpha
kind: SLO
metadata:
  name: latency
spec:
  service: api
  budgetingMethod: Occurrences
  objectives:
    - ratioMetrics:
        good: {source: prometheus, queryType: promql, query: "sum(rate(fast_total[{{.window}}]))"}
        total: {source: prometheus, queryType: promql, query: "sum(rate(all_total[{{.window}}]))"}
      target: 0.99
    - ratioMetrics:
        good: {source: prometheus, queryType: promql, query: "sum(rate(ok_total[{{.window}}]))"}
        total: {source: prometheus, queryType: promql, query: "sum(rate(all_total[{{.window}}]))"}
      target: 0.999
  timeWindows:
    - count: 4
      unit: Week
"#;
        let slos = load(text, "a.yml", &Defaults::default()).unwrap();
        let ids: Vec<&str> = slos.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["api-latency-0", "api-latency-1"]);
        assert_eq!(slos[1].objective, 99.9);
        assert_eq!(slos[0].period, 28 * crate::windows::DAY);
        assert_eq!(slos[0].spec, "openslo/v1alpha");
        assert!(
            matches!(&slos[0].sli, Sli::Raw { error_ratio_query } if error_ratio_query.contains("1 - ("))
        );
    }

    #[test]
    fn durations_and_names_convert() {
        assert_eq!(openslo_duration("1M").unwrap(), "30d");
        assert_eq!(openslo_duration("2w").unwrap(), "2w");
        assert!(openslo_duration("5s").is_err());
        assert_eq!(camel("my-service.latency_p99"), "MyServiceLatencyP99");
    }
}
