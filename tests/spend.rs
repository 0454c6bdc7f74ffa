//! The synthetic month of AWS and GCP spend of `fixtures/spend.py`, loaded
//! into the peers the way each road serves it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::{Workspace, repo};
use crate::peers::{BigQueryEmulator, GcsEmulator, Moto, venv_bin};

pub const BUCKET: &str = "billing";
pub const EXPORT_PATH: &str = "cur/vitals-cur";
pub const PERIOD_DATA: &str = "cur/vitals-cur/data/BILLING_PERIOD=2024-09";
pub const MANIFEST: &str =
    "cur/vitals-cur/metadata/BILLING_PERIOD=2024-09/vitals-cur-Manifest.json";
pub const BQ_PROJECT: &str = "billing-proj";
pub const BQ_DATASET: &str = "billing_export";
pub const BQ_TABLE: &str = "gcp_billing_export_resource_v1_01ABCD_234567_89EFGH";
pub const WINDOW: [&str; 5] = ["collect", "--since", "2024-09-01", "--until", "2024-09-30"];

/// (day, service) -> (billed, effective)
pub type Daily = BTreeMap<(String, String), (f64, f64)>;

/// The generated files, in a temp directory.
pub struct Spend {
    pub dir: tempfile::TempDir,
}

impl Spend {
    pub fn generate() -> Spend {
        let dir = tempfile::tempdir().unwrap();
        spend_py(&[dir.path().as_os_str()]);
        Spend { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn json(&self, rel: &str) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.path(rel)).unwrap()).unwrap()
    }

    pub fn bytes(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).unwrap()
    }

    /// DuckDB's daily totals of one provider.
    pub fn expected(&self, provider: &str) -> Daily {
        by_day(&self.json("expected.json"), provider)
    }

    /// DuckDB's daily totals of CUR files (a path or glob).
    pub fn cur_totals(&self, files: &Path) -> Daily {
        let out = spend_py(&["--cur-totals".as_ref(), files.as_os_str()]);
        by_day(&serde_json::from_slice(&out).unwrap(), "AWS")
    }

    /// The CUR files of one revision (`exec-1` stale, `exec-2` newest).
    pub fn cur_files(&self, revision: &str) -> Vec<(String, PathBuf)> {
        let mut files: Vec<(String, PathBuf)> =
            std::fs::read_dir(self.path(&format!("cur/{revision}")))
                .unwrap()
                .flatten()
                .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
                .collect();
        files.sort();
        files
    }

    /// Puts both CUR revisions and the manifest (naming the newest) in S3.
    pub fn load_cur(&self, moto: &Moto) {
        moto.create_bucket(BUCKET);
        for revision in ["exec-1", "exec-2"] {
            for (name, path) in self.cur_files(revision) {
                let key = format!("{PERIOD_DATA}/{revision}/{name}");
                moto.put_object(BUCKET, &key, &std::fs::read(path).unwrap());
            }
        }
        moto.put_object(BUCKET, MANIFEST, &self.bytes("cur_manifest.json"));
    }

    /// The detailed billing export table with every row.
    pub fn load_bigquery(&self, bq: &BigQueryEmulator) {
        bq.create_dataset(BQ_DATASET);
        bq.create_table(BQ_DATASET, BQ_TABLE, &self.json("bq_schema.json"));
        let rows = self.json("bq_rows.json");
        bq.insert_all(BQ_DATASET, BQ_TABLE, rows.as_array().unwrap());
    }

    pub fn load_focus_gcs(&self, gcs: &GcsEmulator) {
        gcs.create_bucket("exports");
        gcs.upload(
            "exports",
            "focus/gcp/2024-09/part-0.csv",
            &self.bytes("focus_gcp.csv"),
        );
    }

    pub fn load_focus_s3(&self, moto: &Moto) {
        moto.put_object(
            BUCKET,
            "focus/aws/2024-09/part-0.csv",
            &self.bytes("focus_aws.csv"),
        );
    }
}

/// Runs `tests/fixtures/spend.py` with `args`; returns what it printed.
fn spend_py(args: &[&std::ffi::OsStr]) -> Vec<u8> {
    let out = Command::new(venv_bin("python"))
        .arg(repo().join("tests/fixtures/spend.py"))
        .args(args)
        .output()
        .expect("running tests/fixtures/spend.py");
    assert!(
        out.status.success(),
        "spend.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `{provider: {day: {service: [billed, effective]}}}` as a table.
fn by_day(doc: &Value, provider: &str) -> Daily {
    let mut out = Daily::new();
    for (day, services) in doc[provider].as_object().unwrap() {
        for (service, v) in services.as_object().unwrap() {
            out.insert(
                (day.clone(), service.clone()),
                (v[0].as_f64().unwrap(), v[1].as_f64().unwrap()),
            );
        }
    }
    out
}

/// A workspace whose config has one collector table (`[collectors.NAME]`,
/// given whole) and a `cost_summary`.
pub fn workspace(collector: &str) -> Workspace {
    let ws = Workspace::new();
    ws.write(
        "config.toml",
        &format!("[store]\npath = \"store\"\n\n{collector}\n\n[analyzers.cost]\ntype = \"cost_summary\"\n"),
    );
    ws
}

/// Daily totals of `provider` in September 2024 from `vitals analyze`.
pub fn daily(ws: &Workspace, provider: &str) -> Daily {
    let mut out = Daily::new();
    for r in ws.cost_summary("2024-09-01", "2024-09-30")["daily"]
        .as_array()
        .unwrap()
    {
        if r["provider"] != provider || r["day"].as_str().unwrap() < "2024-09-01" {
            continue;
        }
        let key = (
            r["day"].as_str().unwrap().to_string(),
            r["service"].as_str().unwrap().to_string(),
        );
        let entry = out.entry(key).or_insert((0.0, 0.0));
        entry.0 += r["cost"]["billed"].as_f64().unwrap();
        entry.1 += r["cost"]["effective"].as_f64().unwrap();
    }
    out
}

/// Asserts two daily tables agree per day and service, to a millionth.
#[track_caller]
pub fn assert_same(road: &str, got: &Daily, expected: &Daily) {
    let keys = |d: &Daily| d.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(got),
        keys(expected),
        "{road}: the (day, service) pairs differ"
    );
    for (key, (billed, effective)) in expected {
        let (b, e) = got[key];
        assert!(
            (b - billed).abs() < 1e-6 && (e - effective).abs() < 1e-6,
            "{road}: {key:?}: vitals ({b}, {e}) vs DuckDB ({billed}, {effective})"
        );
    }
}

/// Sums a daily table: (billed, effective).
pub fn total(d: &Daily) -> (f64, f64) {
    d.values().fold((0.0, 0.0), |(b, e), (x, y)| (b + x, e + y))
}

/// Runs a DuckDB statement (e.g. a `COPY ... TO 'file.parquet'`) with the
/// test venv's Python.
pub fn duckdb(sql: &str) {
    let out = Command::new(venv_bin("python"))
        .args(["-c", "import duckdb, sys; duckdb.sql(sys.argv[1])", sql])
        .output()
        .expect("running python");
    assert!(
        out.status.success(),
        "duckdb failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
