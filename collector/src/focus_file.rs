//! `focus_file`: FOCUS 1.0–1.2 billing exports from files, local or in
//! object storage (`s3://bucket/key`, `gs://bucket/key`).
//!
//! Any provider's FOCUS export (AWS, Azure, GCP, OCI), as CSV, gzipped CSV or
//! Parquet; the format is told by the file's first bytes, not its name. The
//! run replaces exactly the days present in the files (inside the window).
//! Objects are fetched one at a time into a temporary file, read, and removed.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::Deserialize;
use vitals_core::Dataset;
use vitals_core::config::{ComponentConfig, ConfigErrors};

use crate::aws::{self, AwsSettings};
use crate::collector::{Batches, CollectReport, CollectWindow, Collected, Collector};
use crate::cost_rows::CostBatches;
use crate::error::CollectError;
use crate::files::{self, FileKind, local_files};
use crate::focus::{self, FocusOptions};
use crate::gcp::GcpCredentials;
use crate::gcs::Gcs;
use crate::remote::{Remote, RemotePath, Scheme};
use crate::s3::S3;

/// `[collectors.NAME] type = "focus_file"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FocusFileConfig {
    /// A file, a directory (every file directly in it, hidden files aside) or a
    /// glob such as `exports/**/*.csv.gz`. Relative to the config file; or
    /// `s3://bucket/key` or `gs://bucket/key` with the same rules.
    pub path: String,
    /// Largest fraction of a file's rows that may be malformed; above it the
    /// file, and so the run, fails. Default `0.01` (1 %).
    #[serde(default = "default_max_bad_row_fraction")]
    pub max_bad_row_fraction: f64,
    /// Object-store endpoint override (tests, MinIO, private endpoints).
    pub endpoint_url: Option<String>,
    /// Attempts per object-store request, the first included. Default 5.
    #[serde(default = "aws::default_max_attempts")]
    pub max_attempts: u32,
    /// `s3://` only: the bucket's region. Default `us-east-1`.
    pub region: Option<String>,
    /// `s3://` only: a named AWS profile instead of the standard chain.
    pub profile: Option<String>,
    /// `s3://` only: a role to assume before reading.
    pub role_arn: Option<String>,
    /// `gs://` only: a JSON key file instead of application default credentials.
    pub credentials_file: Option<String>,
    /// `gs://` only: send no credentials (emulators, public buckets).
    #[serde(default)]
    pub anonymous: bool,
}

fn default_max_bad_row_fraction() -> f64 {
    0.01
}

/// Where the files are.
#[derive(Debug, Clone)]
enum Location {
    /// `path` resolved against the config file's directory.
    Local(String),
    S3(RemotePath, AwsSettings),
    Gcs(RemotePath, GcpCredentials, Option<String>),
}

#[derive(Debug)]
pub struct FocusFile {
    name: String,
    location: Location,
    max_bad_row_fraction: f64,
    max_attempts: u32,
}

/// Builds a `focus_file` collector from its config table (no I/O).
pub fn build(config: &ComponentConfig) -> Result<Box<dyn Collector>, ConfigErrors> {
    let c: FocusFileConfig = config.parse()?;
    if c.path.trim().is_empty() {
        return Err(config.error(Some("path"), "must not be empty"));
    }
    if !(0.0..=1.0).contains(&c.max_bad_row_fraction) {
        return Err(config.error(Some("max_bad_row_fraction"), "must be between 0 and 1"));
    }
    let remote = RemotePath::parse(&c.path).map_err(|e| config.error(Some("path"), e))?;
    let pattern = remote.as_ref().map_or(c.path.as_str(), |r| r.key.as_str());
    if let Err(e) = glob::Pattern::new(pattern) {
        return Err(config.error(Some("path"), format!("invalid glob pattern: {e}")));
    }
    let scheme = remote.as_ref().map(|r| r.scheme);
    let only = |key: &str, set: bool, wanted: Scheme| {
        if set && scheme != Some(wanted) {
            Err(config.error(
                Some(key),
                format!("applies to `{}` paths only", wanted.prefix()),
            ))
        } else {
            Ok(())
        }
    };
    only("region", c.region.is_some(), Scheme::S3)?;
    only("profile", c.profile.is_some(), Scheme::S3)?;
    only("role_arn", c.role_arn.is_some(), Scheme::S3)?;
    only(
        "credentials_file",
        c.credentials_file.is_some(),
        Scheme::Gcs,
    )?;
    only("anonymous", c.anonymous, Scheme::Gcs)?;
    if c.endpoint_url.is_some() && remote.is_none() {
        return Err(config.error(
            Some("endpoint_url"),
            "applies to `s3://` and `gs://` paths only",
        ));
    }
    aws::check(config, c.endpoint_url.as_deref(), c.max_attempts)?;
    let location = match remote {
        None => Location::Local(
            config
                .resolve_path(Path::new(&c.path))
                .to_string_lossy()
                .into_owned(),
        ),
        Some(r) if r.scheme == Scheme::S3 => Location::S3(
            r,
            AwsSettings {
                region: c.region.clone().unwrap_or_else(aws::default_region),
                profile: c.profile.clone(),
                role_arn: c.role_arn.clone(),
                endpoint_url: c.endpoint_url.clone(),
                max_attempts: c.max_attempts,
                session_name: format!("vitals-{}", config.name),
            },
        ),
        Some(r) => Location::Gcs(
            r,
            GcpCredentials::from_config(config, c.credentials_file.as_deref(), c.anonymous)?,
            c.endpoint_url.clone(),
        ),
    };
    Ok(Box::new(FocusFile {
        name: config.name.clone(),
        location,
        max_bad_row_fraction: c.max_bad_row_fraction,
        max_attempts: c.max_attempts,
    }))
}

/// What a run carries from file to file: its batches and its report.
struct Reading {
    opts: FocusOptions,
    out: CostBatches,
    report: CollectReport,
}

impl Reading {
    fn new(name: &str, max_bad_row_fraction: f64, window: CollectWindow, out: &Batches) -> Self {
        Reading {
            opts: FocusOptions {
                max_bad_row_fraction,
                window,
            },
            out: CostBatches::new(name, out.clone()),
            report: CollectReport::default(),
        }
    }

    /// Reads one file on the blocking pool; `label` names it in messages.
    async fn read(mut self, file: PathBuf, label: PathBuf) -> Result<Self, CollectError> {
        tokio::task::spawn_blocking(move || {
            read_file(&file, &label, &self.opts, &mut self.out, &mut self.report)?;
            Ok(self)
        })
        .await
        .map_err(|e| CollectError::Task(e.to_string()))?
    }

    async fn finish(self, out: &Batches) -> Result<Collected, CollectError> {
        let mut report = self.report;
        let mut batches = self.out;
        tokio::task::spawn_blocking(move || batches.flush_blocking())
            .await
            .map_err(|e| CollectError::Task(e.to_string()))??;
        report.rows = out.rows();
        Ok(Collected { days: None, report })
    }
}

/// Reads one FOCUS file: CSV, gzipped CSV or Parquet, told by its content.
/// `file` is opened; `label` (the path or URL people know) is what messages
/// name.
pub(crate) fn read_file(
    file: &Path,
    label: &Path,
    opts: &FocusOptions,
    out: &mut CostBatches,
    report: &mut CollectReport,
) -> Result<(), CollectError> {
    match files::sniff(file, label)? {
        FileKind::Parquet => focus::read_parquet(file, label, opts, out, report),
        kind => focus::read_csv(
            files::open_text(file, label, kind)?,
            label,
            opts,
            out,
            report,
        ),
    }
}

#[async_trait]
impl Collector for FocusFile {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "focus_file"
    }

    fn dataset(&self) -> Dataset {
        Dataset::Cost
    }

    async fn collect(
        &self,
        window: CollectWindow,
        out: &mut Batches,
    ) -> Result<Collected, CollectError> {
        let mut reading = Reading::new(&self.name, self.max_bad_row_fraction, window, out);
        let (remote, path) = match &self.location {
            Location::Local(pattern) => {
                let pattern = pattern.clone();
                let files = tokio::task::spawn_blocking(move || local_files(&pattern))
                    .await
                    .map_err(|e| CollectError::Task(e.to_string()))??;
                for file in files {
                    reading = reading.read(file.clone(), file).await?;
                }
                return reading.finish(out).await;
            }
            Location::S3(path, settings) => (Remote::S3(S3::connect(settings).await), path),
            Location::Gcs(path, credentials, endpoint) => {
                let credentials = credentials.build("Cloud Storage")?;
                let gcs = Gcs::new(endpoint.as_deref(), credentials, self.max_attempts)?;
                (Remote::Gcs(gcs), path)
            }
        };
        for object in remote.resolve(path).await? {
            let fetched = remote.fetch(&object).await?;
            reading = reading
                .read(fetched.path().to_path_buf(), object.to_string().into())
                .await?;
        }
        reading.finish(out).await
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use chrono::NaiveDate;
    use vitals_core::config::ComponentKind;

    use super::*;

    const HEADER: &str = "BilledCost,BillingCurrency,ChargeCategory,ChargePeriodEnd,ChargePeriodStart,EffectiveCost,ProviderName,ServiceName,Tags";

    fn collector(dir: &Path, extra: &str) -> Box<dyn Collector> {
        let toml = format!(
            "type = \"focus_file\"\npath = \"{}\"\n{extra}",
            dir.display()
        );
        build(&ComponentConfig::from_toml(ComponentKind::Collector, "files", &toml).unwrap())
            .unwrap()
    }

    fn window() -> CollectWindow {
        CollectWindow {
            since: None,
            until: None,
            today: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
        }
    }

    /// A run's rows in memory, the days they cover and the report.
    #[derive(Debug)]
    struct Run {
        frame: polars::prelude::DataFrame,
        days: std::collections::BTreeSet<NaiveDate>,
        report: CollectReport,
    }

    async fn run(c: Box<dyn Collector>, w: CollectWindow) -> Result<Run, CollectError> {
        let (frame, days, report) = crate::collector::collect_in_memory(c.as_ref(), w).await?;
        Ok(Run {
            frame,
            days,
            report,
        })
    }

    fn billed(c: &Run) -> f64 {
        let billed = c.frame.column("billed_cost").unwrap().f64().unwrap();
        billed.iter().flatten().sum()
    }

    #[tokio::test]
    async fn reads_plain_and_gzipped_csv_from_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.csv"),
            format!("{HEADER}\n1.5,USD,Usage,2024-09-02 01:00:00,2024-09-02 00:00:00,1.0,AWS,Amazon EC2,NULL\n"),
        )
        .unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        write!(gz, "{HEADER}\n2.25,USD,Usage,2024-09-03T01:00:00Z,2024-09-03T00:00:00Z,2,Microsoft,Azure VMs,\"{{\"\"env\"\": \"\"prod\"\"}}\"\n").unwrap();
        std::fs::write(dir.path().join("b.data"), gz.finish().unwrap()).unwrap();
        std::fs::write(dir.path().join(".hidden"), "junk").unwrap();

        let c = run(collector(dir.path(), ""), window()).await.unwrap();
        assert_eq!(c.report.files, 2);
        assert_eq!(c.frame.height(), 2);
        assert_eq!(billed(&c), 3.75);
        let days: Vec<String> = c.days.iter().map(|d| d.to_string()).collect();
        assert_eq!(days, ["2024-09-02", "2024-09-03"]);
        let tags = c
            .frame
            .column("tags")
            .unwrap()
            .str()
            .unwrap()
            .get(1)
            .map(str::to_string);
        assert_eq!(tags.as_deref(), Some(r#"{"env":"prod"}"#));
    }

    #[tokio::test]
    async fn reads_parquet_with_decimals_zoned_timestamps_and_nulls() {
        use polars::prelude::*;
        let dir = tempfile::tempdir().unwrap();
        let ts = |name: &str, v: Vec<i64>, unit: TimeUnit, tz: Option<TimeZone>| {
            Column::new(name.into(), v)
                .cast(&DataType::Datetime(unit, tz))
                .unwrap()
        };
        let hour_ms = 3_600_000;
        let start_ms = 1_725_235_200_000; // 2024-09-02T00:00:00Z
        let mut df = DataFrame::new(
            2,
            vec![
                Column::new("BilledCost".into(), ["0.00000080000", "12.34567890123"])
                    .cast(&DataType::Decimal(38, 11))
                    .unwrap(),
                Column::new("EffectiveCost".into(), [0.5, 1.0]),
                Column::new("BillingCurrency".into(), ["USD", "USD"]),
                Column::new("ChargeCategory".into(), ["Usage", "Usage"]),
                ts(
                    "ChargePeriodStart",
                    vec![start_ms, start_ms + 24 * hour_ms],
                    TimeUnit::Milliseconds,
                    Some(TimeZone::UTC),
                ),
                ts(
                    "ChargePeriodEnd",
                    vec![start_ms + hour_ms, start_ms + 25 * hour_ms],
                    TimeUnit::Milliseconds,
                    Some(TimeZone::UTC),
                ),
                Column::new("ProviderName".into(), ["Google Cloud", "Google Cloud"]),
                Column::new("ServiceName".into(), [Some("BigQuery"), None]),
                Column::new("x_Extra".into(), [1, 2]),
            ],
        )
        .unwrap();
        let file = std::fs::File::create(dir.path().join("export.parquet")).unwrap();
        ParquetWriter::new(file).finish(&mut df).unwrap();

        let c = run(collector(dir.path(), ""), window()).await.unwrap();
        assert_eq!(c.frame.height(), 2);
        let billed: Vec<f64> = c
            .frame
            .column("billed_cost")
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .flatten()
            .collect();
        assert_eq!(billed, [8e-7, 12.34567890123]);
        let days: Vec<String> = c.days.iter().map(|d| d.to_string()).collect();
        assert_eq!(days, ["2024-09-02", "2024-09-03"]);
        let services: Vec<Option<&str>> = c
            .frame
            .column("service_name")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(services, [Some("BigQuery"), None]);
        assert!(
            c.report.warnings.iter().any(|w| w.contains("`x_Extra`")),
            "{:?}",
            c.report.warnings
        );
    }

    /// The same rows as CSV (read cell by cell) and as typed Parquet (read a
    /// batch at a time in one plan) give the same frame; a bad row in the
    /// Parquet file sends its batch cell by cell, which names the row.
    #[tokio::test]
    async fn typed_parquet_batches_equal_the_cell_by_cell_reading() {
        use polars::prelude::*;
        let dir = tempfile::tempdir().unwrap();
        let n = 1000usize;
        let start_us: Vec<i64> = (0..n)
            .map(|i| 1_725_235_200_000_000 + (i as i64 % 48) * 3_600_000_000)
            .collect();
        let end_us: Vec<i64> = start_us.iter().map(|s| s + 3_600_000_000).collect();
        let billed: Vec<f64> = (0..n).map(|i| (i as f64) * 0.0123456789).collect();
        let tags: Vec<Option<&str>> = (0..n)
            .map(|i| match i % 3 {
                0 => Some(r#"{"team":"a","env":"prod"}"#),
                1 => Some("NULL"),
                _ => None,
            })
            .collect();
        let service: Vec<Option<&str>> = (0..n)
            .map(|i| if i % 7 == 0 { None } else { Some("EC2") })
            .collect();
        let mut df = DataFrame::new(
            n,
            vec![
                Column::new("BilledCost".into(), billed.clone()),
                Column::new("EffectiveCost".into(), billed.clone()),
                Column::new("BillingCurrency".into(), vec!["USD"; n]),
                Column::new("ChargeCategory".into(), vec!["Usage"; n]),
                Column::new("ChargePeriodStart".into(), start_us.clone())
                    .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
                    .unwrap(),
                Column::new("ChargePeriodEnd".into(), end_us.clone())
                    .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
                    .unwrap(),
                Column::new("ProviderName".into(), vec!["AWS"; n]),
                Column::new("ServiceName".into(), service.clone()),
                Column::new("Tags".into(), tags.clone()),
            ],
        )
        .unwrap();
        let parquet = dir.path().join("p");
        std::fs::create_dir(&parquet).unwrap();
        let file = std::fs::File::create(parquet.join("a.parquet")).unwrap();
        ParquetWriter::new(file).finish(&mut df).unwrap();
        let csv = dir.path().join("c");
        std::fs::create_dir(&csv).unwrap();
        let mut text = format!("{HEADER}\n");
        for i in 0..n {
            let t = |us: i64| {
                chrono::DateTime::from_timestamp_micros(us)
                    .unwrap()
                    .format("%Y-%m-%dT%H:%M:%SZ")
                    .to_string()
            };
            let tag = match tags[i] {
                Some(t) => format!("\"{}\"", t.replace('"', "\"\"")),
                None => String::new(),
            };
            text.push_str(&format!(
                "{:?},USD,Usage,{},{},{:?},AWS,{},{tag}\n",
                billed[i],
                t(end_us[i]),
                t(start_us[i]),
                billed[i],
                service[i].unwrap_or("")
            ));
        }
        std::fs::write(csv.join("a.csv"), text).unwrap();

        let sorted = |r: Run| {
            r.frame
                .sort(
                    ["charge_period_start", "billed_cost"],
                    SortMultipleOptions::default(),
                )
                .unwrap()
        };
        let from_parquet = sorted(run(collector(&parquet, ""), window()).await.unwrap());
        let from_csv = sorted(run(collector(&csv, ""), window()).await.unwrap());
        assert_eq!(from_parquet.height(), n);
        assert!(
            from_parquet.equals_missing(&from_csv),
            "{from_parquet}\n{from_csv}"
        );
        let tags = from_parquet.column("tags").unwrap().str().unwrap().clone();
        assert_eq!(tags.null_count(), n - n.div_ceil(3));
        assert_eq!(
            tags.iter().flatten().next(),
            Some(r#"{"env":"prod","team":"a"}"#)
        );

        // Row 3 loses its amount: that batch is read cell by cell.
        let mut billed = billed.iter().copied().map(Some).collect::<Vec<_>>();
        billed[2] = None;
        df.replace("BilledCost", Column::new("BilledCost".into(), billed))
            .unwrap();
        let file = std::fs::File::create(parquet.join("a.parquet")).unwrap();
        ParquetWriter::new(file).finish(&mut df).unwrap();
        let r = run(collector(&parquet, "max_bad_row_fraction = 0.01"), window())
            .await
            .unwrap();
        assert_eq!(r.frame.height(), n - 1);
        assert_eq!(r.report.bad_rows, 1);
        let bad = r.report.bad_row_samples[0].to_string();
        assert!(
            bad.ends_with("a.parquet row 3: `BilledCost`: a value is required"),
            "{bad}"
        );
    }

    #[tokio::test]
    async fn bad_rows_are_reported_with_their_line_and_the_rest_loads() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = format!("{HEADER}\n");
        for i in 0..400 {
            text.push_str(&format!(
                "1,USD,Usage,2024-09-02 01:00:00,2024-09-02 00:00:00,1,AWS,S{i},\n"
            ));
        }
        text.push_str("abc,USD,Usage,2024-09-02 01:00:00,2024-09-02 00:00:00,1,AWS,S,\n"); // line 402
        text.push_str("1,USD,Usage,2024-09-02 01:00:00\n"); // line 403: short
        text.push_str("1,USD,Usage,2024-09-01 01:00:00,2024-09-02 00:00:00,1,AWS,S,\n"); // 404: end < start
        std::fs::write(dir.path().join("a.csv"), text).unwrap();

        let c = run(collector(dir.path(), ""), window()).await.unwrap();
        assert_eq!(c.frame.height(), 400);
        assert_eq!(c.report.bad_rows, 3);
        let msgs: Vec<String> = c
            .report
            .bad_row_samples
            .iter()
            .map(|b| b.to_string())
            .collect();
        let file = dir.path().join("a.csv").display().to_string();
        assert_eq!(
            msgs[0],
            format!("{file}:402: `BilledCost`: invalid number `abc`")
        );
        assert_eq!(msgs[1], format!("{file}:403: expected 9 fields, found 4"));
        assert!(
            msgs[2].starts_with(&format!(
                "{file}:404: `ChargePeriodEnd`: ends (2024-09-01 01:00:00) before it starts"
            )),
            "{}",
            msgs[2]
        );
    }

    #[tokio::test]
    async fn too_many_bad_rows_fail_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "{HEADER}\n1,USD,Usage,2024-09-02 01:00:00,2024-09-02 00:00:00,1,AWS,S,\nx,USD,Usage,2024-09-02 01:00:00,2024-09-02 00:00:00,1,AWS,S,\n"
        );
        std::fs::write(dir.path().join("a.csv"), text).unwrap();
        let err = run(collector(dir.path(), ""), window()).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("1 of 2 rows are bad, more than `max_bad_row_fraction` = 0.01 allows"),
            "{err}"
        );
        // A looser limit lets the good row through.
        let c = run(
            collector(dir.path(), "max_bad_row_fraction = 0.5"),
            window(),
        )
        .await
        .unwrap();
        assert_eq!(c.frame.height(), 1);
    }

    #[tokio::test]
    async fn a_file_that_is_not_focus_fails_the_run() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.csv"),
            format!("{HEADER}\n1,USD,Usage,2024-09-02 01:00:00,2024-09-02 00:00:00,1,AWS,S,\n"),
        )
        .unwrap();
        std::fs::write(dir.path().join("b.csv"), "date,amount\n2024-09-01,3\n").unwrap();
        let err = run(collector(dir.path(), ""), window()).await.unwrap_err();
        assert!(matches!(err, CollectError::NotFocus { .. }));
        assert!(
            err.to_string()
                .contains("b.csv` is not a FOCUS export: none of its 2 columns is a FOCUS column"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_empty_directory_and_a_glob_without_matches_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = run(collector(dir.path(), ""), window()).await.unwrap_err();
        assert!(
            err.to_string().ends_with("(the directory is empty)"),
            "{err}"
        );
        let err = run(collector(&dir.path().join("*.csv"), ""), window())
            .await
            .unwrap_err();
        assert!(err.to_string().starts_with("no files match"), "{err}");
        std::fs::write(dir.path().join("empty.csv"), "").unwrap();
        let err = run(collector(&dir.path().join("empty.csv"), ""), window())
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("is not a FOCUS export: the file is empty"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn the_window_keeps_only_its_days() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "{HEADER}\n1,USD,Usage,2024-09-02 01:00:00,2024-09-02 00:00:00,1,AWS,S,\n2,USD,Usage,2024-09-03 01:00:00,2024-09-03 00:00:00,1,AWS,S,\n"
        );
        std::fs::write(dir.path().join("a.csv"), text).unwrap();
        let mut w = window();
        w.since = NaiveDate::from_ymd_opt(2024, 9, 3);
        let c = run(collector(dir.path(), ""), w).await.unwrap();
        assert_eq!(billed(&c), 2.0);
        assert_eq!(c.days.len(), 1);
    }

    #[test]
    fn config_errors_name_the_key() {
        let cfg = ComponentConfig::from_toml(
            ComponentKind::Collector,
            "files",
            "type = \"focus_file\"\npath = \"x\"\nmax_bad_row_fraction = 2.0\n",
        )
        .unwrap();
        let err = build(&cfg).unwrap_err().to_string();
        assert!(
            err.contains("`collectors.files.max_bad_row_fraction`: must be between 0 and 1"),
            "{err}"
        );
    }
}
