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

use std::collections::{BTreeMap, BTreeSet};
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
    /// partitions (days re-collected without rows) do not count.
    pub fn latest_day(&self, dataset: Dataset) -> Result<Option<NaiveDate>> {
        let time = dataset.time_column();
        let frame = self
            .scan(dataset, None)?
            .select([col(time).max()])
            .collect()
            .map_err(|e| {
                Error::polars(format!("finding the latest day of dataset `{dataset}`"), e)
            })?;
        let latest = frame
            .column(time)
            .and_then(|c| c.datetime().map(|d| d.physical().get(0)))
            .map_err(|e| {
                Error::polars(format!("finding the latest day of dataset `{dataset}`"), e)
            })?;
        Ok(latest
            .and_then(DateTime::from_timestamp_micros)
            .map(|t| t.date_naive()))
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
        check_source_name(source)?;
        let frame = dataset.conform(frame)?;
        check_source_column(&frame, dataset, source)?;
        let mut by_day = split_by_day(&frame, dataset)?;
        if let Some(stray) = by_day.keys().find(|d| !days.contains(d)) {
            return Err(Error::Store(format!(
                "rows for {stray} are outside the days being replaced for source `{source}`"
            )));
        }
        let mut staged = Vec::with_capacity(days.len());
        for &day in days {
            let mut part = by_day.remove(&day).unwrap_or_else(|| dataset.empty_frame());
            staged.push(self.stage(dataset, source, day, &mut part)?);
        }
        let mut summary = WriteSummary::default();
        for s in staged {
            summary.rows += s.commit()?;
            summary.partitions += 1;
        }
        Ok(summary)
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
        let dir = target.parent().expect("a partition file has a directory");
        fs::create_dir_all(dir).map_err(|e| Error::io("creating partition directory", dir, e))?;
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let temp = dir.join(format!(
            ".part-{}-{nanos}.parquet{TEMP_SUFFIX}",
            std::process::id()
        ));
        let staged = StagedPartition {
            temp,
            target,
            rows: frame.height(),
            committed: false,
        };
        let mut file = File::create(&staged.temp)
            .map_err(|e| Error::io("creating temporary partition file", &staged.temp, e))?;
        ParquetWriter::new(&mut file)
            .with_compression(ParquetCompression::Zstd(None))
            .finish(frame)
            .map_err(|e| Error::polars(format!("writing `{}`", staged.temp.display()), e))?;
        file.sync_all()
            .map_err(|e| Error::io("syncing temporary partition file", &staged.temp, e))?;
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
