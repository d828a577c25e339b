# Counting instructions with callgrind in a single-user backend, as section 8
# of scripts/bench.sh and bench/count_instructions.sh do. Sourced; expects
# as_postgres (scripts/setup.sh), SINGLE_USER (the backend's command line,
# ending with the database), COUNT_DIR (where postgres may write the
# profile) and COLUMNS_OF_USAGE.

# Instructions of a fresh single-user session running standard input, after
# $COUNT_SETUP (by default a reset of the benchmark's tables) and a
# checkpoint in a session of its own. With COUNT_PROFILE set, the profile is
# copied there (the last count's, when there are several).
instructions() {
    local input out
    input=$(cat)
    printf '%s\nCHECKPOINT;\n' "${COUNT_SETUP:-CALL bench.reset();}" | as_postgres "${SINGLE_USER[@]}" >/dev/null 2>&1
    out="$COUNT_DIR/callgrind.out"
    as_postgres valgrind --tool=callgrind --callgrind-out-file="$out" "${SINGLE_USER[@]}" <<<"$input" \
        >/dev/null 2>&1
    as_postgres sed -n 's/^summary: //p' "$out"
    [ -z "${COUNT_PROFILE:-}" ] || as_postgres cat "$out" >"$COUNT_PROFILE"
    as_postgres rm -f "$out"
}
batch() { # TABLE ROWS FIRST ACCOUNTS: a warm-up statement, then one of ROWS rows
    echo "INSERT INTO $1 ($COLUMNS_OF_USAGE) SELECT * FROM bench.calls(10, $3, 10);"
    echo "INSERT INTO $1 ($COLUMNS_OF_USAGE) SELECT * FROM bench.calls($2, $3, $4);"
}
small_statements() { # TABLE STATEMENTS ROWS ACCOUNTS: ten warm-up statements, then STATEMENTS
                      # more, each of ROWS rows for ACCOUNTS of 100,000 accounts, spread evenly
    local i j account values
    for ((i = 1; i <= 10 + $2; i++)); do
        values=
        for ((j = 1; j <= $3; j++)); do
            account=$(( (i * 7919 + (j - 1) % $4 * (100000 / $4)) % 100000 + 1 ))
            values+="${values:+, }($account, 'voice', $((60 + j)), now(), '+4930' || $account)"
        done
        echo "INSERT INTO $1 ($COLUMNS_OF_USAGE) VALUES $values;"
    done
}
# (instructions of the workload - instructions of its warm-up alone) / units
per() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.0f", (a - b) / n }'; }
