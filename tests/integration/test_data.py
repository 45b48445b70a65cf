"""Custom schemas with every field type, metric values vs a brute-force oracle,
filter expressions vs a Python evaluation, and the Int64-as-string header."""
import base64
import json
import math
import random
import struct

import pytest

from conftest import unique


def f16_bytes(values):
    return b"".join(struct.pack("<e", v) for v in values)


def bf16_bytes(values):
    # Exactly representable values only (the top 16 bits of the float32).
    return b"".join(struct.pack("<I", struct.unpack("<I", struct.pack("<f", v))[0])[2:]
                    for v in values)


ALL_TYPES_SCHEMA = {
    "autoID": False,
    "enableDynamicField": True,
    "fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "b", "dataType": "Bool"},
        {"fieldName": "i8", "dataType": "Int8"},
        {"fieldName": "i16", "dataType": "Int16"},
        {"fieldName": "i32", "dataType": "Int32"},
        {"fieldName": "f", "dataType": "Float"},
        {"fieldName": "d", "dataType": "Double"},
        {"fieldName": "s", "dataType": "VarChar", "elementTypeParams": {"max_length": 64}},
        {"fieldName": "j", "dataType": "JSON"},
        {"fieldName": "ai", "dataType": "Array", "elementDataType": "Int32",
         "elementTypeParams": {"max_capacity": 8}},
        {"fieldName": "as", "dataType": "Array", "elementDataType": "VarChar",
         "elementTypeParams": {"max_capacity": 4, "max_length": 16}},
        {"fieldName": "fv", "dataType": "FloatVector", "elementTypeParams": {"dim": 4}},
        {"fieldName": "bv", "dataType": "BinaryVector", "elementTypeParams": {"dim": 16}},
        {"fieldName": "hv", "dataType": "Float16Vector", "elementTypeParams": {"dim": 4}},
        {"fieldName": "bfv", "dataType": "BFloat16Vector", "elementTypeParams": {"dim": 4}},
    ],
}
ALL_TYPES_INDEXES = [
    {"fieldName": "fv", "indexName": "fv_idx", "metricType": "L2", "indexType": "FLAT"},
    {"fieldName": "bv", "metricType": "HAMMING", "indexType": "BIN_FLAT"},
    {"fieldName": "hv", "metricType": "L2", "indexType": "FLAT"},
    {"fieldName": "bfv", "metricType": "IP", "indexType": "FLAT"},
]


def all_types_row(i):
    return {
        "id": i, "b": i % 2 == 0, "i8": -i, "i16": 300 + i, "i32": 70000 + i,
        "f": 0.5 + i, "d": 1.25 * i, "s": "str%d" % i,
        "j": {"k": i, "nested": {"x": [1, 2]}}, "ai": [i, i + 1], "as": ["a%d" % i],
        "fv": [float(i), 0.5, -1.0, 2.0], "bv": [i, 255 - i],
        "hv": [0.5, 1.0, -2.0, float(i)], "bfv": [0.25, -1.0, 2.0, float(i)],
        "extra": "dyn%d" % i,
    }


def test_custom_schema_every_field_type(client):
    name = unique("types")
    client.ok("collections/create", {"collectionName": name, "schema": ALL_TYPES_SCHEMA,
                                     "indexParams": ALL_TYPES_INDEXES})
    d = client.ok("collections/describe", {"collectionName": name})["data"]
    types = {f["name"]: f["type"] for f in d["fields"]}
    assert types == {"id": "Int64", "b": "Bool", "i8": "Int8", "i16": "Int16", "i32": "Int32",
                     "f": "Float", "d": "Double", "s": "VarChar", "j": "JSON", "ai": "Array",
                     "as": "Array", "fv": "FloatVector", "bv": "BinaryVector",
                     "hv": "Float16Vector", "bfv": "BFloat16Vector"}
    ai = [f for f in d["fields"] if f["name"] == "ai"][0]
    assert ai["elementType"] == "Int32"
    assert d["enableDynamicField"] is True
    assert d["load"] == "LoadStateLoaded"
    rows = [all_types_row(i) for i in range(1, 6)]
    r = client.ok("entities/insert", {"collectionName": name, "data": rows})
    assert r["data"]["insertCount"] == 5
    assert sorted(r["data"]["insertIds"]) == [1, 2, 3, 4, 5]
    got = client.ok("entities/query", {"collectionName": name, "filter": "id in [2, 3]",
                                       "outputFields": ["*"]})["data"]
    assert sorted(row["id"] for row in got) == [2, 3]
    for row in got:
        exp = all_types_row(row["id"])
        for k in ("b", "i8", "i16", "i32", "s", "ai", "as", "extra"):
            assert row[k] == exp[k], (k, row[k], exp[k])
        assert math.isclose(row["f"], exp["f"], rel_tol=1e-6)
        assert math.isclose(row["d"], exp["d"], rel_tol=1e-12)
        # Declared JSON fields come back as JSON text (Milvus 2.4/2.5 REST).
        assert isinstance(row["j"], str) and json.loads(row["j"]) == exp["j"]
        assert row["fv"] == exp["fv"]
        assert base64.b64decode(row["bv"]) == bytes(exp["bv"])
        assert base64.b64decode(row["hv"]) == f16_bytes(exp["hv"])
        assert base64.b64decode(row["bfv"]) == bf16_bytes(exp["bfv"])
    # Base64 input for binary/f16/bf16 vectors is accepted too.
    row = all_types_row(9)
    row["bv"] = base64.b64encode(bytes([9, 246])).decode()
    row["hv"] = base64.b64encode(f16_bytes(all_types_row(9)["hv"])).decode()
    client.ok("entities/insert", {"collectionName": name, "data": [row]})
    got = client.ok("entities/get", {"collectionName": name, "id": 9,
                                     "outputFields": ["bv", "hv"]})["data"]
    assert base64.b64decode(got[0]["bv"]) == bytes([9, 246])
    assert base64.b64decode(got[0]["hv"]) == f16_bytes(all_types_row(9)["hv"])
    # Search every vector field.
    for field, q in (("fv", [[1.0, 0.5, -1.0, 2.0]]), ("bv", [[1, 254]]),
                     ("hv", [[0.5, 1.0, -2.0, 1.0]]), ("bfv", [[0.25, -1.0, 2.0, 1.0]])):
        r = client.ok("entities/search", {"collectionName": name, "annsField": field,
                                          "data": q, "limit": 3, "outputFields": ["s"]})
        assert r["topks"] == [3], (field, r)
        assert len(r["data"]) == 3
        if field in ("fv", "bv", "hv"):
            assert r["data"][0]["id"] == 1 and r["data"][0]["distance"] == 0, (field, r)


# ------------------------------------------------------------------ metrics

def l2(a, b):
    return sum((x - y) ** 2 for x, y in zip(a, b))


def ip(a, b):
    return sum(x * y for x, y in zip(a, b))


def cosine(a, b):
    return ip(a, b) / (math.sqrt(ip(a, a)) * math.sqrt(ip(b, b)))


def hamming(a, b):
    return sum(bin(x ^ y).count("1") for x, y in zip(a, b))


def jaccard(a, b):
    inter = sum(bin(x & y).count("1") for x, y in zip(a, b))
    union = sum(bin(x | y).count("1") for x, y in zip(a, b))
    return 1.0 - inter / union if union else 0.0


@pytest.mark.parametrize("metric,fn,desc", [("L2", l2, False), ("IP", ip, True),
                                            ("COSINE", cosine, True)])
def test_float_metrics_vs_bruteforce(client, metric, fn, desc):
    rng = random.Random(42)
    dim, n = 8, 60
    vecs = [[rng.uniform(-1, 1) for _ in range(dim)] for _ in range(n)]
    name = unique("m" + metric)
    client.ok("collections/create", {
        "collectionName": name,
        "schema": {"fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": dim}}]},
        "indexParams": [{"fieldName": "v", "metricType": metric, "indexType": "FLAT"}]})
    client.ok("entities/insert", {"collectionName": name,
                                  "data": [{"id": i, "v": v} for i, v in enumerate(vecs)]})
    queries = [[rng.uniform(-1, 1) for _ in range(dim)] for _ in range(3)]
    r = client.ok("entities/search", {"collectionName": name, "data": queries, "limit": 10})
    assert r["topks"] == [10, 10, 10]
    for qi, q in enumerate(queries):
        rows = r["data"][qi * 10:(qi + 1) * 10]
        oracle = sorted(range(n), key=lambda i: fn(q, vecs[i]), reverse=desc)[:10]
        assert [row["id"] for row in rows] == oracle, (metric, qi)
        for row in rows:
            assert math.isclose(row["distance"], fn(q, vecs[row["id"]]), rel_tol=1e-4,
                                abs_tol=1e-5)


@pytest.mark.parametrize("metric,fn", [("HAMMING", hamming), ("JACCARD", jaccard)])
def test_binary_metrics_vs_bruteforce(client, metric, fn):
    rng = random.Random(7)
    nbytes, n = 4, 60
    vecs = [[rng.randrange(256) for _ in range(nbytes)] for _ in range(n)]
    name = unique("b" + metric)
    client.ok("collections/create", {
        "collectionName": name,
        "schema": {"fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "v", "dataType": "BinaryVector",
             "elementTypeParams": {"dim": nbytes * 8}}]},
        "indexParams": [{"fieldName": "v", "metricType": metric, "indexType": "BIN_FLAT"}]})
    client.ok("entities/insert", {"collectionName": name,
                                  "data": [{"id": i, "v": v} for i, v in enumerate(vecs)]})
    q = [rng.randrange(256) for _ in range(nbytes)]
    r = client.ok("entities/search", {"collectionName": name, "data": [q], "limit": 10})
    rows = r["data"]
    oracle = sorted(fn(q, v) for v in vecs)[:10]
    assert [row["distance"] for row in rows] == pytest.approx(oracle, abs=1e-5)
    for row in rows:
        assert row["distance"] == pytest.approx(fn(q, vecs[row["id"]]), abs=1e-5)


# ------------------------------------------------------------------ filters

def filter_rows():
    rows = []
    for i in range(1, 41):
        row = {"id": i, "age": i % 25, "score": i / 8.0, "name": ("ab" if i % 3 else "cd") + str(i),
               "flag": i % 4 == 0, "tags": [i % 5, (i * 7) % 11],
               "meta": {"k": i % 6, "grp": "g%d" % (i % 3), "arr": [i % 3, 9]}, "v": [float(i), 1.0]}
        if i % 5 == 0:
            row["meta"]["opt"] = True
        row["extra"] = i * 10  # dynamic field
        rows.append(row)
    return rows


FILTERS = [
    ("age > 10", lambda r: r["age"] > 10),
    ("age >= 10 and age < 20", lambda r: 10 <= r["age"] < 20),
    ("10 < age <= 20", lambda r: 10 < r["age"] <= 20),
    ("age in [1, 2, 3]", lambda r: r["age"] in (1, 2, 3)),
    ("age not in [1, 2, 3]", lambda r: r["age"] not in (1, 2, 3)),
    ("id in []", lambda r: False),
    ("age != 7", lambda r: r["age"] != 7),
    ("not (age > 5)", lambda r: not r["age"] > 5),
    ("age > 3 && age < 8 || age == 20", lambda r: 3 < r["age"] < 8 or r["age"] == 20),
    ("age % 2 == 0", lambda r: r["age"] % 2 == 0),
    ("age + 1 == 5", lambda r: r["age"] + 1 == 5),
    ("age * 2 > 30", lambda r: r["age"] * 2 > 30),
    ("score > 2.5", lambda r: r["score"] > 2.5),
    ("score <= 1.0 or score >= 4.5", lambda r: r["score"] <= 1.0 or r["score"] >= 4.5),
    ('name like "ab%"', lambda r: r["name"].startswith("ab")),
    ('name like "%1"', lambda r: r["name"].endswith("1")),
    ('name == "cd3"', lambda r: r["name"] == "cd3"),
    ('name > "cd"', lambda r: r["name"] > "cd"),
    ("flag", lambda r: r["flag"]),
    ("flag == false", lambda r: not r["flag"]),
    ("flag == true or age < 3", lambda r: r["flag"] or r["age"] < 3),
    ('meta["k"] == 3', lambda r: r["meta"]["k"] == 3),
    ('meta["k"] > 2 and meta["grp"] == "g1"', lambda r: r["meta"]["k"] > 2 and
     r["meta"]["grp"] == "g1"),
    ('exists meta["opt"]', lambda r: "opt" in r["meta"]),
    ('json_contains(meta["arr"], 2)', lambda r: 2 in r["meta"]["arr"]),
    ("array_contains(tags, 3)", lambda r: 3 in r["tags"]),
    ("array_contains_any(tags, [1, 2])", lambda r: 1 in r["tags"] or 2 in r["tags"]),
    ("array_contains_all(tags, [0, 0])", lambda r: 0 in r["tags"]),
    ("array_length(tags) == 2", lambda r: len(r["tags"]) == 2),
    ("tags[0] == 1", lambda r: r["tags"][0] == 1),
    ("extra > 250", lambda r: r["extra"] > 250),
    ('$meta["extra"] <= 50', lambda r: r["extra"] <= 50),
    ("id in [1, 2, 39] and age > 1", lambda r: r["id"] in (1, 2, 39) and r["age"] > 1),
]


@pytest.fixture(scope="module")
def filter_coll(client):
    name = unique("flt")
    client.ok("collections/create", {
        "collectionName": name,
        "schema": {"enableDynamicField": True, "fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "age", "dataType": "Int32"},
            {"fieldName": "score", "dataType": "Double"},
            {"fieldName": "name", "dataType": "VarChar", "elementTypeParams": {"max_length": 32}},
            {"fieldName": "flag", "dataType": "Bool"},
            {"fieldName": "tags", "dataType": "Array", "elementDataType": "Int64",
             "elementTypeParams": {"max_capacity": 4}},
            {"fieldName": "meta", "dataType": "JSON"},
            {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": 2}}]},
        "indexParams": [{"fieldName": "v", "metricType": "L2", "indexType": "FLAT"}]})
    client.ok("entities/insert", {"collectionName": name, "data": filter_rows()})
    return name


@pytest.mark.parametrize("expr,pred", FILTERS, ids=[f[0] for f in FILTERS])
def test_filter_expressions(client, filter_coll, expr, pred):
    want = sorted(r["id"] for r in filter_rows() if pred(r))
    got = client.ok("entities/query", {"collectionName": filter_coll, "filter": expr,
                                       "outputFields": ["id"], "limit": 1000})["data"]
    assert sorted(r["id"] for r in got) == want
    # The same filter restricts a search.
    r = client.ok("entities/search", {"collectionName": filter_coll, "data": [[0.0, 1.0]],
                                      "filter": expr, "limit": 100})
    assert sorted(row["id"] for row in r["data"]) == want
    assert r["topks"] == [len(want)]


def test_filter_syntax_error_is_1100(client, filter_coll):
    code, _ = client.err("entities/query", {"collectionName": filter_coll,
                                            "filter": "age >> 2 ((", "limit": 10})
    assert code == 1100


def test_count_star(client, filter_coll):
    r = client.ok("entities/query", {"collectionName": filter_coll, "filter": "",
                                     "outputFields": ["count(*)"]})
    assert r["data"] == [{"count(*)": 40}]
    r = client.ok("entities/query", {"collectionName": filter_coll, "filter": "age > 10",
                                     "outputFields": ["count(*)"]})
    assert r["data"] == [{"count(*)": len([x for x in filter_rows() if x["age"] > 10])}]


def test_query_limit_offset_and_dynamic_output(client, filter_coll):
    r = client.ok("entities/query", {"collectionName": filter_coll, "filter": "id > 0",
                                     "limit": 5, "offset": 2, "outputFields": ["extra", "age"]})
    assert len(r["data"]) == 5
    for row in r["data"]:
        assert set(row) == {"id", "extra", "age"}
        assert row["extra"] == row["id"] * 10
    code, _ = client.err("entities/query", {"collectionName": filter_coll, "filter": ""})
    assert code == 1100  # empty expression needs a limit


def test_int64_as_string_header(client):
    name = unique("i64")
    client.ok("collections/create", {"collectionName": name, "dimension": 2})
    big = 2 ** 62 + 12345
    hdr = {"Accept-Type-Allow-Int64": "false"}
    r = client.ok("entities/insert", {"collectionName": name,
                                      "data": [{"id": big, "vector": [1, 2], "n": 7}]},
                  headers=hdr)
    assert r["data"]["insertIds"] == [str(big)]
    r = client.ok("entities/query", {"collectionName": name, "filter": "id > 0"}, headers=hdr)
    assert r["data"][0]["id"] == str(big)
    r = client.ok("entities/search", {"collectionName": name, "data": [[1, 2]], "limit": 1},
                  headers=hdr)
    assert r["data"][0]["id"] == str(big)
    # Default (header absent) and "true": numbers.
    r = client.ok("entities/query", {"collectionName": name, "filter": "id > 0"})
    assert r["data"][0]["id"] == big
    r = client.ok("entities/get", {"collectionName": name, "id": [str(big)]},
                  headers={"Accept-Type-Allow-Int64": "true"})
    assert r["data"][0]["id"] == big
