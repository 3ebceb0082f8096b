//! Network-relative health: each node compared to the rest of the network rather than to
//! a fixed threshold, and to the inventory of the nodes that should exist.
//!
//! One settings file (`--network-health.config`, docs/network-health.md) names the metrics
//! (the label that names a node, the height, the peer count, `up`), the windows and the
//! thresholds, and the inventory (inline, or file_sd target files or plain lists of
//! names). From it comes one rule group, `skywatch-network-health`, of plain Prometheus
//! rules: recording rules that reduce each metric to one series per node, and the alerts
//! (`NodeHeightBehindNetwork`, `NodeHeadStalled`, `NetworkHeadStalled`,
//! `NodePeerCountOutlier`, `NodeBlockRateOutlier`, `ExpectedNodeAbsent`,
//! `UnexpectedNodePresent`). `skywatch network-health rules FILE` prints it; the server runs
//! it beside the other rules and generates it again when the settings or the inventory
//! change ([`NetworkHealth`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Deserialize;
use yaml::Spanned;

/// The group's name.
pub(crate) const GROUP: &str = "skywatch-network-health";

/// Every alert of the group, in the order it has them.
#[cfg(test)]
pub(crate) const ALERTS: [&str; 7] = [
    "NodeHeightBehindNetwork",
    "NodeHeadStalled",
    "NetworkHeadStalled",
    "NodePeerCountOutlier",
    "NodeBlockRateOutlier",
    "ExpectedNodeAbsent",
    "UnexpectedNodePresent",
];

/// The runbook of each alert of the group, served at `/runbooks/<Alert>`: `(alert, text)`.
pub(crate) const RUNBOOKS: [(&str, &str); 7] = [
    (
        "NodeHeightBehindNetwork",
        include_str!("../../../docs/runbooks/network-health/NodeHeightBehindNetwork.md"),
    ),
    (
        "NodeHeadStalled",
        include_str!("../../../docs/runbooks/network-health/NodeHeadStalled.md"),
    ),
    (
        "NetworkHeadStalled",
        include_str!("../../../docs/runbooks/network-health/NetworkHeadStalled.md"),
    ),
    (
        "NodePeerCountOutlier",
        include_str!("../../../docs/runbooks/network-health/NodePeerCountOutlier.md"),
    ),
    (
        "NodeBlockRateOutlier",
        include_str!("../../../docs/runbooks/network-health/NodeBlockRateOutlier.md"),
    ),
    (
        "ExpectedNodeAbsent",
        include_str!("../../../docs/runbooks/network-health/ExpectedNodeAbsent.md"),
    ),
    (
        "UnexpectedNodePresent",
        include_str!("../../../docs/runbooks/network-health/UnexpectedNodePresent.md"),
    ),
];

/// The runbook of a network-health alert.
pub(crate) fn runbook(alert: &str) -> Option<&'static str> {
    RUNBOOKS
        .iter()
        .find(|(a, _)| *a == alert)
        .map(|(_, text)| *text)
}

/// `/runbooks/{name}` for the group's alerts alone, for a server without the demo's.
pub(crate) fn runbook_router() -> axum::Router {
    use axum::extract::Path;
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    axum::Router::new().route(
        "/runbooks/{name}",
        axum::routing::get(|Path(name): Path<String>| async move {
            match runbook(name.trim_end_matches(".md")) {
                Some(text) => {
                    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
                }
                None => (
                    StatusCode::NOT_FOUND,
                    format!("no runbook for {name:?}; these are the network-health alerts'\n"),
                )
                    .into_response(),
            }
        }),
    )
}

/// The settings, read and checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    /// The label that names a node on every series.
    pub(crate) node_label: String,
    /// PromQL: the chain height, one series per node.
    pub(crate) height: String,
    /// PromQL: the peer count, one series per node; without it, no peer alert.
    pub(crate) peers: Option<String>,
    /// PromQL: 1 when a node is scraped, one series per node.
    pub(crate) up: String,
    /// The look-back of the comparisons, in milliseconds.
    pub(crate) window: i64,
    /// How long a condition holds before its alert fires, in milliseconds.
    pub(crate) for_: i64,
    /// A node further behind the network's highest (and its median) than this is behind.
    pub(crate) max_lag_blocks: f64,
    /// The robust z-score past which a node is an outlier.
    pub(crate) outlier_z: f64,
    /// An outlier also differs from the median by more than this share of it.
    pub(crate) outlier_min_ratio: f64,
    /// An outlier also differs from the median by more than this (peers, blocks).
    pub(crate) outlier_min_difference: f64,
    /// The nodes that should exist; `None` when there is no inventory.
    pub(crate) inventory: Option<Inventory>,
}

/// Where the expected nodes are listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Inventory {
    /// Files of names: file_sd target groups (the node label taken from their labels) or
    /// a plain list of names, YAML or JSON.
    pub(crate) files: Vec<PathBuf>,
    /// Names given inline.
    pub(crate) nodes: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            node_label: "node".to_owned(),
            height: String::new(),
            peers: None,
            up: "up".to_owned(),
            window: 2 * 60_000,
            for_: 2 * 60_000,
            max_lag_blocks: 5.0,
            outlier_z: 3.5,
            outlier_min_ratio: 0.25,
            outlier_min_difference: 1.0,
            inventory: None,
        }
    }
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    node_label: Option<Spanned<String>>,
    height: Option<Spanned<String>>,
    peers: Option<Spanned<String>>,
    up: Option<Spanned<String>>,
    window: Option<Spanned<String>>,
    #[serde(rename = "for")]
    for_: Option<Spanned<String>>,
    max_lag_blocks: Option<Spanned<f64>>,
    outlier_z: Option<Spanned<f64>>,
    outlier_min_ratio: Option<Spanned<f64>>,
    outlier_min_difference: Option<Spanned<f64>>,
    inventory: Option<RawInventory>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInventory {
    #[serde(default)]
    files: Vec<Spanned<String>>,
    #[serde(default)]
    nodes: Vec<Spanned<String>>,
}

/// Whether `name` is a Prometheus label name.
fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

/// Reads settings: `file` names them in errors, and inventory files are relative to
/// `dir`. An error names the file, the line and the field.
pub(crate) fn parse(text: &str, file: &str, dir: &Path) -> Result<Settings, String> {
    let raw: Raw = yaml::from_str(text).map_err(|e| format!("{file}: {e}"))?;
    let mut s = Settings::default();
    let at = |line: u64, field: &str, what: String| format!("{file}:{line}: {field}: {what}");
    if let Some(l) = raw.node_label {
        if !is_label_name(&l.value) {
            return Err(at(
                l.referenced.line(),
                "node_label",
                format!("{:?} is not a label name", l.value),
            ));
        }
        s.node_label = l.value;
    }
    let expr = |field: &str, v: &Spanned<String>| -> Result<String, String> {
        let text = v.value.trim().to_owned();
        if text.is_empty() {
            return Err(at(v.referenced.line(), field, "is empty".to_owned()));
        }
        promql::ast::parse(&text).map_err(|e| {
            at(
                v.referenced.line(),
                field,
                format!("{text:?} is not PromQL: {e}"),
            )
        })?;
        Ok(text)
    };
    match &raw.height {
        Some(h) => s.height = expr("height", h)?,
        None => {
            return Err(format!(
                "{file}: height: missing; give the PromQL of the chain height, one series per node \
                 (for example chain_block_height)"
            ));
        }
    }
    if let Some(p) = &raw.peers {
        s.peers = Some(expr("peers", p)?);
    }
    if let Some(u) = &raw.up {
        s.up = expr("up", u)?;
    }
    let duration = |field: &str, v: &Spanned<String>| -> Result<i64, String> {
        match model::parse_duration(v.value.trim()) {
            Some(ms) if ms > 0 => Ok(ms),
            _ => Err(at(
                v.referenced.line(),
                field,
                format!(
                    "{:?} is not a duration: write a number and a unit, such as 30s or 2m",
                    v.value
                ),
            )),
        }
    };
    if let Some(w) = &raw.window {
        s.window = duration("window", w)?;
    }
    if let Some(f) = &raw.for_ {
        s.for_ = duration("for", f)?;
    }
    let number = |field: &str, v: &Spanned<f64>, min: f64| -> Result<f64, String> {
        if v.value.is_finite() && v.value >= min {
            Ok(v.value)
        } else {
            Err(at(
                v.referenced.line(),
                field,
                format!(
                    "{} is out of range: give a number of at least {min}",
                    v.value
                ),
            ))
        }
    };
    if let Some(v) = &raw.max_lag_blocks {
        s.max_lag_blocks = number("max_lag_blocks", v, 0.0)?;
    }
    if let Some(v) = &raw.outlier_z {
        s.outlier_z = number("outlier_z", v, 0.0)?;
    }
    if let Some(v) = &raw.outlier_min_ratio {
        s.outlier_min_ratio = number("outlier_min_ratio", v, 0.0)?;
    }
    if let Some(v) = &raw.outlier_min_difference {
        s.outlier_min_difference = number("outlier_min_difference", v, 0.0)?;
    }
    if let Some(inv) = raw.inventory {
        let mut inventory = Inventory::default();
        for f in inv.files {
            if f.value.trim().is_empty() {
                return Err(at(
                    f.referenced.line(),
                    "inventory.files",
                    "a file name is empty".to_owned(),
                ));
            }
            inventory.files.push(dir.join(f.value.trim()));
        }
        for n in inv.nodes {
            if n.value.is_empty() {
                return Err(at(
                    n.referenced.line(),
                    "inventory.nodes",
                    "a node name is empty".to_owned(),
                ));
            }
            inventory.nodes.push(n.value);
        }
        s.inventory = Some(inventory);
    }
    Ok(s)
}

/// Reads a settings file.
pub(crate) fn load(path: &Path) -> Result<Settings, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(
        &text,
        &path.display().to_string(),
        path.parent().unwrap_or(Path::new(".")),
    )
}

/// The names an inventory file lists: file_sd target groups (each group's `label`
/// label) or plain names, YAML or JSON.
pub(crate) fn read_inventory_file(path: &Path, label: &str) -> Result<Vec<String>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("inventory {}: {e}", path.display()))?;
    let entries: Vec<Spanned<serde_json::Value>> =
        yaml::from_str(&text).map_err(|e| format!("inventory {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let line = entry.referenced.line();
        match &entry.value {
            serde_json::Value::String(name) if !name.is_empty() => out.push(name.clone()),
            serde_json::Value::Object(group) => match group
                .get("labels")
                .and_then(|l| l.get(label))
                .and_then(|v| v.as_str())
            {
                Some(name) if !name.is_empty() => out.push(name.to_owned()),
                _ => {
                    return Err(format!(
                        "{}:{line}: inventory entry {}: a target group without a {label:?} label; \
                         give each group `labels: {{{label}: NAME}}`",
                        path.display(),
                        i + 1
                    ));
                }
            },
            _ => {
                return Err(format!(
                    "{}:{line}: inventory entry {}: write a node's name, or a file_sd target \
                     group (targets and labels)",
                    path.display(),
                    i + 1
                ));
            }
        }
    }
    Ok(out)
}

/// The expected nodes, sorted and without duplicates; `None` without an inventory.
pub(crate) fn expected(settings: &Settings) -> Result<Option<Vec<String>>, String> {
    let Some(inv) = &settings.inventory else {
        return Ok(None);
    };
    let mut names = inv.nodes.clone();
    for f in &inv.files {
        names.extend(read_inventory_file(f, &settings.node_label)?);
    }
    names.sort();
    names.dedup();
    Ok(Some(names))
}

/// A string as a YAML (and PromQL) double-quoted literal.
fn quote(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// A number as PromQL and Go templates write it.
fn num(x: f64) -> String {
    format!("{x}")
}

/// One rule of the group.
struct Rule {
    alert: bool,
    name: &'static str,
    expr: String,
    labels: Vec<(String, String)>,
    annotations: Vec<(&'static str, String)>,
}

/// The group's rules for `settings`, with `expected` the inventory's nodes.
fn rules(s: &Settings, expected: Option<&[String]>) -> Vec<Rule> {
    let l = &s.node_label;
    let window = model::format_duration(s.window);
    let for_ = model::format_duration(s.for_);
    let record = |name: &'static str, expr: String| Rule {
        alert: false,
        name,
        expr,
        labels: Vec::new(),
        annotations: Vec::new(),
    };
    let alert =
        |name: &'static str, severity: &str, expr: String, summary: String, description: String| {
            Rule {
                alert: true,
                name,
                expr,
                labels: vec![
                    ("severity".to_owned(), severity.to_owned()),
                    ("component".to_owned(), "network-health".to_owned()),
                ],
                annotations: vec![
                    ("summary", summary),
                    ("description", description),
                    (
                        "runbook_url",
                        format!("{{{{ $externalURL }}}}/runbooks/{name}"),
                    ),
                ],
            }
        };
    let node = format!("{{{{ $labels.{l} }}}}");
    let mut out = Vec::new();
    for name in expected.unwrap_or_default() {
        let mut r = record("skywatch:inventory_expected", "vector(1)".to_owned());
        r.labels.push((l.clone(), name.clone()));
        out.push(r);
    }
    out.push(record(
        "skywatch:network_health_up",
        format!("max by ({l}) ({})", s.up),
    ));
    out.push(record(
        "skywatch:network_health_height",
        format!("max by ({l}) ({})", s.height),
    ));
    out.push(record(
        "skywatch:network_health_height_lag",
        "scalar(max(skywatch:network_health_height)) - skywatch:network_health_height".to_owned(),
    ));
    // Only nodes that report a height now and did a window ago: a node gone keeps old
    // samples in the window, and one just (re)started has less than a window of them.
    out.push(record(
        "skywatch:network_health_height_moved",
        format!(
            "(max_over_time(skywatch:network_health_height[{window}]) - min_over_time(skywatch:network_health_height[{window}]))\n\
             and on ({l}) skywatch:network_health_height\n\
             and on ({l}) skywatch:network_health_height offset {window}"
        ),
    ));
    let deviation = |of: &str| format!("abs({of} - scalar(quantile(0.5, {of})))");
    out.push(record(
        "skywatch:network_health_height_moved_deviation",
        deviation("skywatch:network_health_height_moved"),
    ));
    if let Some(peers) = &s.peers {
        out.push(record(
            "skywatch:network_health_peers",
            format!("max by ({l}) ({peers})"),
        ));
        out.push(record(
            "skywatch:network_health_peers_deviation",
            deviation("skywatch:network_health_peers"),
        ));
    }
    let (lag, z) = (num(s.max_lag_blocks), num(s.outlier_z));
    let (ratio, diff) = (num(s.outlier_min_ratio), num(s.outlier_min_difference));
    // The robust z-score of `of`: its deviation from the median over 1.4826 times the
    // median deviation (MAD), the MAD taken as at least the smallest difference that
    // counts, so that a network of equal nodes has no infinite scores; and the difference
    // must be more than that smallest one and than a share of the median, so that nodes
    // all slow alike or a peer more or less fire nothing.
    let outlier = |of: &str| {
        format!(
            "{of}_deviation / scalar(clamp_min(1.4826 * quantile(0.5, {of}_deviation), {diff})) > {z}\n\
             and on ({l}) {of}_deviation > {diff}\n\
             and on ({l}) {of}_deviation > {ratio} * scalar(quantile(0.5, {of}))"
        )
    };
    out.push(alert(
        "NodeHeightBehindNetwork",
        "warning",
        format!(
            "skywatch:network_health_height_lag > {lag}\n\
             and on ({l}) scalar(quantile(0.5, skywatch:network_health_height)) - skywatch:network_health_height > {lag}"
        ),
        format!("{node} is behind the network"),
        format!(
            "{node} is {{{{ $value }}}} blocks behind the highest node of the network, and more than {lag} behind its median, for {for_}: it is not keeping up with the chain."
        ),
    ));
    // Below the network's head, too: when the chain halts, the nodes' windows empty of
    // moves a scrape apart, and a node at the head is behind no one.
    out.push(alert(
        "NodeHeadStalled",
        "critical",
        format!(
            "skywatch:network_health_height and on ({l}) skywatch:network_health_height_moved == 0\n\
             and on ({l}) skywatch:network_health_height_lag > 0\n\
             and on () count(skywatch:network_health_height_moved > 0) > 0.5 * count(skywatch:network_health_height_moved)"
        ),
        format!("{node}'s chain head is stalled"),
        format!(
            "{node}'s height has stayed at {{{{ $value }}}} for {window} while most of the network's nodes advanced."
        ),
    ));
    out.push(alert(
        "NetworkHeadStalled",
        "critical",
        "count(skywatch:network_health_height_moved == 0) >= 0.5 * count(skywatch:network_health_height_moved)".to_owned(),
        "The network's chain is stalled".to_owned(),
        format!(
            "{{{{ $value }}}} of the network's nodes have not advanced in {window}, at least half of them: the chain itself is stalled (a halt, a lost quorum), not one node."
        ),
    ));
    if s.peers.is_some() {
        out.push(alert(
            "NodePeerCountOutlier",
            "warning",
            outlier("skywatch:network_health_peers"),
            format!("{node}'s peer count is unlike the network's"),
            format!(
                "{node}'s peer count is {{{{ $value | printf \"%.1f\" }}}} robust standard deviations from the network's median (more than {z}), for {for_}."
            ),
        ));
    }
    // Slower than the network only: a node importing more blocks than the rest is
    // catching up, which the lag alert follows.
    out.push(alert(
        "NodeBlockRateOutlier",
        "warning",
        format!(
            "{}\nand on ({l}) skywatch:network_health_height_moved < scalar(quantile(0.5, skywatch:network_health_height_moved))",
            outlier("skywatch:network_health_height_moved")
        ),
        format!("{node} imports blocks slower than the network"),
        format!(
            "The blocks {node} imported in {window} are {{{{ $value | printf \"%.1f\" }}}} robust standard deviations below the network's median (more than {z}), for {for_}."
        ),
    ));
    if expected.is_some() {
        out.push(alert(
            "ExpectedNodeAbsent",
            "critical",
            format!("skywatch:inventory_expected unless on ({l}) skywatch:network_health_up == 1"),
            format!("{node} is expected but absent"),
            format!(
                "{node} is in the inventory but has not been scraped up for {for_}: it is down, unreachable, or was never deployed."
            ),
        ));
        out.push(alert(
            "UnexpectedNodePresent",
            "warning",
            format!(
                "skywatch:network_health_up{{{l}!=\"\"}} == 1 unless on ({l}) skywatch:inventory_expected"
            ),
            format!("{node} is up but not in the inventory"),
            format!(
                "{node} has been scraped up for {for_} but is not in the inventory: a node nobody expects, or an inventory to update."
            ),
        ));
    }
    out
}

/// The rule file of `settings`, `source` naming them in its header.
pub(crate) fn rule_file(s: &Settings, expected: Option<&[String]>, source: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Generated by `skywatch network-health rules {source}`. Do not edit: change the\n\
         # settings and generate again (docs/network-health.md)."
    );
    out.push_str("groups:\n");
    let _ = writeln!(out, "  - name: {GROUP}");
    out.push_str("    rules:\n");
    let for_ = model::format_duration(s.for_);
    for r in rules(s, expected) {
        let key = if r.alert { "alert" } else { "record" };
        let _ = writeln!(out, "      - {key}: {}", r.name);
        if r.expr.contains('\n') {
            out.push_str("        expr: |-\n");
            for line in r.expr.lines() {
                let _ = writeln!(out, "          {line}");
            }
        } else {
            let _ = writeln!(out, "        expr: {}", quote(&r.expr));
        }
        if r.alert {
            let _ = writeln!(out, "        for: {for_}");
        }
        if !r.labels.is_empty() {
            out.push_str("        labels:\n");
            for (k, v) in &r.labels {
                let _ = writeln!(out, "          {k}: {}", quote(v));
            }
        }
        if !r.annotations.is_empty() {
            out.push_str("        annotations:\n");
            for (k, v) in &r.annotations {
                let _ = writeln!(out, "          {k}: {}", quote(v));
            }
        }
    }
    out
}

/// The settings a server runs with: a file (read again when it or an inventory file
/// changes) or fixed settings (the demo's), and an inventory that replaces theirs.
pub(crate) struct NetworkHealth {
    file: Option<PathBuf>,
    fixed: Settings,
    inventory: Option<Inventory>,
    /// The files last read: each path, length and time.
    seen: Mutex<Vec<(PathBuf, u64, Option<SystemTime>)>>,
}

impl NetworkHealth {
    /// From a settings file.
    pub(crate) fn from_file(file: PathBuf) -> Self {
        Self {
            file: Some(file),
            fixed: Settings::default(),
            inventory: None,
            seen: Mutex::default(),
        }
    }

    /// From settings given whole.
    pub(crate) fn fixed(settings: Settings) -> Self {
        Self {
            file: None,
            fixed: settings,
            inventory: None,
            seen: Mutex::default(),
        }
    }

    /// With `inventory` in place of the settings' own.
    pub(crate) fn with_inventory(mut self, inventory: Inventory) -> Self {
        self.inventory = Some(inventory);
        self
    }

    /// The settings now, with the inventory in place.
    pub(crate) fn settings(&self) -> Result<Settings, String> {
        let mut s = match &self.file {
            Some(f) => load(f)?,
            None => self.fixed.clone(),
        };
        if let Some(inv) = &self.inventory {
            s.inventory = Some(inv.clone());
        }
        Ok(s)
    }

    /// The files the settings come from.
    fn files(&self, s: Option<&Settings>) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self.file.iter().cloned().collect();
        if let Some(inv) = s.and_then(|s| s.inventory.as_ref()) {
            files.extend(inv.files.iter().cloned());
        }
        files
    }

    /// Reads the settings and the inventory, and generates their rule file.
    pub(crate) fn read(&self) -> Result<rules::RuleFile, String> {
        let (text, source) = self.generate()?;
        rules::RuleFile::parse(&text, &format!("network health ({source})"))
            .map_err(|e| e.to_string())
    }

    /// Reads the settings and the inventory, and generates their rule file's text (what
    /// `skywatch export` writes), with the name of where the settings came from.
    pub(crate) fn generate(&self) -> Result<(String, String), String> {
        let s = self.settings();
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) =
            fingerprint(&self.files(s.as_ref().ok()));
        let s = s?;
        let expected = expected(&s)?;
        let source = self
            .file
            .as_ref()
            .map_or_else(|| "(built in)".to_owned(), |f| f.display().to_string());
        let text = rule_file(&s, expected.as_deref(), &source);
        Ok((text, source))
    }

    /// Whether a file changed since the last read.
    pub(crate) fn changed(&self) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let paths: Vec<PathBuf> = seen.iter().map(|(p, _, _)| p.clone()).collect();
        // A file added to the settings' inventory shows as the settings file changing.
        fingerprint(&paths) != seen
    }
}

fn fingerprint(paths: &[PathBuf]) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    paths
        .iter()
        .map(|p| {
            let meta = std::fs::metadata(p).ok();
            let len = meta.as_ref().map_or(0, std::fs::Metadata::len);
            (p.clone(), len, meta.and_then(|m| m.modified().ok()))
        })
        .collect()
}

/// `skywatch network-health` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum NetworkHealthCommand {
    /// Print the rule group a settings file gives (plain Prometheus rules), with its
    /// inventory read now.
    Rules {
        /// The settings file (docs/network-health.md).
        file: PathBuf,
    },
}

/// Runs a `skywatch network-health` subcommand.
pub(crate) fn run(cmd: NetworkHealthCommand) -> Result<(), String> {
    match cmd {
        NetworkHealthCommand::Rules { file } => {
            let s = load(&file)?;
            let expected = expected(&s)?;
            let text = rule_file(&s, expected.as_deref(), &file.display().to_string());
            rules::RuleFile::parse(&text, "generated").map_err(|e| e.to_string())?;
            print!("{text}");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    #[test]
    fn the_committed_rules_are_what_the_committed_settings_give() {
        let dir = repo().join("rules/network-health");
        let text = std::fs::read_to_string(dir.join("settings.yml")).unwrap();
        let s = parse(&text, "settings.yml", &dir).unwrap();
        let expected = expected(&s).unwrap();
        let generated = rule_file(&s, expected.as_deref(), "settings.yml");
        let committed = std::fs::read_to_string(dir.join("network-health.yml")).unwrap();
        assert_eq!(
            generated, committed,
            "regenerate: skywatch network-health rules settings.yml > network-health.yml"
        );
        let file = rules::RuleFile::parse(&generated, "g").unwrap();
        assert_eq!(file.groups.len(), 1);
    }

    #[test]
    fn every_alert_has_its_runbook_and_no_runbook_is_without_alert() {
        let s = Settings {
            height: "h".to_owned(),
            peers: Some("p".to_owned()),
            inventory: Some(Inventory::default()),
            ..Settings::default()
        };
        let names: Vec<&str> = rules(&s, Some(&[]))
            .into_iter()
            .filter(|r| r.alert)
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ALERTS);
        let dir = repo().join("docs/runbooks/network-health");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut want: Vec<String> = ALERTS.iter().map(|a| format!("{a}.md")).collect();
        want.sort();
        assert_eq!(on_disk, want);
        for a in ALERTS {
            let text = std::fs::read_to_string(dir.join(format!("{a}.md"))).unwrap();
            assert!(text.starts_with(&format!("# {a}\n")), "{a}");
            assert_eq!(
                runbook(a),
                Some(text.as_str()),
                "{a}: embedded != repository"
            );
        }
        assert_eq!(RUNBOOKS.map(|(a, _)| a), ALERTS);
    }

    #[test]
    fn without_peers_or_inventory_their_alerts_are_left_out_and_the_label_is_the_settings() {
        let s = parse(
            "node_label: instance\nheight: 'max by (instance) (h)'\n",
            "s.yml",
            Path::new("."),
        )
        .unwrap();
        let text = rule_file(&s, None, "s.yml");
        assert!(!text.contains("NodePeerCountOutlier"));
        assert!(!text.contains("ExpectedNodeAbsent"));
        assert!(!text.contains("UnexpectedNodePresent"));
        assert!(text.contains("max by (instance) (up)"), "{text}");
        assert!(text.contains("$labels.instance"), "{text}");
        rules::RuleFile::parse(&text, "g").unwrap();
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_field() {
        let cases = [
            (
                "height: h\nwindow: soon\n",
                "s.yml:2: window: \"soon\" is not a duration",
            ),
            (
                "height: 'rate(x[5m]'\n",
                "s.yml:1: height: \"rate(x[5m]\" is not PromQL",
            ),
            (
                "height: h\n\noutlier_z: -1\n",
                "s.yml:3: outlier_z: -1 is out of range",
            ),
            (
                "height: h\nnode_label: 'a-b'\n",
                "s.yml:2: node_label: \"a-b\" is not a label name",
            ),
            ("peers: p\n", "s.yml: height: missing"),
        ];
        for (text, want) in cases {
            let e = parse(text, "s.yml", Path::new(".")).unwrap_err();
            assert!(e.starts_with(want), "{e}");
        }
        let e = parse("height: h\nheigth: h\n", "s.yml", Path::new(".")).unwrap_err();
        assert!(e.contains("heigth"), "{e}");
        assert!(e.contains("line 2") || e.contains(":2:"), "{e}");
    }

    #[test]
    fn an_inventory_reads_file_sd_groups_and_plain_lists_and_is_read_again_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("sd.json"),
            r#"[{"targets": ["10.0.0.1:9100"], "labels": {"node": "b"}},
                {"targets": ["10.0.0.2:9100"], "labels": {"node": "a", "x": "y"}}]"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("names.yml"), "- c\n- a\n").unwrap();
        let settings = dir.path().join("settings.yml");
        std::fs::write(
            &settings,
            "height: h\ninventory:\n  files: [sd.json, names.yml]\n  nodes: [d]\n",
        )
        .unwrap();
        let nh = NetworkHealth::from_file(settings);
        let file = nh.read().unwrap();
        let expected: Vec<String> = file.groups[0]
            .rules
            .iter()
            .filter_map(|r| r.labels.get("node").cloned())
            .collect();
        assert_eq!(expected, ["a", "b", "c", "d"]);
        assert!(!nh.changed());
        std::fs::write(dir.path().join("names.yml"), "- c\n- a\n- e\n").unwrap();
        assert!(nh.changed());
        std::fs::write(dir.path().join("names.yml"), "- a\n\n- {targets: [x]}\n").unwrap();
        let e = nh.read().unwrap_err();
        assert!(e.contains("names.yml:3: inventory entry 2"), "{e}");
        assert!(e.contains("\"node\" label"), "{e}");
    }
}
