#!/usr/bin/env bash
# Make sure PostgreSQL server binaries exist for the case store's PostgreSQL tests, which
# start a throwaway server of their own (initdb + pg_ctl in a temporary folder).
# Idempotent: does nothing when initdb and pg_ctl are found in PATH or /usr/lib/postgresql/*/bin.
# Installs Debian's postgresql package with apt-get only when running as root (without
# creating or starting a cluster); otherwise says what to run and exits 0, and the
# PostgreSQL tests then fail saying the same.
set -euo pipefail

find_bin_dir() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return 0
  fi
  local dir
  for dir in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
    if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

if dir="$(find_bin_dir)"; then
  echo "ensure-postgres: initdb and pg_ctl in $dir ($("$dir/pg_ctl" --version 2>/dev/null || echo 'version unknown'))"
  if [[ "$(id -u)" -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
    echo "ensure-postgres: running as root but there is no 'postgres' user to run the test server as;" >&2
    echo "  create one: useradd --system --home-dir /var/lib/postgresql postgres" >&2
  fi
  exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
  echo "ensure-postgres: PostgreSQL server binaries missing and not root; install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y postgresql" >&2
  echo "ensure-postgres: until then the PostgreSQL tests fail" >&2
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-postgres: PostgreSQL server binaries missing and apt-get not available;" >&2
  echo "  install PostgreSQL (initdb, pg_ctl) some other way: until then the PostgreSQL tests fail" >&2
  exit 0
fi

echo "ensure-postgres: installing postgresql with apt-get..."
export DEBIAN_FRONTEND=noninteractive
apt-get update
# The tests make their own throwaway server: no default cluster to create and start.
apt-get install -y --no-install-recommends postgresql-common
sed -ri 's/^#?\s*(create_main_cluster)\s*=.*$/\1 = false/' /etc/postgresql-common/createcluster.conf
apt-get install -y --no-install-recommends postgresql
dir="$(find_bin_dir)"
"$dir/pg_ctl" --version
