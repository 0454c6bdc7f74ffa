//! `vitals run`: the schedule. Collectors every `collect_interval`, then the
//! analyzers (for the metrics); reports on `report_cron` in `timezone`. Stops
//! cleanly on SIGINT or SIGTERM: the HTTP server drains, a running job is
//! abandoned between store writes (each write is atomic on its own).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio::sync::watch;
use vitals_collector::CollectWindow;
use vitals_core::Dataset;
use vitals_core::period::{DayRange, Week};
use vitals_core::summary::Summary;

use crate::app::App;
use crate::pipeline;
use vitals::metrics::Metrics;

/// How long `vitals run --once` keeps retrying deliveries before leaving
/// them in the outbox for the next run.
const ONCE_DELIVERY_LIMIT: Duration = Duration::from_secs(30);

/// Temp files younger than this may belong to a writer still running.
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

pub async fn run(app: Arc<App>, metrics: Metrics) -> anyhow::Result<()> {
    clean_stale(&app);
    let listen = app.config.server.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen} (`[server] listen`)"))?;
    tracing::info!(%listen, "serving /metrics, /healthz, /readyz");

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut server_stop = stop_rx.clone();
    let router = vitals::http::router(metrics.clone());
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = server_stop.wait_for(|s| *s).await;
            })
            .await
    });
    tokio::spawn(async move {
        wait_for_signal().await;
        let _ = stop_tx.send(true);
    });

    let _delivery = tokio::spawn(delivery_loop(
        Arc::clone(&app),
        metrics.clone(),
        stop_rx.clone(),
    ));

    let schedule = &app.config.schedule;
    let interval = schedule.collect_interval;
    let mut next_report = next_cron(&app, Utc::now());
    let mut stop = stop_rx.clone();
    loop {
        let cycle = async {
            let _ = collect_cycle(&app, &metrics).await;
            metrics.set_ready();
            crate::memory::give_back_freed_memory();
        };
        tokio::select! {
            _ = cycle => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        let next_collect = tokio::time::Instant::now() + interval;
        loop {
            let until_report = next_report
                .map(|t| (t - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(Duration::MAX);
            let report_at =
                tokio::time::Instant::now() + until_report.min(Duration::from_secs(365 * 86_400));
            if report_at >= next_collect {
                tokio::select! {
                    _ = tokio::time::sleep_until(next_collect) => break,
                    _ = stop.wait_for(|s| *s) => return shutdown(server).await,
                }
            }
            tokio::select! {
                _ = tokio::time::sleep_until(report_at) => {}
                _ = stop.wait_for(|s| *s) => return shutdown(server).await,
            }
            tokio::select! {
                _ = report_cycle(&app, &metrics) => {}
                _ = stop.wait_for(|s| *s) => return shutdown(server).await,
            }
            crate::memory::give_back_freed_memory();
            next_report = next_cron(&app, Utc::now() + chrono::Duration::seconds(1));
        }
    }
    shutdown(server).await
}

/// Sends what the outbox holds whenever something is recorded, and again
/// when a retry falls due (at least every 30 s while anything waits); stops
/// with the daemon (what is left is sent after the restart).
async fn delivery_loop(app: Arc<App>, metrics: Metrics, mut stop: watch::Receiver<bool>) {
    if app.delivery.sinks().is_empty() {
        return;
    }
    loop {
        let state = tokio::select! {
            s = async {
                app.delivery.refresh().await;
                app.delivery.deliver().await
            } => s,
            _ = stop.wait_for(|s| *s) => return,
        };
        set_sink_metrics(&metrics, &state);
        let until_refresh = app
            .delivery
            .next_refresh()
            .map(|at| at.saturating_duration_since(tokio::time::Instant::now()))
            .unwrap_or(Duration::MAX);
        let wait = app
            .delivery
            .next_due()
            .map(|due| (due - Utc::now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(Duration::from_secs(3600))
            .min(until_refresh)
            .min(Duration::from_secs(30));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = app.delivery.woken() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

fn set_sink_metrics(
    metrics: &Metrics,
    state: &std::collections::BTreeMap<String, vitals_sinks::delivery::SinkState>,
) {
    for (sink, s) in state {
        let age = s
            .oldest
            .map(|t| (Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0)
            .unwrap_or(0.0);
        let c = s.counts;
        metrics.set_sink(sink, [c.sent, c.failed, c.retried, c.dead], s.depth, age);
    }
}

/// Delivers what is pending for up to `limit`, for the one-shot commands;
/// says what was sent and what is left. False if anything is left or was
/// given up on.
pub async fn deliver_now(app: &App, metrics: &Metrics, limit: Duration) -> bool {
    if app.delivery.sinks().is_empty() {
        return true;
    }
    app.delivery.refresh().await;
    let state = app
        .delivery
        .deliver_until(tokio::time::Instant::now() + limit)
        .await;
    set_sink_metrics(metrics, &state);
    let mut ok = true;
    for (sink, s) in &state {
        println!(
            "sink `{sink}`: {} sent, {} pending{}",
            s.counts.sent,
            s.depth,
            if s.counts.dead > 0 {
                format!(", {} given up (see the outbox's dead/)", s.counts.dead)
            } else {
                String::new()
            }
        );
        ok &= s.depth == 0 && s.counts.dead == 0;
    }
    ok
}

async fn shutdown(server: tokio::task::JoinHandle<std::io::Result<()>>) -> anyhow::Result<()> {
    tracing::info!("shutting down");
    server
        .await
        .context("HTTP server task")?
        .context("HTTP server")?;
    tracing::info!("stopped");
    Ok(())
}

/// What `vitals run --once` did.
pub struct Once {
    pub files: Vec<std::path::PathBuf>,
    /// The savings analyzers' findings, judged up to the latest inventory.
    pub savings: Vec<vitals_core::finding::Finding>,
    pub ok: bool,
}

/// `vitals run --once`: one collection, one analysis, every report.
pub async fn once(app: Arc<App>, metrics: Metrics) -> anyhow::Result<Once> {
    clean_stale(&app);
    let (mut ok, savings) = collect_cycle(&app, &metrics).await;
    let mut files = Vec::new();
    match report_cycle_files(&app, &metrics).await {
        Ok((written, all_ok)) => {
            files = written;
            ok &= all_ok;
        }
        Err(e) => {
            tracing::error!("{e:#}");
            ok = false;
        }
    }
    ok &= deliver_now(&app, &metrics, ONCE_DELIVERY_LIMIT).await;
    Ok(Once { files, savings, ok })
}

fn clean_stale(app: &App) {
    match app.store.clean_stale_temp_files(STALE_TEMP_AGE) {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            files = n,
            "removed stale temporary files left by an interrupted write"
        ),
        Err(e) => tracing::warn!("cleaning stale temporary files: {e}"),
    }
}

/// Collects from every source, then refreshes the gauges. True if every
/// collector and analyzer succeeded; and the savings findings.
async fn collect_cycle(
    app: &Arc<App>,
    metrics: &Metrics,
) -> (bool, Vec<vitals_core::finding::Finding>) {
    let window = CollectWindow {
        since: None,
        until: None,
        today: Utc::now().date_naive(),
    };
    let outcomes = pipeline::collect(app, metrics, window, None).await;
    let mut ok = outcomes.iter().all(|o| o.result.is_ok());
    // Every analyzer's findings of the cycle, reconciled at once: one
    // state change and one digest per cycle.
    let mut ran = Vec::new();
    ok &= refresh_cost_metrics(app, metrics, &mut ran).await;
    let (latency_ok, slo) = refresh_latency_metrics(app, metrics, &mut ran).await;
    ok &= latency_ok;
    let (savings_ok, savings) = refresh_savings_metrics(app, metrics, &mut ran, slo).await;
    ok &= record_findings(app, ran).await;
    (ok && savings_ok, savings)
}

/// Sets the savings gauges from the savings analyzers, judged up to the
/// latest day with an inventory snapshot (and, with `slo_safe_savings`,
/// against `slo`, the latency refresh's verdicts); returns their findings.
async fn refresh_savings_metrics(
    app: &Arc<App>,
    metrics: &Metrics,
    ran: &mut pipeline::Ran,
    slo: Option<Summary>,
) -> (bool, Vec<vitals_core::finding::Finding>) {
    let kinds = pipeline::kinds_about(app, Dataset::Inventory);
    if kinds.is_empty() {
        return (true, Vec::new());
    }
    let latest = match pipeline::latest_day(app, Dataset::Inventory).await {
        Ok(Some(day)) => day,
        Ok(None) => return (true, Vec::new()),
        Err(e) => {
            tracing::error!("reading the store: {e:#}");
            return (false, Vec::new());
        }
    };
    let Ok(mut analysis) = pipeline::analyze(
        app,
        metrics,
        DayRange::single(latest),
        Some(Dataset::Inventory),
    )
    .await
    else {
        return (false, Vec::new());
    };
    if let Some(slo) = slo {
        pipeline::refine(app, &mut analysis, &[slo]);
    }
    metrics.set_savings(&kinds, &analysis.findings);
    metrics.set_findings(&kinds, &analysis.findings);
    ran.extend(analysis.ran_findings());
    (analysis.failures.is_empty(), analysis.findings)
}

/// Sets the latency gauges from the 7 days up to the latest day with
/// latency data; returns whether it succeeded, and the `slo` summary.
async fn refresh_latency_metrics(
    app: &Arc<App>,
    metrics: &Metrics,
    ran: &mut pipeline::Ran,
) -> (bool, Option<Summary>) {
    let latest = match pipeline::latest_day(app, Dataset::Latency).await {
        Ok(Some(day)) => day,
        Ok(None) => return (true, None),
        Err(e) => {
            tracing::error!("reading the store: {e:#}");
            return (false, None);
        }
    };
    let week = DayRange {
        start: latest - chrono::Duration::days(6),
        end: latest,
    };
    let Ok(analysis) = pipeline::analyze(app, metrics, week, Some(Dataset::Latency)).await else {
        return (false, None);
    };
    let summary = analysis.summaries.iter().find_map(|s| match s {
        Summary::Latency(l) => Some(l.as_ref()),
        _ => None,
    });
    if let Some(summary) = summary {
        metrics.set_latency(summary, latest, &analysis.findings);
    }
    metrics.set_findings(
        &pipeline::kinds_about(app, Dataset::Latency),
        &analysis.findings,
    );
    let slo = analysis.summaries.iter().find_map(|s| match s {
        Summary::Slo(slo) => Some(slo.as_ref()),
        _ => None,
    });
    if let Some(slo) = slo {
        metrics.set_slo(slo, latest);
    }
    ran.extend(analysis.ran_findings());
    let slo = analysis
        .summaries
        .into_iter()
        .find(|s| matches!(s, Summary::Slo(_)));
    (analysis.failures.is_empty(), slo)
}

/// Sets the cost gauges from the latest complete week and the latest day.
async fn refresh_cost_metrics(app: &Arc<App>, metrics: &Metrics, ran: &mut pipeline::Ran) -> bool {
    let latest = match pipeline::latest_cost_day(app).await {
        Ok(Some(day)) => day,
        Ok(None) => return true,
        Err(e) => {
            tracing::error!("reading the store: {e:#}");
            return false;
        }
    };
    let week = Week::latest_complete(latest, Utc::now().date_naive());
    let (Ok(week_analysis), Ok(day_analysis)) = (
        pipeline::analyze(app, metrics, week.range(), Some(Dataset::Cost)).await,
        pipeline::analyze(app, metrics, DayRange::single(latest), Some(Dataset::Cost)).await,
    ) else {
        return false;
    };
    let first_cost = |s: &[Summary]| {
        s.iter().find_map(|s| match s {
            Summary::Cost(c) => Some(c.as_ref().clone()),
            _ => None,
        })
    };
    if let Some(w) = first_cost(&week_analysis.summaries) {
        metrics.set_cost(&w, first_cost(&day_analysis.summaries).as_ref());
        metrics.set_anomalies(&w, &week_analysis.findings);
    }
    let unit_cost = week_analysis.summaries.iter().find_map(|s| match s {
        Summary::CostPerRequest(c) => Some(c.as_ref()),
        _ => None,
    });
    if let Some(c) = unit_cost {
        metrics.set_cost_per_request(c);
    }
    let commitments = week_analysis.summaries.iter().find_map(|s| match s {
        Summary::Commitment(c) => Some(c.as_ref()),
        _ => None,
    });
    if let Some(c) = commitments {
        metrics.set_commitments(c);
    }
    metrics.set_findings(
        &pipeline::kinds_about(app, Dataset::Cost),
        &week_analysis.findings,
    );
    ran.extend(week_analysis.ran_findings());
    week_analysis.failures.is_empty() && day_analysis.failures.is_empty()
}

/// Reconciles a cycle's findings with the stored ones; false (logged) if
/// the state could not be read or written.
async fn record_findings(app: &Arc<App>, ran: pipeline::Ran) -> bool {
    match pipeline::reconcile(app, ran).await {
        Ok(_) => true,
        Err(e) => {
            tracing::error!("recording findings: {e:#}");
            false
        }
    }
}

async fn report_cycle(app: &Arc<App>, metrics: &Metrics) {
    if let Err(e) = report_cycle_files(app, metrics).await {
        tracing::error!("{e:#}");
    }
}

/// Writes every configured report for the latest complete week.
async fn report_cycle_files(
    app: &Arc<App>,
    metrics: &Metrics,
) -> anyhow::Result<(Vec<std::path::PathBuf>, bool)> {
    if app.reports.is_empty() {
        return Ok((Vec::new(), true));
    }
    let week = pipeline::latest_week(app).await?;
    let mut files = Vec::new();
    let mut ok = true;
    for report in &app.reports {
        match pipeline::write_report(
            app,
            metrics,
            report.as_ref(),
            week,
            report.formats(),
            None,
            pipeline::Deliver::ToSinks,
        )
        .await
        {
            Ok(written) => files.extend(written.into_iter().flatten()),
            Err(_) => ok = false,
        }
    }
    Ok((files, ok))
}

/// The next report time after `after`, in the configured time zone.
fn next_cron(app: &App, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let schedule = &app.config.schedule;
    let local = after.with_timezone(&schedule.timezone);
    match schedule
        .report_cron
        .cron
        .find_next_occurrence(&local, false)
    {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(e) => {
            tracing::error!(cron = %schedule.report_cron.expression, "no next report time: {e}");
            None
        }
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!("cannot listen for SIGTERM: {e}");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => tracing::info!("SIGINT received"),
            _ = term.recv() => tracing::info!("SIGTERM received"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
