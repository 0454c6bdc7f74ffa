//! Building a canonical cost frame row by row: every cost collector does, and
//! so do tests that need a store of cost rows.

use std::collections::BTreeMap;

use crate::Dataset;
use crate::dataset::ColumnType;
use crate::error::Error;
use chrono::NaiveDateTime;
use polars::prelude::*;

/// The canonical text of a tags object: keys sorted, as JSON. Every
/// collector writes `tags` this way, so equal tag sets are equal strings
/// whatever order the source used (and whatever order serde_json's map
/// keeps: a dependency can turn on its `preserve_order`).
pub fn tags_json(tags: BTreeMap<String, serde_json::Value>) -> String {
    serde_json::Value::Object(tags.into_iter().collect()).to_string()
}

/// One row of the cost dataset; times are UTC.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CostRow {
    pub charge_period_start: NaiveDateTime,
    pub charge_period_end: NaiveDateTime,
    pub provider: String,
    pub billing_account_id: Option<String>,
    pub billing_account_name: Option<String>,
    pub sub_account_id: Option<String>,
    pub sub_account_name: Option<String>,
    pub service_name: Option<String>,
    pub service_category: Option<String>,
    pub sku_id: Option<String>,
    pub charge_category: String,
    pub charge_class: Option<String>,
    pub charge_description: Option<String>,
    pub pricing_category: Option<String>,
    pub commitment_discount_id: Option<String>,
    pub resource_id: Option<String>,
    pub resource_name: Option<String>,
    pub resource_type: Option<String>,
    pub region_id: Option<String>,
    pub consumed_quantity: Option<f64>,
    pub consumed_unit: Option<String>,
    pub pricing_quantity: Option<f64>,
    pub pricing_unit: Option<String>,
    pub billed_cost: f64,
    pub effective_cost: f64,
    pub list_cost: Option<f64>,
    pub billing_currency: String,
    /// A JSON object, or `None`.
    pub tags: Option<String>,
    pub x_instance_type: Option<String>,
    pub x_net_amortized_cost: Option<f64>,
}

/// Column-wise buffers for [`CostRow`]s.
#[derive(Debug)]
pub struct CostFrameBuilder {
    times: [Vec<i64>; 2],
    strings: Vec<Vec<Option<String>>>,
    numbers: Vec<Vec<Option<f64>>>,
}

/// String columns in [`CostRow`] order (and their canonical names).
const STRING_COLUMNS: [&str; 22] = [
    "provider",
    "billing_account_id",
    "billing_account_name",
    "sub_account_id",
    "sub_account_name",
    "service_name",
    "service_category",
    "sku_id",
    "charge_category",
    "charge_class",
    "charge_description",
    "pricing_category",
    "commitment_discount_id",
    "resource_id",
    "resource_name",
    "resource_type",
    "region_id",
    "consumed_unit",
    "pricing_unit",
    "billing_currency",
    "tags",
    "x_instance_type",
];

const NUMBER_COLUMNS: [&str; 6] = [
    "consumed_quantity",
    "pricing_quantity",
    "billed_cost",
    "effective_cost",
    "list_cost",
    "x_net_amortized_cost",
];

impl Default for CostFrameBuilder {
    fn default() -> Self {
        CostFrameBuilder::new()
    }
}

impl CostFrameBuilder {
    pub fn new() -> Self {
        CostFrameBuilder {
            times: [Vec::new(), Vec::new()],
            strings: vec![Vec::new(); STRING_COLUMNS.len()],
            numbers: vec![Vec::new(); NUMBER_COLUMNS.len()],
        }
    }

    pub fn len(&self) -> usize {
        self.times[0].len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn push(&mut self, row: CostRow) {
        self.times[0].push(row.charge_period_start.and_utc().timestamp_micros());
        self.times[1].push(row.charge_period_end.and_utc().timestamp_micros());
        let strings = [
            Some(row.provider),
            row.billing_account_id,
            row.billing_account_name,
            row.sub_account_id,
            row.sub_account_name,
            row.service_name,
            row.service_category,
            row.sku_id,
            Some(row.charge_category),
            row.charge_class,
            row.charge_description,
            row.pricing_category,
            row.commitment_discount_id,
            row.resource_id,
            row.resource_name,
            row.resource_type,
            row.region_id,
            row.consumed_unit,
            row.pricing_unit,
            Some(row.billing_currency),
            row.tags,
            row.x_instance_type,
        ];
        for (buf, v) in self.strings.iter_mut().zip(strings) {
            buf.push(v);
        }
        let numbers = [
            row.consumed_quantity,
            row.pricing_quantity,
            Some(row.billed_cost),
            Some(row.effective_cost),
            row.list_cost,
            row.x_net_amortized_cost,
        ];
        for (buf, v) in self.numbers.iter_mut().zip(numbers) {
            buf.push(v);
        }
    }

    /// The canonical cost frame, with `source` set on every row and checked
    /// against the schema.
    pub fn finish(self, source: &str) -> Result<DataFrame, Error> {
        let n = self.len();
        let frame_error = |e: PolarsError| Error::polars("building the cost frame", e);
        let mut columns = Vec::with_capacity(Dataset::Cost.columns().len());
        for (name, values) in ["charge_period_start", "charge_period_end"]
            .into_iter()
            .zip(self.times)
        {
            columns.push(
                Column::new(name.into(), values)
                    .cast(&ColumnType::Datetime.dtype())
                    .map_err(frame_error)?,
            );
        }
        for (name, values) in STRING_COLUMNS.into_iter().zip(self.strings) {
            columns.push(Column::new(name.into(), values));
        }
        for (name, values) in NUMBER_COLUMNS.into_iter().zip(self.numbers) {
            columns.push(Column::new(name.into(), values));
        }
        columns.push(Column::new("source".into(), vec![source; n]));
        let df = DataFrame::new(n, columns).map_err(frame_error)?;
        Dataset::Cost.conform(df)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_a_conforming_frame() {
        let mut b = CostFrameBuilder::new();
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        b.push(CostRow {
            charge_period_start: t("2024-09-01 00:00:00"),
            charge_period_end: t("2024-09-01 01:00:00"),
            provider: "AWS".into(),
            service_name: Some("Amazon EC2".into()),
            charge_category: "Usage".into(),
            billed_cost: 1.25,
            effective_cost: 1.0,
            billing_currency: "USD".into(),
            ..Default::default()
        });
        let df = b.finish("files").unwrap();
        assert_eq!(df.height(), 1);
        assert_eq!(
            df.column("billed_cost").unwrap().f64().unwrap().get(0),
            Some(1.25)
        );
        assert_eq!(
            df.column("service_name").unwrap().str().unwrap().get(0),
            Some("Amazon EC2")
        );
        assert_eq!(
            df.column("source").unwrap().str().unwrap().get(0),
            Some("files")
        );
        assert_eq!(df.column("tags").unwrap().null_count(), 1);
    }

    #[test]
    fn every_cost_column_is_built() {
        let built: Vec<&str> = ["charge_period_start", "charge_period_end", "source"]
            .into_iter()
            .chain(STRING_COLUMNS)
            .chain(NUMBER_COLUMNS)
            .collect();
        for spec in Dataset::Cost.columns() {
            assert!(built.contains(&spec.name), "{} is not built", spec.name);
        }
        assert_eq!(built.len(), Dataset::Cost.columns().len());
    }
}
