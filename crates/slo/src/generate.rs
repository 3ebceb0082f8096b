//! An SLO's Prometheus rules, as Sloth generates them, and the rule file that holds them.
//!
//! Three groups per SLO, named as Sloth names them:
//!
//! - `sloth-slo-sli-recordings-<id>`: `slo:sli_error:ratio_rate<window>` for every window
//!   the alerts use, from the SLI's queries; and for the period, the mean of the shortest
//!   window's ratio over it (`sum_over_time / count_over_time`), as Sloth records it.
//! - `sloth-slo-meta-recordings-<id>`: the objective, the error budget, the period in
//!   days, the current burn rate (shortest window), the period's burn rate, the budget
//!   left, and `sloth_slo_info`.
//! - `sloth-slo-alerts-<id>`: the burn-rate alerts, one `or` of conditions each, every
//!   condition an `and` of its two windows over `factor * budget`; and the budget alert.
//!
//! Labels are Sloth's (`sloth_id`, `sloth_service`, `sloth_slo`, `sloth_window` on the
//! SLI recordings, `sloth_severity` on alerts) and the spec's; floats are written as Go
//! writes them (`vector(0.9990000000000001)`, `14.4 * 0.0009999999999999432`), so the
//! file reads like Sloth's own output and evaluates to the same values.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::LazyLock;

use gotemplate::fmt::go_float;
use regex::Regex;

use crate::{Condition, Slo, quote};

/// The `{{.window}}` placeholder, spaced as Sloth allows it.
static WINDOW: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::unwrap_used, reason = "a constant pattern")]
    Regex::new(r"\{\{ *\.window *\}\}").unwrap()
});

/// `query` with its `{{.window}}` placeholders replaced by `window`.
pub fn fill_window(query: &str, window: &str) -> String {
    WINDOW.replace_all(query, window).into_owned()
}

/// A duration as Sloth writes windows (prometheus/common's `model.Duration`): years and
/// weeks only when they are exact, so 30 days is `30d` and 28 days `4w`.
pub fn duration(ms: i64) -> String {
    const UNITS: [(&str, i64, bool); 7] = [
        ("y", 365 * 86_400_000, true),
        ("w", 7 * 86_400_000, true),
        ("d", 86_400_000, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1000, false),
        ("ms", 1, false),
    ];
    if ms <= 0 {
        return "0s".into();
    }
    let mut rest = ms;
    let mut out = String::new();
    for (unit, len, exact) in UNITS {
        if exact && rest % len != 0 {
            continue;
        }
        if rest >= len {
            out.push_str(&format!("{}{unit}", rest / len));
            rest %= len;
        }
    }
    out
}

/// The name of the SLI recording for `window` milliseconds.
pub fn sli_metric(window: i64) -> String {
    format!("slo:sli_error:ratio_rate{}", duration(window))
}

/// A rule group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The group's name.
    pub name: String,
    /// How often it runs, in ms, if not at the server's evaluation interval.
    pub interval: Option<i64>,
    /// Its rules, in order.
    pub rules: Vec<Rule>,
}

/// A recording or alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// `record` or `alert`.
    pub kind: Kind,
    /// The recorded metric's or the alert's name.
    pub name: String,
    /// The expression.
    pub expr: String,
    /// An alert's `for`, in milliseconds (0: none).
    pub for_: i64,
    /// The rule's labels.
    pub labels: BTreeMap<String, String>,
    /// An alert's annotations.
    pub annotations: BTreeMap<String, String>,
}

/// What a rule makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A recording rule.
    Record,
    /// An alerting rule.
    Alert,
}

impl Rule {
    fn record(name: &str, expr: String, labels: BTreeMap<String, String>) -> Self {
        Self {
            kind: Kind::Record,
            name: name.to_owned(),
            expr,
            for_: 0,
            labels,
            annotations: BTreeMap::new(),
        }
    }
}

/// The name of an SLO's alert group.
pub fn alert_group_name(slo: &Slo) -> String {
    format!("sloth-slo-alerts-{}", slo.id)
}

/// The three rule groups of `slo`.
pub fn groups(slo: &Slo) -> Vec<Group> {
    let mut out = vec![sli_group(slo), meta_group(slo)];
    let alerts = alert_group(slo);
    if !alerts.rules.is_empty() {
        out.push(alerts);
    }
    out
}

/// The labels that identify `slo`'s series.
pub(crate) fn id_labels(slo: &Slo) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("sloth_id".to_owned(), slo.id.clone()),
        ("sloth_service".to_owned(), slo.service.clone()),
        ("sloth_slo".to_owned(), slo.name.clone()),
    ])
}

fn sli_group(slo: &Slo) -> Group {
    let windows = slo.recorded_windows();
    let shortest = windows[0];
    let mut rules = Vec::with_capacity(windows.len());
    for &w in &windows {
        let window = duration(w);
        let expr = if w == slo.period {
            let sel = format!("{}{}", sli_metric(shortest), slo.selector());
            format!(
                "sum_over_time({sel}[{window}])\n/ ignoring (sloth_window)\ncount_over_time({sel}[{window}])\n"
            )
        } else {
            match &slo.sli {
                crate::Sli::Events {
                    error_query,
                    total_query,
                } => format!(
                    "({})\n/\n({})\n",
                    fill_window(error_query, &window),
                    fill_window(total_query, &window)
                ),
                crate::Sli::Raw { error_ratio_query } => {
                    format!("({})", fill_window(error_ratio_query, &window))
                }
            }
        };
        let mut labels = id_labels(slo);
        labels.insert("sloth_window".to_owned(), window);
        labels.extend(slo.labels.clone());
        rules.push(Rule::record(&sli_metric(w), expr, labels));
    }
    Group {
        name: format!("sloth-slo-sli-recordings-{}", slo.id),
        interval: slo.interval,
        rules,
    }
}

fn meta_group(slo: &Slo) -> Group {
    let mut labels = id_labels(slo);
    labels.extend(slo.labels.clone());
    let sel = slo.selector();
    let objective = go_float(slo.objective_ratio());
    let burn = |sli: String| {
        format!(
            "{sli}{sel}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\nslo:error_budget:ratio{sel}\n"
        )
    };
    let shortest = slo.recorded_windows()[0];
    let mut info = labels.clone();
    info.extend([
        ("sloth_mode".to_owned(), "skywatch".to_owned()),
        ("sloth_objective".to_owned(), go_float(slo.objective)),
        ("sloth_spec".to_owned(), slo.spec.to_owned()),
        (
            "sloth_version".to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        ),
    ]);
    let days = slo.period as f64 / crate::windows::DAY as f64;
    Group {
        name: format!("sloth-slo-meta-recordings-{}", slo.id),
        interval: slo.interval,
        rules: vec![
            Rule::record(
                "slo:objective:ratio",
                format!("vector({objective})"),
                labels.clone(),
            ),
            Rule::record(
                "slo:error_budget:ratio",
                format!("vector(1-{objective})"),
                labels.clone(),
            ),
            Rule::record(
                "slo:time_period:days",
                format!("vector({})", go_float(days)),
                labels.clone(),
            ),
            Rule::record(
                "slo:current_burn_rate:ratio",
                burn(sli_metric(shortest)),
                labels.clone(),
            ),
            Rule::record(
                "slo:period_burn_rate:ratio",
                burn(sli_metric(slo.period)),
                labels.clone(),
            ),
            Rule::record(
                "slo:period_error_budget_remaining:ratio",
                format!("1 - slo:period_burn_rate:ratio{sel}"),
                labels,
            ),
            Rule::record("sloth_slo_info", "vector(1)".to_owned(), info),
        ],
    }
}

/// One condition: both windows' error ratios over `factor` times the budget.
fn condition_expr(slo: &Slo, c: &Condition) -> String {
    let budget = go_float(slo.error_budget());
    let factor = go_float(c.factor);
    let one = |w: i64| {
        format!(
            "max({}{} > ({factor} * {budget})) without (sloth_window)",
            sli_metric(w),
            slo.selector()
        )
    };
    format!("(\n    {}\n    and\n    {}\n)", one(c.short), one(c.long))
}

/// The annotations every generated alert has: the burn rate now, the budget left, and the
/// time until it is spent at this rate, each read when the alert is evaluated.
pub(crate) fn live_annotations(slo: &Slo) -> BTreeMap<String, String> {
    let sel = slo.selector();
    let burn = format!(
        "{{{{ with query `slo:current_burn_rate:ratio{sel}` }}}}{{{{ . | first | value | printf \"%.2f\" }}}}x{{{{ end }}}}"
    );
    let left = format!(
        "{{{{ with query `slo:period_error_budget_remaining:ratio{sel}` }}}}{{{{ . | first | value | humanizePercentage }}}}{{{{ end }}}}"
    );
    let exhausted = format!(
        "{{{{ with query `clamp_min(slo:period_error_budget_remaining:ratio{sel}, 0) * {} / ignoring (sloth_window) slo:current_burn_rate:ratio{sel}` }}}}{{{{ . | first | value | humanizeDuration }}}}{{{{ end }}}}",
        slo.period / 1000
    );
    let period = duration(slo.period);
    BTreeMap::from([
        ("burn_rate".to_owned(), burn.clone()),
        ("error_budget_remaining".to_owned(), left.clone()),
        ("time_to_exhaustion".to_owned(), exhausted.clone()),
        (
            "description".to_owned(),
            format!(
                "Burning the {period} error budget at {burn} the sustainable rate; {left} of it left, spent in {exhausted} at this rate."
            ),
        ),
    ])
}

fn alert_group(slo: &Slo) -> Group {
    let mut rules = Vec::new();
    for alert in &slo.alerts {
        let expr = alert
            .conditions
            .iter()
            .map(|c| condition_expr(slo, c))
            .collect::<Vec<_>>()
            .join("\nor\n");
        let mut labels = BTreeMap::from([("sloth_severity".to_owned(), alert.severity.clone())]);
        labels.extend(alert.labels.clone());
        let mut annotations = live_annotations(slo);
        annotations.insert(
            "title".to_owned(),
            format!(
                "({}) {{{{$labels.sloth_service}}}} {{{{$labels.sloth_slo}}}} SLO error budget burn rate is too fast.",
                alert.severity
            ),
        );
        annotations.insert(
            "summary".to_owned(),
            "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is over expected.".to_owned(),
        );
        annotations.extend(alert.annotations.clone());
        rules.push(Rule {
            kind: Kind::Alert,
            name: alert.name.clone(),
            expr: format!("{expr}\n"),
            for_: alert.for_,
            labels,
            annotations,
        });
    }
    if let Some(b) = &slo.budget_alert {
        let mut labels = BTreeMap::from([("sloth_severity".to_owned(), "budget".to_owned())]);
        labels.extend(b.labels.clone());
        let mut annotations = live_annotations(slo);
        annotations.insert(
            "title".to_owned(),
            format!(
                "{{{{$labels.sloth_service}}}} {{{{$labels.sloth_slo}}}} SLO has less than {}% of its error budget left.",
                go_float(b.threshold * 100.0)
            ),
        );
        annotations.insert(
            "summary".to_owned(),
            "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget is running out."
                .to_owned(),
        );
        annotations.extend(b.annotations.clone());
        rules.push(Rule {
            kind: Kind::Alert,
            name: b.name.clone(),
            expr: format!(
                "max(slo:period_error_budget_remaining:ratio{} < {}) without (sloth_window)",
                slo.selector(),
                go_float(b.threshold)
            ),
            for_: b.for_,
            labels,
            annotations,
        });
    }
    Group {
        name: alert_group_name(slo),
        interval: slo.interval,
        rules,
    }
}

/// A Prometheus rule file holding `groups`, headed by a comment naming `source`.
pub fn rule_file(groups: &[Group], source: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Generated by `skywatch slo generate` from {source}. Do not edit:"
    );
    let _ = writeln!(out, "# change the spec and generate again.");
    out.push_str("groups:\n");
    for g in groups {
        let _ = writeln!(out, "- name: {}", quote(&g.name));
        if let Some(i) = g.interval {
            let _ = writeln!(out, "  interval: {}", duration(i));
        }
        out.push_str("  rules:\n");
        for r in &g.rules {
            let key = match r.kind {
                Kind::Record => "record",
                Kind::Alert => "alert",
            };
            let _ = writeln!(out, "  - {key}: {}", quote(&r.name));
            out.push_str("    expr: ");
            block(&mut out, &r.expr, 6);
            if r.for_ > 0 {
                let _ = writeln!(out, "    for: {}", duration(r.for_));
            }
            map(&mut out, "labels", &r.labels, 4);
            map(&mut out, "annotations", &r.annotations, 4);
        }
    }
    out
}

/// A string as a YAML literal block indented by `indent`, or quoted where a block
/// cannot hold it exactly.
pub(crate) fn block(out: &mut String, text: &str, indent: usize) {
    let first_indented = text.starts_with([' ', '\t']);
    let awkward = text.contains(['\t', '\r']) || text.lines().any(|l| l.ends_with(' '));
    if first_indented || awkward || !text.contains('\n') {
        out.push_str(&quote(text));
        out.push('\n');
        return;
    }
    out.push_str(if text.ends_with('\n') { "|\n" } else { "|-\n" });
    let body = text.strip_suffix('\n').unwrap_or(text);
    for line in body.split('\n') {
        if !line.is_empty() {
            out.push_str(&" ".repeat(indent));
            out.push_str(line);
        }
        out.push('\n');
    }
}

fn map(out: &mut String, key: &str, m: &BTreeMap<String, String>, indent: usize) {
    if m.is_empty() {
        return;
    }
    let pad = " ".repeat(indent);
    let _ = writeln!(out, "{pad}{key}:");
    for (k, v) in m {
        let _ = writeln!(out, "{pad}  {k}: {}", quote(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Defaults, load};

    fn slo(text: &str) -> Slo {
        load(text, "t.yml", &Defaults::default()).unwrap().remove(0)
    }

    const SPEC: &str = r#"
version: "prometheus/v1"
service: "myservice"
labels:
  owner: "myteam"
slos:
  - name: "requests-availability"
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))
        total_query: sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))
    alerting:
      name: MyServiceHighErrorRate
      page_alert:
        labels:
          severity: pageteam
      ticket_alert:
        labels:
          severity: "slack"
"#;

    #[test]
    fn recordings_are_sloths_for_every_window_and_the_period() {
        let g = groups(&slo(SPEC));
        assert_eq!(
            g[0].name,
            "sloth-slo-sli-recordings-myservice-requests-availability"
        );
        let names: Vec<&str> = g[0].rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "slo:sli_error:ratio_rate5m",
                "slo:sli_error:ratio_rate30m",
                "slo:sli_error:ratio_rate1h",
                "slo:sli_error:ratio_rate2h",
                "slo:sli_error:ratio_rate6h",
                "slo:sli_error:ratio_rate1d",
                "slo:sli_error:ratio_rate3d",
                "slo:sli_error:ratio_rate30d",
            ]
        );
        let r = &g[0].rules[0];
        assert_eq!(
            r.expr,
            "(sum(rate(http_request_duration_seconds_count{job=\"myservice\",code=~\"(5..|429)\"}[5m])))\n/\n(sum(rate(http_request_duration_seconds_count{job=\"myservice\"}[5m])))\n"
        );
        assert_eq!(r.labels["sloth_window"], "5m");
        assert_eq!(r.labels["owner"], "myteam");
        assert!(g[0].rules[7].expr.starts_with("sum_over_time(slo:sli_error:ratio_rate5m{sloth_id=\"myservice-requests-availability\", sloth_service=\"myservice\", sloth_slo=\"requests-availability\"}[30d])\n/ ignoring (sloth_window)\n"));
        let meta: Vec<(&str, &str)> = g[1]
            .rules
            .iter()
            .take(3)
            .map(|r| (r.name.as_str(), r.expr.as_str()))
            .collect();
        assert_eq!(
            meta,
            [
                ("slo:objective:ratio", "vector(0.9990000000000001)"),
                ("slo:error_budget:ratio", "vector(1-0.9990000000000001)"),
                ("slo:time_period:days", "vector(30)"),
            ]
        );
        assert!(!g[1].rules[0].labels.contains_key("sloth_window"));
    }

    #[test]
    fn the_page_alert_ors_its_two_conditions_as_sloth_writes_them() {
        let g = groups(&slo(SPEC));
        let page = &g[2].rules[0];
        assert_eq!(page.name, "MyServiceHighErrorRate");
        assert_eq!(page.labels["sloth_severity"], "page");
        assert_eq!(page.labels["severity"], "pageteam");
        let sel = "{sloth_id=\"myservice-requests-availability\", sloth_service=\"myservice\", sloth_slo=\"requests-availability\"}";
        assert_eq!(
            page.expr,
            format!(
                "(\n    max(slo:sli_error:ratio_rate5m{sel} > (14.4 * 0.0009999999999999432)) without (sloth_window)\n    and\n    max(slo:sli_error:ratio_rate1h{sel} > (14.4 * 0.0009999999999999432)) without (sloth_window)\n)\nor\n(\n    max(slo:sli_error:ratio_rate30m{sel} > (6 * 0.0009999999999999432)) without (sloth_window)\n    and\n    max(slo:sli_error:ratio_rate6h{sel} > (6 * 0.0009999999999999432)) without (sloth_window)\n)\n"
            )
        );
        assert_eq!(
            page.annotations["title"],
            "(page) {{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is too fast."
        );
        let budget = &g[2].rules[2];
        assert_eq!(
            budget.expr,
            format!(
                "max(slo:period_error_budget_remaining:ratio{sel} < 0.1) without (sloth_window)"
            )
        );
        assert_eq!(budget.for_, 300_000);
    }

    #[test]
    fn the_rule_file_reads_back_as_the_groups() {
        let s = slo(SPEC);
        let text = rule_file(&groups(&s), "t.yml");
        let file = rules::file::RuleFile::parse(&text, "rules.yml").unwrap();
        assert_eq!(file.groups.len(), 3);
        let back = &file.groups[2].rules[0];
        assert_eq!(back.expr, groups(&s)[2].rules[0].expr);
        assert_eq!(back.annotations, groups(&s)[2].rules[0].annotations);
        assert_eq!(
            file.groups[0].rules[0].labels,
            groups(&s)[0].rules[0].labels
        );
        assert_eq!(file.groups[0].interval, None);

        let every_minute = SPEC.replace("slos:", "skywatch:\n  interval: 1m\nslos:");
        let s = slo(&every_minute);
        let text = rule_file(&groups(&s), "t.yml");
        let file = rules::file::RuleFile::parse(&text, "rules.yml").unwrap();
        assert!(
            file.groups.iter().all(|g| g.interval == Some(60_000)),
            "{text}"
        );
    }

    #[test]
    fn blocks_fall_back_to_quotes_where_yaml_would_change_the_text() {
        for text in [
            "  indented\nx",
            "tab\there\n",
            "trailing \nspace",
            "one line",
        ] {
            let mut out = String::from("k: ");
            block(&mut out, text, 2);
            assert!(out.starts_with("k: \""), "{out}");
        }
    }
}
