//! `skywatch check`: validate files without starting anything, as `promtool check` does.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

/// What to check.
#[derive(Debug, Subcommand)]
pub(crate) enum CheckCommand {
    /// Check configuration files: syntax, every key, values and cross-field rules.
    Config {
        /// Check only the files' syntax and values, not the files they name (rule files,
        /// credentials, client certificates), as promtool's --syntax-only.
        #[arg(long)]
        syntax_only: bool,
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Check Prometheus rule files: YAML shape, every expression as PromQL, names,
    /// durations and label and annotation templates, as `promtool check rules` does, with
    /// its output and exit status (1 for an invalid file, 3 for a lint finding with
    /// --lint-fatal).
    Rules {
        /// Lint checks to apply, comma-separated: all, duplicate-rules, none.
        #[arg(long, default_value = "duplicate-rules")]
        lint: String,
        /// Exit with status 3 if a lint check finds something.
        #[arg(long)]
        lint_fatal: bool,
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Check Alertmanager configuration files: the route tree, receivers, matchers,
    /// inhibit rules and time intervals (as `amtool check-config`).
    Alertmanager {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Check Promtail configuration files for `skywatch up --logs.config.file`: every key,
    /// the relabelling and pipeline stages, and what Skywatch's file tailer does not
    /// support (named with its line).
    LogsConfig {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Check web configuration files (`--web.config.file`, exporter-toolkit's format) as
    /// `promtool check web-config` does, with its output: `FILE SUCCESS` or `FILE FAILED:
    /// ...` on standard error, exit status 1 if one is invalid. The certificate, key and
    /// client CA are read; `--access` checks Skywatch's access files instead.
    WebConfig {
        /// The files are access files (`--web.access-config.file`).
        #[arg(long)]
        access: bool,
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Check Grafana dashboards, directories in Grafana's provisioning layout or single
    /// files: JSON shape, every query as PromQL, every variable defined, uids unique; and
    /// what Skywatch cannot draw as Grafana draws it (panel types, units, override
    /// matchers, colour modes, transformations, options), listed per panel as warnings.
    Dashboards {
        /// Fail on warnings too: exit non-zero if a panel is not drawn as Grafana draws it.
        #[arg(long)]
        strict: bool,
        /// The directories or files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

/// Checks each file with `check`, which says what it found or what is wrong, as promtool
/// prints it: `Checking FILE` then `  SUCCESS: ...` or `  FAILED: ...`.
fn check_files(
    files: &[PathBuf],
    check: impl Fn(&std::path::Path) -> Result<String, String>,
) -> Result<(), String> {
    let mut failed = 0;
    for file in files {
        println!("Checking {}", file.display());
        match check(file) {
            Ok(found) => println!("  SUCCESS: {found}"),
            Err(e) => {
                failed += 1;
                println!("  FAILED: {e}");
            }
        }
    }
    if failed > 0 {
        return Err(format!("{failed} of {} files are invalid", files.len()));
    }
    Ok(())
}

/// Checks web configuration files as `promtool check web-config` does, with its output.
fn check_web_config(files: &[PathBuf], access: bool) -> ExitCode {
    let mut failed = false;
    for file in files {
        let result = if access {
            web::AccessConfig::load(file).map(drop)
        } else {
            web::Config::load(file).map(drop)
        };
        match result {
            Ok(()) => eprintln!("{} SUCCESS", file.display()),
            Err(e) => {
                failed = true;
                eprintln!("{} FAILED: {}", file.display(), e.detail());
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// promtool's exit status for lint findings with `--lint-fatal`.
const LINT_FATAL: u8 = 3;

/// Checks rule files as `promtool check rules` does, with its output, byte for byte where
/// the finding is the same: `Checking FILE` and the count on standard output, `  FAILED:`
/// and the problems on standard error, a blank line after each file.
fn check_rules(files: &[PathBuf], lint: &str, lint_fatal: bool) -> ExitCode {
    let mut duplicates = false;
    for setting in lint.split(',') {
        match setting {
            "all" | "duplicate-rules" => duplicates = true,
            "none" => {}
            other => println!("WARNING: unknown lint option {other}"),
        }
    }
    let (mut errors, mut lint_failed) = (false, false);
    for file in files {
        println!("Checking {}", file.display());
        match rules::RuleFile::load(file) {
            Err(e) => {
                errors = true;
                eprintln!("  FAILED:");
                eprintln!("{e}");
            }
            Ok(f) => match f.duplicate_rules() {
                found if duplicates && !found.is_empty() => {
                    lint_failed = true;
                    eprintln!("  FAILED:");
                    eprintln!("{}", duplicates_message(&found));
                }
                _ => println!("  SUCCESS: {} rules found", f.rule_count()),
            },
        }
        println!();
    }
    if errors {
        ExitCode::FAILURE
    } else if lint_failed && lint_fatal {
        ExitCode::from(LINT_FATAL)
    } else {
        ExitCode::SUCCESS
    }
}

/// promtool's words for rules recording the same series (or alerts of the same name and
/// labels).
fn duplicates_message(found: &[rules::file::Duplicate]) -> String {
    let mut m = format!("lint error {} duplicate rule(s) found.\n", found.len());
    for d in found {
        m += &format!("Metric: {}\nLabel(s):\n", d.name);
        for (k, v) in &d.labels {
            m += &format!("\t{k}: {v}\n");
        }
    }
    m + "Might cause inconsistency while recording expressions"
}

pub(crate) fn run(cmd: CheckCommand) -> Result<ExitCode, String> {
    let succeeded = |r: Result<(), String>| r.map(|()| ExitCode::SUCCESS);
    match cmd {
        CheckCommand::Config { syntax_only, files } => succeeded(check_files(&files, |file| {
            let config = scrape::Config::load(file).map_err(|e| e.to_string())?;
            if syntax_only {
                return Ok(format!(
                    "{} scrape jobs (syntax only: the files it names are not checked)",
                    config.scrape_configs.len()
                ));
            }
            config
                .check_files()
                .map_err(|e| format!("{}: {e}", file.display()))?;
            let targets: usize = config
                .scrape_configs
                .iter()
                .flat_map(|j| &j.discovery.static_configs)
                .map(|g| g.targets.len())
                .sum();
            // The rule files as the server finds them, relative to the configuration: a
            // glob in a directory or a missing file fails here as with promtool.
            let base = file.parent().unwrap_or(std::path::Path::new("."));
            let rule_files = rules::manager::resolve(base, &config.rule_files)?;
            Ok(format!(
                "{} scrape jobs, {targets} static targets, {} rule files",
                config.scrape_configs.len(),
                rule_files.len()
            ))
        })),
        CheckCommand::Rules {
            lint,
            lint_fatal,
            files,
        } => Ok(check_rules(&files, &lint, lint_fatal)),
        CheckCommand::WebConfig { access, files } => Ok(check_web_config(&files, access)),
        CheckCommand::Alertmanager { files } => succeeded(check_files(&files, |file| {
            let c = alerting::Config::load(file).map_err(|e| e.to_string())?;
            // Its template files parse, as amtool checks them.
            alerting::notify::Service::templates(&c)?;
            Ok(format!(
                "{} receivers, {} inhibit rules, {} time intervals, {} templates",
                c.receivers.len(),
                c.inhibit_rules.len(),
                c.intervals().count(),
                c.templates.len()
            ))
        })),
        CheckCommand::LogsConfig { files } => succeeded(check_files(&files, |file| {
            let c = logtail::Config::load(file).map_err(|e| e.to_string())?;
            let stages: usize = c.scrape_configs.iter().map(|j| j.pipeline.len()).sum();
            let mut found = format!(
                "{} scrape jobs, {} pipeline stages",
                c.scrape_configs.len(),
                stages
            );
            for note in &c.notes {
                found.push_str(&format!("\n  note: {note}"));
            }
            Ok(found)
        })),
        CheckCommand::Dashboards { strict, paths } => check_dashboards(&paths, strict),
    }
}

/// Checks dashboard directories and files: problems fail the check; warnings (what the UI
/// does not draw as Grafana does) are listed per dashboard and panel, and fail it only
/// with `strict`.
fn check_dashboards(paths: &[PathBuf], strict: bool) -> Result<ExitCode, String> {
    let (mut problems, mut flagged) = (0, 0);
    for path in paths {
        println!("Checking {}", path.display());
        let library = if path.is_dir() {
            dashboards::Library::open(path)
        } else if path.is_file() {
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            match std::fs::read_to_string(path) {
                Ok(text) => dashboards::Library::fixed([(name.as_str(), text.as_str())]),
                Err(e) => {
                    problems += 1;
                    println!("  FAILED: cannot read it: {e}");
                    continue;
                }
            }
        } else {
            problems += 1;
            println!("  FAILED: neither a directory nor a file");
            continue;
        };
        let mut warned = 0;
        for d in library.dashboards() {
            let drawing = dashboards::drawing(&d.json);
            println!(
                "  {}: {:?} (uid {}), {} panels, {} rows: {} drawn as Grafana draws them, {} with warnings",
                d.file,
                d.title,
                d.uid,
                drawing.panels,
                drawing.rows,
                drawing.drawn(),
                drawing.flagged()
            );
            for panel in &drawing.listed {
                println!("    {} at {}:", panel.name, panel.path);
                for w in &panel.warnings {
                    println!("      WARNING {w}");
                }
                // Drawn as Grafana draws it, but most likely a mistake: never a failure.
                for n in &panel.notes {
                    println!("      NOTE {n}");
                }
            }
            warned += drawing.flagged();
        }
        let found = library.problems();
        for p in &found {
            println!("  FAILED: {p}");
        }
        problems += found.len();
        flagged += warned;
        let s = if warned == 1 { "" } else { "s" };
        if strict && warned > 0 {
            println!("  FAILED: {warned} panel{s} with warnings (--strict)");
        } else if found.is_empty() {
            println!(
                "  SUCCESS: {} dashboards, {warned} panel{s} with warnings",
                library.dashboards().len()
            );
        }
    }
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    match (problems, strict && flagged > 0) {
        (0, false) => Ok(ExitCode::SUCCESS),
        (0, true) => Err(format!(
            "{flagged} panel{} with warnings in the dashboards (--strict)",
            plural(flagged)
        )),
        (n, false) => Err(format!("{n} problem{} in the dashboards", plural(n))),
        (n, true) => Err(format!(
            "{n} problem{} and {flagged} panel{} with warnings in the dashboards (--strict)",
            plural(n),
            plural(flagged)
        )),
    }
}

/// What to test.
#[derive(Debug, Subcommand)]
pub(crate) enum TestCommand {
    /// Run unit tests of rules written in promtool's format (`rule_files`,
    /// `evaluation_interval`, `tests` with `input_series`, `alert_rule_test` and
    /// `promql_expr_test`); exits non-zero if any fails, as `promtool test rules` does.
    Rules {
        /// The test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the receivers an alert with these labels goes to under an Alertmanager
    /// configuration, comma-separated, as `amtool config routes test` does.
    Routes {
        /// The Alertmanager configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The alert's labels, `name=value`.
        labels: Vec<String>,
    },
    /// Render, without sending anything, exactly what each receiver of an Alertmanager
    /// configuration would be sent for a set of alerts: the alerts are grouped and routed
    /// as the server would, and each notification's texts rendered with the
    /// configuration's templates; prints each integration's target and payload (JSON
    /// body, or the whole email). Exits non-zero if a text cannot be rendered.
    Notifications {
        /// The Alertmanager configuration file.
        config: PathBuf,
        /// The alerts, as `POST /api/v2/alerts` takes them: a JSON array of objects with
        /// `labels`, `annotations`, `startsAt`, `endsAt` and `generatorURL`.
        alerts: PathBuf,
        /// The external URL the texts link to (`.ExternalURL`).
        #[arg(long, default_value = "http://localhost:9093")]
        external_url: String,
    },
}

pub(crate) fn test(cmd: TestCommand) -> Result<ExitCode, String> {
    let files = match cmd {
        TestCommand::Rules { files } => files,
        TestCommand::Routes { config, labels } => {
            return test_routes(&config, &labels).map(|()| ExitCode::SUCCESS);
        }
        TestCommand::Notifications {
            config,
            alerts,
            external_url,
        } => return test_notifications(&config, &alerts, &external_url),
    };
    Ok(test_rules(&files))
}

/// Runs unit-test files as `promtool test rules` does, with its output byte for byte where
/// the failure is the same: `Unit Testing:  FILE` on standard output, warnings,
/// `  FAILED:` and each failure on standard error, a blank line on standard output after
/// each failure and after each file.
fn test_rules(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for file in files {
        println!("Unit Testing:  {}", file.display());
        let outcome = rules::unittest::run_file(file);
        for w in &outcome.warnings {
            eprintln!("{w}");
        }
        if outcome.failures.is_empty() {
            println!("  SUCCESS");
        } else {
            failed = true;
            eprintln!("  FAILED:");
            for f in &outcome.failures {
                eprintln!("{f}");
                println!();
            }
        }
        println!();
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn test_routes(config: &std::path::Path, labels: &[String]) -> Result<(), String> {
    let config = alerting::Config::load(config).map_err(|e| e.to_string())?;
    let mut set = std::collections::BTreeMap::new();
    for l in labels {
        let (k, v) = l
            .split_once('=')
            .ok_or_else(|| format!("{l:?} is not a label: write name=value"))?;
        set.insert(k.to_owned(), v.trim_matches('"').to_owned());
    }
    let tree = alerting::RouteNode::tree(&config);
    let receivers: Vec<&str> = tree
        .matches(&set)
        .into_iter()
        .map(|r| r.receiver.as_str())
        .collect();
    println!("{}", receivers.join(","));
    Ok(())
}

/// Renders what each receiver would be sent for the alerts in `alerts`, grouped and
/// routed as the server would group and route them once every group's `group_wait` is
/// over.
fn test_notifications(
    config: &std::path::Path,
    alerts: &std::path::Path,
    external_url: &str,
) -> Result<ExitCode, String> {
    let c = alerting::Config::load(config).map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(alerts)
        .map_err(|e| format!("cannot read {}: {e}", alerts.display()))?;
    let body: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        let message = e.to_string();
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(m, _)| m);
        format!(
            "{}: line {}, column {}: {message}; write a JSON array of alerts, as POST /api/v2/alerts takes",
            alerts.display(),
            e.line(),
            e.column()
        )
    })?;
    let now = promql::ast::system_time_ms(std::time::SystemTime::now());
    let longest_wait = {
        fn longest(r: &alerting::RouteNode) -> i64 {
            r.routes.iter().map(longest).fold(r.group_wait, i64::max)
        }
        longest(&alerting::RouteNode::tree(&c))
    };
    let mut dispatcher =
        alerting::dispatch::Dispatcher::new(c.clone(), alerting::silence::Silences::default());
    let received = dispatcher
        .receive_json(&body, now)
        .map_err(|e| format!("{}: {e}", alerts.display()))?;
    let notifications = dispatcher.flush(now + longest_wait);
    let service = alerting::notify::Service::new(
        alerting::dispatch::Dispatcher::new(c, alerting::silence::Silences::default()),
        alerting::notify::NotificationLog::in_memory(),
        external_url.to_owned(),
    );
    println!("{received} alerts, {} notifications", notifications.len());
    let mut failed = false;
    for n in &notifications {
        println!();
        println!(
            "receiver {:?}, {} #{} ({} firing, {} resolved), group {}",
            n.receiver.name.value,
            n.integration.kind,
            n.integration.index,
            n.firing(),
            n.resolved(),
            n.group_key
        );
        match service.render(n) {
            Ok(Some(rendered)) => print!("{}", rendered.payload.describe(now)),
            Ok(None) => println!("(nothing: the receiver has no such integration)"),
            Err(e) => {
                failed = true;
                println!("NOT RENDERED: {e}");
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
