//! What of a dashboard Skywatch's UI cannot draw as Grafana draws it: per panel, a
//! warning for each panel type, unit, override matcher, colour mode, transformation and
//! option that changes the picture and that the UI ignores, with its JSON path.
//!
//! The UI's own lists decide, read at compile time from `ui/src/` so that the check and
//! the UI cannot disagree: `panel-support.json` (the panel types drawn),
//! `field-support.json` (units, matchers, colour modes), `transformations.json` (the
//! transformations applied) and `option-support.json` (the options whose values the UI
//! draws; any other value of such an option warns). The UI marks a panel from the same
//! lists (`ui/src/not-drawn.tsx`); both are tested on `testdata/not-drawn.json`.
//!
//! A panel whose type is not drawn has that one warning: nothing else of it is drawn.
//! Legacy panels (`graph`, `singlestat`, `table-old`) are drawn only if
//! `panel-support.json` lists them, migrated as Grafana migrates them; their units (and a
//! graph's logarithmic axes) are then read where the legacy JSON keeps them.

use std::fmt;
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::Value;

/// What kind of thing is not drawn as Grafana draws it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A panel type the UI does not draw at all.
    PanelType,
    /// A unit outside Grafana's catalogue: shown as a suffix by Grafana and Skywatch alike,
    /// so only ever a note (a misspelt id?). Every catalogue unit is formatted as Grafana.
    Unit,
    /// An override matcher the UI does not apply: the override's properties are lost.
    Matcher,
    /// A colour mode the UI does not draw.
    ColorMode,
    /// A transformation the UI does not apply, or transformations on a panel type that
    /// the UI draws untransformed.
    Transformation,
    /// Another option that changes the picture and that the UI ignores.
    Option,
}

impl Kind {
    /// Its name in the check's output: `panel-type`, `unit`, `matcher`, `color-mode`,
    /// `transformation`, `option`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PanelType => "panel-type",
            Self::Unit => "unit",
            Self::Matcher => "matcher",
            Self::ColorMode => "color-mode",
            Self::Transformation => "transformation",
            Self::Option => "option",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::PanelType,
            Self::Unit,
            Self::Matcher,
            Self::ColorMode,
            Self::Transformation,
            Self::Option,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing of a panel that is not drawn as Grafana draws it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// What kind of thing it is.
    pub kind: Kind,
    /// Where it is in the dashboard's JSON, e.g.
    /// `panels[12].panels[3].fieldConfig.overrides[0].matcher.id`.
    pub path: String,
    /// What is not drawn, and how Skywatch draws it instead.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", self.kind, self.path, self.message)
    }
}

/// A panel with warnings or notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelWarnings {
    /// The panel's path in the dashboard's JSON: `panels[3]`, or `panels[3].panels[0]` in
    /// a collapsed row.
    pub path: String,
    /// The panel, as `panel "Title" (id N)`, as the check's problems name it.
    pub name: String,
    /// Its warnings, in the order of the JSON: what is not drawn as Grafana draws it.
    pub warnings: Vec<Warning>,
    /// Its notes: what is drawn as Grafana draws it but is most likely a mistake (a unit
    /// outside Grafana's catalogue, which both show as a suffix).
    pub notes: Vec<Warning>,
}

/// What of a dashboard's panels Skywatch draws as Grafana draws them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drawing {
    /// The panels, rows not counted.
    pub panels: usize,
    /// The rows.
    pub rows: usize,
    /// The panels with warnings or notes, in the order of the JSON.
    pub listed: Vec<PanelWarnings>,
}

impl Drawing {
    /// The panels with warnings: not drawn as Grafana draws them.
    pub fn flagged(&self) -> usize {
        self.listed
            .iter()
            .filter(|p| !p.warnings.is_empty())
            .count()
    }

    /// The panels drawn as Grafana draws them.
    pub fn drawn(&self) -> usize {
        self.panels - self.flagged()
    }
}

/// One option the UI draws only with some values (`option-support.json`).
#[derive(Debug, Clone, Deserialize)]
struct OptionRule {
    /// The panel types it applies to; all if empty.
    panels: Vec<String>,
    /// The warning's kind; `option` if absent.
    kind: Option<String>,
    /// Its path in the panel, dot-separated; under `fieldConfig.defaults.` it is looked
    /// for in the overrides' properties too.
    path: String,
    /// The values the UI draws as Grafana does; null or absent is always drawn.
    drawn: Vec<Value>,
    /// What the option asks for, and what is drawn instead.
    what: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct PanelSupport {
    drawn: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FieldSupport {
    units: Vec<String>,
    custom_unit_prefixes: Vec<String>,
    matchers: Vec<String>,
    color_modes: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OptionSupport {
    transformed_panels: Vec<String>,
    options: Vec<OptionRule>,
}

/// The UI's lists of what it draws.
#[derive(Debug, Clone, Default)]
pub(crate) struct Support {
    panels: PanelSupport,
    fields: FieldSupport,
    transformations: Vec<String>,
    options: OptionSupport,
}

const PANEL_SUPPORT: &str = include_str!("../../../ui/src/panel-support.json");
const FIELD_SUPPORT: &str = include_str!("../../../ui/src/field-support.json");
const TRANSFORMATIONS: &str = include_str!("../../../ui/src/transformations.json");
const OPTION_SUPPORT: &str = include_str!("../../../ui/src/option-support.json");

impl Support {
    /// The lists as the UI is built with them.
    fn parse() -> Result<Self, serde_json::Error> {
        Ok(Self {
            panels: serde_json::from_str(PANEL_SUPPORT)?,
            fields: serde_json::from_str(FIELD_SUPPORT)?,
            transformations: serde_json::from_str(TRANSFORMATIONS)?,
            options: serde_json::from_str(OPTION_SUPPORT)?,
        })
    }

    fn draws_type(&self, kind: &str) -> bool {
        self.panels.drawn.iter().any(|t| t == kind)
    }

    fn formats_unit(&self, unit: &str) -> bool {
        unit.is_empty()
            || self.fields.units.iter().any(|u| u == unit)
            || self
                .fields
                .custom_unit_prefixes
                .iter()
                .any(|p| unit.starts_with(p.as_str()))
    }
}

/// The lists, parsed once. They are compiled in and a unit test parses them, so the
/// empty lists of a failed parse (everything would warn) cannot ship.
static SUPPORT: LazyLock<Support> = LazyLock::new(|| Support::parse().unwrap_or_default());

/// What of `dashboard`'s panels Skywatch cannot draw as Grafana draws them.
pub fn drawing(dashboard: &Value) -> Drawing {
    drawing_with(dashboard, &SUPPORT)
}

pub(crate) fn drawing_with(dashboard: &Value, support: &Support) -> Drawing {
    let mut out = Drawing::default();
    let visit = |panel: &Value, path: String, out: &mut Drawing| {
        if panel.get("type").and_then(Value::as_str) == Some("row") {
            out.rows += 1;
            return;
        }
        out.panels += 1;
        let (warnings, notes) = panel_warnings(panel, &path, support);
        if !warnings.is_empty() || !notes.is_empty() {
            out.listed.push(PanelWarnings {
                name: crate::check::panel_name(panel),
                path,
                warnings,
                notes,
            });
        }
    };
    for (i, panel) in array(dashboard, "panels").enumerate() {
        visit(panel, format!("panels[{i}]"), &mut out);
        // A collapsed row holds its panels.
        for (j, inner) in array(panel, "panels").enumerate() {
            visit(inner, format!("panels[{i}].panels[{j}]"), &mut out);
        }
    }
    out
}

fn array<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

/// The value at a dot-separated path.
fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// Whether two values are the same, numbers by value (`0` and `0.0` alike, as in the UI).
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// The warnings and notes of one panel (not a row), whose path is `path`.
fn panel_warnings(panel: &Value, path: &str, support: &Support) -> (Vec<Warning>, Vec<Warning>) {
    let mut out: Vec<Warning> = Vec::new();
    let mut notes: Vec<Warning> = Vec::new();
    let mut warn = |kind: Kind, at: String, message: String| {
        // One warning a place: an unknown colour mode is not also a colour the chart ignores.
        if !out.iter().any(|w| w.path == at) {
            out.push(Warning {
                kind,
                path: at,
                message,
            });
        }
    };
    let kind = panel.get("type").and_then(Value::as_str).unwrap_or("");
    if !support.draws_type(kind) {
        warn(
            Kind::PanelType,
            format!("{path}.type"),
            format!("panel type {kind:?} is not drawn"),
        );
        return (out, notes);
    }

    // Units, wherever the panel keeps them.
    let mut units: Vec<(String, &Value)> = Vec::new();
    if let Some(u) = at(panel, "fieldConfig.defaults.unit") {
        units.push((format!("{path}.fieldConfig.defaults.unit"), u));
    }
    if kind == "heatmap"
        && let Some(u) = at(panel, "options.yAxis.unit")
    {
        units.push((format!("{path}.options.yAxis.unit"), u));
    }
    match kind {
        "graph" => {
            for (i, axis) in array(panel, "yaxes").enumerate() {
                if let Some(u) = axis.get("format") {
                    units.push((format!("{path}.yaxes[{i}].format"), u));
                }
                let base = axis.get("logBase").and_then(Value::as_f64).unwrap_or(1.0);
                if base != 1.0 {
                    warn(
                        Kind::Option,
                        format!("{path}.yaxes[{i}].logBase"),
                        format!("a logarithmic axis (drawn linear): {base}"),
                    );
                }
            }
        }
        "singlestat" => {
            if let Some(u) = panel.get("format") {
                units.push((format!("{path}.format"), u));
            }
        }
        "table-old" => {
            for (i, style) in array(panel, "styles").enumerate() {
                if let Some(u) = style.get("unit") {
                    units.push((format!("{path}.styles[{i}].unit"), u));
                }
            }
        }
        _ => {}
    }
    let overrides: Vec<&Value> = panel
        .get("fieldConfig")
        .map(|f| array(f, "overrides").collect())
        .unwrap_or_default();
    for (j, o) in overrides.iter().enumerate() {
        for (k, p) in array(o, "properties").enumerate() {
            if p.get("id").and_then(Value::as_str) == Some("unit")
                && let Some(u) = p.get("value")
            {
                units.push((
                    format!("{path}.fieldConfig.overrides[{j}].properties[{k}].value"),
                    u,
                ));
            }
        }
    }
    for (place, unit) in units {
        if let Some(u) = unit.as_str()
            && !support.formats_unit(u)
        {
            // Grafana shows an id outside its catalogue as a suffix ("5 rds"), and so does
            // Skywatch: drawn as Grafana draws it, so a note, not a warning.
            notes.push(Warning {
                kind: Kind::Unit,
                path: place,
                message: format!("unit {u:?} is not in Grafana's catalogue: shown as a suffix, as Grafana shows it (a misspelt unit id?)"),
            });
        }
    }

    // Override matchers.
    for (j, o) in overrides.iter().enumerate() {
        let id = at(o, "matcher.id").and_then(Value::as_str).unwrap_or("");
        if !support.fields.matchers.iter().any(|m| m == id) {
            warn(
                Kind::Matcher,
                format!("{path}.fieldConfig.overrides[{j}].matcher.id"),
                format!(
                    "override matcher {id:?} is not applied: the override's properties are lost"
                ),
            );
        }
    }

    // Colour modes, in the defaults and the overrides.
    let mut modes: Vec<(String, &Value)> = Vec::new();
    if let Some(m) = at(panel, "fieldConfig.defaults.color.mode") {
        modes.push((format!("{path}.fieldConfig.defaults.color.mode"), m));
    }
    for (j, o) in overrides.iter().enumerate() {
        for (k, p) in array(o, "properties").enumerate() {
            if p.get("id").and_then(Value::as_str) == Some("color")
                && let Some(m) = p.get("value").and_then(|v| v.get("mode"))
            {
                modes.push((
                    format!("{path}.fieldConfig.overrides[{j}].properties[{k}].value.mode"),
                    m,
                ));
            }
        }
    }
    for (place, mode) in modes {
        if let Some(m) = mode.as_str()
            && !support.fields.color_modes.iter().any(|c| c == m)
        {
            warn(
                Kind::ColorMode,
                place,
                format!("colour mode {m:?} is not drawn"),
            );
        }
    }

    // Transformations.
    let enabled: Vec<(usize, &Value)> = array(panel, "transformations")
        .enumerate()
        .filter(|(_, t)| t.get("disabled").and_then(Value::as_bool) != Some(true))
        .collect();
    if !enabled.is_empty() && !support.options.transformed_panels.iter().any(|t| t == kind) {
        warn(
            Kind::Transformation,
            format!("{path}.transformations"),
            format!(
                "transformations are applied to {} panels only: this {kind} panel's data are drawn untransformed",
                support.options.transformed_panels.join(", ")
            ),
        );
    } else {
        for (i, t) in enabled {
            let id = t.get("id").and_then(Value::as_str).unwrap_or("");
            if !support.transformations.iter().any(|s| s == id) {
                warn(
                    Kind::Transformation,
                    format!("{path}.transformations[{i}].id"),
                    format!(
                        "transformation {id:?} is not applied: the data are drawn as they come before it"
                    ),
                );
            }
        }
    }

    // Other options, with the values the UI draws.
    for rule in &support.options.options {
        if !rule.panels.is_empty() && !rule.panels.iter().any(|p| p == kind) {
            continue;
        }
        let rule_kind = rule
            .kind
            .as_deref()
            .and_then(Kind::parse)
            .unwrap_or(Kind::Option);
        let mut found: Vec<(String, &Value)> = Vec::new();
        if let Some(v) = at(panel, &rule.path) {
            found.push((format!("{path}.{}", rule.path), v));
        }
        if let Some(rest) = rule.path.strip_prefix("fieldConfig.defaults.") {
            for (j, o) in overrides.iter().enumerate() {
                for (k, p) in array(o, "properties").enumerate() {
                    let Some(id) = p.get("id").and_then(Value::as_str) else {
                        continue;
                    };
                    let value = p.get("value");
                    let place = format!("{path}.fieldConfig.overrides[{j}].properties[{k}].value");
                    if id == rest {
                        if let Some(v) = value {
                            found.push((place, v));
                        }
                    } else if let Some(sub) =
                        rest.strip_prefix(id).and_then(|s| s.strip_prefix('.'))
                        && let Some(v) = value.and_then(|v| at(v, sub))
                    {
                        found.push((format!("{place}.{sub}"), v));
                    }
                }
            }
        }
        for (place, value) in found {
            if value.is_null() || rule.drawn.iter().any(|d| same(d, value)) {
                continue;
            }
            warn(rule_kind, place, format!("{}: {}", rule.what, shown(value)));
        }
    }
    (out, notes)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The warnings of a dashboard of `panels`, as `(panel path, kind, path)` rows.
    fn check(panels: Value, support: &Support) -> Vec<(String, &'static str, String)> {
        let d = json!({"title": "T", "schemaVersion": 39, "panels": panels});
        rows_of(&drawing_with(&d, support), false)
    }

    /// The warnings (or the notes) found, as `(panel path, kind, path)` rows.
    fn rows_of(found: &Drawing, notes: bool) -> Vec<(String, &'static str, String)> {
        found
            .listed
            .iter()
            .flat_map(|p| {
                let list = if notes { &p.notes } else { &p.warnings };
                list.iter()
                    .map(|w| (p.path.clone(), w.kind.as_str(), w.path.clone()))
            })
            .collect()
    }

    fn row(p: &str, kind: &'static str, path: &str) -> (String, &'static str, String) {
        (p.to_owned(), kind, path.to_owned())
    }

    fn shipped() -> Support {
        Support::parse().unwrap()
    }

    #[test]
    fn the_lists_of_the_ui_parse_and_are_not_empty() {
        let s = shipped();
        assert!(s.draws_type("timeseries") && s.draws_type("row"));
        assert!(s.formats_unit("bytes") && s.formats_unit("suffix:req") && s.formats_unit(""));
        assert!(!s.formats_unit("byte"));
        assert!(s.fields.matchers.iter().any(|m| m == "byRegexp"));
        assert!(s.fields.color_modes.iter().any(|m| m == "palette-classic"));
        assert!(s.transformations.iter().any(|t| t == "organize"));
        assert!(!s.options.options.is_empty());
        for rule in &s.options.options {
            assert!(
                rule.kind
                    .as_deref()
                    .is_none_or(|k| Kind::parse(k).is_some()),
                "{rule:?}"
            );
        }
    }

    #[test]
    fn a_panel_drawn_as_grafana_draws_it_has_no_warnings() {
        let d = json!({"panels": [
            {"id": 1, "type": "row", "title": "R", "collapsed": true, "panels": [
                {"id": 2, "type": "timeseries", "title": "Rx/Tx",
                 "fieldConfig": {
                    "defaults": {"unit": "bps", "color": {"mode": "palette-classic"},
                                 "custom": {"stacking": {"mode": "normal"}, "drawStyle": "bars",
                                            "scaleDistribution": {"type": "linear"}, "gradientMode": "none"}},
                    "overrides": [{"matcher": {"id": "byRegexp", "options": "/.*Tx.*/"},
                                   "properties": [{"id": "custom.transform", "value": "negative-Y"},
                                                  {"id": "unit", "value": "pps"},
                                                  {"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}}]}]}},
            ]},
            {"id": 3, "type": "table", "title": "Disks",
             "transformations": [{"id": "merge"}, {"id": "timeSeriesTable", "disabled": true}],
             "options": {"sortBy": [], "footer": {"show": false}}},
            {"id": 4, "type": "stat", "title": "Up", "timeFrom": null, "timeShift": "",
             "options": {"reduceOptions": {"values": false, "fields": "", "calcs": ["lastNotNull"]}}},
        ]});
        let found = drawing_with(&d, &shipped());
        assert_eq!((found.panels, found.rows, found.drawn()), (3, 1, 3));
        assert_eq!(found.listed, []);
    }

    #[test]
    fn each_kind_is_named_with_its_path() {
        let panels = json!([
            {"id": 1, "type": "geomap", "title": "Map", "fieldConfig": {"defaults": {"unit": "nope"}}},
            {"id": 2, "type": "row", "title": "R", "collapsed": true, "panels": [
                {"id": 3, "type": "timeseries", "title": "Net",
                 "fieldConfig": {
                    "defaults": {"unit": "kbps", "color": {"mode": "continuous-GrYlRd"},
                                 "custom": {"scaleDistribution": {"type": "log", "log": 2}}},
                    "overrides": [
                        {"matcher": {"id": "byLabel", "options": "x"}, "properties": []},
                        {"matcher": {"id": "byName", "options": "a"},
                         "properties": [{"id": "unit", "value": "Bytes"},
                                        {"id": "color", "value": {"mode": "rainbow"}},
                                        {"id": "custom.fillBelowTo", "value": "b"},
                                        {"id": "custom.scaleDistribution", "value": {"type": "linear"}}]}]},
                 "transformations": [{"id": "organize"}]},
            ]},
            {"id": 4, "type": "table", "title": "T", "transformations": [{"id": "merge"}, {"id": "timeSeriesTable"}],
             "options": {"sortBy": [{"displayName": "x", "desc": true}]}},
            {"id": 5, "type": "stat", "title": "S", "timeFrom": "24h",
             "options": {"reduceOptions": {"values": true}}},
        ]);
        let d = json!({"panels": panels});
        let found = drawing_with(&d, &shipped());
        // Units outside Grafana's catalogue are shown as a suffix by both: notes.
        assert_eq!(
            rows_of(&found, true),
            [
                row(
                    "panels[1].panels[0]",
                    "unit",
                    "panels[1].panels[0].fieldConfig.defaults.unit"
                ),
                row(
                    "panels[1].panels[0]",
                    "unit",
                    "panels[1].panels[0].fieldConfig.overrides[1].properties[0].value"
                ),
            ]
        );
        assert_eq!(
            rows_of(&found, false),
            [
                row("panels[0]", "panel-type", "panels[0].type"),
                row(
                    "panels[1].panels[0]",
                    "matcher",
                    "panels[1].panels[0].fieldConfig.overrides[0].matcher.id"
                ),
                row(
                    "panels[1].panels[0]",
                    "color-mode",
                    "panels[1].panels[0].fieldConfig.overrides[1].properties[1].value.mode"
                ),
                row(
                    "panels[1].panels[0]",
                    "transformation",
                    "panels[1].panels[0].transformations"
                ),
                row(
                    "panels[1].panels[0]",
                    "option",
                    "panels[1].panels[0].fieldConfig.defaults.custom.scaleDistribution.type"
                ),
                // Drawn by fields.ts for a stat, but the chart colours series by the palette.
                row(
                    "panels[1].panels[0]",
                    "color-mode",
                    "panels[1].panels[0].fieldConfig.defaults.color.mode"
                ),
                row(
                    "panels[2]",
                    "transformation",
                    "panels[2].transformations[1].id"
                ),
                row("panels[2]", "option", "panels[2].options.sortBy"),
                row("panels[3]", "option", "panels[3].timeFrom"),
                row(
                    "panels[3]",
                    "option",
                    "panels[3].options.reduceOptions.values"
                ),
            ]
        );
    }

    #[test]
    fn legacy_panels_warn_as_a_type_until_the_ui_draws_them_then_by_their_own_options() {
        let panels = json!([
            {"id": 1, "type": "graph", "title": "G",
             "yaxes": [{"format": "bytes", "logBase": 1}, {"format": "kbps", "logBase": 10}]},
            {"id": 2, "type": "singlestat", "title": "S", "format": "percents"},
            {"id": 3, "type": "table-old", "title": "T", "styles": [{"unit": "short"}, {"unit": "sec"}]},
        ]);
        let mut support = shipped();
        support
            .panels
            .drawn
            .retain(|t| !["graph", "singlestat", "table-old"].contains(&t.as_str()));
        assert_eq!(
            check(panels.clone(), &support),
            [
                row("panels[0]", "panel-type", "panels[0].type"),
                row("panels[1]", "panel-type", "panels[1].type"),
                row("panels[2]", "panel-type", "panels[2].type"),
            ]
        );
        support
            .panels
            .drawn
            .extend(["graph", "singlestat", "table-old"].map(String::from));
        let d = json!({"panels": panels});
        let found = drawing_with(&d, &support);
        assert_eq!(
            rows_of(&found, false),
            [row("panels[0]", "option", "panels[0].yaxes[1].logBase")]
        );
        assert_eq!(
            rows_of(&found, true),
            [
                row("panels[0]", "unit", "panels[0].yaxes[1].format"),
                row("panels[1]", "unit", "panels[1].format"),
                row("panels[2]", "unit", "panels[2].styles[1].unit"),
            ]
        );
        assert_eq!((found.panels, found.flagged(), found.drawn()), (3, 1, 2));
    }

    #[test]
    fn messages_say_what_is_not_drawn() {
        let d = json!({"panels": [
            {"id": 7, "type": "timeseries", "title": "Load",
             "fieldConfig": {"defaults": {"unit": "kbps", "custom": {"gradientMode": "opacity"}}}},
        ]});
        let found = drawing_with(&d, &shipped());
        assert_eq!(found.listed[0].name, "panel \"Load\" (id 7)");
        let lines = |list: &[Warning]| list.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(
            lines(&found.listed[0].warnings),
            [
                "[option] panels[0].fieldConfig.defaults.custom.gradientMode: a gradient fill (drawn flat): \"opacity\""
            ]
        );
        assert_eq!(
            lines(&found.listed[0].notes),
            [
                "[unit] panels[0].fieldConfig.defaults.unit: unit \"kbps\" is not in Grafana's catalogue: shown as a suffix, as Grafana shows it (a misspelt unit id?)"
            ]
        );
    }

    /// The fixture the UI's marker is tested on too (`ui/tests/unit/not-drawn.test.ts`):
    /// both must find exactly what it expects.
    #[test]
    fn the_shared_fixture_warns_as_expected() {
        let fixture: Value =
            serde_json::from_str(include_str!("../testdata/not-drawn.json")).unwrap();
        let expected: Vec<(String, String, String)> =
            serde_json::from_str(include_str!("../testdata/not-drawn.expected.json")).unwrap();
        let found = drawing(&fixture);
        let owned = |rows: Vec<(String, &str, String)>| {
            rows.into_iter()
                .map(|(p, k, w)| (p, k.to_owned(), w))
                .collect::<Vec<_>>()
        };
        assert_eq!(owned(rows_of(&found, false)), expected);
        // Not drawn differently, so not in the UI's marker either.
        assert_eq!(
            rows_of(&found, true),
            [
                row(
                    "panels[2].panels[0]",
                    "unit",
                    "panels[2].panels[0].fieldConfig.defaults.unit"
                ),
                row(
                    "panels[2].panels[4]",
                    "unit",
                    "panels[2].panels[4].options.yAxis.unit"
                ),
            ]
        );
    }
}
