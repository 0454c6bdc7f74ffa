//! The jobs every command is made of: collect into the store, analyze a
//! period, render and write reports.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, anyhow};
use chrono::{NaiveDate, Utc};
use vitals_analyzers::AnalysisContext;
use vitals_collector::{Batches, CollectReport, CollectWindow};
use vitals_core::Dataset;
use vitals_core::finding::Finding;
use vitals_core::period::{DayRange, Week};
use vitals_core::store::WriteSummary;
use vitals_core::summary::Summary;
use vitals_reports::{Format, Report, ReportInput};

use crate::app::App;
use vitals::metrics::Metrics;

/// What one collector run did.
pub struct CollectOutcome {
    pub collector: String,
    pub result: anyhow::Result<(WriteSummary, CollectReport)>,
}

/// Runs the collectors (all, or the one named) one after another and stores
/// each successful run. A failed run stores nothing and does not stop the others.
pub async fn collect(
    app: &Arc<App>,
    metrics: &Metrics,
    window: CollectWindow,
    only: Option<&str>,
) -> Vec<CollectOutcome> {
    let mut outcomes = Vec::new();
    for (index, collector) in app.collectors.iter().enumerate() {
        if only.is_some_and(|o| o != collector.name()) {
            continue;
        }
        let name = collector.name().to_string();
        metrics.collector_started(&name);
        let started = Instant::now();
        let result = run_collector(app, index, window).await;
        let seconds = started.elapsed().as_secs_f64();
        match &result {
            Ok((written, report)) => {
                metrics.collector_succeeded(
                    &name,
                    seconds,
                    written.rows,
                    report.bad_rows,
                    Utc::now().timestamp_millis() as f64 / 1000.0,
                );
                for bad in &report.bad_row_samples {
                    tracing::warn!(collector = %name, "bad row left out: {bad}");
                }
                if report.bad_rows > report.bad_row_samples.len() {
                    tracing::warn!(
                        collector = %name,
                        "{} more bad rows left out",
                        report.bad_rows - report.bad_row_samples.len()
                    );
                }
                for w in &report.warnings {
                    tracing::warn!(collector = %name, "{w}");
                }
                tracing::info!(
                    collector = %name,
                    files = report.files,
                    pages = report.pages,
                    rows = written.rows,
                    bad_rows = report.bad_rows,
                    partitions = written.partitions,
                    seconds = started.elapsed().as_secs_f64(),
                    "collected"
                );
            }
            Err(e) => {
                metrics.collector_failed(&name, seconds);
                tracing::error!(collector = %name, "collection failed, nothing stored: {e:#}");
            }
        }
        outcomes.push(CollectOutcome {
            collector: name,
            result,
        });
    }
    outcomes
}

async fn run_collector(
    app: &Arc<App>,
    index: usize,
    window: CollectWindow,
) -> anyhow::Result<(WriteSummary, CollectReport)> {
    let collector = &app.collectors[index];
    let dataset = collector.dataset();
    let mut staging = app.store.staging(dataset, collector.name())?;
    // The store's writer drains the collector's batches on the blocking pool
    // while the collector reads; if it fails, the channel closes and the
    // collector stops at its next batch.
    let (mut batches, mut rx) = Batches::channel();
    let writer = tokio::task::spawn_blocking(move || {
        while let Some(batch) = rx.blocking_recv() {
            staging.write(batch)?;
        }
        Ok::<_, vitals_core::Error>(staging)
    });
    let collected = collector.collect(window, &mut batches).await;
    drop(batches);
    let staging = writer.await.context("store task")?;
    let (staging, collected) = match (staging, collected) {
        // The store's error is the cause of the collector's `StoreClosed`.
        (Err(e), _) => return Err(anyhow::Error::new(e).context("storing the collected rows")),
        (Ok(_), Err(e)) => return Err(e.into()),
        (Ok(s), Ok(c)) => (s, c),
    };
    let written = tokio::task::spawn_blocking(move || {
        let staged = staging.finish(collected.days.as_ref())?;
        vitals_core::store::commit_all(staged)
    })
    .await
    .context("store task")??;
    Ok((written, collected.report))
}

/// Findings and summaries of one analysis.
#[derive(Default)]
pub struct Analysis {
    pub findings: Vec<Finding>,
    pub summaries: Vec<Summary>,
    /// Analyzers that failed, with why.
    pub failures: Vec<(String, anyhow::Error)>,
    /// Analyzers that succeeded, each with the range of `findings` it
    /// produced (the findings lifecycle reconciles these and no others).
    pub ran: Vec<(String, std::ops::Range<usize>)>,
}

impl Analysis {
    /// Each analyzer that succeeded with its findings, owned, for
    /// [`reconcile`].
    pub fn ran_findings(&self) -> Ran {
        self.ran
            .iter()
            .map(|(name, range)| (name.clone(), self.findings[range.clone()].to_vec()))
            .collect()
    }
}

/// Runs every analyzer over `period` on the blocking pool, or only those
/// about `only` (the first of their datasets).
pub async fn analyze(
    app: &Arc<App>,
    metrics: &Metrics,
    period: DayRange,
    only: Option<Dataset>,
) -> anyhow::Result<Analysis> {
    let app = Arc::clone(app);
    let metrics = metrics.clone();
    tokio::task::spawn_blocking(move || {
        let ctx = AnalysisContext::new(&app.store, period, Utc::now())
            .with_owner_tag(&app.config.findings.owner_tag);
        let mut out = Analysis::default();
        let selected: Vec<_> = app
            .analyzers
            .iter()
            .filter(|a| only.is_none_or(|d| a.datasets().first() == Some(&d)))
            .collect();
        for analyzer in &selected {
            metrics.analyzer_started(analyzer.name());
            match analyzer.analyze(&ctx) {
                Ok(mut o) => {
                    app.config.findings.assign_service_owners(&mut o.findings);
                    let first = out.findings.len();
                    out.findings.extend(o.findings);
                    out.ran
                        .push((analyzer.name().to_string(), first..out.findings.len()));
                    out.summaries.extend(o.summaries);
                }
                Err(e) => {
                    metrics.analyzer_failed(analyzer.name());
                    tracing::error!(analyzer = analyzer.name(), "analysis failed: {e}");
                    out.failures.push((analyzer.name().to_string(), e.into()));
                }
            }
        }
        // Judgements of what the others found (`slo_safe_savings`), by
        // those that succeeded.
        for analyzer in &selected {
            if out.ran.iter().any(|(n, _)| n == analyzer.name()) {
                analyzer.refine(&mut out.findings, &out.summaries);
            }
        }
        out
    })
    .await
    .context("analyzer task")
}

/// Runs every analyzer's judgement of `analysis`' findings
/// ([`vitals_analyzers::Analyzer::refine`]) with `summaries` from another
/// analysis (the daemon judges the savings of the latest inventory against
/// the latency refresh's `slo` verdicts).
pub fn refine(app: &App, analysis: &mut Analysis, summaries: &[Summary]) {
    for analyzer in &app.analyzers {
        analyzer.refine(&mut analysis.findings, summaries);
    }
}

/// Reconciles what `analysis` produced with the stored findings (see
/// `vitals_core::lifecycle`) and returns the transitions. Only the daemon's
/// refreshes call this, once per analyzer per cycle: `vitals analyze` over
/// some past period must not open or resolve anything.
pub async fn reconcile(app: &Arc<App>, ran: Ran) -> anyhow::Result<Vec<Change>> {
    if ran.is_empty() {
        return Ok(Vec::new());
    }
    let app = Arc::clone(app);
    tokio::task::spawn_blocking(move || {
        let state = vitals_core::lifecycle::FindingState::of_store(app.store.root());
        let ran: Vec<(&str, &[Finding])> = ran
            .iter()
            .map(|(n, f)| (n.as_str(), f.as_slice()))
            .collect();
        let policy = app.config.findings.lifecycle();
        let changes = state
            .update(|book| {
                let transitions = book.reconcile(Utc::now(), &ran, policy);
                let changes: Vec<Change> = transitions
                    .into_iter()
                    .filter_map(|t| {
                        let tracked = book.findings.get(&t.finding_id)?.clone();
                        Some((t, tracked))
                    })
                    .collect();
                // Into every sink's outbox before the state that produced
                // them is written: a crash in between records them again
                // next run, under the same keys, rather than losing them.
                app.delivery.enqueue(&changes, Utc::now())?;
                Ok::<_, vitals_sinks::outbox::OutboxError>(changes)
            })?
            .context("recording notifications")?;
        for (t, _) in &changes {
            tracing::info!(finding = %t.finding_id, change = ?t.change, "finding changed");
        }
        Ok(changes)
    })
    .await
    .context("findings task")?
}

/// What analyzers found, by analyzer (each that succeeded), as
/// [`reconcile`] takes it.
pub type Ran = Vec<(String, Vec<Finding>)>;

/// A finding's transition and its state after it.
pub type Change = (
    vitals_core::lifecycle::Transition,
    vitals_core::lifecycle::Tracked,
);

/// The type names of the analyzers about `dataset` (the kinds of their
/// findings).
pub fn kinds_about(app: &App, dataset: Dataset) -> Vec<&'static str> {
    let mut kinds: Vec<&'static str> = app
        .analyzers
        .iter()
        .filter(|a| a.datasets().first() == Some(&dataset))
        .map(|a| a.type_name())
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    kinds
}

/// The latest complete ISO week with cost data in the store.
pub async fn latest_week(app: &Arc<App>) -> anyhow::Result<Week> {
    let latest = latest_cost_day(app).await?.ok_or_else(|| {
        anyhow!(
            "no cost data in the store `{}`; run `vitals collect` first or pass `--week`",
            app.store.root().display()
        )
    })?;
    Ok(Week::latest_complete(latest, Utc::now().date_naive()))
}

pub async fn latest_cost_day(app: &Arc<App>) -> anyhow::Result<Option<NaiveDate>> {
    latest_day(app, Dataset::Cost).await
}

/// The latest day of `dataset` in the store.
pub async fn latest_day(app: &Arc<App>, dataset: Dataset) -> anyhow::Result<Option<NaiveDate>> {
    let app = Arc::clone(app);
    Ok(
        tokio::task::spawn_blocking(move || app.store.latest_day(dataset))
            .await
            .context("store task")??,
    )
}

/// Whether a written report also goes to the sinks that send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deliver {
    /// The scheduled report (daemon, `run --once`): recorded in each
    /// report sink's outbox, once per report and week, with the owners'
    /// digests.
    ToSinks,
    /// `vitals report`: files only; with `owner`, that owner's digest
    /// (`<name>-<week>-<owner>.<ext>`).
    FilesOnly { owner: Option<String> },
}

/// Renders `report` for `week` in `formats` and writes each file (to `out`
/// if given, else the report's `out_dir`). Returns the paths written; `None`
/// stands for stdout.
pub async fn write_report(
    app: &Arc<App>,
    metrics: &Metrics,
    report: &dyn Report,
    week: Week,
    formats: &[Format],
    out: Option<&std::path::Path>,
    deliver: Deliver,
) -> anyhow::Result<Vec<Option<PathBuf>>> {
    metrics.report_started(report.name());
    let result = render_and_write(app, metrics, report, week, formats, out, &deliver).await;
    match &result {
        Ok(_) => {
            metrics.report_succeeded(report.name(), Utc::now().timestamp_millis() as f64 / 1000.0)
        }
        Err(e) => {
            metrics.report_failed(report.name());
            tracing::error!(report = report.name(), "report failed: {e:#}");
        }
    }
    result
}

async fn render_and_write(
    app: &Arc<App>,
    metrics: &Metrics,
    report: &dyn Report,
    week: Week,
    formats: &[Format],
    out: Option<&std::path::Path>,
    deliver: &Deliver,
) -> anyhow::Result<Vec<Option<PathBuf>>> {
    let analysis = analyze(app, metrics, week.range(), None).await?;
    if let Some((name, e)) = analysis.failures.into_iter().next() {
        return Err(e.context(format!(
            "report `{}` needs the analyzers; `{name}` failed",
            report.name()
        )));
    }
    let preview_owner = match &deliver {
        Deliver::FilesOnly { owner } => owner.as_deref(),
        Deliver::ToSinks => None,
    };
    let owned: Vec<Finding>;
    let findings = match preview_owner {
        Some(o) => {
            owned = owned_by(&analysis.findings, o);
            &owned
        }
        None => &analysis.findings,
    };
    let input = ReportInput {
        week,
        summaries: &analysis.summaries,
        findings,
        generated_at: Utc::now(),
        owner: preview_owner,
    };
    let mut written = Vec::new();
    for &format in formats {
        let body = report.render(&input, format)?;
        match out {
            Some(p) if p.as_os_str() == "-" => {
                use std::io::Write;
                std::io::stdout()
                    .write_all(body.as_bytes())
                    .context("writing to stdout")?;
                written.push(None);
            }
            Some(p) => {
                vitals_reports::write_atomically(p, &body)?;
                written.push(Some(p.to_path_buf()));
            }
            None => {
                let stem = match preview_owner {
                    Some(o) => format!("{}-{o}", report.file_stem(week)),
                    None => report.file_stem(week),
                };
                let path = report
                    .out_dir()
                    .join(format!("{stem}.{}", format.extension()));
                vitals_reports::write_atomically(&path, &body)?;
                written.push(Some(path));
            }
        }
    }
    tracing::info!(report = report.name(), %week, files = written.len(), "report written");
    if *deliver == Deliver::ToSinks && app.delivery.sends_report(report.name()) {
        let mut messages = vec![report_message(report, &input)?];
        // Each owner's digest: the report narrowed to their findings, in a
        // week they have some.
        for owner in app.delivery.report_owners(report.name()) {
            let theirs = owned_by(&analysis.findings, &owner);
            if theirs.is_empty() {
                continue;
            }
            let narrowed = ReportInput {
                findings: &theirs,
                owner: Some(&owner),
                ..input
            };
            messages.push(report_message(report, &narrowed)?);
        }
        for message in &messages {
            let sinks = app
                .delivery
                .enqueue_report(message, Utc::now())
                .context("recording the report for its sinks")?;
            if !sinks.is_empty() {
                tracing::info!(
                    report = report.name(),
                    %week,
                    owner = message.owner.as_deref().unwrap_or("(all)"),
                    ?sinks,
                    "report recorded for delivery"
                );
            }
        }
    }
    Ok(written)
}

/// The findings `owner` owns.
fn owned_by(findings: &[Finding], owner: &str) -> Vec<Finding> {
    findings
        .iter()
        .filter(|f| f.owner.as_deref() == Some(owner))
        .cloned()
        .collect()
}

/// The report as the sinks that send it take it: rendered in HTML and
/// Markdown, with its findings (without evidence) and the saving each
/// counts in the report's total.
fn report_message(
    report: &dyn Report,
    input: &ReportInput<'_>,
) -> anyhow::Result<vitals_sinks::ReportMessage> {
    let html = report.render(input, Format::Html)?;
    let text = report.render(input, Format::Markdown)?;
    let title = text
        .lines()
        .find_map(|l| l.strip_prefix("# "))
        .map(|t| format!("vitals: {}", t.trim()))
        .unwrap_or_else(|| format!("vitals report `{}` for {}", report.name(), input.week));
    // The report's own count, so the CSV sums to its total.
    let counted = vitals_reports::counted_savings(input.findings);
    let findings = input
        .findings
        .iter()
        .map(|f| vitals_sinks::ReportFinding {
            counted_savings: counted.get(&f.finding_id).copied(),
            finding: Finding {
                evidence: serde_json::Value::Null,
                ..f.clone()
            },
        })
        .collect();
    Ok(vitals_sinks::ReportMessage {
        report: report.name().to_string(),
        period: input.week.to_string(),
        owner: input.owner.map(str::to_string),
        title,
        html,
        text,
        findings,
    })
}
