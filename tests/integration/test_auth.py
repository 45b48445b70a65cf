"""Authentication and RBAC of `kite serve --auth` over REST (issue #5 §2).

The route list comes from the server's own tables: server/rest/rest.c (g_routes)
for the paths and server/auth.c (g_rest) for the privilege each one needs, so a
route added there is covered here without editing this file.
"""
import base64
import json
import os
import re
import signal
import time
import urllib.request

import pytest

from conftest import KiteServer, ROOT, unique

ROOT_AUTH = {"Authorization": "Bearer root:Milvus"}
PUBLIC_PRIVILEGES = {"DescribeCollection", "ShowCollections", "IndexDetail", "ListDatabases"}


def _routes():
    src = open(os.path.join(ROOT, "server", "rest", "rest.c")).read()
    table = src[src.index("g_routes[]"):]
    table = table[:table.index("};")]
    return re.findall(r'\{"([a-z_]+/[a-z_0-9]+)",\s*rest_', table)


def _needs():
    src = open(os.path.join(ROOT, "server", "auth.c")).read()
    table = src[src.index("g_rest[]"):]
    table = table[:table.index("};")]
    return {m[0]: (m[1], m[2], m[3] == "true")
            for m in re.findall(r'\{"([a-z_/0-9]+)",\s*\{(G|C),\s*"(\w+)",\s*(true|false)\}\}',
                                table)}


ROUTES = _routes()
NEEDS = _needs()


def test_tables_are_complete():
    assert len(ROUTES) >= 50, ROUTES
    missing = [r for r in ROUTES if r not in NEEDS]
    assert not missing, "routes without a privilege in server/auth.c: %s" % missing


def basic(user, pw):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()}


def bearer(user, pw):
    return {"Authorization": "Bearer %s:%s" % (user, pw)}


class AuthServer(KiteServer):
    """KiteServer that also parses the metrics line."""

    def start(self):
        super().start()
        line = self.proc.stdout.readline().decode().strip()
        m = re.match(r"kite: metrics on http://(\S+):(\d+)$", line)
        assert m, line
        self.metrics_port = int(m.group(2))
        return self


@pytest.fixture(scope="module")
def asrv(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("auth"))
    srv = AuthServer(d, ["--auth", "--metrics-port", "0"]).start()
    c = srv.client(headers=ROOT_AUTH)
    c.ok("collections/create", {"collectionName": "acoll", "dimension": 4})
    c.ok("users/create", {"userName": "bob", "password": "bobsecret"})
    yield srv
    assert srv.stop() == 0, srv.stderr_text()


def _body(route, user="victim"):
    return {"collectionName": "acoll", "userName": user, "roleName": "nosuchrole"}


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_needs_credentials(asrv, route):
    c = asrv.client()
    for headers in ({}, bearer("root", "wrong"), bearer("nobody", "Milvus"), basic("root", "x"),
                    {"Authorization": "Bearer rootMilvus"},  # API key form: none exist
                    {"Authorization": "Basic !!!notbase64"},
                    {"Authorization": "Digest root:Milvus"}):
        status, reply = c.post(route, _body(route), headers=headers)
        assert status == 401, (route, headers, status, reply)
        assert reply == {"code": 1800, "message": "user hasn't authenticated"}, reply


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_accepts_root(asrv, route):
    for headers in (ROOT_AUTH, basic("root", "Milvus")):
        status, reply = asrv.client().post(route, _body(route), headers=headers)
        assert status == 200, (route, status, reply)
        assert isinstance(reply, dict) and reply.get("code") not in (1800, 1401), reply


@pytest.mark.parametrize("route", ROUTES)
def test_role_mismatch_is_403(asrv, route):
    """bob has only the public role: everything else is 403 / 1401."""
    obj_type, priv, self_ok = NEEDS[route]
    body = _body(route, "bob")
    status, reply = asrv.client(headers=bearer("bob", "bobsecret")).post(route, body)
    allowed = priv in PUBLIC_PRIVILEGES or (self_ok and body.get("userName") == "bob")
    if allowed:
        assert status == 200 and reply.get("code") not in (1800, 1401), (route, reply)
    else:
        assert status == 403, (route, status, reply)
        assert reply["code"] == 1401 and priv in reply["message"], reply


def test_grants_scope_to_a_collection(asrv):
    root = asrv.client(headers=ROOT_AUTH)
    user, role, mine, other = unique("u"), unique("r"), unique("c"), unique("c")
    root.ok("users/create", {"userName": user, "password": "pw123456"})
    root.ok("collections/create", {"collectionName": mine, "dimension": 4})
    root.ok("collections/create", {"collectionName": other, "dimension": 4})
    root.ok("roles/create", {"roleName": role})
    root.ok("roles/grant_privilege", {"roleName": role, "objectType": "Collection",
                                      "objectName": mine, "privilege": "Insert",
                                      "dbName": "default"})
    root.ok("users/grant_role", {"userName": user, "roleName": role})
    assert root.ok("users/describe", {"userName": user})["data"] == [role]
    grants = root.ok("roles/describe", {"roleName": role})["data"]
    assert grants == [{"objectType": "Collection", "objectName": mine, "privilege": "Insert",
                       "dbName": "default", "grantor": "root"}]
    u = asrv.client(headers=bearer(user, "pw123456"))
    row = {"id": 1, "vector": [0.1, 0.2, 0.3, 0.4]}
    u.ok("entities/insert", {"collectionName": mine, "data": [row]})
    status, reply = u.post("entities/insert", {"collectionName": other, "data": [row]})
    assert status == 403 and reply["code"] == 1401, reply
    status, reply = u.post("entities/search", {"collectionName": mine, "data": [[0] * 4]})
    assert status == 403, reply  # Insert does not imply Search
    # v2 grant of Search on every collection of the database.
    root.ok("roles/grant_privilege_v2", {"roleName": role, "privilege": "Search",
                                         "dbName": "default", "collectionName": "*"})
    assert u.post("entities/search", {"collectionName": other, "data": [[0] * 4]})[0] == 200
    # Revoking the role takes everything away again.
    root.ok("users/revoke_role", {"userName": user, "roleName": role})
    assert u.post("entities/insert", {"collectionName": mine, "data": [row]})[0] == 403
    # Dropping a role removes it from its users; built-ins cannot be dropped.
    root.ok("users/grant_role", {"userName": user, "roleName": role})
    root.ok("roles/drop", {"roleName": role})
    assert root.ok("users/describe", {"userName": user})["data"] == []
    for builtin in ("admin", "public"):
        assert root.post("roles/drop", {"roleName": builtin})[1]["code"] != 0


def test_admin_role_and_user_management(asrv):
    root = asrv.client(headers=ROOT_AUTH)
    user = unique("adm")
    root.ok("users/create", {"userName": user, "password": "pw123456"})
    assert user in root.ok("users/list", {})["data"]
    assert {"admin", "public"} <= set(root.ok("roles/list", {})["data"])
    u = asrv.client(headers=bearer(user, "pw123456"))
    assert u.post("users/list", {})[0] == 403
    root.ok("users/grant_role", {"userName": user, "roleName": "admin"})
    assert u.post("users/list", {})[0] == 200
    # Bad names and passwords are parameter errors, not crashes.
    for body in ({"userName": "9bad", "password": "pw123456"},
                 {"userName": "x" * 65, "password": "pw123456"},
                 {"userName": unique("s"), "password": "short"}):
        code = root.post("users/create", body)[1]["code"]
        assert code == 1100, body
    assert root.post("users/create", {"userName": user, "password": "pw123456"})[1]["code"] != 0
    assert root.post("users/drop", {"userName": "root"})[1]["code"] != 0
    root.ok("users/drop", {"userName": user})
    assert asrv.client(headers=bearer(user, "pw123456")).post("users/list", {})[0] == 401


def test_password_change_and_persistence(asrv, tmp_path):
    root = asrv.client(headers=ROOT_AUTH)
    user = unique("pw")
    root.ok("users/create", {"userName": user, "password": "first-pass"})
    u = asrv.client(headers=bearer(user, "first-pass"))
    # A user changes its own password, knowing the old one.
    code = u.post("users/update_password", {"userName": user, "password": "wrong-old",
                                            "newPassword": "second-pass"})[1]["code"]
    assert code != 0
    u.ok("users/update_password", {"userName": user, "password": "first-pass",
                                   "newPassword": "second-pass"})
    assert u.post("collections/list", {})[0] == 401
    u2 = asrv.client(headers=bearer(user, "second-pass"))
    assert u2.post("collections/list", {})[0] == 200
    # ... but not someone else's.
    assert u2.post("users/update_password", {"userName": "root", "password": "Milvus",
                                             "newPassword": "hacked!!"})[0] == 403
    # The file holds no password, only salted hashes.
    text = open(os.path.join(asrv.data_dir, "auth.json")).read()
    assert "second-pass" not in text and "Milvus" not in text
    doc = json.loads(text)
    entry = [x for x in doc["users"] if x["name"] == user][0]
    assert len(entry["salt"]) == 32 and len(entry["hash"]) == 64 and entry["iterations"] >= 1000
    assert oct(os.stat(os.path.join(asrv.data_dir, "auth.json")).st_mode & 0o777) == "0o600"


def test_users_survive_restart(tmp_path):
    d = str(tmp_path / "data")
    os.mkdir(d)
    srv = AuthServer(d, ["--auth", "--metrics-port", "0"]).start()
    try:
        root = srv.client(headers=ROOT_AUTH)
        root.ok("users/create", {"userName": "carol", "password": "carolpw1"})
        root.ok("users/update_password", {"userName": "root", "password": "Milvus",
                                          "newPassword": "n3wroot!"})
    finally:
        assert srv.stop() == 0
    srv = AuthServer(d, ["--auth", "--metrics-port", "0"]).start()
    try:
        assert srv.client(headers=ROOT_AUTH).post("collections/list", {})[0] == 401
        assert srv.client(headers=bearer("root", "n3wroot!")).post("collections/list", {})[0] == 200
        assert srv.client(headers=bearer("carol", "carolpw1")).post("collections/list", {})[0] == 200
    finally:
        assert srv.stop() == 0
    # A corrupt store is a hard error, not a silent reset to root/Milvus.
    with open(os.path.join(d, "auth.json"), "w") as f:
        f.write("{not json")
    srv = KiteServer(d, ["--auth", "--metrics-port", "0"])
    with pytest.raises(AssertionError) as e:
        srv.start()
    assert "auth.json" in str(e.value)


def test_health_and_preflight_need_no_credentials(asrv):
    with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % asrv.metrics_port) as r:
        assert r.status == 200 and r.read() == b"OK"
    status, headers, _ = asrv.client().raw("OPTIONS", "/v2/vectordb/collections/list")
    assert status == 204
    # Unknown paths stay 404 (no credentials are asked for what does not exist).
    assert asrv.client().raw("GET", "/nope")[0] == 404


def test_auth_off_accepts_anything(server):
    """The shared server of conftest runs without --auth: no route asks for credentials."""
    c = server.client()
    for route in ROUTES:
        for headers in ({}, bearer("root", "wrong")):
            status, reply = c.post(route, {"collectionName": "x"}, headers=headers)
            assert status == 200 and reply.get("code") not in (1800, 1401), (route, reply)
    # Users can be prepared before auth is turned on.
    c.ok("users/create", {"userName": unique("pre"), "password": "prepared1"})


def test_sighup_turns_auth_on_and_off(tmp_path):
    d = str(tmp_path / "data")
    os.mkdir(d)
    conf = tmp_path / "kite.conf"
    conf.write_text("[auth]\nenabled = false\n")
    srv = AuthServer(d, ["--config", str(conf), "--metrics-port", "0"]).start()
    try:
        c = srv.client()
        assert c.post("collections/list", {})[0] == 200
        conf.write_text("[auth]\nenabled = true\n[log]\nlevel = debug\n")
        srv.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while c.post("collections/list", {})[0] != 401:
            assert time.time() < deadline, "SIGHUP did not turn auth on"
            time.sleep(0.05)
        assert c.post("collections/list", {}, headers=ROOT_AUTH)[0] == 200
        conf.write_text("[auth]\nenabled = off\n")
        srv.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while c.post("collections/list", {})[0] != 200:
            assert time.time() < deadline, "SIGHUP did not turn auth off"
            time.sleep(0.05)
        # A broken file on SIGHUP keeps the running configuration.
        conf.write_text("[auth]\nenabled = maybe\n")
        srv.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert c.post("collections/list", {})[0] == 200
        assert srv.proc.poll() is None
    finally:
        assert srv.stop() == 0
    assert "configuration not reloaded" in srv.stderr_text()
