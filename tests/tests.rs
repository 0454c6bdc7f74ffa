//! Integration tests: the real `vitals` binary against real files and peers.
//!
//! Peers (DuckDB as the cost oracle, Prometheus and promtool, moto,
//! bqemulator, gcp-storage-emulator) are installed by `scripts/test.sh`; a test that
//! cannot find one fails and says how to install it.

mod harness;
mod peers;
mod spend;

mod aws_cost_explorer;
mod aws_cur;
mod aws_savings;
mod bad_input;
mod commitment;
mod cost_oracle;
mod cost_per_request;
mod daemon;
mod dashboards;
mod email;
mod findings;
mod focus_remote;
mod four_roads;
mod gcp_billing_export;
mod gcp_compute;
mod gcp_monitoring;
mod gcp_pricing;
mod newrelic;
mod p95_regression;
mod prometheus;
mod prometheus_native;
mod report;
mod request_log;
mod sinks;
mod slo_safe;
mod streaming;
