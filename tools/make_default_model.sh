#!/bin/sh
# make_default_model.sh OUT.onnx [NSFWJS_PACKAGE_DIR]
#
# Builds Kite's default image-embedding model: the nsfwjs@4.4.0 (MIT) Keras
# MobileNetV2 cut at block_13_expand_relu, + GlobalAveragePool + L2 norm
# (576-d), converted to ONNX by kite_model_import_tfjs (docs/VISION.md §3).
# Without a package dir it runs `npm install nsfwjs@4.4.0` into a temp prefix.
# Needs tools/kite_vision_tool (build line in tools/kite_vision_tool.c) on PATH
# or in $KITE_VISION_TOOL.
set -eu
out=${1:?usage: make_default_model.sh OUT.onnx [PKG_DIR]}
pkg=${2:-}
tool=${KITE_VISION_TOOL:-kite_vision_tool}
if [ -z "$pkg" ]; then
    prefix=$(mktemp -d)
    trap 'rm -rf "$prefix"' EXIT
    npm install --silent --ignore-scripts --no-audit --no-fund nsfwjs@4.4.0 --prefix "$prefix"
    pkg=$prefix/node_modules/nsfwjs/dist/models/mobilenet_v2
fi
"$tool" import-tfjs "$pkg" "$out" block_13_expand_relu
