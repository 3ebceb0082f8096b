//! Label matchers with Prometheus's semantics.

use std::fmt;

use regex::Regex;

use crate::Labels;

/// How a matcher compares a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`: equal.
    Equal,
    /// `!=`: not equal.
    NotEqual,
    /// `=~`: matches the regex, anchored at both ends.
    Regex,
    /// `!~`: does not match the regex, anchored at both ends.
    NotRegex,
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        })
    }
}

/// A matcher's regex does not compile.
#[derive(Debug, thiserror::Error)]
#[error("invalid regex {pattern:?} in matcher for label {name:?}: {message}")]
pub struct MatcherError {
    /// The label name.
    pub name: String,
    /// The pattern as given.
    pub pattern: String,
    /// What the regex compiler said.
    pub message: String,
}

/// A condition on one label: `name op "value"`.
///
/// A missing label has the empty value, so `zone=""` selects series without `zone` and
/// `zone!=""` selects series that have it. Regexes match the whole value, as if written
/// `^(?:pattern)$`.
#[derive(Clone)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The comparison.
    pub op: MatchOp,
    /// The value or pattern as written.
    pub value: String,
    regex: Option<Regex>,
}

impl Matcher {
    /// Returns a matcher, compiling its regex if it has one.
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        let (name, value) = (name.into(), value.into());
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                Regex::new(&format!("^(?s:{value})$")).map_err(|e| MatcherError {
                    name: name.clone(),
                    pattern: value.clone(),
                    message: e.to_string(),
                })?,
            ),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Self {
            name,
            op,
            value,
            regex,
        })
    }

    /// Returns an `=` matcher, which cannot fail.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            regex: None,
        }
    }

    /// Tells whether a label value (empty when the label is absent) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::Regex, Some(r)) => r.is_match(value),
            (MatchOp::NotRegex, Some(r)) => !r.is_match(value),
            // Regex matchers always carry a compiled regex (see `new`).
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }

    /// Tells whether the matcher selects series that lack its label.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// Tells whether a series with these labels satisfies the matcher.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op, self.value)
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

/// Tells whether a series satisfies every matcher.
pub fn matches_all(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches_labels(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(op: MatchOp, v: &str) -> Matcher {
        Matcher::new(op, "zone", v).unwrap()
    }

    #[test]
    fn prometheus_semantics() {
        use MatchOp::*;
        let with = Labels::from_pairs([("zone", "eu-west")]);
        let without = Labels::from_pairs([("job", "x")]);
        for (matcher, on_with, on_without) in [
            (m(Equal, "eu-west"), true, false),
            (m(Equal, ""), false, true),
            (m(NotEqual, ""), true, false),
            (m(NotEqual, "eu-west"), false, true),
            (m(Regex, "eu-.*"), true, false),
            (m(Regex, "eu"), false, false),
            (m(Regex, ".*"), true, true),
            (m(Regex, ".+"), true, false),
            (m(NotRegex, "eu-.*"), false, true),
            (m(Regex, "eu-west|us"), true, false),
        ] {
            assert_eq!(
                matcher.matches_labels(&with),
                on_with,
                "{matcher} on {with}"
            );
            assert_eq!(
                matcher.matches_labels(&without),
                on_without,
                "{matcher} on {without}"
            );
        }
    }

    #[test]
    fn a_bad_regex_names_label_and_pattern() {
        let err = Matcher::new(MatchOp::Regex, "job", "a(").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid regex \"a(\" in matcher for label \"job\""),
            "{err}"
        );
    }
}
