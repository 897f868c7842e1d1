#!/usr/bin/env bash
# Make a Docker engine and the test image available for the e2e tests.
# Idempotent: an engine that already answers `docker info` (honouring DOCKER_HOST) is used as it is;
# otherwise a local dockerd is started without networking, since this machine has no bridge/iptables
# to offer and the tests run every container with --network none.
# No image can be pulled here, so the test image is imported from a busybox-static rootfs.
set -euo pipefail

STATE_DIR="${MIZUAL_TEST_STATE:-/tmp/mizual-test}"
IMAGE="mizual-test-busybox:1"
LOG="$STATE_DIR/dockerd.log"
PIDFILE="$STATE_DIR/dockerd.pid"

log() { echo "docker-up: $*" >&2; }

engine_up() { docker info >/dev/null 2>&1; }

install_packages() {
  if [ "$(id -u)" != 0 ]; then
    log "dockerd is not installed and this is not root; install it with:"
    log "  sudo apt-get install -y docker.io busybox-static"
    exit 1
  fi
  log "installing docker.io busybox-static"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io busybox-static >&2; then
    # A fresh machine may have no package lists yet.
    DEBIAN_FRONTEND=noninteractive apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io busybox-static >&2
  fi
}

start_dockerd() {
  mkdir -p "$STATE_DIR"
  local pid=0
  if [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    pid="$(cat "$PIDFILE")"
    log "dockerd (pid $pid) is running but not answering yet; waiting"
  else
    rm -f "$PIDFILE"  # stale: its process is gone
    # The packaged containerd service is not running without systemd; dockerd then starts its own.
    log "starting dockerd (log: $LOG)"
    # setsid: detach from this script's process group so the caller's cleanup of the group leaves it running.
    local listen=()
    # A DOCKER_HOST naming another socket is where the tests will look, so listen there.
    if [ -n "${DOCKER_HOST:-}" ]; then listen=(--host "$DOCKER_HOST"); fi
    setsid dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs \
      --pidfile "$PIDFILE" "${listen[@]}" >>"$LOG" 2>&1 </dev/null &
    # dockerd writes the pidfile itself (and refuses to start if it names a live process).
    pid=$!
  fi
  local i
  for i in $(seq 1 60); do
    if engine_up; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.5
  done
  log "dockerd did not come up within 30 s; last lines of $LOG:"
  tail -n 30 "$LOG" >&2 || true
  exit 1
}

build_image() {
  if docker image inspect "$IMAGE" >/dev/null 2>&1; then return 0; fi
  local busybox=""
  for candidate in /bin/busybox /usr/bin/busybox; do
    # The image has no libc, so only a static busybox works.
    if [ -x "$candidate" ] && ! ldd "$candidate" >/dev/null 2>&1; then busybox="$candidate"; break; fi
  done
  if [ -z "$busybox" ]; then
    log "no static busybox found; install busybox-static"
    exit 1
  fi
  log "building $IMAGE from $busybox"
  local root
  root="$(mktemp -d)"
  trap 'rm -rf "$root"' RETURN
  mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/proc" "$root/sys" "$root/dev"
  chmod 1777 "$root/tmp"
  cp "$busybox" "$root/bin/busybox"
  local applet
  for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["sh"]' - "$IMAGE" >/dev/null
}

check_run() {
  # Proves the cgroup and runtime setup, not just the API socket.
  local out
  if ! out="$(docker run --rm --network none "$IMAGE" echo mizual-ok 2>&1)" || [ "$out" != mizual-ok ]; then
    log "docker run failed: $out"
    [ -f "$LOG" ] && { log "last lines of $LOG:"; tail -n 30 "$LOG" >&2; }
    exit 1
  fi
}

if ! engine_up; then
  if [ -n "${DOCKER_HOST:-}" ] && [[ "$DOCKER_HOST" != unix://* ]]; then
    log "DOCKER_HOST=$DOCKER_HOST does not answer; not starting a local engine for a remote address"
    exit 1
  fi
  command -v dockerd >/dev/null 2>&1 || install_packages
  command -v busybox >/dev/null 2>&1 || [ -x /bin/busybox ] || install_packages
  start_dockerd
fi
build_image
check_run
log "engine ready ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?')), image $IMAGE"
