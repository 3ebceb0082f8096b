//! Silences: matchers that mute alerts between two times, with who made them and why,
//! kept in a JSON file so that they survive restarts.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::dispatch::LabelSet;

/// One matcher of a silence, as Alertmanager's API writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SilenceMatcher {
    /// The label.
    pub name: String,
    /// The value or pattern.
    pub value: String,
    /// Whether `value` is a regex (anchored).
    pub is_regex: bool,
    /// Whether the matcher is `=`/`=~` (true, the default) or `!=`/`!~`.
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

/// A silence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    /// Its id.
    pub id: String,
    /// What it mutes: alerts matching all of these.
    pub matchers: Vec<SilenceMatcher>,
    /// When it starts and ends, ms.
    pub starts_at: i64,
    #[allow(missing_docs, reason = "named as in Alertmanager's API")]
    pub ends_at: i64,
    /// When it was last changed, ms.
    pub updated_at: i64,
    /// Who made it.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

impl Silence {
    /// `pending`, `active` or `expired` at `now`.
    pub fn state(&self, now: i64) -> &'static str {
        if now < self.starts_at {
            "pending"
        } else if now < self.ends_at {
            "active"
        } else {
            "expired"
        }
    }

    fn matches(&self, labels: &LabelSet) -> bool {
        self.matchers.iter().all(|m| {
            let value = labels.get(&m.name).map_or("", String::as_str);
            let hit = if m.is_regex {
                regex::Regex::new(&format!("^(?:{})$", m.value)).is_ok_and(|r| r.is_match(value))
            } else {
                value == m.value
            };
            hit == m.is_equal
        })
    }

    /// As `GET /api/v2/silences` gives it.
    pub fn json(&self, now: i64) -> Value {
        json!({
            "id": self.id,
            "matchers": self.matchers,
            "startsAt": model::format_rfc3339(self.starts_at),
            "endsAt": model::format_rfc3339(self.ends_at),
            "updatedAt": model::format_rfc3339(self.updated_at),
            "createdBy": self.created_by,
            "comment": self.comment,
            "status": {"state": self.state(now)},
        })
    }
}

/// Every silence, in a file if given.
#[derive(Debug, Default)]
pub struct Silences {
    list: Vec<Silence>,
    file: Option<PathBuf>,
    counter: u64,
}

impl Silences {
    /// The silences kept in `file` (none if it does not exist yet).
    pub fn open(file: &Path) -> Result<Self, String> {
        let list = match std::fs::read_to_string(file) {
            Ok(text) => {
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
        };
        Ok(Self {
            list,
            file: Some(file.to_path_buf()),
            counter: 0,
        })
    }

    fn save(&self) -> Result<(), String> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let tmp = file.with_extension("tmp");
        let text = serde_json::to_string_pretty(&self.list).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, file))
            .map_err(|e| format!("cannot write {}: {e}", file.display()))
    }

    /// Every silence.
    pub fn all(&self) -> &[Silence] {
        &self.list
    }

    /// One by id.
    pub fn get(&self, id: &str) -> Option<&Silence> {
        self.list.iter().find(|s| s.id == id)
    }

    /// The ids of the active silences matching `labels`.
    pub fn matching(&self, labels: &LabelSet, now: i64) -> Vec<String> {
        self.list
            .iter()
            .filter(|s| s.state(now) == "active" && s.matches(labels))
            .map(|s| s.id.clone())
            .collect()
    }

    /// Adds a silence, or replaces the one with its id (an active one that changes what
    /// it matches is expired and a new one made, as Alertmanager does). Returns its id.
    pub fn upsert(&mut self, mut s: Silence, now: i64) -> Result<String, String> {
        if s.matchers.is_empty() {
            return Err("a silence needs at least one matcher".into());
        }
        for m in &s.matchers {
            if m.is_regex && regex::Regex::new(&m.value).is_err() {
                return Err(format!(
                    "matcher {}: {:?} is not a valid regex",
                    m.name, m.value
                ));
            }
        }
        if s.ends_at <= s.starts_at {
            return Err("a silence must end after it starts".into());
        }
        if s.ends_at <= now {
            return Err("a silence must end in the future".into());
        }
        s.updated_at = now;
        let existing = (!s.id.is_empty())
            .then(|| self.list.iter().position(|x| x.id == s.id))
            .flatten();
        match existing {
            Some(i)
                if self.list[i].matchers == s.matchers || self.list[i].state(now) == "pending" =>
            {
                self.list[i] = s.clone();
            }
            Some(i) => {
                self.list[i].ends_at = now;
                self.list[i].updated_at = now;
                s.id = self.new_id(now);
                self.list.push(s.clone());
            }
            None if !s.id.is_empty() => return Err(format!("no silence with id {:?}", s.id)),
            None => {
                s.id = self.new_id(now);
                self.list.push(s.clone());
            }
        }
        self.save()?;
        Ok(s.id)
    }

    /// Ends a silence now.
    pub fn expire(&mut self, id: &str, now: i64) -> Result<(), String> {
        let s = self
            .list
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or_else(|| format!("no silence with id {id:?}"))?;
        if s.state(now) == "expired" {
            return Err(format!("silence {id} is already expired"));
        }
        s.ends_at = now;
        s.updated_at = now;
        self.save()
    }

    /// A fresh id in a UUID's shape.
    fn new_id(&mut self, now: i64) -> String {
        self.counter += 1;
        let a = crate::dispatch::fingerprint(&LabelSet::from([
            ("t".into(), now.to_string()),
            ("n".into(), self.counter.to_string()),
        ]));
        let b = crate::dispatch::fingerprint(&LabelSet::from([
            ("n".into(), self.counter.to_string()),
            ("p".into(), std::process::id().to_string()),
        ]));
        format!(
            "{}-{}-{}-{}-{}",
            &a[..8],
            &a[8..12],
            &a[12..16],
            &b[..4],
            &b[4..16]
        )
    }
}
