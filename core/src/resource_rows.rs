//! Building canonical inventory, utilization and price frames row by row:
//! the cloud inventory, metrics and pricing collectors do, and so do the
//! file collector and tests.
//!
//! Each row type lists its cells in its dataset's column order
//! ([`CanonicalRow::cells`]); one [`RowsBuilder`] keeps them column-wise and
//! hands over a frame checked by [`Dataset::conform`].

use std::marker::PhantomData;

use chrono::NaiveDateTime;
use polars::prelude::*;

use crate::Dataset;
use crate::dataset::ColumnType;
use crate::error::Error;

/// One cell of a canonical row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Str(Option<String>),
    F64(Option<f64>),
    I64(Option<i64>),
    /// UTC.
    Time(Option<NaiveDateTime>),
    Bool(Option<bool>),
}

/// A row of one canonical dataset.
pub trait CanonicalRow {
    const DATASET: Dataset;
    /// The cells in the dataset's column order, `source` left out (the
    /// builder sets it).
    fn cells(self) -> Vec<Cell>;
}

/// One resource in one inventory snapshot (`ts`): an instance, volume,
/// address, load balancer or bucket.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InventoryRow {
    pub ts: NaiveDateTime,
    /// `AWS`, `Google Cloud`, as in the cost dataset's `provider`.
    pub provider: String,
    pub account_id: Option<String>,
    pub region_id: Option<String>,
    pub resource_id: String,
    /// `instance`, `volume`, `address`, `load_balancer`, `bucket`.
    pub resource_type: String,
    pub instance_type: Option<String>,
    /// The provider's state in lower case (`running`, `stopped`,
    /// `available`, `in-use`, `associated`, `active`).
    pub state: Option<String>,
    /// The resource this one is attached to (a volume's instance, an
    /// address's instance or network interface).
    pub attached_to: Option<String>,
    /// `on_demand`, `spot`, `reserved`.
    pub lifecycle: Option<String>,
    /// Auto Scaling group or managed instance group.
    pub group: Option<String>,
    /// Launch or creation time.
    pub launched_at: Option<NaiveDateTime>,
    /// A JSON object, keys sorted ([`crate::cost_rows::tags_json`]).
    pub tags: Option<String>,
    pub platform: Option<String>,
    pub tenancy: Option<String>,
    pub volume_type: Option<String>,
    pub size_gib: Option<f64>,
    pub iops: Option<f64>,
    pub boot: Option<bool>,
    /// A JSON object with the rest (an instance's availability zone, a load
    /// balancer's target groups and their health).
    pub attributes: Option<String>,
}

impl CanonicalRow for InventoryRow {
    const DATASET: Dataset = Dataset::Inventory;

    fn cells(self) -> Vec<Cell> {
        use Cell::*;
        vec![
            Time(Some(self.ts)),
            Str(Some(self.provider)),
            Str(self.account_id),
            Str(self.region_id),
            Str(Some(self.resource_id)),
            Str(Some(self.resource_type)),
            Str(self.instance_type),
            Str(self.state),
            Str(self.attached_to),
            Str(self.lifecycle),
            Str(self.group),
            Time(self.launched_at),
            Str(self.tags),
            Str(self.platform),
            Str(self.tenancy),
            Str(self.volume_type),
            F64(self.size_gib),
            F64(self.iops),
            Bool(self.boot),
            Str(self.attributes),
        ]
    }
}

/// One hour of one metric of one resource.
///
/// Metrics and their units (every collector maps to these):
///
/// | metric | unit | `avg` | `max` |
/// |---|---|---|---|
/// | `cpu_utilization` | percent of the instance's vCPUs | the hour's mean | the hour's highest sample |
/// | `memory_utilization` | percent of its memory | mean | highest sample |
/// | `network_in_bytes`, `network_out_bytes` | bytes per second | the hour's total / 3600 | the highest per-second rate the source gives, else null |
/// | `volume_read_ops`, `volume_write_ops` | operations per second | total / 3600 | as above |
/// | `request_count` | requests per second (load balancers) | total / 3600 | as above |
///
/// Counters are rates so that hours of any coverage compare, and both
/// AWS's "5 MB a day" and GCP's "2000 B/s" rules read them directly. An
/// hour without datapoints has no row: no data is never zero use.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UtilizationRow {
    /// Start of the hour, UTC.
    pub ts: NaiveDateTime,
    pub resource_id: String,
    pub metric: String,
    pub avg: Option<f64>,
    pub max: Option<f64>,
    /// Datapoints the hour's figures rest on.
    pub samples: i64,
}

impl CanonicalRow for UtilizationRow {
    const DATASET: Dataset = Dataset::Utilization;

    fn cells(self) -> Vec<Cell> {
        use Cell::*;
        vec![
            Time(Some(self.ts)),
            Str(Some(self.resource_id)),
            Str(Some(self.metric)),
            F64(self.avg),
            F64(self.max),
            I64(Some(self.samples)),
        ]
    }
}

/// One hourly price of one instance type and purchase option, as read at `ts`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceRow {
    pub ts: NaiveDateTime,
    pub provider: String,
    pub region_id: String,
    pub availability_zone: Option<String>,
    pub instance_type: String,
    /// `on_demand`, `spot`, or a commitment term.
    pub purchase_option: String,
    /// `linux`, `windows`, ...
    pub operating_system: String,
    pub price_per_hour: f64,
    pub currency: String,
    /// The API or file the price came from.
    pub price_source: String,
}

impl CanonicalRow for PriceRow {
    const DATASET: Dataset = Dataset::Prices;

    fn cells(self) -> Vec<Cell> {
        use Cell::*;
        vec![
            Time(Some(self.ts)),
            Str(Some(self.provider)),
            Str(Some(self.region_id)),
            Str(self.availability_zone),
            Str(Some(self.instance_type)),
            Str(Some(self.purchase_option)),
            Str(Some(self.operating_system)),
            F64(Some(self.price_per_hour)),
            Str(Some(self.currency)),
            Str(Some(self.price_source)),
        ]
    }
}

/// Column-wise buffers of one column.
#[derive(Debug)]
enum Buffer {
    Str(Vec<Option<String>>),
    F64(Vec<Option<f64>>),
    I64(Vec<Option<i64>>),
    Time(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
    /// A list column: not built from cells.
    Unsupported,
}

/// Column-wise buffers for rows of one dataset given as cells (the file
/// collector, which learns the dataset from its config, uses it directly).
#[derive(Debug)]
pub struct CellsBuilder {
    dataset: Dataset,
    columns: Vec<(&'static str, Buffer)>,
    rows: usize,
}

impl CellsBuilder {
    /// A builder for `dataset`, which must have no list columns (latency
    /// has its own builder).
    pub fn new(dataset: Dataset) -> Self {
        let columns = dataset
            .columns()
            .iter()
            .filter(|c| c.name != "source")
            .map(|c| {
                let buffer = match c.ty {
                    ColumnType::String => Buffer::Str(Vec::new()),
                    ColumnType::Float64 => Buffer::F64(Vec::new()),
                    ColumnType::Int64 => Buffer::I64(Vec::new()),
                    ColumnType::Datetime => Buffer::Time(Vec::new()),
                    ColumnType::Boolean => Buffer::Bool(Vec::new()),
                    ColumnType::ListFloat64 => Buffer::Unsupported,
                };
                (c.name, buffer)
            })
            .collect();
        CellsBuilder {
            dataset,
            columns,
            rows: 0,
        }
    }

    pub fn dataset(&self) -> Dataset {
        self.dataset
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one row: its cells in the dataset's column order, `source`
    /// left out. A cell of the wrong kind is an error naming the column,
    /// and nothing of the row is kept.
    pub fn push(&mut self, cells: Vec<Cell>) -> Result<(), String> {
        if cells.len() != self.columns.len() {
            return Err(format!(
                "{} cells for the {} columns of `{}`",
                cells.len(),
                self.columns.len(),
                self.dataset
            ));
        }
        for ((name, buffer), cell) in self.columns.iter().zip(&cells) {
            let fits = matches!(
                (buffer, cell),
                (Buffer::Str(_), Cell::Str(_))
                    | (Buffer::F64(_), Cell::F64(_))
                    | (Buffer::I64(_), Cell::I64(_))
                    | (Buffer::Time(_), Cell::Time(_))
                    | (Buffer::Bool(_), Cell::Bool(_))
            );
            if !fits {
                return Err(format!("column `{name}` cannot take {cell:?}"));
            }
        }
        for ((_, buffer), cell) in self.columns.iter_mut().zip(cells) {
            match (buffer, cell) {
                (Buffer::Str(b), Cell::Str(v)) => b.push(v),
                (Buffer::F64(b), Cell::F64(v)) => b.push(v),
                (Buffer::I64(b), Cell::I64(v)) => b.push(v),
                (Buffer::Time(b), Cell::Time(v)) => {
                    b.push(v.map(|t| t.and_utc().timestamp_micros()))
                }
                (Buffer::Bool(b), Cell::Bool(v)) => b.push(v),
                _ => {}
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// The canonical frame with `source` on every row, checked against the
    /// schema; the builder is left empty for the next batch.
    pub fn take(&mut self, source: &str) -> Result<DataFrame, Error> {
        let empty = CellsBuilder::new(self.dataset);
        std::mem::replace(self, empty).finish(source)
    }

    /// The canonical frame with `source` on every row, checked against the
    /// schema.
    pub fn finish(self, source: &str) -> Result<DataFrame, Error> {
        let dataset = self.dataset;
        let frame_error =
            |e: PolarsError| Error::polars(format!("building the {} frame", dataset.name()), e);
        let n = self.rows;
        let mut columns = Vec::with_capacity(self.columns.len() + 1);
        for (name, buffer) in self.columns {
            let name = PlSmallStr::from_static(name);
            columns.push(match buffer {
                Buffer::Str(v) => Column::new(name, v),
                Buffer::F64(v) => Column::new(name, v),
                Buffer::I64(v) => Column::new(name, v),
                Buffer::Bool(v) => Column::new(name, v),
                Buffer::Time(v) => Column::new(name, v)
                    .cast(&ColumnType::Datetime.dtype())
                    .map_err(frame_error)?,
                Buffer::Unsupported => {
                    return Err(Error::polars(
                        format!("building the {} frame", dataset.name()),
                        PolarsError::ComputeError(
                            format!("list column `{name}` is not built from cells").into(),
                        ),
                    ));
                }
            });
        }
        columns.push(Column::new("source".into(), vec![source; n]));
        let df = DataFrame::new(n, columns).map_err(frame_error)?;
        dataset.conform(df)
    }
}

/// Column-wise buffers for rows of `R`'s dataset.
#[derive(Debug)]
pub struct RowsBuilder<R> {
    cells: CellsBuilder,
    row: PhantomData<R>,
}

impl<R: CanonicalRow> Default for RowsBuilder<R> {
    fn default() -> Self {
        RowsBuilder::new()
    }
}

impl<R: CanonicalRow> RowsBuilder<R> {
    pub fn new() -> Self {
        RowsBuilder {
            cells: CellsBuilder::new(R::DATASET),
            row: PhantomData,
        }
    }

    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    pub fn push(&mut self, row: R) {
        // The row types are checked against their schemas by the tests.
        if let Err(e) = self.cells.push(row.cells()) {
            unreachable!("{e}");
        }
    }

    /// The canonical frame with `source` on every row, checked against the
    /// schema; the builder is left empty for the next batch.
    pub fn take(&mut self, source: &str) -> Result<DataFrame, Error> {
        self.cells.take(source)
    }

    /// The canonical frame with `source` on every row, checked against the
    /// schema.
    pub fn finish(self, source: &str) -> Result<DataFrame, Error> {
        self.cells.finish(source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn each_row_type_builds_a_conforming_frame() {
        let mut inventory = RowsBuilder::<InventoryRow>::new();
        inventory.push(InventoryRow {
            ts: t("2024-09-29 00:00:00"),
            provider: "AWS".into(),
            resource_id: "vol-1".into(),
            resource_type: "volume".into(),
            size_gib: Some(100.0),
            boot: Some(false),
            ..Default::default()
        });
        let df = inventory.take("inv").unwrap();
        assert_eq!(df.height(), 1);
        assert!(inventory.is_empty());
        assert_eq!(
            df.column("size_gib").unwrap().f64().unwrap().get(0),
            Some(100.0)
        );
        assert_eq!(
            df.column("boot").unwrap().bool().unwrap().get(0),
            Some(false)
        );
        assert_eq!(df.column("launched_at").unwrap().null_count(), 1);

        let mut utilization = RowsBuilder::<UtilizationRow>::new();
        utilization.push(UtilizationRow {
            ts: t("2024-09-29 13:00:00"),
            resource_id: "i-1".into(),
            metric: "cpu_utilization".into(),
            avg: Some(3.5),
            max: Some(9.0),
            samples: 12,
        });
        let df = utilization.finish("cw").unwrap();
        assert_eq!(
            df.column("samples").unwrap().i64().unwrap().get(0),
            Some(12)
        );
        assert_eq!(
            df.column("ts")
                .unwrap()
                .datetime()
                .unwrap()
                .physical()
                .get(0),
            Some(t("2024-09-29 13:00:00").and_utc().timestamp_micros())
        );

        let mut prices = RowsBuilder::<PriceRow>::new();
        prices.push(PriceRow {
            ts: t("2024-09-29 00:00:00"),
            provider: "AWS".into(),
            region_id: "us-east-1".into(),
            instance_type: "m5.large".into(),
            purchase_option: "on_demand".into(),
            operating_system: "linux".into(),
            price_per_hour: 0.096,
            currency: "USD".into(),
            price_source: "pricing:GetProducts".into(),
            ..Default::default()
        });
        let df = prices.finish("prices").unwrap();
        assert_eq!(
            df.column("price_per_hour").unwrap().f64().unwrap().get(0),
            Some(0.096)
        );
    }

    #[test]
    fn cells_follow_their_schemas() {
        fn check<R: CanonicalRow>(row: R) {
            let specs: Vec<_> = R::DATASET
                .columns()
                .iter()
                .filter(|c| c.name != "source")
                .collect();
            let cells = row.cells();
            assert_eq!(cells.len(), specs.len(), "{}", R::DATASET.name());
            for (cell, spec) in cells.iter().zip(specs) {
                let fits = matches!(
                    (cell, spec.ty),
                    (Cell::Str(_), ColumnType::String)
                        | (Cell::F64(_), ColumnType::Float64)
                        | (Cell::I64(_), ColumnType::Int64)
                        | (Cell::Time(_), ColumnType::Datetime)
                        | (Cell::Bool(_), ColumnType::Boolean)
                );
                assert!(fits, "{} `{}` gets {cell:?}", R::DATASET.name(), spec.name);
            }
        }
        check(InventoryRow::default());
        check(UtilizationRow::default());
        check(PriceRow::default());
    }
}
