//! Go's `text/template`, as Prometheus and Alertmanager run it, with the set of functions
//! left to the caller: Prometheus's alert templates and Alertmanager's notification
//! templates share this engine and differ only in their functions and data.
//!
//! - Actions: `{{ pipeline }}`, `if`/`else if`/`else`, `range` (with `break` and
//!   `continue`, `$i, $x :=`), `with`, `define`/`template`/`block` across several parsed
//!   texts, variables (`$x := ...`, `$x = ...`), parenthesised pipelines, trim markers
//!   `{{-`/`-}}` and comments.
//! - Go's builtins: `and`, `or` (both short-circuit), `not`, `len`, `index`, `slice`,
//!   `print`, `printf`, `println`, `html`, `js`, `urlquery`, `call`, `eq`..`ge`, with
//!   Go's typing: `gt 1.5 1` compares a float with an int and fails, as in Go.
//! - Fields of structs and maps (`missingkey=zero`), methods of the caller's named types
//!   ([`Functions::method`]: `.Alerts.Firing`, `.CommonLabels.Remove (stringSlice "a")`)
//!   and of `time.Time` (`.StartsAt.Unix`, `.StartsAt.Format "15:04"`).
//! - Values print as Go's `fmt` prints them (`0.5`, `1e+06`, `map[a:b]`,
//!   `%!s(float64=1.5)`, `2026-12-06 18:00:00 +0000 UTC`), and carry Go's type names so
//!   that `printf "%T"` and type errors match.
//! - [`Escaping::Html`] approximates `html/template`'s contextual escaping (see
//!   [`html`](crate::html)).
//!
//! ```
//! use gotemplate::{Escaping, NoFunctions, Template, Value};
//!
//! let mut t = Template::new();
//! t.parse("defs", r#"{{ define "greet" }}Hello, {{ . }}!{{ end }}"#, &NoFunctions, &[])
//!     .unwrap();
//! t.parse("", r#"{{ template "greet" .Name }} {{ printf "%05.1f" .X }}"#, &NoFunctions, &[])
//!     .unwrap();
//! let dot = Value::Struct(vec![
//!     ("Name".into(), Value::Str("world".into())),
//!     ("X".into(), Value::Float(3.14159)),
//! ]);
//! let out = t.execute("", &dot, &[], &NoFunctions, Escaping::Text).unwrap();
//! assert_eq!(out, "Hello, world! 003.1");
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

mod error;
mod exec;
pub mod fmt;
pub mod html;
pub mod humanize;
mod parse;
pub mod strings;
pub mod timefmt;
mod value;

pub use error::{MAX_TEMPLATE_DEPTH, TemplateError};
pub use fmt::{
    format_float, go_float, go_g, go_quote, go_shortest_e, html_escape, js_escape, printf,
    query_escape, sprint, sprintln,
};
pub use value::{Value, time_string};

/// What a function's parameter accepts, for Go's argument checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// `interface{}`: anything.
    Any,
    /// `string`.
    Str,
    /// Exactly the Go type of this name (as [`Value::type_name`] gives it), or `nil`.
    Type(&'static str),
}

impl Param {
    pub(crate) fn go(self) -> &'static str {
        match self {
            Param::Any => "interface {}",
            Param::Str => "string",
            Param::Type(t) => t,
        }
    }
}

/// A function's parameters: the fixed ones, and the kind of any more (Go's `...T`).
#[derive(Debug, Clone, Copy)]
pub struct Signature {
    /// The parameters every call gives.
    pub fixed: &'static [Param],
    /// The kind of the variadic rest, if the function takes more.
    pub variadic: Option<Param>,
}

/// The functions and methods a template can call beyond Go's builtins: Prometheus's set
/// for alert rules, Alertmanager's for notifications.
///
/// The engine checks at parse time that a called function exists ([`Self::signature`]
/// is `Some`), checks the number and types of arguments against the signature as Go's
/// reflection does, and only then calls [`Self::call`]. Implementations must not panic
/// on any arguments that pass the signature; an `Err` becomes Go's `error calling NAME:
/// ...` text.
pub trait Functions {
    /// The function's parameters, or `None` when there is no such function.
    fn signature(&self, name: &str) -> Option<Signature>;

    /// Calls the function with checked arguments.
    fn call(&self, name: &str, args: Vec<Value>) -> Result<Value, String>;

    /// Calls the method `name` of `receiver` (a field access `.Name` without arguments
    /// or a command `.Name arg...`); `None` when the receiver's type has no such method,
    /// so that the engine looks for a field. Methods come before fields, as in Go.
    fn method(
        &self,
        receiver: &Value,
        name: &str,
        args: &[Value],
    ) -> Option<Result<Value, String>> {
        let _ = (receiver, name, args);
        None
    }
}

/// Only Go's builtins.
pub struct NoFunctions;

impl Functions for NoFunctions {
    fn signature(&self, _: &str) -> Option<Signature> {
        None
    }

    fn call(&self, name: &str, _: Vec<Value>) -> Result<Value, String> {
        Err(format!("function {name:?} not defined"))
    }
}

/// How action output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escaping {
    /// As it is: Go's `text/template`.
    Text,
    /// Escaped for where it lands in HTML: an approximation of Go's `html/template`.
    Html,
}

/// A set of named templates parsed from one or more texts: Go's `*template.Template`
/// with its associated templates. Cloning is cheap (parsed trees are shared).
#[derive(Debug, Clone, Default)]
pub struct Template {
    defined: BTreeMap<String, (Arc<Vec<parse::Node>>, usize)>,
    sources: Vec<(String, Arc<str>)>,
}

impl Template {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `text` under the name `name` (a file's base name, or `""`), with the
    /// caller's functions and the variables `vars` defined before it. The templates it
    /// defines join the set, replacing earlier ones of the same name unless their body
    /// is empty, as Go replaces them; its own body becomes the template `name`.
    pub fn parse(
        &mut self,
        name: &str,
        text: &str,
        funcs: &dyn Functions,
        vars: &[&str],
    ) -> Result<(), TemplateError> {
        let (body, defined) = parse::parse_text(text, funcs, vars)?;
        let source = self.sources.len();
        self.sources.push((name.to_owned(), Arc::from(text)));
        for (n, nodes) in defined {
            self.define(n, nodes, source);
        }
        self.define(name.to_owned(), body, source);
        Ok(())
    }

    fn define(&mut self, name: String, nodes: Vec<parse::Node>, source: usize) {
        let empty = nodes
            .iter()
            .all(|n| matches!(n, parse::Node::Text(t) if t.trim().is_empty()));
        if empty && self.defined.contains_key(&name) {
            return;
        }
        self.defined.insert(name, (Arc::new(nodes), source));
    }

    /// Whether a template of this name is defined.
    pub fn defines(&self, name: &str) -> bool {
        self.defined.contains_key(name)
    }

    /// The names of the templates defined.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.defined.keys().map(String::as_str)
    }

    /// Runs the template `name` with `dot` as `.` and `vars` defined (`$` is `dot`).
    pub fn execute(
        &self,
        name: &str,
        dot: &Value,
        vars: &[(&str, Value)],
        funcs: &dyn Functions,
        escaping: Escaping,
    ) -> Result<String, TemplateError> {
        let Some((nodes, source)) = self.defined.get(name) else {
            return Err(TemplateError::new(format!(
                "no template {name:?} associated with template {name:?}"
            )));
        };
        let mut run = exec::Run {
            funcs,
            defined: &self.defined,
            vars: std::iter::once((String::new(), dot.clone()))
                .chain(vars.iter().map(|(n, v)| ((*n).to_owned(), v.clone())))
                .collect(),
            out: String::new(),
            template: None,
            source: *source,
            depth: 0,
            html: (escaping == Escaping::Html).then(html::HtmlContext::default),
        };
        run.run(nodes, dot)?;
        Ok(run.out)
    }

    /// Go's full text of an error from [`Self::execute`] of `main`:
    /// `template: FILE:LINE:COL: executing "T" at <NODE>: MESSAGE`.
    pub fn error_text(&self, e: &TemplateError, main: &str) -> String {
        match e.source().and_then(|i| self.sources.get(i)) {
            Some((name, text)) => e.go_text(name, text, 0, main),
            None => e.go_text(main, "", 0, main),
        }
    }
}
