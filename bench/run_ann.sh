#!/bin/sh
# run_ann.sh — Kite's ANN indexes side by side with hnswlib (-march=native and Debian) and
# Debian FAISS, through the team's harness (/work/shared/bench, README "Command-line program").
#
#   bench/run_ann.sh [-k KITE] [-w WORKDIR] [-o OUTDIR] [-t 1,2] [-s kite|peers|all] DATASET...
#
# DATASET is a harness data set directory (gen_data.py output, e.g. WORKDIR/data/fmnist-784-l2)
# or a name under WORKDIR/data.  The harness is copied to WORKDIR (default /tmp/kite-annbench)
# so nothing is written into the shared tree; hnswlib_cli is compiled there with -march=native.
# KITE defaults to build-rel/kite (configure with -DCMAKE_BUILD_TYPE=Release).  Results are
# appended to OUTDIR/results.csv (default WORKDIR/results); tables with
#   /usr/bin/python3 WORKDIR/bench.py report OUTDIR/results.csv --md tables.md
# Needs: python3-faiss python3-hnswlib libhnswlib-dev libopenblas0-openmp (Debian).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${HARNESS:-/work/shared/bench}
KITE=$ROOT/build-rel/kite
WORK=/tmp/kite-annbench
OUT=
THREADS=1,2
SUITES=all
while getopts k:w:o:t:s: opt; do
    case $opt in
    k) KITE=$(cd "$(dirname "$OPTARG")" && pwd)/$(basename "$OPTARG") ;;
    w) WORK=$OPTARG ;;
    o) OUT=$OPTARG ;;
    t) THREADS=$OPTARG ;;
    s) SUITES=$OPTARG ;;
    *) sed -n 2,13p "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { sed -n 2,13p "$0"; exit 2; }
OUT=${OUT:-$WORK/results}
[ -x "$KITE" ] || { echo "run_ann.sh: $KITE not found (build the kite target, Release)" >&2; exit 1; }

mkdir -p "$WORK"
[ -f "$WORK/bench.py" ] || cp -r "$HARNESS"/. "$WORK"/
mkdir -p "$WORK/bin" "$WORK/tmp" "$WORK/data"
if [ ! -x "$WORK/bin/hnswlib_cli" ]; then
    g++ -O3 -march=native -fopenmp -std=c++17 -I"$WORK/adapters" \
        "$WORK/adapters/hnswlib_cli.cpp" -o "$WORK/bin/hnswlib_cli"
fi
sed "s#cli:KITE#cli:$KITE#" "$ROOT/bench/suites/ann_kite.json" > "$WORK/tmp/ann_kite.json"
cp "$ROOT/bench/suites/ann_peers.json" "$WORK/tmp/ann_peers.json"

cd "$WORK"
for ds in "$@"; do
    case $ds in /*) ;; *) [ -d "$ds" ] || ds=data/$ds ;; esac
    echo "== $ds  $(date -u +%H:%M:%S)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
    for suite in peers kite; do
        [ "$SUITES" = all ] || [ "$SUITES" = $suite ] || continue
        /usr/bin/python3 bench.py run "$ds" --suite "tmp/ann_$suite.json" --threads "$THREADS" \
            --build-threads 2 --nq 1000 --out "$OUT" ${ONLY:+--only "$ONLY"}
    done
done
