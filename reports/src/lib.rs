//! vitals-reports: what people read. Reports take typed summaries and
//! findings (never Polars frames or the store) and render them with tera.

pub mod chart;
mod error;
mod format;
pub mod registry;
mod report;
mod savings;
mod weekly_cost_report;

pub use error::ReportError;
pub use format::Format;
pub use report::{Need, Report, ReportInput, write_atomically};
pub use savings::counted as counted_savings;
