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
        /// That owner's digest (what the email sink's `owner_digests`
        /// send): only their findings.
        #[arg(long)]
        owner: Option<String>,
    },
    /// Check the config without touching any source or sink.
    Check {
        /// Also reach each sink (connect, TLS, authenticate where it
        /// can) without sending anything.
        #[arg(long)]
        connect: bool,
    },
    /// Send one test notification through a sink (and its outbox).
    Notify {
        #[command(subcommand)]
        action: NotifyAction,
    },
    /// The findings the daemon keeps across runs: list, acknowledge, snooze.
    Findings {
        #[command(subcommand)]
        action: FindingsAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum NotifyAction {
    /// Sends a `vitals.test` notification to the sink named SINK.
    Test { sink: String },
}

#[derive(Debug, Subcommand)]
pub enum FindingsAction {
    /// List stored findings, newest first.
    List {
        /// Only this kind (e.g. `idle_resource`).
        #[arg(long)]
        kind: Option<String>,
        /// Only findings in this state.
        #[arg(long, value_enum, default_value_t = StatusFilter::Open)]
        status: StatusFilter,
        /// Only this service.
        #[arg(long)]
        service: Option<String>,
        /// Only this owner (the `[findings] owner_tag` value).
        #[arg(long)]
        owner: Option<String>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Acknowledge a finding (its id, or a unique prefix): it is not
    /// notified again until its severity changes or it reopens.
    Ack {
        id: String,
        /// Why, for the record.
        #[arg(long)]
        note: Option<String>,
    },
    /// Snooze a finding until a day (UTC midnight, `YYYY-MM-DD`) or a time
    /// (RFC 3339): not notified before then unless its severity changes.
    Snooze {
        id: String,
        #[arg(long, value_parser = parse_until)]
        until: chrono::DateTime<chrono::Utc>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFilter {
    Open,
    Resolved,
    /// Acknowledged or snoozed, and open.
    Quiet,
    All,
}

fn parse_until(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(day) = s.parse::<NaiveDate>() {
        return Ok(day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| format!("`{s}` is neither a date (YYYY-MM-DD) nor an RFC 3339 time"))
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

    #[test]
    fn snooze_takes_a_day_or_a_time() {
        let until = |arg: &str| match Cli::try_parse_from([
            "vitals", "findings", "snooze", "ab12", "--until", arg,
        ]) {
            Ok(Cli {
                command:
                    Command::Findings {
                        action: FindingsAction::Snooze { until, .. },
                    },
                ..
            }) => Some(until.to_rfc3339()),
            _ => None,
        };
        assert_eq!(
            until("2026-12-24").as_deref(),
            Some("2026-12-24T00:00:00+00:00")
        );
        assert_eq!(
            until("2026-12-24T09:30:00+01:00").as_deref(),
            Some("2026-12-24T08:30:00+00:00")
        );
        assert_eq!(until("next week"), None);
    }
}
