#!/usr/bin/env bash
# test.sh — install dependencies, build, and run the whole Kite test suite:
#   1. Release build: unit, integration (REST/gRPC against the real binary), crash tests
#   2. ASan+UBSan build: the same suite under sanitizers
#   3. TSan build: the concurrency-heavy unit tests
#   4. libFuzzer: replay every corpus, then a short run of every fuzz target
# Environment: KITE_FUZZ_RUNS (default 50000 inputs per target, fixed seed: the CI run is
# reproducible), or KITE_FUZZ_SECONDS for a time-boxed exploratory run with a random seed;
# KITE_SKIP_SANITIZERS=1, KITE_SKIP_FUZZ=1.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=$(nproc)

scripts/setup.sh --test || { echo "test.sh: setup failed"; exit 1; }

stages_passed=0; stages_failed=0; failed_names=()
stage() { # stage NAME COMMAND...
  local name=$1; shift
  echo; echo "=== $name"
  local t0=$SECONDS
  if "$@"; then
    stages_passed=$((stages_passed + 1)); echo "=== $name: ok ($((SECONDS - t0)) s)"
  else
    stages_failed=$((stages_failed + 1)); failed_names+=("$name")
    echo "=== $name: FAILED ($((SECONDS - t0)) s)"
  fi
}

build() { # build DIR cmake-args...
  local dir=$1; shift
  cmake -S "$ROOT" -B "$dir" -G Ninja "$@" >/dev/null && cmake --build "$dir" -j"$JOBS"
}

run_ctest() { # run_ctest DIR [ctest args...]
  local dir=$1; shift
  (cd "$dir" && ctest --output-on-failure -j"$JOBS" "$@")
}

stage "release build" build "$ROOT/build" -DCMAKE_BUILD_TYPE=Release
# The default image model (from the nsfwjs npm package) is needed by the image tests.
stage "default model" scripts/make_model.sh "$ROOT/build/kite"
export KITE_MODEL="$ROOT/models/kite-mobilenetv2.onnx"
stage "release tests" run_ctest "$ROOT/build"

if [ "${KITE_SKIP_SANITIZERS:-0}" != 1 ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  stage "asan+ubsan build" build "$ROOT/build-asan" -DCMAKE_BUILD_TYPE=Debug \
        -DKITE_SANITIZE=address,undefined
  stage "asan+ubsan tests" run_ctest "$ROOT/build-asan" -E "^(quality_|e2e_)"
  export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
  stage "tsan build" build "$ROOT/build-tsan" -DCMAKE_BUILD_TYPE=Debug -DKITE_SANITIZE=thread
  stage "tsan tests" run_ctest "$ROOT/build-tsan" -R '^unit_(core|storage|db|index)$'
fi

fuzz_all() {
  local dir="$ROOT/build-fuzz" rc=0 budget
  if [ -n "${KITE_FUZZ_SECONDS:-}" ]; then
    budget=(-max_total_time="$KITE_FUZZ_SECONDS")
  else
    budget=(-runs="${KITE_FUZZ_RUNS:-50000}" -seed=1)
  fi
  build "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DKITE_FUZZ=ON \
        -DKITE_SANITIZE=address,undefined -DKITE_BUILD_TESTS=OFF || return 1
  for bin in "$dir"/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    local name; name=$(basename "$bin"); name=${name#fuzz_}
    local corpus="$ROOT/tests/fuzz/corpus/$name" work; work=$(mktemp -d)
    local dict=(); [ -f "$ROOT/tests/fuzz/$name.dict" ] && dict=(-dict="$ROOT/tests/fuzz/$name.dict")
    [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null
    [ -d "$ROOT/tests/fuzz/regressions/$name" ] && cp -r "$ROOT/tests/fuzz/regressions/$name"/. "$work"/
    echo "--- fuzz_$name: ${budget[*]}"
    local log="$dir/fuzz_$name.log"
    if ! (cd "$work" && "$bin" "${dict[@]}" "${budget[@]}" -rss_limit_mb=1024 \
            -timeout=5 -print_final_stats=0 "$work" >"$log" 2>&1); then
      rc=1
      grep -E -A15 "ERROR:|runtime error|Test unit written" "$log" | head -40
      mkdir -p "$dir/artifacts"
      cp "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* "$dir/artifacts/" 2>/dev/null
      echo "fuzz_$name found a failing input (kept in $dir/artifacts)"
    else
      tail -n 1 "$log"
    fi
    rm -rf "$work"
  done
  return $rc
}
if [ "${KITE_SKIP_FUZZ:-0}" != 1 ]; then
  stage "fuzz" fuzz_all
fi

echo
if [ $stages_failed -gt 0 ]; then echo "failed stages: ${failed_names[*]}"; fi
echo "stages: $stages_passed passed, $stages_failed failed"
[ $stages_failed -eq 0 ]
