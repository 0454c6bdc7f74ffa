//! `gcp_billing_export` through Google's BigQuery client against bqemulator,
//! with a fault-injecting proxy in front for paging, throttling and bad pages.

use serde_json::Value;

use crate::harness::Workspace;
use crate::peers::{BigQueryEmulator, FaultProxy, Request};
use crate::spend::{
    BQ_DATASET, BQ_PROJECT, BQ_TABLE, Spend, WINDOW, assert_same, daily, workspace,
};

fn bq_workspace(endpoint: &str, extra: &str) -> Workspace {
    workspace(&format!(
        "[collectors.gcp]\ntype = \"gcp_billing_export\"\ntable = \"{BQ_PROJECT}.{BQ_DATASET}.{BQ_TABLE}\"\nendpoint_url = \"{endpoint}\"\n{extra}"
    ))
}

fn is_query(r: &Request) -> bool {
    r.line.starts_with("POST ") && r.line.contains("/queries")
}

fn is_next_page(r: &Request) -> bool {
    r.line.starts_with("GET ") && r.line.contains("pageToken=")
}

/// Real BigQuery answers a query with its first page only when the result is
/// large; bqemulator always sends every row. This cuts the first answer to
/// 100 rows and a page token (the emulator's tokens are row offsets), so
/// the client pages through the rest from the emulator.
fn first_page_only(r: &Request, body: String) -> String {
    if !is_query(r) {
        return body;
    }
    let mut doc: Value = serde_json::from_str(&body).unwrap();
    if let Some(rows) = doc["rows"].as_array_mut() {
        rows.truncate(100);
        doc["pageToken"] = Value::from("100");
    }
    doc.to_string()
}

#[test]
fn results_are_paged_and_throttling_is_retried() {
    let spend = Spend::generate();
    let bq = BigQueryEmulator::start(BQ_PROJECT);
    spend.load_bigquery(&bq);
    let expected = spend.expected("Google Cloud");

    let paged = FaultProxy::rewriting(bq.port, Box::new(|_| None), Box::new(first_page_only));
    let ws = bq_workspace(&paged.url(), "anonymous = true");
    let run = ws.run(&WINDOW);
    run.success();
    assert_same("paged", &daily(&ws, "Google Cloud"), &expected);
    // The detailed table gives each row its resource: 3 services x 2 each.
    assert_eq!(distinct_resources(&ws), 6);
    assert!(paged.count() >= 2, "the client fetched a second page");

    let throttled = FaultProxy::start(
        bq.port,
        Box::new(|r| {
            (r.n == 0).then(|| {
                (
                    429,
                    vec![("Content-Type", "application/json")],
                    r#"{"error": {"code": 429, "message": "Quota exceeded: too many requests", "status": "RESOURCE_EXHAUSTED"}}"#.to_string(),
                )
            })
        }),
    );
    let ws = bq_workspace(&throttled.url(), "anonymous = true\nmax_attempts = 3");
    ws.run(&WINDOW).success();
    assert_same("throttled once", &daily(&ws, "Google Cloud"), &expected);

    // The standard export: the same rows without the `resource` field.
    let standard = "gcp_billing_export_v1_01ABCD_234567_89EFGH";
    let mut schema = spend.json("bq_schema.json");
    schema
        .as_array_mut()
        .unwrap()
        .retain(|f| f["name"] != "resource");
    bq.create_table(BQ_DATASET, standard, &schema);
    let mut rows = spend.json("bq_rows.json");
    for r in rows.as_array_mut().unwrap() {
        r.as_object_mut().unwrap().remove("resource");
    }
    bq.insert_all(BQ_DATASET, standard, rows.as_array().unwrap());
    let ws = workspace(&format!(
        "[collectors.gcp]\ntype = \"gcp_billing_export\"\ntable = \"{BQ_PROJECT}.{BQ_DATASET}.{standard}\"\nendpoint_url = \"{}\"\nanonymous = true",
        bq.url()
    ));
    ws.run(&WINDOW).success();
    assert_same("standard table", &daily(&ws, "Google Cloud"), &expected);
    assert_eq!(distinct_resources(&ws), 0);
}

/// Distinct `resource_id`s in a workspace's store, counted by DuckDB.
fn distinct_resources(ws: &Workspace) -> u64 {
    let sql = format!(
        "SELECT count(DISTINCT resource_id) FROM read_parquet('{}/cost/*/*/*.parquet')",
        ws.path("store").display()
    );
    let rows = crate::harness::duckdb_rows(&sql);
    rows[0][0].as_str().unwrap().parse().unwrap()
}

#[test]
fn bad_pages_faults_and_credentials_fail_the_run_and_store_nothing() {
    let spend = Spend::generate();
    let bq = BigQueryEmulator::start(BQ_PROJECT);
    spend.load_bigquery(&bq);

    // A 500 on every attempt at the second page.
    let broken = FaultProxy::rewriting(
        bq.port,
        Box::new(|r| {
            is_next_page(r).then(|| {
                (
                    500,
                    vec![("Content-Type", "application/json")],
                    r#"{"error": {"code": 500, "message": "Backend error", "status": "INTERNAL"}}"#
                        .to_string(),
                )
            })
        }),
        Box::new(first_page_only),
    );
    let ws = bq_workspace(&broken.url(), "anonymous = true\nmax_attempts = 2");
    ws.assert_collect_failed(
        &ws.run(&WINDOW), "gcp",
        "querying `billing-proj.billing_export.gcp_billing_export_resource_v1_01ABCD_234567_89EFGH`: ",
    );

    // An amount that is not a number.
    let garbled = FaultProxy::rewriting(
        bq.port,
        Box::new(|_| None),
        Box::new(|r, body| {
            if !is_query(r) {
                return body;
            }
            let mut doc: Value = serde_json::from_str(&body).unwrap();
            let fields = doc["schema"]["fields"].as_array().unwrap();
            let cost = fields.iter().position(|f| f["name"] == "cost").unwrap();
            doc["rows"][0]["f"][cost]["v"] = Value::from("12,5");
            doc.to_string()
        }),
    );
    let ws = bq_workspace(&garbled.url(), "anonymous = true");
    ws.assert_collect_failed(
        &ws.run(&WINDOW), "gcp",
        "reading the results from `billing-proj.billing_export.gcp_billing_export_resource_v1_01ABCD_234567_89EFGH`: row 1: type conversion error for column 'cost'",
    );

    // An export table without a field the query needs (an old schema).
    let mut schema = spend.json("bq_schema.json");
    schema
        .as_array_mut()
        .unwrap()
        .retain(|f| f["name"] != "cost_at_list");
    bq.create_table(BQ_DATASET, "gcp_billing_export_resource_v1_OLD", &schema);
    let ws = workspace(&format!(
        "[collectors.gcp]\ntype = \"gcp_billing_export\"\ntable = \"{BQ_PROJECT}.{BQ_DATASET}.gcp_billing_export_resource_v1_OLD\"\nendpoint_url = \"{}\"\nanonymous = true",
        bq.url()
    ));
    ws.assert_collect_failed(&ws.run(&WINDOW), "gcp", "cost_at_list");

    // A service-account key that cannot sign.
    let ws = bq_workspace(
        &bq.url(),
        "credentials_file = \"key.json\"\nmax_attempts = 1",
    );
    ws.write(
        "key.json",
        r#"{"type": "service_account", "project_id": "billing-proj", "private_key_id": "0",
            "private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
            "client_email": "vitals@billing-proj.iam.gserviceaccount.com", "client_id": "1",
            "token_uri": "https://oauth2.googleapis.com/token"}"#,
    );
    ws.assert_collect_failed(&ws.run(&WINDOW), "gcp", "BigQuery: credentials:");
}
