//! Loki's stream selectors (`{app="api", env=~"prod|dev"}`) and the label sets of its push
//! protocol (`{app="api"}`, equality only), read as Loki reads them: label names of
//! letters, digits and `_`, values quoted with `"` (Go's escapes) or backquotes (raw).
//!
//! The LogQL parser reads whole queries; the routes here that take only a selector
//! (`/series`, `/labels`, `/index/*`, the push's stream labels) read it with this small
//! parser so that they do not depend on the query engine. Errors name the byte offset.

use model::{Labels, MatchOp, Matcher};

/// A selector that could not be read: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorError {
    /// The byte offset in the text where reading stopped.
    pub offset: usize,
    /// What was expected or wrong there.
    pub message: String,
}

impl std::fmt::Display for SelectorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "parse error at byte {}: {}", self.offset, self.message)
    }
}

struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn skip_space(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }

    fn fail<T>(&self, message: impl Into<String>) -> Result<T, SelectorError> {
        Err(SelectorError {
            offset: self.at,
            message: message.into(),
        })
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.rest().starts_with(token) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    fn name(&mut self) -> Result<&'a str, SelectorError> {
        let rest = self.rest();
        let len = rest
            .char_indices()
            .find(|&(i, c)| !(c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
            .map_or(rest.len(), |(i, _)| i);
        if len == 0 {
            return self
                .fail("expected a label name (letters, digits and _, not starting with a digit)");
        }
        self.at += len;
        Ok(&rest[..len])
    }

    fn op(&mut self) -> Result<MatchOp, SelectorError> {
        for (token, op) in [
            ("=~", MatchOp::Regex),
            ("!~", MatchOp::NotRegex),
            ("!=", MatchOp::NotEqual),
            ("=", MatchOp::Equal),
        ] {
            if self.eat(token) {
                return Ok(op);
            }
        }
        self.fail("expected one of =, !=, =~, !~")
    }

    fn string(&mut self) -> Result<String, SelectorError> {
        if self.eat("`") {
            let rest = self.rest();
            let Some(end) = rest.find('`') else {
                return self.fail("the backquoted string is not closed");
            };
            self.at += end + 1;
            return Ok(rest[..end].to_owned());
        }
        if !self.eat("\"") {
            return self.fail("expected a quoted value (\"...\" or `...`)");
        }
        let start = self.at;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.at = start + i + 1;
                    return Ok(out);
                }
                '\\' => {
                    let Some((_, e)) = chars.next() else { break };
                    let simple = match e {
                        'n' => Some('\n'),
                        't' => Some('\t'),
                        'r' => Some('\r'),
                        'a' => Some('\u{7}'),
                        'b' => Some('\u{8}'),
                        'f' => Some('\u{c}'),
                        'v' => Some('\u{b}'),
                        '\\' | '"' | '\'' => Some(e),
                        _ => None,
                    };
                    if let Some(s) = simple {
                        out.push(s);
                        continue;
                    }
                    let digits = match e {
                        'x' => 2,
                        'u' => 4,
                        'U' => 8,
                        _ => {
                            self.at = start + i;
                            return self.fail(format!("unknown escape \\{e} in a quoted value"));
                        }
                    };
                    let hex: String = chars.by_ref().take(digits).map(|(_, c)| c).collect();
                    match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        Some(c) if hex.len() == digits => out.push(c),
                        _ => {
                            self.at = start + i;
                            return self.fail(format!("invalid escape \\{e}{hex}"));
                        }
                    }
                }
                c => out.push(c),
            }
        }
        self.at = start - 1;
        self.fail("the quoted value is not closed")
    }

    /// `{name op "value", ...}`, then nothing but spaces.
    fn selector(&mut self) -> Result<Vec<(String, MatchOp, String, usize)>, SelectorError> {
        self.skip_space();
        if !self.eat("{") {
            return self.fail("a stream selector starts with {");
        }
        let mut out = Vec::new();
        loop {
            self.skip_space();
            if self.eat("}") {
                break;
            }
            if !out.is_empty() {
                if !self.eat(",") {
                    return self.fail("expected , or }");
                }
                self.skip_space();
                // A trailing comma, as Prometheus allows.
                if self.eat("}") {
                    break;
                }
            }
            let at = self.at;
            let name = self.name()?.to_owned();
            self.skip_space();
            let op = self.op()?;
            self.skip_space();
            let value = self.string()?;
            out.push((name, op, value, at));
        }
        self.skip_space();
        if !self.rest().is_empty() {
            return self.fail(
                "unexpected text after the stream selector: this route takes a selector alone",
            );
        }
        Ok(out)
    }
}

/// Reads a stream selector into its matchers. An empty selector (`{}`) or one whose
/// matchers all match the empty value is refused, as Loki refuses it.
pub fn parse_selector(text: &str) -> Result<Vec<Matcher>, SelectorError> {
    let mut r = Reader { text, at: 0 };
    let parts = r.selector()?;
    let mut matchers = Vec::with_capacity(parts.len());
    for (name, op, value, at) in parts {
        let m = Matcher::new(op, name, value).map_err(|e| SelectorError {
            offset: at,
            message: e.to_string(),
        })?;
        matchers.push(m);
    }
    if matchers.iter().all(Matcher::matches_empty) {
        return Err(SelectorError {
            offset: 0,
            message: "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will".into(),
        });
    }
    Ok(matchers)
}

/// Reads the label set of a pushed stream (`{app="api", env="prod"}`): equality matchers
/// only, each name once.
pub fn parse_labels(text: &str) -> Result<Labels, SelectorError> {
    let mut r = Reader { text, at: 0 };
    let parts = r.selector()?;
    let mut seen = std::collections::BTreeSet::new();
    for (name, op, _, at) in &parts {
        if *op != MatchOp::Equal {
            return Err(SelectorError {
                offset: *at,
                message: format!(
                    "label {name} uses {op}: a stream's labels are name=\"value\" pairs"
                ),
            });
        }
        if !seen.insert(name.as_str()) {
            return Err(SelectorError {
                offset: *at,
                message: format!("duplicate label name {name}"),
            });
        }
    }
    Ok(Labels::from_pairs(
        parts.iter().map(|(n, _, v, _)| (n.as_str(), v.as_str())),
    ))
}

/// A label set as Loki writes it in messages: `{app="api", env="prod"}`.
pub fn format_labels(labels: &Labels) -> String {
    let mut out = String::from("{");
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(l.name);
        out.push_str("=\"");
        for c in l.value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// Tells whether `name` is a valid label name: letters, digits and `_`, not starting with
/// a digit.
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_read_every_operator_and_quote() {
        let m = parse_selector(r#" { app = "a\"p\u00e9" , env=~`prod|dev`, x!="", y!~"z.*", } "#)
            .unwrap();
        let shown: Vec<String> = m.iter().map(|m| m.to_string()).collect();
        assert_eq!(
            shown,
            [
                r#"app="a\"pé""#,
                r#"env=~"prod|dev""#,
                r#"x!="""#,
                r#"y!~"z.*""#
            ]
        );
    }

    #[test]
    fn bad_selectors_name_the_offset() {
        let check = |text: &str, offset: usize, part: &str| {
            let e = parse_selector(text).unwrap_err();
            assert_eq!(e.offset, offset, "{text}: {e}");
            assert!(e.message.contains(part), "{text}: {e}");
        };
        check("app=\"a\"", 0, "starts with {");
        check("{app=\"a\"", 8, "expected , or }");
        check("{app~\"a\"}", 4, "expected one of");
        check("{1app=\"a\"}", 1, "label name");
        check("{app=\"a}", 5, "not closed");
        check("{app=\"a\"} |= \"x\"", 10, "selector alone");
        check("{app=~\"(\"}", 1, "");
        check("{}", 0, "at least one");
        check("{app=~\".*\"}", 0, "at least one");
    }

    #[test]
    fn pushed_labels_are_equalities_once_each() {
        let l = parse_labels(r#"{job="node", app="api"}"#).unwrap();
        assert_eq!(format_labels(&l), r#"{app="api", job="node"}"#);
        assert!(
            parse_labels(r#"{job=~"node"}"#)
                .unwrap_err()
                .message
                .contains("uses =~")
        );
        assert!(
            parse_labels(r#"{job="a", job="b"}"#)
                .unwrap_err()
                .message
                .contains("duplicate")
        );
        assert!(parse_labels("{}").unwrap().is_empty());
    }
}
