//! The LogQL lexer: text to tokens with byte offsets, as Loki's lexer (`syntax/lex.go`, over
//! Go's `text/scanner`) splits them.
//!
//! A number followed at once by letters is a duration when Go or Prometheus reads it as one
//! (`5m`, `1m30s`, `1.5h`, `2d`), else a byte size when go-humanize reads it as one (`20MB`,
//! `1KiB`); anything else glued to a number is an error. Strings are Go's: `"..."` with Go's
//! escapes, or `` `raw` ``. `#` starts a comment to the end of the line. Keywords are plain
//! identifiers here: the parser decides by position, so a label may be called `count`.

use crate::ParseError;

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A name: label, function or keyword.
    Ident(String),
    /// A string literal, unquoted.
    Str(String),
    /// A number.
    Num(f64),
    /// A duration, in nanoseconds.
    Duration(i64),
    /// A byte size.
    Bytes(u64),
    /// `--strict`, `--keep-empty`: a parser flag, without its dashes.
    Flag(String),
    /// Punctuation or an operator.
    Sym(Sym),
    /// The end of the text.
    Eof,
}

/// An operator or punctuation symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sym {
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Eq,
    Neq,
    Re,
    Nre,
    CmpEq,
    Gt,
    Gte,
    Lt,
    Lte,
    Pipe,
    PipeExact,
    PipeMatch,
    PipePattern,
    NotPattern,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

/// Every symbol with its text, longest first so that the first match is the longest.
const SYMBOLS: &[(&str, Sym)] = &[
    ("|=", Sym::PipeExact),
    ("|~", Sym::PipeMatch),
    ("|>", Sym::PipePattern),
    ("!>", Sym::NotPattern),
    ("!=", Sym::Neq),
    ("!~", Sym::Nre),
    ("=~", Sym::Re),
    ("==", Sym::CmpEq),
    (">=", Sym::Gte),
    ("<=", Sym::Lte),
    ("{", Sym::LBrace),
    ("}", Sym::RBrace),
    ("(", Sym::LParen),
    (")", Sym::RParen),
    ("[", Sym::LBracket),
    ("]", Sym::RBracket),
    (",", Sym::Comma),
    ("=", Sym::Eq),
    (">", Sym::Gt),
    ("<", Sym::Lt),
    ("|", Sym::Pipe),
    ("+", Sym::Add),
    ("-", Sym::Sub),
    ("*", Sym::Mul),
    ("/", Sym::Div),
    ("%", Sym::Mod),
    ("^", Sym::Pow),
];

impl Sym {
    /// The symbol as written.
    pub(crate) fn text(self) -> &'static str {
        SYMBOLS
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("?", |(t, _)| t)
    }
}

impl Tok {
    /// How an error message names the token, as Loki's goyacc messages do.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("IDENTIFIER {s}"),
            Tok::Str(s) => format!("STRING {s:?}"),
            Tok::Num(_) => "NUMBER".into(),
            Tok::Duration(_) => "DURATION".into(),
            Tok::Bytes(_) => "BYTES".into(),
            Tok::Flag(f) => format!("FUNCTION_FLAG --{f}"),
            Tok::Sym(s) => s.text().to_owned(),
            Tok::Eof => "end of input".into(),
        }
    }
}

/// A token and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) at: usize,
}

/// Splits `src` into tokens, ending with [`Tok::Eof`].
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, ParseError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let at = i;
        if c == b'"' || c == b'`' {
            let (s, end) = string(src, i)?;
            out.push(Token {
                tok: Tok::Str(s),
                at,
            });
            i = end;
            continue;
        }
        if c.is_ascii_digit() || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let (tok, end) = number(src, i)?;
            out.push(Token { tok, at });
            i = end;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let end = i + src[i..]
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .unwrap_or(src.len() - i);
            out.push(Token {
                tok: Tok::Ident(src[i..end].to_owned()),
                at,
            });
            i = end;
            continue;
        }
        if src[i..].starts_with("--") && bytes.get(i + 2).is_some_and(u8::is_ascii_alphabetic) {
            let end = i
                + 2
                + src[i + 2..]
                    .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'))
                    .unwrap_or(src.len() - i - 2);
            out.push(Token {
                tok: Tok::Flag(src[i + 2..end].to_owned()),
                at,
            });
            i = end;
            continue;
        }
        match SYMBOLS.iter().find(|(t, _)| src[i..].starts_with(t)) {
            Some((t, s)) => {
                out.push(Token {
                    tok: Tok::Sym(*s),
                    at,
                });
                i += t.len();
            }
            None => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(ParseError::new(
                    src,
                    at,
                    format!("syntax error: unexpected character {ch:?}"),
                ));
            }
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        at: src.len(),
    });
    Ok(out)
}

/// Reads a number, or a duration or byte size written with units, at `i`.
fn number(src: &str, i: usize) -> Result<(Tok, usize), ParseError> {
    let bytes = src.as_bytes();
    let mut end = i;
    while end < bytes.len() {
        let c = bytes[end];
        let exponent_sign = (c == b'+' || c == b'-')
            && end > i
            && matches!(bytes[end - 1], b'e' | b'E')
            && bytes[i..end - 1]
                .iter()
                .all(|b| b.is_ascii_digit() || *b == b'.')
            && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
        if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || exponent_sign {
            end += 1;
        } else if src[end..].starts_with('µ') {
            end += 'µ'.len_utf8();
        } else {
            break;
        }
    }
    let text = &src[i..end];
    if let Some(n) = parse_number(text) {
        return Ok((Tok::Num(n), end));
    }
    if let Some(d) = parse_duration(text) {
        return Ok((Tok::Duration(d), end));
    }
    if let Some(b) = parse_bytes(text) {
        return Ok((Tok::Bytes(b), end));
    }
    Err(ParseError::new(
        src,
        i,
        format!(
            "syntax error: {text:?} is neither a number, a duration (5m, 1h30m) nor a byte size (20MB, 1KiB)"
        ),
    ))
}

/// A number as Loki reads a LogQL literal (`strconv.ParseFloat`): decimal, with an optional
/// exponent; Loki refuses `0x10`, and so does this.
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    let ok = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && text
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_digit() || b == b'.');
    if ok { text.parse().ok() } else { None }
}

/// A duration as Go's `time.ParseDuration` (`1m30s`, `1.5h`, `300ms`, `2us`) or Prometheus's
/// `model.ParseDuration` (`2d`, `1w`, `1y`) reads it, in nanoseconds; an optional leading
/// sign as Go allows it.
pub(crate) fn parse_duration(text: &str) -> Option<i64> {
    let (neg, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let value: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86_400e9,
            "w" => 7.0 * 86_400e9,
            "y" => 365.0 * 86_400e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += value * unit;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let ns = total.round() as i64;
    Some(if neg { -ns } else { ns })
}

/// A byte size as go-humanize's `ParseBytes` reads it: a number and an optional unit, SI
/// (`kB`, `MB`: powers of 1000) or IEC (`KiB`, `MiB`: powers of 1024), any case, with
/// optional space between.
pub(crate) fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let num_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let value: f64 = text[..num_end].parse().ok()?;
    let unit = text[num_end..].trim().to_ascii_lowercase();
    let mult: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1024f64.powi(3),
        "t" | "tb" => 1e12,
        "ti" | "tib" => 1024f64.powi(4),
        "p" | "pb" => 1e15,
        "pi" | "pib" => 1024f64.powi(5),
        "e" | "eb" => 1e18,
        "ei" | "eib" => 1024f64.powi(6),
        _ => return None,
    };
    let v = value * mult;
    (v < u64::MAX as f64).then_some(v as u64)
}

/// Reads a Go string literal starting at `i` (a `"` or a `` ` ``); gives its value and the
/// offset after its closing quote.
fn string(src: &str, i: usize) -> Result<(String, usize), ParseError> {
    let quote = src.as_bytes()[i];
    if quote == b'`' {
        return match src[i + 1..].find('`') {
            Some(n) => Ok((src[i + 1..i + 1 + n].to_owned(), i + n + 2)),
            None => Err(ParseError::new(
                src,
                i,
                "syntax error: literal not terminated",
            )),
        };
    }
    let mut out = String::new();
    let mut chars = src[i + 1..].char_indices();
    while let Some((k, c)) = chars.next() {
        let at = i + 1 + k;
        match c {
            '"' => return Ok((out, at + 1)),
            '\n' => break,
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                let bad = || ParseError::new(src, at, "syntax error: invalid char escape");
                match e {
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'v' => out.push('\x0b'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut v = 0u32;
                        for _ in 0..n {
                            let d = chars
                                .next()
                                .and_then(|(_, h)| h.to_digit(16))
                                .ok_or_else(bad)?;
                            v = v * 16 + d;
                        }
                        if e == 'x' {
                            // A byte; LogQL strings hold text, so bytes above 0x7f are kept
                            // as the character of that code point.
                            out.push(char::from_u32(v).ok_or_else(bad)?);
                        } else {
                            out.push(char::from_u32(v).ok_or_else(bad)?);
                        }
                    }
                    '0'..='7' => {
                        let mut v = e.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            let d = chars
                                .next()
                                .and_then(|(_, h)| h.to_digit(8))
                                .ok_or_else(bad)?;
                            v = v * 8 + d;
                        }
                        out.push(char::from_u32(v).ok_or_else(bad)?);
                    }
                    _ => return Err(bad()),
                }
            }
            c => out.push(c),
        }
    }
    Err(ParseError::new(
        src,
        i,
        "syntax error: literal not terminated",
    ))
}
