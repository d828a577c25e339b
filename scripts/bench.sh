#!/usr/bin/env bash
# The performance benchmark: how close a rated and posted insert comes to a
# plain INSERT of the same rows, and how it compares with the PL/pgSQL
# rating a team would otherwise write (bench/setup.sql). Everything is
# measured in one run on one throwaway PostgreSQL 15 server, whose settings
# are printed: medians of BENCH_REPEAT runs, ratios of those medians.
#
#   BENCH_REPEAT=3  BENCH_BATCH_ROWS=200000  BENCH_COPY_ROWS=1000000
#   BENCH_PGBENCH_SECONDS=5  BENCH_CPU_STATEMENTS=5000  BENCH_MEMORY_ROWS=10000000
#   BENCH_INSTRUCTION_ROWS=20000  BENCH_INSTRUCTION_STATEMENTS=1000
#   BENCH_PORT=55440  BENCH_SECTIONS=12345678 (which of the eight parts below to run)
#
# A benchmark, not a test: it fails only if something breaks, never on a
# figure. Works as root and as a user with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

REPEAT=${BENCH_REPEAT:-3}
BATCH_ROWS=${BENCH_BATCH_ROWS:-200000}
COPY_ROWS=${BENCH_COPY_ROWS:-1000000}
PGBENCH_SECONDS=${BENCH_PGBENCH_SECONDS:-5}
CPU_STATEMENTS=${BENCH_CPU_STATEMENTS:-5000}
MEMORY_ROWS=${BENCH_MEMORY_ROWS:-10000000}
PORT=${BENCH_PORT:-55440}
INSTRUCTION_ROWS=${BENCH_INSTRUCTION_ROWS:-20000}
INSTRUCTION_STATEMENTS=${BENCH_INSTRUCTION_STATEMENTS:-1000}
SECTIONS=${BENCH_SECTIONS:-12345678}
wants() { [[ $SECTIONS == *$1* ]]; }
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
# The unit of /proc/self/stat, in which the CPU measurements are read.
TICKS=$(getconf CLK_TCK)
COLUMNS_OF_USAGE="account_id, service, quantity, occurred_at, destination"

say "Building and installing pg_rating (release)"
cargo pgrx install --release --sudo --pg-config "$PG_CONFIG" >/dev/null

CLUSTER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pg_rating_bench.XXXXXX")
stop_cluster() {
    as_postgres "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    "${SUDO[@]}" rm -rf "$CLUSTER_DIR"
    rm -f "${PROBLEMS:-}"
}
trap stop_cluster EXIT
"${SUDO[@]}" chown postgres "$CLUSTER_DIR"
as_postgres "$PG_BIN/initdb" -D "$CLUSTER_DIR/data" -U postgres -A trust --no-sync >/dev/null
SERVER_OPTIONS="-p $PORT -k $CLUSTER_DIR -c listen_addresses= -c synchronous_commit=off -c shared_buffers=1GB"
SERVER_OPTIONS+=" -c max_wal_size=8GB -c checkpoint_timeout=30min -c max_connections=50"
as_postgres "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -w -l "$CLUSTER_DIR/server.log" -o "$SERVER_OPTIONS" start >/dev/null

sql() { as_postgres "$PG_BIN/psql" -X -q -t -A -v ON_ERROR_STOP=1 -h "$CLUSTER_DIR" -p "$PORT" -d pg_rating_bench "$@"; }
as_postgres "$PG_BIN/createdb" -h "$CLUSTER_DIR" -p "$PORT" pg_rating_bench

say "Server and machine"
sql -c "SELECT version()"
sql -c "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings
         WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'max_wal_size', 'work_mem', 'wal_level', 'jit')"
echo "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB memory; pg_rating $(grep -m1 '^version' Cargo.toml | cut -d'"' -f2) (release build)"

say "Setting up: 2 tariffs (1 rate; 10,000 prefixes x 2 time bands), 200,000 accounts, plain and PL/pgSQL tables"
sql -f bench/setup.sql >/dev/null

# Median of the numbers on standard input.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# Seconds one psql command takes, after a reset and a checkpoint. A failure
# ends the subshell it runs in, and with it the benchmark.
timed() {
    sql -c "CALL bench.reset()" -c "CHECKPOINT" >/dev/null || exit 1
    local start end
    start=$(date +%s%N)
    sql "$@" >/dev/null || exit 1
    end=$(date +%s%N)
    awk -v ns=$((end - start)) 'BEGIN { printf "%.3f\n", ns / 1e9 }'
}

# What went wrong for a client (an error, a deadlock, an aborted client) or
# for the books after a run: listed at the end, and the benchmark fails.
PROBLEMS=$(mktemp)
RESULTS=()
# record WORKLOAD SYSTEM ROWS_PER_RUN SECONDS...: prints and keeps one line.
report() {
    local workload=$1 system=$2 per_second=$3
    RESULTS+=("$workload|$system|$per_second")
    printf '  %-44s %-10s %12.0f /s\n' "$workload" "$system" "$per_second"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# Every usage row has its one ledger entry, and the balances sum the ledger.
BOOKS_BALANCE="SELECT (SELECT count(*) FROM rating.usage) = (SELECT count(*) FROM rating.ledger)
                  AND (SELECT sum(balance) FROM rating.balances) = (SELECT coalesce(sum(amount), 0) FROM rating.ledger)"
declare -A TABLE=([plain]=bench.plain_usage [pg_rating]=rating.usage [plpgsql]=bench.ref_usage)
SYSTEMS=(plain pg_rating plpgsql)

# Section 1's workloads: name, first account, number of accounts.
BATCHES=(
    "INSERT..SELECT, 1 rate, 100,000 accounts|1|100000"
    "INSERT..SELECT, 1 rate, 10 hot accounts|1|10"
    "INSERT..SELECT, 10k prefixes+bands, spread|100001|100000"
    "INSERT..SELECT, 10k prefixes+bands, 10 hot|100001|10"
)
# How much faster (+) or slower (-) the first rows/s is than the second.
percent() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f %%", (a / b - 1) * 100 }'; }

if wants 1; then
say "1. $BATCH_ROWS rows by INSERT ... SELECT in one transaction (rows/s, median of $REPEAT)"
# Each round times every workload on every system once, so that the
# machine's drift over the minutes this takes falls on all of them alike.
declare -A BATCH_SECONDS=() BATCH_RATE=()
for _ in $(seq "$REPEAT"); do
    for batch in "${BATCHES[@]}"; do
        IFS='|' read -r workload first accounts <<<"$batch"
        for system in "${SYSTEMS[@]}"; do
            took=$(timed -c "INSERT INTO ${TABLE[$system]} ($COLUMNS_OF_USAGE) SELECT * FROM bench.calls($BATCH_ROWS, $first, $accounts)") || exit 1
            BATCH_SECONDS["$workload|$system"]+="$took "
        done
    done
done
for batch in "${BATCHES[@]}"; do
    IFS='|' read -r workload _ _ <<<"$batch"
    for system in "${SYSTEMS[@]}"; do
        runs=$(tr ' ' '\n' <<<"${BATCH_SECONDS[$workload|$system]}" | grep . | median)
        BATCH_RATE["$workload|$system"]=$(awk -v n="$BATCH_ROWS" -v s="$runs" 'BEGIN { print n / s }')
        report "$workload" "$system" "${BATCH_RATE[$workload|$system]}"
    done
done
for system in pg_rating plain; do
    printf '  10k prefixes+bands against 1 rate, %-10s spread %8s, 10 hot %8s\n' "$system:" \
        "$(percent "${BATCH_RATE[${BATCHES[2]%%|*}|$system]}" "${BATCH_RATE[${BATCHES[0]%%|*}|$system]}")" \
        "$(percent "${BATCH_RATE[${BATCHES[3]%%|*}|$system]}" "${BATCH_RATE[${BATCHES[1]%%|*}|$system]}")"
done
# The reference prices exactly as pg_rating does: same rows, same charges.
sql -c "CALL bench.reset()" \
    -c "INSERT INTO rating.usage ($COLUMNS_OF_USAGE) SELECT * FROM bench.calls(20000, 100001, 100000)" \
    -c "INSERT INTO bench.ref_usage ($COLUMNS_OF_USAGE) SELECT * FROM bench.calls(20000, 100001, 100000)" >/dev/null
same=$(sql -c "SELECT (SELECT sum(charge) FROM rating.usage) = (SELECT sum(charge) FROM bench.ref_usage)
                  AND (SELECT sum(balance) FROM rating.balances) = (SELECT sum(balance) FROM bench.ref_accounts)")
echo "  the PL/pgSQL reference charges the same rows the same amounts: $same"
[ "$same" = t ] || echo "the PL/pgSQL reference charges differently" >>"$PROBLEMS"
fi

if wants 2; then
say "2. $COPY_ROWS rows by COPY (rows/s, median of $REPEAT)"
sql -c "COPY (SELECT * FROM bench.calls($COPY_ROWS, 1, 100000)) TO '$CLUSTER_DIR/calls.csv' (FORMAT csv)"
for system in "${SYSTEMS[@]}"; do
    runs=$(for _ in $(seq "$REPEAT"); do
        timed -c "COPY ${TABLE[$system]} ($COLUMNS_OF_USAGE) FROM '$CLUSTER_DIR/calls.csv' (FORMAT csv)"
    done | median)
    report "COPY, 1 rate, 100,000 accounts" "$system" "$(awk -v n="$COPY_ROWS" -v s="$runs" 'BEGIN { print n / s }')"
done
fi

if wants 3; then
say "3. Single-row autocommit INSERTs with pgbench, ${PGBENCH_SECONDS}s each (transactions/s, median of $REPEAT)"
tps() { # TABLE CLIENTS ACCOUNTS
    sql -c "CALL bench.reset()" -c "CHECKPOINT" >/dev/null || exit 1
    local output
    output=$(as_postgres "$PG_BIN/pgbench" -n -h "$CLUSTER_DIR" -p "$PORT" -c "$2" -j "$(( $2 < 2 ? $2 : 2 ))" \
        -T "$PGBENCH_SECONDS" -D table="$1" -D accounts="$3" -f bench/single_row.sql pg_rating_bench 2>&1) || true
    grep -E 'ERROR|aborted|failed transactions: [1-9]' <<<"$output" | sed "s/^/$1, $2 clients: /" >>"$PROBLEMS" || true
    if [ "$1" = rating.usage ] && [ "$(sql -c "$BOOKS_BALANCE")" != t ]; then
        echo "$1, $2 clients: the books do not balance" >>"$PROBLEMS"
    fi
    sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' <<<"$output"
}
for accounts in 100000 10; do
    for clients in 1 2 8; do
        for system in "${SYSTEMS[@]}"; do
            runs=$(for _ in $(seq "$REPEAT"); do tps "${TABLE[$system]}" "$clients" "$accounts"; done | median)
            report "pgbench, $clients clients, $accounts accounts" "$system" "$runs"
        done
    done
done
fi

if wants 4; then
say "4. Backend CPU per single-row autocommit INSERT in one session, $CPU_STATEMENTS statements (statements per CPU-second, median of $REPEAT)"
echo "  (inside the server, so neither client, network nor the machine's other load counts: bench/cpu_per_statement.sql)"
for accounts in 100000 10; do
    for system in "${SYSTEMS[@]}"; do
        runs=$(for _ in $(seq "$REPEAT"); do
            sql -c "CALL bench.reset()" -c "CHECKPOINT" >/dev/null || exit 1
            sql -v table="${TABLE[$system]}" -v statements="$CPU_STATEMENTS" -v accounts="$accounts" \
                -v ticks="$TICKS" -f bench/cpu_per_statement.sql | tail -n 1
            if [ "$system" = pg_rating ] && [ "$(sql -c "$BOOKS_BALANCE")" != t ]; then
                echo "CPU per INSERT, $accounts accounts: the books do not balance" >>"$PROBLEMS"
            fi
        done | median)
        report "CPU per INSERT, $accounts accounts" "$system" "$runs"
    done
done
fi

if ((${#RESULTS[@]})); then
say "Summary: ratios of the medians above"
printf '  %-44s %12s %12s %12s %10s %10s\n' workload plain pg_rating plpgsql "vs plain" "vs plpgsql"
fi
for line in "${RESULTS[@]}"; do
    IFS='|' read -r workload system value <<<"$line"
    case $system in
        plain) plain=$value ;;
        pg_rating) rated=$value ;;
        plpgsql)
            printf '  %-44s %12.0f %12.0f %12.0f %10s %10s\n' "$workload" "$plain" "$rated" "$value" \
                "$(ratio "$rated" "$plain")" "$(ratio "$rated" "$value")" ;;
    esac
done

if [ -s "$PROBLEMS" ]; then
    echo "  errors surfaced to clients, or books out of balance:"; cat "$PROBLEMS"; exit 1
fi
if wants 3; then
    echo "  no error, deadlock or serialization failure reached a pgbench client; after every pg_rating run"
    echo "  each usage row had its ledger entry and the balances summed the ledger"
fi

if wants 5; then
say "5. Backend memory over $MEMORY_ROWS rated rows in one session (batches of 100,000, autocommit)"
echo "  (private memory of the backend, RssAnon, and what its memory contexts hold; shared buffers"
echo "  are not the backend's own and are left out)"
sql -c "CALL bench.reset()" >/dev/null
# One line of the backend's own memory, after ROWS rows.
memory() {
    echo "SELECT format('  rows %10s: RssAnon %s, memory contexts %s', '$1',
                  (regexp_match(pg_read_file('/proc/self/status'), 'RssAnon:\s+(\d+ kB)'))[1],
                  pg_size_pretty(sum(total_bytes))) FROM pg_backend_memory_contexts;"
}
{
    memory 0
    for ((done_rows = 100000; done_rows <= MEMORY_ROWS; done_rows += 100000)); do
        echo "INSERT INTO rating.usage ($COLUMNS_OF_USAGE) SELECT * FROM bench.calls(100000, 1, 100000);"
        if ((done_rows % (MEMORY_ROWS / 10) == 0)); then memory "$done_rows"; fi
    done
} | sql
sql -c "SELECT '  rated rows: ' || count(*) || ', ledger entries: ' || (SELECT count(*) FROM rating.ledger) FROM rating.usage"
fi

if wants 6; then
say "6. What a session pays once, and what it keeps (pg_rating only, median of $REPEAT)"
# A new session compiles a tariff on its first row that needs it.
runs=$(for _ in $(seq "$REPEAT"); do
    sql -c "CALL bench.reset()" >/dev/null || exit 1
    sql -f bench/first_row_of_session.sql | tail -n 1
done)
printf '  first single-row INSERT of a new session, 10k-prefix tariff: %8s ms (the next: %s ms)\n' \
    "$(cut -d' ' -f1 <<<"$runs" | median)" "$(cut -d' ' -f2 <<<"$runs" | median)"
# Opening an account drops the sessions' cached accounts, not their tariffs.
runs=$(for _ in $(seq "$REPEAT"); do
    sql -c "CALL bench.reset()" >/dev/null || exit 1
    sql -f bench/row_after_an_account_opens.sql | grep -E '^[0-9.]+ [0-9.]+$'
done)
printf '  single-row INSERT, 10k-prefix tariff compiled: %8s ms; after an account opens: %s ms\n' \
    "$(cut -d' ' -f1 <<<"$runs" | median)" "$(cut -d' ' -f2 <<<"$runs" | median)"
# Plans kept from a session's first large statement serve its small ones.
for large in 0 200000; do
    runs=$(for _ in $(seq "$REPEAT"); do
        sql -c "CALL bench.reset()" -c "CHECKPOINT" >/dev/null || exit 1
        sql -v large="$large" -v statements=1000 -v ticks="$TICKS" -f bench/small_after_large.sql | tail -n 1
    done | median)
    printf '  CPU per 3-row INSERT, after a first statement of %6s rows: %8s µs\n' "$large" "$runs"
done
[ "$(sql -c "$BOOKS_BALANCE")" = t ] || { echo "section 6: the books do not balance"; exit 1; }
fi

if wants 7; then
say "7. What a foreign key costs rows whose key is NULL (plain table, backend CPU, median of $REPEAT)"
echo "  (why rating.usage and rating.ledger check their optional keys with triggers that run only WHEN a key is set)"
# Alternating, so that both see the same machine.
runs=$(for _ in $(seq "$REPEAT"); do
    for with_key in false true; do
        echo "$with_key $(sql -v rows="$BATCH_ROWS" -v with_key=$with_key -v ticks="$TICKS" -f bench/null_key_cost.sql | tail -n 1)"
    done
done)
without=$(awk '$1 == "false" { print $2 }' <<<"$runs" | median)
with=$(awk '$1 == "true" { print $2 }' <<<"$runs" | median)
printf '  %s rows into the plain table: %6s ms without a key, %6s ms with one: %s µs a row\n' \
    "$BATCH_ROWS" "$without" "$with" "$(awk -v a="$with" -v b="$without" -v n="$BATCH_ROWS" 'BEGIN { printf "%.2f", (a - b) * 1000 / n }')"
fi

if wants 8; then
install_packages valgrind
say "8. Instructions per row and per statement, counted by callgrind (one count each: no machine noise)"
echo "  (a single-user backend under valgrind per figure: the instructions of a session that runs the"
echo "  workload after a 10-row warm-up, minus those of one that runs only the warm-up, divided by the"
echo "  rows or statements; the ratios are the other system's instructions over pg_rating's, so that"
echo "  they read like the rows/s ratios above; a count repeats exactly on the same database, and moves"
echo "  by up to 5 % with what earlier sections left in the tables)"
# Single-user mode needs the data directory to itself.
as_postgres "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -w stop >/dev/null
SINGLE_USER=("$PG_BIN/postgres" --single -D "$CLUSTER_DIR/data" -c synchronous_commit=off
             -c shared_buffers=1GB -c max_wal_size=8GB pg_rating_bench)
COUNT_DIR=$CLUSTER_DIR
source bench/instructions.sh
printf '  %-52s %10s %10s %10s %9s %10s\n' workload plain pg_rating plpgsql "vs plain" "vs plpgsql"
# The reference updates a hot balance once per row, each update following
# the row's earlier versions: its cost per row grows with the statement,
# so it is counted on spread accounts only.
INSTRUCTION_WORKLOADS=(
    "INSERT..SELECT, 10k prefixes+bands, spread|100001|$((INSTRUCTION_ROWS / 2))|plain pg_rating plpgsql"
    "INSERT..SELECT, 10k prefixes+bands, 10 hot|100001|10|plain pg_rating"
    "INSERT..SELECT, 1 rate, spread|1|$((INSTRUCTION_ROWS / 2))|plain pg_rating plpgsql"
)
for workload in "${INSTRUCTION_WORKLOADS[@]}"; do
    IFS='|' read -r name first accounts systems <<<"$workload"
    declare -A PER_ROW=([plain]=- [pg_rating]=- [plpgsql]=-)
    for system in $systems; do
        none=$(batch "${TABLE[$system]}" 0 "$first" "$accounts" | instructions)
        rows=$(batch "${TABLE[$system]}" "$INSTRUCTION_ROWS" "$first" "$accounts" | instructions)
        PER_ROW[$system]=$(per "$rows" "$none" "$INSTRUCTION_ROWS")
    done
    vs_reference=-
    [ "${PER_ROW[plpgsql]}" = - ] || vs_reference=$(ratio "${PER_ROW[plpgsql]}" "${PER_ROW[pg_rating]}")
    printf '  %-52s %10s %10s %10s %9s %10s\n' "$name, per row" "${PER_ROW[plain]}" "${PER_ROW[pg_rating]}" \
        "${PER_ROW[plpgsql]}" "$(ratio "${PER_ROW[plain]}" "${PER_ROW[pg_rating]}")" "$vs_reference"
done
# Single rows are what mediation sends. pg_rating posts a statement whose
# rows are all for one account with one kept statement, and one of two
# accounts, the smallest of the others, set-based.
SMALL_STATEMENTS=(
    "single-row INSERT, 100000 accounts|1|1"
    "two-row INSERT, one account each|2|1"
    "two-row INSERT, two accounts each|2|2"
)
for workload in "${SMALL_STATEMENTS[@]}"; do
    IFS='|' read -r name rows_each accounts_each <<<"$workload"
    declare -A PER_STATEMENT=()
    for system in "${SYSTEMS[@]}"; do
        none=$(small_statements "${TABLE[$system]}" 0 "$rows_each" "$accounts_each" | instructions)
        statements=$(small_statements "${TABLE[$system]}" "$INSTRUCTION_STATEMENTS" "$rows_each" "$accounts_each" \
            | instructions)
        PER_STATEMENT[$system]=$(per "$statements" "$none" "$INSTRUCTION_STATEMENTS")
    done
    printf '  %-52s %10s %10s %10s %9s %10s\n' "$name, per statement" \
        "${PER_STATEMENT[plain]}" "${PER_STATEMENT[pg_rating]}" "${PER_STATEMENT[plpgsql]}" \
        "$(ratio "${PER_STATEMENT[plain]}" "${PER_STATEMENT[pg_rating]}")" \
        "$(ratio "${PER_STATEMENT[plpgsql]}" "${PER_STATEMENT[pg_rating]}")"
done
# A new session compiles the 10k-prefix tariff on its first row.
empty=$(echo "SELECT 1;" | instructions)
first=$(echo "INSERT INTO rating.usage ($COLUMNS_OF_USAGE) VALUES (100001, 'voice', 61, now(), '+4930100001');" \
    | instructions)
printf '  first single-row INSERT of a new session, 10k-prefix tariff (pg_rating): %s M instructions\n' \
    "$(awk -v a="$first" -v b="$empty" 'BEGIN { printf "%.1f", (a - b) / 1e6 }')"
as_postgres "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -w -l "$CLUSTER_DIR/server.log" -o "$SERVER_OPTIONS" start >/dev/null
[ "$(sql -c "$BOOKS_BALANCE")" = t ] || { echo "section 8: the books do not balance"; exit 1; }
fi

say "Done"
