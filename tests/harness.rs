//! A small builder around the real binary: a temp directory with a config
//! and data, commands run in it, and the peers tests compare against.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const SAMPLE: &str = "sample/focus/focus_sample_1.0.csv";

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temp directory in which `vitals` runs with its own config and store.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

/// What a command printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn success(&self) -> &Self {
        assert_eq!(self.code, Some(0), "expected success:\n{self:#?}");
        self
    }

    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit code {code}:\n{self:#?}"
        );
        self
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Workspace {
    pub fn new() -> Self {
        Workspace {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A workspace whose config reads `files/*` with `focus_file` into a
    /// `cost_summary` and a `weekly_cost_report`.
    pub fn with_focus_files() -> Self {
        let ws = Workspace::new();
        ws.write(
            "config.toml",
            r#"
[store]
path = "store"

[collectors.files]
type = "focus_file"
path = "files"

[analyzers.cost]
type = "cost_summary"

[analyzers.anomalies]
type = "cost_anomaly"

[reports.weekly]
type = "weekly_cost_report"
out_dir = "out"
money_decimals = 4
"#,
        );
        std::fs::create_dir_all(ws.path("files")).unwrap();
        ws
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, contents: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    pub fn copy_sample(&self, rel: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::copy(repo().join(SAMPLE), path).unwrap();
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vitals"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("RUST_LOG", "info");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.command(args).output().expect("running vitals").into()
    }

    /// Runs with AWS's test credentials (moto accepts any) and nothing read
    /// from this machine's AWS files or metadata service.
    pub fn run_aws(&self, args: &[&str], with_credentials: bool) -> Run {
        let mut cmd = self.command(args);
        for var in [
            "AWS_PROFILE",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_SESSION_TOKEN",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_CONFIG_FILE", self.path("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.path("no-aws-credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true");
        if with_credentials {
            cmd.env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing");
        } else {
            cmd.env_remove("AWS_ACCESS_KEY_ID")
                .env_remove("AWS_SECRET_ACCESS_KEY");
        }
        cmd.output().expect("running vitals").into()
    }

    /// `vitals analyze --since SINCE --until UNTIL --format json`, which
    /// must succeed: its summaries and findings.
    #[track_caller]
    pub fn analyze(&self, since: &str, until: &str) -> serde_json::Value {
        let run = self.run(&[
            "analyze", "--since", since, "--until", until, "--format", "json",
        ]);
        run.success();
        serde_json::from_str(&run.stdout).expect("analyze prints JSON")
    }

    /// The first summary of [`Workspace::analyze`].
    #[track_caller]
    pub fn cost_summary(&self, since: &str, until: &str) -> serde_json::Value {
        self.analyze(since, until)["summaries"][0].take()
    }

    /// Asserts a `vitals collect` run failed with `expected` in its log,
    /// said `NAME: failed, nothing stored`, and left the store empty; prints
    /// that line.
    #[track_caller]
    pub fn assert_collect_failed(&self, run: &Run, collector: &str, expected: &str) {
        run.code(1);
        assert!(
            run.stderr.contains(expected),
            "missing {expected:?} in:\n{}",
            run.stderr
        );
        let said = format!("{collector}: failed, nothing stored");
        let line = run.stdout.lines().find(|l| l.starts_with(&said));
        assert!(line.is_some(), "missing {said:?} in:\n{}", run.stdout);
        println!("{}", line.unwrap_or_default());
        assert!(
            self.store_files().is_empty(),
            "a failed run wrote {:?}",
            self.store_files()
        );
    }

    /// Files under the store's cost dataset, temp files included.
    pub fn store_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.path("store"), &mut out);
        out.sort();
        out
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The Python with DuckDB that `scripts/test.sh` installs into `.venv`
/// (or `VITALS_TEST_PYTHON`).
pub fn duckdb_python() -> PathBuf {
    let python = std::env::var_os("VITALS_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    let ok = Command::new(&python)
        .args(["-c", "import duckdb"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "DuckDB (the cost oracle) is not installed for `{}`; run `bash scripts/test.sh`, \
         or `python3 -m venv .venv && .venv/bin/pip install duckdb`",
        python.display()
    );
    python
}

/// Runs a DuckDB query from Python and returns its rows as JSON arrays.
pub fn duckdb_rows(sql: &str) -> Vec<serde_json::Value> {
    let script = r#"
import duckdb, json, sys
rows = duckdb.sql(sys.argv[1]).fetchall()
print(json.dumps([[str(v) if v is not None else None for v in r] for r in rows]))
"#;
    let out = Command::new(duckdb_python())
        .args(["-c", script, sql])
        .output()
        .expect("running python");
    assert!(
        out.status.success(),
        "DuckDB query failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from DuckDB")
}

/// Runs a DuckDB statement that returns no rows (`COPY ... TO`).
pub fn duckdb_execute(sql: &str) {
    let out = Command::new(duckdb_python())
        .args(["-c", "import duckdb, sys; duckdb.execute(sys.argv[1])", sql])
        .output()
        .expect("running python");
    assert!(
        out.status.success(),
        "DuckDB statement failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `promtool` from Debian's `prometheus` package.
pub fn promtool() -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("promtool"))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!("`promtool` is not installed; run `bash scripts/test.sh` or `apt-get install -y --no-install-recommends prometheus`")
    })
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.0 GET (so the body is never chunked); returns (status,
/// body).
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let status = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Runs the fixture script `tests/fixtures/NAME` with the test Python and
/// `args`; what it prints, as JSON.
pub fn fixture_json(name: &str, args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let out = Command::new(duckdb_python())
        .arg(repo().join("tests/fixtures").join(name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running tests/fixtures/{name}: {e}"));
    assert!(
        out.status.success(),
        "{name} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("JSON from {name}: {e}"))
}

/// The period stats of `service` (all its endpoints) in the `latency`
/// summary of a [`Workspace::analyze`] document.
#[track_caller]
pub fn service_stats<'a>(doc: &'a serde_json::Value, service: &str) -> &'a serde_json::Value {
    doc["summaries"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["kind"] == "latency"))
        .expect("a latency summary")["period_stats"]
        .as_array()
        .and_then(|stats| {
            stats
                .iter()
                .find(|s| s["service"] == service && s["endpoint"].is_null())
        })
        .unwrap_or_else(|| panic!("no period stats for {service}"))
}

/// Copies the repository's `sample/` into the workspace, as a clone has it.
pub fn copy_sample_dir(ws: &Workspace) {
    fn copy(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.path().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    copy(&repo().join("sample"), &ws.path("sample"));
}

/// A number from a JSON value that is a number or a string of one (DuckDB
/// rows come back as strings).
pub fn f64_of(v: &serde_json::Value) -> f64 {
    match v {
        serde_json::Value::String(s) => s.parse().unwrap(),
        other => other.as_f64().unwrap(),
    }
}
