//! Which variables an alert template uses without defining them, found as Go's
//! `text/template` parser finds them: Prometheus parses every alert label and annotation
//! with `$labels`, `$externalLabels`, `$externalURL` and `$value` defined in front, so
//! `{{ $label.foo }}` is refused when the rule file is read, not when the alert fires.
//!
//! Go declares a variable at its `$x :=` (visible in the rest of that action and after),
//! scopes the ones declared inside `if`, `range` and `with` to their `{{ end }}` (an
//! `{{ else }}` keeps them), and counts `$` as always defined. This walks the actions with
//! only that much lexing (strings, raw strings, characters and comments are skipped); a
//! template that does not parse at all is left to [`crate::template::Template::parse`] to
//! report. It is separate from the template module while that module is being rewritten;
//! the check belongs in its parser, where Go has it.

/// The variables Prometheus defines in front of every alert template.
pub(crate) const ALERT_VARIABLES: [&str; 4] =
    ["$labels", "$externalLabels", "$externalURL", "$value"];

/// A variable used where none of its name is defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Undefined {
    /// The variable, with its `$`.
    pub(crate) name: String,
    /// The template's line its action starts on, from 1.
    pub(crate) line: usize,
}

/// The first variable `text` uses without defining it, with `defined` defined in front.
pub(crate) fn first_undefined(text: &str, defined: &[&str]) -> Option<Undefined> {
    let mut vars: Vec<String> = defined.iter().map(|v| (*v).to_owned()).collect();
    // How many variables were visible where each open `if`, `range` or `with` began.
    let mut scopes: Vec<usize> = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(open) = rest.find("{{") {
        let start = open + 2;
        let end = action_end(&rest[start..])?;
        let action = rest[start..start + end].trim_start_matches('-');
        let action = action.strip_suffix('-').unwrap_or(action).trim();
        let line = 1 + text[..offset + start].matches('\n').count();
        let keyword = action.split(|c: char| !c.is_ascii_alphabetic()).next();
        // A comment uses nothing.
        let mut pipeline = if action.starts_with("/*") { "" } else { action };
        match keyword {
            Some("if" | "range" | "with" | "define" | "block") => {
                scopes.push(vars.len());
                pipeline = &action[keyword.map_or(0, str::len)..];
            }
            Some("else") => {
                pipeline = action["else".len()..].trim_start();
                for k in ["if", "with"] {
                    if let Some(p) = pipeline.strip_prefix(k) {
                        pipeline = p;
                    }
                }
            }
            Some("end") => {
                if let Some(len) = scopes.pop() {
                    vars.truncate(len);
                }
                pipeline = "";
            }
            _ => {}
        }
        if let Some(u) = check_pipeline(pipeline, &mut vars, line) {
            return Some(u);
        }
        offset += start + end + 2;
        rest = &text[offset..];
    }
    None
}

/// Where the action starting at `s` (after its `{{`) ends, at its `}}`, skipping quoted
/// text and comments; `None` if it does not end.
fn action_end(s: &str) -> Option<usize> {
    let body = s.trim_start_matches('-').trim_start();
    if body.starts_with("/*") {
        let close = s.find("*/")?;
        return s[close..].find("}}").map(|e| close + e);
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'}' if bytes.get(i + 1) == Some(&b'}') => return Some(i),
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < bytes.len() && bytes[i] != q {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => i += s[i + 1..].find('`')? + 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Checks the variables of one action's pipeline, declaring those it declares.
fn check_pipeline(pipeline: &str, vars: &mut Vec<String>, line: usize) -> Option<Undefined> {
    let words = variables(pipeline);
    // `$x :=` or `$i, $x :=` at the start declares; Go declares before reading the rest.
    let declared = declarations(pipeline);
    for (i, name) in words.iter().enumerate() {
        if i < declared {
            vars.push(name.clone());
        } else if name != "$" && !vars.contains(name) {
            return Some(Undefined {
                name: name.clone(),
                line,
            });
        }
    }
    None
}

/// The variables in `pipeline`, in order, outside quoted text.
fn variables(pipeline: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = pipeline.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' | '\'' => {
                while let Some((_, d)) = chars.next() {
                    if d == '\\' {
                        chars.next();
                    } else if d == c {
                        break;
                    }
                }
            }
            '`' => {
                for (_, d) in chars.by_ref() {
                    if d == '`' {
                        break;
                    }
                }
            }
            '$' => {
                let mut end = i + 1;
                while let Some((j, d)) = chars.next_if(|(_, d)| d.is_alphanumeric() || *d == '_') {
                    end = j + d.len_utf8();
                }
                out.push(pipeline[i..end].to_owned());
            }
            _ => {}
        }
    }
    out
}

/// How many variables `pipeline` declares at its start: `$x :=` one, `$i, $x :=` two.
fn declarations(pipeline: &str) -> usize {
    let mut rest = pipeline.trim_start();
    let mut count = 0;
    loop {
        let Some(after) = rest.strip_prefix('$') else {
            return 0;
        };
        let name_len = after
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        rest = after[name_len..].trim_start();
        count += 1;
        if rest.starts_with(":=") {
            return count;
        }
        match rest.strip_prefix(',') {
            Some(r) if count == 1 => rest = r.trim_start(),
            _ => return 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Option<(String, usize)> {
        first_undefined(text, &ALERT_VARIABLES).map(|u| (u.name, u.line))
    }

    #[test]
    fn the_alert_variables_and_declared_ones_are_defined() {
        for ok in [
            "{{ $labels.instance }} is {{ $value | humanize }}",
            "{{ $externalLabels.site }} {{ $externalURL }} {{ $ }}",
            "{{ $x := 5 }}{{ $x }}",
            "{{ $x := $x }}",
            "{{ range $k, $v := $labels }}{{ $k }}={{ $v }}{{ end }}",
            "{{ if $y := $value }}{{ $y }}{{ else }}{{ $y }}{{ end }}",
            "{{ with $v := $value }}{{ $v }}{{ end }}",
            r#"{{ "$nothing" }} {{ `$raw` }} {{/* $comment */}}"#,
            r#"{{- printf "%s }}" $labels.x -}}"#,
            "{{ $x := 1 }}{{ $x = 2 }}",
        ] {
            assert_eq!(check(ok), None, "{ok}");
        }
    }

    #[test]
    fn an_undefined_variable_is_found_with_its_line() {
        for (bad, name, line) in [
            ("{{ $label.foo }}", "$label", 1),
            ("ok\n{{ $labels.a }}\n{{ $Value }}", "$Value", 3),
            ("{{ range $v := $labels }}{{ end }}{{ $v }}", "$v", 1),
            ("{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}", "$x", 1),
            ("{{ $y = 1 }}", "$y", 1),
        ] {
            assert_eq!(check(bad), Some((name.to_owned(), line)), "{bad}");
        }
    }
}
