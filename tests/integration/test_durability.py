"""Restart keeps data; concurrent clients; kill -9 during concurrent inserts loses no
acknowledged row (RELIABILITY.md A1, a short loop; the library-level loop is the db's)."""
import random
import threading
import time

from conftest import KiteServer, unique

KILL_CYCLES = 20


def create(c, name, dim=4):
    c.ok("collections/create", {"collectionName": name, "dimension": dim, "metricType": "L2"})


def all_ids(c, name, max_id=16000, step=8000):
    """Every pk in [0, max_id), queried in id ranges (a query returns at most 16384 rows)."""
    out = []
    for lo in range(0, max_id, step):
        got = c.ok("entities/query", {"collectionName": name,
                                      "filter": "id >= %d and id < %d" % (lo, lo + step),
                                      "outputFields": ["id"], "limit": 16384})["data"]
        out += [row["id"] for row in got]
    return out


def test_restart_keeps_data(fresh_dir):
    srv = KiteServer(fresh_dir).start()
    c = srv.client()
    create(c, "keep")
    c.ok("partitions/create", {"collectionName": "keep", "partitionName": "p"})
    c.ok("entities/insert", {"collectionName": "keep",
                             "data": [{"id": i, "vector": [i, 0, 0, 1], "note": "n%d" % i}
                                      for i in range(50)]})
    c.ok("entities/insert", {"collectionName": "keep", "partitionName": "p",
                             "data": [{"id": 100, "vector": [9, 9, 9, 9]}]})
    c.ok("entities/delete", {"collectionName": "keep", "filter": "id < 5"})
    c.ok("aliases/create", {"collectionName": "keep", "aliasName": "keep_alias"})
    assert srv.stop() == 0

    srv = KiteServer(fresh_dir).start()
    c = srv.client()
    try:
        c.ok("collections/load", {"collectionName": "keep"})
        assert sorted(all_ids(c, "keep")) == list(range(5, 50)) + [100]
        got = c.ok("entities/get", {"collectionName": "keep", "id": [7],
                                    "outputFields": ["note"]})["data"]
        assert got[0]["note"] == "n7"
        r = c.ok("entities/search", {"collectionName": "keep_alias", "data": [[7, 0, 0, 1]],
                                     "limit": 1})
        assert r["data"][0]["id"] == 7 and r["data"][0]["distance"] == 0
        assert sorted(c.ok("partitions/list", {"collectionName": "keep"})["data"]) == \
            ["_default", "p"]
    finally:
        assert srv.stop() == 0


def test_concurrent_clients(fresh_dir):
    srv = KiteServer(fresh_dir).start()
    c = srv.client()
    create(c, "conc")
    errors = []
    n_writers, batches, batch = 4, 20, 10

    def writer(w):
        cl = srv.client()
        try:
            for b in range(batches):
                base = (w * batches + b) * batch
                cl.ok("entities/insert", {"collectionName": "conc", "data": [
                    {"id": base + k, "vector": [base + k, 1, 2, 3]} for k in range(batch)]})
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    stop = threading.Event()

    def searcher():
        cl = srv.client()
        try:
            while not stop.is_set():
                r = cl.ok("entities/search", {"collectionName": "conc",
                                              "data": [[5, 1, 2, 3]], "limit": 5})
                assert len(r["topks"]) == 1
                cl.ok("entities/query", {"collectionName": "conc", "filter": "id < 50",
                                         "limit": 10})
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(n_writers)]
    searchers = [threading.Thread(target=searcher) for _ in range(2)]
    for t in threads + searchers:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    for t in searchers:
        t.join()
    try:
        assert not errors, errors[:3]
        total = n_writers * batches * batch
        r = c.ok("entities/query", {"collectionName": "conc", "filter": "",
                                    "outputFields": ["count(*)"]})
        assert r["data"] == [{"count(*)": total}]
        assert sorted(all_ids(c, "conc")) == list(range(total))
    finally:
        assert srv.stop() == 0


def test_kill9_during_inserts_loses_no_acked_row(fresh_dir):
    rng = random.Random(1234)
    srv = KiteServer(fresh_dir).start()
    create(srv.client(), "crash")
    acked, attempted = set(), set()
    lock = threading.Lock()
    next_id = [0]
    for cycle in range(KILL_CYCLES):
        stop = threading.Event()

        def writer():
            cl = srv.client(timeout=10)
            while not stop.is_set():
                with lock:
                    base = next_id[0]
                    next_id[0] += 5
                    ids = list(range(base, base + 5))
                    attempted.update(ids)
                try:
                    status, reply = cl.post("entities/insert", {"collectionName": "crash", "data": [
                        {"id": i, "vector": [i, 0, 0, 0]} for i in ids]})
                except OSError:
                    return  # server killed mid-request: not acked
                if status == 200 and reply.get("code") == 0:
                    with lock:
                        acked.update(ids)

        ts = [threading.Thread(target=writer) for _ in range(3)]
        for t in ts:
            t.start()
        time.sleep(rng.uniform(0.1, 0.6))
        srv.kill9()
        stop.set()
        for t in ts:
            t.join()
        srv = KiteServer(fresh_dir).start()
        c = srv.client()
        c.ok("collections/load", {"collectionName": "crash"})
        present = all_ids(c, "crash", max_id=next_id[0] + 1)
        assert len(present) == len(set(present)), "duplicate primary keys after restart"
        missing = acked - set(present)
        assert not missing, "cycle %d: %d acked rows lost, e.g. %s" % (
            cycle, len(missing), sorted(missing)[:10])
        assert set(present) <= attempted, "rows that were never sent appeared"
    assert len(acked) > 0
    print("kill -9 loop: %d cycles, %d rows attempted, %d acked, none lost"
          % (KILL_CYCLES, len(attempted), len(acked)))
    assert srv.stop() == 0
