//! An approximation of Go's `html/template`: each action's output is escaped for the
//! place in the HTML where it lands, and HTML comments in the template text are dropped.
//!
//! Go's `html/template` works out each action's context once, from the template text
//! alone, and adds escaping functions to its pipeline. This follows the output as it is
//! written instead, through the template text only (so values never change the
//! context), which gives the same result for markup whose structure is in the template
//! text, as in Alertmanager's email templates. It matches Go:
//!
//! - in text and in quoted attribute values: `html/template`'s HTML escaping (`&amp;`,
//!   `&lt;`, `&gt;`, `&#34;`, `&#39;`, `&#43;`), left out for `template.HTML` values
//!   (`safeHtml`) in text, and for a pipeline that ends in `html`;
//! - in URL attributes (`href`, `src`, `action`...; names containing `url`, `uri` or
//!   `src`): at the start, a URL whose scheme is not `http`, `https` or `mailto` becomes
//!   `#ZgotmplZ`, and characters that do not belong in a URL are percent-encoded; after
//!   `?` or `#` in the attribute, everything but unreserved characters is
//!   percent-encoded; a pipeline ending in `urlquery` is not escaped again;
//! - in `<title>` and `<textarea>`: HTML escaping;
//! - HTML comments in template text are removed, and actions inside them print nothing.
//!
//! It differs from Go in: `<script>`, `<style>`, `on*` and `style` attributes, where Go
//! escapes for JavaScript and CSS and this escapes as HTML text; unquoted attribute
//! values, where Go escapes spaces and more; structure made by values (a value that
//! writes `<a href=`), which Go does not follow either but judges differently; and Go's
//! errors for ambiguous contexts, which are not raised.

use crate::Value;

/// Where the output stands.
#[derive(Debug, Clone, Default)]
pub struct HtmlContext {
    state: State,
}

#[derive(Debug, Clone, Default, PartialEq)]
enum State {
    #[default]
    Text,
    /// Inside `<!-- ... -->`: nothing is written.
    Comment,
    /// Inside a tag, after its name or an attribute.
    Tag { name: String },
    /// Reading an attribute's name.
    AttrName { tag: String, attr: String },
    /// After `name=`, before the value.
    BeforeValue { tag: String, attr: String },
    /// Inside an attribute's value.
    AttrValue {
        tag: String,
        quote: Option<char>,
        url: Option<UrlPart>,
    },
    /// The content of `<title>`, `<textarea>`, `<script>` or `<style>`, up to `</name`.
    Raw { tag: String },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum UrlPart {
    /// Nothing of the URL written yet.
    Start,
    /// Before `?` or `#`.
    Path,
    /// After `?` or `#`.
    Query,
}

/// Whether the attribute holds a URL, as `html/template`'s `attrType` decides.
fn is_url_attr(attr: &str) -> bool {
    let a = attr.to_ascii_lowercase();
    let a = a.strip_prefix("data-").unwrap_or(&a);
    let a = a.split_once(':').map_or(a, |(_, local)| local);
    matches!(
        a,
        "action"
            | "archive"
            | "background"
            | "cite"
            | "classid"
            | "codebase"
            | "data"
            | "formaction"
            | "href"
            | "icon"
            | "longdesc"
            | "manifest"
            | "poster"
            | "profile"
            | "src"
            | "usemap"
            | "xmlns"
    ) || a.contains("src")
        || a.contains("uri")
        || a.contains("url")
}

/// `html/template`'s HTML escaping: as `text/template`'s, and `+` too.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '+' => out.push_str("&#43;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `html/template`'s URL processing: `normalize` keeps the characters a URL may hold
/// (reserved ones and `%`), otherwise only unreserved characters stay.
fn escape_url(s: &str, normalize: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (normalize
                && matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'&'
                        | b'*'
                        | b'+'
                        | b','
                        | b'/'
                        | b':'
                        | b';'
                        | b'='
                        | b'?'
                        | b'@'
                        | b'['
                        | b']'
                        | b'%'
                ));
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

/// `html/template`'s `urlFilter`: a URL with a scheme other than `http`, `https` or
/// `mailto` is replaced.
fn url_filter(s: &str) -> String {
    if let Some(colon) = s.find(':')
        && !s[..colon].contains('/')
    {
        let scheme = s[..colon].to_ascii_lowercase();
        if !matches!(scheme.as_str(), "http" | "https" | "mailto") {
            return "#ZgotmplZ".to_owned();
        }
    }
    s.to_owned()
}

/// Removes tags from HTML, as `html/template` does before putting `template.HTML` in an
/// attribute.
fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

impl HtmlContext {
    /// Writes template text, dropping comments and following the markup.
    pub fn text(&mut self, t: &str, out: &mut String) {
        let mut i = 0;
        let b = t.as_bytes();
        while i < t.len() {
            let rest = &t[i..];
            let c = rest.chars().next().unwrap_or(' ');
            let len = c.len_utf8();
            match &mut self.state {
                State::Text => {
                    if rest.starts_with("<!--") {
                        self.state = State::Comment;
                        i += 4;
                        continue;
                    }
                    if c == '<'
                        && b.get(i + 1)
                            .is_some_and(|n| n.is_ascii_alphabetic() || *n == b'/')
                    {
                        let name: String = rest[1..]
                            .trim_start_matches('/')
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                            .collect();
                        let skip = 1 + usize::from(b[i + 1] == b'/') + name.len();
                        out.push_str(&rest[..skip]);
                        let closing = b[i + 1] == b'/';
                        self.state = State::Tag {
                            name: if closing {
                                String::new()
                            } else {
                                name.to_ascii_lowercase()
                            },
                        };
                        i += skip;
                        continue;
                    }
                    out.push(c);
                }
                State::Comment => {
                    if rest.starts_with("-->") {
                        self.state = State::Text;
                        i += 3;
                        continue;
                    }
                }
                State::Tag { name } => {
                    out.push(c);
                    if c == '>' {
                        let name = std::mem::take(name);
                        self.state =
                            if matches!(name.as_str(), "title" | "textarea" | "script" | "style") {
                                State::Raw { tag: name }
                            } else {
                                State::Text
                            };
                    } else if !c.is_whitespace() && c != '/' {
                        let tag = std::mem::take(name);
                        self.state = if c == '=' {
                            State::BeforeValue {
                                tag,
                                attr: String::new(),
                            }
                        } else {
                            State::AttrName {
                                tag,
                                attr: c.to_string(),
                            }
                        };
                    }
                }
                State::AttrName { tag, attr } => {
                    out.push(c);
                    if c == '=' {
                        self.state = State::BeforeValue {
                            tag: std::mem::take(tag),
                            attr: std::mem::take(attr),
                        };
                    } else if c == '>' || c.is_whitespace() {
                        let name = std::mem::take(tag);
                        self.state = State::Tag { name };
                        if c == '>' {
                            // Re-read the `>` as the tag's end.
                            out.pop();
                            continue;
                        }
                    } else {
                        attr.push(c);
                    }
                }
                State::BeforeValue { tag, attr } => {
                    if c.is_whitespace() {
                        out.push(c);
                    } else {
                        let url = is_url_attr(attr).then_some(UrlPart::Start);
                        let tag = std::mem::take(tag);
                        if c == '"' || c == '\'' {
                            out.push(c);
                            self.state = State::AttrValue {
                                tag,
                                quote: Some(c),
                                url,
                            };
                        } else {
                            self.state = State::AttrValue {
                                tag,
                                quote: None,
                                url,
                            };
                            continue;
                        }
                    }
                }
                State::AttrValue { tag, quote, url } => {
                    let ends = match quote {
                        Some(q) => c == *q,
                        None => c.is_whitespace() || c == '>',
                    };
                    if ends {
                        let name = std::mem::take(tag);
                        let unquoted = quote.is_none();
                        self.state = State::Tag { name };
                        if unquoted {
                            continue;
                        }
                    } else if let Some(part) = url {
                        if c == '?' || c == '#' {
                            *part = UrlPart::Query;
                        } else if *part == UrlPart::Start {
                            *part = UrlPart::Path;
                        }
                    }
                    out.push(c);
                }
                State::Raw { tag } => {
                    let close = format!("</{tag}");
                    if rest.len() >= close.len()
                        && rest.is_char_boundary(close.len())
                        && rest[..close.len()].eq_ignore_ascii_case(&close)
                    {
                        out.push_str(&rest[..close.len()]);
                        i += close.len();
                        self.state = State::Tag {
                            name: String::new(),
                        };
                        continue;
                    }
                    out.push(c);
                }
            }
            i += len;
        }
    }

    /// Writes an action's value, escaped for where the output stands. `last` is the
    /// pipeline's last function, whose own escaping (`html`, `urlquery`) counts.
    pub fn value(&mut self, v: &Value, last: Option<&str>, out: &mut String) {
        let text = v.to_string();
        let safe_html = matches!(v, Value::Named("template.HTML", _));
        let by_html = last == Some("html");
        match &mut self.state {
            State::Comment => {}
            State::Text | State::Raw { .. } => {
                if safe_html || by_html {
                    out.push_str(&text);
                } else {
                    out.push_str(&escape_html(&text));
                }
            }
            State::AttrValue { url, .. } => {
                let text = if safe_html { strip_tags(&text) } else { text };
                let text = match url {
                    Some(_) if last == Some("urlquery") => text,
                    Some(UrlPart::Start) => escape_url(&url_filter(&text), true),
                    Some(UrlPart::Path) => escape_url(&text, true),
                    Some(UrlPart::Query) => escape_url(&text, false),
                    None => text,
                };
                if by_html {
                    out.push_str(&text);
                } else {
                    out.push_str(&escape_html(&text));
                }
            }
            // A value in a tag's attribute list: Go writes it only where it is a whole
            // attribute name; escaping keeps it inert.
            State::Tag { .. } | State::AttrName { .. } | State::BeforeValue { .. } => {
                out.push_str(&escape_html(&text));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(parts: &[Result<&str, &str>]) -> String {
        let mut h = HtmlContext::default();
        let mut out = String::new();
        for p in parts {
            match p {
                Ok(t) => h.text(t, &mut out),
                Err(v) => h.value(&Value::Str((*v).to_owned()), None, &mut out),
            }
        }
        out
    }

    #[test]
    fn values_are_escaped_for_their_context() {
        assert_eq!(
            run(&[
                Ok("<!-- a comment -->\n<p title=\""),
                Err("a\"b"),
                Ok("\">"),
                Err("<b>1+1</b>"),
                Ok("</p><a href=\""),
                Err("javascript:alert(1)"),
                Ok("\">x</a><a href=\""),
                Err("http://h/a b?c=d"),
                Ok("/#/alerts?receiver="),
                Err("a b&c"),
                Ok("\">y</a><title>"),
                Err("<t>"),
                Ok("</title>"),
            ]),
            "\n<p title=\"a&#34;b\">&lt;b&gt;1&#43;1&lt;/b&gt;</p><a href=\"#ZgotmplZ\">x</a>\
             <a href=\"http://h/a%20b?c=d/#/alerts?receiver=a%20b%26c\">y</a><title>&lt;t&gt;</title>"
        );
    }
}
