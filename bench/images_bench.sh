#!/usr/bin/env bash
# images_bench.sh — images/s of `kite images index`, end to end and per stage.
#
# usage: bench/images_bench.sh [DIR] [THREADS...]
#   DIR      pictures (default /usr/share/tuxpaint/stamps, ~800 PNGs)
#   THREADS  thread counts to try (default: 1 and the CPU count)
# Environment: KITE_BIN (default build/kite), KITE_MODEL (default
# models/kite-mobilenetv2.onnx).  Use a Release build (scripts/build.sh build).
#
# Each run indexes DIR into a fresh temporary data directory (embedded library),
# so every image is decoded, resized, embedded and inserted.  End to end =
# images / wall time of the whole command (walk, model load, flush included).
# Per stage = images / (stage seconds summed over worker threads), i.e. the rate
# of ONE thread doing only that stage; insert is done by the main thread.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${1:-/usr/share/tuxpaint/stamps}"
shift || true
THREADS=("$@")
[ ${#THREADS[@]} -eq 0 ] && THREADS=(1 "$(nproc)")
KITE_BIN="${KITE_BIN:-build/kite}"
export KITE_MODEL="${KITE_MODEL:-models/kite-mobilenetv2.onnx}"

echo "# kite images index: $DIR on $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
echo
echo "| threads | images | wall s | end-to-end img/s | decode img/s/thr | resize img/s/thr | CNN img/s/thr | thumbnail img/s/thr | insert img/s |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for t in "${THREADS[@]}"; do
  data=$(mktemp -d)
  start=$(date +%s.%N)
  out=$("$KITE_BIN" images index "$DIR" --data-dir "$data" --threads "$t" --plain 2>&1)
  end=$(date +%s.%N)
  rm -rf "$data"
  echo "$out" | python3 -c '
import re, sys
t, wall = sys.argv[1], float(sys.argv[3]) - float(sys.argv[2])
text = sys.stdin.read()
n = int(re.search(r"(\d+) added", text).group(1))
m = re.search(r"decode ([\d.]+) s, resize ([\d.]+) s, CNN ([\d.]+) s, thumbnail ([\d.]+) s; insert ([\d.]+) s", text)
rate = lambda s: "%.1f" % (n / float(s)) if float(s) > 0 else "-"
print("| %s | %d | %.1f | %.1f | %s | %s | %s | %s | %s |" % (t, n, wall, n / wall,
      rate(m.group(1)), rate(m.group(2)), rate(m.group(3)), rate(m.group(4)), rate(m.group(5))))
' "$t" "$start" "$end"
done
