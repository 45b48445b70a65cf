"""`kite embed`, `kite images index/search` and the web endpoints of `kite serve`.

Needs the default model (models/kite-mobilenetv2.onnx, made by scripts/setup.sh, or
$KITE_MODEL); without it every test here is skipped with that reason.  Test images
are generated on the fly (pure-Python PNG writer): three visually distinct families
(discs, stripes, checkerboards) in several colours and sizes, so "nearest images"
has a checkable answer.
"""
import json
import math
import os
import socket
import struct
import subprocess
import time
import zlib

import pytest

from conftest import KITE_BIN, ROOT, KiteServer

MODEL = os.environ.get("KITE_MODEL", os.path.join(ROOT, "models", "kite-mobilenetv2.onnx"))
pytestmark = pytest.mark.skipif(not os.path.exists(MODEL),
                                reason="model %s missing (run scripts/setup.sh)" % MODEL)
DIM = 576
COLOURS = [(220, 30, 30), (30, 160, 40), (30, 60, 220), (240, 170, 0)]


def png_bytes(w, h, pixel):
    """Encode an RGB PNG; pixel(x, y) -> (r, g, b)."""
    raw = bytearray()
    for y in range(h):
        raw.append(0)
        for x in range(w):
            raw.extend(pixel(x, y))

    def chunk(tag, data):
        c = struct.pack(">I", len(data)) + tag + data
        return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(raw), 6)) + chunk(b"IEND", b""))


def disc(colour, size):
    r = size * 0.35
    return lambda x, y: colour if math.hypot(x - size / 2, y - size / 2) < r else (255, 255, 255)


def stripes(colour, size):
    return lambda x, y: colour if (y // max(2, size // 12)) % 2 == 0 else (255, 255, 255)


def checker(colour, size):
    s = max(2, size // 8)
    return lambda x, y: colour if ((x // s) + (y // s)) % 2 == 0 else (20, 20, 20)


FAMILIES = {"disc": disc, "stripes": stripes, "checker": checker}


def make_gallery(root):
    """Write family/<family>_<i>.png for 3 families x 4 colours (sizes vary); return paths."""
    paths = {}
    for fam, fn in FAMILIES.items():
        d = os.path.join(root, fam)
        os.makedirs(d, exist_ok=True)
        for i, col in enumerate(COLOURS):
            size = 96 + 24 * i
            p = os.path.join(d, "%s_%d.png" % (fam, i))
            with open(p, "wb") as f:
                f.write(png_bytes(size, size, fn(col, size)))
            paths.setdefault(fam, []).append(p)
    return paths


def kite(*args, check=True, env=None):
    e = dict(os.environ)
    e["KITE_MODEL"] = MODEL
    e.update(env or {})
    p = subprocess.run([KITE_BIN] + list(args), capture_output=True, text=True, env=e,
                       timeout=600)
    if check:
        assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
    return p


def index_counts(stdout):
    """Parse the summary line of `kite images index`."""
    line = [l for l in stdout.splitlines() if l.startswith("indexed ")][-1]
    out = {}
    for key in ("added", "updated", "unchanged", "removed"):
        out[key] = int(line.split(" %s" % key)[0].rsplit(" ", 1)[-1])
    out["bad"] = int(line.split(" skipped as bad")[0].rsplit(" ", 1)[-1])
    out["files"] = int(line.split(" files,")[0].rsplit(" ", 1)[-1])
    return out


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("gallery"))
    paths = make_gallery(root)
    with open(os.path.join(root, "broken.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\nthis is not really a png")
    with open(os.path.join(root, "notes.txt"), "w") as f:
        f.write("not an image, ignored by extension\n")
    return root, paths


def test_embed_prints_unit_vectors(gallery, tmp_path):
    root, paths = gallery
    p = kite("embed", paths["disc"][0], paths["stripes"][0])
    lines = [json.loads(l) for l in p.stdout.splitlines()]
    assert [l["path"] for l in lines] == [paths["disc"][0], paths["stripes"][0]]
    for l in lines:
        assert len(l["embedding"]) == DIM
        assert abs(math.sqrt(sum(v * v for v in l["embedding"])) - 1.0) < 1e-3
    bad = kite("embed", os.path.join(root, "broken.png"), paths["disc"][1], check=False)
    assert bad.returncode == 1
    assert "broken.png" in bad.stderr
    assert len(bad.stdout.splitlines()) == 1  # the good file is still printed


def test_index_search_and_incremental(gallery, tmp_path):
    root, paths = gallery
    data = str(tmp_path / "data")
    first = kite("images", "index", root, "--data-dir", data, "--plain")
    c = index_counts(first.stdout)
    assert c == {"files": 13, "added": 12, "updated": 0, "unchanged": 0, "removed": 0, "bad": 1}
    assert "broken.png" in first.stderr and "warning" in first.stderr
    assert "progress:" in first.stderr  # plain progress lines when not on a terminal

    s = kite("images", "search", paths["disc"][0], "--data-dir", data, "--top", "4", "--json")
    hits = [json.loads(l) for l in s.stdout.splitlines()]
    assert len(hits) == 4
    assert hits[0]["path"] == paths["disc"][0] and hits[0]["distance"] < 1e-4
    assert [h["rank"] for h in hits] == [1, 2, 3, 4]
    assert all(a["distance"] <= b["distance"] for a, b in zip(hits, hits[1:]))
    # Discs of other colours are nearer than stripes or checkerboards.
    assert sum("/disc/" in h["path"] for h in hits[1:]) >= 2, hits

    text = kite("images", "search", paths["checker"][2], "--data-dir", data, "--top", "3")
    assert text.stdout.splitlines()[0].split()[-1] == paths["checker"][2]

    again = kite("images", "index", root, "--data-dir", data, "--quiet")
    assert index_counts(again.stdout)["unchanged"] == 12
    assert index_counts(again.stdout)["added"] == 0

    # Change one file (new content, new mtime), delete one, add one.
    time.sleep(0.01)
    with open(paths["stripes"][1], "wb") as f:
        f.write(png_bytes(100, 100, disc((10, 10, 10), 100)))
    os.remove(paths["checker"][3])
    with open(os.path.join(root, "disc", "extra.png"), "wb") as f:
        f.write(png_bytes(90, 90, disc((200, 0, 200), 90)))
    third = kite("images", "index", root, "--data-dir", data, "--quiet")
    c = index_counts(third.stdout)
    assert (c["added"], c["updated"], c["removed"], c["unchanged"]) == (1, 1, 1, 10), c
    s = kite("images", "search", paths["checker"][0], "--data-dir", data, "--top", "20",
             "--json")
    found = [json.loads(l)["path"] for l in s.stdout.splitlines()]
    assert len(found) == 12
    assert paths["checker"][3] not in found


def test_usage_errors(tmp_path):
    assert kite("images", check=False).returncode == 2
    assert kite("images", "frobnicate", check=False).returncode == 2
    assert kite("images", "index", check=False).returncode == 2
    p = kite("images", "search", "x.png", "--top", "zero", check=False)
    assert p.returncode == 2 and "--top" in p.stderr
    p = kite("images", "index", str(tmp_path / "missing"), "--data-dir", str(tmp_path / "d"),
             check=False)
    assert p.returncode == 1 and "missing" in p.stderr
    p = kite("images", "index", str(tmp_path), "--data-dir", str(tmp_path / "d"),
             "--model", str(tmp_path / "nope.onnx"), check=False)
    assert p.returncode == 1 and "nope.onnx" in p.stderr


def status_of_oversized_upload(port, length):
    """Announce a body of `length` bytes, send a little of it, return the HTTP status.

    The server answers 413 from the headers alone and closes, so a client that
    insisted on sending everything would only see a broken pipe."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sk:
        sk.sendall(b"POST /api/search/5 HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                   b"Content-Length: %d\r\n\r\n\x89PNG" % length)
        reply = b""
        while b"\r\n" not in reply:
            chunk = sk.recv(4096)
            if not chunk:
                break
            reply += chunk
    return int(reply.split(b" ", 2)[1])


@pytest.fixture
def web_server(gallery, tmp_path):
    root, paths = gallery
    data = str(tmp_path / "webdata")
    kite("images", "index", root, "--data-dir", data, "--quiet")
    os.environ["KITE_MODEL"] = MODEL
    srv = KiteServer(data).start()
    yield srv, paths
    assert srv.stop() == 0, srv.stderr_text()


def test_web_endpoints(web_server):
    srv, paths = web_server
    c = srv.client()
    st, h, body = c.raw("GET", "/")
    assert st == 200 and h["Content-Type"].startswith("text/html") and b"drop" in body
    st, h, body = c.raw("GET", "/static/app.js")
    assert st == 200 and "javascript" in h["Content-Type"]
    st, _, body = c.raw("GET", "/api/status")
    status = json.loads(body)
    assert st == 200 and status["count"] == 12 and status["collection"] == "images"

    img = open(paths["stripes"][0], "rb").read()
    st, _, body = c.raw("POST", "/api/search/5", img, {"Content-Type": "image/png"})
    res = json.loads(body)
    assert st == 200, res
    assert len(res["results"]) == 5
    top = res["results"][0]
    assert top["name"] == os.path.basename(paths["stripes"][0]) and top["distance"] < 1e-4

    st, h, thumb = c.raw("GET", "/api/thumb/%d" % top["id"])
    assert st == 200 and h["Content-Type"] == "image/jpeg" and thumb[:3] == b"\xff\xd8\xff"
    st, h, orig = c.raw("GET", "/api/image/%d" % top["id"])
    assert st == 200 and h["Content-Type"] == "image/png" and orig == img

    st, _, body = c.raw("GET", "/api/similar/%d/3" % top["id"])
    sim = json.loads(body)
    assert st == 200 and len(sim["results"]) == 3
    assert all(r["id"] != top["id"] for r in sim["results"])  # the query itself is left out

    # Errors: bad image, empty body, oversized upload, bad ids, unknown ids, bad k.
    st, _, body = c.raw("POST", "/api/search/5", b"GIF89a-not-really")
    assert st == 400 and "error" in json.loads(body)
    st, _, body = c.raw("POST", "/api/search/5", b"hello")
    assert st == 400 and "not an image" in json.loads(body)["error"]
    st, _, _ = c.raw("POST", "/api/search/5", b"")
    assert st == 400
    assert status_of_oversized_upload(srv.port, 21 << 20) == 413
    for path in ("/api/thumb/abc", "/api/thumb/-1", "/api/image/..%2f..%2fetc%2fpasswd",
                 "/api/similar/1/0", "/api/thumb/99999999999999999999"):
        st, _, _ = c.raw("GET", path)
        assert st == 400, path
    st, _, _ = c.raw("GET", "/api/thumb/12345")
    assert st == 404
    st, _, _ = c.raw("GET", "/api/nothing")
    assert st == 404
    st, _, _ = c.raw("POST", "/api/search/0", img)
    assert st == 400


def test_index_through_server_reports_progress(gallery, tmp_path):
    root, paths = gallery
    srv = KiteServer(str(tmp_path / "srvdata")).start()
    try:
        url = "http://127.0.0.1:%d" % srv.port
        p = kite("images", "index", root, "--server", url, "--collection", "viaRest", "--plain")
        c = index_counts(p.stdout)
        n_png = sum(1 for _, _, files in os.walk(root) for f in files
                    if f.endswith(".png") and f != "broken.png")
        assert c["added"] == n_png and c["bad"] == 1, c
        s = kite("images", "search", paths["disc"][2], "--server", url, "--collection",
                 "viaRest", "--json", "--top", "2")
        hits = [json.loads(l) for l in s.stdout.splitlines()]
        assert hits[0]["path"] == paths["disc"][2]
        st, _, body = srv.client().raw("GET", "/api/status")
        job = json.loads(body)["index_job"]
        assert job["state"] == "done" and job["done"] == job["total"]
        again = kite("images", "index", root, "--server", url, "--collection", "viaRest",
                     "--quiet")
        assert index_counts(again.stdout)["added"] == 0
    finally:
        assert srv.stop() == 0, srv.stderr_text()
