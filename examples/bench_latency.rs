//! Figures for the latency path, printed rather than asserted (timing has no
//! place in `cargo test`):
//!
//!     cargo run --release --example bench_latency [REQUESTS]
//!
//! 1. Change-point detection (`p95_regression`'s core) on 5,000 series of
//!    two weeks of hourly points with a daily season, a fifth of them with a
//!    step and a fifth with a regression that recovers; with and without
//!    taking the season out.
//! 2. `request_log` over a CSV of REQUESTS rows (default 5,000,000; 20
//!    services × 5 endpoints over seven days): rows per second and the peak
//!    resident memory of the process.

use std::io::{BufWriter, Write};
use std::time::Instant;

use chrono::NaiveDate;
use vitals_analyzers::changepoint::{Params, Season, detect, detect_seasonal};
use vitals_analyzers::test_rng::Rng;
use vitals_collector::CollectWindow;
use vitals_core::config::{ComponentConfig, ComponentKind};

/// Peak resident set size of this process, from /proc (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn changepoints() {
    let (series, points) = (5_000, 14 * 24);
    let mut rng = Rng(7);
    // A fifth with a lasting step, a fifth with a regression that comes
    // back; every series with a daily season of ±15 % and 5 % noise.
    let data: Vec<Vec<f64>> = (0..series)
        .map(|s| {
            (0..points)
                .map(|i| {
                    let shape = match s % 5 {
                        0 if i > points / 2 => 1.3,
                        1 if (points / 2..points / 2 + 20).contains(&i) => 1.3,
                        _ => 1.0,
                    };
                    let day = (std::f64::consts::TAU * i as f64 / 24.0).sin();
                    0.2 * shape * (1.0 + 0.15 * day) * (1.0 + 0.05 * rng.normal())
                })
                .collect()
        })
        .collect();
    let params = Params::default();
    let phase: Vec<usize> = (0..points).map(|i| i % 24).collect();
    let season = Some(Season {
        phase: &phase,
        period: 24,
    });
    for (what, seasonal) in [
        ("without the season", false),
        ("with the daily season", true),
    ] {
        let started = Instant::now();
        let found: usize = data
            .iter()
            .map(|v| {
                if seasonal {
                    detect_seasonal(v, season, &params).len()
                } else {
                    detect(v, &params).len()
                }
            })
            .sum();
        let secs = started.elapsed().as_secs_f64();
        println!(
            "change points {what}: {series} series × {points} points in {secs:.3} s ({:.0} series/s), {found} changes found",
            series as f64 / secs
        );
    }
}

fn request_log(requests: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("logs"))?;
    let path = dir.path().join("logs/requests.csv");
    let started = Instant::now();
    let mut out = BufWriter::new(std::fs::File::create(&path)?);
    writeln!(out, "timestamp,service,endpoint,duration_ms,status")?;
    let mut rng = Rng(11);
    let start = 1_793_577_600_i64; // 2026-11-02T00:00:00Z
    for i in 0..requests {
        let t = start + (i as i64 * 7 * 86_400) / requests as i64;
        let service = i % 20;
        let endpoint = (i / 20) % 5;
        let d = (f64::ln(80.0) + 0.7 * rng.normal()).exp();
        let status = if rng.uniform() < 0.01 { 503 } else { 200 };
        writeln!(out, "{t},svc{service},/e{endpoint},{d:.3},{status}")?;
    }
    out.flush()?;
    let size = std::fs::metadata(&path)?.len() as f64 / 1e6;
    println!(
        "request_log: wrote {requests} requests ({size:.0} MB CSV) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let config = ComponentConfig::from_toml(
        ComponentKind::Collector,
        "bench",
        &format!(
            "type = \"request_log\"\npath = \"{}\"",
            dir.path().join("logs").display()
        ),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let collector =
        vitals_collector::registry::build(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let window = CollectWindow {
        since: None,
        until: None,
        today: NaiveDate::from_ymd_opt(2026, 11, 23).expect("a date"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let (frame, _, _) = runtime.block_on(vitals_collector::collect_in_memory(
        collector.as_ref(),
        window,
    ))?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "request_log: collected {requests} requests into {} interval rows in {secs:.1} s ({:.2} M requests/s); peak RSS {}",
        frame.height(),
        requests as f64 / secs / 1e6,
        peak_rss_mib().map_or_else(|| "unknown".to_string(), |m| format!("{m:.0} MiB"))
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let requests = std::env::args()
        .nth(1)
        .map(|a| a.parse::<usize>())
        .transpose()?
        .unwrap_or(5_000_000);
    println!(
        "profile: {}",
        if cfg!(debug_assertions) {
            "dev (our crates unoptimized)"
        } else {
            "release"
        }
    );
    changepoints();
    request_log(requests)
}
