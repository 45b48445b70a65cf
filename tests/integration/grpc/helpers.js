// helpers.js — start `kite serve` on an ephemeral port for the gRPC integration tests.
//
// KITE_BIN names the binary (CTest sets it to the built `kite`).  The server prints
// "kite: listening on http://HOST:PORT" once it accepts connections; we wait for that
// line, hand the address to the test, and kill the server (SIGTERM, then SIGKILL) at
// the end.  Each server gets a fresh data directory under the OS temp dir.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const KITE_BIN = process.env.KITE_BIN || path.resolve(__dirname, '../../../build/kite');

function startServer(extraArgs = []) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kite-grpc-'));
  const args = ['serve', '--port', '0', '--data-dir', dataDir, ...extraArgs];
  const proc = spawn(KITE_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`kite serve did not print its address within 20 s; output:\n${output}`));
    }, 20000);
    const onData = (buf) => {
      output += buf.toString();
      const m = output.match(/kite: listening on http:\/\/([^\s:]+):(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve({
          host: m[1],
          port: Number(m[2]),
          address: `${m[1]}:${m[2]}`,
          proc,
          output: () => output,
          stop: () => stopServer(proc, dataDir, () => output),
        });
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${KITE_BIN}: ${e.message}`));
    });
    proc.on('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`kite serve exited early (code ${code}, signal ${sig}):\n${output}`));
    });
  });
}

// SIGTERM must shut the server down cleanly (GOAWAY, finish calls, exit 0) within
// 10 s; anything else rejects.
// The rejection carries the server's output: a sanitizer report or a crash message
// printed at shutdown is what explains a failure here.
function stopServer(proc, dataDir, output) {
  return new Promise((resolve, reject) => {
    const done = (code, sig) => {
      fs.rmSync(dataDir, { recursive: true, force: true });
      if (code === 0) resolve();
      else {
        reject(new Error(`kite serve did not exit 0 on SIGTERM (code ${code}, signal ${sig}); output:\n${output()}`));
      }
    };
    if (proc.exitCode !== null || proc.signalCode !== null) return done(proc.exitCode, proc.signalCode);
    const kill = setTimeout(() => proc.kill('SIGKILL'), 10000);
    proc.once('exit', (code, sig) => {
      clearTimeout(kill);
      done(code, sig);
    });
    proc.kill('SIGTERM');
  });
}

module.exports = { startServer, KITE_BIN };
