//! `/metrics` under a large registry: the daemon's own `Metrics` and router,
//! filled to about `--series` series through the same setters a cycle uses,
//! served on loopback and scraped `--requests` times, each on a new
//! connection as Prometheus does after an idle scrape interval.
//!
//!     cargo run --release --example bench_metrics -- --series 10000
//!
//! The registry holds what the largest config can make: latency, Apdex, SLO
//! and regression gauges for `MAX_LATENCY_SERVICES` services (the cap), and
//! as many collectors (4 counters, a 13-bucket duration histogram and a
//! last-success gauge each: 21 series) as it takes to reach the target.
//! Scrapes twice over: with nothing changed in between (a daemon between
//! cycles, served from the cached text) and with a counter bumped before
//! each scrape (a full gather and encode every time). Prints the series
//! count and both latencies; scripts/bench.sh runs it. Timing stays out of `cargo test`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use vitals::metrics::{MAX_LATENCY_SERVICES, Metrics};
use vitals_core::period::DayRange;
use vitals_core::summary::{LatencyStats, LatencySummary, QuantileOrigin, SloStatus, SloSummary};

/// Series one collector adds once it has run: runs, failures, rows and bad
/// rows, 13 buckets + `+Inf` + sum + count, and the last-success gauge.
const SERIES_PER_COLLECTOR: usize = 4 + 16 + 1;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut series = 10_000usize;
    let mut requests = 1_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = |v: Option<String>| -> Result<usize, String> {
            v.ok_or_else(|| format!("{arg} needs a value"))?
                .parse()
                .map_err(|e| format!("{arg}: {e}"))
        };
        match arg.as_str() {
            "--series" => series = value(args.next())?,
            "--requests" => requests = value(args.next())?,
            _ => return Err(format!("unknown argument {arg} (--series N, --requests N)").into()),
        }
    }

    let metrics = fill(series)?;
    let lines = metrics
        .text()
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let router = vitals::http::router(metrics.clone());
    runtime.spawn(async move { axum::serve(listener, router).await });

    // A few scrapes first, so the first connection's setup is not timed.
    for _ in 0..10 {
        scrape(addr)?;
    }
    // Unchanged between scrapes (a daemon between cycles): the cached text.
    let (cached, bytes) = timed(requests, || scrape(addr))?;
    // A counter changed before every scrape: a full gather and encode each.
    let (changed, _) = timed(requests, || {
        metrics.collector_started("collector-0000");
        scrape(addr)
    })?;
    println!("metrics: {lines} series, {} KiB per scrape", bytes / 1024);
    for (what, times) in [
        ("unchanged since the last scrape", cached),
        ("changed before every scrape", changed),
    ] {
        println!(
            "metrics: {what}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {requests} scrapes",
            percentile_ms(&times, 0.50),
            percentile_ms(&times, 0.99),
            percentile_ms(&times, 1.0)
        );
    }
    Ok(())
}

/// Runs `scrape` `n` times: the sorted durations and the last body length.
fn timed(
    n: usize,
    mut scrape: impl FnMut() -> std::io::Result<usize>,
) -> std::io::Result<(Vec<Duration>, usize)> {
    let mut times = Vec::with_capacity(n);
    let mut bytes = 0;
    for _ in 0..n {
        let t = Instant::now();
        bytes = scrape()?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok((times, bytes))
}

/// The `q` quantile (nearest rank) of sorted durations, in milliseconds.
fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e3
}

/// One GET /metrics on a new connection; the body's length.
fn scrape(addr: std::net::SocketAddr) -> std::io::Result<usize> {
    let mut stream = TcpStream::connect(addr)?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers in the response"))?;
    if !response.starts_with(b"HTTP/1.1 200") {
        return Err(std::io::Error::other(format!(
            "/metrics answered {}",
            String::from_utf8_lossy(&response[..head_end])
        )));
    }
    Ok(response.len() - head_end - 4)
}

fn fill(target: usize) -> Result<Metrics, Box<dyn std::error::Error>> {
    let metrics = Metrics::new()?;
    let day = NaiveDate::from_ymd_opt(2026, 11, 30).ok_or("date")?;
    let period = DayRange::single(day);
    let services: Vec<String> = (0..MAX_LATENCY_SERVICES)
        .map(|i| format!("service-{i:03}"))
        .collect();
    let stats = |i: usize, service: &str| LatencyStats {
        source: "bench".into(),
        service: service.into(),
        endpoint: None,
        day: Some(day),
        requests: 1e6 - i as f64,
        request_rate_per_s: Some(11.5),
        errors: 10.0,
        error_rate: Some(1e-5),
        p50_s: Some(0.05 + i as f64 * 1e-4),
        p95_s: Some(0.2 + i as f64 * 1e-4),
        p99_s: Some(0.4 + i as f64 * 1e-4),
        quantiles_from: QuantileOrigin::Histogram,
        apdex_t_s: 0.3,
        apdex: Some(0.97),
        apdex_band: None,
        apdex_interpolated: false,
        low_traffic: false,
    };
    let latency = LatencySummary {
        analyzer: "latency".into(),
        period,
        data_through: Some(day),
        min_requests: 100.0,
        period_stats: vec![],
        daily: services
            .iter()
            .enumerate()
            .map(|(i, s)| stats(i, s))
            .collect(),
    };
    metrics.set_latency(&latency, day, &[]);
    let slo = SloSummary {
        analyzer: "slo".into(),
        period,
        statuses: services
            .iter()
            .flat_map(|s| {
                ["p95", "apdex", "error_rate"].map(|objective| SloStatus {
                    source: "bench".into(),
                    service: s.clone(),
                    day: Some(day),
                    objective: objective.into(),
                    target: 1.0,
                    actual: Some(0.5),
                    compliant: Some(true),
                    low_traffic: false,
                })
            })
            .collect(),
        burn_rates: vec![],
    };
    metrics.set_slo(&slo, day);

    let mut have = metrics
        .text()
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count();
    let mut i = 0;
    while have < target {
        let name = format!("collector-{i:04}");
        metrics.init_components([name.as_str()], [], [], []);
        metrics.collector_started(&name);
        metrics.collector_succeeded(&name, 2.0, 1_000_000, 0, 1.8e9);
        have += SERIES_PER_COLLECTOR;
        i += 1;
    }
    Ok(metrics)
}
