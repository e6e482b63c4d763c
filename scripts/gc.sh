#!/usr/bin/env bash
# Manual garbage collection: shows the plan (dry run) first, then applies it after a
# confirmation, or straight away with --yes. Other flags go to `previewd gc`
# (--repo R, --pr N, --older-than 3d).
#   scripts/gc.sh                 # plan, then ask
#   scripts/gc.sh --repo acme/shop --older-than 3d --yes
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
previewd() { node "$here/../bin/previewd.js" "$@"; }

yes=0
args=()
for arg in "$@"; do
  if [[ "$arg" == "--yes" ]]; then yes=1; else args+=("$arg"); fi
done

set +e
previewd gc --dry-run --exit-code "${args[@]}"
rc=$?
set -e
case "$rc" in
  0) echo "nothing to remove"; exit 0 ;;
  3) ;;                       # the plan has changes
  *) exit "$rc" ;;
esac

if [[ "$yes" -ne 1 ]]; then
  read -r -p "Apply this plan? [y/N] " answer
  [[ "$answer" =~ ^[Yy]([Ee][Ss])?$ ]] || { echo "nothing removed"; exit 0; }
fi
# gc plans again before applying: what changed since the dry run is taken into account.
previewd gc --yes "${args[@]}"
