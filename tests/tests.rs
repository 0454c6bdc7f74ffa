//! Integration tests: the real `vitals` binary against real files and peers.
//!
//! Peers (DuckDB as the cost oracle, promtool) are installed by
//! `scripts/test.sh`; a test that cannot find one fails and says how to
//! install it.

mod harness;
mod peers;

mod aws_cost_explorer;
mod bad_input;
mod cost_oracle;
mod daemon;
mod report;
