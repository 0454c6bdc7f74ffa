//! Peer services the integration tests start on loopback ports (PEERS.md),
//! and a small fault-injecting HTTP proxy to put in front of them.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{free_port, repo};

const INSTALL: &str =
    "run `bash scripts/test.sh`, or `.venv/bin/pip install -r tests/requirements.txt`";

/// The virtualenv `scripts/test.sh` fills (or `VITALS_TEST_VENV`).
fn venv() -> PathBuf {
    std::env::var_os("VITALS_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv"))
}

pub fn venv_bin(tool: &str) -> PathBuf {
    let path = venv().join("bin").join(tool);
    assert!(
        path.is_file(),
        "`{}` is not installed; {INSTALL}",
        path.display()
    );
    path
}

/// A peer process, killed on drop, with a scratch directory of its own.
struct Process {
    child: Child,
    _scratch: tempfile::TempDir,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `command` and waits until `ready` says it serves.
fn start(
    name: &str,
    mut command: Command,
    scratch: tempfile::TempDir,
    ready: impl Fn() -> bool,
) -> Process {
    let log = scratch.path().join("peer.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = command
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .unwrap_or_else(|e| panic!("starting {name}: {e}; {INSTALL}"));
    let mut process = Process {
        child,
        _scratch: scratch,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        if let Ok(Some(status)) = process.child.try_wait() {
            panic!(
                "{name} exited with {status}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not start in 60 s:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    process
}

/// A moto server (AWS: Cost Explorer, S3).
pub struct Moto {
    pub port: u16,
    _process: Process,
}

impl Moto {
    pub fn start() -> Moto {
        let port = free_port();
        let mut command = Command::new(venv_bin("moto_server"));
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        let process = start("moto_server", command, tempfile::tempdir().unwrap(), || {
            http(port, "POST", "/moto-api/reset", "").is_ok()
        });
        Moto {
            port,
            _process: process,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn reset(&self) {
        let (status, body) = http(self.port, "POST", "/moto-api/reset", "").unwrap();
        assert_eq!(status, 200, "{body}");
    }

    /// Queues GetCostAndUsage responses: each distinct request takes the next.
    pub fn queue_cost_and_usage(&self, results: &[Value]) {
        let body = json!({ "results": results }).to_string();
        let (status, text) = http(
            self.port,
            "POST",
            "/moto-api/static/ce/cost-and-usage-results",
            &body,
        )
        .unwrap();
        assert!(status == 200 || status == 201, "{status} {text}");
    }

    pub fn create_bucket(&self, bucket: &str) {
        let (status, text) = http_bytes(
            self.port,
            "PUT",
            &format!("/{bucket}"),
            "application/xml",
            SIGNED,
            b"",
        )
        .unwrap();
        assert_eq!(status, 200, "creating bucket {bucket}: {text}");
    }

    pub fn put_object(&self, bucket: &str, key: &str, body: &[u8]) {
        let path = format!("/{bucket}/{}", encode_path(key));
        let (status, text) = http_bytes(
            self.port,
            "PUT",
            &path,
            "application/octet-stream",
            SIGNED,
            body,
        )
        .unwrap();
        assert_eq!(status, 200, "putting s3://{bucket}/{key}: {text}");
    }
}

/// moto refuses anonymous overwrites of an object but does not check
/// signatures: a request that says who signed it is enough.
const SIGNED: &[(&str, &str)] = &[(
    "Authorization",
    "AWS4-HMAC-SHA256 Credential=testing/20240901/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0",
)];

/// bqemulator (BigQuery REST), with the DuckDB extensions it needs copied
/// from the virtualenv into a HOME of its own (it cannot download them).
pub struct BigQueryEmulator {
    pub port: u16,
    pub project: String,
    _process: Process,
}

impl BigQueryEmulator {
    pub fn start(project: &str) -> BigQueryEmulator {
        let scratch = tempfile::tempdir().unwrap();
        let home = scratch.path().join("home");
        install_duckdb_extensions(&home);
        let (port, grpc) = (free_port(), free_port());
        let mut command = Command::new(venv_bin("bqemulator"));
        command
            .args([
                "start",
                "--rest-host",
                "127.0.0.1",
                "--rest-port",
                &port.to_string(),
            ])
            .args(["--grpc-host", "127.0.0.1", "--grpc-port", &grpc.to_string()])
            .args(["--project", project])
            .env("HOME", &home)
            .current_dir(scratch.path());
        let path = format!("/bigquery/v2/projects/{project}/datasets");
        let process = start("bqemulator", command, scratch, || {
            http(port, "GET", &path, "").is_ok_and(|(s, _)| s == 200)
        });
        BigQueryEmulator {
            port,
            project: project.to_string(),
            _process: process,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn post(&self, path: &str, body: &Value) -> Value {
        let full = format!("/bigquery/v2/projects/{}{path}", self.project);
        let (status, text) = http(self.port, "POST", &full, &body.to_string()).unwrap();
        assert_eq!(status, 200, "POST {full}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    pub fn create_dataset(&self, dataset: &str) {
        self.post(
            "/datasets",
            &json!({"datasetReference": {"projectId": self.project, "datasetId": dataset}}),
        );
    }

    /// A day-partitioned table with `schema` (a BigQuery `fields` list).
    pub fn create_table(&self, dataset: &str, table: &str, fields: &Value) {
        self.post(
            &format!("/datasets/{dataset}/tables"),
            &json!({
                "tableReference": {"projectId": self.project, "datasetId": dataset, "tableId": table},
                "schema": {"fields": fields},
                "timePartitioning": {"type": "DAY"},
            }),
        );
    }

    /// Streams rows in with `insertAll`, 500 at a time.
    pub fn insert_all(&self, dataset: &str, table: &str, rows: &[Value]) {
        for chunk in rows.chunks(500) {
            let body =
                json!({"rows": chunk.iter().map(|r| json!({"json": r})).collect::<Vec<_>>()});
            let answer = self.post(
                &format!("/datasets/{dataset}/tables/{table}/insertAll"),
                &body,
            );
            assert!(
                answer["insertErrors"]
                    .as_array()
                    .is_none_or(|e| e.is_empty()),
                "insertAll: {answer}"
            );
        }
    }
}

/// Copies the DuckDB extension files of the venv's `duckdb_extension_*`
/// packages to where DuckDB looks for them under `home`.
fn install_duckdb_extensions(home: &Path) {
    let lib = venv().join("lib");
    let mut copied = 0;
    for python in std::fs::read_dir(&lib)
        .unwrap_or_else(|e| panic!("{}: {e}; {INSTALL}", lib.display()))
        .flatten()
    {
        let site = python.path().join("site-packages");
        for package in std::fs::read_dir(&site).into_iter().flatten().flatten() {
            if !package
                .file_name()
                .to_string_lossy()
                .starts_with("duckdb_extension_")
            {
                continue;
            }
            for version in std::fs::read_dir(package.path().join("extensions"))
                .into_iter()
                .flatten()
                .flatten()
            {
                let target = home
                    .join(".duckdb/extensions")
                    .join(version.file_name())
                    .join("linux_amd64");
                std::fs::create_dir_all(&target).unwrap();
                for file in std::fs::read_dir(version.path()).unwrap().flatten() {
                    std::fs::copy(file.path(), target.join(file.file_name())).unwrap();
                    copied += 1;
                }
            }
        }
    }
    assert!(
        copied > 0,
        "no duckdb_extension_* packages in {}; {INSTALL}",
        lib.display()
    );
}

/// gcp-storage-emulator (Cloud Storage JSON API), in memory.
pub struct GcsEmulator {
    pub port: u16,
    _process: Process,
}

impl GcsEmulator {
    pub fn start() -> GcsEmulator {
        let port = free_port();
        let mut command = Command::new(venv_bin("gcp-storage-emulator"));
        command.args([
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--in-memory",
        ]);
        let process = start(
            "gcp-storage-emulator",
            command,
            tempfile::tempdir().unwrap(),
            || http(port, "GET", "/storage/v1/b?project=test", "").is_ok_and(|(s, _)| s == 200),
        );
        GcsEmulator {
            port,
            _process: process,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn create_bucket(&self, bucket: &str) {
        let body = json!({ "name": bucket }).to_string();
        let (status, text) = http(self.port, "POST", "/storage/v1/b?project=test", &body).unwrap();
        assert_eq!(status, 200, "creating bucket {bucket}: {text}");
    }

    pub fn upload(&self, bucket: &str, name: &str, body: &[u8]) {
        let path = format!(
            "/upload/storage/v1/b/{bucket}/o?uploadType=media&name={}",
            encode_path(name).replace('/', "%2F")
        );
        let (status, text) = http_bytes(
            self.port,
            "POST",
            &path,
            "application/octet-stream",
            &[],
            body,
        )
        .unwrap();
        assert_eq!(status, 200, "uploading gs://{bucket}/{name}: {text}");
    }
}

/// Percent-encodes what a URL path cannot hold, keeping `/`.
fn encode_path(key: &str) -> String {
    let mut out = String::new();
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A plain HTTP/1.1 request with `Connection: close`; returns (status, body).
pub fn http(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    http_bytes(port, method, path, "application/json", &[], body.as_bytes())
}

pub fn http_bytes(
    port: u16,
    method: &str,
    path: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut reader = BufReader::new(s);
    let Some((head, body)) = read_message(&mut reader)? else {
        return Err(std::io::Error::other("no answer"));
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// What the proxy answers in place of the upstream: (status, headers, body).
pub type Fault = (u16, Vec<(&'static str, &'static str)>, String);

/// One request through the proxy: its number from 0, request line, head
/// (request line and headers) and body.
pub struct Request {
    pub n: usize,
    pub line: String,
    pub head: String,
    pub body: String,
}

/// Decides, per request, whether to fault.
pub type Rule = dyn Fn(&Request) -> Option<Fault> + Send + Sync;

/// Rewrites an upstream answer's body, per request.
pub type Rewrite = dyn Fn(&Request, String) -> String + Send + Sync;

/// An HTTP proxy to a loopback upstream that answers some requests itself.
pub struct FaultProxy {
    pub port: u16,
    pub requests: Arc<AtomicUsize>,
}

impl FaultProxy {
    pub fn start(upstream: u16, rule: Box<Rule>) -> FaultProxy {
        FaultProxy::rewriting(upstream, rule, Box::new(|_, body| body))
    }

    /// A proxy that garbles answer `n` (from 0): the first `from` in its
    /// body becomes `to`.
    pub fn garbling(upstream: u16, n: usize, from: &'static str, to: &'static str) -> FaultProxy {
        FaultProxy::rewriting(
            upstream,
            Box::new(|_| None),
            Box::new(move |r, body| {
                if r.n == n {
                    body.replacen(from, to, 1)
                } else {
                    body
                }
            }),
        )
    }

    /// A proxy that also rewrites answers it lets through.
    pub fn rewriting(upstream: u16, rule: Box<Rule>, rewrite: Box<Rewrite>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let rule: Arc<Rule> = Arc::from(rule);
        let rewrite: Arc<Rewrite> = Arc::from(rewrite);
        let counter = Arc::clone(&requests);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (rule, rewrite, counter) = (
                    Arc::clone(&rule),
                    Arc::clone(&rewrite),
                    Arc::clone(&counter),
                );
                std::thread::spawn(move || {
                    let _ = serve(client, upstream, &*rule, &*rewrite, &counter);
                });
            }
        });
        FaultProxy { port, requests }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Reads one HTTP message (head, and a Content-Length or chunked body).
fn read_message(r: &mut impl BufRead) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut body = Vec::new();
    if header(&head, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(length) =
        header(&head, "content-length").and_then(|v| v.parse::<usize>().ok())
    {
        body = vec![0; length];
        r.read_exact(&mut body)?;
    } else if !head.starts_with("HTTP/") {
        // A request without a body.
    } else {
        r.read_to_end(&mut body)?;
    }
    Ok(Some((head, body)))
}

/// The head without its length headers, with a new `Content-Length`, and
/// `Connection: close` if `close` (each request gets its own upstream
/// connection).
fn with_length(head: &str, length: usize, close: bool) -> String {
    let mut out = String::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or("").trim();
        let drop = ["content-length", "transfer-encoding"]
            .iter()
            .chain(if close { &["connection"][..] } else { &[][..] })
            .any(|h| name.eq_ignore_ascii_case(h));
        if !drop {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    if close {
        out.push_str("Connection: close\r\n");
    }
    out.push_str(&format!("Content-Length: {length}\r\n\r\n"));
    out
}

fn serve(
    client: TcpStream,
    upstream: u16,
    rule: &Rule,
    rewrite: &Rewrite,
    counter: &AtomicUsize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut writer = client;
    while let Some((head, body)) = read_message(&mut reader)? {
        let request = Request {
            n: counter.fetch_add(1, Ordering::SeqCst),
            line: head.lines().next().unwrap_or_default().to_string(),
            head: head.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        if let Some((status, headers, fault_body)) = rule(&request) {
            let mut out = format!(
                "HTTP/1.1 {status} Fault\r\nContent-Length: {}\r\n",
                fault_body.len()
            );
            for (k, v) in headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            out.push_str(&fault_body);
            writer.write_all(out.as_bytes())?;
            continue;
        }
        let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
        up.write_all(with_length(&head, body.len(), true).as_bytes())?;
        up.write_all(&body)?;
        let mut up_reader = BufReader::new(up);
        let Some((resp_head, resp_body)) = read_message(&mut up_reader)? else {
            return Ok(());
        };
        let resp_body = match String::from_utf8(resp_body) {
            Ok(text) => rewrite(&request, text).into_bytes(),
            Err(raw) => raw.into_bytes(),
        };
        writer.write_all(with_length(&resp_head, resp_body.len(), false).as_bytes())?;
        writer.write_all(&resp_body)?;
    }
    Ok(())
}

/// A Prometheus server (Debian's `prometheus` package) on history that
/// `promtool tsdb create-blocks-from openmetrics` backfilled from a file.
pub struct PrometheusServer {
    pub port: u16,
    _process: Process,
}

/// A Prometheus config that scrapes nothing.
const QUIET: &str = "global:\n  scrape_interval: 1m\n";

impl PrometheusServer {
    /// Backfills `openmetrics` into a new data directory and serves it.
    pub fn start_with_history(openmetrics: &Path) -> PrometheusServer {
        let scratch = tempfile::tempdir().unwrap();
        let data = scratch.path().join("data");
        let out = Command::new(crate::harness::promtool())
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(openmetrics)
            .arg(&data)
            .output()
            .expect("running promtool");
        assert!(
            out.status.success(),
            "promtool backfill failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Self::serve(scratch, &data, QUIET, &[])
    }

    /// A Prometheus that scrapes `target` (`host:port`, job `vitals`) every
    /// second.
    pub fn start_scraping(target: &str) -> PrometheusServer {
        let scratch = tempfile::tempdir().unwrap();
        let data = scratch.path().join("data");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: vitals\n    static_configs:\n      - targets: ['{target}']\n"
        );
        Self::serve(scratch, &data, &config, &[])
    }

    /// An empty Prometheus with native histograms on and the remote-write
    /// receiver open: history arrives by [`PrometheusServer::push`] (promtool
    /// cannot backfill native histograms).
    pub fn start_receiving() -> PrometheusServer {
        let scratch = tempfile::tempdir().unwrap();
        let data = scratch.path().join("data");
        Self::serve(
            scratch,
            &data,
            QUIET,
            &[
                "--enable-feature=native-histograms",
                "--web.enable-remote-write-receiver",
            ],
        )
    }

    fn serve(
        scratch: tempfile::TempDir,
        data: &Path,
        config_yaml: &str,
        extra: &[&str],
    ) -> PrometheusServer {
        let config = scratch.path().join("prometheus.yml");
        std::fs::write(&config, config_yaml).unwrap();
        let port = free_port();
        let binary = crate::harness::promtool().with_file_name("prometheus");
        let mut command = Command::new(binary);
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            // The history is fixed in the past: keep it all.
            .arg("--storage.tsdb.retention.time=36500d")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra);
        let process = start("prometheus", command, scratch, || {
            crate::harness::http_get(port, "/-/ready").is_ok_and(|(s, _)| s == 200)
        });
        PrometheusServer {
            port,
            _process: process,
        }
    }

    /// Sends samples through the remote-write protocol (1.0). Samples must
    /// come in time order across requests: Prometheus appends them to its
    /// head block, which takes nothing more than an hour older than the
    /// newest sample it holds.
    pub fn push(&self, series: &[WriteSeries]) {
        let (status, body) = http_bytes(
            self.port,
            "POST",
            "/api/v1/write",
            "application/x-protobuf",
            &[
                ("Content-Encoding", "snappy"),
                ("X-Prometheus-Remote-Write-Version", "0.1.0"),
            ],
            &write_request(series),
        )
        .expect("remote write to Prometheus");
        assert_eq!(status, 204, "remote write: {body}");
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A PromQL range query from `start` to `end` (epoch seconds): the
    /// result matrix.
    pub fn query_range(&self, promql: &str, start: i64, end: i64, step: i64) -> Vec<Value> {
        self.api(
            promql,
            &format!(
                "/api/v1/query_range?query={}&start={start}&end={end}&step={step}",
                url_encode(promql)
            ),
        )
    }

    /// A PromQL instant query at `time` (epoch seconds): the result vector.
    pub fn query(&self, promql: &str, time: i64) -> Vec<Value> {
        self.api(
            promql,
            &format!("/api/v1/query?query={}&time={time}", url_encode(promql)),
        )
    }

    /// `data.result` of a query API call.
    fn api(&self, promql: &str, path: &str) -> Vec<Value> {
        let (status, body) =
            crate::harness::http_get(self.port, path).expect("querying Prometheus");
        assert_eq!(status, 200, "`{promql}`: {body}");
        let doc: Value = serde_json::from_str(&body).expect("Prometheus answers JSON");
        doc["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A native-histogram sample for Prometheus's remote-write receiver
/// (`prompb.Histogram`, integer counts).
#[derive(Debug, Clone, Default)]
pub struct NativeSample {
    pub t_ms: i64,
    pub count: u64,
    pub sum: f64,
    pub schema: i32,
    pub zero_threshold: f64,
    pub zero_count: u64,
    /// Positive buckets: index → count (not cumulative); bucket `i` is
    /// `(base^(i-1), base^i]` with `base = 2^(2^-schema)`.
    pub buckets: BTreeMap<i32, u64>,
}

/// One series of a remote-write request.
#[derive(Debug, Clone, Default)]
pub struct WriteSeries {
    pub labels: Vec<(String, String)>,
    /// `(epoch milliseconds, value)`.
    pub floats: Vec<(i64, f64)>,
    pub histograms: Vec<NativeSample>,
}

/// Protocol Buffers encoding, as much as `prompb.WriteRequest` needs.
mod pb {
    pub fn varint(out: &mut Vec<u8>, mut n: u64) {
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }

    pub fn zigzag(n: i64) -> u64 {
        ((n << 1) ^ (n >> 63)) as u64
    }

    pub fn key(out: &mut Vec<u8>, field: u64, wire: u64) {
        varint(out, (field << 3) | wire);
    }

    pub fn uint(out: &mut Vec<u8>, field: u64, n: u64) {
        key(out, field, 0);
        varint(out, n);
    }

    pub fn double(out: &mut Vec<u8>, field: u64, x: f64) {
        key(out, field, 1);
        out.extend_from_slice(&x.to_le_bytes());
    }

    pub fn bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
        key(out, field, 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }
}

fn encode_histogram(h: &NativeSample) -> Vec<u8> {
    let mut out = Vec::new();
    pb::uint(&mut out, 1, h.count);
    pb::double(&mut out, 3, h.sum);
    pb::uint(&mut out, 4, pb::zigzag(h.schema.into()));
    pb::double(&mut out, 5, h.zero_threshold);
    pb::uint(&mut out, 6, h.zero_count);
    // Spans of consecutive indices; counts as deltas from the bucket before.
    let mut spans: Vec<(i32, u32)> = Vec::new();
    let mut last: Option<i32> = None;
    for &i in h.buckets.keys() {
        match last {
            Some(l) if l + 1 == i => spans.last_mut().unwrap().1 += 1,
            Some(l) => spans.push((i - l - 1, 1)),
            None => spans.push((i, 1)),
        }
        last = Some(i);
    }
    for (offset, length) in spans {
        let mut span = Vec::new();
        pb::uint(&mut span, 1, pb::zigzag(offset.into()));
        pb::uint(&mut span, 2, length.into());
        pb::bytes(&mut out, 11, &span);
    }
    let mut deltas = Vec::new();
    let mut previous = 0i64;
    for &c in h.buckets.values() {
        pb::varint(&mut deltas, pb::zigzag(c as i64 - previous));
        previous = c as i64;
    }
    pb::bytes(&mut out, 12, &deltas);
    pb::uint(&mut out, 15, h.t_ms as u64);
    out
}

/// `prompb.WriteRequest`, snappy-framed as one literal (valid snappy,
/// uncompressed).
fn write_request(series: &[WriteSeries]) -> Vec<u8> {
    let mut request = Vec::new();
    for s in series {
        let mut ts = Vec::new();
        let mut labels = s.labels.clone();
        labels.sort();
        for (name, value) in &labels {
            let mut label = Vec::new();
            pb::bytes(&mut label, 1, name.as_bytes());
            pb::bytes(&mut label, 2, value.as_bytes());
            pb::bytes(&mut ts, 1, &label);
        }
        for (t_ms, v) in &s.floats {
            let mut sample = Vec::new();
            pb::double(&mut sample, 1, *v);
            pb::uint(&mut sample, 2, *t_ms as u64);
            pb::bytes(&mut ts, 2, &sample);
        }
        for h in &s.histograms {
            pb::bytes(&mut ts, 4, &encode_histogram(h));
        }
        pb::bytes(&mut request, 1, &ts);
    }
    let mut framed = Vec::with_capacity(request.len() + 10);
    pb::varint(&mut framed, request.len() as u64);
    // A literal of length n: tag 63 << 2 (four length bytes follow, n - 1).
    framed.push(63 << 2);
    framed.extend_from_slice(&(request.len() as u32 - 1).to_le_bytes());
    framed.extend_from_slice(&request);
    framed
}

/// Debian's `prometheus-alertmanager`, routing every alert (one group per
/// `finding_id`, 1 s group wait and interval, no repeat within an hour)
/// to a webhook at `receiver` (`host:port`) with resolutions.
pub struct Alertmanager {
    pub port: u16,
    _process: Process,
}

impl Alertmanager {
    pub fn start(receiver: &str) -> Alertmanager {
        let binary = std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|d| d.join("prometheus-alertmanager"))
            .find(|p| p.is_file())
            .unwrap_or_else(|| {
                panic!(
                    "`prometheus-alertmanager` is not installed; run `bash scripts/test.sh` or \
                     `apt-get install -y --no-install-recommends prometheus-alertmanager`"
                )
            });
        let scratch = tempfile::tempdir().unwrap();
        let config = scratch.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            format!(
                "route:\n  receiver: hook\n  group_by: [finding_id]\n  group_wait: 1s\n  \
                 group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    \
                 webhook_configs:\n      - url: http://{receiver}/alerts\n        \
                 send_resolved: true\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let mut command = Command::new(binary);
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                scratch.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=");
        let process = start("alertmanager", command, scratch, || {
            crate::harness::http_get(port, "/-/ready").is_ok_and(|(s, _)| s == 200)
        });
        Alertmanager {
            port,
            _process: process,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// aiosmtpd (tests/fixtures/smtp_server.py) requiring STARTTLS and AUTH,
/// delivering to a Maildir; its CA is at [`SmtpServer::ca_file`].
pub struct SmtpServer {
    pub port: u16,
    dir: PathBuf,
    _process: Process,
}

/// How an [`SmtpServer`] misbehaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct SmtpFaults<'a> {
    /// Does not offer STARTTLS.
    pub no_starttls: bool,
    /// Refuses this recipient with 550.
    pub reject: Option<&'a str>,
}

impl SmtpServer {
    pub fn start(user: &str, password: &str, faults: SmtpFaults<'_>) -> SmtpServer {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().to_path_buf();
        let port = free_port();
        let mut command = Command::new(venv_bin("python"));
        command
            .arg(repo().join("tests/fixtures/smtp_server.py"))
            .arg(port.to_string())
            .arg(dir.join("mail"))
            .arg(dir.join("certs"))
            .args([user, password]);
        if faults.no_starttls {
            command.arg("--no-starttls");
        }
        if let Some(r) = faults.reject {
            command.args(["--reject", r]);
        }
        let ca = dir.join("certs/ca.pem");
        let process = start("aiosmtpd", command, scratch, || {
            ca.is_file() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        SmtpServer {
            port,
            dir,
            _process: process,
        }
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("certs/ca.pem")
    }

    /// The delivered messages' files, oldest first.
    pub fn messages(&self) -> Vec<PathBuf> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> =
            std::fs::read_dir(self.dir.join("mail/new"))
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .map(|e| {
                            let at = e.metadata().and_then(|m| m.modified()).unwrap();
                            (at, e.path())
                        })
                        .collect()
                })
                .unwrap_or_default();
        files.sort();
        files.into_iter().map(|(_, p)| p).collect()
    }

    /// A message read by Python's `email` package
    /// (tests/fixtures/parse_mail.py).
    pub fn parse(message: &Path) -> Value {
        let out = Command::new(venv_bin("python"))
            .arg(repo().join("tests/fixtures/parse_mail.py"))
            .arg(message)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "parse_mail.py: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// tests/fixtures/webhook_receiver.py: checks each request's Standard
/// Webhooks signature with its own code and records it.
pub struct WebhookReceiver {
    pub log: PathBuf,
    _process: Process,
}

impl WebhookReceiver {
    /// Serves on `port`, refusing the first `refuse_first` requests (429).
    pub fn start(port: u16, secret: &str, log: &Path, refuse_first: u32) -> WebhookReceiver {
        Self::stalling(port, secret, log, refuse_first, 0)
    }

    /// As [`WebhookReceiver::start`], then holding the answer to the next
    /// `stall_first` requests for 30 s (each recorded as `stalled`).
    pub fn stalling(
        port: u16,
        secret: &str,
        log: &Path,
        refuse_first: u32,
        stall_first: u32,
    ) -> WebhookReceiver {
        let args = [
            port.to_string(),
            secret.to_string(),
            log.display().to_string(),
            refuse_first.to_string(),
            stall_first.to_string(),
        ];
        Self::script("webhook_receiver.py", &args, port, log)
    }

    /// tests/fixtures/pagerduty_events.py: PagerDuty's Events API v2 in its
    /// documented shape, refusing the first `refuse_first` events (429).
    pub fn pagerduty(port: u16, log: &Path, refuse_first: u32) -> WebhookReceiver {
        let args = [
            port.to_string(),
            log.display().to_string(),
            refuse_first.to_string(),
        ];
        Self::script("pagerduty_events.py", &args, port, log)
    }

    /// tests/fixtures/slack_webhook.py: a Slack incoming webhook in its
    /// documented shape, refusing the first `refuse_first` messages
    /// (alternately 429 with `Retry-After: 2` and 500).
    pub fn slack(port: u16, log: &Path, refuse_first: u32) -> WebhookReceiver {
        let args = [
            port.to_string(),
            log.display().to_string(),
            refuse_first.to_string(),
        ];
        Self::script("slack_webhook.py", &args, port, log)
    }

    fn script(name: &str, args: &[String], port: u16, log: &Path) -> WebhookReceiver {
        let mut command = Command::new(venv_bin("python"));
        command
            .arg(repo().join("tests/fixtures").join(name))
            .args(args);
        let process = start(name, command, tempfile::tempdir().unwrap(), || {
            http(port, "GET", "/", "").is_ok()
        });
        WebhookReceiver {
            log: log.to_path_buf(),
            _process: process,
        }
    }

    /// Every request received, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}
