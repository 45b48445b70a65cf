#!/usr/bin/env bash
# run.sh — install dependencies, build Kite and start the server on 127.0.0.1:19530
# with its data in ./kite-data.  Extra arguments go to `kite serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build
mkdir -p kite-data
echo "run.sh: starting kite serve (Ctrl-C to stop)"
exec build/kite serve --data-dir ./kite-data --host 127.0.0.1 --port 19530 "$@"
