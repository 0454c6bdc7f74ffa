//! Test support: a fresh store holding given cost rows.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use polars::prelude::*;
use vitals_core::{Dataset, Store};

/// One daily cost row; unset columns are null.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub day: &'static str,
    pub provider: &'static str,
    pub account: Option<&'static str>,
    pub service: &'static str,
    pub sku: Option<&'static str>,
    pub resource: Option<&'static str>,
    pub billed: f64,
    pub effective: f64,
    pub tags: Option<&'static str>,
    /// Default `Usage`.
    pub charge: Option<&'static str>,
    pub pricing: Option<&'static str>,
    pub list: Option<f64>,
}

/// Writes `rows` (USD, one day each, source `s`) into a new store.
pub fn store_with(rows: &[Row]) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let day = |r: &Row| r.day.parse::<NaiveDate>().unwrap();
    let starts: Vec<i64> = rows
        .iter()
        .map(|r| {
            day(r)
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_micros()
        })
        .collect();
    let ends: Vec<i64> = starts.iter().map(|m| m + 86_400_000_000).collect();
    let ts = |name: &str, v: Vec<i64>| {
        Column::new(name.into(), v)
            .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
            .unwrap()
    };
    let text = |name: &str, f: &dyn Fn(&Row) -> Option<&'static str>| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>())
    };
    let number = |name: &str, f: &dyn Fn(&Row) -> f64| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>())
    };
    let n = rows.len();
    let mut columns = vec![
        ts("charge_period_start", starts),
        ts("charge_period_end", ends),
        text("provider", &|r| Some(r.provider)),
        text("sub_account_id", &|r| r.account),
        text("service_name", &|r| Some(r.service)),
        text("sku_id", &|r| r.sku),
        text("resource_id", &|r| r.resource),
        number("billed_cost", &|r| r.billed),
        number("effective_cost", &|r| r.effective),
        text("tags", &|r| r.tags),
        text("billing_currency", &|_| Some("USD")),
        text("charge_category", &|r| Some(r.charge.unwrap_or("Usage"))),
        text("pricing_category", &|r| r.pricing),
        Column::new(
            "list_cost".into(),
            rows.iter().map(|r| r.list).collect::<Vec<_>>(),
        ),
        text("source", &|_| Some("s")),
    ];
    for spec in Dataset::Cost.columns() {
        if !columns.iter().any(|c| c.name().as_str() == spec.name) {
            columns.push(Column::full_null(spec.name.into(), n, &spec.ty.dtype()));
        }
    }
    let frame = DataFrame::new(n, columns).unwrap();
    let days: BTreeSet<NaiveDate> = rows.iter().map(day).collect();
    store
        .replace_days(Dataset::Cost, "s", frame, &days)
        .unwrap();
    (dir, store)
}
