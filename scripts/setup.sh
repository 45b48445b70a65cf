#!/usr/bin/env bash
# setup.sh — install every Debian/npm package Kite needs (run as root on Debian 12).
#   scripts/setup.sh          build + run dependencies
#   scripts/setup.sh --test   also the test dependencies (clang/libFuzzer, pytest, node, ...)
#   scripts/setup.sh --bench  also the benchmark peers (FAISS, hnswlib, data sets)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0; want_bench=0
for a in "$@"; do
  case "$a" in
    --test) want_test=1 ;;
    --bench) want_bench=1 ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

BUILD_PKGS=(build-essential cmake ninja-build pkg-config git ca-certificates
  libjansson-dev libmicrohttpd-dev libprotobuf-c-dev protobuf-c-compiler libnghttp2-dev
  libjpeg62-turbo-dev libpng-dev libwebp-dev libgif-dev libopenblas-dev libonnx-dev
  libcurl4-openssl-dev libssl-dev curl nodejs npm tuxpaint-stamps-default)
TEST_PKGS=(clang libclang-rt-14-dev llvm python3 python3-pytest python3-numpy
  libonnx-testdata procps iproute2 chromium)
BENCH_PKGS=(python3-faiss python3-hnswlib libhnswlib-dev dataset-fashion-mnist
  libopenblas0-openmp python3-matplotlib)

pkgs=("${BUILD_PKGS[@]}")
[ $want_test = 1 ] && pkgs+=("${TEST_PKGS[@]}")
[ $want_bench = 1 ] && pkgs+=("${BENCH_PKGS[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node/npm may come from another source on some machines; only install Debian's if absent.
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=(); for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages (installed from the lock files committed in the repo).
for dir in tests/integration/grpc tests/e2e; do
  if [ -f "$dir/package.json" ] && [ ! -d "$dir/node_modules" ]; then
    if [ $want_test = 1 ]; then
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
  fi
done
echo "setup: dependencies ready"
