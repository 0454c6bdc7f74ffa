//! What can stop a report.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReportError {
    /// A template failed to render (a bug: templates are compiled in).
    #[error("report `{report}`: rendering {format}: {message}")]
    Render {
        report: String,
        format: &'static str,
        message: String,
    },
    /// The report needs a summary no analyzer produced.
    #[error("report `{report}`: {message}")]
    MissingInput { report: String, message: String },
    #[error("writing `{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ReportError {
    /// A short, bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ReportError::Render { .. } => "render",
            ReportError::MissingInput { .. } => "missing_input",
            ReportError::Io { .. } => "io",
        }
    }
}
