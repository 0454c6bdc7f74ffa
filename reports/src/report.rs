//! The `Report` trait, its input, and how rendered reports reach the disk.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use vitals_core::finding::Finding;
use vitals_core::period::Week;
use vitals_core::summary::Summary;

use crate::error::ReportError;
use crate::format::Format;

/// What a report is rendered from.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    pub week: Week,
    pub summaries: &'a [Summary],
    pub findings: &'a [Finding],
    pub generated_at: DateTime<Utc>,
    /// For an owner's digest: the owner. `findings` then holds that
    /// owner's alone, and the report leaves out what is not theirs.
    pub owner: Option<&'a str>,
}

/// A summary a report reads: from an analyzer of `analyzer_type`, the
/// configured `instance` if one was given, else the only one of the type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need<'a> {
    pub analyzer_type: &'static str,
    pub instance: Option<&'a str>,
    /// `false`: the report leaves its section out without one.
    pub required: bool,
    /// The report's config key naming the instance, for error messages.
    pub key: &'static str,
}

/// A report: typed summaries in, documents out.
pub trait Report: Send + Sync + fmt::Debug {
    /// The instance's name (its config key), used on the command line.
    fn name(&self) -> &str;

    fn type_name(&self) -> &'static str;

    /// The formats written by a scheduled run, in order.
    fn formats(&self) -> &[Format];

    /// Where a scheduled run writes its files.
    fn out_dir(&self) -> &Path;

    /// Every summary the report reads, checked when the config is loaded.
    fn needs(&self) -> Vec<Need<'_>>;

    /// The file name (without extension) for a week.
    fn file_stem(&self, week: Week) -> String {
        format!("{}-{week}", self.name())
    }

    fn render(&self, input: &ReportInput<'_>, format: Format) -> Result<String, ReportError>;
}

/// Writes `contents` to `path` through a temporary file in the same
/// directory and a rename, so a reader (or a mail job) never sees half a
/// report. Creates the directory.
pub fn write_atomically(path: &Path, contents: &str) -> Result<(), ReportError> {
    let io = |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp: PathBuf = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&temp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map_err(io)
}
