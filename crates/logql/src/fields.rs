//! Reading fields out of log lines: JSON objects and logfmt, as Loki's `json` and `logfmt`
//! parsers read them. The pipeline's parsers use these; so does the API's `/detected_fields`.
//!
//! JSON is scanned, not parsed into a tree: values keep their text (`1.50` stays `1.50`),
//! nested objects flatten into `parent_child` names, arrays are skipped, `null` is empty, and
//! of a key met twice the first value stays, as Loki's parser (over buger/jsonparser) does. Errors use
//! jsonparser's wording, which is what Loki puts in `__error_details__`.
//!
//! ```
//! let fields = logql::fields::json(r#"{"level":"info","req":{"path":"/a","ms":12.50},"tags":[1]}"#);
//! assert_eq!(fields, [("level".into(), "info".into()), ("req_path".into(), "/a".into()), ("req_ms".into(), "12.50".into())]);
//! let fields = logql::fields::logfmt(r#"level=warn msg="peer lost" empty="#);
//! assert_eq!(fields, [("level".into(), "warn".into()), ("msg".into(), "peer lost".into())]);
//! ```

/// The flattened fields of a JSON object line, names sanitised as Loki's labels, in the
/// order met (a repeated name once, with its first value, as Loki keeps it); empty when the line is no JSON
/// object.
pub fn json(line: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let _ = json_each(line, &mut |key, value| {
        if !out.iter().any(|(k, _)| *k == key) {
            out.push((key, value));
        }
    });
    out
}

/// The fields of a logfmt line, names sanitised as Loki's labels, without empty values (as
/// Loki's `logfmt` without `--keep-empty`); a repeated name once, with its first value.
pub fn logfmt(line: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let _ = logfmt_each(line, false, &mut |key, value| {
        let key = sanitize(key);
        if key.is_empty() || value.is_empty() {
            return;
        }
        if !out.iter().any(|(k, _)| *k == key) {
            out.push((key, value.to_owned()));
        }
    });
    out
}

/// Loki's `sanitizeLabelKey`: trims spaces, puts `_` before a leading digit and turns every
/// character that is not an ASCII letter, digit or `_` into `_`.
pub(crate) fn sanitize(key: &str) -> String {
    let key = key.trim();
    let mut out = String::with_capacity(key.len() + 1);
    if key.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        out.push('_');
    }
    for c in key.chars() {
        out.push(if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        });
    }
    out
}

/// jsonparser's error texts, as Loki reports them in `__error_details__`.
pub(crate) const MALFORMED_OBJECT: &str =
    "Value looks like object, but can't find closing '}' symbol";
const MALFORMED_STRING: &str = "Value is string, but can't find closing '\"' symbol";
const MALFORMED_ARRAY: &str = "Value is array, but can't find closing ']' symbol";
const MALFORMED_VALUE: &str =
    "Value looks like Number/Boolean/None, but can't find its end: ',' or '}' symbol";
const MALFORMED_JSON: &str = "Malformed JSON error";
const UNKNOWN_TYPE: &str = "Unknown value type";

/// The most levels of nested objects the scanner follows: deeper objects are skipped, not
/// flattened (no input overflows the stack).
const MAX_JSON_DEPTH: usize = 64;

/// Calls `visit(flattened sanitised name, value)` for every string, number and boolean (and
/// `null`, as empty) of the JSON object `line`, nested objects flattened with `_`. Stops at
/// the first malformed byte with jsonparser's message; what was visited before stays.
pub(crate) fn json_each(
    line: &str,
    visit: &mut dyn FnMut(String, String),
) -> Result<(), &'static str> {
    let b = line.as_bytes();
    let i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return Err(MALFORMED_OBJECT);
    }
    let mut prefix = String::new();
    object(line, i, &mut prefix, 0, visit).map(|_| ())
}

/// Reads the object at `b[i] == '{'`, visiting its fields under `prefix`; returns the offset
/// after its `}`.
fn object(
    line: &str,
    mut i: usize,
    prefix: &mut String,
    depth: usize,
    visit: &mut dyn FnMut(String, String),
) -> Result<usize, &'static str> {
    let b = line.as_bytes();
    i += 1;
    loop {
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b'}') => return Ok(i + 1),
            Some(b'"') => {}
            Some(b',') => {
                i += 1;
                continue;
            }
            _ => return Err(MALFORMED_OBJECT),
        }
        let (key_end, escaped) = string_end(b, i + 1).ok_or(MALFORMED_STRING)?;
        let raw_key = &line[i + 1..key_end];
        let key = if escaped {
            unescape(raw_key).ok_or(MALFORMED_STRING)?
        } else {
            raw_key.to_owned()
        };
        i = skip_ws(b, key_end + 1);
        if b.get(i) != Some(&b':') {
            return Err(MALFORMED_JSON);
        }
        i = skip_ws(b, i + 1);
        let name = |prefix: &str| {
            let part = sanitize(&key);
            match (prefix.is_empty(), part.is_empty()) {
                (true, _) => part,
                (false, true) => prefix.to_owned(),
                (false, false) => format!("{prefix}_{part}"),
            }
        };
        match b.get(i) {
            Some(b'"') => {
                let (end, escaped) = string_end(b, i + 1).ok_or(MALFORMED_STRING)?;
                let raw = &line[i + 1..end];
                let value = if escaped {
                    unescape(raw).unwrap_or_default()
                } else {
                    raw.to_owned()
                };
                let n = name(prefix);
                if !n.is_empty() {
                    visit(n, value);
                }
                i = end + 1;
            }
            Some(b'{') => {
                if depth + 1 >= MAX_JSON_DEPTH {
                    i = skip_value(b, i)?;
                } else {
                    let n = name(prefix);
                    let saved = std::mem::replace(prefix, n);
                    let r = object(line, i, prefix, depth + 1, visit);
                    *prefix = saved;
                    i = r?;
                }
            }
            Some(b'[') => i = skip_value(b, i)?,
            Some(_) => {
                let end = scalar_end(b, i);
                let text = &line[i..end];
                let value = match text {
                    "true" | "false" => text.to_owned(),
                    "null" => String::new(),
                    t if t.starts_with(|c: char| c == '-' || c.is_ascii_digit()) => t.to_owned(),
                    _ => return Err(UNKNOWN_TYPE),
                };
                if end >= b.len() {
                    return Err(MALFORMED_VALUE);
                }
                let n = name(prefix);
                if !n.is_empty() {
                    visit(n, value);
                }
                i = end;
            }
            None => return Err(MALFORMED_JSON),
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The offset of the closing quote of a string whose content starts at `i`, and whether
/// the string has escapes.
fn string_end(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    while i < b.len() {
        match b[i] {
            b'"' => return Some((i, escaped)),
            b'\\' => {
                escaped = true;
                i += 2;
            }
            _ => i += 1,
        }
    }
    None
}

/// The end of a number, boolean or null starting at `i`.
fn scalar_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && !matches!(b[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The offset after the value (any type) at `i`, without recursion.
pub(crate) fn skip_value(b: &[u8], i: usize) -> Result<usize, &'static str> {
    match b.get(i) {
        Some(b'"') => string_end(b, i + 1)
            .map(|(e, _)| e + 1)
            .ok_or(MALFORMED_STRING),
        Some(open @ (b'{' | b'[')) => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j + 1).ok_or(MALFORMED_STRING)?.0;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            Err(if *open == b'{' {
                MALFORMED_OBJECT
            } else {
                MALFORMED_ARRAY
            })
        }
        Some(_) => Ok(scalar_end(b, i)),
        None => Err(MALFORMED_JSON),
    }
}

/// The value of a JSON string's content with its escapes replaced; `None` when an escape
/// is invalid.
pub(crate) fn unescape(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            '/' => out.push('/'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'u' => {
                let hex = |chars: &mut std::str::Chars<'_>| -> Option<u32> {
                    let s: String = chars.by_ref().take(4).collect();
                    (s.len() == 4).then(|| u32::from_str_radix(&s, 16).ok())?
                };
                let hi = hex(&mut chars)?;
                if (0xD800..0xDC00).contains(&hi) {
                    let rest = chars.as_str();
                    if let Some(low) = rest.strip_prefix("\\u") {
                        let lo = u32::from_str_radix(low.get(..4)?, 16).ok()?;
                        if (0xDC00..0xE000).contains(&lo) {
                            chars = low[4..].chars();
                            let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                            out.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
                            continue;
                        }
                    }
                    out.push('\u{fffd}');
                } else {
                    out.push(char::from_u32(hi).unwrap_or('\u{fffd}'));
                }
            }
            _ => return None,
        }
    }
    Some(out)
}

/// One step of a JSON path: `.name`, `["name"]` or `[0]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// A field of an object.
    Key(String),
    /// An element of an array.
    Index(usize),
}

/// Reads a JSON expression path as Loki's `jsonexpr` does: `a.b`, `a[0]`, `a["b c"]`,
/// `["a"].b`.
pub(crate) fn parse_path(text: &str) -> Result<Vec<PathStep>, String> {
    let mut steps = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    let mut expect_name = true;
    while i < b.len() {
        match b[i] {
            b'.' if !expect_name => {
                i += 1;
                expect_name = true;
            }
            b'[' => {
                let close = text[i..]
                    .find(']')
                    .map(|n| i + n)
                    .ok_or_else(|| format!("unclosed '[' at {i}"))?;
                let inner = text[i + 1..close].trim();
                if let Some(q) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                    steps.push(PathStep::Key(q.to_owned()));
                } else {
                    let n = inner
                        .parse()
                        .map_err(|_| format!("invalid index {inner:?} at {i}"))?;
                    steps.push(PathStep::Index(n));
                }
                i = close + 1;
                expect_name = false;
            }
            _ if expect_name => {
                let end = text[i..].find(['.', '[']).map_or(text.len(), |n| i + n);
                let name = &text[i..end];
                if name.is_empty() {
                    return Err(format!("syntax error: unexpected character at {i}"));
                }
                steps.push(PathStep::Key(name.to_owned()));
                i = end;
                expect_name = false;
            }
            _ => return Err(format!("syntax error: unexpected character at {i}")),
        }
    }
    if steps.is_empty() || expect_name {
        return Err("empty path".into());
    }
    Ok(steps)
}

/// The value at `path` in the JSON `line`: `Ok(None)` when absent, the raw text for objects
/// and arrays, unescaped text for strings, `""` for `null`.
pub(crate) fn json_path(line: &str, path: &[PathStep]) -> Result<Option<String>, &'static str> {
    let b = line.as_bytes();
    let mut i = skip_ws(b, 0);
    for step in path {
        match (step, b.get(i)) {
            (PathStep::Key(want), Some(b'{')) => {
                i += 1;
                let mut found = None;
                loop {
                    i = skip_ws(b, i);
                    match b.get(i) {
                        Some(b'}') => break,
                        Some(b',') => {
                            i += 1;
                            continue;
                        }
                        Some(b'"') => {}
                        _ => return Err(MALFORMED_OBJECT),
                    }
                    let (end, escaped) = string_end(b, i + 1).ok_or(MALFORMED_STRING)?;
                    let raw = &line[i + 1..end];
                    let key_matches = if escaped {
                        unescape(raw).as_deref() == Some(want.as_str())
                    } else {
                        raw == want
                    };
                    i = skip_ws(b, end + 1);
                    if b.get(i) != Some(&b':') {
                        return Err(MALFORMED_JSON);
                    }
                    i = skip_ws(b, i + 1);
                    if key_matches {
                        found = Some(i);
                        break;
                    }
                    i = skip_value(b, i)?;
                }
                match found {
                    Some(at) => i = at,
                    None => return Ok(None),
                }
            }
            (PathStep::Index(n), Some(b'[')) => {
                i = skip_ws(b, i + 1);
                for _ in 0..*n {
                    if b.get(i) == Some(&b']') {
                        return Ok(None);
                    }
                    i = skip_ws(b, skip_value(b, i)?);
                    if b.get(i) == Some(&b',') {
                        i = skip_ws(b, i + 1);
                    }
                }
                if b.get(i) == Some(&b']') {
                    return Ok(None);
                }
            }
            _ => return Ok(None),
        }
    }
    let end = skip_value(b, i)?;
    let raw = &line[i..end];
    Ok(Some(if let Some(s) = raw.strip_prefix('"') {
        let s = s.strip_suffix('"').unwrap_or(s);
        unescape(s).unwrap_or_default()
    } else if raw == "null" {
        String::new()
    } else {
        raw.to_owned()
    }))
}

/// Walks a logfmt line as Loki's logfmt decoder (a fork of go-logfmt's) does, calling
/// `visit(key, value)` for each pair (a bare key has an empty value). A malformed pair is
/// skipped; with `strict`, it stops the walk and its error is returned, in the decoder's
/// words (`logfmt syntax error at pos 2 : unexpected '"'`).
pub(crate) fn logfmt_each(
    line: &str,
    strict: bool,
    visit: &mut dyn FnMut(&str, &str),
) -> Result<(), String> {
    let b = line.as_bytes();
    let mut i = 0;
    let mut err: Option<String> = None;
    let syntax =
        |pos: usize, msg: String| format!("logfmt syntax error at pos {} : {msg}", pos + 1);
    let unexpected = |pos: usize, c: u8| syntax(pos, format!("unexpected '{}'", c as char));
    while i < b.len() {
        // Garbage: anything up to a byte above the space.
        while i < b.len() && b[i] <= b' ' {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && b[i] > b' ' && b[i] != b'=' && b[i] != b'"' {
            i += 1;
        }
        if i < b.len() && b[i] == b'"' {
            err = Some(unexpected(i, b'"'));
            i = next_space(b, i);
            if strict {
                break;
            }
            continue;
        }
        if i < b.len() && b[i] == b'=' && i == start {
            err = Some(unexpected(i, b'='));
            i = next_space(b, i);
            if strict {
                break;
            }
            continue;
        }
        let key = &line[start..i];
        if i >= b.len() || b[i] <= b' ' {
            visit(key, "");
            continue;
        }
        // b[i] == '='
        i += 1;
        if i >= b.len() || b[i] <= b' ' {
            visit(key, "");
            continue;
        }
        if b[i] == b'"' {
            let quote = i;
            let mut j = i + 1;
            let mut escaped = false;
            let mut closed = false;
            while j < b.len() {
                match b[j] {
                    b'\\' => {
                        escaped = true;
                        j += 2;
                    }
                    b'"' => {
                        closed = true;
                        break;
                    }
                    _ => j += 1,
                }
            }
            if !closed {
                err = Some(syntax(b.len(), "unterminated quoted value".into()));
                break;
            }
            let raw = &line[quote + 1..j];
            i = j + 1;
            if escaped {
                match unescape(raw) {
                    Some(v) => visit(key, &v),
                    None => {
                        err = Some(syntax(i, "invalid quoted value".into()));
                        if strict {
                            break;
                        }
                    }
                }
            } else {
                visit(key, raw);
            }
            continue;
        }
        let vstart = i;
        while i < b.len() && b[i] > b' ' && b[i] != b'"' && b[i] != b'=' {
            i += 1;
        }
        if i < b.len() && (b[i] == b'"' || b[i] == b'=') {
            err = Some(unexpected(i, b[i]));
            i = next_space(b, i);
            if strict {
                break;
            }
            continue;
        }
        visit(key, &line[vstart..i]);
    }
    match err {
        Some(e) if strict => Err(e),
        _ => Ok(()),
    }
}

fn next_space(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i] > b' ' {
        i += 1;
    }
    i
}
