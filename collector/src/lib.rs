//! vitals-collector: sources that pull from the outside world and hand over
//! one canonical dataset per run. They know the wire formats; nothing
//! downstream does.

mod aws;
mod aws_cloudwatch;
mod aws_cost_explorer;
mod aws_cur;
mod aws_inventory;
mod aws_pricing;
use vitals_core::backoff;
mod collector;
mod cost_rows;
mod csv_records;
mod error;
mod files;
mod focus;
mod focus_file;
mod gcp;
mod gcp_billing_export;
mod gcp_compute_inventory;
mod gcp_monitoring;
mod gcp_pricing;
mod gcs;
mod http_retry;
mod latency_rows;
mod newrelic;
mod parquet_cells;
mod prometheus;
pub mod registry;
mod remote;
mod request_log;
mod s3;
mod table_file;
mod tally;

pub use collector::{
    BAD_ROW_SAMPLES, BadRow, Batches, CollectReport, CollectWindow, Collected, Collector, Position,
    collect_in_memory,
};
pub use cost_rows::CostBatches;
pub use error::CollectError;
