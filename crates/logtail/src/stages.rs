//! Promtail's pipeline stages, the subset Skywatch runs: parsing stages (`json`, `logfmt`,
//! `regex`) fill the *extracted* map from the line; `labels`, `structured_metadata` and
//! `static_labels` turn extracted values into stream labels or structured metadata;
//! `labeldrop` and `labelallow` trim the labels; `timestamp` sets the entry's time;
//! `output` replaces the line; `drop` discards lines; `match` runs stages (or drops) only
//! for lines whose labels and text match a LogQL selector. Each behaves as Promtail's does
//! (`clients/pkg/logentry/stages/`), including what happens when a value is missing: the
//! stage does nothing. Stages Promtail has and Skywatch does not are refused by name with
//! their line.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use model::{Labels, LabelsBuilder, Matcher};
use serde::Deserialize;
use serde::de::IgnoredAny;
use yaml::Spanned;

use crate::config::{check_label_name, not_supported};
use crate::timefmt::TimeParser;

/// A stage as written: one key naming the stage, its configuration under it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawStage {
    Json(RawJson),
    Logfmt(RawLogfmt),
    Regex(RawRegex),
    Labels(BTreeMap<String, String>),
    StructuredMetadata(BTreeMap<String, String>),
    StaticLabels(BTreeMap<String, String>),
    Labeldrop(Vec<String>),
    Labelallow(Vec<String>),
    Timestamp(RawTimestamp),
    Output(RawOutput),
    Drop(RawDrop),
    Match(RawMatch),
    // Promtail's other stages, refused by name.
    Docker(IgnoredAny),
    Cri(IgnoredAny),
    Template(IgnoredAny),
    Replace(IgnoredAny),
    Multiline(IgnoredAny),
    Pack(IgnoredAny),
    Metrics(IgnoredAny),
    Tenant(IgnoredAny),
    Limit(IgnoredAny),
    Sampling(IgnoredAny),
    Geoip(IgnoredAny),
    Decolorize(IgnoredAny),
    Eventlogmessage(IgnoredAny),
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawJson {
    expressions: BTreeMap<String, String>,
    source: Option<String>,
    drop_malformed: bool,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawLogfmt {
    mapping: BTreeMap<String, String>,
    source: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawRegex {
    expression: String,
    source: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawTimestamp {
    source: String,
    format: String,
    fallback_formats: Vec<String>,
    location: Option<String>,
    action_on_failure: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawOutput {
    source: String,
}

/// `source` of a `drop` stage: one name or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawDrop {
    source: Option<OneOrMany>,
    separator: Option<String>,
    expression: Option<String>,
    value: Option<String>,
    older_than: Option<String>,
    longer_than: Option<String>,
    drop_counter_reason: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawMatch {
    selector: String,
    stages: Vec<Spanned<RawStage>>,
    action: Option<String>,
    drop_counter_reason: Option<String>,
    pipeline_name: Option<String>,
}

/// A value of the extracted map, typed as Promtail's (JSON's types; other stages give
/// strings).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text.
    Str(String),
    /// A JSON number.
    Num(f64),
    /// A JSON boolean.
    Bool(bool),
    /// A JSON null, or a JSON path that found nothing.
    Null,
}

impl Value {
    /// The value as Promtail's `getString` gives it: numbers in Go's shortest form; `None`
    /// for null, which no stage can use.
    pub fn as_string(&self) -> Option<String> {
        match self {
            Self::Str(s) => Some(s.clone()),
            Self::Num(n) => Some(format_float(*n)),
            Self::Bool(b) => Some(b.to_string()),
            Self::Null => None,
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: the shortest decimal that reads back the
/// same, never in exponent form.
fn format_float(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e21 {
        return format!("{f:.0}");
    }
    // Rust's Display is the shortest round-trip form without an exponent as well.
    format!("{f}")
}

/// A line going through a pipeline.
#[derive(Debug, Clone)]
pub struct Line {
    /// The stream labels: the target's, then what stages set.
    pub labels: LabelsBuilder,
    /// Structured metadata stages set.
    pub metadata: LabelsBuilder,
    /// Values parsing stages extracted.
    pub extracted: HashMap<String, Value>,
    /// Unix nanoseconds: when the line was read, until a `timestamp` stage sets it.
    pub timestamp: i64,
    /// The line.
    pub line: String,
}

impl Line {
    /// A line read at `timestamp` from a target with `labels`.
    pub fn new(labels: &Labels, timestamp: i64, line: String) -> Self {
        Self {
            labels: labels.builder(),
            metadata: LabelsBuilder::new(),
            extracted: HashMap::new(),
            timestamp,
            line,
        }
    }

    fn string(&self, key: &str) -> Option<String> {
        self.extracted.get(key).and_then(Value::as_string)
    }
}

/// What a pipeline did with a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The line goes on to the store.
    Keep,
    /// A `drop` stage (or a `match` with `action: drop`) discarded it; the reason is the
    /// stage's `drop_counter_reason` (Promtail's default `drop_stage`/`match_stage`).
    Dropped(String),
}

/// Per-pipeline state kept between lines: the last timestamp of each label set, which the
/// `timestamp` stage's `action_on_failure: fudge` uses.
#[derive(Debug, Default)]
pub struct State {
    last: HashMap<Labels, i64>,
}

/// A compiled list of stages.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    stages: Vec<Stage>,
}

#[derive(Debug, Clone)]
enum Stage {
    Json {
        expressions: Vec<(String, Vec<Step>)>,
        source: Option<String>,
        drop_malformed: bool,
    },
    Logfmt {
        mapping: Vec<(String, String)>,
        source: Option<String>,
    },
    Regex {
        regex: regex::Regex,
        source: Option<String>,
    },
    Labels(Vec<(String, String)>),
    StructuredMetadata(Vec<(String, String)>),
    StaticLabels(Vec<(String, String)>),
    LabelDrop(Vec<String>),
    LabelAllow(Vec<String>),
    Timestamp {
        source: String,
        parser: TimeParser,
        fudge: bool,
    },
    Output(String),
    Drop(Box<DropStage>),
    Match(Box<MatchStage>),
}

#[derive(Debug, Clone)]
struct DropStage {
    source: Option<Vec<String>>,
    separator: String,
    regex: Option<regex::Regex>,
    older_than_ns: Option<i64>,
    longer_than: Option<usize>,
    reason: String,
}

#[derive(Debug, Clone)]
struct MatchStage {
    matchers: Vec<Matcher>,
    filters: Vec<logql::LineFilter>,
    drop: Option<String>,
    pipeline: Pipeline,
}

/// A JSON path step: a key or an index (negative from the end, as JMESPath has it).
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(i64),
}

impl Pipeline {
    /// Compiles `pipeline_stages`.
    pub(crate) fn compile(raw: &[Spanned<RawStage>]) -> Result<Self, String> {
        let mut stages = Vec::with_capacity(raw.len());
        for s in raw {
            let line = s.referenced.line();
            stages.push(compile(&s.value, line).map_err(|e| {
                if e.starts_with("line ") {
                    e
                } else {
                    format!("line {line}: {e}")
                }
            })?);
        }
        Ok(Self { stages })
    }

    /// The number of stages.
    pub fn len(&self) -> usize {
        self.stages.len()
    }

    /// Whether there are no stages.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Runs the stages over `line`; `now` (Unix nanoseconds) is what `drop`'s
    /// `older_than` measures from.
    pub fn run(&self, line: &mut Line, state: &mut State, now: i64) -> Outcome {
        for stage in &self.stages {
            if let Outcome::Dropped(reason) = stage.run(line, state, now) {
                return Outcome::Dropped(reason);
            }
        }
        Outcome::Keep
    }
}

fn label_map(stage: &str, map: &BTreeMap<String, String>) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::with_capacity(map.len());
    for (name, source) in map {
        check_label_name(name).map_err(|e| format!("{stage}: {e}"))?;
        let source = if source.is_empty() { name } else { source };
        out.push((name.clone(), source.clone()));
    }
    Ok(out)
}

fn compile(raw: &RawStage, line: u64) -> Result<Stage, String> {
    Ok(match raw {
        RawStage::Json(j) => {
            if j.expressions.is_empty() {
                return Err("json: expressions are required (JMES expression is required); name the fields to extract".into());
            }
            if j.source.as_deref() == Some("") {
                return Err(
                    "json: source is empty; name an extracted value or remove the key".into(),
                );
            }
            let mut expressions = Vec::new();
            for (name, expr) in &j.expressions {
                let expr = if expr.is_empty() { name } else { expr };
                let path =
                    json_path(expr).map_err(|e| format!("json: expression {name:?}: {e}"))?;
                expressions.push((name.clone(), path));
            }
            Stage::Json {
                expressions,
                source: j.source.clone(),
                drop_malformed: j.drop_malformed,
            }
        }
        RawStage::Logfmt(l) => {
            if l.mapping.is_empty() {
                return Err("logfmt: mapping is required; name the fields to extract".into());
            }
            Stage::Logfmt {
                mapping: l
                    .mapping
                    .iter()
                    .map(|(k, v)| (k.clone(), if v.is_empty() { k.clone() } else { v.clone() }))
                    .collect(),
                source: l.source.clone(),
            }
        }
        RawStage::Regex(r) => {
            if r.expression.is_empty() {
                return Err("regex: expression is required".into());
            }
            let regex = regex::Regex::new(&r.expression)
                .map_err(|e| format!("regex: could not compile {:?}: {e}", r.expression))?;
            if regex.capture_names().flatten().next().is_none() {
                return Err(format!(
                    "regex: {:?} has no named capture group; name what to extract with (?P<name>...)",
                    r.expression
                ));
            }
            Stage::Regex {
                regex,
                source: r.source.clone(),
            }
        }
        RawStage::Labels(m) => Stage::Labels(label_map("labels", m)?),
        RawStage::StructuredMetadata(m) => {
            Stage::StructuredMetadata(label_map("structured_metadata", m)?)
        }
        RawStage::StaticLabels(m) => {
            for name in m.keys() {
                check_label_name(name).map_err(|e| format!("static_labels: {e}"))?;
            }
            Stage::StaticLabels(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        }
        RawStage::Labeldrop(names) => Stage::LabelDrop(names.clone()),
        RawStage::Labelallow(names) => Stage::LabelAllow(names.clone()),
        RawStage::Timestamp(t) => {
            if t.source.is_empty() {
                return Err(
                    "timestamp: source is required; name the extracted value holding the time"
                        .into(),
                );
            }
            if t.format.is_empty() {
                return Err("timestamp: format is required (RFC3339, Unix, UnixMs, UnixUs, UnixNs, or a Go layout such as 2006-01-02 15:04:05)".into());
            }
            let fudge = match t.action_on_failure.as_deref() {
                None | Some("fudge") => true,
                Some("skip") => false,
                Some(other) => {
                    return Err(format!(
                        "timestamp: action_on_failure {other:?} is not one of fudge, skip"
                    ));
                }
            };
            let parser = TimeParser::new(&t.format, &t.fallback_formats, t.location.as_deref())
                .map_err(|e| format!("timestamp: {e}"))?;
            Stage::Timestamp {
                source: t.source.clone(),
                parser,
                fudge,
            }
        }
        RawStage::Output(o) => {
            if o.source.is_empty() {
                return Err(
                    "output: source is required; name the extracted value to send as the line"
                        .into(),
                );
            }
            Stage::Output(o.source.clone())
        }
        RawStage::Drop(d) => Stage::Drop(Box::new(drop_stage(d)?)),
        RawStage::Match(m) => Stage::Match(Box::new(match_stage(m)?)),
        RawStage::Docker(_) => return Err(not_supported("pipeline stage docker", line)),
        RawStage::Cri(_) => return Err(not_supported("pipeline stage cri", line)),
        RawStage::Template(_) => return Err(not_supported("pipeline stage template", line)),
        RawStage::Replace(_) => return Err(not_supported("pipeline stage replace", line)),
        RawStage::Multiline(_) => return Err(not_supported("pipeline stage multiline", line)),
        RawStage::Pack(_) => return Err(not_supported("pipeline stage pack", line)),
        RawStage::Metrics(_) => return Err(not_supported("pipeline stage metrics", line)),
        RawStage::Tenant(_) => return Err(not_supported("pipeline stage tenant", line)),
        RawStage::Limit(_) => return Err(not_supported("pipeline stage limit", line)),
        RawStage::Sampling(_) => return Err(not_supported("pipeline stage sampling", line)),
        RawStage::Geoip(_) => return Err(not_supported("pipeline stage geoip", line)),
        RawStage::Decolorize(_) => return Err(not_supported("pipeline stage decolorize", line)),
        RawStage::Eventlogmessage(_) => {
            return Err(not_supported("pipeline stage eventlogmessage", line));
        }
    })
}

fn drop_stage(d: &RawDrop) -> Result<DropStage, String> {
    if d.source.is_none()
        && d.expression.is_none()
        && d.older_than.is_none()
        && d.longer_than.is_none()
    {
        return Err(
            "drop: give at least one of source, expression, older_than or longer_than".into(),
        );
    }
    if d.value.is_some() && d.source.is_none() {
        return Err("drop: value needs a source".into());
    }
    if d.value.is_some() && d.expression.is_some() {
        return Err("drop: value and expression cannot both be given; keep one".into());
    }
    if d.value.is_some() {
        return Err("drop: value is not supported by Skywatch; write expression: '^value$' with the same source".into());
    }
    let regex = d
        .expression
        .as_deref()
        .map(|e| {
            regex::Regex::new(e)
                .map_err(|err| format!("drop: could not compile expression {e:?}: {err}"))
        })
        .transpose()?;
    let older_than_ns = d
        .older_than
        .as_deref()
        .map(|s| {
            model::parse_duration(s)
                .filter(|ms| *ms > 0)
                .map(|ms| ms * 1_000_000)
                .ok_or_else(|| {
                    format!("drop: older_than {s:?} is not a duration; write one such as 24h")
                })
        })
        .transpose()?;
    let longer_than = d
        .longer_than
        .as_deref()
        .map(|s| {
            scrape::config::parse_byte_size(s)
                .or_else(|| s.parse().ok())
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    format!("drop: longer_than {s:?} is not a size; write one such as 8KB")
                })
        })
        .transpose()?;
    Ok(DropStage {
        source: d.source.as_ref().map(|s| match s {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }),
        separator: d.separator.clone().unwrap_or_else(|| ";".into()),
        regex,
        older_than_ns,
        longer_than,
        reason: d
            .drop_counter_reason
            .clone()
            .unwrap_or_else(|| "drop_stage".into()),
    })
}

fn match_stage(m: &RawMatch) -> Result<MatchStage, String> {
    let _ = &m.pipeline_name;
    if m.selector.is_empty() {
        return Err("match: selector is required".into());
    }
    let expr =
        logql::parse(&m.selector).map_err(|e| format!("match: selector {:?}: {e}", m.selector))?;
    let logql::Expr::Log(log) = expr else {
        return Err(format!(
            "match: selector {:?} is a metric query; write a log selector such as {{app=\"x\"}}",
            m.selector
        ));
    };
    let mut filters = Vec::new();
    for stage in log.stages {
        match stage {
            logql::Stage::LineFilter(f)
                if !matches!(f.op, logql::LineOp::Pattern | logql::LineOp::NotPattern) =>
            {
                filters.push(f)
            }
            _ => {
                return Err(format!(
                    "match: selector {:?}: Skywatch matches on stream matchers and line filters (|= != |~ !~) only; move the rest into the match's stages",
                    m.selector
                ));
            }
        }
    }
    let drop = match m.action.as_deref() {
        None | Some("keep") => {
            if m.stages.is_empty() {
                return Err("match: stages are required with action keep".into());
            }
            None
        }
        Some("drop") => {
            if !m.stages.is_empty() {
                return Err("match: stages cannot be given with action drop".into());
            }
            Some(
                m.drop_counter_reason
                    .clone()
                    .unwrap_or_else(|| "match_stage".into()),
            )
        }
        Some(other) => return Err(format!("match: action {other:?} is not one of keep, drop")),
    };
    Ok(MatchStage {
        matchers: log.matchers,
        filters,
        drop,
        pipeline: Pipeline::compile(&m.stages)?,
    })
}

/// Reads a JSON path of Promtail's `json` stage. Promtail takes full JMESPath; Skywatch
/// takes what configurations use: names (`a`, `"a-b"`), `.` between them, and `[n]`.
fn json_path(expr: &str) -> Result<Vec<Step>, String> {
    let unsupported = || {
        format!(
            "{expr:?} is not a JMESPath expression Skywatch supports: write field names (quoted with \"...\" when they hold other characters), dots and [index]"
        )
    };
    let mut steps = Vec::new();
    let mut rest = expr.trim();
    let mut first = true;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(unsupported)?;
            let n: i64 = r[..end].trim().parse().map_err(|_| unsupported())?;
            steps.push(Step::Index(n));
            rest = &r[end + 1..];
        } else {
            if !first {
                rest = rest.strip_prefix('.').ok_or_else(unsupported)?;
            }
            if rest.starts_with('"') {
                // A quoted identifier is a JSON string.
                let mut de = serde_json::Deserializer::from_str(rest).into_iter::<String>();
                let key = de.next().and_then(Result::ok).ok_or_else(unsupported)?;
                let used = de.byte_offset();
                steps.push(Step::Key(key));
                rest = &rest[used..];
            } else {
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                if end == 0 || rest.as_bytes()[0].is_ascii_digit() {
                    return Err(unsupported());
                }
                steps.push(Step::Key(rest[..end].to_owned()));
                rest = &rest[end..];
            }
        }
        first = false;
    }
    if steps.is_empty() {
        return Err(unsupported());
    }
    Ok(steps)
}

fn search<'a>(mut v: &'a serde_json::Value, path: &[Step]) -> Option<&'a serde_json::Value> {
    for step in path {
        v = match (step, v) {
            (Step::Key(k), serde_json::Value::Object(o)) => o.get(k)?,
            (Step::Index(i), serde_json::Value::Array(a)) => {
                let len = i64::try_from(a.len()).ok()?;
                let at = if *i < 0 { len + i } else { *i };
                a.get(usize::try_from(at).ok()?)?
            }
            _ => return None,
        };
    }
    Some(v)
}

/// Decodes a logfmt line as go-logfmt does: `key=value`, `key="quoted \"value\""`, a key
/// alone has the empty value. Keys are kept as written.
pub(crate) fn logfmt(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = line;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ' ' || c.is_ascii_control());
        if rest.is_empty() {
            break;
        }
        let key_end = rest
            .find(|c: char| c == '=' || c == ' ' || c == '"' || c.is_ascii_control())
            .unwrap_or(rest.len());
        let key = &rest[..key_end];
        rest = &rest[key_end..];
        if key.is_empty() {
            // A stray `=` or quote: skip it.
            rest = &rest[rest.chars().next().map_or(0, char::len_utf8)..];
            continue;
        }
        let Some(after) = rest.strip_prefix('=') else {
            out.push((key.to_owned(), String::new()));
            continue;
        };
        rest = after;
        if rest.starts_with('"') {
            let mut de = serde_json::Deserializer::from_str(rest).into_iter::<String>();
            match de.next() {
                Some(Ok(v)) => {
                    let used = de.byte_offset();
                    out.push((key.to_owned(), v));
                    rest = &rest[used..];
                }
                _ => {
                    // An unterminated or malformed quoted value: take the rest as it is.
                    out.push((key.to_owned(), rest[1..].to_owned()));
                    rest = "";
                }
            }
        } else {
            let end = rest
                .find(|c: char| c == ' ' || c.is_ascii_control())
                .unwrap_or(rest.len());
            out.push((key.to_owned(), rest[..end].to_owned()));
            rest = &rest[end..];
        }
    }
    out
}

impl Stage {
    fn run(&self, e: &mut Line, state: &mut State, now: i64) -> Outcome {
        match self {
            Self::Json {
                expressions,
                source,
                drop_malformed,
            } => {
                let input = match source {
                    Some(s) => match e.string(s) {
                        Some(v) => v,
                        None => return Outcome::Keep,
                    },
                    None => e.line.clone(),
                };
                let Ok(data) = serde_json::from_str::<serde_json::Value>(&input) else {
                    return malformed(*drop_malformed);
                };
                if !data.is_object() {
                    return malformed(*drop_malformed);
                }
                for (name, path) in expressions {
                    let v = match search(&data, path) {
                        None | Some(serde_json::Value::Null) => Value::Null,
                        Some(serde_json::Value::String(s)) => Value::Str(s.clone()),
                        Some(serde_json::Value::Bool(b)) => Value::Bool(*b),
                        Some(serde_json::Value::Number(n)) => {
                            Value::Num(n.as_f64().unwrap_or(f64::NAN))
                        }
                        Some(other) => Value::Str(other.to_string()),
                    };
                    e.extracted.insert(name.clone(), v);
                }
            }
            Self::Logfmt { mapping, source } => {
                let input = match source {
                    Some(s) => match e.string(s) {
                        Some(v) => v,
                        None => return Outcome::Keep,
                    },
                    None => e.line.clone(),
                };
                let pairs = logfmt(&input);
                for (name, key) in mapping {
                    if let Some((_, v)) = pairs.iter().find(|(k, _)| k == key) {
                        e.extracted.insert(name.clone(), Value::Str(v.clone()));
                    }
                }
            }
            Self::Regex { regex, source } => {
                let input = match source {
                    Some(s) => match e.string(s) {
                        Some(v) => v,
                        None => return Outcome::Keep,
                    },
                    None => e.line.clone(),
                };
                if let Some(caps) = regex.captures(&input) {
                    for name in regex.capture_names().flatten() {
                        let v = caps.name(name).map_or("", |m| m.as_str());
                        e.extracted
                            .insert(name.to_owned(), Value::Str(v.to_owned()));
                    }
                }
            }
            Self::Labels(map) => {
                for (name, source) in map {
                    if let Some(v) = e.string(source) {
                        e.labels.set(name, &v);
                    }
                }
            }
            Self::StructuredMetadata(map) => {
                for (name, source) in map {
                    if let Some(v) = e.string(source) {
                        e.metadata.set(name, &v);
                    }
                }
            }
            Self::StaticLabels(map) => {
                for (name, value) in map {
                    e.labels.set(name, value);
                }
            }
            Self::LabelDrop(names) => {
                for n in names {
                    e.labels.remove(n);
                }
            }
            Self::LabelAllow(names) => {
                let drop: Vec<String> = e
                    .labels
                    .iter()
                    .filter(|l| !names.iter().any(|n| n == l.name))
                    .map(|l| l.name.to_owned())
                    .collect();
                for n in drop {
                    e.labels.remove(&n);
                }
            }
            Self::Timestamp {
                source,
                parser,
                fudge,
            } => {
                let labels = e.labels.build();
                match e.string(source).and_then(|s| parser.parse(&s, now)) {
                    Some(ts) => {
                        e.timestamp = ts;
                        state.last.insert(labels, ts);
                    }
                    None if *fudge => {
                        // Promtail's fudge: one nanosecond after the last time parsed for
                        // the same labels, so the line keeps its place after it.
                        if let Some(last) = state.last.get_mut(&labels) {
                            *last += 1;
                            e.timestamp = *last;
                        }
                    }
                    None => {}
                }
            }
            Self::Output(source) => {
                if let Some(v) = e.string(source) {
                    e.line = v;
                }
            }
            Self::Drop(d) => return d.run(e, now),
            Self::Match(m) => {
                let labels = e.labels.build();
                let matched = model::matches_all(&m.matchers, &labels)
                    && m.filters.iter().all(|f| line_filter(f, &e.line));
                if matched {
                    if let Some(reason) = &m.drop {
                        return Outcome::Dropped(reason.clone());
                    }
                    return m.pipeline.run(e, state, now);
                }
            }
        }
        Outcome::Keep
    }
}

fn malformed(drop: bool) -> Outcome {
    if drop {
        Outcome::Dropped("malformed_json".into())
    } else {
        Outcome::Keep
    }
}

fn line_filter(f: &logql::LineFilter, line: &str) -> bool {
    match f.op {
        logql::LineOp::Contains => f.values.iter().any(|v| line.contains(v.as_str())),
        logql::LineOp::NotContains => !f.values.iter().any(|v| line.contains(v.as_str())),
        logql::LineOp::Regex => f.regexes.iter().any(|r| r.is_match(line)),
        logql::LineOp::NotRegex => !f.regexes.iter().any(|r| r.is_match(line)),
        // Refused when the stage is compiled.
        logql::LineOp::Pattern | logql::LineOp::NotPattern => true,
    }
}

impl DropStage {
    /// Promtail's rule: every condition given must hold for the line to be dropped.
    fn run(&self, e: &Line, now: i64) -> Outcome {
        if let Some(limit) = self.longer_than
            && e.line.len() <= limit
        {
            return Outcome::Keep;
        }
        if let Some(age) = self.older_than_ns
            && e.timestamp >= now.saturating_sub(age)
        {
            return Outcome::Keep;
        }
        match (&self.source, &self.regex) {
            (Some(sources), None) => {
                if !sources.iter().all(|s| e.extracted.contains_key(s)) {
                    return Outcome::Keep;
                }
            }
            (None, Some(regex)) => {
                if !regex.is_match(&e.line) {
                    return Outcome::Keep;
                }
            }
            (Some(sources), Some(regex)) => {
                let mut joined = String::new();
                let mut first = true;
                for s in sources {
                    if let Some(v) = e.extracted.get(s) {
                        let Some(v) = v.as_string() else {
                            return Outcome::Keep;
                        };
                        if !first {
                            joined.push_str(&self.separator);
                        }
                        let _ = write!(joined, "{v}");
                        first = false;
                    }
                }
                if !regex.is_match(&joined) {
                    return Outcome::Keep;
                }
            }
            (None, None) => {}
        }
        Outcome::Dropped(self.reason.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000_000_000;

    fn pipeline(stages: &str) -> Pipeline {
        let raw: Vec<Spanned<RawStage>> = yaml::from_str(stages).expect("yaml");
        Pipeline::compile(&raw).expect("compiles")
    }

    fn refused(stages: &str) -> String {
        let raw: Vec<Spanned<RawStage>> = match yaml::from_str(stages) {
            Ok(r) => r,
            Err(e) => return e.to_string(),
        };
        Pipeline::compile(&raw).expect_err("refused")
    }

    /// Runs `line` through `stages` from a target labelled `job="app"`; the labels,
    /// metadata, timestamp and line after, or the drop reason.
    fn run(stages: &str, line: &str) -> Result<(String, String, i64, String), String> {
        let p = pipeline(stages);
        let mut l = Line::new(&Labels::from_pairs([("job", "app")]), NOW, line.to_owned());
        match p.run(&mut l, &mut State::default(), NOW) {
            Outcome::Keep => Ok((
                l.labels.build().to_string(),
                l.metadata.build().to_string(),
                l.timestamp,
                l.line,
            )),
            Outcome::Dropped(r) => Err(r),
        }
    }

    #[test]
    fn json_extracts_paths_and_types() {
        let stages = r#"
- json:
    expressions:
      level:
      status: http.status
      first: tags[0]
      last: tags[-1]
      dotted: '"a.b"'
      ok:
      obj: http
- labels: {level: , status: , first: , last: , dotted: , ok: }
- structured_metadata: {obj: }
"#;
        let (labels, meta, _, _) = run(
            stages,
            r#"{"level":"warn","http":{"status":503},"tags":["x","y"],"a.b":"d","ok":true}"#,
        )
        .expect("kept");
        assert_eq!(
            labels,
            r#"{dotted="d",first="x",job="app",last="y",level="warn",ok="true",status="503"}"#
        );
        assert_eq!(meta, r#"{obj="{\"status\":503}"}"#);
        // A line that is no JSON passes unchanged; with drop_malformed it is dropped.
        let (labels, ..) = run(stages, "not json").expect("kept");
        assert_eq!(labels, r#"{job="app"}"#);
        let e = run("- json: {expressions: {a: }, drop_malformed: true}", "x{").unwrap_err();
        assert_eq!(e, "malformed_json");
    }

    #[test]
    fn json_source_reads_an_extracted_value() {
        let stages = r#"
- json: {expressions: {inner: }}
- json: {expressions: {user: name}, source: inner}
- labels: {user: }
"#;
        let (labels, ..) = run(stages, r#"{"inner":"{\"name\":\"ann\"}"}"#).expect("kept");
        assert_eq!(labels, r#"{job="app",user="ann"}"#);
    }

    #[test]
    fn logfmt_maps_fields() {
        let stages = r#"
- logfmt: {mapping: {lvl: level, msg: }}
- labels: {lvl: }
- output: {source: msg}
"#;
        let (labels, _, _, line) =
            run(stages, r#"ts=1 level=error msg="peer \"b\" lost" flag"#).expect("kept");
        assert_eq!(labels, r#"{job="app",lvl="error"}"#);
        assert_eq!(line, r#"peer "b" lost"#);
        assert_eq!(
            logfmt("a=1 b c=\"x y\" d="),
            [
                ("a".into(), "1".into()),
                ("b".into(), String::new()),
                ("c".into(), "x y".into()),
                ("d".into(), String::new())
            ]
        );
    }

    #[test]
    fn regex_labels_static_labels_and_label_trimming() {
        let stages = r#"
- regex: {expression: '^(?P<ip>\S+) .* (?P<code>\d{3})$'}
- labels: {code: }
- structured_metadata: {ip: }
- static_labels: {env: prod, team: core}
- labeldrop: [team]
"#;
        let (labels, meta, _, _) = run(stages, "10.0.0.1 GET / 404").expect("kept");
        assert_eq!(labels, r#"{code="404",env="prod",job="app"}"#);
        assert_eq!(meta, r#"{ip="10.0.0.1"}"#);
        let (labels, ..) =
            run("- static_labels: {a: x, b: y}\n- labelallow: [b]\n", "l").expect("kept");
        assert_eq!(labels, r#"{b="y"}"#);
        // No match: nothing extracted, nothing labelled.
        let (labels, ..) = run(stages, "short").expect("kept");
        assert_eq!(labels, r#"{env="prod",job="app"}"#);
    }

    #[test]
    fn timestamp_formats() {
        let ts = |format: &str, value: &str| {
            let stages = format!(
                "- regex: {{expression: '^(?P<t>.*)$'}}\n- timestamp: {{source: t, format: '{format}'}}\n"
            );
            run(&stages, value).expect("kept").2
        };
        assert_eq!(ts("RFC3339", "2023-11-14T22:13:20Z"), NOW);
        assert_eq!(
            ts("RFC3339", "2023-11-14T23:13:20.5+01:00"),
            NOW + 500_000_000
        );
        assert_eq!(ts("RFC3339Nano", "2023-11-14T22:13:20.000000001Z"), NOW + 1);
        assert_eq!(ts("Unix", "1700000000"), NOW);
        assert_eq!(ts("Unix", "1700000000.25"), NOW + 250_000_000);
        assert_eq!(ts("UnixMs", "1700000000001"), NOW + 1_000_000);
        assert_eq!(ts("UnixUs", "1700000000000001"), NOW + 1_000);
        assert_eq!(ts("UnixNs", "1700000000000000007"), NOW + 7);
        assert_eq!(
            ts("2006-01-02 15:04:05.000", "2023-11-14 22:13:20.125"),
            NOW + 125_000_000
        );
        assert_eq!(
            ts("02/Jan/2006:15:04:05 -0700", "14/Nov/2023:14:13:20 -0800"),
            NOW
        );
        // A failed parse keeps the time the line was read (no earlier line to fudge from).
        assert_eq!(ts("RFC3339", "yesterday"), NOW);
    }

    #[test]
    fn timestamp_fudges_after_the_last_parsed_time() {
        let p = pipeline(
            "- regex: {expression: '^(?P<t>\\S*)'}\n- timestamp: {source: t, format: UnixNs}\n",
        );
        let labels = Labels::from_pairs([("job", "app")]);
        let mut state = State::default();
        let mut times = Vec::new();
        for line in ["100 a", "bad b", "bad c", "200 d"] {
            let mut l = Line::new(&labels, NOW, line.into());
            p.run(&mut l, &mut state, NOW);
            times.push(l.timestamp);
        }
        assert_eq!(times, [100, 101, 102, 200]);
        let p = pipeline(
            "- regex: {expression: '^(?P<t>\\S*)'}\n- timestamp: {source: t, format: UnixNs, action_on_failure: skip}\n",
        );
        let mut state = State::default();
        let mut times = Vec::new();
        for line in ["100 a", "bad b"] {
            let mut l = Line::new(&labels, NOW, line.into());
            p.run(&mut l, &mut state, NOW);
            times.push(l.timestamp);
        }
        assert_eq!(times, [100, NOW]);
    }

    #[test]
    fn drop_conditions_all_hold() {
        let e = run("- drop: {expression: debug}", "a debug line").unwrap_err();
        assert_eq!(e, "drop_stage");
        assert!(run("- drop: {expression: debug}", "an info line").is_ok());
        let stages = "- logfmt: {mapping: {level: }}\n- drop: {source: level, expression: '^(debug|trace)$', drop_counter_reason: noisy}\n";
        assert_eq!(run(stages, "level=trace").unwrap_err(), "noisy");
        assert!(run(stages, "level=info").is_ok());
        assert!(run(stages, "no level").is_ok());
        assert_eq!(
            run("- drop: {longer_than: 4}", "12345").unwrap_err(),
            "drop_stage"
        );
        assert!(run("- drop: {longer_than: 4}", "1234").is_ok());
        let old = "- regex: {expression: '^(?P<t>\\S*)'}\n- timestamp: {source: t, format: Unix}\n- drop: {older_than: 1h}\n";
        assert!(run(old, "1699999000 recent").is_ok());
        assert_eq!(run(old, "1690000000 stale").unwrap_err(), "drop_stage");
        // Both conditions must hold.
        assert!(run("- drop: {longer_than: 2, expression: x}", "abc").is_ok());
    }

    #[test]
    fn match_runs_stages_or_drops() {
        let stages = r#"
- match:
    selector: '{job="app"} |= "error"'
    stages:
    - static_labels: {level: error}
- match:
    selector: '{job="other"}'
    action: drop
- match:
    selector: '{job="app"} |~ "health"'
    action: drop
    drop_counter_reason: healthchecks
"#;
        let (labels, ..) = run(stages, "an error").expect("kept");
        assert_eq!(labels, r#"{job="app",level="error"}"#);
        let (labels, ..) = run(stages, "fine").expect("kept");
        assert_eq!(labels, r#"{job="app"}"#);
        assert_eq!(run(stages, "GET /healthz").unwrap_err(), "healthchecks");
    }

    #[test]
    fn refusals_name_the_stage_and_line() {
        let e = refused("- json: {expressions: {a: b}}\n- template: {source: x, template: y}\n");
        assert_eq!(
            e,
            "line 2: pipeline stage template is not supported by Skywatch's file tailer; remove it, or run this part of the configuration with Promtail"
        );
        let e = refused("- jsn: {}\n");
        assert!(e.contains("jsn") && e.contains("line 1"), "{e}");
        let e = refused("- json: {expressions: {a: b}, sorce: x}\n");
        assert!(e.contains("sorce"), "{e}");
        let e = refused("- json: {expressions: {a: 'length(b)'}}\n");
        assert!(e.starts_with("line 1: json: expression \"a\""), "{e}");
        let e = refused("- regex: {expression: '(a'}\n");
        assert!(e.contains("could not compile"), "{e}");
        let e = refused("- regex: {expression: 'a'}\n");
        assert!(e.contains("no named capture group"), "{e}");
        let e = refused("- labels: {0x: }\n");
        assert!(e.contains("\"0x\" is not a valid label name"), "{e}");
        let e = refused("- timestamp: {source: t, format: RFC3339, location: Mars/Olympus}\n");
        assert!(e.contains("Mars/Olympus"), "{e}");
        let e =
            refused("- match: {selector: '{a=\"b\"} | json', stages: [{static_labels: {x: y}}]}\n");
        assert!(e.contains("stream matchers and line filters"), "{e}");
        let e = refused("- match: {selector: '{a=\"b\"}', stages: [{cri: {}}]}\n");
        assert!(e.contains("pipeline stage cri"), "{e}");
        let e = refused("- drop: {}\n");
        assert!(e.contains("at least one of"), "{e}");
    }
}
