//! `table_file`: rows of a canonical dataset (`inventory`, `utilization`,
//! `prices`) from CSV files whose header names the dataset's columns:
//! inventories exported from a CMDB, metrics from a monitoring system
//! vitals has no collector for, negotiated prices, and the bundled sample.
//!
//! Every column but `source` may be given (the collector's name is the
//! source); a nullable column left out is null, a required one left out or
//! a header vitals does not know is an error that names it. Cells: empty is
//! null; times are RFC 3339 (`2024-09-29T06:00:00Z`) or `YYYY-MM-DD
//! HH:MM:SS` in UTC; booleans `true`/`false`. A cell that does not parse
//! makes its row bad (file, line and column reported); more than
//! `max_bad_row_fraction` bad rows fail the file and so the run.

use std::collections::HashMap;
use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime};
use serde::Deserialize;
use vitals_core::Dataset;
use vitals_core::config::{ComponentConfig, ConfigErrors};
use vitals_core::dataset::ColumnType;
use vitals_core::resource_rows::{Cell, CellsBuilder};

use crate::collector::{
    BATCH_ROWS, Batches, CollectReport, CollectWindow, Collected, Collector, Position,
};
use crate::csv_records::CsvRecords;
use crate::error::CollectError;
use crate::files::{self, local_files};
use crate::tally::FileTally;

/// `[collectors.NAME] type = "table_file"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFileConfig {
    /// `inventory`, `utilization` or `prices`.
    dataset: String,
    /// A file, a directory or a glob, relative to the config file; CSV or
    /// gzipped CSV (told by content).
    path: String,
    /// Largest fraction of a file's rows that may be malformed. Default 0.01.
    #[serde(default = "default_max_bad_row_fraction")]
    max_bad_row_fraction: f64,
}

fn default_max_bad_row_fraction() -> f64 {
    0.01
}

const DATASETS: [Dataset; 3] = [Dataset::Inventory, Dataset::Utilization, Dataset::Prices];

#[derive(Debug)]
pub struct TableFile {
    name: String,
    dataset: Dataset,
    pattern: String,
    max_bad_row_fraction: f64,
}

pub fn build(config: &ComponentConfig) -> Result<Box<dyn Collector>, ConfigErrors> {
    let c: TableFileConfig = config.parse()?;
    let Some(dataset) = DATASETS.into_iter().find(|d| d.name() == c.dataset) else {
        return Err(config.error(
            Some("dataset"),
            format!(
                "unknown dataset `{}`; known: {}",
                c.dataset,
                vitals_core::config::backticked(DATASETS.iter().map(|d| d.name()))
            ),
        ));
    };
    if c.path.trim().is_empty() {
        return Err(config.error(Some("path"), "must not be empty"));
    }
    if let Err(e) = glob::Pattern::new(&c.path) {
        return Err(config.error(Some("path"), format!("invalid glob pattern: {e}")));
    }
    if !(0.0..=1.0).contains(&c.max_bad_row_fraction) {
        return Err(config.error(Some("max_bad_row_fraction"), "must be between 0 and 1"));
    }
    Ok(Box::new(TableFile {
        name: config.name.clone(),
        dataset,
        pattern: config
            .resolve_path(Path::new(&c.path))
            .to_string_lossy()
            .into_owned(),
        max_bad_row_fraction: c.max_bad_row_fraction,
    }))
}

#[async_trait]
impl Collector for TableFile {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "table_file"
    }

    fn dataset(&self) -> Dataset {
        self.dataset
    }

    async fn collect(
        &self,
        window: CollectWindow,
        out: &mut Batches,
    ) -> Result<Collected, CollectError> {
        let pattern = self.pattern.clone();
        let (name, dataset, max_bad) = (self.name.clone(), self.dataset, self.max_bad_row_fraction);
        let mut out = out.clone();
        tokio::task::spawn_blocking(move || {
            let mut report = CollectReport::default();
            let mut rows = CellsBuilder::new(dataset);
            for file in local_files(&pattern)? {
                read_file(
                    &file,
                    window,
                    max_bad,
                    &name,
                    &mut rows,
                    &mut out,
                    &mut report,
                )?;
            }
            out.send_blocking(rows.take(&name)?)?;
            report.rows = out.rows();
            Ok(Collected { days: None, report })
        })
        .await
        .map_err(|e| CollectError::Task(e.to_string()))?
    }
}

/// How one header column maps to the dataset's.
struct Mapping {
    /// Per dataset column (in order, `source` left out): its index in the
    /// file's records, and its type.
    columns: Vec<(Option<usize>, ColumnType, &'static str)>,
    time: usize,
}

fn mapping(dataset: Dataset, header: &[String], path: &Path) -> Result<Mapping, CollectError> {
    let bad = |reason: String| CollectError::Frame {
        dataset: dataset.name(),
        message: format!("`{}`: {reason}", path.display()),
    };
    let index: HashMap<&str, usize> = header
        .iter()
        .enumerate()
        .map(|(i, h)| (h.trim(), i))
        .collect();
    let specs: Vec<_> = dataset
        .columns()
        .iter()
        .filter(|c| c.name != "source")
        .collect();
    if let Some(unknown) = header
        .iter()
        .find(|h| !specs.iter().any(|c| c.name == h.trim()))
    {
        return Err(bad(format!(
            "unknown column `{unknown}` for dataset `{dataset}`; its columns: {}",
            vitals_core::config::backticked(specs.iter().map(|c| c.name))
        )));
    }
    let mut columns = Vec::new();
    for spec in &specs {
        let at = index.get(spec.name).copied();
        if at.is_none() && !spec.nullable {
            return Err(bad(format!(
                "the required column `{}` is missing",
                spec.name
            )));
        }
        columns.push((at, spec.ty, spec.name));
    }
    let time = specs
        .iter()
        .position(|c| c.name == dataset.time_column())
        .expect("every dataset has its time column");
    Ok(Mapping { columns, time })
}

/// A time cell: RFC 3339, or `YYYY-MM-DD HH:MM:SS[.f]` / `YYYY-MM-DDTHH:MM:SS` as UTC.
fn parse_time(s: &str) -> Option<NaiveDateTime> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.naive_utc());
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
}

fn cell(ty: ColumnType, raw: Option<&str>) -> Result<Cell, String> {
    let raw = raw.map(str::trim).filter(|s| !s.is_empty());
    Ok(match ty {
        ColumnType::String => Cell::Str(raw.map(str::to_string)),
        ColumnType::Float64 => Cell::F64(
            raw.map(|s| {
                s.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or(format!("`{s}` is not a finite number"))
            })
            .transpose()?,
        ),
        ColumnType::Int64 => Cell::I64(
            raw.map(|s| {
                s.parse::<i64>()
                    .map_err(|_| format!("`{s}` is not an integer"))
            })
            .transpose()?,
        ),
        ColumnType::Datetime => Cell::Time(
            raw.map(|s| {
                parse_time(s).ok_or(format!(
                    "`{s}` is not an RFC 3339 or `YYYY-MM-DD HH:MM:SS` time"
                ))
            })
            .transpose()?,
        ),
        ColumnType::Boolean => Cell::Bool(
            raw.map(|s| match s.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(format!("`{s}` is not `true` or `false`")),
            })
            .transpose()?,
        ),
        ColumnType::ListFloat64 => return Err("list columns are not read from CSV".into()),
    })
}

fn read_file(
    file: &Path,
    window: CollectWindow,
    max_bad_row_fraction: f64,
    source: &str,
    rows: &mut CellsBuilder,
    out: &mut Batches,
    report: &mut CollectReport,
) -> Result<(), CollectError> {
    let dataset = rows.dataset();
    let kind = files::sniff(file, file)?;
    let text = files::open_text(file, file, kind)?;
    let mut records = CsvRecords::new(text, file, |reason| CollectError::Frame {
        dataset: dataset.name(),
        message: format!("`{}`: {reason}", file.display()),
    })?;
    let map = mapping(dataset, records.header(), file)?;
    let mut tally = FileTally::new(file);
    while let Some((line, fields)) = records.next(&mut tally)? {
        tally.rows += 1;
        let mut cells = Vec::with_capacity(map.columns.len());
        let mut failed = None;
        for (at, ty, name) in &map.columns {
            match cell(*ty, at.and_then(|i| fields.get(i).copied())) {
                Ok(c) => cells.push(c),
                Err(message) => {
                    failed = Some((*name, message));
                    break;
                }
            }
        }
        if let Some((name, message)) = failed {
            tally.bad_row(Position::Line(line), Some(name), message);
            continue;
        }
        // A required cell left empty makes its row bad, not the batch.
        let missing = map
            .columns
            .iter()
            .zip(&cells)
            .find(|((_, _, name), c)| {
                !nullable(dataset, name)
                    && matches!(
                        c,
                        Cell::Str(None)
                            | Cell::F64(None)
                            | Cell::I64(None)
                            | Cell::Time(None)
                            | Cell::Bool(None)
                    )
            })
            .map(|((_, _, name), _)| *name);
        if let Some(name) = missing {
            tally.bad_row(Position::Line(line), Some(name), "is required".to_string());
            continue;
        }
        if let Some(Cell::Time(Some(t))) = cells.get(map.time)
            && !window.contains(t.date())
        {
            continue;
        }
        rows.push(cells).map_err(|message| CollectError::Frame {
            dataset: dataset.name(),
            message,
        })?;
        if rows.len() >= BATCH_ROWS {
            out.send_blocking(rows.take(source)?)?;
        }
    }
    tally.finish(None, max_bad_row_fraction, report)
}

fn nullable(dataset: Dataset, column: &str) -> bool {
    dataset
        .columns()
        .iter()
        .find(|c| c.name == column)
        .is_none_or(|c| c.nullable)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use vitals_core::config::ComponentKind;

    use super::*;
    use crate::collector::collect_in_memory;

    fn collector(dir: &Path, dataset: &str) -> Box<dyn Collector> {
        let cfg = ComponentConfig::from_toml(
            ComponentKind::Collector,
            "t",
            &format!(
                "type = \"table_file\"\ndataset = \"{dataset}\"\npath = \"{}\"\nmax_bad_row_fraction = 0.5",
                dir.join("*.csv").display()
            ),
        )
        .unwrap();
        build(&cfg).unwrap()
    }

    fn window() -> CollectWindow {
        CollectWindow {
            since: None,
            until: None,
            today: NaiveDate::from_ymd_opt(2024, 10, 1).unwrap(),
        }
    }

    #[tokio::test]
    async fn rows_are_read_and_bad_ones_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("u.csv"),
            "ts,resource_id,metric,avg,max,samples\n\
             2024-09-29T13:00:00Z,i-1,cpu_utilization,3.5,9,12\n\
             2024-09-29 14:00:00,i-1,cpu_utilization,,,0\n\
             2024-09-29 15:00:00,i-1,cpu_utilization,lots,9,12\n",
        )
        .unwrap();
        let (df, days, report) =
            collect_in_memory(collector(dir.path(), "utilization").as_ref(), window())
                .await
                .unwrap();
        assert_eq!(df.height(), 2);
        assert_eq!(days.len(), 1);
        assert_eq!(report.bad_rows, 1);
        let bad = report.bad_row_samples[0].to_string();
        assert!(
            bad.ends_with("u.csv:4: `avg`: `lots` is not a finite number"),
            "{bad}"
        );
        assert_eq!(df.column("avg").unwrap().f64().unwrap().get(0), Some(3.5));
        assert_eq!(df.column("avg").unwrap().null_count(), 1);
        assert_eq!(
            df.column("source").unwrap().str().unwrap().get(0),
            Some("t")
        );
    }

    #[tokio::test]
    async fn unknown_and_missing_columns_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.csv"), "ts,region,price\n").unwrap();
        let err = collect_in_memory(collector(dir.path(), "prices").as_ref(), window())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown column `region` for dataset `prices`"),
            "{err}"
        );
        std::fs::write(dir.path().join("p.csv"), "ts,provider\n").unwrap();
        let err = collect_in_memory(collector(dir.path(), "prices").as_ref(), window())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the required column `region_id` is missing"),
            "{err}"
        );
        let cfg = ComponentConfig::from_toml(
            ComponentKind::Collector,
            "t",
            "type = \"table_file\"\ndataset = \"cost\"\npath = \"x\"",
        )
        .unwrap();
        let err = build(&cfg).unwrap_err().to_string();
        assert!(err.contains("unknown dataset `cost`"), "{err}");
    }
}
