#!/usr/bin/env bash
# Stop the throwaway Ceph cluster that s3-up.sh started (by its pidfiles) and remove its directory.
# An external endpoint (MIZUAL_TEST_S3_ENDPOINT) is never touched.
set -euo pipefail

STATE_DIR="${MIZUAL_TEST_STATE:-/tmp/mizual-test}"
DIR="$STATE_DIR/ceph"

stop() {
  local pidfile="$DIR/$1.pid" pid i
  [ -s "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# Gateway first, so it does not spin on a vanished cluster.
stop rgw
stop osd
stop mon
rm -rf "$DIR"
rm -f "$STATE_DIR/s3.env"
