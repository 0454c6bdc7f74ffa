//! `cost_summary`: where the money went in a period, against the period before.
//!
//! Totals by provider, sub-account, service and one tag key, billed
//! (unblended) and effective (amortized) cost both, each compared with the
//! previous period of the same length (week over week for a weekly report);
//! each provider taken apart by charge category (credits on their own),
//! discounts below list price and usage by pricing category (on-demand,
//! spot, committed); the (provider, service) pairs that moved most; the
//! share of cost without the tag; daily cost per provider and service; and
//! month to date against the same days of the month before.
//!
//! One Polars pipeline reduces the store to one row per day, provider,
//! sub-account, service, currency and tag set; everything else is small sums
//! over those rows. Amounts in different currencies are never added.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate};
use polars::prelude::*;
use serde::Deserialize;
use vitals_core::Dataset;
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::period::DayRange;
use vitals_core::summary::{
    Amounts, Comparison, CostGroup, CostSummary, CurrencyTotal, DailyCost, Discounts, MonthToDate,
    PricingShare, ProviderBreakdown, Summary, UntaggedShare,
};

use crate::analyzer::{AnalysisContext, AnalysisOutput, Analyzer};
use crate::error::AnalyzeError;

/// `[analyzers.NAME] type = "cost_summary"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CostSummaryConfig {
    /// The tag key cost is broken down by, and whose absence is reported as
    /// untagged spend. Default `environment`.
    #[serde(default = "default_tag_key")]
    tag_key: String,
    /// How many (provider, service) pairs with the largest change to list.
    /// Default 5.
    #[serde(default = "default_top_movers")]
    top_movers: usize,
}

fn default_tag_key() -> String {
    "environment".to_string()
}

fn default_top_movers() -> usize {
    5
}

#[derive(Debug)]
pub struct CostSummaryAnalyzer {
    name: String,
    config: CostSummaryConfig,
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Analyzer>, ConfigErrors> {
    let parsed: CostSummaryConfig = config.parse()?;
    if parsed.tag_key.trim().is_empty() {
        return Err(config.error(Some("tag_key"), "must not be empty"));
    }
    Ok(Box::new(CostSummaryAnalyzer {
        name: config.name.clone(),
        config: parsed,
    }))
}

impl Analyzer for CostSummaryAnalyzer {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "cost_summary"
    }

    fn dataset(&self) -> Dataset {
        Dataset::Cost
    }

    fn analyze(&self, ctx: &AnalysisContext<'_>) -> Result<AnalysisOutput, AnalyzeError> {
        let store_error = |source| AnalyzeError::Store {
            analyzer: self.name.clone(),
            source,
        };
        let data_through = ctx.store.latest_day(Dataset::Cost).map_err(store_error)?;
        let period = ctx.period;
        let previous = period.previous();
        let month = month_to_date_ranges(period, data_through);
        let scan_range = month.map_or(previous.union(&period), |(cur, prev)| {
            previous.union(&period).union(&cur).union(&prev)
        });
        let frame = ctx
            .store
            .scan(Dataset::Cost, Some(scan_range))
            .map_err(store_error)?;
        let rows = daily_rows(frame, scan_range, &self.config.tag_key).map_err(|e| {
            AnalyzeError::Frame {
                analyzer: self.name.clone(),
                message: format!("summarizing cost for {scan_range}: {e}"),
            }
        })?;
        let summary = summarize(&self.name, &self.config, &rows, period, data_through, month);
        Ok(AnalysisOutput {
            findings: Vec::new(),
            summaries: vec![Summary::Cost(Box::new(summary))],
        })
    }
}

/// Cost of one day, provider, sub-account, service, currency and tag value.
#[derive(Debug, Clone, PartialEq)]
struct DayRow {
    day: NaiveDate,
    provider: String,
    sub_account_id: Option<String>,
    sub_account_name: Option<String>,
    service: Option<String>,
    currency: String,
    tag: Option<String>,
    charge_category: String,
    pricing_category: Option<String>,
    cost: Amounts,
    /// Sum of the rows' list cost, where they state one.
    list_cost: f64,
    /// Effective cost of the rows that state a list cost.
    listed_effective: f64,
}

/// The one pipeline: the store's rows in `range`, summed per day, provider,
/// sub-account, service, currency, tag set, charge and pricing category. Tag values are read from the
/// JSON `tags` after the group-by, once per distinct tag set.
fn daily_rows(frame: LazyFrame, range: DayRange, tag_key: &str) -> PolarsResult<Vec<DayRow>> {
    let keys = [
        "day",
        "provider",
        "sub_account_id",
        "sub_account_name",
        "service_name",
        "billing_currency",
        "tags",
        "charge_category",
        "pricing_category",
    ];
    let start = range.start.and_hms_opt(0, 0, 0).expect("midnight exists");
    let end = (range.end + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists");
    let ts = col(Dataset::Cost.time_column());
    let df = frame
        .filter(
            ts.clone()
                .gt_eq(lit(start).dt().cast_time_unit(TimeUnit::Microseconds))
                .and(
                    ts.clone()
                        .lt(lit(end).dt().cast_time_unit(TimeUnit::Microseconds)),
                ),
        )
        .with_column(ts.dt().date().alias("day"))
        .group_by(keys.map(col))
        .agg([
            col("billed_cost").sum(),
            col("effective_cost").sum(),
            col("list_cost").sum(),
            when(col("list_cost").is_not_null())
                .then(col("effective_cost"))
                .otherwise(lit(0.0))
                .sum()
                .alias("listed_effective"),
        ])
        .sort(keys, SortMultipleOptions::default().with_nulls_last(true))
        .collect()?;

    let days = df.column("day")?.date()?.physical().clone();
    let text = |name: &str| -> PolarsResult<StringChunked> { Ok(df.column(name)?.str()?.clone()) };
    let (provider, sub_id, sub_name, service, currency, tags) = (
        text("provider")?,
        text("sub_account_id")?,
        text("sub_account_name")?,
        text("service_name")?,
        text("billing_currency")?,
        text("tags")?,
    );
    let (charge_category, pricing_category) = (text("charge_category")?, text("pricing_category")?);
    let number =
        |name: &str| -> PolarsResult<Float64Chunked> { Ok(df.column(name)?.f64()?.clone()) };
    let (billed, effective) = (number("billed_cost")?, number("effective_cost")?);
    let (list_cost, listed_effective) = (number("list_cost")?, number("listed_effective")?);
    let owned = |v: Option<&str>| v.map(str::to_string);
    let mut tag_cache: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut rows = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let Some(day) = days.get(i).and_then(day_from_epoch) else {
            continue;
        };
        let tag = match tags.get(i) {
            None => None,
            Some(json) => tag_cache
                .entry(json.to_string())
                .or_insert_with(|| tag_value(json, tag_key))
                .clone(),
        };
        rows.push(DayRow {
            day,
            provider: provider.get(i).unwrap_or_default().to_string(),
            sub_account_id: owned(sub_id.get(i)),
            sub_account_name: owned(sub_name.get(i)),
            service: owned(service.get(i)),
            currency: currency.get(i).unwrap_or_default().to_string(),
            tag,
            charge_category: charge_category.get(i).unwrap_or_default().to_string(),
            pricing_category: owned(pricing_category.get(i)),
            cost: Amounts {
                billed: billed.get(i).unwrap_or(0.0),
                effective: effective.get(i).unwrap_or(0.0),
            },
            list_cost: list_cost.get(i).unwrap_or(0.0),
            listed_effective: listed_effective.get(i).unwrap_or(0.0),
        });
    }
    Ok(rows)
}

fn day_from_epoch(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_signed(Duration::days(i64::from(days)))
}

/// The value of `key` in a JSON object of tags; `None` when the key is absent
/// or its value empty. Non-string values are shown as JSON.
fn tag_value(json: &str, key: &str) -> Option<String> {
    let serde_json::Value::Object(map) = serde_json::from_str(json).ok()? else {
        return None;
    };
    match map.get(key)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) if s.trim().is_empty() => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The month holding the period's last day, from its first day to the latest
/// day with data (but not past the period's end), and the same days of the
/// month before. `None` when the store has no data in that month yet.
fn month_to_date_ranges(
    period: DayRange,
    data_through: Option<NaiveDate>,
) -> Option<(DayRange, DayRange)> {
    let month_start = period.end.with_day(1)?;
    let month_end = next_month(month_start)? - Duration::days(1);
    let last = data_through?.min(month_end);
    let current = DayRange::new(month_start, last)?;
    let prev_start = previous_month(month_start)?;
    let prev_month_end = month_start - Duration::days(1);
    let prev_end = prev_start
        .with_day(last.day())
        .unwrap_or(prev_month_end)
        .min(prev_month_end);
    Some((current, DayRange::new(prev_start, prev_end)?))
}

fn next_month(first: NaiveDate) -> Option<NaiveDate> {
    let (y, m) = if first.month() == 12 {
        (first.year() + 1, 1)
    } else {
        (first.year(), first.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
}

fn previous_month(first: NaiveDate) -> Option<NaiveDate> {
    let (y, m) = if first.month() == 1 {
        (first.year() - 1, 12)
    } else {
        (first.year(), first.month() - 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
}

/// Current and previous amounts of one group.
#[derive(Debug, Default, Clone, Copy)]
struct Pair {
    current: Amounts,
    previous: Amounts,
}

fn add(a: &mut Amounts, b: Amounts) {
    a.billed += b.billed;
    a.effective += b.effective;
}

/// Sums rows into groups keyed by `key`, splitting by range.
fn group<K: Ord>(
    rows: &[DayRow],
    current: DayRange,
    previous: DayRange,
    key: impl Fn(&DayRow) -> K,
) -> BTreeMap<K, Pair> {
    let mut out: BTreeMap<K, Pair> = BTreeMap::new();
    for r in rows {
        let in_current = current.contains(r.day);
        if !in_current && !previous.contains(r.day) {
            continue;
        }
        let pair = out.entry(key(r)).or_default();
        add(
            if in_current {
                &mut pair.current
            } else {
                &mut pair.previous
            },
            r.cost,
        );
    }
    out
}

fn comparison(p: &Pair) -> Comparison {
    Comparison::new(p.current, p.previous)
}

/// Groups ordered by current billed cost, largest first, then by name.
fn sorted(mut groups: Vec<CostGroup>) -> Vec<CostGroup> {
    groups.sort_by(|a, b| {
        b.cost
            .current
            .billed
            .total_cmp(&a.cost.current.billed)
            .then_with(|| (&a.provider, &a.name, &a.id).cmp(&(&b.provider, &b.name, &b.id)))
    });
    groups
}

/// FOCUS's charge categories, in the order reports list them.
const CHARGE_CATEGORIES: [&str; 5] = ["Usage", "Purchase", "Tax", "Credit", "Adjustment"];

/// Each (provider, currency) taken apart: charge categories, credits,
/// discounts below list price, and usage by pricing category.
fn breakdowns(rows: &[DayRow], period: DayRange, previous: DayRange) -> Vec<ProviderBreakdown> {
    let totals = group(rows, period, previous, |r| {
        (r.provider.clone(), r.currency.clone())
    });
    let mut out: Vec<ProviderBreakdown> = totals
        .into_iter()
        .map(|((provider, currency), total)| {
            let mine: Vec<DayRow> = rows
                .iter()
                .filter(|r| r.provider == provider && r.currency == currency)
                .cloned()
                .collect();
            let usage: Vec<DayRow> = mine
                .iter()
                .filter(|r| r.charge_category == "Usage")
                .cloned()
                .collect();
            let rank = |c: &str| {
                CHARGE_CATEGORIES
                    .iter()
                    .position(|k| *k == c)
                    .unwrap_or(CHARGE_CATEGORIES.len())
            };
            let mut by_charge_category: Vec<CostGroup> =
                group(&mine, period, previous, |r| r.charge_category.clone())
                    .into_iter()
                    .map(|(category, p)| CostGroup {
                        provider: Some(provider.clone()),
                        name: Some(category),
                        id: None,
                        currency: currency.clone(),
                        cost: comparison(&p),
                    })
                    .collect();
            by_charge_category.sort_by(|a, b| {
                let (a, b) = (
                    a.name.as_deref().unwrap_or(""),
                    b.name.as_deref().unwrap_or(""),
                );
                rank(a).cmp(&rank(b)).then_with(|| a.cmp(b))
            });
            let credits = group(&mine, period, previous, |r| r.charge_category == "Credit")
                .remove(&true)
                .unwrap_or_default();
            let current_usage: Vec<&DayRow> =
                usage.iter().filter(|r| period.contains(r.day)).collect();
            let usage_effective: f64 = current_usage.iter().map(|r| r.cost.effective).sum();
            let list_cost: f64 = current_usage.iter().map(|r| r.list_cost).sum();
            let listed_effective: f64 = current_usage.iter().map(|r| r.listed_effective).sum();
            let share = |part: f64| (usage_effective != 0.0).then(|| part / usage_effective);
            let discounts = (list_cost != 0.0).then(|| Discounts {
                list_cost,
                effective: listed_effective,
                saved: list_cost - listed_effective,
                coverage: share(listed_effective),
            });
            let mut by_pricing_category: Vec<PricingShare> =
                group(&usage, period, previous, |r| r.pricing_category.clone())
                    .into_iter()
                    .map(|(category, p)| PricingShare {
                        category,
                        share: share(p.current.effective),
                        cost: comparison(&p),
                    })
                    .collect();
            by_pricing_category.sort_by(|a, b| {
                b.cost
                    .current
                    .effective
                    .total_cmp(&a.cost.current.effective)
                    .then_with(|| a.category.cmp(&b.category))
            });
            ProviderBreakdown {
                provider,
                currency,
                cost: comparison(&total),
                by_charge_category,
                credits: comparison(&credits),
                discounts,
                by_pricing_category,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.cost
            .current
            .billed
            .total_cmp(&a.cost.current.billed)
            .then_with(|| (&a.provider, &a.currency).cmp(&(&b.provider, &b.currency)))
    });
    out
}

fn summarize(
    analyzer: &str,
    config: &CostSummaryConfig,
    rows: &[DayRow],
    period: DayRange,
    data_through: Option<NaiveDate>,
    month: Option<(DayRange, DayRange)>,
) -> CostSummary {
    let previous = period.previous();
    let totals = |current: DayRange, previous: DayRange| -> Vec<CurrencyTotal> {
        group(rows, current, previous, |r| r.currency.clone())
            .into_iter()
            .map(|(currency, p)| CurrencyTotal {
                currency,
                cost: comparison(&p),
            })
            .collect()
    };
    let by_provider = |current: DayRange, previous: DayRange| -> Vec<CostGroup> {
        sorted(
            group(rows, current, previous, |r| {
                (r.provider.clone(), r.currency.clone())
            })
            .into_iter()
            .map(|((provider, currency), p)| CostGroup {
                name: Some(provider.clone()),
                provider: Some(provider),
                id: None,
                currency,
                cost: comparison(&p),
            })
            .collect(),
        )
    };
    let breakdowns = breakdowns(rows, period, previous);
    let by_sub_account = sorted(
        group(rows, period, previous, |r| {
            (
                r.provider.clone(),
                r.sub_account_id.clone(),
                r.currency.clone(),
            )
        })
        .into_iter()
        .map(|((provider, id, currency), p)| {
            // The latest name seen for the id (names can change; ids do not).
            let name = rows
                .iter()
                .filter(|r| {
                    r.provider == provider && r.sub_account_id == id && r.sub_account_name.is_some()
                })
                .max_by_key(|r| r.day)
                .and_then(|r| r.sub_account_name.clone());
            CostGroup {
                provider: Some(provider),
                name,
                id,
                currency,
                cost: comparison(&p),
            }
        })
        .collect(),
    );
    let service_groups: Vec<CostGroup> = group(rows, period, previous, |r| {
        (r.provider.clone(), r.service.clone(), r.currency.clone())
    })
    .into_iter()
    .map(|((provider, name, currency), p)| CostGroup {
        provider: Some(provider),
        name,
        id: None,
        currency,
        cost: comparison(&p),
    })
    .collect();
    let mut top_movers: Vec<CostGroup> = service_groups
        .iter()
        .filter(|g| g.cost.change.billed != 0.0 || g.cost.change.effective != 0.0)
        .cloned()
        .collect();
    top_movers.sort_by(|a, b| {
        b.cost
            .change
            .billed
            .abs()
            .total_cmp(&a.cost.change.billed.abs())
            .then_with(|| {
                b.cost
                    .change
                    .effective
                    .abs()
                    .total_cmp(&a.cost.change.effective.abs())
            })
            .then_with(|| (&a.provider, &a.name).cmp(&(&b.provider, &b.name)))
    });
    top_movers.truncate(config.top_movers);
    let by_tag = sorted(
        group(rows, period, previous, |r| {
            (r.tag.clone(), r.currency.clone())
        })
        .into_iter()
        .map(|((name, currency), p)| CostGroup {
            provider: None,
            name,
            id: None,
            currency,
            cost: comparison(&p),
        })
        .collect(),
    );
    let mut untagged: BTreeMap<String, (Amounts, Amounts)> = BTreeMap::new();
    for r in rows.iter().filter(|r| period.contains(r.day)) {
        let (u, t) = untagged.entry(r.currency.clone()).or_default();
        add(t, r.cost);
        if r.tag.is_none() {
            add(u, r.cost);
        }
    }
    let share = |part: f64, whole: f64| (whole != 0.0).then(|| part / whole);
    let untagged = untagged
        .into_iter()
        .map(|(currency, (u, t))| UntaggedShare {
            currency,
            untagged: u,
            total: t,
            billed_share: share(u.billed, t.billed),
            effective_share: share(u.effective, t.effective),
        })
        .collect();
    let both = previous.union(&period);
    let mut daily: BTreeMap<(NaiveDate, String, Option<String>, String), Amounts> = BTreeMap::new();
    for r in rows.iter().filter(|r| both.contains(r.day)) {
        add(
            daily
                .entry((
                    r.day,
                    r.provider.clone(),
                    r.service.clone(),
                    r.currency.clone(),
                ))
                .or_default(),
            r.cost,
        );
    }
    let daily = daily
        .into_iter()
        .map(|((day, provider, service, currency), cost)| DailyCost {
            day,
            provider,
            service,
            currency,
            cost,
        })
        .collect();
    let month_to_date = month.map(|(current, prev)| MonthToDate {
        month: current.start.format("%Y-%m").to_string(),
        range: current,
        previous_range: prev,
        totals: totals(current, prev),
        by_provider: by_provider(current, prev),
    });
    CostSummary {
        analyzer: analyzer.to_string(),
        period,
        previous_period: previous,
        data_through,
        tag_key: config.tag_key.clone(),
        totals: totals(period, previous),
        by_provider: by_provider(period, previous),
        breakdowns,
        by_sub_account,
        by_service: sorted(service_groups),
        by_tag,
        top_movers,
        untagged,
        daily,
        month_to_date,
    }
}

#[cfg(test)]
mod tests {
    use vitals_core::Store;
    use vitals_core::config::ComponentKind;

    use super::*;
    use crate::test_store::Row;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// (day, provider, service, billed, effective, tags)
    type Tuple = (
        &'static str,
        &'static str,
        &'static str,
        f64,
        f64,
        Option<&'static str>,
    );

    fn store_with(rows: &[Tuple]) -> (tempfile::TempDir, Store) {
        let rows: Vec<Row> = rows
            .iter()
            .map(|&(day, provider, service, billed, effective, tags)| Row {
                day,
                provider,
                service,
                billed,
                effective,
                tags,
                ..Row::default()
            })
            .collect();
        crate::test_store::store_with(&rows)
    }

    fn run(store: &Store, period: DayRange, extra: &str) -> CostSummary {
        let cfg = ComponentConfig::from_toml(
            ComponentKind::Analyzer,
            "cost",
            &format!("type = \"cost_summary\"\n{extra}"),
        )
        .unwrap();
        let analyzer = build(&cfg).unwrap();
        let out = analyzer
            .analyze(&AnalysisContext {
                store,
                period,
                today: d("2026-11-23"),
            })
            .unwrap();
        assert!(out.findings.is_empty());
        match out.summaries.into_iter().next().unwrap() {
            Summary::Cost(c) => *c,
            other => panic!("expected a cost summary, got {other:?}"),
        }
    }

    #[test]
    fn compares_week_over_week_by_provider_service_and_tag() {
        let (_dir, store) = store_with(&[
            // Previous week (Sep 16-22).
            (
                "2024-09-16",
                "AWS",
                "EC2",
                10.0,
                8.0,
                Some(r#"{"environment":"prod"}"#),
            ),
            ("2024-09-20", "AWS", "S3", 1.0, 1.0, None),
            (
                "2024-09-21",
                "GCP",
                "BigQuery",
                4.0,
                4.0,
                Some(r#"{"environment":"dev"}"#),
            ),
            // This week (Sep 23-29).
            (
                "2024-09-23",
                "AWS",
                "EC2",
                12.0,
                9.0,
                Some(r#"{"environment":"prod","team":"a"}"#),
            ),
            (
                "2024-09-24",
                "AWS",
                "EC2",
                3.0,
                3.0,
                Some(r#"{"team":"a"}"#),
            ),
            (
                "2024-09-29",
                "AWS",
                "S3",
                1.0,
                1.0,
                Some(r#"{"environment":""}"#),
            ),
            (
                "2024-09-25",
                "GCP",
                "BigQuery",
                0.5,
                0.25,
                Some(r#"{"environment":"dev"}"#),
            ),
            // Outside both weeks: in month-to-date only.
            ("2024-09-02", "GCP", "BigQuery", 100.0, 100.0, None),
        ]);
        let week = DayRange::new(d("2024-09-23"), d("2024-09-29")).unwrap();
        let s = run(&store, week, "top_movers = 2");
        assert_eq!(
            s.previous_period,
            DayRange::new(d("2024-09-16"), d("2024-09-22")).unwrap()
        );
        assert_eq!(s.data_through, Some(d("2024-09-29")));
        assert_eq!(s.totals.len(), 1);
        let t = &s.totals[0];
        assert_eq!(
            t.cost.current,
            Amounts {
                billed: 16.5,
                effective: 13.25
            }
        );
        assert_eq!(
            t.cost.previous,
            Amounts {
                billed: 15.0,
                effective: 13.0
            }
        );
        assert_eq!(t.cost.change_ratio_billed, Some(0.1));

        let names: Vec<_> = s
            .by_provider
            .iter()
            .map(|g| (g.name.as_deref().unwrap(), g.cost.current.billed))
            .collect();
        assert_eq!(names, vec![("AWS", 16.0), ("GCP", 0.5)]);

        // Movers by absolute billed change: BigQuery -3.5, EC2 +5; S3 unchanged.
        let movers: Vec<_> = s
            .top_movers
            .iter()
            .map(|g| (g.name.as_deref().unwrap(), g.cost.change.billed))
            .collect();
        assert_eq!(movers, vec![("EC2", 5.0), ("BigQuery", -3.5)]);

        let tags: Vec<_> = s
            .by_tag
            .iter()
            .map(|g| {
                (
                    g.name.clone(),
                    g.cost.current.billed,
                    g.cost.previous.billed,
                )
            })
            .collect();
        assert_eq!(
            tags,
            vec![
                (Some("prod".to_string()), 12.0, 10.0),
                (None, 4.0, 1.0),
                (Some("dev".to_string()), 0.5, 4.0),
            ]
        );
        let u = &s.untagged[0];
        assert_eq!(u.untagged.billed, 4.0);
        assert_eq!(u.billed_share, Some(4.0 / 16.5));

        // Daily rows cover both weeks, not the day outside them.
        assert_eq!(s.daily.len(), 7);
        assert!(s.daily.iter().all(|r| r.day >= d("2024-09-16")));

        let mtd = s.month_to_date.unwrap();
        assert_eq!(mtd.month, "2024-09");
        assert_eq!(
            mtd.range,
            DayRange::new(d("2024-09-01"), d("2024-09-29")).unwrap()
        );
        assert_eq!(
            mtd.previous_range,
            DayRange::new(d("2024-08-01"), d("2024-08-29")).unwrap()
        );
        assert_eq!(mtd.totals[0].cost.current.billed, 131.5);
        assert_eq!(mtd.totals[0].cost.change_ratio_billed, None);
    }

    #[test]
    fn providers_are_taken_apart_by_charge_and_pricing_category() {
        use crate::test_store::Row;
        let row = |day, provider, charge, pricing, billed, effective, list| Row {
            day,
            provider,
            service: "S",
            billed,
            effective,
            charge: Some(charge),
            pricing,
            list,
            ..Row::default()
        };
        let (_dir, store) = crate::test_store::store_with(&[
            // This week (Sep 23-29).
            row(
                "2024-09-23",
                "AWS",
                "Usage",
                Some("Standard"),
                60.0,
                60.0,
                Some(60.0),
            ),
            row(
                "2024-09-23",
                "AWS",
                "Usage",
                Some("Dynamic"),
                20.0,
                20.0,
                Some(50.0),
            ),
            row(
                "2024-09-24",
                "AWS",
                "Usage",
                Some("Committed"),
                30.0,
                20.0,
                Some(30.0),
            ),
            row("2024-09-24", "AWS", "Usage", None, 0.0, 0.0, None),
            row("2024-09-25", "AWS", "Purchase", None, 15.0, 5.0, None),
            row("2024-09-25", "AWS", "Credit", None, -7.5, -7.5, None),
            row("2024-09-26", "AWS", "Tax", None, 4.0, 4.0, None),
            row(
                "2024-09-24",
                "Google Cloud",
                "Usage",
                None,
                10.0,
                10.0,
                None,
            ),
            row(
                "2024-09-24",
                "Google Cloud",
                "Credit",
                None,
                0.0,
                -2.0,
                None,
            ),
            // The week before.
            row("2024-09-18", "AWS", "Credit", None, -5.0, -5.0, None),
            row(
                "2024-09-18",
                "AWS",
                "Usage",
                Some("Standard"),
                100.0,
                100.0,
                None,
            ),
        ]);
        let week = DayRange::new(d("2024-09-23"), d("2024-09-29")).unwrap();
        let s = run(&store, week, "");
        let providers: Vec<&str> = s.breakdowns.iter().map(|b| b.provider.as_str()).collect();
        assert_eq!(providers, ["AWS", "Google Cloud"]);
        let aws = &s.breakdowns[0];
        assert_eq!(
            aws.cost.current,
            Amounts {
                billed: 121.5,
                effective: 101.5
            }
        );
        let categories: Vec<(&str, f64, f64)> = aws
            .by_charge_category
            .iter()
            .map(|g| {
                (
                    g.name.as_deref().unwrap(),
                    g.cost.current.billed,
                    g.cost.current.effective,
                )
            })
            .collect();
        assert_eq!(
            categories,
            [
                ("Usage", 110.0, 100.0),
                ("Purchase", 15.0, 5.0),
                ("Tax", 4.0, 4.0),
                ("Credit", -7.5, -7.5)
            ]
        );
        assert_eq!(aws.credits.current.effective, -7.5);
        assert_eq!(aws.credits.previous.effective, -5.0);
        // Usage with a list price: 140 at list, 100 paid, all of usage covered.
        assert_eq!(
            aws.discounts,
            Some(Discounts {
                list_cost: 140.0,
                effective: 100.0,
                saved: 40.0,
                coverage: Some(1.0)
            })
        );
        let pricing: Vec<(Option<&str>, f64, Option<f64>)> = aws
            .by_pricing_category
            .iter()
            .map(|p| (p.category.as_deref(), p.cost.current.effective, p.share))
            .collect();
        assert_eq!(
            pricing,
            [
                (Some("Standard"), 60.0, Some(0.6)),
                (Some("Committed"), 20.0, Some(0.2)),
                (Some("Dynamic"), 20.0, Some(0.2)),
                (None, 0.0, Some(0.0)),
            ]
        );
        assert_eq!(aws.by_pricing_category[0].cost.previous.effective, 100.0);
        // GCP's credits are effective cost only.
        let gcp = &s.breakdowns[1];
        assert_eq!(
            gcp.credits.current,
            Amounts {
                billed: 0.0,
                effective: -2.0
            }
        );
        assert_eq!(
            gcp.cost.current,
            Amounts {
                billed: 10.0,
                effective: 8.0
            }
        );
        assert_eq!(gcp.discounts, None);
    }

    #[test]
    fn an_empty_store_gives_an_empty_summary() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let s = run(&store, DayRange::single(d("2024-09-01")), "");
        assert!(s.totals.is_empty() && s.daily.is_empty() && s.month_to_date.is_none());
        assert_eq!(s.data_through, None);
    }

    #[test]
    fn month_to_date_clamps_to_shorter_months() {
        let period = DayRange::new(d("2024-03-25"), d("2024-03-31")).unwrap();
        let (cur, prev) = month_to_date_ranges(period, Some(d("2024-04-10"))).unwrap();
        assert_eq!(
            cur,
            DayRange::new(d("2024-03-01"), d("2024-03-31")).unwrap()
        );
        assert_eq!(
            prev,
            DayRange::new(d("2024-02-01"), d("2024-02-29")).unwrap()
        );
        let (_, prev) =
            month_to_date_ranges(DayRange::single(d("2024-01-05")), Some(d("2024-01-05"))).unwrap();
        assert_eq!(
            prev,
            DayRange::new(d("2023-12-01"), d("2023-12-05")).unwrap()
        );
        assert!(month_to_date_ranges(period, Some(d("2024-02-10"))).is_none());
    }

    #[test]
    fn tag_values_come_from_json_objects() {
        assert_eq!(
            tag_value(r#"{"environment":"prod"}"#, "environment"),
            Some("prod".to_string())
        );
        assert_eq!(
            tag_value(r#"{"environment":3}"#, "environment"),
            Some("3".to_string())
        );
        assert_eq!(tag_value(r#"{"environment":null}"#, "environment"), None);
        assert_eq!(tag_value("not json", "environment"), None);
        assert_eq!(tag_value("[1]", "environment"), None);
    }

    #[test]
    fn config_is_checked() {
        let cfg = ComponentConfig::from_toml(
            ComponentKind::Analyzer,
            "c",
            "type = \"cost_summary\"\ntag_kye = \"x\"",
        )
        .unwrap();
        let err = build(&cfg).unwrap_err().to_string();
        assert!(err.contains("did you mean `tag_key`"), "{err}");
        let cfg = ComponentConfig::from_toml(
            ComponentKind::Analyzer,
            "c",
            "type = \"cost_summary\"\ntag_key = \" \"",
        )
        .unwrap();
        assert!(
            build(&cfg)
                .unwrap_err()
                .to_string()
                .contains("must not be empty")
        );
    }
}
