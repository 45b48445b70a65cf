#!/usr/bin/python3
"""vision_vs_torch.py — CNN inference speed of Kite's ONNX runtime vs PyTorch CPU, side by side.

For each network (torchvision MobileNetV2 and ResNet-50 with random weights, optionally
VGG16, and Kite's default model models/kite-mobilenetv2.onnx) this:

  1. exports the PyTorch network to ONNX once (cached in bench/data/, gitignored; the
     weights are cached next to it as .pt so PyTorch and Kite always run the same
     numbers).  The default model goes the other way: its ONNX file is read by a small
     protobuf reader below and executed op by op with torch.nn.functional (eager
     PyTorch, same kernels an nn.Module would use).
  2. in ONE run, for t in --threads and batch in --batches: times PyTorch
     (torch.set_num_threads(t), torch.inference_mode(), warm-up then --reps runs) and Kite
     (bench/vision_bench model <onnx> <batch> <t> <reps> <input> <output>, a subprocess with
     the same ONNX and the same input tensor), --rounds times, interleaved, so the load of
     the machine hits both alike;
  3. checks the outputs agree: max |kite - torch| <= 1e-4 * max |torch| on the same input;
  4. prints images/s (median over rounds of each round's median run, plus the min-max
     spread over rounds) and the Kite/PyTorch ratio (> 1 = Kite faster).

Usage:  /usr/bin/python3 bench/vision_vs_torch.py [--kite build-x/bench/vision_bench]
            [--models mobilenetv2,resnet50,default[,vgg16]] [--threads 1,2] [--batches 1,8]
            [--reps 7] [--rounds 3] [--markdown]
Requires Debian python3-torch and python3-torchvision (no onnx package needed).
OMP_WAIT_POLICY defaults to PASSIVE for PyTorch (see below); set it to ACTIVE to see the
spin-waiting default.
"""
import os

# Before torch loads its OpenMP runtime: threads that wait sleep instead of
# spinning.  On a shared 2-core VM the default (spin) made PyTorch at 2 threads
# 30-100x slower (0.6 vs 21 img/s, MobileNetV2 batch 1) because its spinning
# workers stole the cores their peers needed; Kite's pool sleeps on a condition
# variable.  An OMP_WAIT_POLICY already in the environment is respected.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import glob
import statistics
import struct
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(HERE, "data")
REL_TOL = 1e-4


# --------------------------------------------------------------------------- networks

def torchvision_net(name):
    torch.manual_seed(1234)
    ctor = {"mobilenetv2": torchvision.models.mobilenet_v2,
            "resnet50": torchvision.models.resnet50,
            "vgg16": torchvision.models.vgg16}[name]
    model = ctor()
    model.eval()
    if name != "vgg16":  # non-trivial BN statistics, so BN folding is exercised
        g = torch.Generator().manual_seed(99)
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                c = mod.num_features
                mod.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                mod.running_var.copy_(torch.rand(c, generator=g) * 0.5 + 0.75)
    return model


def prepare_torchvision(name):
    """Return (torch callable, onnx path), exporting/caching once."""
    onnx_path = os.path.join(DATA, f"{name}.onnx")
    pt_path = os.path.join(DATA, f"{name}.pt")
    model = torchvision_net(name)
    if os.path.exists(onnx_path) and os.path.exists(pt_path):
        model.load_state_dict(torch.load(pt_path))
    else:
        os.makedirs(DATA, exist_ok=True)
        x = torch.zeros(1, 3, 224, 224)
        torch.onnx.export(model, x, onnx_path + ".tmp", opset_version=13,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "N"}, "output": {0: "N"}},
                          do_constant_folding=True)
        torch.save(model.state_dict(), pt_path)
        os.replace(onnx_path + ".tmp", onnx_path)
    return model, onnx_path


# ------------------------------------------------- minimal ONNX reader (protobuf wire format)

def _varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return v, i


def _fields(buf):
    """Yield (field number, wire type, value) of one protobuf message."""
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        fno, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 1:
            v = buf[i:i + 8]
            i += 8
        elif wt == 2:
            ln, i = _varint(buf, i)
            v = buf[i:i + ln]
            i += ln
        elif wt == 5:
            v = buf[i:i + 4]
            i += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wt}")
        yield fno, wt, v


def _signed(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def _packed_varints(v):
    out, i = [], 0
    while i < len(v):
        x, i = _varint(v, i)
        out.append(_signed(x))
    return out


def _tensor(buf):
    """TensorProto -> (name, torch tensor); float32/int64/int32 only."""
    dims, dtype, name, raw, fdata, idata = [], 1, "", None, [], []
    for f, wt, v in _fields(buf):
        if f == 1:
            dims += _packed_varints(v) if wt == 2 else [_signed(v)]
        elif f == 2:
            dtype = v
        elif f == 4:
            fdata += list(struct.unpack(f"<{len(v) // 4}f", v)) if wt == 2 else \
                [struct.unpack("<f", v)[0]]
        elif f in (5, 7):
            idata += _packed_varints(v) if wt == 2 else [_signed(v)]
        elif f == 8:
            name = bytes(v).decode()
        elif f == 9:
            raw = bytes(v)
    tdt = {1: torch.float32, 7: torch.int64, 6: torch.int32}[dtype]
    if raw is not None:
        t = torch.frombuffer(bytearray(raw), dtype=tdt).clone() if raw else torch.zeros(0, dtype=tdt)
    else:
        t = torch.tensor(fdata if dtype == 1 else idata, dtype=tdt)
    return name, t.reshape(dims).to(torch.int64 if dtype != 1 else torch.float32)


def _attr(buf):
    name, val, ints, floats = "", None, [], []
    for f, wt, v in _fields(buf):
        if f == 1:
            name = bytes(v).decode()
        elif f == 2:
            val = struct.unpack("<f", v)[0]
        elif f == 3:
            val = _signed(v)
        elif f == 4:
            val = bytes(v).decode()
        elif f == 5:
            val = _tensor(v)[1]
        elif f == 7:
            floats += list(struct.unpack(f"<{len(v) // 4}f", v)) if wt == 2 else \
                [struct.unpack("<f", v)[0]]
        elif f == 8:
            ints += _packed_varints(v) if wt == 2 else [_signed(v)]
    if val is None:
        val = ints or floats
    return name, val


def load_onnx(path):
    """ModelProto -> (nodes, initializers, input names, output names)."""
    with open(path, "rb") as fh:
        model = memoryview(fh.read())
    graph = next(v for f, _, v in _fields(model) if f == 7)
    nodes, inits, inputs, outputs = [], {}, [], []
    for f, _, v in _fields(graph):
        if f == 1:
            node = {"in": [], "out": [], "op": "", "attr": {}}
            for g, _, w in _fields(v):
                if g == 1:
                    node["in"].append(bytes(w).decode())
                elif g == 2:
                    node["out"].append(bytes(w).decode())
                elif g == 4:
                    node["op"] = bytes(w).decode()
                elif g == 5:
                    k, a = _attr(w)
                    node["attr"][k] = a
            nodes.append(node)
        elif f == 5:
            k, t = _tensor(v)
            inits[k] = t
        elif f in (11, 12):
            name = next(bytes(w).decode() for g, _, w in _fields(v) if g == 1)
            (inputs if f == 11 else outputs).append(name)
    inputs = [i for i in inputs if i not in inits]
    return nodes, inits, inputs, outputs


class OnnxTorch:
    """Runs the ops Kite's tfjs importer emits with torch.nn.functional, eagerly."""

    def __init__(self, path):
        self.nodes, self.vals, self.inputs, self.outputs = load_onnx(path)
        self._fold_bn()

    def _fold_bn(self):
        """Fold BatchNormalization into the Conv before it (what torch's export and Kite's
        loader both do), so PyTorch is not charged for an extra pass per layer."""
        producer = {n["out"][0]: n for n in self.nodes}
        readers = {}
        for n in self.nodes:
            for i in n["in"]:
                readers[i] = readers.get(i, 0) + 1
        kept = []
        for n in self.nodes:
            conv = producer.get(n["in"][0]) if n["op"] == "BatchNormalization" else None
            if conv is None or conv["op"] != "Conv" or readers[n["in"][0]] != 1 or \
                    conv["in"][1] not in self.vals:
                kept.append(n)
                continue
            gamma, beta, mean, var = (self.vals[i] for i in n["in"][1:5])
            scale = gamma / torch.sqrt(var + n["attr"].get("epsilon", 1e-5))
            w = self.vals[conv["in"][1]] * scale.reshape(-1, 1, 1, 1)
            b = self.vals[conv["in"][2]] if len(conv["in"]) > 2 and conv["in"][2] else 0.0
            wname, bname = conv["in"][1] + "/folded", conv["in"][1] + "/folded_bias"
            self.vals[wname], self.vals[bname] = w, (b - mean) * scale + beta
            conv["in"] = [conv["in"][0], wname, bname]
            conv["out"] = n["out"]
        self.nodes = kept

    def __call__(self, x):
        v = dict(self.vals)
        v[self.inputs[0]] = x
        for n in self.nodes:
            a, ins = n["attr"], [v[i] if i else None for i in n["in"]]
            op = n["op"]
            if op == "Conv":
                p = list(a.get("pads", [0, 0, 0, 0]))
                xi = ins[0]
                if a.get("auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER"):
                    for ax in range(2):  # ONNX: out = ceil(in / stride)
                        size, k = xi.shape[2 + ax], ins[1].shape[2 + ax]
                        s_ = a.get("strides", [1, 1])[ax]
                        d_ = a.get("dilations", [1, 1])[ax]
                        tot = max(0, (-(-size // s_) - 1) * s_ + (k - 1) * d_ + 1 - size)
                        lo = tot // 2 if a["auto_pad"] == "SAME_UPPER" else tot - tot // 2
                        p[ax], p[ax + 2] = lo, tot - lo
                elif a.get("auto_pad") == "VALID":
                    p = [0, 0, 0, 0]
                if p[0] != p[2] or p[1] != p[3]:
                    xi, p = F.pad(xi, (p[1], p[3], p[0], p[2])), [0, 0]
                y = F.conv2d(xi, ins[1], ins[2] if len(ins) > 2 else None,
                             stride=a.get("strides", [1, 1]), padding=p[:2],
                             dilation=a.get("dilations", [1, 1]), groups=a.get("group", 1))
            elif op == "BatchNormalization":
                y = F.batch_norm(ins[0], ins[3], ins[4], ins[1], ins[2], False, 0.0,
                                 a.get("epsilon", 1e-5))
            elif op == "Pad":
                pads = ins[1].tolist() if len(ins) > 1 else a["pads"]
                h = len(pads) // 2
                tp = []
                for d in range(h - 1, -1, -1):
                    tp += [pads[d], pads[d + h]]
                y = F.pad(ins[0], tp)
            elif op == "Clip":
                lo = ins[1].item() if len(ins) > 1 and ins[1] is not None else a.get("min")
                hi = ins[2].item() if len(ins) > 2 and ins[2] is not None else a.get("max")
                y = torch.clamp(ins[0], lo, hi)
            elif op == "Relu":
                y = F.relu(ins[0])
            elif op == "Add":
                y = ins[0] + ins[1]
            elif op in ("Identity", "Dropout"):
                y = ins[0]
            elif op == "GlobalAveragePool":
                y = F.adaptive_avg_pool2d(ins[0], 1)
            elif op == "Flatten":
                y = torch.flatten(ins[0], a.get("axis", 1))
            elif op == "LpNormalization":
                y = F.normalize(ins[0], p=a.get("p", 2), dim=a.get("axis", -1))
            else:
                raise NotImplementedError(f"op {op} in {self.inputs}")
            v[n["out"][0]] = y
        return v[self.outputs[0]]


# --------------------------------------------------------------------------- timing

def time_torch(fn, x, threads, reps):
    torch.set_num_threads(threads)
    with torch.inference_mode():
        fn(x)  # warm-up
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            y = fn(x)
            times.append(time.perf_counter() - t0)
    return statistics.median(times), y


def time_kite(kite, onnx_path, x, threads, reps, tag):
    in_path = os.path.join(DATA, f"input_{tag}.f32")
    out_path = os.path.join(DATA, f"kite_out_{tag}.f32")
    x.contiguous().numpy().astype("<f4").tofile(in_path)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    res = subprocess.run([kite, "model", onnx_path, str(x.shape[0]), str(threads), str(reps),
                          in_path, out_path], capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"vision_bench failed: {res.stderr.strip()}")
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("batch"))
    median_ms = float(line.split("median ")[1].split(" ms")[0])
    with open(out_path, "rb") as fh:
        y = torch.frombuffer(bytearray(fh.read()), dtype=torch.float32)
    return median_ms / 1e3, y


def find_kite():
    for cand in sorted(glob.glob(os.path.join(ROOT, "build*", "bench", "vision_bench")),
                       key=os.path.getmtime, reverse=True):
        return cand
    sys.exit("vision_bench not found: build with -DKITE_BUILD_BENCH=ON (target vision_bench)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kite", help="path to vision_bench (default: newest build*/bench/)")
    ap.add_argument("--models", default="mobilenetv2,resnet50,default")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table too")
    args = ap.parse_args()
    kite = args.kite or find_kite()
    threads = [int(t) for t in args.threads.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    os.makedirs(DATA, exist_ok=True)
    print(f"kite: {kite}\ntorch {torch.__version__} (mkldnn {torch.backends.mkldnn.is_available()}"
          f", OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}), load: {os.getloadavg()}")

    g = torch.Generator().manual_seed(7)
    rows, ok_all = [], True
    for name in args.models.split(","):
        if name == "default":
            onnx_path = os.path.join(ROOT, "models", "kite-mobilenetv2.onnx")
            if not os.path.exists(onnx_path):
                print("skip default: models/kite-mobilenetv2.onnx missing (scripts/make_model.sh)")
                continue
            fn = OnnxTorch(onnx_path)
            x_all = torch.rand(max(batches), 3, 224, 224, generator=g)  # RGB in [0, 1]
        else:
            fn, onnx_path = prepare_torchvision(name)
            x_all = torch.randn(max(batches), 3, 224, 224, generator=g)
        for b in batches:
            x = x_all[:b].contiguous()
            for t in threads:
                tt, kt = [], []
                for _ in range(args.rounds):
                    t_torch, y_torch = time_torch(fn, x, t, args.reps)
                    t_kite, y_kite = time_kite(kite, onnx_path, x, t, args.reps, f"{name}_b{b}")
                    tt.append(b / t_torch)
                    kt.append(b / t_kite)
                ref = y_torch.reshape(-1)
                diff = (y_kite - ref).abs().max().item() if y_kite.numel() == ref.numel() \
                    else float("inf")
                scale = ref.abs().max().item()
                agree = diff <= REL_TOL * scale
                ok_all &= agree
                row = (name, b, t, statistics.median(tt), min(tt), max(tt),
                       statistics.median(kt), min(kt), max(kt), diff / scale if scale else diff,
                       agree)
                rows.append(row)
                print(f"{name:12s} batch {b} threads {t}: torch {row[3]:8.2f} img/s "
                      f"[{row[4]:.2f}-{row[5]:.2f}]  kite {row[6]:8.2f} img/s "
                      f"[{row[7]:.2f}-{row[8]:.2f}]  kite/torch {row[6] / row[3]:.2f}  "
                      f"max rel diff {row[9]:.1e} {'ok' if agree else 'MISMATCH'}", flush=True)
    if args.markdown:
        print("\n| network | batch | threads | PyTorch img/s (min-max) | Kite img/s (min-max) "
              "| Kite/PyTorch | outputs agree (max diff / max abs) |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for r in rows:
            print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.1f} ({r[4]:.1f}-{r[5]:.1f}) | "
                  f"{r[6]:.1f} ({r[7]:.1f}-{r[8]:.1f}) | {r[6] / r[3]:.2f} | "
                  f"{'yes' if r[10] else 'NO'} ({r[9]:.1e}) |")
    print(f"load at end: {os.getloadavg()}")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
