//! The log pipeline: what happens to each line after the stream selector, stage by stage,
//! as Loki's `pkg/logql/log` does it.
//!
//! A line carries three kinds of labels, kept apart because Loki's API can answer with them
//! apart (`categorize-labels`): its stream's labels, its structured metadata, and the labels
//! parsers and formats add. A name set by a parser shadows the same name in metadata or the
//! stream; metadata shadows the stream. A parser that meets a name the stream or the
//! metadata already has adds `_extracted` to it. A parser that cannot read the line sets
//! `__error__` (and `__error_details__`) and lets the line through, so that `| __error__=""`
//! can drop it.

use std::borrow::Cow;

use gotemplate::{Escaping, Template, Value as TValue};

pub(crate) use crate::functions::{LokiFunctions, template};
use model::{Labels, LabelsBuilder, Matcher};
use regex::Regex;

use crate::fields::{self, PathStep};

/// The label a failed stage sets.
pub const ERROR_LABEL: &str = "__error__";
/// The label with the failure's details.
pub const ERROR_DETAILS_LABEL: &str = "__error_details__";
/// What a parser adds to a name the stream or the metadata already has.
const DUPLICATE_SUFFIX: &str = "_extracted";

pub(crate) const ERR_JSON: &str = "JSONParserErr";
pub(crate) const ERR_LOGFMT: &str = "LogfmtParserErr";
pub(crate) const ERR_LABEL_FILTER: &str = "LabelFilterErr";
pub(crate) const ERR_SAMPLE: &str = "SampleExtractionErr";
pub(crate) const ERR_TEMPLATE: &str = "TemplateFormatErr";

/// One stage of a pipeline.
#[derive(Debug, Clone)]
pub enum Stage {
    /// `|= "a"`, `!= "a" or "b"`, `|~ "re"`, `!~ "re"`.
    LineFilter(LineFilter),
    /// `| json` (every field, flattened) or `| json a="b.c", d` (these paths).
    Json(Vec<(String, Vec<PathStep>)>),
    /// `| logfmt [--strict] [--keep-empty] [a, b="c"]`.
    Logfmt {
        /// `--strict`: a malformed pair stops parsing with `__error__`.
        strict: bool,
        /// `--keep-empty`: keys without a value become labels with an empty value.
        keep_empty: bool,
        /// The fields to extract (label, key); every field when empty.
        fields: Vec<(String, String)>,
    },
    /// `| regexp "(?P<name>...)"`.
    Regexp(Regex),
    /// `| pattern "<ip> - <_> ..."`.
    Pattern(Pattern),
    /// `| unpack`.
    Unpack,
    /// `| level="error"`, `| status >= 500 or latency > 1s`, ...
    LabelFilter(LabelFilter),
    /// `| line_format "{{.x}}"`.
    LineFormat(Box<Template>),
    /// `| label_format a=b, c="{{.x}}"`.
    LabelFormat(Vec<LabelFmt>),
    /// `| decolorize`.
    Decolorize,
    /// `| drop a, b="x"`.
    Drop(Vec<NamedMatcher>),
    /// `| keep a, b="x"`.
    Keep(Vec<NamedMatcher>),
}

/// A line filter: the operator and its alternatives (`or`).
#[derive(Debug, Clone)]
pub struct LineFilter {
    /// The operator.
    pub op: LineOp,
    /// The strings (for `|=`, `!=`) joined by `or`.
    pub values: Vec<String>,
    /// The compiled regexes (for `|~`, `!~`), or patterns (`|>`, `!>`) in order.
    pub regexes: Vec<Regex>,
    /// The compiled patterns (`|>`, `!>`).
    pub patterns: Vec<Pattern>,
}

/// A line filter's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineOp {
    /// `|=`: contains.
    Contains,
    /// `!=`: does not contain.
    NotContains,
    /// `|~`: matches the regex (unanchored).
    Regex,
    /// `!~`: does not match.
    NotRegex,
    /// `|>`: matches the pattern.
    Pattern,
    /// `!>`: does not match the pattern.
    NotPattern,
}

impl LineFilter {
    fn matches(&self, line: &str) -> bool {
        match self.op {
            LineOp::Contains => self.values.iter().any(|v| line.contains(v.as_str())),
            LineOp::NotContains => !self.values.iter().any(|v| line.contains(v.as_str())),
            LineOp::Regex => self.regexes.iter().any(|r| r.is_match(line)),
            LineOp::NotRegex => !self.regexes.iter().any(|r| r.is_match(line)),
            LineOp::Pattern => self.patterns.iter().any(|p| p.test(line)),
            LineOp::NotPattern => !self.patterns.iter().any(|p| p.test(line)),
        }
    }
}

/// A label filter expression.
#[derive(Debug, Clone)]
pub enum LabelFilter {
    /// Both (`and`, `,`, a space or another `|`).
    And(Box<LabelFilter>, Box<LabelFilter>),
    /// Either (`or`).
    Or(Box<LabelFilter>, Box<LabelFilter>),
    /// A string comparison: `=`, `!=`, `=~`, `!~`.
    Matcher(Matcher),
    /// A numeric comparison of the label's value read as a float.
    Number(String, CmpOp, f64),
    /// A comparison of the label's value read as a Go duration (nanoseconds).
    Duration(String, CmpOp, i64),
    /// A comparison of the label's value read as a byte size.
    Bytes(String, CmpOp, u64),
}

/// A numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[expect(missing_docs, reason = "each variant is the comparison its name says")]
pub enum CmpOp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl CmpOp {
    fn test<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Neq => a != b,
            CmpOp::Gt => a > b,
            CmpOp::Gte => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Lte => a <= b,
        }
    }
}

/// One `label_format` assignment.
#[derive(Debug, Clone)]
pub enum LabelFmt {
    /// `dst=src`: renames.
    Rename(String, String),
    /// `dst="{{...}}"`: a template over the labels.
    Template(String, Box<Template>),
}

/// A `drop`/`keep` argument: a name, or a name whose value must match.
#[derive(Debug, Clone)]
pub enum NamedMatcher {
    /// Every value.
    Name(String),
    /// Only when the value matches.
    Matcher(Matcher),
}

impl NamedMatcher {
    fn name(&self) -> &str {
        match self {
            NamedMatcher::Name(n) => n,
            NamedMatcher::Matcher(m) => &m.name,
        }
    }

    fn applies(&self, value: &str) -> bool {
        match self {
            NamedMatcher::Name(_) => true,
            NamedMatcher::Matcher(m) => m.matches(value),
        }
    }
}

/// A compiled `pattern` expression: literals and captures, alternating.
#[derive(Debug, Clone)]
pub struct Pattern {
    nodes: Vec<PatternNode>,
}

#[derive(Debug, Clone)]
enum PatternNode {
    Literal(String),
    /// A capture; `None` for `<_>`.
    Capture(Option<String>),
}

impl Pattern {
    /// Compiles a pattern as Loki's `pattern.New` does: at least one named capture, no two
    /// captures in a row, no name twice. With `line_filter`, for `|>`: no named capture is
    /// needed (nor allowed).
    pub(crate) fn new(text: &str, line_filter: bool) -> Result<Self, String> {
        let mut nodes: Vec<PatternNode> = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let capture = rest.strip_prefix('<').and_then(|r| {
                let end = r.find('>')?;
                let name = &r[..end];
                let valid = name == "_"
                    || (!name.is_empty()
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && !name.starts_with(|c: char| c.is_ascii_digit()));
                valid.then(|| (name, &r[end + 1..]))
            });
            match capture {
                Some((name, after)) => {
                    nodes.push(PatternNode::Capture((name != "_").then(|| name.to_owned())));
                    rest = after;
                }
                None => {
                    let mut chars = rest.chars();
                    let c = chars.next().unwrap_or_default();
                    match nodes.last_mut() {
                        Some(PatternNode::Literal(l)) => l.push(c),
                        _ => nodes.push(PatternNode::Literal(c.to_string())),
                    }
                    rest = chars.as_str();
                }
            }
        }
        for pair in nodes.windows(2) {
            if let [PatternNode::Capture(a), PatternNode::Capture(b)] = pair {
                let show = |c: &Option<String>| format!("<{}>", c.as_deref().unwrap_or("_"));
                return Err(format!(
                    "found consecutive capture '{}{}': invalid expression",
                    show(a),
                    show(b)
                ));
            }
        }
        let names: Vec<&str> = nodes
            .iter()
            .filter_map(|n| match n {
                PatternNode::Capture(Some(c)) => Some(c.as_str()),
                _ => None,
            })
            .collect();
        if line_filter {
            if let Some(n) = names.first() {
                return Err(format!("named captures are not allowed: found '<{n}>'"));
            }
        } else if names.is_empty() {
            return Err("at least one capture is required".into());
        }
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(format!("duplicate capture name ({n}): invalid expression"));
            }
        }
        Ok(Self { nodes })
    }

    /// The captures of `line`, name and value, as Loki's `Matcher.Matches`: a literal not
    /// found ends matching, the capture before it taking the rest of the line.
    fn matches<'a>(&'a self, line: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut out = Vec::new();
        let mut nodes = self.nodes.as_slice();
        let mut input = line;
        if line.is_empty() || nodes.is_empty() {
            return out;
        }
        if let Some(PatternNode::Literal(l)) = nodes.first() {
            if !input.starts_with(l.as_str()) {
                return out;
            }
            input = &input[l.len()..];
            nodes = &nodes[1..];
        }
        while let Some(PatternNode::Capture(name)) = nodes.first() {
            let Some(PatternNode::Literal(lit)) = nodes.get(1) else {
                if let Some(n) = name {
                    out.push((n.as_str(), input));
                }
                return out;
            };
            nodes = &nodes[2..];
            match input.find(lit.as_str()) {
                None => {
                    if let Some(n) = name {
                        out.push((n.as_str(), input));
                    }
                    return out;
                }
                Some(i) => {
                    if let Some(n) = name {
                        out.push((n.as_str(), &input[..i]));
                    }
                    input = &input[i + lit.len()..];
                }
            }
        }
        out
    }

    /// Whether the line matches, for the `|>` line filter, as Loki's `Matcher.Test`: each
    /// literal found in turn, no capture empty, and the line ending where the pattern does
    /// (on a literal: nothing left; on a capture: something left).
    fn test(&self, line: &str) -> bool {
        if line.is_empty() || self.nodes.is_empty() {
            return line.is_empty() && self.nodes.is_empty();
        }
        let mut off = 0;
        for (i, n) in self.nodes.iter().enumerate() {
            let PatternNode::Literal(lit) = n else {
                continue;
            };
            let Some(j) = line[off..].find(lit.as_str()) else {
                return false;
            };
            if i != 0 && j == 0 {
                return false;
            }
            off += j + lit.len();
        }
        let ends_on_capture = matches!(self.nodes.last(), Some(PatternNode::Capture(_)));
        ends_on_capture == (off != line.len())
    }
}

/// Which kind a label is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Category {
    Stream,
    Metadata,
    Parsed,
}

/// A line's labels as the pipeline changes them (Loki's `LabelsBuilder`).
#[derive(Debug, Clone)]
pub(crate) struct Builder<'a> {
    base: &'a Labels,
    labels: Vec<(String, String, Category)>,
    /// The names parsed labels were set under, kept even when the label is dropped: a
    /// later parser does not set them again (Loki's `RecordExtracted`), so of a name met
    /// twice the first value stays.
    extracted: Vec<String>,
    pub(crate) err: String,
    pub(crate) details: String,
}

/// A line's labels after the pipeline: all of them, and by kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LabelsResult {
    /// Every label (what Loki groups streams and series by).
    pub all: Labels,
    /// The stream's labels (as the pipeline left them).
    pub stream: Labels,
    /// Structured metadata.
    pub metadata: Labels,
    /// Labels added by parsers and formats, `__error__` and `__error_details__`.
    pub parsed: Labels,
}

impl<'a> Builder<'a> {
    pub(crate) fn new(base: &'a Labels, metadata: &Labels) -> Self {
        let mut b = Self {
            base,
            labels: base
                .iter()
                .map(|l| (l.name.to_owned(), l.value.to_owned(), Category::Stream))
                .collect(),
            extracted: Vec::new(),
            err: String::new(),
            details: String::new(),
        };
        for l in metadata.iter() {
            let name = if base.get(l.name).is_some() {
                format!("{}{DUPLICATE_SUFFIX}", l.name)
            } else {
                l.name.to_owned()
            };
            match name.as_str() {
                ERROR_LABEL => b.err = l.value.to_owned(),
                ERROR_DETAILS_LABEL => b.details = l.value.to_owned(),
                _ => b.set(Category::Metadata, &name, l.value),
            }
        }
        b
    }

    /// The name a parser gives a field called `name`: with `_extracted` when the stream or
    /// the metadata has it.
    fn parsed_name(&self, name: String) -> String {
        if self.base.get(&name).is_some() || self.has(&name, Category::Metadata) {
            name + DUPLICATE_SUFFIX
        } else {
            name
        }
    }

    /// Whether a parser already set `name` on this line.
    fn extracted(&self, name: &str) -> bool {
        self.extracted.iter().any(|n| n == name)
    }

    /// Sets a parser's label unless a parser already set that name.
    fn set_parsed(&mut self, name: &str, value: &str) {
        if !self.extracted(name) {
            self.set(Category::Parsed, name, value);
        }
    }

    fn has(&self, name: &str, cat: Category) -> bool {
        self.labels.iter().any(|(n, _, c)| n == name && *c == cat)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        match name {
            ERROR_LABEL => return (!self.err.is_empty()).then_some(self.err.as_str()),
            ERROR_DETAILS_LABEL => {
                return (!self.details.is_empty()).then_some(self.details.as_str());
            }
            _ => {}
        }
        self.labels
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, v, _)| v.as_str())
    }

    /// Sets a label with Loki's precedence: parsed over metadata over stream.
    pub(crate) fn set(&mut self, cat: Category, name: &str, value: &str) {
        match name {
            ERROR_LABEL => {
                self.err = value.to_owned();
                return;
            }
            ERROR_DETAILS_LABEL => {
                self.details = value.to_owned();
                return;
            }
            _ => {}
        }
        if cat == Category::Parsed && !self.extracted(name) {
            self.extracted.push(name.to_owned());
        }
        match self.labels.iter().position(|(n, _, _)| n == name) {
            Some(i) => {
                let existing = self.labels[i].2;
                let wins = match cat {
                    Category::Parsed => true,
                    Category::Metadata => existing != Category::Parsed,
                    Category::Stream => existing == Category::Stream,
                };
                if wins {
                    self.labels[i].1 = value.to_owned();
                    self.labels[i].2 = cat;
                }
            }
            None => self.labels.push((name.to_owned(), value.to_owned(), cat)),
        }
    }

    pub(crate) fn delete(&mut self, name: &str) {
        match name {
            ERROR_LABEL => self.err.clear(),
            ERROR_DETAILS_LABEL => self.details.clear(),
            _ => self.labels.retain(|(n, _, _)| n != name),
        }
    }

    pub(crate) fn set_err(&mut self, err: &str, details: &str) {
        self.err = err.to_owned();
        self.details = details.to_owned();
    }

    fn map(&self) -> TValue {
        let mut m = std::collections::BTreeMap::new();
        for (n, v, _) in &self.labels {
            m.insert(n.clone(), TValue::Str(v.clone()));
        }
        if !self.err.is_empty() {
            m.insert(ERROR_LABEL.to_owned(), TValue::Str(self.err.clone()));
        }
        if !self.details.is_empty() {
            m.insert(
                ERROR_DETAILS_LABEL.to_owned(),
                TValue::Str(self.details.clone()),
            );
        }
        TValue::Map(m)
    }

    /// The labels, all and by kind.
    pub(crate) fn result(&self) -> LabelsResult {
        let mut all = LabelsBuilder::new();
        let mut kinds = [
            LabelsBuilder::new(),
            LabelsBuilder::new(),
            LabelsBuilder::new(),
        ];
        for (n, v, c) in &self.labels {
            all.set(n, v);
            kinds[*c as usize].set(n, v);
        }
        for (n, v) in [
            (ERROR_LABEL, &self.err),
            (ERROR_DETAILS_LABEL, &self.details),
        ] {
            all.set(n, v);
            kinds[Category::Parsed as usize].set(n, v);
        }
        LabelsResult {
            all: all.build(),
            stream: kinds[0].build(),
            metadata: kinds[1].build(),
            parsed: kinds[2].build(),
        }
    }

    /// The labels grouped `by` (or `without`) these names; error labels always stay.
    pub(crate) fn grouped(&self, grouping: &crate::ast::Grouping) -> Labels {
        let mut out = LabelsBuilder::new();
        for (n, v, _) in &self.labels {
            if grouping.labels.iter().any(|g| g == n) != grouping.without {
                out.set(n, v);
            }
        }
        out.set(ERROR_LABEL, &self.err);
        out.set(ERROR_DETAILS_LABEL, &self.details);
        out.build()
    }
}

/// The labels of a line no stage touched: the stream's and its metadata's.
pub(crate) fn plain_result(stream: &Labels, metadata: &Labels) -> LabelsResult {
    if metadata.is_empty() {
        return LabelsResult {
            all: stream.clone(),
            stream: stream.clone(),
            metadata: Labels::empty(),
            parsed: Labels::empty(),
        };
    }
    Builder::new(stream, metadata).result()
}

/// What the pipeline made of a line that passed.
pub(crate) struct Processed<'a, 'l> {
    pub(crate) line: Cow<'l, str>,
    /// `None` when no stage needed the labels: they are the stream's and the metadata's.
    pub(crate) labels: Option<Builder<'a>>,
}

/// Runs `stages` over one line; `None` when a stage drops it.
pub(crate) fn process<'a, 'l>(
    stages: &[Stage],
    ts: i64,
    line: &'l str,
    stream: &'a Labels,
    metadata: &Labels,
) -> Option<Processed<'a, 'l>> {
    let mut line: Cow<'l, str> = Cow::Borrowed(line);
    let mut b: Option<Builder<'a>> = None;
    for stage in stages {
        if let Stage::LineFilter(f) = stage {
            if !f.matches(&line) {
                return None;
            }
            continue;
        }
        let lbs = b.get_or_insert_with(|| Builder::new(stream, metadata));
        match stage {
            Stage::LineFilter(_) => {}
            Stage::Json(paths) if paths.is_empty() => json_all(&line, lbs),
            Stage::Json(paths) => json_paths(&line, paths, lbs),
            Stage::Logfmt {
                strict,
                keep_empty,
                fields,
            } => logfmt(&line, *strict, *keep_empty, fields, lbs),
            Stage::Regexp(re) => {
                if let Some(caps) = re.captures(&line) {
                    for name in re.capture_names().flatten() {
                        let key = fields::sanitize(name);
                        if key.is_empty() {
                            continue;
                        }
                        let key = lbs.parsed_name(key);
                        let v = caps.name(name).map_or("", |m| m.as_str());
                        lbs.set_parsed(&key, v);
                    }
                }
            }
            Stage::Pattern(p) => {
                let caps: Vec<(String, String)> = p
                    .matches(&line)
                    .into_iter()
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect();
                for (n, v) in caps {
                    let n = lbs.parsed_name(n);
                    lbs.set_parsed(&n, &v);
                }
            }
            Stage::Unpack => {
                if let Some(entry) = unpack(&line, lbs) {
                    line = Cow::Owned(entry);
                }
            }
            Stage::LabelFilter(f) => {
                if !label_filter(f, lbs) {
                    return None;
                }
            }
            Stage::LineFormat(t) => {
                let funcs = LokiFunctions { line: &line, ts };
                match t.execute("", &lbs.map(), &[], &funcs, Escaping::Text) {
                    Ok(out) => line = Cow::Owned(out),
                    Err(e) => {
                        let text = t.error_text(&e, "line");
                        lbs.set_err(ERR_TEMPLATE, &text);
                    }
                }
            }
            Stage::LabelFormat(fmts) => {
                // In order, as Loki's LabelsFormatter: a rename moves a label that exists
                // (and does nothing otherwise); templates read the labels as they were at
                // the stage's first template.
                let mut dot: Option<TValue> = None;
                for f in fmts {
                    match f {
                        LabelFmt::Rename(dst, src) => {
                            if let Some(v) = lbs.get(src).map(str::to_owned)
                                && dst != src
                            {
                                lbs.set(Category::Parsed, dst, &v);
                                lbs.delete(src);
                            }
                        }
                        LabelFmt::Template(dst, t) => {
                            let dot = dot.get_or_insert_with(|| lbs.map());
                            let funcs = LokiFunctions { line: &line, ts };
                            match t.execute("", dot, &[], &funcs, Escaping::Text) {
                                Ok(out) => lbs.set(Category::Parsed, dst, &out),
                                Err(e) => {
                                    let text = t.error_text(&e, "label");
                                    lbs.set_err(ERR_TEMPLATE, &text);
                                }
                            }
                        }
                    }
                }
            }
            Stage::Decolorize => {
                if line.contains('\x1b') {
                    line = Cow::Owned(decolorize(&line));
                }
            }
            Stage::Drop(ms) => {
                for m in ms {
                    if let Some(v) = lbs.get(m.name()).map(str::to_owned)
                        && m.applies(&v)
                    {
                        lbs.delete(m.name());
                    }
                }
            }
            Stage::Keep(ms) => {
                let keep = |name: &str, value: &str| {
                    ms.iter().any(|m| m.name() == name && m.applies(value))
                };
                lbs.labels.retain(|(n, v, _)| keep(n, v));
                if !keep(ERROR_LABEL, &lbs.err.clone()) {
                    lbs.err.clear();
                }
                if !keep(ERROR_DETAILS_LABEL, &lbs.details.clone()) {
                    lbs.details.clear();
                }
            }
        }
    }
    Some(Processed { line, labels: b })
}

fn json_all(line: &str, lbs: &mut Builder<'_>) {
    let mut found: Vec<(String, String)> = Vec::new();
    let r = fields::json_each(line, &mut |k, v| found.push((k, v)));
    for (k, v) in found {
        let k = lbs.parsed_name(k);
        lbs.set_parsed(&k, &v);
    }
    if let Err(e) = r {
        lbs.set_err(ERR_JSON, e);
    }
}

fn json_paths(line: &str, paths: &[(String, Vec<PathStep>)], lbs: &mut Builder<'_>) {
    if !matches!(
        line.trim_start().as_bytes().first(),
        Some(b'{' | b'[' | b'"')
    ) {
        lbs.set_err(ERR_JSON, "");
        return;
    }
    for (label, path) in paths {
        let key = lbs.parsed_name(label.clone());
        match fields::json_path(line, path) {
            Ok(v) => lbs.set(Category::Parsed, &key, v.as_deref().unwrap_or("")),
            Err(e) => {
                lbs.set_err(ERR_JSON, e);
                lbs.set(Category::Parsed, &key, "");
            }
        }
    }
}

fn logfmt(
    line: &str,
    strict: bool,
    keep_empty: bool,
    wanted: &[(String, String)],
    lbs: &mut Builder<'_>,
) {
    let mut found: Vec<(String, String)> = Vec::new();
    let r = fields::logfmt_each(line, strict, &mut |k, v| {
        if !keep_empty && v.is_empty() {
            return;
        }
        if wanted.is_empty() {
            let k = fields::sanitize(k);
            if !k.is_empty() {
                found.push((k, v.to_owned()));
            }
        } else {
            for (label, key) in wanted {
                if key == k {
                    found.push((label.clone(), v.to_owned()));
                }
            }
        }
    });
    for (k, v) in found {
        let k = lbs.parsed_name(k);
        lbs.set_parsed(&k, &v);
    }
    if let Err(e) = r {
        lbs.set_err(ERR_LOGFMT, &e);
    }
}

/// Loki's `unpack`: the string fields of a JSON object become labels, and `_entry` the
/// line, when the object has an `_entry` (else nothing changes). Gives the new line.
fn unpack(line: &str, lbs: &mut Builder<'_>) -> Option<String> {
    if line.is_empty() {
        return None;
    }
    if !line.starts_with('{') {
        lbs.set_err(ERR_JSON, "expecting json object(6), but it is not");
        return None;
    }
    let b = line.as_bytes();
    let mut i = 1;
    let mut entry = None;
    let mut found = Vec::new();
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b',') {
            i += 1;
        }
        match b.get(i) {
            Some(b'}') => break,
            Some(b'"') => {}
            _ => {
                lbs.set_err(ERR_JSON, fields::MALFORMED_OBJECT);
                return None;
            }
        }
        let Ok(key_end) = fields::skip_value(b, i) else {
            lbs.set_err(ERR_JSON, fields::MALFORMED_OBJECT);
            return None;
        };
        let key = fields::unescape(&line[i + 1..key_end - 1]).unwrap_or_default();
        i = key_end;
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b':') {
            i += 1;
        }
        let Ok(end) = fields::skip_value(b, i) else {
            lbs.set_err(ERR_JSON, fields::MALFORMED_OBJECT);
            return None;
        };
        if b[i] == b'"' {
            let value = fields::unescape(&line[i + 1..end - 1]).unwrap_or_default();
            if key == "_entry" {
                entry = Some(value);
            } else {
                found.push((key, value));
            }
        }
        i = end;
    }
    let entry = entry?;
    for (k, v) in found {
        let k = fields::sanitize(&lbs.parsed_name(k));
        lbs.set_parsed(&k, &v);
    }
    Some(entry)
}

/// Whether `f` keeps the line; a value that does not convert sets `__error__` and keeps it.
pub(crate) fn label_filter(f: &LabelFilter, lbs: &mut Builder<'_>) -> bool {
    match f {
        LabelFilter::And(a, b) => label_filter(a, lbs) && label_filter(b, lbs),
        LabelFilter::Or(a, b) => label_filter(a, lbs) || label_filter(b, lbs),
        LabelFilter::Matcher(m) => m.matches(lbs.get(&m.name).unwrap_or("")),
        LabelFilter::Number(name, op, want) => {
            let Some(v) = lbs.get(name) else {
                return false;
            };
            match v.parse::<f64>() {
                Ok(v) => op.test(v, *want),
                Err(_) => {
                    let details = format!("strconv.ParseFloat: parsing {v:?}: invalid syntax");
                    if lbs.err.is_empty() {
                        lbs.set_err(ERR_LABEL_FILTER, &details);
                    }
                    true
                }
            }
        }
        LabelFilter::Duration(name, op, want) => {
            let Some(v) = lbs.get(name) else {
                return false;
            };
            match crate::lexer::parse_duration(v).filter(|_| !v.ends_with(['d', 'w', 'y'])) {
                Some(v) => op.test(v, *want),
                None => {
                    let details = format!("time: invalid duration {v:?}");
                    if lbs.err.is_empty() {
                        lbs.set_err(ERR_LABEL_FILTER, &details);
                    }
                    true
                }
            }
        }
        LabelFilter::Bytes(name, op, want) => {
            let Some(v) = lbs.get(name) else {
                return false;
            };
            match crate::lexer::parse_bytes(v) {
                Some(v) => op.test(v, *want),
                None => {
                    let details = format!("unhandled size name: {v}");
                    if lbs.err.is_empty() {
                        lbs.set_err(ERR_LABEL_FILTER, &details);
                    }
                    true
                }
            }
        }
    }
}

/// Removes ANSI colour and cursor escape sequences.
fn decolorize(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The strings every line `stages` keeps contains, for certain: the single-valued `|=`
/// filters before the first stage that rewrites the line.
pub(crate) fn contains_hints(stages: &[Stage]) -> Vec<String> {
    let mut out = Vec::new();
    for s in stages {
        match s {
            Stage::LineFilter(f) if f.op == LineOp::Contains => {
                if let [v] = f.values.as_slice()
                    && !v.is_empty()
                    && !out.contains(v)
                {
                    out.push(v.clone());
                }
            }
            Stage::Unpack | Stage::LineFormat(_) | Stage::Decolorize => break,
            _ => {}
        }
    }
    out
}
