//! The daemon's Prometheus endpoint as a library, so that the `/metrics`
//! benchmark (`examples/bench_metrics.rs`) serves the same registry and
//! router as `vitals run`. Everything else of the binary lives in `main.rs`
//! and its modules.

pub mod http;
pub mod metrics;
