//! `aws_cur`: AWS Data Exports in S3, CUR 2.0 (Parquet) or FOCUS 1.0/1.2.
//!
//! An export lives under `s3://bucket/<prefix>/<export-name>/`: its files in
//! `data/BILLING_PERIOD=YYYY-MM/`, and per billing period a
//! `metadata/BILLING_PERIOD=YYYY-MM/<export-name>-Manifest.json` that lists
//! the data files of the latest delivery. Only the files the manifest lists
//! are read, so an export that keeps every revision ("create new export
//! file") is read once, at its newest revision. A run replaces every day of
//! each billing period it read, so line items AWS revised away disappear.
//!
//! CUR 2.0 line items are summed per day, account, product, SKU, line item
//! type, pricing category, commitment, resource, region, instance type and
//! tag set. `billed_cost` is the unblended cost; `effective_cost` is the
//! amortized cost of AWS's documented CUR query: Savings Plans and
//! reservations at their effective cost, their fees at the unused part,
//! the covered usage's negation and the upfront fees at zero.
//! FOCUS exports are mapped as `focus_file` maps them.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;

use async_trait::async_trait;
use chrono::{Datelike, Duration, NaiveDate};
use polars::prelude::*;
use serde::Deserialize;
use vitals_core::Dataset;
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::cost_rows::tags_json;
use vitals_core::period::DayRange;

use crate::aws::{self, AwsSettings};
use crate::collector::{
    BAD_ROW_SAMPLES, BadRow, Batches, CollectReport, CollectWindow, Collected, Collector, Position,
};
use crate::cost_rows::CostBatches;
use crate::error::CollectError;
use crate::files::{self, FileKind};
use crate::focus::FocusOptions;
use crate::focus_file::read_file as read_focus_file;
use crate::remote::{Remote, RemotePath, Scheme};
use crate::s3::S3;

/// `[collectors.NAME] type = "aws_cur"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct AwsCurConfig {
    /// The export: `s3://bucket/<prefix>/<export-name>`, the folder that holds
    /// `data/` and `metadata/`.
    path: String,
    /// Without `--since`/`--until`, how many billing periods a run reads:
    /// the current month and the ones before it. AWS revises the previous
    /// month's bill for up to two weeks after it ends. Default 2.
    #[serde(default = "default_billing_periods")]
    billing_periods: u32,
    /// Largest fraction of a file's line items that may be malformed; above
    /// it the run fails. Default `0.01` (1 %).
    #[serde(default = "default_max_bad_row_fraction")]
    max_bad_row_fraction: f64,
}

fn default_billing_periods() -> u32 {
    2
}

fn default_max_bad_row_fraction() -> f64 {
    0.01
}

#[derive(Debug)]
pub struct AwsCur {
    name: String,
    export: RemotePath,
    settings: AwsSettings,
    billing_periods: u32,
    max_bad_row_fraction: f64,
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Collector>, ConfigErrors> {
    Ok(Box::new(AwsCur::new(config)?))
}

/// One billing period: a calendar month, as its first day.
fn month_start(day: NaiveDate) -> NaiveDate {
    day.with_day(1).expect("every month has a first day")
}

fn month_end(first: NaiveDate) -> NaiveDate {
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    };
    next.expect("the next month exists") - Duration::days(1)
}

impl AwsCur {
    /// Checks the config (no I/O).
    fn new(config: &ComponentConfig) -> Result<AwsCur, ConfigErrors> {
        let (connection, c): (aws::AwsConnection, AwsCurConfig) = config.parse_shared()?;
        let export = match RemotePath::parse(&c.path) {
            Ok(Some(p)) if p.scheme == Scheme::S3 => p,
            Ok(_) => {
                return Err(config.error(
                    Some("path"),
                    format!(
                        "`{}` is not an `s3://bucket/prefix/export-name` path",
                        c.path
                    ),
                ));
            }
            Err(e) => return Err(config.error(Some("path"), e)),
        };
        if export.key.contains(['*', '?', '[']) {
            return Err(config.error(Some("path"), "names one export: no patterns"));
        }
        let export = export.object(export.key.trim_end_matches('/'));
        if export.key.is_empty() {
            return Err(config.error(
                Some("path"),
                "needs the export's folder after the bucket: `s3://bucket/prefix/export-name`",
            ));
        }
        if !(1..=24).contains(&c.billing_periods) {
            return Err(config.error(Some("billing_periods"), "must be between 1 and 24"));
        }
        if !(0.0..=1.0).contains(&c.max_bad_row_fraction) {
            return Err(config.error(Some("max_bad_row_fraction"), "must be between 0 and 1"));
        }
        connection.check(config)?;
        Ok(AwsCur {
            name: config.name.clone(),
            export,
            settings: connection.settings(&config.name),
            billing_periods: c.billing_periods,
            max_bad_row_fraction: c.max_bad_row_fraction,
        })
    }

    /// The export's name: the last segment of its folder.
    fn export_name(&self) -> &str {
        self.export
            .key
            .rsplit('/')
            .next()
            .unwrap_or(&self.export.key)
    }

    fn manifest_key(&self, period: NaiveDate) -> String {
        format!(
            "{}/metadata/BILLING_PERIOD={}/{}-Manifest.json",
            self.export.key,
            period.format("%Y-%m"),
            self.export_name()
        )
    }

    /// The billing periods a run reads (first days), and the days it may
    /// replace: the window's, or the last `billing_periods` months, never
    /// past today.
    fn plan(&self, window: CollectWindow) -> (Vec<NaiveDate>, Option<DayRange>) {
        let this_month = month_start(window.today);
        let first = window.since.map(month_start).unwrap_or_else(|| {
            let mut m = this_month;
            for _ in 1..self.billing_periods {
                m = month_start(m - Duration::days(1));
            }
            m
        });
        let last_day = window.until.unwrap_or(window.today).min(window.today);
        let start = window.since.unwrap_or(first);
        let mut periods = Vec::new();
        let mut m = first;
        while m <= last_day {
            periods.push(m);
            m = month_end(m) + Duration::days(1);
        }
        (periods, DayRange::new(start, last_day))
    }

    /// The data files a period's manifest lists, or `None` without a manifest.
    async fn manifest_files(
        &self,
        s3: &S3,
        period: NaiveDate,
    ) -> Result<Option<Vec<RemotePath>>, CollectError> {
        let key = self.manifest_key(period);
        let url = self.export.object(&key).to_string();
        let Some(bytes) = s3.get(&self.export.bucket, &key).await? else {
            return Ok(None);
        };
        let bad = |reason: String| CollectError::BadManifest {
            url: url.clone(),
            reason,
        };
        let manifest: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
        let mut files = Vec::new();
        if let Some(list) = manifest.get("dataFiles") {
            // Data Exports: full `s3://` URLs.
            let list = list
                .as_array()
                .ok_or_else(|| bad("`dataFiles` is not a list".into()))?;
            for (i, f) in list.iter().enumerate() {
                let text = f
                    .as_str()
                    .ok_or_else(|| bad(format!("`dataFiles[{i}]` is not a string")))?;
                match RemotePath::parse(text) {
                    Ok(Some(p)) if p.scheme == Scheme::S3 && !p.key.is_empty() => files.push(p),
                    _ => {
                        return Err(bad(format!(
                            "`dataFiles[{i}]` `{text}` is not an s3:// object URL"
                        )));
                    }
                }
            }
        } else if let Some(list) = manifest.get("reportKeys") {
            // Legacy CUR: keys in the report's bucket.
            let list = list
                .as_array()
                .ok_or_else(|| bad("`reportKeys` is not a list".into()))?;
            for (i, f) in list.iter().enumerate() {
                let key = f
                    .as_str()
                    .ok_or_else(|| bad(format!("`reportKeys[{i}]` is not a string")))?;
                files.push(self.export.object(key));
            }
        } else {
            return Err(bad("it has neither `dataFiles` nor `reportKeys`".into()));
        }
        Ok(Some(files))
    }
}

#[async_trait]
impl Collector for AwsCur {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "aws_cur"
    }

    fn dataset(&self) -> Dataset {
        Dataset::Cost
    }

    async fn collect(
        &self,
        window: CollectWindow,
        out: &mut Batches,
    ) -> Result<Collected, CollectError> {
        let (periods, range) = self.plan(window);
        let mut report = CollectReport::default();
        let mut days = BTreeSet::new();
        let Some(range) = range else {
            return Ok(Collected {
                days: Some(days),
                report,
            });
        };
        let s3 = S3::connect(&self.settings).await;
        let remote = Remote::S3(s3.clone());
        let mut found = 0;
        for period in periods {
            let Some(files) = self.manifest_files(&s3, period).await? else {
                report.warnings.push(format!(
                    "no manifest for billing period {} at `{}`; skipped",
                    period.format("%Y-%m"),
                    self.export.object(&self.manifest_key(period))
                ));
                continue;
            };
            found += 1;
            let Some(period_days) =
                DayRange::new(period.max(range.start), month_end(period).min(range.end))
            else {
                continue;
            };
            let period_range =
                DayRange::new(period, month_end(period)).expect("a month is a range");
            for file in files {
                let fetched = remote.fetch(&file).await?;
                let read = ReadFile {
                    local: fetched.path().to_path_buf(),
                    label: file.to_string(),
                    period: period_range,
                    keep: period_days,
                    max_bad_row_fraction: self.max_bad_row_fraction,
                    window,
                    source: self.name.clone(),
                    out: out.clone(),
                };
                let file_report = tokio::task::spawn_blocking(move || read.run())
                    .await
                    .map_err(|e| CollectError::Task(e.to_string()))??;
                merge(&mut report, file_report);
            }
            days.extend(period_days.days());
        }
        if found == 0 {
            return Err(CollectError::NoFiles {
                pattern: format!(
                    "{}/metadata/BILLING_PERIOD=*/{}-Manifest.json",
                    self.export,
                    self.export_name()
                ),
                hint: " (no manifest for any billing period read; is `path` the export's folder?)",
            });
        }
        report.rows = out.rows();
        Ok(Collected {
            days: Some(days),
            report,
        })
    }
}

fn merge(into: &mut CollectReport, from: CollectReport) {
    into.files += from.files;
    into.bad_rows += from.bad_rows;
    into.bad_row_samples.extend(from.bad_row_samples);
    into.warnings.extend(from.warnings);
}

/// A canonical frame without `source` (CUR 2.0's daily rows), with it set.
fn with_source(mut frame: DataFrame, source: &str) -> Result<DataFrame, CollectError> {
    let frame_error = |e: PolarsError| CollectError::Frame {
        dataset: "cost",
        message: e.to_string(),
    };
    let n = frame.height();
    frame
        .with_column(Column::new("source".into(), vec![source; n]))
        .map_err(frame_error)?;
    Dataset::Cost
        .conform(frame)
        .map_err(|e| CollectError::Frame {
            dataset: "cost",
            message: e.to_string(),
        })
}

/// One data file to read, on the blocking pool.
struct ReadFile {
    local: std::path::PathBuf,
    label: String,
    /// The file's whole billing period: line items outside it are bad.
    period: DayRange,
    /// The days kept (the period inside the window).
    keep: DayRange,
    max_bad_row_fraction: f64,
    window: CollectWindow,
    /// The collector's name, every row's `source`.
    source: String,
    out: Batches,
}

impl ReadFile {
    /// Reads the file and hands its rows to `out` (from a blocking thread).
    fn run(mut self) -> Result<CollectReport, CollectError> {
        let label = Path::new(&self.label);
        let io = |action: &'static str| {
            move |source: std::io::Error| CollectError::Io {
                action,
                path: label.to_path_buf(),
                source,
            }
        };
        let columns = if files::sniff(&self.local, label)? == FileKind::Parquet {
            let mut reader = ParquetReader::new(File::open(&self.local).map_err(io("opening"))?);
            let schema = reader.schema().map_err(|e| CollectError::Parquet {
                path: label.to_path_buf(),
                message: e.to_string(),
            })?;
            schema
                .iter_names()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
        } else {
            Vec::new()
        };
        if columns.iter().any(|c| c == "line_item_unblended_cost") {
            let (daily, report) = self.read_cur2(&columns)?;
            self.out.send_blocking(with_source(daily, &self.source)?)?;
            return Ok(report);
        }
        // Anything else must be a FOCUS export (Parquet or CSV); the FOCUS
        // reader says clearly if it is not.
        let window = CollectWindow {
            since: Some(self.keep.start),
            until: Some(self.keep.end),
            today: self.window.today,
        };
        let opts = FocusOptions {
            max_bad_row_fraction: self.max_bad_row_fraction,
            window,
        };
        let mut batches = CostBatches::new(&self.source, self.out.clone());
        let mut report = CollectReport::default();
        read_focus_file(&self.local, label, &opts, &mut batches, &mut report).map_err(
            |e| match e {
                CollectError::NotFocus { path, reason } => CollectError::NotFocus {
                    path,
                    reason: format!(
                        "{reason} (nor a CUR 2.0 Parquet export: CUR 2.0 is read from Parquet only)"
                    ),
                },
                other => other,
            },
        )?;
        batches.flush_blocking()?;
        Ok(report)
    }

    fn read_cur2(&self, present: &[String]) -> Result<(DataFrame, CollectReport), CollectError> {
        let label = Path::new(&self.label);
        let missing: Vec<&str> = CUR_REQUIRED
            .iter()
            .filter(|c| !present.iter().any(|p| p == *c))
            .copied()
            .collect();
        if !missing.is_empty() {
            return Err(CollectError::NotCur {
                path: label.to_path_buf(),
                reason: format!("missing required columns {}", backticked(&missing)),
            });
        }
        let parquet_error = |e: PolarsError| CollectError::Parquet {
            path: label.to_path_buf(),
            message: e.to_string(),
        };
        let wanted: Vec<String> = CUR_COLUMNS
            .iter()
            .map(|(c, _)| c.to_string())
            .filter(|c| present.contains(c))
            .collect();
        // The lazy scan reads Parquet MAP columns as lists of key/value
        // structs, and only the columns asked for.
        let local = PlRefPath::new(self.local.to_string_lossy().into_owned());
        let raw = LazyFrame::scan_parquet(local, ScanArgsParquet::default())
            .and_then(|lf| {
                lf.select(wanted.iter().map(|c| col(c.as_str())).collect::<Vec<_>>())
                    .collect()
            })
            .map_err(parquet_error)?;
        cur2_daily(
            raw,
            &self.label,
            self.period,
            self.keep,
            self.max_bad_row_fraction,
        )
    }
}

fn backticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Columns without which a file is not a CUR 2.0 export.
const CUR_REQUIRED: [&str; 5] = [
    "line_item_usage_start_date",
    "line_item_usage_end_date",
    "line_item_unblended_cost",
    "line_item_currency_code",
    "line_item_line_item_type",
];

/// How a CUR 2.0 column is read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum CurType {
    Text,
    Number,
    Time,
    /// A Parquet MAP of string to string (`product`, `resource_tags`).
    Map,
}

/// The CUR 2.0 columns vitals reads; absent optional ones read as null.
const CUR_COLUMNS: &[(&str, CurType)] = &[
    ("bill_payer_account_id", CurType::Text),
    ("bill_payer_account_name", CurType::Text),
    ("line_item_usage_account_id", CurType::Text),
    ("line_item_usage_account_name", CurType::Text),
    ("line_item_line_item_type", CurType::Text),
    ("line_item_usage_start_date", CurType::Time),
    ("line_item_usage_end_date", CurType::Time),
    ("line_item_product_code", CurType::Text),
    ("line_item_usage_type", CurType::Text),
    ("line_item_resource_id", CurType::Text),
    ("line_item_usage_amount", CurType::Number),
    ("line_item_unblended_cost", CurType::Number),
    ("line_item_currency_code", CurType::Text),
    ("product", CurType::Map),
    ("product_sku", CurType::Text),
    ("product_region_code", CurType::Text),
    ("product_instance_type", CurType::Text),
    ("pricing_term", CurType::Text),
    ("pricing_unit", CurType::Text),
    ("pricing_public_on_demand_cost", CurType::Number),
    ("reservation_reservation_a_r_n", CurType::Text),
    ("reservation_effective_cost", CurType::Number),
    (
        "reservation_unused_amortized_upfront_fee_for_billing_period",
        CurType::Number,
    ),
    ("reservation_unused_recurring_fee", CurType::Number),
    ("savings_plan_savings_plan_a_r_n", CurType::Text),
    ("savings_plan_savings_plan_effective_cost", CurType::Number),
    ("savings_plan_total_commitment_to_date", CurType::Number),
    ("savings_plan_used_commitment", CurType::Number),
    ("resource_tags", CurType::Map),
];

/// Maps a CUR 2.0 file's line items onto daily cost rows (without `source`).
fn cur2_daily(
    raw: DataFrame,
    label: &str,
    period: DayRange,
    keep: DayRange,
    max_bad_row_fraction: f64,
) -> Result<(DataFrame, CollectReport), CollectError> {
    let path = Path::new(label);
    let column_error = |column: &str, e: PolarsError| CollectError::Parquet {
        path: path.to_path_buf(),
        message: format!("column `{column}`: {e}"),
    };
    let height = raw.height();
    // Every column in its canonical type; absent ones as nulls. A column of
    // the wrong type fails the file, naming the column.
    let mut columns: Vec<Column> = Vec::with_capacity(CUR_COLUMNS.len());
    for &(name, ty) in CUR_COLUMNS {
        let column = match raw.column(name) {
            Err(_) => {
                let dtype = match ty {
                    CurType::Text | CurType::Map => DataType::String,
                    CurType::Number => DataType::Float64,
                    CurType::Time => DataType::Datetime(TimeUnit::Microseconds, None),
                };
                Column::full_null(name.into(), height, &dtype)
            }
            Ok(c) => match ty {
                CurType::Text => text_column(c),
                CurType::Number => number_column(c),
                CurType::Time => time_column(c),
                CurType::Map => map_column(c, name == "resource_tags"),
            }
            .map_err(|e| column_error(name, e))?,
        };
        columns.push(column);
    }
    let df = DataFrame::new(height, columns).map_err(|e| column_error("*", e))?;

    // Bad line items: no start, no cost, no currency, no type, or a start
    // outside the file's billing period.
    let period_start = period.start.and_hms_opt(0, 0, 0).expect("midnight");
    let period_end = (period.end + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight");
    let start = || col("line_item_usage_start_date");
    let micros = |t: chrono::NaiveDateTime| {
        lit(t.and_utc().timestamp_micros()).cast(DataType::Datetime(TimeUnit::Microseconds, None))
    };
    let problem = when(start().is_null())
        .then(lit("`line_item_usage_start_date`: a value is required"))
        .when(col("line_item_unblended_cost").is_null())
        .then(lit("`line_item_unblended_cost`: a value is required"))
        .when(col("line_item_currency_code").is_null())
        .then(lit("`line_item_currency_code`: a value is required"))
        .when(col("line_item_line_item_type").is_null())
        .then(lit("`line_item_line_item_type`: a value is required"))
        .when(
            start()
                .lt(micros(period_start))
                .or(start().gt_eq(micros(period_end))),
        )
        .then(lit(format!(
            "`line_item_usage_start_date`: outside the billing period {period}"
        )))
        .otherwise(lit(NULL).cast(DataType::String))
        .alias("problem");
    let checked = df
        .lazy()
        .with_row_index("row", Some(1))
        .with_column(problem)
        .collect()
        .map_err(|e| column_error("*", e))?;
    let mut report = CollectReport {
        files: 1,
        ..CollectReport::default()
    };
    let problems = checked
        .column("problem")
        .map_err(|e| column_error("problem", e))?
        .str()
        .map_err(|e| column_error("problem", e))?
        .clone();
    let rows = checked
        .column("row")
        .map_err(|e| column_error("row", e))?
        .idx()
        .map_err(|e| column_error("row", e))?
        .clone();
    for (row, p) in rows.iter().zip(problems.iter()) {
        if let (Some(row), Some(p)) = (row, p) {
            report.bad_rows += 1;
            if report.bad_row_samples.len() < BAD_ROW_SAMPLES {
                let (field, message) = p
                    .strip_prefix('`')
                    .and_then(|r| r.split_once("`: "))
                    .map_or((None, p.to_string()), |(f, m)| {
                        (Some(f.to_string()), m.to_string())
                    });
                report.bad_row_samples.push(BadRow {
                    file: label.to_string(),
                    position: Position::Row(u64::from(row)),
                    field,
                    message,
                });
            }
        }
    }
    if report.bad_rows > 0 && report.bad_rows as f64 > max_bad_row_fraction * height as f64 {
        return Err(CollectError::TooManyBadRows {
            path: path.to_path_buf(),
            bad: report.bad_rows,
            total: height,
            max_fraction: max_bad_row_fraction,
            first: Box::new(report.bad_row_samples.swap_remove(0)),
        });
    }

    let keep_start = keep.start.and_hms_opt(0, 0, 0).expect("midnight");
    let keep_end = (keep.end + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight");
    let line_type = || col("line_item_line_item_type");
    let is = |value: &str| line_type().eq(lit(value.to_string()));
    let unblended = || col("line_item_unblended_cost");
    let zero_if_null = |c: &str| col(c).fill_null(lit(0.0));
    let non_empty = |c: &str| {
        when(col(c).eq(lit("")))
            .then(lit(NULL).cast(DataType::String))
            .otherwise(col(c))
    };
    // AWS's amortized cost, line item type by line item type.
    let effective = when(is("SavingsPlanCoveredUsage"))
        .then(zero_if_null("savings_plan_savings_plan_effective_cost"))
        .when(is("SavingsPlanRecurringFee"))
        .then(
            zero_if_null("savings_plan_total_commitment_to_date")
                - zero_if_null("savings_plan_used_commitment"),
        )
        .when(is("SavingsPlanNegation").or(is("SavingsPlanUpfrontFee")))
        .then(lit(0.0))
        .when(is("DiscountedUsage"))
        .then(zero_if_null("reservation_effective_cost"))
        .when(is("RIFee"))
        .then(
            zero_if_null("reservation_unused_amortized_upfront_fee_for_billing_period")
                + zero_if_null("reservation_unused_recurring_fee"),
        )
        .when(is("Fee").and(non_empty("reservation_reservation_a_r_n").is_not_null()))
        .then(lit(0.0))
        .otherwise(unblended());
    let charge_category = when(is("Tax"))
        .then(lit("Tax"))
        .when(
            is("Credit")
                .or(is("Refund"))
                .or(line_type().str().ends_with(lit("Discount"))),
        )
        .then(lit("Credit"))
        .when(
            is("Fee")
                .or(is("RIFee"))
                .or(is("SavingsPlanRecurringFee"))
                .or(is("SavingsPlanUpfrontFee")),
        )
        .then(lit("Purchase"))
        .when(
            is("Usage")
                .or(is("DiscountedUsage"))
                .or(is("SavingsPlanCoveredUsage"))
                .or(is("SavingsPlanNegation")),
        )
        .then(lit("Usage"))
        .otherwise(lit("Adjustment"));
    let usage_type = || col("line_item_usage_type").fill_null(lit(""));
    let pricing_category = when(is("DiscountedUsage").or(is("SavingsPlanCoveredUsage")))
        .then(lit("Committed"))
        .when(
            col("pricing_term").eq(lit("Spot")).or(usage_type()
                .str()
                .split(lit(":"))
                .list()
                .first()
                .str()
                .ends_with(lit("SpotUsage"))),
        )
        .then(lit("Dynamic"))
        .when(col("pricing_term").eq(lit("Reserved")))
        .then(lit("Committed"))
        .when(col("pricing_term").eq(lit("OnDemand")).and(is("Usage")))
        .then(lit("Standard"))
        .otherwise(lit(NULL).cast(DataType::String));
    let nullable_sum = |c: &str| {
        when(col(c).count().gt(lit(0)))
            .then(col(c).sum())
            .otherwise(lit(NULL).cast(DataType::Float64))
            .alias(c)
    };
    let day = start().dt().date().alias("day");
    let keys = [
        "day",
        "billing_account_id",
        "billing_account_name",
        "sub_account_id",
        "sub_account_name",
        "service_name",
        "sku_id",
        "charge_category",
        "pricing_category",
        "commitment_discount_id",
        "resource_id",
        "region_id",
        "consumed_unit",
        "billing_currency",
        "tags",
        "x_instance_type",
    ];
    let daily = checked
        .lazy()
        .filter(col("problem").is_null())
        .filter(
            start()
                .gt_eq(micros(keep_start))
                .and(start().lt(micros(keep_end))),
        )
        .select([
            day,
            col("bill_payer_account_id").alias("billing_account_id"),
            col("bill_payer_account_name").alias("billing_account_name"),
            col("line_item_usage_account_id").alias("sub_account_id"),
            col("line_item_usage_account_name").alias("sub_account_name"),
            col("product")
                .fill_null(col("line_item_product_code"))
                .alias("service_name"),
            col("product_sku").alias("sku_id"),
            charge_category.alias("charge_category"),
            pricing_category.alias("pricing_category"),
            non_empty("reservation_reservation_a_r_n")
                .fill_null(non_empty("savings_plan_savings_plan_a_r_n"))
                .alias("commitment_discount_id"),
            non_empty("line_item_resource_id").alias("resource_id"),
            non_empty("product_region_code").alias("region_id"),
            col("pricing_unit").alias("consumed_unit"),
            col("line_item_currency_code").alias("billing_currency"),
            col("resource_tags").alias("tags"),
            non_empty("product_instance_type").alias("x_instance_type"),
            col("line_item_usage_amount").alias("consumed_quantity"),
            unblended().alias("billed_cost"),
            effective.alias("effective_cost"),
            col("pricing_public_on_demand_cost").alias("list_cost"),
        ])
        .group_by(keys.map(col))
        .agg([
            nullable_sum("consumed_quantity"),
            col("billed_cost").sum(),
            col("effective_cost").sum(),
            nullable_sum("list_cost"),
        ])
        .with_columns([
            col("day")
                .cast(DataType::Datetime(TimeUnit::Microseconds, None))
                .alias("charge_period_start"),
            (col("day").cast(DataType::Int32) + lit(1))
                .cast(DataType::Date)
                .cast(DataType::Datetime(TimeUnit::Microseconds, None))
                .alias("charge_period_end"),
            lit("AWS").alias("provider"),
        ])
        .sort(keys, SortMultipleOptions::default().with_nulls_last(true))
        .collect()
        .map_err(|e| column_error("*", e))?;
    let canonical = to_canonical(daily).map_err(|e| column_error("*", e))?;
    Ok((canonical, report))
}

/// Selects the cost schema's columns (without `source`), nulls for those a
/// CUR file has no value for.
fn to_canonical(daily: DataFrame) -> PolarsResult<DataFrame> {
    let height = daily.height();
    let mut out = Vec::new();
    for spec in Dataset::Cost.columns() {
        if spec.name == "source" {
            continue;
        }
        let column = match daily.column(spec.name) {
            Ok(c) => c.cast(&spec.ty.dtype())?,
            Err(_) => Column::full_null(spec.name.into(), height, &spec.ty.dtype()),
        };
        out.push(column);
    }
    DataFrame::new(height, out)
}

fn text_column(c: &Column) -> PolarsResult<Column> {
    match c.dtype() {
        DataType::String => Ok(c.clone()),
        dt if dt.is_primitive_numeric() => c.cast(&DataType::String),
        dt => polars_bail!(SchemaMismatch: "expected text, found {dt}"),
    }
}

fn number_column(c: &Column) -> PolarsResult<Column> {
    match c.dtype() {
        dt if dt.is_primitive_numeric() || dt.is_decimal() => c.cast(&DataType::Float64),
        DataType::String => c.strict_cast(&DataType::Float64),
        dt => polars_bail!(SchemaMismatch: "expected a number, found {dt}"),
    }
}

fn time_column(c: &Column) -> PolarsResult<Column> {
    match c.dtype() {
        DataType::Datetime(_, _) => crate::parquet_cells::utc_micros(c)?
            .into_series()
            .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
            .map(|s| s.with_name(c.name().clone()).into()),
        dt => polars_bail!(SchemaMismatch: "expected a timestamp, found {dt}"),
    }
}

/// A MAP column (a list of key/value structs): `product` gives its
/// `product_name`; `resource_tags` gives a JSON object, user tags under
/// their own key (`user_team` → `team`) and AWS tags as `aws:<key>`.
fn map_column(c: &Column, tags: bool) -> PolarsResult<Column> {
    let list = c.list()?;
    let mut out: Vec<Option<String>> = Vec::with_capacity(list.len());
    for entry in list.amortized_iter() {
        let Some(entries) = entry else {
            out.push(None);
            continue;
        };
        let entries = entries.as_ref().struct_()?;
        let keys = entries.field_by_name("key")?;
        let values = entries.field_by_name("value")?;
        let (keys, values) = (keys.str()?, values.str()?);
        if tags {
            let mut object = std::collections::BTreeMap::new();
            for (k, v) in keys.iter().zip(values.iter()) {
                let (Some(k), Some(v)) = (k, v) else { continue };
                if v.is_empty() {
                    continue;
                }
                let key = match (k.strip_prefix("user_"), k.strip_prefix("aws_")) {
                    (Some(user), _) => user.to_string(),
                    (None, Some(aws)) => format!("aws:{aws}"),
                    _ => k.to_string(),
                };
                object.insert(key, serde_json::Value::String(v.to_string()));
            }
            out.push((!object.is_empty()).then(|| tags_json(object)));
        } else {
            let name = keys
                .iter()
                .zip(values.iter())
                .find(|(k, _)| *k == Some("product_name"))
                .and_then(|(_, v)| v)
                .filter(|v| !v.is_empty())
                .map(str::to_string);
            out.push(name);
        }
    }
    Ok(Column::new(c.name().clone(), out))
}

#[cfg(test)]
mod tests {
    use vitals_core::config::ComponentKind;

    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn collector(extra: &str) -> AwsCur {
        let cfg = ComponentConfig::from_toml(
            ComponentKind::Collector,
            "cur",
            &format!("type = \"aws_cur\"\npath = \"s3://billing/cur/vitals-cur\"\n{extra}"),
        )
        .unwrap();
        AwsCur::new(&cfg).unwrap()
    }

    #[test]
    fn manifests_are_where_data_exports_put_them() {
        let c = collector("");
        assert_eq!(
            c.manifest_key(d("2024-09-01")),
            "cur/vitals-cur/metadata/BILLING_PERIOD=2024-09/vitals-cur-Manifest.json"
        );
    }

    #[test]
    fn runs_read_the_last_billing_periods_or_the_window() {
        let c = collector("");
        let w = |since: Option<&str>, until: Option<&str>, today: &str| CollectWindow {
            since: since.map(d),
            until: until.map(d),
            today: d(today),
        };
        let (periods, days) = c.plan(w(None, None, "2024-10-05"));
        assert_eq!(periods, [d("2024-09-01"), d("2024-10-01")]);
        assert_eq!(days, DayRange::new(d("2024-09-01"), d("2024-10-05")));
        let (periods, days) = c.plan(w(None, None, "2024-01-15"));
        assert_eq!(periods, [d("2023-12-01"), d("2024-01-01")]);
        assert_eq!(days, DayRange::new(d("2023-12-01"), d("2024-01-15")));
        let (periods, days) = c.plan(w(Some("2024-07-20"), Some("2024-09-02"), "2024-10-05"));
        assert_eq!(periods, [d("2024-07-01"), d("2024-08-01"), d("2024-09-01")]);
        assert_eq!(days, DayRange::new(d("2024-07-20"), d("2024-09-02")));
        let (periods, _) = collector("billing_periods = 1").plan(w(None, None, "2024-10-05"));
        assert_eq!(periods, [d("2024-10-01")]);
    }

    #[test]
    fn config_is_checked() {
        let err = |text: &str| {
            let cfg = ComponentConfig::from_toml(ComponentKind::Collector, "cur", text).unwrap();
            build(&cfg).unwrap_err().to_string()
        };
        assert!(
            err("type = \"aws_cur\"\npath = \"gs://b/x\"")
                .contains("is not an `s3://bucket/prefix/export-name` path")
        );
        assert!(
            err("type = \"aws_cur\"\npath = \"s3://b/x/*\"")
                .contains("names one export: no patterns")
        );
        assert!(err("type = \"aws_cur\"\npath = \"s3://b\"").contains("needs the export's folder"));
        assert!(
            err("type = \"aws_cur\"\npath = \"s3://b/x\"\nbilling_periods = 0")
                .contains("between 1 and 24")
        );
    }

    fn map_series(name: &str, rows: Vec<Option<Vec<(&str, &str)>>>) -> Column {
        let mut lists: Vec<Option<Series>> = Vec::new();
        for r in rows {
            lists.push(r.map(|pairs| {
                let keys = Series::new("key".into(), pairs.iter().map(|p| p.0).collect::<Vec<_>>());
                let values = Series::new(
                    "value".into(),
                    pairs.iter().map(|p| p.1).collect::<Vec<_>>(),
                );
                StructChunked::from_series("entries".into(), keys.len(), [keys, values].iter())
                    .unwrap()
                    .into_series()
            }));
        }
        Series::new(name.into(), lists).into()
    }

    #[test]
    fn map_columns_give_product_names_and_tags() {
        let product = map_series(
            "product",
            vec![
                Some(vec![
                    ("servicecode", "AmazonEC2"),
                    ("product_name", "Amazon Elastic Compute Cloud"),
                ]),
                Some(vec![("servicecode", "AWSSupport")]),
                None,
            ],
        );
        let names = map_column(&product, false).unwrap();
        let names: Vec<Option<&str>> = names.str().unwrap().iter().collect();
        assert_eq!(names, [Some("Amazon Elastic Compute Cloud"), None, None]);
        let tags = map_series(
            "resource_tags",
            vec![
                Some(vec![
                    ("user_environment", "prod"),
                    ("aws_createdBy", "root"),
                    ("user_team", ""),
                ]),
                Some(vec![]),
            ],
        );
        let tags = map_column(&tags, true).unwrap();
        let tags: Vec<Option<&str>> = tags.str().unwrap().iter().collect();
        assert_eq!(
            tags,
            [
                Some(r#"{"aws:createdBy":"root","environment":"prod"}"#),
                None
            ]
        );
    }
}
