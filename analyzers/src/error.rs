//! What can stop an analyzer.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum AnalyzeError {
    /// The store could not be read.
    #[error("analyzer `{analyzer}`: {source}")]
    Store {
        analyzer: String,
        #[source]
        source: vitals_core::Error,
    },
    /// A Polars pipeline failed (a corrupt partition, out of memory).
    #[error("analyzer `{analyzer}`: {message}")]
    Frame { analyzer: String, message: String },
}

impl AnalyzeError {
    /// A short, bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            AnalyzeError::Store { .. } => "store",
            AnalyzeError::Frame { .. } => "frame",
        }
    }
}
