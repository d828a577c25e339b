#!/usr/bin/env bash
# The whole test suite, three tiers:
#   1. the rating engine's unit and property tests (plain `cargo test`, no database);
#   2. the in-database suites in pgrx-tests/ (`cargo pgrx test`);
#   3. tests/client.rs, tests/fuzz.rs and tests/reliability.rs against a
#      throwaway PostgreSQL 15 server, as clients would talk to it (concurrent
#      sessions, COPY, SQLSTATEs over the wire, random tariffs and usage,
#      upgrade, dump and restore, a mixed load, a SIGKILL crash).
# Installs what is missing first (scripts/setup.sh). Safe to re-run; leaves no
# server running. Works as root and as a user with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
PGRX_TEST_PGDATA=${TMPDIR:-/tmp}/pg_rating_pgrx_test_pgdata
CLIENT_TEST_PORT=${PG_RATING_TEST_PORT:-55432}

say "1/3 Engine unit and property tests (no database)"
cargo test --lib engine::

say "2/3 In-database tests (cargo pgrx test)"
# pgrx runs its test server as postgres in a data directory it creates afresh.
"${SUDO[@]}" rm -rf "$PGRX_TEST_PGDATA"
CARGO_PGRX_TEST_RUNAS=postgres CARGO_PGRX_TEST_PGDATA="$PGRX_TEST_PGDATA" cargo pgrx test pg$PG_MAJOR

say "3/3 Client tests against a throwaway server"
# cargo pgrx test installed a build carrying the test schema; install the real one.
cargo pgrx install --sudo --pg-config "$PG_CONFIG" >/dev/null
CLUSTER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pg_rating_client_tests.XXXXXX")
stop_cluster() {
    as_postgres "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    "${SUDO[@]}" rm -rf "$CLUSTER_DIR"
}
trap stop_cluster EXIT
"${SUDO[@]}" chown postgres "$CLUSTER_DIR"
as_postgres "$PG_BIN/initdb" -D "$CLUSTER_DIR/data" -U postgres -A trust --no-sync >/dev/null
# Another server (on a shared machine, another checkout's tests) may hold
# the port: the first free one of the next ten serves.
started=""
for port in $(seq "$CLIENT_TEST_PORT" $((CLIENT_TEST_PORT + 9))); do
    "${SUDO[@]}" rm -f "$CLUSTER_DIR/server.log"
    SERVER_OPTIONS="-p $port -k $CLUSTER_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60"
    if as_postgres "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -w -l "$CLUSTER_DIR/server.log" \
        -o "$SERVER_OPTIONS" start >/dev/null 2>&1; then
        started=$port
        break
    fi
    "${SUDO[@]}" grep -q "already in use" "$CLUSTER_DIR/server.log" ||
        { echo "server log:"; "${SUDO[@]}" tail -n 20 "$CLUSTER_DIR/server.log"; exit 1; }
done
[[ -n $started ]] || { echo "ports $CLIENT_TEST_PORT to $port are all in use"; exit 1; }
CLIENT_TEST_PORT=$started
echo "server on port $CLIENT_TEST_PORT"
# The upgrade test creates each earlier release from its frozen script.
"${SUDO[@]}" cp sql/released/pg_rating--*.sql "$("$PG_CONFIG" --sharedir)/extension/"
export PG_RATING_TEST_DSN="host=127.0.0.1 port=$CLIENT_TEST_PORT user=postgres"
export PG_RATING_TEST_BIN="$PG_BIN"
export PG_RATING_TEST_CRASH="$PWD/scripts/crash_test_server.sh $CLUSTER_DIR/data $CLUSTER_DIR/server.log '$SERVER_OPTIONS'"
# The crash test kills the server: it runs alone, after the others.
{ cargo test --test client -- --ignored --test-threads=2 &&
  cargo test --test fuzz -- --ignored --show-output &&
  cargo test --test reliability -- --ignored --test-threads=2 --skip crash --show-output &&
  cargo test --test reliability -- --ignored crash --show-output; } ||
    { echo "server log:"; "${SUDO[@]}" tail -n 50 "$CLUSTER_DIR/server.log"; exit 1; }

say "All tests passed"
