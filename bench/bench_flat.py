#!/usr/bin/python3
"""Exact (flat) search: Kite's flat_search vs FAISS IndexFlatL2, side by side.

Builds bench/flat_bench.c by hand (it belongs to no CMake target), runs it and
FAISS on the same TEXMEX data set (base.fvecs, query.fvecs, gt.ivecs as made
by /work/shared/bench/gen_data.py) at each thread count, and prints QPS, the
Kite/FAISS ratio and recall@k against the ground truth.

    /usr/bin/python3 bench/bench_flat.py --data /path/fmnist-784-l2 --threads 1,2
    /usr/bin/python3 bench/bench_flat.py --data /path/sift-like-128-l2 --n 100000

QPS = nq / median wall time of one pass over all queries (one call, or one
call per --batch queries), after one untimed warm-up pass (the harness convention of /work/shared/bench).  FAISS
runs in a child process per thread count with OMP_NUM_THREADS and
OPENBLAS_NUM_THREADS set, so its BLAS really uses that many threads.  "CPU
ms/q" is process CPU time per query (all threads): on a shared machine the
steadier figure for 1-thread runs (spinning BLAS threads inflate it at 2).
Needs Debian's python3-faiss and python3-numpy.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build(out_dir):
    """Compile flat_bench with per-file ISA flags (as cmake/Simd.cmake does)."""
    os.makedirs(out_dir, exist_ok=True)
    inc = ["-D_GNU_SOURCE", "-I" + ROOT + "/include"] + [
        "-I" + ROOT + "/src/" + m for m in ("core", "simd", "index")]
    cflags = ["-std=c11", "-O2", "-DNDEBUG"] + inc
    isa = {
        "distance_avx2.c": ["-mavx2", "-mfma", "-mf16c", "-mpopcnt"],
        "distance_avx512.c": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl",
                              "-mavx512vpopcntdq", "-mavx2", "-mfma", "-mf16c", "-mbmi2",
                              "-mpopcnt"],
    }
    objs = []
    for name, flags in isa.items():
        obj = os.path.join(out_dir, name + ".o")
        subprocess.check_call(["gcc"] + cflags + flags +
                              ["-c", os.path.join(ROOT, "src/simd", name), "-o", obj])
        objs.append(obj)
    core = sorted(os.path.join(ROOT, "src/core", f)
                  for f in os.listdir(os.path.join(ROOT, "src/core")) if f.endswith(".c"))
    srcs = [os.path.join(ROOT, p) for p in (
        "bench/flat_bench.c", "src/index/flat.c", "src/index/topk.c",
        "src/simd/distance_scalar.c", "src/simd/dispatch.c")] + core
    exe = os.path.join(out_dir, "flat_bench")
    subprocess.check_call(["gcc"] + cflags + srcs + objs + ["-lpthread", "-lm", "-o", exe])
    return exe


def read_vecs(path, dtype, count=None):
    import numpy as np
    raw = np.fromfile(path, dtype=np.int32 if dtype == "i" else np.float32)
    d = raw[:1].view(np.int32)[0]
    rows = raw.reshape(-1, d + 1)[:, 1:]
    if count:
        rows = rows[:count]
    return np.ascontiguousarray(rows.view(np.int32) if dtype == "i" else rows)


def faiss_worker(args):
    """Child process: time FAISS IndexFlatL2 at one thread count, print JSON."""
    import numpy as np
    import faiss
    faiss.omp_set_num_threads(args.threads_one)
    base = read_vecs(os.path.join(args.data, "base.fvecs"), "f", args.n or None)
    q = read_vecs(os.path.join(args.data, "query.fvecs"), "f", args.nq)
    index = faiss.IndexFlatL2(base.shape[1])
    index.add(base)
    b = args.batch or len(q)

    def one_pass():
        return np.concatenate([index.search(q[i:i + b], args.k)[1]
                               for i in range(0, len(q), b)])
    ids = one_pass()
    times, cpu = [], []
    for _ in range(args.runs):
        c0 = time.process_time()
        t0 = time.perf_counter()
        one_pass()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    times.sort()
    cpu.sort()
    recall = recall_at_k(args, ids)
    print(json.dumps({"qps": len(q) / times[len(times) // 2], "recall": recall,
                      "cpu_ms": cpu[len(cpu) // 2] * 1e3 / len(q)}))


def recall_at_k(args, ids):
    """recall@k against gt.ivecs (only valid on the full base)."""
    gt_path = os.path.join(args.data, "gt.ivecs")
    if args.n or not os.path.exists(gt_path):
        return None
    gt = read_vecs(gt_path, "i", len(ids))[:, :args.k]
    hit = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(ids, gt))
    return hit / float(len(ids) * args.k)


def run_kite(exe, args, t):
    d = args.data
    cmd = [exe, "--base", d + "/base.fvecs", "--query", d + "/query.fvecs",
           "--nq", str(args.nq), "--k", str(args.k), "--threads", str(t),
           "--runs", str(args.runs), "--batch", str(args.batch)]
    if args.n:
        cmd += ["--n", str(args.n)]
    elif os.path.exists(d + "/gt.ivecs"):
        cmd += ["--gt", d + "/gt.ivecs"]
    out = subprocess.check_output(cmd, text=True)
    m = re.search(r"RESULT .*qps=([\d.]+).*recall=([-\d.]+) simd=(\w+) cpu_ms_per_query=([\d.]+)",
                  out)
    rec = float(m.group(2))
    return float(m.group(1)), (rec if rec >= 0 else None), m.group(3), float(m.group(4))


def run_faiss(args, t):
    env = dict(os.environ, OMP_NUM_THREADS=str(t), OPENBLAS_NUM_THREADS=str(t))
    cmd = [sys.executable, os.path.abspath(__file__), "--faiss-worker", "--threads-one", str(t),
           "--data", args.data, "--nq", str(args.nq), "--k", str(args.k),
           "--runs", str(args.runs), "--n", str(args.n), "--batch", str(args.batch)]
    out = subprocess.check_output(cmd, text=True, env=env)
    return json.loads(out.strip().splitlines()[-1])


def fmt_rec(r):
    return "-" if r is None else "%.4f" % r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="data set directory (TEXMEX files)")
    ap.add_argument("--n", type=int, default=0, help="use only the first N base vectors")
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=0,
                    help="queries per search call (0 = all in one call; 1 = single-query mode)")
    ap.add_argument("--build-dir", default="/tmp/kite_flat_bench")
    ap.add_argument("--faiss-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--threads-one", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.faiss_worker:
        faiss_worker(args)
        return
    exe = build(args.build_dir)
    name = os.path.basename(os.path.normpath(args.data))
    if args.n:
        name += " (first %d)" % args.n
    name += ", batch %s" % (args.batch or "all")
    print("| data set | threads | Kite QPS | FAISS IndexFlatL2 QPS | Kite/FAISS | "
          "Kite CPU ms/q | FAISS CPU ms/q | Kite recall@%d | FAISS recall@%d | Kite SIMD |"
          % (args.k, args.k))
    print("|---|---|---|---|---|---|---|---|---|---|")
    for t in [int(x) for x in args.threads.split(",")]:
        kq, krec, level, kcpu = run_kite(exe, args, t)
        f = run_faiss(args, t)
        print("| %s | %d | %.0f | %.0f | %.2f | %.3f | %.3f | %s | %s | %s |" % (
            name, t, kq, f["qps"], kq / f["qps"], kcpu, f["cpu_ms"], fmt_rec(krec),
            fmt_rec(f["recall"]), level))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
