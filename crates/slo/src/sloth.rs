//! Sloth's `prometheus/v1` spec, read as Sloth reads it, with Skywatch's additions.
//!
//! A file holds a `service`, its `labels` and its `slos`, each with an `objective` in
//! percent, an SLI (`events` with `error_query` and `total_query`, or `raw` with
//! `error_ratio_query`, every query using `{{.window}}`) and `alerting` (`name`, `labels`,
//! `annotations`, `page_alert` and `ticket_alert`, each with its own labels and
//! annotations or `disable: true`). Unknown keys are ignored, as Sloth ignores them, so
//! a file written for Skywatch still loads in Sloth. Skywatch's additions:
//!
//! - `sli.latency: {histogram, le, selector}`: the share of a classic histogram's
//!   observations above the bucket `le`, without writing the ratio by hand.
//! - `skywatch:` at the top or in an SLO (the SLO's wins): `period` (`30d`; Sloth's
//!   `--default-slo-period`), `windows` (`sloth` or `workbook`), `interval` (how often
//!   the rule groups run, as Sloth's rule-intervals plugin sets it) and `budget_alert`
//!   (`threshold`, `for`, `name`, `labels`, `annotations`, `disable`).

use std::collections::BTreeMap;

use serde::Deserialize;
use yaml::Spanned;

use crate::{BudgetAlert, BurnAlert, Defaults, Sli, Slo, SpecError, Table, Windows};

/// Whether `text` is a Sloth `prometheus/v1` spec: a line `version: prometheus/v1`, as
/// Sloth tells it.
pub fn is_spec(text: &str) -> bool {
    text.lines().any(|l| {
        let value = |key: &str| {
            l.strip_prefix(key)
                .map(|rest| rest.trim().trim_matches(|c| c == '"' || c == '\''))
        };
        value("version:") == Some("prometheus/v1") || value("apiVersion:") == Some(K8S_API)
    })
}

/// The API version of Sloth's Kubernetes `PrometheusServiceLevel`, whose `spec` is a
/// `prometheus/v1` spec with its keys in camelCase.
const K8S_API: &str = "sloth.slok.dev/v1";

/// Sloth's plugins that change nothing Skywatch generates: those that only log or
/// validate, and the core ones that make the rules Skywatch makes anyway.
const INERT_PLUGINS: [&str; 7] = [
    "sloth.dev/core/debug/v1",
    "sloth.dev/core/noop/v1",
    "sloth.dev/core/validate/v1",
    "sloth.dev/core/sli_rules/v1",
    "sloth.dev/core/metadata_rules/v1",
    "sloth.dev/core/alert_rules/v1",
    "sloth.dev/contrib/validate_victoria_metrics/v1",
];

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct K8sObject {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    spec: RawSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Plugins {
    chain: Vec<PluginRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PluginRef {
    id: String,
}

impl Plugins {
    /// Refuses a chain holding a plugin that changes the rules: Skywatch does not run
    /// Sloth's Go plugins.
    fn check(&self) -> Result<(), String> {
        match self
            .chain
            .iter()
            .find(|p| !INERT_PLUGINS.contains(&p.id.as_str()))
        {
            Some(p) => Err(format!(
                "plugin {:?}: Sloth's SLO plugins are Go code that changes the generated \
                 rules, and Skywatch does not run them; remove it (those that change \
                 nothing are accepted: {})",
                p.id,
                INERT_PLUGINS.join(", ")
            )),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawSpec {
    version: String,
    service: String,
    labels: BTreeMap<String, String>,
    slos: Vec<Spanned<RawSlo>>,
    #[serde(alias = "sloPlugins")]
    slo_plugins: Plugins,
    skywatch: Extensions,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawSlo {
    name: String,
    description: String,
    objective: f64,
    labels: BTreeMap<String, String>,
    sli: RawSli,
    alerting: RawAlerting,
    plugins: Plugins,
    skywatch: Extensions,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawSli {
    raw: Option<RawRaw>,
    events: Option<RawEvents>,
    plugin: Option<RawPlugin>,
    latency: Option<RawLatency>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawRaw {
    #[serde(alias = "errorRatioQuery")]
    error_ratio_query: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawEvents {
    #[serde(alias = "errorQuery")]
    error_query: String,
    #[serde(alias = "totalQuery")]
    total_query: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawPlugin {
    id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawLatency {
    histogram: String,
    le: String,
    selector: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawAlerting {
    name: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    #[serde(alias = "pageAlert")]
    page_alert: RawAlert,
    #[serde(alias = "ticketAlert")]
    ticket_alert: RawAlert,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawAlert {
    disable: bool,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

/// Skywatch's keys under `skywatch:`, at the top of a file or in an SLO.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Extensions {
    pub(crate) period: Option<String>,
    pub(crate) interval: Option<String>,
    pub(crate) windows: Option<String>,
    pub(crate) budget_alert: Option<RawBudget>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawBudget {
    pub(crate) disable: bool,
    pub(crate) threshold: Option<f64>,
    #[serde(rename = "for")]
    pub(crate) for_: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) annotations: BTreeMap<String, String>,
}

impl Extensions {
    /// `self` with `over`'s settings where it has them.
    fn overridden_by(&self, over: &Self) -> Self {
        Self {
            period: over.period.clone().or_else(|| self.period.clone()),
            interval: over.interval.clone().or_else(|| self.interval.clone()),
            windows: over.windows.clone().or_else(|| self.windows.clone()),
            budget_alert: over
                .budget_alert
                .clone()
                .or_else(|| self.budget_alert.clone()),
        }
    }
}

/// Reads a Sloth spec file: `prometheus/v1` specs or `PrometheusServiceLevel` objects,
/// one a YAML document.
pub fn load(text: &str, file: &str, defaults: &Defaults) -> Result<Vec<Slo>, SpecError> {
    let mut slos = Vec::new();
    for (line, doc) in yaml::documents(text) {
        let err = |e: yaml::Error| SpecError::in_document(file, line, &e);
        let k8s: K8sObject = yaml::from_str(doc).map_err(err)?;
        let (spec, format) = if k8s.api_version.is_empty() {
            (
                yaml::from_str::<RawSpec>(doc).map_err(err)?,
                "prometheus/v1",
            )
        } else if k8s.api_version == K8S_API && k8s.kind == "PrometheusServiceLevel" {
            (
                RawSpec {
                    version: "prometheus/v1".into(),
                    ..k8s.spec
                },
                K8S_API,
            )
        } else {
            return Err(SpecError::new(
                file,
                Some(line),
                format!(
                    "apiVersion {:?}, kind {:?}: not a Sloth spec ({K8S_API} \
                     PrometheusServiceLevel, or version: prometheus/v1)",
                    k8s.api_version, k8s.kind
                ),
            ));
        };
        // Lines within the document count from its first line.
        slos.extend(load_spec(spec, format, file, line - 1, defaults)?);
    }
    if slos.is_empty() {
        return Err(SpecError::new(
            file,
            None,
            "slos: at least one SLO is required",
        ));
    }
    Ok(slos)
}

fn load_spec(
    spec: RawSpec,
    format: &'static str,
    file: &str,
    offset: usize,
    defaults: &Defaults,
) -> Result<Vec<Slo>, SpecError> {
    if spec.version != "prometheus/v1" {
        return Err(SpecError::new(
            file,
            None,
            "version: should be \"prometheus/v1\"",
        ));
    }
    spec.slo_plugins
        .check()
        .map_err(|m| SpecError::new(file, None, format!("slo_plugins: {m}")))?;
    if !crate::is_safe_name(&spec.service) {
        return Err(SpecError::new(
            file,
            None,
            format!("service: {}", name_rule(&spec.service)),
        ));
    }
    check_labels(&spec.labels, file, None, "labels")?;
    if spec.slos.is_empty() {
        return Err(SpecError::new(
            file,
            None,
            "slos: at least one SLO is required",
        ));
    }
    let mut slos = Vec::with_capacity(spec.slos.len());
    for (i, raw) in spec.slos.into_iter().enumerate() {
        let line = usize::try_from(raw.referenced.line())
            .ok()
            .map(|l| l + offset);
        let raw = raw.value;
        let at = |field: &str| format!("slos[{i}] ({}): {field}", raw.name);
        let err = |field: &str, message: String| {
            SpecError::new(file, line, format!("{}: {message}", at(field)))
        };
        if !crate::is_safe_name(&raw.name) {
            return Err(err("name", name_rule(&raw.name)));
        }
        raw.plugins.check().map_err(|m| err("plugins", m))?;
        if !(raw.objective > 0.0 && raw.objective < 100.0) {
            return Err(err(
                "objective",
                format!(
                    "{} is not a percentage above 0 and below 100 (99.9 means 99.9%)",
                    raw.objective
                ),
            ));
        }
        let sli = sli(raw.sli).map_err(|m| err("sli", m))?;
        let mut labels = spec.labels.clone();
        labels.extend(raw.labels.clone());
        check_labels(&raw.labels, file, line, &at("labels"))?;
        let ext = spec.skywatch.overridden_by(&raw.skywatch);
        let (period, table) = period_and_table(&ext, defaults).map_err(|m| err("skywatch", m))?;
        let windows = Windows::new(table, period);
        let group_interval = interval(&ext).map_err(|m| err("skywatch", m))?;
        let alerting = raw.alerting;
        let mut alerts = Vec::new();
        for (severity, alert, conditions) in [
            ("page", &alerting.page_alert, &windows.page),
            ("ticket", &alerting.ticket_alert, &windows.ticket),
        ] {
            if alert.disable {
                continue;
            }
            if !crate::is_metric_name(&alerting.name) {
                return Err(err(
                    "alerting.name",
                    format!(
                        "{:?} is not a valid alert name (letters, digits, `_` and `:`, not \
                         starting with a digit); it is required unless both alerts are disabled",
                        alerting.name
                    ),
                ));
            }
            let mut labels = alerting.labels.clone();
            labels.extend(alert.labels.clone());
            let mut annotations = alerting.annotations.clone();
            annotations.extend(alert.annotations.clone());
            alerts.push(BurnAlert {
                name: alerting.name.clone(),
                severity: severity.to_owned(),
                conditions: conditions.clone(),
                for_: 0,
                labels,
                annotations,
            });
        }
        let no_alerts = alerts.is_empty() && ext.budget_alert.is_none();
        let budget_alert = budget_alert(
            ext.budget_alert.as_ref(),
            &alerting.name,
            &alerting.labels,
            &alerting.ticket_alert.labels,
            defaults,
        )
        .map_err(|m| err("skywatch.budget_alert", m))?
        .filter(|_| !no_alerts);
        slos.push(Slo {
            id: format!("{}-{}", spec.service, raw.name),
            service: spec.service.clone(),
            name: raw.name,
            description: raw.description,
            objective: raw.objective,
            period,
            labels,
            sli,
            alerts,
            budget_alert,
            windows,
            interval: group_interval,
            spec: format,
            file: file.to_owned(),
            line: line.unwrap_or(0),
        });
    }
    Ok(slos)
}

fn sli(raw: RawSli) -> Result<Sli, String> {
    let kinds = [
        raw.events.is_some(),
        raw.raw.is_some(),
        raw.latency.is_some(),
    ];
    if let Some(plugin) = raw.plugin {
        return Err(format!(
            "plugin {:?}: SLI plugins run Sloth's Go code and are not supported; write the \
             queries as `events` or `raw`",
            plugin.id
        ));
    }
    match kinds.iter().filter(|k| **k).count() {
        0 => return Err("one of `events`, `raw` or `latency` is required".into()),
        1 => {}
        _ => return Err("only one of `events`, `raw` and `latency` is allowed".into()),
    }
    let sli = if let Some(e) = raw.events {
        if e.error_query.trim() == e.total_query.trim() {
            return Err("events: error_query and total_query can't be the same".into());
        }
        Sli::Events {
            error_query: e.error_query,
            total_query: e.total_query,
        }
    } else if let Some(r) = raw.raw {
        Sli::Raw {
            error_ratio_query: r.error_ratio_query,
        }
    } else if let Some(l) = raw.latency {
        if !crate::is_metric_name(&l.histogram) {
            return Err(format!(
                "latency.histogram: {:?} is not a metric name (the histogram's name, without \
                 _bucket)",
                l.histogram
            ));
        }
        if l.le.trim().parse::<f64>().is_err() {
            return Err(format!(
                "latency.le: {:?} is not a bucket bound; write it as the `le` label holds it, \
                 e.g. \"0.5\"",
                l.le
            ));
        }
        Sli::latency(&l.histogram, l.le.trim(), &l.selector)
    } else {
        unreachable!("one kind is set")
    };
    for (what, q) in ["first query", "second query"].iter().zip(sli.queries()) {
        check_window_template(q).map_err(|m| format!("{what}: {m}"))?;
    }
    Ok(sli)
}

/// Sloth's requirement: a query uses `{{.window}}`, and nothing else of Go's templates.
pub(crate) fn check_window_template(query: &str) -> Result<(), String> {
    if query.trim().is_empty() {
        return Err("the query is required".into());
    }
    let filled = crate::generate::fill_window(query, "5m");
    if filled == query {
        return Err(format!(
            "{:?} must contain the {{{{.window}}}} variable where the window goes, as in \
             rate(x[{{{{.window}}}}])",
            query.trim()
        ));
    }
    if filled.contains("{{") {
        return Err(format!(
            "{:?}: only {{{{.window}}}} may appear between {{{{ and }}}}",
            query.trim()
        ));
    }
    Ok(())
}

/// The period and window table an SLO's settings choose.
pub(crate) fn period_and_table(
    ext: &Extensions,
    defaults: &Defaults,
) -> Result<(i64, Table), String> {
    let period = match &ext.period {
        None => defaults.period,
        Some(p) => parse_period(p)?,
    };
    let table = match &ext.windows {
        None => defaults.table,
        Some(w) => Table::from_name(w)
            .ok_or_else(|| format!("windows: {w:?} is not a table: `sloth` or `workbook`"))?,
    };
    Ok((period, table))
}

/// The rule groups' interval an SLO's settings give, if any.
pub(crate) fn interval(ext: &Extensions) -> Result<Option<i64>, String> {
    ext.interval
        .as_deref()
        .map(|i| {
            model::parse_duration(i)
                .filter(|&ms| ms > 0)
                .ok_or_else(|| format!("interval: {i:?} is not a duration such as 1m"))
        })
        .transpose()
}

/// A period as Prometheus writes durations, at least a day.
pub(crate) fn parse_period(p: &str) -> Result<i64, String> {
    match model::parse_duration(p) {
        Some(ms) if ms >= crate::windows::DAY => Ok(ms),
        Some(_) => Err(format!("period: {p:?} is shorter than a day")),
        None => Err(format!("period: {p:?} is not a duration such as 30d or 4w")),
    }
}

/// The budget alert an SLO's settings give: named after the burn alerts, labelled as the
/// ticket alert, unless disabled.
pub(crate) fn budget_alert(
    raw: Option<&RawBudget>,
    alert_name: &str,
    labels: &BTreeMap<String, String>,
    ticket_labels: &BTreeMap<String, String>,
    defaults: &Defaults,
) -> Result<Option<BudgetAlert>, String> {
    let fallback = RawBudget::default();
    let raw = raw.unwrap_or(&fallback);
    if raw.disable {
        return Ok(None);
    }
    let name = match &raw.name {
        Some(n) => n.clone(),
        None if alert_name.is_empty() => return Ok(None),
        None => format!("{alert_name}ErrorBudgetLow"),
    };
    if !crate::is_metric_name(&name) {
        return Err(format!("name: {name:?} is not a valid alert name"));
    }
    let threshold = raw.threshold.unwrap_or(defaults.budget_threshold);
    if !(0.0..1.0).contains(&threshold) {
        return Err(format!(
            "threshold: {threshold} is not a share of the budget from 0 up to 1 (0.1: a tenth left)"
        ));
    }
    let for_ = match &raw.for_ {
        None => 5 * 60_000,
        Some(f) => model::parse_duration(f)
            .ok_or_else(|| format!("for: {f:?} is not a duration such as 5m"))?,
    };
    let mut all = labels.clone();
    all.extend(ticket_labels.clone());
    all.extend(raw.labels.clone());
    Ok(Some(BudgetAlert {
        name,
        threshold,
        for_,
        labels: all,
        annotations: raw.annotations.clone(),
    }))
}

fn name_rule(name: &str) -> String {
    format!(
        "{name:?} must start and end with a letter or digit and hold only letters, digits, \
         `.`, `_` and `-`"
    )
}

fn check_labels(
    labels: &BTreeMap<String, String>,
    file: &str,
    line: Option<usize>,
    at: &str,
) -> Result<(), SpecError> {
    for (k, v) in labels {
        if !crate::is_label_name(k) || k == "__name__" {
            return Err(SpecError::new(
                file,
                line,
                format!("{at}: {k:?} is not a label name"),
            ));
        }
        if k.starts_with("sloth_") {
            return Err(SpecError::new(
                file,
                line,
                format!("{at}: {k:?}: labels starting with sloth_ are the generated ones"),
            ));
        }
        if v.is_empty() {
            return Err(SpecError::new(
                file,
                line,
                format!("{at}: {k:?} has no value"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"
version: "prometheus/v1"
service: "checkout"
labels:
  team: "payments"
slos:
  - name: "requests-availability"
    objective: 99.9
    description: "Requests answered without a server error."
    sli:
      events:
        error_query: sum(rate(http_requests_total{job="checkout",code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total{job="checkout"}[{{.window}}]))
    alerting:
      name: CheckoutAvailability
      labels:
        category: availability
      page_alert:
        labels:
          severity: critical
      ticket_alert:
        labels:
          severity: warning
  - name: "requests-latency"
    objective: 99
    sli:
      latency:
        histogram: http_request_duration_seconds
        le: "0.25"
        selector: job="checkout"
    alerting:
      name: CheckoutLatency
      ticket_alert:
        disable: true
    skywatch:
      period: 7d
      windows: workbook
"#;

    #[test]
    fn a_spec_reads_into_slos_with_sloths_ids_and_merged_labels() {
        let slos = load(SPEC, "checkout.yml", &Defaults::default()).unwrap();
        assert_eq!(slos.len(), 2);
        let a = &slos[0];
        assert_eq!(a.id, "checkout-requests-availability");
        assert_eq!(a.line, 7);
        assert_eq!(a.labels["team"], "payments");
        assert_eq!(a.alerts.len(), 2);
        assert_eq!(a.alerts[0].labels["severity"], "critical");
        assert_eq!(a.alerts[0].labels["category"], "availability");
        assert_eq!(a.alerts[1].conditions.len(), 2);
        let budget = a.budget_alert.as_ref().unwrap();
        assert_eq!(budget.name, "CheckoutAvailabilityErrorBudgetLow");
        assert_eq!(budget.labels["severity"], "warning");
        assert_eq!(budget.threshold, 0.1);

        let b = &slos[1];
        assert_eq!(b.period, 7 * crate::windows::DAY);
        assert_eq!(b.windows.table, Table::Workbook);
        assert_eq!(b.alerts.len(), 1);
        let Sli::Events {
            error_query,
            total_query,
        } = &b.sli
        else {
            panic!("{:?}", b.sli)
        };
        assert_eq!(
            total_query,
            r#"sum(rate(http_request_duration_seconds_count{job="checkout"}[{{.window}}]))"#
        );
        assert!(error_query.ends_with(
            r#"sum(rate(http_request_duration_seconds_bucket{job="checkout",le="0.25"}[{{.window}}]))"#
        ));
    }

    #[test]
    fn errors_name_the_file_line_and_field() {
        let cases = [
            (
                "objective: 99.9",
                "objective: 100",
                "checkout.yml:7: slos[0] (requests-availability): objective: 100 is not a percentage",
            ),
            (
                "[{{.window}}]))\n        total_query",
                "[5m]))\n        total_query",
                "slos[0] (requests-availability): sli: first query: ",
            ),
            (
                "name: CheckoutAvailability",
                "name: Checkout-Availability",
                "alerting.name: \"Checkout-Availability\" is not a valid alert name",
            ),
            (
                "le: \"0.25\"",
                "le: \"fast\"",
                "checkout.yml:24: slos[1] (requests-latency): sli: latency.le",
            ),
            (
                "windows: workbook",
                "windows: google",
                "skywatch: windows: \"google\" is not a table",
            ),
            (
                "team: \"payments\"",
                "sloth_id: \"x\"",
                "labels: \"sloth_id\"",
            ),
        ];
        for (from, to, want) in cases {
            let text = SPEC.replacen(from, to, 1);
            let e = load(&text, "checkout.yml", &Defaults::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{to}: {e}");
        }
        let e = load(
            "version: prometheus/v1\nservice: x\n",
            "f.yml",
            &Defaults::default(),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "f.yml: slos: at least one SLO is required");
    }

    #[test]
    fn plugins_are_refused_by_name() {
        let text = SPEC.replacen(
            "events:",
            "plugin:\n        id: sloth-common/x\n      xevents:",
            1,
        );
        let e = load(&text, "c.yml", &Defaults::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("plugin \"sloth-common/x\""), "{e}");
    }
}
