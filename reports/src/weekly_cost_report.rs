//! `weekly_cost_report`: one ISO week of cost, against the week before, with
//! month to date, in HTML (self-contained, for email), Markdown and JSON.
//!
//! Numbers are formatted here, in Rust, into a view the templates only lay
//! out. Every name that comes from billing data (providers, services, tags)
//! is escaped: HTML by tera's autoescape, Markdown by the `md` filter.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tera::{Context, Kwargs, State, Tera};
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::evidence::{
    CostAnomalyEvidence, Direction, Evidence, P95RegressionEvidence, SloEvidence,
};
use vitals_core::summary::{
    Comparison, CostGroup, CostSummary, CurrencyTotal, LatencyStats, LatencySummary,
    ProviderBreakdown, SloSummary, Summary,
};

use crate::chart::{self, PALETTE};
use crate::error::ReportError;
use crate::format::Format;
use crate::report::{Need, Report, ReportInput};
use crate::savings;

const HTML: &str = include_str!("../templates/weekly_cost_report.html");
const MARKDOWN: &str = include_str!("../templates/weekly_cost_report.md");

/// `[reports.NAME] type = "weekly_cost_report"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct WeeklyCostReportConfig {
    /// Formats a scheduled run writes. Default `["html", "md", "json"]`.
    #[serde(default = "default_formats")]
    formats: Vec<Format>,
    /// Directory the files go to, relative to the config file. Default `./reports`.
    #[serde(default = "default_out_dir")]
    out_dir: PathBuf,
    /// Decimal places of money in HTML and Markdown (JSON keeps full
    /// precision). Default 2.
    #[serde(default = "default_money_decimals")]
    money_decimals: usize,
    /// Rows per table before the rest is left to the JSON report. Default 15.
    #[serde(default = "default_max_rows")]
    max_rows: usize,
    /// The `cost_summary` analyzer to take figures from; may be left out
    /// when there is exactly one.
    analyzer: Option<String>,
    /// The `latency_summary` analyzer of the latency section; may be left
    /// out when there is at most one (none: no latency section).
    latency_analyzer: Option<String>,
    /// The `slo` analyzer of the SLO column; may be left out when there is
    /// at most one.
    slo_analyzer: Option<String>,
    /// The report's heading. Default `Weekly cost report`.
    #[serde(default = "default_title")]
    title: String,
}

fn default_formats() -> Vec<Format> {
    Format::ALL.to_vec()
}

fn default_out_dir() -> PathBuf {
    PathBuf::from("./reports")
}

fn default_money_decimals() -> usize {
    2
}

fn default_max_rows() -> usize {
    15
}

fn default_title() -> String {
    "Weekly cost report".to_string()
}

#[derive(Debug)]
pub struct WeeklyCostReport {
    name: String,
    config: WeeklyCostReportConfig,
    out_dir: PathBuf,
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Report>, ConfigErrors> {
    let parsed: WeeklyCostReportConfig = config.parse()?;
    if parsed.formats.is_empty() {
        return Err(config.error(Some("formats"), "must list at least one format"));
    }
    if parsed.money_decimals > 6 {
        return Err(config.error(Some("money_decimals"), "must be between 0 and 6"));
    }
    Ok(Box::new(WeeklyCostReport {
        name: config.name.clone(),
        out_dir: config.resolve_path(&parsed.out_dir),
        config: parsed,
    }))
}

impl Report for WeeklyCostReport {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "weekly_cost_report"
    }

    fn formats(&self) -> &[Format] {
        &self.config.formats
    }

    fn out_dir(&self) -> &Path {
        &self.out_dir
    }

    fn needs(&self) -> Vec<Need<'_>> {
        vec![
            Need {
                analyzer_type: "cost_summary",
                instance: self.config.analyzer.as_deref(),
                required: true,
                key: "analyzer",
            },
            Need {
                analyzer_type: "latency_summary",
                instance: self.config.latency_analyzer.as_deref(),
                required: false,
                key: "latency_analyzer",
            },
            Need {
                analyzer_type: "slo",
                instance: self.config.slo_analyzer.as_deref(),
                required: false,
                key: "slo_analyzer",
            },
        ]
    }

    fn render(&self, input: &ReportInput<'_>, format: Format) -> Result<String, ReportError> {
        let summary = self.summary(input)?;
        let render_error = |message: String| ReportError::Render {
            report: self.name.clone(),
            format: format.extension(),
            message,
        };
        match format {
            Format::Json => {
                let doc = JsonReport {
                    report: &self.name,
                    r#type: self.type_name(),
                    week: input.week.to_string(),
                    generated_at: input.generated_at.to_rfc3339(),
                    owner: input.owner,
                    cost: summary,
                    anomalies: input
                        .findings
                        .iter()
                        .filter(|f| f.kind == CostAnomalyEvidence::KIND)
                        .filter(|f| summary.period.contains(f.first_seen.date_naive()))
                        .collect(),
                    latency: latency_summary(input, self.config.latency_analyzer.as_deref()),
                    slo: slo_summary(input, self.config.slo_analyzer.as_deref()),
                    latency_findings: input
                        .findings
                        .iter()
                        .filter(|f| {
                            f.kind == P95RegressionEvidence::KIND || f.kind == SloEvidence::KIND
                        })
                        .collect(),
                    savings: savings::json(input.findings, input.summaries),
                    commitments: input.summaries.iter().find_map(|s| match s {
                        Summary::Commitment(c) => Some(c.as_ref()),
                        _ => None,
                    }),
                    cost_per_request: input.summaries.iter().find_map(|s| match s {
                        Summary::CostPerRequest(c) => Some(c.as_ref()),
                        _ => None,
                    }),
                };
                serde_json::to_string_pretty(&doc)
                    .map(|s| s + "\n")
                    .map_err(|e| render_error(e.to_string()))
            }
            Format::Html | Format::Markdown => {
                let view = self.view(input, summary, format == Format::Html);
                let context =
                    Context::from_serialize(&view).map_err(|e| render_error(format!("{e:#}")))?;
                let name = if format == Format::Html {
                    "report.html"
                } else {
                    "report.md"
                };
                templates(format)
                    .render(name, &context)
                    .map_err(|e| render_error(format!("{e:#}")))
            }
        }
    }
}

impl WeeklyCostReport {
    fn summary<'a>(&self, input: &ReportInput<'a>) -> Result<&'a CostSummary, ReportError> {
        let wanted = self.config.analyzer.as_deref();
        input
            .summaries
            .iter()
            .filter_map(|s| match s {
                Summary::Cost(c) => Some(c.as_ref()),
                _ => None,
            })
            .find(|c| wanted.is_none_or(|w| w == c.analyzer))
            .ok_or_else(|| ReportError::MissingInput {
                report: self.name.clone(),
                message: match wanted {
                    Some(w) => format!("no cost summary from analyzer `{w}`"),
                    None => "no `cost_summary` analyzer produced a summary".to_string(),
                },
            })
    }

    fn view(&self, input: &ReportInput<'_>, s: &CostSummary, charts: bool) -> View {
        let money = Money(self.config.money_decimals);
        let max = self.config.max_rows;
        let lines =
            |groups: &[CostGroup], label: &dyn Fn(&CostGroup) -> (String, String)| -> Table {
                Table {
                    rows: groups
                        .iter()
                        .take(max)
                        .map(|g| money.line(label(g), &g.currency, &g.cost))
                        .collect(),
                    more: groups.len().saturating_sub(max),
                }
            };
        let none =
            |v: &Option<String>, missing: &str| v.clone().unwrap_or_else(|| missing.to_string());
        let provider_label = |g: &CostGroup| (none(&g.name, "(none)"), String::new());
        let totals = |t: &[CurrencyTotal]| -> Vec<Line> {
            t.iter()
                .map(|t| money.line((t.currency.clone(), String::new()), &t.currency, &t.cost))
                .collect()
        };
        View {
            title: self.config.title.clone(),
            report: self.name.clone(),
            week: input.week.to_string(),
            period: format!("{} – {}", s.period.start, s.period.end),
            previous_period: format!("{} – {}", s.previous_period.start, s.previous_period.end),
            generated_at: input.generated_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            data_through: s.data_through.map(|d| d.to_string()),
            tag_key: s.tag_key.clone(),
            empty: s.totals.is_empty(),
            totals: totals(&s.totals),
            providers: lines(&s.by_provider, &provider_label),
            breakdowns: s.breakdowns.iter().map(|b| breakdown(b, money)).collect(),
            services: lines(&s.by_service, &|g| {
                (none(&g.name, "(no service)"), none(&g.provider, ""))
            }),
            sub_accounts: lines(&s.by_sub_account, &|g| {
                let id = none(&g.id, "(none)");
                (
                    g.name.clone().unwrap_or_else(|| id.clone()),
                    format!("{} {id}", none(&g.provider, "")),
                )
            }),
            tags: lines(&s.by_tag, &|g| (none(&g.name, "(untagged)"), String::new())),
            movers: lines(&s.top_movers, &|g| {
                (none(&g.name, "(no service)"), none(&g.provider, ""))
            }),
            untagged: s
                .untagged
                .iter()
                .map(|u| Untagged {
                    currency: u.currency.clone(),
                    billed: money.amount(u.untagged.billed),
                    total: money.amount(u.total.billed),
                    share: u
                        .billed_share
                        .map_or_else(|| "–".to_string(), |r| format!("{:.1}%", r * 100.0)),
                })
                .collect(),
            month: s.month_to_date.as_ref().map(|m| Month {
                month: m.month.clone(),
                range: format!("{} – {}", m.range.start, m.range.end),
                previous_range: format!("{} – {}", m.previous_range.start, m.previous_range.end),
                totals: totals(&m.totals),
                providers: m
                    .by_provider
                    .iter()
                    .map(|g| money.line(provider_label(g), &g.currency, &g.cost))
                    .collect(),
            }),
            charts: if charts { daily_charts(s) } else { Vec::new() },
            anomalies: anomalies(input, s, money, max),
            // An owner's digest leaves out the coverage notes: they are
            // about the whole fleet.
            savings: savings::view(
                input.findings,
                if input.owner.is_some() {
                    &[]
                } else {
                    input.summaries
                },
                max,
            ),
            latency: latency_summary(input, self.config.latency_analyzer.as_deref()).map(|l| {
                latency_table(
                    input,
                    l,
                    slo_summary(input, self.config.slo_analyzer.as_deref()),
                    max,
                )
            }),
            unit_costs: unit_costs(input, max),
            commitments: if input.owner.is_some() {
                None
            } else {
                commitments(input)
            },
            owner: input.owner.map(str::to_string),
        }
    }
}

/// The `commitment` analyzer's coverage and recommendation per provider.
fn commitments(input: &ReportInput<'_>) -> Option<Commitments> {
    let c = input.summaries.iter().find_map(|s| match s {
        Summary::Commitment(c) => Some(c.as_ref()),
        _ => None,
    })?;
    let money = |v: f64| Money(2).amount(v);
    Some(Commitments {
        lookback: format!("{} – {}", c.lookback.start, c.lookback.end),
        rows: c
            .providers
            .iter()
            .map(|v| {
                let r = v.recommendation.as_ref();
                CommitmentRow {
                    provider: v.provider.clone(),
                    currency: v.currency.clone(),
                    on_demand: money(v.on_demand),
                    covered: money(v.covered),
                    coverage: v
                        .coverage
                        .map_or_else(|| "–".to_string(), |r| format!("{:.1}%", r * 100.0)),
                    hourly: format!(
                        "{} – {} – {}",
                        money(v.hourly_min),
                        money(v.hourly_mean),
                        money(v.hourly_max)
                    ),
                    recommendation: r.map_or_else(
                        || "none (no discount configured, or nothing to save)".to_string(),
                        |r| {
                            format!(
                                "{}/hour for {} year(s) at {:.0}% off",
                                Money(4).amount(r.hourly_commitment),
                                r.term_years,
                                r.discount * 100.0
                            )
                        },
                    ),
                    monthly_saving: r.map_or_else(String::new, |r| money(r.monthly_saving)),
                    utilization: r
                        .map_or_else(String::new, |r| format!("{:.1}%", r.utilization * 100.0)),
                    break_even: r.map_or_else(String::new, |r| {
                        format!("{:.1} months", r.break_even_months)
                    }),
                }
            })
            .collect(),
    })
}

#[derive(Serialize)]
struct Commitments {
    lookback: String,
    rows: Vec<CommitmentRow>,
}

#[derive(Serialize)]
struct CommitmentRow {
    provider: String,
    currency: String,
    on_demand: String,
    covered: String,
    coverage: String,
    /// Least – mean – largest hour of on-demand spend.
    hourly: String,
    recommendation: String,
    monthly_saving: String,
    utilization: String,
    break_even: String,
}

/// An owner's digest: the services its findings are about (`None`: every
/// service, the full report).
fn owned_services<'a>(input: &ReportInput<'a>) -> Option<BTreeSet<&'a str>> {
    input.owner.map(|_| {
        input
            .findings
            .iter()
            .filter_map(|f| f.service.as_deref())
            .collect()
    })
}

/// The `cost_per_request` table: per service and currency, the week's cost
/// per 1,000 requests against the week before (an owner's digest: the
/// services its findings are about); `None` without the analyzer.
fn unit_costs(input: &ReportInput<'_>, max: usize) -> Option<UnitCosts> {
    let c = input.summaries.iter().find_map(|s| match s {
        Summary::CostPerRequest(c) => Some(c.as_ref()),
        _ => None,
    })?;
    let owned = owned_services(input);
    let per_1k = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{v:.4}"));
    let pct = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |r| format!("{:+.1}%", r * 100.0));
    // Services with requests first (what the table is for), each group
    // costliest first as the summary orders them.
    let mut services: Vec<_> = c
        .services
        .iter()
        .filter(|s| {
            owned
                .as_ref()
                .is_none_or(|o| o.contains(s.service.as_str()))
        })
        .collect();
    services.sort_by_key(|s| s.current.per_1k_requests.is_none());
    let rows = services
        .iter()
        .take(max)
        .map(|s| UnitCostRow {
            service: s.service.clone(),
            currency: s.currency.clone(),
            cost: format!("{:.2}", s.current.cost),
            requests: format!("{:.0}", s.current.requests),
            per_1k: s
                .current
                .per_1k_requests
                .map_or_else(|| "–".to_string(), |v| format!("{v:.4} {}", s.currency)),
            previous_per_1k: per_1k(s.previous.per_1k_requests),
            change: pct(s.per_1k_change),
            requests_change: pct(s.requests_change),
        })
        .collect();
    Some(UnitCosts {
        tag_key: c.tag_key.clone(),
        table: Table {
            rows,
            more: services.len().saturating_sub(max),
        },
        unattributed: if input.owner.is_some() {
            Vec::new()
        } else {
            c.unattributed
                .iter()
                .map(|u| Untagged {
                    currency: u.currency.clone(),
                    billed: format!("{:.2}", u.cost),
                    total: String::new(),
                    share: u
                        .share
                        .map_or_else(|| "–".to_string(), |r| format!("{:.1}%", r * 100.0)),
                })
                .collect()
        },
    })
}

/// The cost-per-request section, formatted.
#[derive(Serialize)]
struct UnitCosts {
    tag_key: String,
    table: Table<UnitCostRow>,
    /// Cost no service tag names: `billed` holds the amount.
    unattributed: Vec<Untagged>,
}

#[derive(Serialize)]
struct UnitCostRow {
    service: String,
    currency: String,
    cost: String,
    requests: String,
    per_1k: String,
    previous_per_1k: String,
    change: String,
    requests_change: String,
}

/// The latency summary of the configured `latency_analyzer`, else the only
/// one (the config check allows no more without a name).
fn latency_summary<'a>(
    input: &ReportInput<'a>,
    wanted: Option<&str>,
) -> Option<&'a LatencySummary> {
    input.summaries.iter().find_map(|s| match s {
        Summary::Latency(l) if wanted.is_none_or(|w| w == l.analyzer) => Some(l.as_ref()),
        _ => None,
    })
}

/// The `slo` summary of the configured `slo_analyzer`, else the only one.
fn slo_summary<'a>(input: &ReportInput<'a>, wanted: Option<&str>) -> Option<&'a SloSummary> {
    input.summaries.iter().find_map(|s| match s {
        Summary::Slo(slo) if wanted.is_none_or(|w| w == slo.analyzer) => Some(slo.as_ref()),
        _ => None,
    })
}

/// Per source and service over the week: requests, error rate, P95, Apdex
/// and band, SLO verdict and regressions; busiest first.
fn latency_table(
    input: &ReportInput<'_>,
    l: &LatencySummary,
    slo: Option<&SloSummary>,
    max: usize,
) -> Table<ServiceLatency> {
    let owned = owned_services(input);
    let mut services: Vec<&LatencyStats> = l
        .period_stats
        .iter()
        .filter(|s| s.endpoint.is_none())
        .filter(|s| {
            owned
                .as_ref()
                .is_none_or(|o| o.contains(s.service.as_str()))
        })
        .collect();
    services.sort_by(|a, b| b.requests.total_cmp(&a.requests));
    let rows = services
        .iter()
        .take(max)
        .map(|s| {
            let (slo_text, missed) = match slo {
                None => (String::new(), false),
                Some(_) if s.low_traffic => ("low traffic".to_string(), false),
                Some(slo) => {
                    let missed: Vec<&str> = slo
                        .statuses
                        .iter()
                        .filter(|x| {
                            x.day.is_none()
                                && x.source == s.source
                                && x.service == s.service
                                && x.compliant == Some(false)
                        })
                        .map(|x| x.objective.as_str())
                        .collect();
                    if missed.is_empty() {
                        ("met".to_string(), false)
                    } else {
                        (format!("missed: {}", missed.join(", ")), true)
                    }
                }
            };
            let regressions: Vec<String> = input
                .findings
                .iter()
                .filter(|f| {
                    f.service.as_deref() == Some(s.service.as_str())
                        && f.evidence_as::<P95RegressionEvidence>().is_some_and(|e| {
                            e.direction == Direction::Regression && e.source == s.source
                        })
                })
                .map(|f| f.title.clone())
                .collect();
            ServiceLatency {
                service: s.service.clone(),
                source: s.source.clone(),
                requests: format!("{:.0}", s.requests),
                error_rate: s
                    .error_rate
                    .map_or_else(|| "–".to_string(), |r| format!("{:.2}%", r * 100.0)),
                p95: s
                    .p95_s
                    .map_or_else(|| "–".to_string(), |v| format!("{:.0} ms", v * 1e3)),
                apdex: s.apdex.map_or_else(
                    || "–".to_string(),
                    |a| format!("{a:.3}{}", if s.apdex_interpolated { "*" } else { "" }),
                ),
                band: s
                    .apdex_band
                    .map_or_else(String::new, |b| b.as_str().to_string()),
                slo: slo_text,
                slo_missed: missed,
                regressions: regressions.join("; "),
            }
        })
        .collect();
    Table {
        rows,
        more: services.len().saturating_sub(max),
    }
}

/// The `cost_anomaly` findings whose first day falls in the report's week,
/// largest impact first.
fn anomalies(input: &ReportInput<'_>, s: &CostSummary, money: Money, max: usize) -> Table<Anomaly> {
    let mut found: Vec<(&vitals_core::finding::Finding, CostAnomalyEvidence)> = input
        .findings
        .iter()
        .filter(|f| s.period.contains(f.first_seen.date_naive()))
        .filter_map(|f| f.evidence_as::<CostAnomalyEvidence>().map(|e| (f, e)))
        .collect();
    found.sort_by(|a, b| b.1.impact.total_cmp(&a.1.impact));
    Table {
        more: found.len().saturating_sub(max),
        rows: found
            .into_iter()
            .take(max)
            .map(|(f, e)| {
                let first = f.first_seen.date_naive();
                let last = f.last_seen.date_naive();
                Anomaly {
                    severity: format!("{:?}", f.severity).to_lowercase(),
                    days: if first == last {
                        first.to_string()
                    } else {
                        format!("{first} – {last}")
                    },
                    provider: f.provider.clone().unwrap_or_default(),
                    account: f.account_id.clone().unwrap_or_default(),
                    service: f
                        .service
                        .clone()
                        .unwrap_or_else(|| "(no service)".to_string()),
                    currency: f.currency.clone().unwrap_or_default(),
                    actual: money.amount(e.actual),
                    expected: money.amount(e.expected),
                    impact: money.signed(e.impact),
                    top: e
                        .top_contributors
                        .iter()
                        .take(3)
                        .map(|c| {
                            let name = c
                                .resource_id
                                .as_deref()
                                .or(c.sku_id.as_deref())
                                .unwrap_or("(unattributed)");
                            format!("{name} {}", money.signed(c.increase))
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                }
            })
            .collect(),
    }
}

/// What people call FOCUS's pricing categories.
fn pricing_label(category: Option<&str>) -> String {
    match category {
        Some("Standard") => "On-demand".to_string(),
        Some("Dynamic") => "Spot".to_string(),
        Some("Committed") => "Committed".to_string(),
        Some(other) => other.to_string(),
        None => "Not stated".to_string(),
    }
}

fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "–".to_string(), |r| format!("{:.1}%", r * 100.0))
}

/// One provider taken apart, formatted.
fn breakdown(b: &ProviderBreakdown, money: Money) -> Breakdown {
    Breakdown {
        provider: b.provider.clone(),
        currency: b.currency.clone(),
        categories: Table {
            rows: b
                .by_charge_category
                .iter()
                .map(|g| {
                    let name = g.name.clone().unwrap_or_else(|| "(none)".to_string());
                    money.line((name, String::new()), &g.currency, &g.cost)
                })
                .collect(),
            more: 0,
        },
        total: money.line(("Total".to_string(), String::new()), &b.currency, &b.cost),
        amortization: money.signed(b.cost.current.effective - b.cost.current.billed),
        credits: money.amount(b.credits.current.effective),
        credits_previous: money.amount(b.credits.previous.effective),
        discounts: b.discounts.map(|d| Discounted {
            saved: money.amount(d.saved),
            list_cost: money.amount(d.list_cost),
            paid: money.amount(d.effective),
            coverage: percent(d.coverage),
        }),
        pricing: b
            .by_pricing_category
            .iter()
            .map(|p| Pricing {
                label: pricing_label(p.category.as_deref()),
                effective: money.amount(p.cost.current.effective),
                previous: money.amount(p.cost.previous.effective),
                share: percent(p.share),
            })
            .collect(),
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    report: &'a str,
    r#type: &'static str,
    week: String,
    generated_at: String,
    /// An owner's digest: the owner (the findings are theirs alone; `cost`
    /// is still the whole bill).
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<&'a str>,
    cost: &'a CostSummary,
    /// `cost_anomaly` findings that start in the week.
    anomalies: Vec<&'a vitals_core::finding::Finding>,
    latency: Option<&'a LatencySummary>,
    slo: Option<&'a SloSummary>,
    /// `p95_regression` and `slo` findings of the week.
    latency_findings: Vec<&'a vitals_core::finding::Finding>,
    /// The savings analyzers' findings and totals; absent without them.
    #[serde(skip_serializing_if = "Option::is_none")]
    savings: Option<savings::SavingsJson<'a>>,
    /// The `commitment` summary; absent without the analyzer.
    #[serde(skip_serializing_if = "Option::is_none")]
    commitments: Option<&'a vitals_core::summary::CommitmentSummary>,
    /// The `cost_per_request` summary; absent without the analyzer.
    #[serde(skip_serializing_if = "Option::is_none")]
    cost_per_request: Option<&'a vitals_core::summary::CostPerRequestSummary>,
}

#[derive(Serialize)]
struct View {
    title: String,
    report: String,
    week: String,
    period: String,
    previous_period: String,
    generated_at: String,
    data_through: Option<String>,
    tag_key: String,
    empty: bool,
    totals: Vec<Line>,
    providers: Table,
    breakdowns: Vec<Breakdown>,
    services: Table,
    sub_accounts: Table,
    tags: Table,
    movers: Table,
    untagged: Vec<Untagged>,
    month: Option<Month>,
    charts: Vec<ChartView>,
    anomalies: Table<Anomaly>,
    /// `None` without a `latency_summary` analyzer.
    latency: Option<Table<ServiceLatency>>,
    /// `None` without savings analyzers.
    savings: Option<savings::SavingsView>,
    /// `None` without a `cost_per_request` analyzer.
    unit_costs: Option<UnitCosts>,
    /// `None` without a `commitment` analyzer (and in an owner's digest:
    /// commitments are bought for the whole bill).
    commitments: Option<Commitments>,
    /// An owner's digest: only their findings (savings, and the services
    /// their findings are about), no company-wide cost.
    owner: Option<String>,
}

/// One service's week, formatted.
#[derive(Serialize)]
struct ServiceLatency {
    service: String,
    source: String,
    requests: String,
    error_rate: String,
    p95: String,
    apdex: String,
    band: String,
    /// `met`, `missed: p95, apdex`, `low traffic` or empty without `slo`.
    slo: String,
    slo_missed: bool,
    /// Regressions of the week, or empty.
    regressions: String,
}

/// One provider taken apart, formatted.
#[derive(Serialize)]
struct Breakdown {
    provider: String,
    currency: String,
    /// One row per charge category.
    categories: Table,
    total: Line,
    /// Effective minus billed: what amortized commitments and credits change.
    amortization: String,
    credits: String,
    credits_previous: String,
    discounts: Option<Discounted>,
    pricing: Vec<Pricing>,
}

#[derive(Serialize)]
struct Discounted {
    saved: String,
    list_cost: String,
    paid: String,
    coverage: String,
}

#[derive(Serialize)]
struct Pricing {
    label: String,
    effective: String,
    previous: String,
    share: String,
}

/// One cost anomaly, formatted.
#[derive(Serialize)]
struct Anomaly {
    severity: String,
    days: String,
    provider: String,
    account: String,
    service: String,
    currency: String,
    actual: String,
    expected: String,
    impact: String,
    /// The largest contributors, with their daily increase.
    top: String,
}

#[derive(Serialize)]
struct Table<T = Line> {
    rows: Vec<T>,
    /// Rows left out for length.
    more: usize,
}

/// One table row, formatted.
#[derive(Serialize)]
struct Line {
    label: String,
    detail: String,
    currency: String,
    billed: String,
    effective: String,
    previous_billed: String,
    change: String,
    change_pct: String,
    /// `up`, `down` or `flat`, for coloring.
    direction: &'static str,
}

#[derive(Serialize)]
struct Untagged {
    currency: String,
    billed: String,
    total: String,
    share: String,
}

#[derive(Serialize)]
struct Month {
    month: String,
    range: String,
    previous_range: String,
    totals: Vec<Line>,
    providers: Vec<Line>,
}

#[derive(Serialize)]
struct ChartView {
    currency: String,
    data_uri: String,
    axis_max: String,
    first_day: String,
    last_day: String,
    legend: Vec<Legend>,
}

#[derive(Serialize)]
struct Legend {
    name: String,
    color: String,
}

/// Money formatting with a fixed number of decimals and thousands separators.
#[derive(Clone, Copy)]
pub(crate) struct Money(pub(crate) usize);

impl Money {
    pub(crate) fn amount(self, v: f64) -> String {
        let s = format!("{:.*}", self.0, v.abs());
        let (int, frac) = s
            .split_once('.')
            .map_or((s.as_str(), None), |(i, f)| (i, Some(f)));
        let mut grouped = String::with_capacity(s.len() + int.len() / 3 + 1);
        for (i, c) in int.chars().enumerate() {
            if i > 0 && (int.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if let Some(f) = frac {
            grouped.push('.');
            grouped.push_str(f);
        }
        // No "-0.00": the sign shows only when the rounded value is not zero.
        if v < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
            grouped.insert(0, '-');
        }
        grouped
    }

    fn signed(self, v: f64) -> String {
        let s = self.amount(v);
        if v > 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
            format!("+{s}")
        } else {
            s
        }
    }

    fn line(self, (label, detail): (String, String), currency: &str, c: &Comparison) -> Line {
        Line {
            label,
            detail,
            currency: currency.to_string(),
            billed: self.amount(c.current.billed),
            effective: self.amount(c.current.effective),
            previous_billed: self.amount(c.previous.billed),
            change: self.signed(c.change.billed),
            change_pct: match c.change_ratio_billed {
                Some(r) => format!("{:+.1}%", r * 100.0),
                None if c.current.billed != 0.0 => "new".to_string(),
                None => "–".to_string(),
            },
            direction: match c.change.billed {
                x if x > 0.0 => "up",
                x if x < 0.0 => "down",
                _ => "flat",
            },
        }
    }
}

/// One chart per currency: daily billed cost by provider over the previous
/// and current periods.
fn daily_charts(s: &CostSummary) -> Vec<ChartView> {
    let currencies: BTreeSet<&str> = s.daily.iter().map(|d| d.currency.as_str()).collect();
    let days: Vec<NaiveDate> = s.previous_period.union(&s.period).days().collect();
    currencies
        .into_iter()
        .map(|currency| {
            // Providers in order of their cost over the chart, largest at the bottom.
            let mut providers: Vec<(String, f64)> = Vec::new();
            for d in s.daily.iter().filter(|d| d.currency == currency) {
                match providers.iter_mut().find(|(p, _)| *p == d.provider) {
                    Some((_, v)) => *v += d.cost.billed,
                    None => providers.push((d.provider.clone(), d.cost.billed)),
                }
            }
            providers.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let series: Vec<String> = providers.into_iter().map(|(p, _)| p).collect();
            let bars = chart::bars_from(
                &days,
                |d| d.format("%d").to_string(),
                &series,
                s.daily
                    .iter()
                    .filter(|d| d.currency == currency)
                    .map(|d| (d.day, d.provider.clone(), d.cost.billed)),
            );
            let rendered = chart::stacked_bars(&bars);
            ChartView {
                currency: currency.to_string(),
                data_uri: rendered.data_uri(),
                axis_max: format!("{}", rendered.axis_max),
                first_day: days.first().map(|d| d.to_string()).unwrap_or_default(),
                last_day: days.last().map(|d| d.to_string()).unwrap_or_default(),
                legend: series
                    .into_iter()
                    .enumerate()
                    .map(|(i, name)| {
                        let [r, g, b] = PALETTE[i % PALETTE.len()];
                        Legend {
                            name,
                            color: format!("#{r:02x}{g:02x}{b:02x}"),
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Escapes text for Markdown: inline markup, HTML and table pipes lose their
/// meaning, and line breaks cannot end a table row.
fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '~' | '!' | '(' | ')'
            | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '&' => out.push_str("&amp;"),
            '\n' | '\r' | '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The template engine of one format. Components are global to a `Tera`,
/// so each format gets its own.
fn templates(format: Format) -> &'static Tera {
    static HTML_TERA: std::sync::OnceLock<Tera> = std::sync::OnceLock::new();
    static MARKDOWN_TERA: std::sync::OnceLock<Tera> = std::sync::OnceLock::new();
    let (cell, name, source) = match format {
        Format::Markdown => (&MARKDOWN_TERA, "report.md", MARKDOWN),
        _ => (&HTML_TERA, "report.html", HTML),
    };
    cell.get_or_init(|| {
        let mut tera = Tera::new();
        tera.autoescape_on(vec![".html"]);
        tera.register_filter("md", |s: &str, _: Kwargs, _: &State| escape_markdown(s));
        // The templates are part of the binary: a syntax error in one is a
        // bug caught by the tests below, not a runtime condition.
        if let Err(e) = tera.add_raw_template(name, source) {
            panic!("template `{name}` does not parse: {e:#}");
        }
        tera
    })
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use vitals_core::config::ComponentKind;
    use vitals_core::period::{DayRange, Week};
    use vitals_core::summary::{
        Amounts, DailyCost, Discounts, MonthToDate, PricingShare, UntaggedShare,
    };

    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn amounts(billed: f64, effective: f64) -> Amounts {
        Amounts { billed, effective }
    }

    fn group(provider: &str, name: Option<&str>, cur: f64, prev: f64) -> CostGroup {
        CostGroup {
            provider: Some(provider.to_string()),
            name: name.map(str::to_string),
            id: None,
            currency: "USD".to_string(),
            cost: Comparison::new(amounts(cur, cur / 2.0), amounts(prev, prev / 2.0)),
        }
    }

    fn summary() -> CostSummary {
        let week = DayRange::new(d("2024-09-23"), d("2024-09-29")).unwrap();
        let hostile = "<script>alert(1)</script> | *x* [y](z)";
        CostSummary {
            analyzer: "cost".into(),
            period: week,
            previous_period: week.previous(),
            data_through: Some(d("2024-09-30")),
            tag_key: "environment".into(),
            totals: vec![CurrencyTotal {
                currency: "USD".into(),
                cost: Comparison::new(amounts(1234.5, 1000.0), amounts(1000.0, 900.0)),
            }],
            by_provider: vec![group("AWS", Some("AWS"), 1234.5, 1000.0)],
            breakdowns: vec![ProviderBreakdown {
                provider: "AWS".into(),
                currency: "USD".into(),
                cost: Comparison::new(amounts(1234.5, 1000.0), amounts(1000.0, 900.0)),
                by_charge_category: vec![
                    group("AWS", Some("Usage"), 1242.0, 1000.0),
                    group("AWS", Some("Credit"), -7.5, 0.0),
                ],
                credits: Comparison::new(amounts(-7.5, -7.5), amounts(0.0, 0.0)),
                discounts: Some(Discounts {
                    list_cost: 1300.0,
                    effective: 1000.0,
                    saved: 300.0,
                    coverage: Some(0.8),
                }),
                by_pricing_category: vec![
                    PricingShare {
                        category: Some("Standard".into()),
                        cost: Comparison::new(amounts(700.0, 600.0), amounts(0.0, 0.0)),
                        share: Some(0.6),
                    },
                    PricingShare {
                        category: Some("Dynamic".into()),
                        cost: Comparison::new(amounts(500.0, 400.0), amounts(0.0, 0.0)),
                        share: Some(0.4),
                    },
                ],
            }],
            by_sub_account: vec![],
            by_service: vec![group("AWS", Some(hostile), 1234.5, 1000.0)],
            by_tag: vec![CostGroup {
                provider: None,
                ..group("AWS", Some(hostile), 1.0, 0.0)
            }],
            top_movers: vec![group("AWS", Some(hostile), 1234.5, 1000.0)],
            untagged: vec![UntaggedShare {
                currency: "USD".into(),
                untagged: amounts(10.0, 10.0),
                total: amounts(1234.5, 1000.0),
                billed_share: Some(10.0 / 1234.5),
                effective_share: Some(0.01),
            }],
            daily: vec![DailyCost {
                day: d("2024-09-24"),
                provider: "AWS".into(),
                service: None,
                currency: "USD".into(),
                cost: amounts(1234.5, 1000.0),
            }],
            month_to_date: Some(MonthToDate {
                month: "2024-09".into(),
                range: DayRange::new(d("2024-09-01"), d("2024-09-30")).unwrap(),
                previous_range: DayRange::new(d("2024-08-01"), d("2024-08-30")).unwrap(),
                totals: vec![],
                by_provider: vec![group("AWS", Some("AWS"), 20.52015, 0.0)],
            }),
        }
    }

    fn render(format: Format, extra: &str) -> String {
        let findings = [anomaly("2024-09-25"), anomaly("2024-09-10")];
        render_for(format, extra, &findings, None)
    }

    /// The report over [`summary`] and `findings`, for `owner` if given.
    fn render_for(
        format: Format,
        extra: &str,
        findings: &[vitals_core::finding::Finding],
        owner: Option<&str>,
    ) -> String {
        let cfg = ComponentConfig::from_toml(
            ComponentKind::Report,
            "weekly",
            &format!("type = \"weekly_cost_report\"\n{extra}"),
        )
        .unwrap();
        let report = build(&cfg).unwrap();
        let summaries = vec![Summary::Cost(Box::new(summary()))];
        let input = ReportInput {
            week: "2024-W39".parse::<Week>().unwrap(),
            summaries: &summaries,
            findings,
            generated_at: Utc.with_ymd_and_hms(2026, 11, 23, 7, 0, 0).unwrap(),
            owner,
        };
        report.render(&input, format).unwrap()
    }

    fn anomaly(day: &str) -> vitals_core::finding::Finding {
        let at = d(day).and_hms_opt(0, 0, 0).unwrap().and_utc();
        vitals_core::finding::Finding {
            finding_id: "x".into(),
            kind: "cost_anomaly".into(),
            severity: vitals_core::finding::Severity::Critical,
            provider: Some("AWS".into()),
            account_id: Some("111122223333".into()),
            service: Some("<b>EC2</b>".into()),
            owner: None,
            slo_safety: None,
            resource_id: None,
            title: "t".into(),
            evidence: vitals_core::finding::Finding::evidence_json(&CostAnomalyEvidence {
                first_day: d(day),
                last_day: d(day) + chrono::Duration::days(1),
                days: Vec::new(),
                actual: 1200.0,
                expected: 400.0,
                impact: 800.0,
                metric: "billed_cost".into(),
                top_contributors: vec![vitals_core::evidence::Contributor {
                    sku_id: None,
                    resource_id: Some("i-aaa".into()),
                    daily_cost: 600.0,
                    baseline_daily_cost: 200.0,
                    increase: 400.0,
                }],
            }),
            monthly_savings: None,
            currency: Some("USD".into()),
            first_seen: at,
            last_seen: at + chrono::Duration::days(1),
            status: vitals_core::finding::FindingStatus::Open,
        }
    }

    /// A latency summary with one service whose name needs escaping, an
    /// `slo` summary in which it missed P95, and a regression of it.
    fn latency_input() -> (Vec<Summary>, Vec<vitals_core::finding::Finding>) {
        use vitals_core::latency::ApdexBand;
        use vitals_core::summary::{LatencyStats, QuantileOrigin, SloStatus};
        let period = DayRange {
            start: d("2024-09-23"),
            end: d("2024-09-29"),
        };
        let stats = LatencyStats {
            source: "logs".into(),
            service: "<i>checkout</i>".into(),
            endpoint: None,
            day: None,
            requests: 12345.0,
            request_rate_per_s: Some(0.02),
            errors: 12.0,
            error_rate: Some(12.0 / 12345.0),
            p50_s: Some(0.1),
            p95_s: Some(0.6123),
            p99_s: Some(0.9),
            quantiles_from: QuantileOrigin::Histogram,
            apdex_t_s: 0.5,
            apdex: Some(0.91),
            apdex_band: Some(ApdexBand::Good),
            apdex_interpolated: true,
            low_traffic: false,
        };
        let latency = LatencySummary {
            analyzer: "latency".into(),
            period,
            data_through: Some(d("2024-09-29")),
            min_requests: 100.0,
            period_stats: vec![stats],
            daily: Vec::new(),
        };
        let status = |objective: &str, compliant: bool| SloStatus {
            source: "logs".into(),
            service: "<i>checkout</i>".into(),
            day: None,
            objective: objective.into(),
            target: 0.5,
            actual: Some(0.6),
            compliant: Some(compliant),
            low_traffic: false,
        };
        let slo = SloSummary {
            analyzer: "slo".into(),
            period,
            statuses: vec![status("p95", false), status("apdex", true)],
            burn_rates: Vec::new(),
        };
        let mut regression = anomaly("2024-09-25");
        regression.kind = "p95_regression".into();
        regression.service = Some("<i>checkout</i>".into());
        regression.title = "<i>checkout</i> P95 rose 40 %".into();
        regression.evidence =
            vitals_core::finding::Finding::evidence_json(&P95RegressionEvidence {
                source: "logs".into(),
                metric: vitals_core::evidence::LatencyMetric::P95,
                direction: Direction::Regression,
                at: d("2024-09-25").and_hms_opt(10, 0, 0).unwrap().and_utc(),
                recovered: false,
                recovered_at: None,
                before: 0.2,
                after: 0.28,
                magnitude: 0.4,
                p_value: 1e-6,
                resolution_s: 3_600,
                points: 336,
                points_after: 100,
                evidence_s: 360_000,
                fresh: false,
            });
        (
            vec![
                Summary::Cost(Box::new(summary())),
                Summary::Latency(Box::new(latency)),
                Summary::Slo(Box::new(slo)),
            ],
            vec![regression],
        )
    }

    fn render_with_latency(format: Format) -> String {
        let cfg = ComponentConfig::from_toml(
            ComponentKind::Report,
            "weekly",
            "type = \"weekly_cost_report\"",
        )
        .unwrap();
        let (summaries, findings) = latency_input();
        let input = ReportInput {
            week: "2024-W39".parse::<Week>().unwrap(),
            summaries: &summaries,
            findings: &findings,
            generated_at: Utc.with_ymd_and_hms(2026, 11, 23, 7, 0, 0).unwrap(),
            owner: None,
        };
        build(&cfg).unwrap().render(&input, format).unwrap()
    }

    #[test]
    fn the_latency_section_shows_p95_apdex_slo_and_regressions_escaped() {
        let html = render_with_latency(Format::Html);
        assert!(html.contains("Latency and SLOs"));
        assert!(html.contains("&lt;i&gt;checkout&lt;"), "escaped name");
        assert!(!html.contains("<i>checkout"), "unescaped name");
        for part in [
            "612 ms",
            "0.910*",
            "Good",
            "missed: p95",
            "P95 rose 40 %",
            "12345",
        ] {
            assert!(html.contains(part), "{part} not in the HTML");
        }
        let md = render_with_latency(Format::Markdown);
        assert!(md.contains("## Latency and SLOs"), "{md}");
        assert!(md.contains("**missed: p95**"), "{md}");
        assert!(md.contains("| \\<i\\>checkout\\</i\\> | logs |"), "{md}");
        assert!(!md.contains("<i>checkout"), "unescaped name");
        let json: serde_json::Value =
            serde_json::from_str(&render_with_latency(Format::Json)).unwrap();
        assert_eq!(json["latency"]["period_stats"][0]["p95_s"], 0.6123);
        assert_eq!(json["slo"]["statuses"][0]["compliant"], false);
        assert_eq!(json["latency_findings"].as_array().unwrap().len(), 1);
        // Without a latency summary there is no section at all.
        assert!(!render(Format::Html, "").contains("Latency and SLOs"));
    }

    #[test]
    fn anomalies_of_the_week_are_listed_escaped() {
        let html = render(Format::Html, "");
        assert!(html.contains("2024-09-25 – 2024-09-26"), "{html}");
        assert!(
            html.contains("&lt;b&gt;EC2&lt;&#x2F;b&gt;") || html.contains("&lt;b&gt;EC2&lt;/b&gt;")
        );
        assert!(html.contains("+800.00 USD") && html.contains("i-aaa +400.00"));
        assert!(!html.contains("2024-09-10"), "an anomaly of another week");
        let md = render(Format::Markdown, "");
        assert!(md.contains(r"| **!** 2024-09-25 – 2024-09-26 | \<b\>EC2\</b\> | AWS 111122223333 | 1,200.00 | 400.00 | +800.00 USD | i-aaa +400.00 |"), "{md}");
        let json: serde_json::Value = serde_json::from_str(&render(Format::Json, "")).unwrap();
        assert_eq!(json["anomalies"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn html_escapes_names_and_embeds_the_chart() {
        let html = render(Format::Html, "money_decimals = 4");
        assert!(!html.contains("<script>"), "unescaped name in HTML");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;")
                || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(html.contains("src=\"data:image/png;base64,iVBOR"));
        assert!(html.contains("1,234.5000"));
        assert!(html.contains("+234.5000"));
        // 234.5 / 1000 is 0.23449999… in binary.
        assert!(html.contains("+23.4%"));
        // Month to date, rounded half away from zero at 4 places.
        assert!(html.contains("20.5202"), "{html}");
        assert!(html.contains("2024-W39"));
    }

    #[test]
    fn an_owners_digest_leaves_out_company_wide_cost_and_escapes_the_owner() {
        let owner = Some("<ops>_team");
        let html = render_for(Format::Html, "", &[], owner);
        assert!(
            html.contains("&lt;ops&gt;_team") && !html.contains("<ops>"),
            "{html}"
        );
        assert!(html.contains("No findings this week."), "{html}");
        for company_wide in ["Total</h2>", "By provider", "Cost anomalies", "data:image"] {
            assert!(!html.contains(company_wide), "{company_wide}: {html}");
        }
        let md = render_for(Format::Markdown, "", &[], owner);
        assert_eq!(
            md.lines().find(|l| l.starts_with("# ")),
            Some("# Weekly cost report · 2024-W39 · \\<ops\\>\\_team"),
            "{md}"
        );
        assert!(md.contains("No findings this week."), "{md}");
        assert!(
            !md.contains("## By provider") && !md.contains("## Total"),
            "{md}"
        );
        // The full report keeps every section.
        let full = render_for(Format::Markdown, "", &[], None);
        assert!(full.contains("## By provider") && full.contains("## Total"));
    }

    #[test]
    fn markdown_escapes_names() {
        let md = render(Format::Markdown, "");
        assert!(
            md.contains(r"\<script\>alert\(1\)\</script\> \| \*x\* \[y\]\(z\)"),
            "{md}"
        );
        assert!(md.contains("| AWS | 1,234.50 |"), "{md}");
        assert!(!md.contains("data:image"));
    }

    #[test]
    fn providers_are_taken_apart_in_html_and_markdown() {
        let html = render(Format::Html, "");
        assert!(html.contains("AWS (USD)</h3>"), "{html}");
        assert!(html.contains("Effective − billed (amortized commitments, credits): <span style=\"font-family:Menlo,Consolas,monospace;\">-234.50</span>"), "{html}");
        assert!(
            html.contains(">-7.50</span> (previous week 0.00)"),
            "{html}"
        );
        assert!(html.contains(">300.00</span> below list price (1,000.00 paid for 1,300.00 at list; 80.0% of usage states a list price)"), "{html}");
        assert!(
            html.contains("<td style=\"border-bottom:1px solid #eee;\">Spot</td>"),
            "{html}"
        );
        let md = render(Format::Markdown, "");
        assert!(md.contains("### AWS (USD)"), "{md}");
        assert!(
            md.contains("| Credit | -7.50 | -3.75 | 0.00 | -7.50 | new | USD |"),
            "{md}"
        );
        assert!(md.contains("| On-demand | 600.00 | 60.0% | 0.00 |"), "{md}");
        assert!(md.contains("| Spot | 400.00 | 40.0% | 0.00 |"), "{md}");
    }

    #[test]
    fn json_keeps_full_precision() {
        let json: serde_json::Value = serde_json::from_str(&render(Format::Json, "")).unwrap();
        assert_eq!(json["week"], "2024-W39");
        assert_eq!(
            json["cost"]["month_to_date"]["by_provider"][0]["cost"]["current"]["billed"],
            20.52015
        );
        assert_eq!(json["cost"]["totals"][0]["cost"]["change"]["billed"], 234.5);
    }

    #[test]
    fn money_is_grouped_rounded_and_signed() {
        let m = Money(2);
        assert_eq!(m.amount(1234567.891), "1,234,567.89");
        assert_eq!(m.amount(-0.001), "0.00");
        assert_eq!(m.amount(-12.5), "-12.50");
        assert_eq!(m.signed(0.004), "0.00");
        assert_eq!(m.signed(3.0), "+3.00");
        assert_eq!(Money(0).amount(999.6), "1,000");
    }

    #[test]
    fn a_missing_summary_is_a_clear_error() {
        let cfg = ComponentConfig::from_toml(
            ComponentKind::Report,
            "weekly",
            "type = \"weekly_cost_report\"\nanalyzer = \"other\"",
        )
        .unwrap();
        let report = build(&cfg).unwrap();
        let summaries = vec![Summary::Cost(Box::new(summary()))];
        let input = ReportInput {
            week: "2024-W39".parse::<Week>().unwrap(),
            summaries: &summaries,
            findings: &[],
            generated_at: Utc::now(),
            owner: None,
        };
        let err = report.render(&input, Format::Html).unwrap_err().to_string();
        assert_eq!(
            err,
            "report `weekly`: no cost summary from analyzer `other`"
        );
    }

    #[test]
    fn config_is_checked() {
        let cfg = ComponentConfig::from_toml(
            ComponentKind::Report,
            "w",
            "type = \"weekly_cost_report\"\nformats = [\"pdf\"]",
        )
        .unwrap();
        let err = build(&cfg).unwrap_err().to_string();
        assert!(err.contains("`reports.w.formats`"), "{err}");
        assert!(err.contains("pdf"), "{err}");
    }
}
