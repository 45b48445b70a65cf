#!/usr/bin/python3
"""Independent check of kite_model_import_tfjs on the nsfwjs MobileNetV2.

Re-implements the network from the package files in PyTorch (its own JS
literal reader, base64 shard decoding, uint8 dequantisation, TensorFlow
"same" padding done by hand with F.pad) and compares its 576-d
block_13_expand_relu GAP+L2 embedding with the ONNX file our importer wrote,
run through our runtime (tools/kite_vision_tool run).

  check_nsfwjs.py PKG_DIR OURS.f32 [REF_OUT.f32]
PKG_DIR = node_modules/nsfwjs/dist/models/mobilenet_v2.  Input: the same
deterministic tensor as export_torchvision.py, 2 x 3 x 224 x 224, written to
/tmp/nsfw_in.f32 by this script when OURS.f32 is "-".
"""
import base64
import math
import os
import re
import sys

import torch
import torch.nn.functional as F


def parse_js(s, i):
    def ws(i):
        while s[i] in " \t\r\n":
            i += 1
        return i
    i = ws(i)
    c = s[i]
    if c == "{":
        obj, i = {}, i + 1
        while True:
            i = ws(i)
            if s[i] == "}":
                return obj, i + 1
            if s[i] in "\"'":
                j = s.index(s[i], i + 1); key = s[i + 1:j]; i = j + 1
            else:
                m = re.compile(r"[A-Za-z_$0-9]+").match(s, i); key = m.group(0); i = m.end()
            i = ws(i); assert s[i] == ":"; val, i = parse_js(s, i + 1); obj[key] = val
            i = ws(i)
            if s[i] == ",":
                i += 1
    if c == "[":
        arr, i = [], i + 1
        while True:
            i = ws(i)
            if s[i] == "]":
                return arr, i + 1
            val, i = parse_js(s, i); arr.append(val); i = ws(i)
            if s[i] == ",":
                i += 1
    if c in "\"'":
        j = s.index(c, i + 1)
        return s[i + 1:j], j + 1
    if s.startswith("!0", i):
        return True, i + 2
    if s.startswith("!1", i):
        return False, i + 2
    m = re.compile(r"[-+0-9.eE]+").match(s, i)
    if m:
        return float(m.group(0)), m.end()
    m = re.compile(r"[A-Za-z_$]+").match(s, i)
    return {"true": True, "false": False}.get(m.group(0)), m.end()


def load(pkg):
    txt = open(os.path.join(pkg, "model.min.js")).read()
    start = txt.rfind("{", 0, txt.index("modelTopology"))
    root, _ = parse_js(txt, start)
    shard_js = open(os.path.join(pkg, "group1-shard1of1.min.js")).read()
    b64 = max(re.findall(r'"([^"]*)"', shard_js), key=len)
    raw = base64.b64decode(b64)
    weights, off = {}, 0
    for w in root["weightsManifest"][0]["weights"]:
        n = math.prod(int(d) for d in w["shape"])
        q = torch.tensor(list(raw[off:off + n]), dtype=torch.float64)
        off += n
        qt = w["quantization"]
        weights[w["name"]] = (q * qt["scale"] + qt["min"]).float().reshape([int(d) for d in w["shape"]])
    assert off == len(raw), (off, len(raw))
    return root["modelTopology"]["model_config"]["config"]["layers"], weights


def tf_same_pad(x, k, s):
    h, w = x.shape[2], x.shape[3]
    ph = max((math.ceil(h / s) - 1) * s + k - h, 0)
    pw = max((math.ceil(w / s) - 1) * s + k - w, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


def run(layers, W, x, cut="block_13_expand_relu"):
    vals = {}
    for L in layers:
        name, cls, cfg = L["name"], L["class_name"], L["config"]
        ins = [vals[n[0]] for n in L["inbound_nodes"][0]] if L["inbound_nodes"] else [x]
        a = ins[0]
        if cls == "InputLayer":
            y = x
        elif cls == "ZeroPadding2D":
            (t, b), (l, r) = cfg["padding"]
            y = F.pad(a, (int(l), int(r), int(t), int(b)))
        elif cls in ("Conv2D", "DepthwiseConv2D"):
            dw = cls == "DepthwiseConv2D"
            k = W[name + ("/depthwise_kernel" if dw else "/kernel")]
            s = int(cfg["strides"][0])
            if dw:
                wt = k.permute(2, 3, 0, 1).reshape(-1, 1, k.shape[0], k.shape[1])
            else:
                wt = k.permute(3, 2, 0, 1)
            if cfg["padding"] == "same":
                a = tf_same_pad(a, k.shape[0], s)
            bias = W.get(name + "/bias") if cfg.get("use_bias") else None
            y = F.conv2d(a, wt, bias, stride=s, groups=a.shape[1] if dw else 1)
        elif cls == "BatchNormalization":
            y = F.batch_norm(a, W[name + "/moving_mean"], W[name + "/moving_variance"],
                             W[name + "/gamma"], W[name + "/beta"], False, 0.0, cfg["epsilon"])
        elif cls == "ReLU":
            y = torch.clamp(a, 0, cfg["max_value"]) if cfg.get("max_value") else F.relu(a)
        elif cls == "Add":
            y = sum(ins)
        else:
            raise SystemExit(f"unexpected layer {cls}")
        vals[name] = y
        if name == cut:
            e = y.mean(dim=(2, 3))
            return e / e.norm(dim=1, keepdim=True)
    raise SystemExit("cut layer not reached")


def main():
    pkg, ours = sys.argv[1], sys.argv[2]
    n = 2 * 3 * 224 * 224
    x = (torch.sin(0.001 * torch.arange(n, dtype=torch.float64)) * 0.5 + 0.5).float()
    x = x.reshape(2, 3, 224, 224)
    if ours == "-":
        x.numpy().astype("<f4").tofile("/tmp/nsfw_in.f32")
        return 0
    layers, W = load(pkg)
    with torch.no_grad():
        ref = run(layers, W, x.double().float())
    got = torch.from_numpy(__import__("numpy").fromfile(ours, dtype="<f4")).reshape(ref.shape)
    err = ((got - ref).abs() / ref.abs().clamp(min=1e-2 * ref.abs().max())).max().item()
    print(f"embedding {tuple(ref.shape)}: worst relative error {err:.3e}, "
          f"cosine {float((got * ref).sum(1).min()):.7f}")
    return 0 if err < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
