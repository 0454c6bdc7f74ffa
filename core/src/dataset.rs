//! The canonical datasets and the one checked way to hand a frame over.
//!
//! Every collector produces exactly one of these datasets. [`Dataset::conform`]
//! is the gate between a collector and the store: a frame that is missing a
//! column, has a column of the wrong type, carries a column the schema does not
//! know, or would lose values in a cast is refused with an error naming the
//! column. Nothing downstream of the gate needs to re-check types.

use std::fmt;

use polars::prelude::*;

use crate::error::{Error, SchemaProblem};

/// The logical type of a canonical column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    String,
    Float64,
    Int64,
    /// Naive microsecond datetime; by convention always UTC.
    Datetime,
    ListFloat64,
    Boolean,
}

impl ColumnType {
    pub fn dtype(self) -> DataType {
        match self {
            ColumnType::String => DataType::String,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Datetime => DataType::Datetime(TimeUnit::Microseconds, None),
            ColumnType::ListFloat64 => DataType::List(Box::new(DataType::Float64)),
            ColumnType::Boolean => DataType::Boolean,
        }
    }
}

/// One column of a canonical dataset.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub ty: ColumnType,
    pub nullable: bool,
}

const fn col(name: &'static str, ty: ColumnType, nullable: bool) -> ColumnSpec {
    ColumnSpec { name, ty, nullable }
}

use ColumnType::{Boolean, Datetime, Float64, Int64, ListFloat64, String as Str};

/// Cost: FOCUS 1.2 column semantics, snake_case names, one row per charge.
const COST: &[ColumnSpec] = &[
    col("charge_period_start", Datetime, false),
    col("charge_period_end", Datetime, false),
    col("provider", Str, false),
    col("billing_account_id", Str, true),
    col("billing_account_name", Str, true),
    col("sub_account_id", Str, true),
    col("sub_account_name", Str, true),
    col("service_name", Str, true),
    col("service_category", Str, true),
    col("sku_id", Str, true),
    col("charge_category", Str, false),
    col("charge_class", Str, true),
    col("charge_description", Str, true),
    col("pricing_category", Str, true),
    col("commitment_discount_id", Str, true),
    col("resource_id", Str, true),
    col("resource_name", Str, true),
    col("resource_type", Str, true),
    col("region_id", Str, true),
    col("consumed_quantity", Float64, true),
    col("consumed_unit", Str, true),
    col("pricing_quantity", Float64, true),
    col("pricing_unit", Str, true),
    col("billed_cost", Float64, false),
    col("effective_cost", Float64, false),
    col("list_cost", Float64, true),
    col("billing_currency", Str, false),
    col("tags", Str, true),
    col("x_instance_type", Str, true),
    // AWS net amortized cost (after negotiated discounts), where the source has it.
    col("x_net_amortized_cost", Float64, true),
    col("source", Str, false),
];

/// Latency: one row per (interval, service, endpoint, source).
const LATENCY: &[ColumnSpec] = &[
    col("ts", Datetime, false),
    col("interval_s", Int64, false),
    col("service", Str, false),
    col("endpoint", Str, true),
    col("requests", Float64, false),
    col("errors", Float64, false),
    col("apdex_t_s", Float64, true),
    col("apdex_satisfied", Float64, true),
    col("apdex_tolerating", Float64, true),
    col("apdex_frustrated", Float64, true),
    // The counts were interpolated inside a histogram bucket (T or 4T is not
    // a bucket bound), not counted.
    col("apdex_interpolated", Boolean, true),
    col("hist_bounds_s", ListFloat64, true),
    col("hist_counts", ListFloat64, true),
    col("p50_s", Float64, true),
    col("p95_s", Float64, true),
    col("p99_s", Float64, true),
    col("source", Str, false),
];

/// Inventory: one row per resource per snapshot (`ts`). `resource_type` is
/// `instance`, `volume`, `address`, `load_balancer`, `bucket`, ...; the
/// typed columns after `tags` hold what the savings rules read, and
/// `attributes` (a JSON object) the rest of a resource's kind (a load
/// balancer's target groups and their health, say).
const INVENTORY: &[ColumnSpec] = &[
    col("ts", Datetime, false),
    col("provider", Str, false),
    col("account_id", Str, true),
    col("region_id", Str, true),
    col("resource_id", Str, false),
    col("resource_type", Str, false),
    col("instance_type", Str, true),
    col("state", Str, true),
    col("attached_to", Str, true),
    col("lifecycle", Str, true),
    col("group", Str, true),
    col("launched_at", Datetime, true),
    col("tags", Str, true),
    // Instances: `linux`, `windows`, ...; `default`, `dedicated`, `host`.
    col("platform", Str, true),
    col("tenancy", Str, true),
    // Volumes: `gp3`, `io2`, ...; size and provisioned IOPS; a boot volume
    // is never an unattached-volume finding.
    col("volume_type", Str, true),
    col("size_gib", Float64, true),
    col("iops", Float64, true),
    col("boot", Boolean, true),
    col("attributes", Str, true),
    col("source", Str, false),
];

/// Prices: one row per (time read, provider, region, type, purchase option,
/// zone): the hourly price and where it came from.
const PRICES: &[ColumnSpec] = &[
    col("ts", Datetime, false),
    col("provider", Str, false),
    col("region_id", Str, false),
    // Spot prices are per availability zone; others have none.
    col("availability_zone", Str, true),
    col("instance_type", Str, false),
    // `on_demand`, `spot`, or a commitment (`ri_1y_no_upfront`, ...).
    col("purchase_option", Str, false),
    col("operating_system", Str, false),
    col("price_per_hour", Float64, false),
    col("currency", Str, false),
    // The API or file the price was read from (`pricing:GetProducts`,
    // `ec2:DescribeSpotPriceHistory`, an offer file's URL).
    col("price_source", Str, false),
    col("source", Str, false),
];

/// Utilization: one row per (hour, resource, metric).
const UTILIZATION: &[ColumnSpec] = &[
    col("ts", Datetime, false),
    col("resource_id", Str, false),
    col("metric", Str, false),
    col("avg", Float64, true),
    col("max", Float64, true),
    col("samples", Int64, false),
    col("source", Str, false),
];

/// Findings: one row per finding; `source` is the analyzer's name.
const FINDINGS: &[ColumnSpec] = &[
    col("finding_id", Str, false),
    col("kind", Str, false),
    col("severity", Str, false),
    col("provider", Str, true),
    col("account_id", Str, true),
    col("service", Str, true),
    col("resource_id", Str, true),
    col("title", Str, false),
    col("evidence", Str, false),
    col("monthly_savings", Float64, true),
    col("currency", Str, true),
    col("first_seen", Datetime, false),
    col("last_seen", Datetime, false),
    col("status", Str, false),
    col("source", Str, false),
];

/// A canonical dataset of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dataset {
    Cost,
    Latency,
    Inventory,
    Utilization,
    Prices,
    Findings,
}

impl Dataset {
    pub const ALL: [Dataset; 6] = [
        Dataset::Cost,
        Dataset::Latency,
        Dataset::Inventory,
        Dataset::Utilization,
        Dataset::Prices,
        Dataset::Findings,
    ];

    /// The directory name of the dataset in the store.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Cost => "cost",
            Dataset::Latency => "latency",
            Dataset::Inventory => "inventory",
            Dataset::Utilization => "utilization",
            Dataset::Prices => "prices",
            Dataset::Findings => "findings",
        }
    }

    pub fn columns(self) -> &'static [ColumnSpec] {
        match self {
            Dataset::Cost => COST,
            Dataset::Latency => LATENCY,
            Dataset::Inventory => INVENTORY,
            Dataset::Utilization => UTILIZATION,
            Dataset::Prices => PRICES,
            Dataset::Findings => FINDINGS,
        }
    }

    /// The column whose UTC date decides a row's `day=` partition.
    pub fn time_column(self) -> &'static str {
        match self {
            Dataset::Cost => "charge_period_start",
            Dataset::Latency | Dataset::Inventory | Dataset::Utilization | Dataset::Prices => "ts",
            Dataset::Findings => "last_seen",
        }
    }

    /// The explicit Polars schema, used both to check frames and to read Parquet.
    pub fn schema(self) -> Schema {
        self.columns()
            .iter()
            .map(|c| Field::new(c.name.into(), c.ty.dtype()))
            .collect()
    }

    /// An empty frame with this dataset's schema.
    pub fn empty_frame(self) -> DataFrame {
        DataFrame::empty_with_schema(&self.schema())
    }

    /// Checks a frame against the schema and returns it with columns in schema
    /// order. Integer and float widenings are applied; anything that would lose
    /// a value, a missing or unknown column, or a null in a required column is
    /// an error naming the column.
    pub fn conform(self, df: DataFrame) -> Result<DataFrame, Error> {
        let problem = |column: &str, problem: SchemaProblem| Error::Schema {
            dataset: self,
            column: column.to_string(),
            problem,
        };
        for name in df.get_column_names() {
            if !self.columns().iter().any(|c| c.name == name.as_str()) {
                return Err(problem(name, SchemaProblem::Unexpected));
            }
        }
        let height = df.height();
        let mut out = Vec::with_capacity(self.columns().len());
        for spec in self.columns() {
            let column = df
                .column(spec.name)
                .map_err(|_| problem(spec.name, SchemaProblem::Missing))?;
            let expected = spec.ty.dtype();
            let column = if column.dtype() == &expected {
                column.clone()
            } else if widens_losslessly(column.dtype(), &expected) {
                let cast = column.strict_cast(&expected).map_err(|e| {
                    problem(
                        spec.name,
                        SchemaProblem::LossyCast {
                            detail: e.to_string(),
                        },
                    )
                })?;
                if cast.null_count() != column.null_count() {
                    return Err(problem(
                        spec.name,
                        SchemaProblem::LossyCast {
                            detail: format!(
                                "{} values became null",
                                cast.null_count() - column.null_count()
                            ),
                        },
                    ));
                }
                cast
            } else {
                return Err(problem(
                    spec.name,
                    SchemaProblem::WrongType {
                        expected: expected.to_string(),
                        found: column.dtype().to_string(),
                    },
                ));
            };
            if !spec.nullable && column.null_count() > 0 {
                return Err(problem(
                    spec.name,
                    SchemaProblem::NullInRequired {
                        nulls: column.null_count(),
                    },
                ));
            }
            out.push(column);
        }
        DataFrame::new(height, out).map_err(|e| Error::polars("assembling a conformed frame", e))
    }
}

/// Casts that can never lose a value: integer widening, integers that fit a
/// float's mantissa, and float widening. Strings are never parsed here: a
/// collector parses its own wire format and reports bad cells with their place.
fn widens_losslessly(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    matches!(
        (from, to),
        (Int8 | Int16 | Int32 | UInt8 | UInt16 | UInt32, Int64)
            | (
                Int8 | Int16 | Int32 | UInt8 | UInt16 | UInt32 | Float32,
                Float64
            )
            | (Null, _)
    )
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost_row() -> DataFrame {
        let ts = Column::new("charge_period_start".into(), [0i64])
            .cast(&ColumnType::Datetime.dtype())
            .unwrap();
        let mut cols = vec![];
        for spec in Dataset::Cost.columns() {
            let c = match spec.ty {
                ColumnType::Datetime => ts.clone().with_name(spec.name.into()),
                ColumnType::Float64 => Column::new(spec.name.into(), [1.5f64]),
                ColumnType::Int64 => Column::new(spec.name.into(), [1i64]),
                ColumnType::String => Column::new(spec.name.into(), ["x"]),
                ColumnType::ListFloat64 | ColumnType::Boolean => {
                    unreachable!("cost has no list or boolean columns")
                }
            };
            cols.push(c);
        }
        DataFrame::new(1, cols).unwrap()
    }

    fn schema_error(result: Result<DataFrame, Error>) -> (String, SchemaProblem) {
        match result {
            Err(Error::Schema {
                column, problem, ..
            }) => (column, problem),
            other => panic!("expected a schema error, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_frame_conforms_in_schema_order() {
        let mut df = cost_row();
        df = df
            .select(
                ["source", "billed_cost"].into_iter().chain(
                    Dataset::Cost
                        .columns()
                        .iter()
                        .map(|c| c.name)
                        .filter(|n| *n != "source" && *n != "billed_cost"),
                ),
            )
            .unwrap();
        let out = Dataset::Cost.conform(df).unwrap();
        let names: Vec<&str> = out.get_column_names().iter().map(|n| n.as_str()).collect();
        let expected: Vec<&str> = Dataset::Cost.columns().iter().map(|c| c.name).collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn a_missing_column_is_named() {
        let df = cost_row().drop("billed_cost").unwrap();
        let (column, problem) = schema_error(Dataset::Cost.conform(df));
        assert_eq!(column, "billed_cost");
        assert!(matches!(problem, SchemaProblem::Missing));
    }

    #[test]
    fn an_unknown_column_is_named() {
        let mut df = cost_row();
        df.with_column(Column::new("x_mystery".into(), ["?"]))
            .unwrap();
        let (column, problem) = schema_error(Dataset::Cost.conform(df));
        assert_eq!(column, "x_mystery");
        assert!(matches!(problem, SchemaProblem::Unexpected));
    }

    #[test]
    fn a_string_where_a_number_belongs_is_a_type_error() {
        let mut df = cost_row();
        df.with_column(Column::new("billed_cost".into(), ["1.5"]))
            .unwrap();
        let (column, problem) = schema_error(Dataset::Cost.conform(df));
        assert_eq!(column, "billed_cost");
        assert!(
            matches!(problem, SchemaProblem::WrongType { .. }),
            "{problem:?}"
        );
    }

    #[test]
    fn a_float_into_an_integer_column_is_refused() {
        let ts = Column::new("ts".into(), [0i64])
            .cast(&ColumnType::Datetime.dtype())
            .unwrap();
        let df = DataFrame::new(
            1,
            vec![
                ts,
                Column::new("resource_id".into(), ["i-1"]),
                Column::new("metric".into(), ["cpu_utilization"]),
                Column::new("avg".into(), [1.0f64]),
                Column::new("max".into(), [1.0f64]),
                Column::new("samples".into(), [2.5f64]),
                Column::new("source".into(), ["cw"]),
            ],
        )
        .unwrap();
        let (column, problem) = schema_error(Dataset::Utilization.conform(df));
        assert_eq!(column, "samples");
        assert!(matches!(problem, SchemaProblem::WrongType { .. }));
    }

    #[test]
    fn integers_widen_to_float() {
        let mut df = cost_row();
        df.with_column(Column::new("billed_cost".into(), [3i32]))
            .unwrap();
        let out = Dataset::Cost.conform(df).unwrap();
        let v = out.column("billed_cost").unwrap().f64().unwrap().get(0);
        assert_eq!(v, Some(3.0));
    }

    #[test]
    fn a_null_in_a_required_column_is_counted() {
        let mut df = cost_row();
        df.with_column(Column::new("provider".into(), [None::<&str>]))
            .unwrap();
        let (column, problem) = schema_error(Dataset::Cost.conform(df));
        assert_eq!(column, "provider");
        assert!(matches!(
            problem,
            SchemaProblem::NullInRequired { nulls: 1 }
        ));
    }

    #[test]
    fn every_dataset_has_a_source_and_its_time_column() {
        for ds in Dataset::ALL {
            let names: Vec<&str> = ds.columns().iter().map(|c| c.name).collect();
            assert!(names.contains(&"source"), "{ds} has no source column");
            assert!(
                names.contains(&ds.time_column()),
                "{ds} lacks its time column"
            );
            let t = ds
                .columns()
                .iter()
                .find(|c| c.name == ds.time_column())
                .unwrap();
            assert_eq!(t.ty, ColumnType::Datetime);
            assert!(!t.nullable);
        }
    }
}
