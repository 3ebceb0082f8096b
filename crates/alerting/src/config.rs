//! Alertmanager's configuration file: `global`, the `route` tree, `inhibit_rules`,
//! `receivers`, `time_intervals` and `templates`, read and checked as Alertmanager 0.25
//! checks them (`amtool check-config` is the oracle), with errors that name the line, the
//! field and what would fix them. After [`Config::parse`] every receiver holds the values
//! `global` gives it, as Alertmanager fills them; the receivers' sections are in
//! `config/receivers.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use httpclient::config::HttpClientConfig;
use model::{MatchOp, Matcher};
use serde::Deserialize;
use yaml::Spanned;

mod receivers;

pub use receivers::{
    DiscordConfig, EmailConfig, JiraConfig, JiraField, JiraFieldConfig, MsTeamsConfig,
    OpsgenieConfig, OpsgenieResponder, PagerdutyConfig, PagerdutyImage, PagerdutyLink,
    PushoverConfig, Receiver, RocketchatAction, RocketchatConfig, RocketchatField, SigV4Config,
    SlackAction, SlackConfig, SlackConfirm, SlackField, SnsConfig, TelegramConfig, VictorOpsConfig,
    WebexConfig, WebhookConfig, WechatConfig,
};

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

/// Alertmanager's PagerDuty Events API v2 URL, `global.pagerduty_url`'s default.
pub const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

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
    /// Where notifications go. After [`Config::parse`], every default `global` gives is
    /// filled in, as Alertmanager fills them.
    #[serde(default)]
    pub receivers: Vec<Receiver>,
    /// Named time intervals, for routes' `mute_time_intervals` and
    /// `active_time_intervals`.
    #[serde(default)]
    pub time_intervals: Vec<TimeIntervalSet>,
    /// The older name of `time_intervals`.
    #[serde(default)]
    pub mute_time_intervals: Vec<TimeIntervalSet>,
    /// Template files (globs) for notification texts, relative to the file's directory.
    #[serde(default)]
    pub templates: Vec<String>,
}

/// `global`: defaults for receivers. URLs are checked as Alertmanager checks them;
/// `None` is Alertmanager's default (named on each field).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Global {
    /// How long an alert without an end is kept after its last update (default 5m).
    #[serde(default)]
    pub resolve_timeout: Option<Duration>,
    /// HTTP client settings for every receiver without its own.
    #[serde(default)]
    pub http_config: Option<HttpClientConfig>,
    /// SMTP defaults for email receivers.
    #[serde(default)]
    pub smtp_from: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub smtp_smarthost: Option<String>,
    /// The name given in EHLO (default `localhost`).
    #[serde(default)]
    pub smtp_hello: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub smtp_auth_username: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub smtp_auth_password: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub smtp_auth_password_file: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub smtp_auth_secret: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub smtp_auth_identity: Option<String>,
    /// Whether STARTTLS is required (default true).
    #[serde(default)]
    pub smtp_require_tls: Option<bool>,
    /// Slack's incoming-webhook URL, for Slack receivers without their own.
    #[serde(default)]
    pub slack_api_url: Option<String>,
    /// A file holding it.
    #[serde(default)]
    pub slack_api_url_file: Option<String>,
    /// PagerDuty's Events API URL (default [`PAGERDUTY_URL`]).
    #[serde(default)]
    pub pagerduty_url: Option<String>,
    /// Opsgenie's API URL (default `https://api.opsgenie.com/`).
    #[serde(default)]
    pub opsgenie_api_url: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub opsgenie_api_key: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub opsgenie_api_key_file: Option<String>,
    /// WeChat's API URL (default `https://qyapi.weixin.qq.com/cgi-bin/`).
    #[serde(default)]
    pub wechat_api_url: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub wechat_api_secret: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub wechat_api_corp_id: Option<String>,
    /// VictorOps's API URL (default its generic REST endpoint).
    #[serde(default)]
    pub victorops_api_url: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub victorops_api_key: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub victorops_api_key_file: Option<String>,
    /// Telegram's Bot API URL (default `https://api.telegram.org`).
    #[serde(default)]
    pub telegram_api_url: Option<String>,
    /// Webex's messages URL (default `https://webexapis.com/v1/messages`).
    #[serde(default)]
    pub webex_api_url: Option<String>,
    /// Jira's API URL (newer than Alertmanager 0.25; no default).
    #[serde(default)]
    pub jira_api_url: Option<String>,
    /// Rocket.Chat's URL (newer than Alertmanager 0.25; default `https://open.rocket.chat/`).
    #[serde(default)]
    pub rocketchat_api_url: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub rocketchat_token: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub rocketchat_token_file: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub rocketchat_token_id: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub rocketchat_token_id_file: Option<String>,
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
    /// Matchers in Alertmanager's syntax, one or more a line: `severity="critical"`,
    /// `{team=~"net|p2p", env!=dev}`.
    #[serde(default)]
    pub matchers: Vec<String>,
    /// Equality matchers (older syntax).
    #[serde(default, rename = "match")]
    pub match_: BTreeMap<String, String>,
    /// Regex matchers (older syntax); a value must be given.
    #[serde(default, deserialize_with = "regex_map")]
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

/// `match_re`: a null value is refused, as Alertmanager refuses it (its regex would be
/// nil), rather than read as the empty regex.
fn regex_map<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, Option<String>>::deserialize(d)?;
    raw.into_iter()
        .map(|(k, v)| {
            v.map(|v| (k.clone(), v)).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "invalid regexp value for {k:?}: give a regular expression (\".*\" matches every value)"
                ))
            })
        })
        .collect()
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
    #[serde(default, deserialize_with = "regex_map")]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub source_match_re: BTreeMap<String, String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub target_match: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "regex_map")]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub target_match_re: BTreeMap<String, String>,
    /// Labels whose values must be equal in source and target.
    #[serde(default)]
    pub equal: Vec<String>,
}

/// A named set of time intervals.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalSet {
    /// Its name, which routes give.
    #[serde(default)]
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
    /// An IANA time zone (`Europe/Berlin`), `UTC` or `Local`; UTC if unset.
    #[serde(default)]
    pub location: Option<String>,
}

/// `start_time` to `end_time`, `HH:MM`, end excluded.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRange {
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub start_time: String,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub end_time: String,
}

/// Whether `name` is a label name as Alertmanager's configuration takes one
/// (`[a-zA-Z_][a-zA-Z0-9_]*`).
fn label_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses one matcher in Alertmanager's syntax: `name="value"`, `name=~"regex"`,
/// `name!=value`; the value may be unquoted, and `\"`, `\n` and `\\` are its escapes.
pub fn parse_matcher(text: &str) -> Result<Matcher, String> {
    let bad = || format!("bad matcher format: {text:?}; write name=\"value\", =~, != or !~");
    let t = text.trim_start();
    let name_len = t
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(t.len());
    let name = &t[..name_len];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(bad());
    }
    let rest = t[name_len..].trim_start();
    let (op, rest) = [
        ("=~", MatchOp::Regex),
        ("!~", MatchOp::NotRegex),
        ("!=", MatchOp::NotEqual),
        ("=", MatchOp::Equal),
    ]
    .iter()
    .find_map(|(s, op)| rest.strip_prefix(s).map(|r| (*op, r)))
    .ok_or_else(bad)?;
    let raw = rest.trim();
    let (inner, quoted) = match raw.strip_prefix('"') {
        Some(inner) => (inner, true),
        None => (raw, false),
    };
    let mut value = String::new();
    let mut closed = !quoted;
    let mut chars = inner.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if chars.peek().is_some() => {
                let (_, next) = chars.next().unwrap_or((0, '\\'));
                match next {
                    'n' => value.push('\n'),
                    '"' | '\\' => value.push(next),
                    other => {
                        value.push('\\');
                        value.push(other);
                    }
                }
            }
            '"' if quoted && i + 1 == inner.len() => closed = true,
            '"' => {
                return Err(format!(
                    "matcher {text:?}: the value contains an unescaped double quote; write \\\""
                ));
            }
            c => value.push(c),
        }
    }
    if !closed {
        return Err(format!("matcher {text:?}: the value's quote is not closed"));
    }
    Matcher::new(op, name, value).map_err(|e| format!("matcher {text:?}: {e}"))
}

/// Parses a line of matchers as Alertmanager does: comma-separated outside quotes, in
/// optional braces, a trailing comma allowed: `{severity="critical", team=~"db|net"}`.
pub fn parse_matchers(line: &str) -> Result<Vec<Matcher>, String> {
    let s = line.strip_prefix('{').unwrap_or(line);
    let s = s.strip_suffix('}').unwrap_or(s);
    let mut tokens = Vec::new();
    let (mut quoted, mut escaped, mut token) = (false, false, String::new());
    for c in s.chars() {
        match c {
            ',' if !quoted => {
                tokens.push(std::mem::take(&mut token));
                continue;
            }
            '"' if !escaped => quoted = !quoted,
            '"' => escaped = false,
            '\\' => escaped = !escaped,
            _ => escaped = false,
        }
        token.push(c);
    }
    if !token.trim().is_empty() {
        tokens.push(token.trim().to_owned());
    }
    tokens.iter().map(|t| parse_matcher(t)).collect()
}

/// All of a route's or rule's matchers, new and old syntax together.
pub fn matchers(
    new: &[String],
    equal: &BTreeMap<String, String>,
    regex: &BTreeMap<String, String>,
) -> Result<Vec<Matcher>, String> {
    let mut out = Vec::new();
    for line in new {
        out.extend(parse_matchers(line)?);
    }
    for k in equal.keys().chain(regex.keys()) {
        if !label_name(k) {
            return Err(format!(
                "invalid label name {k:?}: write letters, digits and _"
            ));
        }
    }
    for (k, v) in equal {
        out.push(Matcher::equal(k, v));
    }
    for (k, v) in regex {
        out.push(Matcher::new(MatchOp::Regex, k, v).map_err(|e| format!("match_re {k:?}: {e}"))?);
    }
    Ok(out)
}

impl Config {
    /// Reads and checks the file at `path`; template files and the files of `http_config`
    /// are taken relative to its directory, as Alertmanager takes them.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            message: format!("cannot read it: {e}"),
        })?;
        Self::parse(&text, &file)
    }

    /// Parses and checks a configuration; `file` names it in errors, and its directory is
    /// where template files and the files of `http_config` are found. Every integration
    /// Alertmanager knows is read, checked and sent to.
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        let error = |message: String| ConfigError {
            file: file.to_owned(),
            message,
        };
        let mut config: Config = yaml::from_str(text).map_err(|e| error(e.to_string()))?;
        config.validate(text).map_err(error)?;
        config.set_directory(Path::new(file).parent().unwrap_or(Path::new("")));
        Ok(config)
    }

    /// The named time intervals, both sections together.
    pub fn intervals(&self) -> impl Iterator<Item = &TimeIntervalSet> {
        self.time_intervals.iter().chain(&self.mute_time_intervals)
    }

    /// Makes relative template paths and `http_config` files relative to `dir`.
    fn set_directory(&mut self, dir: &Path) {
        for t in &mut self.templates {
            if !t.is_empty() && Path::new(t.as_str()).is_relative() {
                *t = dir.join(&*t).display().to_string();
            }
        }
        if let Some(h) = &mut self.global.http_config {
            h.set_directory(dir);
        }
        for r in &mut self.receivers {
            let clients = r
                .webhook_configs
                .iter_mut()
                .map(|c| &mut c.http_config)
                .chain(r.slack_configs.iter_mut().map(|c| &mut c.http_config))
                .chain(r.pagerduty_configs.iter_mut().map(|c| &mut c.http_config))
                .chain(r.opsgenie_configs.iter_mut().map(|c| &mut c.http_config))
                .chain(r.victorops_configs.iter_mut().map(|c| &mut c.http_config))
                .chain(r.pushover_configs.iter_mut().map(|c| &mut c.http_config))
                .chain(r.sns_configs.iter_mut().map(|c| &mut c.http_config))
                .chain(r.telegram_configs.iter_mut().map(|c| &mut c.http_config))
                .chain(r.discord_configs.iter_mut().map(|c| &mut c.http_config))
                .chain(r.webex_configs.iter_mut().map(|c| &mut c.http_config))
                .chain(r.wechat_configs.iter_mut().map(|c| &mut c.http_config))
                .chain(r.msteams_configs.iter_mut().map(|c| &mut c.http_config))
                .chain(r.jira_configs.iter_mut().map(|c| &mut c.http_config))
                .chain(r.rocketchat_configs.iter_mut().map(|c| &mut c.http_config));
            for h in clients.flatten() {
                h.set_directory(dir);
            }
        }
    }

    /// Checks the file as Alertmanager's loader does, and fills receivers' unset values
    /// from `global`.
    fn validate(&mut self, text: &str) -> Result<(), String> {
        check_route_node(&self.route)?;
        self.global
            .check()
            .map_err(|(key, e)| match line_of(text, key, None) {
                Some(line) => format!("line {line}: {e}"),
                None => e,
            })?;
        let mut names = BTreeSet::new();
        for (i, r) in self.receivers.iter_mut().enumerate() {
            let line = r.name.referenced.line();
            if !names.insert(r.name.value.clone()) {
                return Err(format!(
                    "line {line}: receiver {:?} is defined twice; receiver names must be unique",
                    r.name.value
                ));
            }
            r.check_and_fill(&format!("line {line}: receivers[{i}]"), &self.global)?;
        }
        let root = &self.route.value;
        let at = format!("line {}: route", self.route.referenced.line());
        if root.receiver.as_deref().is_none_or(str::is_empty) {
            return Err(format!(
                "{at}: the root route has no receiver; give it a default receiver"
            ));
        }
        if !root.matchers.is_empty() || !root.match_.is_empty() || !root.match_re.is_empty() {
            return Err(format!(
                "{at}: the root route cannot have matchers: every alert enters it"
            ));
        }
        if !root.mute_time_intervals.is_empty() || !root.active_time_intervals.is_empty() {
            return Err(format!(
                "{at}: the root route cannot have mute or active time intervals; give them to a child route"
            ));
        }
        if root.continue_ {
            return Err(format!(
                "{at}: the root route cannot have continue: there is no sibling to go on to"
            ));
        }
        let names: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        check_references(&self.route, &names, &BTreeSet::new(), false)?;
        let mut intervals = BTreeSet::new();
        for (section, sets) in [
            ("mute_time_intervals", &self.mute_time_intervals),
            ("time_intervals", &self.time_intervals),
        ] {
            for (i, set) in sets.iter().enumerate() {
                if set.name.is_empty() {
                    return Err(format!(
                        "{section}[{i}]: missing name in time interval; give it a name"
                    ));
                }
                if !intervals.insert(set.name.as_str()) {
                    return Err(format!(
                        "{section}[{i}]: time interval {:?} is not unique; rename one",
                        set.name
                    ));
                }
                for (j, interval) in set.time_intervals.iter().enumerate() {
                    crate::timeinterval::check(interval).map_err(|e| {
                        let line = line_of(text, "name", Some(&set.name))
                            .map_or_else(String::new, |l| format!("line {l}: "));
                        format!(
                            "{line}{section}[{i}] ({:?}).time_intervals[{j}]: {e}",
                            set.name
                        )
                    })?;
                }
            }
        }
        check_references(&self.route, &names, &intervals, true)?;
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
            if let Some(l) = rule.equal.iter().find(|l| !label_name(l)) {
                return Err(format!(
                    "inhibit_rules[{i}].equal: {l:?} is not a valid label name"
                ));
            }
        }
        Ok(())
    }
}

impl Global {
    /// Checks the URLs, the smarthost and the pairs of which one may be given; an error
    /// comes with the key it is about.
    fn check(&self) -> Result<(), (&'static str, String)> {
        use receivers::{check_host_port, check_url};
        for (key, url) in [
            ("pagerduty_url", &self.pagerduty_url),
            ("opsgenie_api_url", &self.opsgenie_api_url),
            ("wechat_api_url", &self.wechat_api_url),
            ("victorops_api_url", &self.victorops_api_url),
            ("telegram_api_url", &self.telegram_api_url),
            ("webex_api_url", &self.webex_api_url),
            ("jira_api_url", &self.jira_api_url),
            ("rocketchat_api_url", &self.rocketchat_api_url),
        ] {
            if let Some(url) = url {
                check_url(&format!("global.{key}"), url).map_err(|e| (key, e))?;
            }
        }
        if let Some(url) = &self.slack_api_url
            && url != "<secret>"
        {
            check_url("global.slack_api_url", url).map_err(|e| ("slack_api_url", e))?;
        }
        check_host_port(
            "global.smtp_smarthost",
            self.smtp_smarthost.as_deref().unwrap_or(""),
        )
        .map_err(|e| ("smtp_smarthost", e))?;
        let given = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
        for (a, a_set, b, b_set) in [
            (
                "slack_api_url",
                self.slack_api_url.is_some(),
                "slack_api_url_file",
                given(&self.slack_api_url_file),
            ),
            (
                "opsgenie_api_key",
                given(&self.opsgenie_api_key),
                "opsgenie_api_key_file",
                given(&self.opsgenie_api_key_file),
            ),
            (
                "victorops_api_key",
                given(&self.victorops_api_key),
                "victorops_api_key_file",
                given(&self.victorops_api_key_file),
            ),
            (
                "smtp_auth_password",
                given(&self.smtp_auth_password),
                "smtp_auth_password_file",
                given(&self.smtp_auth_password_file),
            ),
            (
                "rocketchat_token",
                self.rocketchat_token.is_some(),
                "rocketchat_token_file",
                given(&self.rocketchat_token_file),
            ),
            (
                "rocketchat_token_id",
                self.rocketchat_token_id.is_some(),
                "rocketchat_token_id_file",
                given(&self.rocketchat_token_id_file),
            ),
        ] {
            if a_set && b_set {
                return Err((
                    b,
                    format!("global: at most one of {a} & {b} must be configured; remove one"),
                ));
            }
        }
        if let Some(h) = &self.http_config {
            h.check()
                .map_err(|e| ("http_config", format!("global.http_config: {e}")))?;
        }
        Ok(())
    }
}

/// The line (from 1) of the first `key:` in `text`, as a mapping key or a list item's
/// first key, with `value` if given: where an error about a section that keeps no
/// positions points.
fn line_of(text: &str, key: &str, value: Option<&str>) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            let l = l.strip_prefix("- ").map_or(l, str::trim_start);
            l.strip_prefix(key)
                .and_then(|r| r.strip_prefix(':'))
                .is_some_and(|r| value.is_none_or(|v| r.trim().trim_matches(['"', '\'']) == v))
        })
        .map(|i| i + 1)
}

/// Checks a route and its children as Alertmanager reads each node: its matchers, its
/// `group_by` and its intervals.
fn check_route_node(route: &Spanned<Route>) -> Result<(), String> {
    let at = format!("line {}: route", route.referenced.line());
    let r = &route.value;
    matchers(&r.matchers, &r.match_, &r.match_re).map_err(|e| format!("{at}: {e}"))?;
    if let Some(g) = &r.group_by {
        let mut seen = BTreeSet::new();
        for l in g {
            if l == "..." {
                continue;
            }
            if !label_name(l) {
                return Err(format!("{at}: invalid label name {l:?} in group_by list"));
            }
            if !seen.insert(l) {
                return Err(format!("{at}: duplicated label {l:?} in group_by"));
            }
        }
        if g.iter().any(|l| l == "...") && !seen.is_empty() {
            return Err(format!(
                "{at}: group_by with '...' cannot list other labels at the same time"
            ));
        }
    }
    for (key, d) in [
        ("group_interval", r.group_interval),
        ("repeat_interval", r.repeat_interval),
    ] {
        if d == Some(Duration(0)) {
            return Err(format!("{at}: {key} cannot be zero"));
        }
    }
    r.routes.iter().try_for_each(check_route_node)
}

/// Checks that every receiver (or, with `check_intervals`, every time interval) a route
/// names is defined.
fn check_references(
    route: &Spanned<Route>,
    receivers: &BTreeSet<&str>,
    intervals: &BTreeSet<&str>,
    check_intervals: bool,
) -> Result<(), String> {
    let at = format!("line {}: route", route.referenced.line());
    let r = &route.value;
    if !check_intervals
        && let Some(name) = &r.receiver
        && !name.is_empty()
        && !receivers.contains(name.as_str())
    {
        return Err(format!(
            "{at}: receiver {name:?} is not defined under receivers"
        ));
    }
    if check_intervals {
        for name in r.mute_time_intervals.iter().chain(&r.active_time_intervals) {
            if !intervals.contains(name.as_str()) {
                return Err(format!(
                    "{at}: time interval {name:?} is not defined under time_intervals"
                ));
            }
        }
    }
    for child in &r.routes {
        check_references(child, receivers, intervals, check_intervals)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, "am.yml").map_err(|e| e.to_string())
    }

    #[test]
    fn nulls_are_zero_values_and_comment_only_routes_are_empty() {
        let c = parse(
            "global:\nroute:\n  receiver: a\n  group_by:\n  routes:\n    # - receiver: b\ninhibit_rules:\nreceivers:\n  - name: a\n    webhook_configs:\n      - url: http://h/x\n        http_config:\ntemplates:\n",
        )
        .unwrap();
        assert!(c.route.value.routes.is_empty());
        assert!(c.inhibit_rules.is_empty() && c.templates.is_empty());
        let http = c.receivers[0].webhook_configs[0]
            .http_config
            .as_ref()
            .unwrap();
        assert!(http.follow_redirects && http.enable_http2);
    }

    #[test]
    fn receivers_take_what_global_gives_as_alertmanager_fills_it() {
        let c = parse(
            "global:\n  smtp_smarthost: smtp:25\n  smtp_from: am@example.org\n  smtp_auth_username: u\n  smtp_auth_password_file: /p\n  slack_api_url: https://hooks.slack.com/x\n  http_config:\n    proxy_url: http://proxy:3128\nroute:\n  receiver: a\nreceivers:\n  - name: a\n    email_configs: [{to: x@example.org}]\n    slack_configs: [{channel: '#a'}]\n    pagerduty_configs: [{routing_key: k}]\n",
        )
        .unwrap();
        let r = &c.receivers[0];
        let e = &r.email_configs[0];
        assert_eq!(e.smarthost.as_deref(), Some("smtp:25"));
        assert_eq!(e.from.as_deref(), Some("am@example.org"));
        assert_eq!(e.hello.as_deref(), Some("localhost"));
        assert_eq!(e.require_tls, Some(true));
        assert_eq!(e.auth_password_file.as_deref(), Some("/p"));
        let s = &r.slack_configs[0];
        assert_eq!(s.api_url.as_deref(), Some("https://hooks.slack.com/x"));
        assert_eq!(
            s.http_config.as_ref().unwrap().proxy_url.as_deref(),
            Some("http://proxy:3128")
        );
        assert_eq!(r.pagerduty_configs[0].url.as_deref(), Some(PAGERDUTY_URL));
        assert!(!s.send_resolved && r.pagerduty_configs[0].send_resolved);
    }

    #[test]
    fn errors_name_the_line_the_field_and_alertmanagers_words() {
        for (text, want) in [
            (
                "route:\n  receiver: a\nreceivers:\n  - name: a\n    slack_configs:\n      - channel: '#x'\n",
                "line 4: receivers[0].slack_configs[0]: no global Slack API URL set",
            ),
            (
                "global:\n  smtp_from: a@b\n  smtp_smarthost: smtp.example.org\nroute:\n  receiver: a\nreceivers:\n  - name: a\n",
                "line 3: global.smtp_smarthost: address \"smtp.example.org\": missing port",
            ),
            (
                "route:\n  receiver: a\nreceivers:\n  - name: a\n    webhook_configs: [{url: 'example.org/hook'}]\n",
                "receivers[0].webhook_configs[0].url: unsupported scheme",
            ),
            (
                "route:\n  receiver: a\nreceivers:\n  - name: a\ntime_intervals:\n  - name: office\n    time_intervals:\n      - location: Mars/Base\n",
                "line 6: time_intervals[0] (\"office\").time_intervals[0]: location: unknown time zone",
            ),
            (
                "route:\n  receiver: a\n  routes:\n    - receiver: a\n      match_re: {x: }\nreceivers:\n  - name: a\n",
                "invalid regexp value for \"x\"",
            ),
            (
                "route:\n  receiver: a\n  continue: true\nreceivers:\n  - name: a\n",
                "line 2: route: the root route cannot have continue",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(want), "{want:?} not in {e}");
        }
    }

    #[test]
    fn newer_integrations_are_checked_as_the_newest_alertmanager_checks_them() {
        for (text, want) in [
            (
                "global:\n  rocketchat_token: t\n  rocketchat_token_file: /t\nroute:\n  receiver: a\nreceivers:\n  - name: a\n",
                "at most one of rocketchat_token & rocketchat_token_file must be configured",
            ),
            (
                "global:\n  rocketchat_token_id: t\n  rocketchat_token_id_file: /t\nroute:\n  receiver: a\nreceivers:\n  - name: a\n",
                "at most one of rocketchat_token_id & rocketchat_token_id_file must be configured",
            ),
            (
                "route:\n  receiver: a\nreceivers:\n  - name: a\n    jira_configs:\n      - {api_url: 'http://j', project: P, issue_type: Bug, summary: {templat: x}}\n",
                "line 6 column 70: unknown field `templat`, expected one of template, enable_update",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(want), "{want:?} not in {e}");
        }
    }

    #[test]
    fn a_line_of_matchers_holds_several() {
        let m =
            parse_matchers(r#"{severity="critical", team=~"db|net", msg="a, \"b\"",}"#).unwrap();
        let shown: Vec<String> = m
            .iter()
            .map(|m| format!("{}{}{}", m.name, m.op, m.value))
            .collect();
        assert_eq!(
            shown,
            ["severity=critical", "team=~db|net", r#"msg=a, "b""#]
        );
        assert!(parse_matchers("severity").is_err());
        assert!(parse_matchers(r#"a="b"c""#).is_err());
    }
}
