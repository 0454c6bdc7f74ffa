//! `vitals analyze --format text`: summaries as plain text for a terminal.

use std::fmt::Write;

use vitals_core::finding::Finding;
use vitals_core::summary::{
    CostGroup, LatencyStats, LatencySummary, SavingsCoverage, SloSummary, Summary,
};

pub fn render(summaries: &[Summary], findings: &[Finding]) -> String {
    let mut out = String::new();
    for s in summaries {
        match s {
            Summary::Cost(c) => {
                let _ = writeln!(
                    out,
                    "cost summary `{}`: {} (previous {}), data through {}",
                    c.analyzer,
                    c.period,
                    c.previous_period,
                    c.data_through
                        .map_or_else(|| "-".to_string(), |d| d.to_string())
                );
                if c.totals.is_empty() {
                    let _ = writeln!(out, "  no cost data in this period");
                }
                for t in &c.totals {
                    let _ = writeln!(
                        out,
                        "  total {:>14.4} billed {:>14.4} effective {}  (previous {:.4} billed)",
                        t.cost.current.billed,
                        t.cost.current.effective,
                        t.currency,
                        t.cost.previous.billed
                    );
                }
                section(&mut out, "by provider", &c.by_provider);
                for b in &c.breakdowns {
                    section(
                        &mut out,
                        &format!("{} ({}) by charge category", b.provider, b.currency),
                        &b.by_charge_category,
                    );
                    let _ = writeln!(out, "    usage by pricing category (effective):");
                    for p in &b.by_pricing_category {
                        let _ = writeln!(
                            out,
                            "      {:<44} {:>14.4} {}  {}",
                            p.category.as_deref().unwrap_or("(not stated)"),
                            p.cost.current.effective,
                            b.currency,
                            p.share
                                .map_or_else(|| "-".to_string(), |r| format!("{:.1}%", r * 100.0))
                        );
                    }
                    if let Some(d) = b.discounts {
                        let _ = writeln!(
                            out,
                            "    discounts: {:.4} {} below list price ({:.4} at list)",
                            d.saved, b.currency, d.list_cost
                        );
                    }
                }
                section(&mut out, "by service", &c.by_service);
                section(&mut out, &format!("by tag `{}`", c.tag_key), &c.by_tag);
                section(&mut out, "top movers", &c.top_movers);
            }
            Summary::Latency(l) => latency(&mut out, l),
            Summary::Slo(slo) => slo_text(&mut out, slo),
            Summary::Savings(c) => coverage(&mut out, c),
            Summary::CostPerRequest(c) => cost_per_request(&mut out, c),
            Summary::Commitment(c) => commitments(&mut out, c),
        }
    }
    out.push_str(&savings_totals(findings));
    if !findings.is_empty() {
        let _ = writeln!(out, "{} finding(s)", findings.len());
        for f in findings {
            let _ = writeln!(out, "  [{:?}] {}: {}", f.severity, f.kind, f.title);
        }
    }
    out
}

fn savings_totals(findings: &[Finding]) -> String {
    let mut out = String::new();
    let by_kind = vitals_core::savings::savings_by(findings, |f| Some(f.kind.clone()));
    if !by_kind.is_empty() {
        let _ = writeln!(out, "monthly savings (each resource counted once):");
        for l in &by_kind {
            let _ = writeln!(
                out,
                "  {:<16} {:<8} {:>12.2} {}  ({} finding(s))",
                l.key.as_deref().unwrap_or("-"),
                l.provider.as_deref().unwrap_or("-"),
                l.monthly,
                l.currency,
                l.findings
            );
        }
    }
    out
}

/// `vitals run --once`'s savings: the totals, then each finding, largest
/// saving first (cost increases last).
pub fn savings(findings: &[Finding]) -> String {
    let mut out = savings_totals(findings);
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by(|a, b| {
        let s = |f: &Finding| f.monthly_savings.unwrap_or(f64::NEG_INFINITY);
        s(b).total_cmp(&s(a))
    });
    if !sorted.is_empty() {
        let _ = writeln!(out, "savings findings, largest first:");
    }
    for f in sorted {
        let _ = writeln!(out, "  [{}] {}", f.kind, f.title);
    }
    out
}

fn coverage(out: &mut String, c: &SavingsCoverage) {
    let _ = writeln!(
        out,
        "savings `{}` ({}): {} judged",
        c.analyzer, c.finding_kind, c.judged
    );
    let lists = [
        ("too little data", &c.insufficient_data),
        ("not in the catalog", &c.unknown_types),
        ("no price or billed cost", &c.unpriced),
    ];
    for (what, ids) in lists {
        if !ids.is_empty() {
            let _ = writeln!(out, "  {what}: {}", ids.join(", "));
        }
    }
}

fn commitments(out: &mut String, c: &vitals_core::summary::CommitmentSummary) {
    let _ = writeln!(out, "commitments `{}`, {}:", c.analyzer, c.lookback);
    for v in &c.providers {
        let _ = writeln!(
            out,
            "  {} ({}): on-demand {:.2}, covered {:.2}, coverage {}",
            v.provider,
            v.currency,
            v.on_demand,
            v.covered,
            v.coverage
                .map_or_else(|| "–".to_string(), |r| format!("{:.1}%", r * 100.0))
        );
        if let Some(r) = &v.recommendation {
            let _ = writeln!(
                out,
                "    commit {:.4}/hour ({} year, {:.0}% off): saves {:.2}/month, {:.1}% utilized, break-even {:.1} months",
                r.hourly_commitment,
                r.term_years,
                r.discount * 100.0,
                r.monthly_saving,
                r.utilization * 100.0,
                r.break_even_months
            );
        }
    }
}

fn cost_per_request(out: &mut String, c: &vitals_core::summary::CostPerRequestSummary) {
    let _ = writeln!(
        out,
        "cost per request `{}` ({}, by tag `{}`), {}:",
        c.analyzer, c.cost_column, c.tag_key, c.period
    );
    for s in &c.services {
        let per_1k = |u: &vitals_core::summary::UnitCost| {
            u.per_1k_requests
                .map_or_else(|| "–".to_string(), |v| format!("{v:.4}"))
        };
        let _ = writeln!(
            out,
            "  {}: {:.2} {} for {:.0} requests = {} per 1,000 (previous {}){}",
            s.service,
            s.current.cost,
            s.currency,
            s.current.requests,
            per_1k(&s.current),
            per_1k(&s.previous),
            s.per_1k_change
                .map(|r| format!(", {:+.1}%", r * 100.0))
                .unwrap_or_default()
        );
    }
    for u in &c.unattributed {
        let _ = writeln!(
            out,
            "  without `{}`: {:.2} {}{}",
            c.tag_key,
            u.cost,
            u.currency,
            u.share
                .map(|s| format!(" ({:.1}% of the period's cost)", s * 100.0))
                .unwrap_or_default()
        );
    }
}

fn section(out: &mut String, title: &str, groups: &[CostGroup]) {
    if groups.is_empty() {
        return;
    }
    let _ = writeln!(out, "  {title}:");
    for g in groups {
        let name = g.name.as_deref().unwrap_or("(none)");
        let label = match (&g.provider, title) {
            (Some(p), t) if t != "by provider" && !t.contains("by charge category") => {
                format!("{p} / {name}")
            }
            _ => name.to_string(),
        };
        let _ = writeln!(
            out,
            "    {label:<48} {:>14.4} billed {:>14.4} effective {}  change {:+.4}",
            g.cost.current.billed, g.cost.current.effective, g.currency, g.cost.change.billed
        );
    }
}

fn latency(out: &mut String, l: &LatencySummary) {
    let _ = writeln!(
        out,
        "latency summary `{}`: {}, data through {}",
        l.analyzer,
        l.period,
        l.data_through
            .map_or_else(|| "-".to_string(), |d| d.to_string())
    );
    if l.period_stats.is_empty() {
        let _ = writeln!(out, "  no latency data in this period");
    }
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{:.1}", v * 1e3));
    let _ = writeln!(
        out,
        "  {:<40} {:>10} {:>7} {:>9} {:>9} {:>9} {:>6}  band",
        "source / service / endpoint", "requests", "errors", "p50 ms", "p95 ms", "p99 ms", "apdex"
    );
    for s in &l.period_stats {
        let LatencyStats {
            source,
            service,
            endpoint,
            ..
        } = s;
        let name = match endpoint {
            Some(e) => format!("{source} / {service} / {e}"),
            None => format!("{source} / {service}"),
        };
        let _ = writeln!(
            out,
            "  {name:<40} {:>10.0} {:>6.2}% {:>9} {:>9} {:>9} {:>6}  {}{}{}",
            s.requests,
            s.error_rate.unwrap_or(0.0) * 100.0,
            ms(s.p50_s),
            ms(s.p95_s),
            ms(s.p99_s),
            s.apdex
                .map_or_else(|| "-".to_string(), |a| format!("{a:.3}")),
            s.apdex_band.map_or("-", |b| b.as_str()),
            if s.apdex_interpolated {
                " (interpolated)"
            } else {
                ""
            },
            if s.low_traffic { " (low traffic)" } else { "" },
        );
    }
}

fn slo_text(out: &mut String, slo: &SloSummary) {
    let _ = writeln!(out, "slo `{}`: {}", slo.analyzer, slo.period);
    for s in slo.statuses.iter().filter(|s| s.day.is_none()) {
        let verdict = match (s.compliant, s.low_traffic) {
            (_, true) => "low traffic",
            (Some(true), _) => "met",
            (Some(false), _) => "BREACHED",
            (None, _) => "no data",
        };
        let _ = writeln!(
            out,
            "  {} / {:<24} {:<10} target {:<8} actual {:<10} {verdict}",
            s.source,
            s.service,
            s.objective,
            s.target,
            s.actual
                .map_or_else(|| "-".to_string(), |a| format!("{a:.4}"))
        );
    }
    for b in &slo.burn_rates {
        let f = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"));
        let _ = writeln!(
            out,
            "  burn {} / {} at {}: 1h {} (5m {}), 6h {} (30m {}){}{}",
            b.source,
            b.service,
            b.at.format("%Y-%m-%d %H:%M UTC"),
            f(b.burn_1h),
            f(b.burn_5m),
            f(b.burn_6h),
            f(b.burn_30m),
            if b.fast_burn { "  FAST BURN" } else { "" },
            if b.slow_burn { "  SLOW BURN" } else { "" },
        );
    }
}
