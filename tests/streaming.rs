//! The streamed write path: files far larger than one batch (65,536 rows),
//! their days mixed so that every batch touches every day, collected into
//! the store and checked against DuckDB over the same files; and a run that
//! fails after many batches leaves the previous data untouched.

use std::collections::BTreeMap;

use crate::harness::{Workspace, duckdb_execute, duckdb_rows};

/// Rows of the generated export: more than four batches.
const ROWS: u64 = 300_000;

/// A seeded FOCUS export of `ROWS` rows over 20 days of September 2024, in
/// an order that mixes the days; `bad_tail` of the rows (the last ones
/// generated, scattered by the order) have a non-numeric `BilledCost` (CSV
/// only).
fn generate(ws: &Workspace, name: &str, format: &str, bad_tail: u64) {
    let path = ws.path(&format!("files/{name}"));
    let billed = if bad_tail > 0 {
        format!("CASE WHEN i >= {ROWS} - {bad_tail} THEN 'oops' ELSE billed::VARCHAR END")
    } else {
        "billed".to_string()
    };
    let sql = format!(
        "COPY (
           WITH r AS (
             SELECT i, (hash(i, 'day') % 20)::BIGINT AS day, (hash(i, 'svc') % 15)::BIGINT AS svc,
                    round((hash(i, 'cost') % 1000000000) / 1e8, 10) AS billed
             FROM range({ROWS}) t(i))
           SELECT {billed} AS BilledCost, round(billed * 0.9, 10) AS EffectiveCost,
                  'USD' AS BillingCurrency, 'Usage' AS ChargeCategory,
                  TIMESTAMP '2024-09-01' + INTERVAL (day) DAY + INTERVAL (i % 24) HOUR AS ChargePeriodStart,
                  TIMESTAMP '2024-09-01' + INTERVAL (day) DAY + INTERVAL (i % 24 + 1) HOUR AS ChargePeriodEnd,
                  ['AWS', 'Google Cloud', 'Microsoft'][svc % 3 + 1] AS ProviderName,
                  'Service ' || svc AS ServiceName,
                  'res-' || (i % 5000) AS ResourceId,
                  CASE WHEN i % 5 <> 0 THEN '{{\"environment\":\"' || ['prod', 'dev'][i % 2 + 1] || '\"}}' END AS Tags
           FROM r ORDER BY hash(i, 'order')
         ) TO '{}' ({format})",
        path.display()
    );
    duckdb_execute(&sql);
}

/// (billed, effective, rows) per day, as DuckDB reads `from`.
fn per_day(
    from: &str,
    start: &str,
    billed: &str,
    effective: &str,
) -> BTreeMap<String, (f64, f64, u64)> {
    duckdb_rows(&format!(
        "SELECT CAST({start} AS DATE)::VARCHAR, sum({billed}), sum({effective}), count(*) \
         FROM {from} GROUP BY 1 ORDER BY 1"
    ))
    .into_iter()
    .map(|r| {
        let s = |i: usize| r[i].as_str().unwrap().to_string();
        (
            s(0),
            (
                s(1).parse().unwrap(),
                s(2).parse().unwrap(),
                s(3).parse().unwrap(),
            ),
        )
    })
    .collect()
}

fn assert_same(
    vitals: &BTreeMap<String, (f64, f64, u64)>,
    duckdb: &BTreeMap<String, (f64, f64, u64)>,
) {
    assert_eq!(
        vitals.keys().collect::<Vec<_>>(),
        duckdb.keys().collect::<Vec<_>>(),
        "the same days"
    );
    for (day, &(b, e, n)) in duckdb {
        let (vb, ve, vn) = vitals[day];
        assert_eq!(vn, n, "{day}: rows");
        assert!(
            (vb - b).abs() <= 1e-9 * b.abs().max(1.0),
            "{day} billed: vitals {vb}, DuckDB {b}"
        );
        assert!(
            (ve - e).abs() <= 1e-9 * e.abs().max(1.0),
            "{day} effective: vitals {ve}, DuckDB {e}"
        );
    }
}

fn store_per_day(ws: &Workspace) -> BTreeMap<String, (f64, f64, u64)> {
    per_day(
        &format!(
            "read_parquet('{}/cost/*/*/part.parquet', hive_partitioning = false)",
            ws.path("store").display()
        ),
        "charge_period_start",
        "billed_cost",
        "effective_cost",
    )
}

#[test]
fn a_parquet_export_of_many_batches_is_stored_whole_and_equals_duckdb() {
    let ws = Workspace::with_focus_files();
    generate(
        &ws,
        "export.parquet",
        "FORMAT parquet, ROW_GROUP_SIZE 50000",
        0,
    );
    ws.run(&["collect"]).success();
    let raw = per_day(
        &format!("'{}'", ws.path("files/export.parquet").display()),
        "ChargePeriodStart",
        "BilledCost",
        "EffectiveCost",
    );
    assert_eq!(raw.values().map(|v| v.2).sum::<u64>(), ROWS);
    assert_same(&store_per_day(&ws), &raw);
    // And through the analyzer: the summary's days equal DuckDB's sums.
    let summary = ws.cost_summary("2024-09-14", "2024-09-20");
    let mut daily: BTreeMap<String, (f64, f64, u64)> = BTreeMap::new();
    for r in summary["daily"].as_array().unwrap() {
        let e = daily
            .entry(r["day"].as_str().unwrap().to_string())
            .or_default();
        e.0 += r["cost"]["billed"].as_f64().unwrap();
        e.1 += r["cost"]["effective"].as_f64().unwrap();
    }
    for (day, (b, e, _)) in &daily {
        let (rb, re, _) = raw[day];
        assert!(
            (b - rb).abs() <= 1e-9 * rb.max(1.0),
            "{day}: summary {b}, DuckDB {rb}"
        );
        assert!(
            (e - re).abs() <= 1e-9 * re.max(1.0),
            "{day}: summary {e}, DuckDB {re}"
        );
    }
    assert_eq!(daily.len(), 14, "the week and the week before");
    let untagged = &summary["untagged"][0];
    let expected_untagged: f64 = duckdb_rows(&format!(
        "SELECT sum(BilledCost) FROM '{}' WHERE Tags IS NULL \
           AND ChargePeriodStart >= DATE '2024-09-14' AND ChargePeriodStart < DATE '2024-09-21'",
        ws.path("files/export.parquet").display()
    ))[0][0]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let got = untagged["untagged"]["billed"].as_f64().unwrap();
    assert!(
        (got - expected_untagged).abs() <= 1e-9 * expected_untagged,
        "untagged: {got} vs {expected_untagged}"
    );
}

#[test]
fn a_run_that_fails_after_many_batches_leaves_the_previous_data() {
    let ws = Workspace::with_focus_files();
    generate(&ws, "export.csv", "FORMAT csv, HEADER true", 0);
    ws.run(&["collect"]).success();
    let before = store_per_day(&ws);
    let files_before = ws.store_files();
    assert_eq!(before.values().map(|v| v.2).sum::<u64>(), ROWS);

    // The same export with 10 rows broken: the file fails only when read to
    // its end, after more than four batches went to the store's staging files.
    generate(&ws, "export.csv", "FORMAT csv, HEADER true", 10);
    ws.write(
        "config.toml",
        &std::fs::read_to_string(ws.path("config.toml"))
            .unwrap()
            .replace(
                "path = \"files\"",
                "path = \"files\"\nmax_bad_row_fraction = 0.0",
            ),
    );
    let run = ws.run(&["collect"]);
    run.code(1);
    assert!(
        run.stderr.contains("10 of 300000 rows are bad"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("files: failed, nothing stored"),
        "{}",
        run.stdout
    );
    assert_eq!(
        ws.store_files(),
        files_before,
        "no partition replaced, no temporary file left"
    );
    assert_same(&store_per_day(&ws), &before);
}
