//! The `Collector` trait and what a collection run hands back.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{Duration, NaiveDate};
use polars::prelude::DataFrame;
use tokio::sync::mpsc;
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

/// The outcome of a successful run, whose rows went out through [`Batches`].
#[derive(Debug)]
pub struct Collected {
    /// The days the run replaces whole: a day without rows becomes empty, and
    /// a row outside them is an error. `None`: the days the rows fall on (file
    /// collectors, whose files say which days they hold).
    pub days: Option<BTreeSet<NaiveDate>>,
    pub report: CollectReport,
}

/// Rows per batch a file collector hands over: small enough that a batch and
/// the store's buffers stay far below the memory bound, large enough that
/// per-batch costs vanish.
pub const BATCH_ROWS: usize = 65_536;

/// How many batches may wait between a collector and the store's writer.
const BATCHES_IN_FLIGHT: usize = 2;

/// Where a collector hands its rows: frames of its dataset, in batches of a
/// bounded size, through a bounded channel to the store's writer (which
/// stages them; nothing is visible until the run succeeds). A full channel
/// makes the collector wait, so memory holds a few batches, not the run.
///
/// Clones share the channel and the row count, so a blocking reader can take
/// one into `spawn_blocking`.
#[derive(Debug, Clone)]
pub struct Batches {
    tx: mpsc::Sender<DataFrame>,
    rows: Arc<AtomicUsize>,
}

impl Batches {
    /// A sender and the receiver the writer drains.
    pub fn channel() -> (Batches, mpsc::Receiver<DataFrame>) {
        let (tx, rx) = mpsc::channel(BATCHES_IN_FLIGHT);
        (
            Batches {
                tx,
                rows: Arc::new(AtomicUsize::new(0)),
            },
            rx,
        )
    }

    /// Rows handed over so far.
    pub fn rows(&self) -> usize {
        self.rows.load(Ordering::Relaxed)
    }

    /// Hands over a batch from async code.
    pub async fn send(&mut self, frame: DataFrame) -> Result<(), CollectError> {
        if frame.height() == 0 {
            return Ok(());
        }
        self.rows.fetch_add(frame.height(), Ordering::Relaxed);
        self.tx
            .send(frame)
            .await
            .map_err(|_| CollectError::StoreClosed)
    }

    /// Hands over a batch from a blocking thread (`spawn_blocking`); never call
    /// it on the async runtime.
    pub fn send_blocking(&mut self, frame: DataFrame) -> Result<(), CollectError> {
        if frame.height() == 0 {
            return Ok(());
        }
        self.rows.fetch_add(frame.height(), Ordering::Relaxed);
        self.tx
            .blocking_send(frame)
            .map_err(|_| CollectError::StoreClosed)
    }
}

/// The next page's token from an API's answer: `None` at the end, which
/// APIs mark by leaving the token out or sending it empty.
pub(crate) fn next_page(token: Option<&str>) -> Option<String> {
    token.filter(|t| !t.is_empty()).map(str::to_string)
}

/// Runs a collector and gathers its batches into one frame, with the days it
/// covers. For tests and small sources only: it holds the whole run.
pub async fn collect_in_memory(
    collector: &dyn Collector,
    window: CollectWindow,
) -> Result<(DataFrame, BTreeSet<NaiveDate>, CollectReport), CollectError> {
    let (mut batches, mut rx) = Batches::channel();
    let gather = tokio::spawn(async move {
        let mut all: Option<DataFrame> = None;
        while let Some(frame) = rx.recv().await {
            match &mut all {
                None => all = Some(frame),
                Some(a) => {
                    a.vstack_mut_owned(frame).map_err(|e| CollectError::Frame {
                        dataset: "batches",
                        message: e.to_string(),
                    })?;
                }
            }
        }
        Ok::<_, CollectError>(all)
    });
    let collected = collector.collect(window, &mut batches).await;
    drop(batches);
    let frame = gather
        .await
        .map_err(|e| CollectError::Task(e.to_string()))??;
    let collected = collected?;
    let dataset = collector.dataset();
    let frame = frame.unwrap_or_else(|| dataset.empty_frame());
    let frame = dataset.conform(frame).map_err(|e| CollectError::Frame {
        dataset: dataset.name(),
        message: e.to_string(),
    })?;
    let days = match collected.days {
        Some(days) => days,
        None => days_in(&frame, dataset)?,
    };
    Ok((frame, days, collected.report))
}

/// The UTC days of the time column of a frame of `dataset`.
pub(crate) fn days_in(
    frame: &DataFrame,
    dataset: Dataset,
) -> Result<BTreeSet<NaiveDate>, CollectError> {
    let frame_error = |e: polars::prelude::PolarsError| CollectError::Frame {
        dataset: dataset.name(),
        message: e.to_string(),
    };
    let starts = frame
        .column(dataset.time_column())
        .and_then(|c| c.datetime().map(|d| d.physical().clone()))
        .map_err(frame_error)?;
    Ok(starts
        .iter()
        .flatten()
        .filter_map(|us| chrono::DateTime::from_timestamp_micros(us).map(|t| t.date_naive()))
        .collect())
}

/// A source of one canonical dataset.
///
/// A collector only reads and maps: it never writes to the store itself. A
/// failed run returns an error and nothing of it is stored.
#[async_trait]
pub trait Collector: Send + Sync + fmt::Debug {
    /// The instance's name: its config key, store source and metrics label.
    fn name(&self) -> &str;

    /// The registry type, e.g. `focus_file`.
    fn type_name(&self) -> &'static str;

    fn dataset(&self) -> Dataset;

    /// The datasets it reads from the store before it collects (the
    /// metrics collector reads the latest inventory): a cycle runs it after
    /// the collectors of other datasets, and gives it the store.
    fn reads(&self) -> &'static [Dataset] {
        &[]
    }

    /// Hands a collector that [`Collector::reads`] the store, read-only.
    fn attach_store(&mut self, _store: &vitals_core::Store) {}

    /// Reads the window and hands its rows to `out` in batches. A failed run
    /// returns an error, and the store keeps nothing of what was sent.
    async fn collect(
        &self,
        window: CollectWindow,
        out: &mut Batches,
    ) -> Result<Collected, CollectError>;
}
