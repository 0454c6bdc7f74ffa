//! The store: Parquet files, hive-partitioned by dataset, day and source.
//!
//! ```text
//! <root>/<dataset>/day=YYYY-MM-DD/source=<name>/part.parquet
//! ```
//!
//! A write for (dataset, source, day) replaces that partition atomically: the
//! new file is written beside the old one under a temporary name, fsynced,
//! renamed over `part.parquet`, and the directory is fsynced. Readers only ever
//! open `part.parquet`, so they see the old partition or the new one, never a
//! torn file. Temporary files left by a crash are never read and are removed by
//! [`Store::clean_stale_temp_files`].
//!
//! A collection run hands its rows over in batches ([`Staging`]): each batch is
//! split by day, buffered per day under one shared row budget, and written as
//! Parquet row groups to that day's temporary file. Memory holds at most the
//! budget plus one batch, whatever the run's size. Nothing is visible until
//! [`Staging::finish`] has closed and fsynced every file and the run commits
//! them; a run that fails (or is dropped) removes its temporary files.

use std::collections::{BTreeMap, BTreeSet, btree_map};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, NaiveDate};
use polars::prelude::*;

use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::period::DayRange;

const PART_FILE: &str = "part.parquet";
const TEMP_SUFFIX: &str = ".tmp";
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A handle on the store's root directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// One partition file of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub day: NaiveDate,
    pub source: String,
    pub path: PathBuf,
}

/// What one [`Store::replace_days`] call wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Partitions written, including empty ones for days without rows.
    pub partitions: usize,
    pub rows: usize,
}

/// A partition written to its temporary file and fsynced, not yet visible.
///
/// [`StagedPartition::commit`] makes it visible. Dropping it uncommitted removes
/// the temporary file; a crash leaves it behind for the stale-file cleanup.
#[derive(Debug)]
#[must_use = "a staged partition is invisible until committed"]
pub struct StagedPartition {
    temp: PathBuf,
    target: PathBuf,
    rows: usize,
    committed: bool,
}

impl StagedPartition {
    /// Renames the temporary file over the partition and fsyncs the directory.
    pub fn commit(mut self) -> Result<usize> {
        fs::rename(&self.temp, &self.target)
            .map_err(|e| Error::io("renaming into place", &self.target, e))?;
        self.committed = true;
        let dir = self
            .target
            .parent()
            .expect("a partition file has a directory");
        sync_dir(dir)?;
        Ok(self.rows)
    }
}

impl Drop for StagedPartition {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

impl Store {
    /// Opens (and creates if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root)
            .map_err(|e| Error::io("creating the store directory", &root, e))?;
        Ok(Store { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dataset_dir(&self, dataset: Dataset) -> PathBuf {
        self.root.join(dataset.name())
    }

    pub fn partition_path(&self, dataset: Dataset, day: NaiveDate, source: &str) -> PathBuf {
        self.dataset_dir(dataset)
            .join(format!("day={day}"))
            .join(format!("source={source}"))
            .join(PART_FILE)
    }

    /// Every committed partition of a dataset, by day then source.
    pub fn partitions(&self, dataset: Dataset) -> Result<Vec<Partition>> {
        let mut out = Vec::new();
        for (day, day_dir) in list_keyed_dirs(&self.dataset_dir(dataset), "day=")? {
            let Ok(day) = day.parse::<NaiveDate>() else {
                tracing::warn!(dir = %day_dir.display(), "ignoring a directory that is not a `day=YYYY-MM-DD` partition");
                continue;
            };
            for (source, source_dir) in list_keyed_dirs(&day_dir, "source=")? {
                let path = source_dir.join(PART_FILE);
                if path.is_file() {
                    out.push(Partition { day, source, path });
                }
            }
        }
        out.sort_by(|a, b| (a.day, &a.source).cmp(&(b.day, &b.source)));
        Ok(out)
    }

    /// The days that have at least one partition, per dataset.
    pub fn days(&self, dataset: Dataset) -> Result<BTreeSet<NaiveDate>> {
        Ok(self
            .partitions(dataset)?
            .into_iter()
            .map(|p| p.day)
            .collect())
    }

    /// The latest day that holds at least one row of the dataset. Empty
    /// partitions (days re-collected without rows) do not count. Reads the
    /// footers of the newest partitions only, never their rows.
    pub fn latest_day(&self, dataset: Dataset) -> Result<Option<NaiveDate>> {
        for p in self.partitions(dataset)?.iter().rev() {
            let file = File::open(&p.path).map_err(|e| Error::io("opening", &p.path, e))?;
            let rows = ParquetReader::new(file)
                .num_rows()
                .map_err(|e| Error::polars(format!("reading `{}`", p.path.display()), e))?;
            if rows > 0 {
                return Ok(Some(p.day));
            }
        }
        Ok(None)
    }

    /// A lazy scan of the dataset over `range` (all days if `None`). Partitions
    /// outside the range are never opened. Columns added to a schema after a
    /// partition was written read as nulls.
    pub fn scan(&self, dataset: Dataset, range: Option<DayRange>) -> Result<LazyFrame> {
        let paths: Vec<PlRefPath> = self
            .partitions(dataset)?
            .into_iter()
            .filter(|p| range.is_none_or(|r| r.contains(p.day)))
            .map(|p| PlRefPath::new(p.path.to_string_lossy().into_owned()))
            .collect();
        if paths.is_empty() {
            return Ok(dataset.empty_frame().lazy());
        }
        let args = ScanArgsParquet {
            schema: Some(Arc::new(dataset.schema())),
            allow_missing_columns: true,
            glob: false,
            cache: false,
            ..Default::default()
        };
        LazyFrame::scan_parquet_files(paths.into_iter().collect(), args)
            .map_err(|e| Error::polars(format!("scanning dataset `{dataset}`"), e))
    }

    /// Replaces the partitions of `days` for (`dataset`, `source`) with the rows
    /// of `frame`. The frame is checked against the dataset's schema first; a row
    /// whose day is not in `days` is an error, since it would be written without
    /// its day being replaced. Days without rows get an empty partition, so a
    /// re-collected window that lost rows really loses them.
    ///
    /// All partitions are staged before any is committed: an error while writing
    /// leaves every day as it was.
    pub fn replace_days(
        &self,
        dataset: Dataset,
        source: &str,
        frame: DataFrame,
        days: &BTreeSet<NaiveDate>,
    ) -> Result<WriteSummary> {
        let mut staging = self.staging(dataset, source)?;
        staging.write(frame)?;
        commit_all(staging.finish(Some(days))?)
    }

    /// Starts a streamed run for (`dataset`, `source`): batches go to
    /// [`Staging::write`], and [`Staging::finish`] readies the partitions for
    /// [`commit_all`].
    pub fn staging(&self, dataset: Dataset, source: &str) -> Result<Staging> {
        check_source_name(source)?;
        Ok(Staging {
            store: self.clone(),
            dataset,
            source: source.to_string(),
            days: BTreeMap::new(),
            buffered_rows: 0,
            budget_rows: STAGING_BUDGET_ROWS,
            row_group_rows: ROW_GROUP_ROWS,
            rows: 0,
        })
    }

    /// A temporary file name beside `target`, unique to this process and moment.
    fn temp_path(target: &Path) -> PathBuf {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = target.parent().expect("a partition file has a directory");
        dir.join(format!(
            ".part-{}-{nanos}-{n}.parquet{TEMP_SUFFIX}",
            std::process::id()
        ))
    }

    /// Writes one partition to a temporary file beside its target and fsyncs it.
    /// The frame must already conform to the dataset's schema.
    pub fn stage(
        &self,
        dataset: Dataset,
        source: &str,
        day: NaiveDate,
        frame: &mut DataFrame,
    ) -> Result<StagedPartition> {
        check_source_name(source)?;
        let target = self.partition_path(dataset, day, source);
        let mut temp = TempParquet::create(&target, dataset)?;
        let guard = TempGuard(vec![temp.path.clone()]);
        frame.rechunk_mut_par();
        temp.write(frame)?;
        let staged = StagedPartition {
            temp: temp.close()?,
            target,
            rows: frame.height(),
            committed: false,
        };
        std::mem::forget(guard);
        Ok(staged)
    }

    /// Removes temporary files older than `min_age` under every dataset: what a
    /// crash between write and rename leaves behind. Returns how many.
    pub fn clean_stale_temp_files(&self, min_age: Duration) -> Result<usize> {
        let mut removed = 0;
        let now = SystemTime::now();
        for dataset in Dataset::ALL {
            for (_, day_dir) in list_keyed_dirs(&self.dataset_dir(dataset), "day=")? {
                for (_, source_dir) in list_keyed_dirs(&day_dir, "source=")? {
                    let entries = fs::read_dir(&source_dir)
                        .map_err(|e| Error::io("listing", &source_dir, e))?;
                    for entry in entries.flatten() {
                        let path = entry.path();
                        let is_temp = path
                            .file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with('.') && n.ends_with(TEMP_SUFFIX));
                        let age = entry
                            .metadata()
                            .and_then(|m| m.modified())
                            .ok()
                            .and_then(|t| now.duration_since(t).ok())
                            .unwrap_or_default();
                        if is_temp && age >= min_age {
                            fs::remove_file(&path).map_err(|e| {
                                Error::io("removing stale temporary file", &path, e)
                            })?;
                            tracing::info!(path = %path.display(), "removed a stale temporary partition file");
                            removed += 1;
                        }
                    }
                }
            }
        }
        Ok(removed)
    }
}

/// Commits staged partitions one after another. Each partition is replaced
/// atomically; a failure part-way leaves the rest uncommitted (and removed).
pub fn commit_all(staged: Vec<StagedPartition>) -> Result<WriteSummary> {
    let mut summary = WriteSummary::default();
    for s in staged {
        summary.rows += s.commit()?;
        summary.partitions += 1;
    }
    Ok(summary)
}

/// Rows buffered across all days of a [`Staging`] before the largest day's
/// buffer is written out as a row group.
const STAGING_BUDGET_ROWS: usize = 262_144;

/// A day's buffer is written out as a row group once it holds this many rows.
/// Readers hold whole row groups: Polars' streaming Parquet source
/// prefetches at least 16 of them, so at 131,072 rows a week's analysis of
/// 50 M rows peaked at 1.05 GiB; at 32,768 it peaks at 858 MiB, as fast, and
/// collect's own peak fell too (616 against 803 MiB).
const ROW_GROUP_ROWS: usize = 32_768;

/// A streamed run's partitions, being written. See the module docs.
pub struct Staging {
    store: Store,
    dataset: Dataset,
    source: String,
    days: BTreeMap<NaiveDate, DayFile>,
    /// Rows waiting in the days' buffers.
    buffered_rows: usize,
    budget_rows: usize,
    row_group_rows: usize,
    rows: usize,
}

impl std::fmt::Debug for Staging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staging")
            .field("dataset", &self.dataset)
            .field("source", &self.source)
            .field("days", &self.days.len())
            .field("rows", &self.rows)
            .finish()
    }
}

/// One day of a streamed run: its rows not yet written, the temporary
/// Parquet segment being written, and the segments already closed.
///
/// A segment is closed once it holds [`SEGMENT_ROW_GROUPS`] row groups: the
/// Parquet writer keeps every row group's metadata until it writes the
/// footer, and when every batch touches every day the row groups are many and
/// small, so an open file per day would hold metadata in proportion to the
/// input. At the end, a day of several segments is compacted into one file
/// of full row groups, read a row group's worth at a time.
struct DayFile {
    target: PathBuf,
    current: Option<TempParquet>,
    segments: Vec<PathBuf>,
    pending: Vec<DataFrame>,
    pending_rows: usize,
    rows: usize,
    /// Set once the day's file is handed over as a [`StagedPartition`].
    handed_over: bool,
}

impl Drop for DayFile {
    fn drop(&mut self) {
        if !self.handed_over {
            if let Some(current) = &self.current {
                let _ = fs::remove_file(&current.path);
            }
            for segment in &self.segments {
                let _ = fs::remove_file(segment);
            }
        }
    }
}

/// Row groups a temporary segment holds before it is closed.
const SEGMENT_ROW_GROUPS: usize = 8;

/// A temporary Parquet file being written beside a partition.
struct TempParquet {
    path: PathBuf,
    /// The same open file as the writer's, kept to fsync it.
    file: File,
    writer: polars::io::parquet::write::BatchedWriter<File>,
    row_groups: usize,
}

impl TempParquet {
    fn create(target: &Path, dataset: Dataset) -> Result<TempParquet> {
        let dir = target.parent().expect("a partition file has a directory");
        fs::create_dir_all(dir).map_err(|e| Error::io("creating partition directory", dir, e))?;
        let path = Store::temp_path(target);
        let file = File::create(&path)
            .map_err(|e| Error::io("creating temporary partition file", &path, e))?;
        let remove = |e: Error| {
            let _ = fs::remove_file(&path);
            e
        };
        let handle = file
            .try_clone()
            .map_err(|e| remove(Error::io("opening temporary partition file", &path, e)))?;
        let writer = ParquetWriter::new(handle)
            .with_compression(ParquetCompression::Zstd(None))
            .batched(&dataset.schema())
            .map_err(|e| remove(Error::polars(format!("writing `{}`", path.display()), e)))?;
        Ok(TempParquet {
            path,
            file,
            writer,
            row_groups: 0,
        })
    }

    /// Writes `frame` (one chunk) as one row group.
    fn write(&mut self, frame: &DataFrame) -> Result<()> {
        self.writer
            .write_batch(frame)
            .map_err(|e| Error::polars(format!("writing `{}`", self.path.display()), e))?;
        self.row_groups += 1;
        Ok(())
    }

    /// Writes the footer and fsyncs; returns the file's path.
    fn close(self) -> Result<PathBuf> {
        self.writer
            .finish()
            .map_err(|e| Error::polars(format!("writing `{}`", self.path.display()), e))?;
        self.file
            .sync_all()
            .map_err(|e| Error::io("syncing temporary partition file", &self.path, e))?;
        Ok(self.path)
    }
}

impl Staging {
    /// Overrides the buffer sizes (tests use small ones to exercise flushing).
    pub fn with_buffer_rows(mut self, budget_rows: usize, row_group_rows: usize) -> Self {
        self.budget_rows = budget_rows.max(1);
        self.row_group_rows = row_group_rows.max(1);
        self
    }

    /// Rows handed over so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Takes one batch: checked against the schema and the run's source, split
    /// by UTC day and buffered; full buffers are written out.
    pub fn write(&mut self, batch: DataFrame) -> Result<()> {
        if batch.height() == 0 {
            return Ok(());
        }
        let batch = self.dataset.conform(batch)?;
        check_source_column(&batch, self.dataset, &self.source)?;
        self.rows += batch.height();
        for (day, part) in split_by_day(&batch, self.dataset)? {
            let rows = part.height();
            let file = match self.days.entry(day) {
                btree_map::Entry::Occupied(e) => e.into_mut(),
                btree_map::Entry::Vacant(e) => {
                    e.insert(open_day_file(&self.store, self.dataset, &self.source, day))
                }
            };
            file.pending.push(part);
            file.pending_rows += rows;
            self.buffered_rows += rows;
            if file.pending_rows >= self.row_group_rows {
                self.buffered_rows -= flush(file, self.dataset)?;
            }
        }
        while self.buffered_rows > self.budget_rows {
            let largest = self
                .days
                .values_mut()
                .max_by_key(|f| f.pending_rows)
                .expect("buffered rows belong to a day");
            self.buffered_rows -= flush(largest, self.dataset)?;
        }
        Ok(())
    }

    /// Writes out what is buffered, closes and fsyncs every day's file, and
    /// returns the partitions ready for [`commit_all`].
    ///
    /// With `declared` days (API collectors ask for a window), exactly those
    /// days are replaced: a day without rows gets an empty partition, and a
    /// row outside them is an error. Without, the days the rows fall on are.
    pub fn finish(
        mut self,
        declared: Option<&BTreeSet<NaiveDate>>,
    ) -> Result<Vec<StagedPartition>> {
        if let Some(declared) = declared
            && let Some(stray) = self.days.keys().find(|d| !declared.contains(d))
        {
            return Err(Error::Store(format!(
                "rows for {stray} are outside the days being replaced for source `{}`",
                self.source
            )));
        }
        let mut staged = Vec::new();
        let days = std::mem::take(&mut self.days);
        for (_, mut file) in days {
            flush(&mut file, self.dataset)?;
            let temp = finish_day(&mut file, self.dataset, self.row_group_rows)?;
            file.handed_over = true;
            staged.push(StagedPartition {
                temp,
                target: file.target.clone(),
                rows: file.rows,
                committed: false,
            });
        }
        let written: BTreeSet<NaiveDate> = staged
            .iter()
            .filter_map(|s| partition_day(&s.target))
            .collect();
        for &day in declared.into_iter().flatten() {
            if !written.contains(&day) {
                let mut empty = self.dataset.empty_frame();
                staged.push(
                    self.store
                        .stage(self.dataset, &self.source, day, &mut empty)?,
                );
            }
        }
        Ok(staged)
    }
}

/// The day of a partition path `.../day=YYYY-MM-DD/source=.../part.parquet`.
fn partition_day(target: &Path) -> Option<NaiveDate> {
    target
        .parent()?
        .parent()?
        .file_name()?
        .to_str()?
        .strip_prefix("day=")?
        .parse()
        .ok()
}

fn open_day_file(store: &Store, dataset: Dataset, source: &str, day: NaiveDate) -> DayFile {
    DayFile {
        target: store.partition_path(dataset, day, source),
        current: None,
        segments: Vec::new(),
        pending: Vec::new(),
        pending_rows: 0,
        rows: 0,
        handed_over: false,
    }
}

/// Closes a day's last segment and, if the day was written in several,
/// compacts them into one file of row groups of `row_group_rows`, reading
/// them back a row group at a time and removing each once copied. Returns
/// the day's temporary file, ready to commit.
fn finish_day(file: &mut DayFile, dataset: Dataset, row_group_rows: usize) -> Result<PathBuf> {
    let last = match file.current.take() {
        Some(current) => Some(current.close()?),
        None => None,
    };
    if file.segments.is_empty() {
        return match last {
            Some(path) => Ok(path),
            // A day always has rows once it has a DayFile; be safe anyway.
            None => {
                let mut out = TempParquet::create(&file.target, dataset)?;
                out.write(&dataset.empty_frame())?;
                out.close()
            }
        };
    }
    file.segments.extend(last);
    let mut out = TempParquet::create(&file.target, dataset)?;
    let mut buffer: Vec<DataFrame> = Vec::new();
    let mut buffered = 0usize;
    let segments = std::mem::take(&mut file.segments);
    // If anything below fails, the segments and the compacted file go.
    let guard = TempGuard(segments.iter().chain([&out.path]).cloned().collect());
    for segment in &segments {
        let reading = |e| Error::polars(format!("reading `{}`", segment.display()), e);
        let open = || File::open(segment).map_err(|e| Error::io("opening", segment, e));
        let total = ParquetReader::new(open()?).num_rows().map_err(reading)?;
        let mut offset = 0;
        while offset < total {
            let len = row_group_rows.min(total - offset);
            let part = ParquetReader::new(open()?)
                .with_slice(Some((offset, len)))
                .finish()
                .map_err(reading)?;
            offset += len;
            buffered += part.height();
            buffer.push(part);
            if buffered >= row_group_rows {
                // Exactly `row_group_rows` out; the rest waits for the next.
                let all = sorted_frame(std::mem::take(&mut buffer), dataset, &out.path)?;
                let rest = all.slice(row_group_rows as i64, buffered - row_group_rows);
                out.write(&all.slice(0, row_group_rows))?;
                buffered = rest.height();
                if buffered > 0 {
                    buffer.push(rest);
                }
            }
        }
        fs::remove_file(segment).map_err(|e| Error::io("removing", segment, e))?;
    }
    if buffered > 0 {
        out.write(&sorted_frame(buffer, dataset, &out.path)?)?;
    }
    let path = out.close()?;
    std::mem::forget(guard);
    Ok(path)
}

/// Removes its files when dropped (an error part-way through compaction).
struct TempGuard(Vec<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = fs::remove_file(p);
        }
    }
}

/// Parts stacked into one chunk, sorted by time (stable).
fn sorted_frame(parts: Vec<DataFrame>, dataset: Dataset, path: &Path) -> Result<DataFrame> {
    let polars_error = |e| Error::polars(format!("writing `{}`", path.display()), e);
    let mut parts = parts.into_iter();
    let mut frame = parts.next().expect("at least one part");
    for part in parts {
        frame.vstack_mut_owned(part).map_err(polars_error)?;
    }
    let mut frame = frame
        .sort(
            [dataset.time_column()],
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .map_err(polars_error)?;
    frame.rechunk_mut_par();
    Ok(frame)
}

/// Writes a day's buffered rows as one row group, sorted by time (stable, so
/// identical input in identical batches writes identical files). Returns how
/// many rows left the buffer.
fn flush(file: &mut DayFile, dataset: Dataset) -> Result<usize> {
    if file.pending_rows == 0 {
        return Ok(0);
    }
    let parts = std::mem::take(&mut file.pending);
    let rows = std::mem::take(&mut file.pending_rows);
    let current = match &mut file.current {
        Some(c) => c,
        slot => slot.insert(TempParquet::create(&file.target, dataset)?),
    };
    let frame = sorted_frame(parts, dataset, &current.path)?;
    current.write(&frame)?;
    file.rows += rows;
    if current.row_groups >= SEGMENT_ROW_GROUPS {
        let closed = file.current.take().expect("written above").close()?;
        file.segments.push(closed);
    }
    Ok(rows)
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("syncing directory", dir, e))
}

/// Source names become directory names and metric labels: keep them plain.
fn check_source_name(source: &str) -> Result<()> {
    let ok = !source.is_empty()
        && source
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::Store(format!(
            "invalid source name `{source}`: use lowercase letters, digits, `_` and `-`"
        )))
    }
}

/// `(value, path)` of the subdirectories of `dir` named `<prefix><value>`.
/// A missing `dir` has none.
fn list_keyed_dirs(dir: &Path, prefix: &str) -> Result<Vec<(String, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("listing", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("listing", dir, e))?;
        let name = entry.file_name();
        let Some(value) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.push((value.to_string(), entry.path()));
        }
    }
    Ok(out)
}

/// Every row's `source` must be the partition's: a frame built for one
/// collector cannot land in another's partitions.
fn check_source_column(frame: &DataFrame, dataset: Dataset, source: &str) -> Result<()> {
    let column = frame
        .column("source")
        .and_then(|c| c.str().cloned())
        .map_err(|e| Error::polars(format!("reading `source` of dataset `{dataset}`"), e))?;
    if let Some(other) = column.iter().flatten().find(|s| *s != source) {
        return Err(Error::Store(format!(
            "rows with source `{other}` handed over for source `{source}` of dataset `{dataset}`"
        )));
    }
    Ok(())
}

/// Splits a conformed frame into one frame per UTC day of its time column,
/// each sorted by time (stable), so identical input writes identical files.
fn split_by_day(frame: &DataFrame, dataset: Dataset) -> Result<BTreeMap<NaiveDate, DataFrame>> {
    let time = dataset.time_column();
    let sorted = frame
        .sort(
            [time],
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .map_err(|e| Error::polars("sorting by time before partitioning", e))?;
    let micros = sorted
        .column(time)
        .and_then(|c| c.datetime().map(|d| d.physical().clone()))
        .map_err(|e| Error::polars(format!("reading `{time}`"), e))?;
    let mut out = BTreeMap::new();
    let mut start = 0usize;
    let mut current: Option<i64> = None;
    for (i, v) in micros.iter().enumerate() {
        let day_index = v
            .expect("required time column has no nulls")
            .div_euclid(MICROS_PER_DAY);
        if current != Some(day_index) {
            if let Some(d) = current {
                out.insert(day_from_index(d)?, sorted.slice(start as i64, i - start));
            }
            current = Some(day_index);
            start = i;
        }
    }
    if let Some(d) = current {
        out.insert(
            day_from_index(d)?,
            sorted.slice(start as i64, sorted.height() - start),
        );
    }
    Ok(out)
}

fn day_from_index(day_index: i64) -> Result<NaiveDate> {
    DateTime::from_timestamp(day_index * 86_400, 0)
        .map(|t| t.date_naive())
        .ok_or_else(|| {
            Error::Store(format!(
                "timestamp out of range (day {day_index} since 1970)"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::ColumnType;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn micros(s: &str) -> i64 {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
            .unwrap()
            .and_utc()
            .timestamp_micros()
    }

    /// A utilization frame: small schema, enough to exercise the store.
    fn frame(rows: &[(&str, &str, f64)]) -> DataFrame {
        let n = rows.len();
        let ts = Column::new(
            "ts".into(),
            rows.iter().map(|r| micros(r.0)).collect::<Vec<_>>(),
        )
        .cast(&ColumnType::Datetime.dtype())
        .unwrap();
        DataFrame::new(
            n,
            vec![
                ts,
                Column::new(
                    "resource_id".into(),
                    rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                ),
                Column::new("metric".into(), vec!["cpu_utilization"; n]),
                Column::new("avg".into(), rows.iter().map(|r| r.2).collect::<Vec<_>>()),
                Column::new("max".into(), rows.iter().map(|r| r.2).collect::<Vec<_>>()),
                Column::new("samples".into(), vec![60i64; n]),
                Column::new("source".into(), vec!["cw"; n]),
            ],
        )
        .unwrap()
    }

    fn total(store: &Store, range: Option<DayRange>) -> (usize, f64) {
        let df = store
            .scan(Dataset::Utilization, range)
            .unwrap()
            .collect()
            .unwrap();
        let sum = df
            .column("avg")
            .unwrap()
            .f64()
            .unwrap()
            .sum()
            .unwrap_or(0.0);
        (df.height(), sum)
    }

    fn days(list: &[&str]) -> BTreeSet<NaiveDate> {
        list.iter().map(|s| d(s)).collect()
    }

    #[test]
    fn writes_one_partition_per_day_and_reads_them_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let df = frame(&[
            ("2024-09-01 23:00:00", "i-1", 1.0),
            ("2024-09-02 00:00:00", "i-1", 2.0),
            ("2024-09-02 05:00:00", "i-2", 4.0),
        ]);
        let w = store
            .replace_days(
                Dataset::Utilization,
                "cw",
                df,
                &days(&["2024-09-01", "2024-09-02"]),
            )
            .unwrap();
        assert_eq!(
            w,
            WriteSummary {
                partitions: 2,
                rows: 3
            }
        );
        assert!(
            store
                .partition_path(Dataset::Utilization, d("2024-09-02"), "cw")
                .is_file()
        );
        assert_eq!(total(&store, None), (3, 7.0));
        assert_eq!(
            total(&store, Some(DayRange::single(d("2024-09-02")))),
            (2, 6.0)
        );
        assert_eq!(
            store.days(Dataset::Utilization).unwrap(),
            days(&["2024-09-01", "2024-09-02"])
        );
    }

    #[test]
    fn re_collecting_a_window_replaces_it_without_double_counting() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let window = days(&["2024-09-01", "2024-09-02"]);
        let df = frame(&[
            ("2024-09-01 10:00:00", "i-1", 1.5),
            ("2024-09-02 10:00:00", "i-1", 2.5),
        ]);
        store
            .replace_days(Dataset::Utilization, "cw", df.clone(), &window)
            .unwrap();
        let first = total(&store, None);
        store
            .replace_days(Dataset::Utilization, "cw", df, &window)
            .unwrap();
        assert_eq!(total(&store, None), first);
        assert_eq!(first, (2, 4.0));
        // Another source's partitions for the same days are left alone.
        let other = frame(&[("2024-09-01 10:00:00", "i-9", 10.0)]);
        let mut other = other.drop("source").unwrap();
        other
            .with_column(Column::new("source".into(), ["cw2"]))
            .unwrap();
        store
            .replace_days(Dataset::Utilization, "cw2", other, &days(&["2024-09-01"]))
            .unwrap();
        assert_eq!(total(&store, None), (3, 14.0));
    }

    #[test]
    fn a_day_in_the_window_without_rows_becomes_empty() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let window = days(&["2024-09-01", "2024-09-02"]);
        let df = frame(&[
            ("2024-09-01 10:00:00", "i-1", 1.0),
            ("2024-09-02 10:00:00", "i-1", 2.0),
        ]);
        store
            .replace_days(Dataset::Utilization, "cw", df, &window)
            .unwrap();
        let df = frame(&[("2024-09-01 10:00:00", "i-1", 1.0)]);
        store
            .replace_days(Dataset::Utilization, "cw", df, &window)
            .unwrap();
        assert_eq!(total(&store, None), (1, 1.0));
    }

    #[test]
    fn rows_outside_the_window_are_refused_and_nothing_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let df = frame(&[("2024-09-01 10:00:00", "i-1", 1.0)]);
        store
            .replace_days(Dataset::Utilization, "cw", df, &days(&["2024-09-01"]))
            .unwrap();
        let df = frame(&[
            ("2024-09-01 10:00:00", "i-1", 5.0),
            ("2024-09-03 10:00:00", "i-1", 5.0),
        ]);
        let err = store
            .replace_days(Dataset::Utilization, "cw", df, &days(&["2024-09-01"]))
            .unwrap_err();
        assert!(err.to_string().contains("2024-09-03"), "{err}");
        assert_eq!(total(&store, None), (1, 1.0));
    }

    #[test]
    fn rows_of_another_source_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let df = frame(&[("2024-09-01 10:00:00", "i-1", 1.0)]);
        let err = store
            .replace_days(Dataset::Utilization, "other", df, &days(&["2024-09-01"]))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("rows with source `cw` handed over for source `other`"),
            "{err}"
        );
        assert!(store.partitions(Dataset::Utilization).unwrap().is_empty());
    }

    #[test]
    fn the_latest_day_ignores_empty_partitions() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.latest_day(Dataset::Utilization).unwrap(), None);
        let df = frame(&[("2024-09-01 10:00:00", "i-1", 1.0)]);
        store
            .replace_days(
                Dataset::Utilization,
                "cw",
                df,
                &days(&["2024-09-01", "2024-09-02"]),
            )
            .unwrap();
        assert_eq!(store.partitions(Dataset::Utilization).unwrap().len(), 2);
        assert_eq!(
            store.latest_day(Dataset::Utilization).unwrap(),
            "2024-09-01".parse().ok()
        );
    }

    #[test]
    fn a_frame_that_does_not_conform_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let df = frame(&[("2024-09-01 10:00:00", "i-1", 1.0)])
            .drop("metric")
            .unwrap();
        let err = store
            .replace_days(Dataset::Utilization, "cw", df, &days(&["2024-09-01"]))
            .unwrap_err();
        assert!(err.to_string().contains("`metric`"), "{err}");
        assert!(store.partitions(Dataset::Utilization).unwrap().is_empty());
    }

    #[test]
    fn a_crash_between_write_and_rename_leaves_the_previous_data() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let day = d("2024-09-01");
        let old = frame(&[("2024-09-01 10:00:00", "i-1", 1.0)]);
        store
            .replace_days(Dataset::Utilization, "cw", old, &days(&["2024-09-01"]))
            .unwrap();

        // Stage a replacement, then "crash": the process dies before commit, so
        // neither commit nor Drop runs.
        let mut new = Dataset::Utilization
            .conform(frame(&[
                ("2024-09-01 11:00:00", "i-1", 99.0),
                ("2024-09-01 12:00:00", "i-2", 99.0),
            ]))
            .unwrap();
        let staged = store
            .stage(Dataset::Utilization, "cw", day, &mut new)
            .unwrap();
        let temp = staged.temp.clone();
        std::mem::forget(staged);
        assert!(temp.is_file());

        // Readers see exactly the old partition.
        assert_eq!(total(&store, None), (1, 1.0));
        // A fresh temp file is kept (it may belong to a live writer) ...
        assert_eq!(
            store
                .clean_stale_temp_files(Duration::from_secs(3600))
                .unwrap(),
            0
        );
        assert!(temp.is_file());
        // ... and a stale one is removed.
        assert_eq!(store.clean_stale_temp_files(Duration::ZERO).unwrap(), 1);
        assert!(!temp.exists());
        assert_eq!(total(&store, None), (1, 1.0));
    }

    #[test]
    fn a_torn_temp_file_is_never_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let old = frame(&[("2024-09-01 10:00:00", "i-1", 1.0)]);
        store
            .replace_days(Dataset::Utilization, "cw", old, &days(&["2024-09-01"]))
            .unwrap();
        let part = store.partition_path(Dataset::Utilization, d("2024-09-01"), "cw");
        fs::write(
            part.parent().unwrap().join(".part-1-2.parquet.tmp"),
            b"PAR1 torn",
        )
        .unwrap();
        assert_eq!(total(&store, None), (1, 1.0));
    }

    #[test]
    fn an_uncommitted_stage_cleans_up_after_itself() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut df = Dataset::Utilization
            .conform(frame(&[("2024-09-01 10:00:00", "i-1", 1.0)]))
            .unwrap();
        let staged = store
            .stage(Dataset::Utilization, "cw", d("2024-09-01"), &mut df)
            .unwrap();
        let temp = staged.temp.clone();
        drop(staged);
        assert!(!temp.exists());
        assert!(store.partitions(Dataset::Utilization).unwrap().is_empty());
    }

    #[test]
    fn an_empty_store_scans_to_an_empty_frame_with_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let df = store.scan(Dataset::Cost, None).unwrap().collect().unwrap();
        assert_eq!(df.height(), 0);
        assert_eq!(df.schema().as_ref(), &Dataset::Cost.schema());
    }

    /// `n` hourly rows from 2024-09-01 00:00, `avg` = the row's index.
    fn hourly(n: usize, start: usize) -> DataFrame {
        let base = micros("2024-09-01 00:00:00");
        let stamps: Vec<String> = (start..start + n)
            .map(|i| {
                DateTime::from_timestamp_micros(base + i as i64 * 3_600_000_000)
                    .unwrap()
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .collect();
        let rows: Vec<(&str, &str, f64)> = stamps
            .iter()
            .zip(start..)
            .map(|(t, i)| (t.as_str(), "i-1", i as f64))
            .collect();
        frame(&rows)
    }

    /// The `avg` values of one day, in stored order.
    fn day_avgs(store: &Store, day: &str) -> Vec<f64> {
        let df = store
            .scan(Dataset::Utilization, Some(DayRange::single(d(day))))
            .unwrap()
            .collect()
            .unwrap();
        df.column("avg")
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .flatten()
            .collect()
    }

    fn row_groups(path: &Path) -> usize {
        let mut reader = ParquetReader::new(File::open(path).unwrap());
        reader.get_metadata().unwrap().row_groups.len()
    }

    #[test]
    fn a_streamed_run_writes_what_one_frame_would() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // 10 days of hourly rows in batches of 7, with buffers far smaller
        // than the run: every flush path is taken.
        let mut staging = store
            .staging(Dataset::Utilization, "cw")
            .unwrap()
            .with_buffer_rows(20, 10);
        let mut start = 0;
        while start < 240 {
            staging.write(hourly(7.min(240 - start), start)).unwrap();
            start += 7;
        }
        assert_eq!(staging.rows(), 240);
        let staged = staging.finish(None).unwrap();
        assert_eq!(staged.len(), 10);
        // Nothing is visible before the commit.
        assert!(store.partitions(Dataset::Utilization).unwrap().is_empty());
        let w = commit_all(staged).unwrap();
        assert_eq!(
            w,
            WriteSummary {
                partitions: 10,
                rows: 240
            }
        );
        let expected: f64 = (0..240).map(f64::from).sum();
        assert_eq!(total(&store, None), (240, expected));
        let day = store.partition_path(Dataset::Utilization, d("2024-09-03"), "cw");
        assert!(row_groups(&day) > 1, "the day was written in parts");
        // Each day reads back in time order.
        assert_eq!(
            day_avgs(&store, "2024-09-03"),
            (48..72).map(f64::from).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_day_written_in_many_small_row_groups_is_compacted_into_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // Two days' rows alternate, one row a batch, under a budget of 2
        // rows: each flush writes a row group of 1 or 2 rows, so a day's 24
        // rows fill more than one segment, and the day is compacted at the
        // end into row groups of the configured 3 rows.
        let mut staging = store
            .staging(Dataset::Utilization, "cw")
            .unwrap()
            .with_buffer_rows(2, 3);
        for hour in 0..24 {
            staging.write(hourly(1, hour)).unwrap();
            staging.write(hourly(1, 24 + hour)).unwrap();
        }
        let staged = staging.finish(None).unwrap();
        assert_eq!(staged.len(), 2);
        assert_eq!(
            temp_files(dir.path()),
            2,
            "one file a day, segments removed"
        );
        commit_all(staged).unwrap();
        assert_eq!(temp_files(dir.path()), 0);
        let expected: f64 = (0..48).map(f64::from).sum();
        assert_eq!(total(&store, None), (48, expected));
        for (day, first) in [("2024-09-01", 0), ("2024-09-02", 24)] {
            assert_eq!(
                day_avgs(&store, day),
                (first..first + 24).map(f64::from).collect::<Vec<_>>()
            );
            let path = store.partition_path(Dataset::Utilization, d(day), "cw");
            let mut reader = ParquetReader::new(File::open(path).unwrap());
            let sizes: Vec<usize> = reader
                .get_metadata()
                .unwrap()
                .row_groups
                .iter()
                .map(|g| g.num_rows())
                .collect();
            assert_eq!(sizes, vec![3; 8], "{day}: compacted into full row groups");
        }
    }

    /// A store whose `cw` utilization holds one row (avg 1.0) on 2024-09-01.
    fn store_with_one_row() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .replace_days(
                Dataset::Utilization,
                "cw",
                frame(&[("2024-09-01 10:00:00", "i-1", 1.0)]),
                &days(&["2024-09-01"]),
            )
            .unwrap();
        (dir, store)
    }

    #[test]
    fn a_streamed_run_that_fails_after_some_batches_leaves_the_previous_data() {
        let (dir, store) = store_with_one_row();
        let mut staging = store
            .staging(Dataset::Utilization, "cw")
            .unwrap()
            .with_buffer_rows(8, 4);
        staging.write(hourly(30, 0)).unwrap();
        staging.write(hourly(30, 30)).unwrap();
        // A bad batch (the collector failed, or the frame is wrong) ends the run.
        let bad = hourly(5, 60).drop("metric").unwrap();
        assert!(staging.write(bad).is_err());
        drop(staging);
        assert_eq!(total(&store, None), (1, 1.0));
        assert_eq!(
            temp_files(dir.path()),
            0,
            "the run's temporary files are removed"
        );
    }

    #[test]
    fn a_crash_during_a_streamed_run_leaves_nothing_half_visible() {
        let (dir, store) = store_with_one_row();
        let mut staging = store
            .staging(Dataset::Utilization, "cw")
            .unwrap()
            .with_buffer_rows(8, 4);
        staging.write(hourly(50, 0)).unwrap();
        // The process dies mid-run: no finish, no drop.
        std::mem::forget(staging);
        assert!(temp_files(dir.path()) > 0);
        assert_eq!(total(&store, None), (1, 1.0));
        // And after finish but before the commit.
        let mut staging = store.staging(Dataset::Utilization, "cw").unwrap();
        staging.write(hourly(50, 0)).unwrap();
        let staged = staging.finish(None).unwrap();
        std::mem::forget(staged);
        assert_eq!(total(&store, None), (1, 1.0));
        store.clean_stale_temp_files(Duration::ZERO).unwrap();
        assert_eq!(temp_files(dir.path()), 0);
        assert_eq!(total(&store, None), (1, 1.0));
    }

    #[test]
    fn a_streamed_run_with_declared_days_refuses_strays_and_empties_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut staging = store.staging(Dataset::Utilization, "cw").unwrap();
        staging.write(hourly(30, 0)).unwrap(); // Sep 1 and 2
        let err = staging.finish(Some(&days(&["2024-09-01"]))).unwrap_err();
        assert!(
            err.to_string().contains("rows for 2024-09-02 are outside"),
            "{err}"
        );
        assert_eq!(temp_files(dir.path()), 0);
        let mut staging = store.staging(Dataset::Utilization, "cw").unwrap();
        staging.write(hourly(30, 0)).unwrap();
        let staged = staging
            .finish(Some(&days(&["2024-09-01", "2024-09-02", "2024-09-03"])))
            .unwrap();
        assert_eq!(commit_all(staged).unwrap().partitions, 3);
        assert_eq!(store.partitions(Dataset::Utilization).unwrap().len(), 3);
        assert_eq!(total(&store, None).0, 30);
    }

    fn temp_files(root: &Path) -> usize {
        fn walk(dir: &Path, n: &mut usize) {
            for e in fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, n);
                } else if p.to_string_lossy().ends_with(TEMP_SUFFIX) {
                    *n += 1;
                }
            }
        }
        let mut n = 0;
        walk(root, &mut n);
        n
    }

    #[test]
    fn source_names_must_be_plain() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let df = frame(&[("2024-09-01 10:00:00", "i-1", 1.0)]);
        let err = store
            .replace_days(Dataset::Utilization, "../evil", df, &days(&["2024-09-01"]))
            .unwrap_err();
        assert!(err.to_string().contains("invalid source name"));
    }
}
