#!/usr/bin/env bash
# The main job, end to end: builds and installs pg_rating, starts Debian's
# PostgreSQL 15 cluster, loads a telecom and a cloud tariff, inserts a batch
# of realistic usage and prints the ledger and balances. Safe to re-run: the
# demo database is created afresh each time.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

say "Building and installing pg_rating (release)"
cargo pgrx install --release --sudo --pg-config "$PG_CONFIG" >/dev/null

if ! pg_lsclusters -h 2>/dev/null | awk '$1 == "'$PG_MAJOR'" && $2 == "main"' | grep -q .; then
    "${SUDO[@]}" pg_createcluster $PG_MAJOR main >/dev/null
fi
"${SUDO[@]}" pg_ctlcluster $PG_MAJOR main start 2>/dev/null || true
pg_lsclusters -h | awk '$1 == "'$PG_MAJOR'" && $2 == "main" { print "PostgreSQL " $1 "/" $2 " on port " $3 ": " $4 }'

say "Running examples/demo.sql in a fresh database pg_rating_demo"
as_postgres psql -X -q -v ON_ERROR_STOP=1 -d postgres -c 'DROP DATABASE IF EXISTS pg_rating_demo' -c 'CREATE DATABASE pg_rating_demo'
{ echo "CREATE EXTENSION pg_rating CASCADE;"; cat examples/telecom_tariff.sql examples/cloud_tariff.sql examples/demo.sql; } |
    as_postgres psql -X -q -v ON_ERROR_STOP=1 -d pg_rating_demo
