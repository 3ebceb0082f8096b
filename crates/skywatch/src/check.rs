//! `skywatch check`: validate files without starting anything, as `promtool check` does.

use std::path::PathBuf;

use clap::Subcommand;

/// What to check.
#[derive(Debug, Subcommand)]
pub(crate) enum CheckCommand {
    /// Check configuration files: syntax, every key, values and cross-field rules.
    Config {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub(crate) fn run(cmd: CheckCommand) -> Result<(), String> {
    match cmd {
        CheckCommand::Config { files } => {
            let mut failed = 0;
            for file in &files {
                println!("Checking {}", file.display());
                match scrape::Config::load(file) {
                    Ok(config) => {
                        let targets: usize = config
                            .scrape_configs
                            .iter()
                            .flat_map(|j| &j.static_configs)
                            .map(|g| g.targets.len())
                            .sum();
                        println!(
                            "  SUCCESS: {} scrape jobs, {targets} static targets, {} rule files",
                            config.scrape_configs.len(),
                            config.rule_files.len()
                        );
                    }
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
    }
}
