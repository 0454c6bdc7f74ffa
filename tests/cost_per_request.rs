//! `cost_per_request` against DuckDB: the same FOCUS rows and raw request
//! logs, read by DuckDB straight from the files (not from vitals' store),
//! joined by the service tag. Per service, currency and day, and per
//! service over the week and the week before, cost, requests and cost per
//! 1,000 requests must equal DuckDB's to 1e-9; so must the unattributed
//! cost and its share. Of the services, only `search` (cost up 60 % on
//! flat traffic) is a finding; `api` (cost and traffic both up 30 %) is
//! not.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

use crate::harness::{Workspace, duckdb_rows, f64_of as f};

const CONFIG: &str = r#"
[store]
path = "store"

[collectors.billing]
type = "focus_file"
path = "focus.csv"

[collectors.edge]
type = "request_log"
path = "edge/*.csv"

[collectors.app]
type = "request_log"
path = "app/*.csv"

[analyzers.unit]
type = "cost_per_request"
tag_key = "service"
services = { web-frontend = "web" }
"#;

const HEADER: &str = "BilledCost,EffectiveCost,ListCost,BillingAccountId,BillingAccountName,\
BillingCurrency,ChargeCategory,ChargeClass,ChargeDescription,ChargePeriodStart,ChargePeriodEnd,\
ConsumedQuantity,ConsumedUnit,PricingCategory,PricingQuantity,PricingUnit,ProviderName,RegionId,\
ResourceId,ResourceName,ResourceType,ServiceCategory,ServiceName,SkuId,SubAccountId,\
SubAccountName,Tags";

/// 2024-09-16 + `d` days.
fn day(d: i64) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2024, 9, 16).unwrap() + chrono::Duration::days(d)
}

/// The bill: per day (W38 and W39, and one day either side that the
/// week-over-week must leave out), each service's rows at three hours, in
/// USD and (for `api`) EUR; untagged rows; a tagged service no log knows.
fn focus_csv() -> String {
    let mut out = String::from(HEADER);
    out.push('\n');
    let mut row = |d: i64, hour: u32, currency: &str, effective: f64, tags: &str| {
        let start = day(d).and_hms_opt(hour, 0, 0).unwrap();
        let end = start + chrono::Duration::hours(1);
        let _ = writeln!(
            out,
            "{b:.10},{effective:.10},{b:.10},acct,Acme,{currency},Usage,,usage,{}Z,{}Z,1,Hours,\
             Standard,1,Hours,AWS,us-east-1,res-{d}-{hour},res,Instance,Compute,EC2,sku,acct,\
             prod,\"{}\"",
            start.format("%Y-%m-%dT%H:%M:%S"),
            end.format("%Y-%m-%dT%H:%M:%S"),
            tags.replace('"', "\"\""),
            b = effective * 1.1,
        );
    };
    for d in -1..15 {
        let w2 = d >= 7;
        let wobble = 1.0 + (d as f64) * 0.013;
        for hour in [0, 7, 23] {
            let h = f64::from(hour) / 100.0;
            let api = (1.234_567_891 + h) * wobble * if w2 { 1.3 } else { 1.0 };
            row(
                d,
                hour,
                "USD",
                api,
                r#"{"service": "api", "owner": "platform"}"#,
            );
            row(d, hour, "EUR", api / 3.0, r#"{"service": "api"}"#);
            let search = (0.777_777_7 + h) * if w2 { 1.6 } else { 1.0 };
            row(d, hour, "USD", search, r#"{"service": "search"}"#);
            row(d, hour, "USD", 0.333 + h, r#"{"service": "web-frontend"}"#);
            row(d, hour, "USD", 0.25 + h * wobble, r#"{"service": "batch"}"#);
            row(d, hour, "USD", 0.5 * wobble, "{}");
            row(d, hour, "USD", 0.125, r#"{"team": "x"}"#);
            row(d, hour, "EUR", 0.2, "");
        }
    }
    out
}

/// Request logs: `edge` sees every service, `app` only some of `api`'s
/// requests (fewer: `edge` is the source counted for `api`).
fn request_logs(ws: &Workspace) {
    let mut edge = String::from("timestamp,service,endpoint,duration_ms,status\n");
    let mut app = edge.clone();
    for d in -1..15 {
        let midnight = day(d).and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp();
        let w2 = d >= 7;
        let per_day = [
            ("api", if w2 { 520 } else { 400 }),
            ("search", 300 + d),
            ("web", 200),
        ];
        for (service, n) in per_day {
            for i in 0..n {
                let t = midnight + i * 86_399 / n;
                let _ = writeln!(edge, "{t},{service},/,{},200", 50 + i % 40);
                if service == "api" && i % 4 == 0 {
                    let _ = writeln!(app, "{t},{service},/,{},200", 60 + i % 30);
                }
            }
        }
    }
    ws.write("edge/requests.csv", &edge);
    ws.write("app/requests.csv", &app);
}

#[track_caller]
fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
        "{what}: vitals {got} vs DuckDB {want}"
    );
}

#[test]
fn cost_per_request_equals_duckdb_joining_the_same_files() {
    let ws = Workspace::new();
    ws.write("config.toml", CONFIG);
    ws.write("focus.csv", &focus_csv());
    request_logs(&ws);
    ws.run(&["collect"]).success();
    let out = ws.analyze("2024-09-23", "2024-09-29");
    let summary = out["summaries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "cost_per_request")
        .expect("a cost_per_request summary");

    let focus = ws.path("focus.csv").display().to_string();
    let edge = ws.path("edge/requests.csv").display().to_string();
    // The oracle's join: cost per (service, currency, day) by the tag
    // (mapped), requests per (service, day) from the edge log.
    let cost = format!(
        "SELECT CASE json_extract_string(Tags, '$.service') WHEN 'web-frontend' THEN 'web' \
                ELSE json_extract_string(Tags, '$.service') END AS service, \
                BillingCurrency AS currency, CAST(ChargePeriodStart AS DATE) AS day, \
                sum(EffectiveCost) AS cost \
         FROM read_csv('{focus}', all_varchar = true, \
                       types = {{'EffectiveCost': 'DECIMAL(38,12)', 'ChargePeriodStart': 'TIMESTAMP'}}) \
         GROUP BY ALL"
    );
    let requests = format!(
        "SELECT service, CAST(make_timestamp(CAST(timestamp AS BIGINT) * 1000000) AS DATE) AS day, count(*) AS requests \
         FROM read_csv('{edge}') GROUP BY ALL"
    );
    let joined = |from: &str, to: &str| {
        duckdb_rows(&format!(
            "WITH c AS ({cost}), r AS ({requests}) \
             SELECT c.service, c.currency, sum(c.cost), sum(coalesce(r.requests, 0)) \
             FROM c LEFT JOIN r ON c.service = r.service AND c.day = r.day \
             WHERE c.service IS NOT NULL AND c.day BETWEEN '{from}' AND '{to}' \
             GROUP BY ALL ORDER BY ALL"
        ))
    };

    // Per day.
    let days = duckdb_rows(&format!(
        "WITH c AS ({cost}), r AS ({requests}) \
         SELECT c.service, c.currency, strftime(c.day, '%Y-%m-%d'), c.cost, coalesce(r.requests, 0) \
         FROM c LEFT JOIN r ON c.service = r.service AND c.day = r.day \
         WHERE c.service IS NOT NULL AND c.day BETWEEN '2024-09-23' AND '2024-09-29' \
         ORDER BY ALL"
    ));
    let got: BTreeMap<(String, String, String), &Value> = summary["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let s = |k: &str| d[k].as_str().unwrap().to_string();
            ((s("service"), s("currency"), s("day")), d)
        })
        .collect();
    assert_eq!(
        got.len(),
        days.len(),
        "the same (service, currency, day) groups"
    );
    for r in &days {
        let key = (
            r[0].as_str().unwrap().to_string(),
            r[1].as_str().unwrap().to_string(),
            r[2].as_str().unwrap().to_string(),
        );
        let d = got
            .get(&key)
            .unwrap_or_else(|| panic!("vitals lacks {key:?}"));
        let (cost, n) = (f(&r[3]), f(&r[4]));
        close(f(&d["cost"]), cost, &format!("{key:?} cost"));
        assert_eq!(f(&d["requests"]), n, "{key:?} requests");
        match n > 0.0 {
            true => close(
                f(&d["per_1k_requests"]),
                cost / n * 1000.0,
                &format!("{key:?} per 1k"),
            ),
            false => assert!(d["per_1k_requests"].is_null(), "{key:?}: no requests"),
        }
    }

    // The week and the week before.
    let current = joined("2024-09-23", "2024-09-29");
    let previous = joined("2024-09-16", "2024-09-22");
    let services = summary["services"].as_array().unwrap();
    assert_eq!(services.len(), current.len());
    for (cur, prev) in current.iter().zip(&previous) {
        let (service, currency) = (cur[0].as_str().unwrap(), cur[1].as_str().unwrap());
        let s = services
            .iter()
            .find(|s| s["service"] == service && s["currency"] == currency)
            .unwrap_or_else(|| panic!("vitals lacks {service} {currency}"));
        for (side, want) in [("current", cur), ("previous", prev)] {
            let (cost, n) = (f(&want[2]), f(&want[3]));
            close(
                f(&s[side]["cost"]),
                cost,
                &format!("{service} {currency} {side} cost"),
            );
            assert_eq!(f(&s[side]["requests"]), n, "{service} {side} requests");
            if n > 0.0 {
                close(
                    f(&s[side]["per_1k_requests"]),
                    cost / n * 1000.0,
                    &format!("{service} {currency} {side} per 1k"),
                );
            }
        }
        let want_source = if service == "batch" {
            Value::Null
        } else {
            "edge".into()
        };
        assert_eq!(s["source"], want_source, "{service}: the busiest source");
    }
    let batch = services.iter().find(|s| s["service"] == "batch").unwrap();
    assert!(
        batch["current"]["per_1k_requests"].is_null(),
        "no requests, no ratio"
    );

    // Unattributed: rows without a `service` tag, and their share.
    let unattributed = duckdb_rows(&format!(
        "WITH c AS ({cost}) SELECT currency, sum(cost) FILTER (service IS NULL), sum(cost) \
         FROM c WHERE day BETWEEN '2024-09-23' AND '2024-09-29' GROUP BY ALL ORDER BY ALL"
    ));
    let got = summary["unattributed"].as_array().unwrap();
    assert_eq!(got.len(), unattributed.len());
    for (g, w) in got.iter().zip(&unattributed) {
        assert_eq!(g["currency"], w[0]);
        close(f(&g["cost"]), f(&w[1]), "unattributed cost");
        close(f(&g["share"]), f(&w[1]) / f(&w[2]), "unattributed share");
    }

    // Only `search`: its unit cost rose 60 % on flat traffic; `api`'s
    // cost rose with its traffic.
    let findings: Vec<&Value> = out["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "cost_per_request")
        .collect();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["service"], "search");
    let e = &findings[0]["evidence"];
    let s = services.iter().find(|s| s["service"] == "search").unwrap();
    close(
        f(&e["ratio"]),
        f(&s["current"]["per_1k_requests"]) / f(&s["previous"]["per_1k_requests"]),
        "the finding's ratio",
    );
    assert!(
        f(&e["ratio"]) > 1.5 && f(&e["requests_ratio"]) < 1.05,
        "{e}"
    );
}
