#!/usr/bin/env bash
# Development and CI only: makes the local Postgres ask PR login roles (members of
# the group previewd_pr_login) for their password over TCP, ahead of the trust rules,
# so a test that a PR's credential works or fails really proves something. Idempotent.
set -euo pipefail
group="${PREVIEWD_LOGIN_GROUP:-previewd_pr_login}"
hba=$(psql -h 127.0.0.1 -U postgres -Atc 'SHOW hba_file')
rule="host all +${group} 127.0.0.1/32 scram-sha-256"
if ! grep -qxF "$rule" "$hba"; then
  tmp=$(mktemp)
  { echo "# previewd: PR logins prove their password (scripts/dev-pg-hba.sh)"; echo "$rule"; cat "$hba"; } >"$tmp"
  cat "$tmp" >"$hba" && rm -f "$tmp"
  psql -h 127.0.0.1 -U postgres -Atc 'SELECT pg_reload_conf()' >/dev/null
  echo "pg_hba: added '$rule'"
fi
