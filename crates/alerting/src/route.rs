//! The routing tree: which receivers an alert goes to, as Alertmanager decides. A route
//! matches if its matchers do; its children are tried in order, and the first that
//! matches ends the search unless it says `continue`; a route none of whose children
//! match is itself the match. Children inherit their parent's receiver, grouping and
//! timings.

use std::collections::BTreeMap;

use model::Matcher;

use crate::config::{Config, Route};

/// How a route groups alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// By these labels' values.
    Labels(Vec<String>),
    /// By every label (`...`): one group per alert.
    All,
}

/// A route with everything it inherits resolved.
#[derive(Debug, Clone)]
pub struct RouteNode {
    /// Where matching alerts go.
    pub receiver: String,
    /// How they are grouped.
    pub group_by: GroupBy,
    /// What an alert must match.
    pub matchers: Vec<Matcher>,
    /// Whether the search goes on after this route matched.
    pub continue_: bool,
    /// Timings in ms.
    pub group_wait: i64,
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub group_interval: i64,
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub repeat_interval: i64,
    /// Named intervals when it is muted, and outside which it is muted.
    pub mute_time_intervals: Vec<String>,
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub active_time_intervals: Vec<String>,
    /// Its children.
    pub routes: Vec<RouteNode>,
    /// Its place in the tree, `{}/{severity="critical"}/0`: what keys its groups.
    pub id: String,
    /// Alertmanager's key of the route, `{}/{severity="critical"}`: its ancestors' and its
    /// own matchers without the index, which group keys (and so PagerDuty's `dedup_key`
    /// and the webhook's `groupKey`) are made of. Sibling routes may share it.
    pub key: String,
}

impl RouteNode {
    /// The tree of a checked configuration.
    pub fn tree(config: &Config) -> Self {
        let defaults = RouteNode {
            receiver: String::new(),
            group_by: GroupBy::Labels(Vec::new()),
            matchers: Vec::new(),
            continue_: false,
            group_wait: 30_000,
            group_interval: 300_000,
            repeat_interval: 4 * 3_600_000,
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
            routes: Vec::new(),
            id: String::new(),
            key: String::new(),
        };
        Self::build(&config.route.value, &defaults, "", 0)
    }

    fn build(r: &Route, parent: &RouteNode, parent_id: &str, index: usize) -> Self {
        let matchers =
            crate::config::matchers(&r.matchers, &r.match_, &r.match_re).unwrap_or_default();
        // As Alertmanager writes a route's matchers: sorted by name.
        let mut shown: Vec<String> = matchers
            .iter()
            .map(|m| format!("{}{}{:?}", m.name, m.op, m.value))
            .collect();
        shown.sort();
        let shown = format!("{{{}}}", shown.join(","));
        let id = if parent_id.is_empty() {
            shown
        } else {
            format!("{parent_id}/{shown}/{index}")
        };
        let key = if parent_id.is_empty() {
            am_matchers(&matchers)
        } else {
            format!("{}/{}", parent.key, am_matchers(&matchers))
        };
        let mut node = RouteNode {
            receiver: r
                .receiver
                .clone()
                .unwrap_or_else(|| parent.receiver.clone()),
            group_by: match &r.group_by {
                Some(g) if g.iter().any(|l| l == "...") => GroupBy::All,
                Some(g) => GroupBy::Labels(g.clone()),
                None => parent.group_by.clone(),
            },
            matchers,
            continue_: r.continue_,
            group_wait: r.group_wait.map_or(parent.group_wait, |d| d.0),
            group_interval: r.group_interval.map_or(parent.group_interval, |d| d.0),
            repeat_interval: r.repeat_interval.map_or(parent.repeat_interval, |d| d.0),
            mute_time_intervals: r.mute_time_intervals.clone(),
            active_time_intervals: r.active_time_intervals.clone(),
            routes: Vec::new(),
            id,
            key,
        };
        node.routes = r
            .routes
            .iter()
            .enumerate()
            .map(|(i, c)| Self::build(&c.value, &node, &node.id, i))
            .collect();
        node
    }

    /// Whether this route's own matchers accept `labels`.
    fn accepts(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matchers
            .iter()
            .all(|m| m.matches(labels.get(&m.name).map_or("", String::as_str)))
    }

    /// The routes an alert with `labels` goes to, in order.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> Vec<&RouteNode> {
        if !self.accepts(labels) {
            return Vec::new();
        }
        let mut all = Vec::new();
        for child in &self.routes {
            let found = child.matches(labels);
            let matched = !found.is_empty();
            all.extend(found);
            if matched && !child.continue_ {
                break;
            }
        }
        if all.is_empty() {
            all.push(self);
        }
        all
    }

    /// The group key labels of `labels` under this route.
    pub fn group_labels(&self, labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        match &self.group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => names
                .iter()
                .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
        }
    }
}

/// A route's matchers as Alertmanager writes them in its key: sorted by name, value and
/// operator, each `name<op>"value"` with only `\\`, `"` and newlines escaped, joined by
/// commas without spaces.
fn am_matchers(matchers: &[Matcher]) -> String {
    let rank = |op: model::MatchOp| match op {
        model::MatchOp::Equal => 0,
        model::MatchOp::NotEqual => 1,
        model::MatchOp::Regex => 2,
        model::MatchOp::NotRegex => 3,
    };
    let mut sorted: Vec<&Matcher> = matchers.iter().collect();
    sorted.sort_by(|a, b| {
        (a.name.as_str(), a.value.as_str(), rank(a.op)).cmp(&(
            b.name.as_str(),
            b.value.as_str(),
            rank(b.op),
        ))
    });
    let shown: Vec<String> = sorted
        .iter()
        .map(|m| {
            let value = m
                .value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{}{}\"{value}\"", m.name, m.op)
        })
        .collect();
    format!("{{{}}}", shown.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
route:
  receiver: default
  group_by: [alertname]
  group_wait: 10s
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      continue: true
      group_by: ['...']
    - matchers: ['severity=~"critical|warning"', 'component="p2p"']
      receiver: net-team
      repeat_interval: 1h
      routes:
        - match: { node: node-00 }
          receiver: owner
    - match_re:
        severity: info|none
      receiver: quiet
receivers:
  - name: default
  - name: pager
  - name: net-team
  - name: owner
  - name: quiet
"#;

    fn route(labels: &[(&str, &str)]) -> Vec<String> {
        let config = Config::parse(CONFIG, "am.yml").unwrap();
        let tree = RouteNode::tree(&config);
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        tree.matches(&labels)
            .into_iter()
            .map(|r| r.receiver.clone())
            .collect()
    }

    #[test]
    fn alerts_go_where_alertmanager_sends_them() {
        assert_eq!(
            route(&[("severity", "critical"), ("component", "p2p")]),
            ["pager", "net-team"]
        );
        assert_eq!(
            route(&[
                ("severity", "warning"),
                ("component", "p2p"),
                ("node", "node-00")
            ]),
            ["owner"]
        );
        assert_eq!(route(&[("severity", "none")]), ["quiet"]);
        assert_eq!(route(&[("severity", "warning")]), ["default"]);
        assert_eq!(route(&[]), ["default"]);
    }

    #[test]
    fn children_inherit_and_group() {
        let config = Config::parse(CONFIG, "am.yml").unwrap();
        let tree = RouteNode::tree(&config);
        let net = &tree.routes[1];
        assert_eq!((net.group_wait, net.repeat_interval), (10_000, 3_600_000));
        assert_eq!(net.routes[0].repeat_interval, 3_600_000);
        assert_eq!(
            net.routes[0].group_by,
            GroupBy::Labels(vec!["alertname".into()])
        );
        assert_eq!(tree.routes[0].group_by, GroupBy::All);
        assert_eq!(
            net.routes[0].id,
            r#"{}/{component="p2p",severity=~"critical|warning"}/1/{node="node-00"}/0"#
        );
    }

    #[test]
    fn a_bad_configuration_names_its_line_and_what_is_wrong() {
        for (text, want) in [
            (
                "route:\n  receiver: nobody\nreceivers:\n  - name: a\n",
                "line 2: route: receiver \"nobody\" is not defined",
            ),
            (
                "route:\n  receiver: a\n  routes:\n    - matchers: ['sev=~\"(\"']\nreceivers:\n  - name: a\n",
                "line 4: route: matcher",
            ),
            (
                "route:\n  receiver: a\nreceivers:\n  - name: a\n  - name: a\n",
                "receiver \"a\" is defined twice",
            ),
            (
                "route:\n  receiver: a\n  group_wait: soon\nreceivers:\n  - name: a\n",
                "\"soon\" is not a duration",
            ),
            (
                "route:\n  receiver: a\n  routes:\n    - mute_time_intervals: [nights]\nreceivers:\n  - name: a\n",
                "time interval \"nights\" is not defined",
            ),
        ] {
            let e = Config::parse(text, "am.yml").unwrap_err().to_string();
            assert!(e.contains(want), "{want:?} not in {e}");
        }
    }
}
