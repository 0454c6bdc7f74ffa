//! vitals-core: the contract the collectors, analyzers and reports share.
//!
//! Canonical dataset schemas and the checked hand-over ([`dataset`]), the
//! Parquet store ([`store`]), the config file ([`config`]), latency arithmetic
//! ([`latency`]), findings and summaries, and the periods they cover.

pub mod config;
pub mod dataset;
pub mod error;
pub mod finding;
pub mod latency;
pub mod period;
pub mod store;
pub mod summary;

pub use dataset::Dataset;
pub use error::{Error, Result};
pub use store::Store;
