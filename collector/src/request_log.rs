//! `request_log`: latency from raw request records in files.
//!
//! One record per request (timestamp, service, endpoint, duration, status)
//! from CSV, JSON lines or Parquet, plain or gzipped; the format is told by
//! the content, not the name. Records are grouped into intervals (default
//! 5 minutes, aligned to UTC midnight) per service and endpoint, and each
//! group becomes one latency row with:
//!
//! - `requests`, and `errors` (status at or above `error_status_min`);
//! - exact P50/P95/P99 (`p50_s`…), linear interpolation between closest
//!   ranks as numpy and DuckDB's `quantile_cont` compute them;
//! - a log-bucketed histogram whose buckets are 1 % wide, so any quantile of
//!   merged intervals (a day, a week) is within 1 % of the exact one;
//! - Apdex counts at `apdex_t_s`: satisfied within T, tolerating within 4T,
//!   frustrated beyond, and, as New Relic counts them, every error frustrated.
//!
//! Files are read record by record. Each request is spilled (25 bytes) to a
//! temporary file of its interval's bucket; once every file is read, each
//! bucket (whole intervals, about 1/256 of the requests) is grouped on its
//! own, with the exact quantiles of all its durations. Memory holds one
//! bucket, not the window: exactness needs every duration of an interval,
//! and files may come in any order, so no interval is complete before the
//! last file is read. A record that
//! cannot be read is a bad row, reported with file and line (or row); a file
//! without the timestamp or duration column is an error.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::DateTime;
use polars::prelude::*;
use serde::Deserialize;
use vitals_core::Dataset;
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::latency::{Apdex, LogBuckets, quantile_sorted};

use crate::collector::{Batches, CollectReport, CollectWindow, Collected, Collector, Position};
use crate::csv_records::CsvRecords;
use crate::error::CollectError;
use crate::files::{self, FileKind, local_files};
use crate::focus::parse_timestamp;
use crate::latency_rows::{self, LatencyFrameBuilder, LatencyRow};
use crate::parquet_cells::{Cell, ParquetColumn};
use crate::tally::FileTally;

/// `[collectors.NAME] type = "request_log"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestLogConfig {
    /// A file, a directory (every file directly in it, hidden files aside)
    /// or a glob such as `logs/**/*.jsonl.gz`; relative to the config file.
    pub path: String,
    /// Which column (CSV header, JSON key, Parquet column) holds what.
    #[serde(default)]
    pub columns: ColumnNames,
    /// Unit of the duration column: `s`, `ms` (default), `us` or `ns`.
    #[serde(default)]
    pub duration_unit: DurationUnit,
    /// The service of every record, for logs of one service without a
    /// service column; the column is then not read.
    pub service: Option<String>,
    /// Length of an interval, e.g. `1m`, `5m` (default), `1h`; it must
    /// divide a day.
    #[serde(default = "latency_rows::default_interval")]
    pub interval: String,
    /// Apdex threshold T in seconds. Default 0.5.
    #[serde(default = "latency_rows::default_apdex_t_s")]
    pub apdex_t_s: f64,
    /// Lowest status that counts as an error. Default 500.
    #[serde(default = "default_error_status_min")]
    pub error_status_min: i64,
    /// Largest fraction of a file's records that may be malformed; above it
    /// the file, and so the run, fails. Default `0.01` (1 %).
    #[serde(default = "default_max_bad_row_fraction")]
    pub max_bad_row_fraction: f64,
}

/// Source column names; each defaults to the field's own default below.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ColumnNames {
    /// RFC 3339 (or `YYYY-MM-DD HH:MM:SS`, taken as UTC), or epoch seconds,
    /// milliseconds, microseconds or nanoseconds (told by magnitude).
    /// Default `timestamp`.
    pub timestamp: String,
    /// Default `service`.
    pub service: String,
    /// Optional in the files: without it, rows have no endpoint. Default
    /// `endpoint`.
    pub endpoint: String,
    /// Default `duration_ms`.
    pub duration: String,
    /// HTTP status; optional in the files: without it, no errors are
    /// counted. Default `status`.
    pub status: String,
}

impl Default for ColumnNames {
    fn default() -> Self {
        ColumnNames {
            timestamp: "timestamp".into(),
            service: "service".into(),
            endpoint: "endpoint".into(),
            duration: "duration_ms".into(),
            status: "status".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DurationUnit {
    S,
    #[default]
    Ms,
    Us,
    Ns,
}

impl DurationUnit {
    fn per_second(self) -> f64 {
        match self {
            DurationUnit::S => 1.0,
            DurationUnit::Ms => 1e3,
            DurationUnit::Us => 1e6,
            DurationUnit::Ns => 1e9,
        }
    }
}

fn default_error_status_min() -> i64 {
    500
}

fn default_max_bad_row_fraction() -> f64 {
    0.01
}

/// Relative width of the histogram buckets.
const HISTOGRAM_RELATIVE_ERROR: f64 = 0.01;

/// Records are read from Parquet this many rows at a time.
const PARQUET_BATCH_ROWS: u32 = 1 << 20;

#[derive(Debug, Clone)]
struct Settings {
    columns: ColumnNames,
    per_second: f64,
    service: Option<String>,
    interval_us: i64,
    apdex_t_s: f64,
    error_status_min: i64,
    max_bad_row_fraction: f64,
}

#[derive(Debug)]
pub struct RequestLog {
    name: String,
    pattern: String,
    settings: Settings,
}

/// Builds a `request_log` collector from its config table (no I/O).
pub fn build(config: &ComponentConfig) -> Result<Box<dyn Collector>, ConfigErrors> {
    let c: RequestLogConfig = config.parse()?;
    if c.path.trim().is_empty() {
        return Err(config.error(Some("path"), "must not be empty"));
    }
    if let Err(e) = glob::Pattern::new(&c.path) {
        return Err(config.error(Some("path"), format!("invalid glob pattern: {e}")));
    }
    let secs = config.seconds_dividing_day("interval", &c.interval, 1)?;
    if !(c.apdex_t_s > 0.0 && c.apdex_t_s.is_finite()) {
        return Err(config.error(Some("apdex_t_s"), "must be a positive number of seconds"));
    }
    if !(0.0..=1.0).contains(&c.max_bad_row_fraction) {
        return Err(config.error(Some("max_bad_row_fraction"), "must be between 0 and 1"));
    }
    if c.service.as_deref().is_some_and(|s| s.trim().is_empty()) {
        return Err(config.error(Some("service"), "must not be empty"));
    }
    let pattern = config
        .resolve_path(Path::new(&c.path))
        .to_string_lossy()
        .into_owned();
    Ok(Box::new(RequestLog {
        name: config.name.clone(),
        pattern,
        settings: Settings {
            columns: c.columns,
            per_second: c.duration_unit.per_second(),
            service: c.service,
            interval_us: secs * 1_000_000,
            apdex_t_s: c.apdex_t_s,
            error_status_min: c.error_status_min,
            max_bad_row_fraction: c.max_bad_row_fraction,
        },
    }))
}

/// One request, borrowed from the record being read.
struct Request<'a> {
    ts_us: i64,
    service: &'a str,
    endpoint: Option<&'a str>,
    duration_s: f64,
    status: Option<i64>,
}

/// A failed field: the source column and why.
type FieldError = (String, String);

/// Requests of one interval, service and endpoint.
struct Group {
    start_us: i64,
    service: u32,
    endpoint: Option<u32>,
    durations: Vec<f64>,
    errors: u64,
    satisfied: u64,
    tolerating: u64,
}

/// Spill buckets: a request goes to bucket (interval index mod this), so each
/// bucket holds whole intervals and about 1/`SPILL_BUCKETS` of the requests.
const SPILL_BUCKETS: usize = 256;

/// One spilled request: interval start (µs), service id, endpoint id (or
/// `NO_ENDPOINT`), duration (s) and an error flag, little-endian.
const SPILL_RECORD: usize = 8 + 4 + 4 + 8 + 1;
const NO_ENDPOINT: u32 = u32::MAX;

/// Requests grouped by interval, service and endpoint, exactly.
///
/// Exact quantiles need every duration of a group, and files may hold their
/// records in any order (several rotated files, or one unsorted export), so
/// no interval is known to be complete before the last file is read. Rather
/// than hold the window's durations in memory, each request is spilled
/// (25 bytes) to a temporary bucket file chosen by its interval; after the
/// last file, each bucket is read back on its own, grouped, and its rows
/// computed exactly as from memory. Memory holds one bucket (whole intervals,
/// about 1/256 of the requests), the names, and the spill files' buffers.
struct Groups {
    settings: Settings,
    window: CollectWindow,
    names: Vec<String>,
    ids: PlHashMap<String, u32>,
    spill: Spill,
    /// The first spill write that failed: the run fails with it.
    failure: Option<CollectError>,
}

/// The spill files, created on first use in the system's temporary directory
/// and removed with the collector run.
struct Spill {
    dir: Option<tempfile::TempDir>,
    files: Vec<Option<std::io::BufWriter<File>>>,
    requests: u64,
}

impl Spill {
    fn new() -> Self {
        Spill {
            dir: None,
            files: (0..SPILL_BUCKETS).map(|_| None).collect(),
            requests: 0,
        }
    }

    fn path(dir: &tempfile::TempDir, bucket: usize) -> PathBuf {
        dir.path().join(format!("bucket-{bucket}.bin"))
    }

    fn write(&mut self, bucket: usize, record: &[u8; SPILL_RECORD]) -> std::io::Result<()> {
        use std::io::Write;
        if self.dir.is_none() {
            self.dir = Some(
                tempfile::Builder::new()
                    .prefix("vitals-request-log-")
                    .tempdir()?,
            );
        }
        let dir = self.dir.as_ref().expect("created above");
        let file = match &mut self.files[bucket] {
            Some(f) => f,
            slot => slot.insert(std::io::BufWriter::with_capacity(
                1 << 16,
                File::create(Self::path(dir, bucket))?,
            )),
        };
        file.write_all(record)?;
        self.requests += 1;
        Ok(())
    }
}

impl Groups {
    fn new(settings: Settings, window: CollectWindow) -> Self {
        Groups {
            settings,
            window,
            names: Vec::new(),
            ids: PlHashMap::default(),
            spill: Spill::new(),
            failure: None,
        }
    }

    fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    /// Adds a request if its interval starts inside the window. A failed
    /// spill write is kept for [`Groups::check`].
    fn add(&mut self, r: Request<'_>) {
        if self.failure.is_some() {
            return;
        }
        let interval = r.ts_us.div_euclid(self.settings.interval_us);
        let start_us = interval * self.settings.interval_us;
        let Some(start) = DateTime::from_timestamp_micros(start_us) else {
            return;
        };
        if !self.window.contains(start.date_naive()) {
            return;
        }
        let service = self.id(r.service);
        let endpoint = r.endpoint.map_or(NO_ENDPOINT, |e| self.id(e));
        let error = r
            .status
            .is_some_and(|s| s >= self.settings.error_status_min);
        let mut record = [0u8; SPILL_RECORD];
        record[0..8].copy_from_slice(&start_us.to_le_bytes());
        record[8..12].copy_from_slice(&service.to_le_bytes());
        record[12..16].copy_from_slice(&endpoint.to_le_bytes());
        record[16..24].copy_from_slice(&r.duration_s.to_le_bytes());
        record[24] = u8::from(error);
        let bucket = interval.rem_euclid(SPILL_BUCKETS as i64) as usize;
        if let Err(source) = self.spill.write(bucket, &record) {
            self.failure = Some(CollectError::Io {
                action: "spilling requests to",
                path: self
                    .spill
                    .dir
                    .as_ref()
                    .map_or_else(std::env::temp_dir, |d| d.path().to_path_buf()),
                source,
            });
        }
    }

    /// Fails if a spill write failed.
    fn check(&mut self) -> Result<(), CollectError> {
        self.failure.take().map_or(Ok(()), Err)
    }

    /// Reads each spill bucket back, groups it and hands its rows to `emit`,
    /// bucket after bucket; returns how many requests were grouped.
    fn finish(
        mut self,
        mut emit: impl FnMut(Vec<LatencyRow>) -> Result<(), CollectError>,
    ) -> Result<u64, CollectError> {
        self.check()?;
        let Some(dir) = self.spill.dir.take() else {
            return Ok(0);
        };
        let io = |action: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| CollectError::Io {
                action,
                path,
                source,
            }
        };
        let files = std::mem::take(&mut self.spill.files);
        for (bucket, file) in files.into_iter().enumerate() {
            let Some(file) = file else { continue };
            let path = Spill::path(&dir, bucket);
            file.into_inner()
                .map_err(|e| e.into_error())
                .map_err(io("writing", &path))?;
            let bytes = std::fs::read(&path).map_err(io("reading", &path))?;
            std::fs::remove_file(&path).map_err(io("removing", &path))?;
            emit(self.rows(&bytes))?;
        }
        Ok(self.spill.requests)
    }

    /// The rows of one bucket's spilled requests.
    fn rows(&self, bytes: &[u8]) -> Vec<LatencyRow> {
        let mut index: PlHashMap<(i64, u32, u32), usize> = PlHashMap::default();
        let mut groups: Vec<Group> = Vec::new();
        let t = self.settings.apdex_t_s;
        for record in bytes.chunks_exact(SPILL_RECORD) {
            let field = |a: usize, b: usize| &record[a..b];
            let start_us = i64::from_le_bytes(field(0, 8).try_into().expect("8 bytes"));
            let service = u32::from_le_bytes(field(8, 12).try_into().expect("4 bytes"));
            let endpoint = u32::from_le_bytes(field(12, 16).try_into().expect("4 bytes"));
            let duration_s = f64::from_le_bytes(field(16, 24).try_into().expect("8 bytes"));
            let error = record[24] != 0;
            let next = groups.len();
            let i = *index.entry((start_us, service, endpoint)).or_insert(next);
            if i == next {
                groups.push(Group {
                    start_us,
                    service,
                    endpoint: (endpoint != NO_ENDPOINT).then_some(endpoint),
                    durations: Vec::new(),
                    errors: 0,
                    satisfied: 0,
                    tolerating: 0,
                });
            }
            let g = &mut groups[i];
            g.durations.push(duration_s);
            if error {
                g.errors += 1;
            } else if duration_s <= t {
                g.satisfied += 1;
            } else if duration_s <= 4.0 * t {
                g.tolerating += 1;
            }
        }
        self.latency_rows(groups)
    }

    fn latency_rows(&self, mut groups: Vec<Group>) -> Vec<LatencyRow> {
        let buckets = LogBuckets::new(HISTOGRAM_RELATIVE_ERROR).expect("a valid relative error");
        let interval_s = self.settings.interval_us / 1_000_000;
        let t = self.settings.apdex_t_s;
        groups.sort_by(|a, b| {
            (
                a.start_us,
                &self.names[a.service as usize],
                a.endpoint.map(|e| &self.names[e as usize]),
            )
                .cmp(&(
                    b.start_us,
                    &self.names[b.service as usize],
                    b.endpoint.map(|e| &self.names[e as usize]),
                ))
        });
        groups
            .into_iter()
            .map(|mut g| {
                g.durations.sort_by(f64::total_cmp);
                let d = &g.durations;
                let n = d.len() as u64;
                let mut zero = 0.0;
                let mut counts: Vec<(i32, f64)> = Vec::new();
                // Sorted, so a value at most the current bucket's upper
                // bound is in that bucket (it is above the bucket below,
                // as the value before it was): no logarithm for it.
                let mut upper = f64::NEG_INFINITY;
                for &x in d {
                    match counts.last_mut() {
                        Some((_, c)) if x <= upper => *c += 1.0,
                        _ => match buckets.index(x) {
                            None => zero += 1.0,
                            Some(i) => {
                                counts.push((i, 1.0));
                                upper = buckets.upper(i);
                            }
                        },
                    }
                }
                let apdex = Apdex {
                    satisfied: g.satisfied as f64,
                    tolerating: g.tolerating as f64,
                    frustrated: (n - g.satisfied - g.tolerating) as f64,
                    interpolated: false,
                };
                LatencyRow {
                    ts: DateTime::from_timestamp_micros(g.start_us)
                        .expect("checked when added")
                        .naive_utc(),
                    interval_s,
                    service: self.names[g.service as usize].clone(),
                    endpoint: g.endpoint.map(|e| self.names[e as usize].clone()),
                    requests: n as f64,
                    errors: g.errors as f64,
                    apdex: Some((t, apdex)),
                    histogram: Some(buckets.histogram(zero, &counts)),
                    p50_s: quantile_sorted(d, 0.50),
                    p95_s: quantile_sorted(d, 0.95),
                    p99_s: quantile_sorted(d, 0.99),
                }
            })
            .collect()
    }
}

/// Where each field is in a file's columns.
struct Layout {
    timestamp: usize,
    duration: usize,
    service: Option<usize>,
    endpoint: Option<usize>,
    status: Option<usize>,
    /// What the file lacks that a person should know, for the run's warnings.
    note: Option<String>,
}

impl Layout {
    /// Locates the configured columns in `header`; `Err` names a missing
    /// required one.
    fn locate(header: &[&str], s: &Settings) -> Result<Layout, String> {
        let find = |name: &str| header.iter().position(|h| *h == name);
        let required = |name: &str| {
            find(name).ok_or_else(|| {
                format!(
                    "no `{name}` column (found: {}); set `columns` in the collector's config",
                    header
                        .iter()
                        .take(12)
                        .map(|h| format!("`{h}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        };
        let c = &s.columns;
        let service = match s.service {
            Some(_) => None,
            None => Some(required(&c.service)?),
        };
        let endpoint = find(&c.endpoint);
        let status = find(&c.status);
        let mut missing = Vec::new();
        if endpoint.is_none() {
            missing.push(format!("no `{}` column: rows have no endpoint", c.endpoint));
        }
        if status.is_none() {
            missing.push(format!("no `{}` column: errors are not counted", c.status));
        }
        Ok(Layout {
            timestamp: required(&c.timestamp)?,
            duration: required(&c.duration)?,
            service,
            endpoint,
            status,
            note: (!missing.is_empty()).then(|| missing.join("; ")),
        })
    }
}

/// Epoch seconds, milliseconds, microseconds or nanoseconds, told by
/// magnitude (seconds up to the year 5138), as microseconds.
fn epoch_int_us(v: i64) -> Option<i64> {
    match v.unsigned_abs() {
        a if a < 100_000_000_000 => v.checked_mul(1_000_000),
        a if a < 100_000_000_000_000 => v.checked_mul(1_000),
        a if a < 100_000_000_000_000_000 => Some(v),
        _ => Some(v.div_euclid(1_000)),
    }
}

fn epoch_float_us(v: f64) -> Option<i64> {
    let a = v.abs();
    let us = if a < 1e11 {
        v * 1e6
    } else if a < 1e14 {
        v * 1e3
    } else if a < 1e17 {
        v
    } else {
        v / 1e3
    };
    (us.is_finite() && us.abs() < 9.2e18).then(|| us.round() as i64)
}

fn timestamp_us(cell: Cell<'_>) -> Result<i64, String> {
    let out_of_range = || "timestamp out of range".to_string();
    match cell {
        Cell::Null => Err("missing timestamp".into()),
        Cell::Micros(us) => Ok(us),
        Cell::Int(v) => epoch_int_us(v).ok_or_else(out_of_range),
        Cell::Float(v) => epoch_float_us(v).ok_or_else(out_of_range),
        Cell::Text(s) => {
            let s = s.trim();
            if s.is_empty() {
                return Err("missing timestamp".into());
            }
            if let Ok(v) = s.parse::<i64>() {
                return epoch_int_us(v).ok_or_else(out_of_range);
            }
            if let Ok(v) = s.parse::<f64>() {
                return epoch_float_us(v).ok_or_else(out_of_range);
            }
            parse_timestamp(s).map(|t| t.and_utc().timestamp_micros())
        }
    }
}

fn number(cell: Cell<'_>, what: &str) -> Result<Option<f64>, String> {
    match cell {
        Cell::Null => Ok(None),
        Cell::Int(v) | Cell::Micros(v) => Ok(Some(v as f64)),
        Cell::Float(v) => Ok(Some(v)),
        Cell::Text(s) if s.trim().is_empty() => Ok(None),
        Cell::Text(s) => s
            .trim()
            .parse::<f64>()
            .map(Some)
            .map_err(|_| format!("{what} `{s}` is not a number")),
    }
}

fn text<'a>(cell: Cell<'a>, scratch: &'a mut String) -> Option<&'a str> {
    match cell {
        Cell::Text(s) if !s.trim().is_empty() => Some(s.trim()),
        Cell::Int(v) | Cell::Micros(v) => {
            *scratch = v.to_string();
            Some(scratch.as_str())
        }
        Cell::Float(v) => {
            *scratch = v.to_string();
            Some(scratch.as_str())
        }
        _ => None,
    }
}

/// Reads one record through `cell` (by column index) and adds it, or counts
/// it as bad.
fn take<'c>(
    cell: impl Fn(usize) -> Cell<'c>,
    layout: &Layout,
    groups: &mut Groups,
    tally: &mut FileTally<'_>,
    position: Position,
) {
    tally.rows += 1;
    match read_request(&cell, layout, groups) {
        Ok(()) => {}
        Err((field, message)) => tally.bad_row(position, Some(&field), message),
    }
}

fn read_request<'c>(
    cell: &impl Fn(usize) -> Cell<'c>,
    layout: &Layout,
    groups: &mut Groups,
) -> Result<(), FieldError> {
    let c = &groups.settings.columns;
    let ts_us = timestamp_us(cell(layout.timestamp)).map_err(|m| (c.timestamp.clone(), m))?;
    let duration = number(cell(layout.duration), "duration")
        .and_then(|d| d.ok_or_else(|| "missing duration".to_string()))
        .and_then(|d| {
            if d.is_finite() && d >= 0.0 {
                Ok(d)
            } else {
                Err(format!("duration {d} is not a finite number ≥ 0"))
            }
        })
        .map_err(|m| (c.duration.clone(), m))?;
    let status = match layout.status {
        None => None,
        Some(i) => number(cell(i), "status")
            .and_then(|s| match s {
                Some(v) if v.fract() != 0.0 || !(0.0..1e6).contains(&v) => {
                    Err(format!("status {v} is not an HTTP status"))
                }
                s => Ok(s.map(|v| v as i64)),
            })
            .map_err(|m| (c.status.clone(), m))?,
    };
    let mut service_scratch = String::new();
    let mut endpoint_scratch = String::new();
    let service = match (&groups.settings.service, layout.service) {
        (Some(s), _) => s.clone(),
        (None, Some(i)) => text(cell(i), &mut service_scratch)
            .ok_or_else(|| (c.service.clone(), "missing service".to_string()))?
            .to_string(),
        // `Layout::locate` requires the column when no service is fixed.
        (None, None) => return Err((c.service.clone(), "missing service".to_string())),
    };
    let endpoint = layout
        .endpoint
        .and_then(|i| text(cell(i), &mut endpoint_scratch));
    let duration_s = duration / groups.settings.per_second;
    groups.add(Request {
        ts_us,
        service: &service,
        endpoint,
        duration_s,
        status,
    });
    Ok(())
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> CollectError + '_ {
    move |source| CollectError::Io {
        action: "reading",
        path: path.to_path_buf(),
        source,
    }
}

fn not_a_log(path: &Path, reason: String) -> CollectError {
    CollectError::NotRequestLog {
        path: path.to_path_buf(),
        reason,
    }
}

fn read_csv(
    reader: impl Read,
    path: &Path,
    groups: &mut Groups,
    report: &mut CollectReport,
) -> Result<(), CollectError> {
    let mut records = CsvRecords::new(reader, path, |reason| not_a_log(path, reason))?;
    let names: Vec<&str> = records.header().iter().map(|h| h.trim()).collect();
    let layout = Layout::locate(&names, &groups.settings).map_err(|r| not_a_log(path, r))?;
    let mut tally = FileTally::new(path);
    while let Some((line, fields)) = records.next(&mut tally)? {
        take(
            |i| fields.get(i).map_or(Cell::Null, |f| Cell::Text(f)),
            &layout,
            groups,
            &mut tally,
            Position::Line(line),
        );
    }
    tally.finish(layout.note, groups.settings.max_bad_row_fraction, report)
}

fn json_cell(v: Option<&serde_json::Value>) -> Cell<'_> {
    match v {
        None | Some(serde_json::Value::Null) => Cell::Null,
        Some(serde_json::Value::String(s)) => Cell::Text(s),
        Some(serde_json::Value::Number(n)) => match n.as_i64() {
            Some(i) => Cell::Int(i),
            None => n.as_f64().map_or(Cell::Null, Cell::Float),
        },
        Some(
            serde_json::Value::Bool(_) | serde_json::Value::Array(_) | serde_json::Value::Object(_),
        ) => Cell::Text(""),
    }
}

fn read_json_lines(
    reader: impl BufRead,
    path: &Path,
    groups: &mut Groups,
    report: &mut CollectReport,
) -> Result<(), CollectError> {
    let s = &groups.settings;
    let mut keys: Vec<&str> = vec![&s.columns.timestamp, &s.columns.duration];
    if s.service.is_none() {
        keys.push(&s.columns.service);
    }
    keys.extend([s.columns.endpoint.as_str(), s.columns.status.as_str()]);
    let keys: Vec<String> = keys.into_iter().map(str::to_string).collect();
    let mut tally = FileTally::new(path);
    let mut layout: Option<Layout> = None;
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(io_error(path))?;
        let position = Position::Line(n as u64 + 1);
        if line.trim().is_empty() {
            continue;
        }
        let object = match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(serde_json::Value::Object(o)) => o,
            Ok(_) => {
                tally.rows += 1;
                tally.bad_row(position, None, "not a JSON object".into());
                continue;
            }
            Err(e) => {
                tally.rows += 1;
                tally.bad_row(position, None, format!("invalid JSON: {e}"));
                continue;
            }
        };
        // The first object decides which optional keys the file has.
        let layout = match &layout {
            Some(l) => l,
            None => {
                let present: Vec<&str> = object.keys().map(String::as_str).collect();
                let mut found = Layout::locate(&present, &groups.settings)
                    .map_err(|r| not_a_log(path, format!("line {}: {r}", n + 1)))?;
                // Index by position in `keys`, not in this object.
                let pos = |k: &str| keys.iter().position(|x| x == k);
                let c = &groups.settings.columns;
                found.timestamp = pos(&c.timestamp).expect("listed");
                found.duration = pos(&c.duration).expect("listed");
                found.service = found.service.and_then(|_| pos(&c.service));
                found.endpoint = found.endpoint.and_then(|_| pos(&c.endpoint));
                found.status = found.status.and_then(|_| pos(&c.status));
                layout.insert(found)
            }
        };
        take(
            |i| json_cell(object.get(&keys[i])),
            layout,
            groups,
            &mut tally,
            position,
        );
    }
    let Some(layout) = layout else {
        return Err(not_a_log(path, "the file has no records".into()));
    };
    tally.finish(layout.note, groups.settings.max_bad_row_fraction, report)
}

fn read_parquet(
    path: &Path,
    label: &Path,
    groups: &mut Groups,
    report: &mut CollectReport,
) -> Result<(), CollectError> {
    let parquet_error = |e: PolarsError| CollectError::Parquet {
        path: label.to_path_buf(),
        message: e.to_string(),
    };
    let scan = || {
        LazyFrame::scan_parquet(
            PlRefPath::new(path.to_string_lossy().into_owned()),
            ScanArgsParquet::default(),
        )
    };
    let schema = scan()
        .and_then(|mut lf| lf.collect_schema())
        .map_err(parquet_error)?;
    let header: Vec<&str> = schema.iter_names().map(|n| n.as_str()).collect();
    let layout = Layout::locate(&header, &groups.settings).map_err(|r| not_a_log(label, r))?;
    let wanted: Vec<usize> = [
        Some(layout.timestamp),
        Some(layout.duration),
        layout.service,
        layout.endpoint,
        layout.status,
    ]
    .into_iter()
    .flatten()
    .collect();
    let names: Vec<String> = wanted.iter().map(|&i| header[i].to_string()).collect();
    let mut tally = FileTally::new(label);
    let mut offset: u32 = 0;
    loop {
        let batch = scan()
            .and_then(|lf| {
                lf.select(names.iter().map(|n| col(n.as_str())).collect::<Vec<_>>())
                    .slice(i64::from(offset), PARQUET_BATCH_ROWS)
                    .collect()
            })
            .map_err(parquet_error)?;
        let mut sources: HashMap<usize, ParquetColumn> = HashMap::new();
        for (&i, name) in wanted.iter().zip(&names) {
            let column = batch.column(name).map_err(parquet_error)?;
            let source = ParquetColumn::from_column(column).map_err(|e| CollectError::Parquet {
                path: label.to_path_buf(),
                message: format!("column `{name}`: {e}"),
            })?;
            sources.insert(i, source);
        }
        for row in 0..batch.height() {
            take(
                |i| sources.get(&i).map_or(Cell::Null, |s| s.cell(row)),
                &layout,
                groups,
                &mut tally,
                Position::Row(u64::from(offset) + row as u64 + 1),
            );
        }
        if batch.height() < PARQUET_BATCH_ROWS as usize {
            break;
        }
        offset += PARQUET_BATCH_ROWS;
    }
    tally.finish(layout.note, groups.settings.max_bad_row_fraction, report)
}

/// Reads one file, telling Parquet, gzip, JSON lines and CSV apart by content.
fn read_file(
    path: &Path,
    groups: &mut Groups,
    report: &mut CollectReport,
) -> Result<(), CollectError> {
    let io = io_error(path);
    let kind = files::sniff(path, path)?;
    if kind == FileKind::Parquet {
        return read_parquet(path, path, groups, report);
    }
    let reader = files::open_text(path, path, kind)?;
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let first = loop {
        let buf = reader.fill_buf().map_err(&io)?;
        if buf.is_empty() {
            return Err(not_a_log(path, "the file is empty".into()));
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => break buf[i],
            None => {
                let len = buf.len();
                reader.consume(len);
            }
        }
    };
    if first == b'{' {
        read_json_lines(reader, path, groups, report)
    } else {
        read_csv(reader, path, groups, report)
    }
}

#[async_trait]
impl Collector for RequestLog {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "request_log"
    }

    fn dataset(&self) -> Dataset {
        Dataset::Latency
    }

    async fn collect(
        &self,
        window: CollectWindow,
        out: &mut Batches,
    ) -> Result<Collected, CollectError> {
        let pattern = self.pattern.clone();
        let settings = self.settings.clone();
        let name = self.name.clone();
        let mut batches = out.clone();
        let report = tokio::task::spawn_blocking(move || {
            let files: Vec<PathBuf> = local_files(&pattern)?;
            let mut groups = Groups::new(settings, window);
            let mut report = CollectReport::default();
            for file in &files {
                read_file(file, &mut groups, &mut report)?;
                groups.check()?;
            }
            // One batch per spill bucket: a few intervals' rows.
            groups.finish(|rows| {
                let mut builder = LatencyFrameBuilder::new();
                for row in rows {
                    builder.push(row);
                }
                batches.send_blocking(builder.finish(&name)?)
            })?;
            Ok::<_, CollectError>(report)
        })
        .await
        .map_err(|e| CollectError::Task(e.to_string()))??;
        latency_rows::into_collected(LatencyFrameBuilder::new(), &self.name, report, out).await
    }
}

#[cfg(test)]
mod tests {
    use vitals_core::config::ComponentKind;

    use super::*;

    fn config(dir: &Path, extra: &str) -> ComponentConfig {
        let path = dir.join("logs");
        ComponentConfig::from_toml(
            ComponentKind::Collector,
            "logs",
            &format!(
                "type = \"request_log\"\npath = \"{}\"\n{extra}",
                path.display()
            ),
        )
        .unwrap()
    }

    fn window() -> CollectWindow {
        CollectWindow {
            since: None,
            until: None,
            today: chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
        }
    }

    /// A run's rows in memory and its report.
    struct Run {
        frame: DataFrame,
        report: CollectReport,
    }

    fn collect(dir: &Path, extra: &str) -> Result<Run, CollectError> {
        let c = build(&config(dir, extra)).unwrap();
        let (frame, _, report) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(crate::collector::collect_in_memory(c.as_ref(), window()))?;
        Ok(Run { frame, report })
    }

    fn column(c: &Run, name: &str) -> Vec<Option<f64>> {
        c.frame
            .column(name)
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .collect()
    }

    #[test]
    fn epochs_are_told_by_magnitude() {
        let want = 1_762_077_600_000_000; // 2025-11-02T10:00:00Z
        for cell in [
            Cell::Int(1_762_077_600),
            Cell::Int(1_762_077_600_000),
            Cell::Int(1_762_077_600_000_000),
            Cell::Int(1_762_077_600_000_000_000),
            Cell::Text("1762077600.0"),
            Cell::Text("2025-11-02T12:00:00+02:00"),
        ] {
            assert_eq!(timestamp_us(cell), Ok(want));
        }
        assert!(timestamp_us(Cell::Text("soon")).is_err());
        assert!(timestamp_us(Cell::Null).is_err());
    }

    #[test]
    fn json_lines_with_a_fixed_service_seconds_and_a_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("logs")).unwrap();
        std::fs::write(
            dir.path().join("logs/a.jsonl"),
            concat!(
                "{\"ts\": \"2026-11-02T10:00:01Z\", \"took\": 0.2, \"code\": 200}\n",
                "\n",
                "{\"ts\": \"2026-11-02T10:00:02Z\", \"took\": 0.9, \"code\": 200}\n",
                "{\"ts\": \"2026-11-02T10:00:03Z\", \"took\": 3, \"code\": 200}\n",
                "{\"ts\": \"2026-11-02T10:00:04Z\", \"took\": 0.1, \"code\": 502}\n",
                "[1, 2]\n",
            ),
        )
        .unwrap();
        let extra = "service = \"api\"\nduration_unit = \"s\"\ninterval = \"1h\"\nmax_bad_row_fraction = 0.5\n\
                     columns = { timestamp = \"ts\", duration = \"took\", status = \"code\" }";
        let c = collect(dir.path(), extra).unwrap();
        assert_eq!(c.frame.height(), 1);
        assert_eq!(column(&c, "requests"), [Some(4.0)]);
        assert_eq!(column(&c, "errors"), [Some(1.0)]);
        // 0.2 satisfied, 0.9 tolerating, 3 s and the 502 frustrated.
        assert_eq!(column(&c, "apdex_satisfied"), [Some(1.0)]);
        assert_eq!(column(&c, "apdex_tolerating"), [Some(1.0)]);
        assert_eq!(column(&c, "apdex_frustrated"), [Some(2.0)]);
        // numpy.percentile([0.1, 0.2, 0.9, 3], 50) = 0.55
        assert!((column(&c, "p50_s")[0].unwrap() - 0.55).abs() < 1e-12);
        assert_eq!(c.report.bad_rows, 1);
        let bad = c.report.bad_row_samples[0].to_string();
        assert!(bad.ends_with("a.jsonl:6: not a JSON object"), "{bad}");
        // No endpoint key: a warning, and rows without an endpoint.
        assert!(
            c.report.warnings[0].contains("no `endpoint` column"),
            "{:?}",
            c.report.warnings
        );
    }

    #[test]
    fn config_errors_name_the_key() {
        let dir = Path::new("/nonexistent");
        for (extra, key, message) in [
            ("interval = \"7m\"", "interval", "divides a day"),
            ("interval = \"soon\"", "interval", "invalid duration"),
            ("apdex_t_s = 0", "apdex_t_s", "positive"),
            ("duration_unit = \"h\"", "duration_unit", "unknown variant"),
            ("columns = { latency = \"x\" }", "latency", "unknown field"),
        ] {
            let err = build(&config(dir, extra)).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains(message), "{extra}: {err}");
        }
    }
}
