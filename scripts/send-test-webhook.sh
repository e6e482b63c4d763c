#!/usr/bin/env bash
# Sends a signed test webhook to a running previewd (default: a ping).
#   scripts/send-test-webhook.sh                                     # ping
#   scripts/send-test-webhook.sh --event pull_request --repo acme/shop --pr 42 --sha <40 hex> [--action synchronize]
#   PREVIEWD_URL=https://previewd.example.com scripts/send-test-webhook.sh ...
# Needs GITHUB_WEBHOOK_SECRET in the environment; the secret is never printed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${GITHUB_WEBHOOK_SECRET:?set GITHUB_WEBHOOK_SECRET (the webhook secret previewd verifies with)}"
url="${PREVIEWD_URL:-http://127.0.0.1:${PORT:-8080}}/webhooks/github"
exec node "$here/send-test-webhook.mjs" --url "$url" "$@"
