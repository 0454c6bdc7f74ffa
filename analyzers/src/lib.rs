//! vitals-analyzers: pure, synchronous pipelines over the store that produce
//! findings and summaries. Same store in, same output out.

mod analyzer;
pub mod changepoint;
mod commitment;
pub mod cost_anomaly;
mod cost_per_request;
mod cost_summary;
mod error;
mod fleet;
pub mod idle_resource;
pub mod latency_summary;
pub mod p95_regression;
pub mod registry;
pub mod rightsizing;
#[cfg(test)]
mod savings_tests;
pub mod slo;
mod slo_safe_savings;
mod spot_candidate;
/// Seeded noise for synthetic evaluation series (tests, benchmarks).
#[doc(hidden)]
pub mod test_rng;
#[cfg(test)]
mod test_store;

pub use analyzer::{AnalysisContext, AnalysisOutput, Analyzer};
pub use error::AnalyzeError;
