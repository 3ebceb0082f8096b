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

/// A notification to send: a group's alerts to one receiver.
#[derive(Debug, Clone)]
pub struct Notification {
    /// The receiver's configuration.
    pub receiver: Receiver,
    /// The group's key, `{route}:{group labels}`.
    pub group_key: String,
    /// The group's labels.
    pub group_labels: LabelSet,
    /// The alerts, firing and resolved.
    pub alerts: Vec<Alert>,
    /// When it was made, ms.
    pub at: i64,
    /// A hash of what it says: the same news is not sent again before `repeat_interval`.
    pub digest: String,
}

impl Notification {
    /// How many alerts fire.
    pub fn firing(&self) -> usize {
        self.alerts.iter().filter(|a| !a.resolved(self.at)).count()
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
    /// When news was last sent, and its digest.
    last_sent: Option<(i64, String)>,
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
}

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
            let key = format!("{}:{}", route.id, show(&labels));
            let group = self
                .groups
                .entry(format!("{key}\u{0}{}", route.receiver))
                .or_insert_with(|| Group {
                    route: route.clone(),
                    labels,
                    alerts: BTreeSet::new(),
                    next_flush: now + route.group_wait,
                    last_sent: None,
                });
            group.alerts.insert(fp.to_owned());
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
    pub fn flush(&mut self, now: i64) -> Vec<Notification> {
        let mut out = Vec::new();
        let keys: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, g)| g.next_flush <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            let Some(group) = self.groups.get(&key).cloned() else {
                continue;
            };
            let mut alerts: Vec<Alert> = group
                .alerts
                .iter()
                .filter_map(|fp| self.alerts.get(fp))
                .filter(|a| {
                    let m = self.muted(a, now);
                    m.silenced_by.is_empty() && m.inhibited_by.is_empty()
                })
                .cloned()
                .collect();
            alerts.sort_by(|a, b| a.labels.cmp(&b.labels));
            let Some(g) = self.groups.get_mut(&key) else {
                continue;
            };
            g.next_flush = now + g.route.group_interval;
            let firing: Vec<String> = alerts
                .iter()
                .filter(|a| !a.resolved(now))
                .map(|a| fingerprint(&a.labels))
                .collect();
            let resolved: Vec<String> = alerts
                .iter()
                .filter(|a| a.resolved(now))
                .map(|a| fingerprint(&a.labels))
                .collect();
            // Resolved alerts leave the group once reported (or at once when muted).
            let gone: Vec<String> = g
                .alerts
                .iter()
                .filter(|fp| self.alerts.get(*fp).is_none_or(|a| a.resolved(now)))
                .cloned()
                .collect();
            let digest = format!("f:{}|r:{}", firing.join(","), resolved.join(","));
            let repeat = g.route.repeat_interval;
            let news = match &g.last_sent {
                None => !firing.is_empty(),
                Some((at, d)) => {
                    *d != digest && !(firing.is_empty() && resolved.is_empty())
                        || (!firing.is_empty() && now - at >= repeat)
                }
            };
            for fp in &gone {
                g.alerts.remove(fp);
            }
            let receiver_name = g.route.receiver.clone();
            let group_labels = g.labels.clone();
            let route_id = g.route.id.clone();
            let empty = g.alerts.is_empty();
            if news && !self.time_muted(&group.route, now) && !alerts.is_empty() {
                if let Some(g) = self.groups.get_mut(&key) {
                    g.last_sent = Some((now, digest.clone()));
                }
                if let Some(receiver) = self
                    .config
                    .receivers
                    .iter()
                    .find(|r| r.name.value == receiver_name)
                {
                    out.push(Notification {
                        receiver: receiver.clone(),
                        group_key: format!("{}:{}", route_id, show(&group_labels)),
                        group_labels,
                        alerts,
                        at: now,
                        digest,
                    });
                }
            }
            if empty {
                self.groups.remove(&key);
            }
        }
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

    /// When the next group is due, ms.
    pub fn next_due(&self) -> Option<i64> {
        self.groups.values().map(|g| g.next_flush).min()
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

/// `{a="b", c="d"}`, as Alertmanager writes group labels in a group key.
fn show(labels: &LabelSet) -> String {
    format!(
        "{{{}}}",
        labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
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

    #[test]
    fn groups_wait_then_update_at_their_interval_and_repeat_late() {
        let mut d = dispatcher();
        d.put(alert("Down", "n1", "critical", None), 0);
        assert!(d.flush(5_000).is_empty(), "group_wait is 10 s");
        assert_eq!(names(&d.flush(10_000)), [("Down".into(), 1, 0)]);
        // A second alert of the group waits for the group interval.
        d.put(alert("Down", "n2", "critical", None), 20_000);
        assert!(d.flush(30_000).is_empty());
        assert_eq!(names(&d.flush(70_000)), [("Down".into(), 2, 0)]);
        // Nothing new: nothing until the repeat interval.
        d.put(alert("Down", "n1", "critical", None), 100_000);
        d.put(alert("Down", "n2", "critical", None), 100_000);
        assert!(d.flush(130_000).is_empty());
        for t in (190_000..3_600_000).step_by(60_000) {
            d.put(alert("Down", "n1", "critical", None), t);
            d.put(alert("Down", "n2", "critical", None), t);
            assert!(d.flush(t).is_empty(), "{t}");
        }
        d.put(alert("Down", "n1", "critical", None), 3_670_000);
        d.put(alert("Down", "n2", "critical", None), 3_670_000);
        assert_eq!(names(&d.flush(3_670_000)), [("Down".into(), 2, 0)]);
        // Resolved: the next flush says so, then the group is gone.
        d.put(alert("Down", "n1", "critical", Some(3_680_000)), 3_680_000);
        d.put(alert("Down", "n2", "critical", Some(3_680_000)), 3_680_000);
        assert_eq!(names(&d.flush(3_730_000)), [("Down".into(), 0, 2)]);
        assert!(d.flush(3_800_000).is_empty());
        assert_eq!(d.next_due(), None);
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
        let sent = d.flush(10_000);
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
}
