#!/usr/bin/env bash
# The whole test suite: build, bring up the real Docker engine and S3 gateway (installing the
# Debian packages when run as root), then run every test with node's test runner.
# Without root and without the services it stops and says exactly what to install.
set -euo pipefail
cd "$(dirname "$0")/.."
export MIZUAL_TEST_STATE="${MIZUAL_TEST_STATE:-/tmp/mizual-test}"

node scripts/build.mjs
# The Prometheus tests run Debian's promtool, prometheus and node_exporter.
if ! command -v promtool >/dev/null || ! command -v prometheus-node-exporter >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "the Prometheus tests need: sudo apt-get install -y prometheus prometheus-node-exporter" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus prometheus-node-exporter >&2
fi
# The history tests run a real terminal (tmux), a real browser (chromium) and fake time (faketime).
missing=()
for tool in tmux chromium faketime; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ] && [ "$(id -u)" -eq 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
  missing=()
  for tool in tmux chromium faketime; do command -v "$tool" >/dev/null || missing+=("$tool"); done
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "the history tests need: sudo apt-get install -y ${missing[*]}" >&2
  [ "${CI:-}" = true ] && exit 1
fi
bash test/harness/docker-up.sh
bash test/harness/s3-up.sh
# The database tests' Postgres (TLS, pg_stat_statements, a pg_monitor role); installs it when root.
bash test/harness/postgres-up.sh
set -a
# shellcheck disable=SC1091
. "$MIZUAL_TEST_STATE/s3.env"
set +a

if [ "$#" -gt 0 ]; then files=("$@"); else mapfile -t files < <(find test -name '*.test.ts' | sort); fi
exec node --import tsx --test --test-concurrency=1 "${files[@]}"
