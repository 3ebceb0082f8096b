//! Relabelling, as Prometheus's `relabel_configs` and `metric_relabel_configs` do it.
//!
//! A list of [`RelabelConfig`]s runs in order over a label set; `keep`, `drop`,
//! `keepequal` and `dropequal` can drop the whole set, the other actions rewrite labels.
//! Regexes are anchored at both ends and `.` matches newlines, as in Prometheus; a
//! replacement expands `$1`, `${1}` and `${name}`.

use md5::{Digest, Md5};
use model::LabelsBuilder;
use serde::Deserialize;

/// One relabelling step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawRelabelConfig")]
pub struct RelabelConfig {
    /// The labels whose values, joined by `separator`, the step reads.
    pub source_labels: Vec<String>,
    /// What joins the source values.
    pub separator: String,
    /// The label the step writes (`replace`, `hashmod`, ...) or compares with.
    pub target_label: String,
    /// The pattern, anchored.
    pub regex: Regex,
    /// The modulus of `hashmod`.
    pub modulus: u64,
    /// What `replace` and `labelmap` write, with `$1`-style references.
    pub replacement: String,
    /// What the step does.
    pub action: Action,
}

/// The relabelling actions, written in any case (Prometheus lowercases the name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Write `replacement` to `target_label` if `regex` matches the source value.
    Replace,
    /// Keep the set only if `regex` matches the source value.
    Keep,
    /// Drop the set if `regex` matches the source value.
    Drop,
    /// Keep the set only if the source value equals `target_label`'s value.
    KeepEqual,
    /// Drop the set if the source value equals `target_label`'s value.
    DropEqual,
    /// Write the MD5 of the source value modulo `modulus` to `target_label`.
    HashMod,
    /// Copy the labels whose names match `regex` to names made from `replacement`.
    LabelMap,
    /// Remove the labels whose names match `regex`.
    LabelDrop,
    /// Remove the labels whose names do not match `regex`.
    LabelKeep,
    /// Write the source value in lower case to `target_label`.
    Lowercase,
    /// Write the source value in upper case to `target_label`.
    Uppercase,
}

/// A regex as relabelling writes them: anchored, `.` matching newlines.
#[derive(Debug, Clone)]
pub struct Regex {
    /// As written.
    pub source: String,
    compiled: regex::Regex,
}

impl Regex {
    /// Compiles `source` anchored at both ends.
    pub fn new(source: &str) -> Result<Self, String> {
        regex::Regex::new(&format!("^(?s:{source})$"))
            .map(|compiled| Self {
                source: source.to_owned(),
                compiled,
            })
            .map_err(|e| format!("invalid regex {source:?}: {e}"))
    }

    /// Whether the whole of `s` matches.
    pub fn is_match(&self, s: &str) -> bool {
        self.compiled.is_match(s)
    }
}

impl PartialEq for Regex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

const DEFAULT_REGEX: &str = "(.*)";
const DEFAULT_SEPARATOR: &str = ";";
const DEFAULT_REPLACEMENT: &str = "$1";

/// A relabel step as written, before the rules of its action are checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelabelConfig {
    #[serde(default)]
    source_labels: Vec<String>,
    separator: Option<String>,
    #[serde(default)]
    target_label: String,
    regex: Option<String>,
    #[serde(default)]
    modulus: u64,
    replacement: Option<String>,
    #[serde(default = "default_action", deserialize_with = "any_case")]
    action: Action,
}

fn default_action() -> Action {
    Action::Replace
}

/// An action's name in any case: `Replace` is `replace`, as Prometheus reads it.
fn any_case<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Action, D::Error> {
    use serde::de::IntoDeserializer as _;
    let text = String::deserialize(d)?;
    Action::deserialize(text.to_ascii_lowercase().into_deserializer())
        .map_err(|e: serde::de::value::Error| serde::de::Error::custom(e))
}

impl TryFrom<RawRelabelConfig> for RelabelConfig {
    type Error = String;

    /// Applies Prometheus's checks of a relabel step, with its wording where it has one.
    fn try_from(raw: RawRelabelConfig) -> Result<Self, String> {
        let action = raw.action;
        let name = format!("{action:?}").to_lowercase();
        for l in &raw.source_labels {
            crate::config::check_label_name(l).map_err(|e| format!("source_labels: {e}"))?;
        }
        let needs_target = matches!(
            action,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if needs_target && raw.target_label.is_empty() {
            return Err(format!(
                "relabel configuration for {name} action requires 'target_label' value"
            ));
        }
        let templated = action == Action::Replace && raw.target_label.contains('$');
        if needs_target && !templated {
            crate::config::check_label_name(&raw.target_label)
                .map_err(|e| format!("target_label: {e}"))?;
        }
        if action == Action::HashMod && raw.modulus == 0 {
            return Err("relabel configuration for hashmod requires non-zero modulus".into());
        }
        let label_set_action = matches!(action, Action::LabelDrop | Action::LabelKeep);
        if label_set_action
            && (!raw.source_labels.is_empty()
                || !raw.target_label.is_empty()
                || raw.modulus != 0
                || raw.separator.is_some()
                || raw.replacement.is_some())
        {
            return Err(format!(
                "{name} action requires only 'regex', and no other fields"
            ));
        }
        if matches!(action, Action::KeepEqual | Action::DropEqual)
            && (raw.regex.is_some()
                || raw.modulus != 0
                || raw.separator.is_some()
                || raw.replacement.is_some())
        {
            return Err(format!(
                "{name} action requires only 'source_labels' and 'target_label', and no other fields"
            ));
        }
        if matches!(action, Action::Lowercase | Action::Uppercase)
            && raw
                .replacement
                .as_deref()
                .is_some_and(|r| r != DEFAULT_REPLACEMENT)
        {
            return Err(format!("'replacement' can not be set for {name} action"));
        }
        if action == Action::LabelMap
            && let Some(replacement) = &raw.replacement
            && !is_relabel_target(replacement)
        {
            return Err(format!(
                "{replacement:?} is invalid 'replacement' for labelmap action; it must make a label name, such as $1 or prefix_${{1}}"
            ));
        }
        let regex = Regex::new(raw.regex.as_deref().unwrap_or(DEFAULT_REGEX))?;
        Ok(RelabelConfig {
            source_labels: raw.source_labels,
            separator: raw
                .separator
                .unwrap_or_else(|| DEFAULT_SEPARATOR.to_owned()),
            target_label: raw.target_label,
            regex,
            modulus: raw.modulus,
            replacement: raw
                .replacement
                .unwrap_or_else(|| DEFAULT_REPLACEMENT.to_owned()),
            action,
        })
    }
}

/// Whether `s` can make a label name once its `$1` and `${name}` references are
/// expanded: Prometheus's `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$`, that is a
/// non-empty run of letters, `_`, digits (not first) and references.
fn is_relabel_target(s: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut rest = s;
    let mut first = true;
    while let Some(c) = rest.chars().next() {
        if c == '$' {
            let after = &rest[1..];
            let len = if let Some(inner) = after.strip_prefix('{') {
                match inner.find('}') {
                    Some(end) if end > 0 && inner[..end].chars().all(word) => end + 2,
                    _ => return false,
                }
            } else {
                match after.find(|c: char| !word(c)).unwrap_or(after.len()) {
                    0 => return false,
                    n => n,
                }
            };
            rest = &after[len..];
        } else if c.is_ascii_alphabetic() || c == '_' || (!first && c.is_ascii_digit()) {
            rest = &rest[1..];
        } else {
            return false;
        }
        first = false;
    }
    !first
}

/// Runs `configs` in order over `labels`; `false` if a step dropped the set.
pub fn relabel(configs: &[RelabelConfig], labels: &mut LabelsBuilder) -> bool {
    configs.iter().all(|c| c.apply(labels))
}

impl RelabelConfig {
    /// Runs this step; `false` if it drops the set.
    pub fn apply(&self, labels: &mut LabelsBuilder) -> bool {
        let value = self
            .source_labels
            .iter()
            .map(|n| labels.get(n).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(&self.separator);
        match self.action {
            Action::Keep => return self.regex.is_match(&value),
            Action::Drop => return !self.regex.is_match(&value),
            Action::KeepEqual => {
                return labels.get(&self.target_label).unwrap_or("") == value;
            }
            Action::DropEqual => {
                return labels.get(&self.target_label).unwrap_or("") != value;
            }
            Action::Replace => {
                let Some(caps) = self.regex.compiled.captures(&value) else {
                    return true;
                };
                let mut target = String::new();
                caps.expand(&self.target_label, &mut target);
                if crate::config::check_label_name(&target).is_err() {
                    return true;
                }
                let mut replaced = String::new();
                caps.expand(&self.replacement, &mut replaced);
                // An empty value removes the label.
                labels.set(&target, &replaced);
            }
            Action::Lowercase => {
                labels.set(&self.target_label, &value.to_lowercase());
            }
            Action::Uppercase => {
                labels.set(&self.target_label, &value.to_uppercase());
            }
            Action::HashMod => {
                let digest = Md5::digest(value.as_bytes());
                // The last eight bytes, big-endian, as Prometheus takes them.
                let mut tail = [0u8; 8];
                tail.copy_from_slice(&digest[8..16]);
                let m = u64::from_be_bytes(tail) % self.modulus;
                labels.set(&self.target_label, &m.to_string());
            }
            Action::LabelMap => {
                let matching: Vec<(String, String)> = labels
                    .iter()
                    .filter(|l| self.regex.is_match(l.name))
                    .map(|l| (l.name.to_string(), l.value.to_string()))
                    .collect();
                for (name, value) in matching {
                    let renamed = self
                        .regex
                        .compiled
                        .replace_all(&name, self.replacement.as_str());
                    labels.set(&renamed, &value);
                }
            }
            Action::LabelDrop | Action::LabelKeep => {
                let drop = self.action == Action::LabelDrop;
                let names: Vec<String> = labels
                    .iter()
                    .filter(|l| self.regex.is_match(l.name) == drop)
                    .map(|l| l.name.to_string())
                    .collect();
                for name in names {
                    labels.remove(&name);
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labelmap_replacements_must_make_label_names() {
        for good in ["$1", "${1}", "prefix_$1", "a${name}b", "x9", "_"] {
            assert!(is_relabel_target(good), "{good}");
        }
        for bad in ["l-$1", "", "9x", "$", "${}", "a b", "${1"] {
            assert!(!is_relabel_target(bad), "{bad}");
        }
    }
    use model::Labels;

    fn step(yaml: &str) -> RelabelConfig {
        yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
    }

    fn run(yaml: &str, labels: &[(&str, &str)]) -> Option<Labels> {
        let configs: Vec<RelabelConfig> =
            yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
        let mut b = Labels::from_pairs(labels.iter().copied()).builder();
        relabel(&configs, &mut b).then(|| b.build())
    }

    #[test]
    fn replace_writes_expanded_captures_and_removes_on_empty() {
        let got = run(
            "- source_labels: [__address__]\n  regex: '(.*):(\\d+)'\n  target_label: port\n  replacement: '${2}'\n",
            &[("__address__", "node-1:9100")],
        );
        assert_eq!(
            got,
            Some(Labels::from_pairs([
                ("__address__", "node-1:9100"),
                ("port", "9100")
            ]))
        );
        // Default regex and replacement copy the joined source values.
        let got = run(
            "- source_labels: [a, b]\n  target_label: ab\n",
            &[("a", "x"), ("b", "y")],
        );
        assert_eq!(got.unwrap().get("ab"), Some("x;y"));
        // An empty replacement removes the target; no match leaves it alone.
        let got = run(
            "- source_labels: [a]\n  regex: x\n  target_label: a\n  replacement: ''\n- source_labels: [b]\n  regex: nomatch\n  target_label: b\n  replacement: z\n",
            &[("a", "x"), ("b", "y")],
        );
        assert_eq!(got, Some(Labels::from_pairs([("b", "y")])));
        // A templated target label.
        let got = run(
            "- source_labels: [kind]\n  regex: '(.*)'\n  target_label: 'is_$1'\n  replacement: 'yes'\n",
            &[("kind", "validator")],
        );
        assert_eq!(got.unwrap().get("is_validator"), Some("yes"));
    }

    #[test]
    fn keep_drop_and_their_equal_forms_filter() {
        let keep = "- source_labels: [__name__]\n  regex: 'p2p_.*'\n  action: keep\n";
        assert!(run(keep, &[("__name__", "p2p_peers")]).is_some());
        assert!(run(keep, &[("__name__", "tasks_total")]).is_none());
        let drop = "- source_labels: [__name__]\n  regex: 'go_.*'\n  action: drop\n";
        assert!(run(drop, &[("__name__", "go_threads")]).is_none());
        let keepequal = "- source_labels: [a]\n  target_label: b\n  action: keepequal\n";
        assert!(run(keepequal, &[("a", "1"), ("b", "1")]).is_some());
        assert!(run(keepequal, &[("a", "1"), ("b", "2")]).is_none());
        let dropequal = "- source_labels: [a]\n  target_label: b\n  action: dropequal\n";
        assert!(run(dropequal, &[("a", "1"), ("b", "1")]).is_none());
    }

    #[test]
    fn label_actions_rename_drop_and_keep_by_name() {
        let got = run(
            "- regex: '__meta_node_(.+)'\n  action: labelmap\n",
            &[("__meta_node_role", "validator"), ("job", "n")],
        );
        assert_eq!(
            got,
            Some(Labels::from_pairs([
                ("__meta_node_role", "validator"),
                ("job", "n"),
                ("role", "validator")
            ]))
        );
        let got = run(
            "- regex: 'tmp_.*'\n  action: labeldrop\n",
            &[("tmp_a", "1"), ("b", "2")],
        );
        assert_eq!(got, Some(Labels::from_pairs([("b", "2")])));
        let got = run(
            "- regex: 'b|c'\n  action: labelkeep\n",
            &[("a", "1"), ("b", "2")],
        );
        assert_eq!(got, Some(Labels::from_pairs([("b", "2")])));
        let got = run(
            "- source_labels: [a]\n  target_label: up\n  action: uppercase\n- source_labels: [a]\n  target_label: low\n  action: lowercase\n",
            &[("a", "MiXed")],
        );
        assert_eq!(got.as_ref().unwrap().get("up"), Some("MIXED"));
        assert_eq!(got.as_ref().unwrap().get("low"), Some("mixed"));
    }

    #[test]
    fn hashmod_takes_the_md5_as_prometheus_does() {
        // md5("node-1:9100") ends in ...; the last 8 bytes big-endian mod 1000, computed
        // independently from the digest bytes.
        let digest = Md5::digest(b"node-1:9100");
        let tail = u64::from_be_bytes(digest[8..16].try_into().unwrap());
        let got = run(
            "- source_labels: [__address__]\n  target_label: shard\n  modulus: 1000\n  action: hashmod\n",
            &[("__address__", "node-1:9100")],
        );
        assert_eq!(
            got.unwrap().get("shard"),
            Some((tail % 1000).to_string().as_str())
        );
        // MD5 of the empty string is d41d8cd98f00b204e9800998ecf8427e: tail 0xe9800998ecf8427e.
        let got = run(
            "- source_labels: [missing]\n  target_label: shard\n  modulus: 7\n  action: hashmod\n",
            &[],
        );
        assert_eq!(
            got.unwrap().get("shard"),
            Some((0xe980_0998_ecf8_427e_u64 % 7).to_string().as_str())
        );
    }

    #[test]
    fn invalid_steps_are_refused_with_prometheus_wording() {
        let err = |yaml: &str| {
            yaml::from_str::<RelabelConfig>(yaml)
                .unwrap_err()
                .to_string()
        };
        assert!(
            err("source_labels: [a]\n")
                .contains("relabel configuration for replace action requires 'target_label' value")
        );
        assert!(
            err("source_labels: [a]\ntarget_label: b\naction: hashmod\n")
                .contains("requires non-zero modulus")
        );
        assert!(err("regex: '('\ntarget_label: b\n").contains("invalid regex"));
        assert!(err("action: shuffle\n").contains("shuffle"));
        assert!(
            err("regex: a\ntarget_label: b\naction: labeldrop\n")
                .contains("labeldrop action requires only 'regex'")
        );
        assert_eq!(step("target_label: b\n").separator, ";");
    }
}
