#!/usr/bin/env bash
# A throwaway Postgres cluster for the database tests, as a managed one looks to our users' app:
# TLS with a self-signed certificate (plain TCP refused), pg_stat_statements preloaded, a database with
# `production` and `preview` schemas, and a least-privilege role with pg_monitor only whose password
# needs percent-encoding in a URL. Idempotent: a cluster that answers is used as it is.
# Its own port (chosen free on first start) and directory under $MIZUAL_TEST_STATE/postgres.
# Writes $MIZUAL_TEST_STATE/postgres.env for the tests (no password of a real system is in it).
set -euo pipefail

STATE_DIR="${MIZUAL_TEST_STATE:-/tmp/mizual-test}"
DIR="$STATE_DIR/postgres"
DATA="$DIR/data"
SOCK="$DIR/sock"
ENV_FILE="$STATE_DIR/postgres.env"
BIN=/usr/lib/postgresql/15/bin
# Characters a URL must percent-encode: @ : / # ? % and a space.
MON_PASSWORD='m0n@it:or/#?% pw'
NOMON_PASSWORD='n0-m0n@pw'
ADMIN_PASSWORD='adm1n:pw@x'

log() { echo "postgres-up: $*" >&2; }

install_packages() {
  if [ "$(id -u)" != 0 ]; then
    log "the database tests need Postgres 15; install it with:"
    log "  sudo apt-get install -y postgresql postgresql-contrib prometheus-postgres-exporter openssl"
    exit 1
  fi
  log "installing postgresql postgresql-contrib prometheus-postgres-exporter openssl"
  local pkgs=(postgresql postgresql-contrib prometheus-postgres-exporter openssl)
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" >&2; then
    DEBIAN_FRONTEND=noninteractive apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" >&2
  fi
}

as_pg() { runuser -u postgres -- "$@"; }

if [ ! -x "$BIN/initdb" ] || ! command -v prometheus-postgres-exporter >/dev/null || ! command -v openssl >/dev/null; then
  install_packages
fi
if [ ! -x "$BIN/initdb" ]; then
  log "Postgres 15 is not installed ($BIN/initdb missing)"
  exit 1
fi

mkdir -p "$STATE_DIR"
exec 9>"$STATE_DIR/postgres-up.lock"
flock 9

free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

ready() { [ -s "$DIR/port" ] && as_pg "$BIN/pg_isready" -q -h "$SOCK" -p "$(cat "$DIR/port")"; }

write_env() {
  local port
  port="$(cat "$DIR/port")"
  umask 077
  cat >"$ENV_FILE" <<EOF
PG_TEST_PORT=$port
PG_TEST_SOCKET=$SOCK
PG_TEST_DATA=$DATA
PG_TEST_BIN=$BIN
PG_TEST_CERT=$DIR/server.crt
PG_TEST_ADMIN_USER=mizual_admin
PG_TEST_ADMIN_PASSWORD='$ADMIN_PASSWORD'
PG_TEST_MON_USER=mizual_mon
PG_TEST_MON_PASSWORD='$MON_PASSWORD'
PG_TEST_NOMON_USER=mizual_nomon
PG_TEST_NOMON_PASSWORD='$NOMON_PASSWORD'
PG_TEST_DB=appdb
PG_TEST_DB_NOSTATEMENTS=plaindb
EOF
}

if ready; then
  write_env
  exit 0
fi

if [ ! -s "$DATA/PG_VERSION" ]; then
  log "creating a cluster in $DATA"
  rm -rf "$DIR"
  mkdir -p "$DIR" "$SOCK"
  chown postgres:postgres "$DIR" "$SOCK"
  chmod 0700 "$DIR"
  chmod 0755 "$SOCK"
  free_port >"$DIR/port"
  pwfile="$(mktemp)"
  printf '%s\n' "$ADMIN_PASSWORD" >"$pwfile"
  chown postgres "$pwfile"
  as_pg "$BIN/initdb" -D "$DATA" -U mizual_admin --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C >/dev/null
  rm -f "$pwfile"
  openssl req -x509 -nodes -newkey rsa:2048 -days 3650 -subj /CN=localhost \
    -keyout "$DIR/server.key" -out "$DIR/server.crt" 2>/dev/null
  chown postgres:postgres "$DIR/server.key" "$DIR/server.crt"
  chmod 0600 "$DIR/server.key"
  cat >>"$DATA/postgresql.conf" <<EOF
port = $(cat "$DIR/port")
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SOCK'
max_connections = 40
superuser_reserved_connections = 3
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
ssl = on
ssl_cert_file = '$DIR/server.crt'
ssl_key_file = '$DIR/server.key'
deadlock_timeout = 200ms
shared_buffers = 16MB
fsync = off
EOF
  cat >"$DATA/pg_hba.conf" <<EOF
local all all trust
hostssl all all 127.0.0.1/32 scram-sha-256
EOF
fi

# A kept cluster whose port another service took since: move it to a free one.
port_taken() { node -e "const s=require('net').createServer();s.once('error',()=>process.exit(0));s.listen($(cat "$DIR/port"),'127.0.0.1',()=>{s.close();process.exit(1)})"; }
if port_taken; then
  free_port >"$DIR/port"
  echo "port = $(cat "$DIR/port")" >>"$DATA/postgresql.conf"
  log "port in use; moved the cluster to $(cat "$DIR/port")"
fi
# The server must not inherit the lock descriptor (it would hold the lock for its lifetime).
as_pg "$BIN/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 start >/dev/null 9>&-
ready || { log "Postgres did not start; see $DIR/server.log"; exit 1; }

psql_admin() { as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$(cat "$DIR/port")" -U mizual_admin "$@"; }
if ! psql_admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'appdb'" | grep -q 1; then
  log "creating databases and roles"
  # The passwords must not land in pg_stat_statements' query texts.
  psql_admin -d postgres >/dev/null <<EOF
SET pg_stat_statements.track_utility = off;
CREATE ROLE mizual_mon LOGIN PASSWORD '$(printf '%s' "$MON_PASSWORD" | sed "s/'/''/g")';
GRANT pg_monitor TO mizual_mon;
CREATE ROLE mizual_nomon LOGIN PASSWORD '$NOMON_PASSWORD';
CREATE DATABASE appdb;
CREATE DATABASE plaindb;
EOF
  psql_admin -d appdb >/dev/null <<EOF
CREATE EXTENSION pg_stat_statements;
CREATE SCHEMA production;
CREATE SCHEMA preview;
CREATE TABLE production.items (id serial PRIMARY KEY, name text, n int);
INSERT INTO production.items (name, n) SELECT 'item ' || g, g FROM generate_series(1, 20000) g;
CREATE TABLE preview.items (id serial PRIMARY KEY, name text, n int);
INSERT INTO preview.items (name, n) SELECT 'item ' || g, g FROM generate_series(1, 500) g;
CREATE SEQUENCE production.almost_full AS smallint MAXVALUE 100;
SELECT setval('production.almost_full', 95);
ANALYZE;
EOF
fi
write_env
log "Postgres on 127.0.0.1:$(cat "$DIR/port") (socket $SOCK)"
