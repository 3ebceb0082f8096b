//! The dashboards of a provisioning directory, reloaded when its files change, and
//! Grafana's `/api/search` and `/api/dashboards/uid/{uid}` over them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::check::{Problem, check};

/// One dashboard as loaded.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// Its uid: the JSON's, or one made from its file name if it has none.
    pub uid: String,
    /// Its title.
    pub title: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its folder: the subdirectory it is in, empty for the top level ("General").
    pub folder: String,
    /// Its file, relative to the directory.
    pub file: String,
    /// The JSON as written.
    pub json: Value,
}

impl Dashboard {
    /// The path of its page: `/d/{uid}/{slug}`, as Grafana's.
    pub fn url(&self) -> String {
        format!("/d/{}/{}", self.uid, slug(&self.title))
    }
}

/// Grafana's slug: lower case, runs of anything but letters and digits as one `-`.
fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

/// The dashboards of a directory and the problems found in it.
#[derive(Debug, Default)]
pub struct Library {
    dir: Option<PathBuf>,
    /// Dashboards that come with the program: `(file, folder, text)`, loaded before the
    /// directory's.
    fixed: Vec<(String, String, String)>,
    state: RwLock<Loaded>,
}

#[derive(Debug, Default)]
struct Loaded {
    dashboards: BTreeMap<String, Dashboard>,
    problems: Vec<Problem>,
    /// The files' names, sizes and times when read: a change means a reload.
    signature: Signature,
}

impl Library {
    /// A library of the dashboards in `dir`, loaded now.
    pub fn open(dir: &Path) -> Self {
        Self::default().with_dir(dir)
    }

    /// This library with the dashboards of `dir` too, loaded now and reloaded when they
    /// change; a uid of `dir` that a fixed dashboard has is reported as a problem.
    pub fn with_dir(mut self, dir: &Path) -> Self {
        self.dir = Some(dir.to_path_buf());
        self.reload();
        self
    }

    /// A library of fixed dashboards: `(file name, JSON text)` pairs, as a binary embeds
    /// them.
    pub fn fixed<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let library = Self {
            fixed: files
                .into_iter()
                .map(|(f, t)| (f.to_owned(), folder_of(f), t.to_owned()))
                .collect(),
            ..Self::default()
        };
        *library.write() = load(library.fixed.iter().cloned());
        library
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Loaded> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The directory the dashboards come from, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Reads the directory again if a file was added, removed or changed since the last
    /// reading; tells whether it did.
    pub fn reload_if_changed(&self) -> bool {
        let Some(dir) = &self.dir else { return false };
        if signature(dir) == self.read().signature {
            return false;
        }
        self.reload();
        true
    }

    fn reload(&self) {
        let Some(dir) = &self.dir else { return };
        let signature = signature(dir);
        let mut problems = Vec::new();
        let mut files = Vec::new();
        for (path, _, _) in &signature {
            let file = path
                .strip_prefix(dir)
                .unwrap_or(path)
                .to_string_lossy()
                .into_owned();
            let folder = folder_of(&file);
            match std::fs::read_to_string(path) {
                Ok(text) => files.push((file, folder, text)),
                Err(e) => problems.push(Problem {
                    file,
                    panel: None,
                    message: format!("cannot read it: {e}"),
                }),
            }
        }
        let mut loaded = load(self.fixed.iter().cloned().chain(files));
        loaded.problems.splice(0..0, problems);
        loaded.signature = signature;
        *self.write() = loaded;
    }

    /// The dashboards, by uid.
    pub fn dashboards(&self) -> Vec<Dashboard> {
        self.read().dashboards.values().cloned().collect()
    }

    /// A dashboard by uid.
    pub fn get(&self, uid: &str) -> Option<Dashboard> {
        self.read().dashboards.get(uid).cloned()
    }

    /// What is wrong with the files, at the last reading.
    pub fn problems(&self) -> Vec<Problem> {
        self.read().problems.clone()
    }
}

/// The folder of a file relative to the directory: its subdirectory, if any.
fn folder_of(file: &str) -> String {
    Path::new(file)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

type Signature = Vec<(PathBuf, u64, Option<SystemTime>)>;

/// Every `*.json` file under `dir` (one level of folders, as Grafana reads them), sorted,
/// with its size and modification time.
fn signature(dir: &Path) -> Signature {
    let mut out = Vec::new();
    collect(dir, true, &mut out);
    out.sort();
    out
}

fn collect(dir: &Path, folders: bool, out: &mut Signature) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() && folders {
            collect(&path, false, out);
        } else if meta.is_file() && path.extension().is_some_and(|e| e == "json") {
            out.push((path, meta.len(), meta.modified().ok()));
        }
    }
}

/// Fills in a dashboard exported "for sharing externally": each `${NAME}` of a constant
/// input in `__inputs` (`{"name": "VAR_LABEL", "type": "constant", "value": "job"}`) is
/// replaced by the input's value in every string of the dashboard, as Grafana's import
/// fills it with the value it proposes. Data source inputs (`${DS_PROMETHEUS}`) are left:
/// Skywatch is the one data source.
fn fill_inputs(dashboard: &mut Value) {
    let inputs: Vec<(String, String)> = dashboard
        .get("__inputs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|i| i.get("type").and_then(Value::as_str) == Some("constant"))
        .filter_map(|i| {
            let name = i.get("name")?.as_str()?;
            let value = i.get("value")?.as_str()?;
            Some((format!("${{{name}}}"), value.to_owned()))
        })
        .collect();
    // One pass over each string: an input's value is not searched for placeholders again,
    // so that inputs whose values name each other (`${A}` → `${B}${B}`, `${B}` → ...)
    // cannot double a string once per input.
    fn fill(v: &mut Value, inputs: &[(String, String)]) {
        match v {
            Value::String(s) if s.contains("${") => {
                let mut out = String::with_capacity(s.len());
                let mut rest = s.as_str();
                while let Some(at) = rest.find("${") {
                    out.push_str(&rest[..at]);
                    rest = &rest[at..];
                    match inputs.iter().find(|(p, _)| rest.starts_with(p.as_str())) {
                        Some((placeholder, value)) => {
                            out.push_str(value);
                            rest = &rest[placeholder.len()..];
                        }
                        None => {
                            out.push_str("${");
                            rest = &rest[2..];
                        }
                    }
                }
                out.push_str(rest);
                *s = out;
            }
            Value::Array(items) => items.iter_mut().for_each(|x| fill(x, inputs)),
            Value::Object(fields) => fields.values_mut().for_each(|x| fill(x, inputs)),
            _ => {}
        }
    }
    if !inputs.is_empty() {
        fill(dashboard, &inputs);
    }
}

/// Parses and checks `(file, folder, text)` triples.
fn load(files: impl Iterator<Item = (String, String, String)>) -> Loaded {
    let mut loaded = Loaded::default();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (file, folder, text) in files {
        let mut json: Value = match serde_json::from_str(&text) {
            Ok(json) => json,
            Err(e) => {
                loaded.problems.push(Problem {
                    file,
                    panel: None,
                    message: format!("not valid JSON: {e}"),
                });
                continue;
            }
        };
        fill_inputs(&mut json);
        loaded.problems.extend(check(&json, &file));
        let str_of = |k: &str| json.get(k).and_then(Value::as_str).map(str::to_owned);
        let uid = str_of("uid").filter(|u| !u.is_empty()).unwrap_or_else(|| {
            slug(
                Path::new(&file)
                    .file_stem()
                    .map(|s| s.to_string_lossy())
                    .as_deref()
                    .unwrap_or(&file),
            )
        });
        if let Some(first) = seen.insert(uid.clone(), file.clone()) {
            loaded.problems.push(Problem {
                file,
                panel: None,
                message: format!("uid {uid:?} is already the uid of {first}; uids must be unique"),
            });
            continue;
        }
        let tags = json
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        let title = str_of("title").unwrap_or_else(|| uid.clone());
        loaded.dashboards.insert(
            uid.clone(),
            Dashboard {
                uid,
                title,
                tags,
                folder,
                file,
                json,
            },
        );
    }
    loaded
}

#[derive(Debug, Deserialize)]
struct SearchParams {
    #[serde(default)]
    query: String,
    #[serde(default)]
    tag: Vec<String>,
}

/// `GET /api/search`: Grafana's search, by title words and tags.
async fn search(
    State(library): State<Arc<Library>>,
    Query(params): Query<SearchParams>,
) -> Json<Value> {
    let words = params.query.to_lowercase();
    let hits: Vec<Value> = library
        .dashboards()
        .iter()
        .filter(|d| d.title.to_lowercase().contains(&words))
        .filter(|d| params.tag.iter().all(|t| d.tags.contains(t)))
        .map(|d| {
            json!({
                "uid": d.uid,
                "title": d.title,
                "uri": format!("db/{}", slug(&d.title)),
                "url": d.url(),
                "type": "dash-db",
                "tags": d.tags,
                "isStarred": false,
                "folderTitle": if d.folder.is_empty() { "General" } else { d.folder.as_str() },
            })
        })
        .collect();
    Json(Value::Array(hits))
}

/// `GET /api/dashboards/uid/{uid}`: the dashboard as written, with Grafana's `meta`.
async fn by_uid(State(library): State<Arc<Library>>, UrlPath(uid): UrlPath<String>) -> Response {
    match library.get(&uid) {
        Some(d) => Json(json!({
            "dashboard": d.json,
            "meta": {
                "slug": slug(&d.title),
                "url": d.url(),
                "folderTitle": if d.folder.is_empty() { "General" } else { d.folder.as_str() },
                "provisioned": true,
                "provisionedExternalId": d.file,
                "canSave": false,
                "canEdit": false,
            },
        }))
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"message": "Dashboard not found"})),
        )
            .into_response(),
    }
}

/// `GET /api/dashboards/problems`: Skywatch's own, what is wrong with the files.
async fn problems(State(library): State<Arc<Library>>) -> Json<Value> {
    let list: Vec<Value> = library
        .problems()
        .iter()
        .map(|p| json!({"file": p.file, "panel": p.panel, "message": p.message}))
        .collect();
    Json(Value::Array(list))
}

/// The dashboard API's routes.
pub fn router<S: Clone + Send + Sync + 'static>(library: Arc<Library>) -> Router<S> {
    Router::new()
        .route("/api/search", get(search))
        .route("/api/dashboards/uid/{uid}", get(by_uid))
        .route("/api/dashboards/problems", get(problems))
        .with_state(library)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"uid": "net", "title": "Network overview", "tags": ["p2p"], "schemaVersion": 39,
        "panels": [{"id": 1, "type": "timeseries", "title": "Peers", "gridPos": {"h": 8, "w": 12, "x": 0, "y": 0},
                    "targets": [{"refId": "A", "expr": "sum(p2p_peers)"}]}]}"#;

    #[test]
    fn a_dashboard_exported_for_sharing_gets_its_constant_inputs() {
        let shared = r#"{"uid": "shared", "title": "Shared", "schemaVersion": 39,
            "__inputs": [
                {"name": "DS_PROMETHEUS", "type": "datasource", "pluginId": "prometheus"},
                {"name": "VAR_INSTANCE_LABEL", "type": "constant", "value": "job"}
            ],
            "templating": {"list": [{"name": "instance_label", "type": "constant", "query": "${VAR_INSTANCE_LABEL}"}]},
            "panels": [{"id": 1, "type": "stat", "title": "Up", "gridPos": {"x": 0, "y": 0, "w": 6, "h": 4},
                "datasource": "${DS_PROMETHEUS}",
                "targets": [{"refId": "A", "expr": "up{$instance_label=\"node\"}"}]}]}"#;
        let library = Library::fixed([("shared.json", shared)]);
        assert_eq!(library.problems(), Vec::new());
        let d = library.get("shared").unwrap();
        assert_eq!(d.json["templating"]["list"][0]["query"], "job");
        assert_eq!(d.json["panels"][0]["datasource"], "${DS_PROMETHEUS}");
    }

    // Each input used to be replaced in the string the previous inputs left, so values
    // naming the next input doubled a string per input: 40 inputs made one string 2^40
    // bytes long. Values are now put in place once and not read again.
    #[test]
    fn constant_inputs_whose_values_name_other_inputs_are_filled_once() {
        let inputs: Vec<String> = (0..40)
            .map(|i| {
                format!(
                    r#"{{"name": "V{i}", "type": "constant", "value": "${{V{}}}${{V{}}}"}}"#,
                    i + 1,
                    i + 1
                )
            })
            .collect();
        let json = format!(
            r#"{{"uid": "chain", "title": "${{V0}}", "__inputs": [{}]}}"#,
            inputs.join(",")
        );
        let library = Library::fixed([("chain.json", json.as_str())]);
        let d = library.get("chain").unwrap();
        assert_eq!(d.json["title"], "${V1}${V1}");
    }

    #[test]
    fn a_directory_loads_with_folders_and_reloads_when_a_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("Node network")).unwrap();
        std::fs::write(dir.path().join("Node network/net.json"), GOOD).unwrap();
        std::fs::write(dir.path().join("broken.json"), "{\"title\": \n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a dashboard").unwrap();
        let library = Library::open(dir.path());
        let all = library.dashboards();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].folder, "Node network");
        assert_eq!(all[0].url(), "/d/net/network-overview");
        let problems = library.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].file, "broken.json");
        assert!(
            problems[0]
                .message
                .starts_with("not valid JSON: EOF while parsing"),
            "{}",
            problems[0]
        );
        assert!(problems[0].message.contains("line 2"), "{}", problems[0]);

        assert!(!library.reload_if_changed());
        // Fixed, but with the uid of the other file.
        std::fs::write(dir.path().join("broken.json"), GOOD).unwrap();
        assert!(library.reload_if_changed());
        assert_eq!(library.dashboards().len(), 1);
        assert!(
            library.problems()[0]
                .message
                .contains("uid \"net\" is already the uid of"),
            "{:?}",
            library.problems()
        );
    }

    #[test]
    fn fixed_dashboards_stay_beside_a_directory_and_keep_their_uids() {
        let dir = tempfile::tempdir().unwrap();
        let library = Library::fixed([("shipped/net.json", GOOD)]).with_dir(dir.path());
        assert_eq!(library.dashboards().len(), 1);
        let other = GOOD.replace("\"uid\": \"net\"", "\"uid\": \"mine\"");
        assert_ne!(other, GOOD);
        std::fs::write(dir.path().join("mine.json"), &other).unwrap();
        std::fs::write(dir.path().join("clash.json"), GOOD).unwrap();
        assert!(library.reload_if_changed());
        let uids: Vec<String> = library.dashboards().into_iter().map(|d| d.uid).collect();
        assert_eq!(uids, ["mine", "net"]);
        assert_eq!(library.get("net").unwrap().folder, "shipped");
        let problems = library.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].file, "clash.json");
    }
}
