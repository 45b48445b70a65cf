#!/usr/bin/python3
"""Peer side of bench/ann_bench.c: hnswlib (and FAISS HNSW/IVF when installed)
on the same TEXMEX directory, same parameters, same output columns.

    /usr/bin/python3 bench/ann_bench_peers.py DIR hnswlib M EFC ef1,ef2,... [threads]
    /usr/bin/python3 bench/ann_bench_peers.py DIR faiss-ivf NLIST 0 nprobe1,... [threads]

Uses Debian's python3-hnswlib / python3-faiss.  QPS: one batch call over all
queries, median of 3 after a warm-up (as ann_bench.c).  recall10: FAISS style
|returned ∩ true top-10| / 10.
"""
import statistics
import struct
import sys
import time

import numpy as np


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].view(dtype).copy()


def main():
    d, engine, p1, p2, sweep = sys.argv[1:6]
    threads = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    base = read_vecs(f"{d}/base.fvecs", np.float32)
    query = read_vecs(f"{d}/query.fvecs", np.float32)
    gt = read_vecs(f"{d}/gt.ivecs", np.int32)[:, :10]
    k = 10
    t0 = time.time()
    if engine == "hnswlib":
        import hnswlib
        ix = hnswlib.Index(space="l2", dim=base.shape[1])
        ix.init_index(max_elements=base.shape[0], M=int(p1), ef_construction=int(p2))
        ix.set_num_threads(2)
        ix.add_items(base, np.arange(base.shape[0]))
        ix.set_num_threads(threads)

        def search(v):
            ix.set_ef(v)
            return ix.knn_query(query, k=k)[0]
        param = "ef"
        bj = f'{{"M":{p1},"efConstruction":{p2}}}'
    else:
        import faiss
        faiss.omp_set_num_threads(2)
        q = faiss.IndexFlatL2(base.shape[1])
        ix = faiss.IndexIVFFlat(q, base.shape[1], int(p1))
        ix.train(base)
        ix.add(base)
        faiss.omp_set_num_threads(threads)

        def search(v):
            ix.nprobe = v
            return ix.search(query, k)[1]
        param = "nprobe"
        bj = f'{{"nlist":{p1}}}'
    build_s = time.time() - t0
    print("engine,type,build_json,param,value,threads,recall10,qps,build_s,index_bytes")
    for v in [int(x) for x in sweep.split(",")]:
        ids = search(v)
        good = sum(len(set(ids[i]) & set(gt[i])) for i in range(len(query)))
        times = []
        for _ in range(3):
            s = time.time()
            search(v)
            times.append(time.time() - s)
        print(f"{engine},{'HNSW' if engine == 'hnswlib' else 'IVF_FLAT'},\"{bj}\",{param},{v},"
              f"{threads},{good / (len(query) * k):.4f},{len(query) / statistics.median(times):.0f},"
              f"{build_s:.2f},0", flush=True)


if __name__ == "__main__":
    main()
