#!/usr/bin/env bash
# Development and CI: makes sure the local Postgres and Redis the tests and the
# sandbox use are running, and that PR logins must prove their password
# (scripts/dev-pg-hba.sh). Idempotent and quick when everything is up already.
set -euo pipefail
cd "$(dirname "$0")/.."

# A machine without a Postgres or Redis installed is told so; the tests then fail with
# the same instruction, and `npm run sandbox` starts an embedded Postgres of its own.
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "starting Postgres"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  else
    echo "no local Postgres installed (Debian: apt-get install postgresql)"
  fi
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  if command -v redis-server >/dev/null; then
    echo "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no
    for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
  else
    echo "no local Redis installed (Debian: apt-get install redis-server)"
  fi
fi
if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then bash scripts/dev-pg-hba.sh; fi
