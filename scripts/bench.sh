#!/usr/bin/env bash
# vitals against DuckDB, side by side, on generated data of a chosen size.
#
#   bash scripts/bench.sh                      # 10 M FOCUS rows, 10 M requests
#   bash scripts/bench.sh --rows 50000000 --requests 50000000
#   bash scripts/bench.sh --work /tmp/bench    # keep the generated files and stores
#   bash scripts/bench.sh --instances 10000    # the savings step's fleet (default 5,000; 0 skips it)
#   bash scripts/bench.sh --savings-only       # the savings step alone
#   bash scripts/bench.sh --daemon-only        # idle RSS and /metrics only
#   bash scripts/bench.sh --work DIR --skip-collect   # re-measure analyze on DIR's store
#
# Builds vitals in release (`cargo build --release`, see README "Release
# build"), puts DuckDB (the pinned version of tests/requirements.txt) into
# `.venv/`, then runs scripts/bench.py: it generates the data (seeded, so the
# same bytes every run), times each step of vitals and of DuckDB doing the
# same work with the same threads, checks their answers are equal, and prints
# a table of wall time, peak RSS and ratios. Timing lives here, never in
# `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }

if [ ! -x .venv/bin/python ]; then
    say "creating .venv"
    python3 -m venv .venv
fi
duckdb_pin="$(grep -E '^duckdb==' tests/requirements.txt)"
.venv/bin/pip install -q --disable-pip-version-check "$duckdb_pin"

say "cargo build --release (the first build takes about half an hour on 2 cores)"
cargo build --release --bin vitals --example bench_metrics
target_dir="$(cargo metadata --format-version 1 --no-deps | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"

exec .venv/bin/python scripts/bench.py --vitals "$target_dir/release/vitals" \
    --bench-metrics "$target_dir/release/examples/bench_metrics" "$@"
