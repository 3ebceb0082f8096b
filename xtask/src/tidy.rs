//! The tidy checks: layering invariants, file headers, manifests and machine paths.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// A layering rule: `krate` must not depend, directly or through other workspace crates, on
/// any crate in `forbidden` (`*` forbids every other workspace crate).
pub(crate) struct Rule {
    pub(crate) krate: &'static str,
    pub(crate) forbidden: &'static [&'static str],
    pub(crate) allowed: &'static [&'static str],
    pub(crate) why: &'static str,
}

/// The architecture invariants of ARCHITECTURE.md. A rule about a crate that does not exist
/// yet holds trivially and starts biting when the crate appears.
pub(crate) const RULES: &[Rule] = &[
    Rule {
        krate: "skywatch-sdk",
        forbidden: &["*"],
        allowed: &[],
        why: "the SDK is linked into users' nodes and depends on no server crate",
    },
    Rule {
        krate: "netsim",
        forbidden: &["*"],
        allowed: &["skywatch-sdk"],
        why: "the simulated network uses only the public SDK, as a user's node would",
    },
    Rule {
        krate: "promql",
        forbidden: &["tsdb"],
        allowed: &[],
        why: "the engine queries any storage::Queryable, never the TSDB's internals",
    },
    Rule {
        krate: "api",
        forbidden: &["tsdb", "scrape"],
        allowed: &[],
        why: "the API depends on narrow traits, never on concrete engines",
    },
    Rule {
        krate: "rules",
        forbidden: &["tsdb", "scrape", "api"],
        allowed: &[],
        why: "rules evaluate through the engine over storage traits, whatever the store",
    },
    Rule {
        krate: "alerting",
        forbidden: &["tsdb", "scrape", "api", "promql", "rules"],
        allowed: &[],
        why: "routing works on alerts' labels alone, whoever evaluated them",
    },
    Rule {
        krate: "storage",
        forbidden: &["tsdb", "promql", "api", "scrape", "rules", "alerting"],
        allowed: &[],
        why: "the storage contract depends on no implementation and no consumer",
    },
    Rule {
        krate: "spans",
        forbidden: &["*"],
        allowed: &[],
        why: "the span store contract depends on no store, no receiver and no query",
    },
    Rule {
        krate: "disk",
        forbidden: &["*"],
        allowed: &[],
        why: "the file primitives the stores share know no store and no format built on them",
    },
    Rule {
        krate: "tracedb",
        forbidden: &["*"],
        allowed: &["spans", "disk"],
        why: "the span store implements the span contract and knows no API, receiver or query engine",
    },
    Rule {
        krate: "logs",
        forbidden: &["*"],
        allowed: &["model"],
        why: "the log store contract depends on no store, no receiver and no query",
    },
    Rule {
        krate: "logdb",
        forbidden: &["*"],
        allowed: &["logs", "model", "disk"],
        why: "the log store implements the log contract and knows no API, receiver or query engine",
    },
    Rule {
        krate: "logql",
        forbidden: &["*"],
        allowed: &["logs", "model", "gotemplate"],
        why: "LogQL is a query layer over the log contract: it knows no store, API or receiver",
    },
    Rule {
        krate: "logtail",
        forbidden: &["*"],
        // scrape brings aws, httpclient, storage and textparse, logql brings gotemplate:
        // the tailer uses only `scrape::relabel` and `logql::parse`.
        allowed: &[
            "logs",
            "model",
            "yaml",
            "scrape",
            "logql",
            "aws",
            "httpclient",
            "storage",
            "textparse",
            "gotemplate",
        ],
        why: "the file tailer is a source: it writes through the log contract (relabelling from scrape, selectors from LogQL) and knows no store or API",
    },
    Rule {
        krate: "traceql",
        forbidden: &["*"],
        allowed: &["spans"],
        why: "TraceQL is a query layer over the span model: it knows no store, API or scraper",
    },
    Rule {
        krate: "otlp",
        forbidden: &["*"],
        allowed: &["spans", "storage", "model", "logs"],
        why: "OTLP is a source: it writes through the span, storage and log contracts and knows no store, query or API",
    },
    Rule {
        krate: "model",
        forbidden: &["*"],
        allowed: &[],
        why: "the data model is pure data at the bottom of the graph",
    },
    Rule {
        krate: "remote",
        forbidden: &["tsdb", "promql", "api", "rules", "alerting"],
        allowed: &[],
        why: "remote write sees samples through the storage contract, whoever stores them",
    },
    Rule {
        krate: "spanmetrics",
        forbidden: &["*"],
        allowed: &["spans", "storage", "model"],
        why: "span metrics read spans and write series through the two contracts, whoever stores them",
    },
    Rule {
        krate: "httpclient",
        forbidden: &["*"],
        allowed: &[],
        why: "the shared HTTP client settings sit below every crate that makes requests, and know none of them",
    },
    Rule {
        krate: "aws",
        forbidden: &["*"],
        allowed: &["httpclient"],
        why: "calling AWS (credentials, SigV4, STS) serves discovery, remote write and SNS alike, and knows none of them",
    },
    Rule {
        krate: "yaml",
        forbidden: &["*"],
        allowed: &[],
        why: "reading YAML as Go does is a format concern below every crate that reads files",
    },
    Rule {
        krate: "ui",
        forbidden: &["*"],
        allowed: &[],
        why: "the UI crate embeds and serves the bundle; the page reads data through the HTTP API like any client",
    },
];

/// The workspace's crates and their normal and build dependencies on each other (dev
/// dependencies are for tests and may cross layers).
pub(crate) type Graph = BTreeMap<String, BTreeSet<String>>;

/// Reads the dependency graph between workspace crates from `cargo metadata`.
pub(crate) fn workspace_graph(root: &Path) -> Result<Graph, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let meta: Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata output: {e}"))?;
    let packages = meta["packages"].as_array().cloned().unwrap_or_default();
    let names: BTreeSet<String> = packages
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    let mut graph = Graph::new();
    for p in &packages {
        let Some(name) = p["name"].as_str() else {
            continue;
        };
        let deps = p["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["kind"].as_str() != Some("dev"))
            .filter_map(|d| d["name"].as_str())
            .filter(|d| names.contains(*d))
            .map(str::to_owned)
            .collect();
        graph.insert(name.to_owned(), deps);
    }
    Ok(graph)
}

/// Returns every violation of `rules` in `graph`, with the path that causes it.
pub(crate) fn layering_violations(graph: &Graph, rules: &[Rule]) -> Vec<String> {
    let mut violations = Vec::new();
    for rule in rules {
        if !graph.contains_key(rule.krate) {
            continue;
        }
        // Depth-first search keeping the path, so a violation names its route.
        let mut stack = vec![vec![rule.krate.to_owned()]];
        let mut seen = BTreeSet::new();
        while let Some(path) = stack.pop() {
            let Some(last) = path.last() else { continue };
            for dep in graph.get(last).into_iter().flatten() {
                if !seen.insert(dep.clone()) {
                    continue;
                }
                let mut next = path.clone();
                next.push(dep.clone());
                let forbidden = (rule.forbidden.contains(&"*")
                    || rule.forbidden.contains(&dep.as_str()))
                    && !rule.allowed.contains(&dep.as_str());
                if forbidden {
                    violations.push(format!(
                        "{} must not depend on {dep} ({}): {}",
                        rule.krate,
                        next.join(" -> "),
                        rule.why
                    ));
                }
                stack.push(next);
            }
        }
    }
    violations
}

/// Every file git tracks or would track (untracked but not ignored), relative to `root`.
pub(crate) fn project_files(root: &Path) -> Result<Vec<PathBuf>, String> {
    let out = Command::new("git")
        .args(["ls-files", "--cached", "--others", "--exclude-standard"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run git ls-files: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git ls-files failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .filter(|p| root.join(p).is_file())
        .collect())
}

/// Rust files that do not open with a `//!` comment saying what they are.
pub(crate) fn missing_headers(root: &Path, files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter(|p| {
            let text = std::fs::read_to_string(root.join(p)).unwrap_or_default();
            !text
                .lines()
                .find(|l| !l.trim().is_empty())
                .is_some_and(|l| l.starts_with("//!"))
        })
        .map(|p| format!("{} does not open with a `//!` comment", p.display()))
        .collect()
}

/// Manifest problems: a dependency with its own version instead of `workspace = true`, or
/// a crate that does not inherit the workspace lints.
pub(crate) fn manifest_problems(root: &Path, files: &[PathBuf]) -> Vec<String> {
    let mut problems = Vec::new();
    for path in files
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "Cargo.toml"))
    {
        if path.parent().is_some_and(|p| p.as_os_str().is_empty()) {
            continue; // The workspace manifest holds the versions.
        }
        let text = std::fs::read_to_string(root.join(path)).unwrap_or_default();
        let manifest: toml::Table = match text.parse() {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        if manifest.contains_key("workspace") {
            continue; // A workspace of its own, such as fuzz/ (nightly, outside this one).
        }
        for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
            let Some(deps) = manifest.get(section).and_then(toml::Value::as_table) else {
                continue;
            };
            for (name, spec) in deps {
                let inherited = spec
                    .as_table()
                    .and_then(|t| t.get("workspace"))
                    .and_then(toml::Value::as_bool)
                    == Some(true);
                if !inherited {
                    problems.push(format!(
                        "{} [{section}] {name}: give the version in the workspace's \
                         [workspace.dependencies] and write `{name}.workspace = true`",
                        path.display()
                    ));
                }
            }
        }
        let lints = manifest
            .get("lints")
            .and_then(toml::Value::as_table)
            .and_then(|t| t.get("workspace"))
            .and_then(toml::Value::as_bool);
        if lints != Some(true) {
            problems.push(format!(
                "{}: add `[lints] workspace = true` to inherit the workspace lints",
                path.display()
            ));
        }
    }
    problems
}

/// Files that name a directory of the machine they were written on.
pub(crate) fn machine_paths(root: &Path, files: &[PathBuf]) -> Vec<String> {
    // Assembled at run time so that this file does not match itself.
    let needles: Vec<String> = [["/", "root/"], ["/", "home/"], ["/work", "/main"]]
        .iter()
        .map(|p| p.concat())
        .collect();
    let mut found = Vec::new();
    for path in files {
        let Ok(text) = std::fs::read_to_string(root.join(path)) else {
            continue; // Binary files hold no paths worth checking.
        };
        for (n, line) in text.lines().enumerate() {
            if let Some(needle) = needles.iter().find(|needle| line.contains(needle.as_str())) {
                found.push(format!(
                    "{}:{}: names the machine path {needle:?}; use a path relative to the repository",
                    path.display(),
                    n + 1
                ));
            }
        }
    }
    found
}

/// Runs every check and prints what fails.
pub(crate) fn run(root: &Path) -> Result<(), String> {
    let files = project_files(root)?;
    let mut problems = layering_violations(&workspace_graph(root)?, RULES);
    problems.extend(missing_headers(root, &files));
    problems.extend(manifest_problems(root, &files));
    problems.extend(machine_paths(root, &files));
    if problems.is_empty() {
        println!("tidy: {} files checked, no problem", files.len());
        Ok(())
    } else {
        for p in &problems {
            eprintln!("{p}");
        }
        Err(format!("{} problem(s)", problems.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        crate::workspace_root()
    }

    #[test]
    fn layering_invariants_hold() {
        let graph = workspace_graph(&root()).unwrap();
        assert!(
            graph.contains_key("skywatch-sdk"),
            "metadata lists no SDK: {graph:?}"
        );
        let violations = layering_violations(&graph, RULES);
        assert!(violations.is_empty(), "{}", violations.join("\n"));
    }

    #[test]
    fn the_layering_check_catches_indirect_dependencies() {
        let graph: Graph = [
            ("skywatch-sdk", vec![]),
            ("netsim", vec!["skywatch-sdk", "scrape"]),
            ("promql", vec!["storage", "model"]),
            ("storage", vec!["model", "tsdb"]),
            ("tsdb", vec!["storage"]),
            ("scrape", vec![]),
            ("model", vec![]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
        .collect();
        let violations = layering_violations(&graph, RULES);
        assert!(
            violations
                .iter()
                .any(|v| v.starts_with("netsim must not depend on scrape")),
            "{violations:?}"
        );
        assert!(
            violations
                .iter()
                .any(|v| v.contains("promql -> storage -> tsdb")),
            "{violations:?}"
        );
        assert!(
            !violations.iter().any(|v| v.contains("on skywatch-sdk")),
            "{violations:?}"
        );
    }

    #[test]
    fn aws_depends_on_httpclient_alone() {
        let graph: Graph = [
            ("aws", vec!["httpclient", "scrape"]),
            ("httpclient", vec![]),
            ("scrape", vec![]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
        .collect();
        let violations = layering_violations(&graph, RULES);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(
            violations[0].starts_with("aws must not depend on scrape"),
            "{violations:?}"
        );
    }

    #[test]
    fn every_source_file_opens_with_a_doc_comment() {
        let files = project_files(&root()).unwrap();
        assert!(files.iter().any(|f| f.ends_with("lib.rs")));
        let missing = missing_headers(&root(), &files);
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }

    #[test]
    fn manifests_inherit_versions_and_lints() {
        let files = project_files(&root()).unwrap();
        let problems = manifest_problems(&root(), &files);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn no_file_names_a_machine_path() {
        let files = project_files(&root()).unwrap();
        let found = machine_paths(&root(), &files);
        assert!(found.is_empty(), "{}", found.join("\n"));
    }
}
