#!/usr/bin/env bash
# demo_gallery.sh — index the demo gallery into a running `kite serve` and print the
# URL of the search page.
#
# usage: scripts/demo_gallery.sh [URL] [DIR]
#   URL  the server (default http://127.0.0.1:19530); waited for up to 60 s
#   DIR  pictures to index (default /usr/share/tuxpaint/stamps, from the Debian
#        package tuxpaint-stamps-default: ~800 PNG stamps in ~70 categories)
# Environment: KITE_BIN (default build/kite), KITE_MODEL (default
# models/kite-mobilenetv2.onnx), KITE_COLLECTION (default images).
# Incremental: a second run only embeds what changed, so it is quick.
set -euo pipefail
cd "$(dirname "$0")/.."
URL="${1:-http://127.0.0.1:19530}"
DIR="${2:-/usr/share/tuxpaint/stamps}"
KITE_BIN="${KITE_BIN:-build/kite}"
export KITE_MODEL="${KITE_MODEL:-models/kite-mobilenetv2.onnx}"
COLLECTION="${KITE_COLLECTION:-images}"

if [ ! -d "$DIR" ]; then
  echo "demo_gallery: $DIR not found (apt-get install tuxpaint-stamps-default)" >&2
  exit 1
fi
if [ ! -f "$KITE_MODEL" ]; then
  echo "demo_gallery: model $KITE_MODEL not found (scripts/setup.sh makes it)" >&2
  exit 1
fi
for _ in $(seq 1 120); do
  if curl -fsS -o /dev/null "$URL/api/status" 2>/dev/null; then
    break
  fi
  sleep 0.5
done
curl -fsS -o /dev/null "$URL/api/status" || {
  echo "demo_gallery: no kite server answering at $URL" >&2
  exit 1
}
"$KITE_BIN" images index "$DIR" --server "$URL" --collection "$COLLECTION"
echo
echo "Search by image: open $URL/"
