#!/usr/bin/env bash
# What on-call looks at first: every environment with its state, then (when a
# previewd daemon is reachable) the queue's counts and parked work with their errors.
#   scripts/status.sh [--repo acme/shop]
#   PREVIEWD_URL=https://previewd.example.com PREVIEWD_ADMIN_TOKEN=... scripts/status.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
node "$here/../bin/previewd.js" status "$@"
if [[ -n "${PREVIEWD_ADMIN_TOKEN:-}" ]]; then
  echo
  echo "queue (counts and parked work):"
  # The token goes in a header read from stdin, so it never shows in the process list.
  curl -fsS --max-time 10 -H @- "${PREVIEWD_URL:-http://127.0.0.1:${PORT:-8080}}/admin/queue" <<<"Authorization: Bearer ${PREVIEWD_ADMIN_TOKEN}"
  echo
fi
