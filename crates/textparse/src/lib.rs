//! Parsers for the Prometheus text exposition format 0.0.4 and OpenMetrics 1.0 text.
//!
//! [`Parser`] walks an exposition line by line and yields [`Entry`]s that borrow from the
//! input: metric names, label names and, unless they contain escapes, label values are
//! slices of it, so parsing allocates only a small vector per sample for its labels. The
//! two formats differ in a few places this parser follows:
//!
//! | | text 0.0.4 | OpenMetrics |
//! |---|---|---|
//! | timestamps | integer milliseconds | seconds, may be fractional |
//! | end | end of input | a `# EOF` line, required, nothing after it |
//! | comments | any `#` line | only `HELP`, `TYPE`, `UNIT` and `EOF` |
//! | exemplars | none | `value # {labels} value [timestamp]`, in [`SampleLine::exemplar`] |
//!
//! Every error names the line and column and what was expected.
//!
//! ```
//! use textparse::{Entry, Format, Parser};
//!
//! let input = "# TYPE up gauge\nup{job=\"node\"} 1 1700000000.5\n# EOF\n";
//! let entries: Vec<Entry<'_>> = Parser::new(input, Format::OpenMetrics)
//!     .collect::<Result<_, _>>()
//!     .unwrap();
//! match &entries[1] {
//!     Entry::Sample(s) => {
//!         assert_eq!(s.name, "up");
//!         assert_eq!(s.labels[0], ("job", "node".into()));
//!         assert_eq!(s.value, 1.0);
//!         assert_eq!(s.timestamp, Some(1_700_000_000_500));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

use std::borrow::Cow;

/// Which exposition format to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text format.
    OpenMetrics,
}

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// `counter`
    Counter,
    /// `gauge`
    Gauge,
    /// `histogram`
    Histogram,
    /// `gaugehistogram`
    GaugeHistogram,
    /// `summary`
    Summary,
    /// `info`
    Info,
    /// `stateset`
    StateSet,
    /// `untyped` or `unknown`
    Unknown,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleLine<'a> {
    /// The series as written: the metric name and the label set, if any, verbatim. Two
    /// lines with equal text are the same series (the converse does not hold: label order
    /// and escaping may differ).
    pub series: &'a str,
    /// The metric name.
    pub name: &'a str,
    /// The labels in the order written (no `__name__`).
    pub labels: Vec<(&'a str, Cow<'a, str>)>,
    /// The value.
    pub value: f64,
    /// The timestamp in milliseconds since the epoch, if the line has one.
    pub timestamp: Option<i64>,
    /// The exemplar after ` # ` (OpenMetrics only).
    pub exemplar: Option<ExemplarLine<'a>>,
}

/// An OpenMetrics exemplar: `# {labels} value [timestamp]` after a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct ExemplarLine<'a> {
    /// Its labels in the order written; may be none.
    pub labels: Vec<(&'a str, Cow<'a, str>)>,
    /// Its value.
    pub value: f64,
    /// Its timestamp in milliseconds since the epoch, if it has one.
    pub timestamp: Option<i64>,
}

/// A label set as written: names and values, unescaped.
type LabelPairs<'a> = Vec<(&'a str, Cow<'a, str>)>;

/// One meaningful line of an exposition.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<'a> {
    /// `# HELP name text`
    Help {
        /// The metric family.
        name: &'a str,
        /// The help text, unescaped.
        help: Cow<'a, str>,
    },
    /// `# TYPE name type`
    Type {
        /// The metric family.
        name: &'a str,
        /// Its type.
        kind: MetricType,
    },
    /// `# UNIT name unit` (OpenMetrics)
    Unit {
        /// The metric family.
        name: &'a str,
        /// Its unit.
        unit: &'a str,
    },
    /// A sample.
    Sample(SampleLine<'a>),
}

/// Why an exposition does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// The 1-based line.
    pub line: usize,
    /// The 1-based column, in bytes.
    pub column: usize,
    /// What was expected.
    pub message: String,
}

/// Parses an exposition; see the crate documentation.
#[derive(Debug, Clone)]
pub struct Parser<'a> {
    input: &'a str,
    pos: usize,
    line: usize,
    format: Format,
    eof_seen: bool,
    failed: bool,
}

impl<'a> Parser<'a> {
    /// Returns a parser over `input`.
    pub fn new(input: &'a str, format: Format) -> Self {
        Self {
            input,
            pos: 0,
            line: 0,
            format,
            eof_seen: false,
            failed: false,
        }
    }

    /// The 1-based number of the line last read.
    pub fn line(&self) -> usize {
        self.line
    }
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<Entry<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            if self.pos >= self.input.len() {
                if self.format == Format::OpenMetrics && !self.eof_seen {
                    self.failed = true;
                    return Some(Err(ParseError {
                        line: self.line + 1,
                        column: 1,
                        message: "the exposition ends without \"# EOF\"".into(),
                    }));
                }
                return None;
            }
            let rest = &self.input[self.pos..];
            let end = rest.find('\n').unwrap_or(rest.len());
            let line = &rest[..end];
            let line = line.strip_suffix('\r').unwrap_or(line);
            let line_start = self.pos;
            self.pos += end + 1;
            self.line += 1;
            if self.eof_seen {
                if line.is_empty() && self.pos >= self.input.len() {
                    continue;
                }
                self.failed = true;
                return Some(Err(self.error(
                    line_start,
                    line_start,
                    "content after \"# EOF\"",
                )));
            }
            let result = self.parse_line(line, line_start);
            match result {
                Ok(Some(entry)) => return Some(Ok(entry)),
                Ok(None) => continue,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

impl<'a> Parser<'a> {
    fn error(&self, line_start: usize, at: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            column: at - line_start + 1,
            message: message.into(),
        }
    }

    fn parse_line(&mut self, line: &'a str, start: usize) -> Result<Option<Entry<'a>>, ParseError> {
        if line.is_empty() {
            return match self.format {
                Format::Text => Ok(None),
                Format::OpenMetrics => {
                    Err(self.error(start, start, "empty lines are not allowed in OpenMetrics"))
                }
            };
        }
        if let Some(comment) = line.strip_prefix('#') {
            return self.parse_comment(comment, start + 1);
        }
        self.parse_sample(line, start)
            .map(|s| Some(Entry::Sample(s)))
    }

    fn parse_comment(&mut self, c: &'a str, at: usize) -> Result<Option<Entry<'a>>, ParseError> {
        let line_start = at - 1;
        let om = self.format == Format::OpenMetrics;
        let Some(body) = c.strip_prefix(' ') else {
            return if om {
                Err(self.error(line_start, at, "expected a space after \"#\""))
            } else {
                Ok(None)
            };
        };
        if body == "EOF" {
            if om {
                self.eof_seen = true;
                return Ok(None);
            }
            return Ok(None);
        }
        let (keyword, rest) = body.split_once(' ').unwrap_or((body, ""));
        let name_end = rest.find(' ').unwrap_or(rest.len());
        let name = &rest[..name_end];
        let text = rest.get(name_end + 1..).unwrap_or("");
        let name_at = at + 1 + keyword.len() + 1;
        let check_name = |p: &Self| -> Result<(), ParseError> {
            let b = name.as_bytes();
            if b.is_empty() || !is_name_start(b[0]) || !b.iter().all(|&c| is_name_char(c)) {
                return Err(p.error(
                    line_start,
                    name_at,
                    format!("invalid metric name {name:?} in # {keyword}"),
                ));
            }
            Ok(())
        };
        match keyword {
            "HELP" => {
                check_name(self)?;
                Ok(Some(Entry::Help {
                    name,
                    help: unescape(text, om),
                }))
            }
            "TYPE" => {
                check_name(self)?;
                let kind = match text {
                    "counter" => MetricType::Counter,
                    "gauge" => MetricType::Gauge,
                    "histogram" => MetricType::Histogram,
                    "gaugehistogram" if om => MetricType::GaugeHistogram,
                    "summary" => MetricType::Summary,
                    "info" if om => MetricType::Info,
                    "stateset" if om => MetricType::StateSet,
                    "untyped" if !om => MetricType::Unknown,
                    "unknown" if om => MetricType::Unknown,
                    other => {
                        return Err(self.error(
                            line_start,
                            name_at + name.len() + 1,
                            format!("unknown metric type {other:?}"),
                        ));
                    }
                };
                Ok(Some(Entry::Type { name, kind }))
            }
            "UNIT" if om => {
                check_name(self)?;
                Ok(Some(Entry::Unit { name, unit: text }))
            }
            _ if om => Err(self.error(
                line_start,
                at + 1,
                format!(
                    "unknown comment \"# {keyword}\": OpenMetrics allows HELP, TYPE, UNIT and EOF"
                ),
            )),
            _ => Ok(None),
        }
    }

    /// Reads a label set from just after its `{` at `i` to just after its `}`, and returns
    /// the labels and that position.
    fn parse_labels(
        &self,
        line: &'a str,
        start: usize,
        mut i: usize,
    ) -> Result<(LabelPairs<'a>, usize), ParseError> {
        let b = line.as_bytes();
        let mut labels = Vec::new();
        loop {
            while b.get(i) == Some(&b' ') {
                i += 1;
            }
            if b.get(i) == Some(&b'}') {
                i += 1;
                break;
            }
            let name_start = i;
            if !b
                .get(i)
                .is_some_and(|&c| c.is_ascii_alphabetic() || c == b'_')
            {
                return Err(self.error(start, start + i, "expected a label name or \"}\""));
            }
            while b
                .get(i)
                .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_')
            {
                i += 1;
            }
            let label = &line[name_start..i];
            if b.get(i) != Some(&b'=') {
                return Err(self.error(
                    start,
                    start + i,
                    format!("expected \"=\" after label name {label:?}"),
                ));
            }
            i += 1;
            if b.get(i) != Some(&b'"') {
                return Err(self.error(
                    start,
                    start + i,
                    format!("expected a quoted value for label {label:?}"),
                ));
            }
            i += 1;
            let value_start = i;
            let mut escaped = false;
            loop {
                match b.get(i) {
                    None => {
                        return Err(self.error(
                            start,
                            start + value_start,
                            format!("unterminated value of label {label:?}"),
                        ));
                    }
                    Some(b'\\') => {
                        escaped = true;
                        i += 2;
                    }
                    Some(b'"') => break,
                    Some(_) => i += 1,
                }
            }
            let raw = line
                .get(value_start..i)
                .ok_or_else(|| self.error(start, start + value_start, "unterminated escape"))?;
            let value = if escaped {
                unescape(raw, true)
            } else {
                Cow::Borrowed(raw)
            };
            labels.push((label, value));
            i += 1;
            match b.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => {
                    return Err(self.error(
                        start,
                        start + i,
                        "expected \",\" or \"}\" after a label value",
                    ));
                }
            }
        }
        Ok((labels, i))
    }

    fn parse_sample(&self, line: &'a str, start: usize) -> Result<SampleLine<'a>, ParseError> {
        let b = line.as_bytes();
        let mut i = 0;
        if b.is_empty() || !is_name_start(b[0]) {
            return Err(self.error(start, start, "expected a metric name"));
        }
        while i < b.len() && is_name_char(b[i]) {
            i += 1;
        }
        let name = &line[..i];
        let mut labels = Vec::new();
        if b.get(i) == Some(&b'{') {
            (labels, i) = self.parse_labels(line, start, i + 1)?;
        }
        let series = &line[..i];
        if b.get(i) != Some(&b' ') {
            return Err(self.error(start, start + i, "expected a space before the value"));
        }
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        let rest = &line[i..];
        // OpenMetrics exemplars follow " # ".
        let (rest, exemplar) = match (self.format, rest.find(" # ")) {
            (Format::OpenMetrics, Some(at)) => (
                &rest[..at],
                Some(self.parse_exemplar(line, start, i + at + 3)?),
            ),
            _ => (rest, None),
        };
        let (value, timestamp) = self.parse_value_and_timestamp(start, i, rest, f64::round)?;
        Ok(SampleLine {
            series,
            name,
            labels,
            value,
            timestamp,
            exemplar,
        })
    }

    /// Reads an exemplar, `{labels} value [timestamp]`, from `i` to the end of the line.
    fn parse_exemplar(
        &self,
        line: &'a str,
        start: usize,
        i: usize,
    ) -> Result<ExemplarLine<'a>, ParseError> {
        if line.as_bytes().get(i) != Some(&b'{') {
            return Err(self.error(
                start,
                start + i,
                "expected \"{\" to open the exemplar's labels after \" # \"",
            ));
        }
        let (labels, mut i) = self.parse_labels(line, start, i + 1)?;
        if line.as_bytes().get(i) != Some(&b' ') {
            return Err(self.error(
                start,
                start + i,
                "expected a space before the exemplar's value",
            ));
        }
        while line.as_bytes().get(i) == Some(&b' ') {
            i += 1;
        }
        // Prometheus truncates an exemplar's milliseconds (`int64(ts * 1000)`).
        let (value, timestamp) =
            self.parse_value_and_timestamp(start, i, &line[i..], f64::trunc)?;
        Ok(ExemplarLine {
            labels,
            value,
            timestamp,
        })
    }

    /// Reads `value [timestamp]`, the text `rest` that starts at `i`.
    fn parse_value_and_timestamp(
        &self,
        start: usize,
        i: usize,
        rest: &'a str,
        to_ms: fn(f64) -> f64,
    ) -> Result<(f64, Option<i64>), ParseError> {
        let mut fields = rest.split(' ').filter(|f| !f.is_empty());
        let value_text = fields
            .next()
            .ok_or_else(|| self.error(start, start + i, "expected a value"))?;
        let value = parse_float(value_text).ok_or_else(|| {
            self.error(
                start,
                start + i,
                format!("invalid value {value_text:?}: expected a number, NaN, +Inf or -Inf"),
            )
        })?;
        let timestamp = match fields.next() {
            None => None,
            Some(ts) => {
                let col = start + i + rest.find(ts).unwrap_or(0);
                Some(match self.format {
                    Format::Text => ts.parse::<i64>().map_err(|_| {
                        self.error(
                            start,
                            col,
                            format!("invalid timestamp {ts:?}: expected integer milliseconds"),
                        )
                    })?,
                    Format::OpenMetrics => {
                        let secs = parse_float(ts).filter(|s| s.is_finite()).ok_or_else(|| {
                            self.error(
                                start,
                                col,
                                format!("invalid timestamp {ts:?}: expected seconds"),
                            )
                        })?;
                        to_ms(secs * 1000.0) as i64
                    }
                })
            }
        };
        if let Some(extra) = fields.next() {
            return Err(self.error(
                start,
                start + i + rest.find(extra).unwrap_or(0),
                format!("unexpected {extra:?} after the timestamp"),
            ));
        }
        Ok((value, timestamp))
    }
}

/// Parses a sample value as Prometheus does: decimal or exponent floats, `NaN`, `+Inf`,
/// `-Inf` and `Inf`, case-insensitively for the special values.
pub fn parse_float(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "nan" => Some(f64::NAN),
        "+inf" | "inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        _ if s.bytes().all(|c| {
            c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'+' | b'e' | b'E' | b'_')
        }) =>
        {
            s.parse().ok()
        }
        _ => None,
    }
}

/// Undoes `\\`, `\n` and (in label values and OpenMetrics help) `\"`.
fn unescape(s: &str, quotes: bool) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quotes => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(input: &str, format: Format) -> Result<Vec<Entry<'_>>, ParseError> {
        Parser::new(input, format).collect()
    }

    fn sample(e: &Entry<'_>) -> SampleLine<'static> {
        match e {
            Entry::Sample(s) => SampleLine {
                series: Box::leak(s.series.to_owned().into_boxed_str()),
                name: Box::leak(s.name.to_owned().into_boxed_str()),
                labels: s
                    .labels
                    .iter()
                    .map(|(k, v)| {
                        (
                            &*Box::leak(k.to_string().into_boxed_str()),
                            Cow::Owned(v.to_string()),
                        )
                    })
                    .collect(),
                value: s.value,
                timestamp: s.timestamp,
                exemplar: None,
            },
            other => panic!("not a sample: {other:?}"),
        }
    }

    #[test]
    fn text_format_with_everything() {
        let input = "# HELP http_requests_total Requests, \\\"quoted\\\" \\\\ here.\n\
                     # TYPE http_requests_total counter\n\
                     # a comment\n\
                     \n\
                     http_requests_total{method=\"post\",code=\"200\",} 1027 1395066363000\n\
                     http_requests_total{path=\"a\\\\b\\\"c\\nd\"} 3\n\
                     msdos_file_access_time_seconds{error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n\
                     metric_without_timestamp_and_labels 12.47\n\
                     something_weird{problem=\"division by zero\"} +Inf -3982045\n";
        let entries = parse(input, Format::Text).unwrap();
        assert_eq!(entries.len(), 7);
        assert_eq!(
            entries[0],
            Entry::Help {
                name: "http_requests_total",
                help: "Requests, \\\"quoted\\\" \\ here.".into()
            }
        );
        let s = sample(&entries[2]);
        assert_eq!(
            s.labels,
            vec![("method", "post".into()), ("code", "200".into())]
        );
        assert_eq!((s.value, s.timestamp), (1027.0, Some(1_395_066_363_000)));
        assert_eq!(sample(&entries[3]).labels[0].1, "a\\b\"c\nd");
        assert_eq!(sample(&entries[6]).value, f64::INFINITY);
        assert_eq!(sample(&entries[6]).timestamp, Some(-3_982_045));
    }

    #[test]
    fn openmetrics_seconds_exemplars_and_eof() {
        let input = "# TYPE foo counter\n# UNIT foo seconds\nfoo_total{a=\"1\"} 17 1520879607.789 # {trace_id=\"x\"} 1 1520879607.7\nfoo_created 1520430000.123\n# EOF\n";
        let entries = parse(input, Format::OpenMetrics).unwrap();
        assert_eq!(
            entries[1],
            Entry::Unit {
                name: "foo",
                unit: "seconds"
            }
        );
        let s = sample(&entries[2]);
        assert_eq!((s.value, s.timestamp), (17.0, Some(1_520_879_607_789)));
        let Entry::Sample(with_exemplar) = &entries[2] else {
            panic!("{:?}", entries[2]);
        };
        assert_eq!(
            with_exemplar.exemplar,
            Some(ExemplarLine {
                labels: vec![("trace_id", "x".into())],
                value: 1.0,
                timestamp: Some(1_520_879_607_700),
            })
        );
        assert_eq!(
            parse("up 1\n", Format::OpenMetrics).unwrap_err().message,
            "the exposition ends without \"# EOF\""
        );
        let err = parse("# EOF\nup 1\n", Format::OpenMetrics).unwrap_err();
        assert_eq!(
            (err.line, err.message.as_str()),
            (2, "content after \"# EOF\"")
        );
    }

    #[test]
    fn exemplars_are_read_from_openmetrics_only() {
        let input = "a_bucket{le=\"0.5\"} 3 # {trace_id=\"a\\\"b\",span_id=\"c\"} 0.25\nb_total 1 2 # {} -1.5e0 0.0019\n# EOF\n";
        let entries = parse(input, Format::OpenMetrics).unwrap();
        let exemplars: Vec<_> = entries
            .iter()
            .map(|e| match e {
                Entry::Sample(s) => s.exemplar.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            exemplars,
            [
                Some(ExemplarLine {
                    labels: vec![("trace_id", "a\"b".into()), ("span_id", "c".into())],
                    value: 0.25,
                    timestamp: None,
                }),
                Some(ExemplarLine {
                    labels: vec![],
                    value: -1.5,
                    // 1.9 ms, truncated as Prometheus does.
                    timestamp: Some(1),
                }),
            ]
        );
        // Text 0.0.4 has no exemplars: " # " there is an error, as before.
        assert!(parse("a 1 # {} 1\n", Format::Text).is_err());
        for (input, column, message) in [
            (
                "a 1 # x\n",
                7,
                "expected \"{\" to open the exemplar's labels after \" # \"",
            ),
            (
                "a 1 # {t=1} 1\n",
                10,
                "expected a quoted value for label \"t\"",
            ),
            (
                "a 1 # {t=\"1\"}1\n",
                14,
                "expected a space before the exemplar's value",
            ),
            (
                "a 1 # {} x\n",
                10,
                "invalid value \"x\": expected a number, NaN, +Inf or -Inf",
            ),
            (
                "a 1 # {} 1 y\n",
                12,
                "invalid timestamp \"y\": expected seconds",
            ),
            (
                "a 1 # {} 1 2 3\n",
                14,
                "unexpected \"3\" after the timestamp",
            ),
        ] {
            let err = parse(input, Format::OpenMetrics).unwrap_err();
            assert_eq!(
                (err.line, err.column, err.message.as_str()),
                (1, column, message),
                "{input:?}"
            );
        }
    }

    #[test]
    fn errors_name_line_column_and_what_was_expected() {
        for (input, line, column, message) in [
            (
                "up 1\nup{a=1} 2\n",
                2,
                6,
                "expected a quoted value for label \"a\"",
            ),
            (
                "up{a=\"1\" 2\n",
                1,
                9,
                "expected \",\" or \"}\" after a label value",
            ),
            (
                "up one\n",
                1,
                4,
                "invalid value \"one\": expected a number, NaN, +Inf or -Inf",
            ),
            (
                "up 1 12.5\n",
                1,
                6,
                "invalid timestamp \"12.5\": expected integer milliseconds",
            ),
            ("up{a=\"x\n", 1, 7, "unterminated value of label \"a\""),
            ("9up 1\n", 1, 1, "expected a metric name"),
            (
                "# TYPE up gauges\n",
                1,
                11,
                "unknown metric type \"gauges\"",
            ),
            ("up 1 2 3\n", 1, 8, "unexpected \"3\" after the timestamp"),
        ] {
            let err = parse(input, Format::Text).unwrap_err();
            assert_eq!(
                (err.line, err.column, err.message.as_str()),
                (line, column, message),
                "{input:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(input in "(\\PC|\n|#|\\{|\\}|\"|=|,| |\\\\){0,200}", om in any::<bool>()) {
            let format = if om { Format::OpenMetrics } else { Format::Text };
            for entry in Parser::new(&input, format) {
                if entry.is_err() { break; }
            }
        }

        #[test]
        fn written_samples_parse_back(
            name in "[a-z_][a-z0-9_]{0,10}",
            labels in prop::collection::vec(("[a-z_][a-z0-9_]{0,6}", "\\PC{0,8}"), 0..4),
            value in any::<f64>(),
            ts in any::<i64>(),
        ) {
            let body: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")))
                .collect();
            let value_text = if value.is_nan() { "NaN".to_owned() } else if value.is_infinite() { if value > 0.0 { "+Inf".into() } else { "-Inf".into() } } else { format!("{value:?}") };
            let line = format!("{name}{{{}}} {value_text} {ts}\n", body.join(","));
            let entries = parse(&line, Format::Text).unwrap();
            let s = sample(&entries[0]);
            prop_assert_eq!(s.name, name.as_str());
            prop_assert_eq!(s.labels.len(), labels.len());
            for ((k, v), (pk, pv)) in labels.iter().zip(&s.labels) {
                prop_assert_eq!(k.as_str(), *pk);
                prop_assert_eq!(v.as_str(), pv.as_ref());
            }
            prop_assert_eq!(s.value.to_bits() == value.to_bits() || (s.value.is_nan() && value.is_nan()), true);
            prop_assert_eq!(s.timestamp, Some(ts));
        }
    }
}
