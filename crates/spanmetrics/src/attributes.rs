//! Reading span attributes into label values and label names, as Tempo's
//! metrics-generator reads them: attribute values as text the way Tempo writes them
//! (which is not quite how its query APIs show them), lookups across the resource and the
//! span, and label names sanitised as Prometheus's `strutil.SanitizeLabelName` does.

use spans::{KeyValue, Value};

/// A value as Tempo's generator writes it into a label (`util.StringifyAnyValue`):
/// strings as they are, integers in decimal, floats in decimal without an exponent,
/// arrays and maps with their items run together (`[ab]`, `{k:v}`), bytes and empty
/// values as nothing (so the label is left out).
pub(crate) fn stringify(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::String(s) => out.push_str(s),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Double(d) => out.push_str(&format_float(*d)),
        Value::Array(items) => {
            out.push('[');
            items.iter().for_each(|v| write_value(out, v));
            out.push(']');
        }
        Value::Map(pairs) => {
            out.push('{');
            for kv in pairs {
                out.push_str(&kv.key);
                out.push(':');
                write_value(out, &kv.value);
            }
            out.push('}');
        }
        // Tempo's switch has no case for bytes: they become the empty string.
        Value::Bytes(_) | Value::Empty => {}
    }
}

/// A float as Go's `strconv.FormatFloat(v, 'f', -1, 64)` writes it: the shortest digits
/// that read back the same, never with an exponent; `+Inf`, `-Inf` and `NaN`. Bucket
/// bounds (`le`) are written this way too.
pub(crate) fn format_float(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    // Rust's `Display` for floats is also shortest round-trip without an exponent.
    v.to_string()
}

/// The first value of attribute `key` in the lists, searched in order (Tempo's
/// `FindAttributeValue`: the resource's attributes first, then the span's).
pub(crate) fn find<'a>(key: &str, lists: &[&'a [KeyValue]]) -> Option<&'a Value> {
    lists
        .iter()
        .find_map(|attrs| attrs.iter().find(|kv| kv.key == key))
        .map(|kv| &kv.value)
}

/// [`find`] written as text with [`stringify`].
pub(crate) fn find_text(key: &str, lists: &[&[KeyValue]]) -> Option<String> {
    find(key, lists).map(stringify)
}

/// A label name made of an attribute key: every character that is not an ASCII letter,
/// digit or underscore becomes `_` (`deployment.environment` -> `deployment_environment`),
/// one per character, as Prometheus's `strutil.SanitizeLabelName`, which Tempo uses, does.
/// (Scrape's discoveries keep copies of their own; see `scrape::discovery`.)
pub(crate) fn sanitize_label_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' => c,
            _ => '_',
        })
        .collect()
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary;
/// `max == 0` means no limit. (Tempo cuts at the byte and then drops a label set that is
/// no longer UTF-8; cutting at the boundary keeps the series.)
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if max == 0 || s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_as_tempo_writes_them() {
        let cases: [(Value, &str); 10] = [
            ("GET".into(), "GET"),
            (true.into(), "true"),
            ((-42_i64).into(), "-42"),
            (0.25.into(), "0.25"),
            (1e21.into(), "1000000000000000000000"),
            (f64::INFINITY.into(), "+Inf"),
            (
                Value::Array(vec!["a".into(), Value::Int(1), Value::Bool(false)]),
                "[a1false]",
            ),
            (
                Value::Map(vec![KeyValue::new("k", "v"), KeyValue::new("n", 2_i64)]),
                "{k:vn:2}",
            ),
            (Value::Bytes(vec![1, 2]), ""),
            (Value::Empty, ""),
        ];
        for (value, want) in cases {
            assert_eq!(stringify(&value), want, "{value:?}");
        }
        assert_eq!(format_float(0.002), "0.002");
        assert_eq!(format_float(16.384), "16.384");
    }

    #[test]
    fn the_resource_is_searched_before_the_span() {
        let resource = [KeyValue::new("env", "prod")];
        let span = [KeyValue::new("env", "dev"), KeyValue::new("route", "/a")];
        assert_eq!(
            find_text("env", &[&resource, &span]).as_deref(),
            Some("prod")
        );
        assert_eq!(
            find_text("route", &[&resource, &span]).as_deref(),
            Some("/a")
        );
        assert_eq!(find_text("none", &[&resource, &span]), None);
    }

    #[test]
    fn label_names_are_sanitised_character_by_character() {
        assert_eq!(
            sanitize_label_name("deployment.environment"),
            "deployment_environment"
        );
        assert_eq!(sanitize_label_name("http-status code"), "http_status_code");
        assert_eq!(sanitize_label_name("zoné"), "zon_");
        assert_eq!(sanitize_label_name("ok_1"), "ok_1");
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("abcdef", 3), "abc");
        assert_eq!(truncate("abc", 0), "abc");
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("aé", 3), "aé");
    }
}
