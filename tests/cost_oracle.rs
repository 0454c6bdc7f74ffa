//! vitals' cost totals against DuckDB over the same CSV.
//!
//! DuckDB reads the FOCUS sample itself (its own CSV parser, `NULL` as null,
//! amounts as exact decimals) and sums per day, provider and service; vitals
//! collects the same file into its store and `vitals analyze` reports the same
//! sums. They must agree to 1e-9 on every group, and have the same groups.

use std::collections::BTreeMap;

use crate::harness::{Workspace, duckdb_rows};

type Key = (String, String, String);

fn duckdb_daily(csv: &std::path::Path) -> BTreeMap<Key, (f64, f64)> {
    let sql = format!(
        "SELECT CAST(ChargePeriodStart AS DATE)::VARCHAR, ProviderName, ServiceName, \
                SUM(BilledCost), SUM(EffectiveCost) \
         FROM read_csv('{}', header = true, nullstr = 'NULL', \
                       types = {{'BilledCost': 'DECIMAL(38,18)', 'EffectiveCost': 'DECIMAL(38,18)', \
                                'ChargePeriodStart': 'TIMESTAMP'}}) \
         GROUP BY ALL ORDER BY ALL",
        csv.display()
    );
    duckdb_rows(&sql)
        .into_iter()
        .map(|r| {
            let s = |i: usize| r[i].as_str().unwrap_or("").to_string();
            let n = |i: usize| s(i).parse::<f64>().unwrap();
            ((s(0), s(1), s(2)), (n(3), n(4)))
        })
        .collect()
}

fn vitals_daily(ws: &Workspace) -> BTreeMap<Key, (f64, f64)> {
    let summary = ws.cost_summary("2024-09-01", "2024-09-30");
    let daily = summary["daily"]
        .as_array()
        .expect("a cost summary with daily rows");
    let mut out = BTreeMap::new();
    for r in daily {
        let key = (
            r["day"].as_str().unwrap().to_string(),
            r["provider"].as_str().unwrap().to_string(),
            r["service"].as_str().unwrap_or("").to_string(),
        );
        let value = (
            r["cost"]["billed"].as_f64().unwrap(),
            r["cost"]["effective"].as_f64().unwrap(),
        );
        assert!(
            out.insert(key.clone(), value).is_none(),
            "duplicate daily row {key:?}"
        );
    }
    out
}

#[test]
fn daily_totals_per_provider_and_service_equal_duckdb() {
    let ws = Workspace::with_focus_files();
    ws.copy_sample("files/focus.csv");
    ws.run(&["collect"]).success();
    let expected = duckdb_daily(&ws.path("files/focus.csv"));
    let actual = vitals_daily(&ws);
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        actual.keys().collect::<Vec<_>>(),
        "the same (day, provider, service) groups"
    );
    for (key, (billed, effective)) in &expected {
        let (b, e) = actual[key];
        assert!(
            (b - billed).abs() <= 1e-9,
            "{key:?} billed: vitals {b}, DuckDB {billed}"
        );
        assert!(
            (e - effective).abs() <= 1e-9,
            "{key:?} effective: vitals {e}, DuckDB {effective}"
        );
    }
    println!(
        "{} (day, provider, service) groups agree with DuckDB to 1e-9",
        expected.len()
    );
}

#[test]
fn collecting_twice_does_not_double_count() {
    let ws = Workspace::with_focus_files();
    ws.copy_sample("files/focus.csv");
    ws.run(&["collect"]).success();
    let first = vitals_daily(&ws);
    let files = ws.store_files();
    ws.run(&["collect", "--source", "files"]).success();
    assert_eq!(vitals_daily(&ws), first);
    assert_eq!(ws.store_files(), files, "the same partitions, no leftovers");
    let total: f64 = first.values().map(|v| v.0).sum();
    assert!((total - 20.5202).abs() < 5e-5, "{total}");
}

/// (provider, group) -> (billed, effective) from DuckDB.
fn duckdb_groups(sql: &str) -> BTreeMap<(String, String), (f64, f64)> {
    duckdb_rows(sql)
        .into_iter()
        .map(|r| {
            let s = |i: usize| r[i].as_str().unwrap_or("").to_string();
            let n = |i: usize| s(i).parse::<f64>().unwrap();
            ((s(0), s(1)), (n(2), n(3)))
        })
        .collect()
}

#[track_caller]
fn assert_groups(
    what: &str,
    actual: &BTreeMap<(String, String), (f64, f64)>,
    expected: &BTreeMap<(String, String), (f64, f64)>,
) {
    assert_eq!(
        actual.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{what}: the same groups"
    );
    for (key, (billed, effective)) in expected {
        let (b, e) = actual[key];
        assert!(
            (b - billed).abs() <= 1e-9 && (e - effective).abs() <= 1e-9,
            "{what} {key:?}: vitals ({b}, {e}), DuckDB ({billed}, {effective})"
        );
    }
}

#[test]
fn charge_and_pricing_categories_and_discounts_equal_duckdb() {
    let ws = Workspace::with_focus_files();
    ws.copy_sample("files/focus.csv");
    ws.run(&["collect"]).success();
    let summary = ws.cost_summary("2024-09-01", "2024-09-30");
    let breakdowns = summary["breakdowns"].as_array().unwrap();
    let mut categories = BTreeMap::new();
    let mut pricing = BTreeMap::new();
    let mut discounts = BTreeMap::new();
    for b in breakdowns {
        let provider = b["provider"].as_str().unwrap().to_string();
        let amounts = |c: &serde_json::Value| {
            (
                c["current"]["billed"].as_f64().unwrap(),
                c["current"]["effective"].as_f64().unwrap(),
            )
        };
        for g in b["by_charge_category"].as_array().unwrap() {
            let name = g["name"].as_str().unwrap().to_string();
            categories.insert((provider.clone(), name), amounts(&g["cost"]));
        }
        for p in b["by_pricing_category"].as_array().unwrap() {
            let name = p["category"].as_str().unwrap_or("").to_string();
            pricing.insert((provider.clone(), name), amounts(&p["cost"]));
        }
        if let Some(d) = b["discounts"].as_object() {
            discounts.insert(
                (provider.clone(), String::new()),
                (
                    d["list_cost"].as_f64().unwrap(),
                    d["effective"].as_f64().unwrap(),
                ),
            );
        }
    }
    let csv = ws.path("files/focus.csv");
    let from = format!(
        "FROM read_csv('{}', header = true, nullstr = 'NULL', \
           types = {{'BilledCost': 'DECIMAL(38,18)', 'EffectiveCost': 'DECIMAL(38,18)', \
                    'ListCost': 'DECIMAL(38,18)', 'ChargePeriodStart': 'TIMESTAMP'}})",
        csv.display()
    );
    assert_groups(
        "charge category",
        &categories,
        &duckdb_groups(&format!(
            "SELECT ProviderName, ChargeCategory, SUM(BilledCost), SUM(EffectiveCost) {from} GROUP BY ALL"
        )),
    );
    assert_groups(
        "pricing category of usage",
        &pricing,
        &duckdb_groups(&format!(
            "SELECT ProviderName, COALESCE(NULLIF(PricingCategory, ''), ''), SUM(BilledCost), SUM(EffectiveCost) \
             {from} WHERE ChargeCategory = 'Usage' GROUP BY ALL"
        )),
    );
    assert_groups(
        "usage at list price",
        &discounts,
        &duckdb_groups(&format!(
            "SELECT ProviderName, '', SUM(ListCost), SUM(EffectiveCost) \
             {from} WHERE ChargeCategory = 'Usage' AND ListCost IS NOT NULL GROUP BY ALL HAVING SUM(ListCost) <> 0"
        )),
    );
    println!(
        "{} charge-category, {} pricing-category and {} list-price groups agree with DuckDB to 1e-9",
        categories.len(),
        pricing.len(),
        discounts.len()
    );
}
