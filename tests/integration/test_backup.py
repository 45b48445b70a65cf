"""`kite backup` / `kite restore` end to end (docs/BACKUP.md): an online backup through
a running server while clients insert, a restore, a server on the restored directory
with the same counts and search results; the offline form against a locked data
directory fails with a clear message.  Python 3 standard library + pytest."""
import json
import os
import subprocess
import threading

from conftest import KITE_BIN, KiteServer

BATCH = 10


def create(c, name, dim=4):
    c.ok("collections/create", {"collectionName": name, "dimension": dim, "metricType": "L2"})


def count(c, name):
    r = c.ok("entities/query", {"collectionName": name, "filter": "",
                                "outputFields": ["count(*)"]})
    return r["data"][0]["count(*)"]


def ids_in(c, name, lo, hi):
    r = c.ok("entities/query", {"collectionName": name,
                                "filter": "id >= %d and id < %d" % (lo, hi),
                                "outputFields": ["id"], "limit": 16384})
    return sorted(row["id"] for row in r["data"])


def search(c, name):
    r = c.ok("entities/search", {"collectionName": name, "data": [[3, 1, 2, 0], [50, 0, 1, 1]],
                                 "limit": 7})
    return [(row["id"], round(row["distance"], 5)) for row in r["data"]]


def run(*args, timeout=120):
    return subprocess.run([KITE_BIN] + list(args), capture_output=True, text=True,
                          timeout=timeout)


def test_online_backup_during_inserts_and_restore(tmp_path):
    data = str(tmp_path / "data")
    os.mkdir(data)
    srv = KiteServer(data).start()
    try:
        c = srv.client()
        create(c, "bk")
        create(c, "other")
        c.ok("entities/insert", {"collectionName": "other", "data": [
            {"id": i, "vector": [i, 1, 0, 0]} for i in range(100)]})
        c.ok("entities/delete", {"collectionName": "other", "filter": "id < 10"})
        acked = [0, 0]
        stop = threading.Event()
        errors = []

        def writer(w):
            cl = srv.client()
            b = 0
            try:
                while not stop.is_set():
                    base = w * 1000000 + b * BATCH
                    cl.ok("entities/insert", {"collectionName": "bk", "data": [
                        {"id": base + k, "vector": [base + k, 1, 2, 3]}
                        for k in range(BATCH)]})
                    b += 1
                    acked[w] = b
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(2)]
        for t in threads:
            t.start()
        while min(acked) < 20 and not errors:
            threading.Event().wait(0.01)
        before = list(acked)
        dest = str(tmp_path / "backup")
        r = run("backup", dest, "--server", "http://127.0.0.1:%d" % srv.port)
        after = list(acked)
        assert r.returncode == 0, r.stderr
        assert "files" in r.stdout, r.stdout
        # writes kept working during and after the backup
        while min(a - b for a, b in zip(acked, after)) < 3 and not errors:
            threading.Event().wait(0.01)
        stop.set()
        for t in threads:
            t.join()
        assert not errors, errors
        manifest = json.load(open(os.path.join(dest, "BACKUP")))
        assert manifest["format"] == "kite-backup"
        assert any(f["path"] == "catalog.kcat" for f in manifest["files"])
        other_search = search(c, "other")
        # a relative destination is refused by the CLI, a non-empty one by the server
        r = run("backup", "relative/dir", "--server", "http://127.0.0.1:%d" % srv.port)
        assert r.returncode == 2 and "absolute" in r.stderr, r.stderr
        r = run("backup", dest, "--server", "http://127.0.0.1:%d" % srv.port)
        assert r.returncode == 1 and "not empty" in r.stderr, r.stderr
        # offline backup while the server holds the lock: a clear error
        r = run("backup", str(tmp_path / "offline"), "--data-dir", data)
        assert r.returncode == 1
        assert "locked by a running kite server" in r.stderr and "--server" in r.stderr, r.stderr
        assert not os.path.exists(str(tmp_path / "offline"))
        # restore into the live data directory is refused
        r = run("restore", dest, data)
        assert r.returncode == 1 and "locked" in r.stderr, r.stderr
    finally:
        assert srv.stop() == 0, srv.stderr_text()

    restored = str(tmp_path / "restored")
    r = run("restore", dest, restored, "--plain")
    assert r.returncode == 0, r.stderr
    assert "restore:" in r.stderr and "100%" in r.stderr, r.stderr
    srv2 = KiteServer(restored).start()
    try:
        c = srv2.client()
        for w in range(2):
            got = ids_in(c, "bk", w * 1000000, (w + 1) * 1000000)
            n = len(got)
            assert n % BATCH == 0, n                      # whole batches only
            assert got == list(range(w * 1000000, w * 1000000 + n))  # a prefix
            assert before[w] * BATCH <= n <= after[w] * BATCH, (before, n, after)
        assert count(c, "other") == 90
        assert search(c, "other") == other_search
        c.ok("entities/insert", {"collectionName": "bk", "data": [
            {"id": 5000000, "vector": [1, 2, 3, 4]}]})
    finally:
        assert srv2.stop() == 0, srv2.stderr_text()


def test_offline_backup_restore_and_corruption(tmp_path):
    data = str(tmp_path / "data")
    os.mkdir(data)
    srv = KiteServer(data).start()
    c = srv.client()
    create(c, "t")
    c.ok("entities/insert", {"collectionName": "t", "data": [
        {"id": i, "vector": [i, 0, 1, 0]} for i in range(300)]})
    expect = search(c, "t")
    assert srv.stop() == 0
    dest = str(tmp_path / "bk")
    r = run("backup", dest, "--data-dir", data, "--plain")
    assert r.returncode == 0, r.stderr
    assert "backup:" in r.stderr and "100%" in r.stderr, r.stderr
    # flip a bit in the catalog copy: restore refuses before writing anything
    cat = os.path.join(dest, "catalog.kcat")
    raw = bytearray(open(cat, "rb").read())
    raw[len(raw) // 2] ^= 0x01
    open(cat, "wb").write(bytes(raw))
    r = run("restore", dest, str(tmp_path / "bad"))
    assert r.returncode == 1 and "damaged" in r.stderr, r.stderr
    assert not os.path.exists(str(tmp_path / "bad"))
    raw[len(raw) // 2] ^= 0x01
    open(cat, "wb").write(bytes(raw))
    good = str(tmp_path / "good")
    r = run("restore", dest, good)
    assert r.returncode == 0, r.stderr
    srv = KiteServer(good).start()
    try:
        c = srv.client()
        assert count(c, "t") == 300
        assert search(c, "t") == expect
    finally:
        assert srv.stop() == 0


def test_online_backup_requires_admin_when_auth_is_on(tmp_path):
    data = str(tmp_path / "data")
    os.mkdir(data)
    srv = KiteServer(data, ["--auth"]).start()
    try:
        root = srv.client(headers={"Authorization": "Bearer root:Milvus"})
        create(root, "a")
        root.ok("users/create", {"userName": "bob", "password": "bobsecret"})
        url = "http://127.0.0.1:%d" % srv.port
        status, reply = srv.client().post("/v2/kite/backup", {"dest": str(tmp_path / "x")})
        assert status == 401 and reply["code"] == 1800, (status, reply)
        r = run("backup", str(tmp_path / "b1"), "--server", url, "--token", "bob:bobsecret")
        assert r.returncode == 1 and "BackupRBAC" in r.stderr, r.stderr
        assert not os.path.exists(str(tmp_path / "b1"))
        r = run("backup", str(tmp_path / "b2"), "--server", url, "--token", "root:Milvus")
        assert r.returncode == 0, r.stderr
        assert os.path.exists(str(tmp_path / "b2" / "BACKUP"))
        reply = root.ok("/v2/kite/backup", {"dest": str(tmp_path / "b3")})
        assert reply["data"]["files"] >= 2 and reply["data"]["bytes"] > 0, reply
    finally:
        assert srv.stop() == 0, srv.stderr_text()
