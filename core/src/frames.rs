//! Running Polars plans the way every analyzer should.

use chrono::Duration;
use polars::prelude::*;

use crate::period::DayRange;

/// Rows whose `column` (a UTC datetime) falls on a day of `range`: from the
/// first day's midnight to the midnight after the last.
pub fn on_days(column: &str, range: DayRange) -> Expr {
    let start = range.start.and_hms_opt(0, 0, 0).expect("midnight exists");
    let end = (range.end + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists");
    col(column)
        .gt_eq(lit(start).dt().cast_time_unit(TimeUnit::Microseconds))
        .and(col(column).lt(lit(end).dt().cast_time_unit(TimeUnit::Microseconds)))
}

/// Collects a plan on Polars' streaming engine: scans are read in morsels and
/// reduced as they arrive, so memory holds the plan's state (its groups), not
/// its input. Use it for every plan that scans the store.
pub fn collect_streaming(plan: LazyFrame) -> PolarsResult<DataFrame> {
    // A plan with one root answers with one frame (several only come from
    // `collect_all` of several sinks, which vitals never builds).
    Ok(plan.collect_with_engine(Engine::Streaming)?.unwrap_single())
}

/// The rows of each source's latest `ts`: an inventory's (or price list's)
/// latest snapshot, when every run of a source writes one snapshot.
pub fn latest_of_each_source(frame: LazyFrame) -> PolarsResult<LazyFrame> {
    let latest = col("ts").max().over([col("source")])?;
    Ok(frame.filter(col("ts").eq(latest)))
}

/// Decimal places money is summed with (see [`exact_sum`]).
pub const MONEY_SCALE: usize = 15;

/// The sum of a money column, exact and independent of row order: each value
/// is taken as a decimal of [`MONEY_SCALE`] places (f64 carries 15–17
/// significant digits, FOCUS amounts at most about 11 decimals) and summed as
/// a 128-bit integer, then returned as f64. The streaming engine adds
/// partial sums in whatever order its threads finish; float addition would
/// make the last digits of a total differ from run to run over the same
/// store, this does not.
pub fn exact_sum(money: Expr) -> Expr {
    money
        .cast(DataType::Decimal(38, MONEY_SCALE))
        .sum()
        .cast(DataType::Float64)
}
