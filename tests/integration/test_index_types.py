"""Every vector index type through REST: /v2/vectordb/indexes/create with Milvus build
params, describe until Finished, search with each type's search params (nprobe, ef,
search_k, reorder_k) against a brute-force oracle; out-of-range params give code 1100
and unsupported types (DISKANN) code 701.

Data: dim 8 floats / 32-bit binary vectors, 1300 rows: two flushed (sealed, indexed)
batches plus growing rows, fixed seed.  Recall is tie-aware: a hit counts when its
exact distance is no worse than the oracle's k-th.  Python standard library only.
"""
import math
import random
import time

import pytest

from conftest import KiteServer, unique

DIM = 8
BDIM = 32
K = 10

FLOAT_CASES = [
    # (indexType, metric, build params, search params, min recall@10)
    ("FLAT", "L2", {}, {}, 1.0),
    ("HNSW", "L2", {"M": 16, "efConstruction": 100}, {"ef": 64}, 0.9),
    ("HNSW", "COSINE", {"M": 16, "efConstruction": 100}, {"ef": 64}, 0.9),
    ("HNSW", "IP", {"M": 16, "efConstruction": 100, "walk": "int8"}, {"ef": 64}, 0.9),
    ("IVF_FLAT", "L2", {"nlist": 16}, {"nprobe": 8}, 0.8),
    ("IVF_FLAT", "IP", {"nlist": 16}, {"nprobe": 16}, 0.95),
    ("IVF_SQ8", "L2", {"nlist": 16}, {"nprobe": 16}, 0.7),
    ("IVF_PQ", "L2", {"nlist": 16, "m": 4, "nbits": 8}, {"nprobe": 16}, 0.4),
    ("SCANN", "L2", {"nlist": 16, "with_raw_data": True}, {"nprobe": 16, "reorder_k": 50},
     0.9),
    ("ANNOY", "L2", {"n_trees": 8}, {"search_k": -1}, 0.5),
    ("AUTOINDEX", "COSINE", {}, {}, 0.9),
]

BINARY_CASES = [
    ("BIN_FLAT", "HAMMING", {}, {}, 1.0),
    ("BIN_IVF_FLAT", "HAMMING", {"nlist": 16}, {"nprobe": 16}, 0.95),
    ("BIN_IVF_FLAT", "JACCARD", {"nlist": 16}, {"nprobe": 8}, 0.6),
]


def _rows(binary, n, seed=7):
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        if binary:
            v = [rnd.randrange(256) for _ in range(BDIM // 8)]
        else:
            v = [rnd.uniform(-1, 1) for _ in range(DIM)]
        out.append({"id": i, "v": v, "num": i})
    return out


def _dist(metric, q, v):
    """Smaller is closer."""
    if metric in ("HAMMING", "JACCARD"):
        x = sum(bin(a ^ b).count("1") for a, b in zip(q, v))
        if metric == "HAMMING":
            return x
        inter = sum(bin(a & b).count("1") for a, b in zip(q, v))
        union = sum(bin(a | b).count("1") for a, b in zip(q, v))
        return 1.0 - inter / union if union else 0.0
    if metric == "L2":
        return sum((a - b) ** 2 for a, b in zip(q, v))
    ip = sum(a * b for a, b in zip(q, v))
    if metric == "IP":
        return -ip
    return -ip / (math.sqrt(sum(a * a for a in q)) * math.sqrt(sum(b * b for b in v)))


def _make(client, itype, metric, params, binary):
    name = unique("ix")
    vtype = "BinaryVector" if binary else "FloatVector"
    client.ok("collections/create", {
        "collectionName": name,
        "schema": {"enableDynamicField": False, "fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "v", "dataType": vtype,
             "elementTypeParams": {"dim": BDIM if binary else DIM}},
            {"fieldName": "num", "dataType": "Int32"}]},
        "indexParams": [{"fieldName": "v", "indexName": "vi", "metricType": metric,
                         "indexType": itype, "params": params}]})
    return name


def _load_rows(client, name, rows):
    # two sealed batches (flush), then growing rows
    for lo, hi in ((0, 600), (600, 1200)):
        client.ok("entities/insert", {"collectionName": name, "data": rows[lo:hi]})
        client.ok("collections/flush", {"collectionName": name})
    client.ok("entities/insert", {"collectionName": name, "data": rows[1200:]})


def _wait_finished(client, name, exact):
    deadline = time.time() + 60
    while True:
        info = client.ok("indexes/describe", {"collectionName": name, "indexName": "vi"})["data"]
        st = info[0]
        assert st["indexState"] != "Failed", st
        if st["indexState"] == "Finished" and (exact or st["indexedRows"] > 0):
            return st
        assert time.time() < deadline, st
        time.sleep(0.05)


def _check_search(client, name, rows, metric, sparams, min_recall, filt=None, passes=None):
    rnd = random.Random(99)
    binary = metric in ("HAMMING", "JACCARD")
    qs = [_rows(binary, 1, seed=1000 + i)[0]["v"] for i in range(5)]
    body = {"collectionName": name, "data": qs, "annsField": "v", "limit": K,
            "outputFields": ["num"], "searchParams": {"metricType": metric, "params": sparams}}
    if filt:
        body["filter"] = filt
    r = client.ok("entities/search", body)
    topks = r.get("topks", [len(r["data"])])
    assert len(topks) == len(qs)
    hit = want = 0
    at = 0
    for qi, q in enumerate(qs):
        cand = [row for row in rows if passes is None or passes(row["id"])]
        ds = sorted(_dist(metric, q, row["v"]) for row in cand)
        expect = min(K, len(cand))
        assert topks[qi] == expect, (qi, topks[qi], expect)
        kth = ds[expect - 1]
        got = r["data"][at:at + topks[qi]]
        at += topks[qi]
        for g in got:
            assert g["num"] == g["id"]
            if passes:
                assert passes(g["id"]), g
            if _dist(metric, q, rows[g["id"]]["v"]) <= kth + 1e-5 * (1 + abs(kth)):
                hit += 1
        want += expect
    del rnd
    recall = hit / want
    assert recall >= min_recall, (name, recall, min_recall)
    return recall


@pytest.mark.parametrize("itype,metric,params,sparams,min_recall",
                         FLOAT_CASES + BINARY_CASES,
                         ids=["%s-%s" % (c[0], c[1]) for c in FLOAT_CASES + BINARY_CASES])
def test_index_type_end_to_end(fresh_dir, itype, metric, params, sparams, min_recall):
    # one server per case: a crash in one index type fails only its own case
    srv = KiteServer(fresh_dir).start()
    try:
        _end_to_end(srv.client(), itype, metric, params, sparams, min_recall)
    finally:
        rc = srv.stop()
    assert rc == 0, "kite serve exited with %r; stderr: %s" % (rc, srv.stderr_text())


def _end_to_end(client, itype, metric, params, sparams, min_recall):
    binary = itype.startswith("BIN_")
    rows = _rows(binary, 1300)
    name = _make(client, itype, metric, params, binary)
    _load_rows(client, name, rows)
    exact = itype in ("FLAT", "BIN_FLAT")
    st = _wait_finished(client, name, exact)
    assert st["totalRows"] == 1300
    assert st["indexedRows"] + st["pendingRows"] == 1300
    assert st["indexType"] == itype and st["metricType"] == metric
    _check_search(client, name, rows, metric, sparams, min_recall)
    # filtered at 10 % and 0.1 %: min(limit, passing) rows, all passing
    _check_search(client, name, rows, metric, sparams, max(0.0, min_recall - 0.2),
                  filt="num % 10 == 0", passes=lambda i: i % 10 == 0)
    _check_search(client, name, rows, metric, sparams, 1.0,
                  filt="num % 1000 == 0", passes=lambda i: i % 1000 == 0)
    client.ok("indexes/drop", {"collectionName": name, "indexName": "vi"})
    client.ok("collections/drop", {"collectionName": name})


BAD_BUILD = [
    ("HNSW", "L2", {"M": 1}),
    ("HNSW", "L2", {"M": 100000}),
    ("HNSW", "L2", {"efConstruction": 0}),
    ("HNSW", "L2", {"walk": "fp8"}),
    ("HNSW", "L2", {"quantizedWalk": False, "walk": "bf16"}),
    ("IVF_FLAT", "L2", {"nlist": 0}),
    ("IVF_FLAT", "L2", {"nlist": 65537}),
    ("IVF_SQ8", "L2", {"nlist": -1}),
    ("IVF_PQ", "L2", {"nlist": 16}),            # m missing
    ("IVF_PQ", "L2", {"nlist": 16, "m": 3}),    # 8 % 3 != 0
    ("SCANN", "L2", {"nlist": 0}),
    ("ANNOY", "L2", {"n_trees": 0}),
    ("HNSW", "HAMMING", {}),                    # binary metric on a float field
    ("NO_SUCH_INDEX", "L2", {}),
]


@pytest.mark.parametrize("itype,metric,params", BAD_BUILD,
                         ids=["%s-%d" % (b[0], i) for i, b in enumerate(BAD_BUILD)])
def test_out_of_range_build_params_1100(client, itype, metric, params):
    name = unique("bad")
    client.ok("collections/create", {
        "collectionName": name,
        "schema": {"fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}}]}})
    code, msg = client.err("indexes/create", {"collectionName": name, "indexParams": [
        {"fieldName": "v", "indexName": "vi", "metricType": metric, "indexType": itype,
         "params": params}]})
    assert code == 1100, (code, msg)
    assert msg
    assert client.ok("indexes/list", {"collectionName": name})["data"] == []


def test_diskann_701(client):
    name = unique("dk")
    client.ok("collections/create", {
        "collectionName": name,
        "schema": {"fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}}]}})
    code, msg = client.err("indexes/create", {"collectionName": name, "indexParams": [
        {"fieldName": "v", "indexName": "vi", "metricType": "L2", "indexType": "DISKANN",
         "params": {}}]})
    assert code == 701, (code, msg)
    assert "DISKANN" in msg


BAD_SEARCH = [
    ("HNSW", {"M": 8, "efConstruction": 64}, {"ef": 5}),          # ef < limit
    ("IVF_FLAT", {"nlist": 8}, {"nprobe": 0}),
    ("IVF_FLAT", {"nlist": 8}, {"nprobe": 65537}),
    ("SCANN", {"nlist": 8}, {"nprobe": 8, "reorder_k": 5}),       # reorder_k < limit
    ("ANNOY", {"n_trees": 4}, {"search_k": 5}),                   # search_k < limit
]


@pytest.mark.parametrize("itype,build,sparams", BAD_SEARCH,
                         ids=["%s-%d" % (b[0], i) for i, b in enumerate(BAD_SEARCH)])
def test_out_of_range_search_params_1100(client, itype, build, sparams):
    rows = _rows(False, 300)
    name = _make(client, itype, "L2", build, False)
    client.ok("entities/insert", {"collectionName": name, "data": rows})
    client.ok("collections/flush", {"collectionName": name})
    code, msg = client.err("entities/search", {
        "collectionName": name, "data": [rows[0]["v"]], "annsField": "v", "limit": K,
        "searchParams": {"metricType": "L2", "params": sparams}})
    assert code == 1100, (code, msg)
    assert msg
