#!/usr/bin/env bash
# run.sh — the browser end-to-end test (CTest entry).  Installs playwright-core from
# package-lock.json if node_modules is missing; exit 77 (skipped) without node or
# chromium.  Environment: KITE_BIN, KITE_MODEL, CHROMIUM, KITE_E2E_ARTIFACTS.
set -euo pipefail
cd "$(dirname "$0")"
command -v node >/dev/null || { echo "SKIP: node not installed"; exit 77; }
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "SKIP: chromium not installed"; exit 77; }
[ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund
exec node --test search_page.test.mjs
