//! Label sets: sorted, deduplicated name/value pairs identifying a series.

use std::fmt;
use std::sync::Arc;

/// The label holding the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label. Names and values are shared strings: a store holds each distinct string once.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    /// The label's name.
    pub name: Arc<str>,
    /// The label's value; never empty in a [`Labels`].
    pub value: Arc<str>,
}

/// A series' identity: labels sorted by name, names unique, no empty values.
///
/// ```
/// use model::Labels;
///
/// let l = Labels::from_pairs([("job", "node"), ("__name__", "up"), ("zone", "")]);
/// assert_eq!(l.to_string(), r#"up{job="node"}"#);
/// assert_eq!(l.get("zone"), None);
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(Arc<[Label]>);

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
        self.0
            .binary_search_by(|l| (*l.name).cmp(name))
            .ok()
            .map(|i| &*self.0[i].value)
    }

    /// Returns the metric name (`__name__`), if any.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Iterates over the labels in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Label> {
        self.0.iter()
    }

    /// The number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Tells whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Returns a builder starting from these labels.
    pub fn builder(&self) -> LabelsBuilder {
        LabelsBuilder {
            labels: self.0.to_vec(),
        }
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
        for l in self.0.iter().filter(|l| &*l.name != METRIC_NAME) {
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
#[derive(Debug, Clone, Default)]
pub struct LabelsBuilder {
    labels: Vec<Label>,
}

impl LabelsBuilder {
    /// Returns an empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a label; an empty value removes it.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        match self.labels.binary_search_by(|l| (*l.name).cmp(name)) {
            Ok(i) if value.is_empty() => {
                self.labels.remove(i);
            }
            Ok(i) => self.labels[i].value = Arc::from(value),
            Err(_) if value.is_empty() => {}
            Err(i) => self.labels.insert(
                i,
                Label {
                    name: Arc::from(name),
                    value: Arc::from(value),
                },
            ),
        }
        self
    }

    /// Sets a label from shared strings, without copying them.
    pub fn set_shared(&mut self, name: Arc<str>, value: Arc<str>) -> &mut Self {
        match self.labels.binary_search_by(|l| l.name.cmp(&name)) {
            Ok(i) if value.is_empty() => {
                self.labels.remove(i);
            }
            Ok(i) => self.labels[i].value = value,
            Err(_) if value.is_empty() => {}
            Err(i) => self.labels.insert(i, Label { name, value }),
        }
        self
    }

    /// The value of label `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|l| (*l.name).cmp(name))
            .ok()
            .map(|i| &*self.labels[i].value)
    }

    /// The labels set so far, sorted by name.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Label> {
        self.labels.iter()
    }

    /// Removes a label.
    pub fn remove(&mut self, name: &str) -> &mut Self {
        self.labels.retain(|l| &*l.name != name);
        self
    }

    /// Returns the label set.
    pub fn build(&self) -> Labels {
        Labels(self.labels.clone().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_deduplicated_and_without_empty_values() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("b", "3"), ("c", "")]);
        let pairs: Vec<(&str, &str)> = l.iter().map(|l| (&*l.name, &*l.value)).collect();
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
}
