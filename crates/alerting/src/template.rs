//! Alertmanager's notification templates: the data a notification's texts see
//! ([`Data`], as Alertmanager 0.25's `template.Data`), Alertmanager's template functions,
//! the `templates:` files, and default texts for every integration that render as
//! Alertmanager's `default.tmpl` and `email.tmpl` render. The language is Go's, from the
//! shared [`gotemplate`] engine that Prometheus's alert templates use too.
//!
//! - Data: `.Receiver`, `.Status`, `.Alerts` (each with `.Status`, `.Labels`,
//!   `.Annotations`, `.StartsAt`, `.EndsAt`, `.GeneratorURL`, `.Fingerprint`),
//!   `.Alerts.Firing`, `.Alerts.Resolved`, `.GroupLabels`, `.CommonLabels`,
//!   `.CommonAnnotations`, `.ExternalURL`; label sets have `.SortedPairs` (`alertname`
//!   first), `.Names`, `.Values` and `.Remove`; pairs lists have `.Names` and `.Values`.
//! - Functions of 0.25: `toUpper`, `toLower`, `title`, `join`, `match`, `safeHtml`,
//!   `reReplaceAll`, `stringSlice`, and Go's builtins; of later versions: `trimSpace`,
//!   `date`, `tz` (`UTC` only: times here are in UTC) and `humanizeDuration`. (`since`,
//!   which depends on the clock, is not defined.)
//! - [`Templates::render`] runs a text as `ExecuteTextString` does; [`Templates::render_html`]
//!   as `ExecuteHTMLString` does, which Alertmanager uses for email `html`, Pushover with
//!   `html: true` and Telegram's HTML mode: see [`gotemplate::html`] for how its escaping
//!   approximates Go's `html/template`.
//!
//! ```
//! use std::collections::BTreeMap;
//! use alerting::template::{Alert, Data, Templates};
//!
//! let labels = BTreeMap::from([("alertname".to_owned(), "Down".to_owned())]);
//! let alert = Alert::firing(labels.clone(), 1_796_580_000_000_000_000);
//! let data = Data::new("team-a", &labels, vec![alert], "http://am:9093");
//! let t = Templates::defaults();
//! assert_eq!(t.render(r#"{{ template "slack.default.title" . }}"#, &data).unwrap(),
//!     "[FIRING:1] Down ");
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use gotemplate::{Escaping, Functions, Param, Signature, Value, strings};

/// One alert as the templates see it (`template.Alert`).
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// `firing` or `resolved`.
    pub status: String,
    /// The alert's labels.
    pub labels: BTreeMap<String, String>,
    /// The alert's annotations.
    pub annotations: BTreeMap<String, String>,
    /// When it started, in nanoseconds since 1970 (UTC).
    pub starts_at: i64,
    /// When it ends or ended, in nanoseconds since 1970 (UTC).
    pub ends_at: i64,
    /// The link to what generated it.
    pub generator_url: String,
    /// The fingerprint of its labels, as 16 hexadecimal digits.
    pub fingerprint: String,
}

impl Alert {
    /// A firing alert with these labels that started at `starts_at` (no annotations, no
    /// end, no fingerprint: set the fields for more).
    pub fn firing(labels: BTreeMap<String, String>, starts_at: i64) -> Self {
        Self {
            status: "firing".into(),
            labels,
            annotations: BTreeMap::new(),
            starts_at,
            ends_at: starts_at,
            generator_url: String::new(),
            fingerprint: String::new(),
        }
    }
}

/// What a notification's templates see (`template.Data`).
#[derive(Debug, Clone, PartialEq)]
pub struct Data {
    /// The receiver's name, with regular-expression metacharacters escaped, as
    /// Alertmanager 0.25 gives it (`regexp.QuoteMeta`).
    pub receiver: String,
    /// `resolved` when every alert is resolved, else `firing`.
    pub status: String,
    /// The alerts, in the order notified.
    pub alerts: Vec<Alert>,
    /// The labels the group is grouped by.
    pub group_labels: BTreeMap<String, String>,
    /// The labels every alert has with the same value.
    pub common_labels: BTreeMap<String, String>,
    /// The annotations every alert has with the same value.
    pub common_annotations: BTreeMap<String, String>,
    /// Alertmanager's external URL.
    pub external_url: String,
}

/// Go's `regexp.QuoteMeta`.
fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// What every map has with the same value.
fn common(maps: &[&BTreeMap<String, String>]) -> BTreeMap<String, String> {
    let Some((first, rest)) = maps.split_first() else {
        return BTreeMap::new();
    };
    let mut out = (*first).clone();
    for m in rest {
        out.retain(|k, v| m.get(k) == Some(v));
    }
    out
}

impl Data {
    /// The data for a notification of `alerts` (each with its status set) to
    /// `receiver`, as Alertmanager's `template.Data` assembles it.
    pub fn new(
        receiver: &str,
        group_labels: &BTreeMap<String, String>,
        alerts: Vec<Alert>,
        external_url: &str,
    ) -> Self {
        let firing = alerts.iter().any(|a| a.status == "firing");
        let labels: Vec<_> = alerts.iter().map(|a| &a.labels).collect();
        let annotations: Vec<_> = alerts.iter().map(|a| &a.annotations).collect();
        Self {
            receiver: quote_meta(receiver),
            status: if firing { "firing" } else { "resolved" }.into(),
            common_labels: common(&labels),
            common_annotations: common(&annotations),
            alerts,
            group_labels: group_labels.clone(),
            external_url: external_url.to_owned(),
        }
    }

    /// The data as a template value: a `*template.Data`, as notifiers pass it.
    pub fn value(&self) -> Value {
        let s = |x: &str| Value::Str(x.to_owned());
        Value::Ptr(Box::new(Value::named(
            "template.Data",
            Value::Struct(vec![
                ("Receiver".into(), s(&self.receiver)),
                ("Status".into(), s(&self.status)),
                (
                    "Alerts".into(),
                    Value::named(
                        ALERTS,
                        Value::List(self.alerts.iter().map(alert_value).collect()),
                    ),
                ),
                ("GroupLabels".into(), kv(&self.group_labels)),
                ("CommonLabels".into(), kv(&self.common_labels)),
                ("CommonAnnotations".into(), kv(&self.common_annotations)),
                ("ExternalURL".into(), s(&self.external_url)),
            ]),
        )))
    }
}

const ALERTS: &str = "template.Alerts";
const ALERT: &str = "template.Alert";
const KV: &str = "template.KV";
const PAIRS: &str = "template.Pairs";
const PAIR: &str = "template.Pair";
const STRINGS: &str = "[]string";

fn kv(m: &BTreeMap<String, String>) -> Value {
    Value::named(KV, Value::string_map(m))
}

fn alert_value(a: &Alert) -> Value {
    let s = |x: &str| Value::Str(x.to_owned());
    Value::named(
        ALERT,
        Value::Struct(vec![
            ("Status".into(), s(&a.status)),
            ("Labels".into(), kv(&a.labels)),
            ("Annotations".into(), kv(&a.annotations)),
            ("StartsAt".into(), Value::Time(a.starts_at)),
            ("EndsAt".into(), Value::Time(a.ends_at)),
            ("GeneratorURL".into(), s(&a.generator_url)),
            ("Fingerprint".into(), s(&a.fingerprint)),
        ]),
    )
}

/// A `template.KV`'s pairs sorted by name, `alertname` first (`KV.SortedPairs`).
fn sorted_pairs(m: &BTreeMap<String, Value>) -> Vec<(String, Value)> {
    let mut pairs: Vec<(String, Value)> = m
        .iter()
        .filter(|(k, _)| *k == "alertname")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    pairs.extend(
        m.iter()
            .filter(|(k, _)| *k != "alertname")
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    pairs
}

fn pairs_value(pairs: Vec<(String, Value)>) -> Value {
    Value::named(
        PAIRS,
        Value::List(
            pairs
                .into_iter()
                .map(|(k, v)| {
                    Value::named(
                        PAIR,
                        Value::Struct(vec![("Name".into(), Value::Str(k)), ("Value".into(), v)]),
                    )
                })
                .collect(),
        ),
    )
}

/// The names or values of a `template.Pairs`.
fn pair_column(items: &[Value], column: usize) -> Value {
    Value::named(
        STRINGS,
        Value::List(
            items
                .iter()
                .filter_map(|p| match p.underlying() {
                    Value::Struct(f) => f.get(column).map(|(_, v)| v.clone()),
                    _ => None,
                })
                .collect(),
        ),
    )
}

/// The strings of a `[]string` value.
fn string_list(v: &Value) -> Vec<String> {
    match v.underlying() {
        Value::List(l) => l
            .iter()
            .map(|x| match x.underlying() {
                Value::Str(s) => s.clone(),
                _ => String::new(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Alertmanager's template functions and the methods of its data's types.
pub struct AlertmanagerFunctions;

fn want_args(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ))
    }
}

impl Functions for AlertmanagerFunctions {
    fn signature(&self, name: &str) -> Option<Signature> {
        use Param::*;
        let (fixed, variadic): (&'static [Param], Option<Param>) = match name {
            "toUpper" | "toLower" | "title" | "safeHtml" | "trimSpace" => (&[Str], None),
            "join" => (&[Str, Type(STRINGS)], None),
            "match" => (&[Str, Str], None),
            "reReplaceAll" => (&[Str, Str, Str], None),
            "stringSlice" => (&[], Some(Str)),
            "date" => (&[Str, Type("time.Time")], None),
            "tz" => (&[Str, Type("time.Time")], None),
            "humanizeDuration" => (&[Any], None),
            _ => return None,
        };
        Some(Signature { fixed, variadic })
    }

    fn call(&self, name: &str, args: Vec<Value>) -> Result<Value, String> {
        let str_arg = |i: usize| -> String {
            match args.get(i).map(Value::underlying) {
                Some(Value::Str(s)) => s.clone(),
                _ => String::new(),
            }
        };
        let time_arg = |i: usize| match args.get(i) {
            Some(Value::Time(ns)) => *ns,
            _ => 0,
        };
        let regex =
            |p: &str| regex::Regex::new(p).map_err(|e| format!("error parsing regexp: {e}"));
        Ok(match name {
            "toUpper" => Value::Str(strings::to_upper(&str_arg(0))),
            "toLower" => Value::Str(strings::to_lower(&str_arg(0))),
            "title" => Value::Str(strings::cases_title(&str_arg(0))),
            "trimSpace" => Value::Str(str_arg(0).trim().to_owned()),
            "safeHtml" => Value::named("template.HTML", Value::Str(str_arg(0))),
            "join" => Value::Str(string_list(&args[1]).join(&str_arg(0))),
            "match" => Value::Bool(regex(&str_arg(0))?.is_match(&str_arg(1))),
            "reReplaceAll" => Value::Str(
                regex(&str_arg(0))?
                    .replace_all(&str_arg(2), str_arg(1).as_str())
                    .into_owned(),
            ),
            "stringSlice" => Value::strings((0..args.len()).map(str_arg)),
            "date" => Value::Str(gotemplate::timefmt::format(time_arg(1), &str_arg(0))),
            "tz" => match str_arg(0).as_str() {
                "" | "UTC" => Value::Time(time_arg(1)),
                other => return Err(format!("unknown time zone {other}")),
            },
            "humanizeDuration" => {
                let v = match &args[0] {
                    Value::Float(f) => *f,
                    Value::Int(i) => *i as f64,
                    Value::Str(s) => s.parse::<f64>().map_err(|_| {
                        format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")
                    })?,
                    other => return Err(format!("can't convert {} to float", other.type_name())),
                };
                Value::Str(gotemplate::humanize::humanize_duration(v))
            }
            other => return Err(format!("function {other:?} not defined")),
        })
    }

    fn method(
        &self,
        receiver: &Value,
        name: &str,
        args: &[Value],
    ) -> Option<Result<Value, String>> {
        let Value::Named(ty, inner) = receiver.pointee() else {
            return None;
        };
        let result = match (*ty, name, inner.as_ref()) {
            (ALERTS, "Firing" | "Resolved", Value::List(l)) => want_args(name, args, 0).map(|()| {
                let status = if name == "Firing" {
                    "firing"
                } else {
                    "resolved"
                };
                let picked = l
                    .iter()
                    .filter(|a| {
                        matches!(gotemplate_field(a, "Status"), Some(Value::Str(s)) if s == status)
                    })
                    .cloned()
                    .collect();
                Value::named("[]template.Alert", Value::List(picked))
            }),
            (KV, "SortedPairs", Value::Map(m)) => {
                want_args(name, args, 0).map(|()| pairs_value(sorted_pairs(m)))
            }
            (KV, "Names" | "Values", Value::Map(m)) => want_args(name, args, 0).map(|()| {
                let items: Vec<Value> = match pairs_value(sorted_pairs(m)) {
                    Value::Named(_, l) => match *l {
                        Value::List(l) => l,
                        _ => Vec::new(),
                    },
                    _ => Vec::new(),
                };
                pair_column(&items, usize::from(name == "Values"))
            }),
            (KV, "Remove", Value::Map(m)) => {
                want_args(name, args, 1).and_then(|()| match &args[0] {
                    Value::Nil => Ok(kv_of(m.clone())),
                    v if v.type_name() == STRINGS => {
                        let drop = string_list(v);
                        let mut kept = m.clone();
                        kept.retain(|k, _| !drop.contains(k));
                        Ok(kv_of(kept))
                    }
                    v => Err(format!(
                        "wrong type for value; expected []string; got {}",
                        v.type_name()
                    )),
                })
            }
            (PAIRS, "Names" | "Values", Value::List(l)) => {
                want_args(name, args, 0).map(|()| pair_column(l, usize::from(name == "Values")))
            }
            _ => return None,
        };
        Some(result)
    }
}

fn kv_of(m: BTreeMap<String, Value>) -> Value {
    Value::named(KV, Value::Map(m))
}

/// A struct field of a (named) struct value.
fn gotemplate_field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    match v.underlying() {
        Value::Struct(f) => f.iter().find(|(n, _)| n == name).map(|(_, v)| v),
        _ => None,
    }
}

/// Why templates do not load or a text does not render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// The default templates and those of a configuration's `templates:` files: what
/// Alertmanager's `template.FromGlobs` builds.
#[derive(Debug, Clone)]
pub struct Templates {
    set: gotemplate::Template,
}

impl Templates {
    /// Only the default templates.
    pub fn defaults() -> Self {
        let mut set = gotemplate::Template::new();
        for (name, text) in [("default.tmpl", DEFAULT_TMPL), ("email.tmpl", EMAIL_TMPL)] {
            if let Err(e) = set.parse(name, text, &AlertmanagerFunctions, &[]) {
                // The default texts are part of this crate and tested to parse.
                unreachable!("default template {name}: {e}");
            }
        }
        Self { set }
    }

    /// The default templates and the files that `patterns` (Go globs, relative ones
    /// against `config_dir`, as Alertmanager resolves them) match, in order; a pattern
    /// that matches nothing is no error. A file's definitions replace earlier ones of the
    /// same name.
    pub fn load(config_dir: &Path, patterns: &[String]) -> Result<Self, Error> {
        let mut t = Self::defaults();
        let base = config_dir.to_string_lossy();
        for p in patterns {
            let path = if Path::new(p).is_absolute() {
                p.clone()
            } else {
                model::glob::join(&base, p)
            };
            let files = model::glob::glob(&path).map_err(|_| {
                Error(format!(
                    "templates: {p:?} is not a valid file pattern (fix its brackets or escapes)"
                ))
            })?;
            for file in files {
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| Error(format!("templates: reading {file}: {e}")))?;
                t.add(&file, &text)?;
            }
        }
        Ok(t)
    }

    /// Parses the text of one template file, named by its path (Go names the file's
    /// own template by its base name).
    pub fn add(&mut self, path: &str, text: &str) -> Result<(), Error> {
        let base = Path::new(path)
            .file_name()
            .map_or_else(|| path.to_owned(), |n| n.to_string_lossy().into_owned());
        self.set
            .parse(&base, text, &AlertmanagerFunctions, &[])
            .map_err(|e| {
                Error(format!(
                    "templates: {path}: {}",
                    e.go_text(&base, text, 0, &base)
                ))
            })
    }

    /// Renders `text` with `data`, as Alertmanager's `ExecuteTextString`: the text may
    /// use and define templates, its definitions seen by it alone.
    pub fn render(&self, text: &str, data: &Data) -> Result<String, Error> {
        self.run(text, data, Escaping::Text)
    }

    /// Renders `text` as Alertmanager's `ExecuteHTMLString` (Go's `html/template`,
    /// approximated: see [`gotemplate::html`]).
    pub fn render_html(&self, text: &str, data: &Data) -> Result<String, Error> {
        self.run(text, data, Escaping::Html)
    }

    fn run(&self, text: &str, data: &Data, escaping: Escaping) -> Result<String, Error> {
        if text.is_empty() {
            return Ok(String::new());
        }
        let mut set = self.set.clone();
        set.parse("", text, &AlertmanagerFunctions, &[])
            .map_err(|e| Error(e.go_text("", text, 0, "")))?;
        set.execute("", &data.value(), &[], &AlertmanagerFunctions, escaping)
            .map_err(|e| Error(set.error_text(&e, "")))
    }
}

/// Our texts of Alertmanager's `default.tmpl`: the same template names, whose output is
/// Alertmanager's to the byte (the layout of the definitions is ours).
const DEFAULT_TMPL: &str = include_str!("template/default.tmpl");

/// Our text of Alertmanager's `email.tmpl`.
const EMAIL_TMPL: &str = include_str!("template/email.tmpl");

#[cfg(test)]
mod tests;
