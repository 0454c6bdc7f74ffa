//! One spend, four roads: the same month of AWS and GCP spend through Cost
//! Explorer (moto), a CUR 2.0 export (moto S3), the BigQuery billing export
//! (bqemulator) and FOCUS files (from S3 and from Cloud Storage) gives the
//! same daily totals per provider and service, each equal to DuckDB's sums
//! over the same data.

use crate::peers::{BigQueryEmulator, GcsEmulator, Moto};
use crate::spend::{
    BQ_DATASET, BQ_PROJECT, BQ_TABLE, BUCKET, EXPORT_PATH, Spend, WINDOW, assert_same, daily,
    total, workspace,
};

#[test]
fn one_spend_four_roads_give_the_same_daily_totals() {
    let spend = Spend::generate();
    let moto = Moto::start();
    let bq = BigQueryEmulator::start(BQ_PROJECT);
    let gcs = GcsEmulator::start();
    moto.queue_cost_and_usage(spend.json("ce_pages.json").as_array().unwrap());
    spend.load_cur(&moto);
    spend.load_focus_s3(&moto);
    spend.load_bigquery(&bq);
    spend.load_focus_gcs(&gcs);

    let aws_roads = [
        (
            "aws_cost_explorer",
            format!(
                "[collectors.ce]\ntype = \"aws_cost_explorer\"\nendpoint_url = \"{}\"",
                moto.url()
            ),
        ),
        (
            "aws_cur",
            format!(
                "[collectors.cur]\ntype = \"aws_cur\"\npath = \"s3://{BUCKET}/{EXPORT_PATH}\"\nendpoint_url = \"{}\"",
                moto.url()
            ),
        ),
        (
            "focus_file (s3://)",
            format!(
                "[collectors.focus]\ntype = \"focus_file\"\npath = \"s3://{BUCKET}/focus/aws/**/*.csv\"\nendpoint_url = \"{}\"",
                moto.url()
            ),
        ),
    ];
    let gcp_roads = [
        (
            "gcp_billing_export",
            format!(
                "[collectors.gcp]\ntype = \"gcp_billing_export\"\ntable = \"{BQ_PROJECT}.{BQ_DATASET}.{BQ_TABLE}\"\nendpoint_url = \"{}\"\nanonymous = true",
                bq.url()
            ),
        ),
        (
            "focus_file (gs://)",
            format!(
                "[collectors.focus]\ntype = \"focus_file\"\npath = \"gs://exports/focus/gcp/2024-09/\"\nendpoint_url = \"{}\"\nanonymous = true",
                gcs.url()
            ),
        ),
    ];

    println!(
        "{:<22} {:>14} {:>14}  (September 2024)",
        "road", "billed", "effective"
    );
    for (provider, roads) in [("AWS", &aws_roads[..]), ("Google Cloud", &gcp_roads[..])] {
        let expected = spend.expected(provider);
        assert_eq!(expected.len(), 30 * if provider == "AWS" { 4 } else { 3 });
        let (b, e) = total(&expected);
        println!("{:<22} {b:>14.6} {e:>14.6}", format!("DuckDB ({provider})"));
        for (road, collector) in roads {
            let ws = workspace(collector);
            let run = ws.run_aws(&WINDOW, true);
            run.success();
            let got = daily(&ws, provider);
            let (b, e) = total(&got);
            println!("{road:<22} {b:>14.6} {e:>14.6}");
            assert_same(road, &got, &expected);
        }
    }
    // The stale revision in S3 (every amount doubled) was never read: the
    // CUR road equals DuckDB over the newest revision's files.
}
