//! Prometheus's rule files: groups of recording and alerting rules, read and checked as
//! Prometheus checks them, with every problem reported at once by line.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use yaml::Spanned;

use crate::template::Template;

/// A rule file.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFile {
    /// The file, as given.
    pub file: String,
    /// Its groups, in order.
    pub groups: Vec<Group>,
}

/// A group of rules evaluated together, in order, at one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Its name, unique in its file.
    pub name: String,
    /// How often the group is evaluated, in ms; `None`: the global evaluation interval.
    pub interval: Option<i64>,
    /// The most series a rule may produce (alerts for an alerting rule); 0: no limit.
    pub limit: usize,
    /// How far in the past the group evaluates, in ms.
    pub query_offset: Option<i64>,
    /// Labels added to every rule's output.
    pub labels: BTreeMap<String, String>,
    /// Its rules, in evaluation order.
    pub rules: Vec<Rule>,
}

/// A recording or an alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Recording or alerting, and the name.
    pub kind: Kind,
    /// The expression as written.
    pub expr: String,
    /// How long an alert is pending before it fires, in ms.
    pub for_: i64,
    /// How long an alert keeps firing after its condition clears, in ms.
    pub keep_firing_for: i64,
    /// Labels added to the output (templates, for an alert).
    pub labels: BTreeMap<String, String>,
    /// An alert's annotations, templates.
    pub annotations: BTreeMap<String, String>,
    /// The line of its `record:` or `alert:`.
    pub line: usize,
}

/// What a rule makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A recording rule and the metric name it records.
    Record(String),
    /// An alerting rule and its alert name.
    Alert(String),
}

impl Rule {
    /// The recorded metric's or the alert's name.
    pub fn name(&self) -> &str {
        match &self.kind {
            Kind::Record(n) | Kind::Alert(n) => n,
        }
    }
}

/// Why a rule file cannot be used: every problem found, each naming its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFileError {
    /// The file, as given.
    pub file: String,
    /// Each problem, naming its line.
    pub problems: Vec<String>,
}

impl std::fmt::Display for RuleFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {p}", self.file)?;
        }
        Ok(())
    }
}

impl std::error::Error for RuleFileError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: Vec<RawGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: Spanned<String>,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    query_offset: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    record: Option<Spanned<String>>,
    #[serde(default)]
    alert: Option<Spanned<String>>,
    expr: Spanned<String>,
    #[serde(default, rename = "for")]
    for_: Option<String>,
    #[serde(default)]
    keep_firing_for: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Whether `name` is a valid metric name.
fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Whether `name` is a valid label name.
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn duration(text: &Option<String>, what: &str, problems: &mut Vec<String>, at: &str) -> i64 {
    let Some(t) = text else { return 0 };
    match model::parse_duration(t) {
        Some(ms) if ms >= 0 => ms,
        _ => {
            problems.push(format!(
                "{at}: {what} {t:?} is not a duration: write a number and a unit, such as 5m or 30s"
            ));
            0
        }
    }
}

impl RuleFile {
    /// Reads and checks the rule file at `path`.
    pub fn load(path: &Path) -> Result<Self, RuleFileError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| RuleFileError {
            file: file.clone(),
            problems: vec![format!("cannot read it: {e}")],
        })?;
        Self::parse(&text, &file)
    }

    /// Parses and checks a rule file; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, RuleFileError> {
        let fail = |problems: Vec<String>| RuleFileError {
            file: file.to_owned(),
            problems,
        };
        if text.trim().is_empty() {
            return Ok(Self {
                file: file.to_owned(),
                groups: Vec::new(),
            });
        }
        let raw: RawFile = yaml::from_str(text).map_err(|e| fail(vec![e.to_string()]))?;
        let mut problems = Vec::new();
        let mut groups = Vec::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for g in raw.groups {
            let line = g.name.referenced.line() as usize;
            let name = g.name.value;
            let at = format!("line {line}: group {name:?}");
            if name.is_empty() {
                problems.push(format!("line {line}: a group has no name; give it one"));
            }
            if let Some(first) = seen.insert(name.clone(), line) {
                problems.push(format!(
                    "{at}: a group of this name is already defined on line {first}; group names must be unique in a file"
                ));
            }
            let interval = g
                .interval
                .as_ref()
                .map(|_| duration(&g.interval, "interval", &mut problems, &at));
            if interval == Some(0) {
                problems.push(format!("{at}: interval must be positive"));
            }
            let query_offset = g
                .query_offset
                .as_ref()
                .map(|_| duration(&g.query_offset, "query_offset", &mut problems, &at));
            for k in g.labels.keys() {
                if !is_label_name(k) {
                    problems.push(format!("{at}: label name {k:?} is not valid"));
                }
            }
            let mut rules = Vec::new();
            for (i, r) in g.rules.into_iter().enumerate() {
                let at = format!("group {name:?}, rule {}", i + 1);
                if let Some(rule) = check_rule(r, &at, &mut problems) {
                    rules.push(rule);
                }
            }
            groups.push(Group {
                name,
                interval,
                limit: g.limit.unwrap_or(0),
                query_offset,
                labels: g.labels,
                rules,
            });
        }
        if !problems.is_empty() {
            return Err(fail(problems));
        }
        Ok(Self {
            file: file.to_owned(),
            groups,
        })
    }

    /// How many rules the file holds.
    pub fn rule_count(&self) -> usize {
        self.groups.iter().map(|g| g.rules.len()).sum()
    }

    /// The rules of any groups that share their name (recorded metric or alert) and
    /// labels with another, once each, sorted by name then labels: what
    /// `promtool check rules --lint=duplicate-rules` (2.42) reports. As there, the
    /// expressions are not compared: two rules recording one series overwrite each other
    /// whatever they compute.
    pub fn duplicate_rules(&self) -> Vec<Duplicate> {
        let mut all: Vec<(&str, &BTreeMap<String, String>)> = self
            .groups
            .iter()
            .flat_map(|g| &g.rules)
            .map(|r| (r.name(), &r.labels))
            .collect();
        all.sort();
        let mut found: Vec<Duplicate> = Vec::new();
        for pair in all.windows(2) {
            let (name, labels) = pair[1];
            let seen = found
                .last()
                .is_some_and(|d| d.name == name && d.labels == *labels);
            if pair[0] == pair[1] && !seen {
                found.push(Duplicate {
                    name: name.to_owned(),
                    labels: labels.clone(),
                });
            }
        }
        found
    }
}

/// A name and labels more than one rule of a file has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The recorded metric's or the alert's name.
    pub name: String,
    /// The labels the rules set.
    pub labels: BTreeMap<String, String>,
}

/// Checks one rule as Prometheus does; problems are pushed, naming `at`.
fn check_rule(r: RawRule, at: &str, problems: &mut Vec<String>) -> Option<Rule> {
    let expr_line = r.expr.referenced.line() as usize;
    let (kind, line) = match (r.record, r.alert) {
        (Some(rec), None) => {
            let line = rec.referenced.line() as usize;
            if !is_metric_name(&rec.value) {
                problems.push(format!(
                    "line {line}: {at}: {:?} is not a valid metric name to record",
                    rec.value
                ));
            }
            (Kind::Record(rec.value), line)
        }
        (None, Some(alert)) => {
            let line = alert.referenced.line() as usize;
            if alert.value.is_empty() {
                problems.push(format!("line {line}: {at}: the alert has no name"));
            }
            (Kind::Alert(alert.value), line)
        }
        (Some(_), Some(_)) => {
            problems.push(format!(
                "line {expr_line}: {at}: a rule has either record or alert, not both"
            ));
            return None;
        }
        (None, None) => {
            problems.push(format!(
                "line {expr_line}: {at}: a rule needs record (a recording rule) or alert (an alerting rule)"
            ));
            return None;
        }
    };
    let at = format!("line {line}: {at} ({})", kind_name(&kind));
    let expr = r.expr.value.clone();
    if expr.trim().is_empty() {
        problems.push(format!("{at}: expr is empty"));
    } else if let Err(e) = promql::ast::parse(&expr) {
        problems.push(format!(
            "{at}: expr on line {expr_line} does not parse: {e}"
        ));
    }
    let recording = matches!(kind, Kind::Record(_));
    if recording {
        for (field, set) in [
            ("for", r.for_.is_some()),
            ("keep_firing_for", r.keep_firing_for.is_some()),
            ("annotations", !r.annotations.is_empty()),
        ] {
            if set {
                problems.push(format!(
                    "{at}: {field} is for alerting rules; a recording rule cannot have it"
                ));
            }
        }
    }
    for k in r.labels.keys() {
        if !is_label_name(k) {
            problems.push(format!("{at}: label name {k:?} is not valid"));
        }
        // Prometheus refuses it for alerts too: an alert's name is its alertname.
        if k == "__name__" {
            let fix = if recording {
                "the record field names the metric"
            } else {
                "an alert is named by its alert field"
            };
            problems.push(format!("{at}: a rule cannot set the label __name__; {fix}"));
        }
    }
    for k in r.annotations.keys() {
        if !is_label_name(k) {
            problems.push(format!("{at}: annotation name {k:?} is not valid"));
        }
    }
    if !recording {
        for (what, map) in [("label", &r.labels), ("annotation", &r.annotations)] {
            for (k, v) in map {
                // Parsed with the variables an alert's templates have ($labels,
                // $externalLabels, $externalURL, $value): any other is refused, as Go's
                // template parser refuses it.
                if let Err(e) = Template::parse(v) {
                    problems.push(format!(
                        "{at}: {what} {k:?}: the template does not parse: {e}"
                    ));
                }
            }
        }
    }
    let for_ = duration(&r.for_, "for", problems, &at);
    let keep_firing_for = duration(&r.keep_firing_for, "keep_firing_for", problems, &at);
    Some(Rule {
        kind,
        expr,
        for_,
        keep_firing_for,
        labels: r.labels,
        annotations: r.annotations,
        line,
    })
}

fn kind_name(kind: &Kind) -> String {
    match kind {
        Kind::Record(n) => format!("record {n:?}"),
        Kind::Alert(n) => format!("alert {n:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_file_reads_with_its_groups_and_rules() {
        let f = RuleFile::parse(
            r#"
groups:
  - name: nodes
    interval: 30s
    limit: 10
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels:
          team: net
      - alert: NodeDown
        expr: up == 0
        for: 2m
        keep_firing_for: 1m
        labels:
          severity: critical
        annotations:
          summary: "{{ $labels.node }} is down"
"#,
            "rules.yml",
        )
        .unwrap();
        assert_eq!(f.rule_count(), 2);
        let g = &f.groups[0];
        assert_eq!(
            (g.name.as_str(), g.interval, g.limit),
            ("nodes", Some(30_000), 10)
        );
        assert_eq!(g.rules[0].kind, Kind::Record("job:up:sum".into()));
        assert_eq!(g.rules[1].kind, Kind::Alert("NodeDown".into()));
        assert_eq!(
            (g.rules[1].for_, g.rules[1].keep_firing_for),
            (120_000, 60_000)
        );
        assert_eq!(g.rules[1].line, 11);
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let e = RuleFile::parse(
            r#"groups:
  - name: a
    rules:
      - record: "bad name"
        expr: sum(up
        for: 5m
      - alert: X
        expr: up
        annotations:
          summary: "{{ $value "
  - name: a
    rules:
      - expr: up
"#,
            "bad.yml",
        )
        .unwrap_err();
        let text = e.to_string();
        for want in [
            "bad.yml: line 4: group \"a\", rule 1: \"bad name\" is not a valid metric name",
            "line 4: group \"a\", rule 1 (record \"bad name\"): expr on line 5 does not parse",
            "(record \"bad name\"): for is for alerting rules",
            "line 7: group \"a\", rule 2 (alert \"X\"): annotation \"summary\": the template does not parse",
            "line 11: group \"a\": a group of this name is already defined on line 2",
            "line 13: group \"a\", rule 1: a rule needs record",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
        assert_eq!(e.problems.len(), 6, "{text}");
    }

    #[test]
    fn unknown_fields_are_refused_naming_them() {
        let e = RuleFile::parse(
            "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: up\n        fore: 5m\n",
            "f.yml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("fore"), "{e}");
        assert!(e.to_string().contains("line 6"), "{e}");
    }

    /// Regression: promtool refuses an alert template using a variable it does not
    /// define (`$label` for `$labels`), and `__name__` among an alert's labels.
    #[test]
    fn undefined_template_variables_and_an_alerts_name_label_are_refused() {
        let e = RuleFile::parse(
            r#"groups:
  - name: a
    rules:
      - alert: X
        expr: up == 0
        labels:
          __name__: x
        annotations:
          summary: "{{ $label.instance }} is down"
          ok: "{{ range $k, $v := $labels }}{{ $k }}{{ end }} {{ $externalURL }}"
"#,
            "f.yml",
        )
        .unwrap_err();
        let text = e.to_string();
        assert_eq!(e.problems.len(), 2, "{text}");
        assert!(
            text.contains(r#"annotation "summary": the template does not parse: line 1: undefined variable "$label""#),
            "{text}"
        );
        assert!(text.contains("cannot set the label __name__"), "{text}");
    }

    #[test]
    fn duplicate_rules_are_those_sharing_name_and_labels_as_promtool_lints() {
        let f = RuleFile::parse(
            r#"groups:
  - name: a
    rules:
      - record: r
        expr: x
        labels: {env: prod}
      - alert: A
        expr: x > 1
      - alert: A
        expr: x > 2
  - name: b
    rules:
      - record: r
        expr: x * 2
        labels: {env: prod}
      - record: r
        expr: z
        labels: {env: prod}
      - record: r
        expr: z
        labels: {env: dev}
"#,
            "f.yml",
        )
        .unwrap();
        let found: Vec<(String, Vec<(String, String)>)> = f
            .duplicate_rules()
            .into_iter()
            .map(|d| (d.name, d.labels.into_iter().collect()))
            .collect();
        assert_eq!(
            found,
            [
                ("A".to_owned(), vec![]),
                ("r".to_owned(), vec![("env".to_owned(), "prod".to_owned())]),
            ]
        );
    }
}
