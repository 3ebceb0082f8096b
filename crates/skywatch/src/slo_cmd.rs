//! `skywatch slo generate|check`: SLO specs (Sloth `prometheus/v1`, OpenSLO v1) to
//! Prometheus rule files and promtool unit tests, and the checks every SLO must pass.
//! The server's `--slos DIR` loads specs through [`load_specs`] too.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub(crate) enum SloCommand {
    /// Write the Prometheus rules of SLO specs: Sloth's recording rules and multiwindow,
    /// multi-burn-rate alerts, with the budget left and time to exhaustion in their
    /// annotations; a file `promtool check rules` accepts.
    Generate(GenerateArgs),
    /// Check SLO specs: every SLO has page and ticket alerts, an objective between 0 and
    /// 100%, queries that parse, no window longer than its period.
    Check {
        #[command(flatten)]
        options: SpecOptions,
        /// Spec files, or directories of them (`*.yml`, `*.yaml`).
        #[arg(required = true)]
        specs: Vec<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    #[command(flatten)]
    options: SpecOptions,
    /// Write the rules here rather than to standard output.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Also write a promtool unit-test file proving that each alert fires at its burn
    /// rate and stays silent below it (needs --output, which it names).
    #[arg(long, requires = "output")]
    tests: Option<PathBuf>,
    /// Spec files, or directories of them (`*.yml`, `*.yaml`).
    #[arg(required = true)]
    specs: Vec<PathBuf>,
}

/// What a spec that does not say takes.
#[derive(Debug, Args, Clone)]
pub(crate) struct SpecOptions {
    /// The SLO period, for specs that do not set one.
    #[arg(long, default_value = "30d")]
    period: String,
    /// The window table, for specs that do not choose: `sloth` (page 14.4x and 6x,
    /// ticket 3x and 1x) or `workbook` (the SRE Workbook's: page 14.4x and 6x, ticket 1x).
    #[arg(long, default_value = "sloth")]
    windows: String,
    /// The budget alert fires when less than this share of the budget is left.
    #[arg(long, default_value_t = 0.1)]
    budget_threshold: f64,
}

impl SpecOptions {
    pub(crate) fn defaults(&self) -> Result<slo::Defaults, String> {
        let period = model::parse_duration(&self.period)
            .filter(|&p| p >= slo::windows::DAY)
            .ok_or_else(|| {
                format!(
                    "--period {:?}: a duration of a day or more, such as 30d",
                    self.period
                )
            })?;
        let table = slo::Table::from_name(&self.windows)
            .ok_or_else(|| format!("--windows {:?}: sloth or workbook", self.windows))?;
        if !(0.0..1.0).contains(&self.budget_threshold) {
            return Err(format!(
                "--budget-threshold {}: a share from 0 up to 1",
                self.budget_threshold
            ));
        }
        Ok(slo::Defaults {
            period,
            table,
            budget_threshold: self.budget_threshold,
        })
    }
}

impl Default for SpecOptions {
    fn default() -> Self {
        Self {
            period: "30d".into(),
            windows: "sloth".into(),
            budget_threshold: 0.1,
        }
    }
}

/// The spec files `paths` name: files as given, directories' `*.yml` and `*.yaml`
/// files (not their subdirectories), sorted.
pub(crate) fn spec_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let entries = std::fs::read_dir(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "yml" || x == "yaml"))
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Every SLO of the specs `paths` name, or every problem reading them: a file that does
/// not read, and SLO ids defined twice (their rule groups would collide).
pub(crate) fn load_specs(
    paths: &[PathBuf],
    defaults: &slo::Defaults,
) -> Result<Vec<slo::Slo>, Vec<String>> {
    let files = spec_files(paths).map_err(|e| vec![e])?;
    let mut slos: Vec<slo::Slo> = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("{}: {e}", f.display()));
                continue;
            }
        };
        match slo::load(&text, &f.display().to_string(), defaults) {
            Ok(read) => {
                for s in read {
                    if let Some(first) = slos.iter().find(|o| o.id == s.id) {
                        errors.push(format!(
                            "{}:{}: SLO {} is also defined at {}:{}",
                            s.file, s.line, s.id, first.file, first.line
                        ));
                    } else {
                        slos.push(s);
                    }
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(slos)
    } else {
        Err(errors)
    }
}

pub(crate) fn run(cmd: SloCommand) -> Result<ExitCode, String> {
    match cmd {
        SloCommand::Generate(args) => generate(&args),
        SloCommand::Check { options, specs } => check(&specs, &options),
    }
}

fn report(errors: &[String]) -> ExitCode {
    for e in errors {
        eprintln!("  FAILED: {e}");
    }
    ExitCode::FAILURE
}

fn check(specs: &[PathBuf], options: &SpecOptions) -> Result<ExitCode, String> {
    let defaults = options.defaults()?;
    let slos = match load_specs(specs, &defaults) {
        Ok(s) => s,
        Err(errors) => return Ok(report(&errors)),
    };
    let problems: Vec<String> = slos
        .iter()
        .flat_map(slo::check::problems)
        .map(|p| p.message)
        .collect();
    if !problems.is_empty() {
        return Ok(report(&problems));
    }
    println!("  SUCCESS: {} SLOs found", slos.len());
    Ok(ExitCode::SUCCESS)
}

fn generate(args: &GenerateArgs) -> Result<ExitCode, String> {
    let defaults = args.options.defaults()?;
    let slos = match load_specs(&args.specs, &defaults) {
        Ok(s) => s,
        Err(errors) => return Ok(report(&errors)),
    };
    let mut broken = Vec::new();
    for p in slos.iter().flat_map(slo::check::problems) {
        if p.breaks_rules {
            broken.push(p.message);
        } else {
            eprintln!("skywatch: warning: {}", p.message);
        }
    }
    if !broken.is_empty() {
        return Ok(report(&broken));
    }
    let groups: Vec<slo::generate::Group> = slos.iter().flat_map(slo::generate::groups).collect();
    let sources: Vec<String> = args.specs.iter().map(|p| p.display().to_string()).collect();
    let text = slo::generate::rule_file(&groups, &sources.join(", "));
    match &args.output {
        None => print!("{text}"),
        Some(out) => write(out, &text)?,
    }
    if let (Some(tests), Some(output)) = (&args.tests, &args.output) {
        let (text, skipped) = slo::unittest::tests(&slos, &relative(output, tests)?);
        for s in &skipped {
            eprintln!("skywatch: warning: no tests for {s}");
        }
        write(tests, &text)?;
    }
    eprintln!(
        "skywatch: {} SLOs, {} rule groups",
        slos.len(),
        groups.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// `target` as the test file `from` names it: promtool reads `rule_files` relative to
/// the test file's directory.
fn relative(target: &Path, from: &Path) -> Result<String, String> {
    let dir = |p: &Path| {
        let parent = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::canonicalize(parent).map_err(|e| format!("{}: {e}", parent.display()))
    };
    let name = target.file_name().ok_or("--output names no file")?;
    let (target_dir, from_dir) = (dir(target)?, dir(from)?);
    Ok(if target_dir == from_dir {
        name.to_string_lossy().into_owned()
    } else {
        target_dir.join(name).display().to_string()
    })
}
