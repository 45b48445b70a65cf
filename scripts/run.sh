#!/usr/bin/env bash
# run.sh — the main job: install dependencies, build Kite, build the default image
# model, start `kite serve` on 127.0.0.1:19530 (data in ./kite-data), index the demo
# gallery (Debian's tuxpaint-stamps-default) and print the URL of the search page.
# The server keeps running in the foreground; Ctrl-C stops it.
# Extra arguments go to `kite serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build
scripts/make_model.sh build/kite
mkdir -p kite-data
build/kite serve --data-dir ./kite-data --host 127.0.0.1 --port 19530 "$@" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server' INT TERM
KITE_BIN=build/kite scripts/demo_gallery.sh http://127.0.0.1:19530 || \
  echo "run.sh: demo gallery not indexed (see above); the server is still running"
echo "run.sh: Kite is serving Milvus REST v2 + gRPC on 127.0.0.1:19530; Ctrl-C stops it"
wait $server
