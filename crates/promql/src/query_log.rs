//! The query log (`global.query_log_file`): every query the API answers and every rule
//! evaluation written as one JSON line, in the shape Prometheus writes its own: `params`
//! (`query`, `start`, `end`, `step`), `error` when it failed, `stats.timings`, where the
//! query came from (`httpRequest` with `clientIP`, `method` and `path`, or `ruleGroup`
//! with `file` and `name`) and `ts`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::{Value, json};

/// An open query log file.
#[derive(Debug)]
pub struct QueryLog {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

/// Where a query came from.
#[derive(Debug, Clone)]
pub enum Origin<'a> {
    /// An API request.
    Http {
        /// The client's address, without its port.
        client_ip: &'a str,
        /// `GET` or `POST`.
        method: &'a str,
        /// The request's path.
        path: &'a str,
    },
    /// A rule group's evaluation.
    RuleGroup {
        /// The group's file.
        file: &'a str,
        /// The group's name.
        name: &'a str,
    },
}

/// One logged query.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// The expression.
    pub query: &'a str,
    /// The first and last evaluation times (ms) and the step (ms; 0 for an instant query).
    pub start: i64,
    /// The last evaluation time, in ms.
    pub end: i64,
    /// The step, in ms.
    pub step: i64,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// How long the evaluation took.
    pub took: Duration,
    /// Where it came from.
    pub origin: Origin<'a>,
}

impl QueryLog {
    /// Opens (or creates) `path` for appending.
    pub fn open(path: &Path) -> Result<Self, String> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot open the query log {}: {e}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entry` as one line; a failure to write is logged, never the query's.
    pub fn log(&self, entry: &Entry<'_>) {
        let mut line = line(entry, &now_rfc3339()).to_string();
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = file.write_all(line.as_bytes()) {
            tracing::error!(file = %self.path.display(), error = %e, "cannot write the query log");
        }
    }
}

/// A query log that a reload may open anew, close or leave as it was, shared by the API
/// and the rules.
#[derive(Debug, Clone, Default)]
pub struct Shared(Arc<RwLock<Option<Arc<QueryLog>>>>);

impl Shared {
    /// The log now, if one is open.
    pub fn current(&self) -> Option<Arc<QueryLog>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Logs `entry` if a log is open.
    pub fn log(&self, entry: &Entry<'_>) {
        if let Some(log) = self.current() {
            log.log(entry);
        }
    }

    /// Writes to `path` from now on (opened anew even if it is the same file, as Prometheus
    /// reopens it on reload, so that a rotated file is followed), or to no file.
    pub fn set(&self, path: Option<&Path>) -> Result<(), String> {
        let log = path.map(QueryLog::open).transpose()?.map(Arc::new);
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = log;
        Ok(())
    }
}

/// The JSON line of `entry`, logged at `ts`.
fn line(entry: &Entry<'_>, ts: &str) -> Value {
    let seconds = entry.took.as_secs_f64();
    let mut out = json!({
        "params": {
            "query": entry.query,
            "start": rfc3339(entry.start),
            "end": rfc3339(entry.end),
            "step": entry.step / 1000,
        },
        "stats": {
            "timings": {
                "evalTotalTime": seconds,
                "resultSortTime": 0.0,
                "queryPreparationTime": 0.0,
                "innerEvalTime": seconds,
                "execQueueTime": 0.0,
                "execTotalTime": seconds,
            }
        },
        "ts": ts,
    });
    if let Some(e) = &entry.error {
        out["error"] = e.as_str().into();
    }
    match entry.origin {
        Origin::Http {
            client_ip,
            method,
            path,
        } => {
            out["httpRequest"] = json!({"clientIP": client_ip, "method": method, "path": path});
        }
        Origin::RuleGroup { file, name } => {
            out["ruleGroup"] = json!({"file": file, "name": name});
        }
    }
    out
}

/// `ms` as Prometheus's query log writes a time: RFC 3339 in UTC, to the millisecond.
fn rfc3339(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0).unsigned_abs());
    humantime::format_rfc3339_millis(t).to_string()
}

/// Now, as the log's `ts`.
fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_written_as_prometheus_writes_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queries.log");
        let shared = Shared::default();
        // No file: nothing is written.
        shared.log(&Entry {
            query: "up",
            start: 0,
            end: 0,
            step: 0,
            error: None,
            took: Duration::ZERO,
            origin: Origin::RuleGroup {
                file: "r.yml",
                name: "g",
            },
        });
        shared.set(Some(&path)).unwrap();
        shared.log(&Entry {
            query: "rate(x[5m])",
            start: 1_700_000_000_000,
            end: 1_700_000_060_000,
            step: 15_000,
            error: Some("query timed out".into()),
            took: Duration::from_millis(250),
            origin: Origin::Http {
                client_ip: "127.0.0.1",
                method: "GET",
                path: "/api/v1/query_range",
            },
        });
        shared.log(&Entry {
            query: "up == 0",
            start: 1_700_000_000_000,
            end: 1_700_000_000_000,
            step: 0,
            error: None,
            took: Duration::from_millis(1),
            origin: Origin::RuleGroup {
                file: "rules.yml",
                name: "node",
            },
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0]["params"],
            json!({"query": "rate(x[5m])", "start": "2023-11-14T22:13:20.000Z", "end": "2023-11-14T22:14:20.000Z", "step": 15})
        );
        assert_eq!(lines[0]["error"], "query timed out");
        assert_eq!(
            lines[0]["httpRequest"],
            json!({"clientIP": "127.0.0.1", "method": "GET", "path": "/api/v1/query_range"})
        );
        assert_eq!(lines[0]["stats"]["timings"]["execTotalTime"], 0.25);
        assert_eq!(
            lines[1]["ruleGroup"],
            json!({"file": "rules.yml", "name": "node"})
        );
        assert!(lines[1].get("error").is_none());
        assert!(lines[1]["ts"].as_str().unwrap().ends_with('Z'));
        // Closed: nothing more.
        shared.set(None).unwrap();
        assert!(shared.current().is_none());
    }
}
