#!/usr/bin/env bash
# Make a real S3 server available for the e2e tests: a throwaway single-node Ceph cluster
# (one mon, one memstore OSD, no mgr) and a radosgw on 127.0.0.1, run without systemd.
# Idempotent: a gateway that already answers is used as it is; a cluster whose mon and OSD still run
# only gets its radosgw started again (that is how the tests bring "B2" back after stopping it).
# If MIZUAL_TEST_S3_ENDPOINT (+ keys) names another server, that external endpoint is used and nothing
# is started. Writes $MIZUAL_TEST_STATE/s3.env with
# MIZUAL_TEST_S3_{ENDPOINT,ACCESS_KEY_ID,SECRET_ACCESS_KEY,REGION} and MIZUAL_TEST_S3_EXTERNAL (0 or 1).
# Port: MIZUAL_TEST_S3_PORT (default 7480). The mon's msgr2 and msgr1 ports are picked free when the cluster
# is created and kept in its ceph.conf, so a Ceph already on 3300/6789 (a real one, or another state dir's)
# is never in the way, nor ever talked to.
set -euo pipefail

STATE_DIR="${MIZUAL_TEST_STATE:-/tmp/mizual-test}"
DIR="$STATE_DIR/ceph"
CONF="$DIR/ceph.conf"
PORT="${MIZUAL_TEST_S3_PORT:-7480}"
ENV_FILE="$STATE_DIR/s3.env"
# Fixed test keys: the cluster lives only on loopback and only for the tests.
ACCESS_KEY="MIZUALTESTACCESSKEY0"
SECRET_KEY="mizual-test-secret-key-0000000000000000000"
REGION="us-east-1"
PACKAGES="radosgw ceph-mon ceph-osd ceph-common curl"

log() { echo "s3-up: $*" >&2; }

write_env() {
  mkdir -p "$STATE_DIR"
  {
    echo "MIZUAL_TEST_S3_ENDPOINT=$1"
    echo "MIZUAL_TEST_S3_ACCESS_KEY_ID=$2"
    echo "MIZUAL_TEST_S3_SECRET_ACCESS_KEY=$3"
    echo "MIZUAL_TEST_S3_REGION=$4"
    echo "MIZUAL_TEST_S3_EXTERNAL=$5"
  } >"$ENV_FILE"
}

# Any HTTP answer counts: an anonymous GET / on radosgw returns an empty bucket list.
gateway_answers() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/"; }

alive() { [ -s "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

# Start a daemon in the foreground mode (-f) detached from our process group, and record its pid.
spawn() {
  local name="$1"
  shift
  # setsid: the caller's cleanup of its process group must not take the cluster down.
  # 9>&-: the daemon must not inherit (and so hold forever) this script's lock.
  setsid "$@" -f >>"$DIR/log/$name.out" 2>&1 </dev/null 9>&- &
  echo $! >"$DIR/$name.pid"
}

ENDPOINT="http://127.0.0.1:$PORT"

# What listens on TCP port $1 (any address), one line per listener; empty when nothing does.
port_holders() {
  if command -v ss >/dev/null 2>&1; then
    ss -Hltnp "sport = :$1" | awk '{ print $4, $6 }'
  elif (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "127.0.0.1:$1 (install iproute2 for ss to name the process)"
  fi
}

# Stop with a message naming the process when port $1 (from setting $2) is taken.
require_free_port() {
  local holders
  holders="$(port_holders "$1")"
  [ -z "$holders" ] && return 0
  log "port $1 ($2) is already in use, by:"
  while IFS= read -r line; do log "  $line"; done <<<"$holders"
  log "stop that process, or set $2 to a free port"
  exit 1
}

# Two distinct free loopback ports, as the kernel hands them out for port 0.
free_port_pair() {
  node -e '
    const net = require("node:net");
    const servers = [net.createServer(), net.createServer()];
    let ready = 0;
    for (const s of servers) s.listen(0, "127.0.0.1", () => {
      if (++ready < 2) return;
      console.log(servers.map((x) => x.address().port).join(" "));
      for (const x of servers) x.close();
    });
  '
}

# scripts/test.sh exports what this script wrote; our own endpoint coming back is not "external".
if [ -n "${MIZUAL_TEST_S3_ENDPOINT:-}" ] && [ "${MIZUAL_TEST_S3_ENDPOINT%/}" != "$ENDPOINT" ]; then
  if [ -z "${MIZUAL_TEST_S3_ACCESS_KEY_ID:-}" ] || [ -z "${MIZUAL_TEST_S3_SECRET_ACCESS_KEY:-}" ]; then
    log "MIZUAL_TEST_S3_ENDPOINT is set but MIZUAL_TEST_S3_ACCESS_KEY_ID / MIZUAL_TEST_S3_SECRET_ACCESS_KEY are not"
    exit 1
  fi
  write_env "$MIZUAL_TEST_S3_ENDPOINT" "$MIZUAL_TEST_S3_ACCESS_KEY_ID" "$MIZUAL_TEST_S3_SECRET_ACCESS_KEY" \
    "${MIZUAL_TEST_S3_REGION:-us-east-1}" 1
  log "using external endpoint $MIZUAL_TEST_S3_ENDPOINT; starting nothing"
  echo "$MIZUAL_TEST_S3_ENDPOINT"
  exit 0
fi

# Test files run in parallel and each may call this script: one at a time builds the cluster.
mkdir -p "$STATE_DIR"
exec 9>"$STATE_DIR/s3-up.lock"
flock 9

if gateway_answers; then
  write_env "$ENDPOINT" "$ACCESS_KEY" "$SECRET_KEY" "$REGION" 0
  echo "$ENDPOINT"
  exit 0
fi

install_packages() {
  if [ "$(id -u)" != 0 ]; then
    log "Ceph is not installed and this is not root; install it with:"
    log "  sudo apt-get install -y $PACKAGES"
    exit 1
  fi
  log "installing $PACKAGES"
  # shellcheck disable=SC2086
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $PACKAGES >&2; then
    # A fresh machine may have no package lists yet.
    DEBIAN_FRONTEND=noninteractive apt-get update >&2
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $PACKAGES >&2
  fi
}

for bin in radosgw ceph-mon ceph-osd ceph radosgw-admin monmaptool curl; do
  command -v "$bin" >/dev/null 2>&1 || { install_packages; break; }
done

T0=$(date +%s.%N)

wait_for() {
  local what="$1" seconds="$2" check="$3" pidname="$4" i
  for i in $(seq 1 $((seconds * 10))); do
    if eval "$check"; then return 0; fi
    if ! alive "$pidname"; then
      log "$what exited; last lines of $DIR/log/$pidname.*:"
      tail -n 30 "$DIR/log/$pidname".* >&2 || true
      exit 1
    fi
    sleep 0.1
  done
  log "$what did not come up within $seconds s; last lines of $DIR/log/$pidname.*:"
  tail -n 30 "$DIR/log/$pidname".* >&2 || true
  exit 1
}

ceph_cmd() { timeout 30 ceph -c "$CONF" "$@"; }

# A setup step whose output goes to $DIR/log/$1.out: on failure, say which and show its last lines.
setup_step() {
  local name="$1" rc=0
  shift
  "$@" >>"$DIR/log/$name.out" 2>&1 || rc=$?
  [ "$rc" = 0 ] && return 0
  log "$1 ${*:2} failed (exit $rc); last lines of $DIR/log/$name.out:"
  tail -n 30 "$DIR/log/$name.out" >&2 || true
  exit 1
}

create_cluster() {
  # Leftovers of a cluster whose daemons died: memstore lost its data with the OSD, start over.
  "$(dirname "$0")/s3-down.sh" >/dev/null 2>&1 || true
  mkdir -p "$DIR/mon" "$DIR/osd" "$DIR/rgw" "$DIR/run" "$DIR/log"
  local fsid mon_v2 mon_v1 mon_addrs
  fsid="$(cat /proc/sys/kernel/random/uuid)"
  read -r mon_v2 mon_v1 < <(free_port_pair) || true
  [ -n "$mon_v1" ] || { log "could not pick free ports for ceph-mon"; exit 1; }
  mon_addrs="[v2:127.0.0.1:$mon_v2,v1:127.0.0.1:$mon_v1]"
  cat >"$CONF" <<EOF
[global]
fsid = $fsid
mon host = $mon_addrs
public addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
crash dir = $DIR/crash
log to stderr = false
err to stderr = true
osd objectstore = memstore
memstore device bytes = 2147483648
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
osd crush chooseleaf type = 0
paxos propose interval = 0.05
mon data avail warn = 2
mon data avail crit = 1
# Small caches: the whole cluster should fit in a few hundred MiB.
osd memory target = 268435456
osd memory cache min = 67108864
mon memory target = 134217728
rocksdb cache size = 16777216
osd op num shards = 1
osd op num threads per shard = 2
# Every daemon and client talks to the mon over msgr2; with auth none only crc mode completes.
ms mon client mode = crc

[mon.a]
mon data = $DIR/mon

[osd.0]
osd data = $DIR/osd

[client]
# Without it radosgw never finishes connecting to a mon that runs with auth none.
ms mon client mode = crc
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw data = $DIR/rgw
rgw dns name =
rgw thread pool size = 32
rgw enable usage log = false
rgw gc processor period = 30
rgw lc debug interval = 10
EOF
  log "creating a single-node Ceph cluster in $DIR (mon on 127.0.0.1:$mon_v2 and :$mon_v1)"
  monmaptool --create --clobber --fsid "$fsid" --addv a "$mon_addrs" "$DIR/monmap" >/dev/null
  setup_step mon ceph-mon -c "$CONF" -i a --mkfs --monmap "$DIR/monmap"
  spawn mon ceph-mon -c "$CONF" -i a
  wait_for "ceph-mon" 20 'ceph_cmd mon stat >/dev/null 2>&1' mon
  local id uuid
  # The OSD checks on boot that its uuid is the one the mon registered.
  uuid="$(cat /proc/sys/kernel/random/uuid)"
  id="$(ceph_cmd osd create "$uuid")"
  setup_step osd ceph-osd -c "$CONF" -i "$id" --mkfs --osd-uuid "$uuid"
  spawn osd ceph-osd -c "$CONF" -i "$id"
  wait_for "ceph-osd" 30 'ceph_cmd osd stat 2>/dev/null | grep -q " 1 up"' osd
}

start_gateway() {
  log "starting radosgw on 127.0.0.1:$PORT"
  spawn rgw radosgw -c "$CONF" -n client.rgw.a
  # The first start creates its pools, which takes a few seconds.
  wait_for "radosgw" 60 gateway_answers rgw
}

ensure_user() {
  if radosgw-admin -c "$CONF" user info --uid mizual-test >/dev/null 2>&1; then return 0; fi
  radosgw-admin -c "$CONF" user create --uid mizual-test --display-name "mizual test" \
    --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" >/dev/null
}

# A gateway we are about to start needs its fixed port; say who holds it instead of failing later.
alive rgw || require_free_port "$PORT" MIZUAL_TEST_S3_PORT

if alive mon && alive osd && [ -f "$CONF" ]; then
  # Only the gateway was stopped (a test simulating B2 down): bring just it back.
  alive rgw || start_gateway
  wait_for "radosgw" 60 gateway_answers rgw
else
  create_cluster
  start_gateway
fi
ensure_user
write_env "$ENDPOINT" "$ACCESS_KEY" "$SECRET_KEY" "$REGION" 0
log "gateway ready at $ENDPOINT after $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s (env: $ENV_FILE)"
echo "$ENDPOINT"
