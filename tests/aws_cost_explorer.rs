//! `aws_cost_explorer` through the real AWS SDK against moto (PEERS.md):
//! results are queued in the real GetCostAndUsage shape, amounts as strings.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::harness::{Run, Workspace};
use crate::peers::{FaultProxy, Moto};

/// (service, account, unblended, amortized)
type G = (&'static str, &'static str, &'static str, &'static str);

fn day(day: &str, groups: &[G], estimated: bool) -> Value {
    let next = (day.parse::<chrono::NaiveDate>().unwrap() + chrono::Duration::days(1)).to_string();
    let groups: Vec<Value> = groups
        .iter()
        .map(|(service, account, unblended, amortized)| {
            json!({
                "Keys": [service, account],
                "Metrics": {
                    "UnblendedCost": {"Amount": unblended, "Unit": "USD"},
                    "AmortizedCost": {"Amount": amortized, "Unit": "USD"},
                    "NetAmortizedCost": {"Amount": amortized, "Unit": "USD"},
                    "UsageQuantity": {"Amount": "24", "Unit": "N/A"},
                }
            })
        })
        .collect();
    json!({"TimePeriod": {"Start": day, "End": next}, "Total": {}, "Groups": groups, "Estimated": estimated})
}

fn page(days: Vec<Value>, next: Option<&str>) -> Value {
    let mut p = json!({
        "GroupDefinitions": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}],
        "ResultsByTime": days,
        "DimensionValueAttributes": [{"Value": "111122223333", "Attributes": {"description": "prod"}}],
    });
    if let Some(token) = next {
        p["NextPageToken"] = json!(token);
    }
    p
}

/// Cost Explorer's name for EC2 instances, and the product name vitals stores.
const EC2: &str = "Amazon Elastic Compute Cloud - Compute";
const EC2_PRODUCT: &str = "Amazon Elastic Compute Cloud";
const S3: &str = "Amazon Simple Storage Service";

/// September 1-3 over two pages; day 2 is split across them, day 3 is estimated.
fn two_pages() -> Vec<Value> {
    vec![
        page(
            vec![
                day(
                    "2024-09-01",
                    &[
                        (EC2, "111122223333", "120.5012345678", "100.25"),
                        (S3, "111122223333", "3.10", "3.10"),
                    ],
                    false,
                ),
                day(
                    "2024-09-02",
                    &[(EC2, "111122223333", "118.00", "99.00")],
                    false,
                ),
            ],
            Some("page-2"),
        ),
        page(
            vec![
                day("2024-09-02", &[(S3, "444455556666", "2.90", "2.90")], false),
                day(
                    "2024-09-03",
                    &[
                        (EC2, "111122223333", "60.00", "50.00"),
                        (S3, "111122223333", "1.00", "1.00"),
                    ],
                    true,
                ),
            ],
            None,
        ),
    ]
}

fn workspace(endpoint: &str, extra: &str) -> Workspace {
    let ws = Workspace::new();
    ws.write(
        "config.toml",
        &format!(
            "[store]\npath = \"store\"\n\n[collectors.aws]\ntype = \"aws_cost_explorer\"\nendpoint_url = \"{endpoint}\"\n{extra}\n\n[analyzers.cost]\ntype = \"cost_summary\"\n"
        ),
    );
    ws
}

const WINDOW: [&str; 5] = ["collect", "--since", "2024-09-01", "--until", "2024-09-03"];

/// (day, service) -> (billed, effective) from `vitals analyze`.
fn daily(ws: &Workspace) -> BTreeMap<(String, String), (f64, f64)> {
    let summary = ws.cost_summary("2024-09-01", "2024-09-03");
    let mut out = BTreeMap::new();
    for r in summary["daily"].as_array().unwrap() {
        assert_eq!(r["provider"], "AWS");
        let key = (
            r["day"].as_str().unwrap().to_string(),
            r["service"].as_str().unwrap().to_string(),
        );
        out.insert(
            key,
            (
                r["cost"]["billed"].as_f64().unwrap(),
                r["cost"]["effective"].as_f64().unwrap(),
            ),
        );
    }
    out
}

fn key(day: &str, service: &str) -> (String, String) {
    (day.to_string(), service.to_string())
}

#[test]
fn pages_are_followed_and_estimated_days_are_replaced_when_revised() {
    let moto = Moto::start();
    moto.queue_cost_and_usage(&two_pages());
    let ws = workspace(&moto.url(), "");
    let run = ws.run_aws(&WINDOW, true);
    run.success();
    assert!(
        run.stdout
            .contains("aws: 6 rows from 2 API page(s) into 3 day partition(s)"),
        "{}",
        run.stdout
    );
    let first = daily(&ws);
    assert_eq!(
        first[&key("2024-09-01", EC2_PRODUCT)],
        (120.5012345678, 100.25)
    );
    assert_eq!(first[&key("2024-09-02", S3)], (2.90, 2.90));
    assert_eq!(first[&key("2024-09-03", EC2_PRODUCT)], (60.0, 50.0));
    assert_eq!(first.len(), 6);

    // Cost Explorer revises the estimated day: S3 vanishes, EC2 grows.
    moto.reset();
    let mut revised = two_pages();
    revised[1]["ResultsByTime"][1] = day(
        "2024-09-03",
        &[(EC2, "111122223333", "64.00", "53.00")],
        false,
    );
    moto.queue_cost_and_usage(&revised);
    ws.run_aws(&WINDOW, true).success();
    let second = daily(&ws);
    assert_eq!(second[&key("2024-09-03", EC2_PRODUCT)], (64.0, 53.0));
    assert!(
        !second.contains_key(&key("2024-09-03", S3)),
        "the revised-away row is gone"
    );
    assert_eq!(
        second[&key("2024-09-01", EC2_PRODUCT)],
        first[&key("2024-09-01", EC2_PRODUCT)],
        "no double counting"
    );
    assert_eq!(second.len(), 5);
}

/// Runs a faulty collection after a good one and checks the store kept the
/// good one, untouched.
fn assert_failed_and_kept(
    ws: &Workspace,
    run: &Run,
    expected: &str,
    before: &BTreeMap<(String, String), (f64, f64)>,
    files: &[std::path::PathBuf],
) {
    run.code(1);
    assert!(
        run.stderr.contains(expected),
        "missing {expected:?} in:\n{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("aws: failed, nothing stored"),
        "{}",
        run.stdout
    );
    assert_eq!(&ws.store_files(), files);
    assert_eq!(&daily(ws), before);
}

#[test]
fn bad_pages_and_faults_fail_the_run_and_keep_the_store() {
    let moto = Moto::start();
    // A throttled first attempt is retried and the run succeeds.
    moto.queue_cost_and_usage(&two_pages());
    let throttle = FaultProxy::start(
        moto.port,
        Box::new(|r| {
            (r.n == 0).then(|| {
                (
                    400,
                    vec![("Content-Type", "application/x-amz-json-1.1")],
                    r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_string(),
                )
            })
        }),
    );
    let ws = workspace(&throttle.url(), "max_attempts = 3");
    ws.run_aws(&WINDOW, true).success();
    assert_eq!(throttle.count(), 3, "throttled, retried, page 2");
    let before = daily(&ws);

    // A 500 on every attempt at page 2: the run fails after its retries.
    let broken = FaultProxy::start(
        moto.port,
        Box::new(|r| {
            r.body.contains("NextPageToken").then(|| {
                (
                    500,
                    vec![],
                    "<html>Internal Server Error</html>".to_string(),
                )
            })
        }),
    );
    let ws500 = workspace(&broken.url(), "max_attempts = 2");
    copy_dir(&ws.path("store"), &ws500.path("store"));
    let files = ws500.store_files();
    let run = ws500.run_aws(&WINDOW, true);
    assert_failed_and_kept(&ws500, &run, "GetCostAndUsage page 2", &before, &files);
    assert_eq!(broken.count(), 3, "page 1, then page 2 twice");

    // A page with a missing field, and one with an amount that is not a number.
    for (mutate, expected) in [
        (
            Box::new(|p: &mut Value| {
                p["ResultsByTime"][0]["Groups"][0]["Metrics"]
                    .as_object_mut()
                    .unwrap()
                    .remove("AmortizedCost");
            }) as Box<dyn Fn(&mut Value)>,
            "GetCostAndUsage page 1: ResultsByTime[0].Groups[0].Metrics: `AmortizedCost` is missing",
        ),
        (
            Box::new(|p: &mut Value| {
                p["ResultsByTime"][1]["Groups"][0]["Metrics"]["UnblendedCost"]["Amount"] =
                    json!("12,5")
            }),
            "GetCostAndUsage page 1: ResultsByTime[1].Groups[0].Metrics.UnblendedCost.Amount: `12,5` is not a number",
        ),
    ] {
        moto.reset();
        let mut pages = two_pages();
        mutate(&mut pages[0]);
        moto.queue_cost_and_usage(&pages);
        let bad = workspace(&moto.url(), "");
        copy_dir(&ws.path("store"), &bad.path("store"));
        let files = bad.store_files();
        let run = bad.run_aws(&WINDOW, true);
        assert_failed_and_kept(&bad, &run, expected, &before, &files);
    }

    // No credentials at all: a clear error, nothing stored.
    moto.reset();
    moto.queue_cost_and_usage(&two_pages());
    let none = workspace(&moto.url(), "max_attempts = 1");
    let run = none.run_aws(&WINDOW, false);
    run.code(1);
    assert!(
        run.stderr.contains("GetCostAndUsage: credentials:"),
        "{}",
        run.stderr
    );
    assert!(none.store_files().is_empty());
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
