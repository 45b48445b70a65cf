#!/usr/bin/env python3
"""insert_bench.py — insert throughput: embedded C API vs REST v2, side by side.

    bench/insert_bench.py --build build-bench [--rows 100000] [--dim 128] [--batch 1000]

Runs build-bench/bench/insert_bench (columnar kite_insert, 1 and 2 threads) and then
the same rows over REST (POST /v2/vectordb/entities/insert with JSON rows, 1 and 2
client threads) against `build-bench/kite serve` on 127.0.0.1, and prints rows/s and
the REST/C ratio.  Every insert is durable before it is acknowledged in both paths.
"""
import argparse
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request


def c_api(build, rows, dim, batch, threads):
    d = tempfile.mkdtemp(prefix="kite-ib-")
    try:
        out = subprocess.run([os.path.join(build, "bench", "insert_bench"), d, "--rows", str(rows),
                              "--dim", str(dim), "--batch", str(batch), "--threads", str(threads)],
                             check=True, capture_output=True, text=True).stdout
        return float(re.search(r"rows_per_s=(\d+)", out).group(1))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(req) as r:
        reply = json.loads(r.read())
    if reply.get("code") != 0:
        raise RuntimeError(reply)
    return reply


def rest(build, rows, dim, batch, threads):
    d = tempfile.mkdtemp(prefix="kite-ib-")
    proc = subprocess.Popen([os.path.join(build, "kite"), "serve", "--port", "0", "--data-dir", d],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(re.search(r":(\d+)", proc.stdout.readline()).group(1))
        base = f"http://127.0.0.1:{port}/v2/vectordb"
        post(base + "/collections/create", {
            "collectionName": "bench",
            "schema": {"fields": [
                {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
                {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": dim}},
                {"fieldName": "tag", "dataType": "VarChar", "elementTypeParams": {"max_length": 16}}]}})
        rnd = random.Random(1)
        bodies = []
        for start in range(0, rows, batch):
            data = [{"id": i, "v": [rnd.random() for _ in range(dim)], "tag": f"t{i % 1000}"}
                    for i in range(start, min(rows, start + batch))]
            bodies.append(json.dumps({"collectionName": "bench", "data": data}).encode())
        idx = [0]
        lock = threading.Lock()

        def worker():
            while True:
                with lock:
                    if idx[0] >= len(bodies):
                        return
                    b = bodies[idx[0]]
                    idx[0] += 1
                req = urllib.request.Request(base + "/entities/insert", data=b, method="POST")
                with urllib.request.urlopen(req) as r:
                    assert json.loads(r.read())["code"] == 0
        t0 = time.monotonic()
        ts = [threading.Thread(target=worker) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return rows / (time.monotonic() - t0)
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build-bench")
    ap.add_argument("--rows", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--batch", type=int, default=1000)
    a = ap.parse_args()
    print(f"| threads | C API rows/s | REST rows/s | REST / C |")
    print(f"|---|---|---|---|")
    for t in (1, 2):
        c = c_api(a.build, a.rows, a.dim, a.batch, t)
        r = rest(a.build, a.rows, a.dim, a.batch, t)
        print(f"| {t} | {c:,.0f} | {r:,.0f} | {r / c:.2f} |")


if __name__ == "__main__":
    main()
