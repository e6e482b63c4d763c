#!/usr/bin/env bash
# One environment in detail: status, components, last error and its event history.
#   scripts/env-detail.sh acme/shop 42 [--events 100] [--json]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ $# -lt 2 ]]; then
  echo "usage: $0 OWNER/REPO PR [--events N] [--json]" >&2
  exit 2
fi
repo="$1"; pr="$2"; shift 2
exec node "$here/../bin/previewd.js" status --repo "$repo" --pr "$pr" "$@"
