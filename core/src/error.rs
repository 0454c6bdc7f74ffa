use std::fmt;
use std::path::PathBuf;

use crate::config::ConfigErrors;
use crate::dataset::Dataset;

/// What is wrong with one column of a frame handed to [`Dataset::conform`].
#[derive(Debug, Clone, PartialEq)]
pub enum SchemaProblem {
    Missing,
    Unexpected,
    WrongType { expected: String, found: String },
    LossyCast { detail: String },
    NullInRequired { nulls: usize },
}

impl fmt::Display for SchemaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaProblem::Missing => f.write_str("column is missing"),
            SchemaProblem::Unexpected => f.write_str("column is not part of the schema"),
            SchemaProblem::WrongType { expected, found } => {
                write!(f, "expected type {expected}, found {found}")
            }
            SchemaProblem::LossyCast { detail } => write!(f, "cast would lose values: {detail}"),
            SchemaProblem::NullInRequired { nulls } => {
                write!(f, "{nulls} null value(s) in a required column")
            }
        }
    }
}

/// Errors of the core crate: config, schema checks and the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(ConfigErrors),

    #[error("dataset `{dataset}`, column `{column}`: {problem}")]
    Schema {
        dataset: Dataset,
        column: String,
        problem: SchemaProblem,
    },

    #[error("{action} `{}`", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{context}")]
    Polars {
        context: String,
        #[source]
        source: polars::error::PolarsError,
    },

    #[error("store: {0}")]
    Store(String),
}

impl Error {
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub fn polars(context: impl Into<String>, source: polars::error::PolarsError) -> Self {
        Error::Polars {
            context: context.into(),
            source,
        }
    }

    /// A small, bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::Schema { .. } => "schema",
            Error::Io { .. } => "io",
            Error::Polars { .. } => "polars",
            Error::Store(_) => "store",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
