//! Test support: a fresh store holding given cost rows.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use vitals_core::cost_rows::{CostFrameBuilder, CostRow};
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

/// Writes `rows` (USD, one day each, source `s`) into a new store, built
/// with the same row builder the cost collectors use.
pub fn store_with(rows: &[Row]) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let day = |r: &Row| r.day.parse::<NaiveDate>().unwrap();
    let mut builder = CostFrameBuilder::new();
    for r in rows {
        let start = day(r).and_hms_opt(0, 0, 0).unwrap();
        builder.push(CostRow {
            charge_period_start: start,
            charge_period_end: start + chrono::Duration::days(1),
            provider: r.provider.to_string(),
            sub_account_id: r.account.map(str::to_string),
            service_name: Some(r.service.to_string()),
            sku_id: r.sku.map(str::to_string),
            resource_id: r.resource.map(str::to_string),
            billed_cost: r.billed,
            effective_cost: r.effective,
            tags: r.tags.map(str::to_string),
            billing_currency: "USD".to_string(),
            charge_category: r.charge.unwrap_or("Usage").to_string(),
            pricing_category: r.pricing.map(str::to_string),
            list_cost: r.list,
            ..CostRow::default()
        });
    }
    let frame = builder.finish("s").unwrap();
    let days: BTreeSet<NaiveDate> = rows.iter().map(day).collect();
    store
        .replace_days(Dataset::Cost, "s", frame, &days)
        .unwrap();
    (dir, store)
}
