//! What keeps one query from taking the server down: how deep an expression may nest, how
//! long its regular expressions may be, and the stack its recursion runs on.
//!
//! Parsing, converting and evaluating an expression recurse once for each level of its
//! tree, and a tree can be as deep as its text is long: `((((1))))`, `-(-(-1))`, and above
//! all chains of binary operators, `a + b + c + ...`, which nest to the left. Prometheus
//! answers any depth because Go's stacks grow; a Rust thread's stack does not (an async
//! worker has 2 MiB), and overflowing it aborts the whole process. So:
//!
//! - Before parsing, [`depth_bound`] reads the text once, without recursing, and bounds the
//!   depth of the tree it can parse to: every level of the tree is a bracket, an operator or
//!   a keyword operator of the text. Above [`MAX_DEPTH`] the query is refused, with a
//!   parse error naming the limit. The same pass refuses a regular expression longer than
//!   [`model::MAX_REGEX_BYTES`] before promql-parser compiles it.
//! - Within the limit, promql-parser (whose recursion is not ours to change) runs on a
//!   stack sized for the bound ([`on_stack`]), and Skywatch's own recursive functions grow
//!   their stack onto the heap when it runs low ([`grow`]): a deep query costs stack in
//!   proportion to its depth, given back when it is done, wherever it runs.

use crate::ast::ParseError;

/// The deepest expression Skywatch parses: an upper bound on its tree's depth, counted as
/// its brackets, operators and keyword operators (`and`, `or`, `unless`, `atan2`). A chain
/// of 10,000 terms `1 + 1 + ... + 1` has 9,999 operators and 1,000 nested parentheses have
/// 1,000 brackets: both are well inside. Parsing the deepest query takes about 40 MB of
/// stack in a release build (four times that in a debug build), given back afterwards.
pub const MAX_DEPTH: usize = 20_000;

/// The deepest expression `format_query` formats. Prometheus's formatting indents each
/// level of nesting (a chain of binary operators too) by two more spaces, so the text it
/// makes grows with the square of the depth: 1,000 levels are about 2 MB of text, formatted
/// by promql-parser in 0.6 to 1.3 s (release build), and its time grows with the cube.
pub const MAX_FORMAT_DEPTH: usize = 1_000;

/// The words of the depth error that tell it, for [`exceeded_limit`].
const DEPTH_LIMIT_PHRASE: &str = "levels of brackets and operators";

/// The words of the regex errors (here, and `model`'s for a regex that compiles too large)
/// that tell them, for [`exceeded_limit`].
const REGEX_LIMIT_PHRASES: [&str; 2] = [
    "bytes long, more than the limit",
    "the regex compiles to more than the limit",
];

/// The limit a parse error from [`depth_bound`] reports, by the name the server's metrics
/// count it under (`query-max-depth`, `query-max-regex-bytes`); `None` for any other
/// parse error.
pub fn exceeded_limit(e: &ParseError) -> Option<&'static str> {
    if e.0.contains(DEPTH_LIMIT_PHRASE) {
        Some("query-max-depth")
    } else if REGEX_LIMIT_PHRASES.iter().any(|p| e.0.contains(p)) {
        Some("query-max-regex-bytes")
    } else {
        None
    }
}

/// Below this bound promql-parser runs on the caller's stack: at the 1.2 KiB a level it
/// takes at most (measured, debug build), well within any thread's.
const INLINE_DEPTH: usize = 64;

/// The stack promql-parser takes for each level of the bound: four times the most measured
/// (1.2 KiB a level, nested aggregations in a debug build).
const STACK_PER_LEVEL: usize = 4 * 1024;

/// The stack left when [`grow`] moves to a new segment: more than the largest frames of a
/// level of conversion or evaluation (8 KiB measured in a debug build) many times over.
const RED_ZONE: usize = 256 * 1024;

/// The size of each new stack segment [`grow`] allocates.
const SEGMENT: usize = 4 * 1024 * 1024;

/// An upper bound on the depth of the tree `text` parses to; an error if it is over
/// [`MAX_DEPTH`] or if a regular expression in a matcher is longer than
/// [`model::MAX_REGEX_BYTES`]. Reads the text once, without recursion.
pub fn depth_bound(text: &str) -> Result<usize, ParseError> {
    let b = text.as_bytes();
    let mut bound = 1usize;
    let mut in_braces = false;
    // The label name and operator last seen inside braces: a string after `=~` or `!~` is
    // a regular expression.
    let mut label = "";
    let mut regex_next = false;
    let mut i = 0;
    // Where the token read last began: where the bound goes over the limit, if it does.
    let mut token = 0;
    loop {
        if bound > MAX_DEPTH {
            return Err(ParseError(format!(
                "parse error: the expression nests or chains {bound} {DEPTH_LIMIT_PHRASE} at \
                 byte {token}, more than the limit of {MAX_DEPTH}; split it, for example into \
                 recording rules"
            )));
        }
        if i >= b.len() {
            break;
        }
        token = i;
        let c = b[i];
        match c {
            b'"' | b'\'' | b'`' => {
                let end = crate::ast::skip_string(b, i).min(b.len());
                // The quotes do not count; escapes make the pattern no longer.
                let len = end.saturating_sub(i + 2);
                if regex_next && len > model::MAX_REGEX_BYTES {
                    return Err(ParseError(format!(
                        "parse error: the regex in the matcher for label {label:?} at byte {i} is {len} bytes long, \
                         more than the limit of {} bytes",
                        model::MAX_REGEX_BYTES
                    )));
                }
                regex_next = false;
                i = end;
                continue;
            }
            b'#' => {
                i = crate::ast::skip_comment(b, i);
                continue;
            }
            b'{' => in_braces = true,
            b'}' => in_braces = false,
            b'(' | b'[' if !in_braces => bound += 1,
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'=' | b'!' | b'<' | b'>' | b'~' => {
                // Each character may be an operator of its own (`--x`, `1+-x`); counting
                // `>=` as two only loosens the bound.
                let start = i;
                while i < b.len() && b"+-*/%^=!<>~".contains(&b[i]) {
                    i += 1;
                }
                if in_braces {
                    regex_next = b[i - 1] == b'~';
                } else {
                    bound += i - start;
                }
                continue;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b':' || c == b'.' => {
                let start = i;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b':' | b'.'))
                {
                    i += 1;
                }
                let word = &text[start..i];
                if in_braces {
                    label = word;
                } else if ["and", "or", "unless", "atan2"]
                    .iter()
                    .any(|k| word.eq_ignore_ascii_case(k))
                {
                    bound += 1;
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(bound)
}

/// As [`depth_bound`], for formatting: an error above [`MAX_FORMAT_DEPTH`].
pub(crate) fn format_depth_bound(text: &str) -> Result<usize, ParseError> {
    let bound = depth_bound(text)?;
    if bound > MAX_FORMAT_DEPTH {
        return Err(ParseError(format!(
            "the expression nests or chains {bound} levels of brackets and operators, more than \
             the limit of {MAX_FORMAT_DEPTH} for formatting: its formatted text would grow with \
             the square of its depth"
        )));
    }
    Ok(bound)
}

/// Runs `f`, which recurses at most `depth` levels in code that does not grow its own
/// stack (promql-parser's), on a stack large enough for it.
pub fn on_stack<R>(depth: usize, f: impl FnOnce() -> R) -> R {
    if depth <= INLINE_DEPTH {
        f()
    } else {
        stacker::grow(RED_ZONE + depth * STACK_PER_LEVEL, f)
    }
}

/// Runs `f` on the current stack, or on a new segment if less than a red zone is left.
/// Every recursive function of this crate calls itself through it, so that no depth of
/// expression overflows the stack of the thread it runs on.
pub fn grow<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, SEGMENT, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_counts_brackets_and_operators_outside_matchers_and_strings() {
        for (text, bound) in [
            ("up", 1),
            ("1 + 2 * 3", 3),
            ("--1 + -1", 5),
            ("sum by (job) (rate(x[5m]))", 5),
            ("a and b or c unless d atan2 e", 5),
            (r#"x{a=~"(a|b)+", b!="(("}"#, 1),
            ("-(-(1))", 5),
            ("x >= bool 1", 3),
            ("1e-3 # (((( a comment\n + 1", 3),
            ("'(' + \"[\"", 2),
        ] {
            assert_eq!(depth_bound(text).unwrap(), bound, "{text}");
        }
    }

    #[test]
    fn over_the_limit_is_an_error_naming_it() {
        let chain = vec!["1"; MAX_DEPTH + 1].join("+");
        let e = depth_bound(&chain).unwrap_err().0;
        // The 20,000th `+` is the 20,001st level, after 20,000 terms of one byte and
        // 19,999 operators before it.
        assert!(
            e.contains("20001 levels")
                && e.contains("at byte 39999")
                && e.contains("limit of 20000"),
            "{e}"
        );
        assert_eq!(exceeded_limit(&ParseError(e)), Some("query-max-depth"));
        let ok = vec!["1"; 10_000].join("+");
        assert_eq!(depth_bound(&ok).unwrap(), 10_000);
    }

    #[test]
    fn a_long_regex_is_refused_naming_the_label_and_the_limit() {
        let long = "a|".repeat(model::MAX_REGEX_BYTES);
        let e = depth_bound(&format!(r#"up{{job=~"{long}"}}"#))
            .unwrap_err()
            .0;
        assert!(
            e.contains("label \"job\" at byte 8") && e.contains("limit of 131072"),
            "{e}"
        );
        assert_eq!(
            exceeded_limit(&ParseError(e)),
            Some("query-max-regex-bytes")
        );
        // The same string as a value, not a regex, is not one.
        depth_bound(&format!(r#"up{{job="{long}"}}"#)).unwrap();
    }
}
