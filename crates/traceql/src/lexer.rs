//! The TraceQL lexer: text to tokens with byte offsets, as Tempo's lexer (Go's `text/scanner`
//! plus TraceQL's attribute rules) splits them.
//!
//! Attribute names follow their scope (`.`, `span.`, `resource.`, ...) and run to the first
//! space or one of `{}()=~!<>&|^,`, so `.http.status_code` and `span.foo-bar` are single
//! names; double quotes take anything (`span."a b"`). A number followed at once by duration
//! units is a duration (`100ms`, `1h30m`). Strings are Go's: `"..."` with Go's escapes, or
//! `` `raw` ``. `//` and `/* */` are comments. Every failure is an [`Error`] at the offset
//! of the character that does not fit.

use crate::Error;
use crate::duration;

/// An operator or punctuation symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sym {
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    Eq,
    Neq,
    Re,
    Nre,
    Gt,
    Gte,
    Lt,
    Lte,
    And,
    Or,
    Not,
    Pipe,
    Desc,
    Ance,
    Tilde,
    NotChild,
    NotParent,
    NotDesc,
    NotAnce,
    UnionSibl,
    UnionChild,
    UnionParent,
    UnionDesc,
    UnionAnce,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Caret,
}

/// Every symbol with its text; the lexer takes the longest that matches.
const SYMBOLS: &[(&str, Sym)] = &[
    ("{", Sym::LBrace),
    ("}", Sym::RBrace),
    ("(", Sym::LParen),
    (")", Sym::RParen),
    (",", Sym::Comma),
    ("=", Sym::Eq),
    ("!=", Sym::Neq),
    ("=~", Sym::Re),
    ("!~", Sym::Nre),
    (">", Sym::Gt),
    (">=", Sym::Gte),
    ("<", Sym::Lt),
    ("<=", Sym::Lte),
    ("&&", Sym::And),
    ("||", Sym::Or),
    ("!", Sym::Not),
    ("|", Sym::Pipe),
    (">>", Sym::Desc),
    ("<<", Sym::Ance),
    ("~", Sym::Tilde),
    ("!>", Sym::NotChild),
    ("!<", Sym::NotParent),
    ("!>>", Sym::NotDesc),
    ("!<<", Sym::NotAnce),
    ("&~", Sym::UnionSibl),
    ("&>", Sym::UnionChild),
    ("&<", Sym::UnionParent),
    ("&>>", Sym::UnionDesc),
    ("&<<", Sym::UnionAnce),
    ("+", Sym::Plus),
    ("-", Sym::Minus),
    ("*", Sym::Star),
    ("/", Sym::Slash),
    ("%", Sym::Percent),
    ("^", Sym::Caret),
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

/// Where an attribute is looked up, as its prefix says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum AttrPrefix {
    /// `.name`: the span's, else the resource's.
    Unscoped,
    /// `span.name`.
    Span,
    /// `resource.name`.
    Resource,
    /// `instrumentation.name`.
    Instrumentation,
    /// `event.`, `link.` or `parent.`: not supported.
    Other(&'static str),
}

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Sym(Sym),
    Str(String),
    Int(i64),
    Float(f64),
    /// Nanoseconds.
    Duration(i64),
    Ident(String),
    Attr(AttrPrefix, String),
    /// `span:`, `trace:`, `event:`, `link:` or `instrumentation:`, before an intrinsic's name.
    Scope(&'static str),
    Eof,
}

/// A token and where it is: `start..end` in bytes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Splits `src` into tokens, ending with [`Tok::Eof`].
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, Error> {
    let mut lexer = Lexer { src, pos: 0 };
    let mut out = Vec::new();
    loop {
        let token = lexer.next()?;
        let done = token.tok == Tok::Eof;
        out.push(token);
        if done {
            return Ok(out);
        }
    }
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

/// Whether `c` may be part of an unquoted attribute name.
fn is_attribute_char(c: char) -> bool {
    !c.is_whitespace() && !"{}()=~!<>&|^,".contains(c)
}

/// Characters that may follow a number and make it a duration (Tempo's `isDurationRune`,
/// plus digits and the point).
fn is_duration_char(c: char) -> bool {
    c.is_ascii_digit() || "nsumhµdwy.".contains(c)
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek2(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn token(&self, tok: Tok, start: usize) -> Token {
        Token {
            tok,
            start,
            end: self.pos,
        }
    }

    /// Skips spaces and comments.
    fn skip_blank(&mut self) -> Result<(), Error> {
        loop {
            let rest = self.rest();
            if let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
                self.pos += c.len_utf8();
            } else if rest.starts_with("//") {
                self.pos += rest.find('\n').unwrap_or(rest.len());
            } else if let Some(body) = rest.strip_prefix("/*") {
                let Some(close) = body.find("*/") else {
                    return Err(Error::syntax(
                        self.pos,
                        "the comment is not closed: end it with */",
                    ));
                };
                self.pos += close + 4;
            } else {
                return Ok(());
            }
        }
    }

    fn next(&mut self) -> Result<Token, Error> {
        self.skip_blank()?;
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Ok(self.token(Tok::Eof, start));
        };
        if c.is_ascii_digit() || (c == '.' && self.peek2().is_some_and(|d| d.is_ascii_digit())) {
            return self.number(start);
        }
        if c == '.' {
            self.bump();
            let name = self.attribute_name(start, ".")?;
            return Ok(self.token(Tok::Attr(AttrPrefix::Unscoped, name), start));
        }
        if c == '"' {
            let s = self.interpreted_string(start)?;
            return Ok(self.token(Tok::Str(s), start));
        }
        if c == '`' {
            self.bump();
            let Some(len) = self.rest().find('`') else {
                return Err(Error::syntax(
                    start,
                    "the string is not closed: end it with `",
                ));
            };
            let s = self.rest()[..len].to_owned();
            self.pos += len + 1;
            return Ok(self.token(Tok::Str(s), start));
        }
        if c.is_alphabetic() || c == '_' {
            return self.word(start);
        }
        self.symbol(start)
    }

    fn symbol(&mut self, start: usize) -> Result<Token, Error> {
        let rest = self.rest();
        let best = SYMBOLS
            .iter()
            .filter(|(text, _)| rest.starts_with(text))
            .max_by_key(|(text, _)| text.len());
        match best {
            Some((text, sym)) => {
                self.pos += text.len();
                Ok(self.token(Tok::Sym(*sym), start))
            }
            None => {
                let c = self.peek().unwrap_or(' ');
                Err(Error::syntax(start, format!("unexpected character {c:?}")))
            }
        }
    }

    /// An identifier, keyword, or the scope that starts an attribute (`span.`) or a scoped
    /// intrinsic (`span:`).
    fn word(&mut self, start: usize) -> Result<Token, Error> {
        let len = self
            .rest()
            .char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
            .map_or(self.rest().len(), |(i, _)| i);
        let word = &self.rest()[..len];
        self.pos += len;
        match self.peek() {
            Some('.') => {
                let prefix = match word {
                    "span" => Some(AttrPrefix::Span),
                    "resource" => Some(AttrPrefix::Resource),
                    "instrumentation" => Some(AttrPrefix::Instrumentation),
                    "event" => Some(AttrPrefix::Other("event.")),
                    "link" => Some(AttrPrefix::Other("link.")),
                    "parent" => Some(AttrPrefix::Other("parent.")),
                    _ => None,
                };
                if let Some(prefix) = prefix {
                    self.bump();
                    let scope = &self.src[start..self.pos];
                    let name = self.attribute_name(start, scope)?;
                    return Ok(self.token(Tok::Attr(prefix, name), start));
                }
            }
            Some(':') => {
                let scope = match word {
                    "span" => Some("span:"),
                    "trace" => Some("trace:"),
                    "event" => Some("event:"),
                    "link" => Some("link:"),
                    "instrumentation" => Some("instrumentation:"),
                    _ => None,
                };
                if let Some(scope) = scope {
                    self.bump();
                    return Ok(self.token(Tok::Scope(scope), start));
                }
            }
            _ => {}
        }
        Ok(self.token(Tok::Ident(word.to_owned()), start))
    }

    /// An attribute's name after its scope: unquoted characters and `"quoted"` parts.
    fn attribute_name(&mut self, start: usize, scope: &str) -> Result<String, Error> {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c == '"' {
                let quote = self.pos;
                self.bump();
                loop {
                    match self.bump() {
                        None => {
                            return Err(Error::syntax(
                                quote,
                                "the quoted attribute name is not closed: end it with \"",
                            ));
                        }
                        Some('"') => break,
                        Some('\\') => match self.bump() {
                            Some(e @ ('"' | '\\')) => name.push(e),
                            _ => {
                                return Err(Error::syntax(
                                    self.pos.saturating_sub(1),
                                    "only \\\" and \\\\ may be escaped in an attribute name",
                                ));
                            }
                        },
                        Some(other) => name.push(other),
                    }
                }
            } else if is_attribute_char(c) {
                name.push(c);
                self.bump();
            } else {
                break;
            }
        }
        if name.is_empty() {
            return Err(Error::syntax(
                start,
                format!("an attribute name must follow `{scope}`, such as `{scope}http.method`"),
            ));
        }
        Ok(name)
    }

    /// A number, or a duration when duration units follow it at once.
    fn number(&mut self, start: usize) -> Result<Token, Error> {
        let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
        let mut len = digits(self.rest());
        let mut float = false;
        let rest = self.rest();
        if rest[len..].starts_with('.') {
            float = true;
            len += 1 + digits(&rest[len + 1..]);
        }
        if rest[len..].starts_with(['e', 'E']) {
            let sign = usize::from(rest[len + 1..].starts_with(['+', '-']));
            let exp = digits(&rest[len + 1 + sign..]);
            if exp > 0 {
                float = true;
                len += 1 + sign + exp;
            }
        }
        let number = &rest[..len];
        let units = rest[len..]
            .char_indices()
            .find(|(_, c)| !is_duration_char(*c))
            .map_or(rest.len() - len, |(i, _)| i);
        if units > 0 {
            let text = &rest[..len + units];
            if let Some(ns) = duration::parse_literal(text) {
                self.pos += text.len();
                return Ok(self.token(Tok::Duration(ns), start));
            }
        }
        self.pos += len;
        let tok = if float {
            match number.parse::<f64>() {
                Ok(f) => Tok::Float(f),
                Err(_) => return Err(Error::syntax(start, format!("{number:?} is not a number"))),
            }
        } else {
            match number.parse::<i64>() {
                Ok(i) => Tok::Int(i),
                Err(_) => {
                    return Err(Error::syntax(
                        start,
                        format!(
                            "{number} does not fit a 64-bit integer: write it as a float ({number}.0)"
                        ),
                    ));
                }
            }
        };
        Ok(self.token(tok, start))
    }

    /// A `"..."` string with Go's escapes.
    fn interpreted_string(&mut self, start: usize) -> Result<String, Error> {
        self.bump();
        let mut out = String::new();
        loop {
            let at = self.pos;
            match self.bump() {
                None | Some('\n') => {
                    return Err(Error::syntax(
                        start,
                        "the string is not closed: end it with \"",
                    ));
                }
                Some('"') => return Ok(out),
                Some('\\') => out.push(self.escape(at)?),
                Some(c) => out.push(c),
            }
        }
    }

    /// The character an escape after `\` (at `at`) stands for.
    fn escape(&mut self, at: usize) -> Result<char, Error> {
        let bad = |what: &str| {
            Error::syntax(
                at,
                format!("{what}: use \\n, \\t, \\\", \\\\, \\xHH, \\uHHHH or \\UHHHHHHHH"),
            )
        };
        let c = self
            .bump()
            .ok_or_else(|| bad("the string ends in an escape"))?;
        let hex = |lexer: &mut Self, n: usize| -> Result<u32, Error> {
            let text = lexer
                .rest()
                .get(..n)
                .filter(|t| t.bytes().all(|b| b.is_ascii_hexdigit()));
            let text = text.ok_or_else(|| bad("a hex escape needs its digits"))?;
            lexer.pos += n;
            u32::from_str_radix(text, 16).map_err(|_| bad("a hex escape needs its digits"))
        };
        Ok(match c {
            'a' => '\u{7}',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\u{b}',
            '\\' => '\\',
            '"' => '"',
            'x' => char::from(u8::try_from(hex(self, 2)?).map_err(|_| bad("bad \\x escape"))?),
            'u' => char::from_u32(hex(self, 4)?).ok_or_else(|| bad("\\u names no character"))?,
            'U' => char::from_u32(hex(self, 8)?).ok_or_else(|| bad("\\U names no character"))?,
            '0'..='7' => {
                let text = self.src.get(self.pos - 1..self.pos + 2).unwrap_or("");
                if text.len() != 3 || !text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                    return Err(bad("an octal escape needs three digits"));
                }
                self.pos += 2;
                let v = u32::from_str_radix(text, 8).map_err(|_| bad("bad octal escape"))?;
                char::from(u8::try_from(v).map_err(|_| bad("an octal escape is at most \\377"))?)
            }
            other => return Err(bad(&format!("\\{other} is not an escape"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        lex(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn attributes_scopes_and_operators_split_as_tempo_splits_them() {
        use Sym::*;
        assert_eq!(
            toks("{ span.http.status_code>=200 && resource.service.name=~\"api|db\" }"),
            vec![
                Tok::Sym(LBrace),
                Tok::Attr(AttrPrefix::Span, "http.status_code".into()),
                Tok::Sym(Gte),
                Tok::Int(200),
                Tok::Sym(And),
                Tok::Attr(AttrPrefix::Resource, "service.name".into()),
                Tok::Sym(Re),
                Tok::Str("api|db".into()),
                Tok::Sym(RBrace),
                Tok::Eof,
            ]
        );
        assert_eq!(
            toks("{.a}>>{.b} !>> &>> !~ span:name trace:duration"),
            vec![
                Tok::Sym(LBrace),
                Tok::Attr(AttrPrefix::Unscoped, "a".into()),
                Tok::Sym(RBrace),
                Tok::Sym(Desc),
                Tok::Sym(LBrace),
                Tok::Attr(AttrPrefix::Unscoped, "b".into()),
                Tok::Sym(RBrace),
                Tok::Sym(NotDesc),
                Tok::Sym(UnionDesc),
                Tok::Sym(Nre),
                Tok::Scope("span:"),
                Tok::Ident("name".into()),
                Tok::Scope("trace:"),
                Tok::Ident("duration".into()),
                Tok::Eof,
            ]
        );
        assert_eq!(
            toks(r#"span."a b".c-d"#),
            vec![Tok::Attr(AttrPrefix::Span, "a b.c-d".into()), Tok::Eof]
        );
    }

    #[test]
    fn numbers_durations_and_strings() {
        assert_eq!(
            toks("100ms 1.5s 1h30m 10 2.5 .5 1e3 10x"),
            vec![
                Tok::Duration(100_000_000),
                Tok::Duration(1_500_000_000),
                Tok::Duration(5_400_000_000_000),
                Tok::Int(10),
                Tok::Float(2.5),
                Tok::Float(0.5),
                Tok::Float(1000.0),
                Tok::Int(10),
                Tok::Ident("x".into()),
                Tok::Eof,
            ]
        );
        assert_eq!(
            toks(r#""a\"b\n\x41\u00e9\101" `raw\n`"#),
            vec![
                Tok::Str("a\"b\nAéA".into()),
                Tok::Str("raw\\n".into()),
                Tok::Eof
            ]
        );
        assert_eq!(toks("// note\n{ /* x */ }"), toks("{}"));
    }

    #[test]
    fn errors_point_at_the_offending_character() {
        for (src, offset, words) in [
            ("{ .a = \"x }", 7, "not closed"),
            ("{ span. = 1 }", 2, "attribute name must follow `span.`"),
            ("{ .a = \"\\q\" }", 8, "is not an escape"),
            ("{ .a = 99999999999999999999 }", 7, "64-bit"),
            ("{ .a = 1 } /* open", 11, "comment"),
            ("{ .a # 1 }", 5, "unexpected character '#'"),
            ("{ .\"open = 1 }", 3, "not closed"),
        ] {
            let e = lex(src).unwrap_err();
            assert_eq!(e.offset, offset, "{src}: {e}");
            assert!(e.to_string().contains(words), "{src}: {e}");
        }
    }
}
