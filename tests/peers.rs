//! Peer services the integration tests start on loopback ports, and a small
//! fault-injecting HTTP proxy to put in front of them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::harness::{free_port, repo};

/// The virtualenv `scripts/test.sh` fills (or `VITALS_TEST_VENV`).
fn venv_bin(tool: &str) -> PathBuf {
    let venv = std::env::var_os("VITALS_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv"));
    let path = venv.join("bin").join(tool);
    assert!(
        path.is_file(),
        "`{}` is not installed; run `bash scripts/test.sh`, or `.venv/bin/pip install -r tests/requirements.txt`",
        path.display()
    );
    path
}

/// A moto server (AWS), killed on drop.
pub struct Moto {
    pub port: u16,
    child: Child,
}

impl Moto {
    pub fn start() -> Moto {
        let port = free_port();
        let child = Command::new(venv_bin("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto_server");
        let moto = Moto { port, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http(port, "POST", "/moto-api/reset", "").is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn reset(&self) {
        let (status, body) = http(self.port, "POST", "/moto-api/reset", "").unwrap();
        assert_eq!(status, 200, "{body}");
    }

    /// Queues GetCostAndUsage responses: each distinct request takes the next.
    pub fn queue_cost_and_usage(&self, results: &[serde_json::Value]) {
        let body = serde_json::json!({ "results": results }).to_string();
        let (status, text) = http(
            self.port,
            "POST",
            "/moto-api/static/ce/cost-and-usage-results",
            &body,
        )
        .unwrap();
        assert!(status == 200 || status == 201, "{status} {text}");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 request with `Connection: close`; returns (status, body).
pub fn http(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
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

/// What the proxy answers in place of the upstream: (status, headers, body).
pub type Fault = (u16, Vec<(&'static str, &'static str)>, String);

/// Decides, per request (its number from 0, and its body), whether to fault.
pub type Rule = dyn Fn(usize, &str) -> Option<Fault> + Send + Sync;

/// An HTTP proxy to a loopback upstream that answers some requests itself.
pub struct FaultProxy {
    pub port: u16,
    pub requests: Arc<AtomicUsize>,
}

impl FaultProxy {
    pub fn start(upstream: u16, rule: Box<Rule>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let rule: Arc<Rule> = Arc::from(rule);
        let counter = Arc::clone(&requests);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (rule, counter) = (Arc::clone(&rule), Arc::clone(&counter));
                std::thread::spawn(move || {
                    let _ = serve(client, upstream, &*rule, &counter);
                });
            }
        });
        FaultProxy { port, requests }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Reads one HTTP message (head and Content-Length body) from `r`.
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
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    r.read_exact(&mut body)?;
    Ok(Some((head, body)))
}

fn serve(
    client: TcpStream,
    upstream: u16,
    rule: &Rule,
    counter: &AtomicUsize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut writer = client;
    while let Some((head, body)) = read_message(&mut reader)? {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let text = String::from_utf8_lossy(&body).into_owned();
        if let Some((status, headers, fault_body)) = rule(n, &text) {
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
        up.write_all(head.as_bytes())?;
        up.write_all(&body)?;
        let mut up_reader = BufReader::new(up);
        let Some((resp_head, resp_body)) = read_message(&mut up_reader)? else {
            return Ok(());
        };
        writer.write_all(resp_head.as_bytes())?;
        writer.write_all(&resp_body)?;
        if resp_head.to_ascii_lowercase().contains("connection: close") {
            return Ok(());
        }
    }
    Ok(())
}
