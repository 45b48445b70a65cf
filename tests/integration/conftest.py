"""Fixtures for the REST integration tests: start `kite serve` on an ephemeral port.

The binary comes from $KITE_BIN (CMake passes $<TARGET_FILE:kite>); by default
build/kite next to this repository.  Every server is stopped with SIGTERM at the
end and must exit 0 (the graceful-shutdown promise of `kite serve`).
Python 3 standard library only (plus pytest).
"""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KITE_BIN = os.environ.get("KITE_BIN", os.path.join(ROOT, "build", "kite"))
START_TIMEOUT_S = 30


class KiteServer:
    """One `kite serve` process on a data directory."""

    def __init__(self, data_dir, extra_args=()):
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        self.proc = None
        self.port = None
        self._stderr = None

    def start(self):
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [KITE_BIN, "serve", "--port", "0", "--data-dir", self.data_dir,
             "--log-level", "warn"] + self.extra_args,
            stdout=subprocess.PIPE, stderr=self._stderr)
        line = self._read_startup_line()
        m = re.match(r"kite: listening on http://(\S+):(\d+)$", line)
        assert m, "unexpected startup line %r; stderr: %s" % (line, self.stderr_text())
        self.port = int(m.group(2))
        return self

    def _read_startup_line(self):
        result = {}

        def reader():
            result["line"] = self.proc.stdout.readline().decode("utf-8", "replace").strip()

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        t.join(START_TIMEOUT_S)
        if "line" not in result:
            self.proc.kill()
            raise AssertionError("server printed no startup line within %d s; stderr: %s"
                                 % (START_TIMEOUT_S, self.stderr_text()))
        if not result["line"]:
            self.proc.wait(5)
            raise AssertionError("server exited with %r before listening; stderr: %s"
                                 % (self.proc.returncode, self.stderr_text()))
        return result["line"]

    def stderr_text(self):
        if not self._stderr:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")[-4000:]

    def stop(self, timeout=60):
        """SIGTERM and wait; returns the exit status."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = "timeout"
        self.proc.stdout.close()
        self.proc = None
        return rc

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.proc = None

    def client(self, **kw):
        return Client(self.port, **kw)


class Client:
    """A tiny REST v2 client: post(path, body) -> (http_status, parsed JSON or text)."""

    def __init__(self, port, headers=None, timeout=120):
        self.port = port
        self.headers = dict(headers or {})
        self.timeout = timeout

    def raw(self, method, path, body=b"", headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        h = dict(self.headers)
        h.update(headers or {})
        try:
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, dict(resp.getheaders()), data
        finally:
            conn.close()

    def post(self, path, body=None, headers=None):
        if not path.startswith("/"):
            path = "/v2/vectordb/" + path
        raw = body if isinstance(body, (bytes, str)) else json.dumps(body or {})
        if isinstance(raw, str):
            raw = raw.encode()
        status, _, data = self.raw("POST", path, raw, headers)
        try:
            return status, json.loads(data)
        except ValueError:
            return status, data.decode("utf-8", "replace")

    def ok(self, path, body=None, headers=None):
        """POST and assert HTTP 200 + code 0; returns the whole reply object."""
        status, reply = self.post(path, body, headers)
        assert status == 200, (path, status, reply)
        assert isinstance(reply, dict) and reply.get("code") == 0, (path, body, reply)
        return reply

    def err(self, path, body=None, headers=None):
        """POST expecting an error envelope; returns (code, message)."""
        status, reply = self.post(path, body, headers)
        assert status == 200, (path, status, reply)
        assert reply.get("code") != 0, (path, body, reply)
        assert "data" not in reply, reply
        return reply["code"], reply.get("message", "")


def new_data_dir(tmp_path_factory, name):
    return str(tmp_path_factory.mktemp(name))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server shared by the tests of one module; must exit 0 on SIGTERM."""
    srv = KiteServer(new_data_dir(tmp_path_factory, "kite")).start()
    yield srv
    rc = srv.stop()
    assert rc == 0, "kite serve exited with %r; stderr: %s" % (rc, srv.stderr_text())


@pytest.fixture(scope="module")
def client(server):
    return server.client()


@pytest.fixture
def fresh_dir(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    yield str(d)
    shutil.rmtree(str(d), ignore_errors=True)


_counter = [0]
_counter_lock = threading.Lock()


def unique(prefix="c"):
    with _counter_lock:
        _counter[0] += 1
        return "%s_%d_%d" % (prefix, os.getpid(), _counter[0])
