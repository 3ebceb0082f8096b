//! Alertmanager's configuration file: `global`, the `route` tree, `inhibit_rules`,
//! `receivers` and `time_intervals`, read and checked as Alertmanager checks them, with
//! errors that name the line and what would fix them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use model::{MatchOp, Matcher};
use serde::Deserialize;
use yaml::Spanned;

/// Why a configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, as given.
    pub file: String,
    /// What is wrong, with the line where known.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A duration in ms, written as Prometheus writes them (`30s`, `5m`, `4h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub i64);

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        model::parse_duration(&s)
            .filter(|ms| *ms >= 0)
            .map(Duration)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "{s:?} is not a duration: write a number and a unit, such as 30s, 5m or 4h"
                ))
            })
    }
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Defaults for receivers.
    #[serde(default)]
    pub global: Global,
    /// The routing tree's root.
    pub route: Spanned<Route>,
    /// Rules that mute alerts while others fire.
    #[serde(default)]
    pub inhibit_rules: Vec<InhibitRule>,
    /// Where notifications go.
    #[serde(default)]
    pub receivers: Vec<Receiver>,
    /// Named time intervals, for routes' `mute_time_intervals` and
    /// `active_time_intervals`.
    #[serde(default)]
    pub time_intervals: Vec<TimeIntervalSet>,
    /// The older name of `time_intervals`.
    #[serde(default)]
    pub mute_time_intervals: Vec<TimeIntervalSet>,
    /// Template files for notification texts (read, not yet applied).
    #[serde(default)]
    pub templates: Vec<String>,
}

/// `global`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Global {
    /// How long an alert without an end is kept after its last update.
    #[serde(default)]
    pub resolve_timeout: Option<Duration>,
    /// SMTP defaults for email receivers.
    #[serde(default)]
    pub smtp_from: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub smtp_smarthost: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub smtp_hello: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub smtp_auth_username: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub smtp_auth_password: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub smtp_require_tls: Option<bool>,
    /// Slack's incoming-webhook URL, for Slack receivers without their own.
    #[serde(default)]
    pub slack_api_url: Option<String>,
    /// PagerDuty's Events API URL.
    #[serde(default)]
    pub pagerduty_url: Option<String>,
    /// Other `global` keys, accepted and unused (`http_config`, other integrations').
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// A node of the routing tree.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Where matching alerts go (inherited when unset).
    #[serde(default)]
    pub receiver: Option<String>,
    /// The labels alerts are grouped by; `...` groups by all.
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    /// Matchers in Alertmanager's syntax: `severity="critical"`, `team=~"net|p2p"`.
    #[serde(default)]
    pub matchers: Vec<String>,
    /// Equality matchers (older syntax).
    #[serde(default, rename = "match")]
    pub match_: BTreeMap<String, String>,
    /// Regex matchers (older syntax).
    #[serde(default)]
    pub match_re: BTreeMap<String, String>,
    /// Whether matching goes on to the next sibling after this route matched.
    #[serde(default, rename = "continue")]
    pub continue_: bool,
    /// How long to wait before the first notification of a new group.
    #[serde(default)]
    pub group_wait: Option<Duration>,
    /// How long to wait before notifying of new alerts in a group.
    #[serde(default)]
    pub group_interval: Option<Duration>,
    /// How long to wait before notifying again of the same alerts.
    #[serde(default)]
    pub repeat_interval: Option<Duration>,
    /// Named time intervals when notifications are muted.
    #[serde(default)]
    pub mute_time_intervals: Vec<String>,
    /// Named time intervals outside which notifications are muted.
    #[serde(default)]
    pub active_time_intervals: Vec<String>,
    /// Child routes, tried in order.
    #[serde(default)]
    pub routes: Vec<Spanned<Route>>,
}

/// `inhibit_rules`: while an alert matching the source matchers fires, alerts matching
/// the target matchers with equal values of the `equal` labels are muted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRule {
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub source_matchers: Vec<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub target_matchers: Vec<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub source_match: BTreeMap<String, String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub source_match_re: BTreeMap<String, String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub target_match: BTreeMap<String, String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub target_match_re: BTreeMap<String, String>,
    /// Labels whose values must be equal in source and target.
    #[serde(default)]
    pub equal: Vec<String>,
}

/// A receiver: a name and its integrations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receiver {
    /// Its name, which routes give.
    pub name: Spanned<String>,
    /// Webhooks, given Alertmanager's JSON payload.
    #[serde(default)]
    pub webhook_configs: Vec<WebhookConfig>,
    /// Slack incoming webhooks.
    #[serde(default)]
    pub slack_configs: Vec<SlackConfig>,
    /// PagerDuty, Events API v2.
    #[serde(default)]
    pub pagerduty_configs: Vec<PagerdutyConfig>,
    /// Email over SMTP.
    #[serde(default)]
    pub email_configs: Vec<EmailConfig>,
}

/// `webhook_configs`.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookConfig {
    /// Where the payload is POSTed.
    pub url: String,
    /// Whether resolved alerts are sent too (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// The most alerts in one payload; 0: all.
    #[serde(default)]
    pub max_alerts: usize,
}

/// `slack_configs`.
#[derive(Debug, Clone, Deserialize)]
pub struct SlackConfig {
    /// The incoming webhook; `global.slack_api_url` if unset.
    #[serde(default)]
    pub api_url: Option<String>,
    /// The channel, as `#name`.
    #[serde(default)]
    pub channel: Option<String>,
    /// The message's title and text (Go templates over the notification).
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub text: Option<String>,
    /// Whether resolved alerts are sent too (default false, as Alertmanager's).
    #[serde(default)]
    pub send_resolved: bool,
}

/// `pagerduty_configs`.
#[derive(Debug, Clone, Deserialize)]
pub struct PagerdutyConfig {
    /// The Events API v2 integration key.
    #[serde(default)]
    pub routing_key: Option<String>,
    /// The older Events API v1 key (accepted as the routing key).
    #[serde(default)]
    pub service_key: Option<String>,
    /// The Events API URL; `global.pagerduty_url` or PagerDuty's if unset.
    #[serde(default)]
    pub url: Option<String>,
    /// The event's severity (a template; default from the alert's `severity`).
    #[serde(default)]
    pub severity: Option<String>,
    /// The event's summary.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether resolved alerts are sent too (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
}

/// `email_configs`.
#[derive(Debug, Clone, Deserialize)]
pub struct EmailConfig {
    /// The recipients, comma-separated.
    pub to: String,
    /// The sender; `global.smtp_from` if unset.
    #[serde(default)]
    pub from: Option<String>,
    /// `host:port` of the SMTP server; `global.smtp_smarthost` if unset.
    #[serde(default)]
    pub smarthost: Option<String>,
    /// Whether resolved alerts are sent too (default false).
    #[serde(default)]
    pub send_resolved: bool,
    /// Extra headers, `Subject` among them.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The name given in EHLO; `global.smtp_hello` or `localhost` if unset.
    #[serde(default)]
    pub hello: Option<String>,
    /// AUTH PLAIN credentials; the `global.smtp_auth_*` ones if unset.
    #[serde(default)]
    pub auth_username: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "as `auth_username`")]
    pub auth_password: Option<String>,
    /// Whether STARTTLS is required; `global.smtp_require_tls` or true if unset.
    #[serde(default)]
    pub require_tls: Option<bool>,
}

fn yes() -> bool {
    true
}

/// A named set of time intervals.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalSet {
    /// Its name, which routes give.
    pub name: String,
    /// The intervals: a time is in the set if it is in any.
    #[serde(default)]
    pub time_intervals: Vec<TimeInterval>,
}

/// One time interval: a time is in it if it satisfies every field given.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeInterval {
    /// `HH:MM` ranges of the day.
    #[serde(default)]
    pub times: Vec<TimeRange>,
    /// `monday:friday`, `saturday`...
    #[serde(default)]
    pub weekdays: Vec<String>,
    /// `1:5`, `-1` (the last day)...
    #[serde(default)]
    pub days_of_month: Vec<String>,
    /// `january:march`, `12`...
    #[serde(default)]
    pub months: Vec<String>,
    /// `2024:2026`...
    #[serde(default)]
    pub years: Vec<String>,
    /// An IANA time zone; only `UTC` and `Local` are known here.
    #[serde(default)]
    pub location: Option<String>,
}

/// `start_time` to `end_time`, `HH:MM`, end excluded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRange {
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub start_time: String,
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub end_time: String,
}

/// Parses one matcher in Alertmanager's syntax: `name="value"`, `name=~"regex"`,
/// `name!=value`; the value may be unquoted.
pub fn parse_matcher(text: &str) -> Result<Matcher, String> {
    let t = text.trim();
    let t = t
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or(t)
        .trim();
    let ops = [
        ("=~", MatchOp::Regex),
        ("!~", MatchOp::NotRegex),
        ("!=", MatchOp::NotEqual),
        ("=", MatchOp::Equal),
    ];
    let (at, len, op) = ops
        .iter()
        .filter_map(|(s, op)| t.find(s).map(|i| (i, s.len(), *op)))
        .min_by_key(|(i, len, _)| (*i, std::cmp::Reverse(*len)))
        .ok_or_else(|| {
            format!("matcher {text:?} has no operator: write name=\"value\", =~, != or !~")
        })?;
    let name = t[..at].trim().trim_matches('"');
    if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || name.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(format!("matcher {text:?}: {name:?} is not a label name"));
    }
    let raw = t[at + len..].trim();
    let value = if let Some(inner) = raw.strip_prefix('"') {
        let inner = inner
            .strip_suffix('"')
            .ok_or_else(|| format!("matcher {text:?}: the value's quote is not closed"))?;
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(o) => out.push(o),
                    None => out.push('\\'),
                }
            } else {
                out.push(c);
            }
        }
        out
    } else {
        raw.to_owned()
    };
    Matcher::new(op, name, value).map_err(|e| format!("matcher {text:?}: {e}"))
}

/// All of a route's or rule's matchers, new and old syntax together.
pub fn matchers(
    new: &[String],
    equal: &BTreeMap<String, String>,
    regex: &BTreeMap<String, String>,
) -> Result<Vec<Matcher>, String> {
    let mut out = Vec::new();
    for m in new {
        out.push(parse_matcher(m)?);
    }
    for (k, v) in equal {
        out.push(Matcher::equal(k, v));
    }
    for (k, v) in regex {
        out.push(Matcher::new(MatchOp::Regex, k, v).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

impl Config {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            message: format!("cannot read it: {e}"),
        })?;
        Self::parse(&text, &file)
    }

    /// Parses and checks a configuration; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        let error = |message: String| ConfigError {
            file: file.to_owned(),
            message,
        };
        let config: Config = yaml::from_str(text).map_err(|e| error(e.to_string()))?;
        config.validate().map_err(error)?;
        Ok(config)
    }

    /// The named time intervals, both sections together.
    pub fn intervals(&self) -> impl Iterator<Item = &TimeIntervalSet> {
        self.time_intervals.iter().chain(&self.mute_time_intervals)
    }

    fn validate(&self) -> Result<(), String> {
        let mut names = BTreeSet::new();
        for r in &self.receivers {
            if !names.insert(r.name.value.as_str()) {
                return Err(format!(
                    "line {}: receiver {:?} is defined twice; receiver names must be unique",
                    r.name.referenced.line(),
                    r.name.value
                ));
            }
        }
        let intervals: BTreeSet<&str> = self.intervals().map(|i| i.name.as_str()).collect();
        let root = &self.route.value;
        if root.receiver.is_none() {
            return Err(format!(
                "line {}: the root route has no receiver; give it a default receiver",
                self.route.referenced.line()
            ));
        }
        if !root.matchers.is_empty() || !root.match_.is_empty() || !root.match_re.is_empty() {
            return Err(format!(
                "line {}: the root route cannot have matchers: every alert enters it",
                self.route.referenced.line()
            ));
        }
        check_route(&self.route, &names, &intervals)?;
        for (i, rule) in self.inhibit_rules.iter().enumerate() {
            matchers(
                &rule.source_matchers,
                &rule.source_match,
                &rule.source_match_re,
            )
            .and_then(|_| {
                matchers(
                    &rule.target_matchers,
                    &rule.target_match,
                    &rule.target_match_re,
                )
            })
            .map_err(|e| format!("inhibit_rules[{i}]: {e}"))?;
        }
        for set in self.intervals() {
            for interval in &set.time_intervals {
                crate::timeinterval::check(interval)
                    .map_err(|e| format!("time interval {:?}: {e}", set.name))?;
            }
        }
        Ok(())
    }
}

fn check_route(
    route: &Spanned<Route>,
    receivers: &BTreeSet<&str>,
    intervals: &BTreeSet<&str>,
) -> Result<(), String> {
    let at = format!("line {}: route", route.referenced.line());
    let r = &route.value;
    if let Some(name) = &r.receiver
        && !receivers.contains(name.as_str())
    {
        return Err(format!(
            "{at}: receiver {name:?} is not defined under receivers"
        ));
    }
    matchers(&r.matchers, &r.match_, &r.match_re).map_err(|e| format!("{at}: {e}"))?;
    for name in r.mute_time_intervals.iter().chain(&r.active_time_intervals) {
        if !intervals.contains(name.as_str()) {
            return Err(format!(
                "{at}: time interval {name:?} is not defined under time_intervals"
            ));
        }
    }
    if let Some(g) = &r.group_by
        && g.iter().any(|l| l == "...")
        && g.len() > 1
    {
        return Err(format!(
            "{at}: group_by with '...' cannot list other labels"
        ));
    }
    for child in &r.routes {
        check_route(child, receivers, intervals)?;
    }
    Ok(())
}
