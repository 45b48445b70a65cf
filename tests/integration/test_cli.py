"""The `kite` command line: help, version, option errors, graceful stop."""
import signal
import subprocess

from conftest import KITE_BIN, KiteServer


def run(*args):
    p = subprocess.run([KITE_BIN] + list(args), capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def test_version():
    rc, out, _ = run("version")
    assert rc == 0 and out.startswith("kite ") and "Milvus API" in out
    assert run("--version")[0] == 0


def test_help_lists_commands():
    rc, out, _ = run("--help")
    assert rc == 0
    assert "serve" in out and "version" in out
    rc, out, _ = run("serve", "--help")
    assert rc == 0
    for opt in ("--data-dir", "--host", "--port", "--threads", "--log-level", "--log-format"):
        assert opt in out


def test_usage_errors_exit_2():
    assert run()[0] == 2
    assert run("nosuchcommand")[0] == 2
    rc, _, err = run("serve", "--port", "99999")
    assert rc == 2 and "--port" in err
    rc, _, err = run("serve", "--bogus", "1")
    assert rc == 2 and "unknown option" in err
    rc, _, err = run("serve", "--log-format", "xml")
    assert rc == 2


def test_sigint_also_stops_cleanly(fresh_dir):
    srv = KiteServer(fresh_dir, ["--log-format", "json", "--threads", "2"]).start()
    srv.client().ok("collections/list", {})
    srv.proc.send_signal(signal.SIGINT)
    assert srv.proc.wait(60) == 0
    srv.proc.stdout.close()
    srv.proc = None


def test_port_in_use_fails(server, fresh_dir):
    p = subprocess.run([KITE_BIN, "serve", "--port", str(server.port), "--data-dir", fresh_dir],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    assert "cannot listen" in p.stderr
