#!/usr/bin/env bash
# make_model.sh KITE_BIN — build Kite's default image-embedding model once:
# models/kite-mobilenetv2.onnx, from the MobileNetV2 that the npm package
# nsfwjs@4.4.0 (MIT) ships, cut at block_13_expand_relu (576-d, docs/VISION.md).
# The package tarball comes from the npm registry (`npm pack`, integrity-checked
# by npm); nothing else is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
kite=${1:-build/kite}
out=models/kite-mobilenetv2.onnx
if [ -s "$out" ]; then exit 0; fi
mkdir -p models/src
if [ ! -f models/src/package/dist/models/mobilenet_v2/model.min.js ]; then
  (cd models/src && npm pack nsfwjs@4.4.0 --silent >/dev/null && tar xzf nsfwjs-4.4.0.tgz \
     package/dist/models/mobilenet_v2 package/LICENSE package/package.json && rm -f nsfwjs-4.4.0.tgz)
fi
"$kite" model import-tfjs models/src/package/dist/models/mobilenet_v2 "$out.tmp" \
  --cut block_13_expand_relu
mv "$out.tmp" "$out"
