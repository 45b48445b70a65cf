"""REST.md §10 quick-setup session, envelope rules, error codes, HTTP behaviour."""
import socket
import time

from conftest import KiteServer, unique


def test_quick_setup_session_exact(client):
    # REST.md §10, reply for reply (key order is irrelevant, so compare parsed JSON).
    name = unique("qs")
    assert client.ok("collections/create",
                     {"collectionName": name, "dimension": 4, "metricType": "L2"}) == \
        {"code": 0, "data": {}}
    r = client.ok("entities/insert", {"collectionName": name, "data": [
        {"id": 1, "vector": [0.1, 0.2, 0.3, 0.4], "color": "red"}]})
    assert r == {"code": 0, "cost": 0, "data": {"insertCount": 1, "insertIds": [1]}}
    r = client.ok("entities/search", {"collectionName": name, "data": [[0.1, 0.2, 0.3, 0.4]],
                                      "limit": 3, "outputFields": ["color"]})
    assert r == {"code": 0, "cost": 0, "data": [{"color": "red", "distance": 0, "id": 1}],
                 "topks": [1]}


def test_quick_setup_describe_and_defaults(client):
    name = unique("qsd")
    client.ok("collections/create", {"collectionName": name, "dimension": 8})
    d = client.ok("collections/describe", {"collectionName": name})["data"]
    assert d["collectionName"] == name
    assert d["shardsNum"] == 1
    assert d["enableDynamicField"] is True
    assert len(d["fields"]) == 2
    pk = [f for f in d["fields"] if f["primaryKey"]][0]
    assert pk["name"] == "id" and pk["type"] == "Int64"
    vec = [f for f in d["fields"] if f["type"] == "FloatVector"][0]
    assert vec["name"] == "vector"
    assert {"key": "dim", "value": "8"} in vec["params"]
    assert d["indexes"][0]["fieldName"] == "vector"
    assert d["indexes"][0]["metricType"] == "COSINE"
    assert d["load"] == "LoadStateLoaded"
    assert d["consistencyLevel"] == "Bounded"
    assert client.ok("collections/has", {"collectionName": name})["data"] == {"has": True}
    assert name in client.ok("collections/list", {})["data"]
    st = client.ok("collections/get_load_state", {"collectionName": name})["data"]
    assert st["loadState"] == "LoadStateLoaded"
    assert client.ok("indexes/list", {"collectionName": name})["data"] == ["vector"]


def test_quick_setup_varchar_pk_and_names(client):
    name = unique("qsv")
    client.ok("collections/create", {
        "collectionName": name, "dimension": 2, "idType": "VarChar", "primaryFieldName": "pk",
        "vectorFieldName": "emb", "params": {"max_length": 64, "enableDynamicField": False}})
    r = client.ok("entities/insert", {"collectionName": name,
                                      "data": [{"pk": "a", "emb": [1, 0]},
                                               {"pk": "b", "emb": [0, 1]}]})
    assert r["data"] == {"insertCount": 2, "insertIds": ["a", "b"]}
    r = client.ok("entities/search", {"collectionName": name, "data": [[1, 0]], "limit": 1,
                                      "annsField": "emb"})
    assert r["data"][0]["id"] == "a"
    r = client.ok("entities/get", {"collectionName": name, "id": "b"})
    assert [row["pk"] for row in r["data"]] == ["b"]


def test_collection_lifecycle(client):
    name, new = unique("life"), unique("life_new")
    client.ok("collections/create", {"collectionName": name, "dimension": 2})
    client.ok("collections/rename", {"collectionName": name, "newCollectionName": new})
    assert client.ok("collections/has", {"collectionName": name})["data"]["has"] is False
    assert client.ok("collections/has", {"collectionName": new})["data"]["has"] is True
    client.ok("collections/release", {"collectionName": new})
    st = client.ok("collections/get_load_state", {"collectionName": new})["data"]
    assert st == {"loadState": "LoadStateNotLoad"}
    client.ok("collections/load", {"collectionName": new})
    client.ok("collections/drop", {"collectionName": new})
    assert client.ok("collections/has", {"collectionName": new})["data"]["has"] is False
    # Dropping a collection that does not exist succeeds (Milvus semantics).
    client.ok("collections/drop", {"collectionName": new})


def test_databases(client):
    db = unique("db")
    client.ok("databases/create", {"dbName": db})
    assert db in client.ok("databases/list", {})["data"]
    assert "default" in client.ok("databases/list", {})["data"]
    assert client.ok("databases/describe", {"dbName": db})["data"]["dbName"] == db
    # Collections live per database; the DB-Name header selects it too.
    client.ok("collections/create", {"dbName": db, "collectionName": "in_db", "dimension": 2})
    assert client.ok("collections/list", {"dbName": db})["data"] == ["in_db"]
    assert client.ok("collections/list", {}, headers={"DB-Name": db})["data"] == ["in_db"]
    assert "in_db" not in client.ok("collections/list", {})["data"]
    client.ok("collections/drop", {"dbName": db, "collectionName": "in_db"})
    client.ok("databases/drop", {"dbName": db})
    assert db not in client.ok("databases/list", {})["data"]
    code, msg = client.err("collections/list", {"dbName": db})
    assert code == 800, msg


# ------------------------------------------------------------------ error codes

def test_error_collection_not_found_100(client):
    code, msg = client.err("collections/describe", {"collectionName": "no_such_coll"})
    assert code == 100
    assert "collection not found" in msg
    code, _ = client.err("entities/query", {"collectionName": "no_such_coll", "filter": "id > 0"})
    assert code == 100


def test_error_not_loaded_101(client):
    name = unique("nl")
    client.ok("collections/create", {"collectionName": name, "dimension": 2})
    client.ok("entities/insert", {"collectionName": name, "data": [{"id": 1, "vector": [1, 2]}]})
    client.ok("collections/release", {"collectionName": name})
    code, _ = client.err("entities/search", {"collectionName": name, "data": [[1, 2]],
                                             "limit": 1})
    assert code == 101
    code, _ = client.err("entities/query", {"collectionName": name, "filter": "id > 0"})
    assert code == 101


def test_error_invalid_parameter_1100(client):
    code, msg = client.err("collections/create", {"collectionName": unique("x")})
    assert code == 1100 and "dimension is required" in msg
    code, msg = client.err("collections/create", {"collectionName": unique("x"), "dimension": 4,
                                                  "idType": "Float"})
    assert code == 1100 and "idType" in msg
    code, msg = client.err("collections/create", {
        "collectionName": unique("x"),
        "schema": {"fields": [{"fieldName": "id", "dataType": "int64", "isPrimary": True}]}})
    assert code == 1100 and "case sensitive" in msg


def test_error_missing_parameter_1802(client):
    code, msg = client.err("collections/create", {"dimension": 4})
    assert code == 1802
    assert "CollectionName" in msg and "'required' tag" in msg
    code, _ = client.err("collections/describe", {})
    assert code == 1802
    code, _ = client.err("entities/insert", {"collectionName": "x"})
    assert code == 1802
    code, _ = client.err("entities/delete", {"collectionName": "x"})
    assert code == 1802


def test_error_not_json_1801(client):
    for body in (b"not json", b"", b"[1,2]", b"{\"collectionName\":", b"[" * 100000):
        status, reply = client.post("collections/describe", body)
        assert status == 200
        assert reply["code"] == 1801, (body[:20], reply)
    code, _ = client.err("collections/describe", {"collectionName": 5})
    assert code == 1801


def test_error_unknown_path_404(client):
    status, _, body = client.raw("POST", "/v2/vectordb/collections/nope", b"{}")
    assert status == 404
    status, _, _ = client.raw("POST", "/v1/vector/collections", b"{}")
    assert status == 404
    status, _, _ = client.raw("GET", "/v2/vectordb/collections/list")
    assert status == 404


def test_options_and_cors(client):
    status, headers, _ = client.raw("OPTIONS", "/v2/vectordb/collections/list")
    assert status == 204
    assert headers.get("Access-Control-Allow-Origin") == "*"
    status, headers, _ = client.raw("POST", "/v2/vectordb/collections/list", b"{}")
    assert status == 200
    assert headers.get("Access-Control-Allow-Origin") == "*"


def test_users_list_has_root_without_auth(client):
    reply = client.ok("users/list", {})
    assert "root" in reply["data"]


def test_body_too_large_413(fresh_dir):
    srv = KiteServer(fresh_dir, ["--max-body-bytes", "65536"]).start()
    try:
        c = srv.client()
        big = b'{"collectionName":"' + b"a" * 70000 + b'"}'
        status, _, _ = c.raw("POST", "/v2/vectordb/collections/has", big)
        assert status == 413
        # A chunked body is counted as it arrives.
        conn = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        conn.sendall(b"POST /v2/vectordb/collections/has HTTP/1.1\r\nHost: x\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"a" * 8192
        for _ in range(10):
            conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.sendall(b"0\r\n\r\n")
        reply = conn.recv(4096)
        conn.close()
        assert reply.startswith(b"HTTP/1.1 413"), reply[:100]
        # Just under the limit is served normally.
        status, reply = c.post("collections/has", {"collectionName": "a" * 100})
        assert status == 200 and reply["code"] == 0
    finally:
        assert srv.stop() == 0


def test_silent_connection_does_not_block_others(server, client):
    idle = socket.create_connection(("127.0.0.1", server.port))
    try:
        t0 = time.time()
        client.ok("collections/list", {})
        assert time.time() - t0 < 2.0
    finally:
        idle.close()


def test_http2_preface_goes_elsewhere(server, client):
    # A gRPC client's preface must not be answered by the HTTP/1.1 server.
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    data = b""
    try:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        s.sendall(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")  # empty SETTINGS frame
        data = s.recv(64)
    except (ConnectionResetError, BrokenPipeError, socket.timeout):
        pass  # closed: this build has no gRPC server
    s.close()
    assert not data.startswith(b"HTTP/1."), data
    client.ok("collections/list", {})


def _raw_exchange(port, raw):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(raw)
        return s.recv(200)
    except (ConnectionResetError, BrokenPipeError):
        return b""
    finally:
        s.close()


def test_header_limits(server):
    ok = b"Content-Length: 2\r\n\r\n{}"
    line = b"POST /v2/vectordb/collections/list HTTP/1.1\r\nHost: x\r\n"
    r = _raw_exchange(server.port, line + b"X-Big: " + b"a" * 70000 + b"\r\n" + ok)
    assert r.startswith(b"HTTP/1.1 431") or r.startswith(b"HTTP/1.1 400") or r == b"", r
    r = _raw_exchange(server.port, b"POST /v2/vectordb/collections/list?" + b"a" * 70000 +
                      b" HTTP/1.1\r\nHost: x\r\n" + ok)
    assert r.startswith(b"HTTP/1.1 414") or r.startswith(b"HTTP/1.1 431") or r == b"", r
    many = b"".join(b"H%d: v\r\n" % i for i in range(5000))
    r = _raw_exchange(server.port, line + many + ok)
    assert r.startswith(b"HTTP/1.1 431") or r.startswith(b"HTTP/1.1 400") or r == b"", r
    assert _raw_exchange(server.port, line + ok).startswith(b"HTTP/1.1 200")


def test_connection_cap(fresh_dir):
    srv = KiteServer(fresh_dir, ["--max-connections", "4"]).start()
    held = []
    try:
        # Four keep-alive HTTP connections fill the server.
        for _ in range(4):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            s.sendall(b"POST /v2/vectordb/collections/list HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 2\r\n\r\n{}")
            assert s.recv(200).startswith(b"HTTP/1.1 200")
            held.append(s)
        r = _raw_exchange(srv.port, b"POST /v2/vectordb/collections/list HTTP/1.1\r\n"
                                    b"Host: x\r\nContent-Length: 2\r\n\r\n{}")
        assert r == b"", r  # refused: closed without a reply
        for s in held:
            s.close()
        held = []
        time.sleep(0.5)
        srv.client().ok("collections/list", {})  # capacity comes back
    finally:
        for s in held:
            s.close()
        assert srv.stop() == 0


def _closed_within(sock, step, send, limit_s):
    """Send `send` every `step` s until the server closes; returns the seconds taken."""
    t0 = time.time()
    sock.settimeout(step)
    while time.time() - t0 < limit_s:
        try:
            sock.sendall(send)
            if sock.recv(100) == b"":
                break
        except socket.timeout:
            continue
        except OSError:
            break
    return time.time() - t0


def test_slow_clients_are_closed(fresh_dir):
    srv = KiteServer(fresh_dir, ["--idle-timeout", "2"]).start()
    try:
        # Slowloris: request headers one byte at a time never complete.
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"POST /v2/vectordb/collections/list HTTP/1.1\r\n")
        assert _closed_within(s, 0.4, b"X", 10) < 4.0
        s.close()
        # Slow POST: headers fine, the body trickles in.
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"POST /v2/vectordb/collections/list HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 100000\r\n\r\n")
        assert _closed_within(s, 0.3, b" ", 15) < 6.0
        s.close()
        # Meanwhile normal clients are served.
        srv.client().ok("collections/list", {})
    finally:
        assert srv.stop() == 0
