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
use vitals_core::frames::{collect_streaming, exact_sum};
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
    if parsed.tag_key.contains(['\'', '\\']) {
        return Err(config.error(
            Some("tag_key"),
            "must not contain `'` or `\\` (it is read with a JSON path)",
        ));
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

    fn datasets(&self) -> &'static [Dataset] {
        &[Dataset::Cost]
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
        let summary = daily_frame(frame, scan_range, &self.config.tag_key)
            .and_then(|daily| {
                summarize(
                    &self.name,
                    &self.config,
                    &daily,
                    period,
                    data_through,
                    month,
                )
            })
            .map_err(|e| AnalyzeError::Frame {
                analyzer: self.name.clone(),
                message: format!("summarizing cost for {scan_range}: {e}"),
            })?;
        Ok(AnalysisOutput {
            findings: Vec::new(),
            summaries: vec![Summary::Cost(Box::new(summary))],
        })
    }
}

/// The keys of the daily frame, besides `day`.
const DAILY_KEYS: [&str; 8] = [
    "provider",
    "sub_account_id",
    "sub_account_name",
    "service_name",
    "billing_currency",
    "tag",
    "charge_category",
    "pricing_category",
];

/// The value of `tag_key` in a row's JSON `tags`, read inside Polars: null
/// when the tags are absent, not JSON, lack the key, or hold null or blank;
/// a non-string value as its JSON text.
pub(crate) fn tag_value_expr(tag_key: &str) -> Expr {
    let value = col("tags")
        .str()
        .json_path_match(lit(format!("$['{tag_key}']")));
    when(value.clone().str().strip_chars(lit(NULL)).eq(lit("")))
        .then(lit(NULL).cast(DataType::String))
        .otherwise(value)
}

/// `rows` with a `tag` column: the value of `tag_key` in each row's
/// `tags`, parsed once per distinct text (a first pass over the `tags`
/// column alone) and joined back by text (see [`daily_frame`]).
pub(crate) fn with_tag_column(rows: LazyFrame, tag_key: &str) -> PolarsResult<LazyFrame> {
    let tag_of_text = collect_streaming(
        rows.clone()
            .select([col("tags")])
            .unique(None, UniqueKeepStrategy::Any)
            .with_column(tag_value_expr(tag_key).alias("tag")),
    )?;
    // Null tags match nothing (nulls never join), so their value is null.
    // The small table of texts is the build side from the start, so the
    // streaming join does not first sample both inputs to pick one.
    Ok(rows.join(
        tag_of_text.lazy(),
        [col("tags")],
        [col("tags")],
        JoinArgs {
            build_side: Some(JoinBuildSide::ForceRight),
            ..JoinArgs::new(JoinType::Left)
        },
    ))
}

/// The pipeline over the store: its rows in `range`, summed per day,
/// provider, sub-account, service, currency, tag value, charge and pricing
/// category. The tag value is taken out of the JSON `tags` before grouping,
/// so resource-level tag sets do not multiply the groups. Run on Polars'
/// streaming engine: memory holds the groups, not the rows. Every view of
/// the summary is a group-by over this (small) frame.
///
/// Parsing JSON is most of the cost of a plan like this (measured on the
/// benchmark's 6.7 M rows: 9.3 s with `json_path_match` on every row, 2.0 s
/// without), while a bill repeats the same few tag sets (401 distinct texts
/// there; at most about one per resource in any bill). So a first pass
/// reads only the `tags` column and keeps its distinct texts, the tag value
/// is parsed once per text, and the main pass joins it back by text: 3.6 s
/// for both passes, the same memory.
fn daily_frame(frame: LazyFrame, range: DayRange, tag_key: &str) -> PolarsResult<DataFrame> {
    let ts = col(Dataset::Cost.time_column());
    let rows = frame.filter(vitals_core::frames::on_days(
        Dataset::Cost.time_column(),
        range,
    ));
    let mut keys = vec![col("day")];
    keys.extend(DAILY_KEYS.map(col));
    let plan = with_tag_column(rows, tag_key)?
        .with_column(ts.dt().date().alias("day"))
        .group_by(keys)
        .agg([
            exact_sum(col("billed_cost")).alias("billed"),
            exact_sum(col("effective_cost")).alias("effective"),
            exact_sum(col("list_cost")).alias("list_cost"),
            exact_sum(
                when(col("list_cost").is_not_null())
                    .then(col("effective_cost"))
                    .otherwise(lit(0.0)),
            )
            .alias("listed_effective"),
        ])
        // In a fixed order, so that every view sums the same rows the same way.
        .sort(
            std::iter::once("day").chain(DAILY_KEYS).collect::<Vec<_>>(),
            SortMultipleOptions::default().with_nulls_last(true),
        );
    collect_streaming(plan)
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

fn in_range(range: DayRange) -> Expr {
    col("day")
        .gt_eq(lit(range.start))
        .and(col("day").lt_eq(lit(range.end)))
}

/// One view: billed and effective cost per `keys`, in the current and the
/// previous range, over the daily rows that pass `only`. Groups without a
/// row in either range are left out; `extra` aggregations ride along.
fn view(
    daily: &DataFrame,
    keys: &[&str],
    (current, previous): (DayRange, DayRange),
    only: Option<Expr>,
    extra: &[Expr],
) -> PolarsResult<Comparisons> {
    let (cur, prev) = (in_range(current), in_range(previous));
    let sum = |name: &str, when: &Expr| col(name).filter(when.clone()).sum();
    let mut aggs = vec![
        sum("billed", &cur).alias("cur_billed"),
        sum("effective", &cur).alias("cur_effective"),
        sum("billed", &prev).alias("prev_billed"),
        sum("effective", &prev).alias("prev_effective"),
        cur.clone().or(prev.clone()).any(true).alias("seen"),
    ];
    aggs.extend_from_slice(extra);
    let plan = daily
        .clone()
        .lazy()
        .filter(only.unwrap_or(lit(true)))
        .group_by(keys.iter().map(|k| col(*k)).collect::<Vec<_>>())
        .agg(aggs)
        .filter(col("seen"))
        .sort(
            keys.to_vec(),
            SortMultipleOptions::default().with_nulls_last(true),
        );
    Ok(Comparisons(plan.collect()?))
}

/// A view's result: its keys, then current and previous amounts.
struct Comparisons(DataFrame);

impl Comparisons {
    fn len(&self) -> usize {
        self.0.height()
    }

    fn texts(&self, name: &str) -> PolarsResult<Vec<Option<String>>> {
        Ok(self
            .0
            .column(name)?
            .str()?
            .iter()
            .map(|v| v.map(str::to_string))
            .collect())
    }

    fn numbers(&self, name: &str) -> PolarsResult<Vec<f64>> {
        Ok(self
            .0
            .column(name)?
            .f64()?
            .iter()
            .map(|v| v.unwrap_or(0.0))
            .collect())
    }

    fn comparisons(&self) -> PolarsResult<Vec<Comparison>> {
        let [cb, ce, pb, pe] = [
            "cur_billed",
            "cur_effective",
            "prev_billed",
            "prev_effective",
        ]
        .map(|n| self.numbers(n));
        let (cb, ce, pb, pe) = (cb?, ce?, pb?, pe?);
        Ok((0..self.len())
            .map(|i| {
                Comparison::new(
                    Amounts {
                        billed: cb[i],
                        effective: ce[i],
                    },
                    Amounts {
                        billed: pb[i],
                        effective: pe[i],
                    },
                )
            })
            .collect())
    }

    /// Groups named by `provider` (if a key), `name` and `id` columns.
    fn groups(
        &self,
        provider: Option<&str>,
        name: Option<&str>,
        id: Option<&str>,
    ) -> PolarsResult<Vec<CostGroup>> {
        let n = self.len();
        let column = |c: Option<&str>| -> PolarsResult<Vec<Option<String>>> {
            c.map_or_else(|| Ok(vec![None; n]), |c| self.texts(c))
        };
        let (providers, names, ids) = (column(provider)?, column(name)?, column(id)?);
        let currencies = self.texts("billing_currency")?;
        Ok(self
            .comparisons()?
            .into_iter()
            .enumerate()
            .map(|(i, cost)| CostGroup {
                provider: providers[i].clone(),
                name: names[i].clone(),
                id: ids[i].clone(),
                currency: currencies[i].clone().unwrap_or_default(),
                cost,
            })
            .collect())
    }
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
fn breakdowns(
    daily: &DataFrame,
    period: DayRange,
    previous: DayRange,
) -> PolarsResult<Vec<ProviderBreakdown>> {
    let ranges = (period, previous);
    let pc = ["provider", "billing_currency"];
    let usage = || col("charge_category").eq(lit("Usage"));
    let current = in_range(period);
    let totals = view(daily, &pc, ranges, None, &[])?;
    let credits = view(
        daily,
        &pc,
        ranges,
        Some(col("charge_category").eq(lit("Credit"))),
        &[],
    )?;
    let usage_sums = view(
        daily,
        &pc,
        ranges,
        Some(usage()),
        &[
            col("list_cost")
                .filter(current.clone())
                .sum()
                .alias("list_cost"),
            col("listed_effective")
                .filter(current)
                .sum()
                .alias("listed_effective"),
        ],
    )?;
    let by_charge = view(
        daily,
        &["provider", "billing_currency", "charge_category"],
        ranges,
        None,
        &[],
    )?;
    let by_pricing = view(
        daily,
        &["provider", "billing_currency", "pricing_category"],
        ranges,
        Some(usage()),
        &[],
    )?;
    let key = |c: &Comparisons| -> PolarsResult<Vec<(String, String)>> {
        let (p, cur) = (c.texts("provider")?, c.texts("billing_currency")?);
        Ok(p.into_iter()
            .zip(cur)
            .map(|(p, c)| (p.unwrap_or_default(), c.unwrap_or_default()))
            .collect())
    };
    let lookup = |c: &Comparisons| -> PolarsResult<BTreeMap<(String, String), usize>> {
        Ok(key(c)?
            .into_iter()
            .enumerate()
            .map(|(i, k)| (k, i))
            .collect())
    };
    let credit_index = lookup(&credits)?;
    let credit_costs = credits.comparisons()?;
    let usage_index = lookup(&usage_sums)?;
    let usage_costs = usage_sums.comparisons()?;
    let usage_list = usage_sums.numbers("list_cost")?;
    let usage_listed = usage_sums.numbers("listed_effective")?;
    let charge_keys = key(&by_charge)?;
    let charge_groups = by_charge.groups(Some("provider"), Some("charge_category"), None)?;
    let pricing_keys = key(&by_pricing)?;
    let pricing_categories = by_pricing.texts("pricing_category")?;
    let pricing_costs = by_pricing.comparisons()?;
    let rank = |c: &str| {
        CHARGE_CATEGORIES
            .iter()
            .position(|k| *k == c)
            .unwrap_or(CHARGE_CATEGORIES.len())
    };
    let mut out = Vec::new();
    for ((provider, currency), cost) in key(&totals)?.into_iter().zip(totals.comparisons()?) {
        let k = (provider.clone(), currency.clone());
        let mut by_charge_category: Vec<CostGroup> = charge_keys
            .iter()
            .zip(&charge_groups)
            .filter(|(ck, _)| **ck == k)
            .map(|(_, g)| g.clone())
            .collect();
        by_charge_category.sort_by(|a, b| {
            let (a, b) = (
                a.name.as_deref().unwrap_or(""),
                b.name.as_deref().unwrap_or(""),
            );
            rank(a).cmp(&rank(b)).then_with(|| a.cmp(b))
        });
        let credits = credit_index.get(&k).map_or_else(
            || Comparison::new(Amounts::default(), Amounts::default()),
            |&j| credit_costs[j],
        );
        let (usage_effective, list_cost, listed_effective) =
            usage_index.get(&k).map_or((0.0, 0.0, 0.0), |&j| {
                (
                    usage_costs[j].current.effective,
                    usage_list[j],
                    usage_listed[j],
                )
            });
        let share = |part: f64| (usage_effective != 0.0).then(|| part / usage_effective);
        let discounts = (list_cost != 0.0).then(|| Discounts {
            list_cost,
            effective: listed_effective,
            saved: list_cost - listed_effective,
            coverage: share(listed_effective),
        });
        let mut by_pricing_category: Vec<PricingShare> = pricing_keys
            .iter()
            .enumerate()
            .filter(|(_, pk)| **pk == k)
            .map(|(j, _)| PricingShare {
                category: pricing_categories[j].clone(),
                share: share(pricing_costs[j].current.effective),
                cost: pricing_costs[j],
            })
            .collect();
        by_pricing_category.sort_by(|a, b| {
            b.cost
                .current
                .effective
                .total_cmp(&a.cost.current.effective)
                .then_with(|| a.category.cmp(&b.category))
        });
        out.push(ProviderBreakdown {
            provider,
            currency,
            cost,
            by_charge_category,
            credits,
            discounts,
            by_pricing_category,
        });
    }
    out.sort_by(|a, b| {
        b.cost
            .current
            .billed
            .total_cmp(&a.cost.current.billed)
            .then_with(|| (&a.provider, &a.currency).cmp(&(&b.provider, &b.currency)))
    });
    Ok(out)
}

fn currency_totals(
    daily: &DataFrame,
    ranges: (DayRange, DayRange),
) -> PolarsResult<Vec<CurrencyTotal>> {
    let v = view(daily, &["billing_currency"], ranges, None, &[])?;
    Ok(v.texts("billing_currency")?
        .into_iter()
        .zip(v.comparisons()?)
        .map(|(currency, cost)| CurrencyTotal {
            currency: currency.unwrap_or_default(),
            cost,
        })
        .collect())
}

fn provider_groups(
    daily: &DataFrame,
    ranges: (DayRange, DayRange),
) -> PolarsResult<Vec<CostGroup>> {
    let v = view(daily, &["provider", "billing_currency"], ranges, None, &[])?;
    Ok(sorted(v.groups(
        Some("provider"),
        Some("provider"),
        None,
    )?))
}

fn summarize(
    analyzer: &str,
    config: &CostSummaryConfig,
    daily: &DataFrame,
    period: DayRange,
    data_through: Option<NaiveDate>,
    month: Option<(DayRange, DayRange)>,
) -> PolarsResult<CostSummary> {
    let previous = period.previous();
    let ranges = (period, previous);
    // The latest name seen for an id (names can change; ids do not).
    let latest_name = col("sub_account_name")
        .sort_by(
            [col("day")],
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .drop_nulls()
        .last()
        .alias("latest_name");
    let accounts = view(
        daily,
        &["provider", "sub_account_id", "billing_currency"],
        ranges,
        None,
        &[latest_name],
    )?;
    let by_sub_account = sorted(accounts.groups(
        Some("provider"),
        Some("latest_name"),
        Some("sub_account_id"),
    )?);
    let services = view(
        daily,
        &["provider", "service_name", "billing_currency"],
        ranges,
        None,
        &[],
    )?;
    let service_groups = services.groups(Some("provider"), Some("service_name"), None)?;
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
    let tags = view(daily, &["tag", "billing_currency"], ranges, None, &[])?;
    let by_tag = sorted(tags.groups(None, Some("tag"), None)?);
    // Over the period's rows only: its total, and the part without the tag.
    let untagged_view = view(
        daily,
        &["billing_currency"],
        ranges,
        Some(in_range(period)),
        &[
            col("billed")
                .filter(in_range(period).and(col("tag").is_null()))
                .sum()
                .alias("untagged_billed"),
            col("effective")
                .filter(in_range(period).and(col("tag").is_null()))
                .sum()
                .alias("untagged_effective"),
        ],
    )?;
    let share = |part: f64, whole: f64| (whole != 0.0).then(|| part / whole);
    let (ub, ue) = (
        untagged_view.numbers("untagged_billed")?,
        untagged_view.numbers("untagged_effective")?,
    );
    let untagged = untagged_view
        .texts("billing_currency")?
        .into_iter()
        .zip(untagged_view.comparisons()?)
        .enumerate()
        .map(|(i, (currency, c))| {
            let u = Amounts {
                billed: ub[i],
                effective: ue[i],
            };
            UntaggedShare {
                currency: currency.unwrap_or_default(),
                untagged: u,
                total: c.current,
                billed_share: share(u.billed, c.current.billed),
                effective_share: share(u.effective, c.current.effective),
            }
        })
        .collect();
    let both = previous.union(&period);
    let per_day = daily
        .clone()
        .lazy()
        .filter(in_range(both))
        .group_by([
            col("day"),
            col("provider"),
            col("service_name"),
            col("billing_currency"),
        ])
        .agg([col("billed").sum(), col("effective").sum()])
        .sort(
            ["day", "provider", "service_name", "billing_currency"],
            SortMultipleOptions::default().with_nulls_last(true),
        )
        .collect()?;
    let per_day = Comparisons(per_day);
    let days = per_day.0.column("day")?.date()?.physical().clone();
    let (providers, day_services, currencies) = (
        per_day.texts("provider")?,
        per_day.texts("service_name")?,
        per_day.texts("billing_currency")?,
    );
    let (billed, effective) = (per_day.numbers("billed")?, per_day.numbers("effective")?);
    let daily_costs = (0..per_day.len())
        .filter_map(|i| {
            Some(DailyCost {
                day: days.get(i).and_then(day_from_epoch)?,
                provider: providers[i].clone().unwrap_or_default(),
                service: day_services[i].clone(),
                currency: currencies[i].clone().unwrap_or_default(),
                cost: Amounts {
                    billed: billed[i],
                    effective: effective[i],
                },
            })
        })
        .collect();
    let month_to_date = match month {
        None => None,
        Some((current, prev)) => Some(MonthToDate {
            month: current.start.format("%Y-%m").to_string(),
            range: current,
            previous_range: prev,
            totals: currency_totals(daily, (current, prev))?,
            by_provider: provider_groups(daily, (current, prev))?,
        }),
    };
    Ok(CostSummary {
        analyzer: analyzer.to_string(),
        period,
        previous_period: previous,
        data_through,
        tag_key: config.tag_key.clone(),
        totals: currency_totals(daily, ranges)?,
        by_provider: provider_groups(daily, ranges)?,
        breakdowns: breakdowns(daily, period, previous)?,
        by_sub_account,
        by_service: sorted(service_groups),
        by_tag,
        top_movers,
        untagged,
        daily: daily_costs,
        month_to_date,
    })
}

fn day_from_epoch(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_signed(Duration::days(i64::from(days)))
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
            .analyze(&AnalysisContext::new(
                store,
                period,
                d("2026-11-23").and_hms_opt(12, 0, 0).unwrap().and_utc(),
            ))
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
        let tags = [
            Some(r#"{"environment":"prod"}"#),
            Some(r#"{"environment":3}"#),
            Some(r#"{"environment":null}"#),
            Some(r#"{"environment":"  "}"#),
            Some(r#"{"env":"prod","team":"environment"}"#),
            Some(r#"{"environment":"a \"quoted\" value"}"#),
            Some(r#"{"environment":{"nested":1}}"#),
            Some("not json"),
            Some("[1]"),
            None,
        ];
        let df = df!("tags" => tags).unwrap();
        let out = df
            .lazy()
            .select([tag_value_expr("environment").alias("tag")])
            .collect()
            .unwrap();
        let values: Vec<Option<&str>> = out.column("tag").unwrap().str().unwrap().iter().collect();
        assert_eq!(
            values,
            [
                Some("prod"),
                Some("3"),
                None,
                None,
                None,
                Some("a \"quoted\" value"),
                Some(r#"{"nested":1}"#),
                None,
                None,
                None
            ]
        );
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
