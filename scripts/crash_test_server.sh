#!/usr/bin/env bash
# For the crash test (tests/reliability.rs): kills every process of the
# throwaway test server with SIGKILL, as a power cut would, then starts it
# again so that it recovers from its write-ahead log.
# Arguments: the data directory, the server log, the server's options.
set -euo pipefail
data=$1 log=$2 options=$3
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -n -u postgres "$@"; fi
}
postmaster=$(as_postgres head -n 1 "$data/postmaster.pid")
# Stopped, the postmaster forks no child after the list is taken.
as_postgres kill -STOP "$postmaster"
children=$(pgrep -P "$postmaster" || true)
as_postgres kill -KILL "$postmaster"
# A backend whose session just ended may be gone before its SIGKILL.
for pid in $children; do
    as_postgres kill -KILL "$pid" 2>/dev/null || [ ! -e "/proc/$pid" ]
done
# Wait until they are gone: /proc, since kill -0 on another user's process
# fails at once (EPERM) when this runs as a user with sudo.
for pid in $postmaster $children; do
    while [ -e "/proc/$pid" ]; do sleep 0.1; done
done
as_postgres /usr/lib/postgresql/15/bin/pg_ctl -D "$data" -w -l "$log" -o "$options" start >/dev/null
