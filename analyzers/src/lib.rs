//! vitals-analyzers: pure, synchronous pipelines over the store that produce
//! findings and summaries. Same store in, same output out.

mod analyzer;
mod cost_summary;
mod error;
pub mod registry;

pub use analyzer::{AnalysisContext, AnalysisOutput, Analyzer};
pub use error::AnalyzeError;
