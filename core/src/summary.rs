//! Summaries: the typed tables analyzers hand to reports and metrics.
//!
//! Reports and the metrics endpoint never touch Polars or the store; they take
//! these rows. Money is in the billing currency named on every row: amounts in
//! different currencies are never added together.

use chrono::NaiveDate;
use serde::Serialize;

use crate::latency::ApdexBand;
use crate::period::DayRange;

/// Everything an analyzer can summarize.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Summary {
    Cost(Box<CostSummary>),
    Latency(Box<LatencySummary>),
    Slo(Box<SloSummary>),
    Savings(Box<SavingsCoverage>),
    CostPerRequest(Box<CostPerRequestSummary>),
    Commitment(Box<CommitmentSummary>),
}

/// `commitment`: how much of the eligible compute spend commitments cover,
/// and the commitment that would have saved most over the lookback.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommitmentSummary {
    pub analyzer: String,
    pub lookback: DayRange,
    /// Per provider and currency.
    pub providers: Vec<CommitmentView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommitmentView {
    pub provider: String,
    pub currency: String,
    /// Hours in the lookback (every one counts, spend or not).
    pub hours: usize,
    /// Eligible usage at on-demand rates, summed over the lookback.
    pub on_demand: f64,
    /// Eligible usage commitments covered, at its on-demand (list) value.
    pub covered: f64,
    /// `covered / (covered + on_demand)`; `None` without eligible usage.
    pub coverage: Option<f64>,
    /// Hourly on-demand spend: the least, mean and largest hour.
    pub hourly_min: f64,
    pub hourly_mean: f64,
    pub hourly_max: f64,
    /// `None` without a discount for the provider or without a saving.
    pub recommendation: Option<CommitmentRecommendation>,
}

/// A commitment on top of those held, as Cost Explorer states one.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CommitmentRecommendation {
    /// The commitment's discount off on-demand (0.28: 28 %).
    pub discount: f64,
    pub term_years: u32,
    /// The on-demand spend per hour it covers.
    pub covered_hourly: f64,
    /// What it costs per hour: `covered_hourly × (1 − discount)`.
    pub hourly_commitment: f64,
    /// Net saving over the lookback, and per month (730 hours).
    pub lookback_saving: f64,
    pub monthly_saving: f64,
    /// The share of the commitment the lookback's spend would have used.
    pub utilization: f64,
    /// Months until an all-upfront purchase's cost equals the on-demand
    /// cost it replaces: `12 × term × (1 − discount) / utilization`.
    pub break_even_months: f64,
}

/// `cost_per_request`: what each service costs per request, joining the
/// cost rows its tag names with the requests the latency dataset counts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostPerRequestSummary {
    pub analyzer: String,
    /// The tag (or label) naming a cost row's service.
    pub tag_key: String,
    /// The cost column summed (`effective_cost`: amortized, after
    /// discounts, which is what a request really costs).
    pub cost_column: String,
    pub period: DayRange,
    pub previous_period: DayRange,
    /// Per service and currency over the period, against the previous one;
    /// costliest first.
    pub services: Vec<ServiceUnitCost>,
    /// Per service, currency and day of the period.
    pub days: Vec<ServiceDayCost>,
    /// Per currency: cost no service tag names, and its share of the
    /// period's cost.
    pub unattributed: Vec<UnattributedCost>,
}

/// Cost, requests and their ratio.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct UnitCost {
    pub cost: f64,
    pub requests: f64,
    /// `cost / requests × 1000`; `None` without requests.
    pub per_1k_requests: Option<f64>,
}

impl UnitCost {
    pub fn new(cost: f64, requests: f64) -> UnitCost {
        UnitCost {
            cost,
            requests,
            per_1k_requests: (requests > 0.0).then(|| cost / requests * 1000.0),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceUnitCost {
    /// The latency dataset's service name (the tag value, mapped).
    pub service: String,
    pub currency: String,
    /// The latency source whose requests are counted (`None`: no requests).
    pub source: Option<String>,
    pub current: UnitCost,
    pub previous: UnitCost,
    /// Relative change of the cost per 1,000 requests; `None` without both.
    pub per_1k_change: Option<f64>,
    /// Relative change of the requests; `None` without previous requests.
    pub requests_change: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceDayCost {
    pub service: String,
    pub currency: String,
    pub day: NaiveDate,
    #[serde(flatten)]
    pub unit: UnitCost,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnattributedCost {
    pub currency: String,
    pub cost: f64,
    /// Of the period's cost in the currency; `None` if that is zero.
    pub share: Option<f64>,
}

/// What a savings analyzer could and could not judge: resources without
/// enough data are never called idle or oversized, and are listed here
/// instead, as are types missing from the catalog and resources without a
/// price or billed cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SavingsCoverage {
    pub analyzer: String,
    /// The analyzer's type (the `kind` of its findings).
    pub finding_kind: String,
    /// Resources (or groups) judged.
    pub judged: usize,
    /// Too little data in the lookback: resource ids.
    pub insufficient_data: Vec<String>,
    /// Instance types the catalog does not know.
    pub unknown_types: Vec<String>,
    /// Resources whose saving could not be priced (no billed cost and no
    /// price): resource ids.
    pub unpriced: Vec<String>,
}

/// Billed (invoiced) and effective (amortized, after discounts) cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Amounts {
    pub billed: f64,
    pub effective: f64,
}

/// Relative change from `previous` to `current`; `None` when there was
/// nothing before (a change from zero has no ratio).
fn ratio(current: f64, previous: f64) -> Option<f64> {
    (previous != 0.0).then(|| (current - previous) / previous.abs())
}

/// Current against previous period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Comparison {
    pub current: Amounts,
    pub previous: Amounts,
    /// `current - previous`.
    pub change: Amounts,
    /// `(current - previous) / |previous|`; absent when previous is zero.
    pub change_ratio_billed: Option<f64>,
    pub change_ratio_effective: Option<f64>,
}

impl Comparison {
    pub fn new(current: Amounts, previous: Amounts) -> Self {
        Comparison {
            current,
            previous,
            change: Amounts {
                billed: current.billed - previous.billed,
                effective: current.effective - previous.effective,
            },
            change_ratio_billed: ratio(current.billed, previous.billed),
            change_ratio_effective: ratio(current.effective, previous.effective),
        }
    }
}

/// Cost of one group (a provider, sub-account, service or tag value) in one
/// currency, compared with the previous period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostGroup {
    /// The provider, except for tag groups, which span providers.
    pub provider: Option<String>,
    /// The group's display name; `None` when the rows have no value (no
    /// service name, no sub-account, untagged).
    pub name: Option<String>,
    /// An identifier where the name is not one (sub-account id).
    pub id: Option<String>,
    pub currency: String,
    pub cost: Comparison,
}

/// Totals of one currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CurrencyTotal {
    pub currency: String,
    pub cost: Comparison,
}

/// The part of the period's cost whose rows lack the summary's tag key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UntaggedShare {
    pub currency: String,
    pub untagged: Amounts,
    pub total: Amounts,
    /// `untagged / total`, 0..1; absent when the total is zero.
    pub billed_share: Option<f64>,
    pub effective_share: Option<f64>,
}

/// One day's cost of one service of one provider.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DailyCost {
    pub day: NaiveDate,
    pub provider: String,
    pub service: Option<String>,
    pub currency: String,
    pub cost: Amounts,
}

/// The calendar month that holds the period's last day, up to the latest day
/// with data in that month, against the same days of the month before.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthToDate {
    /// `YYYY-MM`.
    pub month: String,
    pub range: DayRange,
    pub previous_range: DayRange,
    pub totals: Vec<CurrencyTotal>,
    pub by_provider: Vec<CostGroup>,
}

/// Below list price: usage whose source states a list cost (CUR's public
/// on-demand cost, GCP's `cost_at_list`, FOCUS `ListCost`), and what was
/// paid for it. The difference is what discounts (commitments, negotiated
/// rates, sustained use) saved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Discounts {
    /// List cost of the usage that has one.
    pub list_cost: f64,
    /// Effective cost of that same usage.
    pub effective: f64,
    /// `list_cost - effective`.
    pub saved: f64,
    /// Share (0..1) of all usage's effective cost that has a list cost;
    /// absent when usage cost is zero.
    pub coverage: Option<f64>,
}

/// Usage cost of one FOCUS pricing category: `Standard` (on-demand),
/// `Dynamic` (spot, preemptible), `Committed` (reservations, savings plans,
/// committed use), or none stated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PricingShare {
    pub category: Option<String>,
    pub cost: Comparison,
    /// Share (0..1) of the provider's usage effective cost in the period;
    /// absent when that is zero.
    pub share: Option<f64>,
}

/// One provider's cost in one currency, taken apart: FOCUS charge
/// categories (usage, purchases, tax, credits, adjustments), the credits on
/// their own, discounts below list price, and how much usage runs on
/// on-demand, spot or commitments. Billed is the unblended (invoiced) view,
/// effective the amortized one; their difference is what amortized
/// commitments and credits change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderBreakdown {
    pub provider: String,
    pub currency: String,
    pub cost: Comparison,
    /// One group per charge category (`name`), in FOCUS order.
    pub by_charge_category: Vec<CostGroup>,
    /// Rows of charge category `Credit` (amounts are negative).
    pub credits: Comparison,
    /// Current period; absent when no usage has a list cost.
    pub discounts: Option<Discounts>,
    /// Usage (charge category `Usage`) by pricing category, largest first.
    pub by_pricing_category: Vec<PricingShare>,
}

/// The `cost_summary` analyzer's output for one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostSummary {
    /// The analyzer instance's name.
    pub analyzer: String,
    pub period: DayRange,
    pub previous_period: DayRange,
    /// The latest day with cost data in the store, if any.
    pub data_through: Option<NaiveDate>,
    /// The tag key of `by_tag` and `untagged`.
    pub tag_key: String,
    pub totals: Vec<CurrencyTotal>,
    pub by_provider: Vec<CostGroup>,
    /// Each provider (and currency) taken apart.
    pub breakdowns: Vec<ProviderBreakdown>,
    pub by_sub_account: Vec<CostGroup>,
    pub by_service: Vec<CostGroup>,
    pub by_tag: Vec<CostGroup>,
    /// (provider, service) groups with the largest absolute change in billed
    /// cost, largest first; unchanged groups are left out.
    pub top_movers: Vec<CostGroup>,
    pub untagged: Vec<UntaggedShare>,
    /// Per day, provider and service, over the previous and current periods.
    pub daily: Vec<DailyCost>,
    pub month_to_date: Option<MonthToDate>,
}

/// Where a row's quantiles come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantileOrigin {
    /// The source's own quantiles for exactly this span (one stored
    /// interval): exact for raw samples.
    Source,
    /// Histograms of the span's intervals, merged (Prometheus's rule).
    Histogram,
    /// Neither: intervals without histograms cannot be combined, since
    /// quantiles are never averaged.
    Unavailable,
}

/// Latency of one service, or of one endpoint of it, over a span (one day,
/// or the whole period), as one source saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyStats {
    pub source: String,
    pub service: String,
    /// `None`: every request of the service.
    pub endpoint: Option<String>,
    /// `None`: the whole period.
    pub day: Option<NaiveDate>,
    pub requests: f64,
    /// Requests per second over the seconds the source's intervals cover.
    pub request_rate_per_s: Option<f64>,
    pub errors: f64,
    /// `errors / requests`; absent without requests.
    pub error_rate: Option<f64>,
    pub p50_s: Option<f64>,
    pub p95_s: Option<f64>,
    pub p99_s: Option<f64>,
    pub quantiles_from: QuantileOrigin,
    /// The service's Apdex threshold.
    pub apdex_t_s: f64,
    pub apdex: Option<f64>,
    pub apdex_band: Option<ApdexBand>,
    /// The Apdex counts were interpolated inside histogram buckets.
    pub apdex_interpolated: bool,
    /// Fewer requests than the analyzer's `min_requests`: figures are shown
    /// but not to be trusted (nor alerted on).
    pub low_traffic: bool,
}

/// The `latency_summary` analyzer's output for one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySummary {
    pub analyzer: String,
    pub period: DayRange,
    /// The latest day with latency data in the store, if any.
    pub data_through: Option<NaiveDate>,
    pub min_requests: f64,
    /// Per service (endpoint `None`) and per endpoint, over the period.
    pub period_stats: Vec<LatencyStats>,
    /// The same per day.
    pub daily: Vec<LatencyStats>,
}

/// One objective of one service over a span (a day, or the period).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloStatus {
    pub source: String,
    pub service: String,
    /// `None`: the whole period.
    pub day: Option<NaiveDate>,
    /// `p95`, `apdex` or `error_rate`.
    pub objective: String,
    /// P95 below it, Apdex at least it, error rate below it.
    pub target: f64,
    pub actual: Option<f64>,
    /// `None` when the span has no value for the objective.
    pub compliant: Option<bool>,
    /// Too few requests to judge: shown, never a breach.
    pub low_traffic: bool,
}

/// Error-budget burn of one service at the end of its data: the error rate
/// over a window divided by the error-rate objective (1 = spending the
/// budget exactly as fast as it allows).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BurnRate {
    pub source: String,
    pub service: String,
    /// End of the windows (the end of the latest interval with data).
    pub at: chrono::DateTime<chrono::Utc>,
    /// Burn over 1 h and its 5-minute confirmation window.
    pub burn_1h: Option<f64>,
    pub burn_5m: Option<f64>,
    /// Burn over 6 h and its 30-minute confirmation window.
    pub burn_6h: Option<f64>,
    pub burn_30m: Option<f64>,
    /// Both fast windows at or above the page threshold (14.4: 2 % of a
    /// 30-day budget in an hour).
    pub fast_burn: bool,
    /// Both slow windows at or above the ticket threshold (6: 5 % of a
    /// 30-day budget in six hours).
    pub slow_burn: bool,
}

/// The `slo` analyzer's output for one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloSummary {
    pub analyzer: String,
    pub period: DayRange,
    /// Per source, service and objective: the period first, then each day.
    pub statuses: Vec<SloStatus>,
    pub burn_rates: Vec<BurnRate>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_have_no_ratio_from_zero() {
        let c = Comparison::new(
            Amounts {
                billed: 15.0,
                effective: 5.0,
            },
            Amounts {
                billed: 10.0,
                effective: 0.0,
            },
        );
        assert_eq!(
            c.change,
            Amounts {
                billed: 5.0,
                effective: 5.0
            }
        );
        assert_eq!(c.change_ratio_billed, Some(0.5));
        assert_eq!(c.change_ratio_effective, None);
        // A credit going from -10 to -5 is a +50% change toward zero.
        let c = Comparison::new(
            Amounts {
                billed: -5.0,
                effective: -5.0,
            },
            Amounts {
                billed: -10.0,
                effective: -10.0,
            },
        );
        assert_eq!(c.change_ratio_billed, Some(0.5));
    }
}
