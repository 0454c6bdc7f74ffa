//! vitals-core: the contract the collectors, analyzers and reports share.
//!
//! Canonical dataset schemas and the checked hand-over ([`dataset`]), with
//! the row builders collectors and tests fill ([`cost_rows`], [`resource_rows`],
//! [`latency_rows`]), the
//! Parquet store ([`store`]), the config file ([`config`]), latency arithmetic
//! ([`latency`]), findings and summaries, and the periods they cover.

pub mod backoff;
pub mod catalog;
pub mod config;
pub mod cost_rows;
pub mod dataset;
pub mod error;
pub mod evidence;
pub mod finding;
pub mod frames;
pub mod latency;
pub mod latency_rows;
pub mod lifecycle;
pub mod period;
pub mod resource_rows;
pub mod savings;
pub mod store;
pub mod summary;

pub use dataset::Dataset;
pub use error::{Error, Result};
pub use store::Store;
