//! `aws_cur` against moto S3: revisions, bad exports, faults.

use crate::harness::Workspace;
use crate::peers::{FaultProxy, Moto};
use crate::spend::{
    BUCKET, EXPORT_PATH, MANIFEST, PERIOD_DATA, Spend, WINDOW, assert_same, daily, duckdb,
    workspace,
};

fn cur_workspace(endpoint: &str, extra: &str) -> Workspace {
    workspace(&format!(
        "[collectors.cur]\ntype = \"aws_cur\"\npath = \"s3://{BUCKET}/{EXPORT_PATH}\"\nendpoint_url = \"{endpoint}\"\n{extra}"
    ))
}

/// Points the manifest at `files` (keys under the period's data folder).
fn manifest(moto: &Moto, files: &[&str]) {
    let data: Vec<String> = files
        .iter()
        .map(|f| format!("s3://{BUCKET}/{PERIOD_DATA}/{f}"))
        .collect();
    let body = serde_json::json!({"executionId": "test", "dataFiles": data}).to_string();
    moto.put_object(BUCKET, MANIFEST, body.as_bytes());
}

/// A copy of the newest revision's first file with one change, made by DuckDB.
fn altered(spend: &Spend, name: &str, select: &str) -> Vec<u8> {
    let source = spend.cur_files("exec-2")[0].1.clone();
    let target = spend.path(name);
    duckdb(&format!(
        "COPY (SELECT {select} FROM read_parquet('{}')) TO '{}' (FORMAT parquet)",
        source.display(),
        target.display()
    ));
    std::fs::read(target).unwrap()
}

#[test]
fn a_new_revision_replaces_the_month_and_bad_line_items_are_counted() {
    let spend = Spend::generate();
    let moto = Moto::start();
    spend.load_cur(&moto);
    let ws = cur_workspace(&moto.url(), "");
    let run = ws.run_aws(&WINDOW, true);
    run.success();
    assert!(run.stdout.contains("cur: "), "{}", run.stdout);
    let first = daily(&ws, "AWS");
    assert_same("newest revision", &first, &spend.expected("AWS"));

    // AWS delivers a revision that has only the first file's line items,
    // two of which lost their cost: the month is replaced, the two are
    // reported with their file and row, the rest loads.
    let revised = altered(
        &spend,
        "revised.parquet",
        "* REPLACE (CASE WHEN line_item_resource_id = 'i-01110' AND hour(line_item_usage_start_date) = 6 \
         AND day(line_item_usage_start_date) IN (3, 4) THEN NULL ELSE line_item_unblended_cost END AS line_item_unblended_cost)",
    );
    moto.put_object(
        BUCKET,
        &format!("{PERIOD_DATA}/exec-3/part-1.parquet"),
        &revised,
    );
    manifest(&moto, &["exec-3/part-1.parquet"]);
    let run = ws.run_aws(&WINDOW, true);
    run.success();
    assert!(
        run.stdout.contains("2 bad row(s) left out"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains(&format!(
            "s3://{BUCKET}/{PERIOD_DATA}/exec-3/part-1.parquet row "
        )) && run
            .stderr
            .contains("`line_item_unblended_cost`: a value is required"),
        "{}",
        run.stderr
    );
    let second = daily(&ws, "AWS");
    assert_same(
        "revision",
        &second,
        &spend.cur_totals(&spend.path("revised.parquet")),
    );
    assert!(
        second.len() < first.len(),
        "the revision's fewer days replaced the month"
    );
}

#[test]
fn bad_exports_fail_the_run_and_store_nothing() {
    let spend = Spend::generate();
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    let run_with = |ws: &Workspace| ws.run_aws(&WINDOW, true);

    // No manifest for any billing period read.
    let ws = cur_workspace(&moto.url(), "");
    ws.assert_collect_failed(
        &run_with(&ws), "cur",
        &format!(
            "no files match `s3://{BUCKET}/{EXPORT_PATH}/metadata/BILLING_PERIOD=*/vitals-cur-Manifest.json` (no manifest for any billing period read"
        ),
    );

    // A manifest that is not JSON.
    moto.put_object(BUCKET, MANIFEST, b"<html>not json</html>");
    let ws = cur_workspace(&moto.url(), "");
    ws.assert_collect_failed(
        &run_with(&ws),
        "cur",
        &format!("export manifest `s3://{BUCKET}/{MANIFEST}`: not JSON"),
    );

    // A data file of neither CUR 2.0 nor FOCUS.
    moto.put_object(
        BUCKET,
        &format!("{PERIOD_DATA}/x/other.csv"),
        b"date,amount\n2024-09-01,3\n",
    );
    manifest(&moto, &["x/other.csv"]);
    let ws = cur_workspace(&moto.url(), "");
    ws.assert_collect_failed(
        &run_with(&ws), "cur",
        "other.csv` is not a FOCUS export: none of its 2 columns is a FOCUS column (it starts with `date`, `amount`) (nor a CUR 2.0 Parquet export",
    );

    // A CUR file without a required column names it.
    let no_currency = altered(
        &spend,
        "no-currency.parquet",
        "* EXCLUDE (line_item_currency_code)",
    );
    moto.put_object(
        BUCKET,
        &format!("{PERIOD_DATA}/x/no-currency.parquet"),
        &no_currency,
    );
    manifest(&moto, &["x/no-currency.parquet"]);
    let ws = cur_workspace(&moto.url(), "");
    ws.assert_collect_failed(
        &run_with(&ws), "cur",
        "no-currency.parquet` is not a CUR 2.0 export: missing required columns `line_item_currency_code`",
    );

    // A cost column that holds text fails the file, naming the column.
    let text_cost = altered(
        &spend,
        "text-cost.parquet",
        "* REPLACE ('12,5' AS line_item_unblended_cost)",
    );
    moto.put_object(
        BUCKET,
        &format!("{PERIOD_DATA}/x/text-cost.parquet"),
        &text_cost,
    );
    manifest(&moto, &["x/text-cost.parquet"]);
    let ws = cur_workspace(&moto.url(), "");
    ws.assert_collect_failed(
        &run_with(&ws),
        "cur",
        "text-cost.parquet`: column `line_item_unblended_cost`",
    );

    // More bad line items than allowed.
    let no_costs = altered(
        &spend,
        "no-costs.parquet",
        "* REPLACE (NULL::DOUBLE AS line_item_unblended_cost)",
    );
    moto.put_object(
        BUCKET,
        &format!("{PERIOD_DATA}/x/no-costs.parquet"),
        &no_costs,
    );
    manifest(&moto, &["x/no-costs.parquet"]);
    let ws = cur_workspace(&moto.url(), "");
    ws.assert_collect_failed(
        &run_with(&ws),
        "cur",
        "rows are bad, more than `max_bad_row_fraction` = 0.01 allows; first: s3://",
    );

    // No credentials at all.
    let ws = cur_workspace(&moto.url(), "max_attempts = 1");
    let run = ws.run_aws(&WINDOW, false);
    ws.assert_collect_failed(&run, "cur", "S3: credentials:");
}

#[test]
fn s3_faults_are_retried_or_fail_the_run_whole() {
    let spend = Spend::generate();
    let moto = Moto::start();
    spend.load_cur(&moto);
    let second_file = "vitals-cur-00002.snappy.parquet";

    // The first attempt at every request is throttled: retried, and the run succeeds.
    let slow = FaultProxy::start(
        moto.port,
        Box::new(|r| {
            (r.n == 0).then(|| {
                (503, vec![("Content-Type", "application/xml")], "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>".to_string())
            })
        }),
    );
    let ws = cur_workspace(&slow.url(), "max_attempts = 3");
    ws.run_aws(&WINDOW, true).success();
    assert_same(
        "after a throttled request",
        &daily(&ws, "AWS"),
        &spend.expected("AWS"),
    );
    assert_eq!(
        slow.count(),
        4,
        "manifest (throttled, retried) and two data files"
    );

    // Every attempt at the second data file fails: the run fails after its
    // retries, and the first file's days are not stored either.
    let broken = FaultProxy::start(
        moto.port,
        Box::new(move |r| {
            r.line.contains(second_file).then(|| {
                (500, vec![("Content-Type", "application/xml")], "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>".to_string())
            })
        }),
    );
    let ws = cur_workspace(&broken.url(), "max_attempts = 2");
    let run = ws.run_aws(&WINDOW, true);
    ws.assert_collect_failed(
        &run,
        "cur",
        &format!("downloading `s3://{BUCKET}/{PERIOD_DATA}/exec-2/{second_file}`"),
    );
}
