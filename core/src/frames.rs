//! Running Polars plans the way every analyzer should.

use polars::prelude::*;

/// Collects a plan on Polars' streaming engine: scans are read in morsels and
/// reduced as they arrive, so memory holds the plan's state (its groups), not
/// its input. Use it for every plan that scans the store.
pub fn collect_streaming(plan: LazyFrame) -> PolarsResult<DataFrame> {
    // A plan with one root answers with one frame (several only come from
    // `collect_all` of several sinks, which vitals never builds).
    Ok(plan.collect_with_engine(Engine::Streaming)?.unwrap_single())
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
