//! Go's template parser: the text split into text and actions, actions into tokens, and
//! tokens into a tree, with Go's parse-time checks (unknown functions, undefined
//! variables, `break` outside `range`) and error texts.

use std::collections::BTreeMap;

use crate::Functions;
use crate::error::{MAX_TEMPLATE_DEPTH, TemplateError, Where, err, too_deep};
use crate::exec::is_builtin;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Text(String),
    Action(Pipeline),
    If {
        branches: Vec<(Pipeline, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    Range {
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    /// `{{ template "name" pipeline }}`, at the name's byte.
    Template {
        name: String,
        pipe: Option<Pipeline>,
        pos: usize,
    },
    Break,
    Continue,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pipeline {
    /// `$x :=` or `$i, $x :=` (declare) or `$x =` (assign).
    pub(crate) vars: Vec<String>,
    pub(crate) declare: bool,
    pub(crate) cmds: Vec<Command>,
    /// The byte of its first token.
    pub(crate) pos: usize,
}

impl Pipeline {
    /// As Go writes the node in an error: `$x := f a | g`.
    pub(crate) fn text(&self) -> String {
        let mut s = String::new();
        if !self.vars.is_empty() {
            let vars: Vec<String> = self.vars.iter().map(|v| format!("${v}")).collect();
            s.push_str(&vars.join(", "));
            s.push_str(if self.declare { " := " } else { " = " });
        }
        let cmds: Vec<String> = self.cmds.iter().map(Command::text).collect();
        s.push_str(&cmds.join(" | "));
        s
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Command {
    pub(crate) args: Vec<Arg>,
}

impl Command {
    pub(crate) fn text(&self) -> String {
        let args: Vec<&str> = self.args.iter().map(|a| a.text.as_str()).collect();
        args.join(" ")
    }

    pub(crate) fn pos(&self) -> usize {
        self.args.first().map_or(0, |a| a.pos)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Arg {
    pub(crate) kind: ArgKind,
    /// The byte Go reports for the node: its first field's for a chain of fields.
    pub(crate) pos: usize,
    /// As Go writes the node.
    pub(crate) text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ArgKind {
    /// `.` then fields, `.Labels.job`.
    Dot(Vec<String>),
    /// `$x` then fields (`$` alone is named "").
    Var(String, Vec<String>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    Func(String),
    /// `( pipeline )` then fields.
    Sub(Box<Pipeline>, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum TokKind {
    Pipe,
    Open,
    Close,
    Declare,
    Assign,
    Comma,
    Str(String),
    Int(i64),
    Float(f64),
    Ident(String),
    /// `.a.b`; empty for `.` alone.
    Field(Vec<String>),
    Var(String, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
struct Tok {
    kind: TokKind,
    /// The byte it starts at in the template.
    pos: usize,
    /// Its text in the template.
    text: String,
    /// Where its fields start, for a variable or `)` followed by fields.
    fields_pos: Option<usize>,
}

/// Go's `strconv.Unquote` of a double-quoted string's inside.
fn unescape(body: &[char]) -> Result<String, String> {
    let mut s = String::new();
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        i += 1;
        if c != '\\' {
            s.push(c);
            continue;
        }
        let Some(&e) = body.get(i) else {
            return Err("unterminated quoted string".into());
        };
        i += 1;
        let hex = |n: usize, i: &mut usize| -> Result<u32, String> {
            let t: String = body.get(*i..*i + n).unwrap_or_default().iter().collect();
            *i += n;
            u32::from_str_radix(&t, 16).map_err(|_| "invalid syntax".to_owned())
        };
        match e {
            'a' => s.push('\x07'),
            'b' => s.push('\x08'),
            'f' => s.push('\x0c'),
            'n' => s.push('\n'),
            'r' => s.push('\r'),
            't' => s.push('\t'),
            'v' => s.push('\x0b'),
            '\\' | '"' | '\'' => s.push(e),
            'x' => {
                let b = hex(2, &mut i)?;
                // A byte above 0x7f cannot stand alone in a Rust string.
                s.push(char::from_u32(b).filter(|_| b < 0x80).unwrap_or('\u{FFFD}'));
            }
            'u' => s.push(char::from_u32(hex(4, &mut i)?).ok_or("invalid syntax")?),
            'U' => s.push(char::from_u32(hex(8, &mut i)?).ok_or("invalid syntax")?),
            '0'..='7' => {
                let t: String = body.get(i - 1..i + 2).unwrap_or_default().iter().collect();
                i += 2;
                let b = u32::from_str_radix(&t, 8).map_err(|_| "invalid syntax")?;
                s.push(char::from_u32(b).filter(|_| b < 0x80).unwrap_or('\u{FFFD}'));
            }
            _ => return Err("invalid syntax".into()),
        }
    }
    Ok(s)
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Splits one action's text, which starts at byte `base` of the template, into tokens.
fn lex(src: &str, base: usize) -> Result<Vec<Tok>, TemplateError> {
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    let b: Vec<char> = chars.iter().map(|&(_, c)| c).collect();
    let at = |i: usize| base + chars.get(i).map_or(src.len(), |&(o, _)| o);
    let text = |from: usize, to: usize| -> String { b[from..to].iter().collect() };
    let mut i = 0;
    let mut out = Vec::new();
    let fields = |i: &mut usize| -> Vec<String> {
        let mut fs = Vec::new();
        while *i < b.len() && b[*i] == '.' {
            let start = *i + 1;
            let mut j = start;
            while j < b.len() && is_ident_char(b[j]) {
                j += 1;
            }
            if j == start {
                break;
            }
            fs.push(b[start..j].iter().collect());
            *i = j;
        }
        fs
    };
    while i < b.len() {
        let c = b[i];
        let start = i;
        let simple = |k: TokKind, len: usize| Tok {
            kind: k,
            pos: at(start),
            text: text(start, start + len),
            fields_pos: None,
        };
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '|' => {
                out.push(simple(TokKind::Pipe, 1));
                i += 1;
            }
            '(' => {
                out.push(simple(TokKind::Open, 1));
                i += 1;
            }
            ')' => {
                let mut t = simple(TokKind::Close, 1);
                i += 1;
                let fpos = at(i);
                let fs = fields(&mut i);
                if !fs.is_empty() {
                    t.fields_pos = Some(fpos);
                    out.push(t);
                    out.push(Tok {
                        kind: TokKind::Field(fs),
                        pos: fpos,
                        text: text(start + 1, i),
                        fields_pos: None,
                    });
                } else {
                    out.push(t);
                }
            }
            ',' => {
                out.push(simple(TokKind::Comma, 1));
                i += 1;
            }
            ':' if b.get(i + 1) == Some(&'=') => {
                out.push(simple(TokKind::Declare, 2));
                i += 2;
            }
            '=' => {
                out.push(simple(TokKind::Assign, 1));
                i += 1;
            }
            '"' => {
                i += 1;
                loop {
                    match b.get(i) {
                        None | Some('\n') => return err("unterminated quoted string"),
                        Some('\\') if b.get(i + 1).is_some_and(|&c| c != '\n') => i += 2,
                        Some('"') => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                let s = unescape(&b[start + 1..i - 1]).map_err(TemplateError::new)?;
                out.push(simple(TokKind::Str(s), i - start));
            }
            '`' => {
                let Some(end) = b[start + 1..].iter().position(|&c| c == '`') else {
                    return err("unterminated raw quoted string");
                };
                i = start + end + 2;
                let s = text(start + 1, i - 1).replace('\r', "");
                out.push(simple(TokKind::Str(s), i - start));
            }
            '\'' => {
                i += 1;
                loop {
                    match b.get(i) {
                        None | Some('\n') => return err("unterminated character constant"),
                        Some('\\') => i += 2,
                        Some('\'') => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                let inner = &b[start + 1..i - 1];
                let s = if inner == ['"'] {
                    "\"".to_owned()
                } else {
                    unescape(inner).map_err(TemplateError::new)?
                };
                let mut cs = s.chars();
                let (Some(ch), None) = (cs.next(), cs.next()) else {
                    return err(format!("malformed character constant: {}", text(start, i)));
                };
                out.push(simple(TokKind::Int(ch as i64), i - start));
            }
            '.' if b.get(i + 1).is_none_or(|c| !c.is_ascii_digit()) => {
                if b.get(i + 1).is_some_and(|&c| is_ident_char(c)) {
                    let fs = fields(&mut i);
                    out.push(Tok {
                        kind: TokKind::Field(fs),
                        pos: at(start),
                        text: text(start, i),
                        fields_pos: None,
                    });
                } else {
                    out.push(simple(TokKind::Field(Vec::new()), 1));
                    i += 1;
                }
            }
            '$' => {
                let mut j = start + 1;
                while j < b.len() && is_ident_char(b[j]) {
                    j += 1;
                }
                let name = text(start + 1, j);
                i = j;
                let fpos = at(i);
                let fs = fields(&mut i);
                out.push(Tok {
                    fields_pos: (!fs.is_empty()).then_some(fpos),
                    kind: TokKind::Var(name, fs),
                    pos: at(start),
                    text: text(start, i),
                });
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                i += 1;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == '.'
                        || b[i] == '_'
                        || ((b[i] == '-' || b[i] == '+')
                            && matches!(b[i - 1], 'e' | 'E' | 'p' | 'P')))
                {
                    i += 1;
                }
                let t = text(start, i);
                let kind = number(&t).ok_or_else(|| {
                    let overflows = t.parse::<f64>().is_ok_and(f64::is_infinite);
                    let what = if overflows { "illegal" } else { "bad" };
                    TemplateError::new(format!("{what} number syntax: {t:?}"))
                })?;
                out.push(simple(kind, i - start));
            }
            c if is_ident_char(c) => {
                while i < b.len() && is_ident_char(b[i]) {
                    i += 1;
                }
                out.push(simple(TokKind::Ident(text(start, i)), i - start));
            }
            other => {
                return err(format!("unexpected {:?} in command", other.to_string()));
            }
        }
    }
    Ok(out)
}

/// A number constant as Go's template parser reads it: an int unless it has a point,
/// an exponent or a fraction that does not fit.
fn number(t: &str) -> Option<TokKind> {
    let clean = t.replace('_', "");
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let lower = body.to_ascii_lowercase();
    let radix = [("0x", 16), ("0o", 8), ("0b", 2)]
        .iter()
        .find(|(p, _)| lower.starts_with(p));
    if let Some(&(p, r)) = radix {
        if r != 16 || !lower.contains('p') {
            let n = i64::from_str_radix(&lower[p.len()..], r).ok()?;
            return Some(TokKind::Int(if neg { -n } else { n }));
        }
        return None;
    }
    if body.len() > 1 && body.starts_with('0') && body.bytes().all(|c| c.is_ascii_digit()) {
        let n = i64::from_str_radix(&body[1..], 8).ok()?;
        return Some(TokKind::Int(if neg { -n } else { n }));
    }
    if let Ok(n) = clean.parse::<i64>() {
        return Some(TokKind::Int(n));
    }
    let f: f64 = clean.parse().ok().filter(|f: &f64| f.is_finite())?;
    if !body
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'-' | b'+'))
    {
        return None;
    }
    Some(TokKind::Float(f))
}

struct Parser<'a> {
    /// The caller's functions, for Go's parse-time check that a function exists.
    funcs: &'a dyn Functions,
    toks: Vec<Tok>,
    at: usize,
    /// How many parentheses the parser is inside.
    depth: usize,
    /// The variables in scope, for Go's parse-time check.
    vars: &'a [String],
    /// Where the action ends, for errors at its end.
    end: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn pipeline(&mut self, declared: &mut Vec<String>) -> Result<Pipeline, TemplateError> {
        let pos = self.peek().map_or(self.end, |t| t.pos);
        let mut vars = Vec::new();
        let mut declare = true;
        // `$x :=`, `$i, $x :=` or `$x =`.
        let save = self.at;
        while let Some(Tok {
            kind: TokKind::Var(name, fs),
            ..
        }) = self.peek().cloned()
        {
            if !fs.is_empty() {
                break;
            }
            self.at += 1;
            vars.push(name);
            match self.peek().map(|t| &t.kind) {
                Some(TokKind::Comma) => self.at += 1,
                Some(TokKind::Declare) => {
                    self.at += 1;
                    break;
                }
                Some(TokKind::Assign) => {
                    declare = false;
                    self.at += 1;
                    break;
                }
                _ => {
                    vars.clear();
                    self.at = save;
                    break;
                }
            }
        }
        if declare {
            declared.extend(vars.iter().cloned());
        } else {
            for v in &vars {
                self.check_var(v, declared)?;
            }
        }
        let mut cmds = vec![Command { args: Vec::new() }];
        loop {
            match self.peek().map(|t| t.kind.clone()) {
                None | Some(TokKind::Close) => break,
                Some(TokKind::Pipe) => {
                    self.at += 1;
                    cmds.push(Command { args: Vec::new() });
                }
                Some(_) => {
                    let arg = self.operand(declared)?;
                    if let Some(c) = cmds.last_mut() {
                        c.args.push(arg);
                    }
                }
            }
        }
        if cmds.len() == 1 && cmds[0].args.is_empty() {
            return err("missing value for command");
        }
        if cmds.iter().any(|c| c.args.is_empty()) {
            return err("missing command");
        }
        for (i, c) in cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args[0].kind,
                ArgKind::Bool(_)
                    | ArgKind::Dot(_)
                    | ArgKind::Nil
                    | ArgKind::Int(_)
                    | ArgKind::Float(_)
                    | ArgKind::Str(_)
            ) && !matches!(&c.args[0].kind, ArgKind::Dot(fs) if !fs.is_empty())
            {
                return err(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                ));
            }
        }
        Ok(Pipeline {
            vars,
            declare,
            cmds,
            pos,
        })
    }

    fn check_var(&self, name: &str, declared: &[String]) -> Result<(), TemplateError> {
        if name.is_empty() || self.vars.iter().chain(declared).any(|v| v == name) {
            Ok(())
        } else {
            err(format!("undefined variable \"${name}\""))
        }
    }

    fn operand(&mut self, declared: &mut Vec<String>) -> Result<Arg, TemplateError> {
        let tok = self.toks[self.at].clone();
        self.at += 1;
        let arg = |kind| Arg {
            kind,
            pos: tok.pos,
            text: tok.text.clone(),
        };
        Ok(match tok.kind {
            TokKind::Field(fs) => arg(ArgKind::Dot(fs)),
            TokKind::Var(ref name, ref fs) => {
                self.check_var(name, declared)?;
                Arg {
                    kind: ArgKind::Var(name.clone(), fs.clone()),
                    pos: tok.fields_pos.unwrap_or(tok.pos),
                    text: tok.text.clone(),
                }
            }
            TokKind::Str(ref s) => arg(ArgKind::Str(s.clone())),
            TokKind::Int(n) => arg(ArgKind::Int(n)),
            TokKind::Float(f) => arg(ArgKind::Float(f)),
            TokKind::Ident(ref name) => match name.as_str() {
                "true" => arg(ArgKind::Bool(true)),
                "false" => arg(ArgKind::Bool(false)),
                "nil" => arg(ArgKind::Nil),
                _ if is_builtin(name) || self.funcs.signature(name).is_some() => {
                    arg(ArgKind::Func(name.clone()))
                }
                _ => return err(format!("function {name:?} not defined")),
            },
            TokKind::Open => {
                if self.depth == MAX_TEMPLATE_DEPTH {
                    return too_deep();
                }
                self.depth += 1;
                let inner = self.pipeline(declared)?;
                self.depth -= 1;
                let Some(close) = self.peek().filter(|t| t.kind == TokKind::Close).cloned() else {
                    return err("unclosed left paren");
                };
                self.at += 1;
                let mut text = format!("({})", inner.text());
                let mut pos = tok.pos;
                let fields = match self.peek() {
                    Some(Tok {
                        kind: TokKind::Field(fs),
                        text: t,
                        ..
                    }) if close.fields_pos.is_some() => {
                        let fs = fs.clone();
                        text.push_str(t);
                        pos = close.fields_pos.unwrap_or(pos);
                        self.at += 1;
                        fs
                    }
                    _ => Vec::new(),
                };
                Arg {
                    kind: ArgKind::Sub(Box::new(inner), fields),
                    pos,
                    text,
                }
            }
            TokKind::Close => return err("unexpected right paren"),
            TokKind::Pipe | TokKind::Declare | TokKind::Assign | TokKind::Comma => {
                return err(format!("unexpected {:?} in operand", tok.text));
            }
        })
    }
}

/// Parses the pipeline of an action whose text starts at byte `base`, with `vars` in
/// scope; variables it declares are added to `declared`.
fn parse_pipeline(
    funcs: &dyn Functions,
    text: &str,
    base: usize,
    vars: &[String],
    declared: &mut Vec<String>,
) -> Result<Pipeline, TemplateError> {
    let mut p = Parser {
        funcs,
        toks: lex(text, base)?,
        at: 0,
        depth: 0,
        vars,
        end: base + text.len(),
    };
    let pipe = p.pipeline(declared)?;
    if let Some(t) = p.peek() {
        return err(match t.kind {
            TokKind::Close => "unexpected right paren".to_owned(),
            _ => format!("unexpected {:?} in command", t.text),
        });
    }
    Ok(pipe)
}

/// One `{{ ... }}` or the text between.
enum Piece {
    Text(String),
    /// An action's text, the byte it starts at and its line.
    Action(String, usize, usize),
}

/// Where an action that starts at byte `from` ends: the byte of its `}}` or ` -}}`,
/// skipping quoted text, and whether it trims the text after it.
fn action_end(src: &str, from: usize) -> Result<(usize, bool), TemplateError> {
    let b = src.as_bytes();
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'"' | b'`' | b'\'' => {
                let q = b[i];
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' && q != b'`' {
                        i += 1;
                    }
                    if b[i.min(b.len() - 1)] == b'\n' && q != b'`' {
                        return err(if q == b'"' {
                            "unterminated quoted string"
                        } else {
                            "unterminated character constant"
                        });
                    }
                    i += 1;
                }
                if i >= b.len() {
                    return err(match q {
                        b'"' => "unterminated quoted string",
                        b'`' => "unterminated raw quoted string",
                        _ => "unterminated character constant",
                    });
                }
                i += 1;
            }
            b' ' | b'\t' | b'\r' | b'\n' if src[i + 1..].starts_with("-}}") => {
                return Ok((i, true));
            }
            b'}' if src[i..].starts_with("}}") => return Ok((i, false)),
            _ => i += 1,
        }
    }
    err("unclosed action")
}

fn pieces(src: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut trim_next = false;
    // Lines are counted as the scan goes: counting from the start for each action
    // would take quadratic time on long templates.
    let mut counted = 0;
    let mut lines = 1;
    let mut line_of = |pos: usize| {
        lines += src[counted..pos].matches('\n').count();
        counted = pos;
        lines
    };
    while let Some(found) = src[at..].find("{{") {
        let start = at + found;
        let mut text = &src[at..start];
        if trim_next {
            text = text.trim_start_matches([' ', '\t', '\r', '\n']);
        }
        let mut inner = start + 2;
        let rest = &src[inner..];
        if rest.starts_with('-') && rest[1..].starts_with([' ', '\t', '\r', '\n']) {
            text = text.trim_end_matches([' ', '\t', '\r', '\n']);
            inner += 2;
        }
        if !text.is_empty() {
            out.push(Piece::Text(text.to_owned()));
        }
        let line = line_of(start);
        if src[inner..].starts_with("/*") {
            let Some(close) = src[inner..].find("*/") else {
                return Err(TemplateError {
                    message: "unclosed comment".into(),
                    at: Where::Line(line),
                });
            };
            let after = inner + close + 2;
            if src[after..].starts_with("}}") {
                at = after + 2;
                trim_next = false;
            } else if src[after..].starts_with([' ', '\t', '\r', '\n'])
                && src[after + 1..].starts_with("-}}")
            {
                at = after + 4;
                trim_next = true;
            } else {
                return Err(TemplateError {
                    message: "comment ends before closing delimiter".into(),
                    at: Where::Line(line),
                });
            }
            continue;
        }
        let (end, trims) = action_end(src, inner).map_err(|e| TemplateError {
            at: Where::Line(line),
            ..e
        })?;
        out.push(Piece::Action(src[inner..end].to_owned(), inner, line));
        at = if trims { end + 4 } else { end + 2 };
        trim_next = trims;
    }
    let mut rest = &src[at..];
    if trim_next {
        rest = rest.trim_start_matches([' ', '\t', '\r', '\n']);
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest.to_owned()));
    }
    Ok(out)
}

/// What ended a list of nodes.
enum Stop {
    Eof,
    End,
    /// `{{ else }}` or `{{ else if ... }}`: the text after `else`, its byte and line.
    Else(String, usize, usize),
}

/// Builds the node tree from the pieces, checking variables and `break`/`continue` as
/// Go's parser does.
struct TreeBuilder<'a> {
    funcs: &'a dyn Functions,
    pieces: std::iter::Peekable<std::vec::IntoIter<Piece>>,
    defined: BTreeMap<String, Vec<Node>>,
}

/// The first word of an action and the rest, with the rest's byte offset.
fn split_word(action: &str, base: usize) -> (&str, &str, usize) {
    let trimmed = action.trim_start();
    let lead = action.len() - trimmed.len();
    match trimmed.find(|c: char| !is_ident_char(c)) {
        Some(n) => {
            let rest = &trimmed[n..];
            let rest_trim = rest.trim_start();
            (
                &trimmed[..n],
                rest_trim,
                base + lead + n + (rest.len() - rest_trim.len()),
            )
        }
        None => (trimmed, "", base + action.len()),
    }
}

impl TreeBuilder<'_> {
    /// The nodes up to the end of the block `depth` levels deep, or of the text.
    fn nodes(
        &mut self,
        depth: usize,
        vars: &mut Vec<String>,
        in_range: bool,
        top: bool,
    ) -> Result<(Vec<Node>, Stop), TemplateError> {
        if depth > MAX_TEMPLATE_DEPTH {
            return too_deep();
        }
        let mut out = Vec::new();
        while let Some(piece) = self.pieces.next() {
            let (action, base, line) = match piece {
                Piece::Text(t) => {
                    out.push(Node::Text(t));
                    continue;
                }
                Piece::Action(a, base, line) => (a, base, line),
            };
            let at_line = |e: TemplateError| TemplateError {
                at: Where::Line(line),
                ..e
            };
            let (word, rest, rest_at) = split_word(&action, base);
            match word {
                "end" if rest.is_empty() => {
                    if top {
                        return Err(at_line(TemplateError::new("unexpected {{end}}")));
                    }
                    return Ok((out, Stop::End));
                }
                "else" => {
                    if top {
                        return Err(at_line(TemplateError::new("unexpected {{else}}")));
                    }
                    return Ok((out, Stop::Else(rest.to_owned(), rest_at, line)));
                }
                "break" | "continue" if rest.is_empty() => {
                    if !in_range {
                        return Err(at_line(TemplateError::new(format!(
                            "{{{{{word}}}}} outside {{{{range}}}}"
                        ))));
                    }
                    out.push(if word == "break" {
                        Node::Break
                    } else {
                        Node::Continue
                    });
                }
                "if" | "with" | "range" => {
                    let node = self
                        .control(word, rest, rest_at, depth, vars, in_range)
                        .map_err(|e| match e.at {
                            Where::Nowhere => at_line(e),
                            _ => e,
                        })?;
                    out.push(node);
                }
                "define" | "block" | "template" => {
                    let mut p = Parser {
                        funcs: self.funcs,
                        toks: lex(rest, rest_at).map_err(at_line)?,
                        at: 0,
                        depth: 0,
                        vars,
                        end: base + action.len(),
                    };
                    let (name, name_pos) = match p.peek() {
                        Some(Tok {
                            kind: TokKind::Str(s),
                            pos,
                            ..
                        }) => (s.clone(), *pos),
                        _ => {
                            return Err(at_line(TemplateError::new(format!(
                                "unexpected {:?} in {word} clause",
                                p.peek().map_or(String::new(), |t| t.text.clone())
                            ))));
                        }
                    };
                    p.at += 1;
                    let pipe = if p.peek().is_some() {
                        let mut declared = Vec::new();
                        let pipe = p.pipeline(&mut declared).map_err(at_line)?;
                        vars.extend(declared);
                        Some(pipe)
                    } else {
                        None
                    };
                    if word == "define" && (!top || pipe.is_some()) {
                        return Err(at_line(TemplateError::new(
                            "unexpected <define> in command",
                        )));
                    }
                    if word != "template" {
                        // A definition sees only `$`, the dot it is given.
                        let mut own = Vec::new();
                        let (body, stop) = self.nodes(depth + 1, &mut own, false, false)?;
                        if !matches!(stop, Stop::End) {
                            return Err(at_line(TemplateError::new(format!(
                                "unexpected EOF in {word}"
                            ))));
                        }
                        let empty = body
                            .iter()
                            .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()));
                        if !(empty && self.defined.contains_key(&name)) {
                            self.defined.insert(name.clone(), body);
                        }
                    }
                    if word != "define" {
                        out.push(Node::Template {
                            name,
                            pipe,
                            pos: name_pos,
                        });
                    }
                }
                _ => {
                    if action.trim().is_empty() {
                        return Err(at_line(TemplateError::new("missing value for command")));
                    }
                    let mut declared = Vec::new();
                    let pipe = parse_pipeline(self.funcs, &action, base, vars, &mut declared)
                        .map_err(at_line)?;
                    vars.extend(declared);
                    out.push(Node::Action(pipe));
                }
            }
        }
        Ok((out, Stop::Eof))
    }

    /// An `if`, `with` or `range` block after its keyword; `else if` nests as in Go.
    fn control(
        &mut self,
        word: &str,
        rest: &str,
        rest_at: usize,
        depth: usize,
        vars: &mut Vec<String>,
        in_range: bool,
    ) -> Result<Node, TemplateError> {
        // Variables declared in the block live until its end.
        let mark = vars.len();
        let mut declared = Vec::new();
        let pipe = parse_pipeline(self.funcs, rest, rest_at, vars, &mut declared)?;
        vars.extend(declared);
        let body_in_range = in_range || word == "range";
        let (body, stop) = self.nodes(depth + 1, vars, body_in_range, false)?;
        let otherwise = match stop {
            Stop::End => Vec::new(),
            Stop::Eof => return err("unexpected EOF"),
            Stop::Else(chain, at, line) => {
                let (w, r, r_at) = split_word(&chain, at);
                if w == "if" {
                    let inner = self.control("if", r, r_at, depth + 1, vars, in_range);
                    let inner = inner.map_err(|e| match e.at {
                        Where::Nowhere => TemplateError {
                            at: Where::Line(line),
                            ..e
                        },
                        _ => e,
                    })?;
                    vec![inner]
                } else if !chain.is_empty() {
                    return Err(TemplateError {
                        message: format!("unexpected {:?} in else", chain),
                        at: Where::Line(line),
                    });
                } else {
                    let (o, stop) = self.nodes(depth + 1, vars, in_range, false)?;
                    if !matches!(stop, Stop::End) {
                        return err("unexpected EOF");
                    }
                    o
                }
            }
        };
        vars.truncate(mark);
        Ok(match word {
            "if" => Node::If {
                branches: vec![(pipe, body)],
                otherwise,
            },
            "range" => Node::Range {
                pipe,
                body,
                otherwise,
            },
            _ => Node::With {
                pipe,
                body,
                otherwise,
            },
        })
    }
}

/// The parsed text: its own nodes and the templates it defines.
pub(crate) type Parsed = (Vec<Node>, BTreeMap<String, Vec<Node>>);

/// Parses `text` with the caller's functions and the variables `vars` already defined.
pub(crate) fn parse_text(
    text: &str,
    funcs: &dyn Functions,
    vars: &[&str],
) -> Result<Parsed, TemplateError> {
    let mut builder = TreeBuilder {
        funcs,
        pieces: pieces(text)?.into_iter().peekable(),
        defined: BTreeMap::new(),
    };
    let mut vars: Vec<String> = vars.iter().map(|v| (*v).to_owned()).collect();
    let (nodes, _) = builder.nodes(0, &mut vars, false, true)?;
    Ok((nodes, builder.defined))
}
