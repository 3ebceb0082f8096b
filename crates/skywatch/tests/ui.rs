//! The web UI in a real browser: `ui/tests/browser.mjs` drives headless Chromium through
//! every page and dashboard of a live `skywatch demo` with six hours of history, fails on
//! any console error or undrawn panel, times a twenty-panel dashboard over those six hours
//! (reported, not asserted), and saves screenshots under `target/tmp/ui-screenshots`.
//! The traces pages post their own traces to the demo's OTLP receiver (the seed flow's,
//! and one of 50,000 spans that must open and scroll without freezing; its time to first
//! paint is reported, not asserted), and find and open the demo's own traces of the
//! seed flow's six services.
//! Before the pages, it starts burning one SLO's error budget with the demo's chaos
//! control; after them, it waits (about two minutes from the start, ten at most) until
//! `/slos` lists that SLO first with its page alert firing, and checks the pages that say so.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]
#![allow(
    clippy::print_stderr,
    reason = "how long each page took to be ready is reported for the record"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{get_json, start_demo};

#[test]
fn the_pages_render_in_chromium_without_errors() {
    let chromium = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        chromium.exists(),
        "{} is missing: the UI test needs headless Chromium (Debian package `chromium`; \
         scripts/install-test-deps installs it), or CHROMIUM set to another build",
        chromium.display()
    );
    // Six hours of history behind a dashboard of twenty panels, to time its drawing.
    let extra = tempfile::tempdir().unwrap();
    std::fs::write(
        extra.path().join("twenty-panels.json"),
        twenty_panel_dashboard().to_string(),
    )
    .unwrap();
    std::fs::write(
        extra.path().join("rows-and-repeats.json"),
        rows_and_repeats_dashboard().to_string(),
    )
    .unwrap();
    std::fs::write(
        extra.path().join("legacy-and-new-panels.json"),
        legacy_and_new_panels_dashboard().to_string(),
    )
    .unwrap();
    std::fs::write(
        extra.path().join("exemplars.json"),
        exemplars_dashboard().to_string(),
    )
    .unwrap();
    let (demo, addr) = start_demo(&[
        "--nodes",
        "3",
        "--scrape-interval",
        "15s",
        "--history",
        "6h",
        // Every request traced, so that the traces page has the demo's whole flows to find.
        "--trace-sampling",
        "1",
        "--dashboards",
        extra.path().to_str().unwrap(),
    ]);
    // The history has data to draw; the targets page needs every node scraped live once.
    let client = reqwest::blocking::Client::new();
    let began = Instant::now();
    loop {
        let v = get_json(&client, &addr, "/api/v1/targets");
        let targets = v["data"]["activeTargets"].as_array().unwrap();
        if targets.len() == 3 && targets.iter().all(|t| t["health"] == "up") {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "the demo's nodes were not all scraped after 30 s: {v}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // The server's own dashboard draws rates of what it recorded of itself, live only (the
    // history has none of it): wait until its HTTP latency is a line, two finite values 30 s
    // apart over the last hour, so the dashboard's finer steps (12 s) hold more than two.
    let query = "/api/v1/query_range?query=histogram_quantile(0.95%2C%20sum%20by%20(le%2C%20route)%20(rate(skywatch_http_request_duration_seconds_bucket%7Bjob%3D%22skywatch%22%7D%5B1m%5D)))&step=30";
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let v = get_json(
            &client,
            &addr,
            &format!("{query}&start={}&end={now}", now - 3600),
        );
        let finite = v["data"]["result"].as_array().map_or(0, |series| {
            series
                .iter()
                .filter_map(|s| s["values"].as_array())
                .map(|values| {
                    values
                        .iter()
                        .filter(|p| {
                            p[1].as_str()
                                .and_then(|v| v.parse::<f64>().ok())
                                .is_some_and(f64::is_finite)
                        })
                        .count()
                })
                .max()
                .unwrap_or(0)
        });
        if finite >= 2 {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(180),
            "the server's own HTTP latency was not a line within 180 s: {v}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    // Only this run's screenshots: a failure's from an earlier run would mislead.
    let _ = std::fs::remove_dir_all(&shots);
    let out = Command::new("node")
        .arg("tests/browser.mjs")
        .arg(format!("http://{addr}"))
        .arg(&shots)
        .env("CHROMIUM", &chromium)
        .current_dir(&ui)
        .output()
        .expect("node runs (Node.js 20, which building the UI needs too)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}screenshots in {}", shots.display());
    assert!(
        out.status.success(),
        "browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shots.join("targets-dark.png").exists());
    // The logs pages ran against the demo's own logs: a node's lines, then one of its
    // lines' trace and that trace's lines (ui/tests/log-pages.mjs).
    for page in ["logs-node", "logs-trace"] {
        assert!(
            shots.join(format!("{page}-light.png")).exists(),
            "{page} was not visited:\n{stdout}"
        );
    }
    drop(demo);
}

/// A dashboard of the first twenty panels of the shipped dashboards, four to a row, with
/// their variables: what `browser.mjs` times over six hours.
fn twenty_panel_dashboard() -> serde_json::Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards/node-network");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut templating = serde_json::Value::Null;
    let mut panels = Vec::new();
    for file in files {
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        if templating.is_null() {
            templating = json["templating"].clone();
        }
        panels.extend(
            json["panels"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["type"] != "row")
                .cloned(),
        );
    }
    panels.truncate(20);
    assert_eq!(panels.len(), 20, "the shipped dashboards have 20 panels");
    for (i, panel) in panels.iter_mut().enumerate() {
        panel["id"] = serde_json::json!(i + 1);
        panel["gridPos"] = serde_json::json!({"x": (i % 4) * 6, "y": (i / 4) * 8, "w": 6, "h": 8});
    }
    serde_json::json!({
        "uid": "twenty-panels",
        "title": "Twenty panels",
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "templating": templating,
        "panels": panels,
    })
}

/// A dashboard of one time series whose query asks for exemplars, as Grafana's
/// "Exemplars" switch saves it; `trace-pages.mjs` answers the exemplars API for it and
/// follows the exemplar to its trace.
fn exemplars_dashboard() -> serde_json::Value {
    serde_json::json!({
        "uid": "exemplars",
        "title": "Exemplars",
        "schemaVersion": 39,
        "time": {"from": "now-5m", "to": "now"},
        "panels": [{
            "id": 1, "type": "timeseries", "title": "One, with exemplars",
            "gridPos": {"x": 0, "y": 0, "w": 24, "h": 8},
            "targets": [{"refId": "A", "expr": "vector(1)", "exemplar": true}],
        }],
    })
}

/// A dashboard laid out as community dashboards are: collapsed rows whose panels were saved
/// far below (as Node Exporter Full's are), a row repeated for each node, and a panel
/// repeated across a row; `browser.mjs` opens every row and checks the page's boxes.
fn rows_and_repeats_dashboard() -> serde_json::Value {
    use serde_json::json;
    let stat = |id: u64, title: &str, x: u64, y: u64, w: u64, h: u64| {
        json!({
            "id": id, "type": "stat", "title": title,
            "gridPos": {"x": x, "y": y, "w": w, "h": h},
            "targets": [{"refId": "A", "expr": "max(chain_block_height{node=~\"$node\"})"}],
        })
    };
    let chart = |id: u64, title: &str, x: u64, y: u64, w: u64, h: u64| {
        json!({
            "id": id, "type": "timeseries", "title": title,
            "gridPos": {"x": x, "y": y, "w": w, "h": h},
            "targets": [{"refId": "A", "expr": "max by (node) (chain_block_height{node=~\"$node\"})", "legendFormat": "{{node}}"}],
        })
    };
    let mut repeated = stat(40, "Height of $node", 0, 33, 6, 4);
    repeated["repeat"] = json!("node");
    repeated["maxPerRow"] = json!(2);
    json!({
        "uid": "rows-and-repeats",
        "title": "Rows and repeats",
        "schemaVersion": 39,
        "time": {"from": "now-5m", "to": "now"},
        "templating": {"list": [{
            "name": "node", "type": "query", "multi": true, "includeAll": true,
            "query": {"query": "label_values(chain_block_height, node)"},
            "current": {"value": ["$__all"]},
        }]},
        "panels": [
            stat(1, "Top", 0, 0, 12, 4),
            chart(2, "Beside", 12, 0, 12, 6),
            {"id": 10, "type": "row", "title": "Memory details", "collapsed": true,
             "gridPos": {"x": 0, "y": 6, "w": 24, "h": 1},
             "panels": [chart(11, "Saved far below", 0, 900, 12, 8), chart(12, "Beside it", 12, 900, 12, 8), chart(13, "Under them", 0, 908, 24, 6)]},
            {"id": 20, "type": "row", "title": "Storage", "collapsed": true,
             "gridPos": {"x": 0, "y": 7, "w": 24, "h": 1},
             "panels": [stat(21, "Disk A", 0, 8, 8, 4), stat(22, "Disk B", 8, 8, 8, 4), chart(23, "IO", 0, 12, 24, 7)]},
            {"id": 30, "type": "row", "title": "Node $node", "collapsed": true, "repeat": "node",
             "gridPos": {"x": 0, "y": 8, "w": 24, "h": 1},
             "panels": [chart(31, "Height on $node", 0, 9, 24, 6)]},
            {"id": 39, "type": "row", "title": "Per node", "collapsed": false,
             "gridPos": {"x": 0, "y": 9, "w": 24, "h": 1}},
            repeated,
        ],
    })
}

/// A dashboard of an old Grafana's panels (a `graph`, a `singlestat`, a
/// `table-old`), which the UI migrates on load as Grafana does, beside one panel of each
/// type added for community dashboards; `browser.mjs` checks each is drawn as the type it
/// should be, with data.
fn legacy_and_new_panels_dashboard() -> serde_json::Value {
    use serde_json::json;
    let pos = |x: u64, y: u64| json!({"x": x, "y": y, "w": 8, "h": 7});
    let by_node = |refid: &str| json!({"refId": refid, "expr": "max by (node) (chain_block_height)", "legendFormat": "{{node}}"});
    json!({
        "uid": "legacy-and-new-panels",
        "title": "Legacy and new panels",
        "schemaVersion": 27,
        "time": {"from": "now-5m", "to": "now"},
        // Variables of the other kinds Grafana's Prometheus data source knows, each
        // option taken from a text by the variable's regex.
        "templating": {"list": [
            {"name": "ranked", "type": "query", "sort": 2,
             "query": "query_result(max by (node) (chain_block_height))",
             "regex": "/node=\"([^\"]+)\"/"},
            {"name": "series", "type": "query", "sort": 1,
             "query": "chain_block_height",
             "regex": "/node=\"(?<value>[^\"]+)\"/"}
        ]},
        "panels": [
            {"id": 1, "type": "graph", "title": "Legacy graph", "gridPos": pos(0, 0),
             "targets": [by_node("A")], "lines": true, "fill": 1, "linewidth": 1,
             "nullPointMode": "null", "aliasColors": {"node-00": "#E24D42"},
             "seriesOverrides": [{"alias": "/node-0[12]/", "transform": "negative-Y"}],
             "legend": {"show": true, "alignAsTable": true, "values": true, "avg": true, "current": true},
             "tooltip": {"shared": true, "sort": 0},
             "yaxes": [{"format": "short", "show": true, "min": null}, {"format": "short", "show": true}],
             "xaxis": {"mode": "time", "show": true}},
            {"id": 2, "type": "singlestat", "title": "Legacy singlestat", "gridPos": pos(8, 0),
             "targets": [{"refId": "A", "expr": "max(chain_block_height)"}],
             "valueName": "current", "format": "short", "thresholds": "1,1000000",
             "colors": ["#299c46", "rgba(237, 129, 40, 0.89)", "#d44a3a"], "colorValue": true,
             "sparkline": {"show": true}, "gauge": {"show": false, "minValue": 0, "maxValue": 100},
             "valueMaps": [{"op": "=", "text": "N/A", "value": "null"}], "mappingType": 1},
            {"id": 3, "type": "table-old", "title": "Legacy table", "gridPos": pos(16, 0),
             "targets": [{"refId": "A", "expr": "max by (node) (chain_block_height)", "format": "table", "instant": true}],
             "transform": "table",
             "styles": [
                 {"pattern": "Time", "type": "hidden"},
                 {"pattern": "Value", "alias": "Height", "type": "number", "unit": "short", "decimals": 0},
                 {"pattern": "/.*/", "type": "string"}
             ]},
            {"id": 4, "type": "state-timeline", "title": "State timeline", "gridPos": pos(0, 7),
             "targets": [{"refId": "A", "expr": "up", "legendFormat": "{{instance}}"}],
             "fieldConfig": {"defaults": {"color": {"mode": "thresholds"},
                 "mappings": [{"type": "value", "options": {"1": {"text": "Up", "color": "green"}, "0": {"text": "Down", "color": "red"}}}],
                 "thresholds": {"mode": "absolute", "steps": [{"color": "red", "value": null}, {"color": "green", "value": 1}]}}, "overrides": []},
             "options": {"mergeValues": true, "showValue": "auto", "rowHeight": 0.9}},
            {"id": 5, "type": "status-history", "title": "Status history", "gridPos": pos(8, 7),
             "targets": [{"refId": "A", "expr": "max by (node) (chain_block_height) % 3", "legendFormat": "{{node}}"}],
             "options": {"showValue": "auto", "colWidth": 0.9, "rowHeight": 0.9}},
            {"id": 6, "type": "barchart", "title": "Bar chart", "gridPos": pos(16, 7),
             "targets": [{"refId": "A", "expr": "max by (node) (chain_block_height)", "format": "table", "instant": true}],
             "options": {"orientation": "auto", "showValue": "auto", "groupWidth": 0.7, "barWidth": 0.97}},
            {"id": 7, "type": "histogram", "title": "Histogram", "gridPos": pos(0, 14),
             "targets": [by_node("A")], "options": {"combine": false}},
            {"id": 8, "type": "dashlist", "title": "Dashboards", "gridPos": pos(8, 14),
             "options": {"showSearch": true, "showStarred": false, "query": "", "tags": [], "maxItems": 5}},
            {"id": 9, "type": "news", "title": "News", "gridPos": pos(16, 14),
             "options": {"feedUrl": "https://grafana.com/blog/news.xml"}},
            // As the monitoring mixins write them: a base step with no `value` key, and
            // queries with no refId whose transformations name `Value #A` and `Value #B`.
            {"id": 10, "type": "gauge", "title": "Gauge", "gridPos": pos(0, 21),
             "targets": [{"expr": "max(chain_block_height) % 100"}],
             "fieldConfig": {"defaults": {"min": 0, "max": 100, "unit": "percent",
                 "thresholds": {"steps": [{"color": "green"}, {"color": "orange", "value": 80}, {"color": "red", "value": 90}]}}}},
            {"id": 11, "type": "table", "title": "Joined queries", "gridPos": pos(8, 21),
             "targets": [
                 {"expr": "max by (node) (chain_block_height)", "format": "table", "instant": true},
                 {"expr": "max by (node) (chain_block_height) * 2", "format": "table", "instant": true}
             ],
             "transformations": [
                 {"id": "groupBy", "options": {"fields": {
                     "Value #A": {"aggregations": ["lastNotNull"], "operation": "aggregate"},
                     "Value #B": {"aggregations": ["lastNotNull"], "operation": "aggregate"},
                     "node": {"aggregations": [], "operation": "groupby"}}}},
                 {"id": "merge"},
                 {"id": "organize", "options": {"renameByName": {"Value #A (lastNotNull)": "Height", "Value #B (lastNotNull)": "Double", "node": "Node"}}}
             ]}
        ],
    })
}
