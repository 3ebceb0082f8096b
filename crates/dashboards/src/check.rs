//! Checking a dashboard: its shape, every query as PromQL (a Loki target's as LogQL), every
//! variable it uses.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::MIN_SCHEMA_VERSION;

/// Something wrong with a dashboard file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, relative to the dashboards directory.
    pub file: String,
    /// The panel, as `panel "Title" (id N)`, if the problem is in one.
    pub panel: Option<String>,
    /// What is wrong and what would fix it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.panel {
            Some(panel) => write!(f, "{}: {panel}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Variables Grafana defines itself, with a value of the right kind for parsing.
const BUILTINS: [(&str, &str); 11] = [
    ("__interval", "1m"),
    // Grafana's Loki data source's range for LogQL metric queries.
    ("__auto", "1m"),
    ("__interval_ms", "60000"),
    ("__rate_interval", "1m"),
    ("__rate_interval_ms", "60000"),
    ("__range", "1h"),
    ("__range_s", "3600"),
    ("__range_ms", "3600000"),
    ("__from", "0"),
    ("__to", "0"),
    ("__dashboard", "x"),
];

/// Checks a dashboard's JSON; `file` names it in the problems.
pub fn check(json: &Value, file: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem = |panel: Option<String>, message: String| {
        problems.push(Problem {
            file: file.to_owned(),
            panel,
            message,
        });
    };
    let Some(dashboard) = json.as_object() else {
        problem(
            None,
            "the file holds no JSON object; a dashboard is one".into(),
        );
        return problems;
    };
    match dashboard.get("schemaVersion").and_then(Value::as_u64) {
        Some(v) if v >= MIN_SCHEMA_VERSION => {}
        Some(v) => problem(
            None,
            format!(
                "schemaVersion {v} is older than {MIN_SCHEMA_VERSION}: its panels are in the `rows` layout of Grafana before 5.0; open it in Grafana 5.0 or later and export it again"
            ),
        ),
        None => problem(
            None,
            "schemaVersion is missing; a dashboard exported from Grafana has it".into(),
        ),
    }
    if dashboard
        .get("title")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        problem(None, "title is missing or empty".into());
    }

    let variables = variables(dashboard);
    let Some(panels) = dashboard.get("panels").and_then(Value::as_array) else {
        problem(None, "panels is missing or not a list".into());
        return problems;
    };
    for panel in panels {
        check_panel(panel, &variables, &mut problem);
        // A collapsed row holds its panels.
        for inner in panel
            .get("panels")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            check_panel(inner, &variables, &mut problem);
        }
    }
    for (name, query) in variable_queries(dashboard) {
        if let Err(e) = check_variable_query(&query, &variables) {
            problem(None, format!("variable {name}: {e}"));
        }
    }
    problems
}

/// The dashboard's variables, each with a value to substitute when parsing queries.
fn variables(dashboard: &serde_json::Map<String, Value>) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BUILTINS
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    for v in list(dashboard) {
        let Some(name) = v.get("name").and_then(Value::as_str) else {
            continue;
        };
        let query = v.get("query").and_then(Value::as_str).unwrap_or("");
        let first = query.split(',').next().unwrap_or("").trim();
        let value = match v.get("type").and_then(Value::as_str) {
            Some("interval") => first.trim_start_matches('$').to_owned(),
            Some("custom" | "constant" | "textbox") if !first.is_empty() => {
                // `custom` options may be written `label : value`.
                first.rsplit(" : ").next().unwrap_or(first).to_owned()
            }
            _ => "x".to_owned(),
        };
        let value = if value.is_empty() || value.starts_with("auto") {
            "1m".to_owned()
        } else {
            value
        };
        out.insert(name.to_owned(), value);
    }
    out
}

fn list(dashboard: &serde_json::Map<String, Value>) -> impl Iterator<Item = &Value> {
    dashboard
        .get("templating")
        .and_then(|t| t.get("list"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The queries of the dashboard's `query` variables, by name.
fn variable_queries(dashboard: &serde_json::Map<String, Value>) -> Vec<(String, String)> {
    list(dashboard)
        .filter(|v| v.get("type").and_then(Value::as_str) == Some("query"))
        .filter_map(|v| {
            let name = v.get("name")?.as_str()?.to_owned();
            // A string, or `{"query": "...", "refId": ...}` in newer exports.
            let query = match v.get("query")? {
                Value::String(s) => s.clone(),
                Value::Object(o) => o.get("query")?.as_str()?.to_owned(),
                _ => return None,
            };
            Some((name, query))
        })
        .collect()
}

/// Checks a `query` variable's query: `label_values(...)`, `label_names(...)`,
/// `metrics(...)`, `query_result(...)` or a series selector, as Grafana's Prometheus data
/// source reads them.
fn check_variable_query(query: &str, variables: &BTreeMap<String, String>) -> Result<(), String> {
    let query = substitute(query, variables)?;
    let query = query.trim();
    let call = |name: &str| {
        query
            .strip_prefix(name)
            .map(str::trim_start)
            .and_then(|r| r.strip_prefix('('))
            .and_then(|r| r.strip_suffix(')'))
    };
    if let Some(args) = call("label_values") {
        // label_values(label) or label_values(selector, label).
        let (selector, label) = match args.rfind(',') {
            Some(i) => (Some(&args[..i]), args[i + 1..].trim()),
            None => (None, args.trim()),
        };
        if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "label_values({args}): {label:?} is not a label name"
            ));
        }
        if let Some(selector) = selector {
            promql::ast::parse(selector).map_err(|e| format!("label_values: {e}"))?;
        }
        return Ok(());
    }
    if let Some(expr) = call("query_result") {
        return promql::ast::parse(expr)
            .map(drop)
            .map_err(|e| format!("query_result: {e}"));
    }
    if call("metrics").is_some() || call("label_names").is_some() {
        return Ok(());
    }
    // Anything else is a series selector, each series an option, as Grafana reads it.
    match promql::ast::parse(query) {
        Ok(promql::ast::Expr::Vector(_)) => Ok(()),
        _ => Err(format!(
            "{query:?} is not label_values(...), label_names(...), metrics(...), query_result(...) or a series selector"
        )),
    }
}

fn check_panel(
    panel: &Value,
    variables: &BTreeMap<String, String>,
    problem: &mut impl FnMut(Option<String>, String),
) {
    let name = panel_name(panel);
    let Some(kind) = panel.get("type").and_then(Value::as_str) else {
        problem(Some(name), "type is missing".into());
        return;
    };
    let grid = panel.get("gridPos");
    let place = ["h", "w", "x", "y"].map(|k| grid.and_then(|g| g.get(k)).and_then(Value::as_u64));
    match place {
        [Some(h), Some(w), Some(x), Some(_)] => {
            if kind != "row" && (h == 0 || w == 0) {
                problem(
                    Some(name.clone()),
                    "gridPos has a zero width or height".into(),
                );
            }
            if x + w > 24 {
                problem(
                    Some(name.clone()),
                    format!("gridPos x {x} + w {w} is past the grid's 24 columns"),
                );
            }
        }
        _ => problem(
            Some(name.clone()),
            "gridPos needs h, w, x and y as whole numbers".into(),
        ),
    }
    for target in panel
        .get("targets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(expr) = target.get("expr").and_then(Value::as_str) else {
            continue;
        };
        let ref_id = target.get("refId").and_then(Value::as_str).unwrap_or("?");
        if target.get("hide").and_then(Value::as_bool) == Some(true) || expr.trim().is_empty() {
            continue;
        }
        // A Loki target's query is LogQL, not PromQL.
        let loki = [target, panel].iter().any(|v| {
            v.get("datasource")
                .and_then(|d| d.get("type"))
                .and_then(Value::as_str)
                == Some("loki")
        });
        let parsed = substitute(expr, variables).and_then(|q| {
            if loki {
                return logql::parse(&q).map(drop).map_err(|e| e.to_string());
            }
            promql::ast::parse(&q).map(drop).map_err(|e| e.to_string())
        });
        if let Err(e) = parsed {
            problem(Some(name.clone()), format!("query {ref_id}: {e}"));
        }
    }
}

/// A panel as problems and warnings name it: `panel "Title" (id N)`.
pub(crate) fn panel_name(panel: &Value) -> String {
    let title = panel.get("title").and_then(Value::as_str).unwrap_or("");
    match panel.get("id").and_then(Value::as_i64) {
        Some(id) => format!("panel {title:?} (id {id})"),
        None => format!("panel {title:?}"),
    }
}

/// Replaces `$name`, `${name}`, `${name:format}` and `[[name]]` with the variables' values;
/// fails on a variable the dashboard does not define.
pub(crate) fn substitute(
    text: &str,
    variables: &BTreeMap<String, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['$', '[']) {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let (name, len) = if let Some(inner) = after.strip_prefix("${") {
            match inner.find('}') {
                Some(end) => (inner[..end].split(':').next().unwrap_or(""), end + 3),
                None => ("", 0),
            }
        } else if let Some(inner) = after.strip_prefix("[[") {
            match inner.find("]]") {
                Some(end) => (inner[..end].split(':').next().unwrap_or(""), end + 4),
                None => ("", 0),
            }
        } else if let Some(inner) = after.strip_prefix('$') {
            let end = inner
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(inner.len());
            (&inner[..end], end + 1)
        } else {
            ("", 0)
        };
        if name.is_empty() {
            let c = after.chars().next().unwrap_or('$');
            out.push(c);
            rest = &after[c.len_utf8()..];
            continue;
        }
        match variables.get(name) {
            Some(value) => out.push_str(value),
            // `$1` in label_replace's replacement is a regex group, not a variable: Grafana
            // leaves what it does not know alone.
            None if name.bytes().all(|b| b.is_ascii_digit()) => out.push_str(&after[..len]),
            None => {
                return Err(format!(
                    "uses ${name}, which is neither a variable of the dashboard (templating.list) nor one of Grafana's"
                ));
            }
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn dashboard(panels: Value, variables: Value) -> Value {
        json!({
            "title": "T", "uid": "t", "schemaVersion": 39,
            "templating": {"list": variables},
            "panels": panels,
        })
    }

    fn panel(id: i64, title: &str, expr: &str) -> Value {
        json!({
            "id": id, "title": title, "type": "timeseries",
            "gridPos": {"h": 8, "w": 12, "x": 0, "y": 0},
            "targets": [{"refId": "A", "expr": expr}],
        })
    }

    #[test]
    fn a_sound_dashboard_has_no_problems() {
        let d = dashboard(
            json!([
                panel(1, "Rate", "sum by (node) (rate(p2p_messages_sent_total{node=~\"$node\"}[$__rate_interval]))"),
                {"id": 2, "type": "row", "title": "More", "collapsed": true, "gridPos": {"h": 1, "w": 24, "x": 0, "y": 8},
                 "panels": [panel(3, "Top", "topk($k, chain_block_height offset ${window})")]},
            ]),
            json!([
                {"name": "node", "type": "query", "query": {"query": "label_values(p2p_peers, node)", "refId": "v"}},
                {"name": "k", "type": "custom", "query": "5,10"},
                {"name": "window", "type": "interval", "query": "1m,5m"},
            ]),
        );
        assert_eq!(check(&d, "d.json"), []);
    }

    #[test]
    fn loki_targets_are_read_as_logql_and_their_variables_are_checked() {
        let logs = |expr: &str| {
            json!({
                "id": 1, "title": "Warnings", "type": "logs",
                "datasource": {"type": "loki", "uid": "${loki}"},
                "gridPos": {"h": 8, "w": 12, "x": 0, "y": 0},
                "targets": [{"refId": "A", "expr": expr}],
            })
        };
        let variables = json!([{"name": "node", "type": "custom", "query": "a,b"}]);
        let d = dashboard(
            json!([logs("{node=~\"$node\"} |= \"resource warning\"")]),
            variables.clone(),
        );
        assert_eq!(check(&d, "d.json"), []);
        let d = dashboard(json!([logs("{node=~\"$nope\"}")]), variables.clone());
        let problems = check(&d, "d.json");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("nope"), "{}", problems[0]);
        // PromQL would take this; LogQL wants a line filter's operand quoted.
        let d = dashboard(json!([logs("{node=~\"$node\"} |= resource")]), variables);
        let problems = check(&d, "d.json");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].message.contains("parse error"),
            "{}",
            problems[0]
        );
    }

    /// The seeds' resource-warnings log viewer: a Loki `logs` panel in the shipped System
    /// health dashboard, neither a problem nor a warning.
    #[test]
    fn the_system_health_logs_panel_passes_and_is_drawn() {
        let d: Value = serde_json::from_str(include_str!(
            "../../../dashboards/node-network/system-health.json"
        ))
        .unwrap();
        assert_eq!(check(&d, "system-health.json"), []);
        let drawing = crate::drawing(&d);
        assert_eq!(drawing.flagged(), 0, "{drawing:?}");
        let logs = d["panels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["type"] == "logs");
        assert_eq!(logs.unwrap()["title"], "Resource warnings");
    }

    #[test]
    fn problems_name_the_panel_and_what_is_wrong() {
        let d = dashboard(
            json!([
                panel(4, "Broken", "sum(rate(up[5m])"),
                panel(5, "Unknown variable", "up{node=\"$nodes\"}"),
                {"id": 6, "title": "No place", "type": "stat"},
            ]),
            json!([
                {"name": "bad", "type": "query", "query": "label_values(up, no such)"},
                {"name": "sum", "type": "query", "query": "sum(up)"},
                // Series, each an option, as Grafana's data source reads any other text.
                {"name": "series", "type": "query", "query": "go_goroutines{job=\"node\"}"},
            ]),
        );
        let problems: Vec<String> = check(&d, "d.json")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert!(
            problems[0].starts_with("d.json: panel \"Broken\" (id 4): query A: "),
            "{}",
            problems[0]
        );
        assert!(
            problems[1].contains("uses $nodes, which is neither"),
            "{}",
            problems[1]
        );
        assert_eq!(
            problems[2],
            "d.json: panel \"No place\" (id 6): gridPos needs h, w, x and y as whole numbers"
        );
        assert!(
            problems[3].starts_with("d.json: variable bad: label_values("),
            "{}",
            problems[3]
        );
        assert_eq!(
            problems[4],
            "d.json: variable sum: \"sum(up)\" is not label_values(...), label_names(...), metrics(...), query_result(...) or a series selector"
        );
    }

    #[test]
    fn old_or_shapeless_files_say_what_to_do() {
        let old = json!({"title": "Old", "schemaVersion": 14, "rows": []});
        assert_eq!(
            check(&old, "old.json")[0].message,
            "schemaVersion 14 is older than 16: its panels are in the `rows` layout of Grafana before 5.0; open it in Grafana 5.0 or later and export it again"
        );
        // Grafana 5 to 7.3's dashboards are read, their legacy panels migrated.
        let five = json!({"title": "Five", "uid": "five", "schemaVersion": 16, "panels": []});
        assert_eq!(check(&five, "five.json"), Vec::new());
        assert_eq!(
            check(&json!([1]), "a.json")[0].message,
            "the file holds no JSON object; a dashboard is one"
        );
    }

    #[test]
    fn substitution_reads_every_variable_syntax() {
        let vars: BTreeMap<String, String> = [
            ("a".to_owned(), "1".to_owned()),
            ("b_c".to_owned(), "2".to_owned()),
        ]
        .into();
        assert_eq!(
            substitute("$a ${b_c} ${a:regex} [[a]] $ [x] \"$1\"", &vars).unwrap(),
            "1 2 1 1 $ [x] \"$1\""
        );
        assert_eq!(
            substitute("up{x=\"$d\"}", &vars).unwrap_err(),
            "uses $d, which is neither a variable of the dashboard (templating.list) nor one of Grafana's"
        );
    }
}
