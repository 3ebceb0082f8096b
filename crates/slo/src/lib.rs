//! SLOs: specs in, Prometheus rule groups and their unit tests out.
//!
//! Pure: this crate reads text and writes text; the binary reads files and runs rules.
//!
//! - [`load`] reads a spec file into [`Slo`]s: Sloth's `prometheus/v1` ([`sloth`]) or
//!   OpenSLO v1 ([`openslo`]), with latency SLIs over a classic histogram
//!   ([`Sli::latency`]). Errors name the file, the line and the field.
//! - [`generate::groups`] makes an SLO's rule groups, named and labelled as Sloth names and
//!   labels them (so Sloth's Grafana dashboards work on them), with multiwindow,
//!   multi-burn-rate alerts from a [`windows`] table, annotations that say the burn rate,
//!   the budget left and the time to exhaustion, and an alert when the budget runs low.
//! - [`unittest::tests`] writes a promtool unit-test file that proves each alert fires at
//!   its burn rate and stays silent below it.
//! - [`check::problems`] is what `skywatch slo check` refuses.

use std::collections::BTreeMap;
use std::fmt;

pub mod check;
pub mod generate;
pub mod openslo;
pub mod sloth;
pub mod unittest;
pub mod windows;

pub use windows::{Condition, Table, Windows};

/// One service level objective, whatever spec it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// `<service>-<name>`: the `sloth_id` label.
    pub id: String,
    /// The service: the `sloth_service` label.
    pub service: String,
    /// The SLO's name: the `sloth_slo` label.
    pub name: String,
    /// What it measures, in words.
    pub description: String,
    /// The objective in percent, as Sloth keeps it (99.9); the error budget is
    /// `(100 - objective) / 100`.
    pub objective: f64,
    /// The period the budget is counted over, in milliseconds.
    pub period: i64,
    /// Labels every generated rule carries.
    pub labels: BTreeMap<String, String>,
    /// How errors are counted.
    pub sli: Sli,
    /// The burn-rate alerts (page, ticket, or OpenSLO's policies), in order.
    pub alerts: Vec<BurnAlert>,
    /// The alert when the budget left falls below a threshold, unless disabled.
    pub budget_alert: Option<BudgetAlert>,
    /// The window table the alerts' conditions came from.
    pub windows: Windows,
    /// How often its rule groups run, in milliseconds; `None`: the server's
    /// `evaluation_interval`, as Sloth leaves it.
    pub interval: Option<i64>,
    /// The spec format: `prometheus/v1` or `openslo/v1`.
    pub spec: &'static str,
    /// The file it was read from, and the line its definition starts on.
    pub file: String,
    /// The line its definition starts on.
    pub line: usize,
}

impl Slo {
    /// The error budget as a ratio: Sloth's `(100 - objective) / 100`.
    pub fn error_budget(&self) -> f64 {
        (100.0 - self.objective) / 100.0
    }

    /// The objective as a ratio.
    pub fn objective_ratio(&self) -> f64 {
        self.objective / 100.0
    }

    /// The windows the SLI is recorded over, shortest first, then the period.
    pub fn recorded_windows(&self) -> Vec<i64> {
        let mut all = self.windows.durations();
        all.retain(|&w| w != self.period);
        all.push(self.period);
        all
    }

    /// The label matchers that select this SLO's series: `{sloth_id="...", ...}`.
    pub fn selector(&self) -> String {
        format!(
            "{{sloth_id={}, sloth_service={}, sloth_slo={}}}",
            quote(&self.id),
            quote(&self.service),
            quote(&self.name)
        )
    }
}

/// How an SLO counts errors; every query holds `{{.window}}` where the window goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Sli {
    /// Bad events over all events.
    Events {
        /// The bad events' rate.
        error_query: String,
        /// All events' rate.
        total_query: String,
    },
    /// An error ratio computed by the query itself.
    Raw {
        /// The error ratio, between 0 and 1.
        error_ratio_query: String,
    },
}

impl Sli {
    /// A latency SLI over a classic histogram: the share of observations above the bucket
    /// bound `le` (as the exposition writes it), among those `selector` picks (label
    /// matchers without braces, or empty).
    pub fn latency(histogram: &str, le: &str, selector: &str) -> Self {
        let with = |extra: &str| match (selector.trim(), extra) {
            ("", "") => String::new(),
            ("", e) => format!("{{{e}}}"),
            (s, "") => format!("{{{s}}}"),
            (s, e) => format!("{{{s},{e}}}"),
        };
        let count = format!("sum(rate({histogram}_count{}[{{{{.window}}}}]))", with(""));
        let under = format!(
            "sum(rate({histogram}_bucket{}[{{{{.window}}}}]))",
            with(&format!("le={}", quote(le)))
        );
        Self::Events {
            error_query: format!("{count}\n-\n{under}"),
            total_query: count,
        }
    }

    /// Its queries with the window filled in: `(error, total)` or `(ratio, None)`.
    pub fn queries(&self) -> Vec<&str> {
        match self {
            Self::Events {
                error_query,
                total_query,
            } => vec![error_query, total_query],
            Self::Raw { error_ratio_query } => vec![error_ratio_query],
        }
    }
}

/// A multiwindow, multi-burn-rate alert.
#[derive(Debug, Clone, PartialEq)]
pub struct BurnAlert {
    /// The alert's name.
    pub name: String,
    /// `page`, `ticket`, or an OpenSLO condition's severity: the `sloth_severity` label.
    pub severity: String,
    /// Any of these firing fires the alert.
    pub conditions: Vec<Condition>,
    /// How long a condition must hold first, in milliseconds (0: at once, as Sloth's).
    pub for_: i64,
    /// The alert's own labels.
    pub labels: BTreeMap<String, String>,
    /// The alert's own annotations (over the generated ones).
    pub annotations: BTreeMap<String, String>,
}

/// The alert when the budget left falls below a share of it.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetAlert {
    /// The alert's name.
    pub name: String,
    /// Fires when the budget left is below this ratio (0.1: a tenth).
    pub threshold: f64,
    /// How long it must hold first, in milliseconds.
    pub for_: i64,
    /// The alert's own labels.
    pub labels: BTreeMap<String, String>,
    /// The alert's own annotations (over the generated ones).
    pub annotations: BTreeMap<String, String>,
}

/// What the command line sets for specs that do not say.
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    /// The period, in milliseconds (30 days).
    pub period: i64,
    /// The window table (Sloth's).
    pub table: Table,
    /// The budget alert's threshold (0.1).
    pub budget_threshold: f64,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            period: 30 * windows::DAY,
            table: Table::Sloth,
            budget_threshold: 0.1,
        }
    }
}

/// A spec that cannot be read: the file, the line where known, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The file.
    pub file: String,
    /// The line (1-based), where known.
    pub line: Option<usize>,
    /// What is wrong, naming the field.
    pub message: String,
}

impl SpecError {
    pub(crate) fn new(file: &str, line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line,
            message: message.into(),
        }
    }

    /// A YAML document, starting on `line`, that does not read.
    pub(crate) fn in_document(file: &str, line: usize, e: &yaml::Error) -> Self {
        Self::new(
            file,
            Some(line),
            format!("in the document starting here: {e}"),
        )
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for SpecError {}

/// Reads the SLOs of a spec file, telling its format by its version line: Sloth's
/// `version: prometheus/v1` or OpenSLO's `apiVersion: openslo/v1`.
pub fn load(text: &str, file: &str, defaults: &Defaults) -> Result<Vec<Slo>, SpecError> {
    if sloth::is_spec(text) {
        sloth::load(text, file, defaults)
    } else if openslo::is_spec(text) {
        openslo::load(text, file, defaults)
    } else {
        Err(SpecError::new(
            file,
            None,
            "not an SLO spec: expected Sloth's `version: \"prometheus/v1\"` or OpenSLO's \
             `apiVersion: openslo/v1`",
        ))
    }
}

/// A string as a PromQL (and Go, and YAML) double-quoted literal: Go's `strconv.Quote`.
pub(crate) fn quote(s: &str) -> String {
    gotemplate::fmt::go_quote(s, false, '"')
}

/// Whether `name` is a safe SLO, service or SLI name, as Sloth checks: alphanumerics,
/// `.`, `_` and `-`, starting and ending with an alphanumeric.
pub(crate) fn is_safe_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Whether `name` is a valid label name.
pub(crate) fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `name` is a valid metric (and so alert) name.
pub(crate) fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}
