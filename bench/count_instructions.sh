#!/usr/bin/env bash
# Instructions per row or per statement of one workload, counted as section
# 8 of scripts/bench.sh counts them, on a development database: to compare
# two builds or two settings back to back on the same tables, where a count
# repeats exactly (it moves by a few per cent with the tables' history).
# The README's figures measured "by hand" come from it.
#
#   bench/count_instructions.sh DATA_DIR DATABASE batch TABLE ROWS FIRST_ACCOUNT ACCOUNTS
#   bench/count_instructions.sh DATA_DIR DATABASE statements TABLE COUNT ROWS_EACH ACCOUNTS_EACH
#   bench/count_instructions.sh DATA_DIR DATABASE sql COUNT SETUP BODY
#
# DATA_DIR is the data directory of a stopped cluster (single-user mode needs
# it to itself); DATABASE was made with bench/setup.sql; the pg_rating build
# installed is the one measured. batch and statements run bench.sh's
# workloads (e.g. batch rating.usage 20000 100001 10000; statements
# rating.usage 1000 1 1). sql runs BODY with :N replaced by COUNT, and by 0
# for the baseline, each after SETUP and a checkpoint, and divides by COUNT.
# COUNT_PROFILE=FILE keeps the workload's callgrind profile, for
# callgrind_annotate.
# Works as root and as a user with sudo; installs valgrind if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
install_packages valgrind

[ $# -ge 4 ] || { sed -n '2,20p' "$0"; exit 2; }
data_dir=$1 database=$2 mode=$3
shift 3
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
COLUMNS_OF_USAGE="account_id, service, quantity, occurred_at, destination"
SINGLE_USER=("$PG_BIN/postgres" --single -D "$data_dir" -c synchronous_commit=off
             -c shared_buffers=1GB -c max_wal_size=8GB "$database")
COUNT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/count_instructions.XXXXXX")
trap '"${SUDO[@]}" rm -rf "$COUNT_DIR"' EXIT
"${SUDO[@]}" chown postgres "$COUNT_DIR"
source bench/instructions.sh

case $mode in
    batch)
        none=$(batch "$1" 0 "$3" "$4" | instructions)
        all=$(batch "$1" "$2" "$3" "$4" | instructions)
        echo "per row: $(per "$all" "$none" "$2")" ;;
    statements)
        none=$(small_statements "$1" 0 "$3" "$4" | instructions)
        all=$(small_statements "$1" "$2" "$3" "$4" | instructions)
        echo "per statement: $(per "$all" "$none" "$2")" ;;
    sql)
        COUNT_SETUP=$2
        none=$(echo "${3//:N/0}" | instructions)
        all=$(echo "${3//:N/$1}" | instructions)
        echo "per unit: $(per "$all" "$none" "$1")" ;;
    *) sed -n '2,20p' "$0"; exit 2 ;;
esac
