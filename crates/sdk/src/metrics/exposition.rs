//! Exposition formats: Prometheus text 0.0.4 and OpenMetrics 1.0 text, and how a scraper's
//! `Accept` header chooses between them.
//!
//! `prometheus-client` encodes OpenMetrics only. Prometheus 2.x scrapes either, but `promtool
//! check metrics`, older scrapers and most exporters' users expect 0.0.4, so the text format
//! is derived here from the OpenMetrics stream, line by line. The two differ only in
//! metadata and decoration:
//!
//! | OpenMetrics                          | 0.0.4                                   |
//! |--------------------------------------|-----------------------------------------|
//! | `# TYPE x counter`, samples `x_total` | `# TYPE x_total counter`                |
//! | `# TYPE x info`, samples `x_info`     | `# TYPE x_info gauge`                   |
//! | `# TYPE x unknown`                   | `# TYPE x untyped`                      |
//! | `# UNIT` lines, `_created` samples   | dropped                                 |
//! | exemplars after ` # `                | dropped                                 |
//! | timestamps in seconds                | timestamps in milliseconds              |
//! | HELP escapes `\\`, `\n` and `\"`     | HELP escapes `\\` and `\n`               |
//! | `# EOF` ends the body                | nothing                                 |

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format, version 0.0.4.
    Text,
    /// The OpenMetrics 1.0 text format.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` header value for a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// Chooses the format a scraper prefers from its `Accept` header.
    ///
    /// Media ranges are taken in order of their `q` weights (ties keep header order); the first
    /// one this encoder can produce wins. OpenMetrics is chosen for
    /// `application/openmetrics-text` with no version or version 1.0.0 or 0.0.1; the text
    /// format for `text/plain` (no version or 0.0.4), `text/*` and `*/*`. Anything else,
    /// including no header at all, gets the text format, which every scraper reads.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let mut ranges: Vec<(f32, Option<Format>)> = media_ranges(accept)
            .map(|r| {
                let format = match r.essence.as_str() {
                    "application/openmetrics-text"
                        if matches!(r.param("version"), None | Some("1.0.0" | "0.0.1")) =>
                    {
                        Some(Format::OpenMetrics)
                    }
                    "text/plain" if matches!(r.param("version"), None | Some("0.0.4")) => {
                        Some(Format::Text)
                    }
                    "text/*" | "*/*" => Some(Format::Text),
                    _ => None,
                };
                (r.q, format)
            })
            .collect();
        // A stable sort keeps header order among equal weights.
        ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranges
            .into_iter()
            .find_map(|(q, f)| if q > 0.0 { f } else { None })
            .unwrap_or(Format::Text)
    }
}

/// Tells whether an `Accept-Encoding` header accepts gzip (with a non-zero weight).
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|h| {
        media_ranges(h).any(|r| (r.essence == "gzip" || r.essence == "*") && r.q > 0.0)
    })
}

/// One element of an `Accept`-style header: `essence;param=value;q=0.5`.
struct MediaRange<'a> {
    essence: String,
    params: Vec<(&'a str, &'a str)>,
    q: f32,
}

impl MediaRange<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

fn media_ranges(header: &str) -> impl Iterator<Item = MediaRange<'_>> {
    header.split(',').filter_map(|part| {
        let mut pieces = part.split(';');
        let essence = pieces.next()?.trim().to_ascii_lowercase();
        if essence.is_empty() {
            return None;
        }
        let mut q = 1.0;
        let mut params = Vec::new();
        for p in pieces {
            let Some((k, v)) = p.split_once('=') else {
                continue;
            };
            let (k, v) = (k.trim(), v.trim().trim_matches('"'));
            if k.eq_ignore_ascii_case("q") {
                // An unparsable weight makes the range unacceptable rather than preferred.
                q = v.parse::<f32>().unwrap_or(0.0).clamp(0.0, 1.0);
            } else {
                params.push((k, v));
            }
        }
        Some(MediaRange { essence, params, q })
    })
}

/// Escapes a help text for an OpenMetrics `# HELP` line.
pub(crate) fn escape_help(help: &str) -> String {
    let mut out = String::with_capacity(help.len());
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

/// Rewrites an OpenMetrics text body (without or with `# EOF`) as Prometheus text 0.0.4.
///
/// The input is what `prometheus-client` and this crate's summaries write: one metric family
/// per `# HELP`/`# TYPE` block, samples after their family's metadata.
pub fn openmetrics_to_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // HELP precedes TYPE, but its 0.0.4 name depends on the type: hold it until TYPE arrives.
    let mut pending_help: Option<(&str, &str)> = None;
    let mut family = Family::default();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            pending_help = Some((name, help));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            family = Family::new(name, kind);
            let exposed = family.exposed_name();
            if let Some((help_name, help)) = pending_help.take()
                && help_name == name
            {
                out.push_str("# HELP ");
                out.push_str(&exposed);
                out.push(' ');
                unescape_quote(help, &mut out);
                out.push('\n');
            }
            out.push_str("# TYPE ");
            out.push_str(&exposed);
            out.push(' ');
            out.push_str(family.text_type());
            out.push('\n');
        } else if line.starts_with('#') || line.is_empty() {
            // `# UNIT`, `# EOF` and comments have no 0.0.4 form.
        } else if !family.drops(line) {
            push_sample(line, &mut out);
        }
    }
    out
}

#[derive(Default)]
struct Family<'a> {
    name: &'a str,
    kind: &'a str,
}

impl<'a> Family<'a> {
    fn new(name: &'a str, kind: &'a str) -> Self {
        Self { name, kind }
    }

    fn exposed_name(&self) -> String {
        match self.kind {
            "counter" => format!("{}_total", self.name),
            "info" => format!("{}_info", self.name),
            _ => self.name.to_owned(),
        }
    }

    fn text_type(&self) -> &'static str {
        match self.kind {
            "counter" => "counter",
            "gauge" | "info" | "stateset" => "gauge",
            "histogram" | "gaugehistogram" => "histogram",
            "summary" => "summary",
            _ => "untyped",
        }
    }

    /// Tells whether a sample of this family has no 0.0.4 form (`_created` series).
    fn drops(&self, line: &str) -> bool {
        let name_end = line.find([' ', '{']).unwrap_or(line.len());
        let name = &line[..name_end];
        name.strip_prefix(self.name)
            .is_some_and(|suffix| suffix == "_created")
    }
}

/// Copies a sample line without its exemplar, converting a timestamp from seconds to ms.
fn push_sample(line: &str, out: &mut String) {
    // Skip past the label set, whose quoted values may contain anything, to find the value.
    let bytes = line.as_bytes();
    let mut i = line.find([' ', '{']).unwrap_or(line.len());
    if bytes.get(i) == Some(&b'{') {
        let mut in_quotes = false;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if in_quotes => i += 1,
                b'"' => in_quotes = !in_quotes,
                b'}' if !in_quotes => {
                    i += 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
    }
    let (series, rest) = line.split_at(i.min(line.len()));
    let rest = match rest.find(" # ") {
        Some(exemplar) => &rest[..exemplar],
        None => rest,
    };
    let mut fields = rest.split_ascii_whitespace();
    out.push_str(series);
    if let Some(value) = fields.next() {
        out.push(' ');
        out.push_str(value);
    }
    if let Some(seconds) = fields.next().and_then(|ts| ts.parse::<f64>().ok()) {
        out.push(' ');
        out.push_str(&format!("{}", (seconds * 1000.0).round() as i64));
    }
    out.push('\n');
}

/// Appends an OpenMetrics HELP text with `\"` turned back into `"`, which 0.0.4 leaves bare.
fn unescape_quote(help: &str, out: &mut String) {
    let mut chars = help.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('"') => out.push('"'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(openmetrics: &str, text: &str) {
        assert_eq!(openmetrics_to_text(openmetrics), text);
    }

    #[test]
    fn counters_take_the_total_suffix_in_metadata() {
        check(
            "# HELP msgs Messages.\n# TYPE msgs counter\nmsgs_total{type=\"a\"} 3\nmsgs_created 1.5\n# EOF\n",
            "# HELP msgs_total Messages.\n# TYPE msgs_total counter\nmsgs_total{type=\"a\"} 3\n",
        );
    }

    #[test]
    fn info_becomes_a_gauge_and_unknown_untyped() {
        check(
            "# HELP b Build.\n# TYPE b info\nb_info{v=\"1\"} 1\n# HELP u U.\n# TYPE u unknown\nu 2\n",
            "# HELP b_info Build.\n# TYPE b_info gauge\nb_info{v=\"1\"} 1\n# HELP u U.\n# TYPE u untyped\nu 2\n",
        );
    }

    #[test]
    fn units_exemplars_and_timestamps() {
        check(
            "# HELP d_seconds D.\n# TYPE d_seconds histogram\n# UNIT d_seconds seconds\n\
             d_seconds_bucket{le=\"1.0\",x=\"} # {\"} 2 # {trace_id=\"ab\"} 0.5 1.5\n\
             d_seconds_count 2 1.25\n",
            "# HELP d_seconds D.\n# TYPE d_seconds histogram\n\
             d_seconds_bucket{le=\"1.0\",x=\"} # {\"} 2\nd_seconds_count 2 1250\n",
        );
    }

    #[test]
    fn help_quotes_are_unescaped_and_other_escapes_kept() {
        let help = escape_help("say \"hi\"\nback\\slash");
        assert_eq!(help, "say \\\"hi\\\"\\nback\\\\slash");
        check(
            &format!("# HELP g {help}\n# TYPE g gauge\ng 1\n"),
            "# HELP g say \"hi\"\\nback\\\\slash\n# TYPE g gauge\ng 1\n",
        );
    }

    #[test]
    fn negotiation_follows_weights_then_order() {
        use Format::*;
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        for (accept, want) in [
            (None, Text),
            (Some(prometheus), OpenMetrics),
            (
                Some("text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.5"),
                Text,
            ),
            (
                Some("application/openmetrics-text;q=0.9, text/plain;q=0.2"),
                OpenMetrics,
            ),
            (Some("application/openmetrics-text;version=2.0.0"), Text),
            (Some("application/openmetrics-text;q=0"), Text),
            (
                Some("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily"),
                Text,
            ),
            (Some("*/*"), Text),
            (Some("APPLICATION/OpenMetrics-Text"), OpenMetrics),
        ] {
            assert_eq!(Format::negotiate(accept), want, "{accept:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn header_parsing_never_panics(header in ".*") {
            let _ = Format::negotiate(Some(&header));
            let _ = accepts_gzip(Some(&header));
        }

        #[test]
        fn rewriting_arbitrary_input_never_panics_and_leaves_no_openmetrics_syntax(
            body in proptest::collection::vec(
                proptest::prop_oneof![
                    "# (HELP|TYPE|UNIT|EOF) [a-z_]{1,8} [a-z\"\\\\]{0,8}",
                    "[a-z_]{1,8}(\\{[a-z]=\"[^\"\n]{0,6}\"\\})? [0-9.]{1,4}( # \\{\\} 1)?( [0-9]{1,3})?",
                    ".{0,20}",
                ],
                0..12,
            )
        ) {
            let text = openmetrics_to_text(&body.join("\n"));
            for line in text.lines() {
                proptest::prop_assert!(
                    line.starts_with("# HELP ") || line.starts_with("# TYPE ") || !line.starts_with('#'),
                    "{line:?}"
                );
                proptest::prop_assert!(!line.starts_with("# UNIT") && line != "# EOF");
            }
        }
    }

    #[test]
    fn gzip_acceptance() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("br;q=1.0, gzip;q=0.8, *;q=0.1")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(None));
    }
}
