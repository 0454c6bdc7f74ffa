//! `commitment` against independent computations over the same FOCUS file:
//! the recommended hourly commitment and its saving equal numpy's brute
//! force over every commitment level (the hourly series built by the test
//! from the CSV rows), to the cent; its utilization to 1e-9; and the
//! coverage of the held commitments equals DuckDB's over the same rows.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::process::Command;

use serde_json::Value;

use crate::harness::{Workspace, duckdb_python, duckdb_rows, f64_of as f};

const CONFIG: &str = r#"
[store]
path = "store"

[collectors.billing]
type = "focus_file"
path = "focus.csv"

[analyzers.commit]
type = "commitment"
lookback_days = 30
discounts = { AWS = 0.28, "Google Cloud" = 0.37 }
"#;

const HEADER: &str = "BilledCost,EffectiveCost,ListCost,BillingAccountId,BillingAccountName,\
BillingCurrency,ChargeCategory,ChargeClass,ChargeDescription,ChargePeriodStart,ChargePeriodEnd,\
ConsumedQuantity,ConsumedUnit,PricingCategory,PricingQuantity,PricingUnit,ProviderName,RegionId,\
ResourceId,ResourceName,ResourceType,ServiceCategory,ServiceName,SkuId,SubAccountId,\
SubAccountName,Tags";

/// Hourly rows from 2024-08-25 to 2024-10-02 (the lookback, 2024-08-31
/// to 2024-09-29, and days either side): on-demand compute that follows
/// office hours and weekends (some hours none), covered usage, a daily
/// on-demand row, spot, storage and a credit (not eligible), and a
/// provider without a discount.
fn focus_csv() -> String {
    let mut out = String::from(HEADER);
    out.push('\n');
    let start = chrono::NaiveDate::from_ymd_opt(2024, 8, 25)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let mut row = |at: chrono::NaiveDateTime,
                   hours: i64,
                   provider: &str,
                   category: &str,
                   pricing: &str,
                   charge: &str,
                   effective: f64,
                   list: &str| {
        let end = at + chrono::Duration::hours(hours);
        let _ = writeln!(
            out,
            "{effective:.10},{effective:.10},{list},acct,Acme,USD,{charge},,c,{}Z,{}Z,1,Hours,\
             {pricing},1,Hours,{provider},r,res,res,Instance,{category},svc,sku,acct,prod,{{}}",
            at.format("%Y-%m-%dT%H:%M:%S"),
            end.format("%Y-%m-%dT%H:%M:%S"),
        );
    };
    for i in 0..39 * 24 {
        let at = start + chrono::Duration::hours(i);
        let (day, hour) = (i / 24, i % 24);
        let weekend = matches!(day % 7, 0 | 6);
        let office = (8..19).contains(&hour) && !weekend;
        let od = if weekend && hour < 6 {
            0.0
        } else {
            1.25 + if office { 2.75 } else { 0.0 } + (i % 5) as f64 * 0.0625
        };
        if od > 0.0 {
            row(at, 1, "AWS", "Compute", "Standard", "Usage", od, "");
        }
        row(at, 1, "AWS", "Compute", "Committed", "Usage", 1.0, "1.5");
        row(at, 1, "AWS", "Compute", "Dynamic", "Usage", 0.3, "");
        row(at, 1, "AWS", "Storage", "Standard", "Usage", 0.2, "");
        row(
            at,
            1,
            "Google Cloud",
            "Compute",
            "Standard",
            "Usage",
            0.5 + (hour % 3) as f64 * 0.25,
            "",
        );
        row(at, 1, "Microsoft", "Compute", "Standard", "Usage", 0.4, "");
        if hour == 0 {
            // A daily row: spread over its 24 hours.
            row(at, 24, "AWS", "Compute", "Standard", "Usage", 12.0, "");
            row(at, 24, "AWS", "Compute", "Standard", "Credit", -2.0, "");
        }
    }
    out
}

/// numpy's brute force over the same rows: per provider, the hourly
/// on-demand series (daily rows spread evenly), every level evaluated.
const ORACLE: &str = r#"
import csv, datetime, json, sys
import numpy as np
path, discounts = sys.argv[1], json.loads(sys.argv[2])
start = datetime.datetime(2024, 8, 31)
H = 30 * 24
series = {}
for r in csv.DictReader(open(path)):
    if r["ServiceCategory"] != "Compute" or r["ChargeCategory"] != "Usage" or r["PricingCategory"] != "Standard":
        continue
    a = datetime.datetime.fromisoformat(r["ChargePeriodStart"].rstrip("Z"))
    b = datetime.datetime.fromisoformat(r["ChargePeriodEnd"].rstrip("Z"))
    n = int((b - a).total_seconds() // 3600)
    s = series.setdefault(r["ProviderName"], np.zeros(H))
    for k in range(n):
        h = int((a - start).total_seconds() // 3600) + k
        if 0 <= h < H:
            s[h] += float(r["EffectiveCost"]) / n
out = {}
for p, s in series.items():
    if p not in discounts:
        continue
    d = discounts[p]
    levels = np.unique(s[s > 0])
    saving = np.minimum(s[:, None], levels[None, :]).sum(axis=0) - H * levels * (1 - d)
    k = int(np.argmax(saving))
    x = float(levels[k])
    out[p] = {"x": x, "saving": float(saving[k]), "commit": x * (1 - d),
              "monthly": float(saving[k]) / H * 730,
              "utilization": float(np.minimum(s, x).sum() / (H * x)),
              "mean": float(s.mean()), "max": float(s.max()), "min": float(s.min())}
print(json.dumps(out))
"#;

#[test]
fn the_recommendation_is_numpys_brute_force_and_coverage_duckdbs() {
    let ws = Workspace::new();
    ws.write("config.toml", CONFIG);
    ws.write("focus.csv", &focus_csv());
    ws.run(&["collect"]).success();
    let out = ws.analyze("2024-09-23", "2024-09-29");
    let summary = out["summaries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "commitment")
        .expect("a commitment summary");
    assert_eq!(summary["lookback"]["start"], "2024-08-31");
    assert_eq!(summary["lookback"]["end"], "2024-09-29");
    let views: BTreeMap<&str, &Value> = summary["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["provider"].as_str().unwrap(), v))
        .collect();

    let oracle = Command::new(duckdb_python())
        .args(["-c", ORACLE])
        .arg(ws.path("focus.csv"))
        .arg(r#"{"AWS": 0.28, "Google Cloud": 0.37}"#)
        .output()
        .unwrap();
    assert!(
        oracle.status.success(),
        "{}",
        String::from_utf8_lossy(&oracle.stderr)
    );
    let want: Value = serde_json::from_slice(&oracle.stdout).unwrap();
    for provider in ["AWS", "Google Cloud"] {
        let w = &want[provider];
        let v = views[provider];
        let r = &v["recommendation"];
        assert_eq!(v["hours"], 720);
        let cents = |a: f64, b: f64, what: &str| {
            assert!(
                (a - b).abs() < 0.005,
                "{provider} {what}: vitals {a} vs numpy {b}"
            )
        };
        cents(
            f(&r["hourly_commitment"]),
            f(&w["commit"]),
            "hourly commitment",
        );
        cents(f(&r["covered_hourly"]), f(&w["x"]), "level");
        cents(f(&r["monthly_saving"]), f(&w["monthly"]), "monthly saving");
        cents(f(&r["lookback_saving"]), f(&w["saving"]), "lookback saving");
        assert!((f(&r["utilization"]) - f(&w["utilization"])).abs() < 1e-9);
        assert!((f(&v["hourly_mean"]) - f(&w["mean"])).abs() < 1e-9);
        assert!((f(&v["hourly_max"]) - f(&w["max"])).abs() < 1e-9);
        let d = f(&r["discount"]);
        assert!(
            (f(&r["break_even_months"]) - 12.0 * (1.0 - d) / f(&w["utilization"])).abs() < 1e-9
        );
        // A real choice: neither nothing nor the peak.
        assert!(
            f(&w["x"]) > f(&w["min"]) && f(&w["x"]) < f(&w["max"]),
            "{w}"
        );
    }
    assert!(
        views["Microsoft"]["recommendation"].is_null(),
        "no discount given"
    );

    // Coverage: DuckDB over the same rows.
    let coverage = duckdb_rows(&format!(
        "SELECT ProviderName, \
                sum(CASE WHEN PricingCategory = 'Committed' THEN coalesce(ListCost, EffectiveCost) END), \
                sum(CASE WHEN PricingCategory = 'Standard' THEN EffectiveCost END) \
         FROM read_csv('{}', types = {{'EffectiveCost': 'DECIMAL(38,12)', 'ListCost': 'DECIMAL(38,12)'}}) \
         WHERE ServiceCategory = 'Compute' AND ChargeCategory = 'Usage' \
           AND CAST(ChargePeriodStart AS DATE) BETWEEN '2024-08-31' AND '2024-09-29' \
         GROUP BY ALL ORDER BY ALL",
        ws.path("focus.csv").display()
    ));
    assert_eq!(coverage.len(), views.len());
    for r in &coverage {
        let v = views[r[0].as_str().unwrap()];
        let covered = r[1].as_str().map_or(0.0, |s| s.parse().unwrap());
        let on_demand = f(&r[2]);
        assert!((f(&v["covered"]) - covered).abs() < 1e-9, "{r:?}");
        assert!((f(&v["on_demand"]) - on_demand).abs() < 1e-6, "{r:?}");
        assert!(
            (f(&v["coverage"]) - covered / (covered + on_demand)).abs() < 1e-9,
            "{r:?}"
        );
    }

    // One finding per provider with a recommendation, its saving the
    // summary's.
    let findings: Vec<&Value> = out["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "commitment")
        .collect();
    assert_eq!(findings.len(), 2, "{findings:?}");
    for fd in findings {
        let v = views[fd["provider"].as_str().unwrap()];
        assert_eq!(fd["monthly_savings"], v["recommendation"]["monthly_saving"]);
    }
}
