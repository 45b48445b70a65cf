#!/usr/bin/env python3
"""Precision@10 of search-by-image on tuxpaint-stamps-default, by category.

Category = the first two folder levels under the stamps root (e.g. animals/birds);
only categories with at least 8 images count, and each of their images is a query.
Its 10 nearest other images come from the running server's "more like this"
endpoint (GET /api/similar/<id>/10, which leaves the query itself out), so the
whole stack is measured: model, stored vectors, index, search.  Precision@10 =
mean over queries of (hits in the same category) / 10.  Pass: >= 0.55.

usage: precision_at_10.py [--kite BIN] [--model ONNX] [--stamps DIR] [--data-dir DIR]
                          [--min 0.55] [--json OUT]
  --data-dir: reuse (or keep) an indexed data directory; default: a temporary one.
Exit status: 0 pass, 1 below the threshold, 2 setup problem, 77 skipped (no stamps or
no model), for CTest's SKIP_RETURN_CODE.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")


def category(path, stamps):
    rel = os.path.relpath(path, stamps).split(os.sep)
    return "/".join(rel[:2]) if len(rel) >= 3 else None


def http_json(url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def start_server(kite, data_dir, env):
    proc = subprocess.Popen([kite, "serve", "--port", "0", "--data-dir", data_dir,
                             "--log-level", "warn"], stdout=subprocess.PIPE, env=env)
    line = {}
    t = threading.Thread(target=lambda: line.setdefault("l", proc.stdout.readline().decode()))
    t.start()
    t.join(60)
    m = re.match(r"kite: listening on (http://\S+)", line.get("l", ""))
    if not m:
        proc.kill()
        raise SystemExit("server did not start: %r" % line.get("l"))
    return proc, m.group(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kite", default=os.environ.get("KITE_BIN", os.path.join(ROOT, "build", "kite")))
    ap.add_argument("--model", default=os.environ.get(
        "KITE_MODEL", os.path.join(ROOT, "models", "kite-mobilenetv2.onnx")))
    ap.add_argument("--stamps", default="/usr/share/tuxpaint/stamps")
    ap.add_argument("--data-dir")
    ap.add_argument("--min", type=float, default=0.55)
    ap.add_argument("--json")
    a = ap.parse_args()
    if not os.path.isdir(a.stamps) or not os.path.exists(a.model):
        print("SKIP: need %s (tuxpaint-stamps-default) and %s" % (a.stamps, a.model))
        return 77
    env = dict(os.environ, KITE_MODEL=a.model)
    tmp = None
    data_dir = a.data_dir
    if not data_dir:
        tmp = tempfile.TemporaryDirectory()
        data_dir = tmp.name
    subprocess.run([a.kite, "images", "index", a.stamps, "--data-dir", data_dir, "--quiet"],
                   check=True, env=env)
    proc, url = start_server(a.kite, data_dir, env)
    try:
        rows = http_json(url + "/v2/vectordb/entities/query",
                         {"collectionName": "images", "filter": "id >= 0",
                          "outputFields": ["path"], "limit": 16384})["data"]
        cat_of = {int(r["id"]): category(r["path"], a.stamps) for r in rows}
        sizes = collections.Counter(c for c in cat_of.values() if c)
        good = {c for c, n in sizes.items() if n >= 8}
        per_cat = collections.defaultdict(list)
        for id_, c in cat_of.items():
            if c not in good:
                continue
            hits = http_json("%s/api/similar/%d/10" % (url, id_))["results"]
            if len(hits) != 10:
                raise SystemExit("expected 10 results for %d, got %d" % (id_, len(hits)))
            per_cat[c].append(sum(cat_of.get(int(h["id"])) == c for h in hits) / 10.0)
    finally:
        proc.terminate()
        proc.wait(60)
    scores = [s for v in per_cat.values() for s in v]
    p10 = sum(scores) / len(scores)
    print("precision@10 = %.3f over %d queries in %d categories (threshold %.2f)"
          % (p10, len(scores), len(per_cat), a.min))
    for c in sorted(per_cat):
        v = per_cat[c]
        print("  %-32s %3d images  p@10 %.3f" % (c, len(v), sum(v) / len(v)))
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump({"precision_at_10": p10, "queries": len(scores),
                       "categories": {c: sum(v) / len(v) for c, v in per_cat.items()}}, f,
                      indent=1)
    return 0 if p10 >= a.min else 1


if __name__ == "__main__":
    sys.exit(main())
