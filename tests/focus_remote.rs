//! `focus_file` from object storage: `s3://` through the AWS SDK against
//! moto, `gs://` through the Cloud Storage JSON API against
//! gcp-storage-emulator. (Their happy path is a road of `four_roads`.)

use crate::harness::Workspace;
use crate::peers::{FaultProxy, GcsEmulator, Moto};
use crate::spend::{BUCKET, Spend, WINDOW, workspace};

fn focus(path: &str, endpoint: &str, extra: &str) -> Workspace {
    workspace(&format!(
        "[collectors.focus]\ntype = \"focus_file\"\npath = \"{path}\"\nendpoint_url = \"{endpoint}\"\n{extra}"
    ))
}

#[test]
fn object_store_paths_report_their_urls_and_faults() {
    let spend = Spend::generate();
    let moto = Moto::start();
    let gcs = GcsEmulator::start();
    moto.create_bucket(BUCKET);
    gcs.create_bucket("exports");

    // Bad rows are reported with the object's URL and line; the rest loads.
    let mut text = String::from_utf8(spend.bytes("focus_aws.csv")).unwrap();
    text.push_str("oops,1,USD,Usage,2024-09-30T00:00:00Z,2024-09-30T06:00:00Z,AWS,S,1,a,r,s,us-east-1,NULL,\n");
    moto.put_object(BUCKET, "focus/2024-09/part 1.csv", text.as_bytes());
    let ws = focus(
        &format!("s3://{BUCKET}/focus/*/*.csv"),
        &moto.url(),
        "max_bad_row_fraction = 0.5",
    );
    let run = ws.run_aws(&WINDOW, true);
    run.success();
    let lines = text.lines().count();
    assert!(
        run.stderr.contains(&format!(
            "s3://{BUCKET}/focus/2024-09/part 1.csv:{lines}: `BilledCost`: invalid number `oops`"
        )),
        "{}",
        run.stderr
    );

    // A pattern that matches nothing.
    let ws = focus(&format!("s3://{BUCKET}/focus/*/*.parquet"), &moto.url(), "");
    ws.assert_collect_failed(
        &ws.run_aws(&WINDOW, true),
        "focus",
        &format!("no files match `s3://{BUCKET}/focus/*/*.parquet` (no objects)"),
    );

    // A bucket that does not exist.
    let ws = focus("gs://nowhere/focus/", &gcs.url(), "anonymous = true");
    ws.assert_collect_failed(
        &ws.run(&WINDOW),
        "focus",
        "listing `gs://nowhere/focus/`: HTTP 404 Not Found",
    );

    // An object that is not FOCUS.
    gcs.upload("exports", "focus/other.csv", b"date,amount\n2024-09-01,3\n");
    let ws = focus(
        "gs://exports/focus/other.csv",
        &gcs.url(),
        "anonymous = true",
    );
    ws.assert_collect_failed(
        &ws.run(&WINDOW),
        "focus",
        "`gs://exports/focus/other.csv` is not a FOCUS export",
    );

    // Every download attempt fails: retried, then the run fails whole.
    gcs.upload(
        "exports",
        "focus/gcp/2024-09/part-0.csv",
        &spend.bytes("focus_gcp.csv"),
    );
    let broken = FaultProxy::start(
        gcs.port,
        Box::new(|r| {
            r.line.contains("alt=media").then(|| {
                (
                    503,
                    vec![("Content-Type", "application/json")],
                    r#"{"error": {"code": 503, "message": "Backend Error"}}"#.to_string(),
                )
            })
        }),
    );
    let ws = focus(
        "gs://exports/focus/gcp/2024-09/",
        &broken.url(),
        "anonymous = true\nmax_attempts = 3",
    );
    ws.assert_collect_failed(
        &ws.run(&WINDOW), "focus",
        "downloading `gs://exports/focus/gcp/2024-09/part-0.csv`: HTTP 503 Service Unavailable: Backend Error",
    );
    assert_eq!(
        broken.count(),
        1 + 3,
        "one listing, three attempts at the object"
    );
}
