//! The command line.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};
use vitals_core::period::Week;

/// vitals: service latency and multi-cloud cost, from one daemon.
#[derive(Debug, Parser)]
#[command(name = "vitals", version, about, long_about = None)]
pub struct Cli {
    /// The config file.
    #[arg(
        long,
        short,
        global = true,
        env = "VITALS_CONFIG",
        default_value = "config.toml"
    )]
    pub config: PathBuf,

    /// Log line format (logs go to stderr; levels via `RUST_LOG`, default `info`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: collect on an interval, report on a cron schedule, and
    /// serve /metrics, /healthz and /readyz until SIGINT or SIGTERM.
    Run {
        /// Collect, analyze and write every report once, then exit.
        #[arg(long)]
        once: bool,
    },
    /// Run collectors once and store what they return.
    Collect {
        /// Only this collector (its config name).
        #[arg(long)]
        source: Option<String>,
        #[command(flatten)]
        window: Window,
    },
    /// Run the analyzers over a period and print their summaries.
    Analyze {
        #[command(flatten)]
        period: PeriodArgs,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Render one report (its config name, e.g. `weekly`).
    Report {
        name: String,
        /// One format; default: the report's configured formats.
        #[arg(long, value_parser = parse_format)]
        format: Option<vitals_reports::Format>,
        /// Write to this file (`-` for stdout) instead of the report's `out_dir`.
        #[arg(long)]
        out: Option<PathBuf>,
        /// ISO week, e.g. `2024-W39`; default: the latest complete week in the store.
        #[arg(long)]
        week: Option<Week>,
    },
    /// Check the config without touching any source or sink.
    Check,
}

#[derive(Debug, Clone, Copy, Args)]
pub struct Window {
    /// First day to collect (UTC, `YYYY-MM-DD`), included.
    #[arg(long)]
    pub since: Option<NaiveDate>,
    /// Last day to collect, included.
    #[arg(long)]
    pub until: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, Args)]
pub struct PeriodArgs {
    /// ISO week, e.g. `2024-W39`; default: the latest complete week in the store.
    #[arg(long, conflicts_with_all = ["since", "until"])]
    pub week: Option<Week>,
    /// First day of the period (with `--until`).
    #[arg(long, requires = "until")]
    pub since: Option<NaiveDate>,
    /// Last day of the period (with `--since`).
    #[arg(long, requires = "since")]
    pub until: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

fn parse_format(s: &str) -> Result<vitals_reports::Format, String> {
    s.parse()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn config_defaults_to_config_toml_and_is_global() {
        let cli = Cli::try_parse_from(["vitals", "check"]).unwrap();
        assert_eq!(cli.config, PathBuf::from("config.toml"));
        let cli = Cli::try_parse_from(["vitals", "check", "--config", "x.toml"]).unwrap();
        assert_eq!(cli.config, PathBuf::from("x.toml"));
        let cli = Cli::try_parse_from([
            "vitals", "report", "weekly", "--week", "2024-W39", "--format", "md",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Report {
                format: Some(vitals_reports::Format::Markdown),
                ..
            }
        ));
        assert!(Cli::try_parse_from(["vitals", "report", "weekly", "--week", "2024-39"]).is_err());
        assert!(Cli::try_parse_from(["vitals", "analyze", "--since", "2024-09-01"]).is_err());
    }
}
