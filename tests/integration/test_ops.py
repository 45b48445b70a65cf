"""Partitions, aliases, indexes, deletes, upserts, range search, group-by, hybrid search."""
import math
import random

import pytest

from conftest import unique


def make_coll(client, dim=4, metric="L2", extra_fields=(), dynamic=True, index=True):
    name = unique("ops")
    fields = [{"fieldName": "id", "dataType": "Int64", "isPrimary": True},
              {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": dim}}]
    fields += list(extra_fields)
    body = {"collectionName": name,
            "schema": {"enableDynamicField": dynamic, "fields": fields}}
    if index:
        body["indexParams"] = [{"fieldName": "v", "metricType": metric, "indexType": "FLAT"}]
    client.ok("collections/create", body)
    return name


def count(client, name, filt="", parts=None):
    body = {"collectionName": name, "filter": filt, "outputFields": ["count(*)"]}
    if parts:
        body["partitionNames"] = parts
    return client.ok("entities/query", body)["data"][0]["count(*)"]


def test_partitions(client):
    name = make_coll(client)
    client.ok("partitions/create", {"collectionName": name, "partitionName": "p1"})
    parts = client.ok("partitions/list", {"collectionName": name})["data"]
    assert sorted(parts) == ["_default", "p1"]
    assert client.ok("partitions/has", {"collectionName": name,
                                        "partitionName": "p1"})["data"] == {"has": True}
    assert client.ok("partitions/has", {"collectionName": name,
                                        "partitionName": "zz"})["data"] == {"has": False}
    client.ok("entities/insert", {"collectionName": name, "partitionName": "p1",
                                  "data": [{"id": i, "v": [i, 0, 0, 0]} for i in range(10)]})
    client.ok("entities/insert", {"collectionName": name,
                                  "data": [{"id": i, "v": [i, 0, 0, 0]} for i in range(10, 15)]})
    client.ok("collections/load", {"collectionName": name})
    st = client.ok("partitions/get_stats", {"collectionName": name, "partitionName": "p1"})
    assert st["data"] == {"rowCount": 10}
    assert client.ok("collections/get_stats", {"collectionName": name})["data"] == {"rowCount": 15}
    r = client.ok("entities/search", {"collectionName": name, "data": [[12, 0, 0, 0]],
                                      "limit": 3, "partitionNames": ["p1"]})
    assert [row["id"] for row in r["data"]] == [9, 8, 7]
    assert count(client, name, parts=["p1"]) == 10
    assert count(client, name, parts=["_default"]) == 5
    code, _ = client.err("entities/search", {"collectionName": name, "data": [[1, 0, 0, 0]],
                                             "limit": 3, "partitionNames": ["nope"]})
    assert code == 200
    client.ok("partitions/release", {"collectionName": name, "partitionNames": ["p1"]})
    client.ok("partitions/load", {"collectionName": name, "partitionNames": ["p1"]})
    client.ok("partitions/release", {"collectionName": name, "partitionNames": ["p1"]})
    client.ok("partitions/drop", {"collectionName": name, "partitionName": "p1"})
    assert client.ok("partitions/list", {"collectionName": name})["data"] == ["_default"]
    code, _ = client.err("partitions/drop", {"collectionName": name, "partitionName": "_default"})
    assert code != 0


def test_aliases(client):
    a, b = make_coll(client), make_coll(client)
    alias = unique("al")
    client.ok("entities/insert", {"collectionName": a, "data": [{"id": 1, "v": [1, 0, 0, 0]}]})
    client.ok("entities/insert", {"collectionName": b, "data": [{"id": 2, "v": [1, 0, 0, 0]}]})
    client.ok("aliases/create", {"collectionName": a, "aliasName": alias})
    d = client.ok("aliases/describe", {"aliasName": alias})["data"]
    assert d == {"dbName": "default", "collectionName": a, "aliasName": alias}
    assert alias in client.ok("aliases/list", {})["data"]
    assert client.ok("aliases/list", {"collectionName": a})["data"] == [alias]
    r = client.ok("entities/search", {"collectionName": alias, "data": [[1, 0, 0, 0]],
                                      "limit": 1})
    assert r["data"][0]["id"] == 1
    code, _ = client.err("aliases/create", {"collectionName": b, "aliasName": alias})
    assert code == 1602
    client.ok("aliases/alter", {"collectionName": b, "aliasName": alias})
    r = client.ok("entities/query", {"collectionName": alias, "filter": "id > 0"})
    assert [row["id"] for row in r["data"]] == [2]
    client.ok("aliases/drop", {"aliasName": alias})
    code, _ = client.err("aliases/describe", {"aliasName": alias})
    assert code == 1600


def test_indexes(client):
    name = make_coll(client, index=False)
    assert client.ok("indexes/list", {"collectionName": name})["data"] == []
    d = client.ok("collections/describe", {"collectionName": name})["data"]
    assert d["load"] == "LoadStateNotLoad"
    client.ok("indexes/create", {"collectionName": name, "indexParams": [
        {"fieldName": "v", "indexName": "vi", "metricType": "IP", "indexType": "HNSW",
         "params": {"M": 8, "efConstruction": 64}}]})
    assert client.ok("indexes/list", {"collectionName": name})["data"] == ["vi"]
    info = client.ok("indexes/describe", {"collectionName": name, "indexName": "vi"})["data"]
    assert info[0]["indexName"] == "vi" and info[0]["fieldName"] == "v"
    assert info[0]["metricType"] == "IP" and info[0]["indexType"] == "HNSW"
    assert info[0]["indexState"] == "Finished"
    code, _ = client.err("indexes/describe", {"collectionName": name, "indexName": "zz"})
    assert code == 700
    code, _ = client.err("indexes/create", {"collectionName": name})
    assert code == 1802
    client.ok("indexes/drop", {"collectionName": name, "indexName": "vi"})
    assert client.ok("indexes/list", {"collectionName": name})["data"] == []


def test_delete_and_upsert(client):
    name = make_coll(client, extra_fields=[{"fieldName": "tag", "dataType": "VarChar",
                                            "elementTypeParams": {"max_length": 16}}])
    rows = [{"id": i, "v": [i, 1, 0, 0], "tag": "t%d" % i} for i in range(20)]
    client.ok("entities/insert", {"collectionName": name, "data": rows})
    assert count(client, name) == 20
    r = client.ok("entities/delete", {"collectionName": name, "filter": "id in [1, 2, 3, 100]"})
    assert r["data"]["deleteCount"] == 3
    assert count(client, name) == 17
    got = client.ok("entities/query", {"collectionName": name, "filter": "id < 5"})["data"]
    assert sorted(x["id"] for x in got) == [0, 4]
    r = client.ok("entities/search", {"collectionName": name, "data": [[2, 1, 0, 0]], "limit": 5})
    assert not {1, 2, 3} & {row["id"] for row in r["data"]}
    r = client.ok("entities/delete", {"collectionName": name, "filter": 'tag like "t1%"'})
    assert r["data"]["deleteCount"] == 10  # t10..t19 (t1 already gone)
    assert count(client, name) == 7
    # Upsert: replace one row, add one; pk values echoed back.
    target = client.ok("entities/query", {"collectionName": name, "filter": "id == 4",
                                          "outputFields": ["*"]})["data"][0]
    target["tag"] = "changed"
    r = client.ok("entities/upsert", {"collectionName": name,
                                      "data": [target, {"id": 50, "v": [0, 0, 0, 1],
                                                        "tag": "new"}]})
    assert r["data"]["upsertCount"] == 2
    assert r["data"]["upsertIds"] == [4, 50]
    assert count(client, name) == 8
    got = client.ok("entities/get", {"collectionName": name, "id": [4, 50],
                                     "outputFields": ["tag"]})["data"]
    assert {x["id"]: x["tag"] for x in got} == {4: "changed", 50: "new"}
    code, _ = client.err("entities/insert", {"collectionName": name,
                                             "data": [{"id": 1, "v": [1, 2], "tag": "x"}]})
    assert code == 1804


def test_range_search(client):
    name = make_coll(client, dim=2)
    pts = [[i * 0.5, 0.0] for i in range(20)]
    client.ok("entities/insert", {"collectionName": name,
                                  "data": [{"id": i, "v": p} for i, p in enumerate(pts)]})
    # L2 (squared): keep range_filter <= d < radius.
    r = client.ok("entities/search", {"collectionName": name, "data": [[0.0, 0.0]],
                                      "limit": 100,
                                      "searchParams": {"params": {"radius": 9.0,
                                                                  "range_filter": 1.0}}})
    want = sorted(i for i, p in enumerate(pts) if 1.0 <= p[0] ** 2 < 9.0)
    assert sorted(row["id"] for row in r["data"]) == want
    for row in r["data"]:
        assert 1.0 <= row["distance"] < 9.0
    # The 2.4 form: top-level params.
    r2 = client.ok("entities/search", {"collectionName": name, "data": [[0.0, 0.0]],
                                       "limit": 100,
                                       "params": {"radius": 9.0, "range_filter": 1.0}})
    assert sorted(row["id"] for row in r2["data"]) == want
    code, _ = client.err("entities/search", {"collectionName": name, "data": [[0.0, 0.0]],
                                             "limit": 10, "params": {"range_filter": 1.0}})
    assert code == 1801


def test_group_by_search(client):
    name = make_coll(client, dim=2, extra_fields=[{"fieldName": "cat", "dataType": "Int64"}])
    rows = [{"id": i, "v": [float(i), 0.0], "cat": i % 4} for i in range(40)]
    client.ok("entities/insert", {"collectionName": name, "data": rows})
    r = client.ok("entities/search", {"collectionName": name, "data": [[0.0, 0.0]], "limit": 3,
                                      "groupingField": "cat", "outputFields": ["cat"]})
    cats = [row["cat"] for row in r["data"]]
    assert len(cats) == 3 and len(set(cats)) == 3
    assert [row["id"] for row in r["data"]] == [0, 1, 2]
    r = client.ok("entities/search", {"collectionName": name, "data": [[0.0, 0.0]], "limit": 2,
                                      "groupingField": "cat", "groupSize": 2,
                                      "strictGroupSize": True, "outputFields": ["cat"]})
    assert sorted(row["id"] for row in r["data"]) == [0, 1, 4, 5]


def test_hybrid_search(client):
    name = unique("hyb")
    client.ok("collections/create", {
        "collectionName": name,
        "schema": {"fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "a", "dataType": "FloatVector", "elementTypeParams": {"dim": 2}},
            {"fieldName": "b", "dataType": "FloatVector", "elementTypeParams": {"dim": 2}},
            {"fieldName": "n", "dataType": "Int64"}]},
        "indexParams": [{"fieldName": "a", "metricType": "L2", "indexType": "FLAT"},
                        {"fieldName": "b", "metricType": "L2", "indexType": "FLAT"}]})
    rng = random.Random(3)
    rows = [{"id": i, "a": [rng.random(), rng.random()], "b": [rng.random(), rng.random()],
             "n": i} for i in range(30)]
    client.ok("entities/insert", {"collectionName": name, "data": rows})
    body = {"collectionName": name,
            "search": [{"data": [[0.5, 0.5]], "annsField": "a", "limit": 5},
                       {"data": [[0.1, 0.9]], "annsField": "b", "limit": 5}],
            "rerank": {"strategy": "rrf", "params": {"k": 5}}, "limit": 5,
            "outputFields": ["n"]}
    r = client.ok("entities/hybrid_search", body)
    assert len(r["data"]) == 5 and r["topks"] == [5]
    for row in r["data"]:
        assert isinstance(row["distance"], (int, float)) and row["n"] == row["id"]
    # RRF oracle: score(id) = sum 1/(k + rank) over the lists it appears in.
    def ranked(q, f):
        return sorted(range(30), key=lambda i: (rows[i][f][0] - q[0]) ** 2 +
                      (rows[i][f][1] - q[1]) ** 2)[:5]
    score = {}
    for lst in (ranked([0.5, 0.5], "a"), ranked([0.1, 0.9], "b")):
        for rank, i in enumerate(lst):
            score[i] = score.get(i, 0) + 1.0 / (5 + rank + 1)
    best = sorted(score.values(), reverse=True)[:5]
    assert [row["distance"] for row in r["data"]] == pytest.approx(best, rel=1e-4)
    r2 = client.ok("entities/advanced_search", body)
    assert [x["id"] for x in r2["data"]] == [x["id"] for x in r["data"]]
    body["rerank"] = {"strategy": "weighted", "params": {"weights": [1.0, 0.0]}}
    r3 = client.ok("entities/hybrid_search", body)
    assert len(r3["data"]) == 5


def test_search_nq_topks_and_empty(client):
    name = make_coll(client, dim=2)
    client.ok("entities/insert", {"collectionName": name,
                                  "data": [{"id": i, "v": [i, i]} for i in range(5)]})
    r = client.ok("entities/search", {"collectionName": name, "data": [[0, 0], [4, 4]],
                                      "limit": 2})
    assert r["topks"] == [2, 2]
    assert [row["id"] for row in r["data"]] == [0, 1, 4, 3]
    r = client.ok("entities/search", {"collectionName": name, "data": [[0, 0]], "limit": 2,
                                      "filter": "id > 100"})
    assert r["data"] == [] and r["topks"] == [0]
    r = client.ok("entities/search", {"collectionName": name, "data": [[0, 0]], "limit": 2,
                                      "offset": 1})
    assert [row["id"] for row in r["data"]] == [1, 2]
    code, _ = client.err("entities/search", {"collectionName": name, "data": [[0, 0, 0]],
                                             "limit": 2})
    assert code == 1100
    assert math.isfinite(r["data"][0]["distance"])
