//! The dispatcher: alerts in (from rules or `POST /api/v2/alerts`), grouped by route and
//! `group_by`, muted by silences, inhibition and time intervals, and turned into
//! notifications on Alertmanager's schedule: `group_wait` before a new group's first,
//! `group_interval` between updates, `repeat_interval` before the same news again.
//!
//! Time is passed in (ms since the epoch), so the whole schedule is tested without
//! waiting; [`crate::notify`] runs it on a clock and sends.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::config::{Config, Receiver, matchers};
use crate::route::RouteNode;
use crate::silence::Silences;
use crate::timeinterval;

/// Labels or annotations.
pub type LabelSet = BTreeMap<String, String>;

/// An alert as Alertmanager keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Its identity.
    pub labels: LabelSet,
    /// Its texts.
    pub annotations: LabelSet,
    /// When it started, ms.
    pub starts_at: i64,
    /// When it ends or ended, ms; `None`: until `resolve_timeout` after its last update.
    pub ends_at: Option<i64>,
    /// Where it came from.
    pub generator_url: String,
    /// When it was last received, ms.
    pub updated_at: i64,
}

impl Alert {
    /// Whether it has ended by `now`.
    pub fn resolved(&self, now: i64) -> bool {
        self.ends_at.is_some_and(|e| e <= now)
    }
}

/// The fingerprint of a label set, as 16 hex digits (FNV-1a over the sorted pairs).
pub fn fingerprint(labels: &LabelSet) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in labels {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// One integration of a receiver, as Alertmanager's notification log names it: its kind,
/// its place among the receiver's integrations of that kind, and whether it is told of
/// resolved alerts (each kind has its own default, applied when the file is read).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Integration {
    /// `webhook`, `slack`, `pagerduty`, `email`...
    pub kind: &'static str,
    /// Its index among the receiver's `<kind>_configs`.
    pub index: usize,
    /// `send_resolved`, explicit or the kind's default.
    pub send_resolved: bool,
}

/// The integrations of a receiver, in Alertmanager's order of kinds.
pub fn integrations(r: &Receiver) -> Vec<Integration> {
    fn flags<T>(configs: &[T], send_resolved: fn(&T) -> bool) -> Vec<bool> {
        configs.iter().map(send_resolved).collect()
    }
    let kinds: [(&'static str, Vec<bool>); 15] = [
        ("webhook", flags(&r.webhook_configs, |c| c.send_resolved)),
        ("email", flags(&r.email_configs, |c| c.send_resolved)),
        (
            "pagerduty",
            flags(&r.pagerduty_configs, |c| c.send_resolved),
        ),
        ("opsgenie", flags(&r.opsgenie_configs, |c| c.send_resolved)),
        ("wechat", flags(&r.wechat_configs, |c| c.send_resolved)),
        ("slack", flags(&r.slack_configs, |c| c.send_resolved)),
        (
            "victorops",
            flags(&r.victorops_configs, |c| c.send_resolved),
        ),
        ("pushover", flags(&r.pushover_configs, |c| c.send_resolved)),
        ("sns", flags(&r.sns_configs, |c| c.send_resolved)),
        ("telegram", flags(&r.telegram_configs, |c| c.send_resolved)),
        ("discord", flags(&r.discord_configs, |c| c.send_resolved)),
        ("webex", flags(&r.webex_configs, |c| c.send_resolved)),
        ("msteams", flags(&r.msteams_configs, |c| c.send_resolved)),
        ("jira", flags(&r.jira_configs, |c| c.send_resolved)),
        (
            "rocketchat",
            flags(&r.rocketchat_configs, |c| c.send_resolved),
        ),
    ];
    kinds
        .into_iter()
        .flat_map(|(kind, flags)| {
            flags
                .into_iter()
                .enumerate()
                .map(move |(index, send_resolved)| Integration {
                    kind,
                    index,
                    send_resolved,
                })
        })
        .collect()
}

/// A notification to send: a group's alerts to one integration of one receiver.
#[derive(Debug, Clone)]
pub struct Notification {
    /// The receiver's configuration.
    pub receiver: Receiver,
    /// Which of its integrations this is for.
    pub integration: Integration,
    /// The group's key as Alertmanager makes it: `{route key}:{group labels}`, such as
    /// `{}/{team="db"}:{alertname="Down"}`.
    pub group_key: String,
    /// The group's labels.
    pub group_labels: LabelSet,
    /// The alerts the integration is sent: firing and resolved, or only the firing ones
    /// where `send_resolved` is false.
    pub alerts: Vec<Alert>,
    /// When it was made, ms.
    pub at: i64,
    /// The fingerprints of the group's firing and resolved alerts when it was made: what
    /// the notification log keeps once it is sent.
    firing_set: BTreeSet<String>,
    resolved_set: BTreeSet<String>,
    /// Its route's, for how long the log keeps it.
    repeat_interval: i64,
    /// The flush it belongs to.
    flush: u64,
}

impl Notification {
    /// How many alerts fire.
    pub fn firing(&self) -> usize {
        self.alerts.iter().filter(|a| !a.resolved(self.at)).count()
    }

    /// How many alerts are resolved.
    pub fn resolved(&self) -> usize {
        self.alerts.len() - self.firing()
    }

    /// Alertmanager's webhook payload (version 4), byte for byte in shape.
    pub fn webhook_json(&self, external_url: &str, max_alerts: usize) -> Value {
        let common = |pick: fn(&Alert) -> &LabelSet| -> LabelSet {
            let mut it = self.alerts.iter().map(pick);
            let Some(first) = it.next() else {
                return LabelSet::new();
            };
            let mut out = first.clone();
            for other in it {
                out.retain(|k, v| other.get(k) == Some(v));
            }
            out
        };
        let shown = if max_alerts > 0 {
            max_alerts.min(self.alerts.len())
        } else {
            self.alerts.len()
        };
        let alerts: Vec<Value> = self.alerts[..shown]
            .iter()
            .map(|a| {
                json!({
                    "status": if a.resolved(self.at) { "resolved" } else { "firing" },
                    "labels": a.labels,
                    "annotations": a.annotations,
                    "startsAt": model::format_rfc3339(a.starts_at),
                    "endsAt": a.ends_at.filter(|e| *e <= self.at).map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), model::format_rfc3339),
                    "generatorURL": a.generator_url,
                    "fingerprint": fingerprint(&a.labels),
                })
            })
            .collect();
        json!({
            "version": "4",
            "groupKey": self.group_key,
            "truncatedAlerts": self.alerts.len() - shown,
            "status": if self.firing() > 0 { "firing" } else { "resolved" },
            "receiver": self.receiver.name.value,
            "groupLabels": self.group_labels,
            "commonLabels": common(|a| &a.labels),
            "commonAnnotations": common(|a| &a.annotations),
            "externalURL": external_url,
            "alerts": alerts,
        })
    }
}

/// One aggregation group.
#[derive(Debug, Clone)]
struct Group {
    route: RouteNode,
    labels: LabelSet,
    alerts: BTreeSet<String>,
    next_flush: i64,
    /// Whether it has been flushed once: until then an alert that started more than
    /// `group_wait` ago makes it due at once.
    flushed: bool,
}

/// What the notification log remembers of the last notification one integration was
/// sent for one group (Alertmanager's `nflog` entry).
#[derive(Debug, Clone)]
struct Sent {
    firing: BTreeSet<String>,
    resolved: BTreeSet<String>,
    at: i64,
    /// When it is forgotten: twice the repeat interval after it was written.
    expires: i64,
}

/// A flush whose notifications are being sent: once all are, its resolved alerts leave
/// the group (as Alertmanager deletes them only after a successful notification).
#[derive(Debug, Clone)]
struct Pending {
    group: String,
    remaining: usize,
    failed: bool,
    /// The resolved alerts flushed, with their `updated_at` then: one updated since is
    /// news and stays.
    resolved: Vec<(String, i64)>,
}

/// Alerts, silences and groups.
#[derive(Debug)]
pub struct Dispatcher {
    config: Config,
    tree: RouteNode,
    /// Alerts by fingerprint.
    pub alerts: BTreeMap<String, Alert>,
    /// The silences.
    pub silences: Silences,
    groups: BTreeMap<String, Group>,
    /// The notification log: by group key, receiver and integration, what was last sent.
    sent: BTreeMap<(String, String, Integration), Sent>,
    pending: BTreeMap<u64, Pending>,
    flushes: u64,
    /// Where the notification log is kept across restarts, if anywhere.
    log_file: Option<std::path::PathBuf>,
}

/// One notification log entry as the file keeps it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SentRecord {
    group_key: String,
    receiver: String,
    integration: String,
    index: usize,
    send_resolved: bool,
    firing: BTreeSet<String>,
    resolved: BTreeSet<String>,
    at: i64,
    expires: i64,
}

/// Every kind of integration, for reading the notification log's file.
const KINDS: &[&str] = &[
    "discord",
    "email",
    "jira",
    "msteams",
    "opsgenie",
    "pagerduty",
    "pushover",
    "rocketchat",
    "slack",
    "sns",
    "telegram",
    "victorops",
    "webex",
    "webhook",
    "wechat",
];

/// Why an alert is not notified.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Muted {
    /// The ids of the silences that match it.
    pub silenced_by: Vec<String>,
    /// The fingerprints of the alerts that inhibit it.
    pub inhibited_by: Vec<String>,
}

impl Dispatcher {
    /// A dispatcher over a checked configuration.
    pub fn new(config: Config, silences: Silences) -> Self {
        let tree = RouteNode::tree(&config);
        Self {
            config,
            tree,
            alerts: BTreeMap::new(),
            silences,
            groups: BTreeMap::new(),
            sent: BTreeMap::new(),
            pending: BTreeMap::new(),
            flushes: 0,
            log_file: None,
        }
    }

    /// Keeps the notification log in `file` from now on, starting from what it holds (its
    /// entries not yet expired at `now`), as Alertmanager keeps its `nflog`: after a
    /// restart, what was already sent is not sent again before its repeat interval. A
    /// damaged file is an error naming it.
    pub fn keep_log(&mut self, file: &std::path::Path, now: i64) -> Result<(), String> {
        let records: Vec<SentRecord> = match std::fs::read_to_string(file) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                format!(
                    "{}: {e}; the notification log is damaged: remove the file to start afresh (what was sent may be sent again)",
                    file.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
        };
        for r in records {
            let Some(kind) = KINDS.iter().find(|k| **k == r.integration) else {
                continue;
            };
            if r.expires <= now {
                continue;
            }
            let integration = Integration {
                kind,
                index: r.index,
                send_resolved: r.send_resolved,
            };
            self.sent.insert(
                (r.group_key, r.receiver, integration),
                Sent {
                    firing: r.firing,
                    resolved: r.resolved,
                    at: r.at,
                    expires: r.expires,
                },
            );
        }
        self.log_file = Some(file.to_path_buf());
        Ok(())
    }

    /// Writes the notification log to its file, if it has one, whole (write and rename).
    fn save_log(&self) {
        let Some(file) = &self.log_file else {
            return;
        };
        let records: Vec<SentRecord> = self
            .sent
            .iter()
            .map(|((group_key, receiver, i), s)| SentRecord {
                group_key: group_key.clone(),
                receiver: receiver.clone(),
                integration: i.kind.to_owned(),
                index: i.index,
                send_resolved: i.send_resolved,
                firing: s.firing.clone(),
                resolved: s.resolved.clone(),
                at: s.at,
                expires: s.expires,
            })
            .collect();
        let tmp = file.with_extension("tmp");
        let written = serde_json::to_vec(&records)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, file));
        if let Err(e) = written {
            tracing::error!(file = %file.display(), error = %e, "cannot write the notification log");
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Takes a new configuration; groups start over, alerts and silences stay.
    pub fn reconfigure(&mut self, config: Config) {
        self.tree = RouteNode::tree(&config);
        self.config = config;
        self.groups.clear();
        let alerts: Vec<String> = self.alerts.keys().cloned().collect();
        for fp in alerts {
            self.place(&fp, 0);
        }
    }

    fn resolve_timeout(&self) -> i64 {
        self.config.global.resolve_timeout.map_or(300_000, |d| d.0)
    }

    /// Takes alerts as Alertmanager's API and Prometheus send them: a JSON list of
    /// `{labels, annotations, startsAt, endsAt, generatorURL}`. Returns how many were
    /// taken, or why the list is refused.
    pub fn receive_json(&mut self, body: &Value, now: i64) -> Result<usize, String> {
        let list = body.as_array().ok_or("alerts are a JSON list")?;
        let mut taken = Vec::new();
        for (i, a) in list.iter().enumerate() {
            let map = |k: &str| -> Result<LabelSet, String> {
                match a.get(k) {
                    None | Some(Value::Null) => Ok(LabelSet::new()),
                    Some(Value::Object(o)) => o
                        .iter()
                        .map(|(k2, v)| {
                            v.as_str()
                                .map(|s| (k2.clone(), s.to_owned()))
                                .ok_or_else(|| format!("alert {i}: {k}.{k2} is not a string"))
                        })
                        .collect(),
                    Some(_) => Err(format!("alert {i}: {k} is not an object")),
                }
            };
            let labels = map("labels")?;
            if labels.is_empty() {
                return Err(format!("alert {i} has no labels"));
            }
            let time = |k: &str| -> Result<Option<i64>, String> {
                match a.get(k).and_then(Value::as_str) {
                    None | Some("") | Some("0001-01-01T00:00:00Z") => Ok(None),
                    Some(t) => model::parse_rfc3339(t)
                        .map(Some)
                        .ok_or_else(|| format!("alert {i}: {k} {t:?} is not an RFC 3339 time")),
                }
            };
            taken.push(Alert {
                labels,
                annotations: map("annotations")?,
                starts_at: time("startsAt")?.unwrap_or(now),
                ends_at: time("endsAt")?,
                generator_url: a
                    .get("generatorURL")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                updated_at: now,
            });
        }
        let n = taken.len();
        for a in taken {
            self.put(a, now);
        }
        Ok(n)
    }

    /// Takes one alert: new, or an update of the one with its labels.
    pub fn put(&mut self, mut alert: Alert, now: i64) {
        let fp = fingerprint(&alert.labels);
        // Without an end, it resolves `resolve_timeout` after its last update.
        if alert.ends_at.is_none() {
            alert.ends_at = Some(now + self.resolve_timeout());
        }
        if let Some(old) = self.alerts.get(&fp)
            && !old.resolved(now)
        {
            // Still the same occurrence: it keeps its start.
            alert.starts_at = old.starts_at.min(alert.starts_at);
        }
        alert.updated_at = now;
        self.alerts.insert(fp.clone(), alert);
        self.place(&fp, now);
    }

    /// Puts an alert into the groups of every route it matches.
    fn place(&mut self, fp: &str, now: i64) {
        let Some(alert) = self.alerts.get(fp) else {
            return;
        };
        for route in self.tree.matches(&alert.labels) {
            let labels = route.group_labels(&alert.labels);
            // Groups are told apart by route (siblings may share a key) and labels.
            let id = format!("{}:{}", route.id, show(&labels));
            let group = self.groups.entry(id).or_insert_with(|| Group {
                route: route.clone(),
                labels,
                alerts: BTreeSet::new(),
                next_flush: now + route.group_wait,
                flushed: false,
            });
            group.alerts.insert(fp.to_owned());
            // As Alertmanager's aggregation group: before its first flush, an alert that
            // started more than `group_wait` ago is not made to wait any longer. Alerts
            // posted together are still batched, as one request is taken whole first.
            if !group.flushed && alert.starts_at + group.route.group_wait < now {
                group.next_flush = group.next_flush.min(now);
            }
        }
    }

    /// Why an alert is muted now, if it is.
    pub fn muted(&self, alert: &Alert, now: i64) -> Muted {
        let silenced_by = self.silences.matching(&alert.labels, now);
        let mut inhibited_by = Vec::new();
        for rule in &self.config.inhibit_rules {
            let (Ok(source), Ok(target)) = (
                matchers(
                    &rule.source_matchers,
                    &rule.source_match,
                    &rule.source_match_re,
                ),
                matchers(
                    &rule.target_matchers,
                    &rule.target_match,
                    &rule.target_match_re,
                ),
            ) else {
                continue;
            };
            let hits = |ms: &[model::Matcher], labels: &LabelSet| {
                ms.iter()
                    .all(|m| m.matches(labels.get(&m.name).map_or("", String::as_str)))
            };
            if !hits(&target, &alert.labels) {
                continue;
            }
            for (fp, source_alert) in &self.alerts {
                if source_alert.resolved(now) || source_alert.labels == alert.labels {
                    continue;
                }
                if hits(&source, &source_alert.labels)
                    && rule
                        .equal
                        .iter()
                        .all(|l| source_alert.labels.get(l) == alert.labels.get(l))
                {
                    inhibited_by.push(fp.clone());
                }
            }
        }
        Muted {
            silenced_by,
            inhibited_by,
        }
    }

    /// Whether a route's time intervals mute it at `now`.
    fn time_muted(&self, route: &RouteNode, now: i64) -> bool {
        let within = |name: &String| {
            self.config
                .intervals()
                .filter(|s| &s.name == name)
                .flat_map(|s| &s.time_intervals)
                .any(|i| timeinterval::contains(i, now))
        };
        route.mute_time_intervals.iter().any(within)
            || (!route.active_time_intervals.is_empty()
                && !route.active_time_intervals.iter().any(within))
    }

    /// The notifications due at `now`; groups that are due move on to their next flush.
    ///
    /// As Alertmanager's pipeline: a due group's alerts, less the muted ones, are offered
    /// to each integration of its receiver, and the notification log decides
    /// (`DedupStage`): an integration is notified when it has never been and something
    /// fires; when an alert fires that it was not told of; when everything it was told
    /// fired has resolved; when it wants resolved alerts and one resolved that it was
    /// not told of; or when `repeat_interval` has passed since it was last notified.
    /// Where `send_resolved` is false, resolved alerts are left out of what is sent, and
    /// news that only resolves is recorded as sent without sending. Each notification
    /// must be reported with [`Dispatcher::notified`].
    pub fn flush(&mut self, now: i64) -> Vec<Notification> {
        let mut out = Vec::new();
        // A group whose last flush is still being sent waits for it, as Alertmanager's
        // aggregation group flushes through the whole pipeline before its next turn: it is
        // flushed as soon as that one is done.
        let keys: Vec<String> = self
            .groups
            .iter()
            .filter(|(k, g)| g.next_flush <= now && !self.in_flight(k))
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            let Some(group) = self.groups.get_mut(&key) else {
                continue;
            };
            group.next_flush = now + group.route.group_interval;
            group.flushed = true;
            let group = group.clone();
            // Alerts forgotten meanwhile leave the group.
            let mut alerts: Vec<Alert> = group
                .alerts
                .iter()
                .filter_map(|fp| self.alerts.get(fp))
                .cloned()
                .collect();
            alerts.sort_by(alert_order);
            let resolved_now: Vec<(String, i64)> = alerts
                .iter()
                .filter(|a| a.resolved(now))
                .map(|a| (fingerprint(&a.labels), a.updated_at))
                .collect();
            let shown: Vec<Alert> = alerts
                .into_iter()
                .filter(|a| {
                    let m = self.muted(a, now);
                    m.silenced_by.is_empty() && m.inhibited_by.is_empty()
                })
                .collect();
            let firing_set: BTreeSet<String> = shown
                .iter()
                .filter(|a| !a.resolved(now))
                .map(|a| fingerprint(&a.labels))
                .collect();
            let resolved_set: BTreeSet<String> = shown
                .iter()
                .filter(|a| a.resolved(now))
                .map(|a| fingerprint(&a.labels))
                .collect();
            let receiver = self
                .config
                .receivers
                .iter()
                .find(|r| r.name.value == group.route.receiver)
                .cloned();
            let group_key = format!("{}:{}", group.route.key, show(&group.labels));
            self.flushes += 1;
            let flush = self.flushes;
            let mut sending = 0;
            if let Some(receiver) = receiver
                && !shown.is_empty()
                && !self.time_muted(&group.route, now)
            {
                for integration in integrations(&receiver) {
                    let log_key = (
                        group_key.clone(),
                        receiver.name.value.clone(),
                        integration.clone(),
                    );
                    let needed = match self.sent.get(&log_key) {
                        None => !firing_set.is_empty(),
                        Some(last) => {
                            !firing_set.is_subset(&last.firing)
                                || if firing_set.is_empty() {
                                    !last.firing.is_empty()
                                } else {
                                    (integration.send_resolved
                                        && !resolved_set.is_subset(&last.resolved))
                                        || last.at < now - group.route.repeat_interval
                                }
                        }
                    };
                    if !needed {
                        continue;
                    }
                    if !integration.send_resolved && firing_set.is_empty() {
                        // Nothing it wants: recorded as told, so that it is not told again.
                        self.sent.insert(
                            log_key,
                            Sent {
                                firing: firing_set.clone(),
                                resolved: resolved_set.clone(),
                                at: now,
                                expires: now + 2 * group.route.repeat_interval,
                            },
                        );
                        continue;
                    }
                    let alerts: Vec<Alert> = shown
                        .iter()
                        .filter(|a| integration.send_resolved || !a.resolved(now))
                        .cloned()
                        .collect();
                    sending += 1;
                    out.push(Notification {
                        receiver: receiver.clone(),
                        integration,
                        group_key: group_key.clone(),
                        group_labels: group.labels.clone(),
                        alerts,
                        at: now,
                        firing_set: firing_set.clone(),
                        resolved_set: resolved_set.clone(),
                        repeat_interval: group.route.repeat_interval,
                        flush,
                    });
                }
            }
            let pending = Pending {
                group: key.clone(),
                remaining: sending,
                failed: false,
                resolved: resolved_now,
            };
            if sending == 0 {
                self.settle(pending);
            } else {
                self.pending.insert(flush, pending);
            }
        }
        // The log forgets what expired.
        self.sent.retain(|_, s| s.expires >= now);
        // Alerts resolved long ago and in no group are forgotten.
        let in_groups: BTreeSet<&String> = self.groups.values().flat_map(|g| &g.alerts).collect();
        let old: Vec<String> = self
            .alerts
            .iter()
            .filter(|(fp, a)| {
                !in_groups.contains(fp) && a.ends_at.is_some_and(|e| now - e > 3_600_000)
            })
            .map(|(fp, _)| fp.clone())
            .collect();
        for fp in old {
            self.alerts.remove(&fp);
        }
        out
    }

    /// Records the outcome of sending `n`, at `now`: once sent, the notification log
    /// remembers what it said; once every notification of its flush is sent, the
    /// resolved alerts it carried leave their group. After a failure they stay, and the
    /// next flush offers them again.
    pub fn notified(&mut self, n: &Notification, sent: bool, now: i64) {
        if sent {
            self.sent.insert(
                (
                    n.group_key.clone(),
                    n.receiver.name.value.clone(),
                    n.integration.clone(),
                ),
                Sent {
                    firing: n.firing_set.clone(),
                    resolved: n.resolved_set.clone(),
                    at: now,
                    expires: now + 2 * n.repeat_interval,
                },
            );
            self.save_log();
        }
        let Some(p) = self.pending.get_mut(&n.flush) else {
            return;
        };
        p.remaining = p.remaining.saturating_sub(1);
        p.failed |= !sent;
        if p.remaining == 0
            && let Some(p) = self.pending.remove(&n.flush)
        {
            self.settle(p);
        }
    }

    /// Ends a flush: unless a notification failed, its resolved alerts not updated since
    /// leave the group, and a group left empty is removed.
    fn settle(&mut self, p: Pending) {
        let Some(group) = self.groups.get_mut(&p.group) else {
            return;
        };
        if !p.failed {
            for (fp, updated_at) in &p.resolved {
                if self
                    .alerts
                    .get(fp)
                    .is_none_or(|a| a.updated_at == *updated_at)
                {
                    group.alerts.remove(fp);
                }
            }
        }
        group.alerts.retain(|fp| self.alerts.contains_key(fp));
        if group.alerts.is_empty() {
            self.groups.remove(&p.group);
        }
    }

    /// When the next group is due, ms (a group whose last flush is being sent is due when
    /// that is done).
    pub fn next_due(&self) -> Option<i64> {
        self.groups
            .iter()
            .filter(|(k, _)| !self.in_flight(k))
            .map(|(_, g)| g.next_flush)
            .min()
    }

    /// Whether the notifications of group `key`'s last flush are still being sent.
    fn in_flight(&self, key: &str) -> bool {
        self.pending.values().any(|p| p.group == key)
    }

    /// The receivers and group labels each alert is in, for the API.
    pub fn receivers_of(&self, fp: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .groups
            .values()
            .filter(|g| g.alerts.contains(fp))
            .map(|g| g.route.receiver.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Alertmanager's order of a notification's alerts: by `job`, then `instance` (an alert
/// with the label before one without), then by label set (fewer labels first, then the
/// first differing value in the order of the names of both).
fn alert_order(a: &Alert, b: &Alert) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for key in ["job", "instance"] {
        match (a.labels.get(key), b.labels.get(key)) {
            (None, None) => continue,
            (None, Some(_)) => return Ordering::Greater,
            (Some(_), None) => return Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    if a.labels.len() != b.labels.len() {
        return a.labels.len().cmp(&b.labels.len());
    }
    let names: BTreeSet<&String> = a.labels.keys().chain(b.labels.keys()).collect();
    for name in names {
        match (a.labels.get(name), b.labels.get(name)) {
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    Ordering::Equal
}

/// `{a="b", c="d"}`, as Alertmanager writes group labels in a group key: each pair
/// `name="value"` (the value quoted as Go's `%q` does), sorted as strings (so `a1="x"`
/// comes before `a="x"`), joined by a comma and a space.
fn show(labels: &LabelSet) -> String {
    let mut pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    pairs.sort();
    format!("{{{}}}", pairs.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::silence::{Silence, SilenceMatcher};

    const CONFIG: &str = r#"
global:
  resolve_timeout: 5m
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 1h
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [node]
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:1/hook
"#;

    fn alert(name: &str, node: &str, severity: &str, ends: Option<i64>) -> Alert {
        Alert {
            labels: LabelSet::from([
                ("alertname".into(), name.into()),
                ("node".into(), node.into()),
                ("severity".into(), severity.into()),
            ]),
            annotations: LabelSet::from([("summary".into(), format!("{node} {name}"))]),
            starts_at: 0,
            ends_at: ends,
            generator_url: String::new(),
            updated_at: 0,
        }
    }

    fn dispatcher() -> Dispatcher {
        Dispatcher::new(
            Config::parse(CONFIG, "am.yml").unwrap(),
            Silences::default(),
        )
    }

    fn names(ns: &[Notification]) -> Vec<(String, usize, usize)> {
        ns.iter()
            .map(|n| {
                let key = n.group_labels.get("alertname").cloned().unwrap_or_default();
                (key, n.firing(), n.alerts.len() - n.firing())
            })
            .collect()
    }

    /// Flushes at `now` and reports every notification sent at once, as the service does.
    fn send(d: &mut Dispatcher, now: i64) -> Vec<Notification> {
        let out = d.flush(now);
        for n in &out {
            d.notified(n, true, now);
        }
        out
    }

    /// What `send` sent, by integration: `(kind, firing, resolved)`.
    fn kinds(ns: &[Notification]) -> Vec<(&'static str, usize, usize)> {
        let mut out: Vec<_> = ns
            .iter()
            .map(|n| (n.integration.kind, n.firing(), n.resolved()))
            .collect();
        out.sort();
        out
    }

    fn with_config(text: &str) -> Dispatcher {
        Dispatcher::new(Config::parse(text, "am.yml").unwrap(), Silences::default())
    }

    /// A webhook and a Slack receiver with `send_resolved` unset: Alertmanager's
    /// defaults are true for the webhook, false for Slack.
    const BOTH: &str = r#"
route:
  receiver: both
  group_by: [alertname]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 1h
receivers:
  - name: both
    webhook_configs:
      - url: http://127.0.0.1:1/hook
    slack_configs:
      - api_url: http://127.0.0.1:1/slack
"#;

    #[test]
    fn groups_wait_then_update_at_their_interval_and_repeat_late() {
        let mut d = dispatcher();
        d.put(alert("Down", "n1", "critical", None), 0);
        assert!(send(&mut d, 5_000).is_empty(), "group_wait is 10 s");
        assert_eq!(names(&send(&mut d, 10_000)), [("Down".into(), 1, 0)]);
        // A second alert of the group waits for the group interval.
        d.put(alert("Down", "n2", "critical", None), 20_000);
        assert!(send(&mut d, 30_000).is_empty());
        assert_eq!(names(&send(&mut d, 70_000)), [("Down".into(), 2, 0)]);
        // Nothing new: nothing until the repeat interval has passed since it was sent
        // (at 70 s), at the first flush after that (3 670 s + a group interval).
        for t in (130_000..=3_670_000).step_by(60_000) {
            d.put(alert("Down", "n1", "critical", None), t);
            d.put(alert("Down", "n2", "critical", None), t);
            assert!(send(&mut d, t).is_empty(), "{t}");
        }
        d.put(alert("Down", "n1", "critical", None), 3_730_000);
        d.put(alert("Down", "n2", "critical", None), 3_730_000);
        assert_eq!(names(&send(&mut d, 3_730_000)), [("Down".into(), 2, 0)]);
        // Resolved: the next flush says so, then the group is gone.
        d.put(alert("Down", "n1", "critical", Some(3_740_000)), 3_740_000);
        d.put(alert("Down", "n2", "critical", Some(3_740_000)), 3_740_000);
        assert_eq!(names(&send(&mut d, 3_790_000)), [("Down".into(), 0, 2)]);
        assert!(send(&mut d, 3_850_000).is_empty());
        assert_eq!(d.next_due(), None);
    }

    /// A time within the first hour of 1970 in RFC 3339, as Prometheus writes
    /// `startsAt` and `endsAt`.
    fn rfc3339(ms: i64) -> String {
        let s = ms / 1000;
        format!("1970-01-01T00:{:02}:{:02}Z", s / 60, s % 60)
    }

    /// An HA pair (docs/ha.md): two servers with the same rules, their `replica` external
    /// label dropped by `alert_relabel_configs`, each send the same alert every
    /// evaluation (15 s), seven seconds apart, with starts seven seconds apart (each saw
    /// it begin at its own evaluation) and their own generator URLs. The router keeps one
    /// alert and sends one notification, not one per replica, and none again before the
    /// repeat interval (1 h); when both say it resolved, one resolution.
    #[test]
    fn an_ha_pair_sending_the_same_alert_gives_one_notification() {
        let mut d = dispatcher();
        let post = |d: &mut Dispatcher, replica: &str, starts: i64, now: i64, ends: i64| {
            let body = json!([{
                "labels": {"alertname": "Down", "node": "n1", "severity": "critical"},
                "annotations": {"summary": "n1 Down"},
                "startsAt": rfc3339(starts),
                "endsAt": rfc3339(ends),
                "generatorURL": format!("http://skywatch-{replica}:9797/graph"),
            }]);
            assert_eq!(d.receive_json(&body, now), Ok(1));
        };
        let mut sent = Vec::new();
        for t in (0..600_000).step_by(15_000) {
            // Prometheus's endsAt for a firing alert: a few evaluations ahead.
            post(&mut d, "a", 0, t, t + 60_000);
            sent.extend(send(&mut d, t + 3_000));
            post(&mut d, "b", 7_000, t + 7_000, t + 67_000);
            sent.extend(send(&mut d, t + 10_000));
        }
        assert_eq!(d.alerts.len(), 1, "one alert, not one per replica");
        assert_eq!(names(&sent), [("Down".into(), 1, 0)]);
        // Both see it end; the router sends the resolution once.
        post(&mut d, "a", 0, 600_000, 600_000);
        post(&mut d, "b", 7_000, 607_000, 607_000);
        let mut resolved = Vec::new();
        for t in (610_000..=800_000).step_by(10_000) {
            resolved.extend(send(&mut d, t));
        }
        assert_eq!(names(&resolved), [("Down".into(), 0, 1)]);
    }

    /// Without the relabelling, the replicas' alerts differ by `replica` and are two
    /// alerts, as in Alertmanager: grouped by alertname they still go out in one
    /// notification, but it lists the alert twice (docs/ha.md says to drop the label).
    #[test]
    fn an_ha_pair_keeping_its_replica_label_sends_both_alerts_in_one_group() {
        let mut d = dispatcher();
        for replica in ["a", "b"] {
            let body = json!([{
                "labels": {"alertname": "Down", "node": "n1", "replica": replica},
                "startsAt": rfc3339(0),
            }]);
            assert_eq!(d.receive_json(&body, 0), Ok(1));
        }
        assert_eq!(d.alerts.len(), 2);
        assert_eq!(names(&send(&mut d, 10_000)), [("Down".into(), 2, 0)]);
    }

    #[test]
    fn a_group_is_not_flushed_again_while_its_last_flush_is_being_sent() {
        let mut d = dispatcher();
        d.put(alert("Down", "n1", "critical", None), 0);
        let first = d.flush(10_000);
        assert_eq!(names(&first), [("Down".into(), 1, 0)]);
        // The delivery takes longer than the group interval (60 s): the group waits, and
        // what is sent meanwhile is not sent twice.
        d.put(alert("Down", "n1", "critical", None), 60_000);
        assert!(d.flush(75_000).is_empty(), "still being sent");
        assert_eq!(d.next_due(), None);
        for n in &first {
            d.notified(n, true, 80_000);
        }
        assert_eq!(d.next_due(), Some(70_000), "due at once");
        assert!(d.flush(80_000).is_empty(), "already sent: not news");
    }

    #[test]
    fn what_was_sent_is_not_sent_again_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nflog.json");
        let mut d = dispatcher();
        d.keep_log(&file, 0).unwrap();
        d.put(alert("Down", "n1", "critical", None), 0);
        assert_eq!(names(&send(&mut d, 10_000)), [("Down".into(), 1, 0)]);
        // A restart: the alert comes again (as Prometheus resends it), and is not news
        // until the repeat interval (1 h) has passed since it was sent.
        let mut d = dispatcher();
        d.keep_log(&file, 20_000).unwrap();
        d.put(alert("Down", "n1", "critical", None), 20_000);
        assert!(send(&mut d, 30_000).is_empty(), "sent before the restart");
        d.put(alert("Down", "n1", "critical", None), 3_690_000);
        assert_eq!(names(&send(&mut d, 3_700_000)), [("Down".into(), 1, 0)]);
        // Without the log, it would have been sent again at once.
        let mut d = dispatcher();
        d.put(alert("Down", "n1", "critical", None), 20_000);
        assert_eq!(names(&send(&mut d, 30_000)), [("Down".into(), 1, 0)]);
        // Expired entries are not read; a damaged file says what to do.
        let mut d = dispatcher();
        d.keep_log(&file, 100_000_000).unwrap();
        d.put(alert("Down", "n1", "critical", None), 100_000_000);
        assert_eq!(names(&send(&mut d, 100_010_000)).len(), 1);
        std::fs::write(&file, "{").unwrap();
        let e = dispatcher().keep_log(&file, 0).unwrap_err();
        assert!(
            e.contains("nflog.json") && e.contains("remove the file"),
            "{e}"
        );
    }

    #[test]
    fn silences_and_inhibition_mute_and_say_why() {
        let mut d = dispatcher();
        let id = d
            .silences
            .upsert(
                Silence {
                    id: String::new(),
                    matchers: vec![SilenceMatcher {
                        name: "node".into(),
                        value: "n9".into(),
                        is_regex: false,
                        is_equal: true,
                    }],
                    starts_at: 0,
                    ends_at: 1_000_000,
                    updated_at: 0,
                    created_by: "ops".into(),
                    comment: "maintenance".into(),
                },
                0,
            )
            .unwrap();
        d.put(alert("Down", "n9", "critical", None), 0);
        d.put(alert("Lag", "n1", "warning", None), 0);
        d.put(alert("Down", "n1", "critical", None), 0);
        let silenced = d.muted(&alert("Down", "n9", "critical", None), 1);
        assert_eq!(silenced.silenced_by, [id]);
        let inhibited = d.muted(&alert("Lag", "n1", "warning", None), 1);
        assert_eq!(inhibited.inhibited_by.len(), 1);
        // Only n1's critical alert goes out: n9's is silenced, n1's warning inhibited.
        let sent = send(&mut d, 10_000);
        assert_eq!(names(&sent), [("Down".into(), 1, 0)]);
        assert_eq!(sent[0].alerts[0].labels["node"], "n1");
        let body = sent[0].webhook_json("http://sky", 0);
        assert_eq!(body["version"], "4");
        assert_eq!(body["status"], "firing");
        assert_eq!(body["receiver"], "hook");
        assert_eq!(body["groupLabels"]["alertname"], "Down");
        assert_eq!(body["commonAnnotations"]["summary"], "n1 Down");
        assert_eq!(body["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
        assert_eq!(body["alerts"][0]["fingerprint"].as_str().unwrap().len(), 16);
    }

    #[test]
    fn posted_alerts_are_checked() {
        let mut d = dispatcher();
        let e = d
            .receive_json(&serde_json::json!([{"labels": {}}]), 0)
            .unwrap_err();
        assert!(e.contains("no labels"), "{e}");
        let e = d
            .receive_json(
                &serde_json::json!([{"labels": {"a": "b"}, "startsAt": "yesterday"}]),
                0,
            )
            .unwrap_err();
        assert!(
            e.contains("startsAt \"yesterday\" is not an RFC 3339 time"),
            "{e}"
        );
        assert_eq!(
            d.receive_json(&serde_json::json!([{"labels": {"alertname": "X"}}]), 0),
            Ok(1)
        );
        // Without an end, it ends resolve_timeout (5m) after its last update.
        assert_eq!(d.alerts.values().next().unwrap().ends_at, Some(300_000));
    }

    #[test]
    fn after_a_resolution_what_still_fires_is_not_repeated_early() {
        let mut d = dispatcher();
        d.put(alert("Down", "n1", "critical", None), 0);
        d.put(alert("Down", "n2", "critical", None), 0);
        assert_eq!(names(&send(&mut d, 10_000)), [("Down".into(), 2, 0)]);
        d.put(alert("Down", "n2", "critical", Some(20_000)), 20_000);
        assert_eq!(names(&send(&mut d, 70_000)), [("Down".into(), 1, 1)]);
        // n2 has left the group; n1 alone is no news until the repeat interval (1 h after
        // 70 s), though the set differs from the last one sent.
        for t in (130_000..=3_670_000).step_by(60_000) {
            d.put(alert("Down", "n1", "critical", None), t);
            assert!(send(&mut d, t).is_empty(), "{t}");
        }
        d.put(alert("Down", "n1", "critical", None), 3_730_000);
        assert_eq!(names(&send(&mut d, 3_730_000)), [("Down".into(), 1, 0)]);
    }

    #[test]
    fn send_resolved_unset_is_each_integrations_default() {
        let mut d = with_config(BOTH);
        d.put(alert("Down", "n1", "critical", None), 0);
        d.put(alert("Down", "n2", "critical", None), 0);
        d.put(alert("Down", "n3", "critical", None), 0);
        assert_eq!(
            kinds(&send(&mut d, 10_000)),
            [("slack", 3, 0), ("webhook", 3, 0)]
        );
        // One resolves: the webhook is told (and the headline counts 2 firing, 1
        // resolved); Slack, which does not want resolved alerts and sees nothing new
        // firing, is not.
        d.put(alert("Down", "n3", "critical", Some(20_000)), 20_000);
        let sent = send(&mut d, 70_000);
        assert_eq!(kinds(&sent), [("webhook", 2, 1)]);
        let body = sent[0].webhook_json("http://sky", 0);
        assert_eq!(body["status"], "firing");
        assert_eq!(body["alerts"][2]["status"], "resolved");
        // A new one fires: Slack is told, without the resolved alert; both are.
        d.put(alert("Down", "n4", "critical", None), 80_000);
        d.put(alert("Down", "n2", "critical", Some(80_000)), 80_000);
        let sent = send(&mut d, 130_000);
        assert_eq!(kinds(&sent), [("slack", 2, 0), ("webhook", 2, 1)]);
        // All resolve: the webhook gets the resolved group, Slack nothing, and neither
        // hears of the group again.
        d.put(alert("Down", "n1", "critical", Some(140_000)), 140_000);
        d.put(alert("Down", "n4", "critical", Some(140_000)), 140_000);
        assert_eq!(kinds(&send(&mut d, 190_000)), [("webhook", 0, 2)]);
        assert!(send(&mut d, 250_000).is_empty());
        assert_eq!(d.next_due(), None);
    }

    #[test]
    fn a_group_seen_only_resolved_is_not_sent() {
        let mut d = with_config(BOTH);
        d.put(alert("Down", "n1", "critical", Some(1_000)), 2_000);
        assert!(send(&mut d, 12_000).is_empty());
        assert_eq!(d.next_due(), None, "the group is gone once flushed");
    }

    #[test]
    fn alerts_that_started_long_ago_do_not_wait_for_group_wait() {
        // As Alertmanager 0.25's aggregation group (dispatch.go, `insert`): before the
        // first flush, an alert whose start is more than group_wait ago makes the group
        // due at once; those taken in the same request are in that first notification.
        let mut d = dispatcher();
        let old = |node: &str| {
            let mut a = alert("Down", node, "critical", None);
            a.starts_at = 1_000_000 - 3_600_000;
            a
        };
        d.put(old("n1"), 1_000_000);
        d.put(old("n2"), 1_000_000);
        assert_eq!(d.next_due(), Some(1_000_000));
        assert_eq!(names(&send(&mut d, 1_000_000)), [("Down".into(), 2, 0)]);
        // After the first flush, a late one waits for the group interval.
        d.put(old("n3"), 1_001_000);
        assert_eq!(d.next_due(), Some(1_060_000));
        // An alert starting now waits for group_wait.
        let mut d = dispatcher();
        d.put(alert("Down", "n1", "critical", None), 0);
        assert_eq!(d.next_due(), Some(10_000));
    }

    #[test]
    fn a_failed_notification_is_offered_again_with_its_resolved_alerts() {
        let mut d = dispatcher();
        d.put(alert("Down", "n1", "critical", None), 0);
        let first = d.flush(10_000);
        d.notified(&first[0], false, 10_000);
        // Not logged as sent: the next flush tries again.
        assert_eq!(names(&send(&mut d, 70_000)), [("Down".into(), 1, 0)]);
        d.put(alert("Down", "n1", "critical", Some(80_000)), 80_000);
        let second = d.flush(130_000);
        assert_eq!(names(&second), [("Down".into(), 0, 1)]);
        d.notified(&second[0], false, 130_000);
        // The resolved alert stayed in the group after the failure: the next flush has
        // it again, and once sent, the group is done.
        let third = d.flush(190_000);
        assert_eq!(names(&third), [("Down".into(), 0, 1)]);
        d.notified(&third[0], true, 190_000);
        assert_eq!(d.next_due(), None);
        // A receiver never told of an alert is not told it resolved.
        let mut d = dispatcher();
        d.put(alert("Down", "n1", "critical", None), 0);
        let first = d.flush(10_000);
        d.notified(&first[0], false, 10_000);
        d.put(alert("Down", "n1", "critical", Some(20_000)), 20_000);
        assert!(send(&mut d, 70_000).is_empty());
    }

    #[test]
    fn group_keys_are_alertmanagers() {
        let text = r#"
route:
  receiver: r
  group_by: [alertname, a1, a]
  routes:
    - matchers: ['team="db"', 'env=~"prod|staging"']
      routes:
        - matchers: ['quote="say \"hi\""']
receivers:
  - name: r
    webhook_configs:
      - url: http://127.0.0.1:1/hook
"#;
        let mut d = with_config(text);
        let labels = LabelSet::from([
            ("alertname".into(), "Down".into()),
            ("a".into(), "x".into()),
            ("a1".into(), "y".into()),
            ("team".into(), "db".into()),
            ("env".into(), "prod".into()),
            ("quote".into(), "say \"hi\"".into()),
        ]);
        d.put(
            Alert {
                labels,
                annotations: LabelSet::new(),
                starts_at: 0,
                ends_at: None,
                generator_url: String::new(),
                updated_at: 0,
            },
            0,
        );
        let sent = send(&mut d, 30_000);
        // Pairs sorted as strings: `a1="y"` before `a="x"` (Go's LabelSet.String).
        assert_eq!(
            sent[0].group_key,
            r#"{}/{env=~"prod|staging",team="db"}/{quote="say \"hi\""}:{a1="y", a="x", alertname="Down"}"#
        );
        assert_eq!(
            sent[0].webhook_json("http://sky", 0)["groupKey"],
            sent[0].group_key.as_str()
        );
    }

    #[test]
    fn alerts_are_in_alertmanagers_order() {
        let a = |labels: &[(&str, &str)]| Alert {
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            annotations: LabelSet::new(),
            starts_at: 0,
            ends_at: None,
            generator_url: String::new(),
            updated_at: 0,
        };
        let mut list = [
            a(&[("alertname", "B"), ("x", "1"), ("y", "1")]),
            a(&[("alertname", "Z")]),
            a(&[("alertname", "A"), ("instance", "i2")]),
            a(&[("alertname", "A"), ("instance", "i1")]),
            a(&[("alertname", "A"), ("job", "j")]),
        ];
        list.sort_by(alert_order);
        let shown: Vec<String> = list.iter().map(|a| show(&a.labels)).collect();
        assert_eq!(
            shown,
            [
                r#"{alertname="A", job="j"}"#,
                r#"{alertname="A", instance="i1"}"#,
                r#"{alertname="A", instance="i2"}"#,
                r#"{alertname="Z"}"#,
                r#"{alertname="B", x="1", y="1"}"#,
            ]
        );
    }
}
