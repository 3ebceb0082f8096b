//! What the seed documents (`../shared/seeds/`, the users' own requirements) name, held
//! against what Skywatch ships for their network's profile: every alert rule, dashboard
//! panel and metric family a seed names by name must be there. Each is read from the seed
//! itself, not copied into this test: the JSON dashboards and the rule file of VirtEngine's
//! 003, the metric catalog and the dashboards' key panels of COINjecture's 004, and the
//! alert list of ZeroState's 000. The metric families are read from the exposition of a
//! simulated node of the profile. A table of what was found is printed
//! (`cargo test -p skywatch --test seed_coverage -- --nocapture`).

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]
#![allow(
    clippy::print_stderr,
    reason = "the coverage table is printed for the record"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn seed(name: &str) -> String {
    let path = root().join("../shared/seeds").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e} (the repository's ../shared/seeds is needed)",
            path.display()
        )
    })
}

/// The fenced blocks of `lang` in a Markdown text.
fn fenced<'a>(text: &'a str, lang: &str) -> Vec<&'a str> {
    let open = format!("```{lang}\n");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&open) {
        let body = &rest[start + open.len()..];
        let end = body.find("```").unwrap_or(body.len());
        out.push(&body[..end]);
        rest = &body[end..];
        rest = rest.get(3..).unwrap_or("");
    }
    out
}

/// Every dashboard of the repository's `dashboards/<dir>`, by uid.
fn shipped_dashboards(dir: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    // A directory not there yet ships nothing: every item then shows as missing.
    let entries = std::fs::read_dir(root().join("dashboards").join(dir));
    for e in entries.into_iter().flatten() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "json") {
            let d: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            out.insert(d["uid"].as_str().unwrap_or_default().to_owned(), d);
        }
    }
    out
}

/// Each panel of a dashboard in order, rows' collapsed panels included: title and
/// expressions.
fn panels(dashboard: &Value) -> Vec<(String, Vec<String>)> {
    fn walk(list: &Value, out: &mut Vec<(String, Vec<String>)>) {
        for p in list.as_array().into_iter().flatten() {
            let exprs = p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["expr"].as_str())
                .map(squash)
                .collect();
            out.push((p["title"].as_str().unwrap_or_default().to_owned(), exprs));
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// An expression with its white space squashed, to compare texts.
fn squash(expr: &str) -> String {
    expr.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every alert of the repository's `rules/<dir>`: name and expression.
fn shipped_alerts(dir: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let entries = std::fs::read_dir(root().join("rules").join(dir));
    for e in entries.into_iter().flatten() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "yml") {
            let f: Value = yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            for g in f["groups"].as_array().into_iter().flatten() {
                for r in g["rules"].as_array().into_iter().flatten() {
                    if let Some(name) = r["alert"].as_str() {
                        out.insert(name.to_owned(), squash(r["expr"].as_str().unwrap_or("")));
                    }
                }
            }
        }
    }
    out
}

/// The sample names a node of `profile` exposes, and their histogram and counter family
/// names.
fn exposed(profile: netsim::Profile) -> BTreeSet<String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let net = netsim::Network::start(netsim::Options {
            nodes: 3,
            tick: std::time::Duration::from_secs(3600),
            profile,
            ..netsim::Options::default()
        })
        .await
        .unwrap();
        for _ in 0..30 {
            net.advance(1.0);
        }
        let mut names = BTreeSet::new();
        for (_, text) in net.expositions() {
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                let name = line.split(['{', ' ']).next().unwrap_or_default();
                names.insert(name.to_owned());
                for suffix in ["_bucket", "_sum", "_count", "_total", "_created"] {
                    if let Some(family) = name.strip_suffix(suffix) {
                        names.insert(family.to_owned());
                    }
                }
            }
        }
        names
    })
}

/// The metric names an expression reads: identifiers not followed by `(` that are not
/// PromQL keywords, nor label names inside braces or the lists of `by`, `on`...
fn metric_names(expr: &str) -> BTreeSet<String> {
    // Operators and keywords, aggregations among them (`sum by (x) (...)`).
    const BINARY: [&str; 19] = [
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "group",
        "limitk",
        "limit_ratio",
    ];
    const LISTS: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let mut out = BTreeSet::new();
    let bytes = expr.as_bytes();
    let (mut i, mut braces, mut in_list) = (0, 0, false);
    let word_char = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let close = expr[i + 1..].find('"').map_or(expr.len(), |e| i + 1 + e);
                i = close + 1;
            }
            b'{' => {
                braces += 1;
                i += 1;
            }
            b'}' => {
                braces -= 1;
                i += 1;
            }
            b')' => {
                in_list = false;
                i += 1;
            }
            b if b.is_ascii_digit() || b == b'.' => {
                // A number or a duration.
                while i < bytes.len() && (word_char(bytes[i]) || bytes[i] == b'.') {
                    i += 1;
                }
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let start = i;
                while i < bytes.len() && word_char(bytes[i]) {
                    i += 1;
                }
                let word = &expr[start..i];
                let next = expr[i..].trim_start().chars().next();
                if LISTS.contains(&word) {
                    in_list = next == Some('(');
                } else if !BINARY.contains(&word) && braces == 0 && !in_list && next != Some('(') {
                    out.insert(word.to_owned());
                }
            }
            _ => i += 1,
        }
    }
    out
}

#[derive(Default)]
struct Coverage {
    rows: Vec<(String, String, String, String)>,
    missing: Vec<String>,
}

impl Coverage {
    fn row(&mut self, seed: &str, kind: &str, named: &str, found: Option<String>) {
        match found {
            Some(how) => self
                .rows
                .push((seed.into(), kind.into(), named.into(), how)),
            None => {
                self.rows
                    .push((seed.into(), kind.into(), named.into(), "MISSING".into()));
                self.missing.push(format!("{seed}: {kind} {named}"));
            }
        }
    }
}

#[test]
fn every_alert_panel_and_metric_family_the_seeds_name_is_shipped() {
    let mut cov = Coverage::default();

    // ZeroState (000): the 25 alerts of its list, by name.
    let zs = seed("000_4d0efe75bc71593c.txt");
    let zs_alerts = shipped_alerts("node-network");
    let mut in_list = false;
    for line in zs.lines() {
        if line.starts_with('#') || line.starts_with("**") {
            in_list = line.starts_with("#### ") && line.contains("Alerts");
            continue;
        }
        // `- LowPeerConnections (< 3 for 5m) - Warning`
        if in_list
            && let Some((name, _)) = line.strip_prefix("- ").and_then(|l| l.split_once(" ("))
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            cov.row(
                "000 ZeroState",
                "alert",
                name,
                zs_alerts.contains_key(name).then(|| "shipped".into()),
            );
        }
    }

    // VirtEngine (003): the dashboards' panels and their queries, and the rule file.
    let ve = seed("003_1ad4bb8bf87fa1d3.txt");
    let ve_dashboards = shipped_dashboards("virtengine");
    let ve_metrics = exposed(netsim::Profile::VirtEngine);
    let mut named_metrics = BTreeSet::new();
    for block in fenced(&ve, "json") {
        let text: String = block
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let d: Value = serde_json::from_str(&text).unwrap();
        let uid = d["uid"].as_str().unwrap();
        let shipped = ve_dashboards.get(uid).map(panels).unwrap_or_default();
        for (title, exprs) in panels(&d) {
            named_metrics.extend(exprs.iter().flat_map(|e| metric_names(e)));
            let found = shipped.iter().find(|(t, _)| *t == title).map(|(_, ours)| {
                if exprs.iter().all(|e| ours.contains(e)) {
                    format!("{uid}, same queries")
                } else {
                    format!("{uid}, queries changed: {ours:?}")
                }
            });
            cov.row(
                "003 VirtEngine",
                "panel",
                &format!("{} / {title}", d["title"].as_str().unwrap()),
                found,
            );
        }
    }
    let ve_alerts = shipped_alerts("virtengine");
    for block in fenced(&ve, "yaml") {
        let Ok(f) = yaml::from_str::<Value>(block) else {
            continue;
        };
        for g in f["groups"].as_array().into_iter().flatten() {
            for r in g["rules"].as_array().into_iter().flatten() {
                let name = r["alert"].as_str().unwrap();
                let expr = squash(r["expr"].as_str().unwrap());
                named_metrics.extend(metric_names(&expr));
                let found = ve_alerts.get(name).map(|ours| {
                    if *ours == expr {
                        "same expression".to_owned()
                    } else {
                        format!("expression changed: {ours}")
                    }
                });
                cov.row("003 VirtEngine", "alert", name, found);
            }
        }
    }
    for m in &named_metrics {
        cov.row(
            "003 VirtEngine",
            "metric",
            m,
            ve_metrics.contains(m).then(|| "exposed".into()),
        );
    }

    // COINjecture (004): the metric catalog and each dashboard's key panels.
    let cj = seed("004_293c54ac615d527d.txt");
    let cj_metrics = exposed(netsim::Profile::Coinjecture);
    for line in cj.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() > 3
            && let Some(name) = cells[1].strip_prefix('`').and_then(|c| c.strip_suffix('`'))
            && ["Counter", "Gauge", "Histogram"].contains(&cells[2])
        {
            cov.row(
                "004 COINjecture",
                "metric",
                name,
                cj_metrics.contains(name).then(|| "exposed".into()),
            );
        }
    }
    let cj_dashboards = shipped_dashboards("coinjecture");
    let mut uid = "";
    for line in cj.lines() {
        if let Some(h) = line.strip_prefix("### ") {
            uid = match h {
                _ if h.contains("Platform Overview") => "coinjecture-overview",
                _ if h.contains("Parity Validation") => "coinjecture-parity",
                _ if h.contains("Security & Compliance") => "coinjecture-security",
                _ => "",
            };
            continue;
        }
        if !uid.is_empty()
            && let Some(title) = line.strip_prefix("- **").and_then(|l| l.split("**").next())
        {
            let shipped = cj_dashboards.get(uid).map(panels).unwrap_or_default();
            let found = shipped
                .iter()
                .any(|(t, _)| t.eq_ignore_ascii_case(title))
                .then(|| uid.to_owned());
            cov.row("004 COINjecture", "panel", title, found);
        }
    }
    let cj_alerts = shipped_alerts("coinjecture");
    let p0 = cj_alerts.len();
    cov.row(
        "004 COINjecture",
        "alerts",
        "50+ alert rules",
        (p0 >= 50).then(|| format!("{p0} shipped")),
    );

    eprintln!("| seed | kind | named | shipped |\n|---|---|---|---|");
    for (s, k, n, f) in &cov.rows {
        eprintln!("| {s} | {k} | {n} | {f} |");
    }
    assert!(
        cov.missing.is_empty(),
        "named by the seeds but not shipped:\n{}",
        cov.missing.join("\n")
    );
}

#[test]
fn metric_names_are_read_from_expressions_without_functions_labels_or_keywords() {
    let names = metric_names(
        r#"sum by (le, operation) (rate(a_bucket{x="y"}[5m])) / on (node) group_left b > 0 and c"#,
    );
    assert_eq!(
        names,
        BTreeSet::from(["a_bucket".into(), "b".into(), "c".into()])
    );
}
