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

/// The longest regular expression Skywatch compiles, in bytes. Compiling takes memory in
/// proportion to the pattern's length before any size limit can apply (about 170 bytes
/// for each byte of a pattern of alternatives, measured with the regex crate 1.x: a
/// 200,000-alternative pattern of 1.5 MB took 245 MB), so a longer one is refused before
/// it is parsed. 128 KiB holds an alternation of several thousand host names, more than a
/// Grafana multi-value variable sends.
pub const MAX_REGEX_BYTES: usize = 128 * 1024;

/// The most memory a compiled regular expression may take: the regex crate's own default
/// (10 MiB), made explicit so that the error can name it.
pub const MAX_COMPILED_REGEX_BYTES: usize = 10 << 20;

/// Compiles `pattern` anchored at both ends, as Prometheus's regex matchers and
/// relabelling do (`^(?s:pattern)$`), within [`MAX_REGEX_BYTES`] and
/// [`MAX_COMPILED_REGEX_BYTES`]; the error says which limit was hit.
pub fn anchored_regex(pattern: &str) -> Result<Regex, String> {
    if pattern.len() > MAX_REGEX_BYTES {
        return Err(format!(
            "the regex is {} bytes long, more than the limit of {MAX_REGEX_BYTES} bytes",
            pattern.len()
        ));
    }
    regex::RegexBuilder::new(&format!("^(?s:{pattern})$"))
        .size_limit(MAX_COMPILED_REGEX_BYTES)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(limit) => format!(
                "the regex compiles to more than the limit of {limit} bytes; match fewer alternatives"
            ),
            other => other.to_string(),
        })
}

/// Text quoted in an error, cut to its first and last 60 characters when longer, so that
/// an error about a long input does not repeat it whole.
pub fn shorten(text: &str) -> std::borrow::Cow<'_, str> {
    const KEEP: usize = 60;
    let chars = text.chars().count();
    if chars <= 2 * KEEP + 20 {
        return text.into();
    }
    let head: String = text.chars().take(KEEP).collect();
    let tail: String = text.chars().skip(chars - KEEP).collect();
    format!("{head}...({} characters)...{tail}", chars - 2 * KEEP).into()
}

/// A matcher's regex does not compile.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid regex {:?} in matcher for label {name:?}: {message}",
    shorten(pattern)
)]
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
            MatchOp::Regex | MatchOp::NotRegex => {
                Some(anchored_regex(&value).map_err(|message| MatcherError {
                    name: name.clone(),
                    pattern: value.clone(),
                    message,
                })?)
            }
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

    // Issue 21: a selector with a 200,000-alternative regex took 260 MiB to refuse.
    #[test]
    fn a_regex_longer_than_the_limit_is_refused_before_compiling_naming_the_limit() {
        let alternatives: Vec<String> = (0..200_000).map(|i| format!("a{i}")).collect();
        let pattern = alternatives.join("|");
        let e = Matcher::new(MatchOp::Regex, "job", &pattern).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("limit of 131072 bytes"), "{text}");
        assert!(
            text.len() < 400,
            "the error repeats the pattern: {} bytes",
            text.len()
        );
        assert!(text.starts_with("invalid regex \"a0|a1|a2"), "{text}");
    }

    #[test]
    fn a_regex_that_compiles_too_big_is_refused_naming_the_limit() {
        // Short, but each counted repetition multiplies the program.
        let e = anchored_regex(r"(\w{1000}){1000}").unwrap_err();
        assert!(
            e.contains("compiles to more than the limit of 10485760 bytes"),
            "{e}"
        );
        assert!(anchored_regex(&"a|".repeat(MAX_REGEX_BYTES / 2 - 1)).is_ok());
    }

    #[test]
    fn shorten_keeps_short_text_and_cuts_the_middle_of_long_text() {
        assert_eq!(shorten("abc"), "abc");
        let long = "x".repeat(1000);
        let cut = shorten(&long);
        assert!(cut.contains("...(880 characters)..."), "{cut}");
        assert_eq!(cut.len(), 60 + 60 + "...(880 characters)...".len());
    }

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
