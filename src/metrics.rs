//! Every metric vitals exports, named in one place.
//!
//! Prometheus conventions: the `vitals_` prefix, base units in the name,
//! counters end in `_total`, and labels are bounded: collector, analyzer and
//! report names come from the config, providers and currencies from billing
//! data (a handful), services are capped per provider with the rest summed
//! into `other`.
//!
//! Every change goes through a method of [`Metrics`], which bumps a version;
//! [`Metrics::encode`] keeps the text of the last version it encoded and
//! hands it out again until something changes. Between cycles nothing does,
//! so a scrape of thousands of series costs a copy, not a gather and format
//! of every series (kube-state-metrics serves cached text for the same
//! reason). `examples/bench_metrics.rs` measures both.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use prometheus::{
    CounterVec, Encoder, GaugeVec, HistogramOpts, HistogramVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use vitals_core::evidence::{
    CostAnomalyEvidence, Direction, Evidence, LatencyMetric, P95RegressionEvidence,
};
use vitals_core::summary::{CostSummary, LatencyStats, LatencySummary, SloSummary};

pub const BUILD_INFO: &str = "vitals_build_info";
pub const COLLECTOR_RUNS: &str = "vitals_collector_runs_total";
pub const COLLECTOR_FAILURES: &str = "vitals_collector_failures_total";
pub const COLLECTOR_DURATION: &str = "vitals_collector_duration_seconds";
pub const COLLECTOR_ROWS: &str = "vitals_collector_rows_total";
pub const COLLECTOR_BAD_ROWS: &str = "vitals_collector_bad_rows_total";
pub const COLLECTOR_LAST_SUCCESS: &str = "vitals_collector_last_success_timestamp_seconds";
pub const ANALYZER_RUNS: &str = "vitals_analyzer_runs_total";
pub const ANALYZER_FAILURES: &str = "vitals_analyzer_failures_total";
pub const REPORT_RUNS: &str = "vitals_report_runs_total";
pub const REPORT_FAILURES: &str = "vitals_report_failures_total";
pub const REPORT_LAST_SUCCESS: &str = "vitals_report_last_success_timestamp_seconds";
pub const COST_WEEK_BILLED: &str = "vitals_cost_week_billed";
pub const COST_WEEK_EFFECTIVE: &str = "vitals_cost_week_effective";
pub const COST_DAY_BILLED: &str = "vitals_cost_day_billed";
pub const COST_DAY_EFFECTIVE: &str = "vitals_cost_day_effective";
pub const COST_DATA_THROUGH: &str = "vitals_cost_data_through_timestamp_seconds";
pub const COST_ANOMALIES: &str = "vitals_cost_anomalies";
pub const COST_WEEK_CREDITS: &str = "vitals_cost_week_credits";
pub const COST_WEEK_USAGE_BY_PRICING: &str = "vitals_cost_week_usage_effective_by_pricing_category";
pub const LATENCY_P95: &str = "vitals_latency_p95_seconds";
pub const APDEX: &str = "vitals_apdex_ratio";
pub const LATENCY_REGRESSIONS: &str = "vitals_latency_regressions_open";
pub const SLO_COMPLIANT: &str = "vitals_slo_compliant";
pub const SAVINGS_MONTHLY: &str = "vitals_savings_monthly";
pub const SAVINGS_BY_SAFETY: &str = "vitals_savings_by_safety_monthly";
pub const COST_PER_REQUEST: &str = "vitals_cost_per_request";
pub const COMMITMENT_COVERAGE: &str = "vitals_commitment_coverage_ratio";
pub const COMMITMENT_RECOMMENDED_HOURLY: &str = "vitals_commitment_recommended_hourly";
pub const FINDINGS_OPEN: &str = "vitals_findings_open";
pub const NOTIFICATIONS_SENT: &str = "vitals_notifications_sent_total";
pub const NOTIFICATIONS_FAILED: &str = "vitals_notifications_failed_total";
pub const NOTIFICATIONS_RETRIED: &str = "vitals_notifications_retried_total";
pub const NOTIFICATIONS_DEAD: &str = "vitals_notifications_dead_total";
pub const OUTBOX_DEPTH: &str = "vitals_outbox_depth";
pub const OUTBOX_OLDEST_AGE: &str = "vitals_outbox_oldest_age_seconds";
pub const UP: &str = "vitals_ready";

/// Every metric name, for the naming and dashboard tests.
#[cfg(test)]
pub const ALL: &[&str] = &[
    BUILD_INFO,
    COLLECTOR_RUNS,
    COLLECTOR_FAILURES,
    COLLECTOR_DURATION,
    COLLECTOR_ROWS,
    COLLECTOR_BAD_ROWS,
    COLLECTOR_LAST_SUCCESS,
    ANALYZER_RUNS,
    ANALYZER_FAILURES,
    REPORT_RUNS,
    REPORT_FAILURES,
    REPORT_LAST_SUCCESS,
    COST_WEEK_BILLED,
    COST_WEEK_EFFECTIVE,
    COST_DAY_BILLED,
    COST_DAY_EFFECTIVE,
    COST_DATA_THROUGH,
    COST_ANOMALIES,
    COST_WEEK_CREDITS,
    COST_WEEK_USAGE_BY_PRICING,
    LATENCY_P95,
    APDEX,
    LATENCY_REGRESSIONS,
    SLO_COMPLIANT,
    SAVINGS_MONTHLY,
    SAVINGS_BY_SAFETY,
    COST_PER_REQUEST,
    COMMITMENT_COVERAGE,
    COMMITMENT_RECOMMENDED_HOURLY,
    FINDINGS_OPEN,
    NOTIFICATIONS_SENT,
    NOTIFICATIONS_FAILED,
    NOTIFICATIONS_RETRIED,
    NOTIFICATIONS_DEAD,
    OUTBOX_DEPTH,
    OUTBOX_OLDEST_AGE,
    UP,
];

/// Services per provider that get their own series; the rest are `other`.
pub const MAX_SERVICES_PER_PROVIDER: usize = 20;

/// Services with latency series, the busiest first; quantiles cannot be
/// summed into an `other`, so the rest have none.
pub const MAX_LATENCY_SERVICES: usize = 200;

/// The registry and every metric in it.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    collector_runs: CounterVec,
    collector_failures: CounterVec,
    collector_duration: HistogramVec,
    collector_rows: CounterVec,
    collector_bad_rows: CounterVec,
    collector_last_success: GaugeVec,
    analyzer_runs: CounterVec,
    analyzer_failures: CounterVec,
    report_runs: CounterVec,
    report_failures: CounterVec,
    report_last_success: GaugeVec,
    notifications_sent: CounterVec,
    notifications_failed: CounterVec,
    notifications_retried: CounterVec,
    notifications_dead: CounterVec,
    outbox_depth: GaugeVec,
    outbox_oldest_age: GaugeVec,
    cost_week_billed: GaugeVec,
    cost_week_effective: GaugeVec,
    cost_day_billed: GaugeVec,
    cost_day_effective: GaugeVec,
    cost_data_through: IntGauge,
    cost_anomalies: IntGaugeVec,
    cost_week_credits: GaugeVec,
    cost_week_usage_by_pricing: GaugeVec,
    latency_p95: GaugeVec,
    apdex: GaugeVec,
    latency_regressions: IntGaugeVec,
    slo_compliant: IntGaugeVec,
    savings_monthly: GaugeVec,
    savings_by_safety: GaugeVec,
    cost_per_request: GaugeVec,
    commitment_coverage: GaugeVec,
    commitment_recommended_hourly: GaugeVec,
    findings_open: IntGaugeVec,
    /// Per finding kind, per severity, the latest analysis' count: each
    /// refresh replaces the kinds of the analyzers it ran.
    findings_by_kind: Arc<Mutex<std::collections::BTreeMap<String, [i64; 3]>>>,
    ready: IntGauge,
    /// Bumped by every change; see the module docs.
    version: Arc<AtomicU64>,
    /// The text of the version it was encoded at.
    encoded: Arc<Mutex<Option<(u64, Bytes)>>>,
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, label: &str| -> prometheus::Result<CounterVec> {
            let c = CounterVec::new(Opts::new(name, help), &[label])?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| -> prometheus::Result<GaugeVec> {
            let g = GaugeVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let build_info = IntGaugeVec::new(
            Opts::new(
                BUILD_INFO,
                "Build information of the running vitals; always 1.",
            ),
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        registry.register(Box::new(build_info))?;
        let collector_duration = HistogramVec::new(
            HistogramOpts::new(
                COLLECTOR_DURATION,
                "Duration of collector runs, failed ones included.",
            )
            .buckets(vec![
                0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
            ]),
            &["collector"],
        )?;
        registry.register(Box::new(collector_duration.clone()))?;
        let cost_data_through = IntGauge::new(
            COST_DATA_THROUGH,
            "Start (UTC midnight) of the latest day with cost data in the store, as a Unix timestamp.",
        )?;
        registry.register(Box::new(cost_data_through.clone()))?;
        let ready = IntGauge::new(
            UP,
            "1 once the first collection cycle has finished, else 0.",
        )?;
        registry.register(Box::new(ready.clone()))?;
        let cost_labels = &["provider", "service", "currency"][..];
        let cost_anomalies = IntGaugeVec::new(
            Opts::new(
                COST_ANOMALIES,
                "Cost anomalies that started in the latest complete ISO week.",
            ),
            &["provider", "severity"],
        )?;
        registry.register(Box::new(cost_anomalies.clone()))?;
        let findings_open = IntGaugeVec::new(
            Opts::new(
                FINDINGS_OPEN,
                "Findings of the latest analysis, by kind and severity (every severity of every configured analyzer's kind is set, zero included).",
            ),
            &["kind", "severity"],
        )?;
        registry.register(Box::new(findings_open.clone()))?;
        let latency_regressions = IntGaugeVec::new(
            Opts::new(
                LATENCY_REGRESSIONS,
                "P95 or Apdex regressions (p95_regression findings) that started in the 7 days up to the latest day with latency data and have not recovered.",
            ),
            &["service", "metric"],
        )?;
        registry.register(Box::new(latency_regressions.clone()))?;
        let slo_compliant = IntGaugeVec::new(
            Opts::new(
                SLO_COMPLIANT,
                "1 if the service met the objective (p95, apdex, error_rate) on the latest day with latency data, 0 if not; absent without data or with low traffic.",
            ),
            &["service", "objective"],
        )?;
        registry.register(Box::new(slo_compliant.clone()))?;
        Ok(Metrics {
            collector_runs: counter(COLLECTOR_RUNS, "Collector runs started.", "collector")?,
            collector_failures: counter(
                COLLECTOR_FAILURES,
                "Collector runs that failed; nothing of them was stored.",
                "collector",
            )?,
            collector_duration,
            collector_rows: counter(COLLECTOR_ROWS, "Rows collected and stored.", "collector")?,
            collector_bad_rows: counter(
                COLLECTOR_BAD_ROWS,
                "Malformed source rows left out of stored runs.",
                "collector",
            )?,
            collector_last_success: gauge(
                COLLECTOR_LAST_SUCCESS,
                "Unix time of the collector's last successful run.",
                &["collector"],
            )?,
            analyzer_runs: counter(ANALYZER_RUNS, "Analyzer runs started.", "analyzer")?,
            analyzer_failures: counter(
                ANALYZER_FAILURES,
                "Analyzer runs that failed.",
                "analyzer",
            )?,
            report_runs: counter(REPORT_RUNS, "Report runs started.", "report")?,
            report_failures: counter(REPORT_FAILURES, "Report runs that failed.", "report")?,
            report_last_success: gauge(
                REPORT_LAST_SUCCESS,
                "Unix time the report was last written.",
                &["report"],
            )?,
            notifications_sent: counter(
                NOTIFICATIONS_SENT,
                "Notifications the sink's receiver accepted.",
                "sink",
            )?,
            notifications_failed: counter(
                NOTIFICATIONS_FAILED,
                "Delivery attempts that failed (each is retried or, at the end, dead).",
                "sink",
            )?,
            notifications_retried: counter(
                NOTIFICATIONS_RETRIED,
                "Failed delivery attempts that will be tried again.",
                "sink",
            )?,
            notifications_dead: counter(
                NOTIFICATIONS_DEAD,
                "Notifications given up on (refused, or out of attempts), kept in the outbox's dead/.",
                "sink",
            )?,
            outbox_depth: gauge(
                OUTBOX_DEPTH,
                "Notifications waiting in the sink's outbox.",
                &["sink"],
            )?,
            outbox_oldest_age: gauge(
                OUTBOX_OLDEST_AGE,
                "Age of the oldest notification waiting in the sink's outbox (0 when empty).",
                &["sink"],
            )?,
            cost_week_billed: gauge(
                COST_WEEK_BILLED,
                "Billed cost of the latest complete ISO week, in the billing currency.",
                cost_labels,
            )?,
            cost_week_effective: gauge(
                COST_WEEK_EFFECTIVE,
                "Effective (amortized) cost of the latest complete ISO week, in the billing currency.",
                cost_labels,
            )?,
            cost_day_billed: gauge(
                COST_DAY_BILLED,
                "Billed cost of the latest day with cost data, in the billing currency.",
                cost_labels,
            )?,
            cost_day_effective: gauge(
                COST_DAY_EFFECTIVE,
                "Effective cost of the latest day with cost data, in the billing currency.",
                cost_labels,
            )?,
            cost_week_credits: gauge(
                COST_WEEK_CREDITS,
                "Credits (negative) of the latest complete ISO week, in the billing currency.",
                &["provider", "currency"],
            )?,
            cost_week_usage_by_pricing: gauge(
                COST_WEEK_USAGE_BY_PRICING,
                "Effective cost of usage in the latest complete ISO week by FOCUS pricing category (Standard = on-demand, Dynamic = spot, Committed, none), in the billing currency.",
                &["provider", "pricing_category", "currency"],
            )?,
            latency_p95: gauge(
                LATENCY_P95,
                "P95 latency of the latest day with latency data, from merged histograms or exact samples.",
                &["service"],
            )?,
            apdex: gauge(
                APDEX,
                "Apdex score (0..1) of the latest day with latency data, at the service's T.",
                &["service"],
            )?,
            latency_regressions,
            slo_compliant,
            savings_monthly: gauge(
                SAVINGS_MONTHLY,
                "Monthly savings the savings analyzers found, each resource counted once (its largest saving), by provider and finding kind, in the billing currency (USD on AWS).",
                &["provider", "kind"],
            )?,
            savings_by_safety: gauge(
                SAVINGS_BY_SAFETY,
                "Monthly savings, each resource counted once, by provider and whether slo_safe_savings found them safe for the latency objectives (safe, unsafe, not_judged), in the billing currency.",
                &["provider", "safety"],
            )?,
            cost_per_request: gauge(
                COST_PER_REQUEST,
                "Effective cost per request of each service over the latest complete week (the cost its tag names over the requests the latency dataset counts), in the billing currency.",
                &["service", "currency"],
            )?,
            commitment_coverage: gauge(
                COMMITMENT_COVERAGE,
                "Share (0..1) of the eligible compute usage over the commitment analyzer's lookback that commitments covered, at on-demand value.",
                &["provider", "currency"],
            )?,
            commitment_recommended_hourly: gauge(
                COMMITMENT_RECOMMENDED_HOURLY,
                "The hourly commitment (in the billing currency) that would have saved most over the lookback, on top of those held; 0 when none saves.",
                &["provider", "currency"],
            )?,
            findings_open,
            findings_by_kind: Arc::new(Mutex::new(Default::default())),
            cost_data_through,
            cost_anomalies,
            ready,
            registry,
            version: Arc::new(AtomicU64::new(0)),
            encoded: Arc::new(Mutex::new(None)),
        })
    }

    /// Marks the registry changed, so the next scrape encodes it again.
    fn changed(&self) {
        self.version.fetch_add(1, Ordering::Release);
    }

    /// A collector run begins.
    pub fn collector_started(&self, collector: &str) {
        self.collector_runs.with_label_values(&[collector]).inc();
        self.changed();
    }

    /// A collector run stored `rows` and left out `bad_rows`, at `at`
    /// (Unix seconds), after `seconds`.
    pub fn collector_succeeded(
        &self,
        collector: &str,
        seconds: f64,
        rows: usize,
        bad_rows: usize,
        at: f64,
    ) {
        self.collector_duration
            .with_label_values(&[collector])
            .observe(seconds);
        self.collector_rows
            .with_label_values(&[collector])
            .inc_by(rows as f64);
        self.collector_bad_rows
            .with_label_values(&[collector])
            .inc_by(bad_rows as f64);
        self.collector_last_success
            .with_label_values(&[collector])
            .set(at);
        self.changed();
    }

    /// A collector run failed after `seconds`; nothing of it was stored.
    pub fn collector_failed(&self, collector: &str, seconds: f64) {
        self.collector_duration
            .with_label_values(&[collector])
            .observe(seconds);
        self.collector_failures
            .with_label_values(&[collector])
            .inc();
        self.changed();
    }

    /// An analyzer run begins.
    pub fn analyzer_started(&self, analyzer: &str) {
        self.analyzer_runs.with_label_values(&[analyzer]).inc();
        self.changed();
    }

    pub fn analyzer_failed(&self, analyzer: &str) {
        self.analyzer_failures.with_label_values(&[analyzer]).inc();
        self.changed();
    }

    /// A report run begins.
    pub fn report_started(&self, report: &str) {
        self.report_runs.with_label_values(&[report]).inc();
        self.changed();
    }

    /// The report was written at `at` (Unix seconds).
    pub fn report_succeeded(&self, report: &str, at: f64) {
        self.report_last_success
            .with_label_values(&[report])
            .set(at);
        self.changed();
    }

    pub fn report_failed(&self, report: &str) {
        self.report_failures.with_label_values(&[report]).inc();
        self.changed();
    }

    /// A sink's delivery since start (`sent`, `failed`, `retried`, `dead`
    /// are totals: the counters move by the difference) and its outbox now.
    pub fn set_sink(&self, sink: &str, totals: [u64; 4], depth: usize, oldest_age_secs: f64) {
        for (counter, total) in [
            &self.notifications_sent,
            &self.notifications_failed,
            &self.notifications_retried,
            &self.notifications_dead,
        ]
        .into_iter()
        .zip(totals)
        {
            let c = counter.with_label_values(&[sink]);
            let delta = total as f64 - c.get();
            if delta > 0.0 {
                c.inc_by(delta);
            }
        }
        self.outbox_depth
            .with_label_values(&[sink])
            .set(depth as f64);
        self.outbox_oldest_age
            .with_label_values(&[sink])
            .set(oldest_age_secs);
        self.changed();
    }

    /// The first collection cycle has finished.
    pub fn set_ready(&self) {
        self.ready.set(1);
        self.changed();
    }

    pub fn is_ready(&self) -> bool {
        self.ready.get() == 1
    }

    /// Creates every per-component series at zero, so that `rate()` and
    /// `increase()` see the first failure and dashboards list every component.
    pub fn init_components<'a>(
        &self,
        collectors: impl IntoIterator<Item = &'a str>,
        analyzers: impl IntoIterator<Item = &'a str>,
        reports: impl IntoIterator<Item = &'a str>,
        sinks: impl IntoIterator<Item = &'a str>,
    ) {
        for s in sinks {
            self.set_sink(s, [0; 4], 0, 0.0);
        }
        for c in collectors {
            for counter in [
                &self.collector_runs,
                &self.collector_failures,
                &self.collector_rows,
                &self.collector_bad_rows,
            ] {
                counter.with_label_values(&[c]);
            }
        }
        for a in analyzers {
            self.analyzer_runs.with_label_values(&[a]);
            self.analyzer_failures.with_label_values(&[a]);
        }
        for r in reports {
            self.report_runs.with_label_values(&[r]);
            self.report_failures.with_label_values(&[r]);
        }
        self.changed();
    }

    /// Replaces the cost gauges with a weekly summary's figures. Series of
    /// services that dropped out disappear.
    pub fn set_cost(&self, week: &CostSummary, day: Option<&CostSummary>) {
        set_services(
            &self.cost_week_billed,
            &self.cost_week_effective,
            week.by_service.iter().map(|g| {
                (
                    g.provider.clone().unwrap_or_default(),
                    g.name.clone(),
                    g.currency.clone(),
                    g.cost.current,
                )
            }),
        );
        if let Some(day) = day {
            set_services(
                &self.cost_day_billed,
                &self.cost_day_effective,
                day.by_service.iter().map(|g| {
                    (
                        g.provider.clone().unwrap_or_default(),
                        g.name.clone(),
                        g.currency.clone(),
                        g.cost.current,
                    )
                }),
            );
        }
        self.cost_week_credits.reset();
        self.cost_week_usage_by_pricing.reset();
        for b in &week.breakdowns {
            self.cost_week_credits
                .with_label_values(&[&b.provider, &b.currency])
                .set(b.credits.current.effective);
            for p in &b.by_pricing_category {
                // FOCUS allows three values; anything else is `other`, so
                // the label stays bounded whatever a source writes.
                let category = match p.category.as_deref() {
                    Some(c @ ("Standard" | "Dynamic" | "Committed")) => c,
                    Some(_) => "other",
                    None => "none",
                };
                self.cost_week_usage_by_pricing
                    .with_label_values(&[&b.provider, category, &b.currency])
                    .add(p.cost.current.effective);
            }
        }
        if let Some(t) = week.data_through.and_then(|d| d.and_hms_opt(0, 0, 0)) {
            self.cost_data_through.set(t.and_utc().timestamp());
        }
        self.changed();
    }

    /// Counts the week's `cost_anomaly` findings by provider and severity;
    /// both severities of every provider seen are set, zero included.
    pub fn set_anomalies(&self, week: &CostSummary, findings: &[vitals_core::finding::Finding]) {
        use vitals_core::finding::Severity;
        self.cost_anomalies.reset();
        for g in &week.by_provider {
            for severity in ["warning", "critical"] {
                self.cost_anomalies
                    .with_label_values(&[g.provider.as_deref().unwrap_or_default(), severity]);
            }
        }
        for f in findings.iter().filter(|f| {
            f.kind == CostAnomalyEvidence::KIND && week.period.contains(f.first_seen.date_naive())
        }) {
            let severity = match f.severity {
                Severity::Critical => "critical",
                Severity::Warning | Severity::Info => "warning",
            };
            self.cost_anomalies
                .with_label_values(&[f.provider.as_deref().unwrap_or_default(), severity])
                .inc();
        }
        self.changed();
    }

    /// Sets the latency gauges from a `latency_summary` over the 7 days up
    /// to `latest` (its rows of `latest`, per service) and the regression
    /// counts from that analysis' `p95_regression` findings. A service seen
    /// by several sources takes the figures of the one that saw the most
    /// requests.
    pub fn set_latency(
        &self,
        summary: &LatencySummary,
        latest: chrono::NaiveDate,
        findings: &[vitals_core::finding::Finding],
    ) {
        let mut best: std::collections::BTreeMap<&str, &LatencyStats> =
            std::collections::BTreeMap::new();
        for s in summary
            .daily
            .iter()
            .filter(|s| s.day == Some(latest) && s.endpoint.is_none())
        {
            let entry = best.entry(s.service.as_str()).or_insert(s);
            if s.requests > entry.requests {
                *entry = s;
            }
        }
        let mut busiest: Vec<&LatencyStats> = best.into_values().collect();
        busiest.sort_by(|a, b| b.requests.total_cmp(&a.requests));
        busiest.truncate(MAX_LATENCY_SERVICES);
        self.latency_p95.reset();
        self.apdex.reset();
        self.latency_regressions.reset();
        for s in &busiest {
            if let Some(p95) = s.p95_s {
                self.latency_p95.with_label_values(&[&s.service]).set(p95);
            }
            if let Some(a) = s.apdex {
                self.apdex.with_label_values(&[&s.service]).set(a);
            }
            for metric in ["p95", "apdex"] {
                self.latency_regressions
                    .with_label_values(&[s.service.as_str(), metric]);
            }
        }
        let listed: std::collections::BTreeSet<&str> =
            busiest.iter().map(|s| s.service.as_str()).collect();
        for f in findings {
            let Some(e) = f.evidence_as::<P95RegressionEvidence>() else {
                continue;
            };
            if e.direction != Direction::Regression || e.recovered {
                continue;
            }
            let service = f.service.as_deref().unwrap_or_default();
            let metric = match e.metric {
                LatencyMetric::P95 => "p95",
                LatencyMetric::Apdex => "apdex",
            };
            if listed.contains(service) {
                self.latency_regressions
                    .with_label_values(&[service, metric])
                    .inc();
            }
        }
        self.changed();
    }

    /// Sets `vitals_slo_compliant` from the `slo` statuses of `latest`: a
    /// service seen by several sources is compliant only if it is in all.
    pub fn set_slo(&self, summary: &SloSummary, latest: chrono::NaiveDate) {
        let mut verdicts: std::collections::BTreeMap<(&str, &str), bool> =
            std::collections::BTreeMap::new();
        for s in summary
            .statuses
            .iter()
            .filter(|s| s.day == Some(latest) && !s.low_traffic)
        {
            if let Some(ok) = s.compliant {
                let v = verdicts
                    .entry((s.service.as_str(), s.objective.as_str()))
                    .or_insert(true);
                *v &= ok;
            }
        }
        self.slo_compliant.reset();
        for ((service, objective), ok) in verdicts.into_iter().take(MAX_LATENCY_SERVICES * 3) {
            self.slo_compliant
                .with_label_values(&[service, objective])
                .set(i64::from(ok));
        }
        self.changed();
    }

    /// Sets the findings counts of `kinds` (the types of the analyzers that
    /// ran) from their findings; other kinds keep theirs.
    pub fn set_findings(&self, kinds: &[&str], findings: &[vitals_core::finding::Finding]) {
        use vitals_core::finding::Severity;
        let mut by_kind = self
            .findings_by_kind
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for kind in kinds {
            by_kind.insert(kind.to_string(), [0; 3]);
        }
        for f in findings {
            if let Some(counts) = by_kind.get_mut(&f.kind) {
                let i = match f.severity {
                    Severity::Info => 0,
                    Severity::Warning => 1,
                    Severity::Critical => 2,
                };
                counts[i] += 1;
            }
        }
        self.findings_open.reset();
        for (kind, counts) in by_kind.iter() {
            for (severity, n) in ["info", "warning", "critical"].into_iter().zip(counts) {
                self.findings_open
                    .with_label_values(&[kind.as_str(), severity])
                    .set(*n);
            }
        }
        self.changed();
    }

    /// Sets the savings gauges from the savings analyzers' findings: each
    /// resource counted once ([`vitals_core::savings::counted_savings`]),
    /// summed by provider and kind; every kind in `kinds` is set for each
    /// provider seen, zero included.
    pub fn set_savings(&self, kinds: &[&str], findings: &[vitals_core::finding::Finding]) {
        self.savings_monthly.reset();
        let providers: std::collections::BTreeSet<&str> = findings
            .iter()
            .filter_map(|f| f.provider.as_deref())
            .collect();
        for p in &providers {
            for k in kinds {
                self.savings_monthly.with_label_values(&[*p, *k]);
            }
        }
        for f in vitals_core::savings::counted_savings(findings) {
            self.savings_monthly
                .with_label_values(&[f.provider.as_deref().unwrap_or_default(), f.kind.as_str()])
                .add(f.monthly_savings.unwrap_or(0.0));
        }
        // By safety, once `slo_safe_savings` judged any: every class set
        // for each provider, zero included.
        self.savings_by_safety.reset();
        if findings.iter().any(|f| f.slo_safety.is_some()) {
            use vitals_core::savings::Safety;
            for p in &providers {
                for s in [Safety::Safe, Safety::Unsafe, Safety::NotJudged] {
                    self.savings_by_safety.with_label_values(&[*p, s.as_str()]);
                }
            }
            for f in vitals_core::savings::counted_savings(findings) {
                self.savings_by_safety
                    .with_label_values(&[
                        f.provider.as_deref().unwrap_or_default(),
                        Safety::of(f).as_str(),
                    ])
                    .add(f.monthly_savings.unwrap_or(0.0));
            }
        }
        self.changed();
    }

    /// Sets `vitals_cost_per_request` from the week's `cost_per_request`
    /// summary: per service and currency with requests (the 200 costliest).
    pub fn set_cost_per_request(&self, summary: &vitals_core::summary::CostPerRequestSummary) {
        self.cost_per_request.reset();
        for s in summary.services.iter().take(MAX_LATENCY_SERVICES) {
            if let Some(per_1k) = s.current.per_1k_requests {
                self.cost_per_request
                    .with_label_values(&[s.service.as_str(), s.currency.as_str()])
                    .set(per_1k / 1000.0);
            }
        }
        self.changed();
    }

    /// Sets the commitment gauges from the week's `commitment` summary.
    pub fn set_commitments(&self, summary: &vitals_core::summary::CommitmentSummary) {
        self.commitment_coverage.reset();
        self.commitment_recommended_hourly.reset();
        for v in &summary.providers {
            let labels = [v.provider.as_str(), v.currency.as_str()];
            if let Some(c) = v.coverage {
                self.commitment_coverage.with_label_values(&labels).set(c);
            }
            self.commitment_recommended_hourly
                .with_label_values(&labels)
                .set(
                    v.recommendation
                        .as_ref()
                        .map_or(0.0, |r| r.hourly_commitment),
                );
        }
        self.changed();
    }

    /// The text exposition format, encoded again only if something changed
    /// since the last call.
    pub fn encode(&self) -> Bytes {
        let version = self.version.load(Ordering::Acquire);
        let mut cached = self.encoded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((v, body)) = cached.as_ref()
            && *v == version
        {
            return body.clone();
        }
        // A change while this gathers bumps the version past `version`, so
        // the next scrape encodes again: nothing is served stale for long.
        let mut buf = Vec::new();
        // Encoding gathered families into memory only fails on a registry bug.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "encoding metrics");
        }
        let body = Bytes::from(buf);
        *cached = Some((version, body.clone()));
        body
    }

    /// [`Metrics::encode`] as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.encode()).into_owned()
    }
}

/// Sets one series per (provider, service, currency), keeping the largest
/// [`MAX_SERVICES_PER_PROVIDER`] services of each provider and summing the
/// rest into `other`.
fn set_services(
    billed: &GaugeVec,
    effective: &GaugeVec,
    groups: impl Iterator<
        Item = (
            String,
            Option<String>,
            String,
            vitals_core::summary::Amounts,
        ),
    >,
) {
    use std::collections::BTreeMap;
    let mut per_provider: BTreeMap<(String, String), Vec<(String, vitals_core::summary::Amounts)>> =
        BTreeMap::new();
    for (provider, service, currency, cost) in groups {
        per_provider
            .entry((provider, currency))
            .or_default()
            .push((service.unwrap_or_else(|| "(none)".to_string()), cost));
    }
    billed.reset();
    effective.reset();
    for ((provider, currency), mut services) in per_provider {
        services.sort_by(|a, b| {
            b.1.billed
                .abs()
                .total_cmp(&a.1.billed.abs())
                .then_with(|| a.0.cmp(&b.0))
        });
        let mut other = vitals_core::summary::Amounts::default();
        for (i, (service, cost)) in services.into_iter().enumerate() {
            let name = if i < MAX_SERVICES_PER_PROVIDER {
                service
            } else {
                other.billed += cost.billed;
                other.effective += cost.effective;
                continue;
            };
            billed
                .with_label_values(&[&provider, &name, &currency])
                .add(cost.billed);
            effective
                .with_label_values(&[&provider, &name, &currency])
                .add(cost.effective);
        }
        if other != vitals_core::summary::Amounts::default() {
            billed
                .with_label_values(&[&provider, "other", &currency])
                .add(other.billed);
            effective
                .with_label_values(&[&provider, "other", &currency])
                .add(other.effective);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_per_request_is_per_request_and_only_where_there_are_requests() {
        use vitals_core::summary::{CostPerRequestSummary, ServiceUnitCost, UnitCost};
        let week = vitals_core::period::DayRange::single(
            chrono::NaiveDate::from_ymd_opt(2024, 9, 29).unwrap(),
        );
        let service = |name: &str, cost: f64, requests: f64| ServiceUnitCost {
            service: name.into(),
            currency: "USD".into(),
            source: None,
            current: UnitCost::new(cost, requests),
            previous: UnitCost::default(),
            per_1k_change: None,
            requests_change: None,
        };
        let m = Metrics::new().unwrap();
        m.set_cost_per_request(&CostPerRequestSummary {
            analyzer: "unit".into(),
            tag_key: "service".into(),
            cost_column: "effective_cost".into(),
            period: week,
            previous_period: week,
            services: vec![service("api", 57.12, 6720.0), service("batch", 3.0, 0.0)],
            days: Vec::new(),
            unattributed: Vec::new(),
        });
        let text = String::from_utf8(m.encode().to_vec()).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("vitals_cost_per_request{"))
            .unwrap();
        assert!(line.contains("currency=\"USD\"") && line.contains("service=\"api\""));
        let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!((value - 57.12 / 6720.0).abs() < 1e-15, "{line}");
        assert!(!text.contains("service=\"batch\""), "no requests, no ratio");
    }

    #[test]
    fn names_follow_prometheus_conventions() {
        let m = Metrics::new().unwrap();
        // Vec families are exported once they have a series: give each one.
        for c in [
            &m.collector_runs,
            &m.collector_failures,
            &m.collector_rows,
            &m.collector_bad_rows,
        ] {
            c.with_label_values(&["x"]).inc();
        }
        for c in [
            &m.analyzer_runs,
            &m.analyzer_failures,
            &m.report_runs,
            &m.report_failures,
        ] {
            c.with_label_values(&["x"]).inc();
        }
        m.collector_duration.with_label_values(&["x"]).observe(1.0);
        m.collector_last_success.with_label_values(&["x"]).set(1.0);
        m.report_last_success.with_label_values(&["x"]).set(1.0);
        m.cost_anomalies
            .with_label_values(&["AWS", "warning"])
            .set(0);
        for g in [
            &m.cost_week_billed,
            &m.cost_week_effective,
            &m.cost_day_billed,
            &m.cost_day_effective,
            &m.cost_week_usage_by_pricing,
        ] {
            g.with_label_values(&["AWS", "EC2", "USD"]).set(1.0);
        }
        m.cost_week_credits
            .with_label_values(&["AWS", "USD"])
            .set(-1.0);
        m.latency_p95.with_label_values(&["api"]).set(0.2);
        m.apdex.with_label_values(&["api"]).set(0.9);
        m.latency_regressions
            .with_label_values(&["api", "p95"])
            .set(0);
        m.slo_compliant.with_label_values(&["api", "p95"]).set(1);
        m.cost_per_request
            .with_label_values(&["api", "USD"])
            .set(0.0085);
        m.savings_by_safety
            .with_label_values(&["AWS", "safe"])
            .set(1.0);
        for g in [&m.commitment_coverage, &m.commitment_recommended_hourly] {
            g.with_label_values(&["AWS", "USD"]).set(0.5);
        }
        m.savings_monthly
            .with_label_values(&["AWS", "idle_resource"])
            .set(3.65);
        m.findings_open
            .with_label_values(&["idle_resource", "warning"])
            .set(1);
        m.set_sink("hooks", [3, 1, 1, 0], 2, 12.5);
        let families = m.registry.gather();
        let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
        for name in ALL {
            assert!(names.contains(name), "{name} is in ALL but not registered");
        }
        for f in &families {
            let name = f.name();
            assert!(
                ALL.contains(&name),
                "{name} is registered but not in metrics::ALL"
            );
            assert!(name.starts_with("vitals_"), "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name}"
            );
            let is_counter = f.get_field_type() == prometheus::proto::MetricType::COUNTER;
            assert_eq!(
                is_counter,
                name.ends_with("_total"),
                "{name}: counters and only counters end in _total"
            );
            for unit in ["_milliseconds", "_ms", "_minutes", "_hours", "_percent"] {
                assert!(!name.contains(unit), "{name}: use base units");
            }
            assert!(!f.help().is_empty(), "{name} has no help");
        }
    }

    #[test]
    fn savings_count_each_resource_once_and_findings_every_severity() {
        use vitals_core::finding::{Finding, FindingStatus, Severity};
        let finding = |id: &str, kind: &str, resource: &str, saving: Option<f64>| Finding {
            finding_id: id.into(),
            kind: kind.into(),
            severity: Severity::Warning,
            provider: Some("AWS".into()),
            account_id: None,
            service: None,
            resource_id: Some(resource.into()),
            title: String::new(),
            evidence: serde_json::Value::Null,
            monthly_savings: saving,
            currency: Some("USD".into()),
            first_seen: chrono::DateTime::UNIX_EPOCH,
            last_seen: chrono::DateTime::UNIX_EPOCH,
            owner: None,
            slo_safety: None,
            status: FindingStatus::Open,
        };
        let findings = [
            finding("a", "idle_resource", "i-1", Some(70.08)),
            finding("b", "rightsizing", "i-1", Some(35.04)),
            finding("c", "rightsizing", "i-2", None),
        ];
        let m = Metrics::new().unwrap();
        let kinds = ["idle_resource", "rightsizing", "spot_candidate"];
        m.set_savings(&kinds, &findings);
        m.set_findings(&kinds, &findings);
        let text = m.text();
        for line in [
            "vitals_savings_monthly{kind=\"idle_resource\",provider=\"AWS\"} 70.08",
            "vitals_savings_monthly{kind=\"rightsizing\",provider=\"AWS\"} 0",
            "vitals_savings_monthly{kind=\"spot_candidate\",provider=\"AWS\"} 0",
            "vitals_findings_open{kind=\"rightsizing\",severity=\"warning\"} 2",
            "vitals_findings_open{kind=\"spot_candidate\",severity=\"critical\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing in:\n{text}");
        }
        // Another refresh's kinds leave these alone.
        m.set_findings(&["slo"], &[]);
        assert!(
            m.text()
                .contains("vitals_findings_open{kind=\"rightsizing\",severity=\"warning\"} 2")
        );
    }

    #[test]
    fn a_change_is_served_on_the_next_scrape() {
        let m = Metrics::new().unwrap();
        m.init_components(["files"], [], [], []);
        let runs = |text: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(r#"vitals_collector_runs_total{collector="files"} "#))
                .map(str::to_string)
        };
        assert_eq!(runs(&m.text()).as_deref(), Some("0"));
        // Unchanged: the same bytes, not encoded again.
        assert_eq!(m.encode().as_ptr(), m.encode().as_ptr());
        m.collector_started("files");
        assert_eq!(runs(&m.text()).as_deref(), Some("1"));
        // A clone (the HTTP router's) sees the change and shares the cache.
        let served = m.clone();
        m.collector_failed("files", 0.5);
        assert!(
            served
                .text()
                .contains(r#"vitals_collector_failures_total{collector="files"} 1"#)
        );
        assert_eq!(served.encode().as_ptr(), m.encode().as_ptr());
    }

    #[test]
    fn services_past_the_cap_are_summed_into_other() {
        let m = Metrics::new().unwrap();
        let cost = |b: f64| vitals_core::summary::Amounts {
            billed: b,
            effective: b / 2.0,
        };
        let groups = (0..25).map(|i| {
            (
                "AWS".to_string(),
                Some(format!("s{i:02}")),
                "USD".to_string(),
                cost(f64::from(i)),
            )
        });
        set_services(&m.cost_week_billed, &m.cost_week_effective, groups);
        let text = m.text();
        let series = text
            .lines()
            .filter(|l| l.starts_with("vitals_cost_week_billed{"))
            .count();
        assert_eq!(series, MAX_SERVICES_PER_PROVIDER + 1);
        // The five smallest (0..4) are in `other`: 0+1+2+3+4 = 10.
        assert!(
            text.contains(
                r#"vitals_cost_week_billed{currency="USD",provider="AWS",service="other"} 10"#
            ),
            "{text}"
        );
        assert!(text.contains(
            r#"vitals_cost_week_billed{currency="USD",provider="AWS",service="s24"} 24"#
        ));
    }

    #[test]
    fn dashboards_only_query_metrics_that_exist() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let json: serde_json::Value = serde_json::from_str(&text).unwrap();
            let mut exprs = Vec::new();
            collect_exprs(&json, &mut exprs);
            assert!(!exprs.is_empty(), "{}: no queries", path.display());
            for expr in exprs {
                for name in metric_names(&expr) {
                    let base = ["_bucket", "_count", "_sum"]
                        .iter()
                        .find_map(|s| name.strip_suffix(s).filter(|b| ALL.contains(b)))
                        .unwrap_or(&name);
                    assert!(
                        ALL.contains(&base),
                        "{}: `{name}` in `{expr}` is not a vitals metric",
                        path.display()
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 0);
    }

    fn collect_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("expr" | "query", serde_json::Value::String(s)) => out.push(s.clone()),
                        _ => collect_exprs(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| collect_exprs(i, out)),
            _ => {}
        }
    }

    /// Identifiers in a PromQL expression that look like vitals metric names.
    fn metric_names(expr: &str) -> Vec<String> {
        expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .filter(|w| w.starts_with("vitals_"))
            .map(str::to_string)
            .collect()
    }
}
