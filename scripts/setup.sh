#!/usr/bin/env bash
# Installs what building and running pg_rating needs, and nothing twice:
# PostgreSQL 15 server and headers, clang (for bindgen), sudo, cargo-pgrx
# 0.18.0, and pgrx's configuration pointing at Debian's PostgreSQL 15.
# Sourced by demo.sh and test.sh; works as root and as a user with sudo.
set -euo pipefail

PG_MAJOR=15
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
PGRX_VERSION=0.18.0

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi

# Runs a command as the postgres OS user (PostgreSQL refuses to run as root).
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

say() { printf '\n==> %s\n' "$*"; }

# Installs what the build and tests need, and any package named as an argument.
install_packages() {
    local wanted=(postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR libclang-dev clang pkg-config sudo "$@")
    local missing=()
    for package in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "Installing ${missing[*]}"
        "${SUDO[@]}" apt-get update -qq
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

install_cargo_pgrx() {
    if ! command -v cargo >/dev/null; then
        echo "cargo was not found: install Rust (rustup, 1.88 or newer) and re-run." >&2
        exit 1
    fi
    if [ "$(cargo pgrx --version 2>/dev/null)" != "cargo-pgrx $PGRX_VERSION" ]; then
        say "Installing cargo-pgrx $PGRX_VERSION (several minutes, once)"
        cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
    fi
    if ! grep -qs "pg$PG_MAJOR = \"$PG_CONFIG\"" "${PGRX_HOME:-$HOME/.pgrx}/config.toml"; then
        cargo pgrx init --pg$PG_MAJOR "$PG_CONFIG"
    fi
}

install_packages
install_cargo_pgrx
