//! YAML read as Prometheus and Alertmanager read it, for every file Skywatch reads.
//!
//! The files users bring were written for Go's YAML packages, which differ from a strict
//! reading of YAML in two ways that real files depend on:
//!
//! - **A null is the zero value.** `rule_files:` followed only by comments, `labels:` with
//!   nothing under it, `severity:` with no value: Go reads the empty list, the empty map
//!   and the empty string. serde would refuse each (`expected sequence start`). [`from_str`]
//!   puts one adapter between serde-saphyr and the type being read, so every list, map,
//!   struct, string, number and boolean of every file takes a null as its zero value;
//!   `Option`s still read it as `None`.
//! - **Only the first document counts.** `yaml.Unmarshal` reads the first document of a
//!   stream and ignores the rest; so does [`from_str`].
//!
//! Everything else is serde-saphyr's: errors name the line and column, `Spanned` values
//! keep their positions, and the nesting depth and alias expansion are bounded.

use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, Visitor};

pub use serde_saphyr::{Error, Location, Spanned};

/// Reads the first YAML document of `text` into a `T`, taking nulls as zero values; an
/// empty document (nothing, or only comments) reads as a null.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    match read::<T>(text) {
        Ok(value) => Ok(value),
        Err(e) => match e.without_snippet() {
            Error::MultipleDocuments { location, .. } => {
                let first = first_document(text, *location);
                read::<T>(first)
            }
            _ => Err(e),
        },
    }
}

fn read<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    // Comments are skipped, not kept as events: kept, a long commented-out block (as
    // Prometheus's example configurations have) overflows the parser's look-ahead.
    let options = serde_saphyr::options! { emit_comments: false };
    serde_saphyr::from_str_with_options::<GoYaml<T>>(text, options).map(|GoYaml(value)| value)
}

/// Writes `value` as one YAML document (block style, strings quoted where YAML would
/// otherwise read them as another type), for the files Skywatch generates for
/// Prometheus, Alertmanager, Grafana and Kubernetes to read.
pub fn to_string<T: serde::Serialize>(value: &T) -> Result<String, serde_saphyr::SerializeError> {
    serde_saphyr::to_string(value)
}

/// The documents of a stream, each with the line (1-based) its text starts on: the text
/// split at `---` lines (a `...` line ends a document too); documents holding nothing but
/// comments and blank lines are left out. For files that hold several objects, as
/// OpenSLO's do; each document is then read with [`from_str`].
pub fn documents(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let (mut start, mut start_line, mut at) = (0, 1, 0);
    let mut push = |from: usize, to: usize, line: usize| {
        let doc = &text[from..to];
        let meaningful = doc.lines().any(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#') && !t.starts_with('%')
        });
        if meaningful {
            out.push((line, doc));
        }
    };
    for (n, l) in text.split_inclusive('\n').enumerate() {
        let marker = l.starts_with("---") || l.starts_with("...");
        if marker && (l.len() == 3 || l[3..].starts_with(char::is_whitespace)) {
            push(start, at, start_line);
            if l[3..].trim().is_empty() {
                start = at + l.len();
                start_line = n + 2;
            } else {
                // A `--- ` line may carry the document's first node; keep it, without
                // the marker.
                start = at + 3;
                start_line = n + 1;
            }
        }
        at += l.len();
    }
    push(start, text.len(), start_line);
    out
}

/// The text of the first document: everything before the line of the second document's
/// start, where serde-saphyr stopped.
fn first_document(text: &str, second: Location) -> &str {
    let line = usize::try_from(second.line()).unwrap_or(usize::MAX);
    // The second document starts at or after a `---` line; cut at the last such line at
    // or before the reported one, so that a document end (`...`) is kept too.
    let mut start = 0;
    let mut cut = text.len();
    for (n, l) in text.split_inclusive('\n').enumerate() {
        if n + 1 > line {
            break;
        }
        if n > 0 && (l.starts_with("---") || l.starts_with("...")) {
            let rest = &l[3..];
            if rest.is_empty() || rest.starts_with(char::is_whitespace) {
                cut = start;
            }
        }
        start += l.len();
    }
    &text[..cut]
}

/// A `T` read through [`Nullable`].
struct GoYaml<T>(T);

impl<'de, T: de::Deserialize<'de>> de::Deserialize<'de> for GoYaml<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(Nullable::value(d)).map(GoYaml)
    }
}

/// A deserializer that reads a null as the zero value of what is asked for, and wraps
/// every deserializer it hands out (elements, entries, variants) the same way.
struct Nullable<D> {
    de: D,
    /// Whether this is an entry of a list.
    entry: bool,
}

impl<D> Nullable<D> {
    fn value(de: D) -> Self {
        Self { de, entry: false }
    }
}

/// What was asked for, to give its zero value for a null and ask again otherwise.
#[derive(Clone, Copy)]
enum Ask {
    Bool,
    I64,
    U64,
    F64,
    Str,
    Seq,
    Map,
    Struct(&'static str, &'static [&'static str]),
}

macro_rules! via_option {
    ($($method:ident => $ask:expr),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            self.de.deserialize_option(OrZero { visitor, ask: $ask, entry: self.entry })
        }
    )*};
}

macro_rules! forward {
    ($($method:ident),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            self.de.$method(Wrap(visitor))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Nullable<D> {
    type Error = D::Error;

    via_option! {
        deserialize_bool => Ask::Bool,
        deserialize_i8 => Ask::I64,
        deserialize_i16 => Ask::I64,
        deserialize_i32 => Ask::I64,
        deserialize_i64 => Ask::I64,
        deserialize_i128 => Ask::I64,
        deserialize_u8 => Ask::U64,
        deserialize_u16 => Ask::U64,
        deserialize_u32 => Ask::U64,
        deserialize_u64 => Ask::U64,
        deserialize_u128 => Ask::U64,
        deserialize_f32 => Ask::F64,
        deserialize_f64 => Ask::F64,
        deserialize_str => Ask::Str,
        deserialize_string => Ask::Str,
        deserialize_seq => Ask::Seq,
        deserialize_map => Ask::Map,
    }

    forward! {
        deserialize_any,
        deserialize_char,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_unit,
        deserialize_identifier,
        deserialize_ignored_any,
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.de.deserialize_option(Wrap(visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        // The positions serde-saphyr gives a `Spanned` value come from its own
        // deserializers, which answer only this request.
        if matches!(name, "Location" | "Span") {
            return self.de.deserialize_struct(name, fields, Wrap(visitor));
        }
        self.de.deserialize_option(OrZero {
            visitor,
            ask: Ask::Struct(name, fields),
            entry: self.entry,
        })
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.de.deserialize_unit_struct(name, Wrap(visitor))
    }

    // serde-saphyr's own wrappers (`Spanned`) are newtype structs it recognises by name:
    // passed on as they are.
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.de.deserialize_newtype_struct(name, Wrap(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.de.deserialize_tuple(len, Wrap(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.de.deserialize_tuple_struct(name, len, Wrap(visitor))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.de.deserialize_enum(name, variants, Wrap(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

/// Answers `deserialize_option` for a request that is not an option: a null gives the
/// zero value of `ask`, anything else is asked for again.
struct OrZero<V> {
    visitor: V,
    ask: Ask,
    entry: bool,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for OrZero<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        if self.entry && matches!(self.ask, Ask::Map | Ask::Struct(..)) {
            return Err(E::custom(
                "an empty or null entry in a list; remove the `-` or write the entry under it",
            ));
        }
        let v = self.visitor;
        match self.ask {
            Ask::Bool => v.visit_bool(false),
            Ask::I64 => v.visit_i64(0),
            Ask::U64 => v.visit_u64(0),
            Ask::F64 => v.visit_f64(0.0),
            Ask::Str => v.visit_str(""),
            Ask::Seq => v.visit_seq(de::value::SeqDeserializer::new(std::iter::empty::<()>())),
            Ask::Map | Ask::Struct(..) => v.visit_map(de::value::MapDeserializer::new(
                std::iter::empty::<((), ())>(),
            )),
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.visit_none()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        let v = Wrap(self.visitor);
        match self.ask {
            Ask::Bool => d.deserialize_bool(v),
            Ask::I64 => d.deserialize_i64(v),
            Ask::U64 => d.deserialize_u64(v),
            Ask::F64 => d.deserialize_f64(v),
            Ask::Str => d.deserialize_string(v),
            Ask::Seq => d.deserialize_seq(v),
            Ask::Map => d.deserialize_map(v),
            Ask::Struct(name, fields) => d.deserialize_struct(name, fields, v),
        }
    }

    // A deserializer may answer `deserialize_option` with the value itself.
    fn visit_bool<E: de::Error>(self, x: bool) -> Result<V::Value, E> {
        self.visitor.visit_bool(x)
    }
    fn visit_i64<E: de::Error>(self, x: i64) -> Result<V::Value, E> {
        self.visitor.visit_i64(x)
    }
    fn visit_u64<E: de::Error>(self, x: u64) -> Result<V::Value, E> {
        self.visitor.visit_u64(x)
    }
    fn visit_f64<E: de::Error>(self, x: f64) -> Result<V::Value, E> {
        self.visitor.visit_f64(x)
    }
    fn visit_str<E: de::Error>(self, x: &str) -> Result<V::Value, E> {
        self.visitor.visit_str(x)
    }
    fn visit_borrowed_str<E: de::Error>(self, x: &'de str) -> Result<V::Value, E> {
        self.visitor.visit_borrowed_str(x)
    }
    fn visit_string<E: de::Error>(self, x: String) -> Result<V::Value, E> {
        self.visitor.visit_string(x)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_seq(WrapSeq(seq))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_map(WrapMap(map))
    }
}

/// A visitor whose nested deserializers are [`Nullable`].
struct Wrap<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.expecting(f)
    }
    fn visit_bool<E: de::Error>(self, x: bool) -> Result<V::Value, E> {
        self.0.visit_bool(x)
    }
    fn visit_i64<E: de::Error>(self, x: i64) -> Result<V::Value, E> {
        self.0.visit_i64(x)
    }
    fn visit_i128<E: de::Error>(self, x: i128) -> Result<V::Value, E> {
        self.0.visit_i128(x)
    }
    fn visit_u64<E: de::Error>(self, x: u64) -> Result<V::Value, E> {
        self.0.visit_u64(x)
    }
    fn visit_u128<E: de::Error>(self, x: u128) -> Result<V::Value, E> {
        self.0.visit_u128(x)
    }
    fn visit_f64<E: de::Error>(self, x: f64) -> Result<V::Value, E> {
        self.0.visit_f64(x)
    }
    fn visit_char<E: de::Error>(self, x: char) -> Result<V::Value, E> {
        self.0.visit_char(x)
    }
    fn visit_str<E: de::Error>(self, x: &str) -> Result<V::Value, E> {
        self.0.visit_str(x)
    }
    fn visit_borrowed_str<E: de::Error>(self, x: &'de str) -> Result<V::Value, E> {
        self.0.visit_borrowed_str(x)
    }
    fn visit_string<E: de::Error>(self, x: String) -> Result<V::Value, E> {
        self.0.visit_string(x)
    }
    fn visit_bytes<E: de::Error>(self, x: &[u8]) -> Result<V::Value, E> {
        self.0.visit_bytes(x)
    }
    fn visit_borrowed_bytes<E: de::Error>(self, x: &'de [u8]) -> Result<V::Value, E> {
        self.0.visit_borrowed_bytes(x)
    }
    fn visit_byte_buf<E: de::Error>(self, x: Vec<u8>) -> Result<V::Value, E> {
        self.0.visit_byte_buf(x)
    }
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_none()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.0.visit_some(Nullable::value(d))
    }
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit()
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.0.visit_newtype_struct(Nullable::value(d))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(WrapSeq(seq))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(WrapMap(map))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.0.visit_enum(WrapEnum(data))
    }
}

/// A seed that reads through [`Nullable`]: a value, or an entry of a list.
struct WrapSeed<S> {
    seed: S,
    entry: bool,
}

impl<S> WrapSeed<S> {
    fn value(seed: S) -> Self {
        Self { seed, entry: false }
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for WrapSeed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(Nullable {
            de,
            entry: self.entry,
        })
    }
}

struct WrapSeq<A>(A);

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for WrapSeq<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(WrapSeed { seed, entry: true })
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

struct WrapMap<A>(A);

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for WrapMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(WrapSeed::value(seed))
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.0.next_value_seed(WrapSeed::value(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

struct WrapEnum<A>(A);

impl<'de, A: de::EnumAccess<'de>> de::EnumAccess<'de> for WrapEnum<A> {
    type Error = A::Error;
    type Variant = WrapVariant<A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), A::Error> {
        self.0
            .variant_seed(WrapSeed::value(seed))
            .map(|(v, variant)| (v, WrapVariant(variant)))
    }
}

struct WrapVariant<A>(A);

impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for WrapVariant<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.0.newtype_variant_seed(WrapSeed::value(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, Wrap(visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.struct_variant(fields, Wrap(visitor))
    }
}

#[cfg(test)]
mod tests {

    #![allow(
        clippy::unwrap_used,
        reason = "a failed unwrap in a test is a test failure with a backtrace"
    )]

    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        rule_files: Vec<String>,
        #[serde(default)]
        global: Global,
        #[serde(default)]
        jobs: Vec<Job>,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Global {
        labels: BTreeMap<String, String>,
        interval: Option<String>,
        limit: u64,
        honor: bool,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Job {
        name: Spanned<String>,
        #[serde(default)]
        targets: Vec<String>,
    }

    #[test]
    fn nulls_are_zero_values_as_go_reads_them() {
        let f: File = from_str(
            "rule_files:\n  # - a.yml\nglobal:\n  labels:\n    team:\n    env: prod\n  interval:\n  limit:\n  honor:\njobs:\n  - name: a\n    targets:\n",
        )
        .unwrap();
        assert!(f.rule_files.is_empty());
        assert_eq!(f.global.labels["team"], "");
        assert_eq!(f.global.labels["env"], "prod");
        assert_eq!(f.global.interval, None, "an Option stays None");
        assert_eq!((f.global.limit, f.global.honor), (0, false));
        assert_eq!(f.jobs[0].name.value, "a");
        assert_eq!(f.jobs[0].name.referenced.line(), 11, "positions are kept");
        assert!(f.jobs[0].targets.is_empty());

        let nothing: File = from_str("global:\n").unwrap();
        assert_eq!(nothing, File::default());
        for empty in ["", "# only a comment\n", "null\n", "~", "---\n"] {
            assert_eq!(
                from_str::<File>(empty).unwrap(),
                File::default(),
                "{empty:?}"
            );
        }
    }

    #[test]
    fn booleans_and_strings_as_go_reads_them() {
        // A string stays as written (`expr: y` is the metric y); a boolean takes YAML
        // 1.1's words too, as Go's yaml.v2 and (into a bool) yaml.v3 do.
        #[derive(Deserialize)]
        struct T {
            s: Vec<String>,
            b: Vec<bool>,
        }
        let t: T =
            from_str("s: [y, yes, on, no, off, 'true']\nb: [yes, on, y, no, off, n, True]\n")
                .unwrap();
        assert_eq!(t.s, ["y", "yes", "on", "no", "off", "true"]);
        assert_eq!(t.b, [true, true, true, false, false, false, true]);
    }

    #[test]
    fn quoted_and_written_values_are_not_nulls() {
        let g: Global =
            from_str("labels:\n  a: ''\n  b: 'null'\ninterval: 5s\nlimit: 7\n").unwrap();
        assert_eq!(g.labels["a"], "");
        assert_eq!(g.labels["b"], "null");
        assert_eq!(g.interval.as_deref(), Some("5s"));
        assert_eq!(g.limit, 7);
    }

    #[test]
    fn long_comments_are_read_past() {
        let mut text = String::from("rule_files:\n");
        for n in 0..500 {
            text.push_str(&format!("  # - commented_out_{n}.yml\n"));
        }
        text.push_str("  - kept.yml\n");
        assert_eq!(from_str::<File>(&text).unwrap().rule_files, ["kept.yml"]);
    }

    #[test]
    fn only_the_first_document_is_read() {
        let f: File = from_str("rule_files: [a]\n---\nnot: [valid, for, File\n").unwrap();
        assert_eq!(f.rule_files, ["a"]);
        let ended: File = from_str("rule_files: [b]\n...\n---\nrule_files: [c]\n").unwrap();
        assert_eq!(ended.rule_files, ["b"]);
        let leading: File = from_str("---\nrule_files: [d]\n---\nrule_files: [e]\n").unwrap();
        assert_eq!(leading.rule_files, ["d"]);
    }

    #[test]
    fn mistakes_still_name_the_line_and_key() {
        let unknown = from_str::<File>("global:\n  limt: 3\n")
            .unwrap_err()
            .to_string();
        assert!(
            unknown.contains("limt") && unknown.contains('2'),
            "{unknown}"
        );
        let wrong = from_str::<File>("jobs:\n  - name: a\n    targets: 5\n")
            .unwrap_err()
            .to_string();
        assert!(wrong.contains('3'), "{wrong}");
        let missing = from_str::<File>("jobs:\n  - targets: []\n")
            .unwrap_err()
            .to_string();
        assert!(missing.contains("name"), "{missing}");
        let null_entry = from_str::<File>("jobs:\n  -\n").unwrap_err().to_string();
        assert!(
            null_entry.contains("an empty or null entry in a list"),
            "{null_entry}"
        );
        let strings: Vec<String> = from_str("- a\n-\n").unwrap();
        assert_eq!(
            strings,
            ["a", ""],
            "a null string entry is the empty string, as in Go"
        );
    }

    #[test]
    fn documents_split_at_markers_with_their_lines() {
        let text = "# header\n---\na: 1\n---\n# only a comment\n---\nb: 2\n...\n";
        let docs = documents(text);
        assert_eq!(docs, [(3, "a: 1\n"), (7, "b: 2\n")]);
        assert_eq!(documents("--- a: 1\n"), [(1, " a: 1\n")]);
        assert_eq!(documents("a: 1\n"), [(1, "a: 1\n")]);
        let v: std::collections::BTreeMap<String, i64> = from_str(docs[1].1).unwrap();
        assert_eq!(v["b"], 2);
    }
}
