//! Label sets: sorted, deduplicated name/value pairs identifying a series.

use std::fmt;
use std::sync::Arc;

/// The label holding the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label, borrowed from the set that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label<'a> {
    /// The label's name.
    pub name: &'a str,
    /// The label's value; never empty in a [`Labels`].
    pub value: &'a str,
}

/// A series' identity: labels sorted by name, names unique, no empty values.
///
/// The labels are packed into one shared string, each name and value preceded by its
/// length, as Prometheus's `stringlabels` does: a set of six labels takes one allocation of
/// about a hundred bytes rather than an array of twelve string pointers, which is most of
/// what a head series costs. Lengths are written in 6-bit groups below 0x80, so the packed
/// form stays valid UTF-8 and is sliced without copying or unsafe code. Lookups scan, which
/// for the handful of labels a series has is as fast as a binary search.
///
/// ```
/// use model::Labels;
///
/// let l = Labels::from_pairs([("job", "node"), ("__name__", "up"), ("zone", "")]);
/// assert_eq!(l.to_string(), r#"up{job="node"}"#);
/// assert_eq!(l.get("zone"), None);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Labels(Arc<str>);

/// Appends `n` in 6-bit groups, low first, bit 6 set on all but the last: every byte is
/// ASCII.
fn put_len(out: &mut String, mut n: usize) {
    loop {
        let group = (n & 0x3f) as u8;
        n >>= 6;
        if n == 0 {
            out.push(char::from(group));
            return;
        }
        out.push(char::from(group | 0x40));
    }
}

/// Reads a length written by [`put_len`] at `*pos`, moving past it.
fn take_len(packed: &[u8], pos: &mut usize) -> usize {
    let (mut n, mut shift) = (0usize, 0);
    loop {
        let b = packed[*pos];
        *pos += 1;
        n |= usize::from(b & 0x3f) << shift;
        if b & 0x40 == 0 {
            return n;
        }
        shift += 6;
    }
}

/// The labels of a packed set, in order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    packed: &'a str,
    pos: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Label<'a>;

    fn next(&mut self) -> Option<Label<'a>> {
        if self.pos >= self.packed.len() {
            return None;
        }
        let bytes = self.packed.as_bytes();
        let mut pos = self.pos;
        let n = take_len(bytes, &mut pos);
        let name = &self.packed[pos..pos + n];
        pos += n;
        let n = take_len(bytes, &mut pos);
        let value = &self.packed[pos..pos + n];
        self.pos = pos + n;
        Some(Label { name, value })
    }
}

impl Default for Labels {
    fn default() -> Self {
        Self(Arc::from(""))
    }
}

impl Labels {
    /// Returns the empty label set.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Builds a label set from pairs: sorted by name, later duplicates win, empty values
    /// dropped.
    pub fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut b = LabelsBuilder::new();
        for (n, v) in pairs {
            b.set(n.as_ref(), v.as_ref());
        }
        b.build()
    }

    /// Returns the value of the named label, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .take_while(|l| l.name <= name)
            .find(|l| l.name == name)
            .map(|l| l.value)
    }

    /// Returns the metric name (`__name__`), if any.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Iterates over the labels in name order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            packed: &self.0,
            pos: 0,
        }
    }

    /// The number of labels.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Tells whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Returns a builder starting from these labels.
    pub fn builder(&self) -> LabelsBuilder {
        let mut b = LabelsBuilder::new();
        for l in self.iter() {
            b.push_sorted(l.name, l.value);
        }
        b
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = Label<'a>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Orders label sets label by label, as Prometheus does (not by their packed bytes).
impl Ord for Labels {
    /// Label by label, names then values, as Prometheus orders label sets. The labels that
    /// lie wholly before the first byte where the two packed sets differ are the same in
    /// both (the lengths before them are too), so the comparison starts at the label holding
    /// that byte: sorting series of one metric no longer compares their shared labels.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        if a == b {
            return std::cmp::Ordering::Equal;
        }
        let differs = a
            .iter()
            .zip(b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        let mut skip = self.iter();
        let mut start = 0;
        while skip.next().is_some() && skip.pos <= differs {
            start = skip.pos;
        }
        let from = |packed| Iter { packed, pos: start };
        from(&self.0[..]).cmp(from(&other.0[..]))
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Formats as PromQL does: `name{a="1",b="2"}`, values escaped.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for l in self.iter().filter(|l| l.name != METRIC_NAME) {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{}=\"", l.name)?;
            for c in l.value.chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '"' => f.write_str("\\\"")?,
                    '\n' => f.write_str("\\n")?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

/// Builds a [`Labels`] by setting and removing labels.
///
/// Names and values are copied end to end into one buffer, so setting a label allocates
/// nothing once the buffer has grown; [`LabelsBuilder::build`] packs the result in one
/// allocation.
#[derive(Debug, Clone, Default)]
pub struct LabelsBuilder {
    text: String,
    /// Each label's name and value as ranges of `text`, sorted by name.
    labels: Vec<(Span, Span)>,
}

#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

impl LabelsBuilder {
    /// Returns an empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    fn str(&self, span: Span) -> &str {
        &self.text[span.start..span.end]
    }

    fn copy(&mut self, s: &str) -> Span {
        let start = self.text.len();
        self.text.push_str(s);
        Span {
            start,
            end: self.text.len(),
        }
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.labels
            .binary_search_by(|&(n, _)| self.str(n).cmp(name))
    }

    /// Appends a label known to sort after every label set so far.
    fn push_sorted(&mut self, name: &str, value: &str) {
        let label = (self.copy(name), self.copy(value));
        self.labels.push(label);
    }

    /// Sets a label; an empty value removes it.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        match self.find(name) {
            Ok(i) if value.is_empty() => {
                self.labels.remove(i);
            }
            Ok(i) => self.labels[i].1 = self.copy(value),
            Err(_) if value.is_empty() => {}
            Err(i) => {
                let label = (self.copy(name), self.copy(value));
                self.labels.insert(i, label);
            }
        }
        self
    }

    /// The value of label `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.find(name).ok().map(|i| self.str(self.labels[i].1))
    }

    /// The labels set so far, sorted by name.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Label<'_>> {
        self.labels.iter().map(|&(n, v)| Label {
            name: self.str(n),
            value: self.str(v),
        })
    }

    /// Removes a label.
    pub fn remove(&mut self, name: &str) -> &mut Self {
        if let Ok(i) = self.find(name) {
            self.labels.remove(i);
        }
        self
    }

    /// Returns the label set.
    pub fn build(&self) -> Labels {
        let size = self
            .labels
            .iter()
            .map(|&(n, v)| n.end - n.start + v.end - v.start + 2)
            .sum();
        let mut packed = String::with_capacity(size);
        for l in self.iter() {
            put_len(&mut packed, l.name.len());
            packed.push_str(l.name);
            put_len(&mut packed, l.value.len());
            packed.push_str(l.value);
        }
        Labels(Arc::from(packed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_deduplicated_and_without_empty_values() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("b", "3"), ("c", "")]);
        let pairs: Vec<(&str, &str)> = l.iter().map(|l| (l.name, l.value)).collect();
        assert_eq!(pairs, [("a", "1"), ("b", "3")]);
        let mut b = l.builder();
        b.set("a", "").set("d", "4");
        assert_eq!(b.build(), Labels::from_pairs([("b", "3"), ("d", "4")]));
    }

    #[test]
    fn display_escapes_values() {
        let l = Labels::from_pairs([("__name__", "m"), ("x", "a\"b\\c\nd")]);
        assert_eq!(l.to_string(), r#"m{x="a\"b\\c\nd"}"#);
        assert_eq!(Labels::from_pairs([("a", "1")]).to_string(), r#"{a="1"}"#);
    }

    #[test]
    fn long_names_and_values_round_trip_and_order_label_by_label() {
        let long = "v".repeat(70_000);
        let l = Labels::from_pairs([("a", long.as_str()), ("b", "é\u{1F600}"), ("", "x")]);
        assert_eq!(l.get("a"), Some(long.as_str()));
        assert_eq!(l.get("b"), Some("é\u{1F600}"));
        assert_eq!(l.get(""), Some("x"));
        assert_eq!(l.len(), 3);
        // "a" sorts before "ab" although its packed form (a longer value) would not.
        let short_name = Labels::from_pairs([("a", "zz")]);
        let long_name = Labels::from_pairs([("ab", "a")]);
        assert!(short_name < long_name);
        assert!(Labels::empty() < short_name);
        assert_eq!(l.builder().build(), l);
    }

    #[test]
    fn ordering_agrees_with_comparing_every_label() {
        // Sets that share prefixes, differ in a name, a value, a length (across the one-
        // and two-byte length forms) or their number of labels.
        let long = "x".repeat(100);
        let longer = "x".repeat(101);
        let values = ["", "a", "ab", "b", long.as_str(), longer.as_str()];
        let mut sets = Vec::new();
        for v1 in values {
            for v2 in values {
                sets.push(Labels::from_pairs([
                    ("__name__", "m"),
                    ("a", v1),
                    ("b", v2),
                ]));
                sets.push(Labels::from_pairs([
                    ("__name__", "m"),
                    ("ab", v1),
                    ("c", v2),
                ]));
                sets.push(Labels::from_pairs([("__name__", v1), ("job", v2)]));
            }
        }
        for x in &sets {
            for y in &sets {
                assert_eq!(x.cmp(y), x.iter().cmp(y.iter()), "{x} vs {y}");
            }
        }
    }
}
