#!/usr/bin/env bash
# Installs every test dependency, then runs every test of the workspace.
#
#   bash scripts/test.sh            # all tests
#   bash scripts/test.sh cost       # extra arguments go to `cargo test`
#
# System packages come from Debian's apt (root or sudo); Python packages go
# into `.venv/` in the repository (ignored by git). Safe to run again: what
# is already installed is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }

# Debian packages: `prometheus` brings promtool, which checks the /metrics
# format and backfills history, and the Prometheus server the `prometheus`
# collector is tested against; `prometheus-alertmanager` is the real
# Alertmanager the `alertmanager` sink posts to.
apt_packages=()
{ command -v promtool && command -v prometheus; } >/dev/null 2>&1 || apt_packages+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || apt_packages+=(prometheus-alertmanager)
if ((${#apt_packages[@]})); then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    say "installing ${apt_packages[*]} with apt"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi
# Debian's packages start nothing by themselves under a container; tests
# start the peers they need on loopback ports.

# Python peers, pinned in tests/requirements.txt: DuckDB (the independent
# oracle for cost totals), moto (AWS), bqemulator (BigQuery),
# gcp-storage-emulator (Cloud Storage), aiosmtpd (SMTP) and standardwebhooks
# (an independent check of the webhook sink's signatures). pip does nothing (and needs no
# network) when the pinned versions are already there.
if [ ! -x .venv/bin/python ]; then
    say "creating .venv"
    python3 -m venv .venv
fi
say "installing tests/requirements.txt into .venv"
.venv/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
export VITALS_TEST_PYTHON="$PWD/.venv/bin/python"

say "cargo test (every crate, every target)"
cargo test --workspace --all-targets --no-fail-fast "$@"
