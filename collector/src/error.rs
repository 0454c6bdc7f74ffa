use std::path::PathBuf;

use crate::collector::BadRow;

/// Why a collection run failed. Nothing of a failed run is stored.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("no files match `{pattern}`{hint}")]
    NoFiles { pattern: String, hint: &'static str },

    #[error("invalid path pattern `{pattern}`: {message}")]
    InvalidPattern { pattern: String, message: String },

    #[error("{action} `{}`", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("`{}` is not a FOCUS export: {reason}", path.display())]
    NotFocus { path: PathBuf, reason: String },

    #[error("`{}` is not a request log: {reason}", path.display())]
    NotRequestLog { path: PathBuf, reason: String },

    #[error("`{}` is not a CUR 2.0 export: {reason}", path.display())]
    NotCur { path: PathBuf, reason: String },

    /// An export's manifest that cannot be used.
    #[error("export manifest `{url}`: {reason}")]
    BadManifest { url: String, reason: String },

    #[error(
        "`{}`: {bad} of {total} rows are bad, more than `max_bad_row_fraction` = {max_fraction} allows; first: {first}",
        path.display()
    )]
    TooManyBadRows {
        path: PathBuf,
        bad: usize,
        total: usize,
        max_fraction: f64,
        first: Box<BadRow>,
    },

    #[error("reading Parquet file `{}`: {message}", path.display())]
    Parquet { path: PathBuf, message: String },

    #[error("building the {dataset} frame: {message}")]
    Frame {
        dataset: &'static str,
        message: String,
    },

    #[error("collector task failed: {0}")]
    Task(String),

    /// A frame that does not meet its dataset's schema (a collector's bug).
    #[error(transparent)]
    Dataset(#[from] vitals_core::Error),

    /// The store's writer stopped taking batches (it failed; its error says why).
    #[error("the store stopped taking rows")]
    StoreClosed,

    /// A cloud API call failed after the SDK's retries (or was not retryable).
    #[error("{api} page {page}: {message}")]
    Api {
        api: &'static str,
        page: usize,
        message: String,
        /// Throttling, timeouts and 5xx: the next run may succeed.
        retryable: bool,
    },

    /// A response that does not have the documented shape or values.
    #[error("{api} page {page}: {message}")]
    BadResponse {
        api: &'static str,
        page: usize,
        message: String,
    },

    /// An object-store request (listing, reading) failed after its retries.
    #[error("{operation} `{target}`: {message}")]
    Remote {
        operation: &'static str,
        target: String,
        message: String,
        retryable: bool,
    },

    /// No usable credentials (none found, expired, or refused).
    #[error("{api}: credentials: {message}")]
    Credentials { api: &'static str, message: String },
}

impl CollectError {
    /// A small, bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            CollectError::NoFiles { .. } => "no_files",
            CollectError::InvalidPattern { .. } => "config",
            CollectError::Io { .. } => "io",
            CollectError::NotFocus { .. } => "not_focus",
            CollectError::NotRequestLog { .. } => "not_request_log",
            CollectError::NotCur { .. } => "not_cur",
            CollectError::BadManifest { .. } => "bad_manifest",
            CollectError::TooManyBadRows { .. } => "bad_rows",
            CollectError::Parquet { .. } => "parquet",
            CollectError::Frame { .. } => "frame",
            CollectError::Task(_) => "task",
            CollectError::StoreClosed => "store",
            CollectError::Dataset(_) => "frame",
            CollectError::Api { .. } => "api",
            CollectError::BadResponse { .. } => "bad_response",
            CollectError::Remote { .. } => "remote",
            CollectError::Credentials { .. } => "credentials",
        }
    }

    /// Whether trying again later may succeed without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        match self {
            CollectError::Io { .. } | CollectError::Task(_) => true,
            CollectError::Api { retryable, .. } | CollectError::Remote { retryable, .. } => {
                *retryable
            }
            _ => false,
        }
    }
}
