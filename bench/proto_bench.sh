#!/bin/sh
# proto_bench.sh — protocol overhead: the same insert + search workload in-process
# (bench/proto_bench, libkite), over REST v2 and over gRPC (bench/proto_bench.mjs,
# Node + the Milvus Node SDK) against one `kite serve` (fresh data dir, --port 0),
# printed as one table with the REST/in-process and gRPC/in-process ratios.
#
#   bench/proto_bench.sh [BUILD_DIR] [-- extra options for both programs]
#
# BUILD_DIR (default build-bench) must hold kite and bench/proto_bench
# (configure with -DKITE_BUILD_BENCH=ON, preferably Release).  Options after "--"
# (--rows N --dim D --batch B --queries Q --topk K) go to both programs; the
# default workload is 20000 rows × 128 dims in batches of 500, 800 top-10 searches,
# at concurrency 1 and 4.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build-bench}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
for f in "$BUILD/kite" "$BUILD/bench/proto_bench"; do
    [ -x "$f" ] || { echo "proto_bench.sh: $f not built (configure with -DKITE_BUILD_BENCH=ON)" >&2; exit 2; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/kite-proto-XXXXXX")
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# 1. in-process
mkdir "$TMP/inproc"
"$BUILD/bench/proto_bench" "$TMP/inproc" "$@" > "$TMP/results"

# 2. one server for REST and gRPC
mkdir "$TMP/serve"
"$BUILD/kite" serve --port 0 --data-dir "$TMP/serve" --log-level warn > "$TMP/serve.out" 2> "$TMP/serve.err" &
SERVER_PID=$!
i=0
while ! grep -q 'listening on http://' "$TMP/serve.out" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 200 ] || ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "proto_bench.sh: kite serve did not start:" >&2; cat "$TMP/serve.err" >&2; exit 1
    fi
    sleep 0.1
done
ADDR=$(sed -n 's|.*listening on http://\([^ ]*\).*|\1|p' "$TMP/serve.out" | head -1)
node "$ROOT/bench/proto_bench.mjs" --addr "$ADDR" "$@" >> "$TMP/results"
kill -TERM "$SERVER_PID"
rc=0; wait "$SERVER_PID" || rc=$?
SERVER_PID=
[ "$rc" -eq 0 ] || { echo "proto_bench.sh: kite serve exited $rc on SIGTERM" >&2; exit 1; }

# 3. the table
awk '
function v(k,   i, kv) { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] } return "" }
/^RESULT / {
    key = v("path") SUBSEP v("conc")
    ins[key] = v("insert_rows_per_s"); qps[key] = v("search_qps"); p50[key] = v("p50_ms"); p99[key] = v("p99_ms")
    if (!(v("conc") in seenc)) { seenc[v("conc")] = 1; concs[++nc] = v("conc") }
    rows = v("rows"); nq = v("queries")
}
END {
    printf "| path | conc | insert rows/s | search QPS | search p50 ms | search p99 ms | insert ×in-proc | QPS ×in-proc | p50 ×in-proc |\n"
    printf "|---|---|---|---|---|---|---|---|---|\n"
    np = split("inproc rest grpc", paths, " ")
    names["inproc"] = "in-process"; names["rest"] = "REST"; names["grpc"] = "gRPC"
    for (c = 1; c <= nc; c++) for (p = 1; p <= np; p++) {
        k = paths[p] SUBSEP concs[c]; b = "inproc" SUBSEP concs[c]
        if (!(k in ins)) continue
        printf "| %s | %s | %d | %d | %.3f | %.3f | %.3f | %.3f | %.1f |\n", names[paths[p]], concs[c],
            ins[k], qps[k], p50[k], p99[k], ins[k] / ins[b], qps[k] / qps[b], p50[k] / p50[b]
    }
    printf "\n%s rows, %s single-vector top-10 searches per row of the table.\n", rows, nq
}' "$TMP/results"
