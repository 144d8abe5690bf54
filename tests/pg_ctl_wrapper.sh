#!/bin/sh
# Run the real pg_ctl as the unprivileged `postgres` system user.
#
# PostgreSQL refuses to run as root, but the test suite runs as root locally and in CI.
# tests/pg_server.py passes this script to pytest-postgresql's PostgreSQLExecutor as its
# `executable` whenever euid == 0; the real pg_ctl path arrives via MODELREG_REAL_PG_CTL.
set -eu

: "${MODELREG_REAL_PG_CTL:?MODELREG_REAL_PG_CTL must be the absolute path of the real pg_ctl}"

# The caller's working directory (e.g. /root) may not be accessible to the postgres user;
# all paths the executor passes are absolute, so run from a neutral directory.
cd /

exec runuser -u "${MODELREG_PG_OS_USER:-postgres}" -- "$MODELREG_REAL_PG_CTL" "$@"
