//! What the latency collectors share: defaults, the end of the last complete
//! interval, and handing a run's rows over.

pub use vitals_core::latency_rows::{LatencyFrameBuilder, LatencyRow};

use crate::collector::{Batches, CollectReport, Collected};
use crate::error::CollectError;

/// Defaults the latency collectors share: a 5-minute interval, Apdex T of
/// 0.5 s, and (API collectors) the last two days read per run.
pub fn default_interval() -> String {
    "5m".into()
}

pub fn default_apdex_t_s() -> f64 {
    0.5
}

pub fn default_lookback_days() -> u32 {
    2
}

/// The end (epoch seconds) of the last complete interval of `step_s`
/// seconds: API collectors read up to it, today included.
pub fn last_complete_interval_end(step_s: i64) -> i64 {
    let now = chrono::Utc::now().timestamp();
    now - now.rem_euclid(step_s)
}

/// Hands the rows to `out` and returns the run's outcome, `report` with
/// the run's row count.
pub async fn into_collected(
    builder: LatencyFrameBuilder,
    source: &str,
    mut report: CollectReport,
    out: &mut Batches,
) -> Result<Collected, CollectError> {
    out.send(builder.finish(source)?).await?;
    report.rows = out.rows();
    Ok(Collected { days: None, report })
}
