"""Operating `kite serve` (issue #5 §3): the metrics/health port, configuration
sources and their precedence, bad values, SIGHUP, SIGTERM under inserts, limits
from the config file, JSON logs, web routing and `cmake --install`.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import KITE_BIN, KiteServer, ROOT, unique


class OpsServer(KiteServer):
    """KiteServer that also reads the "kite: metrics on" line."""

    def start(self):
        super().start()
        line = self.proc.stdout.readline().decode().strip()
        m = re.match(r"kite: metrics on http://(\S+):(\d+)$", line)
        assert m, "no metrics line: %r; stderr: %s" % (line, self.stderr_text())
        self.metrics_port = int(m.group(2))
        return self

    def get(self, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.metrics_port, path),
                                        timeout=10) as r:
                return r.status, dict(r.getheaders()), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()


@pytest.fixture
def osrv(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    srv = OpsServer(str(d), ["--metrics-port", "0"]).start()
    yield srv
    assert srv.stop() == 0, srv.stderr_text()


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"'
                    r'(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*)?\})? (-?[0-9.e+-]+|\+Inf|NaN)$')


def parse_metrics(text):
    """Prometheus text format 0.0.4 -> {(name, frozenset(labels)): value}; asserts syntax."""
    out, typed = {}, {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name not in typed, "TYPE twice for " + name
            typed[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, "bad sample line %r" % line
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
        key = (m.group(1), labels)
        assert key not in out, "duplicate sample " + line
        out[key] = float(m.group(5))
        base = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        assert m.group(1) in typed or base in typed, "sample without TYPE: " + line
    return out


def value(samples, name, **labels):
    want = frozenset(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def test_healthz_and_metrics(osrv):
    status, _, body = osrv.get("/healthz")
    assert (status, body) == (200, "OK")
    assert osrv.get("/nope")[0] == 404
    req = urllib.request.Request("http://127.0.0.1:%d/healthz" % osrv.metrics_port, data=b"x")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 405

    status, headers, text = osrv.get("/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    before = parse_metrics(text)
    c = osrv.client()
    coll = unique("m")
    c.ok("collections/create", {"collectionName": coll, "dimension": 4})
    c.ok("entities/insert", {"collectionName": coll,
                             "data": [{"id": i, "vector": [i, 0, 0, 1]} for i in range(5)]})
    for _ in range(3):
        c.ok("collections/list", {})
    c.err("collections/describe", {"collectionName": "missing_" + coll})
    assert c.post("nope/nope", {})[0] == 404
    after = parse_metrics(osrv.get("/metrics")[2])

    path = "/v2/vectordb/collections/list"
    grew = value(after, "kite_requests_total", call=path) - value(before, "kite_requests_total",
                                                                    call=path)
    assert grew == 3
    assert value(after, "kite_requests_total", call="/v2/vectordb/entities/insert") >= 1
    assert value(after, "kite_request_duration_seconds_count", call=path) == \
        value(after, "kite_requests_total", call=path)
    # Histogram buckets are cumulative and end at the count.
    buckets = sorted(((float("inf") if dict(ls)["le"] == "+Inf" else float(dict(ls)["le"])), v)
                     for (n, ls), v in after.items()
                     if n == "kite_request_duration_seconds_bucket" and ("call", path) in ls)
    assert len(buckets) >= 5
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))
    assert buckets[-1][1] == value(after, "kite_requests_total", call=path)
    # Engine and process gauges.
    assert value(after, "kite_collections") >= 1
    assert value(after, "kite_rows") - value(before, "kite_rows") == 5
    assert value(after, "kite_databases") >= 1
    assert value(after, "process_resident_memory_bytes") > 1 << 20
    assert value(after, "kite_uptime_seconds") > 0
    # 404s are counted under one label, not one series per path a client invents.
    assert not any("nope" in dict(ls).get("call", "") for (_, ls) in after)


def test_metrics_segments_index_and_wal(osrv):
    """Engine statistics (kite_db_stats_get): segments by state, index build
    progress and WAL counters after inserts, a flush and an HNSW build."""
    c = osrv.client()
    text = osrv.get("/metrics")[2]
    before = parse_metrics(text)
    for name in ("kite_segments", "kite_index_rows", "kite_index_builds_pending",
                 "kite_wal_appends_total", "kite_wal_syncs_total", "kite_wal_bytes_total"):
        assert any(n == name for (n, _) in before), \
            name + " missing from: " + text.replace("\n", " | ")
    coll = unique("st")
    c.ok("collections/create", {
        "collectionName": coll,
        "schema": {"enableDynamicField": False, "fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": 4}}]},
        "indexParams": [{"fieldName": "v", "indexName": "vi", "metricType": "L2",
                         "indexType": "HNSW", "params": {"M": 8, "efConstruction": 32}}]})
    for b in range(3):
        c.ok("entities/insert", {"collectionName": coll, "data": [
            {"id": b * 100 + i, "v": [float(i), float(b), 0.5, 1.0]} for i in range(100)]})
    mid = parse_metrics(osrv.get("/metrics")[2])
    assert value(mid, "kite_wal_appends_total") - value(before, "kite_wal_appends_total") == 3
    assert value(mid, "kite_wal_syncs_total") - value(before, "kite_wal_syncs_total") >= 1
    assert value(mid, "kite_wal_bytes_total") - value(before, "kite_wal_bytes_total") > 300 * 16
    assert value(mid, "kite_segments", state="growing") >= 1
    # Growing rows are under the index but not indexed yet.
    assert value(mid, "kite_index_rows", state="total") - \
        value(before, "kite_index_rows", state="total") == 300
    assert value(mid, "kite_index_rows", state="indexed") == \
        value(before, "kite_index_rows", state="indexed")

    c.ok("collections/flush", {"collectionName": coll})
    deadline = time.time() + 60
    while True:
        after = parse_metrics(osrv.get("/metrics")[2])
        if value(after, "kite_index_builds_pending") == 0 and \
                value(after, "kite_index_rows", state="indexed") == \
                value(after, "kite_index_rows", state="total"):
            break
        assert time.time() < deadline, "index build did not finish"
        time.sleep(0.05)
    assert value(after, "kite_segments", state="sealed") - \
        value(before, "kite_segments", state="sealed") >= 1
    assert value(after, "kite_segments", state="growing") == 0
    assert value(after, "kite_index_rows", state="indexed") - \
        value(before, "kite_index_rows", state="indexed") == 300
    assert value(after, "kite_index_builds_failed") == 0
    info = c.ok("indexes/describe", {"collectionName": coll, "indexName": "vi"})["data"][0]
    assert info["indexedRows"] == 300
    # Counters never go down; a flush appends no WAL record.
    assert value(after, "kite_wal_appends_total") == value(mid, "kite_wal_appends_total")
    assert value(after, "kite_wal_syncs_total") >= value(mid, "kite_wal_syncs_total")
    text = osrv.get("/metrics")[2]
    assert "# TYPE kite_wal_syncs_total counter" in text
    assert "# TYPE kite_segments gauge" in text


def run_kite(args, env=None, timeout=30):
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("KITE_") and k != "KITE_BIN":
            del e[k]
    e.update(env or {})
    p = subprocess.run([KITE_BIN] + args, capture_output=True, text=True, env=e, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def show(args=(), env=None):
    rc, out, err = run_kite(["config", "show"] + list(args), env)
    assert rc == 0, err
    section, conf = "", {}
    for line in out.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        k, v = [x.strip() for x in line.split("=", 1)]
        conf["%s.%s" % (section, k)] = v.strip('"')
    return conf, out


def test_config_defaults_and_precedence(tmp_path):
    conf, _ = show()
    assert conf["server.host"] == "127.0.0.1" and conf["server.port"] == "19530"
    assert conf["metrics.port"] == "9091" and conf["auth.enabled"] == "false"
    assert conf["log.level"] == "info" and conf["limits.max_body_bytes"] == str(64 << 20)
    f = tmp_path / "k.conf"
    f.write_text('# comment\n[server]\nport = 1111   # trailing comment\n'
                 'data_dir = "/tmp/with space \\"q\\""\n[log]\nlevel = warn\n'
                 '[limits]\nmax_connections = 7\n[metrics]\nport = off\n')
    conf, _ = show(["--config", str(f)])
    assert conf["server.port"] == "1111" and conf["log.level"] == "warn"
    assert conf["limits.max_connections"] == "7" and conf["metrics.port"] == "off"
    assert conf["server.data_dir"] == '/tmp/with space \\"q\\'
    # env beats file; flags beat env; KITE_CONFIG names the file.
    env = {"KITE_PORT": "2222", "KITE_LOG_LEVEL": "error", "KITE_CONFIG": str(f),
           "KITE_AUTH": "true"}
    conf, _ = show([], env)
    assert conf["server.port"] == "2222" and conf["log.level"] == "error"
    assert conf["limits.max_connections"] == "7" and conf["auth.enabled"] == "true"
    conf, _ = show(["--port", "3333", "--no-auth", "--max-connections=9"], env)
    assert conf["server.port"] == "3333" and conf["auth.enabled"] == "false"
    assert conf["limits.max_connections"] == "9" and conf["log.level"] == "error"
    # --idle-timeout also bounds the header wait unless header_timeout is set.
    assert show(["--idle-timeout", "5"])[0]["limits.header_timeout"] == "5"
    assert show(["--idle-timeout", "5", "--header-timeout", "9"])[0]["limits.header_timeout"] == "9"


def test_config_show_round_trips(tmp_path):
    conf1, out1 = show(["--port", "4444", "--auth", "--log-format", "json",
                        "--web-collection", "pics", "--metrics-port", "0"])
    f = tmp_path / "rt.conf"
    f.write_text(out1)
    conf2, _ = show(["--config", str(f)])
    assert conf1 == conf2
    # The packaged example parses.
    conf, _ = show(["--config", os.path.join(ROOT, "packaging", "kite.conf")])
    assert conf["auth.enabled"] == "true" and conf["server.data_dir"] == "/var/lib/kite"


@pytest.mark.parametrize("args,env,fragment", [
    (["--port", "70000"], {}, "--port: expected an integer in [0, 65535], not '70000'"),
    (["--port", "-1"], {}, "--port: expected an integer"),
    (["--max-body-bytes", "12abc"], {}, "--max-body-bytes: expected an integer"),
    (["--log-level", "loud"], {}, "--log-level: expected debug, info, warn, error or off"),
    (["--log-format", "xml"], {}, "expected text or json"),
    (["--auth", "--metrics-port", "nine"], {}, "--metrics-port: expected a port"),
    (["--host", ""], {}, "--host: expected a non-empty value"),
    (["--bogus", "1"], {}, "unknown option --bogus"),
    (["--port"], {}, "--port needs a value"),
    ([], {"KITE_PORT": "abc"}, "KITE_PORT: expected an integer"),
    ([], {"KITE_AUTH": "maybe"}, "KITE_AUTH: expected true or false"),
    ([], {"KITE_IDLE_TIMEOUT": "0"}, "KITE_IDLE_TIMEOUT: expected an integer in [1, 86400]"),
    (["--config", "/nonexistent/kite.conf"], {}, "cannot read config file /nonexistent/kite.conf"),
])
def test_bad_values_are_hard_errors(args, env, fragment):
    for cmd in (["config", "show"], ["serve", "--data-dir", "/nonexistent/never-created"]):
        rc, out, err = run_kite(cmd + args, env)
        assert rc == 2, (cmd, args, rc, out, err)
        assert fragment in err, (cmd, err)
        assert "listening" not in out


@pytest.mark.parametrize("text,fragment", [
    ("[server]\nport = 99999\n", ":2: server.port: expected an integer in [0, 65535]"),
    ("[server]\nprot = 1\n", ":2: unknown key 'prot' in section [server]"),
    ("[sever]\n", ":1: unknown section [sever]"),
    ("[server\n", ":1: expected [section]"),
    ("[server]\nport 1\n", ":2: expected key = value"),
    ('[server]\nhost = "unterminated\n', ":2: server.host: unterminated quoted value"),
    ("[auth]\nenabled = sometimes\n", ":2: auth.enabled: expected true or false"),
    ("port = 1\n", ":1: unknown key 'port' in section [(none)]"),
])
def test_bad_config_file(tmp_path, text, fragment):
    f = tmp_path / "bad.conf"
    f.write_text(text)
    rc, _, err = run_kite(["config", "show", "--config", str(f)])
    assert rc == 2 and str(f) + fragment in err, err


def test_dotted_keys_at_top_level(tmp_path):
    f = tmp_path / "dot.conf"
    f.write_text("server.port = 5555\nlimits.drain_timeout = 3\n")
    conf, _ = show(["--config", str(f)])
    assert conf["server.port"] == "5555" and conf["limits.drain_timeout"] == "3"


def test_limits_from_config_and_env(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    f = tmp_path / "lim.conf"
    f.write_text("[limits]\nmax_body_bytes = 2048\n")
    env_before = dict(os.environ)
    os.environ["KITE_HEADER_TIMEOUT"] = "1"
    try:
        srv = OpsServer(str(d), ["--config", str(f), "--metrics-port", "0"]).start()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    try:
        c = srv.client()
        status, reply = c.post("collections/list", b"{" + b" " * 4096 + b"}")
        assert status == 413 and "2048" in reply["message"], reply
        assert c.post("collections/list", {})[0] == 200
        # Headers that never complete are cut after header_timeout (1 s, from the env).
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"POST /v2/vectordb/collections/list HTTP/1.1\r\n")
        t0 = time.time()
        s.settimeout(5)
        try:
            while s.recv(100):
                pass
        except (socket.timeout, OSError):
            pass
        assert time.time() - t0 < 3.5
        s.close()
    finally:
        assert srv.stop() == 0


def test_json_logs_and_sighup_log_level(tmp_path):
    f = tmp_path / "log.conf"
    f.write_text("[log]\nlevel = info\nformat = json\n")
    errf = open(str(tmp_path / "stderr"), "w+")
    proc = subprocess.Popen([KITE_BIN, "serve", "--port", "0", "--metrics-port", "0",
                             "--data-dir", str(tmp_path / "data"), "--config", str(f)],
                            stdout=subprocess.PIPE, stderr=errf)
    try:
        assert proc.stdout.readline().startswith(b"kite: listening on")
        f.write_text("[log]\nlevel = error\nformat = json\n")
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        f.write_text("[log]\nlevel = info\nformat = text\n")
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    errf.seek(0)
    lines = [l for l in errf.read().splitlines() if l.strip()]
    json_lines = [json.loads(l) for l in lines if l.startswith("{")]
    text_lines = [l for l in lines if not l.startswith("{")]
    # Before the reloads: JSON at info level ("serving ..." is an info line).
    assert any("serving" in json.dumps(o) for o in json_lines), lines
    # The first reload (to error level) is not logged at all; the second is, as text.
    assert sum("configuration reloaded" in l for l in lines) == 1, lines
    assert any("configuration reloaded" in l for l in text_lines), lines
    assert any("stopped" in l for l in text_lines), lines


def test_sigterm_under_inserts(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    srv = OpsServer(str(d), ["--metrics-port", "0"]).start()
    coll = unique("t")
    srv.client().ok("collections/create", {"collectionName": coll, "dimension": 4})
    acked, errors, stop = [], [], threading.Event()

    def writer(k):
        c = srv.client(timeout=30)
        i = 0
        while not stop.is_set():
            ids = [k * 1000000 + i * 10 + j for j in range(10)]
            try:
                status, reply = c.post("entities/insert", {
                    "collectionName": coll,
                    "data": [{"id": x, "vector": [x % 7, 1, 2, 3]} for x in ids]})
            except OSError:
                return  # connection refused/closed: the server is stopping
            if status == 200 and reply.get("code") == 0:
                acked.extend(ids)
            elif status != 503:
                errors.append((status, reply))
            i += 1

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    srv.proc.send_signal(signal.SIGTERM)
    rc = srv.proc.wait(60)
    stop.set()
    for t in threads:
        t.join(30)
    srv.proc = None
    assert rc == 0, srv.stderr_text()
    assert not errors, errors[:3]
    assert len(acked) > 0
    srv2 = OpsServer(str(d), ["--metrics-port", "0"]).start()
    try:
        c = srv2.client()
        c.ok("collections/load", {"collectionName": coll})
        reply = c.ok("entities/query", {"collectionName": coll, "filter": "",
                                        "outputFields": ["count(*)"]})
        count = int(reply["data"][0]["count(*)"])
        assert count >= len(set(acked)), (count, len(set(acked)))
    finally:
        assert srv2.stop() == 0


def test_web_routing(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    srv = OpsServer(str(d), ["--metrics-port", "0"]).start()
    try:
        status, headers, body = srv.client().raw("GET", "/")
        if status == 404:
            pytest.skip("this build has no web page (KITE_HAVE_WEB)")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        status, _, body = srv.client().raw("GET", "/api/status")
        assert status == 200 and "collection" in json.loads(body)
        status, _, body = srv.client().raw("POST", "/api/search/3", b"not an image")
        assert status == 400, body
        # REST still answers next to it, and unknown paths are 404.
        srv.client().ok("collections/list", {})
        assert srv.client().raw("GET", "/v2/vectordb/collections/list")[0] == 404
    finally:
        assert srv.stop() == 0
    srv = OpsServer(str(d), ["--metrics-port", "0", "--no-web"]).start()
    try:
        assert srv.client().raw("GET", "/")[0] == 404
    finally:
        assert srv.stop() == 0


def test_default_metrics_port_busy_is_not_fatal_but_explicit_is(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    busy = s.getsockname()[1]
    try:
        rc, out, err = run_kite(["serve", "--port", "0", "--data-dir", str(tmp_path / "d"),
                                 "--metrics-port", str(busy)])
        assert rc == 1 and "metrics" in err and "listening" not in out, (rc, out, err)
    finally:
        s.close()


def test_install_into_prefix(tmp_path):
    build_dir = os.path.dirname(os.path.abspath(KITE_BIN))
    if not os.path.exists(os.path.join(build_dir, "cmake_install.cmake")):
        pytest.skip("KITE_BIN is not in a CMake build directory")
    import glob
    if not glob.glob(os.path.join(build_dir, "src", "db", "libkite.so*")):
        pytest.skip("libkite.so not built in %s (build the default target)" % build_dir)
    for tool in ("cmake", "pkg-config", "cc"):
        if not shutil.which(tool):
            pytest.skip(tool + " missing")
    with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
        if re.search(r"^KITE_SANITIZE:STRING=\S", f.read(), re.M):
            pytest.skip("sanitizer build: an installed libkite needs the sanitizer runtime "
                        "(the release run of this suite tests the install)")
    prefix = tmp_path / "prefix"
    p = subprocess.run(["cmake", "--install", build_dir, "--prefix", str(prefix)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    libdirs = [x for x in ("lib", "lib64") if (prefix / x / "pkgconfig" / "kite.pc").exists()]
    if not libdirs:
        libdirs = [os.path.relpath(os.path.dirname(os.path.dirname(str(x))), str(prefix))
                   for x in prefix.rglob("kite.pc")]
    assert libdirs, "kite.pc not installed"
    libdir = prefix / libdirs[0]
    for rel in ("bin/kite", "include/kite/kite.h", "include/kite/errors.h",
                "share/man/man1/kite.1", "lib/systemd/system/kite.service",
                "share/kite/kite.conf"):
        assert (prefix / rel).exists(), rel
    assert any(x.name.startswith("libkite.so") for x in libdir.iterdir())
    env = dict(os.environ, PKG_CONFIG_PATH=str(libdir / "pkgconfig"))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "kite"], capture_output=True,
                           text=True, env=env)
    assert flags.returncode == 0 and "-lkite" in flags.stdout, flags.stderr
    src = tmp_path / "t.c"
    src.write_text(r'''
#include <kite/kite.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    kite_options o;
    kite_options_init(&o);
    kite_db *db = NULL;
    kite_err err;
    if (argc < 2 || kite_open(argv[1], &o, &db, &err) != KITE_OK)
        return 1;
    char **names = NULL;
    size_t n = 0;
    int rc = kite_collection_list(db, NULL, &names, &n, &err);
    printf("kite %s %zu\n", kite_version(), n);
    kite_strings_free(names, n);
    kite_close(db);
    return rc == KITE_OK ? 0 : 1;
}
''')
    exe = tmp_path / "t"
    cc = subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", str(src), "-o", str(exe)] +
                        flags.stdout.split() + ["-Wl,-rpath," + str(libdir)],
                        capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    run = subprocess.run([str(exe), str(tmp_path / "db")], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.startswith("kite "), run.stdout + run.stderr
    assert "NAME" in subprocess.run(["sh", "-c", "command -v man >/dev/null && man -l %s | cat "
                                     "|| cat %s" % (prefix / "share/man/man1/kite.1",
                                                    prefix / "share/man/man1/kite.1")],
                                    capture_output=True, text=True).stdout
    rc, out, _ = run_kite(["--version"])
    p = subprocess.run([str(prefix / "bin" / "kite"), "--version"], capture_output=True,
                       text=True)
    assert p.returncode == 0 and p.stdout == out


def test_max_connections_from_config(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    f = tmp_path / "conn.conf"
    f.write_text("limits.max_connections = 2\nlimits.header_timeout = 30\n")
    srv = OpsServer(str(d), ["--config", str(f), "--metrics-port", "0"]).start()
    try:
        silent = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(2)]
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", srv.port))
        extra.settimeout(5)
        t0 = time.time()
        try:
            got = extra.recv(100)
        except ConnectionResetError:
            got = b""
        assert got == b"" and time.time() - t0 < 3, "the third connection was not closed"
        extra.close()
        for s in silent:
            s.close()
        time.sleep(0.3)
        srv.client().ok("collections/list", {})
    finally:
        assert srv.stop() == 0


def test_healthz_turns_503_while_draining(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    srv = OpsServer(str(d), ["--metrics-port", "0", "--drain-timeout", "3"]).start()
    assert srv.get("/healthz")[0] == 200
    # A request whose body is still arriving keeps the server draining.
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(b"POST /v2/vectordb/collections/list HTTP/1.1\r\nHost: x\r\n"
              b"Content-Length: 1000\r\n\r\n{")
    time.sleep(0.3)
    t0 = time.time()
    srv.proc.send_signal(signal.SIGTERM)
    seen = None
    while time.time() - t0 < 2.5:
        try:
            seen = srv.get("/healthz")
        except OSError:
            break
        if seen[0] == 503:
            break
        time.sleep(0.05)
    assert seen and seen[0] == 503 and seen[2] == "not ready", seen
    rc = srv.proc.wait(30)
    srv.proc.stdout.close()
    srv.proc = None
    s.close()
    assert rc == 0
    assert time.time() - t0 >= 2.0  # it did wait for the in-flight request (drain 3 s)
