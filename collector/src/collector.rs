//! The `Collector` trait and what a collection run hands back.

use std::collections::BTreeSet;
use std::fmt;

use async_trait::async_trait;
use chrono::{Duration, NaiveDate};
use polars::prelude::DataFrame;
use vitals_core::Dataset;
use vitals_core::period::DayRange;

use crate::error::CollectError;

/// The days a run should cover. File collectors keep rows inside the window
/// (both ends included; `None` is open); API collectors ask for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectWindow {
    pub since: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
    /// Today's UTC date, for collectors that default to "the last N days".
    pub today: NaiveDate,
}

impl CollectWindow {
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.since.is_none_or(|s| s <= day) && self.until.is_none_or(|u| day <= u)
    }

    /// The days an API collector asks for: `--since`/`--until` where given,
    /// else the last `lookback_days` complete days (ending yesterday, UTC),
    /// or that many days ending at `--until`. `None` if no day is left.
    pub fn days_or_last(&self, lookback_days: u32) -> Option<DayRange> {
        self.days_ending(self.today - Duration::days(1), lookback_days)
    }

    /// As [`CollectWindow::days_or_last`], but the default days end with
    /// today, for sources read while the day is still going (latency).
    pub fn days_or_last_through_today(&self, lookback_days: u32) -> Option<DayRange> {
        self.days_ending(self.today, lookback_days)
    }

    fn days_ending(&self, last: NaiveDate, lookback_days: u32) -> Option<DayRange> {
        let back = Duration::days(i64::from(lookback_days.max(1)) - 1);
        let (start, end) = match (self.since, self.until) {
            (Some(s), Some(u)) => (s, u),
            (Some(s), None) => (s, last),
            (None, Some(u)) => (u - back, u),
            (None, None) => (last - back, last),
        };
        DayRange::new(start, end)
    }
}

/// Where a bad row is: a line of a text file or a row of a Parquet file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    Line(u64),
    Row(u64),
}

/// A row that could not be loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    pub file: String,
    pub position: Position,
    /// The source column at fault, when one is.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for BadRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Position::Line(l) => write!(f, "{}:{l}", self.file)?,
            Position::Row(r) => write!(f, "{} row {r}", self.file)?,
        }
        if let Some(field) = &self.field {
            write!(f, ": `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// How much a run read, and what it had to leave out.
#[derive(Debug, Clone, Default)]
pub struct CollectReport {
    pub files: usize,
    /// API pages read.
    pub pages: usize,
    /// Rows loaded (after the window filter).
    pub rows: usize,
    /// Rows left out because they were malformed.
    pub bad_rows: usize,
    /// The first bad rows, with their place (at most [`BAD_ROW_SAMPLES`] per file).
    pub bad_row_samples: Vec<BadRow>,
    /// Things that did not cost a row but that a person should know.
    pub warnings: Vec<String>,
}

impl CollectReport {
    /// What the run read, for people: `3 file(s)`, `2 API page(s)`, or both.
    pub fn inputs(&self) -> String {
        match (self.files, self.pages) {
            (files, 0) => format!("{files} file(s)"),
            (0, pages) => format!("{pages} API page(s)"),
            (files, pages) => format!("{files} file(s) and {pages} API page(s)"),
        }
    }
}

/// How many bad rows per file are kept with their place for the report.
pub const BAD_ROW_SAMPLES: usize = 20;

/// The outcome of a successful run: a frame of one dataset, and the days it
/// covers, which the store replaces whole.
#[derive(Debug)]
pub struct Collected {
    pub frame: DataFrame,
    pub days: BTreeSet<NaiveDate>,
    pub report: CollectReport,
}

/// A source of one canonical dataset.
///
/// A collector only reads and maps: it never writes to the store. A failed run
/// returns an error and nothing of it is stored.
#[async_trait]
pub trait Collector: Send + Sync + fmt::Debug {
    /// The instance's name: its config key, store source and metrics label.
    fn name(&self) -> &str;

    /// The registry type, e.g. `focus_file`.
    fn type_name(&self) -> &'static str;

    fn dataset(&self) -> Dataset;

    async fn collect(&self, window: CollectWindow) -> Result<Collected, CollectError>;
}
