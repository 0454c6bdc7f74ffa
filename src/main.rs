//! The `vitals` binary: CLI, daemon, schedule and HTTP endpoint.
//!
//! Exit codes: 0 success; 1 a runtime failure (a collector, analyzer or
//! report failed, the store could not be read or written, the port was
//! taken); 2 the config file or the command line is wrong.

mod app;
mod cli;
mod daemon;
mod findings_cli;
mod memory;
mod pipeline;
mod summary_text;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::Utc;
use clap::Parser;
use vitals_collector::CollectWindow;
use vitals_core::config::ConfigErrors;
use vitals_core::period::DayRange;

use crate::app::App;
use crate::cli::{Cli, Command, LogFormat, OutputFormat};
use vitals::metrics::Metrics;

const EXIT_RUNTIME: u8 = 1;
const EXIT_CONFIG: u8 = 2;

/// Why a command failed, which decides the exit code.
enum Failure {
    Config(ConfigErrors),
    Runtime(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Runtime(e)
    }
}

impl From<ConfigErrors> for Failure {
    fn from(e: ConfigErrors) -> Self {
        Failure::Config(e)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(errors)) => {
            eprintln!("error: {errors}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// `vitals findings …`: reads and changes the store's findings state.
fn findings(app: &App, action: cli::FindingsAction) -> anyhow::Result<()> {
    let state = vitals_core::lifecycle::FindingState::of_store(app.store.root());
    let now = Utc::now();
    match action {
        cli::FindingsAction::List {
            kind,
            status,
            service,
            owner,
            format,
        } => {
            let book = state.load()?;
            let listed = findings_cli::select(
                &book,
                kind.as_deref(),
                status,
                service.as_deref(),
                owner.as_deref(),
                now,
            );
            match format {
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&listed).context("encoding JSON")?
                ),
                OutputFormat::Text => print!("{}", findings_cli::render(&listed, now)),
            }
        }
        cli::FindingsAction::Ack { id, note } => {
            let id = state.update(|book| book.acknowledge(&id, note, now))??;
            println!(
                "acknowledged {id}: not notified again until its severity changes or it reopens"
            );
        }
        cli::FindingsAction::Snooze { id, until } => {
            let id = state.update(|book| book.snooze(&id, until, now))??;
            println!("snoozed {id} until {}", until.to_rfc3339());
        }
    }
    Ok(())
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn dispatch(cli: Cli) -> Result<(), Failure> {
    let app = Arc::new(App::load(&cli.config)?);
    let metrics = Metrics::new().context("registering metrics")?;
    metrics.init_components(
        app.collectors.iter().map(|c| c.name()),
        app.analyzers.iter().map(|a| a.name()),
        app.reports.iter().map(|r| r.name()),
        app.delivery.sinks().iter().map(|s| s.name()),
    );
    match cli.command {
        Command::Check { connect } => {
            println!(
                "config `{}` is valid: {} collector(s), {} analyzer(s), {} report(s), {} sink(s); store at `{}`",
                cli.config.display(),
                app.collectors.len(),
                app.analyzers.len(),
                app.reports.len(),
                app.delivery.sinks().len(),
                app.store.root().display()
            );
            if !connect {
                return Ok(());
            }
            let mut failed = 0;
            for sink in app.delivery.sinks() {
                match sink.connect().await {
                    Ok(how) => println!(
                        "sink `{}` ({}): reachable: {how}",
                        sink.name(),
                        sink.type_name()
                    ),
                    Err(e) => {
                        failed += 1;
                        println!(
                            "sink `{}` ({}): NOT reachable: {e}",
                            sink.name(),
                            sink.type_name()
                        );
                    }
                }
            }
            if failed > 0 {
                return Err(anyhow::anyhow!("{failed} sink(s) not reachable").into());
            }
            Ok(())
        }
        Command::Run { once: false } => Ok(daemon::run(app, metrics).await?),
        Command::Run { once: true } => {
            let done = daemon::once(app, metrics).await?;
            print!("{}", summary_text::savings(&done.savings));
            for f in &done.files {
                println!("report written: {}", f.display());
            }
            if !done.ok {
                return Err(anyhow::anyhow!("some jobs failed; see the log above").into());
            }
            Ok(())
        }
        Command::Collect { source, window } => {
            if let Some(name) = &source
                && !app.collectors.iter().any(|c| c.name() == name)
            {
                let names: Vec<&str> = app.collectors.iter().map(|c| c.name()).collect();
                return Err(anyhow::anyhow!(
                    "no collector named `{name}`{}; configured: {}",
                    vitals_core::config::did_you_mean(name, names.iter().copied()),
                    vitals_core::config::backticked(names.iter().copied())
                )
                .into());
            }
            if let (Some(s), Some(u)) = (window.since, window.until)
                && u < s
            {
                return Err(anyhow::anyhow!("`--until` {u} is before `--since` {s}").into());
            }
            let window = CollectWindow {
                since: window.since,
                until: window.until,
                today: Utc::now().date_naive(),
            };
            let outcomes = pipeline::collect(&app, &metrics, window, source.as_deref()).await;
            let mut failed = Vec::new();
            for o in &outcomes {
                match &o.result {
                    Ok((written, report)) => println!(
                        "{}: {} rows from {} into {} day partition(s); {} bad row(s) left out",
                        o.collector,
                        written.rows,
                        report.inputs(),
                        written.partitions,
                        report.bad_rows
                    ),
                    Err(e) => {
                        println!("{}: failed, nothing stored: {e:#}", o.collector);
                        failed.push(o.collector.as_str());
                    }
                }
            }
            if !failed.is_empty() {
                return Err(anyhow::anyhow!(
                    "{} of {} collector(s) failed: {}",
                    failed.len(),
                    outcomes.len(),
                    vitals_core::config::backticked(failed.iter().copied())
                )
                .into());
            }
            Ok(())
        }
        Command::Findings { action } => findings(&app, action).map_err(Failure::from),
        Command::Notify {
            action: cli::NotifyAction::Test { sink },
        } => {
            let names: Vec<&str> = app.delivery.sinks().iter().map(|s| s.name()).collect();
            if !app
                .delivery
                .enqueue_test(&sink, Utc::now())
                .context("recording the test notification")?
            {
                return Err(anyhow::anyhow!(
                    "no sink named `{sink}`{}; configured: {}",
                    vitals_core::config::did_you_mean(&sink, names.iter().copied()),
                    vitals_core::config::backticked(names.iter().copied())
                )
                .into());
            }
            if !daemon::deliver_now(&app, &metrics, std::time::Duration::from_secs(30)).await {
                return Err(anyhow::anyhow!(
                    "not every notification was delivered; what is left stays in the outbox"
                )
                .into());
            }
            Ok(())
        }
        Command::Analyze { period, format } => {
            let range = match (period.week, period.since, period.until) {
                (Some(w), _, _) => w.range(),
                (None, Some(s), Some(u)) => DayRange::new(s, u)
                    .with_context(|| format!("`--until` {u} is before `--since` {s}"))?,
                _ => pipeline::latest_week(&app).await?.range(),
            };
            let analysis = pipeline::analyze(&app, &metrics, range, None).await?;
            match format {
                OutputFormat::Json => {
                    let doc = serde_json::json!({
                        "period": range,
                        "summaries": analysis.summaries,
                        "findings": analysis.findings,
                    });
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&doc).context("encoding JSON")?
                    );
                }
                OutputFormat::Text => print!(
                    "{}",
                    summary_text::render(&analysis.summaries, &analysis.findings)
                ),
            }
            if let Some((name, e)) = analysis.failures.into_iter().next() {
                return Err(e.context(format!("analyzer `{name}` failed")).into());
            }
            Ok(())
        }
        Command::Report {
            name,
            format,
            out,
            week,
            owner,
        } => {
            let Some(report) = app.report(&name) else {
                let names: Vec<&str> = app.reports.iter().map(|r| r.name()).collect();
                return Err(anyhow::anyhow!(
                    "no report named `{name}`{}; configured: {}",
                    vitals_core::config::did_you_mean(&name, names.iter().copied()),
                    vitals_core::config::backticked(names.iter().copied())
                )
                .into());
            };
            let formats = match (format, &out) {
                (Some(f), _) => vec![f],
                (None, Some(path)) if path.as_os_str() != "-" => {
                    let ext = path
                        .extension()
                        .and_then(|e| e.to_str())
                        .unwrap_or_default();
                    match ext.parse() {
                        Ok(f) => vec![f],
                        Err(_) => bail_format(path)?,
                    }
                }
                (None, Some(_)) => vec![vitals_reports::Format::Markdown],
                (None, None) => report.formats().to_vec(),
            };
            if out.is_some() && formats.len() > 1 {
                return Err(anyhow::anyhow!("`--out` takes one format; add `--format`").into());
            }
            let week = match week {
                Some(w) => w,
                None => pipeline::latest_week(&app).await?,
            };
            let written = pipeline::write_report(
                &app,
                &metrics,
                report,
                week,
                &formats,
                out.as_deref(),
                pipeline::Deliver::FilesOnly { owner },
            )
            .await?;
            for path in written.into_iter().flatten() {
                eprintln!("report written: {}", path.display());
            }
            Ok(())
        }
    }
}

fn bail_format(path: &std::path::Path) -> anyhow::Result<Vec<vitals_reports::Format>> {
    bail!(
        "cannot tell the format of `{}` from its extension; add `--format html|md|json`",
        path.display()
    )
}
